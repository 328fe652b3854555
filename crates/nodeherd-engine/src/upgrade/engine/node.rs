//! One node's upgrade or rollback: preconditions, the guarded switch on the host, the health
//! gate, then confirm (and prune) or abort (and verify the old version) through
//! [`super::settle`].
//!
//! Owns: that order and every outcome text of it. May not touch: the fleet order (that is
//! [`super::fleet`]), planning, or the host scripts themselves (`nodeherd_core::facts::layout`).

use super::backup;
use super::settle::{Switch, confirm, roll_back, wait_state};
use super::steps::{Ctx, gate_spec, stage, token, unit_state, wait_guard, wait_guard_recovering};
use super::{
    Artifact, Duration, Layout, Options, Outcome, Release, Session, Status, SwitchSpec, Target,
    duty, emit, entry, finished, health, journal, layout,
};
use crate::upgrade::progress::Step;

/// Upgrade one node to `release` (artifact already verified on the console).
pub async fn upgrade_node(
    session: &Session,
    t: &Target,
    release: &Release,
    art: &Artifact,
    opts: &Options,
) -> Outcome {
    let to = release.version.to_string();
    let cx = Ctx::new(session, t, opts, "upgrade");
    finished(opts, upgrade_inner(&cx, &to, art).await)
}

async fn upgrade_inner(cx: &Ctx<'_>, to: &str, art: &Artifact) -> Outcome {
    let guard = match cx.lock(&format!("upgrade to {to}"), Some(to)).await {
        Ok(g) => g,
        Err(o) => return o,
    };
    crate::upgrade::lock::held(guard, upgrade_locked(cx, to, art)).await
}

/// The upgrade of one node while its host lock is held.
async fn upgrade_locked(cx: &Ctx<'_>, to: &str, art: &Artifact) -> Outcome {
    let (session, t, opts) = (cx.session, cx.t, cx.opts);
    let dir = t.install_dir();
    let limit = t.settings.confirm_timeout + Duration::from_secs(90);
    let layout = match wait_guard(session, t, limit).await {
        Ok(l) => l,
        Err(e) => {
            let o = cx.outcome(None, Some(to), Status::Failed, e.to_string(), vec![]);
            cx.journal(&o, false).await;
            return o;
        }
    };
    let Some(from) = layout.current.clone() else {
        let o = cx.outcome(
            None,
            Some(to),
            Status::Refused,
            format!("{dir} has no `current` link: not a nodeherd-managed install"),
            vec![],
        );
        cx.journal(&o, false).await;
        return o;
    };
    if from == to {
        return already_on(cx, &from).await;
    }
    if !opts.force_unhealthy {
        emit(opts, &t.key, Step::CheckingHealth);
        let now = health::GateSpec {
            want: None,
            accept_syncing: t.settings.accept_syncing,
            settle: Duration::ZERO,
            timeout: Duration::from_secs(90),
        };
        if let Err(f) = health::gate(session, &t.node, now).await {
            let o = cx.outcome(
                Some(&from),
                Some(to),
                Status::Refused,
                format!("the node is not healthy before the upgrade ({}); use --force-unhealthy to upgrade anyway", f.reason),
                vec![],
            );
            cx.journal(&o, true).await;
            return o;
        }
    }
    if let Err(o) = backup::before_upgrade(cx, &from, to).await {
        return o;
    }
    if !layout.has(to) {
        if let Err(e) = stage(session, &dir, to, art, |s| emit(opts, &t.key, s)).await {
            let o = cx.outcome(Some(&from), Some(to), Status::Failed, e.to_string(), vec![]);
            cx.journal(&o, true).await;
            return o;
        }
    }
    emit(opts, &t.key, Step::Staged);
    switch_and_gate(cx, &layout, &from, to).await
}

/// Already on `v`: unchanged, unless the node's unit is down (then nothing was done that was
/// asked for: a failure that says so, never a success on a dead node).
async fn already_on(cx: &Ctx<'_>, v: &str) -> Outcome {
    match unit_state(cx.session, cx.t).await {
        Ok(s) if matches!(s.as_str(), "active" | "activating" | "reloading") => cx.outcome(
            Some(v),
            Some(v),
            Status::Unchanged,
            format!("already on {v}"),
            vec![],
        ),
        Ok(s) => {
            let o = cx.outcome(
                Some(v),
                Some(v),
                Status::Failed,
                format!(
                    "already on {v}, but its unit {} is {s}: the node is down (see `nodeherd logs {}`)",
                    cx.t.node.unit, cx.t.key
                ),
                vec![],
            );
            cx.journal(&o, false).await;
            o
        }
        Err(e) => cx.outcome(Some(v), Some(v), Status::Failed, e.to_string(), vec![]),
    }
}

