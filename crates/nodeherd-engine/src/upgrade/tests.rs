//! The upgrade engine's decisions, driven through the scripted fake host
//! ([`crate::testing::FakeRemote`]) on tokio's paused clock: no root, no network, milliseconds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::playbook::Playbook;
use nodeherd_core::releases::feed::{FeedRelease, Release};

use crate::feeds::ReleaseSource;
use crate::testing::{FakeRemote, HttpReply, Match, Reply, fake_pool, isolate_state};
use crate::upgrade::artifact::{Artifact, ArtifactError};
use crate::upgrade::engine::{self, NodePlan, Options, Outcome, Status, Target};

const PORT: u16 = 9596;
pub(crate) const OLD: &str = "1.4.2";
pub(crate) const NEW: &str = "1.5.1";

// Markers: a piece of each host script that no other script contains.
pub(crate) const INSPECT: &str = "echo \"current=$(readlink";
pub(crate) const LOCK: &str = "flock -n -o -E 75";
/// The release of a held lock (stop the holder, wait for its flock to go).
pub(crate) const RELEASE: &str = "grep -qa nodeherd-lock";
pub(crate) const LOCK_INFO: &str = "lock.holder\" 2>/dev/null";
const UPLOAD: &str = "if ! cat > \"$f\"; then rm -f";
const STAGE: &str = "sha256sum -c --status";
pub(crate) const SWITCH: &str = "systemd-run --unit nodeherd-switch-bn";
pub(crate) const STATE: &str = "echo \"state=$(cat";
pub(crate) const SIGNAL: &str = ": > \"$D/.nodeherd/$W-$TOK\"";
const PRUNE: &str = "for v in \"$@\"; do rm -rf";
pub(crate) const PLATFORM: &str = "uname -sm";
/// The node unit's `systemctl is-active`.
pub(crate) const UNIT_STATE: &str = "echo \"unit=$(systemctl is-active --";
/// The host's recovery of an interrupted switch.
pub(crate) const RECOVER: &str = "' nodeherd-recover ";
/// The platform probe's answer on a Debian 12 x86_64 host.
pub(crate) const X86_64: &str = "@@nodeherd:uname\nLinux x86_64\n@@nodeherd:libc\nldd (Debian GLIBC 2.36-9+deb12u14) 2.36\n@@nodeherd:end\n";

pub(crate) fn inventory(hosts: &[&str], rest_port: bool) -> Inventory {
    let mut text = String::from("[defaults]\nuser = \"root\"\n");
    for h in hosts {
        text.push_str(&format!(
            "[hosts.{h}]\naddress = \"192.0.2.1\"\n[hosts.{h}.nodes.bn]\nclient = \"lodestar\"\nrole = \"beacon\"\nunit = \"lodestar-bn.service\"\nnetwork = \"dev\"\ninstall_dir = \"/opt/nh/bn\"\n{}",
            if rest_port { "rest_port = 9596\n" } else { "" }
        ));
    }
    match Inventory::from_sources(vec![(PathBuf::from("/t/hosts.toml"), text)]) {
        Ok(i) => i,
        Err(e) => panic!("{e:?}"),
    }
}

pub(crate) fn playbook(text: &str) -> Playbook {
    Playbook::parse("p.toml", text).unwrap_or_else(|e| panic!("{e:?}"))
}

pub(crate) fn targets(hosts: &[&str], rest_port: bool, pb: &Playbook) -> Vec<Target> {
    let inv = inventory(hosts, rest_port);
    (0..hosts.len())
        .map(|h| Target::new(&inv, NodeRef { host: h, node: 0 }, pb))
        .collect()
}

/// A release with Lodestar's real asset names (one per CPU), with forge digests.
pub(crate) fn release(v: &str) -> Release {
    let asset = |cpu: &str| {
        let name = format!("lodestar-v{v}-linux-{cpu}.tar.gz");
        serde_json::json!({ "name": name, "digest": format!("sha256:{}", "ab".repeat(32)),
                            "browser_download_url": format!("http://feed.invalid/{name}") })
    };
    let feed: FeedRelease = serde_json::from_value(serde_json::json!({
        "tag_name": format!("v{v}"), "assets": [asset("amd64"), asset("arm64")] }))
    .unwrap_or_else(|e| panic!("{e}"));
    Release {
        version: semver::Version::parse(v).unwrap_or_else(|e| panic!("{e}")),
        feed,
    }
}

