//! A Cosmos SDK chain upgrade plan: the answer of `/cosmos/upgrade/v1beta1/current_plan`, the
//! Cosmovisor `info` form that names the binaries (`{"binaries":{"linux/amd64":
//! "URL?checksum=sha256:..."}}`), and the choice of the binary for a host's platform.
//!
//! Owns: those parsers and every refusal of a plan's binary (no checksum, not SHA-256, no binary
//! for the host's platform, a height already passed). May not touch: I/O (the engine reads the
//! node's REST API and downloads the binary).

use serde_json::Value;
use std::collections::BTreeMap;

use crate::facts::platform::{Arch, Os, Platform};
use crate::releases::assets::ArchiveKind;

/// A pending upgrade plan of the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UpgradePlan {
    pub name: String,
    pub height: u64,
    /// The plan's `info` as written on chain (often the binaries JSON).
    pub info: String,
}

/// Why a plan answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanReadError {
    #[error("current_plan is not JSON: {0}")]
    NotJson(String),
    #[error("current_plan has no `plan` field: {0}")]
    NoPlanField(String),
    #[error(
        "the plan `{name}` has no usable height ({height}); time-based plans are not supported"
    )]
    BadHeight { name: String, height: String },
}

/// `/cosmos/upgrade/v1beta1/current_plan`: `{"plan": null}` (nothing pending) or
/// `{"plan":{"name":"v19","time":"0001-01-01T00:00:00Z","height":"20739800","info":"...",
/// "upgraded_client_state":null}}` (the height is an int64, hence a JSON string).
pub fn parse_current_plan(body: &str) -> Result<Option<UpgradePlan>, PlanReadError> {
    let v: Value = serde_json::from_str(body)
        .map_err(|_| PlanReadError::NotJson(crate::text::sanitize(&short(body))))?;
    let Some(p) = v.get("plan") else {
        return Err(PlanReadError::NoPlanField(crate::text::sanitize(&short(
            body,
        ))));
    };
    if p.is_null() {
        return Ok(None);
    }
    let name = p
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let raw = p.get("height").cloned().unwrap_or(Value::Null);
    let height = raw
        .as_str()
        .and_then(|s| s.parse::<u64>().ok())
        .or_else(|| raw.as_u64())
        .filter(|h| *h > 0)
        .ok_or_else(|| PlanReadError::BadHeight {
            name: name.clone(),
            height: raw.to_string(),
        })?;
    let info = p
        .get("info")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok(Some(UpgradePlan { name, height, info }))
}

fn short(s: &str) -> String {
    let s = s.trim();
    if s.len() > 160 {
        let mut end = 160;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_string()
    }
}

/// The binary a plan names for one platform, with its verified-to-be digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlanBinary {
    /// The `info` key it came from (`linux/amd64`, or `any`).
    pub key: String,
    /// The download URL without the `checksum` query parameter.
    pub url: String,
    pub sha256: String,
    /// The file name the URL ends with.
    pub asset: String,
    pub kind: ArchiveKind,
}

/// Why a plan's binary is refused; the Display is the reason users see. Nothing is changed on
/// any host when one of these comes back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanRefusal {
    #[error(
        "upgrade `{name}`: its info is not Cosmovisor's binaries JSON ({info}); stage the binary yourself"
    )]
    NoBinaries { name: String, info: String },
    #[error(
        "upgrade `{name}`: the binary for {key} ({url}) carries no checksum; refusing an unverified binary (want `?checksum=sha256:<64 hex>`)"
    )]
    NoChecksum {
        name: String,
        key: String,
        url: String,
    },
    #[error(
        "upgrade `{name}`: the checksum of the binary for {key} is `{checksum}`, not sha256:<64 hex>; refusing it"
    )]
    BadChecksum {
        name: String,
        key: String,
        checksum: String,
    },
    #[error("upgrade `{name}`: no binary for {platform} (the plan names: {offered})")]
    NoPlatform {
        name: String,
        platform: String,
        offered: String,
    },
    #[error("upgrade `{name}`: the name cannot be a directory name")]
    BadName { name: String },
    #[error(
        "upgrade `{name}` at height {height}: the node is already at height {at}; the height has passed"
    )]
    HeightPassed { name: String, height: u64, at: u64 },
}

/// Cosmovisor's spelling of a platform: `linux/amd64`, `linux/arm64`, `darwin/amd64`.
pub fn cosmovisor_key(p: &Platform) -> String {
    let os = match &p.os {
        Os::Linux => "linux".to_string(),
        Os::Darwin => "darwin".to_string(),
        Os::Other(s) => s.clone(),
    };
    let arch = match &p.arch {
        Arch::X86_64 => "amd64".to_string(),
        Arch::Aarch64 => "arm64".to_string(),
        Arch::Other(s) => s.clone(),
    };
    format!("{os}/{arch}")
}

