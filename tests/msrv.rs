//! The declared minimum Rust versions (`rust-version`) hold: every crate in the normal and build
//! dependency tree (as locked here) of the library, the CLI and the sandbox declares a minimum
//! no newer than the member's own. (The crate's own code is held to it by clippy's
//! `incompatible_msrv` lint, which reads `rust-version`: `.ci/run` runs clippy with `-D warnings`.)

use std::collections::{BTreeSet, HashMap};

/// "1.88" or "1.88.0" as (1, 88, 0).
fn version(text: &str) -> (u64, u64, u64) {
    let mut parts = text.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// The packages `cargo metadata` names, by id, and the resolved graph's nodes, by id.
struct Graph {
    packages: HashMap<String, serde_json::Value>,
    nodes: HashMap<String, serde_json::Value>,
}

impl Graph {
    fn load() -> Graph {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--locked"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo metadata runs");
        assert!(
            out.status.success(),
            "cargo metadata: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let by_id = |list: serde_json::Value| {
            list.as_array()
                .unwrap()
                .iter()
                .map(|v| (v["id"].as_str().unwrap().to_string(), v.clone()))
                .collect()
        };
        Graph {
            packages: by_id(meta["packages"].take()),
            nodes: by_id(meta["resolve"]["nodes"].take()),
        }
    }

    /// The normal and build dependencies of `name`, transitively (dev-dependencies are ours).
    fn shipped_with(&self, name: &str) -> BTreeSet<&str> {
        let root = self
            .packages
            .values()
            .find(|p| p["name"] == name && p["source"].is_null())
            .map(|p| p["id"].as_str().unwrap())
            .unwrap_or_else(|| panic!("{name} is a workspace member"));
        let mut seen = BTreeSet::new();
        let mut queue = vec![root];
        while let Some(id) = queue.pop() {
            for dep in self.nodes[id]["deps"].as_array().unwrap() {
                let shipped = dep["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"] != "dev");
                let dep_id = dep["pkg"].as_str().unwrap();
                if shipped && seen.insert(dep_id) {
                    queue.push(dep_id);
                }
            }
        }
        seen
    }

    /// The crates under `name` that declare a newer minimum Rust than `name` does.
    fn too_new_for(&self, name: &str) -> (String, Vec<String>) {
        let member = self
            .packages
            .values()
            .find(|p| p["name"] == name && p["source"].is_null())
            .unwrap();
        let declared = member["rust_version"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} declares rust-version"))
            .to_string();
        let under = self.shipped_with(name);
        assert!(under.len() > 50, "the dependency walk found {name}'s tree");
        let too_new = under
            .iter()
            .filter_map(|id| {
                let p = &self.packages[*id];
                let needs = p["rust_version"].as_str()?;
                (version(needs) > version(&declared)).then(|| {
                    format!(
                        "{} {} needs Rust {needs}",
                        p["name"].as_str().unwrap(),
                        p["version"].as_str().unwrap()
                    )
                })
            })
            .collect();
        (declared, too_new)
    }
}

#[test]
fn every_dependency_builds_on_the_declared_minimum_rust() {
    let graph = Graph::load();
    // The library (what dependents compile), the CLI and the sandbox (`cargo install`).
    for member in ["preventor", "preventor-cli", "preventor-sandbox"] {
        let (declared, too_new) = graph.too_new_for(member);
        assert!(
            too_new.is_empty(),
            "{member} declares rust-version = {declared}, but these dependencies need newer: \
             {too_new:#?}"
        );
    }
}
