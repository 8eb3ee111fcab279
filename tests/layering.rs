//! The code's shape, checked: library errors state facts and name no CLI flag or command (the
//! CLI adds those as hints), and the modules of `src/api` import one another without cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LIBRARY_LAYERS: &[&str] = &["src/hsm", "src/signer", "src/api", "src/workflow"];
const COMMANDS: &[&str] = &[
    "key",
    "token",
    "service-account",
    "api",
    "doctor",
    "permission",
    "serve",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            // Unit-test folders may name flags in their fixtures.
            if path.file_name().is_some_and(|n| n != "tests") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code without its `mod tests` block.
fn production_code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The contents of the string literals in `code`, comments skipped.
fn string_literals(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '\'' => {
                // A char literal such as '"' must not open a string; lifetimes have no
                // closing quote within two characters and are left alone.
                let ahead: String = chars.clone().take(3).collect();
                if ahead.starts_with("\\") && ahead.ends_with('\'') {
                    chars.nth(2);
                } else if ahead.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            '"' => {
                let mut lit = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        c => lit.push(c),
                    }
                }
                out.push(lit);
            }
            _ => {}
        }
    }
    out
}

fn names_a_flag(text: &str) -> bool {
    text.match_indices("--")
        .any(|(i, _)| text[i + 2..].starts_with(|c: char| c.is_ascii_lowercase()))
}

fn names_a_command(text: &str) -> bool {
    COMMANDS.iter().any(|c| {
        text.match_indices(&format!("dfns-hsm {c}"))
            .any(|(i, m)| !text[i + m.len()..].starts_with(|c: char| c.is_alphanumeric()))
    })
}

#[test]
fn library_messages_name_no_cli_flag_or_command() {
    let mut files = Vec::new();
    for layer in LIBRARY_LAYERS {
        rust_files(&root().join(layer), &mut files);
    }
    assert!(files.len() > 30, "found only {} files", files.len());
    let mut offending = Vec::new();
    for file in &files {
        for lit in string_literals(&production_code(file)) {
            if names_a_flag(&lit) || names_a_command(&lit) {
                offending.push(format!("{}: {lit:?}", file.display()));
            }
        }
    }
    assert!(
        offending.is_empty(),
        "library strings that name CLI flags or commands (move them to src/cli/hint.rs):\n{}",
        offending.join("\n")
    );
}

#[test]
fn the_scanner_finds_what_it_looks_for() {
    let code = "// --not-this\nlet a = \"check --module\"; let c = '\"'; let b = \"run `dfns-hsm key list`\";";
    let lits = string_literals(code);
    assert_eq!(lits, ["check --module", "run `dfns-hsm key list`"]);
    assert!(names_a_flag(&lits[0]) && names_a_command(&lits[1]));
    assert!(!names_a_flag("-----BEGIN PUBLIC KEY-----"));
    assert!(!names_a_command("dfns-hsm needs two sessions"));
}

/// The top-level `src/api` modules a file uses through `super::` or `crate::api::`.
fn api_imports(code: &str, depth: usize) -> BTreeSet<String> {
    let prefixes = ["super::".repeat(depth), "crate::api::".to_owned()];
    let mut found = BTreeSet::new();
    for prefix in &prefixes {
        for (i, _) in code.match_indices(prefix.as_str()) {
            // `super::super::` seen from a depth-1 prefix is a deeper path, not a sibling.
            let rest = &code[i + prefix.len()..];
            if rest.starts_with("super::") {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for part in group[..end].split(',') {
                    let name = part.trim().split("::").next().unwrap_or("");
                    if part.contains("::")
                        || name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    {
                        found.insert(name.to_owned());
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                found.insert(name);
            }
        }
    }
    found.retain(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
    found
}

#[test]
fn api_modules_import_each_other_without_cycles() {
    let api = root().join("src/api");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(&api, &mut files);
    for file in &files {
        let rel = file.strip_prefix(&api).expect("under src/api");
        let parts: Vec<String> = rel
            .with_extension("")
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let module = parts[0].clone();
        if module == "mod" {
            continue; // the facade re-exports everything
        }
        // A file in a folder module reaches its siblings with one more `super::`.
        let depth = if parts.len() > 1 { 2 } else { 1 };
        let mut deps = api_imports(&production_code(file), depth);
        deps.remove(&module);
        graph.entry(module).or_default().extend(deps);
    }
    assert!(
        graph.contains_key("retry") && graph.contains_key("client"),
        "{graph:?}"
    );

    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for dep in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(dep, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle in src/api: {}", cycle.join(" -> "));
        }
    }
}
