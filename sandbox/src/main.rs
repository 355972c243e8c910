//! `preventor-sandbox`: the sandbox as a server for teams in other languages and for load tests.
//! Credentials are the defaults of `preventor_sandbox::Credentials` (printed at start); faults
//! can also be set at run time under `POST /__sandbox/...` (see `--help`).

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use std::io::Write;

use clap::Parser;
use preventor_sandbox::{Refusals, RequestLog, Sandbox, SandboxConfig};

/// A stateful local stand-in for Preventor's compliance and biometrics APIs, held to the
/// OpenAPI documents. Both APIs are served on one port (their paths do not overlap).
#[derive(Parser)]
#[command(
    name = "preventor-sandbox",
    version,
    after_help = "Run-time knobs on the same port (not part of the documents):
  POST /__sandbox/faults {\"operation\": \"bioToken\", \"count\": 2, \"status\": 429, \"retry_after\": 1}
  POST /__sandbox/faults {\"operation\": \"bioToken\", \"count\": 1, \"drop\": true}
  POST /__sandbox/latency {\"ms\": 250}
  POST /__sandbox/expire-tokens
  POST /__sandbox/clear-faults
  GET  /__sandbox/stats

Operations: every operationId of the two documents (see `preventor::operations`)."
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0 picks a free one, printed at start).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write one line per request (time, method, path, status, ms; never headers or bodies)
    /// to this file, or `-` for standard error.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Lifetime of compliance access tokens, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    token_lifetime: u64,
    /// Latency added to every response, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency_ms: u64,
    /// Answer the next COUNT calls of OP with STATUS (and Retry-After), without processing.
    #[arg(long, value_name = "OP:COUNT:STATUS[:RETRY_AFTER]", value_parser = parse_fail)]
    fail: Vec<(String, usize, u16, Option<u64>)>,
    /// Close the connection of the next COUNT calls of OP unanswered.
    #[arg(long, value_name = "OP:COUNT", value_parser = parse_drop)]
    drop: Vec<(String, usize)>,
    /// Requests a second per tenant before answering 429 with Retry-After.
    #[arg(long, value_name = "RPS", value_parser = positive)]
    rate_limit: Option<f64>,
    /// With --rate-limit: send the IETF RateLimit and RateLimit-Policy fields on every answer.
    #[arg(long, requires = "rate_limit")]
    rate_limit_headers: bool,
    /// Share (0..1) of writes that are stored but whose answer is lost.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = share)]
    drop_after_commit: f64,
    /// Share (0..1) of calls answered with STATUS without being processed.
    #[arg(long, value_name = "FRACTION:STATUS", value_parser = parse_fail_share)]
    fail_share: Option<(f64, u16)>,
    /// Accept transactions on accounts the sandbox does not know.
    #[arg(long)]
    accept_unknown_accounts: bool,
    /// Every enroll result fails liveness.
    #[arg(long)]
    refuse_liveness: bool,
    /// Every enroll result fails the photo match (photoVerify false).
    #[arg(long)]
    refuse_photo_match: bool,
    /// Every enroll result has an unreadable document (no fields, enroll false).
    #[arg(long)]
    refuse_document_read: bool,
}

fn share(v: &str) -> Result<f64, String> {
    let v: f64 = v.parse().map_err(|_| format!("{v:?} is not a number"))?;
    (0.0..=1.0)
        .contains(&v)
        .then_some(v)
        .ok_or_else(|| format!("{v} is not between 0 and 1"))
}

fn positive(v: &str) -> Result<f64, String> {
    let v: f64 = v.parse().map_err(|_| format!("{v:?} is not a number"))?;
    (v > 0.0 && v.is_finite())
        .then_some(v)
        .ok_or_else(|| format!("{v} is not a positive rate"))
}

fn number<T: std::str::FromStr>(what: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{what} {v:?} is not a number"))
}

fn operation(op: &str) -> Result<String, String> {
    preventor::operations::by_id(op)
        .map(|o| o.id().to_string())
        .ok_or_else(|| format!("unknown operation {op:?} (see --help)"))
}

fn parse_fail(v: &str) -> Result<(String, usize, u16, Option<u64>), String> {
    match v.split(':').collect::<Vec<_>>().as_slice() {
        [op, count, status] => Ok((
            operation(op)?,
            number("count", count)?,
            number("status", status)?,
            None,
        )),
        [op, count, status, retry] => Ok((
            operation(op)?,
            number("count", count)?,
            number("status", status)?,
            Some(number("retry-after", retry)?),
        )),
        _ => Err("expected OP:COUNT:STATUS[:RETRY_AFTER]".into()),
    }
}

fn parse_drop(v: &str) -> Result<(String, usize), String> {
    let (op, count) = v.split_once(':').ok_or("expected OP:COUNT")?;
    Ok((operation(op)?, number("count", count)?))
}

fn parse_fail_share(v: &str) -> Result<(f64, u16), String> {
    let (s, status) = v.split_once(':').ok_or("expected FRACTION:STATUS")?;
    Ok((share(s)?, number("status", status)?))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let request_log = match &args.log {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(RequestLog::new(std::io::stderr())),
        Some(p) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            Ok(file) => Some(RequestLog::new(file)),
            Err(e) => exit(&format!("--log {}: {e}", p.display())),
        },
    };
    let config = SandboxConfig {
        addr: SocketAddr::new(args.host, args.port),
        token_lifetime: Duration::from_secs(args.token_lifetime),
        latency: Duration::from_millis(args.latency_ms),
        rate_limit: args.rate_limit,
        rate_limit_headers: args.rate_limit_headers,
        drop_after_commit: args.drop_after_commit,
        fail_share: args.fail_share,
        accept_unknown_accounts: args.accept_unknown_accounts,
        refusals: Refusals {
            liveness: args.refuse_liveness,
            photo_match: args.refuse_photo_match,
            document_read: args.refuse_document_read,
        },
        request_log,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config).await.unwrap_or_else(|e| {
        exit(&format!(
            "cannot listen on {}:{}: {e}",
            args.host, args.port
        ))
    });
    for (op, count, status, retry_after) in &args.fail {
        sandbox
            .faults()
            .fail_next(op, *count, *status, *retry_after);
    }
    for (op, count) in &args.drop {
        sandbox.faults().drop_next(op, *count);
    }
    let c = sandbox.credentials();
    // A closed stdout (the reader went away) must not stop the server.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "preventor sandbox listening on {}", sandbox.url());
    let _ = writeln!(
        out,
        "credentials: api key {} / tenant {} / env {} / banknu {} / client {}:{} / user {}:{} / api secret {}",
        c.api_key, c.tenant, c.env, c.banknu, c.client_id, c.client_secret, c.username, c.password, c.api_secret
    );
    let _ = out.flush();
    sandbox.wait().await;
}

fn exit(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2)
}
