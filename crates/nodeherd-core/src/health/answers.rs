//! Pure parsers of the answers each probe API gives, tested on captured real answers.
//!
//! Owns: reading a version, a progress number, a peer count and a syncing flag out of one
//! answer body, and whether a reported version names a wanted one. May not touch: sending
//! requests (the engine does), judging health over time (that is [`super::gate`]).

use serde_json::Value;

/// Whether a client version string names `want`: `Lodestar/v1.5.1/2115aa7`,
/// `EthereumJS/0.10.5/linux/node20.20.2`, `Geth/v1.14.0-stable-abc/linux-amd64/go1.22`,
/// `Nimbus/v24.1.0-abc123`, `0.37.2`, `1.0.0-abcdef` (Substrate).
pub fn version_matches(reported: &str, want: &str) -> bool {
    let want = want.trim_start_matches('v');
    reported.split(['/', ' ']).any(|part| {
        let p = part.trim_start_matches('v');
        p == want
            || p.strip_prefix(want)
                .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('+'))
    })
}

/// Whether a Cosmos app version (`/abci_info`: `v19.0.0`, `19.0.1-rc0`) runs the chain upgrade
/// `name`: the version itself, or a name like `v19` that is its major version. A name that is no
/// version at all (`Greenhouse`, `v2-upgrade`... with no digit after the `v`) says nothing a node
/// reports: it matches, and the host's `current` link is the version fact.
pub fn upgrade_name_matches(reported: &str, name: &str) -> bool {
    if version_matches(reported, name) {
        return true;
    }
    let n = name.trim_start_matches('v');
    if !n.starts_with(|c: char| c.is_ascii_digit()) {
        return true;
    }
    reported.split(['/', ' ']).any(|part| {
        part.trim_start_matches('v')
            .strip_prefix(n)
            .is_some_and(|rest| rest.starts_with(['.', '-', '+']))
    })
}

/// Cosmos ABCI `/abci_info`: the application's version (`result.response.version`).
pub fn abci_version(body: &str) -> Option<String> {
    let v = json(body)?;
    v.get("result")
        .unwrap_or(&v)
        .pointer("/response/version")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn json(body: &str) -> Option<Value> {
    serde_json::from_str(body).ok()
}

/// Beacon API `/eth/v1/node/version`: `{"data":{"version":"Lodestar/v1.5.1/2115aa7"}}`.
pub fn beacon_version(body: &str) -> Option<String> {
    json(body)?
        .pointer("/data/version")?
        .as_str()
        .map(str::to_string)
}

/// Beacon API `/eth/v1/node/syncing`: the head slot (`"head_slot":"2"`).
pub fn beacon_head_slot(body: &str) -> Option<u64> {
    json(body)?
        .pointer("/data/head_slot")?
        .as_str()?
        .parse()
        .ok()
}

/// Beacon API `/eth/v1/node/syncing`: `is_syncing`.
pub fn beacon_syncing(body: &str) -> Option<bool> {
    json(body)?.pointer("/data/is_syncing")?.as_bool()
}

/// `/eth/v1/node/syncing` data (numbers are decimal strings in the Beacon API).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Syncing {
    pub head_slot: Option<u64>,
    pub sync_distance: Option<u64>,
    pub is_syncing: Option<bool>,
    pub is_optimistic: Option<bool>,
}

fn num(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Parse `{"data":{"head_slot":"4","sync_distance":"0","is_syncing":false,...}}`.
pub fn parse_syncing(body: &[u8]) -> Option<Syncing> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let d = v.get("data")?;
    Some(Syncing {
        head_slot: d.get("head_slot").and_then(num),
        sync_distance: d.get("sync_distance").and_then(num),
        is_syncing: d.get("is_syncing").and_then(serde_json::Value::as_bool),
        is_optimistic: d.get("is_optimistic").and_then(serde_json::Value::as_bool),
    })
}

/// A JSON-RPC request body.
pub fn rpc_request(method: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":[]}}"#)
}

