//! Substrate session keys listed per node: the public keys in a `client = "substrate"` node's
//! keystore, read over SSH from the keystore directory's FILE NAMES (a key file is named
//! `hex(key type) + hex(public key)`; its contents, the secret phrase, are never read).
//!
//! Owns: which nodes are listed, the listing's run and its errors. May not touch: the command
//! and the parser (that is `nodeherd_core::substrate::keystore`), the terminal.

use nodeherd_core::inventory::{ClientKind, Inventory, NodeRef};
use nodeherd_core::substrate::keystore::{self, Listing};
use nodeherd_transport::ssh::Pool;
use serde::Serialize;

/// One Substrate node's keystore as `keys list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionKeysRow {
    /// `host/node`.
    pub node: String,
    #[serde(flatten)]
    pub listing: Listing,
}

/// Why a node's keystore could not be listed (the message does not repeat the node).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeystoreError {
    #[error(
        "no keystore_dir and no data_dir in the inventory (the node's --keystore-path, or its \
         --base-path whose chains/<chain>/keystore holds the keys)"
    )]
    NoPath,
    #[error("SSH: {0}")]
    Ssh(String),
    #[error("cannot list {0}: {1}")]
    Unreadable(String, String),
    #[error("no keystore at {0}")]
    Missing(String),
}

/// Every Substrate node of the inventory.
pub fn substrate_nodes(inv: &Inventory) -> Vec<NodeRef> {
    inv.node_refs()
        .into_iter()
        .filter(|r| inv.node(*r).1.client == ClientKind::Substrate)
        .collect()
}

/// List node `r`'s keystore: `keystore_dir`, else every `<data_dir>/chains/*/keystore`.
pub async fn read_node(
    pool: &Pool,
    inv: &Inventory,
    r: NodeRef,
) -> Result<SessionKeysRow, KeystoreError> {
    let (host, node) = inv.node(r);
    let dir = node.keystore_dir.as_ref().map(|d| d.display().to_string());
    let base = node.data_dir.as_ref().map(|d| d.display().to_string());
    let where_ = match (&dir, &base) {
        (Some(d), _) => d.clone(),
        (None, Some(b)) => format!("{b}/chains/*/keystore"),
        (None, None) => return Err(KeystoreError::NoPath),
    };
    let first = |s: &str| nodeherd_core::text::sanitize(s.lines().next().unwrap_or(""));
    let session = pool
        .session(&host.target)
        .await
        .map_err(|e| KeystoreError::Ssh(first(&e.to_string())))?;
    let cmd = keystore::list_command(dir.as_deref(), base.as_deref().unwrap_or(""));
    let out = session
        .exec(&cmd)
        .await
        .map_err(|e| KeystoreError::Ssh(first(&e.to_string())))?;
    if !out.success() {
        return Err(KeystoreError::Unreadable(
            where_,
            first(&String::from_utf8_lossy(&out.stderr)),
        ));
    }
    let listing = keystore::parse_listing(&out.stdout_str());
    if let Some(d) = listing.unreadable.first() {
        return Err(KeystoreError::Unreadable(
            d.clone(),
            first(&String::from_utf8_lossy(&out.stderr)),
        ));
    }
    if listing.keystores.is_empty() {
        return Err(KeystoreError::Missing(where_));
    }
    Ok(SessionKeysRow {
        node: format!("{}/{}", host.name, node.name),
        listing,
    })
}

#[cfg(test)]
mod tests {
    //! Through the fake host, with the recorded listing of `tests/fixtures/substrate/`.

    use super::*;
    use crate::testing::{FakeRemote, Match, Reply, fake_pool};
    use std::path::PathBuf;

    const LS: &str = include_str!("../../../../tests/fixtures/substrate/keystore_ls.txt");

    fn inv(extra: &str) -> Inventory {
        let text = format!(
            "[defaults]\nuser = \"root\"\n[hosts.h1]\naddress = \"192.0.2.1\"\n[hosts.h1.nodes.dot]\nclient = \"substrate\"\n{extra}\n"
        );
        Inventory::from_sources(vec![(PathBuf::from("/t/hosts.toml"), text)])
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    const R: NodeRef = NodeRef { host: 0, node: 0 };

    #[tokio::test]
    async fn the_default_keystores_under_the_base_path_are_listed_by_name() {
        let f = FakeRemote::named("h1");
        f.on(Match::contains("nodeherd-keystore base"), Reply::ok(LS));
        let pool = fake_pool(std::slice::from_ref(&f));
        let row = read_node(&pool, &inv("data_dir = \"/var/lib/polkadot\""), R)
            .await
            .unwrap();
        assert_eq!(row.node, "h1/dot");
        assert_eq!(row.listing.keys.len(), 7);
        let lines = f.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].ends_with("base /var/lib/polkadot"), "{lines:?}");
    }

    #[tokio::test]
    async fn keystore_dir_wins_and_a_missing_one_is_an_error() {
        let f = FakeRemote::named("h1");
        let pool = fake_pool(std::slice::from_ref(&f));
        let e = read_node(
            &pool,
            &inv("keystore_dir = \"/srv/ks\"\ndata_dir = \"/b\""),
            R,
        )
        .await
        .unwrap_err();
        assert_eq!(e, KeystoreError::Missing("/srv/ks".into()));
        assert!(f.lines()[0].ends_with("dir /srv/ks"), "{:?}", f.lines());
        let e = read_node(&pool, &inv(""), R).await.unwrap_err();
        assert_eq!(e, KeystoreError::NoPath);
        assert_eq!(f.lines().len(), 1, "nothing run without a path");
    }
}
