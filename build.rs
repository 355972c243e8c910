//! Generates the typed clients from the OpenAPI documents in `openapi/` with progenitor.
//!
//! Two modules per document are written to `OUT_DIR` and included by `src/generated/`: the
//! builder-style client with the types (public), and `<document>_direct.rs`, the same
//! operations as positional methods on those types (what the hand-written layer calls).
//! The documents are used as written, with one in-memory step: operations whose request body
//! progenitor cannot generate (`multipart/form-data`, upstream issue #518) are left out of the
//! generated client and written by hand in `src/` on top of the generated types; each one is
//! listed in `HAND_WRITTEN` so that a new multipart operation fails the build instead of
//! disappearing silently.
//!
//! It also writes, from the same documents: `operations.rs`, the table of every operation (id,
//! method, path, retry class from the `x-preventor-retry` extension, tolerant acknowledgement or
//! not), so that an operation added to a document cannot be missing from it;
//! `context_headers.rs`, the end-user context headers (`x-preventor-context`) with their
//! `maxLength`; and `personal_members.rs`, the properties that hold personal data
//! (`x-preventor-redact: personal`, and document numbers). `src/operations.rs` and
//! `src/redacted.rs` include them.

use std::{
    env, fs,
    panic::{self, AssertUnwindSafe},
    path::{Path, PathBuf},
};

use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle};

/// (document, operationId) pairs that the hand-written layer implements.
const HAND_WRITTEN: &[(&str, &str)] = &[("compliance", "getCustomer")];

/// Values of the vendor extension `x-preventor-redact` on a property, and the hand-written type
/// (with a redacting `Debug`) the generator uses for such a property. The documents mark the
/// properties; a synthetic component schema per kind is added in memory and replaced.
const REDACT_KINDS: &[(&str, &str, &str)] = &[
    (
        "secret",
        "PreventorSecretText",
        "crate::redacted::SecretText",
    ),
    (
        "personal",
        "PreventorPersonalText",
        "crate::redacted::PersonalText",
    ),
];

/// The vendor extension that marks a header parameter as end-user context, and the
/// `EndUserContext` members it may name. The hand-written layer sets these headers from
/// `EndUserContext` on every call (validated with the documents' bounds), so they are left out
/// of the generated calls: one way to set them.
const CONTEXT_EXTENSION: &str = "x-preventor-context";
const CONTEXT_MEMBERS: &[&str] = &["lang", "tzone", "user_agent", "ip"];

/// Inner type of every generated `Client`: the per-call state of the hand-written transport.
const INNER_TYPE: &str = "crate::transport::CallState";

/// (document, schemas replaced by hand-written types): sensitive values get types whose
/// `Debug` is redacted (`src/redacted.rs`).
const DOCUMENTS: &[(&str, &[(&str, &str)])] = &[
    (
        "compliance",
        &[("DocumentNumber", "crate::redacted::DocumentNumber")],
    ),
    (
        "biometrics",
        &[
            ("PhotoDataUri", "crate::redacted::PhotoDataUri"),
            ("DocumentValue", "crate::redacted::DocumentValue"),
            ("DocumentImage", "crate::redacted::DocumentImage"),
        ],
    ),
];

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed=build.rs");
    let mut table = String::from(
        "// Written by build.rs from the x-preventor-retry extension of each operation.\n\
         /// Every operation of both documents.\n\
         pub(crate) static OPERATIONS: &[Operation] = &[\n",
    );
    let mut personal = Vec::new();
    let mut context = String::from(
        "// Written by build.rs from the documents' x-preventor-context header parameters.\n\
         static CONTEXT_HEADERS: &[ContextHeader] = &[\n",
    );
    for (name, replacements) in DOCUMENTS {
        let spec = root.join("openapi").join(format!("{name}.yaml"));
        println!("cargo:rerun-if-changed={}", spec.display());
        let api = parse(&spec).unwrap_or_else(|problem| fail(&spec, &problem));
        match operation_rows(&api) {
            Ok(rows) => table.push_str(&rows),
            Err(problem) => fail(&spec, &problem),
        }
        personal.extend(personal_members(&api, replacements));
        match context_rows(name, &api) {
            Ok(rows) => context.push_str(&rows),
            Err(problem) => fail(&spec, &problem),
        }
        for (style, file) in [
            (InterfaceStyle::Builder, format!("{name}.rs")),
            (InterfaceStyle::Positional, format!("{name}_direct.rs")),
        ] {
            match generate(name, api.clone(), replacements, style) {
                Ok(code) => {
                    let dest = out.join(file);
                    fs::write(&dest, code).unwrap_or_else(|e| {
                        fail(&spec, &format!("cannot write {}: {e}", dest.display()))
                    });
                }
                Err(problem) => fail(&spec, &problem),
            }
        }
    }
    table.push_str("];\n");
    personal.sort();
    personal.dedup();
    let members = format!(
        "// Written by build.rs from the documents: properties marked `x-preventor-redact: \
         personal` and document numbers.\n\
         /// Members of a serialized record that hold personal data or document numbers.\n\
         pub(crate) const PERSONAL_MEMBERS: &[&str] = &{personal:?};\n"
    );
    context.push_str("];\n");
    for (file, text) in [
        ("operations.rs", table),
        ("personal_members.rs", members),
        ("context_headers.rs", context),
    ] {
        let dest = out.join(file);
        if let Err(e) = fs::write(&dest, text) {
            eprintln!("error: cannot write {}: {e}", dest.display());
            std::process::exit(1);
        }
    }
}

