//! Releases, the plan screen and its apply, upgrades/rollbacks and the upgrade history.
//!
//! Owns: opening those screens (and asking for their loads), the confirm dialogs that start an
//! apply or an upgrade, and folding their workers' results into the state. May not touch:
//! servers, journals or the engine itself (workers do, through [`Effect`]s), clocks (`now` comes
//! in).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{flash, go, plan_len};
use crate::msg::{Effect, PlanInputs, event_label};
use crate::state::{App, Dialog, HistoryData, ReleaseRow, Screen, UpgradeAsk, WorkerError};
use nodeherd_core::plan::apply::Plan;
use nodeherd_core::text::sanitize;
use nodeherd_engine::apply::run::ChangeResult;
use nodeherd_engine::upgrade::engine::{Event, Outcome};

/// The releases plan: every row learns its upgrade target.
pub(super) fn on_releases(
    app: &mut App,
    r: Result<Vec<ReleaseRow>, WorkerError>,
    now: DateTime<Utc>,
) {
    if let Ok(list) = &r {
        for rel in list {
            if let Some(i) = app.row_index(&rel.host, &rel.node) {
                app.rows[i].upgrade = rel.to.clone();
            }
        }
    }
    app.releases.finish(r, now);
    let n = app.releases.data.as_ref().map_or(0, Vec::len);
    app.releases_selected = app.releases_selected.min(n.saturating_sub(1));
    app.dirty = true;
}

/// The plan of the plan screen, with what an apply of it needs.
pub(super) fn on_plan(
    app: &mut App,
    r: Result<(Plan, Arc<PlanInputs>), WorkerError>,
    now: DateTime<Utc>,
) {
    let r = r.map(|(plan, inputs)| {
        app.plan.inputs = Some(inputs);
        plan
    });
    if r.is_err() {
        app.plan.inputs = None;
    }
    app.plan.plan.finish(r, now);
    let n = app.plan.plan.data.as_ref().map_or(0, plan_len);
    app.plan.selected = app.plan.selected.min(n.saturating_sub(1));
    app.dirty = true;
}

/// Live progress of an engine run.
pub(super) fn on_progress(app: &mut App, key: String, event: Event) {
    super::waits::on_event(app, &key, event);
    app.progress.insert(key, event_label(event).to_string());
    app.dirty = true;
}

/// An apply ended (or could not start).
pub(super) fn on_applied(
    app: &mut App,
    r: Result<Vec<ChangeResult>, WorkerError>,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let results = match r {
        Err(e) => {
            app.plan.applying = false;
            app.progress.clear();
            flash(
                app,
                now,
                format!("apply: {}", sanitize(&e.to_string())),
                true,
            );
            app.dirty = true;
            return;
        }
        Ok(results) => results,
    };
    app.plan.applying = false;
    for r in &results {
        app.progress.remove(&format!("{}/{}", r.host, r.node));
    }
    let verified = results.iter().filter(|r| r.verified).count();
    let failed = results.iter().filter(|r| !r.ok).count();
    let text = format!(
        "apply done: {} change(s), {verified} verified, {failed} failed",
        results.len()
    );
    flash(app, now, text, failed > 0 || verified < results.len());
    app.plan.results = Some(results);
    // the facts changed: what the plan showed is stale now
    app.plan.inputs = None;
    fx.push(Effect::PollNow);
    app.dirty = true;
}

