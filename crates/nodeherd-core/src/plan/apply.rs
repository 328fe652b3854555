//! The pure planner: declared state + gathered facts -> changes (each with its reason) and
//! no-ops (each with why).
//!
//! Owns: what changes a node needs (install, unit-file rewrite, version switch, start/stop) and
//! in which order, with the words that explain each. May not touch: I/O or the clock (everything
//! it needs is passed in), how a change is carried out (the engine's apply).

use crate::facts::systemd::UnitState;
use crate::plan::desired::{Desired, VersionWant};
use crate::plan::unitfile::{self, HostUnitFile, UnitDrift};
use semver::Version;
use serde::Serialize;

/// What was observed on a node (gathered before planning).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// None when the host could not be read.
    pub unit: Option<UnitState>,
    /// The version `current` points at, when managed.
    pub version: Option<Version>,
    /// Why the node could not be read.
    pub error: Option<String>,
    /// The host's unit file at the path nodeherd writes (read only for nodes with a `[unit]`).
    pub unit_file: Option<HostUnitFile>,
}

/// One step of a chain upgrade (judged in [`super::chain`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainStep {
    /// Download, verify and stage the plan's binary (never touches `current`).
    Stage,
    /// The node halted for the plan: switch it to the staged binary, gated on blocks past H.
    Switch,
}

/// One change an apply would make.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    Start,
    Stop,
    /// Provision a node whose unit does not exist: stage the release, point `current` at it,
    /// write the playbook's unit, enable and start it, health gate.
    Install {
        version: String,
    },
    /// Move the node to another version (newer or older) through the guarded switch.
    SwitchVersion {
        from: Option<String>,
        to: String,
    },
    /// Rewrite nodeherd's unit file (it differs from the playbook's `[unit]`), daemon-reload,
    /// restart the unit if it runs. `diff_summary` names the first differing line.
    RewriteUnit {
        diff_summary: String,
    },
    /// A Cosmos node with `chain_upgrades = true`: its chain's pending upgrade `plan` at
    /// `height`, one step of it (see [`crate::plan::chain`]), done as `nodeherd cosmos upgrade`.
    ChainUpgrade {
        plan: String,
        height: u64,
        step: ChainStep,
    },
}

impl Change {
    pub fn describe(&self) -> String {
        match self {
            Change::Start => "start".into(),
            Change::Install { version } => format!("install {version}"),
            Change::Stop => "stop".into(),
            Change::RewriteUnit { .. } => "rewrite unit".into(),
            Change::ChainUpgrade { plan, step, .. } => match step {
                ChainStep::Stage => format!("chain upgrade: stage {plan}"),
                ChainStep::Switch => format!("chain upgrade: switch to {plan}"),
            },
            Change::SwitchVersion { from, to } => {
                // A downgrade is named as one, in the plan and in every confirmation.
                let down = crate::plan::upgrade::direction(from.as_deref(), to) == "downgrade";
                format!(
                    "switch version {} -> {to}{}",
                    from.as_deref().unwrap_or("unknown"),
                    if down { " (downgrade)" } else { "" }
                )
            }
        }
    }
}

/// A planned change for one node, with its reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub host: String,
    pub node: String,
    pub change: Change,
    pub reason: String,
}

/// A node the plan leaves alone, with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoOp {
    pub host: String,
    pub node: String,
    pub why: String,
}

/// A node whose facts could not be gathered: the plan cannot say anything about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unknown {
    pub host: String,
    pub node: String,
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub changes: Vec<Planned>,
    pub noops: Vec<NoOp>,
    pub unknown: Vec<Unknown>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// One node's inputs to the planner.
pub struct NodeInput<'a> {
    pub host: &'a str,
    pub node: &'a str,
    pub desired: &'a Desired,
    pub facts: &'a Facts,
    /// The newest version the upgrade policy allows now (for `version = "policy"`).
    pub policy_allowed: Option<&'a Version>,
    /// The unit file the playbook's `[unit]` renders for this node (None: no complete `[unit]`).
    pub unit_want: Option<&'a str>,
}

