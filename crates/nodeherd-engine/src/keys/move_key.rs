//! Moving one validator key between two nodes: remove from A with its slashing data saved,
//! verify, wait until the beacon chain shows the key quiet for N full epochs ([`super::quiet`]),
//! import into B with that data, verify. Every step is recorded in the move's state file
//! ([`super::move_state`]) first, so a rerun after the console died continues the same move.
//! Stops at the first uncertain step and says where the key is.
//!
//! Owns: the order and the checks of a move's steps (docs/keys.md), and the move's journal line
//! on both nodes' hosts. May not touch: the
//! keystore's checks (the front end proves it opens to the key first), the terminal.

use std::path::{Path, PathBuf};

use serde::Serialize;

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keymanager::liveness::Quiet;
use nodeherd_core::keymanager::types::{DeleteStatus, ImportStatus};
use nodeherd_core::keys::Secret;
use nodeherd_transport::ssh::{Pool, Session};

use super::move_run::{Ends, MoveOptions, Run, Stop, list_has, not_imported, where_now};
use super::move_state::{Journal, MoveState, Phase};
use super::move_wait::{
    chain_facts, doppelganger_step, guard_others, read_interchange, wait_phase,
};
use super::quiet::{ChainView, LivenessAnswer};
use super::{RemoveError, RemoveOutcome, label, remove};
use crate::keymanager::Keymanager;

/// One step of a move, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct MoveReport {
    pub steps: Vec<String>,
    /// Where things are now, in one sentence.
    pub state: String,
    pub ok: bool,
    pub slashing_file: Option<PathBuf>,
    /// This run continued a move a previous run had started.
    pub resumed: bool,
    /// The quiet wait's state (epochs judged not live after the removal).
    pub quiet: Option<Quiet>,
    /// Every liveness answer of the chain this run received.
    pub liveness: Vec<LivenessAnswer>,
}

/// Move one key from `from` to `to`. The keystore (with its password, already checked to
/// decrypt to `pubkey`) comes from the operator: the Keymanager API cannot export keys.
/// Steps: both nodes reachable, `from` has it, `to` does not, guard over all other nodes,
/// remove from `from` (slashing data saved), verify `from` no longer lists it, wait for the
/// quiet epochs, import into `to` with that slashing data, verify `to` lists it. Stops at the
/// first uncertain step; a rerun with the same ends continues from the state file.
#[allow(clippy::too_many_arguments)]
pub async fn move_key(
    inv: &Inventory,
    pool: &Pool,
    pubkey: &str,
    from: NodeRef,
    to: NodeRef,
    keystore: &str,
    password: &Secret<String>,
    state_dir: &Path,
    opts: &MoveOptions,
) -> MoveReport {
    let a = label(inv, from);
    let ends = Ends {
        pubkey,
        from,
        to,
        untouched: format!(
            "nothing changed: {pubkey} is still where it was (on {a} if it was there)"
        ),
        a,
        b: label(inv, to),
    };
    let mut run = Run {
        inv,
        pool,
        steps: Vec::new(),
        journal: Journal::at(state_dir, pubkey),
        state: MoveState {
            pubkey: pubkey.to_string(),
            from: ends.a.clone(),
            to: ends.b.clone(),
            kind: "move".into(),
            phase: Phase::Removing,
            slashing_file: None,
            quiet: None,
            updated: String::new(),
        },
        resumed: false,
        liveness: Vec::new(),
        opts,
    };
    let moved = run_move(&mut run, &ends, keystore, password, state_dir).await;
    finish(run, &ends, moved).await
}

/// The journal lines, the state file's end, and the report.
pub(super) async fn finish(
    mut run: Run<'_>,
    ends: &Ends<'_>,
    moved: Result<Option<PathBuf>, Stop>,
) -> MoveReport {
    let (ok, state) = match &moved {
        Ok(_) => (
            true,
            format!("{} moved: active on {} only", ends.pubkey, ends.b),
        ),
        Err((state, _)) => (false, state.clone()),
    };
    if ok {
        match run.journal.finish() {
            Ok(p) => run
                .steps
                .push(format!("move state kept in {}", p.display())),
            Err(e) => run.steps.push(e),
        }
    }
    let who = nodeherd_core::journal::who();
    let lines = super::lines::move_lines(
        &who,
        (&ends.a, &ends.b),
        ends.pubkey,
        ok,
        state == ends.untouched,
        &state,
    );
    for (node, line) in [ends.from, ends.to].into_iter().zip(&lines) {
        let _ = crate::record::record_on(run.pool, run.inv, node, line).await;
    }
    MoveReport {
        steps: run.steps,
        state,
        ok,
        slashing_file: match moved {
            Ok(file) | Err((_, file)) => file.or(run.state.slashing_file),
        },
        resumed: run.resumed,
        quiet: run.state.quiet,
        liveness: run.liveness,
    }
}

