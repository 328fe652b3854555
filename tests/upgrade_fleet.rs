//! Root-gated: upgrades of every node kind and a fleet rollout against a real 3-host lab
//! ("nhfleet", 10.226.0.0/24). Host 1 runs a real Lodestar beacon node and validator client
//! (1.4.2 <-> 1.5.1 from the npm registry); hosts 2 and 3 run a generic node, "app": a daemon
//! under systemd released as real tarballs (1.0.0, 1.1.0, and 1.2.0 whose self-check fails), with
//! an HTTP health endpoint served by systemd socket activation on 127.0.0.1:8080 and declared as
//! the node's probe. Feeds are GitHub-shaped JSON served from 127.0.0.1 inside the test.
//!
//! Scenarios: a failing canary stops the rollout with every other node untouched; a rollout of
//! 4 nodes of 3 kinds (canary, then batches; the validator client waits for a quiet moment, then
//! proceeds); a broken validator client release rolls back by itself; rollback of each kind;
//! `max_fail_percent` stops a batch run. Each checks the version on the host (`current`) and the
//! node's own answers.
//!
//! Run: `cargo test --test upgrade_fleet` (as root). `NODEHERD_TEST_KEEP_LAB=1` keeps the lab.

use nodeherd_core::facts::layout as host;
use nodeherd_core::inventory::Inventory;
use nodeherd_core::journal;
use nodeherd_core::playbook::Playbook;
use nodeherd_core::selector::Selector;
use nodeherd_engine::upgrade::engine::{self, Event, Options, Outcome, Status, Target};
use nodeherd_lab::LabConfig;
use nodeherd_transport::ssh::{Command, ConnectOptions, Pool, Session};
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::time::{Duration, Instant};

#[path = "support/app.rs"]
mod app;
#[path = "support/feed.rs"]
mod feed;
#[path = "support/labsuite.rs"]
mod labsuite;

use app::{UNITS as APP_UNITS, release_dir as app_release};

const BN: &str = "nhfleet-1/lodestar-bn";
const VC: &str = "nhfleet-1/lodestar-vc";
const APP2: &str = "nhfleet-2/app";
const APP3: &str = "nhfleet-3/app";
const APP_DIR: &str = "/opt/nodeherd/app";

struct Ctx {
    inv: Inventory,
    dir: PathBuf,
    base: String,
    rt: tokio::runtime::Runtime,
}

