//! Upgrade integration tests against a real lab host running a real Lodestar (lab "nhupg",
//! 10.216.0.0/24): a release feed served from 127.0.0.1 inside the test with GitHub-shaped JSON,
//! real SHA-256 digests and tarballs of the two Lodestar installs, a broken release and a
//! too-young one. Needs root: without it, says so and skips.
//!
//! Run: `cargo test --test upgrade` (as root); a name filter runs only matching scenarios (the
//! setup always runs). `NODEHERD_TEST_KEEP_LAB=1` leaves the lab up.

use nodeherd_core::facts::layout as host;
use nodeherd_core::inventory::Inventory;
use nodeherd_core::journal;
use nodeherd_core::playbook::Playbook;
use nodeherd_core::selector::Selector;
use nodeherd_engine::upgrade::engine::{self, Event, Options, Status, Target};
use nodeherd_lab::{self as lab, LabConfig};
use nodeherd_transport::ssh::{Command, ConnectOptions, Pool, Session};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[path = "support/feed.rs"]
mod feed;

const NODE: &str = "nhupg-1/lodestar-bn";
const DIR: &str = "/opt/nodeherd/lodestar-bn";
const VETH: &str = "ve-nhupg-1";

struct Ctx {
    inv: Inventory,
    dir: PathBuf,
    feed_base: String,
    rt: tokio::runtime::Runtime,
    figures: std::sync::Mutex<Vec<String>>,
}

