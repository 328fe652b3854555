//! `alerts`: one evaluation round: gather status + metrics, turn them into observations, run the rule
//! engine with the state saved by the previous run, deliver what changed, save the state again.
//!
//! Owns: the alerts file location (`playbooks/alerts.toml`), the state file
//! (`$XDG_STATE_HOME/nodeherd/alerts.json`, default `~/.local/state/nodeherd/alerts.json`, written
//! atomically), observations from gathered data ([`observations`]), re-arming alerts whose FIRING could not
//! be delivered anywhere. May not touch: rule semantics (`nodeherd_core::alerts`), output formats.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use nodeherd_core::alerts::channels::AlertsConfig;
use nodeherd_core::alerts::engine::{Active, EngineState, Phase};
use nodeherd_core::alerts::{
    Engine, Notification, NotificationKind, Observation, Silence, SilenceMatcher,
};
use nodeherd_core::alerts::{alertmanager, observe};
use nodeherd_core::inventory::ConfigError;
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_transport::ssh::Pool;

use crate::metrics::{self, GatherOptions, Snapshot};
use crate::status::{self, NodeStatus};
use nodeherd_transport::notify::{self, DeadmanError, Delivery};

/// Default alerts file, relative to the working directory.
pub const DEFAULT_ALERTS_FILE: &str = "playbooks/alerts.toml";

#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every problem of the alerts file, each with its file:line span.
    #[error("{0}")]
    Config(ConfigError),
    #[error("alert state {path}: {message}")]
    State { path: PathBuf, message: String },
    #[error("no state directory: set XDG_STATE_HOME or HOME")]
    NoStateDir,
}

/// `$XDG_STATE_HOME/nodeherd` or `~/.local/state/nodeherd`.
pub fn state_dir() -> Result<PathBuf, AlertsError> {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("nodeherd"));
    }
    dirs::home_dir()
        .map(|h| h.join(".local/state/nodeherd"))
        .ok_or(AlertsError::NoStateDir)
}

pub fn state_file() -> Result<PathBuf, AlertsError> {
    Ok(state_dir()?.join("alerts.json"))
}

