//! Key workers: the fleet's key listing, removals, imports and moves, through the same
//! `nodeherd_engine::keys` use cases as `nodeherd keys`.
//!
//! Owns: the checks a dialog shows before it asks, and the one-line results. May not touch: the
//! order of a key operation's steps (the engine's), the state.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::feed::{self};
use crate::msg::Msg;
use crate::state::{NodeKeys, WorkerError};
use nodeherd_core::inventory::NodeRef;
use nodeherd_core::keys::Secret;
use nodeherd_engine::keys::files::{FileError, OpenError, open_keystore};
use nodeherd_engine::keys::{ImportError, ImportFiles, RemoveNodeError};

use crate::runtime::World;

/// List the keys of every key source of the session (at most `forks` nodes of each kind at once,
/// one error per node).
pub(crate) fn spawn_keys(world: &World, tx: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let fleet = nodeherd_engine::keys::list_fleet(
            &world.pool,
            &world.inv,
            &world.nodes,
            world.config.forks,
            false,
        )
        .await;
        let sanitize =
            |e: &dyn std::fmt::Display| nodeherd_core::facts::systemd::sanitize(&e.to_string());
        let entry = |r: NodeRef, keys, cosmos| {
            let (h, n) = world.inv.node(r);
            NodeKeys {
                r,
                host: h.name.clone(),
                node: n.name.clone(),
                keys,
                cosmos,
            }
        };
        let mut lists: Vec<NodeKeys> = fleet
            .validators
            .into_iter()
            .map(|(r, res)| {
                let (h, n) = world.inv.node(r);
                let keys = res
                    .map(|rows| feed::key_entries(r, &h.name, &n.name, rows))
                    .map_err(|e| WorkerError(sanitize(&e)));
                entry(r, keys, false)
            })
            .collect();
        // CometBFT consensus keys: the public half only (see nodeherd_engine::keys::consensus)
        lists.extend(fleet.consensus.into_iter().map(|(r, res)| {
            let (h, n) = world.inv.node(r);
            let keys = res
                .map(|row| vec![feed::cosmos_entry(r, &h.name, &n.name, row)])
                .map_err(|e| WorkerError(sanitize(&e)));
            entry(r, keys, true)
        }));
        let _ = tx.send(Msg::Keys(lists));
    })
}

/// Remove one key with `nodeherd_engine::keys::remove` (slashing data saved to the console state dir and the
/// host before anything else; nothing is removed when that cannot be done) and report.
pub(crate) fn spawn_remove_key(
    world: &World,
    r: NodeRef,
    pubkey: String,
    tx: mpsc::UnboundedSender<Msg>,
) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let label = nodeherd_engine::keys::label(&world.inv, r);
        let short = crate::state::short_pubkey(&pubkey);
        tracing::info!(node = %label, pubkey = %pubkey, "tui key remove");
        let fail = |e: String| (false, format!("remove {short} from {label}: {e}"));
        let (ok, text) = async {
            let Some(dir) = nodeherd_engine::keys::console_state_dir() else {
                return fail(
                    "no state directory (set HOME or XDG_STATE_HOME); nothing removed".into(),
                );
            };
            let removed = nodeherd_engine::keys::remove_from_node(
                &world.pool,
                &world.inv,
                r,
                std::slice::from_ref(&pubkey),
                &dir,
            )
            .await;
            match removed {
                Ok(o) => {
                    if !o.saved() {
                        // the only copy may be this one: keep it in the log file
                        tracing::error!(
                            node = %label,
                            slashing_protection = %o.slashing_protection,
                            "slashing protection data was not saved everywhere"
                        );
                    }
                    feed::remove_summary(&o)
                }
                Err(e @ (RemoveNodeError::Connect(_) | RemoveNodeError::Session(_))) => {
                    fail(format!("{e}; nothing removed"))
                }
                Err(e @ RemoveNodeError::Remove(_)) => fail(e.to_string()),
            }
        }
        .await;
        let _ = tx.send(Msg::KeyRemoved {
            pubkey,
            ok,
            text: nodeherd_core::facts::systemd::sanitize(&text),
        });
    })
}

/// Why an `:import` was refused before anything was sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImportCheckError {
    #[error("{0}")]
    Files(#[from] FileError),
    #[error(
        "import refused by the double-sign guard: {0} (nodeherd keys import --i-understand-double-signing-risk is the only override)"
    )]
    Guard(String),
}

