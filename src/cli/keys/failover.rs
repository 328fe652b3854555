//! The key side of `nodeherd failover`: every keystore proven to open to its key before anything
//! changes, the confirmation naming both nodes and the keys, the printed steps. A cosmos SOURCE
//! goes to [`super::cometbft_failover`].
//!
//! Owns: those checks and the printing. May not touch: the failover's steps
//! (`nodeherd_engine::keys::failover`).

use super::common::{confirm, find, password, print_steps_report, state_dir, usage};
use super::move_::stderr_progress;
use crate::cli::Output;
use crate::cli::context::{self, Fail};
use crate::cli::failover::FailoverArgs;
use nodeherd_core::inventory::Inventory;
use nodeherd_engine::keys as ops;

/// `nodeherd failover`: load the inventory, run the failover, close the sessions.
pub async fn run(
    args: FailoverArgs,
    inventory: &std::path::Path,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let inv = context::load_inventory(inventory, out.color)?;
    let pool = context::pool();
    let r = failover(&inv, &pool, &args, yes, out).await;
    pool.close_all().await;
    r
}

async fn failover(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    args: &FailoverArgs,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let source = inv.find_node(&args.source).map_err(usage)?;
    if inv.node(source).1.client == nodeherd_core::inventory::ClientKind::Cosmos {
        let b = inv.find_node(&args.to).map_err(usage)?;
        if source == b {
            return Err(usage("SOURCE and --to are the same node"));
        }
        return super::cometbft_failover::failover(inv, pool, (source, b), args, yes, out).await;
    }
    let a = find(inv, &args.source)?;
    let b = find(inv, &args.to)?;
    if a == b {
        return Err(usage("SOURCE and --to are the same node"));
    }
    if args.keystores.is_empty() {
        return Err(usage(
            "--keystore FILE... is required to fail over a validator client's keys (the Keymanager API cannot export them)",
        ));
    }
    if args.priv_validator_key.is_some() || args.priv_validator_state.is_some() {
        return Err(usage(format!(
            "--priv-validator-key/--priv-validator-state are for cosmos nodes; {} is not one",
            ops::label(inv, a)
        )));
    }
    let state = state_dir()?;
    let files = ops::files::read_keystores(&args.keystores).map_err(usage)?;
    let pw = password(args.password_file.as_deref(), "Keystore password: ", false)?;
    let mut keys = Vec::new();
    for ks in files {
        let pk = ks.pubkey.clone();
        // Prove each keystore and the password give this very key BEFORE anything is fenced.
        ops::files::check_opens_to(&ks, &pw, &pk).map_err(usage)?;
        keys.push((pk, ks.text));
    }
    let slashing = match &args.slashing_protection {
        Some(p) => {
            Some(std::fs::read_to_string(p).map_err(|e| usage(format!("{}: {e}", p.display())))?)
        }
        None => None,
    };
    let (la, lb) = (ops::label(inv, a), ops::label(inv, b));
    confirm(
        &format!(
            "FAILOVER {} key(s) from {la} to {lb}: fence {la} (keys removed, slashing data saved, unit stopped, disabled, masked), wait {} quiet epochs, import into {lb}",
            keys.len(),
            args.quiet_epochs
        ),
        &[la, lb],
        yes,
    )?;
    let opts = ops::FailoverOptions {
        moves: ops::MoveOptions {
            allow_double_sign_risk: args.i_understand_double_signing_risk,
            quiet_epochs: args.quiet_epochs,
            quiet_proof: args.quiet_proof.parse().map_err(usage)?,
            progress: stderr_progress(out),
        },
        source_is_fenced: args.source_is_fenced,
        slashing_protection: slashing,
    };
    let report = ops::failover(inv, pool, a, b, &keys, &pw, &state, &opts).await;
    Ok(print_steps_report(
        &report,
        &report.steps,
        &report.state,
        report.ok,
        "failover",
        out,
    ))
}
