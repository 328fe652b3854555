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

#[test]
fn keystore_file_names_give_the_session_keys() {
    use super::keystore::{list_command, parse_listing, parse_name};
    let text = include_str!("../../../../tests/fixtures/substrate/keystore_ls.txt");
    let l = parse_listing(text);
    assert_eq!(
        l.keystores,
        vec![
            "/var/lib/polkadot/chains/polkadot/keystore",
            "/var/lib/polkadot/chains/ksmcc3/keystore"
        ]
    );
    assert_eq!(l.ignored, 2, ".tmp-write and README are not key files");
    assert_eq!(l.keys.len(), 7);
    // the six keys of rotate_keys.json, in the blob's order once sorted back by type
    let blob = serde_json::from_str::<serde_json::Value>(include_str!(
        "../../../../tests/fixtures/substrate/rotate_keys.json"
    ))
    .unwrap()["result"]
        .as_str()
        .unwrap()
        .to_string();
    let polkadot: Vec<_> = l
        .keys
        .iter()
        .filter(|k| k.keystore.ends_with("/polkadot/keystore"))
        .collect();
    let mut joined = String::from("0x");
    for ty in ["gran", "babe", "para", "asgn", "audi", "beef"] {
        let k = polkadot.iter().find(|k| k.key_type == ty).expect(ty);
        joined.push_str(k.public.trim_start_matches("0x"));
    }
    assert_eq!(joined, blob);
    let gran = polkadot.iter().find(|k| k.key_type == "gran").unwrap();
    assert_eq!(gran.name, Some("grandpa"));
    let beef = polkadot.iter().find(|k| k.key_type == "beef").unwrap();
    assert_eq!(beef.public.len(), 2 + 66, "33-byte ECDSA");
    // names that are not key files
    for bad in ["", "6772616e", "6772616", "zz72616e00", "6772616e0"] {
        assert_eq!(parse_name(bad), None, "{bad:?}");
    }
    let odd = parse_name("0102030411").unwrap();
    assert_eq!(
        (odd.0.as_str(), odd.1, odd.2.as_str()),
        ("0x01020304", None, "0x11")
    );
    // an unreadable directory is reported, a missing one is simply absent
    let l = parse_listing("/k/\n/k/ unreadable\n");
    assert_eq!(l.unreadable, vec!["/k"]);
    // the paths are quoted single arguments; names only (no cat, no read of a file)
    let c = list_command(None, "/var/lib/my node").to_shell_string();
    assert!(
        c.ends_with(" nodeherd-keystore base '/var/lib/my node'"),
        "{c}"
    );
    assert!(c.contains("ls -1A") && !c.contains("cat "), "{c}");
    let c = list_command(Some("/k's"), "/b").to_shell_string();
    assert!(c.ends_with(" dir '/k'\\''s'"), "{c}");
}

/// The listing script itself, run locally with `sh` on a keystore laid out as Substrate does:
/// names come back, contents (the secret phrases) never do.
#[test]
fn keystore_listing_never_prints_file_contents() {
    use super::keystore::{list_command, parse_listing};
    let t = tempfile::tempdir().unwrap();
    let ks = t.path().join("chains/polkadot/keystore");
    std::fs::create_dir_all(&ks).unwrap();
    let secret = "\"bottom drive obey lake curtain smoke basket hold race lonely fit walk\"";
    std::fs::write(ks.join(format!("6772616e{}", "ab".repeat(32))), secret).unwrap();
    let run = |c: crate::remote::Command| {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(c.to_shell_string())
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    let base = t.path().display().to_string();
    for out in [
        run(list_command(None, &base)),
        run(list_command(Some(&ks.display().to_string()), "/nowhere")),
    ] {
        assert!(!out.contains("bottom"), "{out}");
        let l = parse_listing(&out);
        assert_eq!(l.keys.len(), 1, "{out}");
        assert_eq!(l.keys[0].public, format!("0x{}", "ab".repeat(32)));
    }
    // no keystore at all: nothing listed, still a success
    let l = parse_listing(&run(list_command(None, "/nonexistent-base")));
    assert!(l.keystores.is_empty() && l.keys.is_empty());
}
