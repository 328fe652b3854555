//! Declared node state from playbooks: `[state]`, `[groups.G.state]`, `[hosts.H.state]` and
//! `[nodes."host/node".state]`, later ones overriding earlier ones in that order.
//!
//! Owns: the `state` sections of playbook files and their diagnostics. May not touch: other
//! sections (the upgrade policy is read by `playbook`), the network, the hosts.

mod read;

use crate::inventory::Excerpt;
use crate::inventory::{Inventory, NodeRef};
use crate::plan::unitfile::UnitDef;
use miette::SourceSpan;
use semver::Version;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// Which version a node should run.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionWant {
    /// nodeherd does not touch the version (default).
    #[default]
    Unmanaged,
    /// The newest version the upgrade policy allows now (delay, pin, channel).
    Policy,
    /// Exactly this version.
    Exact(Version),
}

/// The declared state of one node, after precedence.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Desired {
    /// `Some(true)`: running (and enabled); `Some(false)`: stopped; None: not managed.
    pub running: Option<bool>,
    pub version: VersionWant,
    /// Installed (provisioned) when missing; false (default): never installed by nodeherd.
    pub present: bool,
    /// A Cosmos node: `apply` runs its chain's pending upgrade (stage the plan's binary ahead,
    /// switch at the halt), as `nodeherd cosmos upgrade` does. False (default): it does not.
    pub chain_upgrades: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    running: Option<bool>,
    version: Option<String>,
    present: Option<bool>,
    chain_upgrades: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct RawSection {
    #[serde(default)]
    state: Option<Spanned<toml::Value>>,
    #[serde(default)]
    unit: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawFile {
    #[serde(default)]
    state: Option<Spanned<toml::Value>>,
    #[serde(default)]
    unit: Option<Spanned<toml::Value>>,
    #[serde(default)]
    groups: BTreeMap<Spanned<String>, RawSection>,
    #[serde(default)]
    hosts: BTreeMap<Spanned<String>, RawSection>,
    #[serde(default)]
    nodes: BTreeMap<Spanned<String>, RawSection>,
}

/// A problem in a playbook's state sections.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
#[diagnostic(code(playbook::state))]
pub struct StateProblem {
    pub message: String,
    #[help]
    pub help: Option<String>,
    /// The file as a report shows it (very long lines cut around the span).
    #[source_code]
    pub src: Excerpt,
    #[label("here")]
    pub span: Option<SourceSpan>,
}

/// Every problem found, all at once.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{} problem(s) in the playbook's state sections", problems.len())]
pub struct StateError {
    #[related]
    pub problems: Vec<StateProblem>,
}

#[derive(Debug, Clone, Default)]
struct Layer {
    running: Option<bool>,
    version: Option<VersionWant>,
    present: Option<bool>,
    chain_upgrades: Option<bool>,
    /// Where this layer was declared (for diagnostics about the merged result).
    span: Option<(usize, std::ops::Range<usize>)>,
}

impl Layer {
    fn over(&self, base: &mut Desired) {
        if let Some(r) = self.running {
            base.running = Some(r);
        }
        if let Some(p) = self.present {
            base.present = p;
        }
        if let Some(c) = self.chain_upgrades {
            base.chain_upgrades = c;
        }
        if let Some(v) = &self.version {
            base.version = v.clone();
        }
    }
}

/// Declared state for every node of an inventory.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    defaults: Layer,
    groups: BTreeMap<String, Layer>,
    hosts: BTreeMap<String, Layer>,
    nodes: BTreeMap<String, Layer>,
    units: UnitLayers,
}

/// `[unit]` sections by level, merged field by field like the state sections.
#[derive(Debug, Clone, Default)]
struct UnitLayers {
    defaults: UnitDef,
    groups: BTreeMap<String, UnitDef>,
    hosts: BTreeMap<String, UnitDef>,
    nodes: BTreeMap<String, UnitDef>,
}