/// The `result` of a JSON-RPC answer; `Err` holds the node's own error text.
pub fn rpc_result(body: &str) -> Result<Value, String> {
    let v = json(body).ok_or_else(|| format!("not JSON-RPC: {}", short(body)))?;
    if let Some(e) = v.get("error") {
        let msg = e.get("message").and_then(Value::as_str).unwrap_or("?");
        return Err(format!("error {msg}"));
    }
    v.get("result")
        .cloned()
        .ok_or_else(|| format!("no result in {}", short(body)))
}

fn hex(v: &Value) -> Option<u64> {
    let s = v.as_str()?;
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

/// `web3_clientVersion` / `system_version`: the version string.
pub fn rpc_string(body: &str) -> Option<String> {
    rpc_result(body).ok()?.as_str().map(str::to_string)
}

/// `eth_blockNumber` / `net_peerCount`: a hex quantity.
pub fn rpc_quantity(body: &str) -> Option<u64> {
    hex(&rpc_result(body).ok()?)
}

/// `eth_syncing`: `false`, or an object while syncing.
pub fn eth_syncing(body: &str) -> Option<bool> {
    match rpc_result(body).ok()? {
        Value::Bool(b) => Some(b),
        Value::Object(_) => Some(true),
        _ => None,
    }
}

/// What CometBFT's `/status` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CometStatus {
    pub version: Option<String>,
    pub height: Option<u64>,
    pub catching_up: Option<bool>,
}

/// CometBFT RPC `/status` (with or without the JSON-RPC envelope).
pub fn comet_status(body: &str) -> Option<CometStatus> {
    let v = json(body)?;
    let r = v.get("result").unwrap_or(&v);
    let sync = r.get("sync_info")?;
    Some(CometStatus {
        version: r
            .pointer("/node_info/version")
            .and_then(Value::as_str)
            .map(str::to_string),
        height: sync
            .get("latest_block_height")
            .and_then(|h| h.as_str().and_then(|s| s.parse().ok()).or(h.as_u64())),
        catching_up: sync.get("catching_up").and_then(Value::as_bool),
    })
}

/// Substrate `system_health`: (isSyncing, peers).
pub fn substrate_health(body: &str) -> Option<(bool, u64)> {
    let r = rpc_result(body).ok()?;
    Some((r.get("isSyncing")?.as_bool()?, r.get("peers")?.as_u64()?))
}

/// Substrate `chain_getHeader`: the header's number (hex).
pub fn substrate_best(body: &str) -> Option<u64> {
    hex(rpc_result(body).ok()?.get("number")?)
}

/// nwaku `/health` (status 200): `{"nodeHealth":"Ready",...}` in recent versions, plain text
/// before. `Some(false)` when it names a state other than Ready.
pub fn nwaku_ready(body: &str) -> Option<bool> {
    let v = json(body)?;
    let h = v.get("nodeHealth")?.as_str()?;
    Some(h.eq_ignore_ascii_case("ready"))
}

/// The client version a metrics page publishes as a `version` label of a `*_version` or
/// `*_version_info` series (`lodestar_version{version="v1.5.1/2115aa7",...} 1`); runtime
/// series (`nodejs_`, `go_`, `process_`, `python_`) are not the client's.
pub fn metrics_version(page: &str) -> Option<String> {
    page.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, rest) = l.split_once('{')?;
        let client_series = (name.ends_with("_version") || name.ends_with("_version_info"))
            && !["nodejs_", "go_", "process_", "python_"]
                .iter()
                .any(|p| name.starts_with(p));
        if !client_series {
            return None;
        }
        let at = rest.find("version=\"")? + "version=\"".len();
        let v = &rest[at..];
        Some(v[..v.find('"')?].to_string())
    })
}

/// Whether a metrics page holds at least one sample.
pub fn metrics_alive(page: &str) -> bool {
    page.lines()
        .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
}

/// An answer as messages quote it: one line, control characters escaped, at most 160 chars.
pub fn short(body: &str) -> String {
    let one: String = crate::text::sanitize(body.trim())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if one.chars().count() > 160 {
        format!("{}…", one.chars().take(160).collect::<String>())
    } else {
        one
    }
}
