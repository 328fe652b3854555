//! The alert state machine: observations in, notifications out; no clock, no I/O.
//!
//! Owns: [`Engine`], [`Observation`], [`Notification`], [`Silence`], [`EngineState`] (serde JSON, so a cron
//! run reloads what was sent and does not send it again).
//! May not touch: channels (webhook, Slack...), files, the clock (`now` is passed in).
//!
//! Per (rule, host, node) - node empty for host-level rules:
//! ```text
//!   inactive --cond--> pending --cond held `for`--> firing (FIRING sent once, unless silenced)
//!      ^                  |                           |
//!      +----not cond------+                           +--not cond--> resolved (RESOLVED sent iff FIRING was)
//! ```
//! An unknown condition (no data: host unreachable, metric missing) changes nothing. A silenced firing
//! alert sends its FIRING when the silence expires if it still fires. `for = 0` fires on first sight.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};

use crate::alerts::rules::{Condition, Rule, Severity, render_hint};

/// How long after the last rise of the miss counter `missed_attestations_rising` stays true: 2 epochs.
pub const MISS_WINDOW_SECS: i64 = 2 * 384;

/// What the pollers saw for one node (or one host, with `node: None`) at one time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub host: String,
    pub node: Option<String>,
    /// `false` when SSH failed; other fields are then ignored (unknown).
    pub reachable: bool,
    pub unit_active: Option<bool>,
    /// Head slot, block or height, whichever the client has.
    pub head: Option<f64>,
    pub synced: Option<bool>,
    /// Sync distance, shown as `{value}` of `not_synced`.
    pub sync_distance: Option<f64>,
    pub peers: Option<f64>,
    /// Seconds since the node's latest block (Cosmos nodes, from CometBFT `/status`).
    pub block_age_secs: Option<f64>,
    /// A Cosmos validator: jailed or tombstoned (the word), or `Some(None)` when neither.
    pub jailed: Option<Option<String>>,
    /// A Cosmos validator: blocks missed in the slashing window, in percent of the window.
    pub missed_blocks_percent: Option<f64>,
    /// A Cosmos validator: proposals in their voting period it has not voted on, as (hours left,
    /// description).
    pub unvoted: Option<Vec<(f64, String)>>,
    /// A Cosmos node's chain has a pending plan whose program is not staged and verified on the
    /// node: (seconds left, description); `Some(None)` when no plan is pending or it is staged.
    pub cosmos_unstaged: Option<Option<(f64, String)>>,
    /// A Cosmos node missed its plan's switch: (seconds since, description); `Some(None)` when
    /// not (no plan, before the height, or switched).
    pub cosmos_missed: Option<Option<(f64, String)>>,
    pub disk_used_percent: Option<f64>,
    pub mem_used_percent: Option<f64>,
    /// Validator-monitor miss counter (cumulative).
    pub validator_misses: Option<f64>,
    /// Version available and past its upgrade delay.
    pub upgrade_available: Option<String>,
    /// Reason the last upgrade failed or was rolled back.
    pub upgrade_failed: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Pending,
    Firing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Firing,
    Resolved,
}

/// One message for the channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub kind: NotificationKind,
    pub rule: String,
    pub severity: Severity,
    /// Only `page` severity pages; `info` and `warn` never do.
    pub pages: bool,
    pub host: String,
    pub node: Option<String>,
    pub value: Option<String>,
    /// The rule's hint with placeholders filled.
    pub text: String,
    pub labels: BTreeMap<String, String>,
    /// When the condition was first seen.
    pub since: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

impl Notification {
    /// The notification of `kind` for the alert `a` of `rule`, its text the rule's hint filled in.
    pub fn for_alert(kind: NotificationKind, rule: &Rule, a: &Active, now: DateTime<Utc>) -> Self {
        Notification {
            kind,
            rule: rule.name.clone(),
            severity: rule.severity,
            pages: rule.severity == Severity::Page,
            host: a.host.clone(),
            node: a.node.clone(),
            value: a.value.clone(),
            text: render_hint(
                &rule.hint,
                &rule.name,
                &a.host,
                a.node.as_deref(),
                a.value.as_deref(),
            ),
            labels: rule.labels.clone(),
            since: a.since,
            at: now,
        }
    }
}