/// Load a recorded move of this key: the same ends continue it; other ends are refused.
pub(super) fn load_state(run: &mut Run<'_>, ends: &Ends<'_>) -> Result<(), Stop> {
    match run.journal.load() {
        Err(e) => {
            run.steps.push(e);
            Err((ends.untouched.clone(), None))
        }
        Ok(Some(st)) if st.from != ends.a || st.to != ends.b => {
            run.steps.push(format!(
                "an unfinished {} of {} from {} to {} is recorded in {} ({:?})",
                st.kind,
                st.pubkey,
                st.from,
                st.to,
                run.journal.path().display(),
                st.phase
            ));
            Err((
                format!(
                    "refused: finish that {} first (run it again with the same nodes); nothing changed here",
                    st.kind
                ),
                st.slashing_file,
            ))
        }
        Ok(Some(st)) => {
            run.steps.push(format!(
                "continuing the {} recorded in {} (phase {:?})",
                st.kind,
                run.journal.path().display(),
                st.phase
            ));
            run.state = st;
            run.resumed = true;
            Ok(())
        }
        Ok(None) => Ok(()),
    }
}

async fn run_move(
    run: &mut Run<'_>,
    ends: &Ends<'_>,
    keystore: &str,
    password: &Secret<String>,
    state_dir: &Path,
) -> Result<Option<PathBuf>, Stop> {
    load_state(run, ends)?;
    let (kma, kmb) = connect_both(run, ends).await?;
    let chain = chain_facts(run, ends, &[ends.pubkey]).await?;
    let mut interchange = None;
    if run.state.phase == Phase::Removing {
        let session = source_session(run, ends).await?;
        let listed = list_has(run, &kma, ends.pubkey, &ends.a).await?;
        if listed {
            prepare(run, &kmb, ends).await?;
        } else if !run.resumed {
            run.steps
                .push(format!("{} does not list {}", ends.a, ends.pubkey));
            return Err((ends.untouched.clone(), None));
        } else {
            run.steps.push(format!(
                "{} no longer lists the key: the DELETE of the stopped run happened; asking {} again for its slashing data",
                ends.a, ends.a
            ));
        }
        run.save(Phase::Removing, &ends.untouched)?;
        run.progress(&format!("removing {} from {}", ends.pubkey, ends.a));
        let (removed, file) = remove_from_a(run, &kma, &session, ends, state_dir, !listed).await?;
        run.state.slashing_file.clone_from(&file);
        interchange = Some(removed.slashing_protection);
        run.state.quiet = Some(match &chain {
            Some((c, _)) => Quiet::new(c.clock.epoch_at(c.chain.now()), run.opts.quiet_epochs),
            None => Quiet::new(0, 0),
        });
        let stop = not_imported(ends, file.as_ref());
        run.save(Phase::Waiting, &stop)?;
        run.progress(&format!(
            "removed from {}: slashing data saved to {}; state {}",
            ends.a,
            file.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            run.journal.path().display()
        ));
    }
    let stop = not_imported(ends, run.state.slashing_file.as_ref());
    if run.state.phase == Phase::Waiting {
        wait_phase(
            run,
            Some(&kma),
            &kmb,
            ends,
            &[ends.pubkey],
            chain.as_ref(),
            &stop,
        )
        .await?;
    }
    // Importing: the quiet proof is done.
    if run.resumed && list_has(run, &kmb, ends.pubkey, &ends.b).await? {
        run.steps.push(format!(
            "{} already lists the key: the import of the stopped run happened",
            ends.b
        ));
        return Ok(run.state.slashing_file.clone());
    }
    if list_has(run, &kma, ends.pubkey, &ends.a).await? {
        run.steps
            .push(format!("{} lists {} AGAIN", ends.a, ends.pubkey));
        return Err((
            format!(
                "UNCERTAIN: {} has the key again; NOT imported into {}",
                ends.a, ends.b
            ),
            run.state.slashing_file.clone(),
        ));
    }
    let interchange = match interchange {
        Some(i) => i,
        None => read_interchange(run, &stop)?,
    };
    guard_others(run, ends, &stop).await?;
    doppelganger_step(run, ends.to).await;
    import_into_b(run, &kmb, ends, keystore, password, &interchange).await
}

