//! Engine output turned into TUI values: a metrics [`Snapshot`] (plus the [`MetricsStore`]'s
//! history) into one [`NodeMetrics`] per node, and the alert engine's state into [`AlertRow`]s.
//!
//! Owns: [`node_metrics`] (which numbers and which sparklines a row gets) and [`AlertWatch`], a
//! private alert engine for the TUI that evaluates the same rules as `nodeherd alerts run` but
//! NEVER delivers anything and never writes the shared state file: the TUI must not page anyone.
//! May not touch: I/O (the runtime gathers and sends), rule semantics (`nodeherd_core::alerts`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::state::{AlertRow, AlertState, KeyEntry, NodeMetrics, ReleaseRow, short_pubkey};
use nodeherd_core::alerts::engine::{Active, EngineState, Phase};
use nodeherd_core::alerts::{
    Engine, NotificationKind, Observation, Rule, Severity, rules::render_hint,
};
use nodeherd_core::inventory::NodeRef;
use nodeherd_core::keymanager::types::{DeleteStatus, ImportResult, ImportStatus};
use nodeherd_core::metrics::Signal;
use nodeherd_core::metrics::series::Series;
use nodeherd_engine::keys::{KeyRow, MoveReport, RemoveOutcome};
use nodeherd_engine::metrics::{MetricsStore, SeriesKey, SeriesKind, Snapshot};
use nodeherd_engine::upgrade::engine::{NodePlan, Target};

/// How many resolved alerts the alerts screen keeps.
pub const RESOLVED_CAP: usize = 20;

/// One `(host, node, metrics)` per node of the snapshot: head, sync distance, peers, the host's
/// CPU/memory/disk, and sparkline series (head slot, peers, cpu, mem) from the store.
pub fn node_metrics(snap: &Snapshot, store: &MetricsStore) -> Vec<(String, String, NodeMetrics)> {
    snap.nodes
        .iter()
        .map(|n| {
            let host = snap.host(&n.host);
            let head_series = [Signal::HeadSlot, Signal::HeadBlock, Signal::Height]
                .into_iter()
                .find_map(|s| store.node_series(&n.host, &n.node, s));
            let host_series = |k: SeriesKind| store.series(&SeriesKey::host(&n.host, k)).cloned();
            let series: Vec<(String, Series)> = [
                ("head slot", head_series.cloned()),
                (
                    "peers",
                    store.node_series(&n.host, &n.node, Signal::Peers).cloned(),
                ),
                ("cpu %", host_series(SeriesKind::HostCpuPercent)),
                ("mem %", host_series(SeriesKind::HostMemPercent)),
            ]
            .into_iter()
            .filter_map(|(label, s)| s.map(|s| (label.to_string(), s)))
            .collect();
            let m = NodeMetrics {
                head_slot: n.head().filter(|v| *v >= 0.0).map(|v| v as u64),
                sync_distance: n.sync_distance().filter(|v| *v >= 0.0).map(|v| v as u64),
                peers: n.get(Signal::Peers).filter(|v| *v >= 0.0).map(|v| v as u32),
                cpu_pct: host.and_then(|h| h.cpu_percent),
                mem_pct: host.and_then(nodeherd_engine::metrics::HostMetrics::mem_percent),
                disk_pct: host.and_then(nodeherd_engine::metrics::HostMetrics::disk_percent),
                series,
            };
            (n.host.clone(), n.node.clone(), m)
        })
        .collect()
}

/// The releases screen's rows from the upgrade engine's plans (in target order).
pub fn release_rows(targets: &[Target], plans: &[NodePlan]) -> Vec<ReleaseRow> {
    targets
        .iter()
        .zip(plans)
        .map(|(t, p)| ReleaseRow {
            host: t.host.name.clone(),
            node: t.node.name.clone(),
            running: p.running.clone(),
            allowed: p.allowed.clone(),
            previous: p.previous.clone(),
            to: p.step.to.clone(),
            next: p.next.clone(),
            reason: p.step.reason.clone(),
            why: p.why.clone(),
            notes: p.release.as_ref().map(notes_excerpt).unwrap_or_default(),
        })
        .collect()
}

