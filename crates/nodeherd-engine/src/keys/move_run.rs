//! What a move (or failover) of validator keys carries from step to step, shared by its order
//! ([`super::move_key`], [`super::failover`]) and its wait ([`super::move_wait`]): the options,
//! the two ends and how they are named, the run (lines said, state file, liveness answers), and
//! the sentences that say where the key is when a step stops.
//!
//! Owns: those types and sentences, and asking a keymanager whether it lists a key. May not
//! touch: the order of the steps, the wait's decisions, the terminal.

use std::path::PathBuf;
use std::sync::Arc;

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_transport::ssh::Pool;

use super::active_pubkeys;
use super::move_state::{Journal, MoveState, Phase};
use super::quiet::LivenessAnswer;
use crate::keymanager::Keymanager;

/// A progress sink: one line per step of the quiet wait (the CLI prints them on stderr).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// How a move runs.
#[derive(Clone)]
pub struct MoveOptions {
    /// `--i-understand-double-signing-risk`.
    pub allow_double_sign_risk: bool,
    /// Full epochs the key must be seen quiet on chain after its removal before the import
    /// (`--quiet-epochs`, default 2; 0 imports right after the verified removal).
    pub quiet_epochs: u64,
    /// How the chain is asked whether the key was live (`--quiet-proof`).
    pub quiet_proof: super::quiet::QuietProof,
    pub progress: Option<Progress>,
}

impl Default for MoveOptions {
    fn default() -> Self {
        MoveOptions {
            allow_double_sign_risk: false,
            quiet_epochs: 2,
            quiet_proof: super::quiet::QuietProof::Auto,
            progress: None,
        }
    }
}

/// A step that stopped the move: where things are now, and the slashing file when one was saved.
pub(super) type Stop = (String, Option<PathBuf>);

/// The two ends of a move and how they are named in its steps.
pub(super) struct Ends<'a> {
    pub(super) pubkey: &'a str,
    pub(super) from: NodeRef,
    pub(super) to: NodeRef,
    pub(super) a: String,
    pub(super) b: String,
    pub(super) untouched: String,
}

/// What a run of a move carries from step to step.
pub(super) struct Run<'a> {
    pub(super) inv: &'a Inventory,
    pub(super) pool: &'a Pool,
    pub(super) steps: Vec<String>,
    pub(super) journal: Journal,
    pub(super) state: MoveState,
    pub(super) resumed: bool,
    pub(super) liveness: Vec<LivenessAnswer>,
    pub(super) opts: &'a MoveOptions,
}

impl Run<'_> {
    pub(super) fn progress(&self, line: &str) {
        if let Some(p) = &self.opts.progress {
            p(line);
        }
    }

    /// Persist the state before the step it names; a state that cannot be written stops the
    /// move (a rerun could not continue it safely).
    pub(super) fn save(&mut self, phase: Phase, stop: &str) -> Result<(), Stop> {
        self.state.phase = phase;
        self.journal.save(&mut self.state).map_err(|e| {
            self.steps
                .push(format!("cannot write the move's state file: {e}"));
            (stop.to_string(), self.state.slashing_file.clone())
        })
    }
}

/// Where the key is when a step before any change of this run fails.
pub(super) fn where_now(run: &Run<'_>, ends: &Ends<'_>) -> String {
    if run.resumed && run.state.phase != Phase::Removing {
        not_imported(ends, run.state.slashing_file.as_ref())
            + "; run the same command again to continue"
    } else if run.resumed {
        format!(
            "the stopped run may have removed {} from {}; NOT imported into {}; run the same command again to continue",
            ends.pubkey, ends.a, ends.b
        )
    } else {
        ends.untouched.clone()
    }
}

/// Whether `km` lists `pubkey` (local or remote).
pub(super) async fn list_has(
    run: &mut Run<'_>,
    km: &Keymanager,
    pubkey: &str,
    who: &str,
) -> Result<bool, Stop> {
    match active_pubkeys(km).await {
        Ok(k) => Ok(k.iter().any(|x| x == pubkey)),
        Err(e) => {
            run.steps.push(format!("cannot list {who}: {e}"));
            Err((
                format!("UNCERTAIN: cannot tell whether {who} has {pubkey}; nothing more was done"),
                run.state.slashing_file.clone(),
            ))
        }
    }
}

/// "removed from A and NOT active on B; import it with ..."
pub(super) fn not_imported(ends: &Ends<'_>, file: Option<&PathBuf>) -> String {
    format!(
        "{} is removed from {} and NOT active on {}; run the same command again to continue, or import it with `nodeherd keys import {} KEYSTORE --slashing-protection {}` once it is proven quiet",
        ends.pubkey,
        ends.a,
        ends.b,
        ends.b,
        file.map_or_else(|| "FILE".into(), |p| p.display().to_string())
    )
}