/// A small artifact file (what the upload streams), one per call (tests run in parallel).
pub(crate) fn artifact() -> Artifact {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("nodeherd-test-art-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("lodestar-{n}.tar.gz"));
    let _ = std::fs::write(&path, b"ARTIFACT-BYTES");
    Artifact {
        name: "lodestar.tar.gz".into(),
        sha256: "ab".repeat(32),
        path,
        size: 14,
        kind: nodeherd_core::releases::assets::ArchiveKind::TarGz,
        binary: Some("lodestar".into()),
    }
}

/// Releases and artifacts from memory.
#[derive(Debug)]
struct Canned;

impl ReleaseSource for Canned {
    fn releases<'a>(
        &'a self,
        _: &'a str,
        _: &'a Path,
    ) -> BoxFuture<'a, Result<Vec<Release>, crate::feeds::FetchError>> {
        Box::pin(async { Ok(vec![release(OLD), release(NEW)]) })
    }
    fn artifact<'a>(
        &'a self,
        _: &'a nodeherd_core::releases::assets::Pick,
        _: &'a Path,
    ) -> BoxFuture<'a, Result<Artifact, ArtifactError>> {
        Box::pin(async { Ok(artifact()) })
    }
}

pub(crate) fn options() -> Options {
    isolate_state();
    Options {
        who: "tester@console".into(),
        releases: Arc::new(Canned),
        // never a real connection from a unit test: a lost link stays lost
        reconnect: engine::Reconnect(Arc::new(|t| {
            Box::pin(async move {
                Err(nodeherd_transport::ssh::SshError::Disconnected { host: t.name })
            })
        })),
        ..Options::default()
    }
}

/// How the scripted node behaves.
#[derive(Clone, Copy)]
pub(crate) struct Node {
    pub current: &'static str,
    pub old_healthy: bool,
    pub new_healthy: bool,
}

impl Default for Node {
    fn default() -> Self {
        Node {
            current: OLD,
            old_healthy: true,
            new_healthy: true,
        }
    }
}

pub(crate) fn signalled(history: &[String], what: &str) -> bool {
    history
        .iter()
        .any(|l| l.contains(SIGNAL) && l.contains(&format!(" {what} ")))
}

