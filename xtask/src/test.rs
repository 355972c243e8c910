//! `cargo xtask test`: installs what the workspace's tests need from the system when it is
//! missing (PostgreSQL's server and client programs, headless Chromium), then runs
//! `cargo test --workspace` with any arguments given. As root with `apt-get` it installs
//! Debian's packages; otherwise it says what to install and stops.

use std::{path::Path, process::Command};

/// Something the tests need from the system.
struct Need {
    what: &'static str,
    /// Debian's packages that provide it.
    packages: &'static [&'static str],
    present: fn() -> bool,
}

const NEEDS: [Need; 2] = [
    Need {
        what:
            "PostgreSQL (initdb, pg_ctl, psql, pg_dump, pg_basebackup: the shared-feed tests run \
               throwaway clusters)",
        packages: &["postgresql", "postgresql-client"],
        present: postgres_present,
    },
    Need {
        what: "headless Chromium (the HTML report's rendering test)",
        packages: &["chromium"],
        present: chromium_present,
    },
];

/// Provisions, then runs the workspace's tests with `args` passed on.
pub fn run(args: &[String]) -> Result<(), String> {
    for need in &NEEDS {
        ensure(need)?;
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--workspace"])
        .args(args)
        .current_dir(crate::tools::root())
        .status()
        .map_err(|e| format!("cannot start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the tests failed ({status})"))
    }
}

fn ensure(need: &Need) -> Result<(), String> {
    if (need.present)() {
        return Ok(());
    }
    let packages = need.packages.join(" ");
    if !(is_root() && on_path("apt-get")) {
        return Err(format!(
            "{} is missing. Install it, then run `cargo xtask test` again: `sudo apt-get \
             install {packages}` (Debian, Ubuntu), or your system's package manager",
            need.what
        ));
    }
    eprintln!("installing {packages} for {}", need.what);
    for args in [
        vec!["update", "-qq"],
        [&["install", "-y", "-qq"][..], need.packages].concat(),
    ] {
        let status = Command::new("apt-get")
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("cannot start apt-get: {e}"))?;
        if !status.success() {
            return Err(format!("apt-get {} failed ({status})", args.join(" ")));
        }
    }
    if (need.present)() {
        Ok(())
    } else {
        Err(format!(
            "{} is still missing after installing {packages}",
            need.what
        ))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// PostgreSQL's programs on PATH or where Debian puts them (the tests look there too).
fn postgres_present() -> bool {
    let programs = [
        "initdb",
        "pg_ctl",
        "postgres",
        "psql",
        "pg_dump",
        "pg_basebackup",
    ];
    let in_dir = |dir: &Path| programs.iter().all(|p| dir.join(p).is_file());
    programs.iter().all(|p| on_path(p))
        || std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .any(|version| in_dir(&version.path().join("bin")))
}

fn chromium_present() -> bool {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .any(|p| on_path(p))
}
