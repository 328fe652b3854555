//! The quiet-window wait of a guarded switch: its countdown as progress steps, and its
//! cancellation (honoured before the switch, ignored once switching), driven through the
//! scripted fake host on tokio's paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::duty::Source;
use super::engine::{self, Options, Status, Target};
use super::progress::{Progress, Reporter, Sink, Step};
use super::tests::{
    NEW, Node, OLD, RELEASE, SIGNAL, SWITCH, host, options, playbook, signalled, targets,
};
use crate::testing::{FakeRemote, Match, Reply};

const METRICS: u16 = 8008;

#[derive(Default)]
struct Recorder(Mutex<Vec<Progress>>);

impl Sink for Recorder {
    fn report(&self, p: Progress) {
        self.0.lock().unwrap_or_else(|e| panic!("{e}")).push(p);
    }
}

/// The countdowns reported: (blocker, next_in, gives_up_in).
fn quiet_steps(rec: &Recorder) -> Vec<(String, Duration, Duration)> {
    rec.0
        .lock()
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .filter_map(|p| match p {
            Progress::Node {
                step:
                    Step::Quiet {
                        blocker,
                        next_in,
                        gives_up_in,
                    },
                ..
            } => Some((blocker.clone(), *next_in, *gives_up_in)),
            _ => None,
        })
        .collect()
}

/// A host on OLD with NEW staged as `previous`, its validator's next action `next_action` s
/// away (Nimbus' metric), and a target that waits for a quiet window (min_quiet 60s,
/// max_wait 600s: the defaults).
fn waiting_host(next_action: u32) -> (FakeRemote, Target) {
    let f = host("h1", Node::default());
    f.on(
        Match::contains(super::tests::INSPECT),
        Reply::ok(format!(
            "current=releases/{OLD}\nprevious=releases/{NEW}\nrelease={OLD}\nrelease={NEW}\nswitch=inactive\n"
        )),
    );
    f.http(
        METRICS,
        "/metrics",
        200,
        &format!("next_action_wait {next_action}\n"),
    );
    let mut t = targets(&["h1"], true, &playbook("")).remove(0);
    t.duty = Some(Source::Nimbus {
        metrics_port: METRICS,
    });
    (f, t)
}

fn recording() -> (Arc<Recorder>, Options) {
    let rec = Arc::new(Recorder::default());
    let opts = Options {
        progress: Reporter::new(rec.clone()),
        ..options()
    };
    (rec, opts)
}

#[tokio::test(start_paused = true)]
async fn a_cancel_while_waiting_ends_before_any_change_and_releases_the_lock() {
    let (f, t) = waiting_host(5);
    let (rec, opts) = recording();
    let cancel = opts.cancel.clone();
    let s = f.session();
    let run = tokio::spawn(async move { engine::rollback_node(&s, &t, None, &opts).await });
    tokio::time::sleep(Duration::from_secs(20)).await;
    let at = tokio::time::Instant::now();
    cancel.cancel();
    let o = run.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(at.elapsed() < Duration::from_secs(1), "not prompt");
    assert_eq!(o.status, Status::Refused, "{o:?}");
    assert_eq!(
        o.detail,
        format!("cancelled before any change: nothing switched, {OLD} still runs")
    );
    assert_eq!(f.ran(SWITCH), 0, "{:#?}", f.lines());
    assert_eq!(f.ran(SIGNAL), 0);
    assert_eq!(f.ran(RELEASE), 1, "the host lock is released");
    // the countdown: what blocks, ticking down each second; max_wait's rest shrinking
    let q = quiet_steps(&rec);
    assert!(q.len() >= 15, "{q:?}");
    assert_eq!(
        q[0],
        (
            "next validator action (next_action_wait)".to_string(),
            Duration::from_secs(5),
            Duration::from_secs(600)
        )
    );
    assert_eq!(q[1].1, Duration::from_secs(4));
    assert_eq!(q[1].2, Duration::from_secs(599));
    assert!(q.windows(2).all(|w| w[1].2 <= w[0].2));
    assert!(q.last().is_some_and(|l| l.2 <= Duration::from_secs(581)));
}

#[tokio::test(start_paused = true)]
async fn a_cancel_once_switching_is_ignored_and_the_switch_is_confirmed() {
    let (f, t) = waiting_host(3600);
    let (rec, opts) = recording();
    let cancel = opts.cancel.clone();
    // the cancel arrives just as the guarded switch starts on the host
    f.on_with(Match::contains(SWITCH), move |_, _| {
        cancel.cancel();
        Reply::ok("")
    });
    let o = engine::rollback_node(&f.session(), &t, None, &opts).await;
    assert!(opts.cancel.is_cancelled());
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(f.ran(SWITCH), 1);
    assert!(signalled(&f.lines(), "confirm"), "{:#?}", f.lines());
    assert!(!signalled(&f.lines(), "abort"));
    assert!(quiet_steps(&rec).is_empty(), "the window was quiet");
}

#[tokio::test(start_paused = true)]
async fn a_cancel_before_the_wait_ends_it_at_once_without_a_query_loop() {
    let (f, t) = waiting_host(5);
    let (_rec, opts) = recording();
    opts.cancel.cancel();
    let o = engine::rollback_node(&f.session(), &t, None, &opts).await;
    assert_eq!(o.status, Status::Refused);
    assert!(o.detail.starts_with("cancelled before any change"), "{o:?}");
    assert_eq!(f.ran(SWITCH), 0);
    assert_eq!(f.ran(RELEASE), 1);
}
