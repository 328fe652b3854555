//! Playbooks: fleet policy in `playbooks/*.toml`, read into typed settings.
//!
//! Owns: the playbook TOML format and its diagnostics (every problem at once, each at its span,
//! in the inventory's [`ConfigError`]; the sections and keys in `shape`), and merging `[upgrade]`
//! sections: file defaults < groups (in inventory order) < host < node.
//! May not touch: the network, SSH or the managed hosts. The `[state]` and `[unit]` sections are
//! only named here; `crate::plan::desired` reads them.

mod shape;
mod window;

use crate::inventory::filecheck::FileCheck;
use crate::inventory::{ConfigError, Inventory, NodeRef, Problem, ProblemKind};
use crate::releases::policy::{Channel, Policy};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

pub use window::{Window, WindowError};

/// Every problem of a playbook (or that it cannot be read), as the inventory reports its own.
pub type PlaybookError = ConfigError;

/// Which nodes go first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Canary {
    /// The first N nodes of the selection.
    Count(usize),
    /// Node selectors (`host/node`, a host name, or a node name).
    Nodes(Vec<String>),
}

impl Default for Canary {
    fn default() -> Self {
        Canary::Count(1)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpgrade {
    channel: Option<Spanned<String>>,
    pin: Option<Spanned<String>>,
    delay: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    critical: Option<Vec<Spanned<String>>>,
    auto_upgrade: Option<bool>,
    windows: Option<Vec<Spanned<String>>>,
    canary: Option<Canary>,
    serial: Option<usize>,
    max_fail_percent: Option<u8>,
    health_timeout: Option<Spanned<String>>,
    settle: Option<Spanned<String>>,
    confirm_timeout: Option<Spanned<String>>,
    min_quiet: Option<Spanned<String>>,
    max_wait: Option<Spanned<String>>,
    keep: Option<usize>,
    accept_syncing: Option<bool>,
    release_feed: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Section {
    upgrade: Option<RawUpgrade>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawFile {
    upgrade: Option<RawUpgrade>,
    #[serde(default)]
    groups: BTreeMap<String, Section>,
    #[serde(default)]
    hosts: BTreeMap<String, Section>,
    /// Keyed `host/node` or a node name.
    #[serde(default)]
    nodes: BTreeMap<String, Section>,
}

/// Upgrade settings of one node, after merging.
#[derive(Debug, Clone, PartialEq)]
pub struct UpgradeSettings {
    pub policy: Policy,
    pub auto_upgrade: bool,
    pub windows: Vec<Window>,
    pub canary: Canary,
    /// Nodes per batch after the canaries.
    pub serial: usize,
    /// Stop the run when more than this share of the nodes failed.
    pub max_fail_percent: u8,
    /// How long the new version has to become healthy.
    pub health_timeout: Duration,
    /// How long a node with nothing else to check (or a validator client) must keep its unit
    /// active with no restart before it counts as healthy.
    pub settle: Duration,
    /// How long the host waits for the console's confirmation before it rolls back by itself.
    pub confirm_timeout: Duration,
    /// No duty may be due within this long when the restart begins (0 = no duty check).
    pub min_quiet: Duration,
    /// How long to wait for such a quiet moment at most.
    pub max_wait: Duration,
    /// Releases kept on the host.
    pub keep: usize,
    /// Accept `206` (syncing) from the health endpoint.
    pub accept_syncing: bool,
    /// A feed overriding the node's (URL or file).
    pub release_feed: Option<String>,
}

impl Default for UpgradeSettings {
    fn default() -> Self {
        UpgradeSettings {
            policy: Policy::default(),
            auto_upgrade: false,
            windows: vec![],
            canary: Canary::default(),
            serial: 1,
            max_fail_percent: 0,
            health_timeout: Duration::from_secs(180),
            settle: Duration::from_secs(30),
            confirm_timeout: Duration::from_secs(300),
            min_quiet: Duration::from_secs(60),
            max_wait: Duration::from_secs(600),
            keep: 3,
            accept_syncing: false,
            release_feed: None,
        }
    }
}

/// A loaded playbook (one file).
#[derive(Debug, Clone, Default)]
pub struct Playbook {
    raw: RawFile,
}

impl Playbook {
    /// Read and check a playbook file: every setting is validated at load time.
    pub fn load(path: &Path) -> Result<Playbook, PlaybookError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            let p = Problem::without_source(
                ProblemKind::Io,
                format!("cannot read playbook {name}: {e}"),
            )
            .help("pass a readable TOML file with -p");
            ConfigError::of("playbook", &format!("playbook {name}"), vec![p])
        })?;
        Self::parse(&name, &text)
    }

    /// Parse playbook text (pure): every problem at once.
    pub fn parse(name: &str, text: &str) -> Result<Playbook, PlaybookError> {
        let what = format!("playbook {name}");
        let mut fc = FileCheck::new(name, text);
        let whole = fc.text.clone();
        match toml::de::DeTable::parse(&whole) {
            Ok(doc) => shape::check(&mut fc, doc.get_ref()),
            Err(e) => fc.syntax(&e),
        }
        if !fc.problems.is_empty() {
            return Err(ConfigError::of("playbook", &what, fc.problems));
        }
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            // The shape check above accepts only what deserializes; this is a last resort.
            let span = e.span().unwrap_or(0..0);
            let p = Problem::in_text(
                name,
                &whole,
                ProblemKind::InvalidValue,
                span,
                "here",
                format!("cannot read this playbook: {}", e.message()),
            )
            .help("see docs/upgrades.md for the [upgrade] keys");
            ConfigError::of("playbook", &what, vec![p])
        })?;
        // Every value was checked by `shape` (through `check_value`).
        Ok(Playbook { raw })
    }

    /// Applies one `[upgrade]` section over `s` (its values were checked when it was parsed).
    fn apply(s: &mut UpgradeSettings, r: &RawUpgrade) {
        if let Some(c) = &r.channel {
            match c.get_ref().as_str() {
                "stable" => s.policy.channel = Channel::Stable,
                "prerelease" | "pre-release" => s.policy.channel = Channel::Prerelease,
                _ => {}
            }
        }
        if let Some(p) = &r.pin {
            s.policy.pin = semver::VersionReq::parse(p.get_ref()).ok();
        }
        let dur =
            |d: &Option<Spanned<String>>| d.as_ref().and_then(|d| parse_duration(d.get_ref()));
        let chrono_of =
            |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero());
        if let Some(d) = dur(&r.delay) {
            s.policy.delay = chrono_of(d);
        }
        if let Some(d) = dur(&r.jitter) {
            s.policy.jitter = chrono_of(d);
        }
        if let Some(list) = &r.critical {
            s.policy.critical = list
                .iter()
                .filter_map(|v| crate::releases::version::normalize_tag(v.get_ref()))
                .collect();
        }
        if let Some(a) = r.auto_upgrade {
            s.auto_upgrade = a;
        }
        if let Some(ws) = &r.windows {
            s.windows = ws
                .iter()
                .filter_map(|w| Window::parse(w.get_ref()).ok())
                .collect();
        }
        if let Some(c) = &r.canary {
            s.canary = c.clone();
        }
        if let Some(n) = r.serial {
            s.serial = n.max(1);
        }
        if let Some(p) = r.max_fail_percent {
            s.max_fail_percent = p.min(100);
        }
        let fields: [(&Option<Spanned<String>>, &mut Duration); 5] = [
            (&r.settle, &mut s.settle),
            (&r.health_timeout, &mut s.health_timeout),
            (&r.confirm_timeout, &mut s.confirm_timeout),
            (&r.min_quiet, &mut s.min_quiet),
            (&r.max_wait, &mut s.max_wait),
        ];
        for (raw, out) in fields {
            if let Some(d) = dur(raw) {
                *out = d;
            }
        }
        if let Some(k) = r.keep {
            s.keep = k.max(2);
        }
        if let Some(a) = r.accept_syncing {
            s.accept_syncing = a;
        }
        if let Some(f) = &r.release_feed {
            s.release_feed = Some(f.clone());
        }
    }

    /// The merged settings of one node: defaults < groups < host < node.
    pub fn settings_for(&self, inv: &Inventory, r: NodeRef) -> UpgradeSettings {
        let mut s = UpgradeSettings::default();
        let host = &inv.hosts[r.host];
        let node = &host.nodes[r.node];
        let mut layers: Vec<&RawUpgrade> = self.raw.upgrade.iter().collect();
        for g in &host.groups {
            if let Some(u) = self.raw.groups.get(g).and_then(|s| s.upgrade.as_ref()) {
                layers.push(u);
            }
        }
        if let Some(u) = self
            .raw
            .hosts
            .get(&host.name)
            .and_then(|s| s.upgrade.as_ref())
        {
            layers.push(u);
        }
        for key in [node.name.clone(), format!("{}/{}", host.name, node.name)] {
            if let Some(u) = self.raw.nodes.get(&key).and_then(|s| s.upgrade.as_ref()) {
                layers.push(u);
            }
        }
        for l in layers {
            Self::apply(&mut s, l);
        }
        s
    }
}

