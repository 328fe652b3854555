//! `nodeherd keys import --remote URL PUBKEY...` and `keys remove --remote PUBKEY...`:
//! remote-signer (Web3Signer) keys of a validator client.
//!
//! Owns: the arguments' checks, the guard's report, the confirmation and the printed results.
//! May not touch: the steps (that is `nodeherd_engine::keys::{import_remote_keys,
//! remove_remote_keys}`).

use super::common::{confirm, failed, find, pubkey_args, usage};
use super::import::guard_report;
use crate::cli::context::Fail;
use crate::cli::{Output, exit};
use nodeherd_core::inventory::Inventory;
use nodeherd_engine::keys as ops;

#[allow(clippy::too_many_arguments)]
pub(super) async fn import(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    node: &str,
    url: &str,
    pubkeys: &[String],
    risk: bool,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let r = find(inv, node)?;
    let pks = pubkey_args(pubkeys)?;
    ops::check_url(url).map_err(usage)?;
    // The guard first, so a refusal needs no confirmation; the engine runs it again.
    let problems = ops::double_sign_guard(inv, pool, &pks, &[r]).await;
    guard_report(&problems, risk)?;
    let label = ops::label(inv, r);
    confirm(
        &format!(
            "IMPORT {} remote key(s) signed at {url} into {label}: {}",
            pks.len(),
            pks.join(", ")
        ),
        std::slice::from_ref(&label),
        yes,
    )?;
    let report = ops::import_remote_keys(inv, pool, r, url, &pks, risk)
        .await
        .map_err(failed)?;
    Ok(print(&report, out))
}

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
    let label = ops::label(inv, r);
    confirm(
        &format!(
            "REMOVE {} remote key(s) from {label}: {}",
            pks.len(),
            pks.join(", ")
        ),
        std::slice::from_ref(&label),
        yes,
    )?;
    let report = ops::remove_remote_keys(inv, pool, r, &pks)
        .await
        .map_err(failed)?;
    Ok(print(&report, out))
}

fn print(report: &ops::RemoteReport, out: Output) -> i32 {
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        for (p, s, m) in &report.results {
            println!(
                "{}  {p}  {s}{}",
                report.node,
                m.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            );
        }
    }
    if !report.verified {
        eprintln!(
            "error: {}'s listing does not agree with its answer: list it before anything else",
            report.node
        );
    }
    if report.ok { exit::OK } else { exit::FAILED }
}
