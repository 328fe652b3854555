//! `nodeherd keys move`: one key from node A to node B.
//!
//! Owns: proving the keystore opens to the key before anything changes, the confirmation and the
//! printed steps. May not touch: the move's steps (that is `nodeherd_engine::keys::move_key`,
//! shared with the TUI).

use std::path::Path;

use super::common::{confirm, find, password, print_steps_report, pubkey_arg, state_dir, usage};
use crate::cli::Output;
use crate::cli::context::Fail;
use nodeherd_core::inventory::Inventory;
use nodeherd_engine::keys as ops;

/// The arguments of `keys move`.
pub(super) struct MoveArgs<'a> {
    pub pubkey: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub keystore: &'a Path,
    pub password_file: Option<&'a Path>,
    pub risk: bool,
    pub quiet_epochs: u64,
    pub quiet_proof: ops::quiet::QuietProof,
}

/// The progress sink of a move's quiet wait: timestamped lines on stderr, none with `-q`.
pub(crate) fn stderr_progress(out: Output) -> Option<ops::Progress> {
    if out.quiet {
        return None;
    }
    Some(std::sync::Arc::new(|line: &str| {
        eprintln!("{} {line}", chrono::Utc::now().format("%H:%M:%S"));
    }))
}

pub(super) async fn move_key(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    args: MoveArgs<'_>,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let MoveArgs {
        pubkey,
        from,
        to,
        keystore,
        password_file,
        risk,
        quiet_epochs,
        quiet_proof,
    } = args;
    let pk = pubkey_arg(pubkey)?;
    let a = find(inv, from)?;
    let b = find(inv, to)?;
    if a == b {
        return Err(usage("--from and --to are the same node"));
    }
    let state = state_dir()?;
    let ks = nodeherd_engine::keys::files::read_keystores(&[keystore.to_path_buf()])
        .map_err(usage)?
        .remove(0);
    let pw = password(password_file, "Keystore password: ", false)?;
    // Prove the keystore and password give this very key BEFORE anything is removed.
    nodeherd_engine::keys::files::check_opens_to(&ks, &pw, &pk).map_err(usage)?;
    let text = ks.text;
    confirm(
        &format!(
            "MOVE {pk} from {} to {} (remove, save slashing data, verify, wait {quiet_epochs} quiet epochs, import)",
            ops::label(inv, a),
            ops::label(inv, b)
        ),
        &[ops::label(inv, a), ops::label(inv, b)],
        yes,
    )?;
    let opts = ops::MoveOptions {
        allow_double_sign_risk: risk,
        quiet_epochs,
        quiet_proof,
        progress: stderr_progress(out),
    };
    let report = ops::move_key(inv, pool, &pk, a, b, &text, &pw, &state, &opts).await;
    Ok(print_steps_report(
        &report,
        &report.steps,
        &report.state,
        report.ok,
        "move",
        out,
    ))
}
