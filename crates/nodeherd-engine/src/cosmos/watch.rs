//! What an operator watches on a Cosmos node between upgrades, in one read per node: its chain
//! view (the pending plan, head, block time, time left: [`super::view`]), whether the plan's
//! binary is staged on it, its peers, and, for a validator (`valoper`), its standing
//! ([`super::validator::read`]: jailed, missed blocks, proposals and its votes). The TUI's
//! Cosmos screen shows it from a worker on its own interval.
//!
//! Owns: putting those reads together per node ([`gather`]) and the staged check ([`staged`]:
//! the same layout and halt facts `cosmos upgrade` reads). May not touch: the queries themselves
//! (they are `super::{view, validator}`'s), parsing, the terminal.

use nodeherd_core::cosmos::chain;
use nodeherd_core::facts::layout;
use nodeherd_core::inventory::{Inventory, Node, NodeRef};
use nodeherd_transport::ssh::{Pool, Session};
use serde::Serialize;

use super::validator::{self, ValidatorView};
use super::{ChainView, cosmos_nodes, get, view};

/// Where the pending plan's binary is on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Staged {
    /// `releases/<plan>/` in the node's install dir (staged by `cosmos upgrade`).
    Release,
    /// `cosmovisor/upgrades/<plan>/bin/<daemon>` under the node's home.
    Cosmovisor,
    /// Neither.
    No,
}

/// One Cosmos node as the watch saw it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeWatch {
    pub chain: ChainView,
    /// Whether the pending plan's binary is staged (None: no plan; Err: why it is not known).
    pub staged: Option<Result<Staged, String>>,
    /// CometBFT `/net_info` `n_peers`.
    pub peers: Option<u64>,
    /// The validator's standing (None: no `valoper` or no `api_port` on the node).
    pub validator: Option<ValidatorView>,
}

/// Whether `plan`'s binary is staged for `node`: the program in its install dir's
/// `releases/<plan>/`, else for Cosmovisor. Read from the halt facts the chain upgrade alerts and
/// `apply` read ([`super::stand`]: one command, the same answer); a node without `daemon` and
/// `data_dir` can only be asked whether `releases/<plan>/` exists.
pub async fn staged(session: &Session, node: &Node, plan: &str) -> Result<Staged, String> {
    if node.data_dir.is_some() && node.daemon.is_some() {
        let f = super::stand::facts(session, node, plan).await?;
        return Ok(if f.release_staged.is_some() {
            Staged::Release
        } else if f.cosmovisor_staged.is_some() {
            Staged::Cosmovisor
        } else {
            Staged::No
        });
    }
    let install = node.install_dir.display().to_string();
    let out = session
        .exec(&layout::inspect_command(&install, &node.name))
        .await
        .map_err(|e| first_line(&e.to_string()))?;
    Ok(if layout::parse_inspect(&out.stdout_str()).has(plan) {
        Staged::Release
    } else {
        Staged::No
    })
}

fn first_line(s: &str) -> String {
    nodeherd_core::text::sanitize(s.lines().next().unwrap_or(""))
}

/// Watch one node through its host's session.
pub async fn watch(session: &Session, key: &str, node: &Node) -> NodeWatch {
    let chain = view(session, key, node).await;
    let staged = match &chain.plan {
        Some(p) => Some(staged(session, node, &p.name).await),
        None => None,
    };
    let peers = match node.rpc_port {
        Some(port) => get(session, port, "/net_info")
            .await
            .ok()
            .and_then(|b| chain::parse_peers(&b)),
        None => None,
    };
    let validator = match (&node.valoper, node.api_port) {
        (Some(valoper), Some(port)) => Some(validator::read(session, port, valoper).await),
        _ => None,
    };
    NodeWatch {
        chain,
        staged,
        peers,
        validator,
    }
}

/// Watch the Cosmos nodes among `nodes`, `forks` hosts at once; a host that cannot be reached
/// gives its nodes the error (in their chain view).
pub async fn gather(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    forks: usize,
) -> Vec<NodeWatch> {
    let groups = crate::fleet::by_host(&cosmos_nodes(inv, nodes));
    let per_host = crate::fleet::run_all(groups, forks, |(h, refs)| async move {
        let host = &inv.hosts[h];
        let session = pool.session(&host.target).await;
        let mut out = Vec::new();
        for r in refs {
            let node = &host.nodes[r.node];
            let key = format!("{}/{}", host.name, node.name);
            match &session {
                Ok(s) => out.push(watch(s, &key, node).await),
                Err(e) => out.push(NodeWatch {
                    chain: ChainView {
                        node: key,
                        plan: None,
                        head: None,
                        block_time: None,
                        eta: None,
                        errors: vec![first_line(&e.to_string())],
                    },
                    staged: None,
                    peers: None,
                    validator: None,
                }),
            }
        }
        out
    })
    .await;
    per_host.into_iter().flat_map(|(_, v)| v).collect()
}

