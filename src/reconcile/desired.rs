//! Declared node state from playbooks: `[state]`, `[groups.G.state]`, `[hosts.H.state]` and
//! `[nodes."host/node".state]`, later ones overriding earlier ones in that order.
//!
//! Owns: the `state` sections of playbook files and their diagnostics. May not touch: other
//! sections (the upgrade policy is read by `playbook`), the network, the hosts.

use crate::inventory::{Inventory, NodeRef};
use miette::{NamedSource, SourceSpan};
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    running: Option<bool>,
    version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawSection {
    #[serde(default)]
    state: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawFile {
    #[serde(default)]
    state: Option<Spanned<toml::Value>>,
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
    #[source_code]
    pub src: NamedSource<String>,
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
}

impl Layer {
    fn over(&self, base: &mut Desired) {
        if let Some(r) = self.running {
            base.running = Some(r);
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
}

impl DesiredState {
    /// Parse the state sections of playbook files `(name, text)`; names referenced must exist in `inv`.
    pub fn parse(files: &[(String, String)], inv: &Inventory) -> Result<DesiredState, StateError> {
        let mut out = DesiredState::default();
        let mut problems = Vec::new();
        for (name, text) in files {
            let src = || NamedSource::new(name.clone(), text.clone());
            let prob = |message: String,
                        help: Option<String>,
                        span: Option<std::ops::Range<usize>>| StateProblem {
                message,
                help,
                src: src(),
                span: span.map(|r| (r.start, r.end - r.start).into()),
            };
            let raw: RawFile = match toml::from_str(text) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(prob(format!("{name}: {}", e.message()), None, e.span()));
                    continue;
                }
            };
            let layer = |v: &Spanned<toml::Value>,
                         what: &str,
                         problems: &mut Vec<StateProblem>|
             -> Option<Layer> {
                let raw: RawState = match v.get_ref().clone().try_into() {
                    Ok(r) => r,
                    Err(e) => {
                        problems.push(prob(
                            format!("{what}: {}", e.message()),
                            Some("a state section takes `running = true|false` and `version = \"policy\" | \"unmanaged\" | \"1.2.3\"`".into()),
                            Some(v.span()),
                        ));
                        return None;
                    }
                };
                let version = match &raw.version {
                    None => None,
                    Some(s) => match s.trim() {
                        "policy" => Some(VersionWant::Policy),
                        "unmanaged" => Some(VersionWant::Unmanaged),
                        other => match crate::releases::version::normalize_tag(
                            other.trim_start_matches('='),
                        ) {
                            Some(ver) => Some(VersionWant::Exact(ver)),
                            None => {
                                problems.push(prob(
                                    format!("{what}: version {other:?} is not a version"),
                                    Some("use \"policy\", \"unmanaged\" or an exact version like \"1.5.1\"".into()),
                                    Some(v.span()),
                                ));
                                None
                            }
                        },
                    },
                };
                Some(Layer {
                    running: raw.running,
                    version,
                })
            };
            if let Some(s) = &raw.state {
                if let Some(l) = layer(s, "[state]", &mut problems) {
                    out.defaults = l;
                }
            }
            for (g, sec) in &raw.groups {
                let Some(s) = &sec.state else { continue };
                if !inv.groups.contains_key(g.get_ref()) {
                    problems.push(prob(
                        format!("group {:?} is not in the inventory", g.get_ref()),
                        None,
                        Some(g.span()),
                    ));
                    continue;
                }
                if let Some(l) = layer(s, &format!("[groups.{}.state]", g.get_ref()), &mut problems)
                {
                    out.groups.insert(g.get_ref().clone(), l);
                }
            }
            for (h, sec) in &raw.hosts {
                let Some(s) = &sec.state else { continue };
                if inv.host(h.get_ref()).is_none() {
                    problems.push(prob(
                        format!("host {:?} is not in the inventory", h.get_ref()),
                        None,
                        Some(h.span()),
                    ));
                    continue;
                }
                if let Some(l) = layer(s, &format!("[hosts.{}.state]", h.get_ref()), &mut problems)
                {
                    out.hosts.insert(h.get_ref().clone(), l);
                }
            }
            for (n, sec) in &raw.nodes {
                let Some(s) = &sec.state else { continue };
                if inv.find_node(n.get_ref()).is_err() || !n.get_ref().contains('/') {
                    problems.push(prob(
                        format!("node {:?} is not in the inventory", n.get_ref()),
                        Some("name nodes as \"host/node\"".into()),
                        Some(n.span()),
                    ));
                    continue;
                }
                if let Some(l) = layer(
                    s,
                    &format!("[nodes.\"{}\".state]", n.get_ref()),
                    &mut problems,
                ) {
                    out.nodes.insert(n.get_ref().clone(), l);
                }
            }
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

    /// True when no node has any declared state.
    pub fn is_empty(&self) -> bool {
        self.defaults.running.is_none()
            && self.defaults.version.is_none()
            && self.groups.is_empty()
            && self.hosts.is_empty()
            && self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
                version: VersionWant::Policy
            }
        );
        let b = d.for_node(&inv, inv.find_node("b/bn").unwrap());
        assert_eq!(
            b,
            Desired {
                running: Some(false),
                version: VersionWant::Exact(Version::parse("1.4.2").unwrap())
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
}
