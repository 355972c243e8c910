//! `cargo xtask build-cost`: what depending on the crate costs an application's build.
//!
//! Two applications that make the same call (register one monetary transaction, after the
//! OAuth token) are built from nothing, one after the other, each in a fresh target directory:
//!
//! | application | depends on |
//! |---|---|
//! | `hand-written` | reqwest on the crate's stack (`default-features = false`, `json`, `form`, `rustls`, `http2`), serde, serde_json, tokio |
//! | `with-preventor` | this checkout (`preventor = { path }`), serde_json, tokio |
//!
//! With `--before REV`, two more: `with-preventor` on a checkout of REV, and `hand-written-ring`,
//! the hand-written application with rustls on *ring* as well (the stack the crate had while it
//! installed ring's provider), so a change is measured before and after in one run.
//!
//! Measured: CPU time (user + system) of the whole `cargo build`, rustc and build scripts
//! included (`getrusage(RUSAGE_CHILDREN)`), wall time, and the distinct crates (name and
//! version) in `cargo tree -e normal,build`. Crates are fetched first and not timed. Each
//! application resolves its dependencies fresh, as a new dependent does. CPU time is inflated
//! unevenly by a busy machine: compare only figures from one run on a quiet one.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use crate::tools;

const HAND_WRITTEN_MAIN: &str = r#"use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Token {
    access_token: String,
}

#[derive(Serialize)]
struct MonetaryTransaction<'a> {
    id: &'a str,
    account_number: &'a str,
    trans_amount: &'a str,
    trans_currency: &'a str,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let base = std::env::var("PREVENTOR_COMPLIANCE_URL").unwrap_or("https://api.preventor.com".into());
    let client = reqwest::Client::new();
    let token: Token = client
        .post(format!("{base}/security/oauth/token"))
        .basic_auth(var("PREVENTOR_CLIENT_ID"), Some(var("PREVENTOR_CLIENT_SECRET")))
        .form(&[
            ("grant_type", "password".to_string()),
            ("username", var("PREVENTOR_USERNAME")),
            ("password", var("PREVENTOR_PASSWORD")),
            ("scope", var("PREVENTOR_SCOPE")),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let answer: serde_json::Value = client
        .post(format!("{base}/onboarding/registerMonetaryTransaction"))
        .bearer_auth(&token.access_token)
        .header("x-api-key", var("PREVENTOR_API_KEY"))
        .header("x-tenant", var("PREVENTOR_TENANT"))
        .header("x-env", var("PREVENTOR_ENV"))
        .header("x-banknu", var("PREVENTOR_BANKNU"))
        .json(&MonetaryTransaction {
            id: "tx-0001",
            account_number: "PVTACC0000000001",
            trans_amount: "125.50",
            trans_currency: "USD",
        })
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("{answer}");
    Ok(())
}
"#;

const WITH_PREVENTOR_MAIN: &str = r#"use preventor::{compliance::types::MonetaryTransaction, ComplianceClient};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = ComplianceClient::from_env()?;
    let transaction: MonetaryTransaction = serde_json::from_value(serde_json::json!({
        "id": "tx-0001", "account_number": "PVTACC0000000001",
        "trans_amount": "125.50", "trans_currency": "USD"
    }))?;
    client.register_monetary_transaction(transaction).await?;
    Ok(())
}
"#;

const RING_INSTALL: &str =
    "    #[allow(deprecated)]\n    let _ = rustls::crypto::ring::default_provider().install_default();\n";

const TOKIO: &str = "tokio = { version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }\n";
const SERDE: &str = "serde = { version = \"1\", features = [\"derive\"] }\nserde_json = \"1\"\n";
const REQWEST: &str = "reqwest = { version = \"0.13\", default-features = false, features = [\"json\", \"form\", \"rustls\", \"http2\"] }\n";
const RING: &str =
    "rustls = { version = \"0.23\", default-features = false, features = [\"ring\", \"std\", \"tls12\"] }\n";

/// One application to build.
struct App {
    name: String,
    deps: String,
    main: String,
}

/// What one build cost.
struct Cost {
    cpu: f64,
    wall: f64,
    crates: usize,
}

