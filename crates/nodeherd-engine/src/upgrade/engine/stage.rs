//! Staging a release ahead of its switch, without switching: a chain upgrade's binary is put in
//! place days before the halt height that switches it.
//!
//! Owns: that one action (lock, wait out an earlier guard, stage unless present, journal). May
//! not touch: `current`, the unit, the switch (that is [`super::node`]).

use super::steps::{Ctx, stage, wait_guard};
use super::{Artifact, Options, Outcome, Session, Status, Target, emit, finished};
use crate::upgrade::progress::Step;

/// Stage `art` as `releases/<version>/` of `t` under its host lock; `Unchanged` when it is
/// already there. Journals on the console and the host (action `stage`) with `note` as the
/// line's detail (short enough for `history`'s column; a failure adds its reason).
pub async fn stage_release(
    session: &Session,
    t: &Target,
    version: &str,
    art: &Artifact,
    opts: &Options,
    note: &str,
) -> Outcome {
    let cx = Ctx::new(session, t, opts, "stage");
    let guard = match cx.lock(&format!("stage {version}"), Some(version)).await {
        Ok(g) => g,
        Err(o) => return finished(opts, o),
    };
    let o = crate::upgrade::lock::held(guard, async {
        let layout = match wait_guard(session, t, t.settings.confirm_timeout).await {
            Ok(l) => l,
            Err(e) => {
                return cx.outcome(None, Some(version), Status::Failed, e.to_string(), vec![]);
            }
        };
        let from = layout.current.as_deref();
        if layout.has(version) {
            return cx.outcome(
                from,
                Some(version),
                Status::Unchanged,
                format!("{version} is already staged"),
                vec![],
            );
        }
        let dir = t.install_dir();
        let o = match stage(session, &dir, version, art, |s| emit(opts, &t.key, s)).await {
            Ok(()) => {
                emit(opts, &t.key, Step::Staged);
                cx.outcome(
                    from,
                    Some(version),
                    Status::Ok,
                    format!(
                        "staged {version} ({}, sha256 {} verified on the host); not switched",
                        art.name, art.sha256
                    ),
                    vec![],
                )
            }
            Err(e) => cx.outcome(from, Some(version), Status::Failed, e.to_string(), vec![]),
        };
        let mut line = o.clone();
        line.detail = match o.status {
            Status::Ok => note.to_string(),
            _ => format!("{note}: {}", o.detail),
        };
        cx.journal(&line, true).await;
        o
    })
    .await;
    finished(opts, o)
}
