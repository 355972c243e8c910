//! What the benchmarks share: the release binaries of this workspace, and the sandbox binary
//! started on a free port.

use std::{
    io::BufRead,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

/// A release binary of this workspace (built beforehand). `PREVENTOR_BENCH_PREVENTOR=PATH`
/// runs another `preventor` instead (an earlier build, for a before/after comparison).
pub fn release(name: &str) -> PathBuf {
    if let Some(other) =
        std::env::var_os("PREVENTOR_BENCH_PREVENTOR").filter(|_| name == "preventor")
    {
        return PathBuf::from(other);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/release")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: cargo build --release -p preventor-cli -p preventor-sandbox",
        path.display()
    );
    path
}

/// The sandbox binary, stopped when dropped.
pub struct Sandbox {
    child: Child,
    /// Where it listens.
    pub url: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sandbox binary on a free port with `args`, once it prints its URL.
pub fn sandbox(args: &[&str]) -> Sandbox {
    let mut child = Command::new(release("preventor-sandbox"))
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .find_map(|l| l.ok()?.split("listening on ").nth(1).map(str::to_string))
        .expect("the sandbox prints its URL");
    std::thread::spawn(move || lines.for_each(drop));
    Sandbox { child, url }
}
