//! Cosmos SDK nodes: what their chain plans (a pending upgrade, its height, the time left), read
//! through the SSH session from the node's own REST API and CometBFT RPC, and the chain upgrade
//! at the halt height ([`upgrade`]); what the TUI watches of each node ([`watch`]: plan, staged,
//! peers, the validator's standing).
//!
//! Owns: the requests to `api_port` (`/cosmos/upgrade/v1beta1/current_plan`) and `rpc_port`
//! (`/status`, `/block`, `/net_info`), the per-node [`ChainView`], and what the alert rules
//! read of a Cosmos node ([`enrich`]; the chain upgrade alerts' and `apply`'s reads are [`stand`]). May not touch: parsing (that is
//! `nodeherd_core::cosmos`), the terminal, the install layout and the guarded switch (those are
//! `crate::upgrade`, used through their public functions).

pub mod stand;
pub mod upgrade;
pub mod validator;
pub mod watch;

#[cfg(test)]
mod tests;

use nodeherd_core::cosmos::chain::{self, Head};
use nodeherd_core::cosmos::plan::{self, UpgradePlan};
use nodeherd_core::inventory::{ClientKind, Inventory, Node, NodeRef};
use nodeherd_transport::http;
use nodeherd_transport::ssh::{Pool, Session};
use serde::Serialize;
use std::time::Duration;

/// How many blocks back the mean block time is measured over.
const SPAN: u64 = 100;

/// GET `path` on the host's loopback `port` through the session; the body of a 200.
pub async fn get(session: &Session, port: u16, path: &str) -> Result<String, String> {
    let stream = session
        .forward(port)
        .await
        .map_err(|e| nodeherd_core::text::sanitize(e.to_string().lines().next().unwrap_or("")))?;
    let r = tokio::time::timeout(Duration::from_secs(10), http::get(stream, path, &[]))
        .await
        .map_err(|_| format!("{path}: no answer within 10s"))?
        .map_err(|e| format!("{path}: {e}"))?;
    if r.status != 200 {
        return Err(format!("{path} answered HTTP {}", r.status));
    }
    Ok(r.text())
}

/// What one Cosmos node says of its chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainView {
    /// `host/node`.
    pub node: String,
    pub plan: Option<UpgradePlan>,
    pub head: Option<Head>,
    /// The mean block time over the last [`SPAN`] blocks.
    #[serde(with = "opt_secs")]
    pub block_time: Option<Duration>,
    /// Time until the plan's height at that pace.
    #[serde(with = "opt_secs")]
    pub eta: Option<Duration>,
    /// What could not be read, and why.
    pub errors: Vec<String>,
}

