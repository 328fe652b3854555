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
//! With `--p2p PORT --peers ADDR:PORT,...` it is one node of a shared stand-in chain (a RECORDED
//! stand-in of CometBFT consensus too, no real consensus): heights follow the clock from the
//! shared `<home>/data/genesis_ms`; a node whose `config/priv_validator_key.json` address (read at
//! start, as CometBFT loads its key) is in `<home>/validator_set` "signs" each block it makes as
//! CometBFT's FilePV does: never at or below the height/round/step of
//! `data/priv_validator_state.json` (CometBFT's double-sign check, "height regression"), which
//! it then updates; it tells its peers (`GET /vote?height=H&address=A` on their p2p port), and
//! `/commit?height=H` lists the validator set's signatures it has (block_id_flag 2; absent 1) in
//! CometBFT's shape (tests/fixtures/cosmos/commit.json). The signature bytes are not real Ed25519
//! signatures; `/validators` and `/status` `validator_info` (its own key, voting power 10 in the
//! set, 0 outside it) answer as CometBFT does.
//!
//! Args: --home DIR --rpc PORT --api PORT --version NAME [--block-ms N] [--p2p PORT --peers LIST]
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
    /// Chain mode: this node's key address (when its home has one), the validator set, and the
    /// signatures seen per height.
    chain: Option<Chain>,
    version: String,
    height: u64,
    genesis_ms: u64,
    block_ms: u64,
    /// When the latest block was made.
    last_ms: u64,
}

struct Chain {
    me: Option<String>,
    set: Vec<String>,
    votes: std::collections::BTreeMap<u64, std::collections::BTreeSet<String>>,
}

