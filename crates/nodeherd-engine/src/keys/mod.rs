//! Validator key operations over the Keymanager API: list, settings, import with the
//! double-sign guard, remove with slashing data saved first, move, voluntary exit (signed by the
//! keymanager, or locally from a keystore with the chain facts of the host's beacon node).
//!
//! Owns: the order of steps and the safety rules (docs/keys.md), the console state files
//! (`<state dir>/nodeherd/{slashing,exits}/`) and the host copies under
//! `/var/lib/nodeherd/slashing/`. May not touch: the terminal (front ends ask and print), the
//! API's wire format (that is `crate::keymanager`). Never writes a token or a password.

pub mod consensus;
pub mod files;
mod import;
mod list;
mod remove_node;

pub use import::{ImportError, ImportFiles, import_into, read_import_files};
pub use list::{FleetKeys, fleet_nodes, list_fleet};
pub use remove_node::{RemoveNodeError, remove_from_node};

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::keymanager::{Interchange, Keymanager, KeymanagerError};
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keymanager::types::{
    DeleteStatus, ImportResult, ImportStatus, normalize_pubkey,
};
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

fn timestamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

fn file_label(node: &str) -> String {
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

/// Make `dir` (0700) and prove a file can be created in it.
pub fn ensure_writable_dir(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&probe)
        .and_then(|mut f| f.write_all(b"x").and_then(|_| f.sync_all()))
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Write `text` to a new file (never overwriting), mode 0600, synced.
pub fn write_new(path: &Path, text: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Make the host directory for slashing data and check it is writable (as the SSH user or `become`).
async fn host_dir_ready(km_session: &nodeherd_transport::ssh::Session) -> Result<(), String> {
    let cmd = Command::new("sh").arg("-c").arg(format!(
        "umask 077 && mkdir -p {HOST_SLASHING_DIR} && test -w {HOST_SLASHING_DIR}"
    ));
    match km_session.exec(&cmd).await {
        Ok(o) if o.success() => Ok(()),
        Ok(o) => Err(format!(
            "cannot create or write {HOST_SLASHING_DIR} on the host: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("cannot check {HOST_SLASHING_DIR} on the host: {e}")),
    }
}

async fn host_write(
    session: &nodeherd_transport::ssh::Session,
    name: &str,
    text: &str,
) -> Result<String, String> {
    let path = format!("{HOST_SLASHING_DIR}/{name}");
    let cmd = Command::new("sh")
        .arg("-c")
        .arg("umask 077 && set -C && cat > \"$1\" && sync \"$1\" 2>/dev/null; test -s \"$1\"")
        .arg("nodeherd")
        .arg(&path);
    match session.exec_with_stdin(&cmd, text.as_bytes()).await {
        Ok(o) if o.success() => Ok(path),
        Ok(o) => Err(format!(
            "cannot write {path} on the host: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("cannot write {path} on the host: {e}")),
    }
}

/// What `remove` did. The slashing data is always in `slashing_protection` (memory), whatever
/// happened to the files.
#[derive(Debug, Clone, Serialize)]
pub struct RemoveOutcome {
    pub node: String,
    pub results: Vec<(String, DeleteStatus, Option<String>)>,
    pub slashing_protection: String,
    /// Whether the interchange parsed as EIP-3076 and covers every removed key.
    pub slashing_check: Result<(), String>,
    pub console_file: Result<PathBuf, String>,
    pub host_file: Result<String, String>,
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
    CannotSave(String),
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
    let console_file = write_new(&console_path, &answer.slashing_protection).map(|_| console_path);
    let host_file = host_write(session, &name, &answer.slashing_protection).await;
    let removed: Vec<&String> = pubkeys
        .iter()
        .zip(&answer.data)
        .filter(|(_, r)| matches!(r.status, DeleteStatus::Deleted | DeleteStatus::NotActive))
        .map(|(p, _)| p)
        .collect();
    let slashing_check = Interchange::parse(&answer.slashing_protection).and_then(|i| {
        let have = i.pubkeys();
        match removed.iter().find(|p| !have.contains(p)) {
            Some(p) => Err(format!("the slashing data does not mention {p}")),
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

/// One step of a move, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct MoveReport {
    pub steps: Vec<String>,
    /// Where things are now, in one sentence.
    pub state: String,
    pub ok: bool,
    pub slashing_file: Option<PathBuf>,
}

/// Move one key from `from` to `to`. The keystore (with its password, already checked to
/// decrypt to `pubkey`) comes from the operator: the Keymanager API cannot export keys.
/// Steps: both nodes reachable, `from` has it, `to` does not, guard over all other nodes,
/// remove from `from` (slashing data saved), verify `from` no longer lists it, import into
/// `to` with that slashing data, verify `to` lists it. Stops at the first uncertain step.
#[allow(clippy::too_many_arguments)]
pub async fn move_key(
    inv: &Inventory,
    pool: &Pool,
    pubkey: &str,
    from: NodeRef,
    to: NodeRef,
    keystore: &str,
    password: &Secret<String>,
    state_dir: &Path,
    allow_double_sign_risk: bool,
) -> MoveReport {
    let mut steps = Vec::new();
    let a = label(inv, from);
    let b = label(inv, to);
    let fail = |steps: Vec<String>, state: String, file: Option<PathBuf>| MoveReport {
        steps,
        state,
        ok: false,
        slashing_file: file,
    };
    let untouched =
        format!("nothing changed: {pubkey} is still where it was (on {a} if it was there)");
    let (kma, kmb) = match (
        Keymanager::connect(pool, inv, from).await,
        Keymanager::connect(pool, inv, to).await,
    ) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => {
            steps.push(format!("connect: {e}"));
            return fail(steps, untouched, None);
        }
    };
    match active_pubkeys(&kma).await {
        Ok(k) if k.iter().any(|x| x == pubkey) => steps.push(format!("{a} has the key active")),
        Ok(_) => {
            steps.push(format!("{a} does not list {pubkey}"));
            return fail(steps, untouched, None);
        }
        Err(e) => {
            steps.push(format!("cannot list {a}: {e}"));
            return fail(steps, untouched, None);
        }
    }
    match active_pubkeys(&kmb).await {
        Ok(k) if k.iter().any(|x| x == pubkey) => {
            steps.push(format!("{b} ALREADY has {pubkey} active: refusing"));
            return fail(steps, untouched, None);
        }
        Ok(_) => steps.push(format!("{b} does not have the key")),
        Err(e) => {
            steps.push(format!("cannot list {b}: {e}"));
            return fail(steps, untouched, None);
        }
    }
    let problems = double_sign_guard(inv, pool, &[pubkey.to_string()], &[from, to]).await;
    if !problems.is_empty() {
        for p in &problems {
            steps.push(format!("guard: {p}"));
        }
        if !allow_double_sign_risk {
            return fail(steps, untouched, None);
        }
        steps.push("guard overridden by --i-understand-double-signing-risk".into());
    } else {
        steps.push("no other validator node has the key".into());
    }
    let session = match pool.session(&inv.node(from).0.target).await {
        Ok(s) => s,
        Err(e) => {
            steps.push(format!("SSH to {a}: {e}"));
            return fail(steps, untouched, None);
        }
    };
    let removed = match remove(&kma, &session, &[pubkey.to_string()], state_dir).await {
        Ok(r) => r,
        Err(RemoveError::CannotSave(e)) => {
            steps.push(format!("not removed: {e}"));
            return fail(steps, untouched, None);
        }
        Err(RemoveError::Keymanager(e)) => {
            steps.push(format!("DELETE on {a}: {e}"));
            return fail(
                steps,
                format!(
                    "UNCERTAIN: the DELETE on {a} failed or its answer was lost; list {a} before doing anything else"
                ),
                None,
            );
        }
    };
    let status = removed.results.first().map(|r| r.1);
    let file = removed.console_file.as_ref().ok().cloned();
    steps.push(format!(
        "removed from {a}: {:?}; slashing data saved to {} and {}",
        status,
        match &removed.console_file {
            Ok(p) => p.display().to_string(),
            Err(e) => format!("NOT SAVED ON THE CONSOLE ({e})"),
        },
        match &removed.host_file {
            Ok(p) => format!("{}:{p}", inv.node(from).0.name),
            Err(e) => format!("NOT SAVED ON THE HOST ({e})"),
        }
    ));
    if status != Some(DeleteStatus::Deleted) {
        return fail(
            steps,
            format!("{a} answered {status:?} instead of deleted: nothing imported; check {a}"),
            file,
        );
    }
    if let Err(e) = &removed.slashing_check {
        steps.push(format!("slashing data check: {e}"));
        return fail(
            steps,
            format!(
                "{pubkey} is removed from {a} and NOT imported into {b}: the slashing data is not usable"
            ),
            file,
        );
    }
    match active_pubkeys(&kma).await {
        Ok(k) if !k.iter().any(|x| x == pubkey) => {
            steps.push(format!("verified: {a} no longer lists the key"))
        }
        Ok(_) => {
            steps.push(format!("{a} STILL lists {pubkey} after the DELETE"));
            return fail(
                steps,
                format!("UNCERTAIN: {a} still lists the key; NOT imported into {b}"),
                file,
            );
        }
        Err(e) => {
            steps.push(format!("cannot verify {a}: {e}"));
            return fail(
                steps,
                format!("UNCERTAIN: removed from {a} but not verified; NOT imported into {b}"),
                file,
            );
        }
    }
    let res = kmb
        .import(
            &[keystore.to_string()],
            std::slice::from_ref(password),
            Some(&removed.slashing_protection),
        )
        .await;
    let not_imported = format!(
        "{pubkey} is removed from {a} and NOT active on {b}; import it with `nodeherd keys import {b} KEYSTORE --slashing-protection {}`",
        file.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "FILE".into())
    );
    match res {
        Ok(r) if r.first().map(|x| x.status) == Some(ImportStatus::Imported) => {
            steps.push(format!("imported into {b} with {a}'s slashing data"))
        }
        Ok(r) => {
            steps.push(format!("import into {b}: {:?}", r.first()));
            return fail(steps, not_imported, file);
        }
        Err(e) => {
            steps.push(format!("import into {b}: {e}"));
            return fail(
                steps,
                format!("UNCERTAIN: {not_imported}; list {b} first"),
                file,
            );
        }
    }
    match active_pubkeys(&kmb).await {
        Ok(k) if k.iter().any(|x| x == pubkey) => {
            steps.push(format!("verified: {b} lists the key"));
            MoveReport {
                steps,
                state: format!("{pubkey} moved: active on {b} only"),
                ok: true,
                slashing_file: file,
            }
        }
        Ok(_) => fail(
            steps,
            format!("{b} accepted the import but does not list {pubkey}; check {b}"),
            file,
        ),
        Err(e) => {
            steps.push(format!("cannot verify {b}: {e}"));
            fail(
                steps,
                format!("UNCERTAIN: imported into {b} but not verified"),
                file,
            )
        }
    }
}

/// Save a signed voluntary exit to `<state>/exits/<node>-<pubkey prefix>-<ts>.json`.
pub fn save_exit(
    state_dir: &Path,
    node: &str,
    pubkey: &str,
    json: &str,
) -> Result<PathBuf, String> {
    let dir = state_dir.join("exits");
    ensure_writable_dir(&dir)?;
    let short: String = pubkey.trim_start_matches("0x").chars().take(12).collect();
    let path = dir.join(format!("{}-{short}-{}.json", file_label(node), timestamp()));
    write_new(&path, json).map(|_| path)
}

/// Why the host's beacon node could not give what an exit needs, or refused the exit.
#[derive(Debug, thiserror::Error)]
pub enum BeaconError {
    #[error(
        "{host}: no beacon node with a rest_port in the inventory (the exit needs the validator host's beacon node)"
    )]
    NoBeacon { host: String },
    #[error("{bn}: SSH: {source}")]
    Ssh {
        bn: String,
        #[source]
        source: Box<nodeherd_transport::ssh::SshError>,
    },
    #[error("{bn}: {method} {path}: {source}")]
    Http {
        bn: String,
        method: &'static str,
        path: String,
        #[source]
        source: nodeherd_transport::http::HttpError,
    },
    #[error("{bn}: {method} {path}: no answer within {secs} s")]
    Timeout {
        bn: String,
        method: &'static str,
        path: String,
        secs: u64,
    },
    #[error("{bn}: {method} {path} answered {status}: {message}")]
    Status {
        bn: String,
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    #[error(
        "{bn} does not know validator {pubkey} (404: {message}): not deposited, or not yet seen by the chain"
    )]
    UnknownValidator {
        bn: String,
        pubkey: String,
        message: String,
    },
    #[error("{bn}: {source}")]
    Fact {
        bn: String,
        #[source]
        source: nodeherd_core::keys::exit::ExitError,
    },
    #[error("{bn} refused the exit ({status}): {message}")]
    Refused {
        bn: String,
        status: u16,
        message: String,
    },
}

/// Seconds one Beacon API request may take.
const BEACON_TIMEOUT_SECS: u64 = 15;

/// The beacon node of the validator's host: one with role beacon and a rest_port.
struct HostBeacon {
    label: String,
    port: u16,
    session: nodeherd_transport::ssh::Session,
}

impl HostBeacon {
    async fn find(inv: &Inventory, pool: &Pool, validator: NodeRef) -> Result<Self, BeaconError> {
        let (host, _) = inv.node(validator);
        let (bn, port) = host
            .nodes
            .iter()
            .find_map(|n| {
                match (
                    n.role == nodeherd_core::inventory::Role::Beacon,
                    n.rest_port,
                ) {
                    (true, Some(p)) => Some((n, p)),
                    _ => None,
                }
            })
            .ok_or_else(|| BeaconError::NoBeacon {
                host: host.name.clone(),
            })?;
        let label = format!("{}/{}", host.name, bn.name);
        let session = pool
            .session(&host.target)
            .await
            .map_err(|e| BeaconError::Ssh {
                bn: label.clone(),
                source: Box::new(e),
            })?;
        Ok(HostBeacon {
            label,
            port,
            session,
        })
    }

    /// One request through a fresh SSH forward to `127.0.0.1:<rest_port>` on the host.
    async fn request(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<nodeherd_transport::http::Response, BeaconError> {
        let stream = self
            .session
            .forward(self.port)
            .await
            .map_err(|e| BeaconError::Ssh {
                bn: self.label.clone(),
                source: Box::new(e),
            })?;
        let mut headers = vec![("Accept", "application/json")];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        tokio::time::timeout(
            std::time::Duration::from_secs(BEACON_TIMEOUT_SECS),
            nodeherd_transport::http::request(stream, method, path, &headers, body),
        )
        .await
        .map_err(|_| BeaconError::Timeout {
            bn: self.label.clone(),
            method,
            path: path.to_string(),
            secs: BEACON_TIMEOUT_SECS,
        })?
        .map_err(|e| BeaconError::Http {
            bn: self.label.clone(),
            method,
            path: path.to_string(),
            source: e,
        })
    }

    /// A GET that must answer 200; the body as text.
    async fn get(&self, path: &str) -> Result<String, BeaconError> {
        let r = self.request("GET", path, None).await?;
        if r.status != 200 {
            return Err(BeaconError::Status {
                bn: self.label.clone(),
                method: "GET",
                path: path.to_string(),
                status: r.status,
                message: nodeherd_core::keymanager::types::error_message(&r.body),
            });
        }
        Ok(r.text())
    }

    fn fact<T>(
        &self,
        r: Result<T, nodeherd_core::keys::exit::ExitError>,
    ) -> Result<T, BeaconError> {
        r.map_err(|source| BeaconError::Fact {
            bn: self.label.clone(),
            source,
        })
    }
}

/// What a locally signed exit stands on, and the exit itself (already verified).
#[derive(Debug, Clone)]
pub struct LocalExit {
    /// `host/node` of the beacon node asked.
    pub beacon: String,
    pub chain: nodeherd_core::keys::exit::ChainFacts,
    pub validator: nodeherd_core::keys::exit::ValidatorFacts,
    pub fork_version: [u8; 4],
    pub domain: [u8; 32],
    pub signed: nodeherd_core::keys::exit::SignedVoluntaryExit,
}

/// Ask the validator host's beacon node for the chain facts and the validator (which must be
/// `pubkey` and `active_ongoing`), then sign the exit at `epoch` (default: the head's epoch)
/// with `sk` and verify it. Nothing is saved or sent here.
pub async fn sign_exit_locally(
    inv: &Inventory,
    pool: &Pool,
    validator: NodeRef,
    sk: &nodeherd_core::keys::bls::SecretKey,
    epoch: Option<u64>,
) -> Result<LocalExit, BeaconError> {
    use nodeherd_core::keys::exit;
    let pubkey = sk.public_key();
    let bn = HostBeacon::find(inv, pool, validator).await?;
    let path = format!("/eth/v1/beacon/states/head/validators/{pubkey}");
    let r = bn.request("GET", &path, None).await?;
    if r.status == 404 {
        return Err(BeaconError::UnknownValidator {
            bn: bn.label.clone(),
            pubkey: pubkey.to_string(),
            message: nodeherd_core::keymanager::types::error_message(&r.body),
        });
    }
    if r.status != 200 {
        return Err(BeaconError::Status {
            bn: bn.label.clone(),
            method: "GET",
            path,
            status: r.status,
            message: nodeherd_core::keymanager::types::error_message(&r.body),
        });
    }
    let v = bn.fact(exit::parse_validator(&r.text()))?;
    bn.fact(exit::check_exitable(&v, &pubkey))?;
    let chain = exit::ChainFacts {
        genesis_validators_root: bn.fact(exit::parse_genesis(
            &bn.get("/eth/v1/beacon/genesis").await?,
        ))?,
        fork: bn.fact(exit::parse_fork(
            &bn.get("/eth/v1/beacon/states/head/fork").await?,
        ))?,
        spec: bn.fact(exit::parse_spec(&bn.get("/eth/v1/config/spec").await?))?,
        head_slot: bn.fact(exit::parse_head_slot(
            &bn.get("/eth/v1/beacon/headers/head").await?,
        ))?,
    };
    let epoch = epoch.unwrap_or_else(|| chain.current_epoch());
    let fork_version = bn.fact(exit::exit_fork_version(&chain.fork, &chain.spec, epoch))?;
    let domain = bn.fact(exit::exit_domain(&chain, epoch))?;
    let signed = exit::sign_exit(
        sk,
        exit::VoluntaryExit {
            epoch,
            validator_index: v.index,
        },
        &domain,
    );
    bn.fact(exit::verify_exit(&pubkey, &signed, &domain))?;
    Ok(LocalExit {
        beacon: bn.label.clone(),
        chain,
        validator: v,
        fork_version,
        domain,
        signed,
    })
}

/// Submit a signed exit to the beacon node of the validator's host
/// (`POST /eth/v1/beacon/pool/voluntary_exits`). `Ok(beacon node label)` when it answered 200.
pub async fn submit_exit(
    inv: &Inventory,
    pool: &Pool,
    validator: NodeRef,
    json: &str,
) -> Result<String, BeaconError> {
    let bn = HostBeacon::find(inv, pool, validator).await?;
    let resp = bn
        .request(
            "POST",
            "/eth/v1/beacon/pool/voluntary_exits",
            Some(json.as_bytes()),
        )
        .await?;
    if resp.status == 200 {
        Ok(bn.label)
    } else {
        Err(BeaconError::Refused {
            bn: bn.label,
            status: resp.status,
            message: nodeherd_core::keymanager::types::error_message(&resp.body),
        })
    }
}

/// Which kind of key a [`DoubleSignRisk`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyChain {
    /// An Ethereum validator key (BLS pubkey, `0x` + 96 hex) from a Keymanager API.
    Ethereum,
    /// A CometBFT consensus key (base64) from `priv_validator_key.json`.
    Cosmos,
}

/// One signing key found on two or more nodes: if both sign, the validator is slashed
/// (Ethereum) or tombstoned (CometBFT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoubleSignRisk {
    pub chain: KeyChain,
    pub pubkey: String,
    /// The CometBFT address of the key (Cosmos only).
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