fn main() {
    let Some(mut suite) = labsuite::start("upgrade_fleet", |dir| LabConfig {
        name: "nhfleet".into(),
        hosts: 3,
        subnet: 226,
        lodestar: true,
        lodestar_hosts: 1,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let dir = suite.dir.clone();
    let rt = labsuite::runtime();
    let arts = build_artifacts(&dir);
    let base = rt.block_on(serve(&dir, &arts));
    let inv = fleet_inventory(&suite.report.inventory, &dir);
    let ctx = Ctx { inv, dir, base, rt };
    if suite.always("setup", || setup(&ctx)) {
        suite.run("a_failing_canary_stops_the_rest", || {
            a_failing_canary_stops_the_rest(&ctx);
        });
        suite.run("rollout_upgrades_every_kind", || {
            rollout_upgrades_every_kind(&ctx);
        });
        suite.run("broken_validator_release_rolls_back", || {
            broken_validator_release_rolls_back(&ctx);
        });
        suite.run("rollback_of_each_kind", || rollback_of_each_kind(&ctx));
        suite.run("max_fail_percent_stops_a_batch_run", || {
            max_fail_percent_stops_a_batch_run(&ctx);
        });
    }
    suite.finish();
}

// ------------------------------------------------------------------------------------------
// The generic node: a release is a directory with VERSION, bin/app and bin/health.

fn tarball(src: &Path, file: &Path) -> String {
    let st = Proc::new("tar")
        .arg("-C")
        .arg(src)
        .arg("-czf")
        .arg(file)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success(), "tar {}", src.display());
    feed::sha256_of(file)
}

/// `(asset name, file, sha256)`: Lodestar 1.4.2/1.5.1 (real installs), a broken Lodestar
/// 1.6.0, and the app's three releases.
fn build_artifacts(dir: &Path) -> Vec<(String, PathBuf, String)> {
    let mut out: Vec<(String, PathBuf, String)> = feed::lodestar_artifacts()
        .into_iter()
        .map(|(v, f, sha)| (feed::lodestar_asset(&v, feed::lab_cpu()), f, sha))
        .collect();
    let b = dir.join("lodestar-broken");
    let entry = b.join("node_modules/@chainsafe/lodestar/lib");
    std::fs::create_dir_all(&entry).expect("broken dir");
    std::fs::write(
        entry.join("index.js"),
        "console.error('nodeherd test: this release is broken on purpose'); process.exit(1);\n",
    )
    .expect("write");
    std::fs::write(b.join("polyfill.cjs"), "\n").expect("write");
    feed::write_launcher(&b);
    let name = feed::lodestar_asset("1.6.0", feed::lab_cpu());
    let f = dir.join(&name);
    let sha = tarball(&b, &f);
    out.push((name, f, sha));
    let rel = dir.join("app-releases");
    for (v, broken) in [
        ("1.0.0", None),
        ("1.1.0", None),
        ("1.2.0", Some("database schema 7 is unknown")),
    ] {
        let d = app_release(&rel, v, broken);
        let name = format!("nodeherd-app-v{v}-linux-{}.tar.gz", feed::lab_cpu());
        let f = dir.join(&name);
        let sha = tarball(&d, &f);
        out.push((name, f, sha));
    }
    out
}

/// Serve the feeds `lodestar`, `lodestar-broken`, `app`, `app-broken` and their assets.
async fn serve(dir: &Path, arts: &[(String, PathBuf, String)]) -> String {
    let (listener, base) = feed::bind().await;
    let rel = |tag: &str, days: i64, asset: &str| {
        let sha = arts
            .iter()
            .find(|(n, _, _)| n == asset)
            .map(|(_, _, s)| s.clone())
            .expect("artifact");
        feed::release_json(&base, tag, days, asset, &sha)
    };
    let lodestar = |v: &str, days| {
        rel(
            &format!("v{v}"),
            days,
            &feed::lodestar_asset(v, feed::lab_cpu()),
        )
    };
    let app = |v: &str, days| {
        rel(
            &format!("v{v}"),
            days,
            &format!("nodeherd-app-v{v}-linux-{}.tar.gz", feed::lab_cpu()),
        )
    };
    let feeds = [
        (
            "lodestar",
            vec![lodestar("1.5.1", 30), lodestar("1.4.2", 60)],
        ),
        (
            "lodestar-broken",
            vec![
                lodestar("1.6.0", 20),
                lodestar("1.5.1", 30),
                lodestar("1.4.2", 60),
            ],
        ),
        ("app", vec![app("1.1.0", 30), app("1.0.0", 60)]),
        (
            "app-broken",
            vec![app("1.2.0", 20), app("1.1.0", 30), app("1.0.0", 60)],
        ),
    ];
    let mut files: Vec<(String, PathBuf)> = arts
        .iter()
        .map(|(n, f, _)| (n.clone(), f.clone()))
        .collect();
    for (name, rels) in feeds {
        files.push(feed::feed_file(dir, name, &rels));
    }
    feed::spawn_file_server(listener, files);
    base
}

/// The lab's inventory plus the app on hosts 2 and 3, with its declared HTTP probe.
fn fleet_inventory(lab: &Path, dir: &Path) -> Inventory {
    let mut text = std::fs::read_to_string(lab).expect("lab inventory");
    for h in ["nhfleet-2", "nhfleet-3"] {
        text.push_str(&format!(
            "\n[hosts.{h}.nodes.app]\nclient = \"generic\"\nunit = \"nodeherd-app.service\"\ninstall_dir = \"{APP_DIR}\"\nprobe = {{ http = \"http://127.0.0.1:8080/health\", status = 200 }}\n"
        ));
    }
    let p = dir.join("fleet.toml");
    std::fs::write(&p, text).expect("write inventory");
    Inventory::load(&p).expect("fleet inventory")
}

// ------------------------------------------------------------------------------------------
// Helpers

/// The playbook: canary, serial, per-kind feeds and timeouts; `feeds` = (lodestar, app).
fn playbook(ctx: &Ctx, name: &str, feeds: (&str, &str), top: &str) -> Playbook {
    let base = &ctx.base;
    let text = format!(
        "[upgrade]\ndelay = \"7d\"\nhealth_timeout = \"120s\"\nconfirm_timeout = \"160s\"\nsettle = \"6s\"\nmin_quiet = \"0s\"\nkeep = 3\n{top}\n\
         [nodes.lodestar-bn.upgrade]\nrelease_feed = \"{base}/feed/{l}.json\"\n\
         [nodes.lodestar-vc.upgrade]\nrelease_feed = \"{base}/feed/{l}.json\"\nmin_quiet = \"3s\"\nmax_wait = \"60s\"\nhealth_timeout = \"45s\"\n\
         [nodes.app.upgrade]\nrelease_feed = \"{base}/feed/{a}.json\"\nhealth_timeout = \"20s\"\n",
        l = feeds.0,
        a = feeds.1,
    );
    let p = ctx.dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).expect("write playbook");
    Playbook::load(&p).expect("playbook")
}

