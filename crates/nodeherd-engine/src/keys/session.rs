//! Substrate session keys: `author_rotateKeys` on a `client = "substrate"` node's localhost RPC
//! (`rpc_port`), through the host's SSH session.
//!
//! Owns: the refusals before any call (not substrate, no `rpc_port`), the POSTs
//! (`author_rotateKeys`, then `author_hasSessionKeys` to check the keystore holds the new keys),
//! and turning their answers into [`Rotated`]. May not touch: the request body and the answer's shape (that is
//! `nodeherd_core::substrate`), the terminal. Signs nothing: the node generates the keys in its
//! own keystore and returns only the public blob; nodeherd never reads the keystore.

use std::time::Duration;

use serde::Serialize;

use nodeherd_core::inventory::{ClientKind, Inventory, NodeRef};
use nodeherd_core::substrate::{self, RotateError, SessionKeys, SetKeys};
use nodeherd_transport::http;
use nodeherd_transport::ssh::{Pool, Session};

/// How long the node may take to answer (it writes new keys to its keystore).
const TIMEOUT: Duration = Duration::from_secs(20);

/// Why no keys were rotated.
#[derive(Debug, thiserror::Error)]
pub enum SessionKeysError {
    #[error(
        "{node} is client = \"{client}\": session keys are a Substrate thing (client = \"substrate\")"
    )]
    NotSubstrate { node: String, client: &'static str },
    #[error(
        "{node} has no rpc_port in the inventory: add its Substrate JSON-RPC port (--rpc-port, \
         usually 9944)"
    )]
    NoRpcPort { node: String },
    #[error("{node}: cannot reach the host over SSH: {reason}")]
    Ssh { node: String, reason: String },
    #[error("{node}: no answer from the RPC on 127.0.0.1:{port}: {reason}")]
    Unreachable {
        node: String,
        port: u16,
        reason: String,
    },
    #[error("{node}: {source}")]
    Refused {
        node: String,
        #[source]
        source: RotateError,
    },
}

/// New session keys of one node, and the extrinsic the operator must submit with them.
#[derive(Debug, Clone, Serialize)]
pub struct Rotated {
    /// `host/node`.
    pub node: String,
    pub keys: SessionKeys,
    pub submit: SetKeys,
    /// `author_hasSessionKeys(keys)` right after: `Ok(true)` when the node's keystore holds all
    /// of them; why it could not be asked otherwise (the keys are rotated either way).
    pub held: Result<bool, String>,
}

