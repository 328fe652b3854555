//! `nodeherd failover SOURCE --to TARGET` for `client = "cosmos"` nodes: the arguments checked
//! (both cosmos nodes with a home and an RPC, the operator's key and state files read into
//! memory), the confirmation naming both nodes, the printed steps.
//!
//! Owns: those checks and the printing. May not touch: the steps
//! (`nodeherd_engine::keys::failover_cometbft`).

use super::common::{confirm, print_steps_report, state_dir, usage};
use super::move_::stderr_progress;
use crate::cli::Output;
use crate::cli::context::Fail;
use crate::cli::failover::FailoverArgs;
use nodeherd_core::inventory::{ClientKind, Inventory, NodeRef};
use nodeherd_core::keys::Secret;
use nodeherd_engine::keys as ops;

fn check_node(inv: &Inventory, r: NodeRef) -> Result<(), Fail> {
    let node = inv.node(r).1;
    let l = ops::label(inv, r);
    if node.client != ClientKind::Cosmos {
        return Err(usage(format!(
            "{l} is not a cosmos node: a CometBFT validator fails over to another cosmos node"
        )));
    }
    if node.data_dir.is_none() {
        return Err(usage(format!(
            "{l}: no data_dir in the inventory (the CometBFT home holding config/ and data/)"
        )));
    }
    if node.rpc_port.is_none() {
        return Err(usage(format!(
            "{l}: no rpc_port in the inventory (the CometBFT RPC, usually 26657)"
        )));
    }
    Ok(())
}

pub(super) async fn failover(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    (a, b): (NodeRef, NodeRef),
    args: &FailoverArgs,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    check_node(inv, a)?;
    check_node(inv, b)?;
    if !args.keystores.is_empty() || args.slashing_protection.is_some() {
        return Err(usage(
            "--keystore and --slashing-protection are for validator clients; a CometBFT validator's key is read from SOURCE (or --priv-validator-key)",
        ));
    }
    if args.quiet_blocks == 0 {
        return Err(usage(
            "--quiet-blocks must be at least 1: the chain's proof that the validator went quiet is what makes the failover safe",
        ));
    }
    if args.sign_blocks == 0 {
        return Err(usage("--sign-blocks must be at least 1"));
    }
    let key = match &args.priv_validator_key {
        Some(p) => {
            let t = Secret::new(
                std::fs::read_to_string(p).map_err(|e| usage(format!("{}: {e}", p.display())))?,
            );
            ops::cometbft_key::PrivValidatorKey::parse(t.clone())
                .map_err(|e| usage(format!("--priv-validator-key {}: {e}", p.display())))?;
            Some(t)
        }
        None => None,
    };
    let state = match &args.priv_validator_state {
        Some(p) => {
            let t =
                std::fs::read_to_string(p).map_err(|e| usage(format!("{}: {e}", p.display())))?;
            ops::cometbft_key::StateFile::parse(&t)
                .map_err(|e| usage(format!("--priv-validator-state {}: {e}", p.display())))?;
            Some(t)
        }
        None => None,
    };
    let dir = state_dir()?;
    let (la, lb) = (ops::label(inv, a), ops::label(inv, b));
    confirm(
        &format!(
            "FAILOVER the CometBFT validator of {la} to {lb}: fence {la} (unit stopped, disabled, masked), wait for {} blocks without its signature, stop {lb}, write the key and the last-sign state, start {lb}",
            args.quiet_blocks
        ),
        &[la, lb],
        yes,
    )?;
    let opts = ops::CometFailoverOptions {
        source_is_fenced: args.source_is_fenced,
        priv_validator_key: key,
        priv_validator_state: state,
        quiet_blocks: args.quiet_blocks,
        sign_blocks: args.sign_blocks,
        progress: stderr_progress(out),
        ..ops::CometFailoverOptions::default()
    };
    let report = ops::failover_cometbft(inv, pool, a, b, &dir, &opts).await;
    Ok(print_steps_report(
        &report,
        &report.steps,
        &report.state,
        report.ok,
        "failover",
        out,
    ))
}
