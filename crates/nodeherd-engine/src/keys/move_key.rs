//! Moving one validator key between two nodes: remove from A with its slashing data saved,
//! verify, import into B with that data, verify. Stops at the first uncertain step and says
//! where the key is.
//!
//! Owns: the order and the checks of a move's steps (docs/keys.md), and the move's journal line
//! on both nodes' hosts. May not touch: the
//! keystore's checks (the front end proves it opens to the key first), the terminal.

use std::path::{Path, PathBuf};

use serde::Serialize;

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keymanager::types::{DeleteStatus, ImportStatus};
use nodeherd_core::keys::Secret;
use nodeherd_transport::ssh::{Pool, Session};

use super::{RemoveError, RemoveOutcome, active_pubkeys, double_sign_guard, label, remove};
use crate::keymanager::Keymanager;

/// One step of a move, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct MoveReport {
    pub steps: Vec<String>,
    /// Where things are now, in one sentence.
    pub state: String,
    pub ok: bool,
    pub slashing_file: Option<PathBuf>,
}

/// A step that stopped the move: where things are now, and the slashing file when one was saved.
type Stop = (String, Option<PathBuf>);

/// The two ends of a move and how they are named in its steps.
struct Ends<'a> {
    pubkey: &'a str,
    from: NodeRef,
    a: String,
    b: String,
    untouched: String,
}

/// Move one key from `from` to `to`. The keystore (with its password, already checked to
/// decrypt to `pubkey`) comes from the operator: the Keymanager API cannot export keys.
/// Steps: both nodes reachable, `from` has it, `to` does not, guard over all other nodes,
/// remove from `from` (slashing data saved), verify `from` no longer lists it, import into
/// `to` with that slashing data, verify `to` lists it. Stops at the first uncertain step.
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
    allow_double_sign_risk: bool,
) -> MoveReport {
    let mut steps = Vec::new();
    let a = label(inv, from);
    let ends = Ends {
        pubkey,
        from,
        untouched: format!(
            "nothing changed: {pubkey} is still where it was (on {a} if it was there)"
        ),
        a,
        b: label(inv, to),
    };
    let moved = async {
        let (kma, kmb, session) =
            prepare(&mut steps, inv, pool, &ends, to, allow_double_sign_risk).await?;
        let (removed, file) =
            remove_from_a(&mut steps, inv, &kma, &session, &ends, state_dir).await?;
        import_into_b(&mut steps, &kmb, &ends, keystore, password, &removed, file).await
    }
    .await;
    let (ok, state) = match &moved {
        Ok(_) => (true, format!("{pubkey} moved: active on {} only", ends.b)),
        Err((state, _)) => (false, state.clone()),
    };
    let who = nodeherd_core::journal::who();
    let lines = super::lines::move_lines(
        &who,
        (&ends.a, &ends.b),
        pubkey,
        ok,
        state == ends.untouched,
        &state,
    );
    for (node, line) in [from, to].into_iter().zip(&lines) {
        let _ = crate::record::record_on(pool, inv, node, line).await;
    }
    MoveReport {
        steps,
        state,
        ok,
        slashing_file: match moved {
            Ok(file) | Err((_, file)) => file,
        },
    }
}

/// Both nodes reachable, A has the key, B does not, the guard over every other node, and an SSH
/// session to A's host (for the host copy of the slashing data). Nothing is changed here.
async fn prepare(
    steps: &mut Vec<String>,
    inv: &Inventory,
    pool: &Pool,
    ends: &Ends<'_>,
    to: NodeRef,
    allow_double_sign_risk: bool,
) -> Result<(Keymanager, Keymanager, Session), Stop> {
    let Ends {
        pubkey,
        from,
        a,
        b,
        untouched,
    } = ends;
    let (pubkey, from) = (*pubkey, *from);
    let (kma, kmb) = match (
        Keymanager::connect(pool, inv, from).await,
        Keymanager::connect(pool, inv, to).await,
    ) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => {
            steps.push(format!("connect: {e}"));
            return Err((untouched.clone(), None));
        }
    };
    match active_pubkeys(&kma).await {
        Ok(k) if k.iter().any(|x| x == pubkey) => steps.push(format!("{a} has the key active")),
        Ok(_) => {
            steps.push(format!("{a} does not list {pubkey}"));
            return Err((untouched.clone(), None));
        }
        Err(e) => {
            steps.push(format!("cannot list {a}: {e}"));
            return Err((untouched.clone(), None));
        }
    }
    match active_pubkeys(&kmb).await {
        Ok(k) if k.iter().any(|x| x == pubkey) => {
            steps.push(format!("{b} ALREADY has {pubkey} active: refusing"));
            return Err((untouched.clone(), None));
        }
        Ok(_) => steps.push(format!("{b} does not have the key")),
        Err(e) => {
            steps.push(format!("cannot list {b}: {e}"));
            return Err((untouched.clone(), None));
        }
    }
    let problems = double_sign_guard(inv, pool, &[pubkey.to_string()], &[from, to]).await;
    if problems.is_empty() {
        steps.push("no other validator node has the key".into());
    } else {
        for p in &problems {
            steps.push(format!("guard: {p}"));
        }
        if !allow_double_sign_risk {
            return Err((untouched.clone(), None));
        }
        steps.push("guard overridden by --i-understand-double-signing-risk".into());
    }
    let session = match pool.session(&inv.node(from).0.target).await {
        Ok(s) => s,
        Err(e) => {
            steps.push(format!("SSH to {a}: {e}"));
            return Err((untouched.clone(), None));
        }
    };
    Ok((kma, kmb, session))
}

