//! `cargo xtask diff <git-ref>`: what changed in the documents since a git ref, each change
//! classified as breaking or compatible, by comparing the parsed documents (openapiv3).
//!
//! Breaking: an operation, parameter, schema or property removed; a type or format changed; an
//! optional parameter or property made required, or a new required one added; an enum value
//! removed. Compatible: anything added that is optional, an enum value added, a required one made
//! optional, descriptions and examples. Exit status 1 on a breaking change unless the major part
//! of `info.version` was raised.

use std::{collections::BTreeMap, fmt, process::Command};

use openapiv3::{OpenAPI, Parameter, ReferenceOr, Schema, SchemaKind, Type};

use crate::{spec_check::DOCUMENTS, tools};

/// How a change affects clients built on the old document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Old clients keep working.
    Compatible,
    /// Old clients may break.
    Breaking,
}

/// One change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Breaking or compatible.
    pub kind: Kind,
    /// Where and what, in one line.
    pub what: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.kind {
            Kind::Breaking => "BREAKING  ",
            Kind::Compatible => "compatible",
        };
        write!(f, "{tag} {}", self.what)
    }
}

/// Parses a document.
pub fn parse(text: &str) -> Result<OpenAPI, String> {
    serde_yaml::from_str(text).map_err(|e| format!("not an OpenAPI 3.0 document: {e}"))
}

/// Every change from `old` to `new`, breaking first.
pub fn compare(old: &OpenAPI, new: &OpenAPI) -> Vec<Change> {
    let mut out = Changes::default();
    operations(old, new, &mut out);
    let empty = Default::default();
    let old_schemas = old
        .components
        .as_ref()
        .map(|c| &c.schemas)
        .unwrap_or(&empty);
    let new_schemas = new
        .components
        .as_ref()
        .map(|c| &c.schemas)
        .unwrap_or(&empty);
    for (name, old_schema) in old_schemas {
        match new_schemas.get(name) {
            None => out.breaking(format!("schema {name} removed")),
            Some(new_schema) => schema(
                &format!("schema {name}"),
                old,
                old_schema,
                new,
                new_schema,
                &mut out,
            ),
        }
    }
    for name in new_schemas.keys().filter(|n| !old_schemas.contains_key(*n)) {
        out.compatible(format!("schema {name} added"));
    }
    if old.info.version != new.info.version {
        out.compatible(format!(
            "info.version {} -> {}",
            old.info.version, new.info.version
        ));
    }
    let mut changes = out.0;
    changes.sort_by(|a, b| b.kind.cmp(&a.kind).then(a.what.cmp(&b.what)));
    changes
}

#[derive(Default)]
struct Changes(Vec<Change>);

impl Changes {
    fn breaking(&mut self, what: String) {
        self.0.push(Change {
            kind: Kind::Breaking,
            what,
        });
    }
    fn compatible(&mut self, what: String) {
        self.0.push(Change {
            kind: Kind::Compatible,
            what,
        });
    }
}

/// (method path) -> operation.
fn operation_map(api: &OpenAPI) -> BTreeMap<String, &openapiv3::Operation> {
    api.paths
        .iter()
        .filter_map(|(path, item)| item.as_item().map(|i| (path, i)))
        .flat_map(|(path, item)| {
            item.iter()
                .map(move |(method, op)| (format!("{} {path}", method.to_uppercase()), op))
        })
        .collect()
}

