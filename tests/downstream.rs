//! Adding the SDK to an application must not break the application's own reqwest: two small
//! applications are built and run against this checkout, one with reqwest on its defaults and
//! one with `default-features = false, features = ["json"]` (plain HTTP only). Each builds its
//! own `reqwest::Client` and an SDK client, and makes a plain-HTTP call with its own client.
//!
//! Slow (it compiles the SDK once more in `target/downstream`): ignored by `cargo test`, run by
//! `.ci/run` with `cargo test --test downstream -- --ignored`.

use std::{path::Path, process::Command};

const MAIN: &str = r#"
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let own = reqwest::Client::builder().build().expect("the application's own client builds");
    let url = std::env::args().nth(1).expect("a URL");
    let status = own.get(&url).send().await.expect("the application's own call").status();
    let sdk = preventor::ComplianceClient::builder()
        .tenant(preventor::Tenant {
            api_key: "k".into(),
            tenant: "t".into(),
            env: "e".into(),
            banknu: "b".into(),
        })
        .credentials(preventor::OAuthCredentials {
            client_id: "c".into(),
            client_secret: "s".into(),
            username: "u".into(),
            password: "p".into(),
            scope: "read".into(),
        })
        .build()
        .expect("the SDK client builds");
    drop(sdk);
    println!("downstream ok {status}");
}
"#;

fn application(name: &str, reqwest: &str) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/downstream").join(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\npreventor = {{ path = {root:?} }}\nreqwest = {reqwest}\n\
         tokio = {{ version = \"1\", features = [\"rt\", \"macros\"] }}\n\n[workspace]\n",
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/main.rs"), MAIN).unwrap();
    // The same versions as this checkout: start from its lock file.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

fn run(dir: &Path, url: &str) -> String {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/downstream/target");
    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--"])
        .arg(url)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("cargo runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{}: {text}", dir.display());
    text
}

#[tokio::test]
#[ignore = "compiles two applications; run by .ci/run"]
async fn applications_keep_their_own_reqwest_working() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { "hello" });
        axum::serve(listener, app).await.unwrap()
    });
    for (name, reqwest) in [
        (
            "plain-http-app",
            r#"{ version = "0.13", default-features = false, features = ["json"] }"#,
        ),
        ("default-app", r#""0.13""#),
    ] {
        let dir = application(name, reqwest);
        let url = url.clone();
        let text = tokio::task::spawn_blocking(move || run(&dir, &url))
            .await
            .unwrap();
        assert!(text.contains("downstream ok 200 OK"), "{name}: {text}");
    }
}
