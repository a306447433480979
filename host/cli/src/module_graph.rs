//! The crate's modules depend on each other without a cycle.
//!
//! Decision: a cycle (domain code taking the whole command line while the
//! command line embeds a command's flags) makes every module depend on
//! every other; this test keeps the graph a DAG. It reads the sources and
//! takes an edge from a file to each crate file it names by a `crate::` or
//! `super::` path outside its tests. A parent's `mod` lines are the module
//! tree, not a dependency, so they are not edges; anything else is,
//! re-exports included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src`, by module path (`serve::service::tenant`).
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(name);
                walk(&path, &p, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut p = prefix.to_vec();
                if name != "mod" && name != "main" {
                    p.push(name);
                }
                out.insert(p.join("::"), path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out
}

/// The file a path names: its longest prefix that is a module.
fn resolve(segments: &[&str], known: &BTreeMap<String, PathBuf>) -> Option<String> {
    (1..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find(|m| known.contains_key(m))
}

/// Edges from module `me` (whose source is `text`) to other modules.
fn edges(me: &str, text: &str, known: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    // Tests may reach anywhere; only the code itself counts.
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let here: Vec<&str> = me.split("::").filter(|s| !s.is_empty()).collect();
    let child_prefix = if me.is_empty() {
        String::new()
    } else {
        format!("{me}::")
    };
    // Children are named by bare paths (`use client::X`, `tasks::run(..)`).
    let children: Vec<&str> = known
        .keys()
        .filter_map(|k| k.strip_prefix(child_prefix.as_str()))
        .filter(|k| !k.is_empty() && !k.contains("::"))
        .collect();
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") || line.starts_with("mod ") || line.starts_with("pub mod ") {
            continue;
        }
        let mut at = 0;
        while at < line.len() {
            let rest = &line[at..];
            // A path starts after a character that cannot be inside one.
            let starts_path = at == 0 || {
                let prev = line[..at].chars().next_back().unwrap();
                !(prev.is_alphanumeric() || prev == '_' || prev == ':')
            };
            let word_end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let step = rest.chars().next().map_or(1, char::len_utf8);
            if !starts_path || word_end == 0 {
                at += step;
                continue;
            }
            let mut path = &rest[..word_end];
            let mut base: Vec<&str> = Vec::new();
            if let Some(p) = path.strip_prefix("crate::") {
                path = p;
            } else if path.starts_with("super::") {
                let mut up = 0;
                while let Some(p) = path.strip_prefix("super::") {
                    path = p;
                    up += 1;
                }
                base = here[..here.len().saturating_sub(up)].to_vec();
            } else if children.iter().any(|c| path.starts_with(&format!("{c}::"))) {
                base = here.clone();
            } else {
                at += word_end;
                continue;
            }
            // `use super::{a, b}`: each name in the list is a path.
            let mut names: Vec<String> = vec![path.trim_end_matches("::").to_string()];
            if path.ends_with("::") && rest[word_end..].starts_with('{') {
                let list = &rest[word_end + 1..];
                let list = &list[..list.find('}').unwrap_or(list.len())];
                names = list
                    .split(',')
                    .map(|s| format!("{path}{}", s.trim()))
                    .collect();
            }
            for name in names {
                let mut segs = base.clone();
                segs.extend(name.split("::").filter(|s| !s.is_empty() && *s != "*"));
                if let Some(m) = resolve(&segs, known)
                    && m != me
                {
                    out.insert(m);
                }
            }
            at += word_end;
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    known
        .iter()
        .map(|(m, path)| {
            let text = std::fs::read_to_string(path).unwrap();
            (m.clone(), edges(m, &text, &known))
        })
        .collect()
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(m) {
            Some(2) => return None,
            Some(1) => {
                let from = stack.iter().position(|s| s == m).unwrap();
                let mut cycle = stack[from..].to_vec();
                cycle.push(m.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(m.to_string(), 1);
        stack.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, graph, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(m.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in graph.keys() {
        if let Some(c) = visit(m, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_crate_has_no_import_cycle() {
    let g = graph();
    // `cargo test module_graph -- --nocapture` shows who imports whom.
    for (m, to) in &g {
        let name = if m.is_empty() { "main" } else { m };
        println!("{name} -> {to:?}");
    }
    if let Some(cycle) = find_cycle(&g) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn args_is_a_leaf_and_only_main_reads_the_command_line() {
    let g = graph();
    assert_eq!(g["args"], BTreeSet::new(), "args imports {:?}", g["args"]);
    let readers: Vec<&String> = g
        .iter()
        .filter(|(m, to)| to.contains("args") && !m.is_empty())
        .map(|(m, _)| m)
        .collect();
    assert!(readers.is_empty(), "domain code reads args: {readers:?}");
}

#[test]
fn the_checker_sees_a_cycle_and_resolves_paths() {
    let known: BTreeMap<String, PathBuf> = ["", "a", "b", "b::c"]
        .iter()
        .map(|m| (m.to_string(), PathBuf::from(format!("{m}.rs"))))
        .collect();
    let from_c = edges(
        "b::c",
        "use super::super::a::X;\nuse crate::b::{c, d};",
        &known,
    );
    assert_eq!(from_c, BTreeSet::from(["a".to_string(), "b".to_string()]));
    // A parent naming its child by a bare path depends on it; `mod` is not.
    let from_b = edges("b", "mod c;\nfn f() { c::run(); }", &known);
    assert_eq!(from_b, BTreeSet::from(["b::c".to_string()]));
    assert_eq!(edges("b", "mod c;", &known), BTreeSet::new());
    let from_a = edges(
        "a",
        "use crate::b::c::Y;\n#[cfg(test)]\nmod tests { use crate::b; }",
        &known,
    );
    assert_eq!(from_a, BTreeSet::from(["b::c".to_string()]));
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), from_a);
    g.insert("b::c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".to_string(), "b::c".to_string(), "a".to_string()])
    );
}