fn operations(old: &OpenAPI, new: &OpenAPI, out: &mut Changes) {
    let (before, after) = (operation_map(old), operation_map(new));
    for (key, old_op) in &before {
        let Some(new_op) = after.get(key) else {
            out.breaking(format!("operation {key} removed"));
            continue;
        };
        let params = |api: &OpenAPI, op: &openapiv3::Operation| -> BTreeMap<String, Parameter> {
            op.parameters
                .iter()
                .filter_map(|p| resolve_parameter(api, p))
                .map(|p| {
                    (
                        format!(
                            "{} {}",
                            location(&p),
                            p.parameter_data_ref().name.to_lowercase()
                        ),
                        p,
                    )
                })
                .collect()
        };
        let (old_params, new_params) = (params(old, old_op), params(new, new_op));
        for (name, p) in &old_params {
            match new_params.get(name) {
                None => out.breaking(format!("{key}: parameter {name} removed")),
                Some(n) => {
                    let (o, n) = (p.parameter_data_ref(), n.parameter_data_ref());
                    if !o.required && n.required {
                        out.breaking(format!("{key}: parameter {name} optional -> required"));
                    } else if o.required && !n.required {
                        out.compatible(format!("{key}: parameter {name} required -> optional"));
                    }
                    if let (
                        openapiv3::ParameterSchemaOrContent::Schema(os),
                        openapiv3::ParameterSchemaOrContent::Schema(ns),
                    ) = (&o.format, &n.format)
                    {
                        schema(&format!("{key}: parameter {name}"), old, os, new, ns, out);
                    }
                }
            }
        }
        for (name, p) in new_params
            .iter()
            .filter(|(n, _)| !old_params.contains_key(*n))
        {
            if p.parameter_data_ref().required {
                out.breaking(format!("{key}: required parameter {name} added"));
            } else {
                out.compatible(format!("{key}: optional parameter {name} added"));
            }
        }
        let media = |api: &OpenAPI, op: &openapiv3::Operation| -> Vec<String> {
            op.request_body
                .as_ref()
                .and_then(|b| resolve_body(api, b))
                .map(|b| b.content.keys().cloned().collect())
                .unwrap_or_default()
        };
        let (old_media, new_media) = (media(old, old_op), media(new, new_op));
        for m in old_media.iter().filter(|m| !new_media.contains(m)) {
            out.breaking(format!("{key}: request body {m} removed"));
        }
        for m in new_media.iter().filter(|m| !old_media.contains(m)) {
            out.compatible(format!("{key}: request body {m} added"));
        }
        for (status, _) in old_op
            .responses
            .responses
            .iter()
            .filter(|(s, _)| !new_op.responses.responses.contains_key(*s))
        {
            out.breaking(format!("{key}: response {status} removed"));
        }
    }
    for key in after.keys().filter(|k| !before.contains_key(*k)) {
        out.compatible(format!("operation {key} added"));
    }
}

fn location(p: &Parameter) -> &'static str {
    match p {
        Parameter::Query { .. } => "query",
        Parameter::Header { .. } => "header",
        Parameter::Path { .. } => "path",
        Parameter::Cookie { .. } => "cookie",
    }
}

fn resolve_parameter(api: &OpenAPI, p: &ReferenceOr<Parameter>) -> Option<Parameter> {
    match p {
        ReferenceOr::Item(p) => Some(p.clone()),
        ReferenceOr::Reference { reference } => {
            let name = reference.strip_prefix("#/components/parameters/")?;
            api.components
                .as_ref()?
                .parameters
                .get(name)?
                .as_item()
                .cloned()
        }
    }
}

fn resolve_body<'a>(
    api: &'a OpenAPI,
    b: &'a ReferenceOr<openapiv3::RequestBody>,
) -> Option<&'a openapiv3::RequestBody> {
    match b {
        ReferenceOr::Item(b) => Some(b),
        ReferenceOr::Reference { reference } => {
            let name = reference.strip_prefix("#/components/requestBodies/")?;
            api.components.as_ref()?.request_bodies.get(name)?.as_item()
        }
    }
}

/// A schema with references and single-element `allOf` wrappers followed.
fn resolve<'a>(api: &'a OpenAPI, s: &'a ReferenceOr<Schema>) -> Option<&'a Schema> {
    let schema = match s {
        ReferenceOr::Item(s) => s,
        ReferenceOr::Reference { reference } => {
            let name = reference.strip_prefix("#/components/schemas/")?;
            return resolve(api, api.components.as_ref()?.schemas.get(name)?);
        }
    };
    match &schema.schema_kind {
        SchemaKind::AllOf { all_of } if all_of.len() == 1 => resolve(api, &all_of[0]),
        _ => Some(schema),
    }
}

