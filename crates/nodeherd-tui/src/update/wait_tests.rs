//! Waiting upgrades in the reducer: the countdown kept per node, `c` cancelling only before the
//! switch, and quitting (cancel what waits; name a switch in flight, leave it on a second `q`).

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nodeherd_engine::upgrade::engine::Event;
use nodeherd_engine::upgrade::progress::Step;

use crate::fixture;
use crate::msg::{Effect, Msg};
use crate::state::App;
use crate::update::update;

const KEY: &str = "eth-a1/lodestar-bn";

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn send(app: &mut App, m: Msg) -> Vec<Effect> {
    update(app, m, fixture::now())
}

/// The releases screen with row 0's upgrade confirmed and running.
fn upgrading() -> App {
    let mut app = fixture::releases();
    send(&mut app, key('u'));
    let fx = send(&mut app, key('y'));
    assert!(matches!(fx.as_slice(), [Effect::Upgrade { .. }]), "{fx:?}");
    send(
        &mut app,
        Msg::Progress {
            key: KEY.into(),
            event: Event::WaitingForQuiet,
        },
    );
    send(
        &mut app,
        Msg::Wait {
            key: KEY.into(),
            step: Step::Quiet {
                blocker: "attestation duty of validator 3 at slot 812".into(),
                next_in: Duration::from_secs(7),
                gives_up_in: Duration::from_secs(800),
            },
        },
    );
    app
}

fn cancels(fx: &[Effect]) -> Vec<&str> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::CancelUpgrade { key } => Some(key.as_str()),
            _ => None,
        })
        .collect()
}

fn flash(app: &App) -> String {
    app.flash
        .as_ref()
        .map(|f| f.text.clone())
        .unwrap_or_default()
}

#[test]
fn the_countdown_is_kept_per_node_and_cleared_by_the_switch() {
    let mut app = upgrading();
    assert!(matches!(app.waits.get(KEY), Some(Step::Quiet { .. })));
    // a wait for a node that is not upgrading is dropped
    send(
        &mut app,
        Msg::Wait {
            key: "eth-a2/geth".into(),
            step: Step::Quiet {
                blocker: "x".into(),
                next_in: Duration::ZERO,
                gives_up_in: Duration::ZERO,
            },
        },
    );
    assert!(!app.waits.contains_key("eth-a2/geth"));
    send(
        &mut app,
        Msg::Progress {
            key: KEY.into(),
            event: Event::Switching,
        },
    );
    assert!(!app.waits.contains_key(KEY) && app.switching.contains(KEY));
}

#[test]
fn c_cancels_a_waiting_upgrade_and_says_so() {
    let mut app = upgrading();
    let fx = send(&mut app, key('c'));
    assert_eq!(cancels(&fx), vec![KEY]);
    assert_eq!(
        flash(&app),
        format!(
            "cancelling the upgrade/rollback of {KEY}: it stops before its switch, nothing changes"
        )
    );
    assert!(app.dialog.is_none(), "no confirmation");
}

#[test]
fn c_is_too_late_once_switching_and_idle_without_an_upgrade() {
    let mut app = upgrading();
    send(
        &mut app,
        Msg::Progress {
            key: KEY.into(),
            event: Event::Switching,
        },
    );
    let fx = send(&mut app, key('c'));
    assert!(cancels(&fx).is_empty());
    assert!(flash(&app).starts_with(&format!("too late to cancel {KEY}")));
    let mut idle = fixture::releases();
    assert!(cancels(&send(&mut idle, key('c'))).is_empty());
    assert!(flash(&idle).starts_with("nothing to cancel"));
}

#[test]
fn quitting_while_waiting_cancels_and_quits_at_once() {
    let mut app = upgrading();
    let fx = send(&mut app, key('q'));
    assert_eq!(cancels(&fx), vec![KEY]);
    assert!(fx.iter().any(|e| matches!(e, Effect::Quit)));
    assert!(app.quit && !app.leave_switches);
}

#[test]
fn quitting_during_a_switch_names_it_then_leaves_it_on_a_second_q() {
    let mut app = upgrading();
    send(
        &mut app,
        Msg::Progress {
            key: KEY.into(),
            event: Event::Switching,
        },
    );
    send(
        &mut app,
        Msg::Wait {
            key: KEY.into(),
            step: Step::Gate {
                elapsed: Duration::from_secs(40),
                timeout: Duration::from_secs(150),
                said: "syncing".into(),
            },
        },
    );
    let fx = send(&mut app, key('q'));
    assert!(fx.is_empty(), "{fx:?}");
    assert!(!app.quit);
    assert_eq!(
        flash(&app),
        format!(
            "waiting for {KEY} to finish its switch (gate 40s/150s); q again to leave it to the host's guard"
        )
    );
    let fx = send(&mut app, key('q'));
    assert!(fx.iter().any(|e| matches!(e, Effect::Quit)));
    assert!(app.quit && app.leave_switches);
}

#[test]
fn the_switch_ending_disarms_the_second_q() {
    let mut app = upgrading();
    send(
        &mut app,
        Msg::Progress {
            key: KEY.into(),
            event: Event::Switching,
        },
    );
    send(&mut app, key('q'));
    assert!(app.quit_armed);
    let outcome = nodeherd_engine::upgrade::engine::Outcome {
        node: KEY.into(),
        action: "upgrade".into(),
        from: Some("1.5.1".into()),
        to: Some("1.6.0".into()),
        status: nodeherd_engine::upgrade::engine::Status::Ok,
        detail: "healthy and confirmed".into(),
        logs: vec![],
        took: Duration::from_secs(90),
    };
    send(
        &mut app,
        Msg::UpgradeDone {
            key: KEY.into(),
            rollback: false,
            outcome,
        },
    );
    assert!(!app.quit_armed && app.switching.is_empty() && app.waits.is_empty());
    send(&mut app, key('q'));
    assert!(app.quit && !app.leave_switches);
}

#[test]
fn a_terminate_cancels_what_waits_and_quits_waiting_for_switches() {
    let mut app = upgrading();
    let fx = send(&mut app, Msg::Terminate);
    assert_eq!(cancels(&fx), vec![KEY]);
    assert!(app.quit && !app.leave_switches);
}
