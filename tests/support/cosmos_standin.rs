//! cosmos-standin: a STAND-IN for a Cosmos SDK node (NOT a real CometBFT or Cosmos SDK binary;
//! none installs here). Compiled by `tests/cosmos_lab.rs` with rustc (std only) and run on a lab
//! host under systemd. It serves the recorded answer shapes of `tests/fixtures/cosmos/` on the
//! host's loopback (CometBFT RPC `/status`, `/block`, `/net_info`, `/abci_info`; Cosmos REST
//! `/cosmos/upgrade/v1beta1/current_plan`), makes one block every `--block-ms`, and behaves as
//! the x/upgrade module does at a plan's height: without a handler for the plan (its `--version`
//! is not the plan's name) it writes `data/upgrade-info.json`, logs `UPGRADE "<name>" NEEDED at
//! height: H: <info>` and exits 1 before making block H; with it, it applies the plan and goes on;
//! started with the new version before the height, it refuses ("BINARY UPDATED BEFORE TRIGGER!").
//!
//! Args: --home DIR --rpc PORT --api PORT --version NAME [--block-ms N]
//! The pending plan is `<home>/plan.json` (the current_plan body), written by the test;
//! `<home>/pause` stops block production (the RPC still answers); `<home>/peers` sets `n_peers`;
//! the validator's standing and governance come from files too (see `validator_answer`).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct St {
    home: PathBuf,
    version: String,
    height: u64,
    genesis_ms: u64,
    block_ms: u64,
    /// When the latest block was made.
    last_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// RFC 3339 in UTC for a unix time in ms (civil-from-days, Howard Hinnant's algorithm).
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}000Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60,
        ms % 1000
    )
}

/// The plan from `<home>/plan.json`: (name, height, info) unless none or applied.
fn plan(home: &Path) -> Option<(String, u64, String, String)> {
    let body = std::fs::read_to_string(home.join("plan.json")).ok()?;
    let field = |k: &str| -> Option<String> {
        let at = body.find(&format!("\"{k}\":"))? + k.len() + 3;
        let rest = body[at..].trim_start();
        let rest = rest.strip_prefix('"')?;
        let mut out = String::new();
        let mut esc = false;
        for c in rest.chars() {
            if esc {
                out.push(c);
                esc = false;
            } else if c == '\\' {
                out.push(c);
                esc = true;
            } else if c == '"' {
                break;
            } else {
                out.push(c);
            }
        }
        Some(out)
    };
    let name = field("name")?;
    if home.join("data").join(format!("applied-{name}")).exists() {
        return None;
    }
    let height = field("height")?.parse().ok()?;
    let info_raw = field("info").unwrap_or_default();
    let info = info_raw.replace("\\\"", "\"");
    Some((name, height, info_raw, info))
}

fn save_height(home: &Path, h: u64) {
    let _ = std::fs::write(home.join("data/height"), h.to_string());
}

fn block_time(s: &St, h: u64) -> u64 {
    if h == s.height {
        s.last_ms
    } else {
        s.genesis_ms + h * s.block_ms
    }
}

