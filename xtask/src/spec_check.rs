//! `cargo xtask spec-check`: both documents through openapi-spec-validator, Redocly lint
//! (recommended-strict), Spectral (spectral:oas, fail on warnings), openapi-generator
//! `validate`, and Prism (`tools/spec/prism-check.mjs`). `--self-test` proves the check fails
//! on deliberately broken copies.

use std::{fs, path::Path, process::Command};

use crate::tools::{self, node_bin, venv_bin};

/// The documents checked.
pub const DOCUMENTS: [&str; 2] = ["compliance", "biometrics"];

/// Checks every document; Err lists what failed.
pub fn run(self_test: bool) -> Result<(), String> {
    tools::ensure_installed()?;
    let root = tools::root();
    let mut failed = Vec::new();
    for (i, name) in DOCUMENTS.iter().enumerate() {
        let path = root.join("openapi").join(format!("{name}.yaml"));
        for failure in check(&path, 4100 + i as u16, true) {
            failed.push(format!("{name}: {failure}"));
        }
    }
    if self_test {
        self_test_broken_copies()?;
    }
    if failed.is_empty() {
        println!("spec-check: both documents pass all five checks with no warning");
        Ok(())
    } else {
        Err(format!("spec-check failed:\n  {}", failed.join("\n  ")))
    }
}

/// Runs the five checks on one document; returns the names of the checks that failed.
pub fn check(path: &Path, port: u16, with_prism: bool) -> Vec<String> {
    let dir = tools::dir();
    let file = path.to_str().expect("UTF-8 path");
    let mut checks: Vec<(&str, Command)> = Vec::new();
    let mut c = Command::new(venv_bin("openapi-spec-validator"));
    c.arg(file);
    checks.push(("openapi-spec-validator", c));
    // recommended-strict raises every rule to error, so Redocly's exit status covers warnings.
    let mut c = Command::new(node_bin("redocly"));
    c.args([
        "lint",
        "--config",
        "redocly.yaml",
        "--max-problems",
        "100",
        file,
    ])
    .current_dir(&dir);
    checks.push(("redocly lint", c));
    let mut c = Command::new(node_bin("spectral"));
    c.args([
        "lint",
        "--ruleset",
        ".spectral.yaml",
        "--fail-severity=warn",
        file,
    ])
    .current_dir(&dir);
    checks.push(("spectral lint", c));
    let mut c = Command::new(venv_bin("openapi-generator-cli"));
    c.args(["validate", "-i", file]);
    checks.push(("openapi-generator validate", c));
    if with_prism {
        let mut c = Command::new("node");
        c.args(["prism-check.mjs", file, &port.to_string()])
            .current_dir(&dir);
        checks.push(("prism", c));
    }
    let mut failed = Vec::new();
    for (name, mut cmd) in checks {
        match tools::output(&mut cmd) {
            Ok((true, _)) => println!("  ok   {name}: {}", path.display()),
            Ok((false, out)) => {
                println!("{out}");
                println!("  FAIL {name}: {}", path.display());
                failed.push(name.to_string());
            }
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    failed
}

/// Each broken copy must be caught by the check (names which tool caught it).
fn self_test_broken_copies() -> Result<(), String> {
    let root = tools::root();
    let compliance =
        fs::read_to_string(root.join("openapi/compliance.yaml")).map_err(|e| e.to_string())?;
    let biometrics =
        fs::read_to_string(root.join("openapi/biometrics.yaml")).map_err(|e| e.to_string())?;
    let broken = [
        (
            "an example that violates its schema (a number where a Decimal string is required)",
            compliance.replacen(
                "trans_amount: '150803.247745453'",
                "trans_amount: 150803.247745453",
                1,
            ),
            false,
        ),
        (
            "an operation without responses",
            biometrics.replacen(
                "      responses:\n        '200':\n          description: The new bio user.",
                "      x-responses:\n        '200':\n          description: The new bio user.",
                1,
            ),
            false,
        ),
        (
            "a required field the example request does not send",
            compliance.replacen(
                "required: [request_type, id, account_number]",
                "required: [request_type, id, account_number, bank_code]",
                1,
            ),
            true,
        ),
    ];
    let tmp = std::env::temp_dir().join(format!("preventor-spec-self-test-{}", std::process::id()));
    fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let mut missed = Vec::new();
    for (i, (what, text, prism)) in broken.iter().enumerate() {
        let original = if text.contains("Preventor Compliance API") {
            &compliance
        } else {
            &biometrics
        };
        if text == original {
            return Err(format!(
                "self-test: the mutation '{what}' no longer applies; update it"
            ));
        }
        let path = tmp.join(format!("broken-{i}.yaml"));
        fs::write(&path, text).map_err(|e| e.to_string())?;
        let failed = check(&path, 4200 + i as u16, *prism);
        if failed.is_empty() {
            missed.push(*what);
        } else {
            println!("self-test: {what}: caught by {}", failed.join(", "));
        }
    }
    let _ = fs::remove_dir_all(&tmp);
    if missed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "self-test: the check did not catch: {}",
            missed.join("; ")
        ))
    }
}
