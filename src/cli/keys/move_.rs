//! `nodeherd keys move`: one key from node A to node B.
//!
//! Owns: proving the keystore opens to the key before anything changes, the confirmation and the
//! printed steps. May not touch: the move's steps (that is `nodeherd_engine::keys::move_key`,
//! shared with the TUI).

use std::path::Path;

use super::common::{confirm, find, password, pubkey_arg, state_dir, usage};
use crate::cli::context::Fail;
use crate::cli::{Output, exit};
use nodeherd_core::inventory::Inventory;
use nodeherd_engine::keys as ops;

#[allow(clippy::too_many_arguments)]
pub(super) async fn move_key(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    pubkey: &str,
    from: &str,
    to: &str,
    keystore: &Path,
    password_file: Option<&Path>,
    risk: bool,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
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
            "MOVE {pk} from {} to {} (remove, save slashing data, verify, import)",
            ops::label(inv, a),
            ops::label(inv, b)
        ),
        &[ops::label(inv, a), ops::label(inv, b)],
        yes,
    )?;
    let report = ops::move_key(inv, pool, &pk, a, b, &text, &pw, &state, risk).await;
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for s in &report.steps {
            println!("  - {s}");
        }
        println!("{}", report.state);
    }
    if !report.ok {
        eprintln!("move NOT completed: {}", report.state);
    }
    Ok(if report.ok { exit::OK } else { exit::FAILED })
}
