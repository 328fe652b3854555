//! The steps every action on one node shares: the action's context (lock, outcome, journal),
//! reading the layout, waiting out an earlier guard, staging a release, the gate's spec after a
//! switch, the unit's last journal lines.
//!
//! Owns: those host round trips and their error texts. May not touch: the order of an action's
//! steps (that is [`super::node`] and [`super::install`]) or the fleet.

use super::{
    Artifact, Duration, HostError, Instant, Layout, Options, Outcome, Session, Status, Target,
    artifact, emit, entry, health, layout, link, lock, short, stderr_of,
};
use crate::upgrade::progress::{self, Step};

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

pub(super) struct Ctx<'a> {
    pub(super) session: &'a Session,
    pub(super) t: &'a Target,
    pub(super) opts: &'a Options,
    pub(super) action: &'static str,
    pub(super) start: Instant,
    /// Journal id shared by every line this action writes (console and host).
    pub(super) run: String,
    /// The data dir backup (or restore) this action's switch makes, once decided.
    pub(super) backup: std::sync::OnceLock<super::data_plan::Prepared>,
    /// The host lock's lease, once taken: checked before acting on a gate's result.
    pub(super) lease: std::sync::OnceLock<lock::Lease>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(
        session: &'a Session,
        t: &'a Target,
        opts: &'a Options,
        action: &'static str,
    ) -> Self {
        Ctx {
            session,
            t,
            opts,
            action,
            start: Instant::now(),
            run: token(),
            backup: std::sync::OnceLock::new(),
            lease: std::sync::OnceLock::new(),
        }
    }

    /// The same action context under another action name (same run id and start), for a
    /// switch whose name is known only once the host's `current` is read.
    pub(super) fn named(&self, action: &'static str) -> Ctx<'a> {
        Ctx {
            session: self.session,
            t: self.t,
            opts: self.opts,
            action,
            start: self.start,
            run: self.run.clone(),
            backup: std::sync::OnceLock::new(),
            lease: self.lease.clone(),
        }
    }

    /// Take the node's host lock for `what` (waiting up to `wait_lock`). A refusal is journaled
    /// and comes back as the outcome to return.
    pub(super) async fn lock(
        &self,
        what: &str,
        to: Option<&str>,
    ) -> Result<lock::LockGuard, Outcome> {
        let dir = self.t.install_dir();
        emit(self.opts, &self.t.key, Step::Locking);
        match lock::acquire_waiting(
            self.session,
            &dir,
            &self.t.key,
            &self.opts.who,
            what,
            self.opts.wait_lock,
        )
        .await
        {
            Ok(g) => {
                emit(self.opts, &self.t.key, Step::Locked);
                if let Some(l) = g.lease(&dir) {
                    let _ = self.lease.set(l);
                }
                Ok(g)
            }
            Err(e) => {
                let o = self.outcome(None, to, Status::Refused, e.to_string(), vec![]);
                self.journal(&o, false).await;
                Err(o)
            }
        }
    }

    /// Before acting on a gate's result: `Err` when this console no longer holds the node's
    /// lock (a console stopped longer than the lease).
    pub(super) async fn check_lease(&self) -> Result<(), lock::LockError> {
        match self.lease.get() {
            Some(l) => l.check().await,
            None => Ok(()),
        }
    }

    pub(super) fn outcome(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        status: Status,
        detail: String,
        logs: Vec<String>,
    ) -> Outcome {
        Outcome {
            node: self.t.key.clone(),
            action: self.action.into(),
            from: from.map(str::to_string),
            to: to.map(str::to_string),
            status,
            detail,
            logs,
            took: self.start.elapsed(),
        }
    }

    /// Journal an outcome decided on the console (locally always; on the host when `host`).
    pub(super) async fn journal(&self, o: &Outcome, host_too: bool) {
        let result = match o.status {
            Status::Ok => "ok",
            Status::Unchanged => "unchanged",
            Status::RolledBack => "rolled-back (health gate failed)",
            Status::Refused => "refused",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Unknown => "unknown (link lost)",
        };
        let e = entry(
            self.t,
            self.opts,
            &self.run,
            self.action,
            o.from.as_deref().unwrap_or(""),
            o.to.as_deref().unwrap_or(""),
            result,
            &o.detail,
        );
        // Through the one recorder; the console's copy is written even when the host's is not.
        let _ = crate::record::record(host_too.then_some(self.session), &e).await;
    }
}

