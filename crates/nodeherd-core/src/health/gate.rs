//! The health gate as a pure state machine: readings in, pass or the reason it did not.
//!
//! Owns: what "healthy" means over time for each [`Probe`]: a progress number advancing
//! between two good readings (beacon, execution, CometBFT, Substrate), or the unit settled
//! (active, same main PID, no restart) for `settle` with the node's own check passing
//! (validator client, nwaku, declared probe, unit alone); the version check; the reason given
//! when it fails, quoting the node's own answer. May not touch: I/O or the clock (`at` is the
//! time since the gate began, passed in).

use std::time::Duration;

use serde::Serialize;

use super::Probe;
use super::answers::{upgrade_name_matches, version_matches};

/// What the node's own check said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    Healthy,
    /// Up but syncing (Beacon `206`, `eth_syncing` true, `catching_up`, `isSyncing`).
    Syncing,
    Unhealthy,
}

/// One observation of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reading {
    pub unit_active: bool,
    /// systemd's sub state (`running`, `auto-restart`, ...), for messages.
    pub unit_state: String,
    pub main_pid: Option<u32>,
    pub restarts: Option<u32>,
    /// The node's own verdict; `None` when the probe asks nothing of the node.
    pub check: Option<Check>,
    pub version: Option<String>,
    /// Head slot, block number, height: whatever the probe's API advances.
    pub progress: Option<u64>,
    pub peers: Option<u64>,
    /// The node did not answer (or the probe could not run): why.
    pub error: Option<String>,
    /// The node's own answer, short, for messages.
    pub said: Option<String>,
}

impl Reading {
    /// The node's own check passed (syncing counts with `accept_syncing`).
    fn check_ok(&self, accept_syncing: bool) -> bool {
        match self.check {
            None | Some(Check::Healthy) => self.error.is_none(),
            Some(Check::Syncing) => accept_syncing && self.error.is_none(),
            Some(Check::Unhealthy) => false,
        }
    }
}

/// The gate over successive readings of one node.
#[derive(Debug, Clone)]
pub struct Gate {
    probe: Probe,
    want: Option<String>,
    accept_syncing: bool,
    settle: Duration,
    /// First progress value seen on a good reading (progress gates).
    first: Option<u64>,
    /// Since when the unit has been up with this (main PID, restarts), on good readings.
    settled: Option<(Duration, Option<u32>, Option<u32>)>,
    /// The restart counter at the first reading: a restart during the gate is a failure cause.
    restarts_at_start: Option<Option<u32>>,
    last: Reading,
    at: Duration,
}

impl Gate {
    /// `want`: the version the node must report (when its API reports one).
    pub fn new(probe: Probe, want: Option<&str>, accept_syncing: bool, settle: Duration) -> Gate {
        Gate {
            probe,
            want: want.map(str::to_string),
            accept_syncing,
            settle,
            first: None,
            settled: None,
            restarts_at_start: None,
            last: Reading::default(),
            at: Duration::ZERO,
        }
    }

    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// The last reading seen.
    pub fn last(&self) -> &Reading {
        &self.last
    }

    fn version_ok(&self, r: &Reading) -> bool {
        match (&self.want, &r.version) {
            (None, _) => true,
            // a Cosmos node is switched to an upgrade name (`v19`), matched by its app version
            (Some(w), Some(v))
                if matches!(
                    self.probe,
                    Probe::Api {
                        api: super::Api::CometBft,
                        ..
                    }
                ) =>
            {
                upgrade_name_matches(v, w)
            }
            (Some(w), Some(v)) => version_matches(v, w),
            // A settle gate whose node publishes no version: the host's `current` link is the
            // only version fact (checked by the switch); an API gate must report one.
            (Some(_), None) => self.probe.settles(),
        }
    }

    /// Take one reading made `at` after the gate began; true when the node passed.
    pub fn observe(&mut self, r: Reading, at: Duration) -> bool {
        self.at = at;
        if self.restarts_at_start.is_none() {
            self.restarts_at_start = Some(r.restarts);
        }
        let good = r.unit_active && r.check_ok(self.accept_syncing) && self.version_ok(&r);
        let passed = if !good {
            self.first = None;
            self.settled = None;
            false
        } else if self.probe.settles() {
            let same =
                |s: &(Duration, Option<u32>, Option<u32>)| s.1 == r.main_pid && s.2 == r.restarts;
            match self.settled {
                Some(s) if same(&s) => at.saturating_sub(s.0) >= self.settle,
                _ => {
                    self.settled = Some((at, r.main_pid, r.restarts));
                    self.settle.is_zero()
                }
            }
        } else {
            match (self.first, r.progress) {
                (None, Some(p)) => {
                    self.first = Some(p);
                    false
                }
                (Some(a), Some(b)) => b > a,
                (_, None) => false,
            }
        };
        self.last = r;
        passed
    }

    /// The node is crash-looping: systemd restarted its unit at least twice since the gate's
    /// first reading and it is not up now. Waiting out the timeout would change nothing.
    pub fn hopeless(&self) -> bool {
        let grown = match (self.restarts_at_start, self.last.restarts) {
            (Some(Some(a)), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        grown >= 2 && !self.last.unit_active
    }

    /// Why the gate has not passed, from the last reading, quoting the node.
    pub fn reason(&self) -> String {
        let r = &self.last;
        let api = self.probe.label();
        let said = r
            .said
            .as_deref()
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        if !r.unit_active {
            let state = if r.unit_state.is_empty() {
                "not active".to_string()
            } else {
                format!("not active ({})", r.unit_state)
            };
            if self.hopeless() {
                let a = self.restarts_at_start.flatten().unwrap_or(0);
                let b = r.restarts.unwrap_or(0);
                return format!(
                    "the unit is {state}, restarted {} times (crash loop)",
                    b - a
                );
            }
            return format!("the unit is {state}");
        }
        if let Some(e) = &r.error {
            return format!("{api} is not answering ({e})");
        }
        match r.check {
            Some(Check::Unhealthy) => return format!("{api} says the node is not healthy{said}"),
            Some(Check::Syncing) if !self.accept_syncing => {
                return format!(
                    "{api} says the node is syncing{said} (set accept_syncing = true to allow it)"
                );
            }
            _ => {}
        }
        if !self.version_ok(r) {
            return format!(
                "the node reports version {:?}, not {}",
                r.version.as_deref().unwrap_or("?"),
                self.want.as_deref().unwrap_or("?")
            );
        }
        if self.probe.settles() {
            let restarted = matches!(
                (self.restarts_at_start, r.restarts),
                (Some(Some(a)), Some(b)) if b > a
            );
            if restarted {
                let a = self.restarts_at_start.flatten().unwrap_or(0);
                let b = r.restarts.unwrap_or(0);
                return format!("the unit restarted (NRestarts {a} -> {b})");
            }
            let up = self
                .settled
                .map_or(Duration::ZERO, |s| self.at.saturating_sub(s.0));
            return format!(
                "the unit was up {}s without a restart, {}s needed",
                up.as_secs(),
                self.settle.as_secs()
            );
        }
        let what = match &self.probe {
            Probe::Api { api, .. } => api.progress().unwrap_or("progress"),
            _ => "progress",
        };
        format!(
            "the {what} did not advance (stuck at {})",
            r.progress.map_or("?".into(), |h| h.to_string())
        )
    }
}
