//! [`crate::apply::run::apply`] through the scripted fake hosts: what it sends and what it reports.

use std::collections::BTreeMap;

use nodeherd_core::inventory::NodeRef;
use nodeherd_core::plan::apply::{Change, Plan, Planned};
use nodeherd_core::plan::desired::DesiredState;

use crate::apply::run::{Gathered, apply};
use crate::testing::{FakeRemote, fake_pool};
use crate::upgrade::engine::Target;
use crate::upgrade::tests::{
    LOCK, NEW, Node, OLD, SWITCH, host, inventory, options, playbook, signalled,
};

fn planned(host: &str, change: Change) -> Planned {
    Planned {
        host: host.into(),
        node: "bn".into(),
        change,
        reason: String::new(),
    }
}

fn gathered(refs: &[NodeRef], targets: Vec<Target>) -> Gathered {
    Gathered {
        nodes: refs.to_vec(),
        facts: vec![],
        policy: BTreeMap::new(),
        targets: refs.iter().copied().zip(targets).collect(),
        unit_wants: BTreeMap::new(),
        chain: BTreeMap::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn switches_stop_after_a_failed_canary_and_the_rest_is_not_touched() {
    let names = ["h1", "h2"];
    let inv = inventory(&names, true);
    let pb = playbook("[upgrade]\ncanary = 1\n");
    let refs: Vec<NodeRef> = (0..2).map(|h| NodeRef { host: h, node: 0 }).collect();
    let ts: Vec<Target> = refs.iter().map(|r| Target::new(&inv, *r, &pb)).collect();
    let fakes = [
        host(
            "h1",
            Node {
                new_healthy: false,
                ..Node::default()
            },
        ),
        host("h2", Node::default()),
    ];
    let pool = fake_pool(&fakes);
    let switch = || Change::SwitchVersion {
        from: Some(OLD.into()),
        to: NEW.into(),
    };
    let plan = Plan {
        changes: vec![planned("h1", switch()), planned("h2", switch())],
        noops: vec![],
        unknown: vec![],
    };
    let g = gathered(&refs, ts);
    let res = apply(
        &pool,
        &inv,
        &plan,
        &refs,
        &g,
        &DesiredState::default(),
        &pb,
        2,
        &options(),
    )
    .await;
    assert_eq!(res.len(), 2);
    assert!(
        !res[0].ok && res[0].detail.starts_with("rolled-back: "),
        "{:?}",
        res[0]
    );
    assert!(
        !res[1].ok && res[1].detail.starts_with("skipped: "),
        "{:?}",
        res[1]
    );
    assert!(!res[0].verified && !res[1].verified);
    assert!(signalled(&fakes[0].lines(), "abort"));
    // h2 was only read, never locked or switched
    assert_eq!(fakes[1].ran(LOCK), 0);
    assert_eq!(fakes[1].ran(SWITCH), 0);
}

#[tokio::test(start_paused = true)]
async fn a_stop_sends_systemctl_stop_to_that_node_only() {
    let names = ["h1", "h2"];
    let inv = inventory(&names, true);
    let pb = playbook("");
    let refs = vec![NodeRef { host: 0, node: 0 }];
    let fakes = [FakeRemote::named("h1"), FakeRemote::named("h2")];
    let pool = fake_pool(&fakes);
    let plan = Plan {
        changes: vec![planned("h1", Change::Stop)],
        noops: vec![],
        unknown: vec![],
    };
    let g = gathered(&refs, vec![]);
    let res = apply(
        &pool,
        &inv,
        &plan,
        &refs,
        &g,
        &DesiredState::default(),
        &pb,
        2,
        &options(),
    )
    .await;
    assert_eq!(res.len(), 1);
    assert_eq!(
        (res[0].host.as_str(), &res[0].change),
        ("h1", &Change::Stop)
    );
    let stops = fakes[0].ran("systemctl stop -- lodestar-bn.service");
    assert_eq!(stops, 1, "{:#?}", fakes[0].lines());
    assert!(fakes[1].calls().is_empty());
    // nothing version-related on a stop
    assert_eq!(fakes[0].ran(LOCK) + fakes[0].ran(SWITCH), 0);
    // journaled on h1 by lifecycle, as the apply's user
    let j: Vec<String> = fakes[0]
        .lines()
        .into_iter()
        .filter(|l| l.contains("journal.jsonl"))
        .collect();
    assert_eq!(j.len(), 1, "{:#?}", fakes[0].lines());
    assert!(
        j[0].contains(r#""action":"stop""#)
            && j[0].contains(&format!(r#""who":"{}""#, options().who)),
        "{}",
        j[0]
    );
}

#[tokio::test(start_paused = true)]
async fn a_unit_rewrite_is_journaled_on_its_host_after_the_write() {
    crate::testing::isolate_state();
    let inv = inventory(&["h1"], true);
    let pb = playbook("");
    let refs = vec![NodeRef { host: 0, node: 0 }];
    let f = FakeRemote::named("h1");
    f.on(
        crate::testing::Match::contains(LOCK),
        crate::testing::Reply::Hold {
            stdout: "LOCKED 77 76\n".into(),
        },
    );
    f.on(
        crate::testing::Match::contains("/etc/systemd/system/"),
        crate::testing::Reply::ok("written\n"),
    );
    let pool = fake_pool(std::slice::from_ref(&f));
    let plan = Plan {
        changes: vec![planned(
            "h1",
            Change::RewriteUnit {
                diff_summary: "ExecStart".into(),
            },
        )],
        noops: vec![],
        unknown: vec![],
    };
    let mut g = gathered(&refs, vec![]);
    g.unit_wants.insert(refs[0], "# nodeherd\n[Unit]\n".into());
    // stopped: rewritten, not restarted
    g.facts = vec![nodeherd_core::plan::apply::Facts::default()];
    let res = apply(
        &pool,
        &inv,
        &plan,
        &refs,
        &g,
        &DesiredState::default(),
        &pb,
        1,
        &options(),
    )
    .await;
    assert!(res[0].ok, "{:?}", res[0]);
    let lines = f.lines();
    let write = lines
        .iter()
        .position(|l| l.contains("/etc/systemd/system/"));
    let journal = lines.iter().position(|l| l.contains("journal.jsonl"));
    assert!(write.is_some() && journal > write, "{lines:#?}");
    // The host lock is released (holder 77 stopped, its flock 76 waited for) after the write,
    // before apply returns.
    let release = lines
        .iter()
        .position(|l| l.contains("grep -qa nodeherd-lock") && l.ends_with(" 77 76 10"));
    assert!(release.is_some() && release > write, "{lines:#?}");
    let j = &lines[journal.unwrap_or(0)];
    for part in [
        r#""action":"unit-rewrite""#,
        r#""node":"h1/bn""#,
        r#""result":"ok""#,
        "rewrote /etc/systemd/system/lodestar-bn.service, daemon-reload; not restarted",
    ] {
        assert!(j.contains(part), "{part} not in {j}");
    }
}

#[tokio::test(start_paused = true)]
async fn apply_reports_its_batches_each_switch_and_each_rewrite() {
    use crate::upgrade::progress::{Progress, Reporter, Step};
    let inv = inventory(&["h1", "h2"], true);
    let pb = playbook("[upgrade]\ncanary = 1\n");
    let refs: Vec<NodeRef> = (0..2).map(|h| NodeRef { host: h, node: 0 }).collect();
    let ts: Vec<Target> = refs.iter().map(|r| Target::new(&inv, *r, &pb)).collect();
    let fakes = [host("h1", Node::default()), host("h2", Node::default())];
    fakes[1].on(
        crate::testing::Match::contains("/etc/systemd/system/"),
        crate::testing::Reply::ok("written\n"),
    );
    let pool = fake_pool(&fakes);
    let plan = Plan {
        changes: vec![
            planned(
                "h1",
                Change::SwitchVersion {
                    from: Some(OLD.into()),
                    to: NEW.into(),
                },
            ),
            planned(
                "h2",
                Change::RewriteUnit {
                    diff_summary: "ExecStart".into(),
                },
            ),
        ],
        noops: vec![],
        unknown: vec![],
    };
    let mut g = gathered(&refs[..1], ts[..1].to_vec());
    g.unit_wants.insert(refs[1], "# nodeherd\n[Unit]\n".into());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let opts = crate::upgrade::engine::Options {
        progress: Reporter::new(std::sync::Arc::new(tx)),
        ..options()
    };
    let res = apply(
        &pool,
        &inv,
        &plan,
        &refs,
        &g,
        &DesiredState::default(),
        &pb,
        2,
        &opts,
    )
    .await;
    assert!(res.iter().all(|r| r.ok), "{res:?}");
    drop(opts);
    let mut got = Vec::new();
    while let Some(p) = rx.recv().await {
        got.push(p);
    }
    let summary: Vec<String> = got
        .iter()
        .filter_map(|p| match p {
            Progress::Batch {
                index,
                of,
                canary,
                nodes,
            } => Some(format!("batch {index}/{of} {canary} {}", nodes.join(","))),
            Progress::Node {
                node,
                step: Step::RewritingUnit,
            } => Some(format!("{node} rewriting")),
            Progress::Node {
                node,
                step: Step::Switching,
            } => Some(format!("{node} switching")),
            Progress::Node {
                node,
                step: Step::Confirmed,
            } => Some(format!("{node} confirmed")),
            Progress::Finished { node, result, .. } => Some(format!("{node} finished {result}")),
            Progress::Node { .. } => None,
        })
        .collect();
    // unit rewrites run first (before switches), each its own rollout
    assert_eq!(
        summary,
        vec![
            "batch 1/1 true h2/bn",
            "h2/bn rewriting",
            "h2/bn finished ok",
            "batch 1/1 true h1/bn",
            "h1/bn switching",
            "h1/bn confirmed",
            "h1/bn finished ok",
        ]
    );
}

/// `apply` on a node whose switch is in flight (another console in its gate): the node is
/// unknown, naming the switch, and nothing is planned for it (issue #15 item 10b).
#[tokio::test(start_paused = true)]
async fn a_switch_in_flight_makes_the_node_unknown_naming_it() {
    let inv = inventory(&["h1"], true);
    let pb_text = "[nodes.\"h1/bn\".state]\nversion = \"1.5.1\"\nrunning = true\n";
    let pb = playbook(pb_text);
    let desired = DesiredState::parse(&[("pb.toml".into(), pb_text.into())], &inv).unwrap();
    let refs = vec![NodeRef { host: 0, node: 0 }];
    let f = host("h1", Node::default());
    f.on(
        crate::testing::Match::contains(crate::upgrade::tests::INSPECT),
        crate::testing::Reply::ok(format!(
            "current=releases/{NEW}\nprevious=releases/{OLD}\nrelease={OLD}\nrelease={NEW}\nswitch=active\n\
             pending.tok=ab\npending.old={OLD}\npending.new={NEW}\npending.by=ops@a\npending.since=2026-12-06T23:40:00Z\n"
        )),
    );
    let pool = fake_pool(std::slice::from_ref(&f));
    let g = crate::apply::run::gather(&pool, &inv, &refs, 4, &pb, &desired, &options()).await;
    let (plan, _) = crate::apply::run::make_plan(&inv, &g, &desired);
    assert!(plan.changes.is_empty(), "{plan:?}");
    assert_eq!(plan.unknown.len(), 1, "{plan:?}");
    let e = &plan.unknown[0].error;
    assert!(
        e.contains("a switch is in flight")
            && e.contains(&format!("switch {OLD} -> {NEW} started by ops@a")),
        "{e}"
    );
    // the same host without a pending switch plans normally: nothing unknown
    let calm = host("h1", Node::default());
    let pool = fake_pool(std::slice::from_ref(&calm));
    let g = crate::apply::run::gather(&pool, &inv, &refs, 4, &pb, &desired, &options()).await;
    let (plan, _) = crate::apply::run::make_plan(&inv, &g, &desired);
    assert!(plan.unknown.is_empty(), "{plan:?}");
}