fn resolve_boxed<'a>(api: &'a OpenAPI, s: &'a ReferenceOr<Box<Schema>>) -> Option<&'a Schema> {
    match s {
        ReferenceOr::Item(s) => resolve_schema_item(api, s),
        ReferenceOr::Reference { reference } => {
            let name = reference.strip_prefix("#/components/schemas/")?;
            resolve(api, api.components.as_ref()?.schemas.get(name)?)
        }
    }
}

fn resolve_schema_item<'a>(api: &'a OpenAPI, s: &'a Schema) -> Option<&'a Schema> {
    match &s.schema_kind {
        SchemaKind::AllOf { all_of } if all_of.len() == 1 => resolve(api, &all_of[0]),
        _ => Some(s),
    }
}

/// Type and format, as one comparable word.
fn shape(s: &Schema) -> String {
    match &s.schema_kind {
        SchemaKind::Type(Type::String(t)) => format!("string{}", format_of(&t.format)),
        SchemaKind::Type(Type::Integer(t)) => format!("integer{}", format_of(&t.format)),
        SchemaKind::Type(Type::Number(t)) => format!("number{}", format_of(&t.format)),
        SchemaKind::Type(Type::Boolean(_)) => "boolean".into(),
        SchemaKind::Type(Type::Object(_)) => "object".into(),
        SchemaKind::Type(Type::Array(_)) => "array".into(),
        SchemaKind::OneOf { .. } => "oneOf".into(),
        SchemaKind::AnyOf { .. } => "anyOf".into(),
        SchemaKind::AllOf { .. } => "allOf".into(),
        SchemaKind::Not { .. } => "not".into(),
        SchemaKind::Any(_) => "any".into(),
    }
}

fn format_of<T: fmt::Debug>(f: &openapiv3::VariantOrUnknownOrEmpty<T>) -> String {
    match f {
        openapiv3::VariantOrUnknownOrEmpty::Item(i) => {
            format!("({})", format!("{i:?}").to_lowercase())
        }
        openapiv3::VariantOrUnknownOrEmpty::Unknown(u) => format!("({u})"),
        openapiv3::VariantOrUnknownOrEmpty::Empty => String::new(),
    }
}

fn schema(
    at: &str,
    old: &OpenAPI,
    os: &ReferenceOr<Schema>,
    new: &OpenAPI,
    ns: &ReferenceOr<Schema>,
    out: &mut Changes,
) {
    if let (Some(o), Some(n)) = (resolve(old, os), resolve(new, ns)) {
        schema_items(at, old, o, new, n, out, 0);
    }
}