/// At most 4 lines: the urgency the notes state, then their first non-empty lines (markdown
/// headings and list marks trimmed).
pub fn notes_excerpt(r: &nodeherd_core::releases::feed::Release) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(u) = r.urgency() {
        out.push(format!("{}: the notes mention \"{u}\"", r.version));
    }
    let body = r.feed.body.as_deref().unwrap_or("");
    out.extend(
        body.lines()
            .map(|l| l.trim().trim_start_matches(['#', '*', '-', ' ']).trim())
            .filter(|l| !l.is_empty())
            .take(4 - out.len())
            .map(|l| l.chars().take(160).collect::<String>()),
    );
    out
}

/// The keys screen's entries of one node from `ops::keys::list_node` rows.
pub fn key_entries(r: NodeRef, host: &str, node: &str, rows: Vec<KeyRow>) -> Vec<KeyEntry> {
    rows.into_iter()
        .map(|k| KeyEntry {
            r,
            host: host.to_string(),
            node: node.to_string(),
            pubkey: k.pubkey,
            readonly: k.readonly,
            remote: k.remote,
            derivation_path: k.derivation_path,
            cosmos: None,
        })
        .collect()
}

/// The keys screen's entry of a CometBFT node's consensus key.
pub fn cosmos_entry(
    r: NodeRef,
    host: &str,
    node: &str,
    row: nodeherd_engine::keys::consensus::ConsensusRow,
) -> KeyEntry {
    KeyEntry {
        r,
        host: host.to_string(),
        node: node.to_string(),
        pubkey: row.key.pubkey,
        readonly: Some(true),
        remote: false,
        derivation_path: None,
        cosmos: Some(crate::state::CosmosKey {
            address: row.key.address,
            last_signed: row.state.map(|s| (s.height, s.round, s.step)),
        }),
    }
}

/// Keys listed on two or more nodes, per chain (pure; what the keys screen flags in red).
pub fn double_sign_risks(
    nodes: &[crate::state::NodeKeys],
) -> Vec<nodeherd_engine::keys::DoubleSignRisk> {
    use nodeherd_engine::keys::{KeyChain, double_sign_risks};
    let entries: Vec<(String, &KeyEntry)> = nodes
        .iter()
        .filter_map(|n| n.keys.as_ref().ok().map(|k| (n, k)))
        .flat_map(|(n, keys)| {
            keys.iter()
                .map(move |k| (format!("{}/{}", n.host, n.node), k))
        })
        .collect();
    let of = |cosmos: bool| {
        entries
            .iter()
            .filter(move |(_, k)| k.cosmos.is_some() == cosmos)
            .map(|(node, k)| {
                (
                    node.as_str(),
                    k.pubkey.as_str(),
                    k.cosmos.as_ref().map(|c| c.address.as_str()),
                )
            })
    };
    let mut out = double_sign_risks(KeyChain::Ethereum, of(false));
    out.extend(double_sign_risks(KeyChain::Cosmos, of(true)));
    out
}

/// One flash line for an import: per key imported / already there / refused (with the client's
/// words). Ok unless a key was refused.
pub fn import_summary(at: &str, pubkeys: &[String], results: &[ImportResult]) -> (bool, String) {
    let mut ok = results.len() == pubkeys.len();
    let mut parts = Vec::new();
    for (p, r) in pubkeys.iter().zip(results) {
        let short = short_pubkey(p);
        let extra = r
            .message
            .as_deref()
            .filter(|m| !m.is_empty())
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        parts.push(match r.status {
            ImportStatus::Imported => format!("imported {short} into {at}"),
            ImportStatus::Duplicate => format!("{at} already had {short}"),
            ImportStatus::Error => {
                ok = false;
                format!("{at} refused {short}{extra}")
            }
        });
    }
    if results.len() != pubkeys.len() {
        parts.push(format!(
            "{at} answered {} result(s) for {} key(s)",
            results.len(),
            pubkeys.len()
        ));
    }
    (ok, parts.join("; "))
}

/// One flash line for a move: where the key is now (and the slashing file when there is one).
pub fn move_summary(r: &MoveReport, pubkey: &str, from: &str, to: &str) -> (bool, String) {
    let short = short_pubkey(pubkey);
    if r.ok {
        let file = r
            .slashing_file
            .as_ref()
            .map(|f| format!("; slashing data saved to {}", f.display()))
            .unwrap_or_default();
        (true, format!("moved {short} from {from} to {to}{file}"))
    } else {
        let last = r
            .steps
            .last()
            .map(|s| format!(" (at: {s})"))
            .unwrap_or_default();
        (
            false,
            format!("move of {short} NOT completed: {}{last}", r.state),
        )
    }
}