type Scenario = (&'static str, fn(&Ctx));

fn main() {
    if unsafe { libc::geteuid() } != 0 {
        println!(
            "upgrade tests skipped: they need root (a lab of network namespaces); run `sudo cargo test --test upgrade`"
        );
        println!("0 passed, 0 failed, 1 skipped");
        return;
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let dir = std::env::temp_dir().join(format!("nodeherd-upgtest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // SAFETY: single-threaded at this point; the local journal goes to the test's dir.
    unsafe { std::env::set_var("NODEHERD_STATE_DIR", dir.join("state")) };
    let cfg = LabConfig {
        name: "nhupg".into(),
        hosts: 1,
        subnet: 216,
        lodestar: true,
        lodestar_hosts: 1,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    };
    let report = match lab::up(&cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lab up failed: {e}");
            let _ = lab::down(&cfg);
            println!("0 passed, 1 failed");
            std::process::exit(1);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let artifacts = build_artifacts(&dir);
    let feed_base = rt.block_on(serve(dir.clone(), artifacts));
    let inv = Inventory::load(&report.inventory).expect("lab inventory");
    let ctx = Ctx {
        inv,
        dir: dir.clone(),
        feed_base,
        rt,
        figures: Default::default(),
    };
    let scenarios: Vec<Scenario> = vec![
        (
            "corrupt_artifact_changes_nothing",
            corrupt_artifact_changes_nothing,
        ),
        (
            "release_for_another_platform_changes_nothing",
            release_for_another_platform_changes_nothing,
        ),
        ("upgrade_a_to_b_and_rollback", upgrade_a_to_b_and_rollback),
        (
            "too_young_release_is_not_installed",
            too_young_release_is_not_installed,
        ),
        ("pinned_node_stays", pinned_node_stays),
        ("broken_release_rolls_back", broken_release_rolls_back),
        (
            "concurrent_upgrade_is_refused_with_holder",
            concurrent_upgrade_is_refused_with_holder,
        ),
        ("ssh_cut_during_upload", ssh_cut_during_upload),
        ("ssh_cut_during_health_gate", ssh_cut_during_health_gate),
        ("ssh_cut_before_confirm", ssh_cut_before_confirm),
        (
            "safe_window_reports_blocking_duty",
            safe_window_reports_blocking_duty,
        ),
    ];
    let (mut passed, mut failed) = (0, 0);
    let setup = catch_unwind(AssertUnwindSafe(|| reset_to_1_4_2(&ctx)));
    if setup.is_err() {
        println!("setup FAILED");
        failed += 1;
    }
    for (name, f) in scenarios {
        if setup.is_err()
            || (!filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())))
        {
            continue;
        }
        let t = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| f(&ctx)));
        let secs = t.elapsed().as_secs_f64();
        set_link(true);
        match r {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({secs:.1}s)");
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED ({secs:.1}s)");
            }
        }
    }
    for f in ctx.figures.lock().map(|f| f.clone()).unwrap_or_default() {
        println!("figure: {f}");
    }
    if std::env::var_os("NODEHERD_TEST_KEEP_LAB").is_none() {
        if let Err(e) = lab::down(&cfg) {
            eprintln!("lab down failed: {e}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

// ------------------------------------------------------------------------------------------
// Artifacts and the feed server

struct Art {
    file: PathBuf,
    sha: String,
}

/// Tarballs of the real installs (cached across runs: they take a while) and a broken release.
fn build_artifacts(tmp: &Path) -> Vec<(String, Art)> {
    let mut out: Vec<(String, Art)> = feed::lodestar_artifacts()
        .into_iter()
        .map(|(v, file, sha)| (v, Art { file, sha }))
        .collect();
    // A release whose entry point exits 1.
    let b = tmp.join("broken");
    let entry = b.join("node_modules/@chainsafe/lodestar/lib");
    std::fs::create_dir_all(&entry).expect("broken dir");
    std::fs::write(
        entry.join("index.js"),
        "console.error('nodeherd test: this release is broken on purpose'); process.exit(1);\n",
    )
    .expect("write");
    std::fs::write(b.join("polyfill.cjs"), "\n").expect("write");
    feed::write_launcher(&b);
    let file = tmp.join(feed::lodestar_asset("1.6.0", feed::lab_cpu()));
    let st = Proc::new("tar")
        .arg("-C")
        .arg(&b)
        .arg("-czf")
        .arg(&file)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
    let sha = feed::sha256_of(&file);
    out.push(("1.6.0".into(), Art { file, sha }));
    out
}

/// Serve `/feed/<name>.json` and `/assets/<file>` on 127.0.0.1; returns the base URL.
async fn serve(dir: PathBuf, arts: Vec<(String, Art)>) -> String {
    let (listener, base) = feed::bind().await;
    let sha = |v: &str| {
        arts.iter()
            .find(|(x, _)| x == v)
            .map(|(_, a)| a.sha.clone())
            .unwrap_or_default()
    };
    let cpu = feed::lab_cpu();
    let name = |v: &str| feed::lodestar_asset(v, cpu);
    let mut files: Vec<(String, PathBuf)> = arts
        .iter()
        .map(|(v, a)| (name(v), a.file.clone()))
        .collect();
    // 1.7.0: too young (published today); same bytes as the broken one.
    files.push((name("1.7.0"), arts[2].1.file.clone()));
    let rel = |tag: &str, days: i64, v: &str, sha_of: &str| {
        feed::release_json(&base, tag, days, &name(v), &sha(sha_of))
    };
    // 1.5.1 published for another CPU and for macOS only: no asset for the lab's hosts.
    let other = feed::lodestar_asset("1.5.1", feed::other_cpu());
    let foreign = feed::release_json_assets(
        &base,
        "v1.5.1",
        30,
        &[
            (other.as_str(), &sha("1.5.1")),
            ("lodestar-v1.5.1-darwin-arm64.tar.gz", &sha("1.5.1")),
        ],
    );
    let feeds = [
        (
            "main",
            vec![
                rel("v1.7.0", 0, "1.7.0", "1.6.0"),
                rel("v1.6.0", 20, "1.6.0", "1.6.0"),
                rel("v1.5.1", 30, "1.5.1", "1.5.1"),
                rel("v1.4.2", 60, "1.4.2", "1.4.2"),
            ],
        ),
        (
            "young",
            vec![
                rel("v1.5.1", 1, "1.5.1", "1.5.1"),
                rel("v1.4.2", 60, "1.4.2", "1.4.2"),
            ],
        ),
        (
            "corrupt",
            vec![
                // The published digest is not the artifact's.
                rel("v1.5.1", 30, "1.5.1", "1.4.2"),
                rel("v1.4.2", 60, "1.4.2", "1.4.2"),
            ],
        ),
        (
            "foreign",
            vec![foreign, rel("v1.4.2", 60, "1.4.2", "1.4.2")],
        ),
    ];
    for (name, rels) in feeds {
        files.push(feed::feed_file(&dir, name, &rels));
    }
    feed::spawn_file_server(listener, files);
    base
}

// ------------------------------------------------------------------------------------------
// Helpers

fn playbook(ctx: &Ctx, name: &str, feed: &str, extra: &str) -> Playbook {
    let text = format!(
        "[upgrade]\nrelease_feed = \"{}/feed/{feed}.json\"\ndelay = \"7d\"\ncanary = 1\nserial = 1\nhealth_timeout = \"100s\"\nconfirm_timeout = \"130s\"\nmin_quiet = \"0s\"\nkeep = 3\n",
        ctx.feed_base
    );
    // Scenario settings override the defaults at node level (exercises the precedence).
    let text = if extra.is_empty() {
        text
    } else {
        format!("{text}\n[nodes.\"{NODE}\".upgrade]\n{extra}\n")
    };
    let p = ctx.dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).expect("write playbook");
    Playbook::load(&p).expect("playbook")
}

fn target(ctx: &Ctx, pb: &Playbook) -> Target {
    let r = Selector::parse(NODE)
        .and_then(|s| s.select_nodes(&ctx.inv))
        .expect("select")[0];
    let mut t = Target::new(&ctx.inv, r, pb);
    t.host.target.command_timeout = Duration::from_secs(25);
    t.host.target.connect_timeout = Duration::from_secs(8);
    t
}

fn options(ctx: &Ctx, who: &str) -> Options {
    Options {
        who: who.into(),
        wait_lock: Duration::from_secs(90),
        artifact_cache: ctx.dir.join("artifacts"),
        feed_cache: ctx.dir.join("feeds"),
        ..Options::default()
    }
}

/// Connect, retrying for a while: right after the link comes back up, the first attempts can
/// fail with "no route to host" until the neighbour entry is fresh again.
async fn session(t: &Target) -> Session {
    let start = Instant::now();
    loop {
        let pool = Pool::new(ConnectOptions::default());
        match pool.session(&t.host.target).await {
            Ok(s) => return s,
            Err(e) if start.elapsed() > Duration::from_secs(60) => panic!("ssh: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
}

fn sh(ctx: &Ctx, t: &Target, script: &str) -> String {
    ctx.rt.block_on(async {
        let s = session(t).await;
        // Generous: `systemctl restart` of Lodestar can take a while on a loaded machine.
        let o = s
            .exec_with_timeout(
                &Command::new("sh").arg("-c").arg(script),
                Duration::from_secs(180),
            )
            .await
            .expect("exec");
        o.stdout_str().into_owned()
    })
}

fn layout(ctx: &Ctx, t: &Target) -> host::Layout {
    host::parse_inspect(&sh(
        ctx,
        t,
        &format!(
            "D={DIR}; {}",
            r#"echo "current=$(readlink $D/current)"; echo "previous=$(readlink $D/previous)"; for r in $D/releases/*; do echo "release=${r##*/}"; done; echo "switch=$(systemctl is-active nodeherd-switch-lodestar-bn.service)""#
        ),
    ))
}

/// Healthy (200, head advancing) on `version` within `limit`.
fn assert_healthy_on(ctx: &Ctx, t: &Target, version: &str, limit: Duration) {
    let r = ctx.rt.block_on(async {
        let s = session(t).await;
        let spec = nodeherd_engine::upgrade::health::GateSpec {
            want: Some(version),
            accept_syncing: false,
            settle: Duration::ZERO,
            timeout: limit,
        };
        nodeherd_engine::upgrade::health::gate(&s, &t.node, spec).await
    });
    if let Err(f) = r {
        panic!("not healthy on {version}: {} ({:?})", f.reason, f.last);
    }
}

fn set_link(up: bool) {
    let _ = Proc::new("ip")
        .args(["link", "set", VETH, if up { "up" } else { "down" }])
        .status();
}

/// Wait until the guard of an earlier run is done.
fn wait_guard_done(ctx: &Ctx, t: &Target, limit: Duration) {
    let start = Instant::now();
    while layout(ctx, t).switch_running() {
        assert!(
            start.elapsed() < limit,
            "the host guard still runs after {limit:?}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn host_journal(ctx: &Ctx, t: &Target) -> Vec<journal::Entry> {
    journal::parse(&sh(
        ctx,
        t,
        "cat /var/log/nodeherd/journal.jsonl 2>/dev/null",
    ))
    .0
}

/// The lab's dev chain starts afresh (`--reset`) on every beacon node start, so the validator
/// client must start afresh with it (else it keeps the old genesis and the head never advances):
/// test drop-ins restart the VC after each BN start and clear its database (not its API token).
const VC_FOLLOWS_BN: &str = r#"mkdir -p /etc/systemd/system/lodestar-vc.service.d /etc/systemd/system/lodestar-bn.service.d
printf '[Service]\nExecStartPre=/bin/sh -c "find /var/lib/lodestar-vc/validator-db -mindepth 1 ! -name api-token.txt -delete"\n' > /etc/systemd/system/lodestar-vc.service.d/nodeherd-test.conf
printf '[Service]\nExecStartPost=/bin/systemctl --no-block restart lodestar-vc.service\n' > /etc/systemd/system/lodestar-bn.service.d/nodeherd-test.conf
systemctl daemon-reload"#;

/// Setup: the node on 1.4.2 from the lab's read-only install; 1.5.1 not on the host.
fn reset_to_1_4_2(ctx: &Ctx) {
    let pb = playbook(ctx, "base", "main", "");
    let t = target(ctx, &pb);
    sh(ctx, &t, VC_FOLLOWS_BN);
    sh(
        ctx,
        &t,
        &format!(
            "cd {DIR} && rm -rf releases/1.5.1 releases/1.6.0 releases/1.7.0 .nodeherd previous && ln -sfn /opt/lodestar-dist/1.4.2 releases/1.4.2 && ln -sfn releases/1.4.2 current && rm -f /var/log/nodeherd/journal.jsonl && systemctl restart lodestar-bn"
        ),
    );
    assert_healthy_on(ctx, &t, "1.4.2", Duration::from_secs(150));
}

fn plan_and_run(
    ctx: &Ctx,
    t: &Target,
    to: Option<&str>,
    opts: &Options,
) -> (Vec<engine::NodePlan>, Vec<engine::Outcome>) {
    ctx.rt.block_on(async {
        let pool = Pool::new(ConnectOptions::default());
        let targets = vec![t.clone()];
        let plans = engine::plan_all(&pool, &targets, to, opts).await;
        let out = engine::run_upgrades(&pool, &targets, &plans, opts).await;
        pool.close_all().await;
        (plans, out)
    })
}

/// Health polled every 250 ms until `stop`: the longest span without a 200.
async fn poll_downtime(t: Target, stop: Arc<AtomicBool>) -> Duration {
    let s = session(&t).await;
    let mut longest = Duration::ZERO;
    let mut down_since: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        let ok = match tokio::time::timeout(Duration::from_secs(3), async {
            let st = s.forward(9596).await.ok()?;
            nodeherd_transport::http::get(st, "/eth/v1/node/health", &[])
                .await
                .ok()
        })
        .await
        {
            Ok(Some(r)) => r.status == 200,
            _ => false,
        };
        match (ok, down_since) {
            (false, None) => down_since = Some(Instant::now()),
            (true, Some(d)) => {
                longest = longest.max(d.elapsed());
                down_since = None;
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    longest
}

// ------------------------------------------------------------------------------------------
// Scenarios

fn listing(ctx: &Ctx, t: &Target) -> String {
    sh(
        ctx,
        t,
        &format!("find {DIR} -maxdepth 3 -printf '%p %y %l %s\\n' | sort; readlink {DIR}/current"),
    )
}

fn corrupt_artifact_changes_nothing(ctx: &Ctx) {
    let pb = playbook(ctx, "corrupt", "corrupt", "");
    let t = target(ctx, &pb);
    let before = listing(ctx, &t);
    let (_, out) = plan_and_run(ctx, &t, Some("1.5.1"), &options(ctx, "tester@console"));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, Status::Refused, "{:?}", out[0]);
    assert!(
        out[0].detail.contains("digest mismatch"),
        "{}",
        out[0].detail
    );
    assert_eq!(listing(ctx, &t), before, "the host changed");
    assert!(!ctx.dir.join("artifacts").join("x").exists());
    // The host verifies again: bytes that do not match their claimed digest are refused there too.
    let r = ctx.rt.block_on(async {
        let s = session(&t).await;
        let fake = "0".repeat(64);
        s.exec_with_stdin(&host::receive_command(DIR, &fake, 13), b"not a tarball")
            .await
            .expect("upload");
        let spec = host::StageSpec {
            sha256: &fake,
            version: "9.9.9",
            kind: nodeherd_core::releases::assets::ArchiveKind::TarGz,
            binary: Some("lodestar"),
        };
        s.exec(&host::stage_command(DIR, &spec).expect("a safe spec"))
            .await
            .expect("stage")
    });
    assert_eq!(r.exit_status, Some(3));
    assert!(String::from_utf8_lossy(&r.stderr).contains("digest mismatch on the host"));
    assert!(!layout(ctx, &t).has("9.9.9"));
    assert_healthy_on(ctx, &t, "1.4.2", Duration::from_secs(60));
}

/// A release with assets for another CPU and macOS only: the real picker, fed the platform
/// probed on the lab host, refuses it naming the assets seen, and the host is untouched.
fn release_for_another_platform_changes_nothing(ctx: &Ctx) {
    let pb = playbook(ctx, "foreign", "foreign", "");
    let t = target(ctx, &pb);
    let before = listing(ctx, &t);
    let (_, out) = plan_and_run(ctx, &t, Some("1.5.1"), &options(ctx, "tester@console"));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, Status::Refused, "{:?}", out[0]);
    let arch = if feed::lab_cpu() == "amd64" {
        "x86_64"
    } else {
        "aarch64"
    };
    let want = format!(
        "no asset of lodestar v1.5.1 for linux/{arch}; assets seen: {}, lodestar-v1.5.1-darwin-arm64.tar.gz",
        feed::lodestar_asset("1.5.1", feed::other_cpu())
    );
    assert!(out[0].detail.starts_with(&want), "{}", out[0].detail);
    assert!(
        out[0].detail.ends_with("nothing was changed on the host"),
        "{}",
        out[0].detail
    );
    assert_eq!(listing(ctx, &t), before, "the host changed");
    assert_healthy_on(ctx, &t, "1.4.2", Duration::from_secs(60));
}

fn upgrade_a_to_b_and_rollback(ctx: &Ctx) {
    let pb = playbook(ctx, "main", "main", "");
    let t = target(ctx, &pb);
    let stop = Arc::new(AtomicBool::new(false));
    let poller = ctx.rt.spawn(poll_downtime(t.clone(), stop.clone()));
    let started = Instant::now();
    let (_, out) = plan_and_run(ctx, &t, Some("1.5.1"), &options(ctx, "tester@console"));
    let upgrade_took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let upgrade_down = ctx.rt.block_on(poller).expect("poller");
    assert_eq!(out[0].status, Status::Ok, "{:?}", out[0]);
    let l = layout(ctx, &t);
    assert_eq!(l.current.as_deref(), Some("1.5.1"));
    assert_eq!(l.previous.as_deref(), Some("1.4.2"));
    assert_healthy_on(ctx, &t, "1.5.1", Duration::from_secs(60));
    let j = host_journal(ctx, &t);
    assert!(
        j.iter().any(|e| e.action == "upgrade"
            && e.to == "1.5.1"
            && e.result == "ok"
            && e.who == "tester@console"),
        "{j:?}"
    );

    // A plain restart of the same client, measured the same way.
    let stop = Arc::new(AtomicBool::new(false));
    let poller = ctx.rt.spawn(poll_downtime(t.clone(), stop.clone()));
    std::thread::sleep(Duration::from_secs(1));
    sh(ctx, &t, "systemctl restart lodestar-bn");
    assert_healthy_on(ctx, &t, "1.5.1", Duration::from_secs(150));
    stop.store(true, Ordering::SeqCst);
    let restart_down = ctx.rt.block_on(poller).expect("poller");
    if let Ok(mut f) = ctx.figures.lock() {
        f.push(format!(
            "upgrade 1.4.2->1.5.1: API unavailable {:.1}s (whole upgrade incl. upload+unpack {:.1}s); plain systemctl restart: API unavailable {:.1}s",
            upgrade_down.as_secs_f64(),
            upgrade_took.as_secs_f64(),
            restart_down.as_secs_f64()
        ));
    }

    // Rollback to the previous release.
    let o = ctx.rt.block_on(async {
        let s = session(&t).await;
        engine::rollback_node(&s, &t, None, &options(ctx, "tester@console")).await
    });
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(layout(ctx, &t).current.as_deref(), Some("1.4.2"));
    assert_healthy_on(ctx, &t, "1.4.2", Duration::from_secs(60));
    let (hist, errs) = ctx.rt.block_on(async {
        let pool = Pool::new(ConnectOptions::default());
        engine::history(&pool, &ctx.inv, &[t.node_ref.host], &[NODE.to_string()]).await
    });
    assert!(errs.is_empty(), "{errs:?}");
    assert!(
        hist.iter()
            .any(|e| e.action == "rollback" && e.to == "1.4.2" && e.result == "ok")
    );
    // Local and host entries of the same action are merged once.
    assert_eq!(
        hist.iter()
            .filter(|e| e.action == "rollback" && e.result == "ok")
            .count(),
        1,
        "{hist:?}"
    );
}

fn too_young_release_is_not_installed(ctx: &Ctx) {
    let pb = playbook(ctx, "young", "young", "");
    let t = target(ctx, &pb);
    let before = layout(ctx, &t);
    let (plans, out) = plan_and_run(ctx, &t, None, &options(ctx, "tester@console"));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(plans[0].step.to, None);
    assert!(
        plans[0].why.iter().any(|w| w.contains("1.5.1: too young")),
        "{:?}",
        plans[0].why
    );
    assert_eq!(plans[0].next.as_ref().map(|n| n.0.as_str()), Some("1.5.1"));
    assert_eq!(layout(ctx, &t).current, before.current);
}

fn pinned_node_stays(ctx: &Ctx) {
    let pb = playbook(ctx, "pinned", "main", "pin = \"=1.4.2\"");
    let t = target(ctx, &pb);
    let (plans, out) = plan_and_run(ctx, &t, None, &options(ctx, "tester@console"));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(plans[0].step.to, None);
    assert!(
        plans[0].why.iter().any(|w| w.contains("outside pin")),
        "{:?}",
        plans[0].why
    );
    // Without the pin the same feed would upgrade it (1.6.0 is the newest old-enough release).
    let free = playbook(ctx, "free", "main", "");
    let tf = target(ctx, &free);
    let plans = ctx.rt.block_on(async {
        let pool = Pool::new(ConnectOptions::default());
        engine::plan_all(&pool, std::slice::from_ref(&tf), None, &options(ctx, "t")).await
    });
    assert_eq!(plans[0].step.to.as_deref(), Some("1.6.0"));
    assert_eq!(layout(ctx, &t).current.as_deref(), Some("1.4.2"));
}

fn broken_release_rolls_back(ctx: &Ctx) {
    let pb = playbook(
        ctx,
        "broken",
        "main",
        "health_timeout = \"60s\"\nconfirm_timeout = \"100s\"",
    );
    let t = target(ctx, &pb);
    let from = layout(ctx, &t).current.expect("current");
    let (_, out) = plan_and_run(ctx, &t, Some("1.6.0"), &options(ctx, "tester@console"));
    let o = &out[0];
    assert_eq!(o.status, Status::RolledBack, "{o:?}");
    assert!(
        o.detail.contains(&format!("{from} is healthy again")),
        "{}",
        o.detail
    );
    assert!(
        o.logs.iter().any(|l| l.contains("broken on purpose")),
        "{:?}",
        o.logs
    );
    assert_eq!(layout(ctx, &t).current.as_deref(), Some(from.as_str()));
    assert_healthy_on(ctx, &t, &from, Duration::from_secs(60));
    let j = host_journal(ctx, &t);
    assert!(
        j.iter()
            .any(|e| e.to == "1.6.0" && e.result == "rolled-back (health gate failed)"),
        "{j:?}"
    );
}

fn concurrent_upgrade_is_refused_with_holder(ctx: &Ctx) {
    let pb = playbook(ctx, "main", "main", "");
    let t = target(ctx, &pb);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut a = options(ctx, "alice@laptop");
    a.events = Some(tx);
    let mut b = options(ctx, "cron@box");
    b.wait_lock = Duration::ZERO;
    let (oa, ob) = ctx.rt.block_on(async {
        let ta = t.clone();
        let first = tokio::spawn(async move {
            let pool = Pool::new(ConnectOptions::default());
            let plans = engine::plan_all(&pool, std::slice::from_ref(&ta), Some("1.5.1"), &a).await;
            engine::run_upgrades(&pool, &[ta], &plans, &a).await
        });
        while let Some((_, e)) = rx.recv().await {
            if e == Event::Locked {
                break;
            }
        }
        let pool = Pool::new(ConnectOptions::default());
        let plans = engine::plan_all(&pool, std::slice::from_ref(&t), Some("1.5.1"), &b).await;
        let second = engine::run_upgrades(&pool, std::slice::from_ref(&t), &plans, &b).await;
        (first.await.expect("first"), second)
    });
    assert_eq!(ob[0].status, Status::Refused, "{:?}", ob[0]);
    assert!(
        ob[0].detail.contains("locked by alice@laptop"),
        "{}",
        ob[0].detail
    );
    assert!(ob[0].detail.contains("since"), "{}", ob[0].detail);
    assert_eq!(oa[0].status, Status::Ok, "{:?}", oa[0]);
    assert_healthy_on(ctx, &t, "1.5.1", Duration::from_secs(60));
}

/// Run an upgrade to `to`, take the link down at `at` for `down_for`; returns the outcome.
fn cut_at(ctx: &Ctx, t: &Target, to: &str, at: Event, down_for: Duration) -> engine::Outcome {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut o = options(ctx, "tester@console");
    o.events = Some(tx);
    let watcher = ctx.rt.spawn(async move {
        while let Some((_, e)) = rx.recv().await {
            if e == at {
                set_link(false);
                tokio::time::sleep(down_for).await;
                set_link(true);
                return true;
            }
        }
        false
    });
    let (_, out) = plan_and_run(ctx, t, Some(to), &o);
    drop(o); // closes the event channel: the watcher ends even if the step never came
    let cut = ctx.rt.block_on(watcher).unwrap_or(false);
    set_link(true);
    assert!(cut, "the step {at:?} was never reached: {out:?}");
    out.into_iter().next().expect("an outcome")
}

fn ssh_cut_during_upload(ctx: &Ctx) {
    let pb = playbook(ctx, "cut1", "main", "");
    let t = target(ctx, &pb);
    // On 1.5.1 now; make sure 1.4.2 must be uploaded (it is the lab's read-only link so far).
    wait_guard_done(ctx, &t, Duration::from_secs(200));
    sh(
        ctx,
        &t,
        &format!("rm -rf {DIR}/releases/1.4.2 {DIR}/previous"),
    );
    let o = cut_at(ctx, &t, "1.4.2", Event::Uploading, Duration::from_secs(35));
    println!(
        "  outcome with the link cut during the upload: {:?}: {}",
        o.status, o.detail
    );
    assert_ne!(o.status, Status::Ok);
    assert_healthy_on(ctx, &t, "1.5.1", Duration::from_secs(120));
    // The next run completes.
    let (_, out) = plan_and_run(ctx, &t, Some("1.4.2"), &options(ctx, "tester@console"));
    assert_eq!(out[0].status, Status::Ok, "{:?}", out[0]);
    assert_healthy_on(ctx, &t, "1.4.2", Duration::from_secs(60));
}

fn ssh_cut_during_health_gate(ctx: &Ctx) {
    let pb = playbook(
        ctx,
        "cut2",
        "main",
        "health_timeout = \"60s\"\nconfirm_timeout = \"90s\"",
    );
    let t = target(ctx, &pb);
    let from = layout(ctx, &t).current.expect("current");
    // The link stays down longer than the guard's confirm_timeout: the console cannot confirm,
    // so the host must switch back by itself.
    let o = cut_at(ctx, &t, "1.5.1", Event::Switched, Duration::from_secs(105));
    println!(
        "  outcome with the link cut during the health gate: {:?}: {}",
        o.status, o.detail
    );
    assert_eq!(o.status, Status::Failed, "{o:?}");
    assert!(o.detail.contains("switches back"), "{}", o.detail);
    wait_guard_done(ctx, &t, Duration::from_secs(200));
    assert_eq!(layout(ctx, &t).current.as_deref(), Some(from.as_str()));
    assert_healthy_on(ctx, &t, &from, Duration::from_secs(120));
    let j = host_journal(ctx, &t);
    assert!(
        j.iter()
            .any(|e| e.to == "1.5.1" && e.result == "rolled-back (no confirmation)"),
        "{j:?}"
    );
    // The next run completes.
    let (_, out) = plan_and_run(ctx, &t, Some("1.5.1"), &options(ctx, "tester@console"));
    assert_eq!(out[0].status, Status::Ok, "{:?}", out[0]);
    assert_healthy_on(ctx, &t, "1.5.1", Duration::from_secs(60));
}

fn ssh_cut_before_confirm(ctx: &Ctx) {
    let pb = playbook(
        ctx,
        "cut3",
        "main",
        "health_timeout = \"60s\"\nconfirm_timeout = \"90s\"",
    );
    let t = target(ctx, &pb);
    // Switch to whichever of the two real versions is not running now.
    let to = if layout(ctx, &t).current.as_deref() == Some("1.4.2") {
        "1.5.1"
    } else {
        "1.4.2"
    };
    let o = cut_at(ctx, &t, to, Event::GatePassed, Duration::from_secs(40));
    println!(
        "  outcome with the link cut after the gate, before confirming: {:?}: {}",
        o.status, o.detail
    );
    wait_guard_done(ctx, &t, Duration::from_secs(200));
    let now = layout(ctx, &t).current.expect("current");
    assert_healthy_on(ctx, &t, &now, Duration::from_secs(120));
    let (_, out) = plan_and_run(ctx, &t, Some(to), &options(ctx, "tester@console"));
    // Either it completes now, or it was already done (the plan has nothing left to do).
    assert!(out.iter().all(|o| o.status == Status::Ok), "{out:?}");
    assert_eq!(layout(ctx, &t).current.as_deref(), Some(to));
    assert_healthy_on(ctx, &t, to, Duration::from_secs(60));
}

fn safe_window_reports_blocking_duty(ctx: &Ctx) {
    let pb = playbook(
        ctx,
        "quiet",
        "main",
        "min_quiet = \"60s\"\nmax_wait = \"8s\"",
    );
    let t = target(ctx, &pb);
    assert!(
        t.duty.is_some(),
        "a beacon node next to a validator client carries duties"
    );
    let before = layout(ctx, &t).current;
    let (_, out) = plan_and_run(ctx, &t, Some("1.5.1"), &options(ctx, "tester@console"));
    let o = &out[0];
    assert_eq!(o.status, Status::Refused, "{o:?}");
    assert!(
        o.detail.contains("no safe window within max_wait 8s"),
        "{}",
        o.detail
    );
    assert!(o.detail.contains("duty of validator"), "{}", o.detail);
    assert_eq!(layout(ctx, &t).current, before);
}