/// An upgrade or rollback from the releases screen ended.
pub(super) fn on_upgrade_done(
    app: &mut App,
    key: String,
    rollback: bool,
    outcome: Outcome,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    app.upgrading.remove(&key);
    app.progress.remove(&key);
    super::waits::on_done(app, &key);
    let what = if rollback { "rollback" } else { "upgrade" };
    let versions = format!(
        "{} → {}",
        outcome.from.as_deref().unwrap_or("?"),
        outcome.to.as_deref().unwrap_or("?")
    );
    let status = serde_json::to_value(outcome.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let text = format!(
        "{what} {key} {versions}: {status}{}{}",
        if outcome.detail.is_empty() { "" } else { ": " },
        outcome.detail
    );
    flash(app, now, sanitize(&text), outcome.failed());
    fx.push(Effect::PollNow);
    if app.releases.start() {
        fx.push(Effect::LoadReleases);
    }
    app.dirty = true;
}

/// The merged upgrade journal.
pub(super) fn on_history(app: &mut App, r: Result<HistoryData, WorkerError>, now: DateTime<Utc>) {
    app.history.finish(r, now);
    let n = app.history.data.as_ref().map_or(0, |h| h.entries.len());
    // newest first on screen: the cursor starts at the top
    app.history_selected = app.history_selected.min(n.saturating_sub(1));
    app.dirty = true;
}

/// Show the releases screen and (re)load its plan unless a load is running.
pub(super) fn open_releases(app: &mut App, fx: &mut Vec<Effect>) {
    go(app, Screen::Releases);
    if app.releases.start() {
        fx.push(Effect::LoadReleases);
    }
}

/// Show the plan screen and (re)plan unless a plan is being made or applied, or there is no
/// playbook (the screen says so).
pub(super) fn open_plan(app: &mut App, fx: &mut Vec<Effect>) {
    go(app, Screen::Plan);
    if app.plan.playbook.is_some() && !app.plan.applying && app.plan.plan.start() {
        fx.push(Effect::LoadPlan);
    }
}

/// Show the history screen and (re)read the journals unless a read is running.
pub(super) fn open_history(app: &mut App, fx: &mut Vec<Effect>) {
    go(app, Screen::History);
    if app.history.start() {
        fx.push(Effect::LoadHistory);
    }
}

/// `a` on the plan screen: the confirm dialog naming every changing host and node.
pub(super) fn ask_apply(app: &mut App, now: DateTime<Utc>) {
    if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
        return;
    }
    if app.plan.applying {
        flash(app, now, "an apply is already running", true);
        return;
    }
    let (Some(plan), Some(_)) = (app.plan.plan.data.as_ref(), app.plan.inputs.as_ref()) else {
        flash(app, now, "no current plan: R plans again", true);
        return;
    };
    if plan.changes.is_empty() {
        flash(
            app,
            now,
            "nothing to apply: the fleet matches the playbook",
            false,
        );
        return;
    }
    app.dialog = Some(Dialog::Apply {
        changes: plan.changes.clone(),
    });
}

/// `u` / `b` on the releases screen: the confirm dialog for the selected node.
pub(super) fn ask_upgrade(app: &mut App, rollback: bool, now: DateTime<Utc>) {
    if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
        return;
    }
    let Some(rel) = app
        .releases
        .data
        .as_ref()
        .and_then(|d| d.get(app.releases_selected))
        .cloned()
    else {
        flash(app, now, "no node selected", true);
        return;
    };
    let key = format!("{}/{}", rel.host, rel.node);
    let Some(r) = app.row_index(&rel.host, &rel.node).map(|i| app.rows[i].r) else {
        flash(app, now, format!("{key} is not in this session"), true);
        return;
    };
    if app.upgrading.contains(&key) {
        flash(
            app,
            now,
            format!("{key}: an upgrade or rollback is running"),
            true,
        );
        return;
    }
    if rollback && rel.previous.is_none() {
        flash(
            app,
            now,
            format!("nothing to roll back to on {key}: the host records no previous release"),
            true,
        );
        return;
    }
    if !rollback && rel.to.is_none() {
        flash(
            app,
            now,
            format!("nothing to upgrade on {key}: {}", rel.reason),
            false,
        );
        return;
    }
    app.dialog = Some(Dialog::Upgrade(UpgradeAsk {
        r,
        host: rel.host,
        node: rel.node,
        rollback,
        from: rel.running,
        to: if rollback { rel.previous } else { rel.to },
    }));
}
