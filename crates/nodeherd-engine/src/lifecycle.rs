//! `start` / `stop` / `restart`: act on nodes' systemd units and verify the result by re-reading it.
//!
//! May not touch: output formats (front ends render the outcomes), unit files or versions.

use crate::fleet;
use nodeherd_core::facts::systemd::{self, Action, UnitState};
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_transport::ssh::{Command, Pool, SshError};
use serde::Serialize;
use std::time::{Duration, Instant};

/// The outcome of one action on one node.
#[derive(Debug, Clone, Serialize)]
pub struct ActionOutcome {
    pub host: String,
    pub node: String,
    pub unit: String,
    pub action: Action,
    /// True when the action ran and the unit is in the state the action promises.
    pub ok: bool,
    /// The unit as re-read after the action.
    pub after: Option<UnitState>,
    /// What went wrong (sanitized), when `ok` is false.
    pub error: Option<String>,
    #[serde(with = "millis")]
    pub took: Duration,
}

mod millis {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

/// Perform `action` on every node, hosts in parallel (at most `forks`), nodes of one host in order.
pub async fn act(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    action: Action,
    forks: usize,
) -> Vec<ActionOutcome> {
    let groups = crate::fleet::by_host(nodes);
    let per_host = fleet::run_all(groups, forks, |(h, refs)| async move {
        let mut out = Vec::new();
        for r in refs {
            out.push(act_one(pool, inv, h, r, action).await);
        }
        out
    })
    .await;
    per_host.into_iter().flat_map(|(_, v)| v).collect()
}

async fn act_one(
    pool: &Pool,
    inv: &Inventory,
    h: usize,
    r: NodeRef,
    action: Action,
) -> ActionOutcome {
    let host = &inv.hosts[h];
    let node = &host.nodes[r.node];
    let started = Instant::now();
    let result: Result<UnitState, SshError> = async {
        let session = pool.session(&host.target).await?;
        let cmd = systemd::action_command(action, &node.unit).become_root(host.target.become_root);
        session.exec(&cmd).await?.check(&host.name)?;
        let show = systemd::show_command(&[node.unit.as_str()]);
        let out = session.exec(&show).await?.check(&host.name)?;
        systemd::parse_show(&out.stdout_str())
            .into_iter()
            .next()
            .ok_or_else(|| SshError::Channel {
                host: host.name.clone(),
                message: "systemctl show printed nothing".into(),
            })
    }
    .await;
    let (ok, after, error) = match result {
        Ok(state) => {
            let good = if action.expect_active() {
                state.is_active()
            } else {
                !state.is_active() && state.active_state != "deactivating"
            };
            let err = (!good).then(|| {
                let mut m = format!(
                    "after {} the unit is {}/{}",
                    action.verb(),
                    state.active_state,
                    state.sub_state
                );
                if let Some(p) = state.problem() {
                    m.push_str(": ");
                    m.push_str(&p);
                }
                m
            });
            (good, Some(state), err)
        }
        Err(e) => (
            false,
            None,
            Some(nodeherd_core::text::sanitize(&e.to_string())),
        ),
    };
    ActionOutcome {
        host: host.name.clone(),
        node: node.name.clone(),
        unit: node.unit.clone(),
        action,
        ok,
        after,
        error,
        took: started.elapsed(),
    }
}

/// The command a front end may show in a plan or confirmation.
pub fn describe(inv: &Inventory, r: NodeRef, action: Action) -> String {
    let (host, node) = inv.node(r);
    let cmd: Command =
        systemd::action_command(action, &node.unit).become_root(host.target.become_root);
    format!("{}/{}: {}", host.name, node.name, cmd)
}
