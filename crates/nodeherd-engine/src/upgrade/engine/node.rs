//! One node's upgrade or rollback: preconditions, the guarded switch on the host, the health
//! gate, then confirm (and prune) or abort (and verify the old version).
//!
//! Owns: that order and every outcome text of it. May not touch: the fleet order (that is
//! [`super::fleet`]), planning, or the host scripts themselves (`nodeherd_core::facts::layout`).

use super::backup;
use super::steps::{Ctx, inspect, journal_tail, stage, token, wait_guard};
use super::{
    Artifact, Duration, HostError, Instant, Layout, Options, Outcome, Release, Session, Status,
    SwitchSpec, Target, duty, emit, entry, finished, health, journal, layout, link,
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
        return cx.outcome(
            Some(&from),
            Some(to),
            Status::Unchanged,
            format!("already on {to}"),
            vec![],
        );
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

async fn switch_state(
    session: &Session,
    dir: &str,
    tok: &str,
    node: &str,
) -> Result<(String, String), HostError> {
    let o = session
        .exec(&layout::switch_state_command(dir, tok, node))
        .await
        .map_err(link)?;
    Ok(layout::parse_switch_state(&o.stdout_str()))
}

async fn wait_state(
    session: &Session,
    dir: &str,
    tok: &str,
    node: &str,
    want: &[&str],
    limit: Duration,
) -> Result<String, HostError> {
    let start = Instant::now();
    loop {
        let (st, unit) = switch_state(session, dir, tok, node).await?;
        if want.contains(&st.as_str()) {
            return Ok(st);
        }
        if start.elapsed() > limit {
            return Err(HostError::GuardState {
                state: st,
                unit,
                secs: limit.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Send `signal` (`confirm` / `abort`) to the host's guard of this switch, then wait until it
/// reports `state`.
async fn signal_and_wait(
    session: &Session,
    dir: &str,
    tok: &str,
    node: &str,
    (signal, state): (&str, &str),
    limit: Duration,
) -> Result<String, HostError> {
    session
        .exec(&layout::signal_command(dir, signal, tok))
        .await
        .map_err(link)?;
    wait_state(session, dir, tok, node, &[state], limit).await
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
    match gate {
        Ok(_) => confirm(cx, &sw, from, to).await,
        Err(f) => roll_back(cx, &sw, from, to, f).await,
    }
}

/// The gate after a switch to `version`: the node's probe must pass on that version within
/// `health_timeout` (settle-kind nodes: up `settle` without a restart).
pub(super) fn gate_spec<'a>(t: &Target, version: &'a str) -> health::GateSpec<'a> {
    health::GateSpec {
        want: Some(version),
        accept_syncing: t.settings.accept_syncing,
        settle: t.settings.settle,
        timeout: t.settings.health_timeout,
    }
}

/// A started switch: the guard's token and how long it waits for a confirmation.
struct Switch {
    tok: String,
    confirm_secs: u64,
}

impl Ctx<'_> {
    /// The link broke at `step`: the host's guard finishes on its own.
    fn lost(
        &self,
        sw_secs: u64,
        from: &str,
        to: &str,
        step: &str,
        e: impl std::fmt::Display,
    ) -> Outcome {
        self.outcome(
            Some(from),
            Some(to),
            Status::Failed,
            format!(
                "connection lost {step} ({e}); the host's guard switches back to {from} by itself within {sw_secs}s unless confirmed; run again to complete"
            ),
            vec![],
        )
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

/// The gate passed: confirm to the guard, then prune old releases (best effort).
async fn confirm(cx: &Ctx<'_>, sw: &Switch, from: &str, to: &str) -> Outcome {
    let (session, t, opts) = (cx.session, cx.t, cx.opts);
    let dir = t.install_dir();
    emit(opts, &t.key, Step::GatePassed);
    let confirmed = signal_and_wait(
        session,
        &dir,
        &sw.tok,
        &t.node.name,
        ("confirm", "confirmed"),
        Duration::from_secs(60),
    )
    .await;
    if let Err(e) = confirmed {
        let o = cx.lost(sw.confirm_secs, from, to, "while confirming", e);
        cx.journal(&o, false).await;
        return o;
    }
    emit(opts, &t.key, Step::Confirmed);
    // Prune old releases (never current/previous); best effort.
    if let Ok(l) = inspect(session, t).await {
        let rm = layout::prune_list(
            &l.releases,
            l.current.as_deref(),
            l.previous.as_deref(),
            t.settings.keep,
        );
        let _ = session.exec(&layout::prune_command(&dir, &rm)).await;
    }
    let o = cx.outcome(
        Some(from),
        Some(to),
        Status::Ok,
        "healthy and confirmed".into(),
        vec![],
    );
    // The host journal line was written by the guard itself.
    cx.journal(&o, false).await;
    o
}

/// The gate failed: keep the new version's last log lines, abort, and check the old version.
async fn roll_back(
    cx: &Ctx<'_>,
    sw: &Switch,
    from: &str,
    to: &str,
    f: health::GateFailure,
) -> Outcome {
    let (session, t, opts) = (cx.session, cx.t, cx.opts);
    let dir = t.install_dir();
    let logs = journal_tail(session, &t.node.unit).await;
    emit(
        opts,
        &t.key,
        Step::RollingBack {
            reason: f.reason.clone(),
        },
    );
    let back = signal_and_wait(
        session,
        &dir,
        &sw.tok,
        &t.node.name,
        ("abort", "rolled-back"),
        Duration::from_secs(120) + backup::restore_allowance(cx),
    )
    .await;
    if let Err(e) = back {
        let o = cx.lost(sw.confirm_secs, from, to, "while rolling back", e);
        cx.journal(&o, false).await;
        return o;
    }
    emit(opts, &t.key, Step::RolledBack);
    let verify = health::gate(session, &t.node, gate_spec(t, from)).await;
    let detail = match verify {
        Ok(_) => format!(
            "{to} failed the health gate ({}); rolled back, {from} is healthy again",
            f.reason
        ),
        Err(v) => format!(
            "{to} failed the health gate ({}); rolled back to {from}, but {from} is NOT healthy: {}",
            f.reason, v.reason
        ),
    };
    let o = cx.outcome(Some(from), Some(to), Status::RolledBack, detail, logs);
    cx.journal(&o, false).await;
    o
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

/// The switch back (or to a staged release) of one node while its host lock is held.
async fn rollback_locked(cx: &Ctx<'_>, to: Option<&str>, by_direction: bool) -> Outcome {
    let (session, t) = (cx.session, cx.t);
    let dir = t.install_dir();
    let layout = match wait_guard(
        session,
        t,
        t.settings.confirm_timeout + Duration::from_secs(90),
    )
    .await
    {
        Ok(l) => l,
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
