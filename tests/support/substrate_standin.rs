//! substrate-standin: a STAND-IN for a Substrate / Polkadot node (NOT a real Substrate binary;
//! none installs here). Compiled by `tests/substrate_lab.rs` with rustc (std only) and run on a
//! lab host under systemd. It serves the recorded JSON-RPC answer shapes of
//! `tests/fixtures/substrate/` (HTTP POST, JSON-RPC 2.0) on the host's loopback only:
//! `system_health`, `system_version`, `chain_getHeader`, `system_syncState`,
//! `author_rotateKeys` and `author_hasSessionKeys` (true when every public key of the blob has
//! its keystore file), and makes one block every `--block-ms`.
//!
//! `author_rotateKeys` does what a node does, in miniature: it makes six new key pairs' worth
//! of random bytes (/dev/urandom), writes each "private" seed to
//! `<home>/chains/<chain id>/keystore/<hex(type)><hex(public)>` (where and how Substrate's file
//! keystore puts them: sc-cli `KeystoreParams::keystore_config` = `<config_dir>/keystore`,
//! sc-service `BasePath::config_dir` = `<base>/chains/<chain_id>`, sc-keystore
//! `KeystoreInner::key_file_path` = `bytes2hex(key_type) + bytes2hex(public)`, the file mode
//! 0600, its contents a JSON string as `write_to_file` writes them), answers with the public halves concatenated (193
//! bytes, a Polkadot validator's SessionKeys: grandpa, babe, para_validator, para_assignment,
//! authority_discovery 32 bytes each, beefy 33), and appends that blob to
//! `<home>/rotated_keys`, so a test can check what a client printed against what was generated.
//! The keys are random bytes, not real key pairs.
//!
//! `<home>/rpc-methods` containing `safe` emulates `--rpc-methods safe`: unsafe methods
//! (`author_*`) are refused with Substrate's real error (code -32601, "RPC call is unsafe to be
//! called externally").
//!
//! `<home>/highest` containing a number is the best block peers announced (`system_syncState`'s
//! `highestBlock`), to play a node far behind.
//!
//! Args: --home DIR --rpc PORT [--block-ms N] [--chain-id ID (default polkadot)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const KEY_TYPES: [(&str, usize); 6] = [
    ("gran", 32),
    ("babe", 32),
    ("para", 32),
    ("asgn", 32),
    ("audi", 32),
    ("beef", 33),
];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn random(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("/dev/urandom");
    b
}

/// The keystore directory under the base path (Substrate's default).
fn keystore(home: &Path) -> PathBuf {
    let id = std::fs::read_to_string(home.join("chain-id")).unwrap_or_else(|_| "polkadot".into());
    home.join("chains").join(id.trim()).join("keystore")
}

/// New session keys: seeds into the keystore, the public blob recorded and returned.
fn rotate(home: &Path) -> String {
    use std::os::unix::fs::OpenOptionsExt;
    let ks = keystore(home);
    std::fs::create_dir_all(&ks).expect("keystore dir");
    let mut blob = String::from("0x");
    for (ty, len) in KEY_TYPES {
        let public = random(len);
        let seed = random(32);
        let name = format!("{}{}", hex(ty.as_bytes()), hex(&public));
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(ks.join(name))
            .and_then(|mut f| write!(f, "\"0x{}\"", hex(&seed)))
            .expect("keystore file");
        blob.push_str(&hex(&public));
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.join("rotated_keys"))
        .expect("rotated_keys");
    writeln!(f, "{blob}").expect("record");
    blob
}

/// `author_hasSessionKeys`: whether every public key of `blob` has its file in the keystore.
fn has_keys(home: &Path, blob: &str) -> bool {
    let Some(mut rest) = blob.strip_prefix("0x") else {
        return false;
    };
    for (ty, len) in KEY_TYPES {
        if rest.len() < 2 * len {
            return false;
        }
        let (public, tail) = rest.split_at(2 * len);
        let name = format!("{}{}", hex(ty.as_bytes()), public.to_ascii_lowercase());
        if !keystore(home).join(name).is_file() {
            return false;
        }
        rest = tail;
    }
    rest.is_empty()
}

fn answer(home: &Path, height: u64, method: &str, body: &str) -> String {
    let ok = |r: String| format!(r#"{{"jsonrpc":"2.0","id":1,"result":{r}}}"#);
    let safe = std::fs::read_to_string(home.join("rpc-methods"))
        .map(|s| s.trim() == "safe")
        .unwrap_or(false);
    if method.starts_with("author_") && safe {
        return r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"RPC call is unsafe to be called externally"}}"#.to_string();
    }
    match method {
        "system_health" => ok(r#"{"peers":12,"isSyncing":false,"shouldHavePeers":true}"#.into()),
        "system_version" => ok(r#""1.17.1-7ae6f4a1f3""#.into()),
        "chain_getHeader" => ok(format!(
            r#"{{"parentHash":"0x{z}","number":"0x{height:x}","stateRoot":"0x{z}","extrinsicsRoot":"0x{z}","digest":{{"logs":[]}}}}"#,
            z = "00".repeat(32)
        )),
        "system_syncState" => {
            // `<home>/highest`: the best block peers announced (a node far behind), else ours.
            let highest = std::fs::read_to_string(home.join("highest"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(height);
            ok(format!(
                r#"{{"startingBlock":0,"currentBlock":{height},"highestBlock":{highest}}}"#
            ))
        }
        "author_rotateKeys" => ok(format!("\"{}\"", rotate(home))),
        "author_hasSessionKeys" => {
            let blob = body
                .split("\"params\":[\"")
                .nth(1)
                .and_then(|p| p.split('"').next())
                .unwrap_or("");
            ok(has_keys(home, blob).to_string())
        }
        _ => r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#
            .to_string(),
    }
}

fn serve(mut s: TcpStream, home: &Path, height: u64) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; len];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let body = String::from_utf8_lossy(&body);
    let method = body
        .split("\"method\":\"")
        .nth(1)
        .and_then(|m| m.split('"').next())
        .unwrap_or("");
    let out = answer(home, height, method, &body);
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{out}",
        out.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let home = PathBuf::from(arg("--home").expect("--home"));
    let port: u16 = arg("--rpc").expect("--rpc").parse().expect("port");
    let block_ms: u64 = arg("--block-ms").map_or(6000, |s| s.parse().expect("block ms"));
    std::fs::create_dir_all(&home).expect("home");
    if let Some(id) = arg("--chain-id") {
        std::fs::write(home.join("chain-id"), id).expect("chain id");
    }
    // Substrate opens (creates) its keystore at start (`KeystoreInner::open`).
    std::fs::create_dir_all(keystore(&home)).expect("keystore dir");
    let l = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let start = Instant::now();
    for s in l.incoming().flatten() {
        let height = 1 + start.elapsed().as_millis() as u64 / block_ms;
        serve(s, &home, height);
    }
}
