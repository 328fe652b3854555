//! A switch in flight (its guard waiting, or interrupted by a reboot or a stopped guard) as the
//! console sees it, on the scripted fake host: plans refuse naming it, an upgrade under the lock
//! has the host roll an interrupted one back first, a node already on the version but down is a
//! failure, not "unchanged"; a console whose lock lapsed during its gate stops without acting,
//! and the gate stops early on a failed unit (issue #15 items 10b and 10d).

use super::tests::{
    INSPECT, LOCK_INFO, NEW, Node, OLD, RECOVER, SWITCH, UNIT_STATE, assert_untouched, host,
    options, signalled, targets, upgrade,
};
use crate::testing::{Match, Reply, fake_pool};
use crate::upgrade::engine::{self, Status};
use nodeherd_core::playbook::Playbook;

/// The inspect answer of a host whose switch OLD -> NEW by `ops@a` is pending.
fn pending_layout(guard: &str) -> String {
    format!(
        "current=releases/{NEW}\nprevious=releases/{OLD}\nrelease={OLD}\nrelease={NEW}\nswitch={guard}\n\
         pending.tok=abcd\npending.old={OLD}\npending.new={NEW}\npending.by=ops@a\n\
         pending.since=2026-12-06T23:40:00Z\npending.state=switched\n"
    )
}

