//! `nodeherd keys import`: keystores into one node after the double-sign guard.
//!
//! Owns: the guard's report and its override flag, the password prompt, the confirmation and the
//! printed results. May not touch: reading the files or sending them (that is
//! `nodeherd_engine::keys::{read_import_files, import_into}`, shared with the TUI).

use std::path::{Path, PathBuf};

use super::common::{confirm, failed, find, password, usage};
use crate::cli::context::Fail;
use crate::cli::{Output, exit};
use nodeherd_core::inventory::Inventory;
use nodeherd_core::keymanager::types::ImportStatus;
use nodeherd_engine::keys as ops;

pub(super) fn guard_report(
    problems: &[ops::GuardProblem],
    override_flag: bool,
) -> Result<(), Fail> {
    if problems.is_empty() {
        return Ok(());
    }
    for p in problems {
        eprintln!("DOUBLE-SIGN GUARD: {p}");
    }
    if override_flag {
        eprintln!(
            "WARNING: continuing because of --i-understand-double-signing-risk: if two nodes sign with one key, the validator is SLASHED"
        );
        Ok(())
    } else {
        eprintln!(
            "refused: importing a key that is (or may be) active elsewhere risks a slashable double sign. \
             Remove it there first (`nodeherd keys remove` / `keys move`); override only with --i-understand-double-signing-risk"
        );
        Err(Fail(exit::FAILED))
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn import(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    node: &str,
    files: &[PathBuf],
    password_file: Option<&Path>,
    slashing: Option<&Path>,
    risk: bool,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let r = find(inv, node)?;
    // the password is asked (or read) after the guard, never before
    let material = ops::read_import_files(files, None, slashing).map_err(usage)?;
    let pubkeys = material.pubkeys();
    let label = ops::label(inv, r);
    let problems = ops::double_sign_guard(inv, pool, &pubkeys, &[r]).await;
    guard_report(&problems, risk)?;
    let pw = password(password_file, "Keystore password: ", false)?;
    confirm(
        &format!(
            "import {} key(s) into {label}: {}",
            pubkeys.len(),
            pubkeys.join(", ")
        ),
        std::slice::from_ref(&label),
        yes,
    )?;
    let results = ops::import_into(
        pool,
        inv,
        r,
        &material.keystores,
        &pw,
        material.slashing.as_deref(),
    )
    .await
    .map_err(failed)?;
    let mut ok = true;
    let mut rows = Vec::new();
    for (pk, res) in pubkeys.iter().zip(&results) {
        ok &= res.status != ImportStatus::Error;
        rows.push(serde_json::json!({"node": label, "pubkey": pk, "status": res.status, "message": res.message}));
        if !out.json {
            println!(
                "{label}  {pk}  {:?}{}",
                res.status,
                res.message
                    .as_deref()
                    .map(|m| format!(
                        ": {}",
                        nodeherd_core::keymanager::types::explain_import_message(
                            m,
                            &inv.node(r).0.name
                        )
                        .unwrap_or_else(|| m.to_string())
                    ))
                    .unwrap_or_default()
            );
        }
    }
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    }
    Ok(if ok { exit::OK } else { exit::FAILED })
}
