//! Fuzz targets for what other programs send: known_hosts files, release feeds and checksum files,
//! Beacon and execution API answers, Keymanager answers, keystores and deposit data.

use super::harness::{Target, root, text};
use super::tree::Shape;
use nodeherd_core::facts::platform::Platform;
use nodeherd_core::health::answers;
use nodeherd_core::inventory::ClientKind;
use nodeherd_core::keymanager::Interchange;
use nodeherd_core::keymanager::types::{
    Data, DeleteAnswer, ErrorBody, FeeRecipient, GasLimit, Graffiti, ImportAnswer, ListKeystores,
    ListRemoteKeys, SignedVoluntaryExit, error_message, is_eth_address, normalize_pubkey,
};
use nodeherd_core::keys::deposit::parse_deposit_data;
use nodeherd_core::keys::exit;
use nodeherd_core::keys::keystore::Keystore;
use nodeherd_core::releases::assets::{Component, parse_sha256_file, pick};
use nodeherd_core::releases::feed::{self, FeedRelease};
use nodeherd_core::releases::version::normalize_tag;
use nodeherd_transport::ssh::known_hosts::{self, HostPatterns};
use std::path::Path;

/// known_hosts: every line either parses or is reported bad; lookups return; a parsed key written
/// back as nodeherd appends it reads back as the same key, known for its host.
fn known_hosts_file(bytes: &[u8]) {
    let (entries, _bad) = known_hosts::parse(&text(bytes));
    let file = Path::new("/fuzz/known_hosts");
    for e in &entries {
        let mut names = vec!["bn-1".to_string(), "[bn-2]:2222".into(), "h1".into()];
        if let HostPatterns::Patterns(p) = &e.hosts {
            names.extend(p.iter().take(4).cloned());
        }
        for n in &names {
            let _ = e.hosts.matches(n);
        }
        let _ = known_hosts::check_entries([(file, entries.as_slice())], "bn-1", 22, &e.key);
        let _ = known_hosts::fingerprint(&e.key);
        let line = known_hosts::entry_line("fuzz-host", 2222, &e.key);
        let (again, bad) = known_hosts::parse(&line);
        assert!(
            bad.is_empty() && again.len() == 1,
            "{line:?} does not read back: {bad:?}"
        );
        assert_eq!(
            again[0].key.key_data(),
            e.key.key_data(),
            "key round trip through {line:?}"
        );
        let verdict =
            known_hosts::check_entries([(file, again.as_slice())], "fuzz-host", 2222, &e.key);
        assert!(
            matches!(verdict, known_hosts::Verdict::Known { .. }),
            "{line:?}: {verdict:?}"
        );
    }
}

pub static KNOWN_HOSTS: Target = Target {
    name: "known_hosts",
    corpus: &["tests/fixtures/fuzz/seeds/known_hosts"],
    dict: &[
        "@cert-authority ",
        "@revoked ",
        "|1|",
        "|2|",
        "=|",
        "ssh-ed25519 ",
        "ssh-rsa ",
        "ecdsa-sha2-nistp256 ",
        "AAAA",
        "[",
        "]:",
        ",",
        "!",
        "*",
        "?",
        " ",
        "\n",
    ],
    cases: 3000,
    max_len: 64 << 10,
    shape: Shape::Bytes,
    seeds: None,
    run: known_hosts_file,
};

/// Release feeds: parse; a parsed feed serialized again parses to the same releases; asset picking
/// and checksum files return.
fn release_feed(bytes: &[u8]) {
    let t = text(bytes);
    if let Ok((releases, skipped)) = feed::parse(&t) {
        let raw: Vec<&FeedRelease> = releases.iter().map(|r| &r.feed).collect();
        let json = serde_json::to_string(&raw).expect("a parsed feed serializes");
        let (again, none_skipped) = feed::parse(&json).expect("a serialized feed parses");
        assert!(
            none_skipped.is_empty(),
            "round trip skipped {none_skipped:?}"
        );
        assert_eq!(again, releases, "feed round trip");
        for s in &skipped {
            assert!(normalize_tag(s).is_none());
        }
        let platform: Platform = "linux/x86_64".parse().expect("a fixed platform");
        for r in releases.iter().take(20) {
            let _ = r.urgency();
            for a in &r.feed.assets {
                let _ = a.sha256();
            }
            for client in ClientKind::ALL {
                for c in [Component::Node, Component::Validator] {
                    let _ = pick(client, c, &r.feed.tag_name, &r.feed.assets, &platform);
                }
            }
        }
    }
    for line in t.lines().take(100) {
        let _ = normalize_tag(line);
    }
    for asset in ["lodestar-v1.22.0-linux-amd64.tar.gz", "geth", ""] {
        let _ = parse_sha256_file(&t, asset);
    }
}

