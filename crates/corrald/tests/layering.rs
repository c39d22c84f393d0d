//! corrald's modules depend on each other one way only: each top-level module may use the
//! modules below it in `LAYERS`, never one beside or above it. A new back-edge (a `crate::`
//! path into a module of the same or a higher layer) fails this test, naming the file and
//! line. docs/ARCHITECTURE.md shows the same layers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top-level modules, lowest first. Modules on one line are one layer: they may not use
/// each other.
const LAYERS: &[&[&str]] = &[
    &["sys", "testutil"],
    &["logs"],
    &["reaper", "sockets", "statefile", "events", "notify"],
    &["process"],
    &["supervisor"],
    &["rpc"],
    &["cli"],
    &["check"],
    &["upgrade"],
    &["daemon"],
    &["main"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`process/task.rs` → `process`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

/// Every `crate::NAME` used in `text`, with its line number; `use crate::{a, b}` lists too.
fn crate_refs(text: &str) -> Vec<(usize, String)> {
    let mut refs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(list) = rest.strip_prefix('{') {
                for item in list.split([',', '}']) {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        refs.push((n + 1, name));
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                refs.push((n + 1, name));
            }
        }
    }
    refs
}

#[test]
fn dependencies_run_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut graph: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(own) = layer_of(&module) else {
            problems.push(format!(
                "{}: module `{module}` is in no layer of tests/layering.rs",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read");
        for (line, used) in crate_refs(&text) {
            if used == module {
                continue;
            }
            let Some(theirs) = layer_of(&used) else {
                problems.push(format!(
                    "{}:{line}: uses `crate::{used}`, which is in no layer",
                    file.display()
                ));
                continue;
            };
            graph
                .entry(module.clone())
                .or_default()
                .insert(used.clone());
            if theirs >= own {
                problems.push(format!(
                    "{}:{line}: `{module}` uses `crate::{used}`, which is not below it",
                    file.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "back-edges in corrald's module graph:\n{}",
        problems.join("\n")
    );
    // Each layer is used by something above it (a stale LAYERS entry would hide a rename).
    for layer in LAYERS.iter().skip(1) {
        for m in *layer {
            if *m == "main" || *m == "daemon" {
                // main.rs calls `daemon::main` through its own `mod` declaration.
                continue;
            }
            assert!(
                graph.values().any(|uses| uses.contains(*m)),
                "nothing uses `{m}`: is LAYERS up to date?"
            );
        }
    }
}
