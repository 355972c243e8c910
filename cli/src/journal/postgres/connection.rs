//! Where a PostgreSQL journal is, and connections to it that survive a database restart.
//!
//! TLS (rustls, the platform's roots) is used for every host but the loopback: `sslmode`
//! `require`, `verify-ca` and `verify-full` all verify the server's certificate and name
//! (rustls never connects unverified); no `sslmode` or `prefer` means `require` for a remote
//! host (never a silent fall back to plain text); `disable` to a remote host is refused unless
//! plain text is allowed explicitly. The loopback and Unix sockets may go without TLS. A DSN's
//! password is never shown: [`Location`] displays user, hosts, ports and database only.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio_postgres::{config::Host, config::SslMode, Client, Config};

use crate::journal::JournalError;

/// Whether `text` names a PostgreSQL journal rather than a SQLite file: a URL
/// (`postgres://...`) or libpq's key=value form (`host=db user=feeder dbname=feeds`). A DSN is
/// never taken for a file name.
pub fn is_dsn(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://") || is_key_value(text)
}

/// libpq's connection parameters: a key=value DSN starts with one of them.
const LIBPQ_KEYS: [&str; 20] = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
    "keepalives",
    "keepalives_idle",
    "channel_binding",
    "load_balance_hosts",
    "service",
];

/// Whether `text` is libpq's key=value form (its first word is `KEY=...`, KEY a parameter).
fn is_key_value(text: &str) -> bool {
    text.split_whitespace()
        .next()
        .and_then(|word| word.split_once('='))
        .is_some_and(|(key, _)| LIBPQ_KEYS.contains(&key))
}

/// How a connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS, the certificate and name verified.
    Tls,
    /// TLS when the server offers it (loopback only), else plain text.
    TlsIfOffered,
    /// Plain text (loopback, or explicitly allowed).
    Plain,
}

/// A PostgreSQL journal's DSN, parsed and checked: how to connect, and how to show it.
pub struct Location {
    config: Config,
    security: Security,
    shown: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Location")
            .field("journal", &self.shown)
            .field("security", &self.security)
            .finish()
    }
}

fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .trim_matches(|c| c == '[' || c == ']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    }
}

impl Location {
    /// Parses `dsn` (`postgres://user:password@host:port/db?sslmode=...`, or libpq's
    /// `key=value` form). `allow_plaintext`: a remote host may be reached without TLS when the
    /// DSN says `sslmode=disable`. Errors never repeat the DSN (it may hold a password).
    pub fn parse(dsn: &str, allow_plaintext: bool) -> Result<Location, JournalError> {
        // tokio-postgres knows disable/prefer/require: the verify modes are require plus the
        // verification rustls always does.
        let mode = sslmode(dsn);
        let for_parser = match mode.as_deref() {
            Some("verify-full") | Some("verify-ca") => dsn
                .replace("sslmode=verify-full", "sslmode=require")
                .replace("sslmode=verify-ca", "sslmode=require"),
            _ => dsn.to_string(),
        };
        let mut config: Config = for_parser.parse().map_err(|e: tokio_postgres::Error| {
            JournalError::Storage(format!(
                "the PostgreSQL journal's DSN cannot be read ({}); expected \
                 postgres://user@host:port/database",
                without_secrets(&e.to_string())
            ))
        })?;
        let hosts = config.get_hosts();
        if hosts.is_empty() {
            return Err(JournalError::Storage(
                "the PostgreSQL journal's DSN names no host".into(),
            ));
        }
        // The addresses actually dialled: `hostaddr` where given (libpq dials it and uses `host`
        // only for the certificate's name), else the hosts.
        let local = match config.get_hostaddrs() {
            [] => hosts.iter().all(is_loopback),
            addresses => addresses.iter().all(|ip| ip.is_loopback()),
        };
        let security =
            match (config.get_ssl_mode(), mode.is_some(), local) {
                (SslMode::Disable, _, true) => Security::Plain,
                (SslMode::Disable, _, false) if allow_plaintext => Security::Plain,
                (SslMode::Disable, _, false) => return Err(JournalError::Storage(
                    "the PostgreSQL journal's DSN asks for sslmode=disable to a host that is not \
                     this machine: its records (and your password) would cross the network in \
                     plain text. Use sslmode=require or verify-full, or pass \
                     --journal-plaintext (PREVENTOR_JOURNAL_PLAINTEXT=1) if the network is \
                     trusted"
                        .into(),
                )),
                (SslMode::Prefer, false, true) | (SslMode::Prefer, true, true) => {
                    Security::TlsIfOffered
                }
                _ => Security::Tls,
            };
        config.ssl_mode(match security {
            Security::Tls => SslMode::Require,
            Security::TlsIfOffered => SslMode::Prefer,
            Security::Plain => SslMode::Disable,
        });
        config.connect_timeout(Duration::from_secs(10));
        config.application_name("preventor");
        let shown = shown(&config);
        Ok(Location {
            config,
            security,
            shown,
        })
    }

