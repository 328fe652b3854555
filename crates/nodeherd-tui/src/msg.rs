//! What flows into the reducer ([`Msg`]) and what comes out of it ([`Effect`]).
//!
//! Owns: the message vocabulary between workers, input and the state owner. May not touch:
//! state or I/O; these are plain values (a host-key question carries its reply channel). The
//! values they carry are defined in [`crate::state`] (this module depends on it, never the
//! other way).

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;
use tokio::sync::oneshot;

use crate::keymap::Action;
pub use crate::state::PlanInputs;
use crate::state::{
    AlertRow, HistoryData, HostKeyAsk, ImportAsk, MoveAsk, NodeKeys, NodeMetrics, ReleaseRow,
    WorkerError,
};
use nodeherd_core::facts::systemd::{self, JournalLine};
use nodeherd_core::inventory::NodeRef;
use nodeherd_core::plan::apply::Plan;
use nodeherd_core::text::sanitize;
use nodeherd_engine::apply::run::ChangeResult;
use nodeherd_engine::lifecycle::ActionOutcome;
use nodeherd_engine::status::NodeStatus;
use nodeherd_engine::upgrade::engine::{Event, Outcome};
use nodeherd_engine::upgrade::progress::{Step, quiet_text};
use std::sync::Arc;

/// Everything the state owner reacts to: input, worker results, time.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Resize(u16, u16),
    /// Once a second: ages on screen move, the flash expires.
    Tick,
    /// A poll began (the header shows it).
    PollStarted,
    /// One poll's results for every node.
    StatusBatch(Vec<NodeStatus>),
    /// Numbers for one node from the metrics engine.
    Metrics {
        host: String,
        node: String,
        metrics: NodeMetrics,
    },
    /// The current alert list (replaces the previous one).
    Alerts(Vec<AlertRow>),
    /// The releases plan (or why it could not be made).
    Releases(Result<Vec<ReleaseRow>, WorkerError>),
    /// Every validator node's keys (per-node errors inside).
    Keys(Vec<NodeKeys>),
    /// An `:import` was checked: the confirm dialog opens, or the flash says why not.
    ImportChecked(Result<ImportAsk, WorkerError>),
    /// An `:move` was checked: the confirm dialog opens, or the flash says why not.
    MoveChecked(Result<MoveAsk, WorkerError>),
    /// An import ended; `text` is the per-key result for the flash line.
    KeysImported {
        ok: bool,
        text: String,
    },
    /// A move ended; `text` says where the key is now.
    KeyMoved {
        pubkey: String,
        ok: bool,
        text: String,
    },
    /// A key removal ended; `text` is the result for the flash line.
    KeyRemoved {
        pubkey: String,
        ok: bool,
        text: String,
    },
    LogLine {
        node: NodeRef,
        line: JournalLine,
    },
    /// The log follow ended (error text sanitized by the worker).
    LogEnded {
        node: NodeRef,
        error: Option<String>,
    },
    ActionDone {
        action: systemd::Action,
        outcomes: Vec<ActionOutcome>,
    },
    /// An SSH connect waits for a trust decision on an unknown host key.
    HostKeyQuestion {
        ask: HostKeyAsk,
        reply: oneshot::Sender<bool>,
    },
    /// A worker's message for the flash line (sanitized by the reducer).
    Notice {
        text: String,
        error: bool,
    },
    /// The plan of the plan screen (gather + make_plan), with what an apply needs.
    Plan(Result<(Plan, Arc<PlanInputs>), WorkerError>),
    /// Live progress of an engine run: `host/node` and what it is doing now.
    Progress {
        key: String,
        event: Event,
    },
    /// What an upgrade or rollback waits for now (the quiet window's countdown, the gate's
    /// progress), about once a second.
    Wait {
        key: String,
        step: Step,
    },
    /// An apply ended: one result per change (or why it could not start).
    Applied(Result<Vec<ChangeResult>, WorkerError>),
    /// An upgrade or rollback from the releases screen ended.
    UpgradeDone {
        key: String,
        rollback: bool,
        outcome: Outcome,
    },
    /// The merged upgrade journal.
    History(Result<HistoryData, WorkerError>),
    /// What the Cosmos watch read of every Cosmos node of the session (per-node errors inside).
    Cosmos(Vec<nodeherd_engine::cosmos::watch::NodeWatch>),
    /// SIGTERM / SIGINT from outside.
    Terminate,
    /// SIGTSTP from outside.
    SuspendRequested,
}