/// The source's and the target's keymanagers.
async fn connect_both(
    run: &mut Run<'_>,
    ends: &Ends<'_>,
) -> Result<(Keymanager, Keymanager), Stop> {
    match (
        Keymanager::connect(run.pool, run.inv, ends.from).await,
        Keymanager::connect(run.pool, run.inv, ends.to).await,
    ) {
        (Ok(x), Ok(y)) => Ok((x, y)),
        (Err(e), _) | (_, Err(e)) => {
            run.steps.push(format!("connect: {e}"));
            Err((where_now(run, ends), run.state.slashing_file.clone()))
        }
    }
}

pub(super) async fn source_session(run: &mut Run<'_>, ends: &Ends<'_>) -> Result<Session, Stop> {
    match run.pool.session(&run.inv.node(ends.from).0.target).await {
        Ok(s) => Ok(s),
        Err(e) => {
            run.steps.push(format!("SSH to {}: {e}", ends.a));
            Err((where_now(run, ends), None))
        }
    }
}

/// B does not have the key, and no other node has it (the guard). Nothing is changed here.
async fn prepare(run: &mut Run<'_>, kmb: &Keymanager, ends: &Ends<'_>) -> Result<(), Stop> {
    run.steps.push(format!("{} has the key active", ends.a));
    if list_has(run, kmb, ends.pubkey, &ends.b).await? {
        run.steps.push(format!(
            "{} ALREADY has {} active: refusing",
            ends.b, ends.pubkey
        ));
        return Err((where_now(run, ends), None));
    }
    run.steps.push(format!("{} does not have the key", ends.b));
    guard_others(run, ends, &where_now(run, ends)).await
}

/// Remove the key from A (slashing data saved first), check that data, verify A no longer lists
/// the key. `again`: the stopped run's DELETE already happened, so `not_active` is expected.
/// A that still lists the key after answering `deleted` is asked once more: Lodestar 1.5 drops
/// a key that has a validator index from its duties at the first DELETE but keeps it listed
/// until the second (`removeSigner` short-circuits); the second answer's slashing data is kept.
pub(super) async fn remove_from_a(
    run: &mut Run<'_>,
    kma: &Keymanager,
    session: &Session,
    ends: &Ends<'_>,
    state_dir: &Path,
    again: bool,
) -> Result<(RemoveOutcome, Option<PathBuf>), Stop> {
    let (removed, file, gone) = delete_once(run, kma, session, ends, state_dir, again).await?;
    if gone {
        return Ok((removed, file));
    }
    run.steps.push(format!(
        "{} STILL lists the key after answering deleted: asking it once more",
        ends.a
    ));
    let (removed, file, gone) = delete_once(run, kma, session, ends, state_dir, true).await?;
    if gone {
        Ok((removed, file))
    } else {
        run.steps.push(format!(
            "{} STILL lists {} after a second DELETE",
            ends.a, ends.pubkey
        ));
        Err((
            format!(
                "UNCERTAIN: {} still lists the key; NOT imported into {}",
                ends.a, ends.b
            ),
            file,
        ))
    }
}