    /// How connections are secured.
    pub fn security(&self) -> Security {
        self.security
    }

    /// A new connection (its driver runs on a task of its own).
    pub async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        let tls = {
            use rustls_platform_verifier::BuilderVerifierExt;
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_platform_verifier())
            .map(|b| b.with_no_client_auth());
            match config {
                Ok(c) => tokio_postgres_rustls::MakeRustlsConnect::new(c),
                Err(_) => {
                    // No platform roots: only plain-text connections can be made.
                    return match self.security {
                        Security::Plain | Security::TlsIfOffered => {
                            let mut config = self.config.clone();
                            config.ssl_mode(SslMode::Disable);
                            let (client, connection) =
                                config.connect(tokio_postgres::NoTls).await?;
                            tokio::spawn(connection);
                            Ok(client)
                        }
                        Security::Tls => self.config.connect(tokio_postgres::NoTls).await.map(
                            |(client, connection)| {
                                tokio::spawn(connection);
                                client
                            },
                        ),
                    };
                }
            }
        };
        let (client, connection) = self.config.connect(tls).await?;
        tokio::spawn(connection);
        Ok(client)
    }
}

/// The `sslmode` a DSN asks for, if any.
fn sslmode(dsn: &str) -> Option<String> {
    let at = dsn.find("sslmode=")? + "sslmode=".len();
    let value: String = dsn[at..]
        .chars()
        .take_while(|c| !matches!(c, '&' | ' ' | '\''))
        .collect();
    Some(value)
}