/// The document at `spec`.
fn parse(spec: &Path) -> Result<openapiv3::OpenAPI, String> {
    let text = fs::read_to_string(spec).map_err(|e| format!("cannot read: {e}"))?;
    serde_yaml::from_str(&text).map_err(|e| format!("not a valid OpenAPI 3.0 document: {e}"))
}

/// Every method slot of a path item, with its method's name.
fn method_slots(
    item: &mut openapiv3::PathItem,
) -> [(&'static str, &mut Option<openapiv3::Operation>); 8] {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
}

/// Properties of the document's schemas that hold personal data: marked
/// `x-preventor-redact: personal`, or holding a document number (a schema replaced by
/// `crate::redacted::DocumentNumber`).
fn personal_members(api: &openapiv3::OpenAPI, replacements: &[(&str, &str)]) -> Vec<String> {
    use openapiv3::{ReferenceOr, SchemaKind, Type};
    let document_numbers: Vec<String> = replacements
        .iter()
        .filter(|(_, with)| *with == "crate::redacted::DocumentNumber")
        .map(|(schema, _)| format!("#/components/schemas/{schema}"))
        .collect();
    let mut members = Vec::new();
    for schema in api.components.iter().flat_map(|c| c.schemas.values()) {
        let ReferenceOr::Item(schema) = schema else {
            continue;
        };
        let SchemaKind::Type(Type::Object(object)) = &schema.schema_kind else {
            continue;
        };
        for (property, slot) in &object.properties {
            let personal = match slot {
                ReferenceOr::Reference { reference } => document_numbers.contains(reference),
                ReferenceOr::Item(inner) => {
                    inner
                        .schema_data
                        .extensions
                        .get("x-preventor-redact")
                        .and_then(|k| k.as_str())
                        == Some("personal")
                        || matches!(&inner.schema_kind, SchemaKind::AllOf { all_of }
                            if all_of.iter().any(|r| matches!(r,
                                ReferenceOr::Reference { reference } if document_numbers.contains(reference))))
                }
            };
            if personal {
                members.push(property.clone());
            }
        }
    }
    members
}

/// Values of `x-preventor-retry` and the transport's `Idempotency` variant for each.
const RETRY_CLASSES: &[(&str, &str)] =
    &[("token", "TokenCall"), ("read", "Read"), ("write", "Write")];

/// One `op!(...)` row per operation of the document.
fn operation_rows(api: &openapiv3::OpenAPI) -> Result<String, String> {
    let mut rows = String::new();
    for (path, item) in api.paths.paths.iter() {
        let openapiv3::ReferenceOr::Item(item) = item else {
            return Err(format!("path {path}: $ref path items are not supported"));
        };
        for (method, op) in item.iter() {
            let id = op
                .operation_id
                .as_deref()
                .ok_or_else(|| format!("{method} {path}: no operationId"))?;
            let class = op
                .extensions
                .get("x-preventor-retry")
                .ok_or_else(|| {
                    format!("operation {id}: no x-preventor-retry (token, read or write)")
                })?
                .as_str()
                .unwrap_or_default();
            let Some((_, variant)) = RETRY_CLASSES.iter().find(|(c, _)| *c == class) else {
                return Err(format!(
                    "operation {id}: x-preventor-retry is {class:?}, not token, read or write"
                ));
            };
            let acknowledgement = op.responses.responses.iter().any(|(status, r)| {
                *status == openapiv3::StatusCode::Code(200)
                    && matches!(r, openapiv3::ReferenceOr::Reference { reference }
                        if reference == "#/components/responses/Acknowledged")
            });
            let generated_id = heck::ToSnakeCase::to_snake_case(id);
            let method = method.to_ascii_uppercase();
            rows.push_str(&format!(
                "    op!({generated_id:?}, {id:?}, {method}, {path:?}, {variant}, {acknowledgement}),\n"
            ));
        }
    }
    Ok(rows)
}

/// Stops the build with one readable line naming the document and the problem.
fn fail(spec: &Path, problem: &str) -> ! {
    eprintln!("error: OpenAPI document {}: {problem}", spec.display());
    println!(
        "cargo:warning=OpenAPI document {}: {problem}",
        spec.display()
    );
    std::process::exit(1);
}

/// The generated module of one document. `Builder`: its types (with struct builders) and the
/// public generated client. `Positional`: the same operations as plain methods taking the body
/// by reference (no builder to fill and convert back on every call), on the types of the
/// `Builder` module; the hand-written layer calls these.
fn generate(
    name: &str,
    mut api: openapiv3::OpenAPI,
    replacements: &[(&str, &str)],
    style: InterfaceStyle,
) -> Result<String, String> {
    leave_out_hand_written(name, &mut api)?;
    leave_out_context_headers(&mut api)?;
    let redacted = redact_marked_properties(&mut api)?;

    let inner: proc_macro2::TokenStream =
        INNER_TYPE.parse().map_err(|e| format!("inner type: {e}"))?;
    let positional = style == InterfaceStyle::Positional;
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(style)
        .with_hooks(HooksMode::Expected)
        .with_inner_type(inner);
    // `--features schemars`: JSON Schema of every generated type.
    if env::var_os("CARGO_FEATURE_SCHEMARS").is_some() {
        settings.with_derive("schemars::JsonSchema");
    }
    for (schema, replacement) in replacements.iter().chain(redacted.iter()) {
        if !api
            .components
            .as_ref()
            .is_some_and(|c| c.schemas.contains_key(*schema))
        {
            return Err(format!(
                "schema {schema} (replaced by {replacement}) is missing"
            ));
        }
        settings.with_replacement(schema, replacement, std::iter::empty());
    }
    if positional {
        // Every other schema is the `Builder` module's type of the same name.
        let schemas: Vec<String> = api
            .components
            .as_ref()
            .map(|c| c.schemas.keys().cloned().collect())
            .unwrap_or_default();
        for schema in schemas {
            if replacements
                .iter()
                .chain(redacted.iter())
                .all(|(s, _)| *s != schema)
            {
                let path = format!("crate::generated::{name}::types::{schema}");
                settings.with_replacement(&schema, &path, std::iter::empty());
            }
        }
    }

    // progenitor panics on some inputs it does not support: turn that into a build error.
    let previous_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let generated = panic::catch_unwind(AssertUnwindSafe(|| {
        Generator::new(&settings).generate_tokens(&api)
    }));
    panic::set_hook(previous_hook);
    let tokens = match generated {
        Ok(Ok(tokens)) => tokens,
        Ok(Err(e)) => return Err(format!("progenitor cannot generate a client: {e}")),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            return Err(format!(
                "progenitor panicked (unsupported construct): {message}"
            ));
        }
    };
    let file = syn::parse2(tokens).map_err(|e| format!("generated code does not parse: {e}"))?;
    Ok(prettyplease::unparse(&file))
}