/// What the reducer asks the runtime to do.
#[derive(Debug)]
pub enum Effect {
    /// Run a lifecycle action on these nodes (already confirmed when dangerous).
    Act {
        action: systemd::Action,
        nodes: Vec<NodeRef>,
    },
    /// Follow this node's journal (replacing any other follow).
    FollowLogs(NodeRef),
    StopLogs,
    /// Plan releases for the session's nodes (feeds + running versions) in a worker.
    LoadReleases,
    /// List the keys of the session's validator nodes in a worker.
    LoadKeys,
    /// Remove one key (already confirmed): `ops::keys::remove`, slashing data saved first.
    RemoveKey {
        node: NodeRef,
        pubkey: String,
    },
    /// Check an `:import` in a worker (read the files, ask every other validator node).
    CheckImport(crate::keycmd::ImportCmd),
    /// Import (already confirmed): the worker reads and checks everything again first.
    ImportKeys(ImportAsk),
    /// Check a `:move` in a worker (the keystore must open to the key).
    CheckMove(crate::keycmd::MoveCmd),
    /// Move (already confirmed) through `ops::keys::move_key`, which stops at anything uncertain.
    MoveKey(MoveAsk),
    /// Gather facts and plan the playbook in a worker.
    LoadPlan,
    /// Apply this plan (already confirmed), forwarding progress events.
    Apply(Arc<PlanInputs>),
    /// Upgrade one node to `to` (already confirmed).
    Upgrade {
        node: NodeRef,
        to: String,
    },
    /// Roll one node back (already confirmed) to `to`, the host's `previous` the dialog named:
    /// exactly that version, even if another console changed `previous` since (a version no
    /// longer on the host is refused by the engine).
    Rollback {
        node: NodeRef,
        to: Option<String>,
    },
    /// Cancel the upgrade or rollback of `key` (`host/node`) if it has not started switching.
    CancelUpgrade {
        key: String,
    },
    /// Read and merge the hosts' journals in a worker.
    LoadHistory,
    /// Read the Cosmos nodes now (the watch worker starts on the first, then reads on its own
    /// interval).
    LoadCosmos,
    /// Silence alerts matching `spec` (RULE[/HOST[/NODE]]) until `until`: recorded in the saved
    /// alert state (so `nodeherd alerts` and cron runs honour it) and in this session.
    Silence {
        spec: String,
        until: DateTime<Utc>,
    },
    /// Poll every host now instead of waiting for the interval.
    PollNow,
    AnswerHostKey {
        reply: oneshot::Sender<bool>,
        accept: bool,
    },
    Suspend,
    Quit,
}

/// The systemd action of a key action, when it is one.
pub fn lifecycle_of(a: Action) -> Option<systemd::Action> {
    match a {
        Action::Start => Some(systemd::Action::Start),
        Action::Stop => Some(systemd::Action::Stop),
        Action::Restart => Some(systemd::Action::Restart),
        _ => None,
    }
}

/// How the screens name an engine event.
pub fn event_label(e: Event) -> &'static str {
    match e {
        Event::Locked => "locked",
        Event::Uploading => "uploading",
        Event::Staged => "staged",
        Event::WaitingForQuiet => "waiting for quiet",
        Event::Switching => "switching",
        Event::Switched => "switched, gate…",
        Event::GatePassed => "gate passed",
        Event::Confirmed => "confirmed",
        Event::RollingBack => "rolling back",
        Event::RolledBack => "rolled back",
    }
}

/// How a wait reads on the releases screen and in the quit notice.
pub fn wait_text(step: &Step) -> Option<String> {
    match step {
        Step::Quiet {
            blocker,
            next_in,
            gives_up_in,
        } => Some(quiet_text(&sanitize(blocker), *next_in, *gives_up_in)),
        Step::Gate {
            elapsed, timeout, ..
        } => Some(format!(
            "gate {}s/{}s",
            elapsed.as_secs(),
            timeout.as_secs()
        )),
        _ => None,
    }
}
