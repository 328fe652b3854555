//! Where a Cosmos node stands against its chain's pending upgrade, read for the chain upgrade
//! alerts (`cosmos_plan_not_staged_within`, `cosmos_missed_switch_after`) and for `plan`/`apply`
//! (the `chain-upgrade` step): the plan (from the node's REST API, or from the
//! `upgrade-info.json` its upgrade module wrote when it halted), its head, the time left at the
//! recent block time, and the host's halt facts (the plan's program staged in nodeherd's or
//! Cosmovisor's layout, the halt and how long ago).
//!
//! Owns: those reads (through the SSH session). May not touch: the judgements and their words
//! (`nodeherd_core::cosmos::watch`, `nodeherd_core::plan::chain`), the hosts (it only reads).

use super::{get, read_block_time, read_head, read_plan};
use nodeherd_core::alerts::Observation;
use nodeherd_core::cosmos::chain::{self, HaltFacts, Head};
use nodeherd_core::cosmos::plan::UpgradePlan;
use nodeherd_core::cosmos::watch;
use nodeherd_core::inventory::{ClientKind, Inventory, Node, NodeRef};
use nodeherd_core::plan::chain::ChainFacts;
use nodeherd_transport::ssh::{Pool, Session};
use std::collections::BTreeMap;
use std::time::Duration;

/// A node's stand against its chain's pending plan.
#[derive(Debug, Clone)]
pub struct Reading {
    pub plan: UpgradePlan,
    pub facts: HaltFacts,
    /// Time left to the plan's height (the node below it, block time known).
    pub eta: Option<Duration>,
    /// Seconds since the plan's block (the node past it, that block readable).
    pub past_secs: Option<f64>,
}

/// The host's halt facts of `node` for `plan` (one command; `cosmos::watch` reads whether the
/// plan's program is staged from them too).
pub(super) async fn facts(session: &Session, node: &Node, plan: &str) -> Result<HaltFacts, String> {
    let (Some(home), Some(daemon)) = (&node.data_dir, node.daemon.as_deref()) else {
        return Err(
            "no `daemon` and `data_dir` in the inventory (the program name and the node's home)"
                .into(),
        );
    };
    let cmd = chain::halt_facts_command(
        &home.display().to_string(),
        &node.unit,
        plan,
        daemon,
        &node.install_dir.display().to_string(),
    );
    let o = session
        .exec(&cmd)
        .await
        .map_err(|e| nodeherd_core::text::sanitize(e.to_string().lines().next().unwrap_or("")))?;
    Ok(chain::parse_halt_facts(&o.stdout_str()))
}

/// Read `node`'s stand (`head`: what its RPC said now, None when it did not answer). `Ok(None)`:
/// no plan pending.
pub async fn read(
    session: &Session,
    node: &Node,
    head: Option<&Head>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Reading>, String> {
    let plan = match read_plan(session, node).await {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(None),
        // A halted node's REST API is down with it: its upgrade-info.json names the plan.
        Err(api) => match facts(session, node, "").await?.upgrade_info {
            Some(p) => p,
            None => return Err(format!("cannot read the plan: {api}")),
        },
    };
    let f = facts(session, node, &plan.name).await?;
    let (mut eta, mut past_secs) = (None, None);
    if let Some(h) = head {
        if h.height <= plan.height {
            eta = read_block_time(session, node, h)
                .await
                .map(|per| chain::eta(h.height, plan.height, per));
        } else if let Some(port) = node.rpc_port {
            #[allow(clippy::cast_precision_loss)]
            if let Ok(body) = get(session, port, &format!("/block?height={}", plan.height)).await {
                past_secs = chain::parse_block(&body)
                    .map(|(_, t)| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
            }
        }
    }
    Ok(Some(Reading {
        plan,
        facts: f,
        eta,
        past_secs,
    }))
}

/// Fill `o`'s chain upgrade fields for the Cosmos node `key` (`host/node`). A node whose stand
/// cannot be read (no `daemon`/`data_dir`, plan unreadable) stays unknown.
pub async fn observe(
    session: &Session,
    key: &str,
    node: &Node,
    head: Option<&Head>,
    o: &mut Observation,
    now: chrono::DateTime<chrono::Utc>,
) {
    match read(session, node, head, now).await {
        Ok(None) => {
            o.cosmos_unstaged = Some(None);
            o.cosmos_missed = Some(None);
        }
        Ok(Some(r)) => {
            o.cosmos_unstaged = Some(watch::not_staged(key, &r.plan, head, r.eta, &r.facts));
            o.cosmos_missed = Some(watch::missed_switch(
                key,
                &r.plan,
                head,
                r.past_secs,
                &r.facts,
            ));
        }
        Err(_) => {}
    }
}

/// The chain facts `plan`/`apply` need of the Cosmos nodes among `nodes`, `forks` hosts at once.
pub async fn gather(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    forks: usize,
) -> BTreeMap<NodeRef, ChainFacts> {
    let groups = crate::fleet::by_host(&super::cosmos_nodes(inv, nodes));
    let per_host = crate::fleet::run_all(groups, forks, |(h, refs)| async move {
        let host = &inv.hosts[h];
        let session = pool.session(&host.target).await;
        let mut out = Vec::new();
        for r in refs {
            let node = &host.nodes[r.node];
            debug_assert_eq!(node.client, ClientKind::Cosmos);
            let f = match &session {
                Err(e) => ChainFacts::Unreadable(nodeherd_core::text::sanitize(
                    e.to_string().lines().next().unwrap_or(""),
                )),
                Ok(s) => {
                    let head = read_head(s, node).await.ok();
                    match read(s, node, head.as_ref(), chrono::Utc::now()).await {
                        Ok(None) => ChainFacts::NoPlan,
                        Ok(Some(r)) => ChainFacts::Pending {
                            plan: r.plan,
                            head,
                            halt: r.facts,
                            eta: r.eta,
                        },
                        Err(e) => ChainFacts::Unreadable(e),
                    }
                }
            };
            out.push((r, f));
        }
        out
    })
    .await;
    per_host.into_iter().flat_map(|(_, v)| v).collect()
}