/// The `EndUserContext` member a header parameter carries (`x-preventor-context`), if any.
fn context_member(parameter: &openapiv3::Parameter) -> Result<Option<&str>, String> {
    let openapiv3::Parameter::Header { parameter_data, .. } = parameter else {
        return Ok(None);
    };
    let Some(member) = parameter_data.extensions.get(CONTEXT_EXTENSION) else {
        return Ok(None);
    };
    match member.as_str() {
        Some(m) if CONTEXT_MEMBERS.contains(&m) => Ok(Some(m)),
        _ => Err(format!(
            "header {}: {CONTEXT_EXTENSION} is {member}, not one of {CONTEXT_MEMBERS:?}",
            parameter_data.name
        )),
    }
}

/// One `ContextHeader { .. }` row per context header parameter of the document's components:
/// its name (lower case), the member it carries, its `maxLength`.
fn context_rows(document: &str, api: &openapiv3::OpenAPI) -> Result<String, String> {
    use openapiv3::{ParameterSchemaOrContent, ReferenceOr, SchemaKind, Type};
    let mut rows = String::new();
    for parameter in api.components.iter().flat_map(|c| c.parameters.values()) {
        let ReferenceOr::Item(parameter) = parameter else {
            continue;
        };
        let Some(member) = context_member(parameter)? else {
            continue;
        };
        let data = parameter.parameter_data_ref();
        let max = match &data.format {
            ParameterSchemaOrContent::Schema(ReferenceOr::Item(schema)) => {
                match &schema.schema_kind {
                    SchemaKind::Type(Type::String(s)) => s.max_length,
                    _ => None,
                }
            }
            _ => None,
        }
        .ok_or_else(|| format!("context header {}: no string maxLength", data.name))?;
        rows.push_str(&format!(
            "    ContextHeader {{ name: {:?}, member: {member:?}, max_length: {max}, document: {document:?} }},\n",
            data.name.to_ascii_lowercase()
        ));
    }
    Ok(rows)
}

