//! The shape rules of docs/architecture.md, checked on every `cargo test`:
//! - no production source file over 600 lines (a file's inline `#[cfg(test)] mod ... {` at its
//!   end and `tests.rs` files do not count);
//! - no function over 120 lines outside tests;
//! - no front end imports another (the CLI never names the TUI crate; the TUI crate cannot name
//!   the CLI: its Cargo.toml has no dependency on the binary);
//! - the core crate depends on no async runtime, transport or UI crate.
//! - no module imports a sibling module that imports it back, directly or around a circle
//!   (through `super::` or its `crate::` path; what both need gets a module of its own).
//!
//! Text rules, on purpose: they read the sources the way a reviewer would, with no build step.

use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 120;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Every production source file: `src/` and `crates/*/src/`, without `tests.rs` files.
fn production_files() -> Vec<PathBuf> {
    let mut all = Vec::new();
    rust_files(&root().join("src"), &mut all);
    let mut crates: Vec<_> = std::fs::read_dir(root().join("crates"))
        .expect("crates/ exists")
        .flatten()
        .map(|e| e.path().join("src"))
        .collect();
    crates.sort();
    for c in crates {
        rust_files(&c, &mut all);
    }
    all.retain(|p| p.file_name().is_some_and(|n| n != "tests.rs"));
    all
}

/// The lines before the file's trailing test module (`#[cfg(test)]` followed by `mod`).
fn production_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for i in 0..lines.len().saturating_sub(1) {
        let next = lines[i + 1].trim_start();
        // an inline test module (`mod tests {`): a `mod tests;` declaration near the top of a
        // file must not end the count (that hid 676 production lines once)
        if lines[i].trim() == "#[cfg(test)]"
            && (next.starts_with("mod ") || next.starts_with("pub mod "))
            && next.contains('{')
        {
            end = i;
            break;
        }
    }
    let mut prod = lines[..end].to_vec();
    while prod.last().is_some_and(|l| l.trim().is_empty()) {
        prod.pop();
    }
    prod
}

/// The name of the function a line declares, if it does.
fn fn_name(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.next() {
        match w {
            "pub" | "async" | "const" | "unsafe" | "extern" => continue,
            w if w.starts_with("pub(") => continue,
            "fn" => {
                let name = words.next()?;
                let end = name
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(name.len());
                return Some(&name[..end]);
            }
            _ => return None,
        }
    }
    None
}

/// Braces of a line, ignoring string and char literals and line comments.
fn brace_delta(line: &str) -> (i32, bool) {
    let (mut delta, mut opened) = (0, false);
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_str => {
                chars.next();
            }
            '"' => in_str = !in_str,
            '\'' if !in_str => {
                // a char literal ('{', '\'', '\u{1b}'); a lifetime ('a) has no closing quote
                let mut ahead = chars.clone();
                match (ahead.next(), ahead.next()) {
                    (Some('\\'), Some(_)) => {
                        chars.next();
                        chars.next();
                        for c in chars.by_ref() {
                            if c == '\'' {
                                break;
                            }
                        }
                    }
                    (Some(_), Some('\'')) => {
                        chars.next();
                        chars.next();
                    }
                    _ => {}
                }
            }
            '/' if !in_str && chars.peek() == Some(&'/') => break,
            '{' if !in_str => {
                delta += 1;
                opened = true;
            }
            '}' if !in_str => delta -= 1,
            _ => {}
        }
    }
    (delta, opened)
}

/// (line, name, length) of every function longer than `MAX_FN_LINES`.
fn long_functions(prod: &[&str]) -> Vec<(usize, String, usize)> {
    let mut out = Vec::new();
    for (i, line) in prod.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        let (mut depth, mut started) = (0, false);
        for (j, l) in prod.iter().enumerate().skip(i) {
            let (d, opened) = brace_delta(l);
            depth += d;
            started |= opened;
            if !started && l.trim_end().ends_with(';') {
                break;
            }
            if started && depth <= 0 {
                let len = j - i + 1;
                if len > MAX_FN_LINES {
                    out.push((i + 1, name.to_string(), len));
                }
                break;
            }
        }
    }
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

#[test]
fn no_production_file_over_600_lines() {
    let over: Vec<String> = production_files()
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            let n = production_lines(&text).len();
            (n > MAX_FILE_LINES).then(|| format!("{}: {n} lines", rel(p)))
        })
        .collect();
    assert!(
        over.is_empty(),
        "split these along their seams:\n{}",
        over.join("\n")
    );
}

#[test]
fn no_function_over_120_lines_outside_tests() {
    let mut over = Vec::new();
    for p in production_files() {
        let text = std::fs::read_to_string(&p).expect("readable source");
        for (line, name, len) in long_functions(&production_lines(&text)) {
            over.push(format!("{}:{line} fn {name}: {len} lines", rel(&p)));
        }
    }
    assert!(
        over.is_empty(),
        "extract steps from these:\n{}",
        over.join("\n")
    );
}

#[test]
fn the_checker_sees_a_long_function_and_a_test_module() {
    let body = "    x += 1;\n".repeat(MAX_FN_LINES);
    let text = format!(
        "fn long() {{\n{body}}}\n\nfn short() {{ let s = \"}}\"; }}\n#[cfg(test)]\nmod tests {{\n}}\n"
    );
    let prod = production_lines(&text);
    assert!(!prod.iter().any(|l| l.contains("mod tests")));
    let found = long_functions(&prod);
    assert_eq!(found, vec![(1, "long".to_string(), MAX_FN_LINES + 2)]);
}

