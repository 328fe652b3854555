//! The keys screen: listing, `:import`, `:move`, removal, and what their workers report.
//!
//! Owns: the checks a key action must pass before a worker or a dialog sees it (readonly, a key
//! selected, not busy, not a remote-signer, read-only or consensus key) and folding key results
//! into the state. May not touch: key files, servers or the guard itself (workers do, through
//! [`Effect`]s), clocks (`now` comes in).

use chrono::{DateTime, Utc};

use super::{flash, go};
use crate::keycmd;
use crate::keymap::Action;
use crate::msg::Effect;
use crate::state::{
    App, Dialog, ImportAsk, KeyEntry, MoveAsk, NodeKeys, Prompt, Screen, WorkerError, short_pubkey,
};
use nodeherd_core::text::sanitize;

/// Every validator node's keys.
pub(super) fn on_keys(app: &mut App, list: Vec<NodeKeys>, now: DateTime<Utc>) {
    app.keys.finish(Ok(list), now);
    let n = app.key_entries().len();
    app.keys_selected = app.keys_selected.min(n.saturating_sub(1));
    app.dirty = true;
}

/// An `:import` was checked: the confirm dialog, unless another one is open (or why not).
pub(super) fn on_import_checked(
    app: &mut App,
    r: Result<ImportAsk, WorkerError>,
    now: DateTime<Utc>,
) {
    app.keys_checking = false;
    match r {
        Ok(ask) if app.dialog.is_none() && !app.readonly => {
            app.dialog = Some(Dialog::ImportKeys(ask));
        }
        Ok(_) => flash(app, now, "import not started: another dialog is open", true),
        Err(e) => flash(app, now, sanitize(&e.to_string()), true),
    }
    app.dirty = true;
}

/// An `:move` was checked: the confirm dialog, unless another one is open (or why not).
pub(super) fn on_move_checked(app: &mut App, r: Result<MoveAsk, WorkerError>, now: DateTime<Utc>) {
    app.keys_checking = false;
    match r {
        Ok(ask) if app.dialog.is_none() && !app.readonly => {
            app.dialog = Some(Dialog::MoveKey(ask));
        }
        Ok(_) => flash(app, now, "move not started: another dialog is open", true),
        Err(e) => flash(app, now, sanitize(&e.to_string()), true),
    }
    app.dirty = true;
}

/// An import, move or removal ended (`pubkey`: the key a move or removal held busy): the result
/// in the flash line, and whatever happened, the list again to show what the nodes hold now.
pub(super) fn on_key_job_done(
    app: &mut App,
    pubkey: Option<&str>,
    ok: bool,
    text: &str,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    if let Some(pubkey) = pubkey {
        app.keys_removing.remove(pubkey);
    }
    flash(app, now, sanitize(text), !ok);
    if app.keys.start() {
        fx.push(Effect::LoadKeys);
    }
    app.dirty = true;
}

/// Show the keys screen and (re)list the keys unless a listing is running.
pub(super) fn open_keys(app: &mut App, fx: &mut Vec<Effect>) {
    go(app, Screen::Keys);
    if app.keys.start() {
        fx.push(Effect::LoadKeys);
    }
}

/// `:import` / `:move`: parse against the listed nodes, then let a worker check the files
/// (and the guard) before any dialog opens. Nothing here touches a server.
pub(super) fn key_command(
    app: &mut App,
    head: &str,
    args: &[&str],
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let action = if head == "import" {
        Action::ImportKey
    } else {
        Action::MoveKey
    };
    if app.readonly || !app.keymap.has(action) {
        flash(app, now, format!(":{head} is disabled (--readonly)"), true);
        return;
    }
    if app.keys.data.is_none() {
        flash(
            app,
            now,
            format!(":{head} needs the keys listed first (:keys)"),
            true,
        );
        return;
    }
    if app.keys_checking {
        flash(app, now, "a key check is already running", true);
        return;
    }
    let nodes = app.listed_key_nodes();
    let effect = if head == "import" {
        keycmd::parse_import(args, &nodes)
            .map(Effect::CheckImport)
            .map_err(|e| e.to_string())
    } else {
        keycmd::parse_move(args, &nodes)
            .map_err(|e| e.to_string())
            .and_then(|m| {
                if app.keys_removing.contains(&m.pubkey) {
                    Err(format!(
                        "{}: a removal or move is already running",
                        short_pubkey(&m.pubkey)
                    ))
                } else {
                    Ok(Effect::CheckMove(m))
                }
            })
    };
    drop(nodes);
    match effect {
        Ok(e) => {
            app.keys_checking = true;
            flash(
                app,
                now,
                if head == "import" {
                    "checking the keystores and asking every other validator node (double-sign guard) …"
                } else {
                    "checking that the keystore opens to the key (this takes a few seconds) …"
                },
                false,
            );
            fx.push(e);
        }
        Err(e) => flash(app, now, e, true),
    }
}

/// `i` on the keys screen: the `:import` prompt, pre-filled with the selected key's node (or the
/// first validator node listed).
pub(super) fn prompt_import(app: &mut App, now: DateTime<Utc>) {
    if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
        return;
    }
    let node = app
        .selected_key()
        .filter(|k| k.cosmos.is_none())
        .map(|k| format!("{}/{}", k.host, k.node))
        .or_else(|| app.listed_key_nodes().first().map(|n| n.name.clone()));
    let Some(node) = node else {
        flash(app, now, "no validator node listed (R reloads)", true);
        return;
    };
    app.prompt = Some(Prompt::Command(format!("import {node} ")));
    flash(app, now, keycmd::IMPORT_USAGE, false);
}

/// The selected key, when this console may remove it from its node (a move removes it too):
/// not `--readonly`, a key selected, not busy, not a remote-signer or read-only key. Otherwise the
/// flash line says why and `None`.
fn removable_selected_key(app: &mut App, now: DateTime<Utc>, verb: &str) -> Option<KeyEntry> {
    // never trust the caller: a readonly table has no such binding, and nothing else may act
    if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
        return None;
    }
    let Some(key) = app.selected_key().cloned() else {
        flash(app, now, "no key selected", true);
        return None;
    };
    let short = short_pubkey(&key.pubkey);
    let why = if key.cosmos.is_some() {
        format!(
            "{short} is a CometBFT consensus key: nodeherd lists it and checks it for double signing, \
             it does not {verb} it (stop the old node before its key runs anywhere else)"
        )
    } else if app.keys_removing.contains(&key.pubkey) {
        format!("{short}: a removal or move is already running")
    } else if key.remote {
        format!("{short} is a remote-signer key: {verb} it on the signer")
    } else if key.readonly == Some(true) {
        format!(
            "{short} is read-only on {}/{}: the client will not remove it",
            key.host, key.node
        )
    } else {
        return Some(key);
    };
    flash(app, now, why, true);
    None
}

/// `m` on the keys screen: the `:move` prompt, pre-filled with the selected key.
pub(super) fn prompt_move(app: &mut App, now: DateTime<Utc>) {
    if let Some(key) = removable_selected_key(app, now, "move") {
        app.prompt = Some(Prompt::Command(format!("move {} --to ", key.pubkey)));
        flash(app, now, keycmd::MOVE_USAGE, false);
    }
}

/// `d` on the keys screen: the confirm dialog for the selected key (never the removal itself).
pub(super) fn ask_remove_key(app: &mut App, now: DateTime<Utc>) {
    if let Some(key) = removable_selected_key(app, now, "remove") {
        app.dialog = Some(Dialog::RemoveKey { key });
    }
}