/// Builds the applications one after the other and prints the table.
pub fn run(before: Option<&str>) -> Result<(), String> {
    let root = tools::root();
    let work = root.join("target/build-cost");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;

    let preventor = |path: &Path| {
        format!(
            "preventor = {{ path = {:?} }}\n",
            path.display().to_string()
        )
    };
    let mut apps = vec![
        App {
            name: "hand-written".into(),
            deps: format!("{REQWEST}{SERDE}{TOKIO}"),
            main: HAND_WRITTEN_MAIN.into(),
        },
        App {
            name: "with-preventor".into(),
            deps: format!("{}serde_json = \"1\"\n{TOKIO}", preventor(&root)),
            main: WITH_PREVENTOR_MAIN.into(),
        },
    ];
    if let Some(rev) = before {
        let source = checkout(&root, rev, &work.join("before-src"))?;
        apps.push(App {
            name: "hand-written-ring".into(),
            deps: format!("{REQWEST}{RING}{SERDE}{TOKIO}"),
            main: HAND_WRITTEN_MAIN.replacen(
                "    let var =",
                &format!("{RING_INSTALL}    let var ="),
                1,
            ),
        });
        apps.push(App {
            name: format!("with-preventor@{rev}"),
            deps: format!("{}serde_json = \"1\"\n{TOKIO}", preventor(&source)),
            main: WITH_PREVENTOR_MAIN.into(),
        });
    }

    let mut dirs = Vec::new();
    for app in &apps {
        let dir = work.join(app.name.replace('@', "-at-"));
        fs::create_dir_all(dir.join("src")).map_err(|e| e.to_string())?;
        let manifest = format!(
            "[package]\nname = \"cost-app\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n[dependencies]\n{}",
            app.deps
        );
        fs::write(dir.join("Cargo.toml"), manifest).map_err(|e| e.to_string())?;
        fs::write(dir.join("src/main.rs"), &app.main).map_err(|e| e.to_string())?;
        tools::run(
            Command::new("cargo")
                .args(["fetch", "--quiet"])
                .current_dir(&dir),
        )?;
        dirs.push(dir);
    }

    let mut costs = Vec::new();
    for (app, dir) in apps.iter().zip(&dirs) {
        eprintln!("building {} from nothing ...", app.name);
        let cost = build(dir);
        if cost.is_err() || costs.len() + 1 == apps.len() {
            // The "before" checkout is not kept (a git worktree would stay registered).
            remove_checkout(&root, &work.join("before-src"));
        }
        let cost = cost?;
        eprintln!(
            "  {:.0} s CPU, {:.0} s wall, {} crates",
            cost.cpu, cost.wall, cost.crates
        );
        costs.push(cost);
    }

    println!(
        "\ndebug build from nothing, one after the other, {} cores:\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!("| application | CPU s (user+sys) | wall s | distinct crates | CPU vs hand-written |");
    println!("|---|---|---|---|---|");
    for (app, cost) in apps.iter().zip(&costs) {
        // Each preventor build against the hand-written application on the same TLS stack.
        let base = if app.name.contains('@') {
            &costs[2]
        } else {
            &costs[0]
        };
        println!(
            "| {} | {:.0} | {:.0} | {} | {:.2}x |",
            app.name,
            cost.cpu,
            cost.wall,
            cost.crates,
            cost.cpu / base.cpu
        );
    }
    if before.is_some() {
        println!(
            "\n(`with-preventor@REV` is compared with `hand-written-ring`, the stack it used.)"
        );
    }
    Ok(())
}

/// A clean checkout of `rev` (a git worktree, detached), for the "before" build.
fn checkout(root: &Path, rev: &str, into: &Path) -> Result<PathBuf, String> {
    remove_checkout(root, into);
    tools::run(
        Command::new("git")
            .args(["worktree", "add", "--force", "--detach"])
            .arg(into)
            .arg(rev)
            .current_dir(root),
    )?;
    Ok(into.to_path_buf())
}

/// Unregisters and deletes the checkout [`checkout`] made, if any.
fn remove_checkout(root: &Path, at: &Path) {
    if at.exists() {
        let _ = Command::new("git")
            .args(["worktree", "remove", "--force"])
            .arg(at)
            .current_dir(root)
            .output();
    }
}

/// One `cargo build` from an empty target directory, and the crates it built.
fn build(dir: &Path) -> Result<Cost, String> {
    let target = dir.join("target");
    let _ = fs::remove_dir_all(&target);
    let cpu_before = children_cpu();
    let started = Instant::now();
    tools::run(
        Command::new("cargo")
            .args(["build", "--quiet"])
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_JOBS")
            .current_dir(dir),
    )?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = children_cpu() - cpu_before;
    let (ok, tree) = tools::output(
        Command::new("cargo")
            .args(["tree", "--quiet", "-e", "normal,build", "--prefix", "none"])
            .current_dir(dir),
    )?;
    if !ok {
        return Err(format!("cargo tree failed in {}:\n{tree}", dir.display()));
    }
    let crates: BTreeSet<String> = tree
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?))
        })
        .filter(|id| !id.starts_with("cost-app ") && !id.starts_with('['))
        .collect();
    Ok(Cost {
        cpu,
        wall,
        crates: crates.len(),
    })
}

/// CPU seconds (user + system) of every child process waited for so far, and of theirs.
fn children_cpu() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
