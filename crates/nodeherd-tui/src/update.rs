//! The reducer: `update(&mut App, Msg, now) -> Vec<Effect>`, pure.
//!
//! Owns: every state transition of the TUI (keys through the keymap, dialogs, prompts, worker
//! results), dispatched here to one submodule per concern: [`actions`] (bound keys, cursor,
//! lifecycle actions), [`dialogs`] (the y/n answers), [`prompt`] (the `:`/`/` line and its
//! commands), [`keys`] (the keys screen), [`changes`] (releases, plan/apply, upgrades, history),
//! [`cosmos`] (the Cosmos screen) and [`results`] (fleet worker results). May not touch: I/O, clocks (time comes in as `now`),
//! the terminal; whatever must happen outside is returned as an [`Effect`] for the runtime.

mod actions;
mod changes;
mod cosmos;
mod dialogs;
mod keys;
mod prompt;
mod results;
mod waits;

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyEvent, KeyEventKind};

use crate::keymap::Key;
use crate::msg::{Effect, Msg};
use crate::state::{App, Dialog, Flash, LogView, Screen};
use nodeherd_core::text::sanitize;

/// How long a flash message stays.
const FLASH_SECS: i64 = 6;

/// Apply one message to the state; returns what the runtime must do.
pub fn update(app: &mut App, msg: Msg, now: DateTime<Utc>) -> Vec<Effect> {
    let mut fx = Vec::new();
    match msg {
        Msg::Key(k) => {
            if k.kind == KeyEventKind::Release {
                return fx;
            }
            app.dirty = true;
            on_key(app, k, now, &mut fx);
        }
        Msg::Resize(..) => app.dirty = true,
        Msg::Tick => {
            if app.flash.as_ref().is_some_and(|f| f.until <= now) {
                app.flash = None;
            }
            // ages on screen ("polled 3s ago") move
            app.dirty = true;
        }
        Msg::PollStarted => {
            app.polling = true;
            app.dirty = true;
        }
        Msg::StatusBatch(batch) => results::on_status_batch(app, batch, now),
        Msg::Metrics {
            host,
            node,
            metrics,
        } => results::on_metrics(app, &host, &node, metrics),
        Msg::Alerts(list) => results::on_alerts(app, list),
        Msg::Releases(r) => changes::on_releases(app, r, now),
        Msg::Keys(list) => keys::on_keys(app, list, now),
        Msg::ImportChecked(r) => keys::on_import_checked(app, r, now),
        Msg::MoveChecked(r) => keys::on_move_checked(app, r, now),
        Msg::KeysImported { ok, text } => keys::on_key_job_done(app, None, ok, &text, now, &mut fx),
        Msg::KeyMoved { pubkey, ok, text } | Msg::KeyRemoved { pubkey, ok, text } => {
            keys::on_key_job_done(app, Some(&pubkey), ok, &text, now, &mut fx);
        }
        Msg::LogLine { node, line } => results::on_log_line(app, node, line),
        Msg::LogEnded { node, error } => results::on_log_ended(app, node, error),
        Msg::ActionDone { action, outcomes } => {
            results::on_action_done(app, action, outcomes, now);
            fx.push(Effect::PollNow);
            app.dirty = true;
        }
        Msg::HostKeyQuestion { ask, reply } => {
            if app.dialog.is_none() {
                app.dialog = Some(Dialog::HostKey {
                    ask,
                    reply: Some(reply),
                });
            } else {
                app.pending_keys.push_back((ask, reply));
            }
            app.dirty = true;
        }
        Msg::Notice { text, error } => {
            flash(app, now, sanitize(&text), error);
            app.dirty = true;
        }
        Msg::Plan(r) => changes::on_plan(app, r, now),
        Msg::Progress { key, event } => changes::on_progress(app, key, event),
        Msg::Wait { key, step } => waits::on_wait(app, key, step),
        Msg::Applied(r) => changes::on_applied(app, r, now, &mut fx),
        Msg::UpgradeDone {
            key,
            rollback,
            outcome,
        } => changes::on_upgrade_done(app, key, rollback, outcome, now, &mut fx),
        Msg::History(r) => changes::on_history(app, r, now),
        Msg::Cosmos(list) => cosmos::on_cosmos(app, list, now),
        Msg::Terminate => {
            // a signal from outside: cancel what only waits, wait for switches in flight
            waits::cancel_waiting(app, &mut fx);
            quit_now(app, &mut fx);
        }
        Msg::SuspendRequested => fx.push(Effect::Suspend),
    }
    fx
}

fn flash(app: &mut App, now: DateTime<Utc>, text: impl Into<String>, error: bool) {
    app.flash = Some(Flash {
        text: text.into(),
        error,
        until: now + Duration::seconds(FLASH_SECS),
    });
}

/// Quit asked from the keyboard: upgrades that only wait are cancelled; switches in flight are
/// named first, and left to the hosts' guards when asked again ([`waits::may_quit`]).
fn quit(app: &mut App, fx: &mut Vec<Effect>, now: DateTime<Utc>) {
    if waits::may_quit(app, fx, now) {
        quit_now(app, fx);
    }
}

fn quit_now(app: &mut App, fx: &mut Vec<Effect>) {
    // refuse every open host-key question: nothing may stay waiting on a dead UI
    if let Some(Dialog::HostKey {
        reply: Some(reply), ..
    }) = app.dialog.take()
    {
        fx.push(Effect::AnswerHostKey {
            reply,
            accept: false,
        });
    }
    for (_, reply) in app.pending_keys.drain(..) {
        fx.push(Effect::AnswerHostKey {
            reply,
            accept: false,
        });
    }
    app.quit = true;
    app.dirty = true;
    fx.push(Effect::Quit);
}

fn on_key(app: &mut App, k: KeyEvent, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    let key = Key::from_event(&k);
    if app.dialog.is_some() {
        dialogs::on_dialog_key(app, key, now, fx);
        return;
    }
    if app.prompt.is_some() {
        prompt::on_prompt_key(app, k, now, fx);
        return;
    }
    let Some(binding) = app.keymap.lookup(app.context(), key).copied() else {
        return;
    };
    actions::perform(app, binding.action, binding.dangerous, now, fx);
}

fn go(app: &mut App, to: Screen) {
    if app.screen != to {
        app.back.push(app.screen);
        app.screen = to;
    }
    app.help_scroll = 0;
}

fn go_fleet(app: &mut App, fx: &mut Vec<Effect>) {
    if app.log.node.is_some() {
        fx.push(Effect::StopLogs);
    }
    app.log = LogView::default();
    app.detail = None;
    app.back.clear();
    app.screen = Screen::Fleet;
}

fn go_back(app: &mut App, fx: &mut Vec<Effect>) {
    let leaving = app.screen;
    let to = app.back.pop().unwrap_or(Screen::Fleet);
    if leaving == Screen::Detail && to != Screen::Help {
        fx.push(Effect::StopLogs);
        app.log = LogView::default();
        app.detail = None;
    }
    app.screen = to;
}

/// Rows of the plan screen: changes, then no-ops, then unknown nodes.
pub fn plan_len(p: &nodeherd_core::plan::apply::Plan) -> usize {
    p.changes.len() + p.noops.len() + p.unknown.len()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wait_tests;
