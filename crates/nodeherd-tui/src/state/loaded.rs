//! What the releases, plan and history screens load on demand through workers.
//!
//! Owns: [`Fetched`] (last answer, loading, last error), [`ReleaseRow`], [`PlanView`] with the
//! [`PlanInputs`] an apply runs, [`HistoryData`], [`WorkerError`] (why a worker's job failed).
//! May not touch: I/O or the engines themselves; these are the answers workers bring back.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use nodeherd_core::inventory::NodeRef;
use nodeherd_core::journal::Entry;
use nodeherd_core::plan::apply::Plan;
use nodeherd_core::plan::desired::DesiredState;
use nodeherd_core::playbook::Playbook;
use nodeherd_engine::apply::run::{ChangeResult, Gathered};

/// Data a worker fetches on demand: the last answer (kept while a reload runs), whether a load
/// is running, and the error of the last load. Views render all three states.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    pub data: Option<T>,
    pub loading: bool,
    pub error: Option<String>,
    /// When `data` arrived.
    pub at: Option<DateTime<Utc>>,
}

impl<T> Default for Fetched<T> {
    fn default() -> Self {
        Fetched {
            data: None,
            loading: false,
            error: None,
            at: None,
        }
    }
}

/// Why a worker's job (a load, a check, an apply) failed: its message, already sanitized for
/// the screen by the worker. Views and the reducer show its Display as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WorkerError(pub String);

impl From<String> for WorkerError {
    fn from(s: String) -> Self {
        WorkerError(s)
    }
}

impl From<&str> for WorkerError {
    fn from(s: &str) -> Self {
        WorkerError(s.to_string())
    }
}

impl<T> Fetched<T> {
    /// A load begins; false when one is already running (do not start another).
    pub fn start(&mut self) -> bool {
        if self.loading {
            return false;
        }
        self.loading = true;
        true
    }
    /// A load ended.
    pub fn finish(&mut self, r: Result<T, WorkerError>, now: DateTime<Utc>) {
        self.loading = false;
        match r {
            Ok(d) => {
                self.data = Some(d);
                self.error = None;
                self.at = Some(now);
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }
}

/// One node of the releases screen (from the upgrade engine's plan).
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseRow {
    pub host: String,
    pub node: String,
    pub running: Option<String>,
    /// Newest version the node's policy allows now.
    pub allowed: Option<String>,
    /// The host's `previous` release: what a rollback goes back to (None: nothing to roll back to).
    pub previous: Option<String>,
    /// What an upgrade would install now (None: nothing to do, see `reason`).
    pub to: Option<String>,
    /// Next version that becomes eligible, and when (`%Y-%m-%d %H:%M UTC`).
    pub next: Option<(String, String)>,
    pub reason: String,
    /// Versions skipped and why.
    pub why: Vec<String>,
    /// An excerpt of the notes of the release an upgrade would install: an urgency line when the
    /// notes carry one ("hard fork", "security"...), then their first lines.
    pub notes: Vec<String>,
}

/// The plan/apply screen: the playbook, the loaded plan (with the engine inputs an apply
/// needs), live progress per `host/node` while it applies, and the results at the end.
#[derive(Debug, Default)]
pub struct PlanView {
    /// The playbook path (None: no playbook, the screen says so).
    pub playbook: Option<String>,
    pub plan: Fetched<Plan>,
    /// What the planner saw (an apply runs exactly the plan that was confirmed).
    pub inputs: Option<Arc<PlanInputs>>,
    pub selected: usize,
    /// An apply is running.
    pub applying: bool,
    /// The results of the last apply (summary).
    pub results: Option<Vec<ChangeResult>>,
}

/// The merged upgrade journal (host journals + the console's own), newest last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryData {
    pub entries: Vec<Entry>,
    /// Hosts whose journal could not be read.
    pub errors: Vec<String>,
}

/// What the planner saw and decided: an apply runs exactly this (never a fresh plan the human
/// did not confirm). Opaque to the reducer.
pub struct PlanInputs {
    pub plan: Plan,
    /// The node behind every change of `plan`.
    pub refs: Vec<NodeRef>,
    pub gathered: Gathered,
    pub desired: DesiredState,
    pub playbook: Playbook,
}

impl std::fmt::Debug for PlanInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanInputs")
            .field("changes", &self.plan.changes.len())
            .finish_non_exhaustive()
    }
}
