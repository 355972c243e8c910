//! Spec work for the preventor repository. `cargo xtask --help` lists the commands.

mod build_times;
mod diff;
mod publish;
mod sandbox_check;
mod spec_check;
mod tools;

const HELP: &str = "\
cargo xtask <command>

Commands:
  spec-check [--self-test]  Check both OpenAPI documents: openapi-spec-validator, Redocly lint
                            (recommended-strict), Spectral (spectral:oas, fail on warnings),
                            openapi-generator validate, and Prism (every example request accepted,
                            broken requests rejected). Installs the pinned tools in tools/spec/
                            when missing. --self-test also proves broken copies are caught.
  diff <git-ref>            Compare the documents at <git-ref> with the working tree; each change is
                            breaking or compatible. Exits 1 on a breaking change unless the major
                            part of info.version was raised.
  generate [--check]        Refresh the snapshots of the code progenitor generates from the documents
                            (tests/snapshots/), so a spec edit shows as a diff; --check fails when
                            they are stale.
  publish --out DIR         Build the versioned bundle for other teams in DIR/preventor-openapi-<v>/:
                            documents as YAML and JSON, SHA-256 sums, manifest, offline HTML
                            references, changelog since the previous spec-v* tag, TypeScript types,
                            Python client, TypeScript fetch client.
  smoke <bundle>            Run the bundle's Python and TypeScript clients against the sandbox.
  build-times               Clean build times of the crate and a minimal downstream binary beside a
                            plain reqwest + serde binary (default TLS and ring TLS), as ratios.
  sandbox-check             Start the sandbox binary and run schemathesis on both documents
                            against it (examples + fuzzing, positive and negative, all checks).
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("spec-check") => spec_check::run(args.iter().any(|a| a == "--self-test")),
        Some("sandbox-check") => sandbox_check::run(),
        Some("build-times") => build_times::run(),
        Some("generate") => generate(args.iter().any(|a| a == "--check")),
        Some("publish") => match (args.get(1).map(String::as_str), args.get(2)) {
            (Some("--out"), Some(dir)) => publish::run(std::path::Path::new(dir)).map(|_| ()),
            _ => Err(format!("publish needs --out DIR\n\n{HELP}")),
        },
        Some("smoke") => match args.get(1) {
            Some(bundle) => publish::smoke(std::path::Path::new(bundle)),
            None => Err(format!("smoke needs a bundle directory\n\n{HELP}")),
        },
        Some("diff") => match args.get(1) {
            Some(reference) => diff::run(reference),
            None => Err(format!("diff needs a git ref\n\n{HELP}")),
        },
        Some("-h" | "--help" | "help") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other}\n\n{HELP}")),
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
