//! The modal dialogs and the questions they ask.
//!
//! Owns: [`Dialog`], [`HostKeyAsk`], [`UpgradeAsk`]. May not touch: what an answer does (the
//! reducer) or how a dialog is drawn (the views).

use tokio::sync::oneshot;

use super::{ImportAsk, KeyEntry, MoveAsk};
use crate::keymap::Action;
use nodeherd_core::inventory::NodeRef;
use nodeherd_core::plan::apply::Planned;

/// An unknown host key, as the prompt shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyAsk {
    pub host: String,
    pub address: String,
    pub port: u16,
    pub key_type: String,
    pub fingerprint: String,
}

/// One upgrade or rollback the releases screen asks about.
#[derive(Debug, Clone, PartialEq)]
pub struct UpgradeAsk {
    pub r: NodeRef,
    pub host: String,
    pub node: String,
    pub rollback: bool,
    /// The running version.
    pub from: Option<String>,
    /// The version to install (None for a rollback: the node's `previous`).
    pub to: Option<String>,
}

/// Modal dialogs; while one is open, keys go to it only.
#[derive(Debug)]
pub enum Dialog {
    /// A dangerous action waiting for `y`.
    Confirm { action: Action, nodes: Vec<NodeRef> },
    /// Removing one validator key, waiting for `y`.
    RemoveKey { key: KeyEntry },
    /// Importing keystores into one node (already checked), waiting for `y`.
    ImportKeys(ImportAsk),
    /// Moving one key between nodes (already checked), waiting for `y`.
    MoveKey(MoveAsk),
    /// Applying the loaded plan, waiting for `y`: every change is listed by host and node.
    Apply { changes: Vec<Planned> },
    /// Upgrading (or rolling back) one node from the releases screen, waiting for `y`.
    Upgrade(UpgradeAsk),
    /// An SSH connection waiting for a human's trust decision.
    HostKey {
        ask: HostKeyAsk,
        reply: Option<oneshot::Sender<bool>>,
    },
}
