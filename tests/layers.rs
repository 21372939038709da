//! The crate's modules depend on each other in one direction only.
//!
//! ARCHITECTURE.md lists the layers; this test reads every file under `src/`
//! and fails when a module names (`crate::…`) one of a layer above its own,
//! or a sibling in its own layer. Paths through the crate root's re-exports
//! (`crate::FeatureSchema`) count as the module they re-export.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Layers, lowest first. A module may use modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    &["schema"],
    &["model"],
    &["deployment"],
    &["artifact"],
    &["registry"],
    &["import"],
    &["error"],
    &["server"],
    &["batching", "monitor", "reload", "rank"],
    &["transport", "serving"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and string literals, so a doc link or a
/// message that mentions `crate::x` does not count.
fn code_only(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal such as '"' or '\n' (not a lifetime).
            let end = b[i + 1..]
                .iter()
                .position(|&c| c == b'\'')
                .map_or(b.len(), |p| i + 2 + p);
            i = end;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Every name that follows `crate::` directly, or stands at the top level of
/// a `crate::{…}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::` or `other_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    names.push(item.trim().split("::").next().unwrap().trim().to_owned());
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else if depth == 1 {
                    item.push(c);
                } else {
                    item.push(' ');
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

/// Names the crate root re-exports, with the module each comes from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    map.insert("Error".to_owned(), "error".to_owned());
    map.insert("Result".to_owned(), "error".to_owned());
    for stmt in code_only(lib).split(';') {
        let Some(path) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let (module, items) = path.split_once("::").unwrap_or((path, ""));
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let last = item.trim().rsplit("::").next().unwrap_or("").trim();
            if !last.is_empty() {
                map.insert(last.to_owned(), module.trim().to_owned());
            }
        }
    }
    map
}

#[test]
fn lower_layers_never_import_higher_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let reexports = root_reexports(&fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut seen_modules = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = first.trim_end_matches(".rs");
        if module == "lib" || module == "bin" {
            continue;
        }
        let own = layer_of(module).unwrap_or_else(|| {
            panic!("src/{module} is in no layer: add it to LAYERS and ARCHITECTURE.md")
        });
        seen_modules += 1;
        let code = code_only(&fs::read_to_string(file).unwrap());
        for name in crate_paths(&code) {
            let target = if name.starts_with(char::is_uppercase) {
                reexports
                    .get(&name)
                    .unwrap_or_else(|| {
                        panic!("{}: crate::{name} is no root re-export", rel.display())
                    })
                    .clone()
            } else if name == "self" || name == "super" {
                continue;
            } else {
                name.clone()
            };
            if target == module {
                continue;
            }
            let Some(theirs) = layer_of(&target) else {
                violations.push(format!(
                    "src/{}: crate::{name} is in no layer",
                    rel.display()
                ));
                continue;
            };
            if theirs >= own {
                violations.push(format!(
                    "src/{} (layer {own}, `{module}`) uses crate::{name} (layer {theirs}, `{target}`)",
                    rel.display()
                ));
            }
        }
    }
    assert!(
        seen_modules > 20,
        "read only {seen_modules} files under src/"
    );
    assert!(
        violations.is_empty(),
        "imports that point up or sideways:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_scanner_sees_groups_nested_paths_and_skips_comments() {
    let code = code_only(
        "use crate::{a::B, c, d::{e, f::G}};\n// crate::hidden\nlet x = crate::h::i(\"crate::no\");\nlet c = '\"'; $crate::not_ours;",
    );
    assert_eq!(crate_paths(&code), ["a", "c", "d", "h"]);
    let map =
        root_reexports("pub use server::{InProcessServer, ModelServer};\npub use model::Model;");
    assert_eq!(map["InProcessServer"], "server");
    assert_eq!(map["Model"], "model");
    assert_eq!(map["Error"], "error");
}
