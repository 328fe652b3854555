//! What upgrades and rollbacks in flight wait for: the quiet window's countdown and the gate's
//! progress as the engine reports them, cancelling one that has not switched yet, and quitting
//! while they run (cancel what only waits; name a switch in flight before leaving it).
//!
//! Owns: `App::waits`, `App::switching`, `App::quit_armed`, `App::leave_switches` and the texts
//! about them. May not touch: I/O, clocks (`now` comes in), starting upgrades (that is
//! [`super::changes`]).

use chrono::{DateTime, Utc};
use nodeherd_engine::upgrade::engine::Event;
use nodeherd_engine::upgrade::progress::Step;

use super::flash;
use crate::msg::{Effect, wait_text};
use crate::state::App;

/// The engine says what `key`'s upgrade waits for now.
pub(super) fn on_wait(app: &mut App, key: String, step: Step) {
    if app.upgrading.contains(&key) {
        if matches!(step, Step::Gate { .. }) {
            app.switching.insert(key.clone());
        }
        app.waits.insert(key, step);
        app.dirty = true;
    }
}

/// A coarse engine event of `key`: from `Switching` on, its switch is in flight (too late to
/// cancel) and the quiet-window countdown is over.
pub(super) fn on_event(app: &mut App, key: &str, event: Event) {
    if event == Event::Switching && app.upgrading.contains(key) {
        app.switching.insert(key.to_string());
        app.waits.remove(key);
    }
}

/// `key`'s upgrade or rollback ended.
pub(super) fn on_done(app: &mut App, key: &str) {
    app.waits.remove(key);
    app.switching.remove(key);
    if app.switching.is_empty() {
        app.quit_armed = false;
    }
}

/// `c` on the releases screen: cancel the selected node's upgrade or rollback if it only waits.
pub(super) fn cancel_selected(app: &mut App, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    let Some(key) = app
        .releases
        .data
        .as_ref()
        .and_then(|d| d.get(app.releases_selected))
        .map(|r| format!("{}/{}", r.host, r.node))
    else {
        flash(app, now, "no node selected", true);
        return;
    };
    let text = if !app.upgrading.contains(&key) {
        format!("nothing to cancel: no upgrade or rollback of {key} is running")
    } else if app.switching.contains(&key) {
        format!(
            "too late to cancel {key}: its switch started; it goes on to its health gate, then confirms or rolls back"
        )
    } else {
        fx.push(Effect::CancelUpgrade { key: key.clone() });
        format!(
            "cancelling the upgrade/rollback of {key}: it stops before its switch, nothing changes"
        )
    };
    flash(app, now, text, false);
    app.dirty = true;
}

/// Cancel every upgrade or rollback that has not switched yet.
pub(super) fn cancel_waiting(app: &mut App, fx: &mut Vec<Effect>) {
    for key in app.upgrading.difference(&app.switching) {
        fx.push(Effect::CancelUpgrade { key: key.clone() });
    }
}

/// Whether a keyboard quit may go on: upgrades that only wait are cancelled (the runtime then
/// waits the moment they take to stop); with a switch in flight the first quit names it and
/// stays, the second leaves it to the host's guard (which rolls it back unless confirmed).
pub(super) fn may_quit(app: &mut App, fx: &mut Vec<Effect>, now: DateTime<Utc>) -> bool {
    let Some(key) = app.upgrading.intersection(&app.switching).next().cloned() else {
        cancel_waiting(app, fx);
        return true;
    };
    if app.quit_armed {
        cancel_waiting(app, fx);
        app.leave_switches = true;
        return true;
    }
    app.quit_armed = true;
    let how = app
        .waits
        .get(&key)
        .and_then(wait_text)
        .map_or_else(String::new, |t| format!(" ({t})"));
    flash(
        app,
        now,
        format!(
            "waiting for {key} to finish its switch{how}; q again to leave it to the host's guard"
        ),
        true,
    );
    app.dirty = true;
    false
}
