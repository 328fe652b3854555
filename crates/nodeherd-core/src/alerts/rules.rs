//! Alert rules: the TOML format (`playbooks/alerts.toml`), validation, and the built-in defaults.
//!
//! Owns: [`Rule`], [`Condition`], [`Severity`], [`parse_rules`], [`default_rules`].
//! May not touch: evaluation state (see [`crate::alerts::engine`]), files (callers read the text), channels.
//!
//! ```toml
//! [[rule]]
//! name = "disk-full"
//! condition = { disk_above = 90 }     # or a plain name: condition = "unit_not_active"
//! for = "10m"
//! severity = "warn"                   # page | warn | info
//! labels = { team = "infra" }
//! hint = "disk {value}% on {host}: prune or grow; see `nodeherd logs {host}`"
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How loud a notification is. Only `page` pages; `info` never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warn,
    Page,
}

/// What a rule watches. Unit variants are written as a string, the others as a one-key table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The node's systemd unit is not active.
    UnitNotActive,
    /// The head (slot/block/height) did not change since the previous observation.
    HeadNotAdvancing,
    /// The node reports it is not synced.
    NotSynced,
    /// Fewer peers than this.
    PeersBelow(f64),
    /// The node's latest block is older than this many seconds (a Cosmos node: its chain or the
    /// node halted; from CometBFT `/status` `latest_block_time`).
    NoNewBlockFor(f64),
    /// A Cosmos validator (`valoper` in the inventory) is jailed or tombstoned.
    ValidatorJailed,
    /// A Cosmos validator missed more than this percent of the slashing window's blocks.
    MissedBlocksAbove(f64),
    /// A governance proposal in its voting period ends within this many hours and the
    /// validator's account has not voted (title, id, end time in the value).
    ProposalNotVotedWithin(f64),
    /// A Cosmos node's chain has an upgrade plan within this many hours (by the recent block
    /// time) and the plan's program is not staged and verified on the node (nodeherd's
    /// `releases/<name>/` or Cosmovisor's `upgrades/<name>/bin`).
    CosmosPlanNotStagedWithin(f64),
    /// A Cosmos node missed its chain upgrade's switch: it halted for the plan this many
    /// seconds ago and is not switched, or it runs past the plan's height without halting.
    CosmosMissedSwitchAfter(f64),
    /// The data directory's filesystem is fuller than this percent.
    DiskAbove(f64),
    /// Used memory (total - available) above this percent.
    MemoryAbove(f64),
    /// The validator-monitor miss counter rose within the last [`crate::alerts::engine::MISS_WINDOW_SECS`].
    MissedAttestationsRising,
    /// SSH to the host failed.
    HostUnreachable,
    /// A release is available and past its upgrade delay.
    UpgradeAvailable,
    /// The last upgrade failed or was rolled back.
    UpgradeFailed,
}

impl Condition {
    /// Host-level conditions are keyed by host only, not per node.
    pub fn is_host_level(&self) -> bool {
        matches!(
            self,
            Condition::DiskAbove(_) | Condition::MemoryAbove(_) | Condition::HostUnreachable
        )
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub condition: Condition,
    /// How long the condition must hold before the alert fires (`"5m"`, `"90s"`, `"0s"`).
    #[serde(
        rename = "for",
        default,
        deserialize_with = "de_duration",
        serialize_with = "ser_duration"
    )]
    pub for_: Duration,
    pub severity: Severity,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Text with `{host}`, `{node}`, `{value}`, `{rule}` placeholders.
    #[serde(default)]
    pub hint: String,
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(s.trim()).map_err(|e| {
        serde::de::Error::custom(format!(
            "bad duration {s:?}: {e} (write e.g. \"5m\", \"90s\")"
        ))
    })
}

fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<Rule>,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("alert rules: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("alert rules: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

const PLACEHOLDERS: &[&str] = &["host", "node", "value", "rule"];

/// Parse and validate a rules file. All problems are reported at once.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, RulesError> {
    let file: RulesFile = toml::from_str(text)?;
    let mut problems = Vec::new();
    for (i, r) in file.rule.iter().enumerate() {
        if r.name.trim().is_empty() {
            problems.push(format!("rule #{} has an empty name", i + 1));
        }
        if file.rule[..i].iter().any(|o| o.name == r.name) {
            problems.push(format!("rule name {:?} is used twice", r.name));
        }
        match &r.condition {
            Condition::DiskAbove(p)
            | Condition::MemoryAbove(p)
            | Condition::MissedBlocksAbove(p)
                if !(0.0..=100.0).contains(p) =>
            {
                problems.push(format!(
                    "rule {:?}: percent {p} is not within 0-100",
                    r.name
                ));
            }
            Condition::NoNewBlockFor(s) if !s.is_finite() || *s <= 0.0 => {
                problems.push(format!(
                    "rule {:?}: no_new_block_for {s} must be > 0 seconds",
                    r.name
                ));
            }
            Condition::CosmosPlanNotStagedWithin(n) | Condition::CosmosMissedSwitchAfter(n)
                if !n.is_finite() || *n < 0.0 =>
            {
                problems.push(format!(
                    "rule {:?}: {n} must be a number >= 0 (hours for cosmos_plan_not_staged_within, seconds for cosmos_missed_switch_after)",
                    r.name
                ));
            }
            Condition::PeersBelow(n) if !n.is_finite() || *n < 0.0 => {
                problems.push(format!("rule {:?}: peers_below {n} must be >= 0", r.name));
            }
            _ => {}
        }
        for ph in placeholders(&r.hint) {
            if !PLACEHOLDERS.contains(&ph) {
                problems.push(format!(
                    "rule {:?}: unknown placeholder {{{ph}}} in hint (known: {{host}} {{node}} {{value}} {{rule}})",
                    r.name
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(file.rule)
    } else {
        Err(RulesError::Invalid(problems))
    }
}

fn placeholders(s: &str) -> impl Iterator<Item = &str> {
    s.split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

/// Fill `{host}`, `{node}`, `{value}`, `{rule}`.
pub fn render_hint(
    hint: &str,
    rule: &str,
    host: &str,
    node: Option<&str>,
    value: Option<&str>,
) -> String {
    hint.replace("{host}", host)
        .replace("{node}", node.unwrap_or("-"))
        .replace("{value}", value.unwrap_or("?"))
        .replace("{rule}", rule)
}

fn rule(name: &str, condition: Condition, for_secs: u64, severity: Severity, hint: &str) -> Rule {
    Rule {
        name: name.to_string(),
        condition,
        for_: Duration::from_secs(for_secs),
        severity,
        labels: BTreeMap::new(),
        hint: hint.to_string(),
    }
}

/// What an operator expects without writing a rules file.
pub fn default_rules() -> Vec<Rule> {
    use Condition::{
        DiskAbove, HeadNotAdvancing, HostUnreachable, MemoryAbove, MissedAttestationsRising,
        NotSynced, PeersBelow, UnitNotActive, UpgradeAvailable, UpgradeFailed,
    };
    use Severity::{Info, Page, Warn};
    let mut rules = vec![
        rule(
            "unit-not-active",
            UnitNotActive,
            120,
            Page,
            "{node} on {host} is not running: see `nodeherd logs {host}` and `nodeherd status {host}`",
        ),
        rule(
            "host-unreachable",
            HostUnreachable,
            300,
            Page,
            "cannot reach {host} over SSH for 5 minutes: check the machine, its network and sshd",
        ),
        rule(
            "head-not-advancing",
            HeadNotAdvancing,
            300,
            Page,
            "head of {node} on {host} stuck at {value} for 5 minutes: check peers and the execution client; see `nodeherd logs {host}`",
        ),
        rule(
            "not-synced",
            NotSynced,
            900,
            Warn,
            "{node} on {host} not synced for 15 minutes (distance {value}): see `nodeherd metrics {host}`",
        ),
        rule(
            "peers-low",
            PeersBelow(5.0),
            600,
            Warn,
            "{node} on {host} has {value} peers: check its p2p port and firewall",
        ),
    ];
    rules.extend(cosmos_defaults());
    rules.extend(vec![
        rule(
            "disk-high",
            DiskAbove(90.0),
            600,
            Warn,
            "disk {value}% on {host}: prune or grow the volume; see `nodeherd metrics {host}`",
        ),
        rule(
            "disk-critical",
            DiskAbove(97.0),
            60,
            Page,
            "disk {value}% on {host}: the node will stop soon; prune or grow now",
        ),
        rule(
            "memory-pressure",
            MemoryAbove(95.0),
            600,
            Warn,
            "memory {value}% used on {host}: look for a leak or add memory",
        ),
        rule(
            "missed-attestations",
            MissedAttestationsRising,
            900,
            Warn,
            "{node} on {host} keeps missing attestations ({value} missed so far): check sync, peers and clock",
        ),
        rule(
            "upgrade-available",
            UpgradeAvailable,
            0,
            Info,
            "{node} on {host}: release {value} is past its delay; `nodeherd upgrade {host}` when convenient",
        ),
        rule(
            "upgrade-failed",
            UpgradeFailed,
            0,
            Page,
            "upgrade of {node} on {host} failed or was rolled back ({value}): see `nodeherd logs {host}`",
        ),
    ]);
    rules
}

/// The default rules of Cosmos nodes (after `peers-low` in [`default_rules`]).
fn cosmos_defaults() -> Vec<Rule> {
    use Condition::{
        CosmosMissedSwitchAfter, CosmosPlanNotStagedWithin, MissedBlocksAbove, NoNewBlockFor,
        ProposalNotVotedWithin, ValidatorJailed,
    };
    use Severity::{Page, Warn};
    vec![
        rule(
            "no-new-block",
            NoNewBlockFor(60.0),
            60,
            Page,
            "{node} on {host}: no new block for {value}s (chain or node halted): see `nodeherd cosmos plan {host}` and `nodeherd logs {host}`",
        ),
        rule(
            "validator-jailed",
            ValidatorJailed,
            0,
            Page,
            "the validator of {node} on {host} is {value}: see `nodeherd logs {host}`; unjail once it signs again",
        ),
        rule(
            "missed-blocks",
            MissedBlocksAbove(5.0),
            300,
            Warn,
            "the validator of {node} on {host} missed {value}% of the slashing window's blocks: check sync, peers and its signer",
        ),
        rule(
            "proposal-not-voted",
            ProposalNotVotedWithin(24.0),
            0,
            Warn,
            "{node} on {host}: {value}",
        ),
        rule(
            "cosmos-plan-not-staged",
            CosmosPlanNotStagedWithin(2.0),
            0,
            Page,
            "{node} on {host}: {value}",
        ),
        rule(
            "cosmos-missed-switch",
            CosmosMissedSwitchAfter(120.0),
            0,
            Page,
            "{node} on {host}: {value}",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_condition_forms_and_durations() {
        let text = r#"
[[rule]]
name = "down"
condition = "unit_not_active"
for = "5m"
severity = "page"
hint = "{node} down on {host}"

[[rule]]
name = "disk"
condition = { disk_above = 93 }
for = "90s"
severity = "warn"
labels = { team = "infra" }
"#;
        let rules = parse_rules(text).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].condition, Condition::UnitNotActive);
        assert_eq!(rules[0].for_, Duration::from_secs(300));
        assert_eq!(rules[1].condition, Condition::DiskAbove(93.0));
        assert_eq!(rules[1].for_, Duration::from_secs(90));
        assert_eq!(rules[1].labels["team"], "infra");
        assert_eq!(rules[1].severity, Severity::Warn);
    }

    #[test]
    fn reports_all_problems_at_once() {
        let text = r#"
[[rule]]
name = "a"
condition = { disk_above = 120 }
severity = "warn"
hint = "{hots}"
[[rule]]
name = "a"
condition = "not_synced"
severity = "info"
"#;
        let err = parse_rules(text).unwrap_err().to_string();
        assert!(err.contains("not within 0-100"), "{err}");
        assert!(err.contains("{hots}"), "{err}");
        assert!(err.contains("used twice"), "{err}");
    }

    #[test]
    fn bad_values_are_toml_errors() {
        for bad in [
            "[[rule]]\nname='x'\ncondition='nope'\nseverity='page'\n",
            "[[rule]]\nname='x'\ncondition='not_synced'\nseverity='loud'\n",
            "[[rule]]\nname='x'\ncondition='not_synced'\nseverity='page'\nfor='5 parsecs'\n",
            "[[rule]]\nname='x'\ncondition='not_synced'\nseverity='page'\nsevrity='page'\n",
        ] {
            assert!(
                matches!(parse_rules(bad), Err(RulesError::Toml(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn defaults_round_trip_through_toml() {
        #[derive(Serialize)]
        struct F<'a> {
            rule: &'a [Rule],
        }
        let d = default_rules();
        let text = toml::to_string(&F { rule: &d }).unwrap();
        assert_eq!(parse_rules(&text).unwrap(), d);
        assert!(d.iter().any(|r| r.severity == Severity::Info));
    }

    #[test]
    fn hint_rendering() {
        assert_eq!(
            render_hint(
                "disk {value}% on {host} ({node}, {rule})",
                "disk",
                "h2",
                None,
                Some("93")
            ),
            "disk 93% on h2 (-, disk)"
        );
    }
}
