//! The link drops at the confirmation or the abort (issue #15 item 10c), on the scripted fake
//! host: the console reconnects (a second fake: the host after the reconnect), reads the guard's
//! real state and reports it (confirmed, rolled back, still waiting: signal again), or says the
//! outcome is unknown and how to find it when it cannot reconnect; never "failed" blindly.

use std::sync::Arc;

use super::tests::{
    NEW, Node, OLD, SIGNAL, STATE, artifact, host, options, release, signalled, targets,
};
use crate::testing::{FakeRemote, Match, Reply};
use crate::upgrade::engine::{self, Outcome, Reconnect, Status};
use nodeherd_core::playbook::Playbook;
use nodeherd_transport::ssh::SshError;

/// The host's guard after the reconnect reports `state` (or, for `switched`, follows signals).
fn after(state: &'static str) -> FakeRemote {
    let f = host("h1", Node::default());
    f.on_with(Match::contains(STATE), move |_, h| {
        let st = match state {
            "switched" if signalled(h, "confirm") => "confirmed",
            "switched" if signalled(h, "abort") => "rolled-back",
            s => s,
        };
        Reply::ok(format!("state={st}\nunit=active\n"))
    });
    f
}

async fn run(first: &FakeRemote, then: Option<FakeRemote>) -> Outcome {
    let t = targets(&["h1"], true, &Playbook::default()).remove(0);
    let mut opts = options();
    opts.reconnect = Reconnect(Arc::new(move |target| {
        let s = then.as_ref().map(FakeRemote::session);
        Box::pin(async move {
            s.ok_or(SshError::Disconnected {
                host: target.name.clone(),
            })
        })
    }));
    engine::upgrade_node(&first.session(), &t, &release(NEW), &artifact(), &opts).await
}

/// A host whose link dies when the console signals the guard.
fn cut_at_signal(n: Node) -> FakeRemote {
    let f = host("h1", n);
    f.on(Match::contains(SIGNAL), Reply::LoseLink);
    f
}

#[tokio::test(start_paused = true)]
async fn the_confirm_landed_before_the_cut_reports_ok() {
    let o = run(&cut_at_signal(Node::default()), Some(after("confirmed"))).await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert!(
        o.detail
            .contains("the host's guard reports confirmed after reconnecting"),
        "{}",
        o.detail
    );
}

#[tokio::test(start_paused = true)]
async fn a_guard_still_waiting_is_confirmed_again_after_the_reconnect() {
    let then = after("switched");
    let o = run(&cut_at_signal(Node::default()), Some(then.clone())).await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert!(signalled(&then.lines(), "confirm"), "{:#?}", then.lines());
}

#[tokio::test(start_paused = true)]
async fn a_guard_that_rolled_back_meanwhile_is_reported_rolled_back() {
    let o = run(&cut_at_signal(Node::default()), Some(after("rolled-back"))).await;
    assert_eq!(o.status, Status::RolledBack, "{o:?}");
    assert!(
        o.detail
            .contains(&format!("the host's guard rolled back to {OLD}")),
        "{}",
        o.detail
    );
}

#[tokio::test(start_paused = true)]
async fn no_reconnect_is_an_unknown_outcome_that_says_where_to_look() {
    let o = run(&cut_at_signal(Node::default()), None).await;
    assert_eq!(o.status, Status::Unknown, "{o:?}");
    assert!(o.failed(), "unknown is not success: exit 1");
    for want in [
        "connection lost while confirming",
        "cannot reconnect (3 tries",
        "the outcome is unknown",
        "nodeherd history h1/bn",
        "nodeherd status h1/bn",
    ] {
        assert!(o.detail.contains(want), "{want:?} not in {}", o.detail);
    }
    assert!(
        !o.detail.contains("switches back to 1.4.2 by itself within"),
        "{}",
        o.detail
    );
}

#[tokio::test(start_paused = true)]
async fn a_cut_while_aborting_reads_the_rollback_after_the_reconnect() {
    let first = cut_at_signal(Node {
        new_healthy: false,
        ..Node::default()
    });
    let then = after("rolled-back");
    let o = run(&first, Some(then)).await;
    assert_eq!(o.status, Status::RolledBack, "{o:?}");
    assert!(
        o.detail
            .contains(&format!("rolled back, {OLD} is healthy again")),
        "{}",
        o.detail
    );
    let cut = run(
        &cut_at_signal(Node {
            new_healthy: false,
            ..Node::default()
        }),
        None,
    )
    .await;
    // no confirmation was ever sent: the guard's rollback is certain, not unknown
    assert_eq!(cut.status, Status::Failed, "{cut:?}");
    assert!(
        cut.detail.contains("connection lost while rolling back")
            && cut.detail.contains("cannot reconnect (3 tries")
            && cut
                .detail
                .contains(&format!("switches back to {OLD} by itself")),
        "{}",
        cut.detail
    );
}