/// The guarded switch from `from` to `to`, the health gate, then confirm or abort.
async fn switch_and_gate(cx: &Ctx<'_>, layout: &Layout, from: &str, to: &str) -> Outcome {
    let (session, t, opts) = (cx.session, cx.t, cx.opts);
    let sw = match start_switch(cx, layout, from, to).await {
        Ok(sw) => sw,
        Err(o) => return o,
    };
    emit(opts, &t.key, Step::Switched);
    let spec = gate_spec(t, to);
    let gate = health::gate_with(session, &t.node, spec, |elapsed, said| {
        emit(
            opts,
            &t.key,
            Step::Gate {
                elapsed,
                timeout: spec.timeout,
                said,
            },
        );
    })
    .await;
    // Acting on the result needs the lock: after a freeze longer than the lease another console
    // may be at work on the node, so neither confirm nor abort blindly.
    if let Err(e) = cx.check_lease().await {
        let o = cx.outcome(
            Some(from),
            Some(to),
            Status::Failed,
            format!(
                "stopped before acting on the health gate: {e}; neither confirmed nor aborted, so the host's guard switches back to {from} within {}s of the switch unless confirmed; check with `nodeherd status {}`",
                sw.confirm_secs, t.key
            ),
            vec![],
        );
        cx.journal(&o, false).await;
        return o;
    }
    match gate {
        Ok(_) => confirm(cx, &sw, from, to).await,
        Err(f) => roll_back(cx, &sw, from, to, f).await,
    }
}

/// Wait for the safe window of a validator-carrying node, reporting its countdown; a cancel
/// ends it before any change.
async fn wait_window(cx: &Ctx<'_>, from: &str, to: &str) -> Result<(), Outcome> {
    let (session, t, opts) = (cx.session, cx.t, cx.opts);
    if let Some(src) = &t.duty {
        emit(opts, &t.key, Step::WaitingForQuiet);
        let quiet = (t.settings.min_quiet, t.settings.max_wait);
        let waited = duty::wait_quiet(session, src, quiet, &opts.cancel, |b| {
            emit(
                opts,
                &t.key,
                Step::Quiet {
                    blocker: b.blocker,
                    next_in: b.next_in,
                    gives_up_in: b.gives_up_in,
                },
            );
        })
        .await;
        match waited {
            Ok(_) => {}
            Err(duty::DutyError::Cancelled) => return Err(cancelled(cx, from, to)),
            Err(report) => {
                let o = cx.outcome(
                    Some(from),
                    Some(to),
                    Status::Refused,
                    report.to_string(),
                    vec![],
                );
                cx.journal(&o, true).await;
                return Err(o);
            }
        }
    }
    Ok(())
}

/// Wait for the safe window, start the host's guard, and wait until it switched.
async fn start_switch(
    cx: &Ctx<'_>,
    layout: &Layout,
    from: &str,
    to: &str,
) -> Result<Switch, Outcome> {
    let (session, t, opts) = (cx.session, cx.t, cx.opts);
    let dir = t.install_dir();
    wait_window(cx, from, to).await?;
    // the last moment a cancellation is honoured: from here on the switch runs to its end
    if opts.cancel.is_cancelled() {
        return Err(cancelled(cx, from, to));
    }
    let tok = token();
    let confirm_secs = t
        .settings
        .confirm_timeout
        .max(t.settings.health_timeout + Duration::from_secs(30))
        .as_secs();
    let mk = |result: &str, detail: &str| {
        journal::tail_json(&entry(
            t, opts, &cx.run, cx.action, from, to, result, detail,
        ))
    };
    let spec = SwitchSpec {
        install_dir: &dir,
        unit: &t.node.unit,
        node: &t.node.name,
        new: to,
        old: from,
        prev_before: layout.previous.as_deref().filter(|p| *p != to),
        confirm_secs,
        token: &tok,
        journal_ok: mk("ok", "health gate passed and confirmed"),
        journal_no_confirm: mk(
            "rolled-back (no confirmation)",
            &format!("no confirmation from the console within {confirm_secs}s"),
        ),
        journal_gate_failed: mk(
            "rolled-back (health gate failed)",
            "the console's health gate failed",
        ),
        journal_interrupted: mk(
            "rolled-back (interrupted by @WHY@)",
            "no confirmation before the @WHY@: rolled back by nodeherd-recover",
        ),
        by: &opts.who,
        backup: backup::switch_backup(cx, from, to),
    };
    emit(opts, &t.key, Step::Switching);
    match session.exec(&layout::switch_command(&spec)).await {
        Ok(o) if o.success() => {}
        Ok(o) => {
            let o = cx.outcome(
                Some(from),
                Some(to),
                Status::Failed,
                format!(
                    "cannot start the guarded switch: {}",
                    nodeherd_core::facts::systemd::sanitize(
                        String::from_utf8_lossy(&o.stderr).trim()
                    )
                ),
                vec![],
            );
            cx.journal(&o, true).await;
            return Err(o);
        }
        Err(e) => {
            let o = cx.lost(
                confirm_secs,
                from,
                to,
                "while starting the switch",
                e.to_string(),
            );
            cx.journal(&o, false).await;
            return Err(o);
        }
    }
    backup::await_backup(cx, &tok, from, to).await?;
    if let Err(e) = wait_state(
        session,
        &dir,
        &tok,
        &t.node.name,
        &["switched", "confirmed"],
        Duration::from_secs(120),
    )
    .await
    {
        let o = cx.lost(confirm_secs, from, to, "after starting the switch", e);
        cx.journal(&o, false).await;
        return Err(o);
    }
    Ok(Switch { tok, confirm_secs })
}

