//! The Beacon API answers `metrics` reads through a node's forward: health, syncing, version.
//!
//! Owns: asking the three endpoints and the pure parsers of the version answer
//! ([`parse_version`], [`semver_of`]; the syncing answer's parser is core's, shared with the
//! keys' quiet wait). May not touch: the SSH session itself (it goes through
//! [`super::get_through`]), the metrics page or the store.

use super::{BeaconInfo, get_through};
use nodeherd_core::health::answers::parse_syncing;
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
