//! Playbooks: fleet policy in `playbooks/*.toml`, read into typed settings.
//!
//! Owns: the playbook TOML format and its diagnostics (miette, with the offending span), and
//! merging `[upgrade]` sections: file defaults < groups (in inventory order) < host < node.
//! May not touch: the network, SSH or the managed hosts. Other sections are ignored here so other
//! features (desired state) can extend the same files.

#![allow(clippy::result_large_err)]

mod window;

use crate::inventory::{Inventory, NodeRef};
use crate::releases::policy::{Channel, Policy};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

pub use window::{Window, WindowError};

/// A playbook problem, with the file and span when there is one (large by design: it carries
/// the source text for the diagnostic; playbooks are loaded once per command).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlaybookError {
    #[error("cannot read playbook {path}: {message}")]
    Io { path: String, message: String },
    #[error("{message}")]
    #[diagnostic(help("{help}"))]
    Invalid {
        message: String,
        help: String,
        #[source_code]
        src: miette::NamedSource<String>,
        #[label("here")]
        span: Option<miette::SourceSpan>,
    },
}

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
    path: String,
    text: String,
    raw: RawFile,
}

impl Playbook {
    /// Read and check a playbook file: every setting is validated at load time.
    pub fn load(path: &Path) -> Result<Playbook, PlaybookError> {
        let text = std::fs::read_to_string(path).map_err(|e| PlaybookError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parse playbook text (pure).
    pub fn parse(name: &str, text: &str) -> Result<Playbook, PlaybookError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| PlaybookError::Invalid {
            message: format!("{name}: {}", e.message()),
            help: "see docs/upgrades.md for the [upgrade] keys".into(),
            src: miette::NamedSource::new(name, text.to_string()),
            span: e.span().map(std::convert::Into::into),
        })?;
        let pb = Playbook {
            path: name.to_string(),
            text: text.to_string(),
            raw,
        };
        // Validate every section now, so errors show before anything runs.
        let mut sections: Vec<&RawUpgrade> = pb.raw.upgrade.iter().collect();
        for s in pb
            .raw
            .groups
            .values()
            .chain(pb.raw.hosts.values())
            .chain(pb.raw.nodes.values())
        {
            sections.extend(s.upgrade.iter());
        }
        let mut acc = UpgradeSettings::default();
        for s in sections {
            pb.apply(&mut acc, s)?;
        }
        Ok(pb)
    }

    fn invalid(&self, message: String, help: &str, span: std::ops::Range<usize>) -> PlaybookError {
        PlaybookError::Invalid {
            message: format!("{}: {message}", self.path),
            help: help.to_string(),
            src: miette::NamedSource::new(&self.path, self.text.clone()),
            span: Some(span.into()),
        }
    }

    fn duration(&self, v: &Spanned<String>) -> Result<Duration, PlaybookError> {
        parse_duration(v.get_ref()).ok_or_else(|| {
            self.invalid(
                format!("`{}` is not a duration", v.get_ref()),
                "write e.g. \"14d\", \"6h\", \"90s\" or \"0s\"",
                v.span(),
            )
        })
    }

    fn apply(&self, s: &mut UpgradeSettings, r: &RawUpgrade) -> Result<(), PlaybookError> {
        if let Some(c) = &r.channel {
            s.policy.channel = match c.get_ref().as_str() {
                "stable" => Channel::Stable,
                "prerelease" | "pre-release" => Channel::Prerelease,
                other => {
                    return Err(self.invalid(
                        format!("unknown channel `{other}`"),
                        "use \"stable\" or \"prerelease\"",
                        c.span(),
                    ));
                }
            };
        }
        if let Some(p) = &r.pin {
            s.policy.pin = if p.get_ref().is_empty() {
                None
            } else {
                Some(semver::VersionReq::parse(p.get_ref()).map_err(|e| {
                    self.invalid(
                        format!("pin `{}` is not a version requirement: {e}", p.get_ref()),
                        "write e.g. \"=1.4.2\" or \"~1.5\"",
                        p.span(),
                    )
                })?)
            };
        }
        if let Some(d) = &r.delay {
            s.policy.delay =
                chrono::Duration::from_std(self.duration(d)?).unwrap_or(chrono::Duration::zero());
        }
        if let Some(d) = &r.jitter {
            s.policy.jitter =
                chrono::Duration::from_std(self.duration(d)?).unwrap_or(chrono::Duration::zero());
        }
        if let Some(list) = &r.critical {
            let mut out = Vec::new();
            for v in list {
                let parsed =
                    crate::releases::version::normalize_tag(v.get_ref()).ok_or_else(|| {
                        self.invalid(
                            format!("critical `{}` is not a version", v.get_ref()),
                            "list exact versions, e.g. [\"1.5.2\"]",
                            v.span(),
                        )
                    })?;
                out.push(parsed);
            }
            s.policy.critical = out;
        }
        if let Some(a) = r.auto_upgrade {
            s.auto_upgrade = a;
        }
        if let Some(ws) = &r.windows {
            let mut out = Vec::new();
            for w in ws {
                out.push(Window::parse(w.get_ref()).map_err(|e| {
                    self.invalid(
                        e.to_string(),
                        "write e.g. \"Mon-Fri 08:00-18:00 UTC\"",
                        w.span(),
                    )
                })?);
            }
            s.windows = out;
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
        if let Some(d) = &r.settle {
            s.settle = self.duration(d)?;
        }
        if let Some(d) = &r.health_timeout {
            s.health_timeout = self.duration(d)?;
        }
        if let Some(d) = &r.confirm_timeout {
            s.confirm_timeout = self.duration(d)?;
        }
        if let Some(d) = &r.min_quiet {
            s.min_quiet = self.duration(d)?;
        }
        if let Some(d) = &r.max_wait {
            s.max_wait = self.duration(d)?;
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
        Ok(())
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
            // Validated in `parse`: cannot fail here.
            let _ = self.apply(&mut s, l);
        }
        s
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
