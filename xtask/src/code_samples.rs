//! `x-codeSamples` for the published documents: curl, Rust, Python and TypeScript, generated for
//! every operation from the operation's own request example (never written by hand), so the HTML
//! reference shows each call the way the page did. `cargo xtask smoke` runs the curl samples
//! against the sandbox and compiles or type-checks the others (`check_samples`).
//!
//! Conventions shared by every sample: credentials and tenant headers come from the `PREVENTOR_*`
//! variables the Rust SDK's `from_env` reads; the access or process token from
//! `PREVENTOR_TOKEN`; path parameters from their SCREAMING_SNAKE_CASE names (`USER_ID`,
//! `TICKET`); photos are shown as [`PHOTO`], a placeholder for a base64 JPEG data URI.

use std::{fs, path::Path, process::Command};

use heck::{ToLowerCamelCase, ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use serde_json::{json, Map, Value};

use crate::tools;

/// What a photo looks like in a sample (the examples' real photos are kilobytes of base64).
pub const PHOTO: &str = "data:image/jpeg;base64,<base64 JPEG of at most 1 MB>";

/// Form fields that carry credentials: taken from `PREVENTOR_<NAME>` instead of the example.
const CREDENTIAL_FIELDS: &[&str] = &["username", "password", "client_id", "client_secret"];

/// The tenant headers every call sends, and the variable each comes from.
const TENANT_HEADERS: &[(&str, &str)] = &[
    ("x-api-key", "PREVENTOR_API_KEY"),
    ("x-tenant", "PREVENTOR_TENANT"),
    ("x-env", "PREVENTOR_ENV"),
    ("x-banknu", "PREVENTOR_BANKNU"),
];

/// How a request body is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Form,
    Multipart,
}

/// One operation, as the samples need it.
struct Operation {
    document: String,
    base_url: String,
    method: String,
    path: String,
    id: String,
    tag: String,
    basic: bool,
    body: Option<(Encoding, String, Value)>,
}

/// Adds `x-codeSamples` to every operation of `doc` (a document named `document`).
pub fn add(document: &str, doc: &mut Value) -> Result<(), String> {
    let base_url = doc["servers"][0]["url"]
        .as_str()
        .ok_or("no servers[0].url")?
        .to_string();
    let named_examples = doc["components"]["examples"].clone();
    let paths = doc["paths"].as_object_mut().ok_or("no paths")?;
    for (path, item) in paths.iter_mut() {
        for (method, op) in item.as_object_mut().ok_or("path item")?.iter_mut() {
            let id = op["operationId"]
                .as_str()
                .ok_or_else(|| format!("{method} {path}: no operationId"))?
                .to_string();
            let basic = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("basicAuth").is_some()));
            let body = match op["requestBody"]["content"].as_object() {
                None => None,
                Some(content) => {
                    let (media, spec) = content.iter().next().ok_or("empty content")?;
                    let encoding = match media.as_str() {
                        "application/json" => Encoding::Json,
                        "application/x-www-form-urlencoded" => Encoding::Form,
                        "multipart/form-data" => Encoding::Multipart,
                        other => return Err(format!("{id}: no sample for {other} bodies")),
                    };
                    let schema = spec["schema"]["$ref"]
                        .as_str()
                        .and_then(|r| r.rsplit('/').next())
                        .ok_or_else(|| format!("{id}: request body without a $ref schema"))?
                        .to_string();
                    // `example`, or else the first of `examples` (a `$ref` resolved).
                    let first = spec["examples"]
                        .as_object()
                        .and_then(|e| e.values().next())
                        .map(|e| match e["$ref"].as_str() {
                            Some(r) => named_examples
                                [r.trim_start_matches("#/components/examples/")]["value"]
                                .clone(),
                            None => e["value"].clone(),
                        });
                    let example = spec
                        .get("example")
                        .cloned()
                        .or(first)
                        .filter(|e| !e.is_null())
                        .ok_or_else(|| format!("{id}: request body without an example"))?;
                    Some((encoding, schema, shorten_photos(example)))
                }
            };
            let operation = Operation {
                document: document.to_string(),
                base_url: base_url.clone(),
                method: method.to_uppercase(),
                path: path.clone(),
                id: id.clone(),
                tag: op["tags"][0].as_str().unwrap_or("default").to_string(),
                basic,
                body,
            };
            op["x-codeSamples"] = json!([
                {"lang": "Shell", "label": "curl", "source": curl(&operation)},
                {"lang": "Rust", "label": "Rust", "source": rust(&operation)?},
                {"lang": "Python", "label": "Python", "source": python(&operation)},
                {"lang": "TypeScript", "label": "TypeScript", "source": typescript(&operation)},
            ]);
        }
    }
    Ok(())
}

