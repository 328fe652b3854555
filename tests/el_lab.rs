//! A real execution client in the lab (lab "nhel", 10.223.0.0/24, 1 host): EthereumJS 0.10.4 in
//! the nodeherd layout (`/opt/nodeherd/ethereumjs-el`), a single-node dev chain that mines a
//! block every ~10 s and keeps its data across restarts. The suite checks that `status` and
//! `metrics` (the real binary) show its version and its head block advancing; then upgrades it
//! 0.10.4 -> 0.10.5 from a GitHub-shaped feed served here (tarballs of the lab's real installs)
//! and rolls it back through the upgrade engine, checking the host's `current` link, the node's
//! own `web3_clientVersion` and its chain going on across the switches; and that a broken
//! release (0.10.6, whose launcher exits 1) is rolled back by itself with the chain still going.
//! Needs root: without it, says so and skips.
//!
//! Run: `cargo test --test el_lab` (as root); a name filter runs only matching scenarios (the
//! setup always runs). `NODEHERD_TEST_KEEP_LAB=1` leaves the lab up.

use nodeherd_core::facts::layout as host;
use nodeherd_core::health::answers;
use nodeherd_core::inventory::Inventory;
use nodeherd_core::playbook::Playbook;
use nodeherd_core::selector::Selector;
use nodeherd_engine::upgrade::engine::{self, Options, Status, Target};
use nodeherd_lab::{LabConfig, ethereumjs, naming};
use nodeherd_transport::ssh::{Command, ConnectOptions, Pool, Session};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::time::{Duration, Instant};

#[path = "support/feed.rs"]
mod feed;
#[path = "support/labsuite.rs"]
mod labsuite;

const NODE: &str = "nhel-1/ethereumjs-el";
const DIR: &str = ethereumjs::INSTALL_DIR;

