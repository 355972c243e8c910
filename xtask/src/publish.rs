//! `cargo xtask publish --out DIR`: a versioned bundle of the documents for other teams, in
//! `DIR/preventor-openapi-<version>/`:
//!
//! | path | what |
//! |---|---|
//! | `openapi/{compliance,biometrics}.{yaml,json}` | the documents |
//! | `docs/{compliance,biometrics}.html` | HTML references that render offline (Redocly, inline bundle) |
//! | `CHANGELOG.md` | `diff` against the previous `spec-v*` tag, when there is one |
//! | `clients/typescript-types/*.ts` | openapi-typescript types, checked with `tsc --strict` |
//! | `clients/python/preventor-*` | openapi-python-client projects (`pyproject.toml`, pip-installable) |
//! | `clients/typescript-fetch/*` | openapi-generator `typescript-fetch` npm packages (`package.json`, built with `tsc`) |
//! | `LICENSE-MIT`, `LICENSE-APACHE` | the documents' and clients' licenses (MIT OR Apache-2.0) |
//! | `manifest.json`, `SHA256SUMS` | versions, and the size and SHA-256 of every file |
//!
//! Everything is generated from the published YAML files, not from `openapi/` directly.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use sha2::{Digest, Sha256};

use crate::{
    diff::{self, Kind},
    spec_check::DOCUMENTS,
    tools::{self, node_bin, venv_bin},
};

/// `tsc` type-checking flags used for every published TypeScript file.
const TSC_CHECK: [&str; 4] = ["--noEmit", "--strict", "--target", "es2020"];

/// `tsc` flags for programs that use the installed fetch packages (Node, CommonJS, DOM types).
pub const TSC_PROGRAM: [&str; 10] = [
    "--strict",
    "--target",
    "es2020",
    "--module",
    "commonjs",
    "--moduleResolution",
    "node",
    "--lib",
    "es2020,dom",
    "--skipLibCheck",
];

/// First lines of each published YAML document.
const PUBLISHED_NOTE: &str =
    "# Published by `cargo xtask publish` from the preventor repository's openapi/ documents:\n\
# the same document, with generated x-codeSamples and each operation's retry class spelled out.\n";

/// Appends to each operation's description what its `x-preventor-retry` class means, so the
/// HTML reference says which calls are safe to repeat.
fn describe_retry_classes(doc: &mut serde_json::Value) -> Result<(), String> {
    let paths = doc["paths"].as_object_mut().ok_or("no paths")?;
    for (path, item) in paths.iter_mut() {
        for (method, op) in item.as_object_mut().ok_or("path item")?.iter_mut() {
            let class = op["x-preventor-retry"]
                .as_str()
                .ok_or_else(|| format!("{method} {path}: no x-preventor-retry"))?;
            let meaning = match class {
                "token" => "a token call: safe to repeat (it only mints another token).",
                "read" => "a read: safe to repeat after a timeout, a lost connection, a 429 or a 5xx.",
                "write" => "not idempotent: do not send it again by yourself once it may have \
                            reached the server (a timeout, a lost answer, a 5xx); only a 429 may be \
                            resent, after `Retry-After`.",
                other => return Err(format!("{method} {path}: unknown x-preventor-retry {other}")),
            };
            let description = op["description"].as_str().unwrap_or_default().trim_end();
            op["description"] =
                format!("{description}\n\n**Retries** (`x-preventor-retry: {class}`): {meaning}")
                    .trim_start()
                    .into();
        }
    }
    Ok(())
}

/// The one version of the documents (both `info.version`s must agree).
pub fn version() -> Result<String, String> {
    let mut versions = Vec::new();
    for name in DOCUMENTS {
        let text = fs::read_to_string(tools::root().join(format!("openapi/{name}.yaml")))
            .map_err(|e| e.to_string())?;
        versions.push(diff::parse(&text)?.info.version);
    }
    versions.dedup();
    match versions.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "the documents disagree on info.version: {versions:?}"
        )),
    }
}