fn target(ctx: &Ctx, key: &str, pb: &Playbook) -> Target {
    let r = Selector::parse(key)
        .and_then(|s| s.select_nodes(&ctx.inv))
        .expect("select")[0];
    let mut t = Target::new(&ctx.inv, r, pb);
    t.host.target.command_timeout = Duration::from_secs(60);
    t
}

fn options(
    ctx: &Ctx,
) -> (
    Options,
    tokio::sync::mpsc::UnboundedReceiver<(String, Event)>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let o = Options {
        who: "tester@fleet".into(),
        wait_lock: Duration::from_secs(120),
        artifact_cache: ctx.dir.join("artifacts"),
        feed_cache: ctx.dir.join("feeds"),
        events: Some(tx),
        ..Options::default()
    };
    (o, rx)
}

async fn session(t: &Target) -> Session {
    Pool::new(ConnectOptions::default())
        .session(&t.host.target)
        .await
        .expect("ssh")
}

fn sh(ctx: &Ctx, t: &Target, script: &str) -> String {
    ctx.rt.block_on(async {
        let s = session(t).await;
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

fn current(ctx: &Ctx, t: &Target) -> Option<String> {
    let dir = t.node.install_dir.display().to_string();
    host::parse_inspect(&sh(
        ctx,
        t,
        &format!("echo \"current=$(readlink {dir}/current)\""),
    ))
    .current
}

fn host_journal(ctx: &Ctx, t: &Target) -> Vec<journal::Entry> {
    journal::parse(&sh(
        ctx,
        t,
        "cat /var/log/nodeherd/journal.jsonl 2>/dev/null",
    ))
    .0
}

/// `GET path` on the host's loopback `port`, through the SSH session: (status, body), or
/// (0, why) when nothing answers (yet).
fn get(ctx: &Ctx, t: &Target, port: u16, path: &str) -> (u16, String) {
    ctx.rt.block_on(async {
        let s = session(t).await;
        let st = match s.forward(port).await {
            Ok(st) => st,
            Err(e) => return (0, e.to_string()),
        };
        match nodeherd_transport::http::get(st, path, &[]).await {
            Ok(r) => (r.status, r.text()),
            Err(e) => (0, e.to_string()),
        }
    })
}

/// Poll `f` until it returns true (or panic with `what` after `limit`).
fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> Option<String>) {
    let start = Instant::now();
    loop {
        match f() {
            None => return,
            Some(last) if start.elapsed() > limit => panic!("{what}: {last}"),
            Some(_) => std::thread::sleep(Duration::from_secs(2)),
        }
    }
}

fn app_answers(ctx: &Ctx, key: &str, version: &str) {
    let t = target(ctx, key, &Playbook::default());
    eventually(
        &format!("{key} answers {version}"),
        Duration::from_secs(30),
        || {
            let (status, body) = get(ctx, &t, 8080, "/health");
            let want = format!("{{\"version\":\"{version}\",\"health\":\"ok\"}}");
            (status != 200 || body != want).then(|| format!("{status} {body}"))
        },
    );
}

/// The beacon node's version, and the validator client's (`lodestar_version` on its metrics).
fn lodestar_answers(ctx: &Ctx, bn: Option<&str>, vc: Option<&str>) {
    let t = target(ctx, BN, &Playbook::default());
    if let Some(v) = bn {
        eventually(
            &format!("beacon node answers {v}"),
            Duration::from_secs(120),
            || {
                let (_, body) = get(ctx, &t, 9596, "/eth/v1/node/version");
                (!body.contains(&format!("Lodestar/v{v}/"))).then_some(body)
            },
        );
    }
    if let Some(v) = vc {
        eventually(
            &format!("validator client answers {v}"),
            Duration::from_secs(120),
            || {
                let (_, page) = get(ctx, &t, 5064, "/metrics");
                let line = page.lines().find(|l| l.starts_with("lodestar_version{"));
                (!line.is_some_and(|l| l.contains(&format!("version=\"v{v}/"))))
                    .then(|| line.unwrap_or("no lodestar_version").to_string())
            },
        );
    }
}

fn run(
    ctx: &Ctx,
    keys: &[&str],
    pb: &Playbook,
    to: Option<&str>,
) -> (Vec<Outcome>, Vec<(String, Event)>) {
    let targets: Vec<Target> = keys.iter().map(|k| target(ctx, k, pb)).collect();
    let (opts, mut rx) = options(ctx);
    let out = ctx.rt.block_on(async {
        let pool = Pool::new(ConnectOptions::default());
        let plans = engine::plan_all(&pool, &targets, to, &opts).await;
        let out = engine::run_upgrades(&pool, &targets, &plans, &opts).await;
        pool.close_all().await;
        out
    });
    drop(opts);
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (out, events)
}

fn outcome<'a>(out: &'a [Outcome], key: &str) -> &'a Outcome {
    out.iter()
        .find(|o| o.node == key)
        .unwrap_or_else(|| panic!("no outcome for {key}: {out:#?}"))
}