/// One DELETE with its slashing data saved and checked; whether A then no longer lists the key.
async fn delete_once(
    run: &mut Run<'_>,
    kma: &Keymanager,
    session: &Session,
    ends: &Ends<'_>,
    state_dir: &Path,
    again: bool,
) -> Result<(RemoveOutcome, Option<PathBuf>, bool), Stop> {
    let Ends {
        pubkey, from, a, b, ..
    } = ends;
    let (pubkey, from) = (*pubkey, *from);
    let steps = &mut run.steps;
    let untouched = if again {
        format!(
            "{pubkey} is not on {a} and NOT imported into {b}; run the same command again to continue"
        )
    } else {
        ends.untouched.clone()
    };
    let removed = match remove(kma, session, &[pubkey.to_string()], state_dir).await {
        Ok(r) => r,
        Err(RemoveError::CannotSave(e)) => {
            steps.push(format!("not removed: {e}"));
            return Err((untouched, None));
        }
        Err(RemoveError::Keymanager(e)) => {
            steps.push(format!("DELETE on {a}: {e}"));
            return Err((
                format!(
                    "UNCERTAIN: the DELETE on {a} failed or its answer was lost; run the same command again, or list {a} before doing anything else"
                ),
                None,
            ));
        }
    };
    let status = removed.results.first().map(|r| r.1);
    let file = removed.console_file.as_ref().ok().cloned();
    steps.push(format!(
        "removed from {a}: {:?}; slashing data saved to {} and {}",
        status,
        match &removed.console_file {
            Ok(p) => p.display().to_string(),
            Err(e) => format!("NOT SAVED ON THE CONSOLE ({e})"),
        },
        match &removed.host_file {
            Ok(p) => format!("{}:{p}", run.inv.node(from).0.name),
            Err(e) => format!("NOT SAVED ON THE HOST ({e})"),
        }
    ));
    let expected =
        status == Some(DeleteStatus::Deleted) || (again && status == Some(DeleteStatus::NotActive));
    if !expected {
        return Err((
            format!("{a} answered {status:?} instead of deleted: nothing imported; check {a}"),
            file,
        ));
    }
    if let Err(e) = &removed.slashing_check {
        steps.push(format!("slashing data check: {e}"));
        return Err((
            format!(
                "{pubkey} is removed from {a} and NOT imported into {b}: the slashing data is not usable"
            ),
            file,
        ));
    }
    if file.is_none() {
        return Err((
            format!(
                "{pubkey} is removed from {a} and NOT imported into {b}: the slashing data was not saved on the console (see above)"
            ),
            file,
        ));
    }
    if list_has(run, kma, pubkey, a).await? {
        return Ok((removed, file, false));
    }
    run.steps
        .push(format!("verified: {a} no longer lists the key"));
    Ok((removed, file, true))
}

/// Import the key into B with A's slashing data, verify B lists it. Returns the slashing file.
pub(super) async fn import_into_b(
    run: &mut Run<'_>,
    kmb: &Keymanager,
    ends: &Ends<'_>,
    keystore: &str,
    password: &Secret<String>,
    interchange: &str,
) -> Result<Option<PathBuf>, Stop> {
    let Ends { pubkey, a, b, .. } = ends;
    let file = run.state.slashing_file.clone();
    run.progress(&format!("importing {pubkey} into {b}"));
    let res = kmb
        .import(
            &[keystore.to_string()],
            std::slice::from_ref(password),
            Some(interchange),
        )
        .await;
    let not_imported = not_imported(ends, file.as_ref());
    match res {
        Ok(r) if r.first().map(|x| x.status) == Some(ImportStatus::Imported) => {
            run.steps
                .push(format!("imported into {b} with {a}'s slashing data"));
        }
        Ok(r) => {
            let host = &run.inv.node(ends.to).0.name;
            let said = r.first().map_or_else(
                || "no answer for the key".to_string(),
                |x| {
                    nodeherd_core::keymanager::types::explain_import_message(
                        x.message.as_deref().unwrap_or(""),
                        host,
                    )
                    .map_or_else(|| format!("{x:?}"), |m| format!("{:?}: {m}", x.status))
                },
            );
            run.steps.push(format!("import into {b}: {said}"));
            return Err((not_imported, file));
        }
        Err(e) => {
            run.steps.push(format!("import into {b}: {e}"));
            return Err((format!("UNCERTAIN: {not_imported}; list {b} first"), file));
        }
    }
    if list_has(run, kmb, pubkey, b).await? {
        run.steps.push(format!("verified: {b} lists the key"));
        Ok(file)
    } else {
        Err((
            format!("{b} accepted the import but does not list {pubkey}; check {b}"),
            file,
        ))
    }
}