/// The `preventor` crate's version, from the root `Cargo.toml`.
pub fn crate_version() -> Result<String, String> {
    let text = fs::read_to_string(tools::root().join("Cargo.toml")).map_err(|e| e.to_string())?;
    let package = text
        .split("[package]")
        .nth(1)
        .ok_or("Cargo.toml has no [package]")?;
    package
        .lines()
        .find_map(|l| l.trim().strip_prefix("version = "))
        .map(|v| v.trim_matches('"').to_string())
        .ok_or_else(|| "Cargo.toml [package] has no version".to_string())
}

/// Builds the bundle; returns its directory.
pub fn run(out: &Path) -> Result<PathBuf, String> {
    tools::ensure_installed()?;
    // Tools run from tools/spec/: every path handed to them is absolute.
    let out = &std::path::absolute(out).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let version = version()?;
    if crate_version()? != version {
        return Err(format!(
            "crate version {} differs from info.version {version}",
            crate_version()?
        ));
    }
    let bundle = out.join(format!("preventor-openapi-{version}"));
    if bundle.exists() {
        fs::remove_dir_all(&bundle)
            .map_err(|e| format!("cannot replace {}: {e}", bundle.display()))?;
    }
    for dir in [
        "openapi",
        "docs",
        "clients/typescript-types",
        "clients/python",
        "clients/typescript-fetch",
    ] {
        fs::create_dir_all(bundle.join(dir)).map_err(|e| e.to_string())?;
    }
    for name in DOCUMENTS {
        let text = fs::read_to_string(tools::root().join(format!("openapi/{name}.yaml")))
            .map_err(|e| e.to_string())?;
        let yaml_path = bundle.join(format!("openapi/{name}.yaml"));
        let mut value: serde_json::Value =
            serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
        describe_retry_classes(&mut value)?;
        crate::code_samples::add(name, &mut value).map_err(|e| format!("{name}: {e}"))?;
        let yaml = serde_yaml::to_string(&value).map_err(|e| e.to_string())?;
        fs::write(&yaml_path, format!("{PUBLISHED_NOTE}{yaml}")).map_err(|e| e.to_string())?;
        let json = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())? + "\n";
        fs::write(bundle.join(format!("openapi/{name}.json")), json).map_err(|e| e.to_string())?;
        generate(name, &yaml_path, &bundle)?;
    }
    fs::write(bundle.join("CHANGELOG.md"), changelog(&version)?).map_err(|e| e.to_string())?;
    fs::write(bundle.join("README.md"), bundle_readme(&version)).map_err(|e| e.to_string())?;
    for license in ["LICENSE-MIT", "LICENSE-APACHE"] {
        fs::copy(tools::root().join(license), bundle.join(license)).map_err(|e| e.to_string())?;
    }
    write_manifest(&bundle, &version)?;
    let files = files(&bundle)?;
    let bytes: u64 = files.iter().map(|(_, b, _)| b).sum();
    println!(
        "{}: {} files, {} bytes, built in {:.1} s",
        bundle.display(),
        files.len(),
        bytes,
        started.elapsed().as_secs_f64()
    );
    Ok(bundle)
}

