//! Bound keys: what each [`Action`] does on the current screen, the cursor, and lifecycle actions.
//!
//! Owns: the action dispatch (help, back, open, mark, sort, reload, the screen-specific keys),
//! cursor movement per screen, and starting start/stop/restart (straight away, or through the
//! confirm dialog when dangerous). May not touch: I/O, clocks (`now` comes in), the keymap
//! itself (which key means which action is [`crate::keymap`]).

use chrono::{DateTime, Utc};

use super::changes::{ask_apply, ask_upgrade};
use super::keys::{ask_remove_key, prompt_import, prompt_move};
use super::{flash, go, go_back, go_fleet, plan_len, quit};
use crate::keymap::Action;
use crate::msg::{Effect, lifecycle_of};
use crate::state::{App, Dialog, LogView, Prompt, Screen};
use nodeherd_core::facts::systemd;
use nodeherd_core::inventory::NodeRef;

pub(super) fn perform(
    app: &mut App,
    action: Action,
    dangerous: bool,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let screen = app.screen;
    match action {
        Action::Quit => quit(app, fx, now),
        Action::CancelUpgrade => super::waits::cancel_selected(app, now, fx),
        Action::Suspend => fx.push(Effect::Suspend),
        Action::Help => {
            if screen == Screen::Help {
                go_back(app, fx);
            } else {
                go(app, Screen::Help);
            }
        }
        Action::Back => match screen {
            Screen::Fleet => {
                if app.filter.is_empty() {
                    app.marked.clear();
                } else {
                    app.filter.clear();
                    app.refresh_view();
                }
            }
            Screen::Detail if app.log.search.is_some() => app.log.search = None,
            _ => go_back(app, fx),
        },
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom => move_cursor(app, action),
        Action::Open => {
            if let Some(r) = app.selected_row().map(|r| r.r) {
                go(app, Screen::Detail);
                app.detail = Some(r);
                app.log = LogView {
                    node: Some(r),
                    ..LogView::default()
                };
                fx.push(Effect::FollowLogs(r));
            }
        }
        Action::Mark => {
            if let Some(r) = app.selected_row().map(|r| r.r) {
                if !app.marked.remove(&r) {
                    app.marked.insert(r);
                }
                move_cursor(app, Action::Down);
            }
        }
        Action::Filter => app.prompt = Some(Prompt::Filter(app.filter.clone())),
        Action::Command => app.prompt = Some(Prompt::Command(String::new())),
        Action::LogSearch => {
            app.prompt = Some(Prompt::Search(app.log.search.clone().unwrap_or_default()));
        }
        Action::Sort => {
            app.sort = app.sort.next();
            app.refresh_view();
            flash(app, now, format!("sorted by {}", app.sort.label()), false);
        }
        Action::Refresh => {
            fx.push(Effect::PollNow);
            flash(app, now, "polling every host now", false);
        }
        Action::ShowAlerts => go(app, Screen::Alerts),
        Action::ShowFleet => go_fleet(app, fx),
        Action::ShowCosmos => super::cosmos::open_cosmos(app, fx),
        Action::Reload => reload(app, screen, now, fx),
        Action::RemoveKey => {
            if screen == Screen::Keys {
                ask_remove_key(app, now);
            }
        }
        Action::ImportKey => {
            if screen == Screen::Keys {
                prompt_import(app, now);
            }
        }
        Action::MoveKey => {
            if screen == Screen::Keys {
                prompt_move(app, now);
            }
        }
        Action::Apply => {
            if screen == Screen::Plan {
                ask_apply(app, now);
            }
        }
        Action::Upgrade | Action::Rollback => {
            if screen == Screen::Releases {
                ask_upgrade(app, action == Action::Rollback, now);
            }
        }
        Action::LogPause => {
            app.log.paused_at = match app.log.paused_at {
                Some(_) => None,
                None => Some(app.log.next_seq),
            };
            if app.log.paused_at.is_none() {
                app.log.scroll = 0;
            }
        }
        Action::LogWrap => app.log.wrap = !app.log.wrap,
        Action::Start | Action::Stop | Action::Restart => {
            lifecycle(app, action, dangerous, now, fx);
        }
    }
}

/// `R`: load the current screen's data again, unless a load is running (or cannot start).
fn reload(app: &mut App, screen: Screen, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    let started = match screen {
        Screen::Releases => app.releases.start().then_some(Effect::LoadReleases),
        Screen::Keys => app.keys.start().then_some(Effect::LoadKeys),
        Screen::History => app.history.start().then_some(Effect::LoadHistory),
        Screen::Cosmos => app.cosmos.start().then_some(Effect::LoadCosmos),
        Screen::Plan => {
            if app.plan.playbook.is_none() {
                flash(
                    app,
                    now,
                    "no playbook: start with `nodeherd tui -p PLAYBOOK`",
                    true,
                );
                return;
            }
            if app.plan.applying {
                flash(
                    app,
                    now,
                    "an apply is running: plan again when it ended",
                    true,
                );
                return;
            }
            app.plan.plan.start().then_some(Effect::LoadPlan)
        }
        _ => return,
    };
    match started {
        Some(e) => fx.push(e),
        None => flash(app, now, "already loading", false),
    }
}