/// Replaces every photo data URI by [`PHOTO`].
fn shorten_photos(value: Value) -> Value {
    match value {
        Value::String(s) if s.starts_with("data:image/") && s.len() > 80 => Value::from(PHOTO),
        Value::Array(items) => Value::Array(items.into_iter().map(shorten_photos).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, shorten_photos(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

/// `URL_VARIABLE` of the document: `PREVENTOR_COMPLIANCE_URL`, `PREVENTOR_BIOMETRICS_URL`.
fn url_variable(op: &Operation) -> String {
    format!("PREVENTOR_{}_URL", op.document.to_shouty_snake_case())
}

/// The path's `{name}` parameters, in order.
fn path_parameters(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|p| p.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

/// (user, secret) variables of a Basic-authenticated token call.
fn basic_variables(op: &Operation) -> (&'static str, &'static str) {
    if op.document == "compliance" {
        ("PREVENTOR_CLIENT_ID", "PREVENTOR_CLIENT_SECRET")
    } else {
        ("PREVENTOR_API_KEY", "PREVENTOR_API_SECRET")
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON values serialize")
}

/// A scalar example value as text.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn curl(op: &Operation) -> String {
    let mut path = op.path.clone();
    for p in path_parameters(&op.path) {
        path = path.replace(
            &format!("{{{p}}}"),
            &format!("${}", p.to_shouty_snake_case()),
        );
    }
    let mut lines = vec![format!(
        "curl -sS -X {} \"${{{}:-{}}}{path}\"",
        op.method,
        url_variable(op),
        op.base_url
    )];
    if op.basic {
        let (user, secret) = basic_variables(op);
        lines.push(format!("-u \"${user}:${secret}\""));
    } else {
        lines.push("-H \"Authorization: Bearer $PREVENTOR_TOKEN\"".into());
    }
    for (header, variable) in TENANT_HEADERS {
        lines.push(format!("-H \"{header}: ${variable}\""));
    }
    match &op.body {
        None => {}
        Some((Encoding::Json, _, example)) => {
            lines.push("-H \"Content-Type: application/json\"".into());
            lines.push(format!(
                "--data-raw '{}'",
                pretty(example).replace('\'', "'\\''")
            ));
        }
        Some((Encoding::Form, _, example)) => {
            for (name, value) in example.as_object().into_iter().flatten() {
                let value = if CREDENTIAL_FIELDS.contains(&name.as_str()) {
                    format!("${}", format!("preventor_{name}").to_shouty_snake_case())
                } else {
                    text(value)
                };
                lines.push(format!("--data-urlencode \"{name}={value}\""));
            }
        }
        Some((Encoding::Multipart, _, example)) => {
            for (name, value) in example.as_object().into_iter().flatten() {
                lines.push(format!("-F \"{name}={}\"", text(value)));
            }
        }
    }
    lines.join(" \\\n  ")
}

/// The Rust sample: the SDK's own call for the operation (token calls are made by the clients).
fn rust(op: &Operation) -> Result<String, String> {
    let method = op.id.to_snake_case();
    let mut uses = Vec::new();
    let mut body = Vec::new();
    let client = if op.document == "compliance" {
        uses.push("preventor::ComplianceClient".to_string());
        "let client = ComplianceClient::from_env()?; // PREVENTOR_* variables".to_string()
    } else {
        uses.push("preventor::BiometricsClient".to_string());
        "let client = BiometricsClient::from_env()?; // PREVENTOR_* variables".to_string()
    };
    body.push(client);
    let example = op.body.as_ref().map(|(_, _, e)| e);
    let session = |body: &mut Vec<String>, uses: &mut Vec<String>| {
        uses.push("preventor::TransactionType".into());
        body.push(
            "let session = client.start_session(TransactionType::Onboarding, None).await?;".into(),
        );
    };
    match (op.document.as_str(), op.id.as_str()) {
        ("compliance", "oauthToken") => body.push(
            "// The client requests, caches and refreshes the access token itself.\n\
             client.authenticate().await?;"
                .into(),
        ),
        ("compliance", "getCustomer") => {
            let cif = example
                .and_then(|e| e.get("cifCod"))
                .map(text)
                .ok_or("getCustomer example has no cifCod")?;
            body.push(format!(
                "let customer = client.get_customer({cif:?}).await?;"
            ));
            body.push("println!(\"{:?}\", customer.id);".into());
        }
        ("compliance", _) => {
            let (_, schema, example) = op.body.as_ref().ok_or("compliance write without body")?;
            uses.push(format!("preventor::compliance::types::{schema}"));
            body.push(format!(
                "let body: {schema} = serde_json::from_value(serde_json::json!({}))?;",
                pretty(example)
            ));
            body.push(format!("let ack = client.{method}(body).await?;"));
            body.push("println!(\"{:?}\", ack.message);".into());
        }
        ("biometrics", "bioToken") => {
            let kind = example
                .and_then(|e| e.get("transactionType"))
                .map(text)
                .ok_or("bioToken example has no transactionType")?
                .to_lowercase()
                .to_upper_camel_case();
            uses.push("preventor::TransactionType".into());
            body.push(format!(
                "let session = client.start_session(TransactionType::{kind}, None).await?;"
            ));
            body.push(
                "// One process token: the session's create_user, upload and enroll use it.".into(),
            );
            body.push("println!(\"{session:?}\");".into());
        }
        ("biometrics", "createBioUser") => {
            session(&mut body, &mut uses);
            body.push("let user = session.create_user().await?;".into());
            body.push("println!(\"{}\", user.user_id);".into());
        }
        ("biometrics", "uploadBioFiles") => {
            let (_, schema, example) = op.body.as_ref().ok_or("upload without body")?;
            session(&mut body, &mut uses);
            uses.push(format!("preventor::biometrics::types::{schema}"));
            body.push("let user_id = std::env::var(\"USER_ID\")?;".into());
            body.push(format!(
                "let body: {schema} = serde_json::from_value(serde_json::json!({}))?;",
                pretty(example)
            ));
            body.push("let ticket = session.upload_body(&user_id, body).await?;".into());
            body.push("println!(\"{}\", ticket.ticket);".into());
        }
        ("biometrics", "bioEnroll") => {
            session(&mut body, &mut uses);
            body.push("let user_id = std::env::var(\"USER_ID\")?;".into());
            body.push("let ticket = std::env::var(\"TICKET\")?;".into());
            body.push("let result = session.enroll(&user_id, &ticket).await?;".into());
            body.push("println!(\"{:?}\", result.enroll);".into());
        }
        (document, id) => return Err(format!("{document} {id}: no Rust sample template")),
    }
    uses.sort();
    uses.dedup();
    let uses: String = uses.iter().map(|u| format!("use {u};\n")).collect();
    let body: String = body
        .iter()
        .flat_map(|statement| statement.lines())
        .map(|line| format!("    {line}\n"))
        .collect();
    Ok(format!(
        "// Cargo.toml: preventor, serde_json, tokio (features \"macros\", \"rt-multi-thread\")\n\
         {uses}\n\
         #[tokio::main]\n\
         async fn main() -> Result<(), Box<dyn std::error::Error>> {{\n\
         {body}    Ok(())\n\
         }}\n"
    ))
}

/// A JSON value as a Python literal.
fn python_literal(value: &Value, indent: usize) -> String {
    let pad = "    ".repeat(indent + 1);
    let end = "    ".repeat(indent);
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => serde_json::to_string(s).expect("strings serialize"),
        Value::Array(items) if items.is_empty() => "[]".into(),
        Value::Array(items) => format!(
            "[\n{}{end}]",
            items
                .iter()
                .map(|v| format!("{pad}{},\n", python_literal(v, indent + 1)))
                .collect::<String>()
        ),
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Object(map) => format!(
            "{{\n{}{end}}}",
            map.iter()
                .map(|(k, v)| format!(
                    "{pad}{}: {},\n",
                    serde_json::to_string(k).expect("strings serialize"),
                    python_literal(v, indent + 1)
                ))
                .collect::<String>()
        ),
    }
}

/// The Python sample: the bundle's openapi-python-client package.
fn python(op: &Operation) -> String {
    let package = format!("preventor_{}", op.document);
    let module = op.id.to_snake_case();
    let tag = op.tag.to_snake_case();
    let mut out = vec![
        "import os".to_string(),
        String::new(),
        format!("from {package} import AuthenticatedClient"),
        format!("from {package}.api.{tag} import {module}"),
    ];
    if let Some((_, schema, _)) = &op.body {
        out.push(format!("from {package}.models import {schema}"));
    }
    if op.basic {
        out.insert(1, "import base64".into());
    }
    out.push(String::new());
    let headers: String = TENANT_HEADERS
        .iter()
        .map(|(h, v)| format!("        \"{h}\": os.environ[\"{v}\"],\n"))
        .collect();
    let (token, prefix) = if op.basic {
        let (user, secret) = basic_variables(op);
        out.push(format!(
            "basic = base64.b64encode(f\"{{os.environ['{user}']}}:{{os.environ['{secret}']}}\".encode()).decode()"
        ));
        ("basic".to_string(), "\n    prefix=\"Basic\",")
    } else {
        ("os.environ[\"PREVENTOR_TOKEN\"]".to_string(), "")
    };
    out.push(format!(
        "client = AuthenticatedClient(\n    base_url=os.environ.get(\"{}\", \"{}\"),\n    token={token},{prefix}\n    headers={{\n{headers}    }},\n)",
        url_variable(op),
        op.base_url
    ));
    let mut arguments: Vec<String> = path_parameters(&op.path)
        .iter()
        .map(|p| {
            format!(
                "{}=os.environ[\"{}\"]",
                p.to_snake_case(),
                p.to_shouty_snake_case()
            )
        })
        .collect();
    arguments.push("client=client".into());
    if let Some((encoding, schema, example)) = &op.body {
        let mut example = example.clone();
        if *encoding == Encoding::Form {
            for field in CREDENTIAL_FIELDS {
                if let Some(v) = example.get_mut(*field) {
                    *v = Value::from(format!(
                        "@@{}",
                        format!("preventor_{field}").to_shouty_snake_case()
                    ));
                }
            }
        }
        let literal = python_literal(&example, 0);
        // Credentials from the environment, not from the example.
        let literal = CREDENTIAL_FIELDS.iter().fold(literal, |l, field| {
            let variable = format!("preventor_{field}").to_shouty_snake_case();
            l.replace(
                &format!("\"@@{variable}\""),
                &format!("os.environ[\"{variable}\"]"),
            )
        });
        out.push(format!("body = {schema}.from_dict({literal})"));
        arguments.push("body=body".into());
    }
    out.push(format!(
        "response = {module}.sync_detailed({})",
        arguments.join(", ")
    ));
    out.push("print(response.status_code, response.parsed)".into());
    out.join("\n") + "\n"
}

/// The TypeScript sample: the bundle's typescript-fetch package.
fn typescript(op: &Operation) -> String {
    let package = format!("@preventor/{}-fetch", op.document);
    let api = format!("{}Api", op.tag.to_upper_camel_case());
    let method = op.id.to_lower_camel_case();
    let quote = |s: &str| serde_json::to_string(s).expect("strings serialize");
    let mut imports = vec!["Configuration".to_string(), api.clone()];
    let mut parameters: Vec<String> = path_parameters(&op.path)
        .iter()
        .map(|p| {
            format!(
                "{}: process.env.{} ?? \"\"",
                p.to_lower_camel_case(),
                p.to_shouty_snake_case()
            )
        })
        .collect();
    // Statements before the call, and the call's second argument (request init override).
    let mut before = String::new();
    let mut init = String::new();
    match &op.body {
        None => {}
        Some((Encoding::Json, schema, example)) => {
            imports.push(format!("{schema}FromJSON"));
            let json = pretty(example).replace('\n', "\n    ");
            parameters.push(format!(
                "{}: {schema}FromJSON({json})",
                schema.to_lower_camel_case()
            ));
        }
        Some((encoding, _, example)) => {
            for (name, value) in example.as_object().into_iter().flatten() {
                let value = if CREDENTIAL_FIELDS.contains(&name.as_str()) {
                    format!(
                        "process.env.{} ?? \"\"",
                        format!("preventor_{name}").to_shouty_snake_case()
                    )
                } else {
                    quote(&text(value))
                };
                parameters.push(format!("{}: {value}", name.to_lower_camel_case()));
                if *encoding == Encoding::Multipart {
                    before.push_str(&format!("  form.append({}, {value});\n", quote(name)));
                }
            }
            if *encoding == Encoding::Multipart {
                // typescript-fetch sends a form as multipart only when a part is binary.
                before = format!("  // multipart/form-data, as the API expects\n  const form = new FormData();\n{before}");
                init = ", async ({ init }) => {\n    const headers = { ...(init.headers as Record<string, string>) };\n    delete headers[\"Content-Type\"]; // fetch sets it, with the boundary\n    return { body: form, headers };\n  }".to_string();
            }
        }
    }
    let auth = if op.basic {
        let (user, secret) = basic_variables(op);
        format!("  username: process.env.{user},\n  password: process.env.{secret},\n")
    } else {
        "  accessToken: process.env.PREVENTOR_TOKEN,\n".to_string()
    };
    let headers: String = TENANT_HEADERS
        .iter()
        .map(|(h, v)| format!("  \"{h}\": process.env.{v} ?? \"\",\n"))
        .collect();
    let argument = if parameters.is_empty() {
        String::new()
    } else {
        format!("{{\n    {},\n  }}", parameters.join(",\n    "))
    };
    format!(
        "import {{ {} }} from \"{package}\";\n\n\
         const tenant: Record<string, string> = {{\n{headers}}};\n\
         const api = new {api}(new Configuration({{\n  basePath: process.env.{} ?? \"{}\",\n{auth}  apiKey: (name: string) => tenant[name.toLowerCase()] ?? \"\",\n}}));\n\n\
         async function main(): Promise<void> {{\n{before}  const result = await api.{method}({argument}{init});\n  console.log(result);\n}}\n\n\
         main().catch((e: unknown) => {{\n  console.error(e);\n  process.exit(1);\n}});\n",
        imports.join(", "),
        url_variable(op),
        op.base_url,
    )
}

/// The sandbox's default credentials, as the samples' `PREVENTOR_*` variables.
const SANDBOX_ENV: &[(&str, &str)] = &[
    ("PREVENTOR_API_KEY", "sandbox-api-key"),
    ("PREVENTOR_TENANT", "sandbox"),
    ("PREVENTOR_ENV", "test"),
    ("PREVENTOR_BANKNU", "1"),
    ("PREVENTOR_CLIENT_ID", "sandbox-client"),
    ("PREVENTOR_CLIENT_SECRET", "sandbox-client-secret"),
    ("PREVENTOR_USERNAME", "user@example.com"),
    ("PREVENTOR_PASSWORD", "sandbox-password"),
    ("PREVENTOR_SCOPE", "read"),
    ("PREVENTOR_API_SECRET", "sandbox-api-secret"),
];

/// The operations of the documents in the order the samples can run one after the other (the
/// token, then the ids flowing forward): compliance, then biometrics, each in its document's
/// order, which the documents keep for that reason. Read from the source documents: the
/// bundle's JSON has its keys sorted.
fn run_order() -> Result<Vec<(&'static str, String)>, String> {
    let mut order = Vec::new();
    for document in ["compliance", "biometrics"] {
        let path = tools::root().join(format!("openapi/{document}.yaml"));
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
        for (_, item) in doc["paths"].as_mapping().into_iter().flatten() {
            for (_, op) in item.as_mapping().into_iter().flatten() {
                if let Some(id) = op["operationId"].as_str() {
                    order.push((document, id.to_string()));
                }
            }
        }
    }
    Ok(order)
}

/// Every sample of a published document, by operationId and language.
fn samples(bundle: &Path, document: &str) -> Result<Vec<(String, String, String)>, String> {
    let text = fs::read_to_string(bundle.join(format!("openapi/{document}.json")))
        .map_err(|e| e.to_string())?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (_, item) in doc["paths"].as_object().into_iter().flatten() {
        for (_, op) in item.as_object().into_iter().flatten() {
            let id = op["operationId"].as_str().unwrap_or_default();
            for sample in op["x-codeSamples"].as_array().into_iter().flatten() {
                out.push((
                    id.to_string(),
                    sample["lang"].as_str().unwrap_or_default().to_string(),
                    sample["source"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    Ok(out)
}

fn sample<'a>(
    all: &'a [(String, String, String)],
    id: &str,
    lang: &str,
) -> Result<&'a str, String> {
    all.iter()
        .find(|(i, l, _)| i == id && l == lang)
        .map(|(_, _, s)| s.as_str())
        .ok_or_else(|| format!("{id}: no {lang} sample"))
}

/// Checks the bundle's samples: each curl sample runs against the sandbox at `url` (in
/// [`run_order`], the token, user id and ticket flowing from one to the next) and must get a
/// 2xx; each Python sample then runs with `python` (the bundle's packages installed) and must
/// exit 0; the Rust samples compile (`cargo check`, against this checkout's crate) and the
/// TypeScript samples type-check (`tsc --strict`) in `typescript_project`, where the bundle's
/// packages are installed. `photo` is a real JPEG data URI to stand in for [`PHOTO`].
pub fn check(
    bundle: &Path,
    url: &str,
    photo: &str,
    python: &Path,
    typescript_project: &Path,
    work: &Path,
) -> Result<(), String> {
    let mut all = samples(bundle, "compliance")?;
    all.extend(samples(bundle, "biometrics")?);
    let order = run_order()?;
    let operations = order.len();
    for (document, id) in &order {
        for lang in ["Shell", "Rust", "Python", "TypeScript"] {
            sample(&all, id, lang).map_err(|e| format!("{document} {e}"))?;
        }
    }
    if all.len() != operations * 4 {
        return Err(format!(
            "{} samples, expected {} (four per operation)",
            all.len(),
            operations * 4
        ));
    }

    // curl, then Python, against the sandbox.
    let curl_home = work.join("curl");
    fs::create_dir_all(&curl_home).map_err(|e| e.to_string())?;
    fs::write(
        curl_home.join(".curlrc"),
        "write-out = \"\\n%{http_code}\"\n",
    )
    .map_err(|e| e.to_string())?;
    let mut env: Vec<(String, String)> = SANDBOX_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.push(("PREVENTOR_COMPLIANCE_URL".into(), url.into()));
    env.push(("PREVENTOR_BIOMETRICS_URL".into(), url.into()));
    let set = |env: &mut Vec<(String, String)>, key: &str, value: String| {
        env.retain(|(k, _)| k != key);
        env.push((key.to_string(), value));
    };
    let python_dir = work.join("python");
    fs::create_dir_all(&python_dir).map_err(|e| e.to_string())?;
    for (document, id) in &order {
        let script = sample(&all, id, "Shell")?.replace(PHOTO, photo);
        let output = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("CURL_HOME", &curl_home)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .map_err(|e| format!("cannot run bash (curl samples): {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let (body, status) = stdout.trim_end().rsplit_once('\n').unwrap_or(("", &stdout));
        let ok = output.status.success() && status.trim().starts_with('2');
        if !ok {
            return Err(format!(
                "{document} {id}: the curl sample got {status}: {body} {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        match id.as_str() {
            "oauthToken" | "bioToken" => {
                let token = body["access_token"]
                    .as_str()
                    .or(body["token"].as_str())
                    .ok_or_else(|| format!("{id}: no token in {body}"))?;
                set(&mut env, "PREVENTOR_TOKEN", token.to_string());
            }
            "createBioUser" => set(
                &mut env,
                "USER_ID",
                body["userId"].as_str().unwrap_or_default().into(),
            ),
            "uploadBioFiles" => set(
                &mut env,
                "TICKET",
                body["ticket"].as_str().unwrap_or_default().into(),
            ),
            _ => {}
        }
        println!("curl sample {document} {id}: {}", status.trim());

        // The Python sample of the same call, with the same variables.
        let file = python_dir.join(format!("{}.py", id.to_snake_case()));
        fs::write(&file, sample(&all, id, "Python")?).map_err(|e| e.to_string())?;
        let output = Command::new(python)
            .arg(&file)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!(
                "{document} {id}: the Python sample failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    println!("python samples: all {operations} ran against the sandbox");

    // Rust: one binary per sample in a crate outside the workspace, checked against this crate.
    let crate_dir = work.join("rust");
    fs::create_dir_all(crate_dir.join("src/bin")).map_err(|e| e.to_string())?;
    let root = tools::root();
    fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"preventor-code-samples\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\npreventor = {{ path = {:?} }}\nserde_json = \"1\"\ntokio = {{ version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }}\n\n[workspace]\n",
            root.display().to_string()
        ),
    )
    .map_err(|e| e.to_string())?;
    fs::copy(root.join("Cargo.lock"), crate_dir.join("Cargo.lock")).map_err(|e| e.to_string())?;
    for (_, id) in &order {
        fs::write(
            crate_dir.join(format!("src/bin/{}.rs", id.to_snake_case())),
            sample(&all, id, "Rust")?,
        )
        .map_err(|e| e.to_string())?;
    }
    tools::run(
        Command::new("cargo")
            .args(["check", "--quiet", "--bins", "--offline"])
            .env("CARGO_TARGET_DIR", root.join("target"))
            .current_dir(&crate_dir),
    )
    .map_err(|e| format!("the Rust samples do not compile: {e}"))?;
    println!("rust samples: all {operations} compile");

    // TypeScript: type-checked against the installed packages.
    let ts_dir = typescript_project.join("samples");
    fs::create_dir_all(&ts_dir).map_err(|e| e.to_string())?;
    fs::write(
        ts_dir.join("node.d.ts"),
        "// The part of Node's `process` the samples use (no @types/node needed).\n\
         declare const process: { env: Record<string, string | undefined>; exit(code: number): never };\n",
    )
    .map_err(|e| e.to_string())?;
    let mut files = vec!["samples/node.d.ts".to_string()];
    for (_, id) in &order {
        let name = format!("samples/{id}.ts");
        // Each sample is a module of its own.
        fs::write(
            typescript_project.join(&name),
            sample(&all, id, "TypeScript")?,
        )
        .map_err(|e| e.to_string())?;
        files.push(name);
    }
    tools::run(
        Command::new(tools::node_bin("tsc"))
            .arg("--noEmit")
            .args(crate::publish::TSC_PROGRAM)
            .args(&files)
            .current_dir(typescript_project),
    )
    .map_err(|e| format!("the TypeScript samples do not type-check: {e}"))?;
    println!("typescript samples: all {operations} type-check");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The samples run in the source documents' order: the token first, each id made before
    /// the samples that use it; every operation once.
    #[test]
    fn the_run_order_is_the_documents_order() {
        let order = run_order().unwrap();
        let at = |id: &str| order.iter().position(|(_, o)| o == id).unwrap();
        assert_eq!(order[0], ("compliance", "oauthToken".to_string()));
        assert!(at("accountOnboarding") < at("registerMonetaryTransaction"));
        assert!(at("customerOnboarding") < at("customerMaintenance"));
        assert!(at("customerOnboarding") < at("getCustomer"));
        assert!(at("bioToken") < at("createBioUser"));
        assert!(at("createBioUser") < at("uploadBioFiles"));
        assert!(at("uploadBioFiles") < at("bioEnroll"));
        let mut ids: Vec<&String> = order.iter().map(|(_, id)| id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), order.len(), "each operation once");
    }
}
