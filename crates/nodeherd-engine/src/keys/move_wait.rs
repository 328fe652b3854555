//! The steps of a move (or failover) between the removal and the import: the beacon chain's
//! facts for the wait (clock, validator indices), the quiet wait with each answer saved in the
//! state file, reading the saved slashing data back on a rerun, and the target's doppelganger
//! protection check.
//!
//! Owns: those steps. May not touch: the removal and the import (move_key.rs, failover.rs), the
//! decisions of the wait (`quiet`, core `liveness`), the terminal.

use nodeherd_core::inventory::NodeRef;
use nodeherd_core::keymanager::liveness::{Clock, Quiet};

use super::move_run::{Ends, Run, Stop, list_has, where_now};
use super::move_state::Phase;
use super::quiet::{BeaconChain, wait_quiet};
use super::{double_sign_guard, label};
use crate::keymanager::Keymanager;

/// The beacon node that judges the wait: the target host's (it is asked in a failover too).
pub(super) struct ChainFacts {
    pub(super) chain: BeaconChain,
    pub(super) clock: Clock,
}

/// The wait's beacon node, clock and the key's index; `None` when no wait is asked or the key
/// is not on chain. A beacon node that cannot be asked stops the move before any change.
pub(super) async fn chain_facts(
    run: &mut Run<'_>,
    ends: &Ends<'_>,
    pubkeys: &[&str],
) -> Result<Option<(ChainFacts, Vec<u64>)>, Stop> {
    if run.opts.quiet_epochs == 0 {
        run.steps.push("no quiet wait (--quiet-epochs 0)".into());
        return Ok(None);
    }
    let asked = async {
        let chain = BeaconChain::find(run.inv, run.pool, ends.to).await?;
        let clock = chain.clock().await?;
        let mut indices = Vec::new();
        for pk in pubkeys {
            if let Some(i) = chain.index_of(pk).await? {
                indices.push(i);
            }
        }
        Ok::<_, String>((chain, clock, indices))
    }
    .await;
    match asked {
        Ok((chain, clock, indices)) if !indices.is_empty() => {
            match chain
                .choose_proof(run.opts.quiet_proof, &clock, indices[0])
                .await
            {
                Ok(how) => run.steps.push(format!("the quiet proof: {how}")),
                Err(e) => {
                    run.steps
                        .push(format!("the quiet wait needs the beacon chain: {e}"));
                    return Err((where_now(run, ends), run.state.slashing_file.clone()));
                }
            }
            run.steps.push(format!(
                "{} knows the key(s) as validator(s) {indices:?}; {} quiet epochs of {} s will be proven",
                chain.label(),
                run.opts.quiet_epochs,
                clock.epoch_seconds()
            ));
            Ok(Some((ChainFacts { chain, clock }, indices)))
        }
        Ok((chain, _, _)) => {
            run.steps.push(format!(
                "{} does not know the key(s) (not deposited): they cannot be live, no quiet wait",
                chain.label()
            ));
            Ok(None)
        }
        Err(e) => {
            run.steps
                .push(format!("the quiet wait needs the beacon chain: {e}"));
            Err((where_now(run, ends), run.state.slashing_file.clone()))
        }
    }
}
/// The quiet wait: B must still not have the key, A must not have it again; then the chain's
/// answers, each saved in the state file as it comes.
pub(super) async fn wait_phase(
    run: &mut Run<'_>,
    kma: Option<&Keymanager>,
    kmb: &Keymanager,
    ends: &Ends<'_>,
    pubkeys: &[&str],
    chain: Option<&(ChainFacts, Vec<u64>)>,
    stop: &str,
) -> Result<(), Stop> {
    for pk in pubkeys {
        if let Some(kma) = kma {
            if list_has(run, kma, pk, &ends.a).await? {
                run.steps.push(format!("{} lists {pk} AGAIN", ends.a));
                return Err((
                    format!(
                        "UNCERTAIN: {} has the key again; NOT imported into {}",
                        ends.a, ends.b
                    ),
                    run.state.slashing_file.clone(),
                ));
            }
        }
        if list_has(run, kmb, pk, &ends.b).await? {
            run.steps
                .push(format!("{} lists {pk} before the import", ends.b));
            return Err((
                format!(
                    "UNCERTAIN: {} has {pk} without this import; nothing more was done",
                    ends.b
                ),
                run.state.slashing_file.clone(),
            ));
        }
    }
    let mut quiet = run.state.quiet.clone().unwrap_or_else(|| Quiet::new(0, 0));
    if let Some((c, indices)) = chain {
        let journal = &run.journal;
        let mut state = run.state.clone();
        let mut answers = Vec::new();
        let mut save_error = None;
        let progress = run.opts.progress.clone();
        let sink = move |l: &str| {
            if let Some(p) = &progress {
                p(l);
            }
        };
        let waited = wait_quiet(
            &c.chain,
            &c.clock,
            indices,
            &mut quiet,
            &mut |q, a| {
                answers.extend_from_slice(a);
                state.quiet = Some(q.clone());
                if let Err(e) = journal.save(&mut state) {
                    save_error = Some(e.to_string());
                }
            },
            &sink,
        )
        .await;
        run.liveness.extend(answers);
        run.state.quiet = Some(quiet.clone());
        if let Some(e) = save_error {
            run.steps
                .push(format!("warning: the move's state file: {e}"));
        }
        if let Err(e) = waited {
            run.steps
                .push(format!("quiet wait on {}: {e}", c.chain.label()));
            return Err((
                format!("{stop}; the key was NOT proven quiet: {e}"),
                run.state.slashing_file.clone(),
            ));
        }
        run.steps.push(format!(
            "{} showed validator(s) {indices:?} not live in epochs {:?} after the removal in epoch {}",
            c.chain.label(),
            quiet.run,
            quiet.removed_epoch
        ));
    } else if quiet.needed > 0 {
        run.steps
            .push("the quiet wait was asked but the beacon chain gave no index".into());
        return Err((stop.to_string(), run.state.slashing_file.clone()));
    }
    run.save(Phase::Importing, stop)
}

