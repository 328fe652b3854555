//! A first install on a host that does not run the node yet: stage the release, point
//! `current`, write the unit, enable and start it, then the health gate.
//!
//! Owns: that order and its outcome texts. May not touch: upgrades of running nodes (that is
//! [`super::node`]) or what the unit file says (the caller renders it).

use super::steps::{Ctx, gate_spec, journal_tail, stage, wait_guard};
use super::{
    Artifact, Duration, HostError, Instant, Options, Outcome, Pool, Release, Session, Status,
    Target, emit, entry, finished, health, journal, layout, stderr_of,
};
use crate::upgrade::progress::Step;

/// What a first install writes besides the release (built and validated by the caller).
#[derive(Debug, Clone)]
pub struct InstallSpec<'a> {
    pub version: &'a str,
    /// The unit file text (travels as stdin, never through a shell).
    pub unit_text: &'a str,
    /// The first line a file must have to be replaced (one nodeherd wrote).
    pub marker: &'a str,
    /// Enable and start it (false: declared stopped; the unit is written but not enabled).
    pub start: bool,
}

/// Install a node whose unit does not exist yet: under the node's host lock, stage the release
/// (upload, verify the digest on the host, unpack into `releases/<v>/`) unless already there,
/// point `current` at it, write the unit file, `daemon-reload`, `enable --now`, then the health
/// gate of the node's probe (`nodeherd_core::health`). Journals locally and on the host.
/// Never deletes anything: on failure the staged release and the unit stay for inspection.
pub async fn install_node(
    session: &Session,
    t: &Target,
    spec: &InstallSpec<'_>,
    art: &Artifact,
    opts: &Options,
) -> Outcome {
    let cx = Ctx::new(session, t, opts, "install");
    let to = spec.version;
    let guard = match cx.lock(&format!("install {to}"), Some(to)).await {
        Ok(g) => g,
        Err(o) => return o,
    };
    crate::upgrade::lock::held(guard, install_locked(&cx, spec, art)).await
}

/// The install of one node while its host lock is held.
async fn install_locked(cx: &Ctx<'_>, spec: &InstallSpec<'_>, art: &Artifact) -> Outcome {
    let (session, t, opts) = (cx.session, cx.t, cx.opts);
    let to = spec.version;
    let dir = t.install_dir();
    let layout = match wait_guard(session, t, t.settings.confirm_timeout).await {
        Ok(l) => l,
        Err(e) => {
            let o = cx.outcome(None, Some(to), Status::Failed, e.to_string(), vec![]);
            cx.journal(&o, false).await;
            return o;
        }
    };
    let fail = |detail: String, logs: Vec<String>| {
        cx.outcome(
            layout.current.as_deref(),
            Some(to),
            Status::Failed,
            detail,
            logs,
        )
    };
    if !layout.has(to) {
        if let Err(e) = stage(session, &dir, to, art, |s| emit(opts, &t.key, s)).await {
            let o = fail(e.to_string(), vec![]);
            cx.journal(&o, true).await;
            return o;
        }
    }
    emit(opts, &t.key, Step::Staged);
    if let Err(e) = write_files(session, t, &dir, spec).await {
        let o = fail(e.to_string(), vec![]);
        cx.journal(&o, true).await;
        return o;
    }
    if !spec.start {
        let o = cx.outcome(
            None,
            Some(to),
            Status::Ok,
            format!("installed {to}; unit written, not enabled (declared stopped)"),
            vec![],
        );
        cx.journal(&o, true).await;
        return o;
    }
    enable_and_gate(cx, spec, layout.current.as_deref()).await
}

/// Point `current` at the staged release and write the unit file (as stdin, never through a
/// shell). The error is the outcome's detail.
async fn write_files(
    session: &Session,
    t: &Target,
    dir: &str,
    spec: &InstallSpec<'_>,
) -> Result<(), HostError> {
    let to = spec.version;
    let steps: [(&str, nodeherd_core::remote::Command, Option<&[u8]>); 2] = [
        (
            "pointing current",
            layout::point_current_command(dir, to),
            None,
        ),
        (
            "writing the unit",
            layout::write_unit_command(&t.node.unit, spec.marker, spec.unit_text.len()),
            Some(spec.unit_text.as_bytes()),
        ),
    ];
    for (what, cmd, stdin) in steps {
        let r = match stdin {
            Some(b) => session.exec_with_stdin(&cmd, b).await,
            None => session.exec(&cmd).await,
        };
        let err = match r {
            Ok(o) if o.success() => None,
            Ok(o) => Some(stderr_of(&o)),
            Err(e) => Some(e.to_string()),
        };
        if let Some(detail) = err {
            return Err(HostError::Step { what, detail });
        }
    }
    Ok(())
}