/// A host running `bn` as described: lock free, layout, guard states following the signals, the
/// Beacon API answering for whichever version `current` points at.
pub(crate) fn host(name: &str, n: Node) -> FakeRemote {
    let f = FakeRemote::named(name);
    f.on(Match::contains(PLATFORM), Reply::ok(X86_64));
    f.on(
        Match::contains(LOCK),
        Reply::Hold {
            stdout: "LOCKED 4242 4241\n".into(),
        },
    );
    f.on(
        Match::contains(INSPECT),
        Reply::ok(format!(
            "current=releases/{}\nprevious=\nrelease={}\nswitch=inactive\n",
            n.current, n.current
        )),
    );
    f.on_with(Match::contains(STATE), |_, h| {
        let st = if signalled(h, "abort") {
            "rolled-back"
        } else if signalled(h, "confirm") {
            "confirmed"
        } else if h.iter().any(|l| l.contains(SWITCH)) {
            "switched"
        } else {
            ""
        };
        Reply::ok(format!("state={st}\nunit=active\n"))
    });
    f.on(
        Match::contains("systemctl show"),
        Reply::ok("Id=lodestar-bn.service\nActiveState=active\nSubState=running\n"),
    );
    f.on(Match::contains("journalctl"), Reply::ok(""));
    f.on(Match::contains(UNIT_STATE), Reply::ok("unit=active\n"));
    // the lock is ours (the holder of the LOCKED line) with a fresh lease
    f.on(
        Match::contains(LOCK_INFO),
        Reply::ok("who=tester@console\npid=4242\nsince=2026-12-06T23:00:00Z\naction=upgrade\nbeat_age=2\n"),
    );
    let on_new = |h: &[String]| h.iter().any(|l| l.contains(SWITCH)) && !signalled(h, "abort");
    f.http_with(PORT, "/eth/v1/node/health", move |_, h| {
        let ok = if on_new(h) {
            n.new_healthy
        } else {
            n.old_healthy
        };
        HttpReply::Answer(if ok { 200 } else { 503 }, String::new())
    });
    f.http_with(PORT, "/eth/v1/node/version", move |_, h| {
        let v = if on_new(h) { NEW } else { n.current };
        HttpReply::Answer(
            200,
            format!(r#"{{"data":{{"version":"Lodestar/v{v}/abc"}}}}"#),
        )
    });
    f.http_with(PORT, "/eth/v1/node/syncing", |i, _| {
        HttpReply::Answer(200, format!(r#"{{"data":{{"head_slot":"{}"}}}}"#, 100 + i))
    });
    f
}

pub(crate) async fn upgrade(f: &FakeRemote, t: &Target) -> Outcome {
    engine::upgrade_node(&f.session(), t, &release(NEW), &artifact(), &options()).await
}

fn one_target(rest_port: bool) -> Target {
    targets(&["h1"], rest_port, &Playbook::default()).remove(0)
}

pub(crate) fn assert_untouched(f: &FakeRemote) {
    for m in [UPLOAD, STAGE, SWITCH, SIGNAL, PRUNE] {
        assert_eq!(f.ran(m), 0, "`{m}` must not run; ran: {:#?}", f.lines());
    }
}

#[tokio::test(start_paused = true)]
async fn unhealthy_node_is_refused_before_anything_changes() {
    let f = host(
        "h1",
        Node {
            old_healthy: false,
            ..Node::default()
        },
    );
    let o = upgrade(&f, &one_target(true)).await;
    assert_eq!(o.status, Status::Refused, "{o:?}");
    assert!(
        o.detail.contains("not healthy before the upgrade"),
        "{}",
        o.detail
    );
    assert!(o.detail.contains("--force-unhealthy"), "{}", o.detail);
    assert_eq!(f.ran(LOCK), 1);
    assert_eq!(f.ran(RELEASE), 1, "{:#?}", f.lines());
    assert_untouched(&f);
}

#[tokio::test(start_paused = true)]
async fn install_without_current_link_is_refused() {
    let f = host("h1", Node::default());
    f.on(
        Match::contains(INSPECT),
        Reply::ok("current=\nprevious=\nswitch=inactive\n"),
    );
    let o = upgrade(&f, &one_target(true)).await;
    assert_eq!(o.status, Status::Refused);
    assert!(o.detail.contains("has no `current` link"), "{}", o.detail);
    assert_untouched(&f);
}

#[tokio::test(start_paused = true)]
async fn node_already_on_the_version_is_unchanged() {
    let f = host(
        "h1",
        Node {
            current: NEW,
            ..Node::default()
        },
    );
    let o = upgrade(&f, &one_target(true)).await;
    assert_eq!(o.status, Status::Unchanged);
    assert_eq!(o.detail, format!("already on {NEW}"));
    assert!(!o.failed());
    assert_untouched(&f);
}

#[tokio::test(start_paused = true)]
async fn healthy_switch_is_confirmed_and_pruned() {
    let f = host("h1", Node::default());
    let o = upgrade(&f, &one_target(true)).await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(o.detail, "healthy and confirmed");
    assert_eq!((o.from.as_deref(), o.to.as_deref()), (Some(OLD), Some(NEW)));
    // the artifact's bytes went up as the upload's stdin
    let uploads: Vec<_> = f
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            crate::testing::Call::ExecStdin(l, data) if l.contains(UPLOAD) => Some(data),
            _ => None,
        })
        .collect();
    assert_eq!(uploads, vec![b"ARTIFACT-BYTES".to_vec()]);
    // in order: lock, upload, stage, switch, confirm, prune, then the lock released (its holder
    // stopped and its flock waited for) before the upgrade returns; never an abort
    let order: Vec<usize> = [LOCK, UPLOAD, STAGE, SWITCH, SIGNAL, PRUNE, RELEASE]
        .iter()
        .map(|m| {
            f.lines()
                .iter()
                .position(|l| l.contains(m))
                .unwrap_or(usize::MAX)
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "{order:?}: {:#?}",
        f.lines()
    );
    assert!(signalled(&f.lines(), "confirm"));
    assert!(!signalled(&f.lines(), "abort"));
}

#[tokio::test(start_paused = true)]
async fn failed_gate_rolls_back_and_never_confirms() {
    let f = host(
        "h1",
        Node {
            new_healthy: false,
            ..Node::default()
        },
    );
    f.on(
        Match::contains("journalctl"),
        Reply::ok("Mar 01 10:00:00 h1 lodestar[1]: boom\n"),
    );
    let o = upgrade(&f, &one_target(true)).await;
    assert_eq!(o.status, Status::RolledBack, "{o:?}");
    assert!(o.failed());
    assert!(
        o.detail.contains(&format!("{NEW} failed the health gate")),
        "{}",
        o.detail
    );
    assert!(
        o.detail.contains(&format!("{OLD} is healthy again")),
        "{}",
        o.detail
    );
    assert!(
        o.detail.contains("/eth/v1/node/health answered 503"),
        "{}",
        o.detail
    );
    assert!(!o.logs.is_empty());
    assert!(signalled(&f.lines(), "abort"));
    assert!(!signalled(&f.lines(), "confirm"));
    assert_eq!(f.ran(PRUNE), 0);
}

#[tokio::test(start_paused = true)]
async fn lost_link_during_the_gate_leaves_the_rollback_to_the_hosts_guard() {
    let f = host("h1", Node::default());
    // the first probe after the switch cuts the link
    f.on_with(Match::contains("systemctl show"), |_, h| {
        if h.iter().any(|l| l.contains(SWITCH)) {
            Reply::LoseLink
        } else {
            Reply::ok("Id=lodestar-bn.service\nActiveState=active\nSubState=running\n")
        }
    });
    let o = upgrade(&f, &one_target(true)).await;
    assert_eq!(o.status, Status::Failed, "{o:?}");
    assert!(
        o.detail.starts_with("connection lost while rolling back"),
        "{}",
        o.detail
    );
    assert!(
        o.detail.contains(&format!(
            "the host's guard switches back to {OLD} by itself"
        )),
        "{}",
        o.detail
    );
    assert_eq!(f.ran(SWITCH), 1);
    assert!(!signalled(&f.lines(), "confirm"));
}

#[tokio::test(start_paused = true)]
async fn busy_lock_is_refused_naming_its_holder() {
    let f = host("h1", Node::default());
    f.on(Match::contains(LOCK), Reply::fail(75, ""));
    f.on(
        Match::contains(LOCK_INFO),
        Reply::ok("who=alice@laptop\npid=4242\nsince=2025-01-01T00:00:00Z\naction=upgrade to 1.5.0\nbeat_age=3\n"),
    );
    let o = upgrade(&f, &one_target(true)).await;
    assert_eq!(o.status, Status::Refused, "{o:?}");
    assert!(
        o.detail.contains("locked by alice@laptop (pid 4242"),
        "{}",
        o.detail
    );
    assert!(o.detail.contains("`upgrade to 1.5.0`"), "{}", o.detail);
    assert!(
        o.detail.contains("lease renewed 3s ago (alive)"),
        "{}",
        o.detail
    );
    assert_eq!(f.ran(INSPECT), 0);
    assert_untouched(&f);
}

#[tokio::test(start_paused = true)]
async fn pinned_policy_plans_no_target_and_the_run_touches_nothing() {
    let pb = playbook("[upgrade]\npin = \"~1.4\"\n");
    let ts = targets(&["h1"], true, &pb);
    let f = host("h1", Node::default());
    let pool = fake_pool(std::slice::from_ref(&f));
    let opts = options();
    let plans = engine::plan_all(&pool, &ts, None, &opts).await;
    assert_eq!(plans[0].step.to, None, "{:?}", plans[0]);
    assert_eq!(plans[0].running.as_deref(), Some(OLD));
    assert!(
        plans[0].why.iter().any(|w| w.contains("outside pin")),
        "{:?}",
        plans[0].why
    );
    let outcomes = engine::run_upgrades(&pool, &ts, &plans, &opts).await;
    assert!(outcomes.is_empty());
    assert_eq!(f.ran(LOCK), 0);
    assert_untouched(&f);
}

pub(crate) fn plan_to_new(t: &Target) -> NodePlan {
    engine::plan_node(
        t,
        Some(OLD),
        &[release(OLD), release(NEW)],
        Some(NEW),
        chrono::Utc::now(),
    )
}

#[tokio::test(start_paused = true)]
async fn failing_canary_stops_the_rollout_with_nothing_else_touched() {
    let pb = playbook("[upgrade]\ncanary = 1\nserial = 2\n");
    let ts = targets(&["h1", "h2", "h3"], true, &pb);
    let canary = host(
        "h1",
        Node {
            new_healthy: false,
            ..Node::default()
        },
    );
    let others = [host("h2", Node::default()), host("h3", Node::default())];
    let mut all = vec![canary.clone()];
    all.extend(others.iter().cloned());
    let pool = fake_pool(&all);
    let plans: Vec<NodePlan> = ts.iter().map(plan_to_new).collect();
    let out = engine::run_upgrades(&pool, &ts, &plans, &options()).await;
    let st: Vec<Status> = out.iter().map(|o| o.status).collect();
    assert_eq!(
        st,
        vec![Status::RolledBack, Status::Skipped, Status::Skipped]
    );
    assert_eq!(out[1].detail, crate::upgrade::rollout::NOT_ATTEMPTED);
    for f in &others {
        assert!(f.calls().is_empty(), "{:#?}", f.calls());
    }
}

#[tokio::test(start_paused = true)]
async fn max_fail_percent_stops_a_batch_run() {
    // 5 nodes, one at a time, 20 %: the first failure (node 2) is 1/5 = 20 % (not past it), the
    // second (node 3) is 40 %: nodes 4 and 5 are not attempted.
    let pb = playbook("[upgrade]\ncanary = 1\nserial = 1\nmax_fail_percent = 20\n");
    let names = ["h1", "h2", "h3", "h4", "h5"];
    let ts = targets(&names, true, &pb);
    let fakes: Vec<FakeRemote> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            host(
                n,
                Node {
                    new_healthy: !(i == 1 || i == 2),
                    ..Node::default()
                },
            )
        })
        .collect();
    let pool = fake_pool(&fakes);
    let plans: Vec<NodePlan> = ts.iter().map(plan_to_new).collect();
    let out = engine::run_upgrades(&pool, &ts, &plans, &options()).await;
    let st: Vec<Status> = out.iter().map(|o| o.status).collect();
    assert_eq!(
        st,
        vec![
            Status::Ok,
            Status::RolledBack,
            Status::RolledBack,
            Status::Skipped,
            Status::Skipped
        ]
    );
    assert!(fakes[3].calls().is_empty() && fakes[4].calls().is_empty());
    assert_eq!(fakes[2].ran(SWITCH), 1);
}

