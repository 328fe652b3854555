//! `status`: what every selected node is doing, read in one round trip per host.
//!
//! Owns: running the status fact on each host (bounded fan-out) and turning a host that could not
//! be asked into an error per node. May not touch: parsing (that is `nodeherd_core::facts::status`),
//! output formats.

use crate::fleet;
use chrono::Utc;
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_transport::ssh::{Command, Pool, SshError};
use std::collections::BTreeSet;

pub use nodeherd_core::facts::status::{
    HostUnitFile, NodeStatus, parse_status_output, parse_unit_files, status_script,
    status_script_with_files, version_from_link,
};

/// Read the status of `nodes`, at most `forks` hosts at once. Never fails as a whole: a host that
/// cannot be reached gives its nodes an `error`.
pub async fn gather(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    forks: usize,
) -> Vec<NodeStatus> {
    gather_with_unit_files(pool, inv, nodes, forks, &BTreeSet::new()).await
}

/// [`gather`], also reading the unit file nodeherd writes (`/etc/systemd/system/<unit>`) of the
/// nodes in `unit_files`, in the same one exec per host.
pub async fn gather_with_unit_files(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    forks: usize,
    unit_files: &BTreeSet<NodeRef>,
) -> Vec<NodeStatus> {
    let groups = crate::fleet::by_host(nodes);
    let per_host = fleet::run_all(groups, forks, |(h, refs)| async move {
        gather_host(pool, inv, h, &refs, unit_files).await
    })
    .await;
    per_host.into_iter().flat_map(|(_, v)| v).collect()
}

async fn gather_host(
    pool: &Pool,
    inv: &Inventory,
    h: usize,
    refs: &[NodeRef],
    unit_files: &BTreeSet<NodeRef>,
) -> Vec<NodeStatus> {
    let host = &inv.hosts[h];
    let now = Utc::now();
    let blank = |r: &NodeRef, err: Option<String>| {
        let node = &host.nodes[r.node];
        NodeStatus {
            host: host.name.clone(),
            node: node.name.clone(),
            client: node.client.to_string(),
            unit: node.unit.clone(),
            unit_state: None,
            version: None,
            error: err,
            unit_file: None,
            last_log: None,
            checked_at: now,
        }
    };
    let result: Result<Vec<NodeStatus>, SshError> = async {
        let session = pool.session(&host.target).await?;
        let units: Vec<&str> = refs
            .iter()
            .map(|r| host.nodes[r.node].unit.as_str())
            .collect();
        let dirs: Vec<String> = refs
            .iter()
            .map(|r| host.nodes[r.node].install_dir.display().to_string())
            .collect();
        let with_file: Vec<usize> = (0..refs.len())
            .filter(|i| unit_files.contains(&refs[*i]))
            .collect();
        let paths: Vec<String> = with_file
            .iter()
            .map(|i| format!("/etc/systemd/system/{}", host.nodes[refs[*i].node].unit))
            .collect();
        let script = status_script_with_files(&units, &dirs, &paths);
        let out = session
            .exec(&Command::new("sh").arg("-c").arg(&script))
            .await?
            .check(&host.name)?;
        let text = out.stdout_str();
        let (states, versions) = parse_status_output(&text, refs.len());
        let mut files = parse_unit_files(&text, with_file.len()).into_iter();
        let mut file_of: Vec<Option<HostUnitFile>> = vec![None; refs.len()];
        for i in &with_file {
            file_of[*i] = files.next().flatten();
        }
        let mut rows = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            let mut row = blank(r, None);
            let state = states.get(i).cloned();
            row.error = state
                .as_ref()
                .and_then(nodeherd_core::facts::systemd::UnitState::problem)
                .map(|p| nodeherd_core::text::sanitize(&p));
            row.version = versions.get(i).cloned().flatten();
            row.unit_file = file_of[i].take();
            row.unit_state = state;
            rows.push(row);
        }
        // Only for units that are down: their last complaint, to say why.
        for row in &mut rows {
            let down = row
                .unit_state
                .as_ref()
                .is_some_and(|u| u.exists() && !u.is_active());
            if down {
                let cmd = Command::new("journalctl")
                    .arg("--unit")
                    .arg(&row.unit)
                    .arg("--lines=1")
                    .arg("--priority=warning")
                    .arg("--output=cat")
                    .arg("--no-pager")
                    .arg("--quiet")
                    .become_root(host.target.become_root);
                if let Ok(o) = session.exec(&cmd).await {
                    let line = nodeherd_core::text::sanitize(o.stdout_str().trim());
                    if !line.is_empty() {
                        row.last_log = Some(line);
                    }
                }
            }
        }
        Ok(rows)
    }
    .await;
    match result {
        Ok(rows) => rows,
        Err(e) => {
            let msg = nodeherd_core::text::sanitize(&e.to_string());
            refs.iter().map(|r| blank(r, Some(msg.clone()))).collect()
        }
    }
}
