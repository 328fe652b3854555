//! Failover of a validator client's keys to another one, with the source fenced first: its
//! keys removed through its keymanager (slashing data saved first), its unit stopped, disabled
//! and masked, no process left holding its data directory; then the quiet wait on the target's
//! beacon node, then the import into the target. A source host that cannot be reached is never
//! assumed dead: without `source_is_fenced` (the operator powered it off) nothing is done.
//!
//! Owns: the order and the checks of a failover (docs/keys.md) and its state file (shared shape
//! with moves, [`super::move_state`], named `failover-<source>`); the fence itself is
//! [`super::fence`], shared with the CometBFT failover. May not touch: the keystores'
//! checks and the confirmation (the front end), the terminal.

use std::path::{Path, PathBuf};

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keymanager::liveness::Quiet;
use nodeherd_core::keymanager::types::ImportStatus;
use nodeherd_core::keys::Secret;
use nodeherd_transport::ssh::{Pool, Session};

use super::move_key::{MoveReport, finish, load_state};
use super::move_run::{Ends, MoveOptions, Run, list_has, not_imported};
use super::move_state::{Journal, MoveState, Phase};
use super::move_wait::{chain_facts, doppelganger_step, read_interchange, wait_phase};
use super::{active_pubkeys, double_sign_guard, label, remove};
use crate::keymanager::Keymanager;

/// How a failover runs.
#[derive(Clone, Default)]
pub struct FailoverOptions {
    pub moves: MoveOptions,
    /// The operator powered the source off (or otherwise made sure it can never sign again):
    /// an unreachable source host is then not a refusal.
    pub source_is_fenced: bool,
    /// EIP-3076 data to import with the keys when the source gives none (unreachable source).
    pub slashing_protection: Option<String>,
}

type Stop = (String, Option<PathBuf>);

/// Fail over the keys of `keystores` (pubkey, keystore JSON; each already proven to open with
/// `password`) from `from` to `to`.
#[allow(clippy::too_many_arguments)]
pub async fn failover(
    inv: &Inventory,
    pool: &Pool,
    from: NodeRef,
    to: NodeRef,
    keystores: &[(String, String)],
    password: &Secret<String>,
    state_dir: &Path,
    opts: &FailoverOptions,
) -> MoveReport {
    let a = label(inv, from);
    let pubkeys: Vec<&str> = keystores.iter().map(|(p, _)| p.as_str()).collect();
    let shown = pubkeys.join(",");
    let ends = Ends {
        pubkey: &shown,
        from,
        to,
        untouched: format!("nothing changed: {a} was not touched and nothing was imported"),
        a: a.clone(),
        b: label(inv, to),
    };
    let mut run = Run {
        inv,
        pool,
        steps: Vec::new(),
        journal: Journal::at(state_dir, &format!("failover-{a}")),
        state: MoveState {
            pubkey: shown.clone(),
            from: ends.a.clone(),
            to: ends.b.clone(),
            kind: "failover".into(),
            phase: Phase::Removing,
            slashing_file: None,
            quiet: None,
            updated: String::new(),
        },
        resumed: false,
        liveness: Vec::new(),
        opts: &opts.moves,
    };
    let done = run_failover(
        &mut run, &ends, &pubkeys, keystores, password, state_dir, opts,
    )
    .await;
    finish(run, &ends, done).await
}

