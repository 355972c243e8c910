//! The pinned third-party spec tools in `tools/spec/`: where they are, and installing them
//! from the lock files when they are missing.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository")
        .to_path_buf()
}

/// `tools/spec/`.
pub fn dir() -> PathBuf {
    root().join("tools/spec")
}

/// An npm-installed binary.
pub fn node_bin(name: &str) -> PathBuf {
    dir().join("node_modules/.bin").join(name)
}

/// A binary of the Python virtual environment.
pub fn venv_bin(name: &str) -> PathBuf {
    dir().join(".venv/bin").join(name)
}

/// Installs the npm and PyPI tools from `package-lock.json` and `requirements.lock` if absent.
pub fn ensure_installed() -> Result<(), String> {
    let dir = dir();
    if !node_bin("redocly").exists() || !node_bin("prism").exists() {
        eprintln!("installing npm tools (package-lock.json)...");
        run(Command::new("npm")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
            .current_dir(&dir))?;
    }
    if !venv_bin("openapi-spec-validator").exists() {
        eprintln!("installing PyPI tools (requirements.lock)...");
        run(Command::new("python3")
            .args(["-m", "venv", ".venv"])
            .current_dir(&dir))?;
        run(Command::new(venv_bin("pip"))
            .args(["install", "--quiet", "--no-deps", "-r", "requirements.lock"])
            .current_dir(&dir))?;
    }
    Ok(())
}

/// Runs a command with the tools' environment; Ok when it exits 0.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let status = with_env(cmd)
        .status()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{:?} failed ({status})", cmd.get_program()))
    }
}

/// Runs a command and returns (success, combined output).
pub fn output(cmd: &mut Command) -> Result<(bool, String), String> {
    let out = with_env(cmd)
        .output()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text))
}

fn with_env(cmd: &mut Command) -> &mut Command {
    cmd.env("REDOCLY_TELEMETRY", "off")
        .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true")
        .env("SCARF_ANALYTICS", "false")
        .env("NO_UPDATE_NOTIFIER", "1")
}
