//! The pure planner: declared state + gathered facts -> changes (each with its reason) and
//! no-ops (each with why). No I/O, no clock: everything it needs is passed in.

use super::desired::{Desired, VersionWant};
use crate::systemd::UnitState;
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
}

impl Change {
    pub fn describe(&self) -> String {
        match self {
            Change::Start => "start".into(),
            Change::Install { version } => format!("install {version}"),
            Change::Stop => "stop".into(),
            Change::SwitchVersion { from, to } => {
                format!(
                    "switch version {} -> {to}",
                    from.as_deref().unwrap_or("unknown")
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
}

/// Plan every node. Version switches come before start/stop of the same node (a switch
/// restarts the node); a node desired stopped never has its version switched.
pub fn plan(inputs: &[NodeInput<'_>]) -> Plan {
    let mut p = Plan::default();
    for i in inputs {
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
            continue;
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
                continue;
            }
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
            continue;
        }
        let before = p.changes.len();
        let running = unit.is_active() || unit.active_state == "activating";
        let want_running = i.desired.running;
        // Version.
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
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "unknown".into())
                    ))
                }
                cur => {
                    let from = cur.as_ref().map(|v| v.to_string());
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
                        host: host.clone(),
                        node: node.clone(),
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
        let switching = p.changes.len() > before;
        // Running state (a switch restarts the node, which also starts it).
        match want_running {
            Some(true) if !running && !switching => p.changes.push(Planned {
                host: host.clone(),
                node: node.clone(),
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
                host: host.clone(),
                node: node.clone(),
                change: Change::Stop,
                reason: format!(
                    "declared stopped, unit is {}/{}",
                    unit.active_state, unit.sub_state
                ),
            }),
            _ => {}
        }
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
            p.noops.push(NoOp {
                host,
                node,
                why: why.join("; "),
            });
        }
    }
    p
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
        }])
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
}