type Scenario = (&'static str, fn(&Ctx));

struct Ctx {
    inv: Inventory,
    inv_path: PathBuf,
    dir: PathBuf,
    feed_base: String,
    rt: tokio::runtime::Runtime,
}

fn main() {
    let Some(mut suite) = labsuite::start("el_lab", |dir| LabConfig {
        name: "nhel".into(),
        hosts: 1,
        subnet: 223,
        lodestar: false,
        lodestar_hosts: 0,
        ethereumjs_hosts: 1,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    // SAFETY: single-threaded at this point; the local journal goes to the suite's dir.
    unsafe { std::env::set_var("NODEHERD_STATE_DIR", suite.dir.join("state")) };
    // The setup always runs (whatever the filter); a failure there fails every selected
    // scenario, and the lab is torn down by `finish` in every case.
    let t = Instant::now();
    let ctx = catch_unwind(AssertUnwindSafe(|| {
        let rt = labsuite::runtime();
        let arts = build_artifacts(&suite.cfg.state_dir, &suite.dir);
        let feed_base = rt.block_on(serve(suite.dir.clone(), arts));
        let inv_path = suite.report.inventory.clone();
        let ctx = Ctx {
            inv: Inventory::load(&inv_path).expect("lab inventory"),
            inv_path,
            dir: suite.dir.clone(),
            feed_base,
            rt,
        };
        setup(&ctx);
        ctx
    }))
    .ok();
    println!(
        "setup (artifacts, feed, node mining on 0.10.4): {} in {:.1}s",
        if ctx.is_some() { "ok" } else { "FAILED" },
        t.elapsed().as_secs_f64()
    );
    let scenarios: [Scenario; 3] = [
        (
            "status_and_metrics_show_the_real_chain",
            status_and_metrics_show_the_real_chain,
        ),
        (
            "upgrade_to_0_10_5_and_roll_back",
            upgrade_to_0_10_5_and_roll_back,
        ),
        (
            "broken_release_rolls_back_by_itself",
            broken_release_rolls_back_by_itself,
        ),
    ];
    for (name, f) in scenarios {
        suite.run(name, || match &ctx {
            Some(c) => f(c),
            None => panic!("the setup failed"),
        });
    }
    suite.finish();
}

// ------------------------------------------------------------------------------------------
// Artifacts and the feed

struct Art {
    version: String,
    file: PathBuf,
    sha: String,
}

/// Tarballs of the lab's real 0.10.4 and 0.10.5 installs (cached beside the lab's caches) and
/// of a broken 0.10.6 whose launcher exits 1.
fn build_artifacts(state_dir: &Path, tmp: &Path) -> Vec<Art> {
    std::fs::create_dir_all(feed::ART_DIR).expect("artifact dir");
    let mut out = Vec::new();
    for v in ethereumjs::VERSIONS {
        let file = PathBuf::from(format!("{}/ethereumjs-{v}.tar.gz", feed::ART_DIR));
        if !file.exists() {
            let part = format!("{}.tmp.{}", file.display(), std::process::id());
            let st = Proc::new("sh")
                .arg("-c")
                .arg(r#"tar -C "$1" -cf - . | gzip -1 > "$2" && mv "$2" "$3""#)
                .arg("sh")
                .arg(naming::ethereumjs_dist(state_dir, v))
                .arg(&part)
                .arg(&file)
                .status()
                .expect("tar");
            assert!(st.success(), "building the {v} artifact failed");
        }
        let sha = feed::sha256_of(&file);
        out.push(Art {
            version: v.into(),
            file,
            sha,
        });
    }
    let b = tmp.join("broken");
    std::fs::create_dir_all(b.join("bin")).expect("broken dir");
    let launcher = b.join(ethereumjs::LAUNCHER);
    std::fs::write(
        &launcher,
        "#!/bin/sh\necho 'nodeherd test: this release is broken on purpose' >&2\nexit 1\n",
    )
    .expect("write");
    let st = Proc::new("chmod").arg("755").arg(&launcher).status();
    assert!(st.is_ok_and(|s| s.success()));
    let file = tmp.join("ethereumjs-0.10.6.tar.gz");
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
    out.push(Art {
        version: "0.10.6".into(),
        file,
        sha,
    });
    out
}

/// Serve `/feed/main.json` (0.10.6, 0.10.5, 0.10.4, all old enough) and the tarballs.
async fn serve(dir: PathBuf, arts: Vec<Art>) -> String {
    let (listener, base) = feed::bind().await;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let mut releases = Vec::new();
    for (i, a) in arts.iter().rev().enumerate() {
        let name = format!("ethereumjs-{}.tar.gz", a.version);
        let days = 20 + 20 * i64::try_from(i).expect("few");
        releases.push(feed::release_json(
            &base,
            &format!("v{}", a.version),
            days,
            &name,
            &a.sha,
        ));
        files.push((name, a.file.clone()));
    }
    files.push(feed::feed_file(&dir, "main", &releases));
    feed::spawn_file_server(listener, files);
    base
}

// ------------------------------------------------------------------------------------------
// Helpers

/// The upgrade policy: the feed served here, no duty wait, `health_timeout` seconds for the gate.
fn playbook(ctx: &Ctx, name: &str, health_timeout: u64) -> Playbook {
    let text = format!(
        "[upgrade]\nrelease_feed = \"{}/feed/main.json\"\ndelay = \"7d\"\ncanary = 1\nserial = 1\nhealth_timeout = \"{health_timeout}s\"\nconfirm_timeout = \"{}s\"\nmin_quiet = \"0s\"\nkeep = 3\n",
        ctx.feed_base,
        health_timeout + 40
    );
    let p = ctx.dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).expect("write playbook");
    Playbook::load(&p).expect("playbook")
}

fn target(ctx: &Ctx, pb: &Playbook) -> Target {
    let r = Selector::parse(NODE)
        .and_then(|s| s.select_nodes(&ctx.inv))
        .expect("select")[0];
    let mut t = Target::new(&ctx.inv, r, pb);
    t.host.target.command_timeout = Duration::from_secs(60);
    t.host.target.connect_timeout = Duration::from_secs(8);
    t
}

fn options(ctx: &Ctx) -> Options {
    Options {
        who: "tester@console".into(),
        wait_lock: Duration::from_secs(60),
        artifact_cache: ctx.dir.join("artifacts"),
        feed_cache: ctx.dir.join("feeds"),
        ..Options::default()
    }
}

async fn session(t: &Target) -> Session {
    Pool::new(ConnectOptions::default())
        .session(&t.host.target)
        .await
        .expect("ssh to the lab host")
}

/// A shell script on the host; its stdout.
fn sh(ctx: &Ctx, t: &Target, script: &str) -> String {
    ctx.rt.block_on(async {
        let o = session(t)
            .await
            .exec_with_timeout(
                &Command::new("sh").arg("-c").arg(script),
                Duration::from_secs(90),
            )
            .await
            .expect("exec");
        o.stdout_str().into_owned()
    })
}

/// The version the host's `current` link names.
fn current(ctx: &Ctx, t: &Target) -> Option<String> {
    let out = sh(ctx, t, &format!("readlink {DIR}/current"));
    out.trim().strip_prefix("releases/").map(str::to_string)
}

/// One JSON-RPC call to the node on the host's 127.0.0.1:8545; the answer body (`None`: no answer).
fn rpc(ctx: &Ctx, t: &Target, method: &str) -> Option<String> {
    ctx.rt.block_on(async {
        let s = session(t).await;
        let stream = s.forward(ethereumjs::RPC_PORT).await.ok()?;
        let body = answers::rpc_request(method);
        let sent = nodeherd_transport::http::request(
            stream,
            "POST",
            "/",
            &[("Content-Type", "application/json")],
            Some(body.as_bytes()),
        );
        let r = tokio::time::timeout(Duration::from_secs(5), sent)
            .await
            .ok()?
            .ok()?;
        (r.status == 200).then(|| r.text())
    })
}

fn block_number(ctx: &Ctx, t: &Target) -> Option<u64> {
    answers::rpc_quantity(&rpc(ctx, t, "eth_blockNumber")?)
}

/// Wait until the node says it is `version` and its head passed `above`; the head then.
fn wait_mining_on(ctx: &Ctx, t: &Target, version: &str, above: u64, limit: Duration) -> u64 {
    let start = Instant::now();
    let mut seen = (None, None);
    while start.elapsed() < limit {
        let v = rpc(ctx, t, "web3_clientVersion").and_then(|b| answers::rpc_string(&b));
        let head = block_number(ctx, t);
        if let (Some(v), Some(h)) = (&v, head) {
            if answers::version_matches(v, version) && h > above {
                return h;
            }
        }
        seen = (v, head);
        std::thread::sleep(Duration::from_secs(2));
    }
    panic!("not mining on {version} above block {above} within {limit:?}; last seen {seen:?}");
}

/// The real binary's JSON output for `args` against the lab inventory.
fn nodeherd_json(ctx: &Ctx, args: &[&str]) -> serde_json::Value {
    let out = Proc::new(env!("CARGO_BIN_EXE_nodeherd"))
        .arg("-i")
        .arg(&ctx.inv_path)
        .arg("--json")
        .args(args)
        .env("NODEHERD_STATE_DIR", ctx.dir.join("state"))
        .output()
        .expect("run nodeherd");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "nodeherd {args:?}: {e}; stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn el_row<'a>(rows: &'a serde_json::Value, what: &str) -> &'a serde_json::Value {
    rows.as_array()
        .and_then(|a| a.iter().find(|r| r["node"] == ethereumjs::NODE))
        .unwrap_or_else(|| panic!("{what} has no {} row: {rows}", ethereumjs::NODE))
}

// ------------------------------------------------------------------------------------------
// Scenarios

/// The node on 0.10.4 from the lab's read-only install, 0.10.5 not on the host (so the upgrade
/// uploads and stages its tarball), mining.
fn setup(ctx: &Ctx) {
    let t = target(ctx, &playbook(ctx, "base", 90));
    sh(
        ctx,
        &t,
        &format!(
            "cd {DIR} && rm -rf releases/0.10.5 releases/0.10.6 .nodeherd previous && ln -sfn releases/0.10.4 current && rm -f /var/log/nodeherd/journal.jsonl"
        ),
    );
    assert_eq!(current(ctx, &t).as_deref(), Some("0.10.4"));
    wait_mining_on(ctx, &t, "0.10.4", 0, Duration::from_secs(60));
}

fn status_and_metrics_show_the_real_chain(ctx: &Ctx) {
    let status = nodeherd_json(ctx, &["status"]);
    let row = el_row(&status, "status");
    assert_eq!(row["client"], "ethereumjs");
    assert_eq!(row["version"], "0.10.4", "{row}");
    assert_eq!(row["unit_state"]["active_state"], "active", "{row}");

    let head = |m: &serde_json::Value| -> u64 {
        let r = el_row(m, "metrics");
        assert!(r["problem"].is_null(), "{r}");
        assert_eq!(
            r["sample"]["version"], "EthereumJS/0.10.4/linux/node20.20.2",
            "{r}"
        );
        assert_eq!(r["sample"]["values"]["peers"], 0.0, "{r}");
        let h = r["sample"]["values"]["head_block"].as_f64();
        assert_eq!(r["sample"]["values"]["highest_block"].as_f64(), h, "{r}");
        h.unwrap_or_else(|| panic!("no head block: {r}")) as u64
    };
    let first = head(&nodeherd_json(ctx, &["metrics"])["nodes"]);
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(4));
        let now = head(&nodeherd_json(ctx, &["metrics"])["nodes"]);
        if now > first {
            println!(
                "metrics: head block {first} -> {now} in {:.0?}",
                start.elapsed()
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "head block stuck at {first}"
        );
    }
}

fn upgrade_to_0_10_5_and_roll_back(ctx: &Ctx) {
    let t = target(ctx, &playbook(ctx, "main", 90));
    let opts = options(ctx);
    let before = block_number(ctx, &t).expect("block number");
    let started = Instant::now();
    let o = ctx.rt.block_on(async {
        let pool = Pool::new(ConnectOptions::default());
        let o = engine::upgrade_to(&pool, &t, "0.10.5", &opts).await;
        pool.close_all().await;
        o
    });
    assert_eq!(o.status, Status::Ok, "{o:?}");
    println!(
        "upgrade 0.10.4 -> 0.10.5: {:.1?}: {}",
        started.elapsed(),
        o.detail
    );
    let l = host::parse_inspect(&sh(
        ctx,
        &t,
        &format!(
            r#"echo "current=$(readlink {DIR}/current)"; echo "previous=$(readlink {DIR}/previous)"; test -d {DIR}/releases/0.10.5 && ! test -L {DIR}/releases/0.10.5 && echo release=0.10.5"#
        ),
    ));
    assert_eq!(l.current.as_deref(), Some("0.10.5"));
    assert_eq!(l.previous.as_deref(), Some("0.10.4"));
    assert!(l.has("0.10.5"), "0.10.5 was not staged from its tarball");
    let on_new = wait_mining_on(ctx, &t, "0.10.5", before, Duration::from_secs(60));

    let started = Instant::now();
    let o = ctx.rt.block_on(async {
        let pool = Pool::new(ConnectOptions::default());
        let o = engine::rollback_one(&pool, &t, None, &opts).await;
        pool.close_all().await;
        o
    });
    assert_eq!(o.status, Status::Ok, "{o:?}");
    println!("rollback 0.10.5 -> 0.10.4: {:.1?}", started.elapsed());
    assert_eq!(current(ctx, &t).as_deref(), Some("0.10.4"));
    let back = wait_mining_on(ctx, &t, "0.10.4", on_new, Duration::from_secs(60));
    println!("chain across the switches: block {before} -> {on_new} (0.10.5) -> {back} (0.10.4)");
}

fn broken_release_rolls_back_by_itself(ctx: &Ctx) {
    // The gate gives the broken release 25 s; a good one needs ~15 (start, then a new block).
    let t = target(ctx, &playbook(ctx, "broken", 25));
    let from = current(ctx, &t).expect("current");
    let before = block_number(ctx, &t).expect("block number");
    let started = Instant::now();
    let o = ctx.rt.block_on(async {
        let pool = Pool::new(ConnectOptions::default());
        let o = engine::upgrade_to(&pool, &t, "0.10.6", &options(ctx)).await;
        pool.close_all().await;
        o
    });
    println!(
        "broken 0.10.6 rolled back in {:.1?}: {}",
        started.elapsed(),
        o.detail
    );
    assert_eq!(o.status, Status::RolledBack, "{o:?}");
    assert!(
        o.logs.iter().any(|l| l.contains("broken on purpose")),
        "{:?}",
        o.logs
    );
    assert_eq!(current(ctx, &t).as_deref(), Some(from.as_str()));
    let after = wait_mining_on(ctx, &t, &from, before, Duration::from_secs(60));
    println!("chain after the rollback: block {before} -> {after} on {from}");
}
