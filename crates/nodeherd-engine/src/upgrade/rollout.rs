//! Running work node by node in rollout order: the canaries first, then batches of `serial` at
//! once; after a failed canary, or once failures pass `max_fail_percent`, the rest are not
//! attempted (and reported so).
//!
//! Owns: that order, where the stop rule applies, and reporting each batch as it starts
//! ([`Progress::Batch`]). May not touch: what the work is (the caller's closure does it) or any
//! I/O of its own. Used by upgrades, apply's version switches
//! and apply's unit rewrites.

use std::future::Future;

use nodeherd_core::plan::upgrade;
use nodeherd_core::playbook::UpgradeSettings;

use crate::upgrade::progress::{Progress, Reporter};

/// Detail of a node the run did not attempt after too many failures.
pub const NOT_ATTEMPTED: &str = "not attempted: the run stopped after failures";

/// Run `work(i)` for every index of `keys` in rollout order (see [`upgrade::batches`]), a batch at a
/// time. Returns `(index, result)` in the order run; after the stop rule fires, the remaining
/// indices get `skipped(i)`. Each batch run is reported to `progress` as it starts.
pub async fn in_batches<T, Fut>(
    keys: &[String],
    s: &UpgradeSettings,
    progress: &Reporter,
    work: impl Fn(usize) -> Fut,
    failed: impl Fn(&T) -> bool,
    skipped: impl Fn(usize) -> T,
) -> Vec<(usize, T)>
where
    Fut: Future<Output = T>,
{
    let mut out = Vec::with_capacity(keys.len());
    let mut failures = 0;
    let mut stopped = false;
    let canary_batch = !upgrade::canaries(keys, &s.canary).is_empty();
    let batches = upgrade::batches(keys, &s.canary, s.serial);
    let of = batches.len();
    for (n, batch) in batches.into_iter().enumerate() {
        if stopped {
            out.extend(batch.into_iter().map(|i| (i, skipped(i))));
            continue;
        }
        progress.report(Progress::Batch {
            index: n + 1,
            of,
            canary: n == 0 && canary_batch,
            nodes: batch.iter().map(|&i| keys[i].clone()).collect(),
        });
        let results = futures::future::join_all(batch.iter().map(|&i| work(i))).await;
        failures += results.iter().filter(|r| failed(r)).count();
        out.extend(batch.into_iter().zip(results));
        if upgrade::should_stop_after(n, canary_batch, failures, keys.len(), s.max_fail_percent) {
            stopped = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodeherd_core::playbook::Canary;

    #[tokio::test]
    async fn canary_first_then_batches_and_the_rest_skipped_after_failures() {
        let keys: Vec<String> = (0..6).map(|i| format!("h{i}/n")).collect();
        let s = UpgradeSettings {
            canary: Canary::Count(1),
            serial: 2,
            max_fail_percent: 20,
            ..UpgradeSettings::default()
        };
        // node 1 and 2 fail: 2 of 6 > 20 % after the second batch
        let out = in_batches(
            &keys,
            &s,
            &Reporter::default(),
            |i| async move { if i == 1 || i == 2 { Err(i) } else { Ok(i) } },
            |r: &Result<usize, usize>| r.is_err(),
            |i| Err(100 + i),
        )
        .await;
        let order: Vec<usize> = out.iter().map(|(i, _)| *i).collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(out[0].1, Ok(0));
        assert_eq!(out[1].1, Err(1));
        // batch [3, 4] and [5] never ran
        assert_eq!(out[3].1, Err(103));
        assert_eq!(out[5].1, Err(105));
    }

    #[tokio::test]
    async fn a_failed_canary_stops_the_run_whatever_max_fail_percent_says() {
        let keys: Vec<String> = (0..4).map(|i| format!("h{i}/n")).collect();
        let s = UpgradeSettings {
            canary: Canary::Nodes(vec!["h2".into()]),
            serial: 2,
            max_fail_percent: 50,
            ..UpgradeSettings::default()
        };
        let ran = std::sync::Mutex::new(Vec::new());
        let out = in_batches(
            &keys,
            &s,
            &Reporter::default(),
            |i| {
                ran.lock().unwrap().push(i);
                async move { if i == 2 { Err(i) } else { Ok(i) } }
            },
            |r: &Result<usize, usize>| r.is_err(),
            |i| Err(100 + i),
        )
        .await;
        assert_eq!(*ran.lock().unwrap(), vec![2]);
        assert_eq!(
            out.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![2, 0, 1, 3]
        );
        assert_eq!(out[1].1, Err(100));
    }
}