/// `postgres://user@host:port/db`: never the password.
fn shown(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = config
                .get_ports()
                .get(i)
                .or(config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match h {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    format!(
        "postgres://{}{}/{}",
        config
            .get_user()
            .map(|u| format!("{u}@"))
            .unwrap_or_default(),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

/// Error text of the driver with anything after `password=` removed (belt and braces: the
/// driver's messages do not quote the DSN).
pub fn without_secrets(text: &str) -> String {
    match text.find("password") {
        Some(at) => format!("{}[...]", &text[..at]),
        None => text.to_string(),
    }
}

/// Whether an error is the connection's (the database went away, restarts, or cannot be
/// reached) rather than the statement's: such work is tried again on a new connection.
pub fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // Class 08: connection exception; 57: operator intervention (shutdown, restart).
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("57")
        }
        None => true,
    }
}

/// Whether the database rolled the statement back for a reason that passes (a deadlock it
/// broke, a serialization failure): such work is tried again at once.
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// One connection, made again when it breaks (a restart of the database, a network cut).
pub struct Db {
    location: Arc<Location>,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

impl Db {
    /// A connection to `location`, made on first use.
    pub fn new(location: Arc<Location>) -> Db {
        Db {
            location,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// Another connection to the same journal, made on first use (for work that must not
    /// queue behind this one's statements).
    pub fn another(&self) -> Db {
        Db::new(self.location.clone())
    }

    /// The journal's location.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The current connection, or a new one.
    pub async fn client(&self) -> Result<Arc<Client>, tokio_postgres::Error> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(client.clone());
        }
        *slot = None;
        let client = Arc::new(self.location.connect().await?);
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Runs `work` on a connection, trying again (on a new connection, with a growing wait)
    /// while the connection is what fails, until `until`, and at once after a deadlock or a
    /// serialization failure (rolled back). A statement's own error is returned at once.
    /// `work` must be safe to run twice (a commit whose answer was lost).
    pub async fn retry<T, F, Fut>(&self, until: Instant, mut work: F) -> Result<T, JournalError>
    where
        F: FnMut(Arc<Client>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let mut wait = Duration::from_millis(50);
        loop {
            let result = match self.client().await {
                Ok(client) => work(client).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) if is_transient(&e) && Instant::now() < until => {}
                Err(e) if is_connection_error(&e) && Instant::now() + wait < until => {
                    tracing_like_note(&e);
                    *self.client.lock().await = None;
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(storage(&e)),
            }
        }
    }
}

/// A driver error as a journal error (no secret in it).
pub fn storage(e: &tokio_postgres::Error) -> JournalError {
    let text = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    JournalError::Storage(format!("PostgreSQL: {}", without_secrets(&text)))
}

/// Connection trouble is said once per episode on stderr, without secrets.
fn tracing_like_note(e: &tokio_postgres::Error) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    if LAST.swap(now, Ordering::Relaxed) + 5 <= now {
        eprintln!(
            "journal: PostgreSQL unreachable ({}); waiting for it",
            without_secrets(&e.to_string())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_dialled_decides_whether_plain_text_is_local() {
        // `host` says localhost, but `hostaddr` dials another machine: refused.
        let remote = Location::parse(
            "host=localhost hostaddr=10.0.0.5 user=u password=pw dbname=feeds sslmode=disable",
            false,
        );
        let error = remote.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("plain text"), "{error}");
        assert!(!error.contains("pw"), "{error}");
        // A remote name dialled at the loopback: local.
        let local = Location::parse(
            "host=db.example hostaddr=127.0.0.1 user=u dbname=feeds sslmode=disable",
            false,
        )
        .unwrap();
        assert_eq!(local.security(), Security::Plain);
    }

    #[test]
    fn urls_and_libpq_key_value_dsns_are_postgres_and_paths_are_not() {
        for dsn in [
            "postgres://u@h/db",
            "postgresql://u@h/db",
            "host=db user=feeder password=x dbname=feeds",
            "dbname=feeds",
        ] {
            assert!(is_dsn(dsn), "{dsn}");
        }
        for path in [
            "journal.sqlite",
            "./data/host=1.sqlite",
            "/var/lib/feed.db",
            "a b=c",
        ] {
            assert!(!is_dsn(path), "{path}");
        }
    }

    #[test]
    fn a_dsn_is_shown_without_its_password_and_remote_plain_text_is_refused() {
        let at =
            Location::parse("postgres://feeder:s3cr3t-pw@127.0.0.1:5433/feeds", false).unwrap();
        assert_eq!(at.to_string(), "postgres://feeder@127.0.0.1:5433/feeds");
        assert!(!format!("{at:?}").contains("s3cr3t"));
        assert_eq!(at.security(), Security::TlsIfOffered);

        let remote = "postgres://feeder:s3cr3t-pw@db.bank.example:5432/feeds";
        assert_eq!(
            Location::parse(remote, false).unwrap().security(),
            Security::Tls
        );
        assert_eq!(
            Location::parse(&format!("{remote}?sslmode=verify-full"), false)
                .unwrap()
                .security(),
            Security::Tls
        );
        let refused = Location::parse(&format!("{remote}?sslmode=disable"), false)
            .err()
            .unwrap()
            .to_string();
        assert!(refused.contains("plain text"), "{refused}");
        assert!(!refused.contains("s3cr3t"), "{refused}");
        assert_eq!(
            Location::parse(&format!("{remote}?sslmode=disable"), true)
                .unwrap()
                .security(),
            Security::Plain
        );
        let unreadable = Location::parse("postgres://feeder:s3cr3t-pw@host:notaport/x", false)
            .err()
            .unwrap()
            .to_string();
        assert!(!unreadable.contains("s3cr3t"), "{unreadable}");
    }
}
