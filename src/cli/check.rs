//! `nodeherd check`: validate the inventory, print every problem at once (exit 2) or a summary.

use super::context::{self, Fail};
use super::{Output, exit};
use std::path::Path;

pub fn run(inventory: &Path, out: Output) -> Result<i32, Fail> {
    let inv = context::load_inventory(inventory, out.color)?;
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