fn schema_items(
    at: &str,
    old: &OpenAPI,
    o: &Schema,
    new: &OpenAPI,
    n: &Schema,
    out: &mut Changes,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    let (old_shape, new_shape) = (shape(o), shape(n));
    if old_shape != new_shape {
        out.breaking(format!("{at}: type {old_shape} -> {new_shape}"));
        return;
    }
    match (&o.schema_kind, &n.schema_kind) {
        (SchemaKind::Type(Type::String(os)), SchemaKind::Type(Type::String(ns))) => {
            let had = |v: &Option<String>| v.clone().unwrap_or_default();
            for value in os
                .enumeration
                .iter()
                .map(had)
                .filter(|v| !ns.enumeration.iter().map(had).any(|x| &x == v))
            {
                out.breaking(format!("{at}: enum value {value} removed"));
            }
            for value in ns
                .enumeration
                .iter()
                .map(had)
                .filter(|v| !os.enumeration.iter().map(had).any(|x| &x == v))
            {
                out.compatible(format!("{at}: enum value {value} added"));
            }
            if os.pattern != ns.pattern {
                out.breaking(format!("{at}: pattern changed"));
            }
        }
        (SchemaKind::Type(Type::Object(oo)), SchemaKind::Type(Type::Object(no))) => {
            for (name, op) in &oo.properties {
                let field = format!("{at}.{name}");
                match no.properties.get(name) {
                    None => out.breaking(format!("{field} removed")),
                    Some(np) => {
                        if let (Some(a), Some(b)) = (resolve_boxed(old, op), resolve_boxed(new, np))
                        {
                            schema_items(&field, old, a, new, b, out, depth + 1);
                        }
                    }
                }
                let (was, is) = (oo.required.contains(name), no.required.contains(name));
                if !was && is && no.properties.contains_key(name) {
                    out.breaking(format!("{field} optional -> required"));
                } else if was && !is {
                    out.compatible(format!("{field} required -> optional"));
                }
            }
            let closed = |o: &openapiv3::ObjectType| {
                matches!(
                    o.additional_properties,
                    Some(openapiv3::AdditionalProperties::Any(false))
                )
            };
            if !closed(oo) && closed(no) {
                out.breaking(format!("{at}: additional properties no longer allowed"));
            }
            for name in no
                .properties
                .keys()
                .filter(|n| !oo.properties.contains_key(*n))
            {
                if no.required.contains(name) {
                    out.breaking(format!("{at}.{name} added as required"));
                } else {
                    out.compatible(format!("{at}.{name} added"));
                }
            }
        }
        (SchemaKind::Type(Type::Array(oa)), SchemaKind::Type(Type::Array(na))) => {
            if let (Some(oi), Some(ni)) = (&oa.items, &na.items) {
                if let (Some(a), Some(b)) = (resolve_boxed(old, oi), resolve_boxed(new, ni)) {
                    schema_items(&format!("{at}[]"), old, a, new, b, out, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// The major part of a `MAJOR.MINOR.PATCH` version.
fn major(version: &str) -> u64 {
    version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// The document `name` at git `reference`, or None when it did not exist there.
pub fn at_ref(reference: &str, name: &str) -> Result<Option<String>, String> {
    let out = Command::new("git")
        .args(["show", &format!("{reference}:openapi/{name}.yaml")])
        .current_dir(tools::root())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
    } else if String::from_utf8_lossy(&out.stderr).contains("exists on disk, but not in")
        || String::from_utf8_lossy(&out.stderr).contains("does not exist in")
    {
        Ok(None)
    } else {
        Err(format!(
            "git show {reference}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The changes of every document since `reference`, as (document, changes, major raised).
pub fn since(reference: &str) -> Result<Vec<(String, Vec<Change>, bool)>, String> {
    let mut all = Vec::new();
    for name in DOCUMENTS {
        let new_text = std::fs::read_to_string(tools::root().join(format!("openapi/{name}.yaml")))
            .map_err(|e| e.to_string())?;
        let new = parse(&new_text)?;
        let (changes, raised) = match at_ref(reference, name)? {
            Some(old_text) => {
                let old = parse(&old_text)?;
                (
                    compare(&old, &new),
                    major(&new.info.version) > major(&old.info.version),
                )
            }
            None => (
                vec![Change {
                    kind: Kind::Compatible,
                    what: format!("document {name} added"),
                }],
                false,
            ),
        };
        all.push((name.to_string(), changes, raised));
    }
    Ok(all)
}

/// The command: prints the changes; Err when a breaking change comes without a major bump.
pub fn run(reference: &str) -> Result<(), String> {
    let mut unannounced = Vec::new();
    for (name, changes, raised) in since(reference)? {
        println!("{name}.yaml since {reference}: {} change(s)", changes.len());
        for c in &changes {
            println!("  {c}");
        }
        if !raised && changes.iter().any(|c| c.kind == Kind::Breaking) {
            unannounced.push(name);
        }
    }
    if unannounced.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "breaking changes in {} without a raised major version in info.version",
            unannounced.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small document; each test edits one thing in it.
    const BASE: &str = r#"
openapi: 3.0.3
info: {title: t, version: 1.2.0}
paths:
  /things:
    post:
      operationId: createThing
      parameters:
        - {name: X-lang, in: header, required: false, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Thing'}
      responses:
        '200': {description: ok}
        '400': {description: bad}
components:
  schemas:
    Thing:
      type: object
      required: [id]
      properties:
        id: {type: string}
        kind: {type: string, enum: [A, U, D]}
        amount: {type: string, pattern: '^[0-9]+$'}
        note: {type: string}
        tags: {type: array, items: {type: string}}
"#;

    fn changes(edit: impl Fn(String) -> String) -> Vec<Change> {
        let new = edit(BASE.to_string());
        assert_ne!(new, BASE, "the edit must apply");
        compare(&parse(BASE).unwrap(), &parse(&new).unwrap())
    }

    fn one(edit: impl Fn(String) -> String, kind: Kind, what: &str) {
        let all = changes(edit);
        assert!(
            all.iter().any(|c| c.kind == kind && c.what == what),
            "expected {kind:?} '{what}' in {all:#?}"
        );
    }

    #[test]
    fn breaking_kinds() {
        one(
            |s| s.replace("  /things:\n    post:", "  /things:\n    put:"),
            Kind::Breaking,
            "operation POST /things removed",
        );
        one(
            |s| s.replace("        note: {type: string}\n", ""),
            Kind::Breaking,
            "schema Thing.note removed",
        );
        one(
            |s| s.replace("note: {type: string}", "note: {type: integer}"),
            Kind::Breaking,
            "schema Thing.note: type string -> integer",
        );
        one(
            |s| {
                s.replace(
                    "amount: {type: string, pattern: '^[0-9]+$'}",
                    "amount: {type: number}",
                )
            },
            Kind::Breaking,
            "schema Thing.amount: type string -> number",
        );
        one(
            |s| s.replace("required: [id]", "required: [id, note]"),
            Kind::Breaking,
            "schema Thing.note optional -> required",
        );
        one(
            |s| s.replace("enum: [A, U, D]", "enum: [A, U]"),
            Kind::Breaking,
            "schema Thing.kind: enum value D removed",
        );
        one(
            |s| s.replace("required: false, schema", "required: true, schema"),
            Kind::Breaking,
            "POST /things: parameter header x-lang optional -> required",
        );
        one(
            |s| s.replace("        '400': {description: bad}\n", ""),
            Kind::Breaking,
            "POST /things: response 400 removed",
        );
        one(
            |s| {
                s.replace(
                    "      required: [id]\n",
                    "      required: [id]\n      additionalProperties: false\n",
                )
            },
            Kind::Breaking,
            "schema Thing: additional properties no longer allowed",
        );
        one(
            |s| {
                s.replace(
                    "tags: {type: array, items: {type: string}}",
                    "tags: {type: array, items: {type: integer}}",
                )
            },
            Kind::Breaking,
            "schema Thing.tags[]: type string -> integer",
        );
    }

    #[test]
    fn compatible_kinds() {
        one(
            |s| {
                s.replace(
                    "        note: {type: string}\n",
                    "        note: {type: string}\n        extra: {type: string}\n",
                )
            },
            Kind::Compatible,
            "schema Thing.extra added",
        );
        one(
            |s| s.replace("enum: [A, U, D]", "enum: [A, U, D, X]"),
            Kind::Compatible,
            "schema Thing.kind: enum value X added",
        );
        one(
            |s| s.replace("required: [id]", "required: []"),
            Kind::Compatible,
            "schema Thing.id required -> optional",
        );
        one(
            |s| {
                s.replace("paths:\n", "paths:\n  /other:\n    get:\n      responses:\n        '200': {description: ok}\n")
            },
            Kind::Compatible,
            "operation GET /other added",
        );
        let described = changes(|s| {
            s.replace(
                "note: {type: string}",
                "note: {type: string, description: a note}",
            )
        });
        assert!(described.is_empty(), "{described:#?}");
    }

    #[test]
    fn the_major_version_gates_breaking_changes() {
        assert_eq!(major("2.0.0"), 2);
        assert!(major("2.0.0") > major("1.9.3"));
        assert_eq!(major("garbage"), 0);
    }

    #[test]
    fn the_real_documents_compare_clean_with_themselves() {
        for name in DOCUMENTS {
            let text = std::fs::read_to_string(tools::root().join(format!("openapi/{name}.yaml")))
                .unwrap();
            let api = parse(&text).unwrap();
            assert!(compare(&api, &api).is_empty(), "{name}");
        }
    }
}