async fn run_failover(
    run: &mut Run<'_>,
    ends: &Ends<'_>,
    pubkeys: &[&str],
    keystores: &[(String, String)],
    password: &Secret<String>,
    state_dir: &Path,
    opts: &FailoverOptions,
) -> Result<Option<PathBuf>, Stop> {
    load_state(run, ends)?;
    let kmb = match Keymanager::connect(run.pool, run.inv, ends.to).await {
        Ok(k) => k,
        Err(e) => {
            run.steps.push(format!("target: {e}"));
            return Err((ends.untouched.clone(), run.state.slashing_file.clone()));
        }
    };
    let chain = chain_facts(run, ends, pubkeys).await?;
    if run.state.phase == Phase::Removing {
        for pk in pubkeys {
            if list_has(run, &kmb, pk, &ends.b).await? {
                run.steps
                    .push(format!("{} ALREADY has {pk}: refusing", ends.b));
                return Err((ends.untouched.clone(), None));
            }
        }
        guard(run, ends, pubkeys).await?;
        fence(run, ends, pubkeys, state_dir, opts).await?;
        run.state.quiet = Some(match &chain {
            Some((c, _)) => {
                use super::quiet::ChainView;
                Quiet::new(c.clock.epoch_at(c.chain.now()), run.opts.quiet_epochs)
            }
            None => Quiet::new(0, 0),
        });
        let stop = not_imported(ends, run.state.slashing_file.as_ref());
        run.save(Phase::Waiting, &stop)?;
    }
    let stop = not_imported(ends, run.state.slashing_file.as_ref());
    if run.state.phase == Phase::Waiting {
        wait_phase(run, None, &kmb, ends, pubkeys, chain.as_ref(), &stop).await?;
    }
    let have = active_of(run, &kmb, &ends.b).await?;
    if run.resumed && pubkeys.iter().all(|p| have.iter().any(|h| h == p)) {
        run.steps.push(format!(
            "{} already lists every key: the import of the stopped run happened",
            ends.b
        ));
        return Ok(run.state.slashing_file.clone());
    }
    let interchange = if run.state.slashing_file.is_some() {
        Some(read_interchange(run, &stop)?)
    } else {
        opts.slashing_protection.clone()
    };
    if interchange.is_none() {
        run.steps.push(format!(
            "importing WITHOUT slashing data: {} gave none (unreachable or no keymanager) and none was given with --slashing-protection",
            ends.a
        ));
    }
    guard(run, ends, pubkeys).await?;
    doppelganger_step(run, ends.to).await;
    import_all(run, &kmb, ends, keystores, password, interchange.as_deref()).await
}

async fn active_of(run: &mut Run<'_>, km: &Keymanager, who: &str) -> Result<Vec<String>, Stop> {
    active_pubkeys(km).await.map_err(|e| {
        run.steps.push(format!("cannot list {who}: {e}"));
        (
            format!("UNCERTAIN: cannot tell which keys {who} has; nothing more was done"),
            run.state.slashing_file.clone(),
        )
    })
}

/// The double-sign guard over every node but the two ends.
async fn guard(run: &mut Run<'_>, ends: &Ends<'_>, pubkeys: &[&str]) -> Result<(), Stop> {
    let owned: Vec<String> = pubkeys.iter().map(|p| (*p).to_string()).collect();
    let problems = double_sign_guard(run.inv, run.pool, &owned, &[ends.from, ends.to]).await;
    if problems.is_empty() {
        run.steps
            .push("no other validator node has the keys".into());
        return Ok(());
    }
    for p in &problems {
        run.steps.push(format!("guard: {p}"));
    }
    if run.opts.allow_double_sign_risk {
        run.steps
            .push("guard overridden by --i-understand-double-signing-risk".into());
        return Ok(());
    }
    Err((
        if run.state.slashing_file.is_some() {
            not_imported(ends, run.state.slashing_file.as_ref())
        } else {
            "refused by the double-sign guard; nothing was imported".into()
        },
        run.state.slashing_file.clone(),
    ))
}