/// Removes the context header parameters (`x-preventor-context`) from every operation.
fn leave_out_context_headers(api: &mut openapiv3::OpenAPI) -> Result<(), String> {
    use openapiv3::{Parameter, ReferenceOr};
    let shared = api
        .components
        .as_ref()
        .map(|c| c.parameters.clone())
        .unwrap_or_default();
    let is_context = |p: &ReferenceOr<Parameter>| -> Result<bool, String> {
        let parameter = match p {
            ReferenceOr::Item(p) => p,
            ReferenceOr::Reference { reference } => {
                let name = reference.trim_start_matches("#/components/parameters/");
                match shared.get(name) {
                    Some(ReferenceOr::Item(p)) => p,
                    _ => return Err(format!("parameter {reference} is not defined")),
                }
            }
        };
        Ok(context_member(parameter)?.is_some())
    };
    for (_, item) in api.paths.paths.iter_mut() {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        for (_, op) in method_slots(item) {
            let Some(op) = op else { continue };
            let mut kept = Vec::new();
            for p in op.parameters.drain(..) {
                if !is_context(&p)? {
                    kept.push(p);
                }
            }
            op.parameters = kept;
        }
    }
    Ok(())
}

/// Points every property marked `x-preventor-redact: <kind>` at a synthetic schema of that kind
/// (kept as `allOf` so that its description stays), and returns the replacements to apply.
fn redact_marked_properties(
    api: &mut openapiv3::OpenAPI,
) -> Result<Vec<(&'static str, &'static str)>, String> {
    use openapiv3::{ReferenceOr, Schema, SchemaKind, Type};
    let Some(components) = api.components.as_mut() else {
        return Ok(Vec::new());
    };
    let mut used = Vec::new();
    for (schema_name, schema) in components.schemas.iter_mut() {
        let ReferenceOr::Item(schema) = schema else {
            continue;
        };
        let SchemaKind::Type(Type::Object(object)) = &mut schema.schema_kind else {
            continue;
        };
        for (property, slot) in object.properties.iter_mut() {
            let ReferenceOr::Item(inner) = slot else {
                continue;
            };
            let Some(kind) = inner.schema_data.extensions.get("x-preventor-redact") else {
                continue;
            };
            let kind = kind.as_str().unwrap_or_default();
            let Some(&(_, synthetic, replacement)) =
                REDACT_KINDS.iter().find(|(k, _, _)| *k == kind)
            else {
                return Err(format!(
                    "{schema_name}.{property}: unknown x-preventor-redact kind {kind:?}"
                ));
            };
            if !matches!(inner.schema_kind, SchemaKind::Type(Type::String(_))) {
                return Err(format!(
                    "{schema_name}.{property}: x-preventor-redact applies to strings only"
                ));
            }
            let mut data = inner.schema_data.clone();
            data.extensions.clear();
            **inner = Schema {
                schema_data: data,
                schema_kind: SchemaKind::AllOf {
                    all_of: vec![ReferenceOr::ref_(&format!(
                        "#/components/schemas/{synthetic}"
                    ))],
                },
            };
            if !used.contains(&(synthetic, replacement)) {
                used.push((synthetic, replacement));
            }
        }
    }
    for (synthetic, _) in &used {
        components.schemas.insert(
            synthetic.to_string(),
            ReferenceOr::Item(Schema {
                schema_data: Default::default(),
                schema_kind: SchemaKind::Type(Type::String(Default::default())),
            }),
        );
    }
    Ok(used)
}

/// Removes the operations listed in `HAND_WRITTEN`, and refuses any other multipart operation.
fn leave_out_hand_written(name: &str, api: &mut openapiv3::OpenAPI) -> Result<(), String> {
    for (path, item) in api.paths.paths.iter_mut() {
        let openapiv3::ReferenceOr::Item(item) = item else {
            return Err(format!("path {path}: $ref path items are not supported"));
        };
        for (_, slot) in method_slots(item) {
            let Some(op) = slot else { continue };
            let id = op.operation_id.clone().unwrap_or_default();
            let multipart = matches!(
                &op.request_body,
                Some(openapiv3::ReferenceOr::Item(body)) if body.content.contains_key("multipart/form-data")
            );
            let listed = HAND_WRITTEN.contains(&(name, id.as_str()));
            match (multipart, listed) {
                (true, true) => *slot = None,
                (true, false) => {
                    return Err(format!(
                        "operation {id} ({path}) has a multipart/form-data body, which progenitor \
                         cannot generate: write it by hand and list it in build.rs HAND_WRITTEN"
                    ))
                }
                (false, true) => {
                    return Err(format!(
                        "operation {id} is listed as hand-written but is not multipart: remove it \
                         from build.rs HAND_WRITTEN"
                    ))
                }
                (false, false) => {}
            }
        }
    }
    Ok(())
}
