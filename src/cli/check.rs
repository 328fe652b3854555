//! `nodeherd check`: validate the inventory, print every problem at once (exit 2) or a summary;
//! `--explain HOST`: each connection setting of HOST and where it came from.

use super::context::{self, Fail};
use super::{Output, exit};
use nodeherd_core::inventory::{Host, jump_chain};
use std::path::Path;

pub fn run(inventory: &Path, explain: Option<&str>, out: Output) -> Result<i32, Fail> {
    let inv = context::load_inventory(inventory, out.color)?;
    if let Some(name) = explain {
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
    let nodes: usize = inv.hosts.iter().map(|h| h.nodes.len()).sum();
    if out.json {
        let v = serde_json::json!({
            "ok": true,
            "hosts": inv.hosts.len(),
            "nodes": nodes,
            "groups": inv.groups.len(),
            "files": inv.sources,
        });
        println!("{v}");
    } else {
        let files: Vec<String> = inv
            .sources
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        println!(
            "inventory ok: {} hosts, {} nodes, {} groups ({})",
            inv.hosts.len(),
            nodes,
            inv.groups.len(),
            files.join(", ")
        );
    }
    Ok(exit::OK)
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