/// One active (pending or firing) alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Active {
    pub rule: String,
    pub host: String,
    pub node: Option<String>,
    pub phase: Phase,
    pub since: DateTime<Utc>,
    pub value: Option<String>,
    /// FIRING was sent (so RESOLVED will be).
    pub notified: bool,
}

/// Which alerts a silence covers: `None` fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceMatcher {
    pub rule: Option<String>,
    pub host: Option<String>,
    pub node: Option<String>,
}

impl SilenceMatcher {
    fn matches(&self, rule: &str, host: &str, node: Option<&str>) -> bool {
        self.rule.as_deref().is_none_or(|r| r == rule)
            && self.host.as_deref().is_none_or(|h| h == host)
            && self.node.as_deref().is_none_or(|n| Some(n) == node)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub matcher: SilenceMatcher,
    pub until: DateTime<Utc>,
}

/// Per-node memory the conditions need across runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeMemory {
    pub head: Option<f64>,
    pub misses: Option<f64>,
    pub misses_rose_at: Option<DateTime<Utc>>,
}

/// Everything that must survive between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    /// Keyed by `rule|host|node`.
    pub active: BTreeMap<String, Active>,
    pub silences: Vec<Silence>,
    /// Keyed by `host|node`.
    pub memory: BTreeMap<String, NodeMemory>,
}

impl EngineState {
    /// Whether a silence in force at `now` covers the alert `rule` on `host`/`node`.
    pub fn is_silenced(
        &self,
        now: DateTime<Utc>,
        rule: &str,
        host: &str,
        node: Option<&str>,
    ) -> bool {
        self.silences
            .iter()
            .any(|s| s.until > now && s.matcher.matches(rule, host, node))
    }
}

#[derive(Debug)]
pub struct Engine {
    rules: Vec<Rule>,
    state: EngineState,
}