fn answer(st: &Arc<Mutex<St>>, path: &str) -> (u16, String) {
    let s = st.lock().unwrap_or_else(|e| e.into_inner());
    let h = s.height;
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    match p {
        "/status" => (200, format!(
            r#"{{"jsonrpc":"2.0","id":-1,"result":{{"node_info":{{"protocol_version":{{"p2p":"8","block":"11","app":"0"}},"id":"5576458aef205977e18fd50b274e9b5d9014525a","listen_addr":"tcp://0.0.0.0:26656","network":"standin-1","version":"0.38.12","channels":"40202122233038606100","moniker":"cosmos-standin","other":{{"tx_index":"on","rpc_address":"tcp://127.0.0.1:26657"}}}},"sync_info":{{"latest_block_hash":"790BA84C3545FCCC49A5C629CEE6EA58A6E875C3862175BDC11EE7AF54703501","latest_app_hash":"C9AEBB441B787D9F1D846DE51F3826F4FD386108B59B08239653ABF59455C3F8","latest_block_height":"{h}","latest_block_time":"{}","catching_up":false}},"validator_info":{{"address":"E74FBE24164CFC4F88E311C3AC92E63D0DC310D8","voting_power":"10"}}}}}}"#,
            rfc3339(block_time(&s, h))
        )),
        "/block" => {
            let want = q
                .split('&')
                .find_map(|kv| kv.strip_prefix("height="))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(h);
            if want > h || want == 0 {
                return (500, format!(r#"{{"jsonrpc":"2.0","id":-1,"error":{{"code":-32603,"message":"Internal error","data":"height {want} must be less than or equal to the current blockchain height {h}"}}}}"#));
            }
            (200, format!(
                r#"{{"jsonrpc":"2.0","id":-1,"result":{{"block_id":{{"hash":"A769136351786B9034A5F196DC53F7E50FCEB53B48FA0786E1BFC45A0BB646B5"}},"block":{{"header":{{"version":{{"block":"11"}},"chain_id":"standin-1","height":"{want}","time":"{}","proposer_address":"E74FBE24164CFC4F88E311C3AC92E63D0DC310D8"}},"data":{{"txs":[]}}}}}}}}"#,
                rfc3339(block_time(&s, want))
            ))
        }
        "/net_info" => {
            let peers = std::fs::read_to_string(s.home.join("peers"))
                .ok()
                .and_then(|p| p.trim().parse::<u64>().ok())
                .unwrap_or(2);
            (200, format!(r#"{{"jsonrpc":"2.0","id":-1,"result":{{"listening":true,"listeners":["Listener(@)"],"n_peers":"{peers}","peers":[]}}}}"#))
        }
        "/abci_info" => (200, format!(
            r#"{{"jsonrpc":"2.0","id":-1,"result":{{"response":{{"data":"StandinApp","version":"{}","last_block_height":"{h}","last_block_app_hash":"yq67RBt4fZ8dhG3lHzgm9P04YQi1mwgjllOr9ZRVw/g="}}}}}}"#,
            s.version
        )),
        "/cosmos/upgrade/v1beta1/current_plan" => match plan(&s.home) {
            Some((name, height, info_raw, _)) => (200, format!(
                r#"{{"plan":{{"name":"{name}","time":"0001-01-01T00:00:00Z","height":"{height}","info":"{info_raw}","upgraded_client_state":null}}}}"#
            )),
            None => (200, r#"{"plan":null}"#.into()),
        },
        _ => validator_answer(&s.home, p),
    }
}

/// The validator's REST answers, from files under `<home>`: `jailed`, `tombstoned` (present or
/// not), `missed` (blocks missed of a 100-block window), `proposals.json` (the proposals in their
/// voting period), `voted-<id>` (the validator voted on proposal `id`).
fn validator_answer(home: &Path, p: &str) -> (u16, String) {
    let has = |f: &str| home.join(f).exists();
    if let Some(valoper) = p.strip_prefix("/cosmos/staking/v1beta1/validators/") {
        return (200, format!(
            r#"{{"validator":{{"operator_address":"{valoper}","consensus_pubkey":{{"@type":"/cosmos.crypto.ed25519.PubKey","key":"q9tU6Y0CydbQuBn0v9oFnY1yRcn9vJ5NE4xYvqOd8J0="}},"jailed":{},"status":"BOND_STATUS_BONDED","tokens":"1000000000","delegator_shares":"1000000000.000000000000000000","description":{{"moniker":"cosmos-standin"}},"unbonding_height":"0","unbonding_time":"1970-01-01T00:00:00Z","min_self_delegation":"1"}}}}"#,
            has("jailed") || has("tombstoned")
        ));
    }
    if let Some(cons) = p.strip_prefix("/cosmos/slashing/v1beta1/signing_infos/") {
        let missed = std::fs::read_to_string(home.join("missed"))
            .ok()
            .and_then(|m| m.trim().parse::<u64>().ok())
            .unwrap_or(0);
        return (200, format!(
            r#"{{"val_signing_info":{{"address":"{cons}","start_height":"0","index_offset":"1","jailed_until":"1970-01-01T00:00:00Z","tombstoned":{},"missed_blocks_counter":"{missed}"}}}}"#,
            has("tombstoned")
        ));
    }
    if p == "/cosmos/slashing/v1beta1/params" {
        return (200, r#"{"params":{"signed_blocks_window":"100","min_signed_per_window":"0.050000000000000000","downtime_jail_duration":"600s","slash_fraction_double_sign":"0.050000000000000000","slash_fraction_downtime":"0.000100000000000000"}}"#.into());
    }
    if p == "/cosmos/gov/v1/proposals" {
        let body = std::fs::read_to_string(home.join("proposals.json"))
            .unwrap_or_else(|_| r#"{"proposals":[],"pagination":{"next_key":null,"total":"0"}}"#.into());
        return (200, body);
    }
    if let Some(rest) = p.strip_prefix("/cosmos/gov/v1/proposals/") {
        if let Some((id, voter)) = rest.split_once("/votes/") {
            if has(&format!("voted-{id}")) {
                return (200, format!(
                    r#"{{"vote":{{"proposal_id":"{id}","voter":"{voter}","options":[{{"option":"VOTE_OPTION_YES","weight":"1.000000000000000000"}}],"metadata":""}}}}"#
                ));
            }
            return (404, format!(
                r#"{{"code":5,"message":"vote not found for proposal {id} and voter {voter}: key not found","details":[]}}"#
            ));
        }
    }
    (404, r#"{"code":5,"message":"Not Implemented","details":[]}"#.into())
}

fn serve(listener: TcpListener, st: Arc<Mutex<St>>) {
    for conn in listener.incoming().flatten() {
        let st = st.clone();
        std::thread::spawn(move || handle(conn, &st));
    }
}

fn handle(mut conn: TcpStream, st: &Arc<Mutex<St>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut r = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut first = String::new();
    if r.read_line(&mut first).is_err() {
        return;
    }
    loop {
        let mut l = String::new();
        match r.read_line(&mut l) {
            Ok(0) | Err(_) => break,
            Ok(_) if l == "\r\n" || l == "\n" => break,
            _ => {}
        }
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (code, body) = answer(st, &path);
    let reason = if code == 200 { "OK" } else { "Error" };
    let _ = write!(
        conn,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let home = PathBuf::from(arg("--home").expect("--home"));
    let version = arg("--version").expect("--version");
    let rpc: u16 = arg("--rpc").expect("--rpc").parse().expect("port");
    let api: u16 = arg("--api").expect("--api").parse().expect("port");
    let block_ms: u64 = arg("--block-ms").map_or(1000, |v| v.parse().expect("ms"));
    std::fs::create_dir_all(home.join("data")).expect("home");
    let height = std::fs::read_to_string(home.join("data/height"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1);
    let genesis_ms = std::fs::read_to_string(home.join("data/genesis_ms"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            let g = now_ms().saturating_sub(height * block_ms);
            let _ = std::fs::write(home.join("data/genesis_ms"), g.to_string());
            g
        });
    if let Some((name, h, _, _)) = plan(&home) {
        if name == version && height + 1 < h {
            eprintln!("BINARY UPDATED BEFORE TRIGGER! UPGRADE \"{name}\" - in binary but not executed on chain. Downgrade your binary");
            std::process::exit(1);
        }
    }
    println!("cosmos-standin {version} (a stand-in, not a Cosmos SDK node) at height {height}");
    let st = Arc::new(Mutex::new(St {
        home: home.clone(),
        version: version.clone(),
        height,
        genesis_ms,
        block_ms,
        last_ms: genesis_ms + height * block_ms,
    }));
    for port in [rpc, api] {
        let l = TcpListener::bind(("127.0.0.1", port)).expect("bind");
        let st = st.clone();
        std::thread::spawn(move || serve(l, st));
    }
    loop {
        std::thread::sleep(Duration::from_millis(block_ms));
        // `<home>/pause`: the chain makes no blocks (the RPC still answers), as a stalled chain
        // (the latest block keeps its time; the next one is stamped with the time it is made)
        if home.join("pause").exists() {
            continue;
        }
        let next = st.lock().map(|s| s.height + 1).unwrap_or(1);
        if let Some((name, h, info_raw, info)) = plan(&home) {
            if next == h {
                if name == version {
                    let _ = std::fs::write(home.join("data").join(format!("applied-{name}")), "");
                    println!("applying upgrade \"{name}\" at height: {h}");
                } else {
                    let _ = std::fs::write(
                        home.join("data/upgrade-info.json"),
                        format!(r#"{{"name":"{name}","time":"0001-01-01T00:00:00Z","height":{h},"info":"{info_raw}"}}"#),
                    );
                    eprintln!("UPGRADE \"{name}\" NEEDED at height: {h}: {info}");
                    std::process::exit(1);
                }
            }
        }
        if let Ok(mut s) = st.lock() {
            s.height = next;
            s.last_ms = now_ms();
        }
        save_height(&home, next);
    }
}
