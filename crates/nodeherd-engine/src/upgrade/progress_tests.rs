//! The progress events of an upgrade, a gate-failed rollback, a rollback and a rollout, as a
//! sink receives them, driven through the scripted fake host on tokio's paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::engine::{self, Event, NodePlan, Options, Status};
use super::progress::{Progress, Reporter, Sink, Step, measured_upload};
use super::tests::{
    NEW, Node, OLD, artifact, host, options, plan_to_new, playbook, release, targets,
};
use crate::testing::fake_pool;

/// A sink that keeps everything it is told.
#[derive(Default)]
struct Recorder(Mutex<Vec<Progress>>);

impl Sink for Recorder {
    fn report(&self, p: Progress) {
        self.0.lock().unwrap_or_else(|e| panic!("{e}")).push(p);
    }
}

impl Recorder {
    fn all(&self) -> Vec<Progress> {
        self.0.lock().unwrap_or_else(|e| panic!("{e}")).clone()
    }
    /// The steps of `node`, in order.
    fn steps(&self, node: &str) -> Vec<Step> {
        self.all()
            .into_iter()
            .filter_map(|p| match p {
                Progress::Node { node: n, step } if n == node => Some(step),
                _ => None,
            })
            .collect()
    }
    fn finished(&self) -> Vec<(String, String, bool)> {
        self.all()
            .into_iter()
            .filter_map(|p| match p {
                Progress::Finished {
                    node,
                    result,
                    failed,
                    ..
                } => Some((node, result, failed)),
                _ => None,
            })
            .collect()
    }
}

fn recording() -> (Arc<Recorder>, Options) {
    let rec = Arc::new(Recorder::default());
    let opts = Options {
        progress: Reporter::new(rec.clone()),
        ..options()
    };
    (rec, opts)
}

/// The step names in order, with every run of uploads and gate waits folded to one name (their
/// number depends on timing; their content is checked separately).
fn names(steps: &[Step]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for s in steps {
        let n = match s {
            Step::Locking => "locking",
            Step::Locked => "locked",
            Step::CheckingHealth => "checking-health",
            Step::Uploading { .. } => "uploading",
            Step::Unpacking => "unpacking",
            Step::Staged => "staged",
            Step::WaitingForQuiet => "waiting-for-quiet",
            Step::Quiet { .. } => "quiet",
            Step::Switching => "switching",
            Step::Switched => "switched",
            Step::Gate { .. } => "gate",
            Step::GatePassed => "gate-passed",
            Step::Confirmed => "confirmed",
            Step::RewritingUnit => "rewriting-unit",
            Step::RollingBack { .. } => "rolling-back",
            Step::RolledBack => "rolled-back",
        };
        if out.last() != Some(&n) || !matches!(n, "uploading" | "gate") {
            out.push(n);
        }
    }
    out
}

fn uploads(steps: &[Step]) -> Vec<(u64, u64)> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Uploading { sent, total } => Some((*sent, *total)),
            _ => None,
        })
        .collect()
}