/// Plan every node. Version switches come before start/stop of the same node (a switch
/// restarts the node); a node desired stopped never has its version switched.
pub fn plan(inputs: &[NodeInput<'_>]) -> Plan {
    let mut p = Plan::default();
    for i in inputs {
        plan_node(&mut p, i);
    }
    p
}

/// One node: unknown when not gathered (or absent and not declared present), installed when
/// declared present and absent, else its unit file, version and running state in that order.
fn plan_node(p: &mut Plan, i: &NodeInput<'_>) {
    let (host, node) = (i.host.to_string(), i.node.to_string());
    let Some(unit) = &i.facts.unit else {
        p.unknown.push(Unknown {
            host,
            node,
            error: i
                .facts
                .error
                .clone()
                .unwrap_or_else(|| "not gathered".into()),
        });
        return;
    };
    if !unit.exists() {
        if !i.desired.present {
            p.unknown.push(Unknown {
                host,
                node,
                error: format!(
                    "unit {} does not exist on the host (not installed; declare present = true to install it)",
                    unit.id
                ),
            });
            return;
        }
        plan_install(p, i, unit, host, node);
        return;
    }
    let before = p.changes.len();
    let running = unit.is_active() || unit.active_state == "activating";
    let (unit_note, unmanaged) = plan_unit_file(p, i, unit, &host, &node, running);
    let rewriting = p.changes.len() > before;
    let want_running = i.desired.running;
    let version_note = plan_version(p, i, &host, &node, want_running);
    let switching = p.changes.len() > before + usize::from(rewriting);
    plan_running(p, unit, &host, &node, want_running, running, switching);
    noop_or_note(
        p,
        i,
        before,
        host,
        node,
        (want_running, version_note, unit_note, unmanaged),
    );
}

/// A node declared present whose unit does not exist: install the pinned or allowed version.
fn plan_install(p: &mut Plan, i: &NodeInput<'_>, unit: &UnitState, host: String, node: String) {
    let version = match &i.desired.version {
        VersionWant::Exact(v) => Some((v.clone(), "pinned by the playbook")),
        VersionWant::Policy => i
            .policy_allowed
            .map(|v| (v.clone(), "newest version the upgrade policy allows now")),
        VersionWant::Unmanaged => None,
    };
    match version {
        Some((v, why)) => p.changes.push(Planned {
            host,
            node,
            change: Change::Install {
                version: v.to_string(),
            },
            reason: format!(
                "declared present, unit {} does not exist on the host; installs {v} ({why}){}",
                unit.id,
                if i.desired.running == Some(false) {
                    " and leaves it stopped"
                } else {
                    " and starts it"
                }
            ),
        }),
        None => p.unknown.push(Unknown {
            host,
            node,
            error: format!(
                "declared present, unit {} does not exist, but no version to install: {}",
                unit.id,
                if matches!(i.desired.version, VersionWant::Policy) {
                    "the upgrade policy allows no release yet"
                } else {
                    "the version is not managed"
                }
            ),
        }),
    }
}

/// The unit file: rewritten when nodeherd's own file differs from the playbook's. Returns the
/// note for the no-op (or the other changes) and whether the file is not nodeherd's.
fn plan_unit_file(
    p: &mut Plan,
    i: &NodeInput<'_>,
    unit: &UnitState,
    host: &str,
    node: &str,
    running: bool,
) -> (Option<String>, bool) {
    let mut unit_note = None;
    let mut unmanaged = false;
    if let (Some(want), Some(file)) = (i.unit_want, &i.facts.unit_file) {
        match unitfile::compare(file, &unit.id, want) {
            UnitDrift::Same => unit_note = Some("unit file matches the playbook".to_string()),
            UnitDrift::NotManaged { why } => {
                unmanaged = true;
                unit_note = Some(why);
            }
            UnitDrift::Differs { summary } => p.changes.push(Planned {
                host: host.to_string(),
                node: node.to_string(),
                reason: format!(
                    "{summary} (unit file {} differs from the playbook's [unit]){}",
                    unitfile::unit_path(&unit.id),
                    if running {
                        "; restarts the running unit"
                    } else {
                        "; the unit is not running: not restarted"
                    }
                ),
                change: Change::RewriteUnit {
                    diff_summary: summary,
                },
            }),
        }
    }
    (unit_note, unmanaged)
}

/// The version: switched to the pinned or allowed one unless the node is declared stopped.
/// Returns the note for the no-op.
fn plan_version(
    p: &mut Plan,
    i: &NodeInput<'_>,
    host: &str,
    node: &str,
    want_running: Option<bool>,
) -> Option<String> {
    let target: Option<(Version, &str)> = match &i.desired.version {
        VersionWant::Unmanaged => None,
        VersionWant::Exact(v) => Some((v.clone(), "pinned by the playbook")),
        VersionWant::Policy => i
            .policy_allowed
            .map(|v| (v.clone(), "newest version the upgrade policy allows now")),
    };
    let mut version_note = None;
    if let Some((to, why)) = target {
        match &i.facts.version {
            Some(cur) if *cur == to => version_note = Some(format!("runs {cur} ({why})")),
            cur if want_running == Some(false) => {
                version_note = Some(format!(
                    "version {} differs from {to} ({why}) but the node is declared stopped: not switched",
                    cur.as_ref()
                        .map_or_else(|| "unknown".into(), std::string::ToString::to_string)
                ));
            }
            cur => {
                let from = cur.as_ref().map(std::string::ToString::to_string);
                let reason = match cur {
                    Some(c) if *c > to && matches!(i.desired.version, VersionWant::Policy) => {
                        format!(
                            "runs {c}, newer than the {to} the policy allows (changed by hand?): brought back to policy"
                        )
                    }
                    Some(c) => format!("runs {c}; {why} is {to}"),
                    None => format!("no managed version found; {why} is {to}"),
                };
                p.changes.push(Planned {
                    host: host.to_string(),
                    node: node.to_string(),
                    change: Change::SwitchVersion {
                        from,
                        to: to.to_string(),
                    },
                    reason,
                });
            }
        }
    } else if matches!(i.desired.version, VersionWant::Policy) {
        version_note = Some("no release allowed by the policy yet".into());
    }
    version_note
}

/// Running state (a switch restarts the node, which also starts it).
fn plan_running(
    p: &mut Plan,
    unit: &UnitState,
    host: &str,
    node: &str,
    want_running: Option<bool>,
    running: bool,
    switching: bool,
) {
    match want_running {
        Some(true) if !running && !switching => p.changes.push(Planned {
            host: host.to_string(),
            node: node.to_string(),
            change: Change::Start,
            reason: format!(
                "declared running, unit is {}/{}{}",
                unit.active_state,
                unit.sub_state,
                unit.problem()
                    .map(|x| format!(" ({x})"))
                    .unwrap_or_default()
            ),
        }),
        Some(false) if running => p.changes.push(Planned {
            host: host.to_string(),
            node: node.to_string(),
            change: Change::Stop,
            reason: format!(
                "declared stopped, unit is {}/{}",
                unit.active_state, unit.sub_state
            ),
        }),
        _ => {}
    }
}

/// No change for the node: a no-op saying why. Changes, and a unit file that is not nodeherd's:
/// the notice rides along on each change.
fn noop_or_note(
    p: &mut Plan,
    i: &NodeInput<'_>,
    before: usize,
    host: String,
    node: String,
    (want_running, version_note, unit_note, unmanaged): (
        Option<bool>,
        Option<String>,
        Option<String>,
        bool,
    ),
) {
    if p.changes.len() == before {
        let mut why = Vec::new();
        match want_running {
            Some(true) => why.push("running as declared".to_string()),
            Some(false) => why.push("stopped as declared".to_string()),
            None => why.push("running state not declared".to_string()),
        }
        match (&i.desired.version, version_note) {
            (_, Some(n)) => why.push(n),
            (VersionWant::Unmanaged, None) => why.push("version not managed".into()),
            _ => {}
        }
        why.extend(unit_note);
        p.noops.push(NoOp {
            host,
            node,
            why: why.join("; "),
        });
    } else if let (true, Some(note)) = (unmanaged, unit_note) {
        // Other changes for this node: the notice about its unit file rides along.
        for c in &mut p.changes[before..] {
            c.reason.push_str(&format!(" (note: {note})"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(active: &str) -> UnitState {
        UnitState {
            id: "x.service".into(),
            load_state: "loaded".into(),
            active_state: active.into(),
            sub_state: if active == "active" {
                "running".into()
            } else {
                "dead".into()
            },
            result: "success".into(),
            ..Default::default()
        }
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn one(desired: Desired, facts: Facts, allowed: Option<Version>) -> Plan {
        plan(&[NodeInput {
            host: "h",
            node: "n",
            desired: &desired,
            facts: &facts,
            policy_allowed: allowed.as_ref(),
            unit_want: None,
        }])
    }

    #[test]
    fn a_version_switch_down_is_described_as_a_downgrade() {
        let sw = |from: &str, to: &str| Change::SwitchVersion {
            from: Some(from.into()),
            to: to.into(),
        };
        assert_eq!(
            sw("1.5.1", "1.4.2").describe(),
            "switch version 1.5.1 -> 1.4.2 (downgrade)"
        );
        assert_eq!(
            sw("1.4.2", "1.5.1").describe(),
            "switch version 1.4.2 -> 1.5.1"
        );
    }

    #[test]
    fn drift_stopped_by_hand_is_started() {
        let p = one(
            Desired {
                running: Some(true),
                version: VersionWant::Unmanaged,
                ..Default::default()
            },
            Facts {
                unit: Some(unit("inactive")),
                ..Default::default()
            },
            None,
        );
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].change, Change::Start);
        assert!(
            p.changes[0].reason.contains("inactive/dead"),
            "{}",
            p.changes[0].reason
        );
    }

    #[test]
    fn in_state_is_a_noop_with_why() {
        let p = one(
            Desired {
                running: Some(true),
                version: VersionWant::Policy,
                ..Default::default()
            },
            Facts {
                unit: Some(unit("active")),
                version: Some(v("1.5.1")),
                error: None,
                ..Default::default()
            },
            Some(v("1.5.1")),
        );
        assert!(p.is_empty());
        assert_eq!(
            p.noops[0].why,
            "running as declared; runs 1.5.1 (newest version the upgrade policy allows now)"
        );
    }

    #[test]
    fn version_changed_by_hand_is_brought_back() {
        let p = one(
            Desired {
                running: Some(true),
                version: VersionWant::Exact(v("1.5.1")),
                ..Default::default()
            },
            Facts {
                unit: Some(unit("active")),
                version: Some(v("1.4.2")),
                error: None,
                ..Default::default()
            },
            None,
        );
        assert_eq!(p.changes.len(), 1, "a switch restarts; no separate start");
        assert_eq!(
            p.changes[0].change,
            Change::SwitchVersion {
                from: Some("1.4.2".into()),
                to: "1.5.1".into()
            }
        );
        let newer = one(
            Desired {
                running: Some(true),
                version: VersionWant::Policy,
                ..Default::default()
            },
            Facts {
                unit: Some(unit("active")),
                version: Some(v("1.5.1")),
                error: None,
                ..Default::default()
            },
            Some(v("1.4.2")),
        );
        assert!(
            newer.changes[0].reason.contains("changed by hand"),
            "{}",
            newer.changes[0].reason
        );
    }

    #[test]
    fn stopped_nodes_are_not_switched_and_unreadable_nodes_are_unknown() {
        let p = one(
            Desired {
                running: Some(false),
                version: VersionWant::Exact(v("1.5.1")),
                ..Default::default()
            },
            Facts {
                unit: Some(unit("active")),
                version: Some(v("1.4.2")),
                error: None,
                ..Default::default()
            },
            None,
        );
        assert_eq!(
            p.changes
                .iter()
                .map(|c| c.change.clone())
                .collect::<Vec<_>>(),
            vec![Change::Stop]
        );
        let u = one(
            Desired::default(),
            Facts {
                error: Some("unreachable".into()),
                ..Default::default()
            },
            None,
        );
        assert_eq!(u.unknown[0].error, "unreachable");
        assert!(u.changes.is_empty() && u.noops.is_empty());
    }

    fn missing() -> UnitState {
        UnitState {
            id: "lodestar-bn.service".into(),
            load_state: "not-found".into(),
            active_state: "inactive".into(),
            sub_state: "dead".into(),
            ..Default::default()
        }
    }

    #[test]
    fn present_node_without_unit_is_installed() {
        let facts = Facts {
            unit: Some(missing()),
            ..Default::default()
        };
        let p = one(
            Desired {
                running: Some(true),
                version: VersionWant::Policy,
                present: true,
                chain_upgrades: false,
            },
            facts.clone(),
            Some(v("1.5.1")),
        );
        assert_eq!(
            p.changes[0].change,
            Change::Install {
                version: "1.5.1".into()
            }
        );
        assert!(
            p.changes[0].reason.contains("does not exist")
                && p.changes[0].reason.contains("upgrade policy"),
            "{}",
            p.changes[0].reason
        );
        assert_eq!(
            p.changes.len(),
            1,
            "the install starts it: no separate start"
        );
        // Not declared present: never installed, reported as unknown.
        let q = one(
            Desired {
                running: Some(true),
                version: VersionWant::Exact(v("1.5.1")),
                present: false,
                chain_upgrades: false,
            },
            facts.clone(),
            None,
        );
        assert!(q.changes.is_empty());
        assert!(
            q.unknown[0].error.contains("present = true"),
            "{:?}",
            q.unknown
        );
        // Present but the policy allows nothing yet: cannot plan, says why.
        let r = one(
            Desired {
                running: Some(true),
                version: VersionWant::Policy,
                present: true,
                chain_upgrades: false,
            },
            facts,
            None,
        );
        assert!(r.changes.is_empty());
        assert!(
            r.unknown[0].error.contains("allows no release"),
            "{:?}",
            r.unknown
        );
    }

    const WANT: &str = "# Managed by nodeherd (written by `nodeherd apply` from a playbook)\n[Service]\nExecStart=/usr/bin/node --port 9001\nRestart=on-failure\n";

    fn with_unit(active: &str, file: Option<HostUnitFile>, desired: Desired) -> Plan {
        let facts = Facts {
            unit: Some(unit(active)),
            unit_file: file,
            ..Default::default()
        };
        plan(&[NodeInput {
            host: "h",
            node: "n",
            desired: &desired,
            facts: &facts,
            policy_allowed: None,
            unit_want: Some(WANT),
        }])
    }

    fn running() -> Desired {
        Desired {
            running: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn edited_unit_file_is_rewritten_with_the_differing_line() {
        let host = WANT.replace("--port 9001", "--port 9000");
        let p = with_unit("active", Some(HostUnitFile::Text(host)), running());
        assert_eq!(p.changes.len(), 1, "{p:?}");
        let Change::RewriteUnit { diff_summary } = &p.changes[0].change else {
            panic!("{p:?}")
        };
        assert_eq!(
            diff_summary,
            "ExecStart differs: host has \"ExecStart=/usr/bin/node --port 9000\", playbook wants \"ExecStart=/usr/bin/node --port 9001\""
        );
        assert!(
            p.changes[0]
                .reason
                .contains("/etc/systemd/system/x.service")
                && p.changes[0].reason.ends_with("restarts the running unit"),
            "{}",
            p.changes[0].reason
        );
        // Stopped and declared running: rewritten, then started (the start uses the new file).
        let q = with_unit(
            "inactive",
            Some(HostUnitFile::Text(WANT.replace("Restart=on-failure\n", ""))),
            running(),
        );
        let kinds: Vec<String> = q.changes.iter().map(|c| c.change.describe()).collect();
        assert_eq!(kinds, vec!["rewrite unit", "start"], "{q:?}");
        assert!(q.changes[0].reason.contains("not restarted"), "{q:?}");
        let json = serde_json::to_value(&q.changes[0].change).unwrap();
        assert_eq!(json["kind"], "rewrite-unit");
    }

    #[test]
    fn equal_modulo_trailing_whitespace_is_a_noop() {
        let host = WANT.replace('\n', " \t\n") + "\n\n";
        let p = with_unit("active", Some(HostUnitFile::Text(host)), running());
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            p.noops[0].why,
            "running as declared; version not managed; unit file matches the playbook"
        );
    }

    #[test]
    fn unit_file_without_marker_is_never_rewritten() {
        let host = WANT
            .replacen("# Managed by nodeherd", "# Mine", 1)
            .replace("9001", "9000");
        let p = with_unit("active", Some(HostUnitFile::Text(host.clone())), running());
        assert!(p.is_empty(), "{p:?}");
        assert!(
            p.noops[0]
                .why
                .contains("unit file not managed by nodeherd (no marker); add the marker or remove the [unit] section to silence"),
            "{p:?}"
        );
        // With another change for the node, the notice rides on its reason; still no rewrite.
        let q = with_unit("inactive", Some(HostUnitFile::Text(host)), running());
        assert_eq!(q.changes.len(), 1, "{q:?}");
        assert_eq!(q.changes[0].change, Change::Start);
        assert!(
            q.changes[0].reason.contains("(note: unit file not managed"),
            "{q:?}"
        );
        // Absent at nodeherd's path (loaded from elsewhere): not rewritten either.
        let r = with_unit("active", Some(HostUnitFile::Absent), running());
        assert!(
            r.is_empty() && r.noops[0].why.contains("does not exist"),
            "{r:?}"
        );
    }

    #[test]
    fn node_being_installed_gets_only_the_install() {
        let facts = Facts {
            unit: Some(missing()),
            unit_file: Some(HostUnitFile::Absent),
            ..Default::default()
        };
        let d = Desired {
            running: Some(true),
            version: VersionWant::Exact(v("1.5.1")),
            present: true,
            chain_upgrades: false,
        };
        let p = plan(&[NodeInput {
            host: "h",
            node: "n",
            desired: &d,
            facts: &facts,
            policy_allowed: None,
            unit_want: Some(WANT),
        }]);
        assert_eq!(
            p.changes
                .iter()
                .map(|c| c.change.clone())
                .collect::<Vec<_>>(),
            vec![Change::Install {
                version: "1.5.1".into()
            }]
        );
    }
}
