//! Validator key operations over the Keymanager API: list, settings, import with the
//! double-sign guard, remove with slashing data saved first, move, voluntary exit (signed by the
//! keymanager, or locally from a keystore with the chain facts of the host's beacon node).
//!
//! Owns: the order of steps and the safety rules (docs/keys.md), the console state files
//! (`<state dir>/nodeherd/{slashing,exits}/`) and the host copies under
//! `/var/lib/nodeherd/slashing/`. May not touch: the terminal (front ends ask and print), the
//! API's wire format (that is `crate::keymanager`). Never writes a token or a password.
//!
//! This file: key rows, the double-sign guard and risks, removal with its state files. The rest,
//! one use case per file: [`list_fleet`] (list.rs), [`read_import_files`] / [`import_into`]
//! (import.rs), [`remove_from_node`] (remove_node.rs), [`move_key`] (move_key.rs), exits
//! (exit.rs), failover with fencing ([`failover`], failover.rs), the quiet wait ([`quiet`]) and
//! the state file of unfinished moves ([`move_state`]), remote-signer keys (remote.rs), key files ([`files`]), CometBFT consensus keys ([`consensus`]) and the journal
//! lines of imports, removals and moves (lines.rs; each use case records its own), and what the
//! beacon chain says of listed keys ([`onchain`]), Substrate session key rotation ([`session`]).

mod cometbft_chain;
mod cometbft_failover;
pub mod cometbft_key;
mod cometbft_run;
mod cometbft_steps;
pub mod consensus;
mod exit;
mod failover;
mod fence;
pub mod files;
mod import;
pub mod keystore;
mod lines;
mod list;
mod move_key;
mod move_run;
pub mod move_state;
mod move_wait;
pub mod onchain;
pub mod quiet;
mod quiet_inclusion;
mod remote;
mod remove_node;
pub mod session;

pub use cometbft_failover::{CometFailoverReport, failover_cometbft};
pub use cometbft_run::CometFailoverOptions;
pub use exit::{BeaconError, LocalExit, save_exit, sign_exit_locally, submit_exit};
pub use failover::{FailoverOptions, failover};
pub use import::{ImportError, ImportFiles, import_into, read_import_files};
pub use list::{FleetKeys, fleet_nodes, list_fleet, substrate_nodes};
pub use move_key::{MoveReport, move_key};
pub use move_run::{MoveOptions, Progress};
pub use remote::{RemoteError, RemoteReport, check_url, import_remote_keys, remove_remote_keys};
pub use remove_node::{RemoveNodeError, remove_from_node};

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::keymanager::{Interchange, Keymanager, KeymanagerError};
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keymanager::InterchangeError;
use nodeherd_core::keymanager::types::{DeleteStatus, ImportResult, normalize_pubkey};
use nodeherd_core::keys::Secret;
use nodeherd_transport::ssh::{Command, Pool};

/// Where slashing data is also kept on the host of the node it was removed from.
pub const HOST_SLASHING_DIR: &str = "/var/lib/nodeherd/slashing";

/// One key as `keys list` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeyRow {
    pub node: String,
    pub pubkey: String,
    pub derivation_path: Option<String>,
    pub readonly: Option<bool>,
    /// A remote-signer key (`/eth/v1/remotekeys`) rather than a local keystore.
    pub remote: bool,
    pub fee_recipient: Option<String>,
    pub graffiti: Option<String>,
    /// Index, status and withdrawal credential type from the node's beacon node.
    pub chain: Option<nodeherd_core::keymanager::onchain::OnChain>,
    /// Why `chain` is empty: the key is not on chain, or the beacon node could not be asked.
    pub chain_error: Option<String>,
}

/// The nodes that have a keymanager API in the inventory (validator clients).
pub fn keymanager_nodes(inv: &Inventory) -> Vec<NodeRef> {
    inv.node_refs()
        .into_iter()
        .filter(|r| {
            let (_, n) = inv.node(*r);
            n.keymanager_port.is_some() && n.keymanager_token_file.is_some()
        })
        .collect()
}

/// `host/node` of a node.
pub fn label(inv: &Inventory, r: NodeRef) -> String {
    let (h, n) = inv.node(r);
    format!("{}/{}", h.name, n.name)
}

/// The active pubkeys (local and remote) of one node.
pub async fn active_pubkeys(km: &Keymanager) -> Result<Vec<String>, KeymanagerError> {
    let mut keys: Vec<String> = km
        .list_keystores()
        .await?
        .into_iter()
        .map(|k| normalize_pubkey(&k.validating_pubkey).unwrap_or(k.validating_pubkey))
        .collect();
    for k in km.list_remote_keys().await? {
        keys.push(normalize_pubkey(&k.pubkey).unwrap_or(k.pubkey));
    }
    Ok(keys)
}

