//! Remote-signer keys (Web3Signer) of a validator client: import (`POST /eth/v1/remotekeys`)
//! behind the same double-sign guard as keystores, and removal (`DELETE /eth/v1/remotekeys`).
//! A key already on the node itself as a local keystore, or on any other node (local or remote),
//! is refused; so is a node of the inventory that cannot be asked.
//!
//! Owns: those steps and their checks. May not touch: the wire format (the keymanager client),
//! the confirmation and printing (the front ends). The signer's own slashing protection is the
//! signer's: a removal returns no EIP-3076 data.

use serde::Serialize;

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keymanager::types::{DeleteStatus, ImportStatus, normalize_pubkey};
use nodeherd_transport::ssh::Pool;

use super::{GuardProblem, active_pubkeys, double_sign_guard, label};
use crate::keymanager::Keymanager;

/// What happened to each key, and whether the node's listing agrees.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteReport {
    pub node: String,
    /// `(pubkey, status, message)`; status as the API says it (`imported`, `deleted`, ...).
    pub results: Vec<(String, String, Option<String>)>,
    /// The node lists (import) or no longer lists (removal) every key that succeeded.
    pub verified: bool,
    pub ok: bool,
}

/// Why nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Keymanager(#[from] crate::keymanager::KeymanagerError),
    #[error(
        "refused by the double-sign guard: {}",
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Guard(Vec<GuardProblem>),
    #[error("{node} already has {pubkey} as a local keystore: one key, two signers")]
    LocalToo { node: String, pubkey: String },
    #[error("{url:?} is not an http(s) URL of a remote signer")]
    BadUrl { url: String },
}

/// Check a remote signer URL: `http://` or `https://` and a host.
pub fn check_url(url: &str) -> Result<(), RemoteError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace) => {
            Ok(())
        }
        _ => Err(RemoteError::BadUrl { url: url.into() }),
    }
}

/// Import `pubkeys` as remote keys signed at `url` into `node`, after the guard over every
/// other keymanager node (`allow_risk`: `--i-understand-double-signing-risk`) and the check
/// that the node has none of them as a local keystore (never overridden).
pub async fn import_remote_keys(
    inv: &Inventory,
    pool: &Pool,
    node: NodeRef,
    url: &str,
    pubkeys: &[String],
    allow_risk: bool,
) -> Result<RemoteReport, RemoteError> {
    check_url(url)?;
    let problems = double_sign_guard(inv, pool, pubkeys, &[node]).await;
    if !problems.is_empty() && !allow_risk {
        return Err(RemoteError::Guard(problems));
    }
    let km = Keymanager::connect(pool, inv, node).await?;
    // Lodestar lists remote keys among its keystores too (readonly): those are not local.
    let remote: Vec<String> = km
        .list_remote_keys()
        .await?
        .into_iter()
        .filter_map(|k| normalize_pubkey(&k.pubkey))
        .collect();
    let local: Vec<String> = km
        .list_keystores()
        .await?
        .into_iter()
        .filter_map(|k| normalize_pubkey(&k.validating_pubkey))
        .filter(|p| !remote.contains(p))
        .collect();
    if let Some(pk) = pubkeys.iter().find(|p| local.contains(p)) {
        return Err(RemoteError::LocalToo {
            node: label(inv, node),
            pubkey: pk.clone(),
        });
    }
    let pairs: Vec<(String, String)> = pubkeys.iter().map(|p| (p.clone(), url.into())).collect();
    let answer = km.import_remote(&pairs).await?;
    let listed = active_pubkeys(&km).await?;
    let verified = pubkeys
        .iter()
        .zip(&answer)
        .filter(|(_, r)| r.status != ImportStatus::Error)
        .all(|(p, _)| listed.contains(p));
    let ok = verified && answer.iter().all(|r| r.status == ImportStatus::Imported);
    Ok(RemoteReport {
        node: label(inv, node),
        results: pubkeys
            .iter()
            .zip(answer)
            .map(|(p, r)| (p.clone(), status_name(&r.status), r.message))
            .collect(),
        verified,
        ok,
    })
}

/// Remove remote keys from `node`; verified by listing the node again.
pub async fn remove_remote_keys(
    inv: &Inventory,
    pool: &Pool,
    node: NodeRef,
    pubkeys: &[String],
) -> Result<RemoteReport, RemoteError> {
    let km = Keymanager::connect(pool, inv, node).await?;
    let answer = km.delete_remote(pubkeys).await?;
    let remote_left: Vec<String> = km
        .list_remote_keys()
        .await?
        .into_iter()
        .filter_map(|k| normalize_pubkey(&k.pubkey))
        .collect();
    let verified = !pubkeys.iter().any(|p| remote_left.contains(p));
    let ok = verified && answer.iter().all(|r| r.status == DeleteStatus::Deleted);
    Ok(RemoteReport {
        node: label(inv, node),
        results: pubkeys
            .iter()
            .zip(answer)
            .map(|(p, r)| (p.clone(), status_name(&r.status), r.message))
            .collect(),
        verified,
        ok,
    })
}

fn status_name(s: &impl Serialize) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_signer_urls() {
        assert!(check_url("http://10.0.0.5:9000").is_ok());
        assert!(check_url("https://signer.example/").is_ok());
        for bad in [
            "",
            "10.0.0.5:9000",
            "ftp://x",
            "http://",
            "http:///x",
            "http://a b",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert_eq!(status_name(&DeleteStatus::NotFound), "not_found");
        assert_eq!(status_name(&ImportStatus::Imported), "imported");
    }
}
