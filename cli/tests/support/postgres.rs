//! A throwaway PostgreSQL cluster for one test: `initdb` into a temp dir, a free port, stopped
//! (and removed) when dropped. PostgreSQL refuses to run as root: as root, it runs as `nobody`
//! (uid 65534) through `setpriv`.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
};

/// A running cluster.
pub struct Cluster {
    dir: PathBuf,
    pub port: u16,
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// PostgreSQL's `program`: on PATH, else where Debian's packages put it
/// (`/usr/lib/postgresql/VERSION/bin`, the newest version), which is not on PATH.
fn program(name: &str) -> String {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()));
    if on_path {
        return name.into();
    }
    let mut installed: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|version| version.path().join("bin").join(name))
        .filter(|path| path.is_file())
        .collect();
    installed.sort_by_key(|path| {
        path.iter()
            .rev()
            .nth(2)
            .and_then(|v| v.to_str()?.parse::<u32>().ok())
    });
    installed
        .pop()
        .map_or_else(|| name.into(), |path| path.display().to_string())
}

/// `program args` as the cluster's owner.
fn as_owner(program: &str, args: &[&str]) -> Command {
    let program = &self::program(program);
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", program])
            .args(args);
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    }
}

/// A fresh directory for cluster `name`, owned by the cluster's owner.
fn owned_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("preventor-pg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    if is_root() {
        Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(&dir)
            .status()
            .unwrap();
    }
    dir
}

/// A TCP port free on the loopback now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    /// Initialises and starts a cluster.
    pub fn start(name: &str) -> Cluster {
        let dir = owned_dir(name);
        let data = dir.join("data");
        let status = as_owner(
            "initdb",
            &[
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-D",
                data.to_str().unwrap(),
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("initdb (PostgreSQL) must be on PATH");
        assert!(status.success(), "initdb failed");
        let cluster = Cluster {
            dir,
            port: free_port(),
        };
        cluster.pg_ctl_start();
        cluster
    }

    /// A streaming standby of the cluster at `127.0.0.1:port` (the primary, or a proxy to it),
    /// from a base backup; started, and streaming from that address.
    pub fn standby_of(port: u16, name: &str) -> Cluster {
        let dir = owned_dir(name);
        let data = dir.join("data");
        let out = as_owner(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-D",
                data.to_str().unwrap(),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        )
        .output()
        .expect("pg_basebackup (PostgreSQL) must be on PATH");
        assert!(
            out.status.success(),
            "pg_basebackup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let standby = Cluster {
            dir,
            port: free_port(),
        };
        standby.pg_ctl_start();
        standby
    }

    /// Kills the cluster's processes with SIGKILL, the postmaster and every backend (a machine
    /// lost).
    pub fn kill(&self) {
        let pid = std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .trim()
            .to_string();
        let _ = Command::new("kill").args(["-STOP", &pid]).status();
        let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    }

    /// Promotes a standby to a primary, waiting until it takes writes.
    pub fn promote(&self) {
        let status = as_owner(
            "pg_ctl",
            &["-D", self.data_dir().to_str().unwrap(), "-w", "promote"],
        )
        .stdout(Stdio::null())
        .status()
        .unwrap();
        assert!(status.success(), "pg_ctl promote failed");
    }

    fn pg_ctl_start(&self) {
        let data = self.dir.join("data");
        let options = format!(
            "-k {} -c listen_addresses=127.0.0.1 -p {} -c fsync=off -c max_connections=200",
            self.dir.display(),
            self.port
        );
        let log = self.dir.join("log");
        let status = as_owner(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )
        .stdout(Stdio::null())
        .status()
        .unwrap();
        assert!(status.success(), "pg_ctl start failed");
    }

    /// Stops the cluster now (fast: connections are cut), then starts it again.
    pub fn restart(&self, down: std::time::Duration) {
        self.stop("fast");
        std::thread::sleep(down);
        self.pg_ctl_start();
    }

    fn stop(&self, mode: &str) {
        let data = self.dir.join("data");
        let _ = as_owner(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", mode, "-w", "stop"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    }

    /// A DSN for database `db`, created if missing.
    pub fn database(&self, db: &str) -> String {
        let status = as_owner(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-q",
                "-c",
                &format!("CREATE DATABASE {db}"),
            ],
        )
        .stdout(Stdio::null())
        .status()
        .unwrap();
        assert!(status.success(), "CREATE DATABASE {db}");
        self.dsn(db)
    }

    /// The DSN of database `db`.
    pub fn dsn(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// The cluster's data directory (`base/`, `pg_wal/`, ...).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Serves TLS with `cert` and `key` (PEM) from now on.
    pub fn serve_tls(&self, cert: &str, key: &str) {
        let data = self.data_dir();
        std::fs::write(data.join("server.crt"), cert).unwrap();
        std::fs::write(data.join("server.key"), key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        if is_root() {
            for file in ["server.crt", "server.key"] {
                std::os::unix::fs::chown(data.join(file), Some(65534), Some(65534)).unwrap();
            }
        }
        self.query("postgres", "ALTER SYSTEM SET ssl = on");
        self.query("postgres", "SELECT pg_reload_conf()");
    }

    /// Makes `user` (created, with `password`) log in by password over TCP.
    pub fn require_password(&self, user: &str, password: &str) {
        self.query(
            "postgres",
            &format!("CREATE ROLE {user} LOGIN SUPERUSER PASSWORD '{password}'"),
        );
        let hba = self.data_dir().join("pg_hba.conf");
        let rest = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(
            &hba,
            format!("host all {user} 127.0.0.1/32 scram-sha-256\n{rest}"),
        )
        .unwrap();
        self.query("postgres", "SELECT pg_reload_conf()");
    }

    /// `pg_dump` of database `db`, as bytes.
    pub fn dump(&self, db: &str) -> Vec<u8> {
        let out = as_owner(
            "pg_dump",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                db,
            ],
        )
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// `psql -At -c SQL` on database `db`: its output, trimmed.
    pub fn query(&self, db: &str, sql: &str) -> String {
        let out = as_owner(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-At",
                "-c",
                sql,
            ],
        )
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop("immediate");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