/// The string value of `"key":"..."` in a JSON text (the files here are flat enough).
fn json_str(body: &str, key: &str) -> Option<String> {
    let at = body.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = body[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// The (height, round, step) of `data/priv_validator_state.json`.
fn last_signed(home: &Path) -> (u64, i64, i64) {
    let t = std::fs::read_to_string(home.join("data/priv_validator_state.json")).unwrap_or_default();
    let num = |k: &str| -> i64 {
        let Some(at) = t.find(&format!("\"{k}\"")) else { return 0 };
        let rest = t[at + k.len() + 2..].trim_start().trim_start_matches(':').trim_start();
        let rest = rest.trim_start_matches('"');
        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        rest[..end].parse().unwrap_or(0)
    };
    (num("height") as u64, num("round"), num("step"))
}

/// Sign height `h` as CometBFT's FilePV would: refused at or below the last signed state,
/// else the state file is updated first (atomically, 0600).
fn sign(home: &Path, h: u64) -> bool {
    if last_signed(home) >= (h, 0, 3) {
        eprintln!("height regression: not signing {h} (last signed {:?})", last_signed(home));
        return false;
    }
    let body = format!(
        "{{\n  \"height\": \"{h}\",\n  \"round\": 0,\n  \"step\": 3,\n  \"signature\": \"c3RhbmRpbi1ub3QtYS1yZWFsLXNpZ25hdHVyZQ==\",\n  \"signbytes\": \"7374616E64696E\"\n}}"
    );
    let f = home.join("data/priv_validator_state.json");
    let tmp = home.join("data/.priv_validator_state.tmp");
    use std::os::unix::fs::OpenOptionsExt;
    let ok = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut w| w.write_all(body.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, &f))
        .is_ok();
    ok
}

/// Tell every peer that `address` signed `h` (best effort, as gossip over a lossy network).
fn gossip(peers: &[String], h: u64, address: &str) {
    for p in peers {
        let Ok(a) = p.parse::<std::net::SocketAddr>() else { continue };
        if let Ok(mut c) = TcpStream::connect_timeout(&a, Duration::from_millis(300)) {
            let _ = c.set_write_timeout(Some(Duration::from_millis(300)));
            let _ = write!(c, "GET /vote?height={h}&address={address} HTTP/1.1\r\n\r\n");
        }
    }
}

fn query(q: &str, k: &str) -> Option<String> {
    q.split('&').find_map(|kv| kv.strip_prefix(&format!("{k}="))).map(str::to_string)
}

/// `/commit?height=H`, `/validators`, `/vote` of chain mode.
fn chain_answer(s: &mut St, p: &str, q: &str) -> Option<(u16, String)> {
    let h = s.height;
    let c = s.chain.as_mut()?;
    match p {
        "/vote" => {
            let hh = query(q, "height")?.parse().ok()?;
            c.votes.entry(hh).or_default().insert(query(q, "address")?);
            Some((200, "{}".into()))
        }
        "/validators" => {
            let vals: Vec<String> = c.set.iter().map(|a| format!(
                r#"{{"address":"{a}","pub_key":{{"type":"tendermint/PubKeyEd25519","value":"UjxDQgVTlHJOZ7axpMl/iczMIJXiQpFxCFjwKGvzYqE="}},"voting_power":"10","proposer_priority":"0"}}"#
            )).collect();
            Some((200, format!(
                r#"{{"jsonrpc":"2.0","id":-1,"result":{{"block_height":"{h}","validators":[{}],"count":"{n}","total":"{n}"}}}}"#,
                vals.join(","),
                n = c.set.len()
            )))
        }
        "/commit" => {
            let want = query(q, "height").and_then(|v| v.parse::<u64>().ok()).unwrap_or(h);
            if want > h || want == 0 {
                return Some((500, format!(r#"{{"jsonrpc":"2.0","id":-1,"error":{{"code":-32603,"message":"Internal error","data":"height {want} must be less than or equal to the current blockchain height {h}"}}}}"#)));
            }
            let seen = c.votes.get(&want);
            let sigs: Vec<String> = c.set.iter().map(|a| if seen.is_some_and(|v| v.contains(a)) {
                format!(r#"{{"block_id_flag":2,"validator_address":"{a}","timestamp":"{}","signature":"c3RhbmRpbi1ub3QtYS1yZWFsLXNpZ25hdHVyZQ=="}}"#, rfc3339(s.genesis_ms + want * s.block_ms))
            } else {
                r#"{"block_id_flag":1,"validator_address":"","timestamp":"0001-01-01T00:00:00Z","signature":null}"#.to_string()
            }).collect();
            Some((200, format!(
                r#"{{"jsonrpc":"2.0","id":-1,"result":{{"signed_header":{{"header":{{"version":{{"block":"11"}},"chain_id":"standin-1","height":"{want}","time":"{}"}},"commit":{{"height":"{want}","round":0,"block_id":{{"hash":"A769136351786B9034A5F196DC53F7E50FCEB53B48FA0786E1BFC45A0BB646B5"}},"signatures":[{}]}}}},"canonical":true}}}}"#,
                rfc3339(s.genesis_ms + want * s.block_ms),
                sigs.join(",")
            )))
        }
        _ => None,
    }
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
    let mut s = st.lock().unwrap_or_else(|e| e.into_inner());
    let h = s.height;
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    if let Some(a) = chain_answer(&mut s, p, q) {
        return a;
    }
    let (me, power) = match &s.chain {
        Some(c) => {
            // No key file: an address that is nobody's (a real node always has one).
            let me = c.me.clone().unwrap_or_else(|| "0".repeat(40));
            let power = if c.set.contains(&me) { 10 } else { 0 };
            (me, power)
        }
        None => ("E74FBE24164CFC4F88E311C3AC92E63D0DC310D8".to_string(), 10),
    };
    match p {
        "/status" => (200, format!(
            r#"{{"jsonrpc":"2.0","id":-1,"result":{{"node_info":{{"protocol_version":{{"p2p":"8","block":"11","app":"0"}},"id":"5576458aef205977e18fd50b274e9b5d9014525a","listen_addr":"tcp://0.0.0.0:26656","network":"standin-1","version":"0.38.12","channels":"40202122233038606100","moniker":"cosmos-standin","other":{{"tx_index":"on","rpc_address":"tcp://127.0.0.1:26657"}}}},"sync_info":{{"latest_block_hash":"790BA84C3545FCCC49A5C629CEE6EA58A6E875C3862175BDC11EE7AF54703501","latest_app_hash":"C9AEBB441B787D9F1D846DE51F3826F4FD386108B59B08239653ABF59455C3F8","latest_block_height":"{h}","latest_block_time":"{}","catching_up":false}},"validator_info":{{"address":"{me}","voting_power":"{power}"}}}}}}"#,
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
    let p2p: Option<u16> = arg("--p2p").map(|v| v.parse().expect("port"));
    let peers: Vec<String> = arg("--peers")
        .map(|v| v.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    let chain = p2p.map(|_| Chain {
        me: std::fs::read_to_string(home.join("config/priv_validator_key.json"))
            .ok()
            .and_then(|t| json_str(&t, "address"))
            .map(|a| a.to_ascii_uppercase()),
        set: std::fs::read_to_string(home.join("validator_set"))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .collect(),
        votes: std::collections::BTreeMap::new(),
    });
    // Chain mode: the height is the shared clock's (a synced node catches up at once).
    let height = if chain.is_some() {
        now_ms().saturating_sub(genesis_ms) / block_ms
    } else {
        height
    };
    let signer = chain
        .as_ref()
        .and_then(|c| c.me.clone().filter(|m| c.set.contains(m)));
    println!(
        "cosmos-standin {version} (a stand-in, not a Cosmos SDK node) at height {height}{}",
        match &signer {
            Some(a) => format!(", signing as validator {a}"),
            None => String::new(),
        }
    );
    let st = Arc::new(Mutex::new(St {
        chain,
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
    if let Some(port) = p2p {
        let l = TcpListener::bind(("0.0.0.0", port)).expect("bind p2p");
        let st = st.clone();
        std::thread::spawn(move || serve(l, st));
    }
    loop {
        if p2p.is_some() {
            let cur = st.lock().map(|s| s.height).unwrap_or(0);
            let at = genesis_ms + (cur + 1) * block_ms;
            std::thread::sleep(Duration::from_millis(at.saturating_sub(now_ms()).max(1)));
            let h = now_ms().saturating_sub(genesis_ms) / block_ms;
            if h <= cur {
                continue;
            }
            if let Some(a) = &signer {
                if sign(&home, h) {
                    if let Ok(mut s) = st.lock() {
                        if let Some(c) = s.chain.as_mut() {
                            c.votes.entry(h).or_default().insert(a.clone());
                        }
                    }
                    let (peers, a) = (peers.clone(), a.clone());
                    std::thread::spawn(move || gossip(&peers, h, &a));
                }
            }
            if let Ok(mut s) = st.lock() {
                s.height = h;
                s.last_ms = now_ms();
            }
            save_height(&home, h);
            continue;
        }
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