/// Fence the source: keys out through its keymanager (slashing data saved first) where it
/// answers, the unit stopped, disabled and masked, no process holding its data directory. An
/// unreachable host is refused unless the operator said it is fenced.
async fn fence(
    run: &mut Run<'_>,
    ends: &Ends<'_>,
    pubkeys: &[&str],
    state_dir: &Path,
    opts: &FailoverOptions,
) -> Result<(), Stop> {
    let (host, node) = run.inv.node(ends.from);
    let session = match run.pool.session(&host.target).await {
        Ok(s) => s,
        Err(e) if opts.source_is_fenced => {
            run.steps.push(format!(
                "{}: host {} cannot be reached ({e}); --source-is-fenced: taken as powered off, not touched",
                ends.a, host.name
            ));
            return run.save(Phase::Removing, &ends.untouched);
        }
        Err(e) => {
            run.steps.push(format!(
                "{}: host {} cannot be reached: {e}",
                ends.a, host.name
            ));
            return Err((
                format!(
                    "refused: {}: host {} cannot be reached, and a host that cannot be reached is NOT assumed dead (it may still be signing). Power it off (or make sure it can never run {} again), then rerun with --source-is-fenced. Nothing was changed",
                    ends.a, host.name, node.unit
                ),
                None,
            ));
        }
    };
    run.save(Phase::Removing, &ends.untouched)?;
    run.progress(&format!(
        "fencing {}: keys out through its keymanager, then the unit",
        ends.a
    ));
    remove_through_keymanager(run, ends, pubkeys, &session, state_dir).await?;
    let become_root = host.target.become_root;
    let fenced = super::fence::fence_unit(&session, &node.unit, become_root).await;
    let last = match &fenced {
        Ok(l) | Err(l) => l.clone(),
    };
    run.steps.push(format!(
        "{}: stop, disable, mask {}: {last}",
        ends.a, node.unit
    ));
    if fenced.is_err() {
        return Err((
            format!(
                "UNCERTAIN: {} could not be fenced ({last}); NOT imported into {}; fence it by hand, then rerun with --source-is-fenced",
                ends.a, ends.b
            ),
            run.state.slashing_file.clone(),
        ));
    }
    holders_check(run, ends, &session, node.data_dir.as_deref(), become_root).await
}

/// DELETE the keys the source's keymanager still lists; the slashing data is saved first.
async fn remove_through_keymanager(
    run: &mut Run<'_>,
    ends: &Ends<'_>,
    pubkeys: &[&str],
    session: &Session,
    state_dir: &Path,
) -> Result<(), Stop> {
    let kma = match Keymanager::connect(run.pool, run.inv, ends.from).await {
        Ok(k) => k,
        Err(e) => {
            run.steps.push(format!(
                "{}: keymanager does not answer ({e}): no slashing data from it; fencing the unit",
                ends.a
            ));
            return Ok(());
        }
    };
    let have = match active_pubkeys(&kma).await {
        Ok(h) => h,
        Err(e) => {
            run.steps.push(format!(
                "{}: cannot list its keys ({e}); fencing the unit",
                ends.a
            ));
            return Ok(());
        }
    };
    let present: Vec<String> = pubkeys
        .iter()
        .filter(|p| have.iter().any(|h| h == *p))
        .map(|p| (*p).to_string())
        .collect();
    if present.is_empty() {
        run.steps.push(format!("{} lists none of the keys", ends.a));
        return Ok(());
    }
    let removed = match remove(&kma, session, &present, state_dir).await {
        Ok(r) => r,
        Err(e) => {
            run.steps.push(format!("{}: {e}", ends.a));
            return Err((
                format!(
                    "UNCERTAIN: the keys' removal from {} failed or its answer was lost; list {} before anything else; rerun the same command to continue",
                    ends.a, ends.a
                ),
                None,
            ));
        }
    };
    run.steps.push(format!(
        "removed from {}: {:?}; slashing data saved to {}",
        ends.a,
        removed.results.iter().map(|r| r.1).collect::<Vec<_>>(),
        match &removed.console_file {
            Ok(p) => p.display().to_string(),
            Err(e) => format!("NOT SAVED ON THE CONSOLE ({e})"),
        }
    ));
    let file = removed.console_file.as_ref().ok().cloned();
    if let (Some(f), Ok(())) = (&file, &removed.slashing_check) {
        run.state.slashing_file = Some(f.clone());
        // A rerun after this point must find the slashing data: record it before the fence.
        let stop = format!(
            "the keys are removed from {} and NOT imported into {}; their slashing data is in {}",
            ends.a,
            ends.b,
            f.display()
        );
        run.save(Phase::Removing, &stop)
    } else {
        Err((
            format!(
                "the keys are removed from {} and NOT imported into {}: the slashing data is not usable or not saved (see above)",
                ends.a, ends.b
            ),
            file,
        ))
    }
}