fn gates(steps: &[Step]) -> Vec<(Duration, Duration, String)> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Gate {
                elapsed,
                timeout,
                said,
            } => Some((*elapsed, *timeout, said.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_healthy_upgrade_reports_every_step_in_order() {
    let (rec, mut opts) = recording();
    let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel();
    opts.events = Some(etx);
    let f = host("h1", Node::default());
    let t = targets(&["h1"], true, &playbook("")).remove(0);
    let o = engine::upgrade_node(&f.session(), &t, &release(NEW), &artifact(), &opts).await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    let steps = rec.steps("h1/bn");
    assert_eq!(
        names(&steps),
        vec![
            "locking",
            "locked",
            "checking-health",
            "uploading",
            "unpacking",
            "staged",
            "switching",
            "switched",
            "gate",
            "gate-passed",
            "confirmed",
        ],
        "{steps:#?}"
    );
    // bytes: from 0 to the artifact's size, never backwards
    let up = uploads(&steps);
    assert_eq!(up.first(), Some(&(0, 14)), "{up:?}");
    assert_eq!(up.last(), Some(&(14, 14)), "{up:?}");
    assert!(up.windows(2).all(|w| w[0].0 <= w[1].0), "{up:?}");
    // the gate waited (the head must advance once) with its timeout and the probe's words
    let g = gates(&steps);
    assert!(!g.is_empty());
    assert!(
        g.iter()
            .all(|(e, to, _)| e < to && *to == t.settings.health_timeout),
        "{g:?}"
    );
    assert!(g[0].2.contains("head"), "{g:?}");
    assert_eq!(
        rec.finished(),
        vec![("h1/bn".to_string(), "ok".to_string(), false)]
    );
    // the TUI's coarse events still arrive, the same as before
    drop(opts);
    let mut ev = Vec::new();
    while let Ok((_, e)) = erx.try_recv() {
        ev.push(e);
    }
    assert_eq!(
        ev,
        vec![
            Event::Locked,
            Event::Uploading,
            Event::Staged,
            Event::Switching,
            Event::Switched,
            Event::GatePassed,
            Event::Confirmed,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_gate_reports_what_the_probe_said_then_the_rollback() {
    let (rec, opts) = recording();
    let f = host(
        "h1",
        Node {
            new_healthy: false,
            ..Node::default()
        },
    );
    let t = targets(&["h1"], true, &playbook("")).remove(0);
    let o = engine::upgrade_node(&f.session(), &t, &release(NEW), &artifact(), &opts).await;
    assert_eq!(o.status, Status::RolledBack, "{o:?}");
    let steps = rec.steps("h1/bn");
    assert_eq!(
        names(&steps),
        vec![
            "locking",
            "locked",
            "checking-health",
            "uploading",
            "unpacking",
            "staged",
            "switching",
            "switched",
            "gate",
            "rolling-back",
            "rolled-back",
        ],
        "{steps:#?}"
    );
    let g = gates(&steps);
    assert!(
        g.iter().all(|(_, _, said)| said.contains("answered 503")),
        "{g:?}"
    );
    // waited until the timeout, second by second of the clock
    let last = g.last().map(|x| x.0).unwrap_or_default();
    assert!(
        last + Duration::from_secs(4) >= t.settings.health_timeout,
        "{last:?}"
    );
    let reason = steps.iter().find_map(|s| match s {
        Step::RollingBack { reason } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        reason
            .as_deref()
            .is_some_and(|r| r.contains("answered 503")),
        "{reason:?}"
    );
    assert_eq!(
        rec.finished(),
        vec![("h1/bn".to_string(), "rolled-back".to_string(), true)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_rollback_reports_lock_switch_gate_and_its_end() {
    let (rec, opts) = recording();
    let f = host("h1", Node::default());
    // the host has both releases, `current` on OLD: roll "back" to NEW through the guarded switch
    f.on(
        crate::testing::Match::contains(super::tests::INSPECT),
        crate::testing::Reply::ok(format!(
            "current=releases/{OLD}\nprevious=releases/{NEW}\nrelease={OLD}\nrelease={NEW}\nswitch=inactive\n"
        )),
    );
    let t = targets(&["h1"], true, &playbook("")).remove(0);
    let o = engine::rollback_node(&f.session(), &t, None, &opts).await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(
        names(&rec.steps("h1/bn")),
        vec![
            "locking",
            "locked",
            "switching",
            "switched",
            "gate",
            "gate-passed",
            "confirmed"
        ]
    );
    assert_eq!(
        rec.finished(),
        vec![("h1/bn".to_string(), "ok".to_string(), false)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_rollout_reports_the_canary_batch_then_the_others() {
    let (rec, opts) = recording();
    let pb = playbook("[upgrade]\ncanary = 1\nserial = 2\n");
    let ts = targets(&["h1", "h2", "h3"], true, &pb);
    let all = [
        host("h1", Node::default()),
        host("h2", Node::default()),
        host("h3", Node::default()),
    ];
    let pool = fake_pool(&all);
    let plans: Vec<NodePlan> = ts.iter().map(plan_to_new).collect();
    let out = engine::run_upgrades(&pool, &ts, &plans, &opts).await;
    assert!(out.iter().all(|o| o.status == Status::Ok), "{out:?}");
    let batches: Vec<Progress> = rec
        .all()
        .into_iter()
        .filter(|p| matches!(p, Progress::Batch { .. }))
        .collect();
    assert_eq!(
        batches,
        vec![
            Progress::Batch {
                index: 1,
                of: 2,
                canary: true,
                nodes: vec!["h1/bn".into()]
            },
            Progress::Batch {
                index: 2,
                of: 2,
                canary: false,
                nodes: vec!["h2/bn".into(), "h3/bn".into()]
            },
        ]
    );
    // the second batch starts after the canary finished
    let all = rec.all();
    let pos = |f: &dyn Fn(&Progress) -> bool| all.iter().position(f).unwrap_or(usize::MAX);
    let canary_done = pos(&|p| matches!(p, Progress::Finished { node, .. } if node == "h1/bn"));
    let second = pos(&|p| matches!(p, Progress::Batch { index: 2, .. }));
    assert!(canary_done < second, "{all:#?}");
    assert_eq!(rec.finished().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_upload_is_measured_from_the_files_offset_as_it_is_read() {
    use std::io::Read;
    let dir = std::env::temp_dir().join(format!("nodeherd-progress-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("big.bin");
    std::fs::write(&path, vec![7u8; 4000]).unwrap_or_else(|e| panic!("{e}"));
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let watch = file.try_clone().unwrap_or_else(|e| panic!("{e}"));
    let seen = Mutex::new(Vec::new());
    // a slow reader: 1000 bytes a second, as a connection's window would allow
    let upload = async move {
        let mut file = file;
        let mut buf = [0u8; 1000];
        let mut n = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let k = file.read(&mut buf).unwrap_or(0);
            if k == 0 {
                return n;
            }
            n += k;
        }
    };
    let sent = measured_upload(&watch, 4000, upload, |b| {
        seen.lock().unwrap_or_else(|e| panic!("{e}")).push(b);
    })
    .await;
    assert_eq!(sent, 4000);
    let seen = seen.into_inner().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seen, vec![0, 1000, 2000, 3000, 4000]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reporter_without_a_sink_drops_everything_and_says_so() {
    let r = Reporter::default();
    r.node("h/n", Step::Locking);
    assert_eq!(format!("{r:?}"), "Reporter(none)");
    assert_eq!(
        format!("{:?}", Reporter::new(Arc::new(Recorder::default()))),
        "Reporter(sink)"
    );
}