/// The caller cancelled before the switch: nothing was switched; the host lock is released by
/// the caller's guard. Not journaled: nothing changed on the node.
fn cancelled(cx: &Ctx<'_>, from: &str, to: &str) -> Outcome {
    cx.outcome(
        Some(from),
        Some(to),
        Status::Refused,
        format!("cancelled before any change: nothing switched, {from} still runs"),
        vec![],
    )
}

/// Roll one node back to `to` (default: `previous`), through the same guarded switch.
pub async fn rollback_node(
    session: &Session,
    t: &Target,
    to: Option<&str>,
    opts: &Options,
) -> Outcome {
    switch_back(session, t, to, opts, false).await
}

/// Switch one node to `to`, a release already on the host, through the same guarded switch as
/// a rollback, but named by its direction: `upgrade` when `to` is newer than the running
/// version, else `rollback` (what `apply` uses for a declared version that is already staged).
pub async fn switch_node(session: &Session, t: &Target, to: &str, opts: &Options) -> Outcome {
    switch_back(session, t, Some(to), opts, true).await
}

async fn switch_back(
    session: &Session,
    t: &Target,
    to: Option<&str>,
    opts: &Options,
    by_direction: bool,
) -> Outcome {
    let cx = Ctx::new(session, t, opts, "rollback");
    finished(opts, rollback_inner(&cx, to, by_direction).await)
}

async fn rollback_inner(cx: &Ctx<'_>, to: Option<&str>, by_direction: bool) -> Outcome {
    let what = match (by_direction, to) {
        (true, Some(v)) => format!("switch to {v}"),
        _ => "rollback".to_string(),
    };
    let guard = match cx.lock(&what, to).await {
        Ok(g) => g,
        Err(o) => return o,
    };
    crate::upgrade::lock::held(guard, rollback_locked(cx, to, by_direction)).await
}

/// A rollback found an interrupted switch and had the host roll it back: that was the rollback;
/// the old version must pass its gate.
async fn recovered(cx: &Ctx<'_>, p: &layout::Pending) -> Outcome {
    let (old, new) = (p.old.as_str(), p.new.as_str());
    let (status, detail) = match health::gate(cx.session, &cx.t.node, gate_spec(cx.t, old)).await {
        Ok(_) => (
            Status::Ok,
            format!(
                "the interrupted switch {old} -> {new} ({}, started by {}) was rolled back by the host; {old} is healthy again",
                p.since, p.by
            ),
        ),
        Err(f) => (
            Status::Failed,
            format!(
                "the interrupted switch {old} -> {new} was rolled back by the host, but {old} is NOT healthy: {}",
                f.reason
            ),
        ),
    };
    let o = cx.outcome(Some(new), Some(old), status, detail, vec![]);
    cx.journal(&o, false).await;
    o
}

/// The switch back (or to a staged release) of one node while its host lock is held.
async fn rollback_locked(cx: &Ctx<'_>, to: Option<&str>, by_direction: bool) -> Outcome {
    let (session, t) = (cx.session, cx.t);
    let dir = t.install_dir();
    let limit = t.settings.confirm_timeout + Duration::from_secs(90);
    let layout = match wait_guard_recovering(session, t, limit).await {
        // the rollback asked for was the host's own: an interrupted switch rolled back
        Ok((_, Some(p))) if to.is_none_or(|v| v == p.old) => return recovered(cx, &p).await,
        Ok((l, _)) => l,
        Err(e) => return cx.outcome(None, to, Status::Failed, e.to_string(), vec![]),
    };
    let Some(from) = layout.current.clone() else {
        return cx.outcome(
            None,
            to,
            Status::Refused,
            format!("{dir} has no `current` link"),
            vec![],
        );
    };
    let target = match to.map(str::to_string).or(layout.previous.clone()) {
        Some(v) => v,
        None => {
            let o = cx.outcome(
                Some(&from),
                None,
                Status::Refused,
                "no `previous` release recorded; pass --to VERSION".into(),
                vec![],
            );
            cx.journal(&o, false).await;
            return o;
        }
    };
    if target == from {
        return cx.outcome(
            Some(&from),
            Some(&target),
            Status::Unchanged,
            format!("already on {from}"),
            vec![],
        );
    }
    if !layout.has(&target) {
        let o = cx.outcome(
            Some(&from),
            Some(&target),
            Status::Refused,
            format!(
                "release {target} is not on the host (present: {})",
                layout.releases.join(", ")
            ),
            vec![],
        );
        cx.journal(&o, false).await;
        return o;
    }
    let named = if by_direction
        && nodeherd_core::plan::upgrade::direction(Some(&from), &target) == "upgrade"
    {
        cx.named("upgrade")
    } else {
        cx.named("rollback")
    };
    if let Err(o) = backup::before_rollback(&named, &target).await {
        return o;
    }
    switch_and_gate(&named, &layout, &from, &target).await
}
