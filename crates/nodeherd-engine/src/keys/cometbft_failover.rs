//! Failover of a CometBFT validator: its consensus key moved from SOURCE to TARGET, a synced full
//! node of the same chain, with SOURCE fenced first ([`super::fence`], as the Ethereum failover)
//! and the chain's proof that the validator went quiet before TARGET gets the key. A source host
//! that cannot be reached is never assumed dead: without `source_is_fenced` nothing is done.
//!
//! Steps: TARGET synced, same chain id, not a validator itself; the validator in TARGET's
//! validator set; the double-sign guard (the key on no node but SOURCE); fence SOURCE; read its
//! key and last-sign state into memory only; N blocks committed after the fence without the
//! validator's signature (asked through TARGET's RPC); stop TARGET, write the key (0600, the
//! unit's user) and the higher of the two last-sign states, start TARGET; its `/status` names
//! the validator and a commit within M blocks carries its signature.
//!
//! Owns: that order and its checks (the options, the run's context and the state file
//! `moves/cometbft-failover-<source>.json` are [`super::cometbft_run`]). May not touch: the
//! confirmation and the printing (the front end), the key file checks and host scripts
//! ([`super::cometbft_key`]), the RPC ([`super::cometbft_chain`]).

use std::path::Path;

use serde::Serialize;

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_transport::ssh::{Pool, Session};

use super::cometbft_chain::Rpc;
use super::cometbft_key::PrivValidatorKey;
use super::cometbft_run::{CometFailoverOptions, Ctx, Phase, Saved};
use super::cometbft_steps::{
    checks, fence_source, full_key, quiet_proof, source_state, verify_signing, write_target,
};
use super::consensus::{self, SignState};
use super::{file_label, label, timestamp};

/// What a CometBFT failover did.
#[derive(Debug, Clone, Serialize)]
pub struct CometFailoverReport {
    pub steps: Vec<String>,
    /// Where things are now, in one sentence.
    pub state: String,
    pub ok: bool,
    pub resumed: bool,
    /// The validator's consensus address (upper-case hex).
    pub address: Option<String>,
    /// TARGET's head right after SOURCE was fenced.
    pub fence_height: Option<u64>,
    /// The heights committed after the fence without the validator's signature.
    pub quiet_heights: Vec<u64>,
    /// The last-sign state written to TARGET (`None`: TARGET's own was kept).
    pub state_written: Option<SignState>,
    /// The first height whose commit carries TARGET's signature.
    pub signed_at: Option<u64>,
}

/// Fail the CometBFT validator of `from` over to `to` (both `client = "cosmos"`).
pub async fn failover_cometbft(
    inv: &Inventory,
    pool: &Pool,
    from: NodeRef,
    to: NodeRef,
    state_dir: &Path,
    opts: &CometFailoverOptions,
) -> CometFailoverReport {
    let a = label(inv, from);
    let path = state_dir.join("moves").join(format!(
        "{}.json",
        file_label(&format!("cometbft-failover-{a}"))
    ));
    let mut c = Ctx {
        inv,
        pool,
        from,
        to,
        b: label(inv, to),
        a,
        opts,
        steps: Vec::new(),
        saved: None,
        path,
        resumed: false,
        state_written: None,
        signed_at: None,
    };
    let done = run(&mut c).await;
    let untouched = c.saved.is_none();
    let (ok, state) = match done {
        Ok(()) => (
            true,
            format!(
                "failed over: the key is on {} only and it signs; {} is fenced",
                c.b, c.a
            ),
        ),
        Err(s) => (false, s),
    };
    if ok {
        let kept = c.path.with_extension(format!("done-{}.json", timestamp()));
        match std::fs::rename(&c.path, &kept) {
            Ok(()) => c
                .steps
                .push(format!("failover state kept in {}", kept.display())),
            Err(e) => c
                .steps
                .push(format!("cannot close {}: {e}", c.path.display())),
        }
    }
    let address = c.saved.as_ref().map(|s| s.address.clone());
    let shown = format!("consensus key {}", address.as_deref().unwrap_or("?"));
    let who = nodeherd_core::journal::who();
    let lines = super::lines::move_lines(&who, (&c.a, &c.b), &shown, ok, untouched, &state);
    for (node, line) in [from, to].into_iter().zip(&lines) {
        let _ = crate::record::record_on(pool, inv, node, line).await;
    }
    CometFailoverReport {
        steps: c.steps,
        state,
        ok,
        resumed: c.resumed,
        address,
        fence_height: c.saved.as_ref().and_then(|s| s.fence_height),
        quiet_heights: c.saved.map(|s| s.quiet).unwrap_or_default(),
        state_written: c.state_written,
        signed_at: c.signed_at,
    }
}

fn load(c: &mut Ctx<'_>) -> Result<(), String> {
    let text = match std::fs::read_to_string(&c.path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("refused: cannot read {}: {e}", c.path.display())),
    };
    let s: Saved = serde_json::from_str(&text).map_err(|e| {
        format!(
            "refused: {} is not a failover state file ({e}); nothing changed",
            c.path.display()
        )
    })?;
    if s.to != c.b {
        return Err(format!(
            "refused: an unfinished failover of {} to {} is recorded in {} ({:?}); finish it first (run it again with the same nodes); nothing changed here",
            s.from,
            s.to,
            c.path.display(),
            s.phase
        ));
    }
    c.steps.push(format!(
        "continuing the failover recorded in {} (phase {:?})",
        c.path.display(),
        s.phase
    ));
    c.saved = Some(s);
    c.resumed = true;
    Ok(())
}