/// The source's slashing data from the console copy the removal saved.
pub(super) fn read_interchange(run: &mut Run<'_>, stop: &str) -> Result<String, Stop> {
    let file = run.state.slashing_file.clone();
    let text = file.as_ref().map(std::fs::read_to_string);
    match text {
        Some(Ok(t)) => {
            run.steps.push(format!(
                "slashing data read back from {}",
                file.as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ));
            Ok(t)
        }
        Some(Err(e)) => {
            run.steps
                .push(format!("cannot read the saved slashing data: {e}"));
            Err((stop.to_string(), file))
        }
        None => {
            run.steps
                .push("no console copy of the slashing data was recorded".into());
            Err((stop.to_string(), file))
        }
    }
}

/// Say whether the target's client protects itself against doppelgangers (nodeherd does not
/// change the unit; the client's own check adds its epochs after the import).
pub(super) async fn doppelganger_step(run: &mut Run<'_>, to: NodeRef) {
    let (host, node) = run.inv.node(to);
    let client = node.client.as_str();
    let Some(flag) = nodeherd_core::keymanager::liveness::doppelganger_flag(client) else {
        run.steps.push(format!(
            "{client} has no doppelganger protection nodeherd knows of"
        ));
        return;
    };
    let cmd = nodeherd_core::remote::Command::new("systemctl")
        .arg("show")
        .arg("-p")
        .arg("ExecStart")
        .arg("--value")
        .arg(&node.unit);
    let on = match run.pool.session(&host.target).await {
        Ok(s) => match s.exec(&cmd).await {
            Ok(o) if o.success() => Some(nodeherd_core::keymanager::liveness::flag_on(
                &String::from_utf8_lossy(&o.stdout),
                flag,
            )),
            _ => None,
        },
        Err(_) => None,
    };
    run.steps.push(match on {
        Some(true) => format!("{}: its client runs with {flag}: it adds its own wait before signing", label(run.inv, to)),
        Some(false) => format!("{}: its unit runs without {flag}: nodeherd's quiet wait is the only check (add the flag to the unit for the client's own)", label(run.inv, to)),
        None => format!("{}: cannot read its unit's command line to see {flag}", label(run.inv, to)),
    });
}

/// The double-sign guard over every node but the two ends.
pub(super) async fn guard_others(
    run: &mut Run<'_>,
    ends: &Ends<'_>,
    stop: &str,
) -> Result<(), Stop> {
    let problems = double_sign_guard(
        run.inv,
        run.pool,
        &[ends.pubkey.to_string()],
        &[ends.from, ends.to],
    )
    .await;
    if problems.is_empty() {
        run.steps.push("no other validator node has the key".into());
        return Ok(());
    }
    for p in &problems {
        run.steps.push(format!("guard: {p}"));
    }
    if !run.opts.allow_double_sign_risk {
        return Err((stop.to_string(), run.state.slashing_file.clone()));
    }
    run.steps
        .push("guard overridden by --i-understand-double-signing-risk".into());
    Ok(())
}