#[tokio::test(start_paused = true)]
async fn rollback_without_previous_is_refused() {
    let f = host("h1", Node::default());
    let o = engine::rollback_node(&f.session(), &one_target(true), None, &options()).await;
    assert_eq!(o.status, Status::Refused);
    assert_eq!(
        o.detail,
        "no `previous` release recorded; pass --to VERSION"
    );
    assert_untouched(&f);
    // A refusal under the lock releases it too, naming the holder's and flock's pids.
    let rel: Vec<String> = f
        .lines()
        .into_iter()
        .filter(|l| l.contains(RELEASE))
        .collect();
    assert_eq!(rel.len(), 1, "{:#?}", f.lines());
    assert!(rel[0].ends_with(" 4242 4241 10"), "{}", rel[0]);
}

/// A switch to a release already on the host is named by its direction: `apply` moving a node up
/// to a staged 1.5.1 is an `upgrade` in the outcome and in both journals (it was `rollback`), and
/// going down stays a `rollback` (issue #15 item 4).
#[tokio::test(start_paused = true)]
async fn a_switch_to_a_staged_release_is_journaled_by_its_direction() {
    crate::testing::isolate_state();
    for (current, to, want) in [(OLD, NEW, "upgrade"), (NEW, OLD, "rollback")] {
        let f = host(
            "h1",
            Node {
                current,
                ..Node::default()
            },
        );
        f.on(
            Match::contains(INSPECT),
            Reply::ok(format!(
                "current=releases/{current}\nprevious=\nrelease={OLD}\nrelease={NEW}\nswitch=inactive\n"
            )),
        );
        let o = engine::switch_node(&f.session(), &one_target(true), to, &options()).await;
        // (this fake's Beacon API answers the newer version, so only the upward switch passes
        // its gate; the name is what is checked here)
        assert_eq!(o.status == Status::Ok, want == "upgrade", "{o:?}");
        assert_eq!(o.action, want, "{o:?}");
        // The host's guard journals the switch with the same action name.
        let switch = f
            .lines()
            .into_iter()
            .find(|l| l.contains(SWITCH))
            .unwrap_or_default();
        assert!(
            switch.contains(&format!(r#""action":"{want}""#)),
            "{switch}"
        );
        let local = std::fs::read_to_string(nodeherd_core::journal::local_path()).unwrap();
        let last = nodeherd_core::journal::parse(&local).0.pop().unwrap();
        assert_eq!(
            (last.action.as_str(), last.to.as_str()),
            (want, to),
            "{local}"
        );
    }
}

fn install_spec(start: bool) -> engine::InstallSpec<'static> {
    engine::InstallSpec {
        version: NEW,
        unit_text: "# managed by nodeherd\n[Service]\nExecStart=/opt/nh/bn/current/lodestar\n",
        marker: "# managed by nodeherd",
        start,
    }
}

#[tokio::test(start_paused = true)]
async fn install_points_current_writes_the_unit_then_enables_and_gates() {
    let f = host(
        "h1",
        Node {
            current: NEW,
            ..Node::default()
        },
    );
    f.on(Match::contains(INSPECT), Reply::ok("missing=1\n"));
    let spec = install_spec(true);
    let o = engine::install_node(
        &f.session(),
        &one_target(true),
        &spec,
        &artifact(),
        &options(),
    )
    .await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert!(
        o.detail
            .starts_with(&format!("installed {NEW}, enabled and started")),
        "{}",
        o.detail
    );
    let unit_writes: Vec<Vec<u8>> = f
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            crate::testing::Call::ExecStdin(l, data) if !l.contains(UPLOAD) => Some(data),
            _ => None,
        })
        .collect();
    assert_eq!(unit_writes, vec![spec.unit_text.as_bytes().to_vec()]);
    let lines = f.lines();
    let enable = lines
        .iter()
        .position(|l| l == "systemctl enable --now lodestar-bn.service");
    let stage = lines.iter().position(|l| l.contains(STAGE));
    assert!(
        stage.is_some() && enable.is_some() && stage < enable,
        "{lines:#?}"
    );
    assert_eq!(f.ran(SWITCH), 0);
}