// ------------------------------------------------------------------------------------------
// Scenarios

/// Lodestar BN and VC on 1.4.2 (1.5.1 not on the host); the app installed at 1.0.0 on 2 and 3.
fn setup(ctx: &Ctx) {
    let pb = Playbook::default();
    let bn = target(ctx, BN, &pb);
    sh(
        ctx,
        &bn,
        r#"mkdir -p /etc/systemd/system/lodestar-vc.service.d /etc/systemd/system/lodestar-bn.service.d
printf '[Service]\nExecStartPre=/bin/sh -c "find /var/lib/lodestar-vc/validator-db -mindepth 1 ! -name api-token.txt -delete"\n' > /etc/systemd/system/lodestar-vc.service.d/nodeherd-test.conf
printf '[Service]\nExecStartPost=/bin/systemctl --no-block restart lodestar-vc.service\n' > /etc/systemd/system/lodestar-bn.service.d/nodeherd-test.conf
systemctl daemon-reload
for d in /opt/nodeherd/lodestar-bn /opt/nodeherd/lodestar-vc; do
  (cd $d && rm -rf releases/1.5.1 releases/1.6.0 .nodeherd previous && ln -sfn /opt/lodestar-dist/1.4.2 releases/1.4.2 && ln -sfn releases/1.4.2 current)
done
rm -f /var/log/nodeherd/journal.jsonl
systemctl restart lodestar-bn"#,
    );
    for key in [APP2, APP3] {
        let t = target(ctx, key, &pb);
        let d = ctx.dir.join("app-releases/app-1.0.0");
        let file = |f: &str| std::fs::read_to_string(d.join(f)).expect("read");
        let script = format!(
            "set -e\nrm -rf {APP_DIR} /var/log/nodeherd/journal.jsonl\nmkdir -p {APP_DIR}/releases/1.0.0/bin\ncd {APP_DIR}/releases/1.0.0\nprintf '%s' {} > VERSION\nprintf '%s' {} > bin/app\nprintf '%s' {} > bin/health\nchmod 0755 bin/app bin/health\ncd {APP_DIR} && ln -sfn releases/1.0.0 current\n{APP_UNITS}\nsystemctl enable nodeherd-app.service nodeherd-app-health.socket\nsystemctl restart nodeherd-app.service nodeherd-app-health.socket\necho installed",
            nodeherd_core::remote::quote(&file("VERSION")),
            nodeherd_core::remote::quote(&file("bin/app")),
            nodeherd_core::remote::quote(&file("bin/health")),
        );
        assert!(sh(ctx, &t, &script).contains("installed"));
        app_answers(ctx, key, "1.0.0");
    }
    lodestar_answers(ctx, Some("1.4.2"), Some("1.4.2"));
}

