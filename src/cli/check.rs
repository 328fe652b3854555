//! `nodeherd check`: validate the inventory, the playbooks (`-p FILE`..., default every
//! `playbooks/*.toml`; the declared state against the inventory only for `-p` files, as a
//! playbook names the hosts of the inventory it was written for) and the alerts file
//! (`--alerts PATH`, default `playbooks/alerts.toml`),
//! printing every problem of every file with its file:line (exit 1 when any, 0 otherwise; `--json`
//! lists them); `--explain HOST`: each connection setting of HOST and where it came from.

use super::context::{self, Fail};
use super::{Output, exit};
use nodeherd_core::alerts;
use nodeherd_core::inventory::{self, ConfigError, Host, Inventory, jump_chain};
use nodeherd_core::plan::desired::{DesiredState, StateError};
use nodeherd_core::playbook::Playbook;
use std::path::{Path, PathBuf};

/// Where the playbooks are looked for when none is given.
const PLAYBOOK_DIR: &str = "playbooks";
/// The alerts file read when none is given (the one `nodeherd alerts` reads).
const ALERTS_FILE: &str = "playbooks/alerts.toml";

/// What `check` is asked to look at.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Print each connection setting of HOST and where it came from (inventory, ssh_config, default).
    #[arg(long, value_name = "HOST")]
    pub explain: Option<String>,
    /// A playbook to check (repeatable); default every playbooks/*.toml but the alerts file.
    #[arg(short, long = "playbook", value_name = "FILE")]
    pub playbook: Vec<PathBuf>,
    /// The alerts file to check; default the one `alerts` reads (playbooks/alerts.toml).
    #[arg(long, value_name = "PATH", env = "NODEHERD_ALERTS")]
    pub alerts: Option<PathBuf>,
}

/// What was found in one file set.
enum Found {
    Config(ConfigError),
    State(StateError),
}

/// One file read, and whether it is clean.
struct Checked {
    kind: &'static str,
    file: String,
    ok: bool,
}

pub fn run(inventory: &Path, a: &CheckArgs, out: Output) -> Result<i32, Fail> {
    if let Some(name) = a.explain.as_deref() {
        let inv = context::load_inventory(inventory, out.color)?;
        let Some(host) = inv.host(name) else {
            let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
            eprintln!(
                "error: no host \"{name}\" in the inventory (hosts: {})",
                names.join(", ")
            );
            return Err(Fail(exit::USAGE));
        };
        print_explain(host, out);
        return Ok(exit::OK);
    }
    let mut found: Vec<Found> = Vec::new();
    let mut files: Vec<Checked> = Vec::new();
    context::require_found(inventory)?;
    let inv = match Inventory::load(inventory) {
        Ok(inv) => {
            for f in &inv.sources {
                files.push(checked("inventory", &f.display().to_string(), true));
            }
            Some(inv)
        }
        Err(e) => {
            files.push(checked(
                "inventory",
                &inventory.display().to_string(),
                false,
            ));
            found.push(Found::Config(e));
            None
        }
    };
    let alerts_path = a
        .alerts
        .clone()
        .or_else(|| Some(PathBuf::from(ALERTS_FILE)).filter(|p| p.exists()));
    // A playbook's declared state names the hosts of the inventory it was written for: it is
    // checked against this inventory when the playbook is named with -p.
    let against = inv.as_ref().filter(|_| !a.playbook.is_empty());
    for p in playbook_files(&a.playbook, alerts_path.as_deref()) {
        let (ok, more) = check_playbook(&p, against);
        files.push(checked("playbook", &p.display().to_string(), ok));
        found.extend(more);
    }
    if let Some(p) = &alerts_path {
        let name = p.display().to_string();
        let result = match std::fs::read_to_string(p) {
            Ok(text) => alerts::check_file(&name, &text).map(|_| ()),
            Err(e) => Err(io_problem("alerts", &name, &e)),
        };
        files.push(checked("alerts", &name, result.is_ok()));
        if let Err(e) = result {
            found.push(Found::Config(e));
        }
    }
    let problems: Vec<serde_json::Value> = found.iter().flat_map(problems_json).collect();
    if out.json {
        // `hosts`, `nodes`, `groups` and `files` (the inventory's) as before; then every file read.
        let mut v = inv
            .as_ref()
            .map_or_else(|| serde_json::json!({}), summary_json);
        v["ok"] = serde_json::json!(problems.is_empty());
        v["checked"] = files
            .iter()
            .map(|f| serde_json::json!({"kind": f.kind, "file": f.file, "ok": f.ok}))
            .collect();
        v["problems"] = serde_json::Value::Array(problems.clone());
        println!("{v}");
    } else {
        for f in &found {
            let shown = match f {
                Found::Config(e) => inventory::render(e, out.color),
                Found::State(e) => inventory::render_diagnostic(e, out.color),
            };
            eprint!("{shown}");
        }
        if let Some(inv) = &inv {
            println!("{}", summary_line(inv));
        }
        for f in files.iter().filter(|f| f.kind != "inventory") {
            let word = if f.ok { "ok" } else { "has problems" };
            println!("{} {}: {word}", f.kind, f.file);
        }
        if !problems.is_empty() {
            let bad = files.iter().filter(|f| !f.ok).count();
            let (n, s) = (problems.len(), if problems.len() == 1 { "" } else { "s" });
            println!("{n} problem{s} in {bad} of {} files", files.len());
        }
    }
    Ok(if problems.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}

fn checked(kind: &'static str, file: &str, ok: bool) -> Checked {
    Checked {
        kind,
        file: file.to_string(),
        ok,
    }
}

/// `-p` files, or every `playbooks/*.toml` (sorted) but the alerts file.
fn playbook_files(given: &[PathBuf], alerts: Option<&Path>) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    let same = |p: &Path| {
        alerts.is_some_and(|a| {
            p == a
                || p.canonicalize()
                    .ok()
                    .is_some_and(|c| Some(c) == a.canonicalize().ok())
        })
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(PLAYBOOK_DIR)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
                .filter(|p| !same(p))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A playbook's `[upgrade]` policy and shape, then (with an inventory) its declared state.
fn check_playbook(path: &Path, inv: Option<&Inventory>) -> (bool, Vec<Found>) {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return (
                false,
                vec![Found::Config(io_problem("playbook", &name, &e))],
            );
        }
    };
    if let Err(e) = Playbook::parse(&name, &text) {
        return (false, vec![Found::Config(e)]);
    }
    match inv.map(|inv| DesiredState::parse(&[(name, text)], inv)) {
        Some(Err(e)) => (false, vec![Found::State(e)]),
        _ => (true, Vec::new()),
    }
}

