//! `cargo xtask build-times`: clean debug build times, side by side in one run on one machine,
//! as ratios against a plain reqwest + serde binary:
//!
//! | build | what |
//! |---|---|
//! | `baseline` | reqwest 0.13 with its default TLS (rustls on aws-lc-rs) + serde + tokio |
//! | `baseline-ring` | the same with rustls on *ring* (`rustls-no-provider` + `rustls/ring`): the crate's choice |
//! | `preventor` | this crate (progenitor generation in build.rs included) |
//! | `downstream` | a minimal binary that depends on `preventor` |
//!
//! Each build starts from an empty target directory; crates are already downloaded (the first
//! `cargo fetch` is not timed), so only compilation is measured.

use std::{fs, path::Path, process::Command, time::Instant};

use crate::tools;

const BASELINE_MAIN: &str = r#"#[derive(serde::Deserialize, Debug)]
struct Token { access_token: String }
#[tokio::main]
async fn main() {
    let client = reqwest::Client::new();
    let r = client.post("https://api.preventor.com/security/oauth/token").form(&[("grant_type", "password")]).send().await;
    if let Ok(r) = r { let t: Result<Token, _> = r.json().await; println!("{:?}", t.map(|t| t.access_token.len())); }
}
"#;

const RING_MAIN: &str = r#"#[derive(serde::Deserialize, Debug)]
struct Token { access_token: String }
#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let r = client.post("https://api.preventor.com/security/oauth/token").form(&[("grant_type", "password")]).send().await;
    if let Ok(r) = r { let t: Result<Token, _> = r.json().await; println!("{:?}", t.map(|t| t.access_token.len())); }
}
"#;

const DOWNSTREAM_MAIN: &str = r#"#[tokio::main]
async fn main() {
    match preventor::ComplianceClient::from_env() {
        Ok(client) => println!("{:?}", client.get_customer("8adc1652").await.map(|c| c.id)),
        Err(e) => println!("{e}"),
    }
}
"#;

fn manifest(name: &str, deps: &str) -> String {
    format!("[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n[dependencies]\n{deps}")
}

/// Runs the four builds and prints the table.
pub fn run() -> Result<(), String> {
    let root = tools::root();
    let work = root.join("target/build-times");
    let _ = fs::remove_dir_all(&work);
    let serde = "serde = { version = \"1\", features = [\"derive\"] }\nserde_json = \"1\"\ntokio = { version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }\n";
    let projects = [
        ("baseline", format!("reqwest = {{ version = \"0.13\", features = [\"json\", \"form\"] }}\n{serde}"), BASELINE_MAIN),
        (
            "baseline-ring",
            format!("reqwest = {{ version = \"0.13\", default-features = false, features = [\"json\", \"form\", \"rustls-no-provider\", \"http2\"] }}\nrustls = {{ version = \"0.23\", default-features = false, features = [\"ring\", \"std\", \"tls12\"] }}\n{serde}"),
            RING_MAIN,
        ),
        (
            "downstream",
            format!("preventor = {{ path = \"{}\" }}\ntokio = {{ version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }}\n", root.display()),
            DOWNSTREAM_MAIN,
        ),
    ];
    for (name, deps, main) in &projects {
        let dir = work.join(name);
        fs::create_dir_all(dir.join("src")).map_err(|e| e.to_string())?;
        fs::write(dir.join("Cargo.toml"), manifest(name, deps)).map_err(|e| e.to_string())?;
        fs::write(dir.join("src/main.rs"), main).map_err(|e| e.to_string())?;
        tools::run(
            Command::new("cargo")
                .args(["fetch", "--quiet"])
                .current_dir(&dir),
        )?;
    }
    let mut rows = Vec::new();
    for (name, _, _) in &projects[..2] {
        rows.push((
            name.to_string(),
            timed(&work.join(name), &work.join(format!("{name}-target")), &[])?,
        ));
    }
    rows.push((
        "preventor (the crate)".into(),
        timed(
            &root,
            &work.join("preventor-target"),
            &["-p", "preventor", "--lib"],
        )?,
    ));
    rows.push((
        "downstream".into(),
        timed(
            &work.join("downstream"),
            &work.join("downstream-target"),
            &[],
        )?,
    ));
    let base = rows[0].1;
    println!(
        "\nclean debug build, {} cores, sequential, one run:",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!("| build | seconds | vs baseline |\n|---|---|---|");
    for (name, secs) in &rows {
        println!("| {name} | {secs:.1} | {:.2}x |", secs / base);
    }
    Ok(())
}

fn timed(dir: &Path, target: &Path, extra: &[&str]) -> Result<f64, String> {
    let started = Instant::now();
    tools::run(
        Command::new("cargo")
            .args(["build", "--quiet"])
            .args(extra)
            .env("CARGO_TARGET_DIR", target)
            .current_dir(dir),
    )?;
    Ok(started.elapsed().as_secs_f64())
}
