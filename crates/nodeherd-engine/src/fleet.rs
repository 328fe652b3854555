//! Runs per-host work across the fleet with a bounded number of hosts in flight.
//!
//! Owns: concurrency (forks), ordering of results, and turning a panic-free per-host future into
//! a per-host outcome. May not touch: what the work is (SSH, systemd), or how results are shown.
//! A slow or dead host costs its own timeout and never stalls the others.

use futures::stream::{FuturesUnordered, StreamExt};
use nodeherd_core::inventory::{Inventory, NodeRef};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Group selected nodes by host, keeping inventory order: one SSH session serves all nodes of a host.
pub fn by_host(nodes: &[NodeRef]) -> Vec<(usize, Vec<NodeRef>)> {
    let mut map: BTreeMap<usize, Vec<NodeRef>> = BTreeMap::new();
    for n in nodes {
        map.entry(n.host).or_default().push(*n);
    }
    map.into_iter().collect()
}

/// The names of the hosts behind a set of nodes, for confirmations and messages.
pub fn host_names(inv: &Inventory, nodes: &[NodeRef]) -> Vec<String> {
    by_host(nodes)
        .into_iter()
        .map(|(h, _)| inv.hosts[h].name.clone())
        .collect()
}

/// Default number of hosts worked on at once (`--forks`).
pub const DEFAULT_FORKS: usize = 10;

/// Hosts read at once when `--forks` is not given, for commands that change nothing on a host
/// (status, plan, metrics, alerts, doctor, cosmos plan). Measured (docs/performance.md,
/// "1000 hosts"): a cold status wall falls with the fan-out until the servers or the console's
/// CPU bind, flat above 50 on the lab machine; client CPU and memory do not depend on it. Changes
/// (start/stop/restart, apply, upgrade, keys) keep [`DEFAULT_FORKS`]: how many hosts one
/// mistake reaches at once is a safety choice, not a speed one.
pub const READ_FORKS: usize = 50;

/// Run `work` for every item with at most `forks` running at once; results come back in the
/// order of `items`, whatever order they finish in.
pub async fn run_all<I, T, F, Fut>(items: Vec<I>, forks: usize, work: F) -> Vec<(I, T)>
where
    I: Clone,
    F: Fn(I) -> Fut,
    Fut: Future<Output = T>,
{
    let gate = Arc::new(Semaphore::new(forks.max(1)));
    let mut running = FuturesUnordered::new();
    for (i, item) in items.iter().enumerate() {
        let gate = gate.clone();
        let fut = work(item.clone());
        running.push(async move {
            // The semaphore is never closed, so acquire cannot fail; treat a failure as "no limit".
            let _permit = gate.acquire_owned().await.ok();
            (i, fut.await)
        });
    }
    let mut slots: Vec<Option<T>> = (0..items.len()).map(|_| None).collect();
    while let Some((i, out)) = running.next().await {
        slots[i] = Some(out);
    }
    items
        .into_iter()
        .zip(slots)
        .filter_map(|(item, out)| out.map(|o| (item, o)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn bounded_and_ordered() {
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let items: Vec<u64> = (0..20).collect();
        let out = run_all(items, 3, |i| {
            let now = now.clone();
            let peak = peak.clone();
            async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20 - i)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                i * 2
            }
        })
        .await;
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert_eq!(
            out.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            (0..20).map(|i| i * 2).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_slow_item_does_not_stall_the_others() {
        let started = std::time::Instant::now();
        let out = run_all(vec![0u64, 1, 2, 3], 4, |i| async move {
            if i == 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            std::time::Instant::now()
        })
        .await;
        for (i, t) in &out[1..] {
            assert!(
                t.duration_since(started) < Duration::from_millis(150),
                "item {i} waited for the slow one"
            );
        }
    }
}
