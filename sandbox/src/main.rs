//! `preventor-sandbox [--port N] [--token-lifetime SECS] [--latency-ms MS]
//! [--fail OP:COUNT:STATUS[:RETRY_AFTER]]... [--drop OP:COUNT]...`: the sandbox as a server for
//! teams in other languages. Credentials are the defaults of `preventor_sandbox::Credentials`
//! (printed at start); faults can also be set at run time under `POST /__sandbox/...`.

use std::{net::SocketAddr, time::Duration};

use preventor_sandbox::{Sandbox, SandboxConfig};

const USAGE: &str = "preventor-sandbox [--port N] [--token-lifetime SECS] [--latency-ms MS] \
[--fail OP:COUNT:STATUS[:RETRY_AFTER]]... [--drop OP:COUNT]... [--rate-limit RPS] \
[--drop-after-commit FRACTION] [--fail-share FRACTION:STATUS]";

/// A fault to queue once the sandbox runs.
enum StartFault {
    Fail {
        op: String,
        count: usize,
        status: u16,
        retry_after: Option<u64>,
    },
    Drop {
        op: String,
        count: usize,
    },
}

fn number<T: std::str::FromStr>(flag: &str, value: Option<&str>) -> T {
    value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| exit(&format!("{flag}: expected a number\nusage: {USAGE}")))
}

/// A number in `0..=max` (positive for a rate).
fn fraction(flag: &str, value: Option<&str>, max: f64) -> f64 {
    let v: f64 = number(flag, value);
    if !(0.0..=max).contains(&v) || v.is_nan() {
        exit(&format!("{flag}: {v} is out of range\nusage: {USAGE}"));
    }
    v
}

#[tokio::main]
async fn main() {
    let mut config = SandboxConfig::default();
    let mut faults = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match arg.as_str() {
            "--port" => {
                config.addr = SocketAddr::from(([127, 0, 0, 1], number(&arg, value.as_deref())))
            }
            "--token-lifetime" => {
                config.token_lifetime = Duration::from_secs(number(&arg, value.as_deref()))
            }
            "--latency-ms" => {
                config.latency = Duration::from_millis(number(&arg, value.as_deref()))
            }
            "--fail" => {
                let value = value.unwrap_or_default();
                let parts: Vec<&str> = value.split(':').collect();
                let (op, count, status) = match parts.as_slice() {
                    [op, count, status] | [op, count, status, _] => (
                        op.to_string(),
                        number(&arg, Some(count)),
                        number(&arg, Some(status)),
                    ),
                    _ => exit(&format!(
                        "--fail takes OP:COUNT:STATUS[:RETRY_AFTER]\nusage: {USAGE}"
                    )),
                };
                let retry_after = parts.get(3).map(|r| number(&arg, Some(r)));
                faults.push(StartFault::Fail {
                    op,
                    count,
                    status,
                    retry_after,
                });
            }
            "--drop" => {
                let value = value.unwrap_or_default();
                let Some((op, count)) = value.split_once(':') else {
                    exit(&format!("--drop takes OP:COUNT\nusage: {USAGE}"))
                };
                faults.push(StartFault::Drop {
                    op: op.to_string(),
                    count: number(&arg, Some(count)),
                });
            }
            "--rate-limit" => {
                config.rate_limit = Some(fraction(&arg, value.as_deref(), f64::MAX));
            }
            "--drop-after-commit" => {
                config.drop_after_commit = fraction(&arg, value.as_deref(), 1.0);
            }
            "--fail-share" => {
                let v = value.unwrap_or_default();
                let Some((share, status)) = v.split_once(':') else {
                    exit(&format!(
                        "--fail-share takes FRACTION:STATUS\nusage: {USAGE}"
                    ))
                };
                config.fail_share =
                    Some((fraction(&arg, Some(share), 1.0), number(&arg, Some(status))));
            }
            "-h" | "--help" => {
                println!("usage: {USAGE}");
                return;
            }
            other => exit(&format!("unknown argument {other}\nusage: {USAGE}")),
        }
    }
    let sandbox = Sandbox::start(config)
        .await
        .unwrap_or_else(|e| exit(&format!("cannot listen: {e}")));
    for fault in faults {
        match fault {
            StartFault::Fail {
                op,
                count,
                status,
                retry_after,
            } => sandbox.faults().fail_next(&op, count, status, retry_after),
            StartFault::Drop { op, count } => sandbox.faults().drop_next(&op, count),
        }
    }
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
