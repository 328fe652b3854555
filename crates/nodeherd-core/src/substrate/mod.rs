//! Substrate (Polkadot SDK) nodes: the JSON-RPC requests nodeherd sends to a node's localhost RPC
//! and pure parsers of their answers: the session keys `author_rotateKeys` returns, the
//! extrinsic the operator must submit with them (`session.setKeys(keys, proof)`), whether the
//! node's keystore holds them (`author_hasSessionKeys`), and the sync
//! state of `system_syncState`; the session keys a node's keystore holds, from its file names
//! ([`keystore`]).
//!
//! Owns: the request bodies, the answer shapes (recorded in `tests/fixtures/substrate/`, sources
//! in its README) and the words that tell an operator what to do. May not touch: sending
//! requests (the engine does, through the SSH session), the terminal. Signs nothing: the node
//! keeps the private halves of the session keys in its own keystore; only the public blob is read.

pub mod keystore;

#[cfg(test)]
mod tests;

use serde::Serialize;
use serde_json::Value;

/// The JSON-RPC body of `author_rotateKeys` (an unsafe method: the node must allow it, which
/// `--rpc-methods auto` does on loopback, where nodeherd's forward arrives).
pub const ROTATE_KEYS_BODY: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"author_rotateKeys","params":[]}"#;

/// The JSON-RPC body of `system_syncState`.
pub const SYNC_STATE_BODY: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"system_syncState","params":[]}"#;

/// The JSON-RPC body of `author_hasSessionKeys(keys)`: whether the node's keystore holds the
/// private halves of all of `keys` (unsafe too).
pub fn has_session_keys_body(keys: &SessionKeys) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "author_hasSessionKeys", "params": [keys.hex()]})
        .to_string()
}

/// Parse the answer of `author_hasSessionKeys` (`result`: a boolean).
pub fn parse_has_session_keys(body: &str) -> Result<bool, RotateError> {
    let r = rpc_result(body)?;
    r.as_bool()
        .ok_or_else(|| RotateError::NotJsonRpc(short(&r.to_string())))
}

/// The message Substrate's RPC server gives (code -32601) for an unsafe method called while
/// the node runs with `--rpc-methods safe` (or `auto` on a non-loopback interface).
pub const UNSAFE_MESSAGE: &str = "RPC call is unsafe to be called externally";

/// A node more than this many blocks behind the best block it has seen is syncing.
pub const SYNC_LAG_BLOCKS: u64 = 5;

/// Why an answer gave no session keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotateError {
    #[error(
        "the node refused author_rotateKeys: \"{message}\" (it runs with --rpc-methods safe); \
         start it with --rpc-methods unsafe (or auto) with its RPC on localhost only \
         (--rpc-external off), which is where nodeherd calls it through SSH"
    )]
    Unsafe { message: String },
    #[error("the node answered with error {code}: {message}{}", method_not_found_hint(*code))]
    Rpc { code: i64, message: String },
    #[error("not a JSON-RPC answer: {0}")]
    NotJsonRpc(String),
    #[error("author_rotateKeys returned {0:?}, not 0x followed by an even number of hex digits")]
    NotHex(String),
}

/// Nodes before the jsonrpsee server (2022) answered an unsafe call with a plain -32601
/// "Method not found", so that code may also mean `--rpc-methods safe`.
fn method_not_found_hint(code: i64) -> &'static str {
    if code == -32601 {
        " (an older node answers this to an unsafe call too: check that it runs with \
         --rpc-methods unsafe or auto, its RPC on localhost only)"
    } else {
        ""
    }
}

/// The public session keys a node generated, as the hex blob it returned (`0x` + SCALE-encoded
/// concatenation of the runtime's session key types). Public material only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionKeys(String);

impl SessionKeys {
    /// The blob, `0x...`, lower case as the node gave it.
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// Its length in bytes (Polkadot validators: 193 = five 32-byte keys and BEEFY's 33).
    pub fn bytes(&self) -> usize {
        (self.0.len() - 2) / 2
    }

    /// What the operator must submit on chain with these keys: `session.setKeys(keys, proof)`
    /// with `proof` = `0x`, signed by the validator's (or collator's) account. nodeherd signs
    /// nothing.
    pub fn set_keys_call(&self) -> SetKeys {
        SetKeys {
            pallet: "session",
            call: "setKeys",
            keys: self.0.clone(),
            proof: "0x",
        }
    }
}

/// The extrinsic to submit, argument by argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetKeys {
    pub pallet: &'static str,
    pub call: &'static str,
    pub keys: String,
    pub proof: &'static str,
}

impl SetKeys {
    /// The lines that tell the operator how to submit it.
    pub fn instructions(&self) -> Vec<String> {
        vec![
            format!(
                "submit the extrinsic {}.{}(keys, proof), signed by the validator's stash (or \
                 controller) account, or the collator's account:",
                self.pallet, self.call
            ),
            format!("  keys  = {}", self.keys),
            format!("  proof = {}", self.proof),
            "  polkadot.js: Developer > Extrinsics > session > setKeys, or Network > Staking > \
             Accounts > Change session keys (paste the keys)"
                .to_string(),
            "nodeherd signs nothing on chain; the private keys stay in the node's keystore"
                .to_string(),
        ]
    }
}

/// Parse the answer of `author_rotateKeys`.
pub fn parse_rotate_keys(body: &str) -> Result<SessionKeys, RotateError> {
    let result = rpc_result(body)?;
    let s = result
        .as_str()
        .ok_or_else(|| RotateError::NotHex(short(&result.to_string())))?;
    let digits = s.strip_prefix("0x").unwrap_or("");
    if !s.starts_with("0x")
        || digits.is_empty()
        || digits.len() % 2 != 0
        || !digits.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(RotateError::NotHex(short(s)));
    }
    Ok(SessionKeys(s.to_ascii_lowercase()))
}

/// The `result` of a JSON-RPC answer, or its error as a [`RotateError`].
fn rpc_result(body: &str) -> Result<Value, RotateError> {
    let v: Value = serde_json::from_str(body).map_err(|_| RotateError::NotJsonRpc(short(body)))?;
    if let Some(e) = v.get("error") {
        let message = crate::text::sanitize(e.get("message").and_then(Value::as_str).unwrap_or(""));
        let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
        if message.contains("unsafe") {
            return Err(RotateError::Unsafe { message });
        }
        return Err(RotateError::Rpc { code, message });
    }
    v.get("result")
        .cloned()
        .ok_or_else(|| RotateError::NotJsonRpc(short(body)))
}

/// What `system_syncState` says: the block the node started from, its best block, and the best
/// block its peers announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SyncState {
    pub starting: u64,
    pub current: u64,
    pub highest: u64,
}

impl SyncState {
    /// More than [`SYNC_LAG_BLOCKS`] behind the highest block seen.
    pub fn syncing(&self) -> bool {
        self.highest.saturating_sub(self.current) > SYNC_LAG_BLOCKS
    }
}

/// Parse the answer of `system_syncState` (`highestBlock` is absent, or null, before the node
/// has heard of any peer's best block: then it is taken as the current block).
pub fn parse_sync_state(body: &str) -> Option<SyncState> {
    let r = rpc_result(body).ok()?;
    let current = r.get("currentBlock")?.as_u64()?;
    Some(SyncState {
        starting: r.get("startingBlock").and_then(Value::as_u64).unwrap_or(0),
        current,
        highest: r
            .get("highestBlock")
            .and_then(Value::as_u64)
            .unwrap_or(current),
    })
}

fn short(s: &str) -> String {
    crate::text::sanitize(s.trim()).chars().take(120).collect()
}
