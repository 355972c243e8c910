//! `cargo xtask sandbox-check`: the sandbox binary against both documents with schemathesis
//! (examples and fuzzing, positive and negative, every check); `tools/spec/schemathesis-run.py`.

use std::{
    net::{TcpListener, TcpStream},
    process::{Child, Command},
    thread::sleep,
    time::{Duration, Instant},
};

use crate::tools::{self, venv_bin};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the sandbox binary on a free loopback port; returns it and its base URL.
pub fn start_sandbox() -> Result<(impl Drop, String), String> {
    start_sandbox_with(&[])
}

/// [`start_sandbox`] with more command-line options.
pub fn start_sandbox_with(options: &[&str]) -> Result<(impl Drop, String), String> {
    let root = tools::root();
    tools::run(
        Command::new("cargo")
            .args([
                "build",
                "--quiet",
                "-p",
                "preventor-sandbox",
                "--bin",
                "preventor-sandbox",
            ])
            .current_dir(&root),
    )?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let binary = root.join("target/debug/preventor-sandbox");
    let child = Command::new(binary)
        .args(["--port", &port.to_string()])
        .args(options)
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the sandbox: {e}"))?;
    let running = Running(child);
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            return Err("the sandbox did not start within 30 s".into());
        }
        sleep(Duration::from_millis(50));
    }
    Ok((running, format!("http://127.0.0.1:{port}")))
}

/// Runs schemathesis on both documents against a fresh sandbox.
pub fn run() -> Result<(), String> {
    tools::ensure_installed()?;
    let (_sandbox, url) = start_sandbox()?;
    tools::run(
        Command::new(venv_bin("python"))
            .arg(tools::dir().join("schemathesis-run.py"))
            .arg(&url),
    )
    .map_err(|_| "schemathesis found violations (see above)".to_string())?;
    println!("sandbox-check: schemathesis passed on both documents");
    Ok(())
}
