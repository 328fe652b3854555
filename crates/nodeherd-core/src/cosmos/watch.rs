//! What the two chain upgrade alerts see of a Cosmos node against its chain's pending plan:
//! the plan's program not staged (and verified) while the height comes near
//! (`cosmos_plan_not_staged_within`), and a node that missed the switch: it runs past the
//! height without halting, or it halted there and was not switched
//! (`cosmos_missed_switch_after`).
//!
//! Owns: those two pure judgements and the words of their values (node, plan, height, time
//! left, what to run). May not touch: I/O (the engine reads the plan, the head and the halt
//! facts), the clock (ages and times left are passed in).

use std::time::Duration;

use super::chain::{self, HaltFacts, Head, Stand};
use super::plan::{self, UpgradePlan};
use crate::releases::assets::ArchiveKind;

/// Where the plan's program is staged on the node, verified; or why it is not.
pub fn staged(plan: &UpgradePlan, f: &HaltFacts) -> Result<String, String> {
    let digests = plan::digests(plan);
    let bare: Vec<&str> = digests
        .iter()
        .filter(|(_, k)| *k == ArchiveKind::Bare)
        .map(|(s, _)| s.as_str())
        .collect();
    let (have, place) = if f.cosmovisor {
        (&f.cosmovisor_staged, "cosmovisor/upgrades")
    } else {
        (&f.release_staged, "releases")
    };
    let Some(have) = have else {
        return Err(format!("not staged in {place}/{}/", plan.name));
    };
    // An archive's digest is checked when it is staged; its unpacked program has another one.
    if (bare.is_empty() && !digests.is_empty()) || bare.contains(&have.as_str()) {
        Ok(format!("{place}/{}/", plan.name))
    } else if digests.is_empty() {
        Err(format!(
            "{place}/{}/ holds a program, but the plan names no checksum to verify it against",
            plan.name
        ))
    } else {
        Err(format!(
            "{place}/{}/ holds a program with sha256 {}, not the plan's",
            plan.name,
            short_sha(have)
        ))
    }
}

/// The first 8 hex digits of a digest, for a line that must stay short.
pub fn short_sha(s: &str) -> &str {
    s.get(..8).unwrap_or(s)
}

/// A pending plan whose program is not staged and verified on the node: (seconds left, the
/// value). `eta` None (block time unknown) counts as due now. None when staged, or when the node
/// is already past the plan (that is [`missed_switch`]'s).
pub fn not_staged(
    node: &str,
    plan: &UpgradePlan,
    head: Option<&Head>,
    eta: Option<Duration>,
    f: &HaltFacts,
) -> Option<(f64, String)> {
    if head.is_some_and(|h| h.height > plan.height) {
        return None;
    }
    let why = staged(plan, f).err()?;
    let left = match eta {
        Some(d) => format!("in {}", chain::countdown(d)),
        None => "time left unknown".into(),
    };
    Some((
        eta.map_or(0.0, |d| d.as_secs_f64()),
        format!(
            "upgrade `{}` at height {} ({left}): its binary is {why}; run `nodeherd cosmos upgrade {node} --yes`",
            plan.name, plan.height
        ),
    ))
}

/// A node that missed the plan's switch: (seconds since, the value). It halted for the plan
/// (seconds since `upgrade-info.json` was written) and still is not switched, or it runs at or
/// past the height without halting (`past_secs`: since the plan's block, when known; unknown
/// counts as long ago). None before the height, and when nothing says where the node stands.
pub fn missed_switch(
    node: &str,
    plan: &UpgradePlan,
    head: Option<&Head>,
    past_secs: Option<f64>,
    f: &HaltFacts,
) -> Option<(f64, String)> {
    match chain::decide(plan, head, f) {
        Stand::Before { .. } => None,
        Stand::Halted { why } => {
            #[allow(clippy::cast_precision_loss)]
            let secs = f.halted_secs.map_or(0.0, |s| s as f64);
            let ago = f
                .halted_secs
                .map_or(String::new(), |s| format!(" {s}s ago"));
            Some((
                secs,
                format!(
                    "upgrade `{}` at height {}: {why}{ago}, not switched; run `nodeherd cosmos upgrade {node} --yes`",
                    plan.name, plan.height
                ),
            ))
        }
        Stand::NotHalted { why } => {
            let h = head?;
            if h.height < plan.height {
                return None;
            }
            Some((
                past_secs.unwrap_or(f64::MAX),
                format!(
                    "upgrade `{}`: {why}; it did not switch (a node that did not halt is not forced: see `nodeherd logs {node}`)",
                    plan.name
                ),
            ))
        }
    }
}