/// Call `author_rotateKeys` on node `r`: the node makes new session keys in its keystore and
/// returns their public halves.
pub async fn rotate_session_keys(
    pool: &Pool,
    inv: &Inventory,
    r: NodeRef,
) -> Result<Rotated, SessionKeysError> {
    let (host, node) = inv.node(r);
    let label = format!("{}/{}", host.name, node.name);
    if node.client != ClientKind::Substrate {
        return Err(SessionKeysError::NotSubstrate {
            node: label,
            client: node.client.as_str(),
        });
    }
    let Some(port) = node.rpc_port else {
        return Err(SessionKeysError::NoRpcPort { node: label });
    };
    let first_line = |e: &dyn std::fmt::Display| {
        nodeherd_core::text::sanitize(e.to_string().lines().next().unwrap_or(""))
    };
    let session = pool
        .session(&host.target)
        .await
        .map_err(|e| SessionKeysError::Ssh {
            node: label.clone(),
            reason: first_line(&e),
        })?;
    let unreachable = |reason: String| SessionKeysError::Unreachable {
        node: label.clone(),
        port,
        reason,
    };
    let resp = post(&session, port, substrate::ROTATE_KEYS_BODY)
        .await
        .map_err(unreachable)?;
    // jsonrpsee answers errors with HTTP 200; anything else with a body is tried as JSON-RPC too.
    let keys = substrate::parse_rotate_keys(&resp.text()).map_err(|source| match source {
        RotateError::NotJsonRpc(_) if resp.status != 200 => {
            unreachable(format!("HTTP {}", resp.status))
        }
        source => SessionKeysError::Refused {
            node: label.clone(),
            source,
        },
    })?;
    let held = match post(&session, port, &substrate::has_session_keys_body(&keys)).await {
        Ok(r) => substrate::parse_has_session_keys(&r.text()).map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    Ok(Rotated {
        submit: keys.set_keys_call(),
        node: label,
        keys,
        held,
    })
}

/// POST one JSON-RPC body to the host's loopback `port`; the answer, or why there is none.
async fn post(session: &Session, port: u16, body: &str) -> Result<http::Response, String> {
    let first_line = |e: &dyn std::fmt::Display| {
        nodeherd_core::text::sanitize(e.to_string().lines().next().unwrap_or(""))
    };
    let stream = session.forward(port).await.map_err(|e| first_line(&e))?;
    let sent = http::request(
        stream,
        "POST",
        "/",
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    );
    tokio::time::timeout(TIMEOUT, sent)
        .await
        .map_err(|_| format!("no answer within {}s", TIMEOUT.as_secs()))?
        .map_err(|e| first_line(&e))
}

#[cfg(test)]
mod tests {
    //! Through the fake host, with the recorded answers of `tests/fixtures/substrate/`.

    use std::path::PathBuf;

    use super::*;
    use crate::testing::{FakeRemote, HttpReply, fake_pool};

    const ROTATE: &str = include_str!("../../../../tests/fixtures/substrate/rotate_keys.json");
    const UNSAFE: &str =
        include_str!("../../../../tests/fixtures/substrate/rotate_keys_unsafe.json");

    fn inv(extra: &str) -> Inventory {
        let text = format!(
            "[defaults]\nuser = \"root\"\n[hosts.h1]\naddress = \"192.0.2.1\"\n[hosts.h1.nodes.dot]\n{extra}\n"
        );
        Inventory::from_sources(vec![(PathBuf::from("/t/hosts.toml"), text)])
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    const R: NodeRef = NodeRef { host: 0, node: 0 };

    fn answering(body: &'static str) -> FakeRemote {
        let f = FakeRemote::named("h1");
        f.rpc_with(9944, "author_rotateKeys", move |_, _| {
            HttpReply::Answer(200, body.to_string())
        });
        f.rpc_with(9944, "author_hasSessionKeys", |_, _| {
            HttpReply::Answer(200, r#"{"jsonrpc":"2.0","id":1,"result":true}"#.into())
        });
        f
    }

    #[tokio::test]
    async fn rotate_returns_the_nodes_blob_and_the_set_keys_call() {
        let f = answering(ROTATE);
        let pool = fake_pool(std::slice::from_ref(&f));
        let inv = inv("client = \"substrate\"\nrpc_port = 9944");
        let r = rotate_session_keys(&pool, &inv, R).await.unwrap();
        let want: serde_json::Value = serde_json::from_str(ROTATE).unwrap();
        assert_eq!(r.node, "h1/dot");
        assert_eq!(r.keys.hex(), want["result"].as_str().unwrap());
        assert_eq!(r.submit.keys, r.keys.hex());
        assert_eq!(r.submit.proof, "0x");
        assert_eq!(r.held, Ok(true));
        // one call, no shell command on the host
        assert!(f.lines().is_empty(), "{:?}", f.lines());
    }

    #[tokio::test]
    async fn keys_the_node_says_it_does_not_hold_are_reported() {
        let f = FakeRemote::named("h1");
        f.rpc_with(9944, "author_rotateKeys", |_, _| {
            HttpReply::Answer(200, ROTATE.to_string())
        });
        f.rpc_with(9944, "author_hasSessionKeys", |_, _| {
            HttpReply::Answer(200, r#"{"jsonrpc":"2.0","id":1,"result":false}"#.into())
        });
        let pool = fake_pool(std::slice::from_ref(&f));
        let inv = inv("client = \"substrate\"\nrpc_port = 9944");
        let r = rotate_session_keys(&pool, &inv, R).await.unwrap();
        assert_eq!(r.held, Ok(false));
    }

    #[tokio::test]
    async fn a_safe_node_is_refused_with_the_fix() {
        let f = answering(UNSAFE);
        let pool = fake_pool(std::slice::from_ref(&f));
        let inv = inv("client = \"substrate\"\nrpc_port = 9944");
        let e = rotate_session_keys(&pool, &inv, R).await.unwrap_err();
        assert!(
            matches!(
                &e,
                SessionKeysError::Refused {
                    source: RotateError::Unsafe { .. },
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("--rpc-methods unsafe"), "{e}");
    }

    #[tokio::test]
    async fn not_substrate_or_no_port_is_refused_before_any_call() {
        let f = answering(ROTATE);
        let pool = fake_pool(std::slice::from_ref(&f));
        let e = rotate_session_keys(&pool, &inv("client = \"cosmos\"\nrpc_port = 9944"), R)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                SessionKeysError::NotSubstrate {
                    client: "cosmos",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = rotate_session_keys(&pool, &inv("client = \"substrate\""), R)
            .await
            .unwrap_err();
        assert!(matches!(e, SessionKeysError::NoRpcPort { .. }), "{e:?}");
        assert!(f.calls().is_empty(), "{:?}", f.calls());
    }

    #[tokio::test]
    async fn an_http_error_page_is_reported_as_such() {
        let f = FakeRemote::named("h1");
        f.rpc_with(9944, "author_rotateKeys", |_, _| {
            HttpReply::Answer(503, "busy".into())
        });
        let pool = fake_pool(std::slice::from_ref(&f));
        let e = rotate_session_keys(&pool, &inv("client = \"substrate\"\nrpc_port = 9944"), R)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("HTTP 503"), "{e}");
    }
}
