//! Progress of long work (upgrades, rollbacks, installs, apply's switches) as typed events sent
//! to a [`Sink`] the caller injects through [`Reporter`]: per node its steps (locking, uploading
//! with bytes sent, unpacking, switching, the gate's wait, confirmed or rolled back, finished);
//! per rollout the batch being run.
//!
//! Owns: the event types, the sink seam, and measuring an upload's bytes. May not touch: how
//! events are shown (front ends render them: the CLI on stderr; the TUI keeps its coarser
//! per-node `engine::Event`s), the order of the work or what it does (the engine decides and
//! reports); it names nothing of the engine.

use std::fmt;
use std::io::Seek;
use std::sync::Arc;
use std::time::Duration;

/// How often an upload's byte count is sampled.
pub const UPLOAD_SAMPLE: Duration = Duration::from_millis(500);

/// One step of one node's action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Taking the node's host lock (may wait for another console's).
    Locking,
    Locked,
    /// Asking the node whether it is healthy before changing anything.
    CheckingHealth,
    /// The artifact going up: `sent` of `total` bytes handed to the connection so far.
    Uploading {
        sent: u64,
        total: u64,
    },
    /// The host verifies the artifact's digest and unpacks it.
    Unpacking,
    Staged,
    /// Waiting for a window without validator duties.
    WaitingForQuiet,
    /// Still waiting for a quiet window (reported about once a second while waiting):
    /// `blocker` names what is too close (e.g. `attestation duty of validator 3 at slot 812`),
    /// `next_in` is the time until it, `gives_up_in` what is left of `max_wait`.
    Quiet {
        blocker: String,
        next_in: Duration,
        gives_up_in: Duration,
    },
    Switching,
    Switched,
    /// The health gate after the switch has not passed yet: `elapsed` of `timeout`, and what
    /// the probe last said.
    Gate {
        elapsed: Duration,
        timeout: Duration,
        said: String,
    },
    GatePassed,
    Confirmed,
    /// `apply` writes the node's unit file (and restarts it if it was running).
    RewritingUnit,
    /// The gate failed (`reason`); the host's guard switches back.
    RollingBack {
        reason: String,
    },
    RolledBack,
}

/// A duration as a countdown reads: `7s`, `13m20s`, `1h02m`.
pub fn countdown(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// How a [`Step::Quiet`] reads: `waiting for a quiet window: attestation duty of validator 3 at
/// slot 812 in 7s; gives up in 13m20s`.
pub fn quiet_text(blocker: &str, next_in: Duration, gives_up_in: Duration) -> String {
    format!(
        "waiting for a quiet window: {blocker} in {}; gives up in {}",
        countdown(next_in),
        countdown(gives_up_in)
    )
}

/// One progress event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A rollout starts batch `index` (1-based) of `of`; the first may be the canary batch.
    Batch {
        index: usize,
        of: usize,
        canary: bool,
        nodes: Vec<String>,
    },
    /// `node` (`host/node`) reached `step`.
    Node { node: String, step: Step },
    /// `node`'s action ended: `result` is its outcome's status word (`ok`, `rolled-back`,
    /// `refused`, `failed`, `unchanged`), `detail` its outcome's detail.
    Finished {
        node: String,
        result: String,
        failed: bool,
        detail: String,
    },
}

/// Where progress goes. Called from the engine's tasks as work happens: keep it quick (print,
/// or send into a channel).
pub trait Sink: Send + Sync {
    fn report(&self, p: Progress);
}

impl Sink for tokio::sync::mpsc::UnboundedSender<Progress> {
    fn report(&self, p: Progress) {
        let _ = self.send(p);
    }
}

/// The injected sink, or none (the default: progress goes nowhere).
#[derive(Clone, Default)]
pub struct Reporter(Option<Arc<dyn Sink>>);

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Reporter(sink)"
        } else {
            "Reporter(none)"
        })
    }
}

impl Reporter {
    pub fn new(sink: Arc<dyn Sink>) -> Reporter {
        Reporter(Some(sink))
    }
    pub fn report(&self, p: Progress) {
        if let Some(s) = &self.0 {
            s.report(p);
        }
    }
    pub fn node(&self, node: &str, step: Step) {
        self.report(Progress::Node {
            node: node.to_string(),
            step,
        });
    }
    pub fn finished(&self, node: &str, result: &str, failed: bool, detail: &str) {
        self.report(Progress::Finished {
            node: node.to_string(),
            result: result.to_string(),
            failed,
            detail: detail.to_string(),
        });
    }
}

/// Run `upload` (which streams `file` to the host) while reporting how far it got: the file's
/// read offset, shared with the clone the upload reads through, sampled every
/// [`UPLOAD_SAMPLE`]; `0` first and `total` once it succeeded.
pub async fn measured_upload<T, F>(
    file: &std::fs::File,
    total: u64,
    upload: F,
    report: impl Fn(u64),
) -> T
where
    F: std::future::Future<Output = T>,
{
    report(0);
    let mut last = 0;
    let mut tick = tokio::time::interval(UPLOAD_SAMPLE);
    tick.tick().await;
    tokio::pin!(upload);
    loop {
        tokio::select! {
            out = &mut upload => return out,
            _ = tick.tick() => {
                // `&File` seeks the shared descriptor: SEEK_CUR 0 reads the offset, moves nothing
                let Ok(at) = (&*file).stream_position() else { continue };
                let at = at.min(total);
                if at != last {
                    last = at;
                    report(at);
                }
            }
        }
    }
}
