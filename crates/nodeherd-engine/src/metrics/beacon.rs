//! The Beacon API answers `metrics` reads through a node's forward: health, syncing, version.
//!
//! Owns: asking the three endpoints and the pure parsers of their answers ([`parse_syncing`],
//! [`parse_version`], [`semver_of`]). May not touch: the SSH session itself (it goes through
//! [`super::get_through`]), the metrics page or the store.

use super::{BeaconInfo, get_through};
use nodeherd_transport::ssh::Session;

pub(super) async fn beacon_info(session: &Session, port: u16) -> BeaconInfo {
    let (h, s, v) = tokio::join!(
        get_through(session, port, "/eth/v1/node/health"),
        get_through(session, port, "/eth/v1/node/syncing"),
        get_through(session, port, "/eth/v1/node/version"),
    );
    let mut b = BeaconInfo::default();
    let mut errors = Vec::new();
    match h {
        Ok(r) => b.health = Some(r.status),
        Err(e) => errors.push(e.to_string()),
    }
    match s {
        Ok(r) if r.status == 200 => match parse_syncing(&r.body) {
            Some(sy) => {
                b.head_slot = sy.head_slot;
                b.sync_distance = sy.sync_distance;
                b.is_syncing = sy.is_syncing;
                b.is_optimistic = sy.is_optimistic;
            }
            None => errors.push("syncing: unexpected JSON".into()),
        },
        Ok(r) => errors.push(format!("syncing: HTTP {}", r.status)),
        Err(e) => errors.push(e.to_string()),
    }
    match v {
        Ok(r) if r.status == 200 => b.version = parse_version(&r.body),
        Ok(r) => errors.push(format!("version: HTTP {}", r.status)),
        Err(e) => errors.push(e.to_string()),
    }
    if !errors.is_empty() {
        b.error = Some(errors.join("; "));
    }
    b
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

/// Parse `{"data":{"version":"Lodestar/v1.5.1/2115aa7"}}` (control characters removed).
pub fn parse_version(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let s = v.get("data")?.get("version")?.as_str()?;
    let clean = nodeherd_core::text::sanitize(s);
    (!clean.is_empty()).then_some(clean)
}

/// `Lodestar/v1.5.1/2115aa7` -> `1.5.1`; `v1.5.1/2115aa7` -> `1.5.1`.
pub fn semver_of(version: &str) -> Option<String> {
    version
        .split('/')
        .map(|p| p.trim_start_matches('v'))
        .find(|p| semver::Version::parse(p).is_ok())
        .map(str::to_string)
}