impl DesiredState {
    /// Parse the state sections of playbook files `(name, text)`; names referenced must exist in `inv`.
    pub fn parse(files: &[(String, String)], inv: &Inventory) -> Result<DesiredState, StateError> {
        let mut out = DesiredState::default();
        let mut problems = Vec::new();
        for (fi, (name, text)) in files.iter().enumerate() {
            let f = read::FileReader { fi, name, text };
            let raw: RawFile = match toml::from_str(text) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(f.prob(format!("{name}: {}", e.message()), None, e.span()));
                    continue;
                }
            };
            f.read(&raw, inv, &mut out, &mut problems);
        }
        // Nodes declared present must be installable: a version to install and a complete unit.
        if problems.is_empty() {
            read::check_present(&out, files, inv, &mut problems);
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(StateError { problems })
        }
    }

    /// The declared state of one node: [state] < its groups (inventory order) < host < node.
    pub fn for_node(&self, inv: &Inventory, r: NodeRef) -> Desired {
        let (host, node) = inv.node(r);
        let mut d = Desired::default();
        self.defaults.over(&mut d);
        for (name, layer) in &self.groups {
            if host.groups.iter().any(|g| g == name) {
                layer.over(&mut d);
            }
        }
        if let Some(l) = self.hosts.get(&host.name) {
            l.over(&mut d);
        }
        if let Some(l) = self.nodes.get(&format!("{}/{}", host.name, node.name)) {
            l.over(&mut d);
        }
        d
    }

    /// The merged `[unit]` definition of one node: [unit] < groups < host < node.
    pub fn unit_for(&self, inv: &Inventory, r: NodeRef) -> UnitDef {
        let (host, node) = inv.node(r);
        let mut d = self.units.defaults.clone();
        for (name, u) in &self.units.groups {
            if host.groups.iter().any(|g| g == name) {
                d.merge(u);
            }
        }
        if let Some(u) = self.units.hosts.get(&host.name) {
            d.merge(u);
        }
        if let Some(u) = self
            .units
            .nodes
            .get(&format!("{}/{}", host.name, node.name))
        {
            d.merge(u);
        }
        d
    }

    /// Where the `present` that applies to a node was declared (file index, byte range).
    fn present_span(&self, inv: &Inventory, r: NodeRef) -> Option<(usize, std::ops::Range<usize>)> {
        let (host, node) = inv.node(r);
        let mut found = self.defaults.present.and(self.defaults.span.clone());
        for (name, l) in &self.groups {
            if host.groups.iter().any(|g| g == name) && l.present.is_some() {
                found = l.span.clone();
            }
        }
        if let Some(l) = self.hosts.get(&host.name).filter(|l| l.present.is_some()) {
            found = l.span.clone();
        }
        if let Some(l) = self
            .nodes
            .get(&format!("{}/{}", host.name, node.name))
            .filter(|l| l.present.is_some())
        {
            found = l.span.clone();
        }
        found
    }

    /// True when no node has any declared state.
    pub fn is_empty(&self) -> bool {
        self.defaults.running.is_none()
            && self.defaults.version.is_none()
            && self.defaults.present.is_none()
            && self.groups.is_empty()
            && self.hosts.is_empty()
            && self.nodes.is_empty()
    }
}