fn io_problem(domain: &'static str, name: &str, e: &std::io::Error) -> ConfigError {
    ConfigError::io(domain, name, &format!("cannot read {name}: {e}"))
}

fn problems_json(f: &Found) -> Vec<serde_json::Value> {
    match f {
        Found::Config(e) => e
            .problems
            .iter()
            .map(|p| {
                let (file, line, column) = p
                    .location()
                    .map_or((None, None, None), |(f, l, c)| (Some(f), Some(l), Some(c)));
                serde_json::json!({
                    "file": file, "line": line, "column": column,
                    "code": p.code_name(), "message": p.message, "help": p.help,
                })
            })
            .collect(),
        Found::State(e) => e
            .problems
            .iter()
            .map(|p| {
                let place = p.span.as_ref().and_then(|s| p.src.place(s));
                serde_json::json!({
                    "file": p.src.name(), "line": place.map(|x| x.0), "column": place.map(|x| x.1),
                    "code": "playbook::state", "message": p.message, "help": p.help,
                })
            })
            .collect(),
    }
}

fn summary_json(inv: &Inventory) -> serde_json::Value {
    let nodes: usize = inv.hosts.iter().map(|h| h.nodes.len()).sum();
    serde_json::json!({
        "hosts": inv.hosts.len(),
        "nodes": nodes,
        "groups": inv.groups.len(),
        "files": inv.sources,
    })
}

fn summary_line(inv: &Inventory) -> String {
    let nodes: usize = inv.hosts.iter().map(|h| h.nodes.len()).sum();
    let files: Vec<String> = inv
        .sources
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    format!(
        "inventory ok: {} hosts, {} nodes, {} groups ({})",
        inv.hosts.len(),
        nodes,
        inv.groups.len(),
        files.join(", ")
    )
}

fn print_explain(host: &Host, out: Output) {
    let jumps: Vec<String> = jump_chain(&host.target)
        .iter()
        .map(|j| format!("{}@{}:{}", j.user, j.address, j.port))
        .collect();
    if out.json {
        let v = serde_json::json!({
            "host": host.name,
            "settings": host.origins,
            "jump_chain": jumps,
            "notes": host.notes,
        });
        println!("{v}");
        return;
    }
    println!("host {}", host.name);
    let width = host
        .origins
        .iter()
        .map(|o| o.setting.len())
        .max()
        .unwrap_or(0);
    for o in &host.origins {
        let from = match &o.place {
            Some(p) => format!("{} {p}", o.source),
            None => o.source.to_string(),
        };
        println!(
            "  {:<width$}  {}  ({})",
            o.setting,
            o.value,
            out.paint(&from, "2")
        );
    }
    if jumps.is_empty() {
        println!("  {:<width$}  (direct)", "jump_chain");
    } else {
        println!(
            "  {:<width$}  {} (first hop first)",
            "jump_chain",
            jumps.join(" -> ")
        );
    }
    for n in &host.notes {
        println!("  note: {n}");
    }
}