/// The keys of one node; with `details`, also fee recipient and graffiti per key.
pub async fn list_node(km: &Keymanager, details: bool) -> Result<Vec<KeyRow>, KeymanagerError> {
    let mut rows = Vec::new();
    for k in km.list_keystores().await? {
        rows.push(KeyRow {
            node: km.node.clone(),
            pubkey: normalize_pubkey(&k.validating_pubkey).unwrap_or(k.validating_pubkey),
            derivation_path: k.derivation_path.filter(|p| !p.is_empty()),
            readonly: k.readonly,
            remote: false,
            fee_recipient: None,
            graffiti: None,
            chain: None,
            chain_error: None,
        });
    }
    for k in km.list_remote_keys().await? {
        rows.push(KeyRow {
            node: km.node.clone(),
            pubkey: normalize_pubkey(&k.pubkey).unwrap_or(k.pubkey),
            derivation_path: None,
            readonly: k.readonly,
            remote: true,
            fee_recipient: None,
            graffiti: None,
            chain: None,
            chain_error: None,
        });
    }
    if details {
        for r in &mut rows {
            r.fee_recipient = km.fee_recipient(&r.pubkey).await.ok().map(|f| f.ethaddress);
            r.graffiti = km.graffiti(&r.pubkey).await.ok().map(|g| g.graffiti);
        }
    }
    Ok(rows)
}

/// Why the double-sign guard refuses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum GuardProblem {
    /// The key is active on another node.
    ActiveElsewhere { pubkey: String, node: String },
    /// A validator node could not be asked: it might have the key.
    Unknown { node: String, error: String },
}

impl std::fmt::Display for GuardProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuardProblem::ActiveElsewhere { pubkey, node } => {
                write!(f, "{pubkey} is ACTIVE on {node}")
            }
            GuardProblem::Unknown { node, error } => {
                write!(f, "cannot tell whether {node} has the key(s): {error}")
            }
        }
    }
}

/// Ask every keymanager node of the inventory except `except` for its keys; any of `pubkeys`
/// active there, or any node that cannot be asked, is a problem. Empty = safe to import.
pub async fn double_sign_guard(
    inv: &Inventory,
    pool: &Pool,
    pubkeys: &[String],
    except: &[NodeRef],
) -> Vec<GuardProblem> {
    let nodes: Vec<NodeRef> = keymanager_nodes(inv)
        .into_iter()
        .filter(|r| !except.contains(r))
        .collect();
    let results = crate::fleet::run_all(nodes, crate::fleet::DEFAULT_FORKS, |r| async move {
        match Keymanager::connect(pool, inv, r).await {
            Ok(km) => active_pubkeys(&km).await,
            Err(e) => Err(e),
        }
    })
    .await;
    let mut problems = Vec::new();
    for (r, res) in results {
        match res {
            Ok(active) => {
                for pk in pubkeys {
                    if active.iter().any(|a| a == pk) {
                        problems.push(GuardProblem::ActiveElsewhere {
                            pubkey: pk.clone(),
                            node: label(inv, r),
                        });
                    }
                }
            }
            Err(e) => problems.push(GuardProblem::Unknown {
                node: label(inv, r),
                error: e.to_string(),
            }),
        }
    }
    problems
}

/// The console's state directory: `$XDG_STATE_HOME/nodeherd` (`~/.local/state/nodeherd`).
pub fn console_state_dir() -> Option<PathBuf> {
    dirs::state_dir().map(|d| d.join("nodeherd"))
}

pub(crate) fn timestamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

pub(crate) fn file_label(node: &str) -> String {
    node.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Why slashing data (or an exit) could not be saved, or its place is not ready.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("cannot create {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write in {}: {source}", dir.display())]
    NotWritable {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create or write {dir} on the host: {stderr}")]
    HostDir { dir: &'static str, stderr: String },
    #[error("cannot check {dir} on the host: {reason}")]
    HostCheck { dir: &'static str, reason: String },
    #[error("cannot write {path} on the host: {reason}")]
    HostWrite { path: String, reason: String },
}

/// Make `dir` (0700) and prove a file can be created in it.
pub fn ensure_writable_dir(dir: &Path) -> Result<(), SaveError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| SaveError::Create {
            path: dir.to_path_buf(),
            source,
        })?;
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&probe)
        .and_then(|mut f| f.write_all(b"x").and_then(|()| f.sync_all()))
        .map_err(|source| SaveError::NotWritable {
            dir: dir.to_path_buf(),
            source,
        })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Write `text` to a new file (never overwriting), mode 0600, synced.
pub fn write_new(path: &Path, text: &str) -> Result<(), SaveError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| SaveError::Create {
            path: path.to_path_buf(),
            source,
        })?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|source| SaveError::Write {
            path: path.to_path_buf(),
            source,
        })
}