/// Read and check what an `:import` names: keystores (their pubkeys), the password file, the
/// slashing file; then the double-sign guard over every other validator node of the inventory.
pub(crate) async fn read_and_guard(
    world: &World,
    c: &crate::keycmd::ImportCmd,
) -> Result<(crate::state::ImportAsk, ImportFiles, Secret<String>), ImportCheckError> {
    let mut material = nodeherd_engine::keys::read_import_files(
        &c.files,
        Some(&c.password_file),
        c.slashing.as_deref(),
    )?;
    let password = material
        .password
        .take()
        .unwrap_or_else(|| Secret::new(String::new()));
    let pubkeys = material.pubkeys();
    let problems =
        nodeherd_engine::keys::double_sign_guard(&world.inv, &world.pool, &pubkeys, &[c.node])
            .await;
    if !problems.is_empty() {
        let list: Vec<String> = problems
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        return Err(ImportCheckError::Guard(list.join("; ")));
    }
    let guard_asked = nodeherd_engine::keys::keymanager_nodes(&world.inv)
        .into_iter()
        .filter(|r| *r != c.node)
        .count();
    let (h, n) = world.inv.node(c.node);
    let ask = crate::state::ImportAsk {
        r: c.node,
        host: h.name.clone(),
        node: n.name.clone(),
        files: c.files.clone(),
        pubkeys,
        password_file: c.password_file.clone(),
        slashing: c.slashing.clone(),
        guard_asked,
    };
    Ok((ask, material, password))
}

/// A confirmed import: everything is read and checked again (the files and the fleet may have
/// changed while the dialog was open), then `POST /eth/v1/keystores` with what was read.
pub(crate) async fn run_import(world: &World, ask: &crate::state::ImportAsk) -> (bool, String) {
    let at = format!("{}/{}", ask.host, ask.node);
    let again = crate::keycmd::ImportCmd {
        node: ask.r,
        files: ask.files.clone(),
        password_file: ask.password_file.clone(),
        slashing: ask.slashing.clone(),
    };
    let (checked, material, password) = match read_and_guard(world, &again).await {
        Ok(x) => x,
        Err(e) => return (false, format!("nothing imported into {at}: {e}")),
    };
    if checked.pubkeys != ask.pubkeys {
        return (
            false,
            format!("nothing imported into {at}: the keystore files changed since the dialog"),
        );
    }
    let imported = nodeherd_engine::keys::import_into(
        &world.pool,
        &world.inv,
        ask.r,
        &material.keystores,
        &password,
        material.slashing.as_deref(),
    )
    .await;
    match imported {
        Ok(results) => feed::import_summary(&at, &ask.pubkeys, &results),
        Err(e @ ImportError::Connect(_)) => (false, format!("nothing imported into {at}: {e}")),
        Err(e @ ImportError::Import(_)) => (false, format!("import into {at} failed: {e}")),
    }
}

/// Check a `:move`: the keystore must open with the password to exactly the key (one KDF run,
/// off the async workers).
pub(crate) async fn check_move(
    world: &World,
    c: &crate::keycmd::MoveCmd,
) -> Result<crate::state::MoveAsk, OpenError> {
    open_keystore(&c.keystore, &c.password_file, &c.pubkey).await?;
    Ok(crate::state::MoveAsk {
        pubkey: c.pubkey.clone(),
        from: c.from,
        from_label: nodeherd_engine::keys::label(&world.inv, c.from),
        to: c.to,
        to_label: nodeherd_engine::keys::label(&world.inv, c.to),
        keystore: c.keystore.clone(),
        password_file: c.password_file.clone(),
    })
}

/// A confirmed move, through the same engine as `nodeherd keys move`.
pub(crate) async fn run_move(world: &World, ask: &crate::state::MoveAsk) -> (bool, String) {
    let short = crate::state::short_pubkey(&ask.pubkey);
    let Some(dir) = nodeherd_engine::keys::console_state_dir() else {
        return (
            false,
            format!(
                "move of {short}: no state directory (set HOME or XDG_STATE_HOME); nothing changed"
            ),
        );
    };
    let (text, pw) = match open_keystore(&ask.keystore, &ask.password_file, &ask.pubkey).await {
        Ok(x) => x,
        Err(e) => return (false, format!("move of {short}: {e}; nothing changed")),
    };
    let report = nodeherd_engine::keys::move_key(
        &world.inv,
        &world.pool,
        &ask.pubkey,
        ask.from,
        ask.to,
        &text,
        &pw,
        &dir,
        &nodeherd_engine::keys::MoveOptions::default(),
    )
    .await;
    for step in &report.steps {
        tracing::info!(pubkey = %ask.pubkey, step = %step, "tui key move");
    }
    feed::move_summary(&report, &ask.pubkey, &ask.from_label, &ask.to_label)
}