/// start/stop/restart on the targets: the confirm dialog when dangerous or disruptive.
fn lifecycle(
    app: &mut App,
    action: Action,
    dangerous: bool,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let Some(a) = lifecycle_of(action) else {
        return;
    };
    // never trust the caller: a readonly table has no such binding, and nothing else may act
    if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
        return;
    }
    let nodes = targets(app);
    if nodes.is_empty() {
        flash(app, now, "no node selected", true);
        return;
    }
    if dangerous || a.is_disruptive() {
        app.dialog = Some(Dialog::Confirm { action, nodes });
    } else {
        start_action(app, a, nodes, now, fx);
    }
}

fn move_cursor(app: &mut App, action: Action) {
    let page = app.page.max(1);
    let step = |cur: usize, len: usize| -> usize {
        let last = len.saturating_sub(1);
        match action {
            Action::Up => cur.saturating_sub(1),
            Action::Down => (cur + 1).min(last),
            Action::PageUp => cur.saturating_sub(page),
            Action::PageDown => (cur + page).min(last),
            Action::Top => 0,
            _ => last,
        }
    };
    match app.screen {
        Screen::Fleet => app.selected = step(app.selected, app.view.len()),
        Screen::Alerts => app.alerts_selected = step(app.alerts_selected, app.alerts.len()),
        Screen::Releases => {
            let n = app.releases.data.as_ref().map_or(0, Vec::len);
            app.releases_selected = step(app.releases_selected, n);
        }
        Screen::Keys => {
            let n = app.key_entries().len();
            app.keys_selected = step(app.keys_selected, n);
        }
        Screen::Plan => {
            let n = app.plan.plan.data.as_ref().map_or(0, plan_len);
            app.plan.selected = step(app.plan.selected, n);
        }
        Screen::History => {
            let n = app.history.data.as_ref().map_or(0, |h| h.entries.len());
            app.history_selected = step(app.history_selected, n);
        }
        Screen::Cosmos => {
            app.cosmos_scroll = match action {
                Action::Up => app.cosmos_scroll.saturating_sub(1),
                Action::Down => app.cosmos_scroll + 1,
                Action::PageUp => app.cosmos_scroll.saturating_sub(page),
                Action::PageDown => app.cosmos_scroll + page,
                Action::Top => 0,
                _ => app.cosmos_scroll,
            }
        }
        Screen::Help => {
            app.help_scroll = match action {
                Action::Up => app.help_scroll.saturating_sub(1),
                Action::Down => app.help_scroll + 1,
                Action::PageUp => app.help_scroll.saturating_sub(page),
                Action::PageDown => app.help_scroll + page,
                Action::Top => 0,
                _ => app.help_scroll,
            }
        }
        Screen::Detail => {
            // the log scrolls from its end; scrolling up pins the view like a pause
            let total = app.log.visible().count();
            let s = app.log.scroll;
            app.log.scroll = match action {
                Action::Up => (s + 1).min(total),
                Action::Down => s.saturating_sub(1),
                Action::PageUp => (s + page).min(total),
                Action::PageDown => s.saturating_sub(page),
                Action::Top => total,
                _ => 0,
            };
        }
    }
}

/// Targets of an action: the detail node, else the marked nodes, else the selected one.
fn targets(app: &App) -> Vec<NodeRef> {
    if app.screen == Screen::Detail {
        return app.detail.into_iter().collect();
    }
    if !app.marked.is_empty() {
        return app.marked.iter().copied().collect();
    }
    app.selected_row().map(|r| r.r).into_iter().collect()
}

pub(super) fn start_action(
    app: &mut App,
    action: systemd::Action,
    nodes: Vec<NodeRef>,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let nodes: Vec<NodeRef> = nodes
        .into_iter()
        .filter(|n| !app.busy.contains(n))
        .collect();
    if nodes.is_empty() {
        flash(app, now, "an action is already running on that node", true);
        return;
    }
    app.busy.extend(nodes.iter().copied());
    app.marked.clear();
    let what = if nodes.len() == 1 {
        app.row_of(nodes[0])
            .map(|r| format!("{}/{}", r.host, r.node))
            .unwrap_or_default()
    } else {
        format!("{} nodes", nodes.len())
    };
    flash(app, now, format!("{}: {what} …", action.verb()), false);
    fx.push(Effect::Act { action, nodes });
}
