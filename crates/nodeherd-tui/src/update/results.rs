//! Fleet worker results: poll batches, metrics, alerts, the followed log and lifecycle outcomes.
//!
//! Owns: folding what the fleet workers report into the rows, the alert list and the log view.
//! May not touch: I/O or clocks (`now` comes in), the screen, anything about keys, plans or
//! upgrades (those are [`super::keys`] and [`super::changes`]).

use chrono::{DateTime, Utc};

use super::flash;
use crate::state::{AlertRow, AlertState, App, NodeMetrics, Screen};
use nodeherd_core::facts::systemd::{self, JournalLine};
use nodeherd_core::inventory::NodeRef;
use nodeherd_core::text::sanitize;
use nodeherd_engine::status::NodeStatus;

/// One poll's results: every row gets its node's status.
pub(super) fn on_status_batch(app: &mut App, batch: Vec<NodeStatus>, now: DateTime<Utc>) {
    for s in batch {
        if let Some(i) = app.row_index(&s.host, &s.node) {
            app.rows[i].status = Some(s);
        }
    }
    app.polling = false;
    app.last_poll = Some(now);
    app.refresh_view();
    app.dirty = true;
}

/// Numbers for one node.
pub(super) fn on_metrics(app: &mut App, host: &str, node: &str, metrics: NodeMetrics) {
    if let Some(i) = app.row_index(host, node) {
        app.rows[i].metrics = metrics;
        app.dirty = true;
    }
}

/// The current alert list: replaces the previous one and recounts every row's firing alerts.
pub(super) fn on_alerts(app: &mut App, list: Vec<AlertRow>) {
    for row in &mut app.rows {
        row.alerts = list
            .iter()
            .filter(|a| {
                // a host-level alert (no node) counts on every node of its host
                a.state == AlertState::Firing
                    && a.host == row.host
                    && (a.node == row.node || a.node.is_empty())
            })
            .count();
    }
    app.alerts = list;
    app.alerts
        .sort_by(|a, b| a.state.cmp(&b.state).then(b.since.cmp(&a.since)));
    app.alerts_selected = app.alerts_selected.min(app.alerts.len().saturating_sub(1));
    app.dirty = true;
}

/// A line of the followed journal (dropped when it is not the followed node's).
pub(super) fn on_log_line(app: &mut App, node: NodeRef, line: JournalLine) {
    if app.log.node == Some(node) {
        app.log.push(line);
        if app.screen == Screen::Detail && app.log.paused_at.is_none() {
            app.dirty = true;
        }
    }
}

/// The journal follow ended.
pub(super) fn on_log_ended(app: &mut App, node: NodeRef, error: Option<String>) {
    if app.log.node == Some(node) {
        app.log.ended = Some(error.unwrap_or_else(|| "the journal follow ended".into()));
        app.dirty = true;
    }
}

pub(super) fn on_action_done(
    app: &mut App,
    action: systemd::Action,
    outcomes: Vec<nodeherd_engine::lifecycle::ActionOutcome>,
    now: DateTime<Utc>,
) {
    let mut ok = 0;
    let mut failed: Vec<String> = Vec::new();
    let mut single: Option<String> = None;
    let n = outcomes.len();
    for o in outcomes {
        let Some(i) = app.row_index(&o.host, &o.node) else {
            continue;
        };
        let r = app.rows[i].r;
        app.busy.remove(&r);
        let before = app.rows[i].pid();
        if let (Some(after), Some(st)) = (o.after.clone(), app.rows[i].status.as_mut()) {
            st.error = after.problem().map(|p| sanitize(&p));
            st.unit_state = Some(after);
            st.checked_at = now;
            if st.error.is_none() {
                st.last_log = None;
            }
        }
        let after_pid = o.after.as_ref().and_then(|u| u.main_pid);
        let pid = |p: Option<u32>| p.map_or_else(|| "-".into(), |p| p.to_string());
        if o.ok {
            ok += 1;
            single = Some(format!(
                "{} {}/{}: ok, pid {} → {}",
                action.verb(),
                o.host,
                o.node,
                pid(before),
                pid(after_pid)
            ));
        } else {
            failed.push(format!(
                "{}/{}: {}",
                o.host,
                o.node,
                o.error.as_deref().unwrap_or("failed")
            ));
        }
    }
    app.refresh_view();
    if failed.is_empty() && n == 1 {
        flash(app, now, single.unwrap_or_default(), false);
    } else if failed.is_empty() {
        flash(app, now, format!("{}: {ok} nodes ok", action.verb()), false);
    } else {
        flash(
            app,
            now,
            format!(
                "{}: {ok} ok, {} failed: {}",
                action.verb(),
                failed.len(),
                failed.join("; ")
            ),
            true,
        );
    }
}
