//! Running the `preventor` binary against an in-process sandbox, and writing inputs.

#![allow(dead_code)]

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use preventor_sandbox::Sandbox;

pub mod postgres;
pub mod proxy;

/// `preventor ARGS` with the `PREVENTOR_*` variables of `sandbox` (and no others), output piped.
pub fn importer(sandbox: &Sandbox, args: &[&str]) -> Command {
    let mut command = bare(args);
    command.envs(sandbox.credentials().env(&sandbox.url()));
    command
}

/// `preventor import transactions FILE --journal DSN --stage-only --json` against `sandbox`.
pub fn stage_only(sandbox: &Sandbox, file: &Path, dsn: &str) -> Command {
    importer(
        sandbox,
        &[
            "import",
            "transactions",
            file.to_str().unwrap(),
            "--journal",
            dsn,
            "--stage-only",
            "--json",
        ],
    )
}

/// The tests' key for PostgreSQL journals' payloads (`PREVENTOR_JOURNAL_KEY`).
pub const JOURNAL_KEY: &str = "5e7c4b1a09f2d38e6a4c1b7d0e9f8a2b3c4d5e6f708192a3b4c5d6e7f8091a2b";

/// `preventor ARGS` with no `PREVENTOR_*` variable but the tests' journal key
/// ([`JOURNAL_KEY`]), output piped.
pub fn bare(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_preventor"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PREVENTOR_") {
            command.env_remove(name);
        }
    }
    command.env("PREVENTOR_JOURNAL_KEY", JOURNAL_KEY);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A fresh temporary directory for one test, removed with everything in it when dropped.
pub struct TestDir(tempfile::TempDir);

impl std::ops::Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for TestDir {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<std::ffi::OsStr> for TestDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.path().as_os_str()
    }
}

/// A fresh temporary directory for one test, named after it.
pub fn temp_dir(name: &str) -> TestDir {
    TestDir(
        tempfile::Builder::new()
            .prefix(&format!("preventor-{name}-"))
            .tempdir()
            .unwrap(),
    )
}

/// A transactions file of `n` records `tx-0..` over `accounts` accounts `acc-0..`.
pub fn transactions(dir: &Path, n: u64, accounts: u64) -> PathBuf {
    let path = dir.join("transactions.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n {
        writeln!(
            f,
            r#"{{"id":"tx-{i}","account_number":"acc-{}","trans_amount":"{i}.50","trans_currency":"PEN"}}"#,
            i % accounts
        )
        .unwrap();
    }
    path
}

/// The JSON object a command printed on stdout (`--json`), or a panic showing its stderr.
/// The (line, first line) pairs of a report's `duplicate_lines`, in the report's order.
pub fn repeat_pairs(report: &serde_json::Value) -> Vec<(u64, u64)> {
    report["duplicate_lines"]
        .as_array()
        .expect("a report lists its duplicate lines")
        .iter()
        .map(|d| {
            (
                d["line"].as_u64().unwrap(),
                d["first_line"].as_u64().unwrap(),
            )
        })
        .collect()
}

pub fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// What a command wrote on stderr.
pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `command` to its end off the async runtime (the in-process sandbox keeps serving).
pub async fn output(command: &mut Command) -> std::process::Output {
    wait(command.spawn().unwrap()).await
}

/// Waits for `child` off the async runtime, with its output.
pub async fn wait(child: std::process::Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}
