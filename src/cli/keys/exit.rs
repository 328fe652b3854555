//! `nodeherd keys exit`: sign a voluntary exit (by the keymanager or locally from a keystore),
//! save it, and submit it only with `--submit` after a confirmation.
//!
//! Owns: the prompts, confirmations and printing. May not touch: signing and submitting (that is
//! `nodeherd_engine::keys`).

use std::path::Path;

use super::common::{confirm, connect, failed, find, password, pubkey_arg, state_dir, usage};
use crate::cli::context::Fail;
use crate::cli::{Output, exit};
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keys::keystore::Keystore;
use nodeherd_engine::keys as ops;

#[allow(clippy::too_many_arguments)]
pub(super) async fn voluntary_exit(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    node: &str,
    pubkey: &str,
    epoch: Option<u64>,
    submit: bool,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let r = find(inv, node)?;
    let pk = pubkey_arg(pubkey)?;
    let state = state_dir()?;
    let km = connect(pool, inv, r).await?;
    let (exit_msg, json) = match km.sign_voluntary_exit(&pk, epoch).await {
        Ok(x) => x,
        Err(e @ nodeherd_engine::keymanager::KeymanagerError::Api { status: 404, .. }) => {
            return Err(failed(format!(
                "{e}\nthis client has no keymanager voluntary_exit endpoint: sign locally with \
                 --keystore FILE (the validator's EIP-2335 keystore; chain facts come from the host's beacon node)"
            )));
        }
        Err(e) => return Err(failed(e)),
    };
    let path = ops::save_exit(&state, &km.node, &pk, &json).map_err(failed)?;
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"signed_exit": exit_msg, "file": path, "signed_by": "keymanager"})
            )
            .unwrap_or_default()
        );
    } else {
        println!(
            "signed voluntary exit of validator {} at epoch {} saved: {}",
            exit_msg.message.validator_index,
            exit_msg.message.epoch,
            path.display()
        );
    }
    submit_saved_exit(
        inv,
        pool,
        r,
        &pk,
        &exit_msg.message.validator_index,
        &json,
        &path,
        submit,
        yes,
        out,
    )
    .await
}

/// Sign the exit locally with the validator's keystore: the keystore must hold PUBKEY (checked
/// before the password is asked, and again after decryption); the chain facts and the validator
/// index come from the host's beacon node; the exit is verified before it is saved.
#[allow(clippy::too_many_arguments)]
pub(super) async fn local_exit(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    node: &str,
    pubkey: &str,
    keystore: &Path,
    password_file: Option<&Path>,
    epoch: Option<u64>,
    submit: bool,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let r = inv.find_node(node).map_err(usage)?;
    let pk = pubkey_arg(pubkey)?;
    let state = state_dir()?;
    let text = std::fs::read_to_string(keystore)
        .map_err(|e| usage(format!("cannot read {}: {e}", keystore.display())))?;
    let ks =
        Keystore::from_json(&text).map_err(|e| usage(format!("{}: {e}", keystore.display())))?;
    let hex_of = |p: &nodeherd_core::keys::bls::PublicKey| format!("0x{}", p.to_hex());
    // The declared pubkey first: a wrong file is refused before the password is even asked.
    if let Some(declared) = ks
        .public_key()
        .map_err(|e| usage(format!("{}: {e}", keystore.display())))?
    {
        if hex_of(&declared) != pk {
            return Err(usage(format!(
                "{} holds {}, not {pk}: nothing signed",
                keystore.display(),
                hex_of(&declared)
            )));
        }
    }
    let pw = password(password_file, "Keystore password: ", false)?;
    let sk = ks
        .decrypt_secret_key(pw.expose())
        .map_err(|e| usage(format!("{}: {e}", keystore.display())))?;
    drop(pw);
    if hex_of(&sk.public_key()) != pk {
        return Err(usage(format!(
            "{} holds {}, not {pk}: nothing signed",
            keystore.display(),
            hex_of(&sk.public_key())
        )));
    }
    let signed = ops::sign_exit_locally(inv, pool, r, &sk, epoch).await;
    drop(sk);
    let le = signed.map_err(|e| failed(format!("{e}; nothing signed or saved")))?;
    let json = le.signed.to_json();
    let label = ops::label(inv, r);
    let path = ops::save_exit(&state, &label, &pk, &json).map_err(failed)?;
    let index = le.signed.message.validator_index.to_string();
    let hex4 = |b: &[u8]| format!("0x{}", nodeherd_core::keys::hex_encode(b));
    if out.json {
        let signed_exit: serde_json::Value =
            serde_json::from_str(&json).unwrap_or(serde_json::Value::Null);
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "signed_exit": signed_exit,
                "file": path,
                "signed_by": "keystore",
                "beacon_node": le.beacon,
                "validator_status": le.validator.status,
                "fork_version": hex4(&le.fork_version),
                "genesis_validators_root": hex4(&le.chain.genesis_validators_root),
                "domain": hex4(&le.domain),
            }))
            .unwrap_or_default()
        );
    } else {
        println!(
            "signed voluntary exit of validator {index} at epoch {} (fork version {}, facts from {}) saved: {}",
            le.signed.message.epoch,
            hex4(&le.fork_version),
            le.beacon,
            path.display()
        );
    }
    submit_saved_exit(inv, pool, r, &pk, &index, &json, &path, submit, yes, out).await
}

/// After the exit is saved: stop there without `--submit`; otherwise confirm and POST it to the
/// host's beacon node. A refusal says the signed exit stays saved.
#[allow(clippy::too_many_arguments)]
pub(super) async fn submit_saved_exit(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    r: NodeRef,
    pk: &str,
    index: &str,
    json: &str,
    path: &Path,
    submit: bool,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    if !submit {
        if !out.json {
            println!("not submitted (add --submit to publish it; an exit cannot be undone)");
        }
        return Ok(exit::OK);
    }
    confirm(
        &format!("SUBMIT the voluntary exit of {pk} (validator {index}): this is IRREVERSIBLE"),
        &[ops::label(inv, r)],
        yes,
    )?;
    match ops::submit_exit(inv, pool, r, json).await {
        Ok(bn) => {
            if !out.json {
                println!("submitted to {bn}");
            }
            Ok(exit::OK)
        }
        Err(e) => Err(failed(format!(
            "{e}\nNOT submitted; the signed exit stays saved in {} and may be submitted later \
             (POST it to /eth/v1/beacon/pool/voluntary_exits)",
            path.display()
        ))),
    }
}