/// `enable --now`, then the health gate of the node's probe.
async fn enable_and_gate(cx: &Ctx<'_>, spec: &InstallSpec<'_>, current: Option<&str>) -> Outcome {
    let (session, t, opts) = (cx.session, cx.t, cx.opts);
    let to = spec.version;
    let fail = |detail: String, logs: Vec<String>| {
        cx.outcome(current, Some(to), Status::Failed, detail, logs)
    };
    let stderr = |o: &nodeherd_transport::ssh::Output| {
        nodeherd_core::facts::systemd::sanitize(String::from_utf8_lossy(&o.stderr).trim())
    };
    emit(opts, &t.key, Step::Switching);
    let enable = nodeherd_core::remote::Command::new("systemctl")
        .arg("enable")
        .arg("--now")
        .arg(&t.node.unit);
    match session
        .exec_with_timeout(&enable, Duration::from_secs(120))
        .await
    {
        Ok(o) if o.success() => {}
        Ok(o) => {
            let logs = journal_tail(session, &t.node.unit).await;
            let o = fail(
                format!("systemctl enable --now failed: {}", stderr(&o)),
                logs,
            );
            cx.journal(&o, true).await;
            return o;
        }
        Err(e) => {
            let o = fail(format!("systemctl enable --now: {e}"), vec![]);
            cx.journal(&o, false).await;
            return o;
        }
    }
    emit(opts, &t.key, Step::Switched);
    let gspec = gate_spec(t, to);
    let gate = health::gate_with(session, &t.node, gspec, |elapsed, said| {
        let timeout = gspec.timeout;
        emit(
            opts,
            &t.key,
            Step::Gate {
                elapsed,
                timeout,
                said,
            },
        );
    })
    .await
    .map_err(|f| f.reason);
    let o = match gate {
        Ok(took) => {
            emit(opts, &t.key, Step::GatePassed);
            cx.outcome(
                None,
                Some(to),
                Status::Ok,
                format!(
                    "installed {to}, enabled and started; healthy after {:.0}s",
                    took.as_secs_f64()
                ),
                vec![],
            )
        }
        Err(reason) => {
            let logs = journal_tail(session, &t.node.unit).await;
            fail(
                format!("installed {to} and started, but {reason}; left in place for inspection"),
                logs,
            )
        }
    };
    cx.journal(&o, true).await;
    o
}

/// Connect, choose the asset of `version` for the host's platform, download/verify it, install.
pub async fn install_one(
    pool: &Pool,
    t: &Target,
    releases: &[Release],
    spec: &InstallSpec<'_>,
    opts: &Options,
) -> Outcome {
    let start = Instant::now();
    let fail = |status: Status, detail: String| Outcome {
        node: t.key.clone(),
        action: "install".into(),
        from: None,
        to: Some(spec.version.to_string()),
        status,
        detail,
        logs: vec![],
        took: start.elapsed(),
    };
    let Some(rel) = releases
        .iter()
        .find(|r| r.version.to_string() == spec.version)
    else {
        return finished(
            opts,
            fail(
                Status::Refused,
                format!(
                    "{} is not in the node's release feed ({})",
                    spec.version,
                    t.feed().unwrap_or_else(|| "no feed".into())
                ),
            ),
        );
    };
    let prepared = match super::prepare::prepare(pool, t, rel, opts).await {
        Ok(p) => p,
        Err((status, detail)) => {
            let o = fail(status, detail);
            journal::append_local(&entry(
                t,
                opts,
                "",
                "install",
                "",
                spec.version,
                if status == Status::Refused {
                    "refused"
                } else {
                    "failed"
                },
                &o.detail,
            ));
            return finished(opts, o);
        }
    };
    finished(
        opts,
        install_node(&prepared.session, t, spec, &prepared.art, opts).await,
    )
}