/// No process may hold files under the source's data directory (a forgotten copy of the
/// client, a second instance started by hand).
async fn holders_check(
    run: &mut Run<'_>,
    ends: &Ends<'_>,
    session: &Session,
    data_dir: Option<&Path>,
    become_root: bool,
) -> Result<(), Stop> {
    let Some(dir) = data_dir else {
        run.steps.push(format!(
            "{}: no data_dir in the inventory: open key files not checked (the unit is stopped and masked)",
            ends.a
        ));
        return Ok(());
    };
    match super::fence::holders(session, dir, become_root).await {
        Ok(None) => {
            run.steps.push(format!(
                "{}: no process holds files under {}",
                ends.a,
                dir.display()
            ));
            Ok(())
        }
        Ok(Some(who)) => {
            run.steps.push(format!(
                "{}: processes still hold {}: {who}",
                ends.a,
                dir.display()
            ));
            Err((
                format!(
                    "refused: on {} a process still holds {} ({who}); stop it (it may be signing), then rerun; NOT imported into {}",
                    ends.a,
                    dir.display(),
                    ends.b
                ),
                run.state.slashing_file.clone(),
            ))
        }
        Err(e) => Err((
            format!(
                "UNCERTAIN: cannot check the processes on {}: {e}; NOT imported into {}",
                ends.a, ends.b
            ),
            run.state.slashing_file.clone(),
        )),
    }
}

/// Import every keystore into the target with the slashing data, verify each is listed.
async fn import_all(
    run: &mut Run<'_>,
    kmb: &Keymanager,
    ends: &Ends<'_>,
    keystores: &[(String, String)],
    password: &Secret<String>,
    interchange: Option<&str>,
) -> Result<Option<PathBuf>, Stop> {
    let file = run.state.slashing_file.clone();
    let texts: Vec<String> = keystores.iter().map(|(_, t)| t.clone()).collect();
    let passwords: Vec<Secret<String>> = keystores.iter().map(|_| password.clone()).collect();
    let stop = not_imported(ends, file.as_ref());
    run.progress(&format!("importing {} key(s) into {}", texts.len(), ends.b));
    match kmb.import(&texts, &passwords, interchange).await {
        Ok(r) if r.iter().all(|x| x.status == ImportStatus::Imported) => {
            run.steps
                .push(format!("imported {} key(s) into {}", r.len(), ends.b));
        }
        Ok(r) => {
            let host = &run.inv.node(ends.to).0.name;
            for x in &r {
                let m = x.message.as_deref().unwrap_or("");
                let said = nodeherd_core::keymanager::types::explain_import_message(m, host);
                run.steps.push(format!(
                    "import into {}: {:?}: {}",
                    ends.b,
                    x.status,
                    said.as_deref().unwrap_or(m)
                ));
            }
            return Err((stop, file));
        }
        Err(e) => {
            run.steps.push(format!("import into {}: {e}", ends.b));
            return Err((format!("UNCERTAIN: {stop}; list {} first", ends.b), file));
        }
    }
    let have = active_of(run, kmb, &ends.b).await?;
    let missing: Vec<&str> = keystores
        .iter()
        .map(|(p, _)| p.as_str())
        .filter(|p| !have.iter().any(|h| h == p))
        .collect();
    if missing.is_empty() {
        run.steps
            .push(format!("verified: {} lists every key", ends.b));
        Ok(file)
    } else {
        Err((
            format!(
                "{} accepted the import but does not list {missing:?}; check {}",
                ends.b, ends.b
            ),
            file,
        ))
    }
}
