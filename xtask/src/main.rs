//! Spec work for the preventor repository. `cargo xtask --help` lists the commands.

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
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("spec-check") => spec_check::run(args.iter().any(|a| a == "--self-test")),
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
