//! The parsers on the recorded answer shapes of `tests/fixtures/substrate/` (documented shapes,
//! not captured from a running node; see its README).

use super::*;

const ROTATE: &str = include_str!("../../../../tests/fixtures/substrate/rotate_keys.json");
const UNSAFE: &str = include_str!("../../../../tests/fixtures/substrate/rotate_keys_unsafe.json");
const SYNCED: &str = include_str!("../../../../tests/fixtures/substrate/sync_state.json");
const SYNCING: &str = include_str!("../../../../tests/fixtures/substrate/sync_state_syncing.json");
const NO_PEERS: &str =
    include_str!("../../../../tests/fixtures/substrate/sync_state_no_peers.json");

#[test]
fn rotate_keys_answer_gives_the_blob_and_the_set_keys_call() {
    let k = parse_rotate_keys(ROTATE).unwrap();
    let want: serde_json::Value = serde_json::from_str(ROTATE).unwrap();
    assert_eq!(k.hex(), want["result"].as_str().unwrap());
    assert_eq!(k.bytes(), 193);
    let call = k.set_keys_call();
    assert_eq!(
        (call.pallet, call.call, call.proof),
        ("session", "setKeys", "0x")
    );
    assert_eq!(call.keys, k.hex());
    let text = call.instructions().join("\n");
    assert!(text.contains(&format!("keys  = {}", k.hex())), "{text}");
    assert!(text.contains("proof = 0x"), "{text}");
    assert!(text.contains("signs nothing"), "{text}");
}

#[test]
fn an_unsafe_refusal_names_the_flag_to_change() {
    let e = parse_rotate_keys(UNSAFE).unwrap_err();
    assert_eq!(
        e,
        RotateError::Unsafe {
            message: UNSAFE_MESSAGE.into()
        }
    );
    let s = e.to_string();
    assert!(
        s.contains("--rpc-methods unsafe") && s.contains("localhost"),
        "{s}"
    );
}

#[test]
fn other_errors_and_bad_blobs_are_refused() {
    let e = parse_rotate_keys(
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#,
    )
    .unwrap_err();
    assert!(matches!(e, RotateError::Rpc { code: -32601, .. }), "{e:?}");
    assert!(e.to_string().contains("--rpc-methods"), "{e}");
    let e = parse_rotate_keys(
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error"}}"#,
    )
    .unwrap_err();
    assert!(!e.to_string().contains("--rpc-methods"), "{e}");
    for bad in [
        r#"{"jsonrpc":"2.0","id":1,"result":"0x"}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":"0xabc"}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":"abcd"}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":"0xzz"}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":7}"#,
    ] {
        assert!(
            matches!(parse_rotate_keys(bad), Err(RotateError::NotHex(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        parse_rotate_keys("<html>"),
        Err(RotateError::NotJsonRpc(_))
    ));
}

#[test]
fn sync_state_says_syncing_only_when_well_behind() {
    let s = parse_sync_state(SYNCED).unwrap();
    assert_eq!((s.current, s.highest), (21_482_117, 21_482_118));
    assert!(!s.syncing());
    let s = parse_sync_state(SYNCING).unwrap();
    assert_eq!(s.starting, 3_112_010);
    assert!(s.syncing());
    let s = parse_sync_state(NO_PEERS).unwrap();
    assert_eq!((s.current, s.highest), (0, 0));
    assert!(!s.syncing());
    assert_eq!(parse_sync_state(UNSAFE), None);
}

#[test]
fn has_session_keys_asks_for_the_blob_and_reads_a_boolean() {
    let k = parse_rotate_keys(ROTATE).unwrap();
    let body: serde_json::Value = serde_json::from_str(&has_session_keys_body(&k)).unwrap();
    assert_eq!(body["method"], "author_hasSessionKeys");
    assert_eq!(body["params"][0].as_str(), Some(k.hex()));
    assert_eq!(
        parse_has_session_keys(r#"{"jsonrpc":"2.0","id":1,"result":true}"#),
        Ok(true)
    );
    assert_eq!(
        parse_has_session_keys(r#"{"jsonrpc":"2.0","id":1,"result":false}"#),
        Ok(false)
    );
    assert!(matches!(
        parse_has_session_keys(UNSAFE),
        Err(RotateError::Unsafe { .. })
    ));
    assert!(parse_has_session_keys(ROTATE).is_err());
}