/// What is wrong with `v`, the value (or one entry of the list) of the `[upgrade]` key `key`,
/// in the operator's words, with a hint; `None` when it is fine.
pub(crate) fn check_value(key: &str, v: &str) -> Option<(String, String)> {
    let said = |why: String, help: &str| Some((why, help.to_string()));
    match key {
        "channel" if !matches!(v, "stable" | "prerelease" | "pre-release") => said(
            "is not a release channel".into(),
            "use \"stable\" or \"prerelease\"",
        ),
        "pin" if !v.is_empty() => match semver::VersionReq::parse(v) {
            Ok(_) => None,
            Err(e) => said(
                format!("is not a version requirement ({e})"),
                "write e.g. \"=1.4.2\" or \"~1.5\" (\"\" for no pin)",
            ),
        },
        "delay" | "jitter" | "health_timeout" | "settle" | "confirm_timeout" | "min_quiet"
        | "max_wait"
            if parse_duration(v).is_none() =>
        {
            said(
                "is not a duration".into(),
                "write e.g. \"14d\", \"6h\", \"90s\" or \"0s\"",
            )
        }
        "critical" if crate::releases::version::normalize_tag(v).is_none() => said(
            "is not a version".into(),
            "list exact versions, e.g. [\"1.5.2\"]",
        ),
        "windows" if Window::parse(v).is_err() => said(
            "is not a maintenance window (DAYS HH:MM-HH:MM UTC)".into(),
            "write e.g. \"Mon-Fri 08:00-18:00 UTC\" or \"Sat 22:00-02:00\"",
        ),
        _ => None,
    }
}

/// `14d`, `6h`, `90s`, `0`, or anything humantime reads.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let t = s.trim();
    if t == "0" {
        return Some(Duration::ZERO);
    }
    humantime::parse_duration(t).ok()
}

#[cfg(test)]
mod tests;

/// True when `now` is inside one of `windows` (no windows: always).
pub fn window_allowed(windows: &[Window], now: chrono::DateTime<chrono::Utc>) -> bool {
    window::allowed(windows, now)
}
