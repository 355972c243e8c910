//! Spec work for the preventor repository. `cargo xtask --help` lists the commands.

mod build_cost;
mod code_samples;
mod diff;
mod publish;
mod sandbox_check;
mod spec_check;
mod test;
mod tools;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Spec work for the preventor repository: checking, diffing, publishing the OpenAPI documents.
///
/// Tools: the npm tools (Redocly, Spectral, Prism, openapi-typescript, TypeScript) and the PyPI
/// tools (openapi-spec-validator, openapi-python-client, openapi-generator-cli, schemathesis)
/// are installed on first use into tools/spec/ from its lock files (package-lock.json,
/// requirements.lock): that needs Node 20 + npm, Python 3.11, and network access to the npm and
/// PyPI registries once. openapi-generator-cli runs on Java 17.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check both OpenAPI documents with five tools.
    ///
    /// openapi-spec-validator, Redocly lint (recommended-strict), Spectral (spectral:oas, fail
    /// on warnings), openapi-generator validate, and Prism (every example request accepted,
    /// broken requests rejected). Needs Node, Python and Java; installs the pinned tools in
    /// tools/spec/ when missing.
    SpecCheck {
        /// Also prove that deliberately broken copies of the documents are caught.
        #[arg(long)]
        self_test: bool,
    },
    /// Compare the documents at a git ref with the working tree.
    ///
    /// Each change is breaking or compatible. Exits 1 on a breaking change unless the major
    /// part of info.version was raised. Needs git only.
    Diff {
        /// A git ref (tag, branch, commit), e.g. spec-v0.1.0.
        git_ref: String,
    },
    /// Refresh the snapshots of the generated code (tests/snapshots/).
    ///
    /// Runs `cargo test --test generated_surface` with insta, so a spec edit shows as a diff of
    /// the code progenitor generates. Needs cargo only.
    Generate {
        /// Fail when the snapshots are stale instead of refreshing them.
        #[arg(long)]
        check: bool,
    },
    /// Build the versioned bundle for other teams in DIR/preventor-openapi-VERSION/.
    ///
    /// Documents as YAML and JSON (with generated code samples), offline HTML references,
    /// changelog since the previous spec-v* tag, TypeScript types, a pip-installable Python
    /// client, an npm TypeScript fetch client, licenses, manifest and SHA-256 sums. Needs Node,
    /// Python and Java; installs the pinned tools when missing.
    Publish {
        /// Where to write the bundle.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Check a published bundle against the sandbox.
    ///
    /// pip-installs the Python client into a fresh virtual environment, npm-installs the packed
    /// TypeScript client into a new project, and runs each against the sandbox binary; runs
    /// every curl code sample against the sandbox, and compiles or type-checks the Rust, Python
    /// and TypeScript samples. Needs Node, Python, curl; fetches the Python client's pinned
    /// dependencies from PyPI.
    Smoke {
        /// The bundle directory (DIR/preventor-openapi-VERSION).
        bundle: PathBuf,
    },
    /// What depending on the crate costs an application's build: CPU time and distinct crates.
    ///
    /// Builds a hand-written reqwest application and the same application on the crate from
    /// nothing, one after the other, in fresh target directories under target/build-cost
    /// (several minutes each), and prints the CPU ratio. Needs cargo only.
    BuildCost {
        /// Also build the crate at this git revision (and the hand-written application on the
        /// TLS stack it had), to compare a change before and after in one run.
        #[arg(long, value_name = "REV")]
        before: Option<String>,
    },
    /// Install what the tests need from the system when it is missing (PostgreSQL, headless
    /// Chromium: Debian's packages, as root), then run `cargo test --workspace` with ARGS.
    Test {
        /// Passed on to `cargo test --workspace` as given (e.g. `--no-fail-fast -- --list`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run schemathesis on both documents against the sandbox binary.
    ///
    /// Examples and fuzzing, positive and negative, all checks. Needs Python; installs the
    /// pinned tools when missing; builds the sandbox binary.
    SandboxCheck,
}

fn main() {
    let result = match Cli::parse().command {
        Command::SpecCheck { self_test } => spec_check::run(self_test),
        Command::SandboxCheck => sandbox_check::run(),
        Command::BuildCost { before } => build_cost::run(before.as_deref()),
        // Every argument after `test`, as given (clap would drop a leading `--`).
        Command::Test { .. } => test::run(
            &std::env::args()
                .skip_while(|a| a != "test")
                .skip(1)
                .collect::<Vec<_>>(),
        ),
        Command::Generate { check } => generate(check),
        Command::Publish { out } => publish::run(&out).map(|_| ()),
        Command::Smoke { bundle } => publish::smoke(&bundle),
        Command::Diff { git_ref } => diff::run(&git_ref),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Refreshes (or, with `check`, verifies) the insta snapshots of the generated code.
fn generate(check: bool) -> Result<(), String> {
    let mut cmd = std::process::Command::new("cargo");
    cmd.args([
        "test",
        "--quiet",
        "-p",
        "preventor",
        "--test",
        "generated_surface",
    ])
    .current_dir(tools::root());
    if check {
        cmd.env("CI", "true").env("INSTA_UPDATE", "no");
    } else {
        cmd.env("INSTA_UPDATE", "always");
    }
    tools::run(&mut cmd).map_err(|_| {
        if check {
            "the generated code differs from tests/snapshots/: run `cargo xtask generate` and review the diff".to_string()
        } else {
            "generation failed".to_string()
        }
    })?;
    println!(
        "generated code snapshots {}: tests/snapshots/",
        if check { "are current" } else { "refreshed" }
    );
    Ok(())
}