/// GitHub-shaped feeds made from the per-client asset listings in tests/fixtures/releases.
pub fn feed_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(root().join("tests/fixtures/releases"))
        .expect("the releases fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for p in paths {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
        let releases: Vec<serde_json::Value> = v["releases"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let assets: Vec<serde_json::Value> = r["assets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        serde_json::json!({"name": a["name"], "size": 1234, "digest": format!("sha256:{}", "ab".repeat(32)),
                            "browser_download_url": format!("https://example.invalid/{}", a["name"].as_str().unwrap_or(""))})
                    })
                    .collect();
                serde_json::json!({"tag_name": r["tag"], "draft": false, "prerelease": r["prerelease"],
                    "published_at": "2024-10-25T10:00:00Z", "body": "Bug fixes. Security release.", "assets": assets})
            })
            .collect();
        out.push(serde_json::to_vec_pretty(&releases).expect("serialize"));
    }
    out
}

pub static RELEASE_FEED: Target = Target {
    name: "release_feed",
    corpus: &[],
    dict: &[
        "\"tag_name\":",
        "\"v1.2.3\"",
        "\"1.14.11-stable\"",
        "\"v01.2\"",
        "\"assets\":[",
        "\"digest\":\"sha256:",
        "\"published_at\":\"",
        "2024-13-45T99:00:00Z",
        "null",
        "true",
        "{",
        "}",
        "[",
        "]",
        ",",
        "linux",
        "amd64",
        "arm64",
        "musl",
        ".tar.gz",
        ".sha256",
    ],
    cases: 800,
    max_len: 128 << 10,
    shape: Shape::Json,
    seeds: Some(feed_seeds),
    run: release_feed,
};

/// Beacon, execution, CometBFT, Substrate (health, session keys, sync state) and nwaku answers, and the Beacon answers an exit needs.
fn beacon_api(bytes: &[u8]) {
    let body = text(bytes);
    let _ = answers::beacon_version(&body);
    let _ = answers::beacon_head_slot(&body);
    let _ = answers::beacon_syncing(&body);
    let _ = answers::rpc_result(&body);
    let _ = answers::rpc_string(&body);
    let _ = answers::rpc_quantity(&body);
    let _ = answers::eth_syncing(&body);
    let _ = answers::comet_status(&body);
    let _ = answers::substrate_health(&body);
    let _ = answers::substrate_best(&body);
    if let Ok(k) = nodeherd_core::substrate::parse_rotate_keys(&body) {
        assert!(
            k.hex().starts_with("0x") && k.bytes() > 0,
            "session keys: {}",
            k.hex()
        );
    }
    let _ = nodeherd_core::substrate::parse_sync_state(&body).map(|s| s.syncing());
    let _ = answers::nwaku_ready(&body);
    let _ = answers::short(&body);
    if let Some(v) = answers::beacon_version(&body) {
        let _ = answers::version_matches(&v, "1.5.1");
    }
    let _ = exit::parse_genesis(&body);
    let _ = exit::parse_fork(&body);
    let _ = exit::parse_spec(&body);
    let _ = exit::parse_validator(&body);
    let _ = exit::parse_head_slot(&body);
    if let Ok(e) = exit::SignedVoluntaryExit::from_json(&body) {
        let again =
            exit::SignedVoluntaryExit::from_json(&e.to_json()).expect("a parsed exit reads back");
        assert_eq!(again.to_json(), e.to_json(), "signed exit round trip");
    }
}