/// HTML reference, TypeScript types (checked with tsc), Python and TypeScript fetch clients.
fn generate(name: &str, yaml: &Path, bundle: &Path) -> Result<(), String> {
    let dir = tools::dir();
    let yaml = yaml.to_str().ok_or("non-UTF-8 path")?;
    let run = |what: &str, cmd: &mut Command| -> Result<(), String> {
        let (ok, output) = tools::output(cmd)?;
        if ok {
            Ok(())
        } else {
            Err(format!("{what} for {name} failed:\n{output}"))
        }
    };
    run(
        "redocly build-docs",
        Command::new(node_bin("redocly"))
            .args(["build-docs", yaml, "--inlineBundle", "-o"])
            .arg(bundle.join(format!("docs/{name}.html")))
            .current_dir(&dir),
    )?;
    let types = bundle.join(format!("clients/typescript-types/{name}.ts"));
    run(
        "openapi-typescript",
        Command::new(node_bin("openapi-typescript"))
            .arg(yaml)
            .arg("-o")
            .arg(&types),
    )?;
    run(
        "tsc --strict (types)",
        Command::new(node_bin("tsc"))
            .args(TSC_CHECK)
            .arg("--skipLibCheck")
            .arg(&types),
    )?;
    let path = format!(
        "{}:{}",
        venv_bin("").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Installable packages: a pyproject.toml project (pdm-backend) and an npm package.
    let config = std::env::temp_dir().join(format!("preventor-pyclient-{name}.yaml"));
    fs::write(
        &config,
        format!(
            "project_name_override: preventor-{name}\npackage_name_override: preventor_{name}\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    run(
        "openapi-python-client",
        Command::new(venv_bin("openapi-python-client"))
            .args([
                "generate",
                "--path",
                yaml,
                "--meta",
                "pdm",
                "--overwrite",
                "--fail-on-warning",
                "--config",
            ])
            .arg(&config)
            .arg("--output-path")
            .arg(bundle.join(format!("clients/python/preventor-{name}")))
            .env("PATH", path)
            .env("RUFF_NO_CACHE", "true"),
    )?;
    let version = version()?;
    run(
        "openapi-generator typescript-fetch",
        Command::new(venv_bin("openapi-generator-cli"))
            .args(["generate", "-g", "typescript-fetch", "-i", yaml, "-o"])
            .arg(bundle.join(format!("clients/typescript-fetch/{name}")))
            .arg(format!(
                "--additional-properties=npmName=@preventor/{name}-fetch,npmVersion={version},supportsES6=true"
            )),
    )?;
    // The generators' own bookkeeping is not part of what other teams receive.
    for leftover in [
        format!("clients/python/preventor-{name}/.gitignore"),
        format!("clients/typescript-fetch/{name}/.gitignore"),
        format!("clients/typescript-fetch/{name}/.openapi-generator-ignore"),
        format!("clients/typescript-fetch/{name}/.openapi-generator"),
    ] {
        let path = bundle.join(leftover);
        if path.is_dir() {
            fs::remove_dir_all(&path).map_err(|e| e.to_string())?;
        } else if path.exists() {
            fs::remove_file(&path).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// What the bundle holds and how to install its clients.
fn bundle_readme(version: &str) -> String {
    format!(
        "# preventor-openapi {version}\n\n\
         OpenAPI 3.0 documents for Preventor's Open Services Platform (compliance and biometrics\n\
         APIs), with references, clients and code samples generated from them.\n\n\
         | path | what |\n|---|---|\n\
         | `openapi/*.yaml`, `openapi/*.json` | the documents; every operation has `x-codeSamples` (curl, Rust, Python, TypeScript) and `x-preventor-retry` (`token`, `read`, `write`: whether a client may send it again) |\n\
         | `docs/*.html` | references that render offline |\n\
         | `clients/python/preventor-*` | Python clients: `pip install clients/python/preventor-compliance` |\n\
         | `clients/typescript-fetch/*` | TypeScript fetch clients (`@preventor/<document>-fetch`): `npm install && npm pack` in the folder, or `npm install <folder>` |\n\
         | `clients/typescript-types/*.ts` | request and response types only |\n\
         | `CHANGELOG.md` | changes since the previous published version, breaking ones marked |\n\
         | `manifest.json`, `SHA256SUMS` | versions of the tools used, and the size and SHA-256 of every file |\n\n\
         Servers: production (`https://api.preventor.com`, `https://api.preventor.id`) and the local\n\
         sandbox (`http://127.0.0.1:8080`, both APIs on one port: `cargo run -p preventor-sandbox --\n\
         --port 8080` in the preventor repository). The samples read credentials from `PREVENTOR_*`\n\
         variables (`PREVENTOR_API_KEY`, `PREVENTOR_TENANT`, `PREVENTOR_ENV`, `PREVENTOR_BANKNU`,\n\
         `PREVENTOR_CLIENT_ID`, `PREVENTOR_CLIENT_SECRET`, `PREVENTOR_USERNAME`, `PREVENTOR_PASSWORD`,\n\
         `PREVENTOR_API_SECRET`) and the token from `PREVENTOR_TOKEN`.\n\n\
         License: MIT OR Apache-2.0 (`LICENSE-MIT`, `LICENSE-APACHE`).\n"
    )
}

/// The changes since the newest `spec-v*` tag other than this version's own.
fn changelog(version: &str) -> Result<String, String> {
    let tags = Command::new("git")
        .args(["tag", "--list", "spec-v*", "--sort=-v:refname"])
        .current_dir(tools::root())
        .output()
        .map_err(|e| e.to_string())?;
    let own = format!("spec-v{version}");
    let previous = String::from_utf8_lossy(&tags.stdout)
        .lines()
        .map(str::trim)
        .find(|t| !t.is_empty() && *t != own)
        .map(str::to_owned);
    let mut text = format!("# Changelog\n\n## {version}\n\n");
    match previous {
        None => {
            text.push_str("First published version: no earlier `spec-v*` tag to compare with.\n")
        }
        Some(tag) => {
            text.push_str(&format!("Changes since `{tag}`:\n\n"));
            for (name, changes, _) in diff::since(&tag)? {
                text.push_str(&format!("### {name}.yaml\n\n"));
                if changes.is_empty() {
                    text.push_str("No change.\n\n");
                }
                for c in changes {
                    let tag = if c.kind == Kind::Breaking {
                        "**breaking**"
                    } else {
                        "compatible"
                    };
                    text.push_str(&format!("- {tag}: {}\n", c.what));
                }
                text.push('\n');
            }
        }
    }
    Ok(text)
}

/// Every file under `dir` as (relative path, size, SHA-256 hex), sorted.
fn files(dir: &Path) -> Result<Vec<(String, u64, String)>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(|e| e.to_string())? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = fs::read(&path).map_err(|e| e.to_string())?;
                let rel = path
                    .strip_prefix(dir)
                    .map_err(|e| e.to_string())?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, bytes.len() as u64, hex(&Sha256::digest(&bytes))));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_manifest(bundle: &Path, version: &str) -> Result<(), String> {
    let files = files(bundle)?;
    // Caches and tool state must not ship (`.npmignore` is the npm package's own file list).
    if let Some((stray, _, _)) = files.iter().find(|(p, _, _)| {
        p.split('/')
            .any(|part| part.starts_with('.') && part != ".npmignore")
    }) {
        return Err(format!("stray file in the bundle: {stray}"));
    }
    let sums: String = files
        .iter()
        .map(|(p, _, h)| format!("{h}  {p}\n"))
        .collect();
    fs::write(bundle.join("SHA256SUMS"), sums).map_err(|e| e.to_string())?;
    let manifest = serde_json::json!({
        "name": "preventor-openapi",
        "version": version,
        "crate_version": crate_version()?,
        "documents": DOCUMENTS.iter().map(|n| serde_json::json!({
            "name": n, "yaml": format!("openapi/{n}.yaml"), "json": format!("openapi/{n}.json"),
            "html": format!("docs/{n}.html"),
        })).collect::<Vec<_>>(),
        "tools": {
            "redocly": "2.77.0", "openapi-typescript": "7.13.0", "typescript": "5.9.3",
            "openapi-python-client": "0.29.1", "openapi-generator": "7.26.0",
        },
        "files": files.iter().map(|(p, b, h)| serde_json::json!({"path": p, "bytes": b, "sha256": h})).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())? + "\n";
    fs::write(bundle.join("manifest.json"), text).map_err(|e| e.to_string())
}

/// `cargo xtask smoke <bundle>`: the published clients against the sandbox binary.
pub fn smoke(bundle: &Path) -> Result<(), String> {
    tools::ensure_installed()?;
    let bundle = &std::path::absolute(bundle).map_err(|e| e.to_string())?;
    // The samples' transaction names an account the account example does not create.
    let (_sandbox, url) = crate::sandbox_check::start_sandbox_with(&["--accept-unknown-accounts"])?;
    let smoke = tools::dir().join("smoke");
    let tmp = std::env::temp_dir().join(format!("preventor-smoke-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);

    // Python clients: pip-installed from the bundle into a fresh virtual environment, with the
    // build backend and the dependencies pinned by tools/spec/requirements.lock.
    let venv = tmp.join("venv");
    tools::run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    let pip = venv.join("bin/pip");
    let lock = tools::dir().join("requirements.lock");
    tools::run(
        Command::new(&pip)
            .args(["install", "--quiet", "-c"])
            .arg(&lock)
            .arg("pdm-backend"),
    )?;
    tools::run(
        Command::new(&pip)
            .args(["install", "--quiet", "--no-build-isolation", "-c"])
            .arg(&lock)
            .arg(bundle.join("clients/python/preventor-compliance"))
            .arg(bundle.join("clients/python/preventor-biometrics")),
    )?;
    tools::run(
        Command::new(venv.join("bin/python"))
            .arg(smoke.join("smoke.py"))
            .arg(&url),
    )?;

    // TypeScript fetch clients: each npm package built with tsc, packed with npm, installed
    // from its tarball into a new project, and used from there (tsc --strict, Node).
    let ts = tmp.join("fetch");
    fs::create_dir_all(&ts).map_err(|e| e.to_string())?;
    fs::write(ts.join("package.json"), "{\"private\": true}\n").map_err(|e| e.to_string())?;
    for name in DOCUMENTS {
        let package = tmp.join(format!("package-{name}"));
        copy_dir(
            &bundle.join(format!("clients/typescript-fetch/{name}")),
            &package,
        )?;
        for config in ["tsconfig.json", "tsconfig.esm.json"] {
            tools::run(
                Command::new(node_bin("tsc"))
                    .args(["-p", config])
                    .current_dir(&package),
            )?;
        }
        let packed = Command::new("npm")
            .args(["pack", "--ignore-scripts", "--silent"])
            .current_dir(&package)
            .output()
            .map_err(|e| e.to_string())?;
        if !packed.status.success() {
            return Err(format!("npm pack failed for {name}: {packed:?}"));
        }
        let tarball = package.join(String::from_utf8_lossy(&packed.stdout).trim());
        tools::run(
            Command::new("npm")
                .args([
                    "install",
                    "--offline",
                    "--ignore-scripts",
                    "--no-audit",
                    "--no-fund",
                    "--silent",
                ])
                .arg(&tarball)
                .current_dir(&ts),
        )?;
    }
    fs::copy(smoke.join("smoke.ts"), ts.join("smoke.ts")).map_err(|e| e.to_string())?;
    tools::run(
        Command::new(node_bin("tsc"))
            .args(TSC_PROGRAM)
            .args(["--outDir", "out", "smoke.ts"])
            .current_dir(&ts),
    )?;
    tools::run(
        Command::new("node")
            .arg("out/smoke.js")
            .arg(&url)
            .current_dir(&ts),
    )?;

    // TypeScript types: a customer request built against them type-checks.
    let types = tmp.join("types");
    fs::create_dir_all(&types).map_err(|e| e.to_string())?;
    fs::copy(
        bundle.join("clients/typescript-types/compliance.ts"),
        types.join("compliance.ts"),
    )
    .map_err(|e| e.to_string())?;
    fs::copy(smoke.join("types-usage.ts"), types.join("types-usage.ts"))
        .map_err(|e| e.to_string())?;
    tools::run(
        Command::new(node_bin("tsc"))
            .args(TSC_CHECK)
            .arg("types-usage.ts")
            .current_dir(&types),
    )?;
    println!("typescript types: a customer request type-checks: ok");

    // The code samples of the HTML reference.
    let published: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(bundle.join("openapi/biometrics.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let photo = published["paths"]["/v1/workflow/enroll/user/{userId}/upload"]["post"]
        ["requestBody"]["content"]["application/json"]["example"]["portraits"]["picture1"]
        .as_str()
        .ok_or("the upload example has no portraits.picture1")?
        .to_string();
    crate::code_samples::check(
        bundle,
        &url,
        &photo,
        &venv.join("bin/python"),
        &ts,
        &tmp.join("samples"),
    )?;
    let _ = fs::remove_dir_all(&tmp);
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| e.to_string())?;
    for entry in fs::read_dir(from).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_and_documents_agree_on_the_version() {
        assert_eq!(crate_version().unwrap(), version().unwrap());
    }

    #[test]
    fn files_lists_every_file_with_size_and_sha256() {
        let dir = std::env::temp_dir().join(format!("xtask-files-{}", std::process::id()));
        fs::create_dir_all(dir.join("a")).unwrap();
        fs::write(dir.join("a/x.txt"), "abc").unwrap();
        fs::write(dir.join("y.txt"), "").unwrap();
        let listed = files(&dir).unwrap();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(
            listed,
            [
                (
                    "a/x.txt".to_string(),
                    3,
                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_string()
                ),
                (
                    "y.txt".to_string(),
                    0,
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_string()
                ),
            ]
        );
    }
}
