//! `nodeherd keys rotate NODE`: new Substrate session keys on a `client = "substrate"` node.
//!
//! Owns: printing the new public session keys, whether the node holds them, and the
//! `session.setKeys` extrinsic the operator must submit (plain or `--json`), and the exit code
//! (1 when the node says it does not hold them). May not touch: the call itself (that is
//! `nodeherd_engine::keys::session`). Nothing is signed and no private material is shown: the
//! node keeps the private keys in its keystore.

use super::common::{failed, usage};
use crate::cli::context::Fail;
use crate::cli::{Output, exit};
use nodeherd_core::inventory::Inventory;
use nodeherd_engine::keys::session::{SessionKeysError, rotate_session_keys};

pub(super) async fn rotate(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    node: &str,
    out: Output,
) -> Result<i32, Fail> {
    let r = inv.find_node(node).map_err(usage)?;
    let done = rotate_session_keys(pool, inv, r)
        .await
        .map_err(|e| match e {
            SessionKeysError::NotSubstrate { .. } | SessionKeysError::NoRpcPort { .. } => usage(e),
            e => failed(e),
        })?;
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "node": done.node,
                "session_keys": done.keys.hex(),
                "bytes": done.keys.bytes(),
                "submit": done.submit,
                "held_by_node": done.held.as_ref().ok(),
                "held_check_error": done.held.as_ref().err(),
            }))
            .unwrap_or_default()
        );
        return Ok(code(&done.held));
    }
    println!(
        "{}: new session keys ({} bytes, in the node's keystore):",
        done.node,
        done.keys.bytes()
    );
    println!("{}", done.keys.hex());
    match &done.held {
        Ok(true) => {
            println!("checked: the node's keystore holds all of them (author_hasSessionKeys)");
        }
        Ok(false) => eprintln!(
            "WARNING: author_hasSessionKeys says the node's keystore does NOT hold all of them: do not submit them; check the node's --keystore-path and rotate again"
        ),
        Err(e) => {
            eprintln!("WARNING: could not check the node holds them (author_hasSessionKeys): {e}");
        }
    }
    println!();
    for line in done.submit.instructions() {
        println!("{line}");
    }
    Ok(code(&done.held))
}

/// Exit 1 when the node says its keystore lacks the keys it just returned (do not submit them).
fn code(held: &Result<bool, String>) -> i32 {
    if matches!(held, Ok(false)) {
        exit::FAILED
    } else {
        exit::OK
    }
}
