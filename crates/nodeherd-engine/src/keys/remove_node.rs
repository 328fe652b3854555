//! Removing keys from one node named in the inventory: its Keymanager API and its host's SSH
//! session opened, then [`super::remove`] (slashing data saved before anything is reported).
//!
//! Owns: reaching the node for a removal, and its journal line on the node's host. May not touch: the order of the removal's steps (that
//! is [`super::remove`]), confirmations and output (front ends).

use std::path::Path;

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_transport::ssh::{Pool, SshError};

use super::{RemoveError, RemoveOutcome};
use crate::keymanager::{Keymanager, KeymanagerError};

/// Why a removal from a node did not run (or failed before anything was deleted).
#[derive(Debug, thiserror::Error)]
pub enum RemoveNodeError {
    /// The Keymanager API could not be reached: nothing removed.
    #[error("{0}")]
    Connect(KeymanagerError),
    /// The host's SSH session (for the host copy of the slashing data): nothing removed.
    #[error("{0}")]
    Session(SshError),
    #[error("{0}")]
    Remove(RemoveError),
}

/// Remove `pubkeys` from node `r`, saving their slashing data under `state_dir` and on the host,
/// and journal it there. Confirmation is the front end's job and happens before this is called.
pub async fn remove_from_node(
    pool: &Pool,
    inv: &Inventory,
    r: NodeRef,
    pubkeys: &[String],
    state_dir: &Path,
) -> Result<RemoveOutcome, RemoveNodeError> {
    let res = remove_inner(pool, inv, r, pubkeys, state_dir).await;
    let line = super::lines::remove_line(
        &nodeherd_core::journal::who(),
        &crate::record::node_key(inv, r),
        pubkeys,
        &res,
    );
    let _ = crate::record::record_on(pool, inv, r, &line).await;
    res
}

async fn remove_inner(
    pool: &Pool,
    inv: &Inventory,
    r: NodeRef,
    pubkeys: &[String],
    state_dir: &Path,
) -> Result<RemoveOutcome, RemoveNodeError> {
    let km = Keymanager::connect(pool, inv, r)
        .await
        .map_err(RemoveNodeError::Connect)?;
    let session = pool
        .session(&inv.node(r).0.target)
        .await
        .map_err(RemoveNodeError::Session)?;
    super::remove(&km, &session, pubkeys, state_dir)
        .await
        .map_err(RemoveNodeError::Remove)
}
