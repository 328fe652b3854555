//! Build an [`Observation`] from what the metrics side gathered (a page [`Sample`] and [`HostFacts`]).
//!
//! Owns: [`observation`] and the sync tolerance. May not touch: I/O; the Beacon API answer, when the
//! caller has one, overrides the `synced` guess made here (set `Observation::synced` afterwards).

use crate::facts::host::HostFacts;
use crate::metrics::page::Sample;
use crate::metrics::schema::Signal;

use crate::alerts::engine::Observation;

/// A consensus node this many slots or fewer behind the wall clock counts as synced.
pub const SYNC_TOLERANCE_SLOTS: f64 = 2.0;

/// Lodestar's `lodestar_sync_status` value for "Synced".
const LODESTAR_SYNCED: f64 = 3.0;

/// One node's observation. `sample: None` means the metrics page could not be fetched (unknown, not zero).
pub fn observation(
    host: &str,
    node: &str,
    unit_active: Option<bool>,
    sample: Option<&Sample>,
    facts: Option<&HostFacts>,
) -> Observation {
    let get = |s: Signal| sample.and_then(|x| x.get(s));
    let head = get(Signal::HeadSlot)
        .or_else(|| get(Signal::HeadBlock))
        .or_else(|| get(Signal::Height));
    let distance = sample.and_then(Sample::sync_distance).or_else(|| {
        // execution clients: highest block seen minus head
        Some(get(Signal::HighestBlock)? - get(Signal::HeadBlock)?)
    });
    let synced = match (distance, get(Signal::SyncStatus)) {
        (_, Some(status)) => Some(status == LODESTAR_SYNCED),
        (Some(d), None) => Some(d <= SYNC_TOLERANCE_SLOTS),
        (None, None) => None,
    };
    Observation {
        host: host.to_string(),
        node: Some(node.to_string()),
        reachable: true,
        unit_active,
        head,
        synced,
        sync_distance: distance,
        peers: get(Signal::Peers),
        block_age_secs: None,
        jailed: None,
        missed_blocks_percent: None,
        unvoted: None,
        cosmos_unstaged: None,
        cosmos_missed: None,
        disk_used_percent: facts.and_then(HostFacts::disk_used_percent),
        mem_used_percent: facts.and_then(HostFacts::mem_used_percent),
        validator_misses: get(Signal::ValidatorMisses),
        upgrade_available: None,
        upgrade_failed: None,
    }
}

/// The observation for a host SSH could not reach: everything else is unknown.
pub fn unreachable(host: &str, node: Option<&str>) -> Observation {
    Observation {
        host: host.to_string(),
        node: node.map(str::to_string),
        reachable: false,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pairs: &[(Signal, f64)]) -> Sample {
        let mut s = Sample::default();
        for &(k, v) in pairs {
            s.values.insert(k, v);
        }
        s
    }

    #[test]
    fn consensus_distance_and_lodestar_status() {
        let s = sample(&[
            (Signal::HeadSlot, 100.0),
            (Signal::WallSlot, 105.0),
            (Signal::Peers, 3.0),
        ]);
        let o = observation("h", "bn", Some(true), Some(&s), None);
        assert_eq!(o.head, Some(100.0));
        assert_eq!(o.sync_distance, Some(5.0));
        assert_eq!(o.synced, Some(false));
        assert_eq!(o.peers, Some(3.0));
        let s = sample(&[
            (Signal::HeadSlot, 100.0),
            (Signal::WallSlot, 105.0),
            (Signal::SyncStatus, 3.0),
        ]);
        assert_eq!(
            observation("h", "bn", None, Some(&s), None).synced,
            Some(true)
        );
    }

    #[test]
    fn execution_and_unknowns() {
        let s = sample(&[(Signal::HeadBlock, 10.0), (Signal::HighestBlock, 11.0)]);
        let o = observation("h", "el", Some(true), Some(&s), None);
        assert_eq!((o.head, o.synced), (Some(10.0), Some(true)));
        let o = observation("h", "el", Some(false), None, None);
        assert_eq!((o.head, o.synced, o.peers), (None, None, None));
        assert!(!unreachable("h", None).reachable);
    }
}
