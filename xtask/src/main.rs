//! Spec work for the preventor repository. `cargo xtask --help` lists the commands.

mod diff;
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
  sandbox-check             Start the sandbox binary and run schemathesis on both documents
                            against it (examples + fuzzing, positive and negative, all checks).
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("spec-check") => spec_check::run(args.iter().any(|a| a == "--self-test")),
        Some("sandbox-check") => sandbox_check::run(),
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
