//! What the release commands (`upgrade`, `rollback`, `history`, `releases`, `cosmos`) share:
//! their common arguments, the upgrade policy playbook they load, the nodes they target and how
//! they print JSON.
//!
//! Owns: turning the common arguments into an inventory, a playbook and engine targets. May not
//! touch: SSH or the hosts (the commands hand the targets to `nodeherd_engine`).

use super::context::{self, Fail};
use super::{Output, exit};
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::playbook::Playbook;
use nodeherd_engine::upgrade::engine::Target;
use std::path::Path;

/// Shared arguments of the upgrade commands.
#[derive(Debug, Clone)]
pub struct Common<'a> {
    pub inventory: &'a Path,
    pub selector: Option<&'a str>,
    pub limit: Option<&'a str>,
    pub playbook: Option<&'a Path>,
    pub yes: bool,
    pub out: Output,
}

/// The default playbook when `-p` is not given (if it exists).
pub const DEFAULT_PLAYBOOK: &str = "playbooks/upgrade-policy.toml";

pub(crate) fn load_playbook(p: Option<&Path>, color: bool) -> Result<Playbook, Fail> {
    let path = match p {
        Some(p) => p.to_path_buf(),
        None => super::context::playbook_default(DEFAULT_PLAYBOOK),
    };
    if p.is_none() && !path.exists() {
        return Ok(Playbook::default());
    }
    Playbook::load(&path).map_err(|e| playbook_problem(&e, color))
}

/// Print every problem of a playbook as a report (exit 2).
pub(crate) fn playbook_problem(e: &nodeherd_core::playbook::PlaybookError, color: bool) -> Fail {
    eprint!("{}", nodeherd_core::inventory::render(e, color));
    Fail(exit::USAGE)
}

pub(crate) fn targets(c: &Common<'_>) -> Result<(Inventory, Vec<NodeRef>, Vec<Target>), Fail> {
    let inv = context::load_inventory(c.inventory, c.out.color)?;
    let pb = load_playbook(c.playbook, c.out.color)?;
    let nodes = context::select(&inv, c.selector, c.limit)?;
    // Every node can be gated: the probe table says how (a node with nothing to probe is
    // gated on its unit staying up, and the plan says so).
    let ts = nodes.iter().map(|r| Target::new(&inv, *r, &pb)).collect();
    Ok((inv, nodes, ts))
}

pub(crate) fn print_json<T: serde::Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into())
    );
}
