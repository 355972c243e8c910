//! `preventor`: the Preventor SDK from a shell.
//!
//! Commands talk to Preventor's API, configured by the same variables as the crate
//! (`PREVENTOR_API_KEY`, `PREVENTOR_TENANT`, ..., base URLs overridable with
//! `PREVENTOR_COMPLIANCE_URL` and `PREVENTOR_BIOMETRICS_URL`), or to an embedded sandbox when
//! asked (`--sandbox` or `PREVENTOR_SANDBOX=1`, said on stderr). Missing or partial
//! configuration is an error naming every missing variable: never a silent sandbox.

/// `println!` that ignores a closed stdout (`preventor status j | head`): the work is done and
/// recorded by then, and a panic would only hide the exit code.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod commands;
mod feed;
mod input;
mod journal;
mod output;
mod progress;
mod report;
mod signals;
mod target;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use output::Exit;
use preventor_sandbox::{Sandbox, SandboxConfig};
use target::Needs;

#[derive(Parser)]
#[command(
    name = "preventor",
    version,
    about = "Preventor's compliance and biometrics APIs from a shell: bulk import with a durable journal, and single calls.",
    after_help = "Exit codes: 0 all acknowledged / success; 1 records rejected, invalid, repeated \
                  or changed since sent; 2 usage; 3 records ambiguous, failed, pending, in \
                  flight or waiting for a decided resend (see `preventor status`); 4 configuration, credentials, input or journal \
                  error (nothing sent); 5 stopped by SIGINT/SIGTERM before the end (a rerun goes \
                  on); 130 aborted by a second signal.\n\
                  Commands use Preventor's API from the PREVENTOR_* variables (all of them: a \
                  missing one is an error), or an embedded sandbox with --sandbox."
)]
struct Cli {
    /// Print results as one JSON object on stdout (for scripts).
    #[arg(long, global = true)]
    json: bool,
    /// Run against an embedded sandbox instead of Preventor's API (nothing is sent to
    /// Preventor; said on stderr).
    #[arg(long, global = true, env = "PREVENTOR_SANDBOX", value_parser = clap::builder::BoolishValueParser::new())]
    sandbox: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send a file of customers, accounts or transactions, one call per record, safely.
    Import(commands::import::ImportArgs),
    /// Counts per state of a journal, and the rejected, ambiguous and failed records.
    Status(commands::status::StatusArgs),
    /// The receipt of a journal: each run (input hash, target, options, counts, charts over
    /// time), rejected records grouped by answer, records without a final answer, decisions.
    Report(commands::report::ReportArgs),
    /// Record an operator's decision on ambiguous, rejected or failed records: acknowledged
    /// (checked with Preventor), resend (the next run sends them once) or abandon.
    Resolve(commands::resolve::ResolveArgs),
    /// Join the feed of a PostgreSQL journal from this host: lease buckets of keys, send their
    /// records, take over those of a worker that died; end when nothing is pending.
    Work(commands::work::WorkArgs),
    /// Check the compliance credentials: obtain a token (prints nothing secret).
    Token,
    /// Customer calls.
    Customer {
        #[command(subcommand)]
        command: CustomerCommand,
    },
    /// The page's "Onboarding based on Biometrics" flow with your photos.
    Onboard {
        /// Portrait (selfie), JPEG.
        #[arg(long)]
        portrait: PathBuf,
        /// Front of the identity document, JPEG.
        #[arg(long)]
        document_front: PathBuf,
        /// Back of the identity document, JPEG.
        #[arg(long)]
        document_back: Option<PathBuf>,
        /// Id of the customer to create.
        #[arg(long)]
        customer_id: String,
    },
    /// Run the sandbox server (both APIs) until interrupted.
    Sandbox {
        /// Port (0: any free port).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Requests a second per tenant before 429 with Retry-After.
        #[arg(long, value_name = "RPS")]
        rate_limit: Option<f64>,
        /// Share of writes stored but whose answer is lost.
        #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
        drop_after_commit: f64,
        /// Share of calls answered STATUS without processing, e.g. 0.01:503.
        #[arg(long, value_name = "FRACTION:STATUS")]
        fail_share: Option<String>,
    },
}

