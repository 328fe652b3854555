//! The pure chain on a real Lodestar 1.5.1 page: extract -> observation -> default alert rules -> exposition.
#![allow(clippy::unwrap_used)] // a test or bench: a panic is a failure with its location

use chrono::{DateTime, Utc};
use nodeherd_core::alerts::observe::observation;
use nodeherd_core::alerts::{Engine, NotificationKind, default_rules};
use nodeherd_core::metrics::clients::{Signal, for_client};
use nodeherd_core::metrics::expose::{NodeSample, render};
use nodeherd_core::metrics::page::{extract, families};

const BN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/metrics/lodestar-1.5.1-bn-metrics.prom"
));

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).expect("a valid timestamp")
}

#[test]
fn real_page_with_zero_peers_fires_peers_low_after_its_for() {
    let sample = extract(BN, for_client("lodestar"));
    let peers = sample.get(Signal::Peers).expect("libp2p_peers on the page");
    let rules = default_rules();
    let low = rules.iter().find(|r| r.name == "peers-low").unwrap();
    let for_secs = low.for_.as_secs() as i64;
    assert!(peers < 5.0, "the captured dev node had {peers} peers");

    let mut engine = Engine::new(rules.clone());
    let o = observation("host-1", "bn", Some(true), Some(&sample), None);
    assert!(engine.evaluate(t(0), std::slice::from_ref(&o)).is_empty());
    let n = engine.evaluate(t(for_secs), std::slice::from_ref(&o));
    let names: Vec<&str> = n.iter().map(|n| n.rule.as_str()).collect();
    assert_eq!(names, ["peers-low"], "{n:?}");
    assert!(!n[0].pages, "warn does not page");
    assert!(
        n[0].text.contains(&format!("has {peers} peers")),
        "{}",
        n[0].text
    );

    // the head did not move between the two observations: head-not-advancing is pending, then fires
    let stuck_for = rules
        .iter()
        .find(|r| r.name == "head-not-advancing")
        .unwrap()
        .for_
        .as_secs() as i64;
    let n = engine.evaluate(t(for_secs + stuck_for), std::slice::from_ref(&o));
    assert_eq!(
        n.iter().map(|n| n.rule.as_str()).collect::<Vec<_>>(),
        ["head-not-advancing"]
    );

    let mut better = sample.clone();
    better.values.insert(Signal::Peers, 50.0);
    better.values.insert(
        Signal::HeadSlot,
        sample.get(Signal::HeadSlot).unwrap() + 1.0,
    );
    let o = observation("host-1", "bn", Some(true), Some(&better), None);
    let n = engine.evaluate(t(2 * for_secs + stuck_for), &[o]);
    assert!(n.iter().all(|n| n.kind == NotificationKind::Resolved));
    assert_eq!(n.len(), 2);
}

#[test]
fn exposition_of_a_real_sample_reads_back() {
    let sample = extract(BN, for_client("lodestar"));
    let page = render(
        &[NodeSample {
            host: "host-1",
            node: "bn",
            client: "lodestar",
            sample: &sample,
        }],
        &[],
    );
    let fams = families(&page, &["nodeherd_head_slot", "nodeherd_version_info"]);
    assert_eq!(
        fams[0].metrics[0].value,
        sample.get(Signal::HeadSlot).unwrap()
    );
    assert_eq!(
        fams[1].metrics[0].label("version"),
        sample.version.as_deref()
    );
    assert_eq!(fams[0].metrics[0].label("client"), Some("lodestar"));
}
