//! The Cosmos chain upgrade steps of a plan: for each node whose declared state says
//! `chain_upgrades = true`, what its chain's pending upgrade asks of it now. Stage the plan's
//! binary before the height; switch a node that halted for the plan; wait (a no-op saying for
//! what) while the height is ahead and the binary is staged; report a node at or past the height
//! that did not halt (it cannot be planned: `apply` exits 1 and forces nothing).
//!
//! Owns: that judgement and its words. May not touch: I/O (the engine reads the plan, head and
//! halt facts), how a step is done (the engine's `cosmos::upgrade`, the same code as
//! `nodeherd cosmos upgrade`).

use std::time::Duration;

use crate::cosmos::chain::{self, HaltFacts, Head, Stand};
use crate::cosmos::plan::UpgradePlan;
use crate::cosmos::watch;
use crate::plan::apply::{ChainStep, Change, NoOp, Plan, Planned, Unknown};
use crate::plan::desired::{Desired, VersionWant};

/// What was read of a Cosmos node's chain for the plan (one per node: its size does not matter).
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum ChainFacts {
    /// No upgrade plan pending on the node's chain.
    NoPlan,
    Pending {
        plan: UpgradePlan,
        head: Option<Head>,
        halt: HaltFacts,
        /// Time left to the plan's height at the recent block time.
        eta: Option<Duration>,
    },
    /// The plan or the node's stand could not be read.
    Unreadable(String),
}

