//! The crate's modules form layers: no import circle in `src/`, nor in the CLI's `cli/src/`.
//!
//! Every `crate::…` path in `src/` (tests and doc comments aside), and every `crate::…` path that
//! `build.rs` writes into the generated code (which lives in `generated`), is an arrow from the
//! top-level module that names it to the top-level module it names (a name re-exported at the
//! crate root counts as the module it comes from). The arrows must form no circle: a lower layer
//! never reaches up to one built on it. The failure names the circle.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of the source folder `src` belongs to (`None` for the crate's
/// root, `lib.rs` or `main.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative
        .components()
        .next()?
        .as_os_str()
        .to_str()?
        .to_string();
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => None,
        Some(name) => Some(name.to_string()),
        None => Some(first),
    }
}

/// The code of a file without its `#[cfg(test)]` module and its comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment of each path that follows `crate::`, including every item of a
/// `crate::{a::…, b, …}` group.
fn crate_names(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: at depth 0, after `{` or `,`.
            let (mut depth, mut item_start) = (0usize, true);
            let mut word = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => word.push(c),
                    _ if !word.is_empty() => {
                        names.push(std::mem::take(&mut word));
                        item_start = false;
                    }
                    _ => {}
                }
            }
            if !word.is_empty() {
                names.push(word);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
        }
    }
    names
}

/// Names re-exported at the crate root (`pub use module::{…}` in `lib.rs`), with their module.
fn root_exports(lib: &str) -> BTreeMap<String, String> {
    let mut exports = BTreeMap::new();
    let lib = code(lib);
    for statement in lib.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = path.split("::").next().unwrap().trim().to_string();
        // The names exported are the path's leaves: words not followed by `::`.
        let mut rest = path;
        while let Some(start) = rest.find(|c: char| c.is_alphanumeric() || c == '_') {
            rest = &rest[start..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let (word, after) = rest.split_at(end);
            if !after.trim_start().starts_with("::") && word != "self" {
                exports.insert(word.to_string(), module.clone());
            }
            rest = after;
        }
    }
    exports
}

/// The arrows between the top-level modules of the crate whose sources are in `src`, rooted
/// at `src/ROOT` (`lib.rs` or `main.rs`).
fn graph_of(src: &Path, crate_root: &str) -> Graph {
    let exports = root_exports(&std::fs::read_to_string(src.join(crate_root)).unwrap());
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(src, f)).collect();
    let resolve = |name: &str| -> Option<String> {
        if modules.contains(name) {
            Some(name.to_string())
        } else {
            exports.get(name).cloned()
        }
    };
    let mut graph = Graph::new();
    for file in &files {
        let Some(from) = module_of(src, file) else {
            continue;
        };
        for name in crate_names(&code(&std::fs::read_to_string(file).unwrap())) {
            if let Some(to) = resolve(&name).filter(|to| *to != from) {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    graph
}

/// The library's graph, with what build.rs writes into the generated code (the inner type,
/// the replaced types) as arrows from `generated`.
fn graph() -> Graph {
    let src = root().join("src");
    let mut graph = graph_of(&src, "lib.rs");
    let exports = root_exports(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let build = std::fs::read_to_string(root().join("build.rs")).unwrap();
    for name in crate_names(&code(&build)) {
        let to = if src.join(format!("{name}.rs")).exists() || src.join(&name).is_dir() {
            Some(name)
        } else {
            exports.get(&name).cloned()
        };
        if let Some(to) = to.filter(|to| to != "generated") {
            graph.entry("generated".into()).or_default().insert(to);
        }
    }
    graph
}

/// A circle of the graph, if it has one.
fn circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut found = path[i..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// Asserts that `graph` (the modules of `folder`) has the arrows `expected` (the parse sees
/// the arrows that matter: an empty graph would pass) and no circle.
fn assert_layers(graph: &Graph, folder: &str, expected: &[(&str, &str)]) {
    for (from, to) in expected {
        assert!(
            graph.get(*from).is_some_and(|t| t.contains(*to)),
            "expected the arrow {from} -> {to} in {folder}: {graph:#?}"
        );
    }
    if let Some(found) = circle(graph) {
        panic!(
            "import circle in {folder}: {}\nall arrows: {graph:#?}",
            found.join(" -> ")
        );
    }
    for (from, to) in graph {
        println!(
            "{from} -> {}",
            to.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
}

#[test]
fn the_modules_of_src_have_no_import_circle() {
    assert_layers(
        &graph(),
        "src/",
        &[
            ("client", "transport"),
            ("auth", "transport"),
            ("transport", "context"),
            ("generated", "transport"),
            ("onboarding", "client"),
        ],
    );
}

#[test]
fn the_modules_of_the_cli_have_no_import_circle() {
    assert_layers(
        &graph_of(&root().join("cli/src"), "main.rs"),
        "cli/src/",
        &[
            ("commands", "journal"),
            ("commands", "feed"),
            ("feed", "journal"),
            ("output", "journal"),
        ],
    );
}

#[test]
fn the_check_finds_a_circle() {
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        graph.entry(from.into()).or_default().insert(to.into());
    }
    assert_eq!(circle(&graph).unwrap().join(" -> "), "a -> b -> c -> a");
    graph.get_mut("c").unwrap().remove("a");
    assert_eq!(circle(&graph), None);
    assert_eq!(
        crate_names("use crate::{auth::{self, X}, context::Y, Error};\nlet a = crate::scrub::f();"),
        ["auth", "context", "Error", "scrub"]
    );
    let exports =
        root_exports("pub use client::{biometrics::{A, B}, C};\npub use generated::{biometrics};");
    assert_eq!(exports["A"], "client");
    assert_eq!(exports["C"], "client");
    assert_eq!(exports["biometrics"], "generated");
}