/// Make the host directory for slashing data and check it is writable (as the SSH user or `become`).
async fn host_dir_ready(km_session: &nodeherd_transport::ssh::Session) -> Result<(), SaveError> {
    let cmd = Command::new("sh").arg("-c").arg(format!(
        "umask 077 && mkdir -p {HOST_SLASHING_DIR} && test -w {HOST_SLASHING_DIR}"
    ));
    match km_session.exec(&cmd).await {
        Ok(o) if o.success() => Ok(()),
        Ok(o) => Err(SaveError::HostDir {
            dir: HOST_SLASHING_DIR,
            stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        }),
        Err(e) => Err(SaveError::HostCheck {
            dir: HOST_SLASHING_DIR,
            reason: e.to_string(),
        }),
    }
}

async fn host_write(
    session: &nodeherd_transport::ssh::Session,
    name: &str,
    text: &str,
) -> Result<String, SaveError> {
    let path = format!("{HOST_SLASHING_DIR}/{name}");
    let cmd = Command::new("sh")
        .arg("-c")
        .arg("umask 077 && set -C && cat > \"$1\" && sync \"$1\" 2>/dev/null; test -s \"$1\"")
        .arg("nodeherd")
        .arg(&path);
    match session.exec_with_stdin(&cmd, text.as_bytes()).await {
        Ok(o) if o.success() => Ok(path),
        Ok(o) => Err(SaveError::HostWrite {
            path,
            reason: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        }),
        Err(e) => Err(SaveError::HostWrite {
            path,
            reason: e.to_string(),
        }),
    }
}

/// What `remove` did. The slashing data is always in `slashing_protection` (memory), whatever
/// happened to the files.
#[derive(Debug, Clone)]
pub struct RemoveOutcome {
    pub node: String,
    pub results: Vec<(String, DeleteStatus, Option<String>)>,
    pub slashing_protection: String,
    /// Whether the interchange parsed as EIP-3076 and covers every removed key.
    pub slashing_check: Result<(), SlashingCheckError>,
    /// Shared so the outcome stays `Clone` (the error holds an `io::Error`).
    pub console_file: Result<PathBuf, Arc<SaveError>>,
    pub host_file: Result<String, Arc<SaveError>>,
}

/// Why the slashing data a Keymanager answered with a removal is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlashingCheckError {
    #[error("{0}")]
    Invalid(#[from] InterchangeError),
    #[error("the slashing data does not mention {0}")]
    Missing(String),
}

impl RemoveOutcome {
    /// Both copies were written.
    pub fn saved(&self) -> bool {
        self.console_file.is_ok() && self.host_file.is_ok()
    }
}

/// Why nothing was removed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("nothing was removed: the slashing data could not be saved: {0}")]
    CannotSave(SaveError),
    #[error("{0}")]
    Keymanager(#[from] KeymanagerError),
}

/// Remove keys: first prove both places for the slashing data are writable (else nothing is
/// deleted), then DELETE, keep the answer in memory, write it to the console state dir, then
/// to the host. Confirmation is the front end's job and happens before this is called.
pub async fn remove(
    km: &Keymanager,
    session: &nodeherd_transport::ssh::Session,
    pubkeys: &[String],
    state_dir: &Path,
) -> Result<RemoveOutcome, RemoveError> {
    let dir = state_dir.join("slashing");
    ensure_writable_dir(&dir).map_err(RemoveError::CannotSave)?;
    host_dir_ready(session)
        .await
        .map_err(RemoveError::CannotSave)?;
    let answer = km.delete(pubkeys).await?;
    // From here on the slashing data exists only in memory until written: write it first.
    let name = format!("{}-{}.json", file_label(&km.node), timestamp());
    let console_path = dir.join(&name);
    let console_file = write_new(&console_path, &answer.slashing_protection)
        .map(|()| console_path)
        .map_err(Arc::new);
    let host_file = host_write(session, &name, &answer.slashing_protection)
        .await
        .map_err(Arc::new);
    let removed: Vec<&String> = pubkeys
        .iter()
        .zip(&answer.data)
        .filter(|(_, r)| matches!(r.status, DeleteStatus::Deleted | DeleteStatus::NotActive))
        .map(|(p, _)| p)
        .collect();
    let slashing_check = Interchange::parse(&answer.slashing_protection)
        .map_err(SlashingCheckError::from)
        .and_then(|i| {
            let have = i.pubkeys();
            match removed.iter().find(|p| !have.contains(p)) {
                Some(p) => Err(SlashingCheckError::Missing((*p).clone())),
                None => Ok(()),
            }
        });
    Ok(RemoveOutcome {
        node: km.node.clone(),
        results: pubkeys
            .iter()
            .zip(answer.data)
            .map(|(p, r)| (p.clone(), r.status, r.message))
            .collect(),
        slashing_protection: answer.slashing_protection,
        slashing_check,
        console_file,
        host_file,
    })
}