/// Remove the key from A (slashing data saved first), check that data, verify A no longer lists
/// the key. Returns the removal and the console's slashing file.
async fn remove_from_a(
    steps: &mut Vec<String>,
    inv: &Inventory,
    kma: &Keymanager,
    session: &Session,
    ends: &Ends<'_>,
    state_dir: &Path,
) -> Result<(RemoveOutcome, Option<PathBuf>), Stop> {
    let Ends {
        pubkey,
        from,
        a,
        b,
        untouched,
    } = ends;
    let (pubkey, from) = (*pubkey, *from);
    let removed = match remove(kma, session, &[pubkey.to_string()], state_dir).await {
        Ok(r) => r,
        Err(RemoveError::CannotSave(e)) => {
            steps.push(format!("not removed: {e}"));
            return Err((untouched.clone(), None));
        }
        Err(RemoveError::Keymanager(e)) => {
            steps.push(format!("DELETE on {a}: {e}"));
            return Err((
                format!(
                    "UNCERTAIN: the DELETE on {a} failed or its answer was lost; list {a} before doing anything else"
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
            Ok(p) => format!("{}:{p}", inv.node(from).0.name),
            Err(e) => format!("NOT SAVED ON THE HOST ({e})"),
        }
    ));
    if status != Some(DeleteStatus::Deleted) {
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
    match active_pubkeys(kma).await {
        Ok(k) if !k.iter().any(|x| x == pubkey) => {
            steps.push(format!("verified: {a} no longer lists the key"));
        }
        Ok(_) => {
            steps.push(format!("{a} STILL lists {pubkey} after the DELETE"));
            return Err((
                format!("UNCERTAIN: {a} still lists the key; NOT imported into {b}"),
                file,
            ));
        }
        Err(e) => {
            steps.push(format!("cannot verify {a}: {e}"));
            return Err((
                format!("UNCERTAIN: removed from {a} but not verified; NOT imported into {b}"),
                file,
            ));
        }
    }
    Ok((removed, file))
}

/// Import the key into B with A's slashing data, verify B lists it. Returns the slashing file.
async fn import_into_b(
    steps: &mut Vec<String>,
    kmb: &Keymanager,
    ends: &Ends<'_>,
    keystore: &str,
    password: &Secret<String>,
    removed: &RemoveOutcome,
    file: Option<PathBuf>,
) -> Result<Option<PathBuf>, Stop> {
    let Ends { pubkey, a, b, .. } = ends;
    let res = kmb
        .import(
            &[keystore.to_string()],
            std::slice::from_ref(password),
            Some(&removed.slashing_protection),
        )
        .await;
    let not_imported = format!(
        "{pubkey} is removed from {a} and NOT active on {b}; import it with `nodeherd keys import {b} KEYSTORE --slashing-protection {}`",
        file.as_ref()
            .map_or_else(|| "FILE".into(), |p| p.display().to_string())
    );
    match res {
        Ok(r) if r.first().map(|x| x.status) == Some(ImportStatus::Imported) => {
            steps.push(format!("imported into {b} with {a}'s slashing data"));
        }
        Ok(r) => {
            steps.push(format!("import into {b}: {:?}", r.first()));
            return Err((not_imported, file));
        }
        Err(e) => {
            steps.push(format!("import into {b}: {e}"));
            return Err((format!("UNCERTAIN: {not_imported}; list {b} first"), file));
        }
    }
    match active_pubkeys(kmb).await {
        Ok(k) if k.iter().any(|x| x == pubkey) => {
            steps.push(format!("verified: {b} lists the key"));
            Ok(file)
        }
        Ok(_) => Err((
            format!("{b} accepted the import but does not list {pubkey}; check {b}"),
            file,
        )),
        Err(e) => {
            steps.push(format!("cannot verify {b}: {e}"));
            Err((
                format!("UNCERTAIN: imported into {b} but not verified"),
                file,
            ))
        }
    }
}