/// The flash line after a removal: `(ok, text)`. Not ok unless the key is gone (or was not
/// active), both copies of the slashing data were written and the data covers the key.
pub fn remove_summary(o: &RemoveOutcome) -> (bool, String) {
    let mut ok = true;
    let mut parts: Vec<String> = Vec::new();
    for (p, status, msg) in &o.results {
        let short = short_pubkey(p);
        let extra = msg
            .as_deref()
            .filter(|m| !m.is_empty())
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        parts.push(match status {
            DeleteStatus::Deleted => format!("removed {short} from {}", o.node),
            DeleteStatus::NotActive => format!("{short} was not active on {}", o.node),
            DeleteStatus::NotFound => {
                ok = false;
                format!("{} does not know {short}{extra}", o.node)
            }
            DeleteStatus::Error => {
                ok = false;
                format!("{} could not remove {short}{extra}", o.node)
            }
        });
    }
    if o.saved() {
        if let (Ok(c), Ok(h)) = (&o.console_file, &o.host_file) {
            parts.push(format!(
                "slashing data saved to {} and {h} on the host",
                c.display()
            ));
        }
    } else {
        ok = false;
        let mut miss = Vec::new();
        if let Err(e) = &o.console_file {
            miss.push(format!("console copy: {e}"));
        }
        if let Err(e) = &o.host_file {
            miss.push(format!("host copy: {e}"));
        }
        parts.push(format!(
            "SLASHING DATA NOT SAVED EVERYWHERE ({}); the data is in the TUI log: keep it before importing the key anywhere",
            miss.join("; ")
        ));
    }
    if let Err(e) = &o.slashing_check {
        ok = false;
        parts.push(format!("WARNING: {e}"));
    }
    (ok, parts.join("; "))
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warn => "warn",
        Severity::Page => "page",
    }
}

/// The TUI's own alert engine: seeded from the saved state (so silences and long-pending alerts
/// carry over), advanced once per poll, its notifications dropped (only "resolved" is kept, for
/// the screen). Nothing is ever delivered or saved.
#[derive(Debug)]
pub struct AlertWatch {
    engine: Engine,
    rules: HashMap<String, Rule>,
    resolved: Vec<AlertRow>,
}

impl AlertWatch {
    pub fn new(rules: Vec<Rule>, state: EngineState) -> AlertWatch {
        let by_name = rules.iter().map(|r| (r.name.clone(), r.clone())).collect();
        AlertWatch {
            engine: Engine::with_state(rules, state),
            rules: by_name,
            resolved: Vec::new(),
        }
    }

    /// Silence matching alerts until `until` (this session's engine).
    pub fn silence(
        &mut self,
        matcher: nodeherd_core::alerts::engine::SilenceMatcher,
        until: DateTime<Utc>,
    ) {
        self.engine.silence(matcher, until);
    }

    fn row(&self, state: AlertState, a: &Active) -> AlertRow {
        let rule = self.rules.get(&a.rule);
        AlertRow {
            state,
            severity: rule.map_or("-", |r| severity_word(r.severity)).into(),
            rule: a.rule.clone(),
            host: a.host.clone(),
            node: a.node.clone().unwrap_or_default(),
            since: a.since,
            summary: rule.map_or_else(
                || a.value.clone().unwrap_or_default(),
                |r| {
                    render_hint(
                        &r.hint,
                        &a.rule,
                        &a.host,
                        a.node.as_deref(),
                        a.value.as_deref(),
                    )
                },
            ),
        }
    }

    fn silenced(&self, now: DateTime<Utc>, a: &Active) -> bool {
        self.engine
            .state()
            .is_silenced(now, &a.rule, &a.host, a.node.as_deref())
    }

