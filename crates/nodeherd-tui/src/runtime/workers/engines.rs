//! Engine workers: the releases plan, the site plan and its apply, upgrades and rollbacks, and the
//! journals' history, with progress forwarded as messages.
//!
//! Owns: those tasks (applies, upgrades and rollbacks are never aborted). May not touch: the
//! plan's or the upgrade's logic (the engine's), the state.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::feed::{self};
use crate::msg::{Msg, PlanInputs};
use crate::state::{HistoryData, WorkerError};
use nodeherd_core::inventory::NodeRef;
use nodeherd_engine::apply::lock::ApplyLock;
use nodeherd_engine::apply::run;
use nodeherd_engine::site::{Site, SitePlan};
use nodeherd_engine::upgrade::engine::{
    Event, Options as UpgradeOptions, Target, plan_all, rollback_one, upgrade_to,
};
use nodeherd_engine::upgrade::progress::{Progress, Reporter, Sink, Step};

use crate::runtime::World;

/// Plan releases for the session's nodes that follow a feed (feeds fetched through the feed
/// cache, running versions read over SSH) and send the rows.
pub(crate) fn spawn_releases(world: &World, tx: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let r = async {
            let pb = match &world.config.playbook {
                Some(p) => nodeherd_core::playbook::Playbook::load(p).map_err(|e| e.one_line())?,
                None => nodeherd_core::playbook::Playbook::default(),
            };
            let targets: Vec<Target> = world
                .nodes
                .iter()
                .map(|r| Target::new(&world.inv, *r, &pb))
                .filter(|t| t.feed().is_some())
                .collect();
            let plans = plan_all(&world.pool, &targets, None, &UpgradeOptions::default()).await;
            Ok(feed::release_rows(&targets, &plans))
        }
        .await
        .map_err(|e: String| WorkerError(nodeherd_core::facts::systemd::sanitize(&e)));
        let _ = tx.send(Msg::Releases(r));
    })
}

/// Gather facts and plan the site playbook; the inputs travel with the plan so an apply runs
/// exactly what was shown and confirmed.
pub(crate) fn spawn_plan(world: &World, tx: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let r = async {
            let Some(path) = world.config.site_playbook.clone() else {
                return Err("no playbook".to_string());
            };
            let site = nodeherd_engine::site::load(&path, &world.inv).map_err(|e| e.one_line())?;
            let opts = UpgradeOptions::default();
            let SitePlan {
                plan,
                refs,
                gathered,
            } = nodeherd_engine::site::plan(
                &world.pool,
                &world.inv,
                &world.nodes,
                world.config.forks,
                &site,
                &opts,
            )
            .await;
            let Site { playbook, desired } = site;
            let inputs = PlanInputs {
                plan: plan.clone(),
                refs,
                gathered,
                desired,
                playbook,
            };
            Ok((plan, Arc::new(inputs)))
        }
        .await
        .map_err(|e| WorkerError(nodeherd_core::facts::systemd::sanitize(&e)));
        let _ = tx.send(Msg::Plan(r));
    })
}

/// Forwards the engine's waits (quiet-window countdown, gate) as `Msg::Wait`.
struct Waits(mpsc::UnboundedSender<Msg>);

impl Sink for Waits {
    fn report(&self, p: Progress) {
        if let Progress::Node { node, step } = p {
            if matches!(step, Step::Quiet { .. } | Step::Gate { .. }) {
                let _ = self.0.send(Msg::Wait { key: node, step });
            }
        }
    }
}

/// Upgrade-engine options whose progress events become `Msg::Progress` (and their waits
/// `Msg::Wait`); the returned future forwards the events until every sender (inside the
/// options) is dropped.
fn progress_options(
    tx: &mpsc::UnboundedSender<Msg>,
) -> (
    UpgradeOptions,
    impl std::future::Future<Output = ()> + use<>,
) {
    let (etx, mut erx) = mpsc::unbounded_channel::<(String, Event)>();
    let opts = UpgradeOptions {
        events: Some(etx),
        progress: Reporter::new(Arc::new(Waits(tx.clone()))),
        ..UpgradeOptions::default()
    };
    let tx = tx.clone();
    let forward = async move {
        while let Some((key, event)) = erx.recv().await {
            let _ = tx.send(Msg::Progress { key, event });
        }
    };
    (opts, forward)
}

/// Apply a confirmed plan under the console's apply lock, forwarding progress; journal it.
pub(crate) fn spawn_apply(
    world: &World,
    inputs: Arc<PlanInputs>,
    tx: mpsc::UnboundedSender<Msg>,
) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let lock = match ApplyLock::acquire(&nodeherd_engine::apply::lock::default_path()) {
            Ok(l) => l,
            Err(e) => {
                let _ = tx.send(Msg::Applied(Err(WorkerError(
                    nodeherd_core::facts::systemd::sanitize(&e.to_string()),
                ))));
                return;
            }
        };
        tracing::info!(changes = inputs.plan.changes.len(), "tui apply");
        let (opts, forward) = progress_options(&tx);
        let who = opts.who.clone();
        let work = async {
            let opts = opts;
            let i = &inputs;
            run::apply(
                &world.pool,
                &world.inv,
                &i.plan,
                &i.refs,
                &i.gathered,
                &i.desired,
                &i.playbook,
                world.config.forks,
                &opts,
            )
            .await
        };
        let (results, ()) = tokio::join!(work, forward);
        nodeherd_engine::apply::run::journal_apply(&results, &who, " (tui)");
        drop(lock);
        let _ = tx.send(Msg::Applied(Ok(results)));
    })
}

/// Upgrade one node to `to` (`Some`) or roll it back to its previous version (`None`) through
/// the upgrade engine, forwarding progress; the outcome goes back as `Msg::UpgradeDone`.
pub(crate) fn spawn_upgrade(
    world: &World,
    r: NodeRef,
    to: Option<String>,
    rollback: bool,
    cancel: CancellationToken,
    tx: mpsc::UnboundedSender<Msg>,
) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let pb = match &world.config.playbook {
            Some(p) => nodeherd_core::playbook::Playbook::load(p).unwrap_or_default(),
            None => nodeherd_core::playbook::Playbook::default(),
        };
        let t = Target::new(&world.inv, r, &pb);
        let key = t.key.clone();
        tracing::info!(node = %key, rollback, "tui upgrade/rollback");
        let (mut opts, forward) = progress_options(&tx);
        opts.cancel = cancel;
        let work = async {
            match &to {
                Some(v) if !rollback => upgrade_to(&world.pool, &t, v, &opts).await,
                _ => rollback_one(&world.pool, &t, to.as_deref(), &opts).await,
            }
        };
        let (outcome, ()) = tokio::join!(work, forward);
        let _ = tx.send(Msg::UpgradeDone {
            key,
            rollback,
            outcome,
        });
    })
}

/// Read the journals of the session's hosts and the console's own, merged.
pub(crate) fn spawn_history(world: &World, tx: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let (entries, errors) =
            nodeherd_engine::upgrade::engine::history_of(&world.pool, &world.inv, &world.nodes)
                .await;
        let _ = tx.send(Msg::History(Ok(HistoryData { entries, errors })));
    })
}
