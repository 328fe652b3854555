//! A CometBFT failover's run, shared by its order ([`super::cometbft_failover`]) and its steps
//! ([`super::cometbft_steps`]): the options, the context the steps carry (the nodes, the lines
//! said so far, what was written), the phase and the state file
//! (`moves/cometbft-failover-<source>.json`, written atomically; no key material in it).
//!
//! Owns: those types and the state file's writing. May not touch: the order of the steps, the
//! hosts, the RPC.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keys::Secret;
use nodeherd_transport::ssh::Pool;

use super::consensus::SignState;
use super::move_run::Progress;
use super::move_state::write_atomic;
use super::timestamp;

/// How a CometBFT failover runs.
#[derive(Clone)]
pub struct CometFailoverOptions {
    /// The operator powered SOURCE off: an unreachable source host is then not a refusal.
    pub source_is_fenced: bool,
    /// The key file's text when SOURCE cannot be reached (`--priv-validator-key FILE`).
    pub priv_validator_key: Option<Secret<String>>,
    /// SOURCE's last-sign state when it cannot be reached (`--priv-validator-state FILE`).
    pub priv_validator_state: Option<String>,
    /// Blocks committed after the fence without the validator's signature (default 3).
    pub quiet_blocks: u64,
    /// Blocks within which TARGET must sign once started (default 10).
    pub sign_blocks: u64,
    /// How long the chain may make no block before a wait gives up (default 300 s).
    pub stall: Duration,
    pub progress: Option<Progress>,
}

impl Default for CometFailoverOptions {
    fn default() -> Self {
        CometFailoverOptions {
            source_is_fenced: false,
            priv_validator_key: None,
            priv_validator_state: None,
            quiet_blocks: 3,
            sign_blocks: 10,
            stall: Duration::from_secs(300),
            progress: None,
        }
    }
}

/// Where a failover is (the state file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Phase {
    /// About to fence SOURCE (it may have happened).
    Fencing,
    /// SOURCE fenced: the quiet proof runs.
    Quiet,
    /// About to stop TARGET and write the key (it may have happened).
    Writing,
    /// TARGET started with the key: its first signature is awaited.
    Started,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Saved {
    pub(super) from: String,
    pub(super) to: String,
    pub(super) address: String,
    pub(super) phase: Phase,
    pub(super) fence_height: Option<u64>,
    pub(super) quiet: Vec<u64>,
    pub(super) updated: String,
}

pub(super) struct Ctx<'a> {
    pub(super) inv: &'a Inventory,
    pub(super) pool: &'a Pool,
    pub(super) from: NodeRef,
    pub(super) to: NodeRef,
    pub(super) a: String,
    pub(super) b: String,
    pub(super) opts: &'a CometFailoverOptions,
    pub(super) steps: Vec<String>,
    pub(super) saved: Option<Saved>,
    pub(super) path: PathBuf,
    pub(super) resumed: bool,
    pub(super) state_written: Option<SignState>,
    pub(super) signed_at: Option<u64>,
}

impl Ctx<'_> {
    pub(super) fn progress(&mut self, line: String) {
        if let Some(p) = &self.opts.progress {
            p(&line);
        }
        self.steps.push(line);
    }

    pub(super) fn phase(&self) -> Phase {
        self.saved.as_ref().map_or(Phase::Fencing, |s| s.phase)
    }

    /// Where things are when the run stops now.
    pub(super) fn where_now(&self) -> String {
        match self.phase() {
            Phase::Fencing if self.saved.is_none() => format!(
                "nothing changed: {} was not touched and nothing was written to {}",
                self.a, self.b
            ),
            Phase::Fencing | Phase::Quiet => format!(
                "{} may be fenced (its unit stopped and masked) and the key was NOT written to {}; rerun the same command to continue",
                self.a, self.b
            ),
            Phase::Writing => format!(
                "{} is fenced; {} may be stopped and may hold the key: rerun the same command to continue",
                self.a, self.b
            ),
            Phase::Started => format!(
                "{} is fenced; {} holds the key and was started; check that it signs (rerun the same command to check again)",
                self.a, self.b
            ),
        }
    }

    /// Persist `phase` (atomically) before the step it names.
    pub(super) fn save(&mut self, phase: Phase) -> Result<(), String> {
        let Some(s) = self.saved.as_mut() else {
            return Ok(());
        };
        s.phase = phase;
        s.updated = timestamp();
        let text = serde_json::to_string_pretty(s).unwrap_or_default();
        write_atomic(&self.path, &text).map_err(|e| {
            self.steps
                .push(format!("cannot write the failover's state file: {e}"));
            self.where_now()
        })
    }
}
