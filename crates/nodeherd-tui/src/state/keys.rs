//! The keys screen's data: validator and consensus keys per node, and the checked import and
//! move a dialog asks about.
//!
//! Owns: [`KeyEntry`], [`CosmosKey`], [`NodeKeys`], [`ImportAsk`], [`MoveAsk`], [`short_pubkey`].
//! May not touch: key files, the Keymanager API or the guard (workers do).

use nodeherd_core::inventory::NodeRef;

/// One validator key held by a node (from the Keymanager API).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyEntry {
    pub r: NodeRef,
    pub host: String,
    pub node: String,
    /// `0x` + 96 hex digits.
    pub pubkey: String,
    pub readonly: Option<bool>,
    /// A remote-signer key rather than a local keystore.
    pub remote: bool,
    pub derivation_path: Option<String>,
    /// A CometBFT consensus key (base64 `pubkey`, read from the node's home): listed and checked
    /// for double signing, never imported, moved or removed from here.
    pub cosmos: Option<CosmosKey>,
}

/// What the keys screen shows of a CometBFT consensus key.
#[derive(Debug, Clone, PartialEq)]
pub struct CosmosKey {
    /// Upper-case hex consensus address.
    pub address: String,
    /// The last signed height/round/step (`None`: the state file could not be read).
    pub last_signed: Option<(u64, i64, i64)>,
}

/// One validator node of the keys screen: its keys, or why they could not be listed.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeKeys {
    pub r: NodeRef,
    pub host: String,
    pub node: String,
    pub keys: Result<Vec<KeyEntry>, super::WorkerError>,
    /// A CometBFT node (its consensus key) rather than a Keymanager API.
    pub cosmos: bool,
}

/// An import the keys screen asks about, checked by a worker first (files read, every other
/// validator node asked by the double-sign guard) so the dialog shows what will happen.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportAsk {
    pub r: NodeRef,
    pub host: String,
    pub node: String,
    pub files: Vec<std::path::PathBuf>,
    /// One per file, in order.
    pub pubkeys: Vec<String>,
    pub password_file: std::path::PathBuf,
    pub slashing: Option<std::path::PathBuf>,
    /// How many other validator nodes the guard asked (none of them has the keys).
    pub guard_asked: usize,
}

/// A move the keys screen asks about, checked by a worker first (the keystore opens with the
/// password to exactly this key).
#[derive(Debug, Clone, PartialEq)]
pub struct MoveAsk {
    pub pubkey: String,
    pub from: NodeRef,
    /// `host/node`.
    pub from_label: String,
    pub to: NodeRef,
    pub to_label: String,
    pub keystore: std::path::PathBuf,
    pub password_file: std::path::PathBuf,
}

/// `0xa1b2c3…d4e5`: a pubkey short enough for a table cell.
pub fn short_pubkey(p: &str) -> String {
    let n = p.chars().count();
    if n <= 16 {
        return p.to_string();
    }
    let head: String = p.chars().take(8).collect();
    let tail: String = p.chars().skip(n - 4).collect();
    format!("{head}…{tail}")
}