fn a_failing_canary_stops_the_rest(ctx: &Ctx) {
    let pb = playbook(
        ctx,
        "canary",
        ("lodestar", "app-broken"),
        "canary = [\"nhfleet-2/app\"]\nserial = 1\nmax_fail_percent = 50",
    );
    let keys = [BN, VC, APP2, APP3];
    let t0 = Instant::now();
    let (out, _) = run(ctx, &keys, &pb, None);
    println!(
        "figure: failing canary run {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    let canary = outcome(&out, APP2);
    assert_eq!(canary.status, Status::RolledBack, "{canary:#?}");
    assert!(
        canary.detail.contains("GET /health answered 503")
            && canary
                .detail
                .contains("self-check failed: database schema 7 is unknown"),
        "the node's own answer is quoted: {}",
        canary.detail
    );
    assert_eq!(out[0].node, APP2, "the canary ran first: {out:#?}");
    for key in [BN, VC, APP3] {
        let o = outcome(&out, key);
        assert_eq!(o.status, Status::Skipped, "{o:#?}");
    }
    // nothing else touched: versions, journals
    assert_eq!(
        current(ctx, &target(ctx, APP2, &pb)).as_deref(),
        Some("1.0.0")
    );
    assert_eq!(
        current(ctx, &target(ctx, APP3, &pb)).as_deref(),
        Some("1.0.0")
    );
    for key in [BN, VC] {
        assert_eq!(
            current(ctx, &target(ctx, key, &pb)).as_deref(),
            Some("1.4.2")
        );
    }
    assert!(host_journal(ctx, &target(ctx, APP3, &pb)).is_empty());
    assert!(host_journal(ctx, &target(ctx, BN, &pb)).is_empty());
    app_answers(ctx, APP2, "1.0.0");
    app_answers(ctx, APP3, "1.0.0");
}

fn rollout_upgrades_every_kind(ctx: &Ctx) {
    let pb = playbook(
        ctx,
        "rollout",
        ("lodestar", "app"),
        "canary = [\"nhfleet-2/app\"]\nserial = 1\nmax_fail_percent = 0",
    );
    let t0 = Instant::now();
    let (out, events) = run(ctx, &[BN, VC, APP2, APP3], &pb, None);
    println!(
        "figure: rollout of 4 nodes {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    for o in &out {
        println!(
            "figure: {} {} -> {} {:?} in {:.1}s",
            o.node,
            o.from.as_deref().unwrap_or("?"),
            o.to.as_deref().unwrap_or("?"),
            o.status,
            o.took.as_secs_f64()
        );
        assert_eq!(o.status, Status::Ok, "{o:#?}");
    }
    assert_eq!(out[0].node, APP2, "canary first: {out:#?}");
    assert!(
        events
            .iter()
            .any(|(k, e)| k == VC && *e == Event::WaitingForQuiet),
        "the validator client waited for a quiet moment: {events:?}"
    );
    for (key, v) in [
        (BN, "1.5.1"),
        (VC, "1.5.1"),
        (APP2, "1.1.0"),
        (APP3, "1.1.0"),
    ] {
        assert_eq!(
            current(ctx, &target(ctx, key, &pb)).as_deref(),
            Some(v),
            "{key}"
        );
    }
    app_answers(ctx, APP2, "1.1.0");
    app_answers(ctx, APP3, "1.1.0");
    lodestar_answers(ctx, Some("1.5.1"), Some("1.5.1"));
}

fn broken_validator_release_rolls_back(ctx: &Ctx) {
    let pb = playbook(ctx, "vc-broken", ("lodestar-broken", "app"), "serial = 1");
    let (out, _) = run(ctx, &[VC], &pb, Some("1.6.0"));
    let o = outcome(&out, VC);
    assert_eq!(o.status, Status::RolledBack, "{o:#?}");
    assert!(o.detail.contains("1.5.1 is healthy again"), "{}", o.detail);
    assert!(
        o.logs.iter().any(|l| l.contains("broken on purpose")),
        "{:?}",
        o.logs
    );
    assert_eq!(
        current(ctx, &target(ctx, VC, &pb)).as_deref(),
        Some("1.5.1")
    );
    lodestar_answers(ctx, None, Some("1.5.1"));
    let j = host_journal(ctx, &target(ctx, VC, &pb));
    assert!(
        j.iter().any(|e| e.node == VC
            && e.to == "1.6.0"
            && e.result == "rolled-back (health gate failed)"),
        "{j:?}"
    );
}

fn rollback_of_each_kind(ctx: &Ctx) {
    let pb = playbook(ctx, "rollback", ("lodestar", "app"), "");
    let (opts, _rx) = options(ctx);
    for (key, back) in [(APP2, "1.0.0"), (VC, "1.4.2")] {
        let t = target(ctx, key, &pb);
        let o = ctx.rt.block_on(async {
            let s = session(&t).await;
            engine::rollback_node(&s, &t, None, &opts).await
        });
        assert_eq!(o.status, Status::Ok, "{o:#?}");
        assert_eq!(o.to.as_deref(), Some(back), "{o:#?}");
        assert_eq!(current(ctx, &t).as_deref(), Some(back));
    }
    app_answers(ctx, APP2, "1.0.0");
    lodestar_answers(ctx, None, Some("1.4.2"));
}

fn max_fail_percent_stops_a_batch_run(ctx: &Ctx) {
    let pb = playbook(
        ctx,
        "batches",
        ("lodestar", "app-broken"),
        "canary = 0\nserial = 1\nmax_fail_percent = 0",
    );
    let before3 = current(ctx, &target(ctx, APP3, &pb));
    let (out, _) = run(ctx, &[APP2, APP3], &pb, Some("1.2.0"));
    assert_eq!(outcome(&out, APP2).status, Status::RolledBack, "{out:#?}");
    let skipped = outcome(&out, APP3);
    assert_eq!(skipped.status, Status::Skipped, "{out:#?}");
    assert!(
        skipped.detail.contains("not attempted"),
        "{}",
        skipped.detail
    );
    assert_eq!(current(ctx, &target(ctx, APP3, &pb)), before3);
    app_answers(ctx, APP2, "1.0.0");
}
