//! The pure planner: which nodes change to which version, in which order (canary, then batches),
//! and when a run stops. No I/O.
//!
//! Owns: canary and batch order, the stop rule, and the direction of a version switch (the one
//! word every front end and journal line uses for it). May not touch: I/O of any kind (callers run
//! the steps).

use crate::playbook::Canary;
use serde::Serialize;

/// The direction of a switch from `from` to `to` (semver, a leading `v` allowed): `"upgrade"`,
/// `"downgrade"`, or `"switch"` when either is not a version or they are equal.
pub fn direction(from: Option<&str>, to: &str) -> &'static str {
    // `v19` and `v19.1` (Cosmos upgrade names) compare as 19.0.0 and 19.1.0
    let parse = |s: &str| {
        let s = s.trim().trim_start_matches('v');
        semver::Version::parse(s).ok().or_else(|| {
            let parts = s.split('.').count();
            let numeric = !s.is_empty()
                && s.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            (numeric && parts < 3)
                .then(|| semver::Version::parse(&format!("{s}{}", ".0".repeat(3 - parts))).ok())
                .flatten()
        })
    };
    match (from.and_then(parse), parse(to)) {
        (Some(a), Some(b)) if b < a => "downgrade",
        (Some(a), Some(b)) if b > a => "upgrade",
        _ => "switch",
    }
}

/// What happens to one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `host/node`.
    pub node: String,
    pub from: Option<String>,
    /// None: nothing to do (see `reason`).
    pub to: Option<String>,
    pub reason: String,
}

/// The canaries among `keys`: selectors matched against `host/node`, the host name or the
/// node name, or the first N; sorted.
pub fn canaries(keys: &[String], canary: &Canary) -> Vec<usize> {
    let mut canaries: Vec<usize> = match canary {
        Canary::Count(n) => (0..keys.len().min(*n)).collect(),
        Canary::Nodes(sel) => keys
            .iter()
            .enumerate()
            .filter(|(_, k)| {
                sel.iter().any(|s| {
                    let (h, n) = k.split_once('/').unwrap_or((k, ""));
                    *k == s || h == s || n == s
                })
            })
            .map(|(i, _)| i)
            .collect(),
    };
    canaries.sort_unstable();
    canaries
}

/// Order the nodes that have work: canaries first (see [`canaries`]), then batches of `serial`.
/// When there are canaries they are the first batch, and a failure among them stops the run
/// whatever `max_fail_percent` says (see [`should_stop_after`]).
pub fn batches(keys: &[String], canary: &Canary, serial: usize) -> Vec<Vec<usize>> {
    let canaries = canaries(keys, canary);
    let mut out = Vec::new();
    if !canaries.is_empty() {
        out.push(canaries.clone());
    }
    let rest: Vec<usize> = (0..keys.len()).filter(|i| !canaries.contains(i)).collect();
    for chunk in rest.chunks(serial.max(1)) {
        out.push(chunk.to_vec());
    }
    out
}

/// Stop when the failed share exceeds `max_fail_percent` of all planned nodes.
pub fn should_stop(failed: usize, total: usize, max_fail_percent: u8) -> bool {
    total > 0 && failed * 100 > total * max_fail_percent as usize
}

/// The stop rule after batch `batch` (0 = first): a failed canary batch always stops the run
/// (the canary exists to catch a bad release before the fleet gets it); later batches stop past
/// `max_fail_percent`.
pub fn should_stop_after(
    batch: usize,
    canary_batch: bool,
    failed: usize,
    total: usize,
    max_fail_percent: u8,
) -> bool {
    (batch == 0 && canary_batch && failed > 0) || should_stop(failed, total, max_fail_percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_names_downgrades() {
        assert_eq!(direction(Some("1.5.1"), "1.4.2"), "downgrade");
        assert_eq!(direction(Some("v1.4.2"), "1.5.1"), "upgrade");
        assert_eq!(direction(Some("1.10.0"), "1.9.9"), "downgrade");
        // Cosmos upgrade names
        assert_eq!(direction(Some("v18"), "v19"), "upgrade");
        assert_eq!(direction(Some("v19.1"), "v19"), "downgrade");
        assert_eq!(direction(Some("v18"), "Greenhouse"), "switch");
        assert_eq!(direction(None, "1.4.2"), "switch");
        assert_eq!(direction(Some("1.4.2"), "1.4.2"), "switch");
        assert_eq!(direction(Some("nightly"), "1.4.2"), "switch");
    }

    fn keys(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i}/bn")).collect()
    }

    #[test]
    fn canary_then_serial_batches() {
        assert_eq!(
            batches(&keys(5), &Canary::Count(1), 2),
            vec![vec![0], vec![1, 2], vec![3, 4]]
        );
        assert_eq!(
            batches(&keys(4), &Canary::Nodes(vec!["h3".into()]), 3),
            vec![vec![2], vec![0, 1, 3]]
        );
        assert_eq!(
            batches(&keys(2), &Canary::Count(0), 1),
            vec![vec![0], vec![1]]
        );
        assert!(batches(&[], &Canary::Count(1), 1).is_empty());
    }

    #[test]
    fn a_failed_canary_always_stops() {
        assert!(should_stop_after(0, true, 1, 4, 50));
        assert!(!should_stop_after(0, false, 1, 4, 50));
        assert!(!should_stop_after(1, true, 1, 4, 50));
        assert!(should_stop_after(1, true, 3, 4, 50));
        assert_eq!(
            canaries(&keys(4), &Canary::Nodes(vec!["nope".into()])),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn stop_rule() {
        assert!(should_stop(1, 10, 0));
        assert!(!should_stop(1, 10, 10));
        assert!(should_stop(2, 10, 10));
        assert!(!should_stop(0, 10, 0));
    }
}
