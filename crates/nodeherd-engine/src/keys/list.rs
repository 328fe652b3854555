//! Listing the keys of a fleet: every selected validator node through its Keymanager API,
//! every selected Cosmos node's consensus key (public half) and every selected Substrate node's
//! session keys (keystore file names), bounded by `forks`.
//!
//! Owns: which selected nodes are asked and the fan-out over them. May not touch: how the rows
//! are shown or what an empty selection means to a front end (the CLI and the TUI decide).

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_transport::ssh::Pool;

use super::consensus::{self, ConsensusKeyError, ConsensusRow};
use super::keystore::{self, KeystoreError, SessionKeysRow};
use super::onchain;
use super::{KeyRow, keymanager_nodes, list_node};
use crate::fleet;
use crate::keymanager::{Keymanager, KeymanagerError};

/// The keys of one listing, per node, in the order of the inventory.
#[derive(Debug)]
pub struct FleetKeys {
    /// The selected nodes with a Keymanager API and what each answered.
    pub validators: Vec<(NodeRef, Result<Vec<KeyRow>, KeymanagerError>)>,
    /// The selected Cosmos nodes and their consensus key (public half) with its sign state.
    pub consensus: Vec<(NodeRef, Result<ConsensusRow, ConsensusKeyError>)>,
    /// The selected Substrate nodes and the session keys in their keystores.
    pub session: Vec<(NodeRef, Result<SessionKeysRow, KeystoreError>)>,
}

/// The selected Substrate nodes (among `selected`).
pub fn substrate_nodes(inv: &Inventory, selected: &[NodeRef]) -> Vec<NodeRef> {
    keystore::substrate_nodes(inv)
        .into_iter()
        .filter(|r| selected.contains(r))
        .collect()
}

/// The selected nodes (among `selected`) the listing asks: validator nodes, Cosmos nodes.
pub fn fleet_nodes(inv: &Inventory, selected: &[NodeRef]) -> (Vec<NodeRef>, Vec<NodeRef>) {
    let validators = keymanager_nodes(inv)
        .into_iter()
        .filter(|r| selected.contains(r))
        .collect();
    let cosmos = consensus::cosmos_nodes(inv)
        .into_iter()
        .filter(|r| selected.contains(r))
        .collect();
    (validators, cosmos)
}

/// List the keys of every selected key source, at most `forks` nodes of each kind at once
/// (validators and Cosmos nodes concurrently). `details`: also read each key's fee recipient and
/// graffiti (one more request per key), and its index, status and withdrawal credential type from
/// the node's beacon node (one request per node).
pub async fn list_fleet(
    pool: &Pool,
    inv: &Inventory,
    selected: &[NodeRef],
    forks: usize,
    details: bool,
) -> FleetKeys {
    let (nodes, cosmos_nodes) = fleet_nodes(inv, selected);
    let substrate = substrate_nodes(inv, selected);
    let (validators, consensus, session) = tokio::join!(
        fleet::run_all(nodes, forks, |r| async move {
            let km = Keymanager::connect(pool, inv, r).await?;
            let mut rows = list_node(&km, details).await?;
            if details {
                onchain::annotate(pool, inv, r, &mut rows).await;
            }
            Ok(rows)
        }),
        fleet::run_all(cosmos_nodes, forks, |r| async move {
            consensus::read_node(pool, inv, r).await
        }),
        fleet::run_all(substrate, forks, |r| async move {
            keystore::read_node(pool, inv, r).await
        })
    );
    FleetKeys {
        validators,
        consensus,
        session,
    }
}