#[test]
fn the_cli_does_not_import_the_tui() {
    let mut files = Vec::new();
    rust_files(&root().join("src/cli"), &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|p| {
            std::fs::read_to_string(p).is_ok_and(|t| {
                t.lines()
                    .any(|l| !l.trim_start().starts_with("//") && l.contains("nodeherd_tui"))
            })
        })
        .map(|p| rel(p))
        .collect();
    assert!(
        offenders.is_empty(),
        "the CLI names the TUI crate in: {offenders:?}"
    );
}

#[test]
fn lower_crates_do_not_depend_on_higher_ones_or_on_io_and_ui_crates() {
    let deps = |c: &str| {
        let text = std::fs::read_to_string(root().join("crates").join(c).join("Cargo.toml"))
            .expect("manifest");
        let deps = text.split("[dependencies]").nth(1).unwrap_or("");
        let deps = deps.split("\n[").next().unwrap_or("");
        deps.lines()
            .filter_map(|l| l.split(['=', '.']).next())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && !s.starts_with('#'))
            .collect::<Vec<_>>()
    };
    let forbidden: &[(&str, &[&str])] = &[
        (
            "nodeherd-core",
            &[
                "tokio",
                "russh",
                "reqwest",
                "ratatui",
                "crossterm",
                "clap",
                "futures",
                "nodeherd-transport",
                "nodeherd-engine",
                "nodeherd-tui",
                "nodeherd-lab",
            ],
        ),
        (
            "nodeherd-transport",
            &[
                "ratatui",
                "crossterm",
                "clap",
                "nodeherd-engine",
                "nodeherd-tui",
                "nodeherd-lab",
            ],
        ),
        (
            "nodeherd-engine",
            &[
                "ratatui",
                "crossterm",
                "clap",
                "nodeherd-tui",
                "nodeherd-lab",
            ],
        ),
        ("nodeherd-tui", &["clap", "nodeherd-lab"]),
        (
            "nodeherd-lab",
            &[
                "ratatui",
                "crossterm",
                "clap",
                "russh",
                "nodeherd-engine",
                "nodeherd-tui",
            ],
        ),
    ];
    for (krate, bad) in forbidden {
        let have = deps(krate);
        let wrong: Vec<_> = bad
            .iter()
            .filter(|b| have.iter().any(|h| h == *b))
            .collect();
        assert!(wrong.is_empty(), "{krate} must not depend on {wrong:?}");
    }
}

#[test]
fn a_test_module_declared_at_the_top_does_not_hide_the_file() {
    let text = "mod a;\n#[cfg(test)]\nmod tests;\n\nfn one() {}\nfn two() {}\n";
    assert_eq!(production_lines(text).len(), 6);
}

/// The names a source text takes from `prefix` (`super::`, `crate::plan::`): `prefix::name` and
/// each top-level item of `prefix::{a, b::C, ...}`.
fn names_after(text: &str, prefix: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in text.match_indices(prefix) {
        // `crate::plan::` must not match inside `nodeherd_core::crate::...` or `xsuper::`
        if text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        {
            continue;
        }
        let rest = &text[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut item) = (0, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            out.push(ident(&item));
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|n| !n.is_empty() && n != "self");
    out
}

/// For each folder of production modules: which sibling module each file names (through
/// `super::` or its `crate::` path). Folder roots (`mod.rs`, `lib.rs`, `main.rs`) are left out:
/// a child may use its parent's items.
fn sibling_edges() -> Vec<(PathBuf, String, String)> {
    let mut edges = Vec::new();
    for p in production_files() {
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if matches!(stem, "mod" | "lib" | "main") {
            continue;
        }
        let dir = p.parent().expect("a file has a folder").to_path_buf();
        let sibling =
            |n: &str| dir.join(format!("{n}.rs")).exists() || dir.join(n).join("mod.rs").exists();
        // the folder's module path below its crate's src/ (`plan`, `keys`, `upgrade::engine`)
        let src = p
            .ancestors()
            .find(|a| a.file_name().is_some_and(|n| n == "src"))
            .expect("under a src/");
        let modpath: Vec<String> = dir
            .strip_prefix(src)
            .expect("under src/")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let text = std::fs::read_to_string(&p).expect("readable source");
        let code: String = production_lines(&text)
            .into_iter()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut names = names_after(&code, "super::");
        if !modpath.is_empty() {
            names.extend(names_after(
                &code,
                &format!("crate::{}::", modpath.join("::")),
            ));
        }
        for n in names {
            if n != stem && sibling(&n) {
                edges.push((dir.clone(), stem.to_string(), n));
            }
        }
    }
    edges.sort();
    edges.dedup();
    edges
}

#[test]
fn sibling_modules_never_import_each_other_in_a_circle() {
    use std::collections::{BTreeMap, BTreeSet};
    let mut graph: BTreeMap<(PathBuf, String), BTreeSet<String>> = BTreeMap::new();
    for (dir, from, to) in sibling_edges() {
        graph.entry((dir, from)).or_default().insert(to);
    }
    // a circle: a path from a module back to itself through its siblings
    let mut circles = Vec::new();
    for (dir, start) in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in graph.get(&(dir.clone(), at.clone())).into_iter().flatten() {
                if next == start {
                    circles.push(format!("{}: {} -> {start}", rel(dir), path.join(" -> ")));
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules that import each other back (move what both need into a module of its own):\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_circle_checker_reads_use_groups_and_crate_paths() {
    let text = "use super::{exit, table::{A, B}, self};\nuse super::steps::Ctx;\nlet x = crate::plan::chain::Step::Stage;\nlet y = nodeherd_core::plan::apply::Z;";
    assert_eq!(names_after(text, "super::"), vec!["exit", "table", "steps"]);
    assert_eq!(names_after(text, "crate::plan::"), vec!["chain"]);
}