fn key3(rule: &str, host: &str, node: Option<&str>) -> String {
    format!("{rule}|{host}|{}", node.unwrap_or(""))
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

impl Engine {
    pub fn new(rules: Vec<Rule>) -> Self {
        Engine {
            rules,
            state: EngineState::default(),
        }
    }

    /// Resume from saved state (a previous cron run).
    pub fn with_state(rules: Vec<Rule>, state: EngineState) -> Self {
        Engine { rules, state }
    }

    pub fn state(&self) -> &EngineState {
        &self.state
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn state_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(&self.state)
    }

    pub fn from_json(rules: Vec<Rule>, json: &str) -> Result<Self, serde_json::Error> {
        Ok(Engine::with_state(rules, serde_json::from_str(json)?))
    }

    /// Silence matching alerts until `until`.
    pub fn silence(&mut self, matcher: SilenceMatcher, until: DateTime<Utc>) {
        self.state.silences.push(Silence { matcher, until });
    }

    fn silenced(&self, now: DateTime<Utc>, rule: &str, host: &str, node: Option<&str>) -> bool {
        self.state.is_silenced(now, rule, host, node)
    }

    /// Update per-node memory with one observation, returning (head_stuck, misses_rising) for it.
    fn remember(&mut self, now: DateTime<Utc>, o: &Observation) -> (Option<bool>, Option<bool>) {
        if !o.reachable || o.node.is_none() {
            return (None, None);
        }
        let mem = self
            .state
            .memory
            .entry(format!("{}|{}", o.host, o.node.as_deref().unwrap_or("")))
            .or_default();
        let stuck = match (mem.head, o.head) {
            (Some(prev), Some(cur)) => Some(cur <= prev),
            _ => None,
        };
        if o.head.is_some() {
            mem.head = o.head;
        }
        if let (Some(prev), Some(cur)) = (mem.misses, o.validator_misses) {
            if cur > prev {
                mem.misses_rose_at = Some(now);
            }
        }
        if o.validator_misses.is_some() {
            mem.misses = o.validator_misses;
        }
        let rising = o.validator_misses.map(|_| {
            mem.misses_rose_at
                .is_some_and(|t| now - t < ChronoDuration::seconds(MISS_WINDOW_SECS))
        });
        (stuck, rising)
    }

    /// `Some((holds, value))`, or `None` when unknown from this observation.
    fn check(
        cond: &Condition,
        o: &Observation,
        stuck: Option<bool>,
        rising: Option<bool>,
    ) -> Option<(bool, Option<String>)> {
        if let Condition::HostUnreachable = cond {
            return Some((!o.reachable, None));
        }
        if !o.reachable {
            return None;
        }
        let num = |v: Option<f64>| v.map(fmt_num);
        match cond {
            Condition::HostUnreachable => None,
            Condition::UnitNotActive => o.unit_active.map(|a| (!a, None)),
            Condition::HeadNotAdvancing => stuck.map(|s| (s, num(o.head))),
            Condition::NotSynced => o.synced.map(|s| (!s, num(o.sync_distance))),
            Condition::PeersBelow(n) => o.peers.map(|p| (p < *n, num(Some(p)))),
            Condition::NoNewBlockFor(s) => o.block_age_secs.map(|a| (a > *s, num(Some(a)))),
            Condition::ValidatorJailed => o.jailed.clone().map(|j| (j.is_some(), j)),
            Condition::MissedBlocksAbove(p) => {
                o.missed_blocks_percent.map(|m| (m > *p, num(Some(m))))
            }
            Condition::ProposalNotVotedWithin(h) => o.unvoted.as_ref().map(|v| {
                let due = v
                    .iter()
                    .filter(|(left, _)| *left <= *h)
                    .min_by(|a, b| a.0.total_cmp(&b.0));
                (due.is_some(), due.map(|d| d.1.clone()))
            }),
            Condition::CosmosPlanNotStagedWithin(h) => {
                o.cosmos_unstaged.as_ref().map(|u| match u {
                    Some((left, text)) if *left <= h * 3600.0 => (true, Some(text.clone())),
                    _ => (false, None),
                })
            }
            Condition::CosmosMissedSwitchAfter(s) => o.cosmos_missed.as_ref().map(|m| match m {
                Some((since, text)) if *since >= *s => (true, Some(text.clone())),
                _ => (false, None),
            }),
            Condition::DiskAbove(p) => o.disk_used_percent.map(|d| (d > *p, num(Some(d)))),
            Condition::MemoryAbove(p) => o.mem_used_percent.map(|m| (m > *p, num(Some(m)))),
            Condition::MissedAttestationsRising => rising.map(|r| (r, num(o.validator_misses))),
            Condition::UpgradeAvailable => {
                o.node.as_ref()?;
                Some((o.upgrade_available.is_some(), o.upgrade_available.clone()))
            }
            Condition::UpgradeFailed => {
                o.node.as_ref()?;
                Some((o.upgrade_failed.is_some(), o.upgrade_failed.clone()))
            }
        }
    }

    /// Advance every alert with the observations of one poll and return what must be sent.
    pub fn evaluate(
        &mut self,
        now: DateTime<Utc>,
        observations: &[Observation],
    ) -> Vec<Notification> {
        self.state.silences.retain(|s| s.until > now);
        let mut out = Vec::new();
        let derived: Vec<(Option<bool>, Option<bool>)> =
            observations.iter().map(|o| self.remember(now, o)).collect();
        let rules = std::mem::take(&mut self.rules);
        for rule in &rules {
            for (o, &(stuck, rising)) in observations.iter().zip(&derived) {
                let host_level = rule.condition.is_host_level();
                // node-level rules need a node; host-level rules are keyed by host only
                if !host_level && o.node.is_none() {
                    continue;
                }
                let node = if host_level { None } else { o.node.as_deref() };
                let Some((holds, value)) = Self::check(&rule.condition, o, stuck, rising) else {
                    continue;
                };
                let key = key3(&rule.name, &o.host, node);
                if holds {
                    self.hold(now, rule, &key, &o.host, node, value, &mut out);
                } else if let Some(a) = self.state.active.remove(&key) {
                    if a.phase == Phase::Firing && a.notified {
                        out.push(Notification::for_alert(
                            NotificationKind::Resolved,
                            rule,
                            &a,
                            now,
                        ));
                    }
                }
            }
        }
        self.rules = rules;
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn hold(
        &mut self,
        now: DateTime<Utc>,
        rule: &Rule,
        key: &str,
        host: &str,
        node: Option<&str>,
        value: Option<String>,
        out: &mut Vec<Notification>,
    ) {
        let silenced = self.silenced(now, &rule.name, host, node);
        let a = self
            .state
            .active
            .entry(key.to_string())
            .or_insert_with(|| Active {
                rule: rule.name.clone(),
                host: host.to_string(),
                node: node.map(str::to_string),
                phase: Phase::Pending,
                since: now,
                value: None,
                notified: false,
            });
        a.value = value;
        let held = (now - a.since).to_std().unwrap_or_default();
        if a.phase == Phase::Pending && held >= rule.for_ {
            a.phase = Phase::Firing;
        }
        if a.phase == Phase::Firing && !a.notified && !silenced {
            a.notified = true;
            let a = a.clone();
            out.push(Notification::for_alert(
                NotificationKind::Firing,
                rule,
                &a,
                now,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::default_rules;
    use std::time::Duration;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn rule(cond: Condition, for_secs: u64, sev: Severity) -> Rule {
        Rule {
            name: "r".into(),
            condition: cond,
            for_: Duration::from_secs(for_secs),
            severity: sev,
            labels: BTreeMap::new(),
            hint: "{node} on {host}: {value}".into(),
        }
    }

    fn obs(active: bool) -> Observation {
        Observation {
            host: "h1".into(),
            node: Some("bn".into()),
            reachable: true,
            unit_active: Some(active),
            ..Default::default()
        }
    }

    #[test]
    fn pending_firing_resolved_once_each() {
        let mut e = Engine::new(vec![rule(Condition::UnitNotActive, 300, Severity::Page)]);
        assert!(e.evaluate(t(0), &[obs(true)]).is_empty());
        assert!(e.state().active.is_empty(), "inactive");
        assert!(e.evaluate(t(10), &[obs(false)]).is_empty());
        assert_eq!(e.state().active["r|h1|bn"].phase, Phase::Pending);
        assert!(
            e.evaluate(t(309), &[obs(false)]).is_empty(),
            "not yet: 299 s held"
        );
        let n = e.evaluate(t(310), &[obs(false)]);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].kind, NotificationKind::Firing);
        assert!(n[0].pages);
        assert_eq!(n[0].since, t(10));
        assert_eq!(n[0].text, "bn on h1: ?");
        assert!(
            e.evaluate(t(400), &[obs(false)]).is_empty(),
            "dedup: no second FIRING"
        );
        let n = e.evaluate(t(500), &[obs(true)]);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].kind, NotificationKind::Resolved);
        assert!(
            e.evaluate(t(600), &[obs(true)]).is_empty(),
            "RESOLVED only once"
        );
        assert!(e.state().active.is_empty());
    }

    #[test]
    fn pending_that_clears_sends_nothing() {
        let mut e = Engine::new(vec![rule(Condition::UnitNotActive, 300, Severity::Page)]);
        assert!(e.evaluate(t(0), &[obs(false)]).is_empty());
        assert!(e.evaluate(t(100), &[obs(true)]).is_empty());
        assert!(e.state().active.is_empty());
        // a new episode starts its `for` again
        assert!(e.evaluate(t(200), &[obs(false)]).is_empty());
        assert!(e.evaluate(t(450), &[obs(false)]).is_empty());
        assert_eq!(e.evaluate(t(500), &[obs(false)]).len(), 1);
    }

    #[test]
    fn unknown_changes_nothing() {
        let mut e = Engine::new(vec![rule(Condition::UnitNotActive, 0, Severity::Page)]);
        assert_eq!(e.evaluate(t(0), &[obs(false)]).len(), 1);
        let mut unknown = obs(false);
        unknown.unit_active = None;
        assert!(e.evaluate(t(10), &[unknown.clone()]).is_empty());
        unknown.reachable = false;
        assert!(e.evaluate(t(20), &[unknown]).is_empty());
        assert_eq!(e.state().active["r|h1|bn"].phase, Phase::Firing);
    }

    #[test]
    fn state_survives_a_cron_restart_without_resending() {
        let rules = vec![rule(Condition::UnitNotActive, 60, Severity::Warn)];
        let mut e = Engine::new(rules.clone());
        e.evaluate(t(0), &[obs(false)]);
        let json = e.state_json().unwrap();
        let mut e = Engine::from_json(rules.clone(), &json).unwrap();
        let n = e.evaluate(t(60), &[obs(false)]);
        assert_eq!(n.len(), 1, "pending survived the reload");
        assert!(!n[0].pages, "warn does not page");
        let json = e.state_json().unwrap();
        let mut e = Engine::from_json(rules.clone(), &json).unwrap();
        assert!(e.evaluate(t(120), &[obs(false)]).is_empty(), "not re-sent");
        let mut e = Engine::from_json(rules, &e.state_json().unwrap()).unwrap();
        assert_eq!(
            e.evaluate(t(180), &[obs(true)])[0].kind,
            NotificationKind::Resolved
        );
    }

    #[test]
    fn silence_suppresses_then_expires() {
        let mut e = Engine::new(vec![rule(Condition::UnitNotActive, 0, Severity::Page)]);
        e.silence(
            SilenceMatcher {
                host: Some("h1".into()),
                ..Default::default()
            },
            t(100),
        );
        assert!(e.evaluate(t(0), &[obs(false)]).is_empty(), "silenced");
        assert_eq!(e.state().active["r|h1|bn"].phase, Phase::Firing);
        assert!(e.evaluate(t(99), &[obs(false)]).is_empty());
        let n = e.evaluate(t(100), &[obs(false)]);
        assert_eq!(n.len(), 1, "silence expired while still firing");
        assert!(e.state().silences.is_empty(), "expired silence pruned");
        // a silence on another host does not apply
        e.silence(
            SilenceMatcher {
                host: Some("h2".into()),
                ..Default::default()
            },
            t(1000),
        );
        assert_eq!(e.evaluate(t(200), &[obs(true)]).len(), 1, "RESOLVED");
    }

    #[test]
    fn silenced_episode_that_resolves_sends_no_resolved() {
        let mut e = Engine::new(vec![rule(Condition::UnitNotActive, 0, Severity::Page)]);
        e.silence(
            SilenceMatcher {
                rule: Some("r".into()),
                ..Default::default()
            },
            t(100),
        );
        assert!(e.evaluate(t(0), &[obs(false)]).is_empty());
        assert!(e.evaluate(t(50), &[obs(true)]).is_empty());
    }

    #[test]
    fn info_never_pages() {
        let mut e = Engine::new(vec![rule(Condition::UpgradeAvailable, 0, Severity::Info)]);
        let mut o = obs(true);
        o.upgrade_available = Some("v1.6.0".into());
        let n = e.evaluate(t(0), &[o]);
        assert_eq!(n.len(), 1);
        assert!(!n[0].pages);
        assert_eq!(n[0].value.as_deref(), Some("v1.6.0"));
    }

    #[test]
    fn head_not_advancing_uses_memory() {
        let mut e = Engine::new(vec![rule(Condition::HeadNotAdvancing, 120, Severity::Page)]);
        let at = |head: f64| Observation {
            head: Some(head),
            ..obs(true)
        };
        assert!(e.evaluate(t(0), &[at(10.0)]).is_empty());
        assert!(e.evaluate(t(60), &[at(11.0)]).is_empty());
        assert!(e.state().active.is_empty(), "advancing");
        assert!(e.evaluate(t(120), &[at(11.0)]).is_empty(), "pending");
        assert!(e.evaluate(t(180), &[at(11.0)]).is_empty());
        let n = e.evaluate(t(240), &[at(11.0)]);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].value.as_deref(), Some("11"));
        assert_eq!(
            e.evaluate(t(300), &[at(12.0)])[0].kind,
            NotificationKind::Resolved
        );
    }

    #[test]
    fn no_new_block_fires_once_and_resolves_once() {
        let mut e = Engine::new(vec![rule(
            Condition::NoNewBlockFor(60.0),
            0,
            Severity::Page,
        )]);
        let age = |a: Option<f64>| Observation {
            block_age_secs: a,
            ..obs(true)
        };
        assert!(e.evaluate(t(0), &[age(Some(5.0))]).is_empty());
        // not a Cosmos node (or its RPC is silent): unknown, nothing
        assert!(e.evaluate(t(10), &[age(None)]).is_empty());
        let n = e.evaluate(t(20), &[age(Some(75.5))]);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].kind, NotificationKind::Firing);
        assert_eq!(n[0].value.as_deref(), Some("75.5"));
        assert!(e.evaluate(t(30), &[age(Some(85.5))]).is_empty(), "once");
        let n = e.evaluate(t(40), &[age(Some(0.4))]);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].kind, NotificationKind::Resolved);
        assert!(e.evaluate(t(50), &[age(Some(0.2))]).is_empty());
    }

    #[test]
    fn cosmos_validator_rules() {
        let mut e = Engine::new(vec![
            Rule {
                name: "jailed".into(),
                ..rule(Condition::ValidatorJailed, 0, Severity::Page)
            },
            Rule {
                name: "missed".into(),
                ..rule(Condition::MissedBlocksAbove(5.0), 0, Severity::Warn)
            },
            Rule {
                name: "vote".into(),
                ..rule(Condition::ProposalNotVotedWithin(24.0), 0, Severity::Warn)
            },
        ]);
        let fine = Observation {
            jailed: Some(None),
            missed_blocks_percent: Some(0.5),
            unvoted: Some(vec![(100.0, "proposal #7 later".into())]),
            ..obs(true)
        };
        assert!(e.evaluate(t(0), std::slice::from_ref(&fine)).is_empty());
        let bad = Observation {
            jailed: Some(Some("tombstoned".into())),
            missed_blocks_percent: Some(12.5),
            unvoted: Some(vec![
                (100.0, "proposal #7 later".into()),
                (20.0, "proposal #8 soon".into()),
            ]),
            ..obs(true)
        };
        let mut n = e.evaluate(t(10), std::slice::from_ref(&bad));
        n.sort_by(|a, b| a.rule.cmp(&b.rule));
        let got: Vec<(&str, Option<&str>)> = n
            .iter()
            .map(|x| (x.rule.as_str(), x.value.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("jailed", Some("tombstoned")),
                ("missed", Some("12.5")),
                ("vote", Some("proposal #8 soon"))
            ]
        );
        assert!(
            e.evaluate(t(20), std::slice::from_ref(&bad)).is_empty(),
            "once"
        );
        let n = e.evaluate(t(30), std::slice::from_ref(&fine));
        assert_eq!(n.len(), 3);
        assert!(n.iter().all(|x| x.kind == NotificationKind::Resolved));
        // a node without a valoper: unknown, nothing
        assert!(e.evaluate(t(40), &[obs(true)]).is_empty());
    }

    #[test]
    fn cosmos_chain_upgrade_rules() {
        let mut e = Engine::new(vec![
            Rule {
                name: "unstaged".into(),
                ..rule(Condition::CosmosPlanNotStagedWithin(2.0), 0, Severity::Page)
            },
            Rule {
                name: "missed".into(),
                ..rule(Condition::CosmosMissedSwitchAfter(60.0), 0, Severity::Page)
            },
        ]);
        let at = |unstaged: Option<(f64, &str)>, missed: Option<(f64, &str)>| Observation {
            cosmos_unstaged: Some(unstaged.map(|(s, t)| (s, t.to_string()))),
            cosmos_missed: Some(missed.map(|(s, t)| (s, t.to_string()))),
            ..obs(true)
        };
        // a plan 3 h away, not staged: not yet; a halt 30 s ago: not yet
        assert!(
            e.evaluate(
                t(0),
                &[at(Some((3.0 * 3600.0, "far")), Some((30.0, "young")))]
            )
            .is_empty()
        );
        let mut n = e.evaluate(t(10), &[at(Some((7000.0, "near")), Some((61.0, "late")))]);
        n.sort_by(|a, b| a.rule.cmp(&b.rule));
        let got: Vec<(&str, Option<&str>)> = n
            .iter()
            .map(|x| (x.rule.as_str(), x.value.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![("missed", Some("late")), ("unstaged", Some("near"))]
        );
        assert!(
            e.evaluate(t(20), &[at(Some((6000.0, "near")), Some((71.0, "late")))])
                .is_empty(),
            "once"
        );
        // unknown (not a Cosmos node, or unreadable): nothing changes
        assert!(e.evaluate(t(25), &[obs(true)]).is_empty());
        let n = e.evaluate(t(30), &[at(None, None)]);
        assert_eq!(n.len(), 2);
        assert!(n.iter().all(|x| x.kind == NotificationKind::Resolved));
        assert!(
            e.evaluate(t(40), &[at(None, None)]).is_empty(),
            "resolves once"
        );
    }

    #[test]
    fn missed_attestations_window() {
        let mut e = Engine::new(vec![rule(
            Condition::MissedAttestationsRising,
            0,
            Severity::Warn,
        )]);
        let at = |m: f64| Observation {
            validator_misses: Some(m),
            ..obs(true)
        };
        assert!(e.evaluate(t(0), &[at(0.0)]).is_empty());
        assert_eq!(e.evaluate(t(10), &[at(1.0)]).len(), 1);
        assert!(
            e.evaluate(t(10 + MISS_WINDOW_SECS - 1), &[at(1.0)])
                .is_empty(),
            "still in window"
        );
        let n = e.evaluate(t(10 + MISS_WINDOW_SECS), &[at(1.0)]);
        assert_eq!(n[0].kind, NotificationKind::Resolved);
    }

    #[test]
    fn host_level_rules_dedup_across_nodes() {
        let mut e = Engine::new(vec![
            rule(Condition::DiskAbove(90.0), 0, Severity::Warn),
            rule(Condition::HostUnreachable, 0, Severity::Page),
        ]);
        // names differ only in the engine key
        e.rules[1].name = "down".into();
        let mk = |node: &str, disk: f64| Observation {
            node: Some(node.into()),
            disk_used_percent: Some(disk),
            ..obs(true)
        };
        let n = e.evaluate(t(0), &[mk("bn", 93.04), mk("vc", 93.04)]);
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0].node, None);
        assert_eq!(n[0].value.as_deref(), Some("93.0"));
        let down = Observation {
            reachable: false,
            ..mk("bn", 0.0)
        };
        let n = e.evaluate(t(10), &[down.clone(), down]);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].rule, "down");
        // disk stays firing while unknown; resolves when seen again below the threshold
        let n = e.evaluate(t(20), &[mk("bn", 50.0)]);
        let kinds: Vec<_> = n.iter().map(|n| (n.rule.as_str(), n.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("r", NotificationKind::Resolved),
                ("down", NotificationKind::Resolved)
            ]
        );
    }

    #[test]
    fn defaults_fire_for_a_stopped_unit() {
        let mut e = Engine::new(default_rules());
        assert!(e.evaluate(t(0), &[obs(false)]).is_empty());
        let n = e.evaluate(t(120), &[obs(false)]);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].rule, "unit-not-active");
        assert!(n[0].text.contains("bn on h1"), "{}", n[0].text);
    }
}
