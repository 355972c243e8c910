//! Where a command sends: Preventor's API from the `PREVENTOR_*` variables, or the embedded
//! sandbox when asked for (`--sandbox`, `PREVENTOR_SANDBOX=1`). Never one in place of the
//! other: missing or partial configuration is an error that names every missing variable.

use preventor::{BiometricsClient, ComplianceClient, BIOMETRICS_ENV, COMPLIANCE_ENV};
use preventor_sandbox::{Sandbox, SandboxConfig};
use serde::{Deserialize, Serialize};

/// The base URL a journal records for the embedded sandbox (its port changes every run).
pub const EMBEDDED_SANDBOX: &str = "embedded-sandbox";

/// Which APIs a command calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// The compliance API only (import, token, customer).
    Compliance,
    /// Both APIs (onboard).
    Both,
}

/// Whose records a journal holds: the compliance base URL and the tenant headers' values.
/// Never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The compliance base URL, or [`EMBEDDED_SANDBOX`].
    pub compliance_url: String,
    /// `x-tenant`.
    pub tenant: String,
    /// `x-env`.
    pub env: String,
    /// `x-banknu`.
    pub banknu: String,
}

impl Target {
    /// What differs between a journal's target (`self`) and this run's, one `field: a != b`
    /// per difference.
    pub fn differences(&self, run: &Target) -> Vec<String> {
        let pairs = [
            ("compliance URL", &self.compliance_url, &run.compliance_url),
            ("tenant", &self.tenant, &run.tenant),
            ("env", &self.env, &run.env),
            ("banknu", &self.banknu, &run.banknu),
        ];
        pairs
            .into_iter()
            .filter(|(_, a, b)| a != b)
            .map(|(field, a, b)| format!("{field}: journal {a:?}, this run {b:?}"))
            .collect()
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (tenant {}, env {}, banknu {})",
            self.compliance_url, self.tenant, self.env, self.banknu
        )
    }
}

/// Configuration checked, nothing started yet: what a command will talk to.
pub enum Plan {
    /// The `PREVENTOR_*` variables, complete.
    Api,
    /// The embedded sandbox, asked for.
    Sandbox,
}

/// Checks the configuration before anything is read or sent: with `sandbox`, the embedded
/// sandbox (said on stderr); otherwise every variable `needs` must be set, or the error names
/// each missing one (exit 4).
pub fn plan(sandbox: bool, needs: Needs) -> Result<Plan, ConfigError> {
    if sandbox {
        let set: Vec<&str> = COMPLIANCE_ENV
            .iter()
            .chain(&BIOMETRICS_ENV)
            .chain(&["PREVENTOR_COMPLIANCE_URL", "PREVENTOR_BIOMETRICS_URL"])
            .copied()
            .filter(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !set.is_empty() {
            eprintln!(
                "--sandbox: ignoring {} (nothing is sent to Preventor)",
                set.join(", ")
            );
        }
        return Ok(Plan::Sandbox);
    }
    let mut required: Vec<&str> = COMPLIANCE_ENV.to_vec();
    if needs == Needs::Both {
        for name in BIOMETRICS_ENV {
            if !required.contains(&name) {
                required.push(name);
            }
        }
    }
    let missing = preventor::missing_env(&required);
    if missing.is_empty() {
        return Ok(Plan::Api);
    }
    let none_set = missing.len() == required.len()
        && preventor::missing_env(&["PREVENTOR_COMPLIANCE_URL", "PREVENTOR_BIOMETRICS_URL"]).len()
            == 2;
    Err(ConfigError(format!(
        "{}: {} not set. Set {} to use Preventor's API, or pass --sandbox (or \
         PREVENTOR_SANDBOX=1) to run against an embedded sandbox.",
        if none_set {
            "no Preventor configuration"
        } else {
            "incomplete Preventor configuration"
        },
        missing.join(", "),
        if missing.len() == 1 { "it" } else { "them" },
    )))
}

/// The clients of a checked plan, with the sandbox they talk to (kept running while held).
pub struct Clients {
    pub compliance: ComplianceClient,
    pub biometrics: Option<BiometricsClient>,
    _sandbox: Option<Sandbox>,
}

impl Plan {
    /// The journal identity of this plan's compliance target, before any client is built.
    pub fn target(&self) -> Target {
        match self {
            Plan::Sandbox => {
                let creds = preventor_sandbox::Credentials::default();
                Target {
                    compliance_url: EMBEDDED_SANDBOX.into(),
                    tenant: creds.tenant,
                    env: creds.env,
                    banknu: creds.banknu,
                }
            }
            Plan::Api => {
                let var = |name: &str| std::env::var(name).unwrap_or_default();
                let url = std::env::var("PREVENTOR_COMPLIANCE_URL")
                    .ok()
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| preventor::COMPLIANCE_URL.into());
                Target {
                    compliance_url: url.trim_end_matches('/').to_string(),
                    tenant: var("PREVENTOR_TENANT"),
                    env: var("PREVENTOR_ENV"),
                    banknu: var("PREVENTOR_BANKNU"),
                }
            }
        }
    }

    /// Builds the clients (and starts the embedded sandbox when that is the plan).
    pub async fn clients(&self, needs: Needs) -> Result<Clients, ConfigError> {
        match self {
            Plan::Api => {
                let compliance =
                    ComplianceClient::from_env().map_err(|e| ConfigError(e.to_string()))?;
                let biometrics = match needs {
                    Needs::Both => {
                        Some(BiometricsClient::from_env().map_err(|e| ConfigError(e.to_string()))?)
                    }
                    Needs::Compliance => None,
                };
                Ok(Clients {
                    compliance,
                    biometrics,
                    _sandbox: None,
                })
            }
            Plan::Sandbox => {
                let sandbox = Sandbox::start(SandboxConfig {
                    accept_unknown_accounts: true,
                    ..SandboxConfig::default()
                })
                .await
                .map_err(|e| ConfigError(format!("embedded sandbox: {e}")))?;
                eprintln!(
                    "--sandbox: using an embedded sandbox at {} (nothing is sent to Preventor; it \
                     accepts transactions on accounts it does not know)",
                    sandbox.url()
                );
                let creds = sandbox.credentials();
                let compliance = ComplianceClient::builder()
                    .base_url(sandbox.url())
                    .tenant(creds.tenant())
                    .credentials(creds.oauth())
                    .build()
                    .map_err(|e| ConfigError(e.to_string()))?;
                let biometrics = BiometricsClient::builder()
                    .base_url(sandbox.url())
                    .tenant(creds.tenant())
                    .api_secret(&creds.api_secret)
                    .build()
                    .map_err(|e| ConfigError(e.to_string()))?;
                Ok(Clients {
                    compliance,
                    biometrics: Some(biometrics),
                    _sandbox: Some(sandbox),
                })
            }
        }
    }
}

/// The clients of a command that calls Preventor: configuration checked first.
pub async fn clients(sandbox: bool, needs: Needs) -> Result<Clients, ConfigError> {
    plan(sandbox, needs)?.clients(needs).await
}

/// Configuration that cannot be used (exit 4): what is wrong, naming each variable.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
