//! Reading one playbook file's `[state]` and `[unit]` sections (top level, groups, hosts,
//! nodes) into layers, and the check that nodes declared present can be installed.
//!
//! Owns: the diagnostics of those sections (with their spans). May not touch: how layers merge
//! for a node (the parent module), other playbook sections, the network, the hosts.

use crate::inventory::Excerpt;
use toml::Spanned;

use super::{DesiredState, Layer, RawFile, RawState, StateProblem, VersionWant, key_span};
use crate::inventory::Inventory;
use crate::plan::unitfile::{self, UnitDef};

/// One playbook file being read: its index among the files, its name and its text.
pub(super) struct FileReader<'a> {
    pub fi: usize,
    pub name: &'a str,
    pub text: &'a str,
}

impl FileReader<'_> {
    /// A problem in this file, at `span` when known.
    pub(super) fn prob(
        &self,
        message: String,
        help: Option<String>,
        span: Option<std::ops::Range<usize>>,
    ) -> StateProblem {
        let (src, span) = Excerpt::one(self.name, self.text, span);
        StateProblem {
            message: crate::inventory::clean(message),
            help,
            src,
            span,
        }
    }

    /// Every section of the file into `out`; names must exist in `inv`.
    pub(super) fn read(
        &self,
        raw: &RawFile,
        inv: &Inventory,
        out: &mut DesiredState,
        problems: &mut Vec<StateProblem>,
    ) {
        if let Some(u) = &raw.unit {
            if let Some(d) = self.unit_layer(u, "[unit]", problems) {
                out.units.defaults.merge(&d);
            }
        }
        if let Some(s) = &raw.state {
            if let Some(l) = self.layer(s, "[state]", problems) {
                out.defaults = l;
            }
        }
        self.read_groups(raw, inv, out, problems);
        self.read_hosts(raw, inv, out, problems);
        self.read_nodes(raw, inv, out, problems);
    }

    /// `[groups.G.state]` and `[groups.G.unit]`.
    fn read_groups(
        &self,
        raw: &RawFile,
        inv: &Inventory,
        out: &mut DesiredState,
        problems: &mut Vec<StateProblem>,
    ) {
        for (g, sec) in &raw.groups {
            if sec.state.is_none() && sec.unit.is_none() {
                continue;
            }
            if !inv.groups.contains_key(g.get_ref()) {
                problems.push(self.prob(
                    format!("group {:?} is not in the inventory", g.get_ref()),
                    None,
                    Some(g.span()),
                ));
                continue;
            }
            if let Some(s) = &sec.state {
                if let Some(l) = self.layer(s, &format!("[groups.{}.state]", g.get_ref()), problems)
                {
                    out.groups.insert(g.get_ref().clone(), l);
                }
            }
            if let Some(u) = &sec.unit {
                if let Some(d) =
                    self.unit_layer(u, &format!("[groups.{}.unit]", g.get_ref()), problems)
                {
                    out.units
                        .groups
                        .entry(g.get_ref().clone())
                        .or_default()
                        .merge(&d);
                }
            }
        }
    }

    /// `[hosts.H.state]` and `[hosts.H.unit]`.
    fn read_hosts(
        &self,
        raw: &RawFile,
        inv: &Inventory,
        out: &mut DesiredState,
        problems: &mut Vec<StateProblem>,
    ) {
        for (h, sec) in &raw.hosts {
            if sec.state.is_none() && sec.unit.is_none() {
                continue;
            }
            if inv.host(h.get_ref()).is_none() {
                problems.push(self.prob(
                    format!("host {:?} is not in the inventory", h.get_ref()),
                    None,
                    Some(h.span()),
                ));
                continue;
            }
            if let Some(s) = &sec.state {
                if let Some(l) = self.layer(s, &format!("[hosts.{}.state]", h.get_ref()), problems)
                {
                    out.hosts.insert(h.get_ref().clone(), l);
                }
            }
            if let Some(u) = &sec.unit {
                if let Some(d) =
                    self.unit_layer(u, &format!("[hosts.{}.unit]", h.get_ref()), problems)
                {
                    out.units
                        .hosts
                        .entry(h.get_ref().clone())
                        .or_default()
                        .merge(&d);
                }
            }
        }
    }

    /// `[nodes."host/node".state]` and `[nodes."host/node".unit]`.
    fn read_nodes(
        &self,
        raw: &RawFile,
        inv: &Inventory,
        out: &mut DesiredState,
        problems: &mut Vec<StateProblem>,
    ) {
        for (n, sec) in &raw.nodes {
            if sec.state.is_none() && sec.unit.is_none() {
                continue;
            }
            if inv.find_node(n.get_ref()).is_err() || !n.get_ref().contains('/') {
                problems.push(self.prob(
                    format!("node {:?} is not in the inventory", n.get_ref()),
                    Some("name nodes as \"host/node\"".into()),
                    Some(n.span()),
                ));
                continue;
            }
            if let Some(s) = &sec.state {
                if let Some(l) =
                    self.layer(s, &format!("[nodes.\"{}\".state]", n.get_ref()), problems)
                {
                    out.nodes.insert(n.get_ref().clone(), l);
                }
            }
            if let Some(u) = &sec.unit {
                if let Some(d) =
                    self.unit_layer(u, &format!("[nodes.\"{}\".unit]", n.get_ref()), problems)
                {
                    out.units
                        .nodes
                        .entry(n.get_ref().clone())
                        .or_default()
                        .merge(&d);
                }
            }
        }
    }

    /// One state section as a layer (`None` after recording its problems).
    fn layer(
        &self,
        v: &Spanned<toml::Value>,
        what: &str,
        problems: &mut Vec<StateProblem>,
    ) -> Option<Layer> {
        let fi = self.fi;
        let raw: RawState = match v.get_ref().clone().try_into() {
            Ok(r) => r,
            Err(e) => {
                problems.push(self.prob(
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
                other => {
                    match crate::releases::version::normalize_tag(other.trim_start_matches('=')) {
                        Some(ver) => Some(VersionWant::Exact(ver)),
                        None => {
                            problems.push(self.prob(
                            format!("{what}: version {other:?} is not a version"),
                            Some("use \"policy\", \"unmanaged\" or an exact version like \"1.5.1\"".into()),
                            Some(v.span()),
                        ));
                            None
                        }
                    }
                }
            },
        };
        Some(Layer {
            running: raw.running,
            version,
            present: raw.present,
            chain_upgrades: raw.chain_upgrades,
            span: Some((fi, v.span())),
        })
    }

    /// One unit section, checked (`None` after recording its problems).
    fn unit_layer(
        &self,
        v: &Spanned<toml::Value>,
        what: &str,
        problems: &mut Vec<StateProblem>,
    ) -> Option<UnitDef> {
        let text = self.text;
        let d: UnitDef = match v.get_ref().clone().try_into() {
            Ok(d) => d,
            Err(e) => {
                problems.push(self.prob(
                    format!("{what}: {}", e.message()),
                    Some("a unit section takes description, exec_start, exec_stop, environment = [\"K=V\"], success_exit_status, user, timeout_stop_sec".into()),
                    Some(v.span()),
                ));
                return None;
            }
        };
        let bad = unitfile::check(&d);
        let ok = bad.is_empty();
        for (key, msg) in bad {
            let span = key_span(text, v.span(), key).unwrap_or(v.span());
            problems.push(self.prob(format!("{what}: {msg}"), None, Some(span)));
        }
        ok.then_some(d)
    }
}

/// Nodes declared present must be installable: a version to install, a complete unit, a unit
/// name nodeherd can write and an absolute install dir.
pub(super) fn check_present(
    out: &DesiredState,
    files: &[(String, String)],
    inv: &Inventory,
    problems: &mut Vec<StateProblem>,
) {
    for r in inv.node_refs() {
        let d = out.for_node(inv, r);
        if !d.present {
            continue;
        }
        let (host, node) = inv.node(r);
        let key = format!("{}/{}", host.name, node.name);
        let span = out.present_span(inv, r);
        let mk = |message: String, help: Option<String>| {
            let (src, span) = match &span {
                Some((fi, range)) => {
                    let r =
                        key_span(&files[*fi].1, range.clone(), "present").unwrap_or(range.clone());
                    Excerpt::one(&files[*fi].0, &files[*fi].1, Some(r))
                }
                None => Excerpt::one("", "", None),
            };
            StateProblem {
                message,
                help,
                src,
                span,
            }
        };
        if d.version == VersionWant::Unmanaged {
            problems.push(mk(
            format!("{key} is declared present but its version is not managed: nodeherd cannot tell what to install"),
            Some("add version = \"policy\" (newest the [upgrade] policy allows) or an exact version like \"1.5.1\"".into()),
        ));
        }
        if let Some(m) = unitfile::check_complete(&out.unit_for(inv, r)) {
            problems.push(mk(
            format!("{key}: {m}"),
            Some(format!("add [nodes.\"{key}\".unit] (or a group/host-level [unit]) with exec_start = \"/path/to/binary {{current}}/...\"")),
        ));
        }
        if !unitfile::valid_unit_name(&node.unit) {
            problems.push(mk(
                format!(
                    "{key}: unit name {:?} cannot be written by nodeherd (want name.service)",
                    node.unit
                ),
                None,
            ));
        }
        if !node.install_dir.is_absolute() {
            problems.push(mk(
                format!(
                    "{key}: install_dir {} is not absolute",
                    node.install_dir.display()
                ),
                None,
            ));
        }
    }
}
