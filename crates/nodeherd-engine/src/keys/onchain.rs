//! What the beacon chain says of a validator node's keys: index, status and withdrawal credential
//! type, asked of the Beacon API that serves the node (its own `rest_port`, else the host's beacon
//! node) through the SSH session, in one request per 30 keys.
//!
//! Owns: that request and filling [`KeyRow::chain`] / [`KeyRow::chain_error`]. May not touch:
//! decoding the answer (`nodeherd_core::keymanager::onchain`), the keymanager, how rows are shown.

use std::time::Duration;

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keymanager::onchain;
use nodeherd_transport::http;
use nodeherd_transport::ssh::Pool;

use super::KeyRow;

/// A key the chain does not know (never deposited, or not yet seen by the beacon node).
pub const NOT_ON_CHAIN: &str = "not on chain";

/// Fill each row's chain fields; a node whose beacon node cannot be asked gets the reason in
/// every row's `chain_error` (the listing itself still succeeds).
pub async fn annotate(pool: &Pool, inv: &Inventory, r: NodeRef, rows: &mut [KeyRow]) {
    if rows.is_empty() {
        return;
    }
    let pubkeys: Vec<&str> = rows.iter().map(|k| k.pubkey.as_str()).collect();
    match ask(pool, inv, r, &pubkeys).await {
        Ok(known) => {
            for row in rows.iter_mut() {
                match known.get(&row.pubkey) {
                    Some(c) => row.chain = Some(c.clone()),
                    None => row.chain_error = Some(NOT_ON_CHAIN.into()),
                }
            }
        }
        Err(e) => {
            for row in rows.iter_mut() {
                row.chain_error = Some(e.clone());
            }
        }
    }
}

async fn ask(
    pool: &Pool,
    inv: &Inventory,
    r: NodeRef,
    pubkeys: &[&str],
) -> Result<std::collections::BTreeMap<String, onchain::OnChain>, String> {
    let (host, node) = inv.node(r);
    let port = host
        .beacon_api_port(node)
        .ok_or("no beacon node with a rest_port on this host in the inventory")?;
    let session = pool
        .session(&host.target)
        .await
        .map_err(|e| e.to_string())?;
    let mut known = std::collections::BTreeMap::new();
    for path in onchain::validators_paths(pubkeys) {
        let stream = session.forward(port).await.map_err(|e| e.to_string())?;
        let answer = tokio::time::timeout(
            Duration::from_secs(15),
            http::request(stream, "GET", &path, &[], None),
        )
        .await
        .map_err(|_| format!("beacon node on port {port}: no answer within 15s"))?
        .map_err(|e| format!("beacon node on port {port}: {e}"))?;
        match answer.status {
            200 => known.extend(onchain::parse_validators(&answer.text())?),
            // some clients answer 404 when none of the ids is known
            404 => {}
            s => return Err(format!("beacon node on port {port} answered HTTP {s}")),
        }
    }
    Ok(known)
}