/// Add the chain upgrade step of one node (`host`/`node`) to `p`: a change, a no-op with why, or
/// an unknown (cannot be planned). Nothing when its declared state does not ask for chain
/// upgrades or no facts were read (not a Cosmos node).
pub fn plan_node(p: &mut Plan, host: &str, node: &str, d: &Desired, f: Option<&ChainFacts>) {
    if !d.chain_upgrades {
        return;
    }
    let Some(f) = f else { return };
    let unknown = |p: &mut Plan, error: String| {
        p.unknown.push(Unknown {
            host: host.into(),
            node: node.into(),
            error,
        });
    };
    if d.version != VersionWant::Unmanaged {
        return unknown(
            p,
            "chain_upgrades = true needs the node's version unmanaged (its chain's plan names the version); remove `version` from its state".into(),
        );
    }
    let (plan, head, halt, eta) = match f {
        ChainFacts::NoPlan => return,
        ChainFacts::Unreadable(e) => return unknown(p, format!("chain upgrade: {e}")),
        ChainFacts::Pending {
            plan,
            head,
            halt,
            eta,
        } => (plan, head, halt, eta),
    };
    let change = |p: &mut Plan, step: ChainStep, reason: String| {
        p.changes.push(Planned {
            host: host.into(),
            node: node.into(),
            change: Change::ChainUpgrade {
                plan: plan.name.clone(),
                height: plan.height,
                step,
            },
            reason,
        });
    };
    let left = eta.map_or(String::new(), |d| format!(" ({})", chain::countdown(d)));
    let staged = watch::staged(plan, halt);
    match chain::decide(plan, head.as_ref(), halt) {
        Stand::Halted { why } => {
            // The switch restarts it: no separate start of the halted unit.
            p.changes.retain(|c| {
                !(c.host == host && c.node == node && matches!(c.change, Change::Start))
            });
            change(
                p,
                ChainStep::Switch,
                format!("{why}: switch to `{}` (staged if not yet), gated on blocks past {}", plan.name, plan.height),
            );
        }
        _ if halt.cosmovisor && staged.is_ok() => p.noops.push(NoOp {
            host: host.into(),
            node: node.into(),
            why: format!(
                "chain upgrade `{}` at height {}{left}: staged for Cosmovisor, which switches at the halt",
                plan.name, plan.height
            ),
        }),
        Stand::Before { blocks } => match staged {
            Err(why) => change(
                p,
                ChainStep::Stage,
                format!(
                    "upgrade `{}` at height {}{left}, {blocks} blocks to go: its binary is {why}",
                    plan.name, plan.height
                ),
            ),
            Ok(at) => p.noops.push(NoOp {
                host: host.into(),
                node: node.into(),
                why: format!(
                    "chain upgrade `{}` staged in {at}; waiting for height {}{left}",
                    plan.name, plan.height
                ),
            }),
        },
        Stand::NotHalted { why } if head.is_none() => {
            unknown(p, format!("chain upgrade `{}`: {why}", plan.name));
        }
        Stand::NotHalted { why } if head.as_ref().is_some_and(|h| h.height >= plan.height) => {
            unknown(
                p,
                format!("chain upgrade `{}`: {why}; reported, not forced", plan.name),
            );
        }
        Stand::NotHalted { why } => match staged {
            Err(not) => change(
                p,
                ChainStep::Stage,
                format!("upgrade `{}` at height {}: {why}; its binary is {not}", plan.name, plan.height),
            ),
            Ok(_) => p.noops.push(NoOp {
                host: host.into(),
                node: node.into(),
                why: format!("chain upgrade `{}`: {why}; waiting for the halt", plan.name),
            }),
        },
    }
    // A node with a chain step is not also "in its declared state".
    if p.changes.iter().any(|c| c.host == host && c.node == node) {
        p.noops
            .retain(|n| !(n.host == host && n.node == node && !n.why.starts_with("chain")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(height: u64, halt: HaltFacts) -> ChainFacts {
        let sha = "ab".repeat(32);
        ChainFacts::Pending {
            plan: UpgradePlan {
                name: "v19".into(),
                height: 100,
                info: format!(
                    r#"{{"binaries":{{"linux/amd64":"https://x/gaiad?checksum=sha256:{sha}"}}}}"#
                ),
            },
            head: Some(Head {
                height,
                time: None,
                catching_up: false,
            }),
            halt,
            eta: Some(Duration::from_secs(20)),
        }
    }

    fn on() -> Desired {
        Desired {
            chain_upgrades: true,
            ..Desired::default()
        }
    }

    fn active(release: Option<String>) -> HaltFacts {
        HaltFacts {
            active: "active".into(),
            release_staged: release,
            ..HaltFacts::default()
        }
    }

    fn one(d: &Desired, f: &ChainFacts) -> Plan {
        let mut p = Plan::default();
        plan_node(&mut p, "h1", "gaia", d, Some(f));
        p
    }

    #[test]
    fn stage_before_the_height_then_wait_then_switch_at_the_halt() {
        let p = one(&on(), &facts(60, active(None)));
        assert_eq!(p.changes.len(), 1, "{p:?}");
        assert_eq!(
            p.changes[0].change,
            Change::ChainUpgrade {
                plan: "v19".into(),
                height: 100,
                step: ChainStep::Stage
            }
        );
        assert_eq!(p.changes[0].change.describe(), "chain upgrade: stage v19");
        assert!(
            p.changes[0].reason.starts_with(
                "upgrade `v19` at height 100 (~20s), 40 blocks to go: its binary is not staged"
            ),
            "{}",
            p.changes[0].reason
        );
        // staged: a no-op saying what it waits for
        let p = one(&on(), &facts(60, active(Some("ab".repeat(32)))));
        assert!(p.changes.is_empty(), "{p:?}");
        assert_eq!(
            p.noops[0].why,
            "chain upgrade `v19` staged in releases/v19/; waiting for height 100 (~20s)"
        );
        // halted for the plan: switch, and no separate start of its failed unit
        let halted = HaltFacts {
            needed_line: Some(("v19".into(), 100)),
            active: "failed".into(),
            ..HaltFacts::default()
        };
        let mut p = Plan::default();
        p.changes.push(Planned {
            host: "h1".into(),
            node: "gaia".into(),
            change: Change::Start,
            reason: "declared running".into(),
        });
        plan_node(&mut p, "h1", "gaia", &on(), Some(&facts(99, halted)));
        assert_eq!(p.changes.len(), 1, "{p:?}");
        assert!(matches!(
            p.changes[0].change,
            Change::ChainUpgrade {
                step: ChainStep::Switch,
                ..
            }
        ));
    }

    #[test]
    fn not_asked_no_plan_not_halted_and_managed_versions() {
        // not asked for: nothing
        let p = one(&Desired::default(), &facts(60, active(None)));
        assert_eq!(p, Plan::default());
        // no plan: nothing
        assert_eq!(one(&on(), &ChainFacts::NoPlan), Plan::default());
        // past the height without halting: cannot be planned (apply exits 1), nothing forced
        let p = one(&on(), &facts(104, active(Some("ab".repeat(32)))));
        assert!(p.changes.is_empty());
        assert!(
            p.unknown[0].error.contains(
                "at height 104 past the plan's 100 without halting for `v19`; reported, not forced"
            ),
            "{:?}",
            p.unknown
        );
        // a version the playbook manages would fight the chain's plan
        let d = Desired {
            version: VersionWant::Policy,
            ..on()
        };
        let p = one(&d, &facts(60, active(None)));
        assert!(p.changes.is_empty());
        assert!(
            p.unknown[0]
                .error
                .contains("needs the node's version unmanaged")
        );
        // unreadable: said so
        let p = one(&on(), &ChainFacts::Unreadable("no api_port".into()));
        assert_eq!(p.unknown[0].error, "chain upgrade: no api_port");
    }
}