async fn run(c: &mut Ctx<'_>) -> Result<(), String> {
    load(c)?;
    let target = Rpc::of(c.inv, c.pool, c.to)
        .await
        .map_err(|e| format!("refused: {e}; {}", c.where_now()))?;
    let tself = target
        .status()
        .await
        .map_err(|e| format!("refused: {e}; {}", c.where_now()))?;
    let source = c.pool.session(&c.inv.node(c.from).0.target).await;
    let (address, pubkey) = identify(c, source.as_ref().ok()).await?;
    if let Err(e) = &source {
        let host = &c.inv.node(c.from).0.name;
        if !c.opts.source_is_fenced {
            c.steps
                .push(format!("{}: host {host} cannot be reached: {e}", c.a));
            return Err(format!(
                "refused: {}: host {host} cannot be reached, and a host that cannot be reached is NOT assumed dead (it may still be signing). Power it off (or make sure it can never run {} again), then rerun with --source-is-fenced --priv-validator-key FILE. Nothing was changed",
                c.a,
                c.inv.node(c.from).1.unit
            ));
        }
        c.steps.push(format!(
            "{}: host {host} cannot be reached ({e}); --source-is-fenced: taken as powered off, not touched",
            c.a
        ));
    }
    if c.phase() == Phase::Fencing {
        checks(c, &target, &tself, source.as_ref().ok(), &address, &pubkey).await?;
        c.saved = Some(Saved {
            from: c.a.clone(),
            to: c.b.clone(),
            address: address.clone(),
            phase: Phase::Fencing,
            fence_height: None,
            quiet: Vec::new(),
            updated: String::new(),
        });
        c.save(Phase::Fencing)?;
        if let Ok(s) = &source {
            fence_source(c, s).await?;
        }
        let h = target
            .status()
            .await
            .map_err(|e| format!("{e}; {}", c.where_now()))?;
        c.progress(format!(
            "{}: head {} right after the fence; waiting for {} blocks without the signature of {address}",
            c.b, h.height, c.opts.quiet_blocks
        ));
        if let Some(s) = c.saved.as_mut() {
            s.fence_height = Some(h.height);
        }
        c.save(Phase::Quiet)?;
    }
    if c.phase() == Phase::Quiet {
        quiet_proof(c, &target, &address).await?;
        c.save(Phase::Writing)?;
    }
    if c.phase() == Phase::Writing {
        let key = full_key(c, source.as_ref().ok(), &target, &address).await?;
        let src_state = source_state(c, source.as_ref().ok()).await?;
        write_target(c, source.as_ref().ok(), &target, &key, src_state.as_ref()).await?;
        c.save(Phase::Started)?;
    }
    verify_signing(c, &target, &address).await
}

/// The validator's address and public key: SOURCE's file (public half only) when it answers,
/// else the operator's copy; both when both are there, and they must agree.
async fn identify(c: &mut Ctx<'_>, source: Option<&Session>) -> Result<(String, String), String> {
    let given = match &c.opts.priv_validator_key {
        Some(t) => Some(
            PrivValidatorKey::parse(t.clone())
                .map_err(|e| format!("refused: --priv-validator-key: {e}; nothing was changed"))?,
        ),
        None => None,
    };
    let (address, pubkey) = match (source, &given) {
        (Some(_), _) => {
            let row = match consensus::read_node(c.pool, c.inv, c.from).await {
                Ok(r) => r,
                // A rerun after SOURCE's copy was removed (the key is on TARGET).
                Err(e) if c.saved.as_ref().is_some_and(|s| s.phase >= Phase::Writing) => {
                    c.steps
                        .push(format!("{}: {e} (removed by the stopped run)", c.a));
                    let a = c
                        .saved
                        .as_ref()
                        .map(|s| s.address.clone())
                        .unwrap_or_default();
                    return Ok((a, String::new()));
                }
                Err(e) => return Err(format!("refused: {}: {e}; {}", c.a, c.where_now())),
            };
            if given.as_ref().is_some_and(|g| g.pubkey != row.key.pubkey) {
                return Err(format!(
                    "refused: --priv-validator-key is not the key of {} (address {}); nothing was changed",
                    c.a, row.key.address
                ));
            }
            (row.key.address, row.key.pubkey)
        }
        (None, Some(g)) => (g.address.clone(), g.pubkey.clone()),
        (None, None) if c.opts.source_is_fenced => {
            return Err(format!(
                "refused: {} cannot be reached, so its key cannot be read: give a copy of its config/priv_validator_key.json with --priv-validator-key FILE (and its data/priv_validator_state.json with --priv-validator-state FILE if you have it); nothing was changed",
                c.a
            ));
        }
        (None, None) => (String::new(), String::new()),
    };
    if let Some(s) = &c.saved {
        if !address.is_empty() && s.address != address {
            return Err(format!(
                "refused: the recorded failover is of {}, this key is {address}; nothing more was done",
                s.address
            ));
        }
    }
    if !address.is_empty() {
        c.steps
            .push(format!("validator {address} (consensus key {pubkey})"));
    }
    Ok((address, pubkey))
}