/// The span of `key = ...` inside the section whose value starts at `within` (for a standard
/// table toml's span covers only its header: the section runs to the next header line).
fn key_span(
    text: &str,
    within: std::ops::Range<usize>,
    key: &str,
) -> Option<std::ops::Range<usize>> {
    let sec = text.get(within.start..)?;
    let mut off = 0;
    for (n, line) in sec.split_inclusive('\n').enumerate() {
        let t = line.trim_start();
        if n > 0 && t.starts_with('[') && off >= within.end - within.start {
            break;
        }
        if t.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            let start = within.start + off + (line.len() - t.len());
            return Some(start..within.start + off + line.trim_end().len());
        }
        off += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::unitfile;
    use std::path::PathBuf;

    fn inv() -> Inventory {
        Inventory::from_sources(vec![(
            PathBuf::from("inv.toml"),
            r#"
[groups.lab]
hosts = ["a", "b"]
[hosts.a]
address = "10.0.0.1"
[hosts.a.nodes.bn]
client = "lodestar"
[hosts.b]
address = "10.0.0.2"
[hosts.b.nodes.bn]
client = "lodestar"
"#
            .into(),
        )])
        .unwrap()
    }

    #[test]
    fn precedence() {
        let inv = inv();
        let pb = r#"
[upgrade]
delay = "14d"
[state]
running = true
[groups.lab.state]
version = "policy"
[nodes."b/bn".state]
running = false
version = "1.4.2"
"#;
        let d = DesiredState::parse(&[("pb.toml".into(), pb.into())], &inv).unwrap();
        let a = d.for_node(&inv, inv.find_node("a/bn").unwrap());
        assert_eq!(
            a,
            Desired {
                running: Some(true),
                version: VersionWant::Policy,
                ..Default::default()
            }
        );
        let b = d.for_node(&inv, inv.find_node("b/bn").unwrap());
        assert_eq!(
            b,
            Desired {
                running: Some(false),
                version: VersionWant::Exact(Version::parse("1.4.2").unwrap()),
                ..Default::default()
            }
        );
    }

    #[test]
    fn problems_all_at_once_with_spans() {
        let inv = inv();
        let pb = "[state]\nrunnig = true\n[hosts.zz.state]\nrunning = true\n[nodes.\"a/bn\".state]\nversion = \"latest-ish\"\n";
        let e = DesiredState::parse(&[("pb.toml".into(), pb.into())], &inv).unwrap_err();
        assert_eq!(e.problems.len(), 3, "{e:?}");
        assert!(e.problems[0].message.contains("runnig"));
        assert!(e.problems.iter().all(|p| p.span.is_some()));
    }

    #[test]
    fn present_nodes_need_a_version_and_a_complete_unit() {
        let inv = inv();
        let ok = r#"
[groups.lab.unit]
exec_start = "/usr/local/bin/node {current}/index.js dev"
environment = ["LODESTAR_PRESET=minimal"]
[nodes."b/bn".state]
present = true
version = "1.5.1"
[nodes."b/bn".unit]
success_exit_status = "1"
"#;
        let d = DesiredState::parse(&[("pb.toml".into(), ok.into())], &inv).unwrap();
        let b = inv.find_node("b/bn").unwrap();
        assert!(d.for_node(&inv, b).present);
        assert!(!d.for_node(&inv, inv.find_node("a/bn").unwrap()).present);
        let u = d.unit_for(&inv, b);
        assert_eq!(u.success_exit_status.as_deref(), Some("1"));
        assert!(u.exec_start.as_deref().unwrap().contains("{current}"));

        let bad = "[nodes.\"b/bn\".state]\npresent = true\n";
        let e = DesiredState::parse(&[("pb.toml".into(), bad.into())], &inv).unwrap_err();
        let msgs: Vec<&str> = e.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].contains("version is not managed"), "{msgs:?}");
        assert!(msgs[1].contains("no exec_start"), "{msgs:?}");
        // The span points at the node's state section.
        let sp = e.problems[0].span.unwrap();
        assert_eq!(&bad[sp.offset()..sp.offset() + 7], "present");

        let pieces = "[nodes.\"a/bn\".unit]\nexec_start = \"node {current}/x.js\"\nenvironment = [\"A B\"]\n";
        let e = DesiredState::parse(&[("pb.toml".into(), pieces.into())], &inv).unwrap_err();
        assert_eq!(e.problems.len(), 2, "{e:?}");
        let sp = e.problems[0].span.unwrap();
        assert!(pieces[sp.offset()..].starts_with("exec_start ="), "{e:?}");
        assert!(e.problems[1].message.contains("NAME=value"), "{e:?}");
    }

    #[test]
    fn shipped_testnet_playbook_parses_against_its_documented_inventory() {
        let pb = include_str!("../../../../playbooks/testnet-lodestar.toml");
        // The inventory documented in the playbook's header comment (lines starting "#   ").
        let inv_text: String = pb
            .lines()
            .filter_map(|l| l.strip_prefix("#   "))
            .map(|l| format!("{l}\n"))
            .collect();
        let inv = Inventory::from_sources(vec![(PathBuf::from("holesky.toml"), inv_text)])
            .expect("documented inventory");
        let d = DesiredState::parse(&[("testnet-lodestar.toml".into(), pb.into())], &inv)
            .unwrap_or_else(|e| panic!("{e:?}"));
        for n in ["holesky-1/lodestar-bn", "holesky-1/lodestar-vc"] {
            let r = inv.find_node(n).unwrap();
            let want = d.for_node(&inv, r);
            assert!(want.present && want.running == Some(true), "{n}");
            assert_eq!(want.version, VersionWant::Policy);
            let u = d.unit_for(&inv, r);
            assert_eq!(u.user.as_deref(), Some("lodestar"));
            let text = unitfile::render(n, "/opt/nodeherd/x", &u);
            assert!(
                text.contains("ExecStart=/opt/nodeherd/x/current/lodestar "),
                "{text}"
            );
        }
        let policy = crate::playbook::Playbook::parse("testnet-lodestar.toml", pb).unwrap();
        let s = policy.settings_for(&inv, inv.find_node("holesky-1/lodestar-bn").unwrap());
        assert_eq!(s.policy.delay, chrono::Duration::days(14));
    }
}