mod opt_secs {
    pub fn serialize<S: serde::Serializer>(
        d: &Option<std::time::Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

impl ChainView {
    /// `upgrade `v19` at height 20739800, in ~15m 30s` (or without the time when unknown).
    pub fn plan_line(&self) -> Option<String> {
        let p = self.plan.as_ref()?;
        let when = match (&self.head, self.eta) {
            (Some(h), _) if h.height + 1 >= p.height => ", at the height now".to_string(),
            (_, Some(eta)) => format!(", in {}", chain::countdown(eta)),
            _ => String::new(),
        };
        Some(format!("upgrade `{}` at height {}{when}", p.name, p.height))
    }
}

/// The pending plan of `node`'s chain (through its `api_port`).
pub async fn read_plan(session: &Session, node: &Node) -> Result<Option<UpgradePlan>, String> {
    let port = node.api_port.ok_or_else(|| {
        format!(
            "{}: no api_port in the inventory (the Cosmos REST API, usually 1317)",
            node.name
        )
    })?;
    let body = get(session, port, "/cosmos/upgrade/v1beta1/current_plan").await?;
    plan::parse_current_plan(&body).map_err(|e| e.to_string())
}

/// The node's head (through its `rpc_port`).
pub async fn read_head(session: &Session, node: &Node) -> Result<Head, String> {
    let port = node.rpc_port.ok_or_else(|| {
        format!(
            "{}: no rpc_port in the inventory (the CometBFT RPC, usually 26657)",
            node.name
        )
    })?;
    let body = get(session, port, "/status").await?;
    chain::parse_status(&body)
        .ok_or_else(|| format!("/status: not CometBFT's answer: {}", short(&body)))
}

fn short(s: &str) -> String {
    let s = nodeherd_core::text::sanitize(s.trim());
    s.chars().take(120).collect()
}

/// The mean block time behind `head`, from the block [`SPAN`] back (or the first block).
pub(crate) async fn read_block_time(
    session: &Session,
    node: &Node,
    head: &Head,
) -> Option<Duration> {
    let port = node.rpc_port?;
    let then = head.height.saturating_sub(SPAN).max(1);
    if then >= head.height {
        return None;
    }
    let body = get(session, port, &format!("/block?height={then}"))
        .await
        .ok()?;
    let earlier = chain::parse_block(&body)?;
    chain::block_time((head.height, head.time?), earlier)
}

/// Read one node's view of its chain.
pub async fn view(session: &Session, key: &str, node: &Node) -> ChainView {
    let mut v = ChainView {
        node: key.to_string(),
        plan: None,
        head: None,
        block_time: None,
        eta: None,
        errors: vec![],
    };
    match read_plan(session, node).await {
        Ok(p) => v.plan = p,
        Err(e) => v.errors.push(e),
    }
    match read_head(session, node).await {
        Ok(h) => v.head = Some(h),
        Err(e) => v.errors.push(e),
    }
    if let Some(h) = &v.head {
        v.block_time = read_block_time(session, node, h).await;
        if let (Some(p), Some(per)) = (&v.plan, v.block_time) {
            v.eta = Some(chain::eta(h.height, p.height, per));
        }
    }
    v
}

/// The Cosmos nodes among `nodes`.
pub fn cosmos_nodes(inv: &Inventory, nodes: &[NodeRef]) -> Vec<NodeRef> {
    nodes
        .iter()
        .copied()
        .filter(|r| inv.hosts[r.host].nodes[r.node].client == ClientKind::Cosmos)
        .collect()
}

/// The chain views of the Cosmos nodes among `nodes`, `forks` hosts at once; a host that cannot
/// be reached gives its nodes an error.
pub async fn views(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    forks: usize,
) -> Vec<ChainView> {
    let groups = crate::fleet::by_host(&cosmos_nodes(inv, nodes));
    let per_host = crate::fleet::run_all(groups, forks, |(h, refs)| async move {
        let host = &inv.hosts[h];
        let mut out = Vec::new();
        let session = pool.session(&host.target).await;
        for r in refs {
            let node = &host.nodes[r.node];
            let key = format!("{}/{}", host.name, node.name);
            match &session {
                Ok(s) => out.push(view(s, &key, node).await),
                Err(e) => out.push(ChainView {
                    node: key,
                    plan: None,
                    head: None,
                    block_time: None,
                    eta: None,
                    errors: vec![short(&e.to_string())],
                }),
            }
        }
        out
    })
    .await;
    per_host.into_iter().flat_map(|(_, v)| v).collect()
}

/// Fill in what the alert rules need of each reachable Cosmos node among `obs` from its own
/// CometBFT RPC: the height (`head_not_advancing`), catching up (`not_synced`), the seconds since
/// its latest block (`no_new_block_for`) and its peers (`/net_info`, `peers_below`); with a
/// `valoper`, from its REST API: jailed, missed blocks and unvoted proposals ([`validator`]); and
/// its chain's pending upgrade against what is staged and whether it switched ([`watch`]). A
/// node that does not answer keeps them unknown (its unit rule speaks for it).
pub async fn enrich(
    pool: &Pool,
    inv: &Inventory,
    obs: &mut [nodeherd_core::alerts::Observation],
    now: chrono::DateTime<chrono::Utc>,
) {
    for o in obs.iter_mut().filter(|o| o.reachable) {
        let Some(host) = inv.hosts.iter().find(|h| h.name == o.host) else {
            continue;
        };
        let Some(node) = host
            .nodes
            .iter()
            .find(|n| Some(&n.name) == o.node.as_ref() && n.client == ClientKind::Cosmos)
        else {
            continue;
        };
        let Ok(session) = pool.session(&host.target).await else {
            continue;
        };
        let head = read_head(&session, node).await.ok();
        if let Some(h) = &head {
            #[allow(clippy::cast_precision_loss)]
            {
                o.head = Some(h.height as f64);
                o.block_age_secs = h
                    .time
                    .map(|t| ((now - t).num_milliseconds().max(0) as f64) / 1000.0);
            }
            o.synced = Some(!h.catching_up);
        }
        let key = format!("{}/{}", host.name, node.name);
        stand::observe(&session, &key, node, head.as_ref(), o, now).await;
        if let (Some(valoper), Some(port)) = (&node.valoper, node.api_port) {
            validator::observe(&session, port, valoper, o, now).await;
        }
        if let Some(port) = node.rpc_port {
            if let Ok(body) = get(&session, port, "/net_info").await {
                #[allow(clippy::cast_precision_loss)]
                {
                    o.peers = chain::parse_peers(&body).map(|p| p as f64);
                }
            }
        }
    }
}
