//! `nodeherd keys remove`: keys off one node, their slashing data saved first.
//!
//! Owns: the confirmation and the report (loud when the slashing data was not saved everywhere).
//! May not touch: the removal's steps (that is `nodeherd_engine::keys::remove_from_node`, shared
//! with the TUI).

use super::common::{confirm, failed, find, pubkey_args, state_dir};
use crate::cli::context::Fail;
use crate::cli::{Output, exit};
use nodeherd_core::inventory::Inventory;
use nodeherd_core::keymanager::types::DeleteStatus;
use nodeherd_engine::keys as ops;

pub(super) async fn remove(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    node: &str,
    pubkeys: &[String],
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let r = find(inv, node)?;
    let pks = pubkey_args(pubkeys)?;
    let state = state_dir()?;
    let label = ops::label(inv, r);
    confirm(
        &format!(
            "REMOVE {} key(s) from {label}: {} (slashing data is saved first)",
            pks.len(),
            pks.join(", ")
        ),
        std::slice::from_ref(&label),
        yes,
    )?;
    let o = ops::remove_from_node(pool, inv, r, &pks, &state)
        .await
        .map_err(failed)?;
    report_remove(&o, &inv.node(r).0.name, out);
    let ok = o.saved()
        && o.slashing_check.is_ok()
        && o.results.iter().all(|(_, s, _)| *s != DeleteStatus::Error);
    Ok(if ok { exit::OK } else { exit::FAILED })
}

pub(super) fn report_remove(o: &ops::RemoveOutcome, host: &str, out: Output) {
    if !o.saved() {
        // Loud, and the data itself on stdout: it must not be lost.
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!("!! SLASHING PROTECTION DATA WAS NOT SAVED EVERYWHERE");
        if let Err(e) = &o.console_file {
            eprintln!("!! console copy: {e}");
        }
        if let Err(e) = &o.host_file {
            eprintln!("!! host copy: {e}");
        }
        eprintln!(
            "!! The EIP-3076 data follows on stdout: keep it before importing the key anywhere."
        );
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        println!("{}", o.slashing_protection);
    }
    if let Err(e) = &o.slashing_check {
        eprintln!("WARNING: the slashing data returned by {}: {e}", o.node);
    }
    if out.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({
            "node": o.node,
            "results": o.results.iter().map(|(p, s, m)| serde_json::json!({"pubkey": p, "status": s, "message": m})).collect::<Vec<_>>(),
            "slashing_file": o.console_file.as_ref().ok(),
            "host_slashing_file": o.host_file.as_ref().ok(),
        })).unwrap_or_default());
        return;
    }
    for (p, s, m) in &o.results {
        println!(
            "{}  {p}  {s:?}{}",
            o.node,
            m.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
        );
    }
    if let Ok(p) = &o.console_file {
        println!("slashing protection saved: {}", p.display());
    }
    if let Ok(p) = &o.host_file {
        println!("slashing protection saved on {host}: {p}");
    }
}
