//! `preventor-sandbox --port 8080 [--token-lifetime SECS] [--latency-ms MS]`: the sandbox as a
//! server for teams in other languages. Credentials are the defaults of
//! `preventor_sandbox::Credentials` (printed at start).

use std::{net::SocketAddr, time::Duration};

use preventor_sandbox::{Sandbox, SandboxConfig};

#[tokio::main]
async fn main() {
    let mut config = SandboxConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| exit(&format!("{name} needs a number")))
        };
        match arg.as_str() {
            "--port" => config.addr = SocketAddr::from(([127, 0, 0, 1], value("--port") as u16)),
            "--token-lifetime" => {
                config.token_lifetime = Duration::from_secs(value("--token-lifetime"))
            }
            "--latency-ms" => config.latency = Duration::from_millis(value("--latency-ms")),
            "-h" | "--help" => {
                println!("preventor-sandbox [--port N] [--token-lifetime SECS] [--latency-ms MS]");
                return;
            }
            other => exit(&format!("unknown argument {other}")),
        }
    }
    let sandbox = Sandbox::start(config)
        .await
        .unwrap_or_else(|e| exit(&format!("cannot listen: {e}")));
    let c = sandbox.credentials();
    println!("preventor sandbox listening on {}", sandbox.url());
    println!(
        "credentials: api key {} / tenant {} / env {} / banknu {} / client {}:{} / user {}:{} / api secret {}",
        c.api_key, c.tenant, c.env, c.banknu, c.client_id, c.client_secret, c.username, c.password, c.api_secret
    );
    sandbox.wait().await;
}

fn exit(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2)
}