/// Load the alerts file; a missing file at the default path means built-in rules and no channels.
pub fn load_config(path: &Path, explicit: bool) -> Result<AlertsConfig, AlertsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => nodeherd_core::alerts::check_file(&path.display().to_string(), &text)
            .map_err(AlertsError::Config),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            Ok(AlertsConfig::default())
        }
        Err(source) => Err(AlertsError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Load saved state (none yet: empty).
pub fn load_state(path: &Path) -> Result<EngineState, AlertsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| AlertsError::State {
            path: path.to_path_buf(),
            message: format!("unreadable ({e}); move it away to start fresh"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(EngineState::default()),
        Err(e) => Err(AlertsError::State {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

/// Save state atomically (temp file + rename), creating the directory.
pub fn save_state(path: &Path, state: &EngineState) -> Result<(), AlertsError> {
    let err = |m: String| AlertsError::State {
        path: path.to_path_buf(),
        message: m,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let json = serde_json::to_string_pretty(state).map_err(|e| err(e.to_string()))?;
    let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
    std::fs::write(&tmp, json).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}

/// Observations from one status gather and one metrics gather.
pub fn observations(statuses: &[NodeStatus], snap: &Snapshot) -> Vec<Observation> {
    statuses
        .iter()
        .map(|st| {
            if st.unit_state.is_none() {
                return observe::unreachable(&st.host, Some(&st.node));
            }
            let nm = snap
                .nodes
                .iter()
                .find(|n| n.host == st.host && n.node == st.node);
            let facts = snap.host(&st.host).and_then(|h| h.facts.as_ref());
            let active = st
                .unit_state
                .as_ref()
                .map(nodeherd_core::facts::systemd::UnitState::is_active);
            let sample = nm.and_then(|n| n.sample.as_ref()).map(|s| &s.raw);
            let mut o = observe::observation(&st.host, &st.node, active, sample, facts);
            // The Beacon API knows best whether the node is synced.
            if let Some(b) = nm.and_then(|n| n.beacon.as_ref()) {
                if let Some(syncing) = b.is_syncing {
                    o.synced = Some(!syncing);
                }
                if let Some(d) = b.sync_distance {
                    o.sync_distance = Some(d as f64);
                }
            }
            o
        })
        .collect()
}

/// What one round did.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub at: DateTime<Utc>,
    /// Sent this round (FIRING and RESOLVED).
    pub notifications: Vec<Notification>,
    pub deliveries: Vec<Delivery>,
    /// Every active alert after the round (pending and firing).
    pub active: Vec<Active>,
    pub silences: Vec<Silence>,
    /// `Some(Ok(true))` pinged, `Some(Err)` failed, `None` not configured. Shared so the round
    /// stays `Clone`; serialised as before (the error as its text).
    #[serde(serialize_with = "deadman_as_text")]
    pub deadman: Option<Result<(), Arc<DeadmanError>>>,
    pub nodes: usize,
}

fn deadman_as_text<S: serde::Serializer>(
    v: &Option<Result<(), Arc<DeadmanError>>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    v.as_ref()
        .map(|r| {
            r.as_ref()
                .copied()
                .map_err(std::string::ToString::to_string)
        })
        .serialize(s)
}

impl Round {
    pub fn firing(&self) -> impl Iterator<Item = &Active> {
        self.active.iter().filter(|a| a.phase == Phase::Firing)
    }
    pub fn pending(&self) -> impl Iterator<Item = &Active> {
        self.active.iter().filter(|a| a.phase == Phase::Pending)
    }
    /// Whether an active alert is covered by a silence.
    pub fn is_silenced(&self, a: &Active) -> bool {
        self.silences.iter().any(|s| {
            s.until > self.at
                && s.matcher.rule.as_deref().is_none_or(|r| r == a.rule)
                && s.matcher.host.as_deref().is_none_or(|h| h == a.host)
                && s.matcher
                    .node
                    .as_deref()
                    .is_none_or(|n| Some(n) == a.node.as_deref())
        })
    }
    pub fn failed_deliveries(&self) -> usize {
        self.deliveries.iter().filter(|d| d.error.is_some()).count()
    }
}

/// Evaluate `observations` at `now` against the saved state and deliver what changed. A FIRING that no
/// channel accepted (while some channel wanted it) is re-armed, so the next run tries again.
pub async fn evaluate_and_notify(
    cfg: &AlertsConfig,
    state: EngineState,
    observations: &[Observation],
    now: DateTime<Utc>,
) -> (EngineState, Round) {
    let mut engine = Engine::with_state(cfg.rules.clone(), state);
    let notifications = engine.evaluate(now, observations);
    let mut deliveries = notify::deliver(cfg, &notifications).await;
    // Alertmanager forgets an alert not re-sent within its resolve_timeout: re-post every firing one.
    let refresh = alertmanager::refresh(engine.state(), &cfg.rules, &notifications, now);
    deliveries.extend(notify::refresh_alertmanagers(cfg, &refresh).await);
    let mut state = engine.state().clone();
    for n in notifications
        .iter()
        .filter(|n| n.kind == NotificationKind::Firing)
    {
        let mine: Vec<&Delivery> = deliveries
            .iter()
            .filter(|d| {
                d.rule == n.rule && d.host == n.host && d.node == n.node && d.kind == n.kind
            })
            .collect();
        if !mine.is_empty() && mine.iter().all(|d| d.error.is_some()) {
            let key = format!("{}|{}|{}", n.rule, n.host, n.node.as_deref().unwrap_or(""));
            if let Some(a) = state.active.get_mut(&key) {
                a.notified = false;
            }
        }
    }
    let deadman = match notify::ping_deadman(cfg).await {
        Ok(true) => Some(Ok(())),
        Ok(false) => None,
        Err(e) => Some(Err(Arc::new(e))),
    };
    let round = Round {
        at: now,
        notifications,
        deliveries,
        active: state.active.values().cloned().collect(),
        silences: state.silences.clone(),
        deadman,
        nodes: observations.iter().filter(|o| o.node.is_some()).count(),
    };
    (state, round)
}

/// One full round: gather, evaluate with the saved state, deliver, save.
pub async fn run(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    forks: usize,
    cfg: &AlertsConfig,
    state_path: &Path,
) -> Result<Round, AlertsError> {
    let state = load_state(state_path)?;
    let opts = GatherOptions {
        forks,
        rate_window: None,
        beacon_api: true,
    };
    let (statuses, snap) = tokio::join!(
        status::gather(pool, inv, nodes, forks),
        metrics::gather(pool, inv, nodes, &opts, None)
    );
    let mut obs = observations(&statuses, &snap);
    crate::cosmos::enrich(pool, inv, &mut obs, Utc::now()).await;
    let (state, round) = evaluate_and_notify(cfg, state, &obs, Utc::now()).await;
    save_state(state_path, &state)?;
    Ok(round)
}

/// A silence spec that is not `RULE[/HOST[/NODE]]` (the spec as written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("silence {0:?}: write RULE, RULE/HOST or RULE/HOST/NODE (`*` matches anything)")]
pub struct BadSilence(pub String);

/// Parse `RULE[/HOST[/NODE]]`; `*` or an empty part matches anything.
pub fn parse_silence(spec: &str) -> Result<SilenceMatcher, BadSilence> {
    let parts: Vec<&str> = spec.split('/').collect();
    if parts.len() > 3 || spec.trim().is_empty() {
        return Err(BadSilence(spec.to_string()));
    }
    let part = |i: usize| {
        parts
            .get(i)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty() && *s != "*")
            .map(str::to_string)
    };
    Ok(SilenceMatcher {
        rule: part(0),
        host: part(1),
        node: part(2),
    })
}

/// Add a silence to the saved state.
pub fn add_silence(
    state_path: &Path,
    matcher: SilenceMatcher,
    until: DateTime<Utc>,
) -> Result<(), AlertsError> {
    let mut state = load_state(state_path)?;
    state.silences.retain(|s| s.until > Utc::now());
    state.silences.push(Silence { matcher, until });
    save_state(state_path, &state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodeherd_core::alerts::channels::parse_config;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn obs(active: bool) -> Observation {
        Observation {
            host: "h".into(),
            node: Some("bn".into()),
            reachable: true,
            unit_active: Some(active),
            ..Default::default()
        }
    }

    #[test]
    fn silence_specs() {
        assert_eq!(
            parse_silence("disk-high/h1").unwrap(),
            SilenceMatcher {
                rule: Some("disk-high".into()),
                host: Some("h1".into()),
                node: None
            }
        );
        assert_eq!(parse_silence("*/h1/bn").unwrap().rule, None);
        assert!(parse_silence("a/b/c/d").is_err());
        assert!(parse_silence("").is_err());
    }

    #[test]
    fn state_round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/alerts.json");
        assert_eq!(load_state(&p).unwrap(), EngineState::default());
        add_silence(
            &p,
            parse_silence("r").unwrap(),
            Utc::now() + chrono::Duration::hours(1),
        )
        .unwrap();
        assert_eq!(load_state(&p).unwrap().silences.len(), 1);
        std::fs::write(&p, "{broken").unwrap();
        assert!(
            load_state(&p)
                .unwrap_err()
                .to_string()
                .contains("move it away")
        );
    }

    /// A FIRING that could not be delivered is tried again next run; once delivered, never again.
    #[tokio::test]
    async fn undelivered_firing_is_retried_once_delivered_not_resent() {
        // port 9 on loopback: nothing listens, connection refused
        let cfg = parse_config(
            "[[rule]]\nname = \"down\"\ncondition = \"unit_not_active\"\nfor = \"0s\"\nseverity = \"page\"\n\n[[channel]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/x\"\n",
        )
        .unwrap();
        let (state, r1) =
            evaluate_and_notify(&cfg, EngineState::default(), &[obs(false)], t(0)).await;
        assert_eq!(r1.notifications.len(), 1);
        assert_eq!(r1.failed_deliveries(), 1);
        let (state, r2) = evaluate_and_notify(&cfg, state, &[obs(false)], t(60)).await;
        assert_eq!(r2.notifications.len(), 1, "retried");
        // no channel at all: nothing to retry, counts as handled
        let none = parse_config(
            "[[rule]]\nname = \"down\"\ncondition = \"unit_not_active\"\nfor = \"0s\"\nseverity = \"page\"\n",
        )
        .unwrap();
        let (state, r3) = evaluate_and_notify(&none, state, &[obs(false)], t(120)).await;
        assert_eq!(r3.notifications.len(), 1);
        let (_, r4) = evaluate_and_notify(&none, state, &[obs(false)], t(180)).await;
        assert!(r4.notifications.is_empty());
        assert_eq!(r4.firing().count(), 1);
    }
}

#[cfg(test)]
mod shipped {
    /// The shipped playbook parses and equals the built-in defaults.
    #[test]
    fn shipped_alerts_file_is_the_defaults() {
        let text = include_str!("../../../playbooks/alerts.toml");
        let cfg = nodeherd_core::alerts::channels::parse_config(text).unwrap();
        assert_eq!(cfg.rules, nodeherd_core::alerts::default_rules());
        assert!(cfg.channels.is_empty() && cfg.deadman.is_none());
    }
}