/// The `binaries` map of a plan's `info`, as written (key -> URL with its checksum).
pub fn binaries(info: &str) -> Option<BTreeMap<String, String>> {
    let v: Value = serde_json::from_str(info.trim()).ok()?;
    let map = v.get("binaries")?.as_object()?;
    Some(
        map.iter()
            .filter_map(|(k, u)| Some((k.clone(), u.as_str()?.to_string())))
            .collect(),
    )
}

/// Whether `name` is a safe directory name (`releases/<name>/`, `upgrades/<name>/`).
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The binary `plan` names for `platform` (its own key, else `any`), verified to carry a
/// SHA-256 checksum.
pub fn binary_for(plan: &UpgradePlan, platform: &Platform) -> Result<PlanBinary, PlanRefusal> {
    if !safe_name(&plan.name) {
        return Err(PlanRefusal::BadName {
            name: plan.name.clone(),
        });
    }
    let Some(map) = binaries(&plan.info) else {
        return Err(PlanRefusal::NoBinaries {
            name: plan.name.clone(),
            info: crate::text::sanitize(&short(&plan.info)),
        });
    };
    let want = cosmovisor_key(platform);
    let (key, raw) = match map.get(&want) {
        Some(u) => (want.clone(), u.clone()),
        None => match map.get("any") {
            Some(u) => ("any".to_string(), u.clone()),
            None => {
                let offered: Vec<&str> = map.keys().map(String::as_str).collect();
                return Err(PlanRefusal::NoPlatform {
                    name: plan.name.clone(),
                    platform: want,
                    offered: if offered.is_empty() {
                        "nothing".into()
                    } else {
                        offered.join(", ")
                    },
                });
            }
        },
    };
    let (url, checksum) = split_checksum(&raw);
    let Some(checksum) = checksum else {
        return Err(PlanRefusal::NoChecksum {
            name: plan.name.clone(),
            key,
            url: crate::text::sanitize(&raw),
        });
    };
    let sha = checksum
        .strip_prefix("sha256:")
        .map(str::to_ascii_lowercase)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    let Some(sha256) = sha else {
        return Err(PlanRefusal::BadChecksum {
            name: plan.name.clone(),
            key,
            checksum: crate::text::sanitize(&checksum),
        });
    };
    let path = url.split(['?', '#']).next().unwrap_or(&url);
    let asset = path.rsplit('/').next().unwrap_or("").to_string();
    Ok(PlanBinary {
        key,
        kind: kind_of(&asset),
        asset,
        url,
        sha256,
    })
}

/// The archive kind by the file's name; anything else is the program itself.
fn kind_of(asset: &str) -> ArchiveKind {
    let a = asset.to_ascii_lowercase();
    if a.ends_with(".tar.gz") || a.ends_with(".tgz") {
        ArchiveKind::TarGz
    } else if a.ends_with(".tar.xz") {
        ArchiveKind::TarXz
    } else if a.ends_with(".zip") {
        ArchiveKind::Zip
    } else {
        ArchiveKind::Bare
    }
}

/// Split go-getter's `checksum` query parameter off a URL: (URL without it, its value).
fn split_checksum(raw: &str) -> (String, Option<String>) {
    let raw = raw.trim();
    let Some((base, query)) = raw.split_once('?') else {
        return (raw.to_string(), None);
    };
    let mut kept = Vec::new();
    let mut checksum = None;
    for part in query.split('&') {
        match part.strip_prefix("checksum=") {
            Some(c) if !c.is_empty() => checksum = Some(c.to_string()),
            _ if part.is_empty() => {}
            _ => kept.push(part),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, checksum)
}

/// Refuse a plan whose height the node has already reached or passed without halting.
pub fn check_height(plan: &UpgradePlan, node_height: u64) -> Result<(), PlanRefusal> {
    if node_height >= plan.height {
        return Err(PlanRefusal::HeightPassed {
            name: plan.name.clone(),
            height: plan.height,
            at: node_height,
        });
    }
    Ok(())
}

/// Every binary the plan's `info` names with a SHA-256 checksum, as (digest, kind), whatever
/// the platform: what a staged program can be checked against without knowing the host's.
pub fn digests(plan: &UpgradePlan) -> Vec<(String, ArchiveKind)> {
    let Some(map) = binaries(&plan.info) else {
        return vec![];
    };
    map.values()
        .filter_map(|raw| {
            let (url, c) = split_checksum(raw);
            let sha = c?.strip_prefix("sha256:")?.to_ascii_lowercase();
            let path = url.split(['?', '#']).next().unwrap_or(&url);
            let asset = path.rsplit('/').next().unwrap_or("");
            Some((sha, kind_of(asset)))
        })
        .collect()
}