#[tokio::test(start_paused = true)]
async fn install_declared_stopped_writes_the_unit_but_does_not_enable() {
    let f = host("h1", Node::default());
    f.on(Match::contains(INSPECT), Reply::ok("missing=1\n"));
    let o = engine::install_node(
        &f.session(),
        &one_target(true),
        &install_spec(false),
        &artifact(),
        &options(),
    )
    .await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(
        o.detail,
        format!("installed {NEW}; unit written, not enabled (declared stopped)")
    );
    assert_eq!(f.ran("systemctl enable"), 0);
}

#[tokio::test(start_paused = true)]
async fn failed_staging_fails_the_install_with_the_hosts_reason() {
    let f = host("h1", Node::default());
    f.on(Match::contains(INSPECT), Reply::ok("missing=1\n"));
    f.on(
        Match::contains(STAGE),
        Reply::fail(3, "digest mismatch on the host: expected ab, got cd"),
    );
    let o = engine::install_node(
        &f.session(),
        &one_target(true),
        &install_spec(true),
        &artifact(),
        &options(),
    )
    .await;
    assert_eq!(o.status, Status::Failed, "{o:?}");
    assert_eq!(
        o.detail,
        "staging failed, nothing switched: digest mismatch on the host: expected ab, got cd"
    );
    assert_eq!(f.ran("systemctl enable"), 0);
}

/// A full disk on the host during the upload (issue #15 item 10): the run fails with the host's
/// own error, nothing is staged or switched, and the host lock is released before it returns.
#[tokio::test(start_paused = true)]
async fn disk_full_during_the_upload_fails_with_the_hosts_error_and_releases_the_lock() {
    let f = host("h1", Node::default());
    f.on(
        Match::contains(UPLOAD),
        Reply::fail(1, "cat: write error: No space left on device"),
    );
    let o = upgrade(&f, &one_target(true)).await;
    assert_eq!(o.status, Status::Failed, "{o:?}");
    assert!(
        o.detail
            .contains("cat: write error: No space left on device"),
        "{}",
        o.detail
    );
    for m in [STAGE, SWITCH, SIGNAL, PRUNE] {
        assert_eq!(f.ran(m), 0, "`{m}` must not run; ran: {:#?}", f.lines());
    }
    assert_eq!(f.ran(RELEASE), 1, "{:#?}", f.lines());
}
