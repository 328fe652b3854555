//! The y/n answers to the open dialog: one function per dialog.
//!
//! Owns: what `y` and `n`/Esc do to each dialog (start the confirmed work as an [`Effect`], or
//! say it was cancelled), re-checking readonly and busy state at the moment of the answer. May
//! not touch: I/O, clocks (`now` comes in), which dialog opens when (the other submodules do).

use chrono::{DateTime, Utc};
use crossterm::event::KeyCode;
use tokio::sync::oneshot;

use super::actions::start_action;
use super::{flash, quit};
use crate::keymap::{Action, Key};
use crate::msg::{Effect, lifecycle_of};
use crate::state::{
    App, Dialog, HostKeyAsk, ImportAsk, KeyEntry, MoveAsk, UpgradeAsk, short_pubkey,
};
use nodeherd_core::inventory::NodeRef;
use nodeherd_core::plan::apply::Planned;

/// A key while a dialog is open: Ctrl-C quits, `y`/`n`/Esc answer it, anything else is ignored.
pub(super) fn on_dialog_key(app: &mut App, key: Key, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    if key == Key::ctrl('c') {
        quit(app, fx, now);
        return;
    }
    let yes = key == Key::ch('y') || key == Key::ch('Y');
    let no = key == Key::ch('n') || key == Key::ch('N') || key == Key::code(KeyCode::Esc);
    if !yes && !no {
        return;
    }
    match app.dialog.take() {
        Some(Dialog::Confirm { action, nodes }) => {
            confirm_lifecycle(app, yes, action, nodes, now, fx);
        }
        Some(Dialog::RemoveKey { key }) => confirm_remove_key(app, yes, key, now, fx),
        Some(Dialog::ImportKeys(ask)) => confirm_import(app, yes, ask, now, fx),
        Some(Dialog::MoveKey(ask)) => confirm_move(app, yes, ask, now, fx),
        Some(Dialog::Apply { changes }) => confirm_apply(app, yes, changes, now, fx),
        Some(Dialog::Upgrade(ask)) => confirm_upgrade(app, yes, ask, now, fx),
        Some(Dialog::HostKey { ask, reply }) => answer_host_key(app, yes, ask, reply, now, fx),
        None => {}
    }
}

/// A start/stop/restart that needed confirming.
fn confirm_lifecycle(
    app: &mut App,
    yes: bool,
    action: Action,
    nodes: Vec<NodeRef>,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let Some(a) = lifecycle_of(action) else {
        return;
    };
    if yes {
        start_action(app, a, nodes, now, fx);
    } else {
        flash(app, now, format!("{} cancelled", a.verb()), false);
    }
}

/// Removing one key from its node.
fn confirm_remove_key(
    app: &mut App,
    yes: bool,
    key: KeyEntry,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let short = short_pubkey(&key.pubkey);
    let at = format!("{}/{}", key.host, key.node);
    if !yes {
        flash(
            app,
            now,
            format!("remove {short} from {at} cancelled"),
            false,
        );
    } else if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
    } else {
        app.keys_removing.insert(key.pubkey.clone());
        flash(
            app,
            now,
            format!("removing {short} from {at} (saving its slashing data first) …"),
            false,
        );
        fx.push(Effect::RemoveKey {
            node: key.r,
            pubkey: key.pubkey,
        });
    }
}

/// Importing checked keystores into a node.
fn confirm_import(
    app: &mut App,
    yes: bool,
    ask: ImportAsk,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let at = format!("{}/{}", ask.host, ask.node);
    let n = ask.pubkeys.len();
    if !yes {
        flash(app, now, format!("import into {at} cancelled"), false);
    } else if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
    } else {
        flash(
            app,
            now,
            format!("importing {n} key(s) into {at} (files and guard checked again first) …"),
            false,
        );
        fx.push(Effect::ImportKeys(ask));
    }
}

/// Moving one key to another node.
fn confirm_move(app: &mut App, yes: bool, ask: MoveAsk, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    let short = short_pubkey(&ask.pubkey);
    if !yes {
        flash(
            app,
            now,
            format!("move of {short} to {} cancelled", ask.to_label),
            false,
        );
    } else if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
    } else {
        app.keys_removing.insert(ask.pubkey.clone());
        flash(
            app,
            now,
            format!(
                "moving {short} from {} to {} (remove, save slashing data, verify, import) …",
                ask.from_label, ask.to_label
            ),
            false,
        );
        fx.push(Effect::MoveKey(ask));
    }
}

/// Applying the plan the screen shows (exactly its inputs, never a fresh plan).
fn confirm_apply(
    app: &mut App,
    yes: bool,
    changes: Vec<Planned>,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let n = changes.len();
    if !yes {
        flash(app, now, format!("apply of {n} change(s) cancelled"), false);
    } else if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
    } else if app.plan.applying {
        flash(app, now, "an apply is already running", true);
    } else if let Some(inputs) = app.plan.inputs.clone() {
        app.plan.applying = true;
        app.plan.results = None;
        for c in &changes {
            app.progress
                .insert(format!("{}/{}", c.host, c.node), "queued".into());
        }
        flash(app, now, format!("applying {n} change(s) …"), false);
        fx.push(Effect::Apply(inputs));
    } else {
        flash(app, now, "the plan is gone: R plans again", true);
    }
}

/// Upgrading or rolling back one node.
fn confirm_upgrade(
    app: &mut App,
    yes: bool,
    ask: UpgradeAsk,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let key = format!("{}/{}", ask.host, ask.node);
    let what = if ask.rollback { "rollback" } else { "upgrade" };
    if !yes {
        flash(app, now, format!("{what} of {key} cancelled"), false);
    } else if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
    } else if app.upgrading.contains(&key) {
        flash(app, now, format!("{key}: already running"), true);
    } else {
        let fx_one = if ask.rollback {
            Some(Effect::Rollback {
                node: ask.r,
                to: ask.to.clone(),
            })
        } else {
            ask.to.clone().map(|to| Effect::Upgrade { node: ask.r, to })
        };
        if let Some(e) = fx_one {
            app.upgrading.insert(key.clone());
            app.progress.insert(key.clone(), "starting".into());
            flash(app, now, format!("{what} {key} …"), false);
            fx.push(e);
        }
    }
}

/// Trusting (or refusing) an unknown host key; the next waiting question opens.
fn answer_host_key(
    app: &mut App,
    yes: bool,
    ask: HostKeyAsk,
    reply: Option<oneshot::Sender<bool>>,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    if let Some(reply) = reply {
        fx.push(Effect::AnswerHostKey { reply, accept: yes });
    }
    let verdict = if yes {
        "trusted and recorded"
    } else {
        "refused"
    };
    flash(
        app,
        now,
        format!("host key of {} {verdict}", ask.host),
        !yes,
    );
    if let Some((ask, reply)) = app.pending_keys.pop_front() {
        app.dialog = Some(Dialog::HostKey {
            ask,
            reply: Some(reply),
        });
    }
}
