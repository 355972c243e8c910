//! `preventor sandbox`: the sandbox server (both APIs) until interrupted.

use preventor_sandbox::{Sandbox, SandboxConfig};

use crate::output::Exit;

/// `preventor sandbox` options.
#[derive(clap::Args, Debug)]
pub struct SandboxArgs {
    /// Port (0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Requests a second per tenant before 429 with Retry-After.
    #[arg(long, value_name = "RPS")]
    pub rate_limit: Option<f64>,
    /// With --rate-limit: send the IETF RateLimit and RateLimit-Policy fields on every answer.
    #[arg(long, requires = "rate_limit")]
    pub rate_limit_headers: bool,
    /// Share of writes stored but whose answer is lost.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub drop_after_commit: f64,
    /// Share of calls answered STATUS without processing, e.g. 0.01:503.
    #[arg(long, value_name = "FRACTION:STATUS")]
    pub fail_share: Option<String>,
}

/// Runs the sandbox until SIGINT.
pub async fn run(args: SandboxArgs) -> Exit {
    let fail_share = match args.fail_share.as_deref().map(|f| {
        let (share, status) = f.split_once(':')?;
        Some((share.parse().ok()?, status.parse().ok()?))
    }) {
        Some(None) => return Exit::usage("--fail-share takes FRACTION:STATUS".into()),
        Some(Some(f)) => Some(f),
        None => None,
    };
    let config = SandboxConfig {
        addr: ([127, 0, 0, 1], args.port).into(),
        rate_limit: args.rate_limit,
        rate_limit_headers: args.rate_limit_headers,
        drop_after_commit: args.drop_after_commit,
        fail_share,
        ..SandboxConfig::default()
    };
    let sandbox = match Sandbox::start(config).await {
        Ok(s) => s,
        Err(e) => return Exit::fatal(format!("sandbox: {e}")),
    };
    out!("preventor sandbox listening on {}", sandbox.url());
    let _ = tokio::signal::ctrl_c().await;
    Exit::Ok
}
