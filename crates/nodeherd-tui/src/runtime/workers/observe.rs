//! Watching the fleet: the status/metrics/alerts poller, the journal follower, lifecycle actions.
//!
//! Owns: those tasks. May not touch: deliveries of alerts (the TUI's alert engine never notifies)
//! or the state.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::feed::{self, AlertWatch};
use crate::msg::Msg;
use nodeherd_core::inventory::NodeRef;
use nodeherd_engine::metrics::{GatherOptions, MetricsStore};

use crate::runtime::cadence;
use crate::runtime::{Config, World};

/// The rules and saved state the TUI's private alert engine starts from (problems are flashed and
/// the built-in rules / an empty state are used instead).
fn alert_watch(config: &Config, tx: &mpsc::UnboundedSender<Msg>) -> AlertWatch {
    let notice = |text: String| {
        tracing::warn!("{text}");
        let _ = tx.send(Msg::Notice { text, error: true });
    };
    let rules = match &config.alerts_file {
        Some(p) => match nodeherd_engine::alerts::load_config(p, false) {
            Ok(c) => c.rules,
            Err(e) => {
                notice(format!("alerts: {e}; using the built-in rules"));
                nodeherd_core::alerts::default_rules()
            }
        },
        None => nodeherd_core::alerts::default_rules(),
    };
    let state = match &config.alerts_state {
        Some(p) => nodeherd_engine::alerts::load_state(p).unwrap_or_else(|e| {
            notice(format!("alerts: {e}"));
            Default::default()
        }),
        None => Default::default(),
    };
    AlertWatch::new(rules, state)
}

/// Every poll: systemd status (sent as soon as it is in), and, concurrently, metrics through the
/// same pool; then one `Msg::Metrics` per node and the alert list. Alerts are evaluated by the
/// TUI's own engine and never delivered (see [`AlertWatch`]).
pub(crate) fn spawn_poller(
    world: &World,
    tx: mpsc::UnboundedSender<Msg>,
    now: Arc<Notify>,
) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let cfg = &world.config;
        // 30 minutes of history at the default 5 s poll
        let mut store = MetricsStore::new(360);
        let mut watch = cfg.metrics.then(|| alert_watch(cfg, &tx));
        let opts = GatherOptions {
            forks: cfg.forks,
            rate_window: None,
            beacon_api: true,
        };
        let cadence = cadence::Cadence {
            every: cfg.poll_every,
            budget: cfg.poll_budget,
        };
        let mut told = false;
        loop {
            let (started, cpu0) = (tokio::time::Instant::now(), cadence::process_cpu());
            if tx.send(Msg::PollStarted).is_err() {
                return;
            }
            let status = async {
                let batch = nodeherd_engine::status::gather(
                    &world.pool,
                    &world.inv,
                    &world.nodes,
                    cfg.forks,
                )
                .await;
                let _ = tx.send(Msg::StatusBatch(batch.clone()));
                batch
            };
            if cfg.metrics {
                let scrape = nodeherd_engine::metrics::gather(
                    &world.pool,
                    &world.inv,
                    &world.nodes,
                    &opts,
                    Some(&store),
                );
                let (statuses, snap) = tokio::join!(status, scrape);
                store.record(&snap);
                for (host, node, metrics) in feed::node_metrics(&snap, &store) {
                    if tx
                        .send(Msg::Metrics {
                            host,
                            node,
                            metrics,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
                if let Some(w) = watch.as_mut() {
                    let asked: Vec<_> = match cfg.silences.lock() {
                        Ok(mut q) => q.drain(..).collect(),
                        Err(_) => Vec::new(),
                    };
                    for (m, until) in asked {
                        w.silence(m, until);
                    }
                    let obs = nodeherd_engine::alerts::observations(&statuses, &snap);
                    if tx.send(Msg::Alerts(w.observe(Utc::now(), &obs))).is_err() {
                        return;
                    }
                }
            } else {
                status.await;
            }
            if tx.is_closed() {
                return;
            }
            let (wall, cpu) = (
                started.elapsed(),
                cadence::process_cpu().saturating_sub(cpu0),
            );
            let wait = cadence.wait_after(wall, cpu);
            if cadence.stretched(wait) && !told {
                told = true;
                let text = format!(
                    "{} nodes: a poll costs {:.2} s of CPU, so polls run every {:.0} s to keep the console under {:.0} % of a core (--poll-budget 0 turns this off)",
                    world.nodes.len(),
                    cpu.as_secs_f64(),
                    (wall + wait).as_secs_f64(),
                    cadence.budget * 100.0
                );
                tracing::info!("{text}");
                let _ = tx.send(Msg::Notice { text, error: false });
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = now.notified() => {}
            }
        }
    })
}

pub(crate) fn spawn_logs(
    world: &World,
    node: NodeRef,
    tx: mpsc::UnboundedSender<Msg>,
) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let (ltx, mut lrx) = mpsc::channel(256);
        let forward = {
            let tx = tx.clone();
            async move {
                while let Some(line) = lrx.recv().await {
                    if tx.send(Msg::LogLine { node, line }).is_err() {
                        return;
                    }
                }
            }
        };
        let follow = nodeherd_engine::logs::follow(
            &world.pool,
            &world.inv,
            node,
            world.config.log_lines,
            ltx,
        );
        let (res, ()) = tokio::join!(follow, forward);
        let error = res
            .err()
            .map(|e| nodeherd_core::facts::systemd::sanitize(&e.to_string()));
        let _ = tx.send(Msg::LogEnded { node, error });
    })
}

pub(crate) fn spawn_action(
    world: &World,
    action: nodeherd_core::facts::systemd::Action,
    nodes: Vec<NodeRef>,
    tx: mpsc::UnboundedSender<Msg>,
) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        tracing::info!(action = action.verb(), nodes = nodes.len(), "tui action");
        let outcomes = nodeherd_engine::lifecycle::act(
            &world.pool,
            &world.inv,
            &nodes,
            action,
            world.config.forks,
        )
        .await;
        let _ = tx.send(Msg::ActionDone { action, outcomes });
    })
}