    /// Advance with one poll's observations; returns the full list for `Msg::Alerts`.
    pub fn observe(&mut self, now: DateTime<Utc>, obs: &[Observation]) -> Vec<AlertRow> {
        // Dropped on purpose: the TUI never notifies (only the alerts daemon/CLI does).
        let notifications = self.engine.evaluate(now, obs);
        for n in notifications
            .iter()
            .filter(|n| n.kind == NotificationKind::Resolved)
        {
            self.resolved.push(AlertRow {
                state: AlertState::Resolved,
                severity: severity_word(n.severity).into(),
                rule: n.rule.clone(),
                host: n.host.clone(),
                node: n.node.clone().unwrap_or_default(),
                since: n.at,
                summary: n.text.clone(),
            });
        }
        if self.resolved.len() > RESOLVED_CAP {
            let extra = self.resolved.len() - RESOLVED_CAP;
            self.resolved.drain(..extra);
        }
        let mut out: Vec<AlertRow> = self
            .engine
            .state()
            .active
            .values()
            .map(|a| {
                let st = if self.silenced(now, a) {
                    AlertState::Silenced
                } else if a.phase == Phase::Firing {
                    AlertState::Firing
                } else {
                    AlertState::Pending
                };
                self.row(st, a)
            })
            .collect();
        out.extend(self.resolved.iter().cloned());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodeherd_core::alerts::default_rules;
    use nodeherd_core::alerts::engine::{Silence, SilenceMatcher};
    use nodeherd_core::facts::host::HostFacts;
    use nodeherd_core::metrics::page::Sample;
    use nodeherd_engine::metrics::{HostMetrics, NodeMetrics as Scrape, SampleOut};

    #[test]
    fn import_and_move_summaries_say_where_keys_are() {
        let pks = vec![
            format!("0xaa{}", "1".repeat(94)),
            format!("0xbb{}", "2".repeat(94)),
        ];
        let res = |status, message: Option<&str>| ImportResult {
            status,
            message: message.map(str::to_string),
        };
        let (ok, text) = import_summary(
            "h/vc2",
            &pks,
            &[
                res(ImportStatus::Imported, None),
                res(ImportStatus::Duplicate, Some("")),
            ],
        );
        assert!(ok, "{text}");
        assert_eq!(
            text,
            "imported 0xaa1111…1111 into h/vc2; h/vc2 already had 0xbb2222…2222"
        );
        let (ok, text) = import_summary(
            "h/vc2",
            &pks,
            &[
                res(ImportStatus::Imported, None),
                res(ImportStatus::Error, Some("wrong password")),
            ],
        );
        assert!(!ok);
        assert!(
            text.ends_with("h/vc2 refused 0xbb2222…2222 (wrong password)"),
            "{text}"
        );
        // fewer answers than keys is never a success
        let (ok, text) = import_summary("h/vc2", &pks, &[res(ImportStatus::Imported, None)]);
        assert!(!ok && text.contains("1 result(s) for 2 key(s)"), "{text}");

        let report = MoveReport {
            steps: vec![
                "h/vc has the key active".into(),
                "cannot list h/vc2: timeout".into(),
            ],
            state: "nothing changed".into(),
            ok: false,
            slashing_file: None,
            resumed: false,
            quiet: None,
            liveness: Vec::new(),
        };
        let (ok, text) = move_summary(&report, &pks[0], "h/vc", "h/vc2");
        assert!(!ok);
        assert_eq!(
            text,
            "move of 0xaa1111…1111 NOT completed: nothing changed (at: cannot list h/vc2: timeout)"
        );
        let done = MoveReport {
            ok: true,
            slashing_file: Some("/s/vc.json".into()),
            ..report
        };
        assert_eq!(
            move_summary(&done, &pks[0], "h/vc", "h/vc2").1,
            "moved 0xaa1111…1111 from h/vc to h/vc2; slashing data saved to /s/vc.json"
        );
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    fn snap(at: i64, head: f64, peers: f64, cpu: f64) -> Snapshot {
        let mut s = Sample::default();
        s.values.insert(Signal::HeadSlot, head);
        s.values.insert(Signal::Peers, peers);
        Snapshot {
            nodes: vec![Scrape {
                host: "h1".into(),
                node: "bn".into(),
                client: "lodestar".into(),
                sample: Some(SampleOut::from_sample(s)),
                beacon: None,
                problem: None,
                scrape_ms: Some(3.0),
                page_bytes: Some(100),
                at: t(at),
            }],
            hosts: vec![HostMetrics {
                host: "h1".into(),
                facts: Some(HostFacts::default()),
                cpu_percent: Some(cpu),
                net: None,
                clock_offset_ms: None,
                error: None,
                at: t(at),
            }],
        }
    }

    #[test]
    fn snapshot_values_and_history_reach_the_row() {
        let mut store = MetricsStore::new(10);
        for i in 0..3 {
            let s = snap(
                i * 5,
                100.0 + i as f64,
                4.0 + i as f64,
                10.0 * (i + 1) as f64,
            );
            store.record(&s);
        }
        let last = snap(15, 103.0, 7.0, 40.0);
        store.record(&last);
        let out = node_metrics(&last, &store);
        assert_eq!(out.len(), 1);
        let (h, n, m) = &out[0];
        assert_eq!((h.as_str(), n.as_str()), ("h1", "bn"));
        assert_eq!(m.head_slot, Some(103));
        assert_eq!(m.peers, Some(7));
        assert_eq!(m.cpu_pct, Some(40.0));
        let labels: Vec<&str> = m.series.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["head slot", "peers", "cpu %"]);
        assert_eq!(m.series[0].1.len(), 4);
        assert_eq!(m.series[1].1.last().map(|p| p.1), Some(7.0));
    }

    fn down(host: &str) -> Observation {
        Observation {
            host: host.into(),
            node: Some("bn".into()),
            reachable: true,
            unit_active: Some(false),
            ..Default::default()
        }
    }

    #[test]
    fn alert_watch_goes_pending_firing_resolved_and_honours_silences() {
        let mut w = AlertWatch::new(default_rules(), EngineState::default());
        let first = w.observe(t(0), &[down("h1")]);
        let mine: Vec<_> = first.iter().filter(|a| a.host == "h1").collect();
        assert!(!mine.is_empty(), "a stopped unit raises an alert");
        // long enough for every `for`
        let later = w.observe(t(3600), &[down("h1")]);
        assert!(
            later
                .iter()
                .any(|a| a.state == AlertState::Firing && a.node == "bn"),
            "{later:?}"
        );
        let up = Observation {
            unit_active: Some(true),
            ..down("h1")
        };
        let after = w.observe(t(3700), &[up]);
        assert!(after.iter().any(|a| a.state == AlertState::Resolved));
        assert!(after.iter().all(|a| a.state == AlertState::Resolved));

        // a saved silence shows the alert as silenced, not firing
        let state = EngineState {
            silences: vec![Silence {
                matcher: SilenceMatcher {
                    host: Some("h2".into()),
                    ..Default::default()
                },
                until: t(100_000),
            }],
            ..Default::default()
        };
        let mut w = AlertWatch::new(default_rules(), state);
        w.observe(t(0), &[down("h2")]);
        let rows = w.observe(t(3600), &[down("h2")]);
        assert!(!rows.is_empty());
        assert!(
            rows.iter().all(|a| a.state == AlertState::Silenced),
            "{rows:?}"
        );
    }

    fn outcome(status: DeleteStatus, console: bool, host: bool) -> RemoveOutcome {
        RemoveOutcome {
            node: "eth-a1/lodestar-vc".into(),
            results: vec![(crate::fixture::PUBKEYS[0].into(), status, None)],
            slashing_protection: "{}".into(),
            slashing_check: Ok(()),
            console_file: if console {
                Ok("/st/slashing/x.json".into())
            } else {
                Err(std::sync::Arc::new(
                    nodeherd_engine::keys::SaveError::HostCheck {
                        dir: "/st/slashing",
                        reason: "disk full".into(),
                    },
                ))
            },
            host_file: if host {
                Ok("/var/lib/nodeherd/slashing/x.json".into())
            } else {
                Err(std::sync::Arc::new(
                    nodeherd_engine::keys::SaveError::HostWrite {
                        path: "/var/lib/nodeherd/slashing/x.json".into(),
                        reason: "permission denied".into(),
                    },
                ))
            },
        }
    }

    #[test]
    fn remove_summaries_are_loud_when_anything_is_off() {
        let (ok, text) = remove_summary(&outcome(DeleteStatus::Deleted, true, true));
        assert!(ok, "{text}");
        assert!(
            text.starts_with("removed 0xa99a76…e44c from eth-a1/lodestar-vc"),
            "{text}"
        );
        assert!(text.contains("/st/slashing/x.json"), "{text}");
        let (ok, text) = remove_summary(&outcome(DeleteStatus::Deleted, true, false));
        assert!(
            !ok && text.contains("NOT SAVED") && text.contains("permission denied"),
            "{text}"
        );
        let (ok, text) = remove_summary(&outcome(DeleteStatus::NotFound, true, true));
        assert!(!ok && text.contains("does not know"), "{text}");
        let mut o = outcome(DeleteStatus::Deleted, true, true);
        o.slashing_check = Err(nodeherd_engine::keys::SlashingCheckError::Missing(
            "0xa9".into(),
        ));
        let (ok, text) = remove_summary(&o);
        assert!(!ok && text.contains("WARNING"), "{text}");
    }
}
