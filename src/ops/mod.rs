//! Operations on nodes: the engine behind every front end (CLI, `--json`, TUI).
//!
//! Owns: what is gathered and done per node over SSH, and the typed results. May not touch: the
//! terminal or output formats (front ends render the results), nor inventory parsing.

pub mod alerts;
pub mod consensus_keys;
pub mod keyfiles;
pub mod keys;
pub mod lifecycle;
pub mod logs;
pub mod metrics;
pub mod notify;
pub mod smtp;
pub mod status;

use crate::inventory::{Inventory, NodeRef};
use std::collections::BTreeMap;

/// Group selected nodes by host, keeping inventory order: one SSH session serves all nodes of a host.
pub fn by_host(nodes: &[NodeRef]) -> Vec<(usize, Vec<NodeRef>)> {
    let mut map: BTreeMap<usize, Vec<NodeRef>> = BTreeMap::new();
    for n in nodes {
        map.entry(n.host).or_default().push(*n);
    }
    map.into_iter().collect()
}

/// The names of the hosts behind a set of nodes, for confirmations and messages.
pub fn host_names(inv: &Inventory, nodes: &[NodeRef]) -> Vec<String> {
    by_host(nodes)
        .into_iter()
        .map(|(h, _)| inv.hosts[h].name.clone())
        .collect()
}