#[cfg(test)]
mod tests {
    //! Through the fake host, with the recorded answers of `tests/fixtures/cosmos/`.

    use super::*;
    use crate::testing::{FakeRemote, Match, Reply, fake_pool};
    use std::path::PathBuf;

    const VALOPER: &str = "cosmosvaloper1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnxz90a2";

    fn fixture(name: &str) -> String {
        let p = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/cosmos"
        ))
        .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn inv() -> Inventory {
        let text = format!(
            "[defaults]\nuser = \"root\"\n[hosts.h1]\naddress = \"192.0.2.1\"\n[hosts.h1.nodes.gaia]\nclient = \"cosmos\"\ndaemon = \"gaiad\"\ndata_dir = \"/var/lib/gaia\"\ninstall_dir = \"/opt/nh/gaia\"\nrpc_port = 26657\napi_port = 1317\nvaloper = \"{VALOPER}\"\n[hosts.h2]\naddress = \"192.0.2.2\"\n[hosts.h2.nodes.gaia]\nclient = \"cosmos\"\nrpc_port = 26657\n"
        );
        Inventory::from_sources(vec![(PathBuf::from("/t/hosts.toml"), text)])
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[tokio::test]
    async fn staged_is_read_from_the_halt_facts_or_the_layout_without_a_daemon() {
        let inv = inv();
        let node = &inv.hosts[0].nodes[0];
        let f = FakeRemote::named("h1");
        f.on(
            Match::contains("NEEDED at height"),
            Reply::ok("active=active\n"),
        );
        assert_eq!(staged(&f.session(), node, "v20").await, Ok(Staged::No));
        f.on(
            Match::contains("NEEDED at height"),
            Reply::ok("release=cd34\nactive=active\n"),
        );
        assert_eq!(staged(&f.session(), node, "v19").await, Ok(Staged::Release));
        f.on(
            Match::contains("NEEDED at height"),
            Reply::ok("cosmovisor=yes\nstaged=ab12\nactive=active\n"),
        );
        assert_eq!(
            staged(&f.session(), node, "v20").await,
            Ok(Staged::Cosmovisor)
        );
        // one command a read, and read only
        assert_eq!(f.lines().len(), 3, "{:?}", f.lines());
        assert!(
            f.lines().iter().all(|l| l.contains("NEEDED")),
            "{:?}",
            f.lines()
        );
        // no daemon/data_dir (h2): only the layout can be asked
        let bare = &inv.hosts[1].nodes[0];
        let g = FakeRemote::named("h2");
        g.on(
            Match::contains("/releases/*"),
            Reply::ok("current=\nrelease=v19\n"),
        );
        assert_eq!(staged(&g.session(), bare, "v19").await, Ok(Staged::Release));
        assert_eq!(staged(&g.session(), bare, "v20").await, Ok(Staged::No));
    }

    #[tokio::test]
    async fn gather_reads_plan_staged_peers_and_the_validator_per_node() {
        let inv = inv();
        let f = FakeRemote::named("h1");
        f.http(
            1317,
            "/cosmos/upgrade/v1beta1/current_plan",
            200,
            &fixture("current_plan.json"),
        );
        f.http(26657, "/status", 200, &fixture("status.json"));
        f.http(26657, "/block?height=20739550", 200, &fixture("block.json"));
        f.http(26657, "/net_info", 200, &fixture("net_info.json"));
        f.http(
            1317,
            &format!("/cosmos/staking/v1beta1/validators/{VALOPER}"),
            200,
            &fixture("staking_validator.json"),
        );
        f.http(
            1317,
            "/cosmos/gov/v1/proposals?proposal_status=2",
            200,
            &fixture("gov_proposals_voting.json"),
        );
        // h2 is not in the pool: unreachable
        let pool = fake_pool(std::slice::from_ref(&f));
        let nodes = inv.node_refs();
        let list = gather(&pool, &inv, &nodes, 4).await;
        assert_eq!(list.len(), 2);
        let w = &list[0];
        assert_eq!(w.chain.node, "h1/gaia");
        assert_eq!(w.chain.plan.as_ref().map(|p| p.height), Some(20_739_800));
        assert!(w.chain.eta.is_some(), "{w:?}");
        assert_eq!(w.staged, Some(Ok(Staged::No)));
        assert_eq!(w.peers, Some(2));
        let v = w.validator.as_ref().expect("a validator");
        assert_eq!(v.jailed, Some(false));
        assert_eq!(v.proposals.as_ref().map(Vec::len), Some(1));
        let unreachable = &list[1];
        assert_eq!(unreachable.chain.node, "h2/gaia");
        assert!(!unreachable.chain.errors.is_empty());
        assert!(unreachable.validator.is_none() && unreachable.staged.is_none());
    }
}