#[derive(Subcommand)]
enum CustomerCommand {
    /// getCustomer: print a customer (personal data masked unless --show-personal-data).
    Get {
        /// The customer's id.
        id: String,
        /// Print names, addresses, phones, emails and document numbers in clear.
        #[arg(long)]
        show_personal_data: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    run(cli).await.code(json)
}

/// The clients of a command that calls Preventor: configuration checked first.
async fn clients(sandbox: bool, needs: Needs) -> Result<target::Clients, Exit> {
    target::plan(sandbox, needs)?
        .clients(needs)
        .await
        .map_err(Exit::from)
}

async fn run(cli: Cli) -> Exit {
    let json = cli.json;
    match cli.command {
        Command::Status(args) => commands::status::run(args, json).await,
        Command::Report(args) => commands::report::run(args, json).await,
        Command::Resolve(args) => commands::resolve::run(args, json).await,
        Command::Work(args) => {
            let plan = match target::plan(cli.sandbox, Needs::Compliance) {
                Ok(p) => p,
                Err(e) => return e.into(),
            };
            commands::work::run(plan, args, json).await
        }
        Command::Import(args) => commands::import::run(cli.sandbox, args, json).await,
        Command::Token => {
            let clients = match clients(cli.sandbox, Needs::Compliance).await {
                Ok(c) => c,
                Err(e) => return e,
            };
            match clients.compliance.authenticate().await {
                Ok(()) => {
                    if json {
                        out!("{}", serde_json::json!({"token": "obtained"}));
                    } else {
                        out!("credentials accepted: an access token was obtained");
                    }
                    Exit::Ok
                }
                Err(e) => Exit::fatal(format!("credentials refused: {e}")),
            }
        }
        Command::Customer {
            command:
                CustomerCommand::Get {
                    id,
                    show_personal_data,
                },
        } => {
            let clients = match clients(cli.sandbox, Needs::Compliance).await {
                Ok(c) => c,
                Err(e) => return e,
            };
            match clients.compliance.get_customer(&id).await {
                Ok(customer) => {
                    let mut value = serde_json::to_value(&customer).unwrap_or_default();
                    if !show_personal_data {
                        preventor::redacted::mask_personal(&mut value);
                    }
                    out!(
                        "{}",
                        if json {
                            value.to_string()
                        } else {
                            serde_json::to_string_pretty(&value).unwrap_or_default()
                        }
                    );
                    Exit::Ok
                }
                Err(e) if e.is_not_found() => {
                    eprintln!("customer {id} does not exist");
                    Exit::Rejected
                }
                Err(e) => Exit::fatal(e.to_string()),
            }
        }
        Command::Onboard {
            portrait,
            document_front,
            document_back,
            customer_id,
        } => {
            onboard(
                cli.sandbox,
                portrait,
                document_front,
                document_back,
                customer_id,
                json,
            )
            .await
        }
        Command::Sandbox {
            port,
            rate_limit,
            drop_after_commit,
            fail_share,
        } => {
            let fail_share = match fail_share.as_deref().map(|f| {
                let (share, status) = f.split_once(':')?;
                Some((share.parse().ok()?, status.parse().ok()?))
            }) {
                Some(None) => return Exit::usage("--fail-share takes FRACTION:STATUS".into()),
                Some(Some(f)) => Some(f),
                None => None,
            };
            let config = SandboxConfig {
                addr: ([127, 0, 0, 1], port).into(),
                rate_limit,
                drop_after_commit,
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
    }
}

async fn onboard(
    sandbox: bool,
    portrait: PathBuf,
    front: PathBuf,
    back: Option<PathBuf>,
    customer_id: String,
    json: bool,
) -> Exit {
    use preventor::{onboarding, BioPhotos, Photo};
    let photos = (|| -> preventor::Result<BioPhotos> {
        Ok(BioPhotos {
            portrait: Photo::from_file(&portrait)?,
            second_portrait: None,
            document_front: Photo::from_file(&front)?,
            document_back: back.as_ref().map(Photo::from_file).transpose()?,
        })
    })();
    let photos = match photos {
        Ok(p) => p,
        Err(e) => return Exit::Fatal(e.to_string()),
    };
    let clients = match clients(sandbox, Needs::Both).await {
        Ok(c) => c,
        Err(e) => return e,
    };
    let (compliance, Some(biometrics)) = (&clients.compliance, &clients.biometrics) else {
        return Exit::fatal("no biometrics client".into());
    };
    let request = onboarding::OnboardingRequest {
        customer_id,
        document_type: preventor::DocumentType::IdCard,
        doc_type_code: 6,
        photos,
        context: Default::default(),
        require_valid_mrz: false,
    };
    match onboarding::onboard(biometrics, compliance, request, |step| {
        if !json {
            eprintln!("{step}");
        }
    })
    .await
    {
        Ok(done) => {
            let report = serde_json::json!({"customer_id": done.customer.id.to_string(), "user_id": done.user_id, "ticket": done.ticket, "mrz_valid": done.mrz.as_ref().map(|m| m.is_valid())});
            out!(
                "{}",
                if json {
                    report.to_string()
                } else {
                    format!("customer {} created", done.customer.id)
                }
            );
            Exit::Ok
        }
        Err(e) if e.is_rejected() => {
            eprintln!("{e}");
            Exit::Rejected
        }
        Err(e) => Exit::fatal(e.to_string()),
    }
}