pub static BEACON_API: Target = Target {
    name: "beacon_api",
    corpus: &[
        "tests/fixtures/beacon",
        "tests/fixtures/ethereumjs/0.10.5",
        "tests/fixtures/cosmos",
        "tests/fixtures/substrate",
    ],
    dict: &[
        "{\"data\":",
        "\"jsonrpc\":\"2.0\"",
        "\"result\":",
        "\"error\":",
        "\"0x",
        "\"slot\":\"",
        "\"head_slot\":\"",
        "\"is_syncing\":",
        "\"version\":\"Lodestar/v1.5.1",
        "\"signature\":\"0x",
        "\"epoch\":\"",
        "\"validator_index\":\"",
        "18446744073709551615",
        "null",
        "{",
        "}",
    ],
    cases: 800,
    max_len: 64 << 10,
    shape: Shape::Json,
    seeds: None,
    run: beacon_api,
};

/// The Keymanager API's answers as the engine decodes them, its error bodies, and slashing
/// protection interchange files.
fn keymanager_api(bytes: &[u8]) {
    let _ = error_message(bytes);
    let s = text(bytes);
    if let Ok(l) = serde_json::from_slice::<ListKeystores>(bytes) {
        for k in &l.data {
            let _ = normalize_pubkey(&k.validating_pubkey);
        }
    }
    let _ = serde_json::from_slice::<ListRemoteKeys>(bytes);
    let _ = serde_json::from_slice::<ImportAnswer>(bytes);
    let _ = serde_json::from_slice::<DeleteAnswer>(bytes);
    let _ = serde_json::from_slice::<Data<FeeRecipient>>(bytes);
    let _ = serde_json::from_slice::<Data<Graffiti>>(bytes);
    let _ = serde_json::from_slice::<Data<GasLimit>>(bytes);
    let _ = serde_json::from_slice::<Data<SignedVoluntaryExit>>(bytes);
    let _ = serde_json::from_slice::<ErrorBody>(bytes);
    if let Ok(i) = Interchange::parse(&s) {
        let _ = i.pubkeys();
    }
    for word in s.split(['"', ' ', '\n', ',', ':']).take(200) {
        let _ = normalize_pubkey(word);
        let _ = is_eth_address(word);
    }
}

pub static KEYMANAGER_API: Target = Target {
    name: "keymanager_api",
    corpus: &["tests/fixtures/keymanager"],
    dict: &[
        "{\"data\":[",
        "\"validating_pubkey\":\"0x",
        "\"derivation_path\":\"m/12381/3600/0/0/0\"",
        "\"readonly\":false",
        "\"status\":\"imported\"",
        "\"status\":\"not_found\"",
        "\"slashing_protection\":\"",
        "\"message\":\"",
        "\"metadata\":{\"interchange_format_version\":\"5\",\"genesis_validators_root\":\"0x",
        "\"signed_blocks\":[{\"slot\":\"",
        "0x",
        "{",
        "}",
        "[",
        "]",
    ],
    cases: 1500,
    max_len: 64 << 10,
    shape: Shape::Json,
    seeds: None,
    run: keymanager_api,
};

/// EIP-2335 keystores (structure only: decryption runs the KDF, bounded by the decoder's own
/// limits, and is too slow for thousands of cases) and deposit data files.
fn keystore(bytes: &[u8]) {
    let s = text(bytes);
    if let Ok(ks) = Keystore::from_json(&s) {
        let _ = ks.public_key();
        let _ = ks.to_string();
        let json = ks.to_json().expect("a parsed keystore serializes");
        let again = Keystore::from_json(&json).expect("a serialized keystore parses");
        assert_eq!(
            again.to_json().expect("serializes"),
            json,
            "keystore round trip"
        );
    }
    let _ = parse_deposit_data(&s);
}

pub static KEYSTORE: Target = Target {
    name: "keystore",
    corpus: &["tests/fixtures/keys"],
    dict: &[
        "\"crypto\":",
        "\"kdf\":{\"function\":\"scrypt\"",
        "\"function\":\"pbkdf2\"",
        "\"params\":{",
        "\"dklen\":32",
        "\"n\":",
        "\"c\":",
        "\"salt\":\"",
        "\"iv\":\"",
        "\"uuid\":\"",
        "\"path\":\"m/12381/3600/0/0/0\"",
        "\"version\":4",
        "\"pubkey\":\"",
        "\"withdrawal_credentials\":\"",
        "\"amount\":",
        "\"fork_version\":\"",
        "4294967295",
        "{",
        "}",
    ],
    cases: 3000,
    max_len: 64 << 10,
    shape: Shape::Json,
    seeds: None,
    run: keystore,
};