#[tokio::test(start_paused = true)]
async fn a_plan_while_another_console_is_in_its_gate_refuses_naming_the_switch() {
    let ts = targets(&["h1"], true, &Playbook::default());
    let f = host("h1", Node::default());
    f.on(
        Match::contains(INSPECT),
        Reply::ok(pending_layout("active")),
    );
    let pool = fake_pool(std::slice::from_ref(&f));
    let plans = engine::plan_all(&pool, &ts, Some(NEW), &options()).await;
    let p = &plans[0];
    assert_eq!(p.step.to, None, "{p:?}");
    let problem = p.problem.clone().unwrap_or_default();
    for want in [
        "h1/bn: a switch is in flight",
        &format!("switch {OLD} -> {NEW} started by ops@a at 2026-12-06T23:40:00Z"),
        "its guard still runs",
        "wait for its guard",
    ] {
        assert!(problem.contains(want), "{want:?} not in {problem}");
    }
    assert_eq!(p.step.reason, problem);
    // the run of that plan touches nothing
    let outcomes = engine::run_upgrades(&pool, &ts, &plans, &options()).await;
    assert!(outcomes.is_empty());
    assert_untouched(&f);
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_switch_is_named_by_plan_and_rolled_back_by_the_next_upgrade() {
    let ts = targets(&["h1"], true, &Playbook::default());
    let f = host("h1", Node::default());
    // pending record, guard gone (host rebooted before its recovery ran): until the recovery
    // runs, the layout is the pending one; after it, OLD again
    f.on_with(Match::contains(INSPECT), |_, h| {
        if h.iter().any(|l| l.contains(RECOVER)) {
            Reply::ok(format!(
                "current=releases/{OLD}\nprevious=releases/{NEW}\nrelease={OLD}\nrelease={NEW}\nswitch=inactive\n"
            ))
        } else {
            Reply::ok(pending_layout("inactive"))
        }
    });
    f.on(
        Match::contains(RECOVER),
        Reply::ok("recover: rolled back to 1.4.2 (interrupted by stopped guard)\n"),
    );
    let pool = fake_pool(std::slice::from_ref(&f));
    let plans = engine::plan_all(&pool, &ts, Some(NEW), &options()).await;
    let problem = plans[0].problem.clone().unwrap_or_default();
    assert!(
        problem.contains("interrupted (its guard no longer runs)")
            && problem.contains("`nodeherd rollback` of the node has the host roll it back"),
        "{problem}"
    );
    assert_eq!(f.ran(RECOVER), 0, "a plan changes nothing");
    let o = upgrade(&f, &ts[0]).await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    let lines = f.lines();
    let rec = lines.iter().position(|l| l.contains(RECOVER));
    let sw = lines.iter().position(|l| l.contains(SWITCH));
    assert!(
        rec.is_some() && rec < sw,
        "recovery before the new switch: {lines:#?}"
    );
    assert_eq!(f.ran(RECOVER), 1);
}

#[tokio::test(start_paused = true)]
async fn a_guard_still_running_under_our_lock_is_waited_for_then_named() {
    let ts = targets(&["h1"], true, &Playbook::default());
    let f = host("h1", Node::default());
    f.on(
        Match::contains(INSPECT),
        Reply::ok(pending_layout("active")),
    );
    let o = upgrade(&f, &ts[0]).await;
    assert_eq!(o.status, Status::Failed, "{o:?}");
    assert!(
        o.detail.contains("still in flight")
            && o.detail
                .contains(&format!("{OLD} -> {NEW} started by ops@a")),
        "{}",
        o.detail
    );
    assert_eq!(f.ran(RECOVER), 0, "a running guard is never recovered");
    assert_untouched(&f);
}

#[tokio::test(start_paused = true)]
async fn already_on_the_version_with_the_unit_down_is_a_failure() {
    let ts = targets(&["h1"], true, &Playbook::default());
    let f = host(
        "h1",
        Node {
            current: NEW,
            ..Node::default()
        },
    );
    f.on(Match::contains(UNIT_STATE), Reply::ok("unit=failed\n"));
    let o = upgrade(&f, &ts[0]).await;
    assert_eq!(o.status, Status::Failed, "{o:?}");
    assert!(o.failed());
    assert!(
        o.detail.contains(&format!(
            "already on {NEW}, but its unit lodestar-bn.service is failed"
        )),
        "{}",
        o.detail
    );
    assert_untouched(&f);
}

/// A host whose lock, by the end of the gate, is no longer this console's: `holder` (empty:
/// nobody's) holds it.
fn lease_lapsed(holder: &'static str) -> crate::testing::FakeRemote {
    let f = host("h1", Node::default());
    f.on_with(Match::contains(LOCK_INFO), move |_, h| {
        if h.iter().any(|l| l.contains(SWITCH)) {
            Reply::ok(holder)
        } else {
            Reply::ok("who=tester@console\npid=4242\nsince=x\naction=upgrade\nbeat_age=1\n")
        }
    });
    f
}

#[tokio::test(start_paused = true)]
async fn a_console_whose_lease_lapsed_in_the_gate_neither_confirms_nor_aborts() {
    let ts = targets(&["h1"], true, &Playbook::default());
    for (holder, says) in [
        (
            "who=ops@b\npid=999\nsince=2026-12-06T23:50:00Z\naction=upgrade to 1.5.1\nbeat_age=1\n",
            "it is now held by ops@b (pid 999) since 2026-12-06T23:50:00Z for `upgrade to 1.5.1`",
        ),
        ("beat_age=95\n", "nobody holds it now"),
        // our holder's line is still there but its lease is stale
        (
            "who=tester@console\npid=4242\nsince=x\naction=upgrade\nbeat_age=95\n",
            "nobody holds it now",
        ),
    ] {
        let f = lease_lapsed(holder);
        let o = upgrade(&f, &ts[0]).await;
        assert_eq!(o.status, Status::Failed, "{o:?}");
        for want in [
            "stopped before acting on the health gate",
            "this console no longer holds the lock of h1/bn: its lease (30s) lapsed",
            says,
            "neither confirmed nor aborted",
        ] {
            assert!(o.detail.contains(want), "{want:?} not in {}", o.detail);
        }
        let lines = f.lines();
        assert!(
            !signalled(&lines, "confirm") && !signalled(&lines, "abort"),
            "{lines:#?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_gate_stops_early_on_a_unit_that_failed() {
    let ts = targets(&["h1"], true, &Playbook::default());
    let f = host("h1", Node::default());
    f.on_with(Match::contains("systemctl show"), |_, h| {
        let failed = h.iter().any(|l| l.contains(SWITCH)) && !signalled(h, "abort");
        Reply::ok(if failed {
            "Id=lodestar-bn.service\nActiveState=failed\nSubState=failed\n"
        } else {
            "Id=lodestar-bn.service\nActiveState=active\nSubState=running\n"
        })
    });
    let o = upgrade(&f, &ts[0]).await;
    assert_eq!(o.status, Status::RolledBack, "{o:?}");
    assert!(
        o.detail.contains("gate stopped after")
            && o.detail
                .contains("unit lodestar-bn.service is failed (read twice)"),
        "{}",
        o.detail
    );
    assert!(
        ts[0].settings.health_timeout > std::time::Duration::from_secs(60),
        "the default gate is long"
    );
    assert!(
        o.took < std::time::Duration::from_secs(30),
        "took {:?}",
        o.took
    );
    assert!(signalled(&f.lines(), "abort"));
}

#[tokio::test(start_paused = true)]
async fn a_rollback_of_an_interrupted_switch_is_the_hosts_recovery_not_a_new_switch() {
    let ts = targets(&["h1"], true, &Playbook::default());
    let f = host("h1", Node::default());
    f.on_with(Match::contains(INSPECT), |_, h| {
        if h.iter().any(|l| l.contains(RECOVER)) {
            Reply::ok(format!(
                "current=releases/{OLD}\nprevious=releases/{NEW}\nrelease={OLD}\nrelease={NEW}\nswitch=inactive\n"
            ))
        } else {
            Reply::ok(pending_layout("inactive"))
        }
    });
    f.on(
        Match::contains(RECOVER),
        Reply::ok("recover: rolled back\n"),
    );
    let o = engine::rollback_node(&f.session(), &ts[0], None, &options()).await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!((o.from.as_deref(), o.to.as_deref()), (Some(NEW), Some(OLD)));
    assert!(
        o.detail.contains(&format!(
            "the interrupted switch {OLD} -> {NEW} (2026-12-06T23:40:00Z, started by ops@a) was rolled back by the host; {OLD} is healthy again"
        )),
        "{}",
        o.detail
    );
    assert_eq!(f.ran(RECOVER), 1);
    assert_untouched(&f);
}