/// Import keystores (already read) into one node. The guard must have run before.
pub async fn import(
    km: &Keymanager,
    keystores: &[String],
    passwords: &[Secret<String>],
    slashing_protection: Option<&str>,
) -> Result<Vec<ImportResult>, KeymanagerError> {
    km.import(keystores, passwords, slashing_protection).await
}

/// Which kind of key a [`DoubleSignRisk`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyChain {
    /// An Ethereum validator key (BLS pubkey, `0x` + 96 hex) from a Keymanager API.
    Ethereum,
    /// A CometBFT consensus key (base64) from `priv_validator_key.json`.
    Cosmos,
    /// A Substrate session key (`0x` + hex) from the name of a keystore file.
    Substrate,
}

/// One signing key found on two or more nodes: if both sign, the validator is slashed
/// (Ethereum) or tombstoned (CometBFT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoubleSignRisk {
    pub chain: KeyChain,
    pub pubkey: String,
    /// The CometBFT address of the key (Cosmos); the key type (Substrate: `gran`).
    pub address: Option<String>,
    /// `host/node`, sorted, at least two.
    pub nodes: Vec<String>,
}

impl std::fmt::Display for DoubleSignRisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.chain {
            KeyChain::Ethereum => write!(f, "validator key {}", self.pubkey)?,
            KeyChain::Cosmos => write!(
                f,
                "consensus key {} (address {})",
                self.pubkey,
                self.address.as_deref().unwrap_or("?")
            )?,
            KeyChain::Substrate => write!(
                f,
                "session key {} ({})",
                self.pubkey,
                self.address.as_deref().unwrap_or("?")
            )?,
        }
        write!(
            f,
            " is on {} nodes: {}",
            self.nodes.len(),
            self.nodes.join(", ")
        )
    }
}

/// Every key that appears on two or more distinct nodes (pure). `keys` are
/// `(node, pubkey, address)`; one node listing a key twice (local and remote) is not a risk
/// by itself. Sorted by pubkey.
pub fn double_sign_risks<'a>(
    chain: KeyChain,
    keys: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a str>)>,
) -> Vec<DoubleSignRisk> {
    let mut by_key: std::collections::BTreeMap<
        &str,
        (Option<&str>, std::collections::BTreeSet<&str>),
    > = std::collections::BTreeMap::new();
    for (node, pubkey, address) in keys {
        let e = by_key
            .entry(pubkey)
            .or_insert((address, Default::default()));
        e.1.insert(node);
        if e.0.is_none() {
            e.0 = address;
        }
    }
    by_key
        .into_iter()
        .filter(|(_, (_, nodes))| nodes.len() >= 2)
        .map(|(pubkey, (address, nodes))| DoubleSignRisk {
            chain,
            pubkey: pubkey.to_string(),
            address: address.map(str::to_string),
            nodes: nodes.into_iter().map(str::to_string).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_are_new_and_private() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a/slashing");
        ensure_writable_dir(&d).unwrap();
        let p = d.join("x.json");
        write_new(&p, "{}").unwrap();
        assert!(write_new(&p, "{}").is_err(), "never overwrites");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(file_label("nhkey-1/lodestar-vc"), "nhkey-1_lodestar-vc");
        let ro = t.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        // root can write anyway; only check when not root
        if unsafe { libc::geteuid() } != 0 {
            assert!(ensure_writable_dir(&ro).is_err());
        }
    }

    #[test]
    fn double_sign_risks_need_two_distinct_nodes() {
        let k = |n: &'static str, p: &'static str| (n, p, None);
        let risks = double_sign_risks(
            KeyChain::Ethereum,
            [
                k("h1/vc", "0xaa"),
                k("h1/vc", "0xaa"), // local and remote on one node
                k("h2/vc", "0xbb"),
                k("h3/vc", "0xcc"),
                k("h1/vc", "0xcc"),
                k("h2/vc", "0xcc"),
            ],
        );
        assert_eq!(risks.len(), 1, "{risks:?}");
        assert_eq!(risks[0].pubkey, "0xcc");
        assert_eq!(risks[0].nodes, vec!["h1/vc", "h2/vc", "h3/vc"]);
        assert_eq!(
            risks[0].to_string(),
            "validator key 0xcc is on 3 nodes: h1/vc, h2/vc, h3/vc"
        );
        let c = double_sign_risks(
            KeyChain::Cosmos,
            [
                ("b/gaia", "K1=", Some("AA")),
                ("a/gaia", "K1=", Some("AA")),
                ("c/gaia", "K2=", Some("BB")),
            ],
        );
        assert_eq!(
            c.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["consensus key K1= (address AA) is on 2 nodes: a/gaia, b/gaia"]
        );
        assert!(double_sign_risks(KeyChain::Cosmos, []).is_empty());
    }
}
