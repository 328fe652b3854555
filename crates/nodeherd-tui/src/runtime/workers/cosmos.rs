//! The Cosmos watch: every Cosmos node of the session read through the engine
//! (`cosmos::watch::gather`: the chain view, the staged check, peers, the validator's standing),
//! on its own interval (`Config::cosmos_every`, slower than the status poll), or at once when
//! asked.
//!
//! Owns: that task. May not touch: the queries (the engine's), the state.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::msg::Msg;
use crate::runtime::World;

/// Start the watch: it reads at once, then every `cosmos_every` or when `now` is notified.
pub(crate) fn spawn_cosmos(
    world: &World,
    tx: mpsc::UnboundedSender<Msg>,
    now: Arc<Notify>,
) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        loop {
            let list = nodeherd_engine::cosmos::watch::gather(
                &world.pool,
                &world.inv,
                &world.nodes,
                world.config.forks,
            )
            .await;
            if tx.send(Msg::Cosmos(list)).is_err() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(world.config.cosmos_every) => {}
                () = now.notified() => {}
            }
        }
    })
}