pub(super) async fn inspect(session: &Session, t: &Target) -> Result<Layout, HostError> {
    let o = session
        .exec(&layout::inspect_command(&t.install_dir(), &t.node.name))
        .await
        .map_err(link)?;
    if !o.success() {
        return Err(HostError::Unreadable {
            dir: t.install_dir(),
            stderr: stderr_of(&o),
        });
    }
    Ok(layout::parse_inspect(&o.stdout_str()))
}

/// Wait while a guard of an earlier run still runs (it may be rolling back); a switch whose
/// guard no longer runs (the host rebooted before its boot-time recovery, or the guard was
/// stopped) is rolled back by the host's recovery script first. Called with the host lock held.
pub(super) async fn wait_guard(
    session: &Session,
    t: &Target,
    limit: Duration,
) -> Result<Layout, HostError> {
    wait_guard_recovering(session, t, limit)
        .await
        .map(|(l, _)| l)
}

/// [`wait_guard`], also saying which interrupted switch the host rolled back (if any).
pub(super) async fn wait_guard_recovering(
    session: &Session,
    t: &Target,
    limit: Duration,
) -> Result<(Layout, Option<layout::Pending>), HostError> {
    let start = Instant::now();
    let mut recovered = None;
    loop {
        let l = inspect(session, t).await?;
        if !l.in_flight() {
            return Ok((l, recovered));
        }
        if l.interrupted() && recovered.is_none() {
            recovered = l.pending.clone();
            let o = session
                .exec(&layout::recover_command(&t.node.name))
                .await
                .map_err(link)?;
            if !o.success() {
                return Err(HostError::Recovery {
                    what: l.in_flight_text(),
                    stderr: stderr_of(&o),
                });
            }
            continue;
        }
        if start.elapsed() > limit {
            return Err(HostError::GuardStillRunning {
                unit: layout::switch_unit(&t.node.name),
                what: l.in_flight_text(),
                secs: limit.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// The node's unit state word (`active`, `failed`, `inactive`, ...).
pub(super) async fn unit_state(session: &Session, t: &Target) -> Result<String, HostError> {
    let o = session
        .exec(&layout::unit_state_command(&t.node.unit))
        .await
        .map_err(link)?;
    Ok(layout::parse_unit_state(&o.stdout_str()))
}

/// Upload `art` (reporting the bytes sent as [`Step::Uploading`]), then have the host verify and
/// unpack it into `releases/<to>/` ([`Step::Unpacking`]).
pub(super) async fn stage(
    session: &Session,
    dir: &str,
    to: &str,
    art: &Artifact,
    on: impl Fn(Step),
) -> Result<(), HostError> {
    let unreadable = |e: std::io::Error| HostError::Artifact {
        path: art.path.display().to_string(),
        message: e.to_string(),
    };
    // streamed from the verified file in the cache: never the whole artifact in memory; the
    // clone shares the descriptor's offset, which tells how far the upload read
    let file = std::fs::File::open(&art.path).map_err(unreadable)?;
    let watch = file.try_clone().map_err(unreadable)?;
    let total = art.size;
    let o = progress::measured_upload(
        &watch,
        total,
        session.exec_with_stdin_file(
            &layout::receive_command(dir, &art.sha256, art.size),
            tokio::fs::File::from_std(file),
        ),
        |sent| on(Step::Uploading { sent, total }),
    )
    .await
    .map_err(|e| HostError::Upload(short(&e)))?;
    if !o.success() {
        return Err(HostError::Upload(stderr_of(&o)));
    }
    on(Step::Uploading { sent: total, total });
    on(Step::Unpacking);
    let cmd = art
        .stage_command(dir, to)
        .map_err(|e| HostError::Staging(e.to_string()))?;
    let o = session
        .exec_with_timeout(&cmd, Duration::from_secs(600))
        .await
        .map_err(|e| HostError::StagingLink(short(&e)))?;
    if !o.success() {
        return Err(HostError::Staging(stderr_of(&o)));
    }
    Ok(())
}

pub(super) fn token() -> String {
    use rand::Rng;
    let b: [u8; 8] = rand::thread_rng().r#gen();
    artifact::hex(&b)
}

pub(super) async fn journal_tail(session: &Session, unit: &str) -> Vec<String> {
    session
        .exec(&nodeherd_core::facts::systemd::journal_command(
            unit, 15, false,
        ))
        .await
        .map(|o| {
            o.stdout_str()
                .lines()
                .map(|l| {
                    nodeherd_core::facts::systemd::sanitize(
                        &nodeherd_core::facts::systemd::parse_journal_line(l).message,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
