//! The end of a guarded switch: confirm to the host's guard (then prune) or abort it (then check
//! the old version), and what the console reports when the link drops at that moment: it
//! reconnects (a bounded number of tries), reads the guard's real state and finishes from there
//! (re-sending the signal to a guard still waiting), or says the outcome is unknown and how to
//! find it; never "failed" when it does not know.
//!
//! Owns: the guard's state round trips (`switch_state_command`, signal files), those outcomes
//! and their texts. May not touch: the switch's start or the gate (that is [`super::node`]), the
//! host scripts (`nodeherd_core::facts::layout`).

use super::backup;
use super::steps::{Ctx, gate_spec, inspect, journal_tail};
use super::{Duration, HostError, Instant, Outcome, Session, Status, emit, health, layout, link};
use crate::upgrade::progress::Step;

/// How often the console tries to reconnect after losing the link at the confirm or abort.
pub const RECONNECT_TRIES: u32 = 3;

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

pub(super) async fn wait_state(
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

/// A started switch: the guard's token and how long it waits for a confirmation.
pub(super) struct Switch {
    pub(super) tok: String,
    pub(super) confirm_secs: u64,
}

impl Ctx<'_> {
    /// The link broke at `step` (before the gate): the host's guard finishes on its own.
    pub(super) fn lost(
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

    /// The link broke at `step` and the guard's state could not be read back: unknown.
    fn unknown(&self, sw: &Switch, from: &str, to: &str, step: &str, why: &str) -> Outcome {
        self.outcome(
            Some(from),
            Some(to),
            Status::Unknown,
            format!(
                "connection lost {step} and {why}: the outcome is unknown. The host's guard keeps {to} if the confirmation reached it, else switches back to {from} within {}s of the switch; see `nodeherd history {}` (the host journal) or `nodeherd status {}`",
                sw.confirm_secs, self.t.key, self.t.key
            ),
            vec![],
        )
    }
}

/// After the link dropped while sending `signal`: reconnect (up to [`RECONNECT_TRIES`] times),
/// read the guard's state, re-send `signal` to a guard still waiting, and return the new
/// session with the guard's final state (`confirmed` or `rolled-back`); `Err`: why it is not
/// known.
async fn read_back(
    cx: &Ctx<'_>,
    sw: &Switch,
    signal: &str,
    limit: Duration,
) -> Result<(Session, String), String> {
    let (t, dir) = (cx.t, cx.t.install_dir());
    let mut last = String::new();
    for attempt in 1..=RECONNECT_TRIES {
        tokio::time::sleep(Duration::from_secs(2 * u64::from(attempt))).await;
        let s = match (cx.opts.reconnect.0)(t.host.target.clone()).await {
            Ok(s) => s,
            Err(e) => {
                last = format!("cannot reconnect ({RECONNECT_TRIES} tries; last: {e})");
                continue;
            }
        };
        let st = match switch_state(&s, &dir, &sw.tok, &t.node.name).await {
            Ok((st, _)) => st,
            Err(e) => {
                last = format!("cannot read the guard's state after reconnecting ({e})");
                continue;
            }
        };
        let done = |st: String| Ok((s.clone(), st));
        return match st.as_str() {
            "confirmed" | "rolled-back" => done(st),
            "rolling-back" => wait_state(&s, &dir, &sw.tok, &t.node.name, &["rolled-back"], limit)
                .await
                .map_or_else(|e| Err(e.to_string()), done),
            "switched" => {
                let want = if signal == "confirm" {
                    "confirmed"
                } else {
                    "rolled-back"
                };
                signal_and_wait(&s, &dir, &sw.tok, &t.node.name, (signal, want), limit)
                    .await
                    .map_or_else(
                        |e| Err(format!("re-sending the {signal} failed ({e})")),
                        done,
                    )
            }
            other => Err(format!(
                "the guard's state reads `{other}` after reconnecting"
            )),
        };
    }
    Err(last)
}

/// The gate passed: confirm to the guard, then prune old releases (best effort).
pub(super) async fn confirm(cx: &Ctx<'_>, sw: &Switch, from: &str, to: &str) -> Outcome {
    let (t, opts) = (cx.t, cx.opts);
    let dir = t.install_dir();
    emit(opts, &t.key, Step::GatePassed);
    let limit = Duration::from_secs(60);
    let sent = signal_and_wait(
        cx.session,
        &dir,
        &sw.tok,
        &t.node.name,
        ("confirm", "confirmed"),
        limit,
    )
    .await;
    let (session, note) = match sent {
        Ok(_) => (cx.session.clone(), ""),
        Err(e) => match read_back(cx, sw, "confirm", limit).await {
            Ok((s, st)) if st == "confirmed" => (
                s,
                " (the link dropped while confirming; the host's guard reports confirmed after reconnecting)",
            ),
            Ok(_) => {
                let o = cx.outcome(
                    Some(from),
                    Some(to),
                    Status::RolledBack,
                    format!("{to} passed the health gate, but the link dropped while confirming ({e}) and the host's guard rolled back to {from} (read after reconnecting)"),
                    vec![],
                );
                cx.journal(&o, false).await;
                return o;
            }
            Err(why) => {
                let o = cx.unknown(sw, from, to, &format!("while confirming ({e})"), &why);
                cx.journal(&o, false).await;
                return o;
            }
        },
    };
    emit(opts, &t.key, Step::Confirmed);
    // Prune old releases (never current/previous); best effort.
    if let Ok(l) = inspect(&session, t).await {
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
        format!("healthy and confirmed{note}"),
        vec![],
    );
    // The host journal line was written by the guard itself.
    cx.journal(&o, false).await;
    o
}

/// The gate failed: keep the new version's last log lines, abort, and check the old version.
pub(super) async fn roll_back(
    cx: &Ctx<'_>,
    sw: &Switch,
    from: &str,
    to: &str,
    f: health::GateFailure,
) -> Outcome {
    let (t, opts) = (cx.t, cx.opts);
    let dir = t.install_dir();
    let logs = journal_tail(cx.session, &t.node.unit).await;
    emit(
        opts,
        &t.key,
        Step::RollingBack {
            reason: f.reason.clone(),
        },
    );
    let limit = Duration::from_secs(120) + backup::restore_allowance(cx);
    let back = signal_and_wait(
        cx.session,
        &dir,
        &sw.tok,
        &t.node.name,
        ("abort", "rolled-back"),
        limit,
    )
    .await;
    let session = match back {
        Ok(_) => cx.session.clone(),
        Err(e) => match read_back(cx, sw, "abort", limit).await {
            Ok((s, st)) if st == "rolled-back" => s,
            Ok(_) => {
                let o = cx.outcome(
                    Some(from),
                    Some(to),
                    Status::Failed,
                    format!("{to} failed the health gate ({}), but the link dropped while aborting ({e}) and the host's guard reports confirmed after reconnecting: {to} stays; roll back with `nodeherd rollback {}`", f.reason, t.key),
                    logs,
                );
                cx.journal(&o, false).await;
                return o;
            }
            // No confirmation was sent: the guard switches back by itself (known, not unknown).
            Err(why) => {
                let o = cx.lost(
                    sw.confirm_secs,
                    from,
                    to,
                    "while rolling back",
                    format!("{e}; {why}"),
                );
                cx.journal(&o, false).await;
                return o;
            }
        },
    };
    emit(opts, &t.key, Step::RolledBack);
    let verify = health::gate(&session, &t.node, gate_spec(t, from)).await;
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
