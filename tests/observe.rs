//! Metrics and alerts against a real lab ("nhobs", 10.217.0.0/24): scrape a real Lodestar through the SSH
//! tunnel, read host facts, and drive `nodeherd alerts` end to end (stop the unit -> exactly one FIRING at a
//! local HTTP receiver across repeated runs; start it -> exactly one RESOLVED). Needs root: skips otherwise.
//!
//! Run: `cargo test --test observe` (as root). `NODEHERD_TEST_KEEP_LAB=1` leaves the lab up.

use nodeherd_core::inventory::Inventory;
use nodeherd_core::metrics::Signal;
use nodeherd_engine::metrics::{self, GatherOptions, NodeProblem, Snapshot};
use nodeherd_lab::LabConfig;
use nodeherd_transport::ssh::{Command, ConnectOptions, Pool};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/labsuite.rs"]
mod labsuite;

struct Ctx {
    inventory: PathBuf,
    dir: PathBuf,
    rt: tokio::runtime::Runtime,
}

fn main() {
    let Some(mut suite) = labsuite::start("observe", |dir| LabConfig {
        name: "nhobs".into(),
        hosts: 2,
        subnet: 217,
        lodestar: true,
        lodestar_hosts: 1,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let ctx = Ctx {
        inventory: suite.report.inventory.clone(),
        dir: suite.dir.clone(),
        rt: labsuite::runtime(),
    };
    suite.run("scrape_real_lodestar_through_the_tunnel", || {
        scrape_real_lodestar_through_the_tunnel(&ctx);
    });
    suite.run("host_facts_are_sane", || host_facts_are_sane(&ctx));
    suite.run("unit_down_fires_once_and_resolves_once", || {
        unit_down_fires_once_and_resolves_once(&ctx);
    });
    suite.run("prometheus_serve_answers", || {
        prometheus_serve_answers(&ctx);
    });
    suite.finish();
}

// ---------- helpers ----------

fn load(inv: &Path) -> Inventory {
    Inventory::load(inv)
        .unwrap_or_else(|e| panic!("{}", nodeherd_core::inventory::render(&e, false)))
}

fn gather(ctx: &Ctx, pool: &Pool, selector: &str) -> Snapshot {
    let inv = load(&ctx.inventory);
    let nodes = nodeherd_core::selector::Selector::parse(selector)
        .and_then(|s| s.select_nodes(&inv))
        .expect("selector");
    ctx.rt.block_on(metrics::gather(
        pool,
        &inv,
        &nodes,
        &GatherOptions::default(),
        None,
    ))
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

fn systemctl(ctx: &Ctx, pool: &Pool, verb: &str, unit: &str) {
    let inv = load(&ctx.inventory);
    let target = inv.host("nhobs-1").expect("host").target.clone();
    let out = ctx
        .rt
        .block_on(async {
            let s = pool.session(&target).await?;
            s.exec(&Command::new("systemctl").arg(verb).arg(unit)).await
        })
        .expect("systemctl");
    assert!(out.success(), "systemctl {verb} {unit}: {out:?}");
}

fn nodeherd(ctx: &Ctx, state: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nodeherd"))
        .arg("--inventory")
        .arg(&ctx.inventory)
        .arg("--color")
        .arg("never")
        .args(args)
        .env("XDG_STATE_HOME", state)
        .output()
        .expect("run nodeherd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------- scenarios ----------

fn scrape_real_lodestar_through_the_tunnel(ctx: &Ctx) {
    let pool = Pool::new(ConnectOptions::default());
    let head = |snap: &Snapshot| {
        snap.nodes
            .iter()
            .find(|n| n.node == "lodestar-bn")
            .and_then(|n| n.get(Signal::HeadSlot))
    };
    let mut first = None;
    wait_for("lodestar head slot > 0", Duration::from_secs(120), || {
        let s = gather(ctx, &pool, "nhobs-1");
        first = head(&s).filter(|h| *h > 0.0).map(|h| (h, s));
        first.is_some()
    });
    let (h1, snap) = first.expect("first scrape");
    let bn = snap
        .nodes
        .iter()
        .find(|n| n.node == "lodestar-bn")
        .expect("bn row");
    assert!(bn.problem.is_none(), "{:?}", bn.problem);
    assert!(
        bn.page_bytes.unwrap_or(0) > 10_000,
        "page too small: {:?}",
        bn.page_bytes
    );
    let beacon = bn.beacon.as_ref().expect("beacon API answer");
    assert!(matches!(beacon.health, Some(200 | 206)), "{beacon:?}");
    let version = bn.version().expect("version");
    assert_eq!(
        metrics::semver_of(version).as_deref(),
        Some("1.5.1"),
        "{version}"
    );
    let vc = snap
        .nodes
        .iter()
        .find(|n| n.node == "lodestar-vc")
        .expect("vc row");
    assert!(
        vc.get(Signal::Validators).is_some_and(|v| v > 0.0),
        "{vc:?}"
    );
    // the minimal preset has 6 s slots: two slots later the head must have moved
    let mut h2 = h1;
    wait_for("head slot to advance", Duration::from_secs(60), || {
        h2 = head(&gather(ctx, &pool, "nhobs-1")).unwrap_or(h1);
        h2 > h1
    });
    println!(
        "  head slot {h1} -> {h2}; version {version}; one connection: {}",
        pool.connect_attempts()
    );
    assert_eq!(
        pool.connect_attempts(),
        1,
        "one pooled SSH session per host"
    );
    ctx.rt.block_on(pool.close_all());
}

fn host_facts_are_sane(ctx: &Ctx) {
    let pool = Pool::new(ConnectOptions::default());
    let inv = load(&ctx.inventory);
    let nodes = nodeherd_core::selector::Selector::parse("all")
        .and_then(|s| s.select_nodes(&inv))
        .expect("selector");
    let opts = GatherOptions {
        rate_window: Some(Duration::from_millis(500)),
        ..Default::default()
    };
    let snap = ctx
        .rt
        .block_on(metrics::gather(&pool, &inv, &nodes, &opts, None));
    assert_eq!(snap.hosts.len(), 2);
    for h in &snap.hosts {
        assert!(h.error.is_none(), "{h:?}");
        let f = h.facts.as_ref().expect("facts");
        assert!(f.mem_total_bytes.is_some_and(|m| m > 0), "{f:?}");
        let disk = h.disk_percent().expect("disk %");
        assert!((0.0..=100.0).contains(&disk), "{disk}");
        let cpu = h.cpu_percent.expect("cpu % from two reads");
        assert!((0.0..=100.0).contains(&cpu), "{cpu}");
        assert!(f.load1.is_some() && f.cpus.is_some_and(|c| c > 0), "{f:?}");
        assert!(
            h.clock_offset_ms.is_some_and(|o| o.abs() < 5_000.0),
            "{:?}",
            h.clock_offset_ms
        );
    }
    ctx.rt.block_on(pool.close_all());
}

/// A local HTTP receiver: answers 200 and keeps every body.
fn receiver(ctx: &Ctx) -> (u16, Arc<Mutex<Vec<serde_json::Value>>>) {
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let listener = ctx
        .rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let g = got.clone();
    ctx.rt.spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let g = g.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(n) = s.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(p) = text.find("\r\n\r\n") else { continue };
                    let len: usize = text[..p]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())
                                .flatten()
                        })
                        .unwrap_or(0);
                    if buf.len() >= p + 4 + len {
                        let body = &buf[p + 4..p + 4 + len];
                        if let Ok(v) = serde_json::from_slice(body) {
                            g.lock().expect("lock").push(v);
                        }
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .await;
                        return;
                    }
                }
            });
        }
    });
    (port, got)
}

fn unit_down_fires_once_and_resolves_once(ctx: &Ctx) {
    let (port, got) = receiver(ctx);
    let state = ctx.dir.join("state");
    let file = ctx.dir.join("alerts.toml");
    std::fs::write(
        &file,
        format!(
            "[[rule]]\nname = \"unit-not-active\"\ncondition = \"unit_not_active\"\nfor = \"4s\"\nseverity = \"page\"\nhint = \"{{node}} on {{host}} is down\"\n\n[[channel]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\n"
        ),
    )
    .expect("alerts file");
    let file_s = file.display().to_string();
    let run = || {
        let (code, out, err) = nodeherd(
            ctx,
            &state,
            &["alerts", "nhobs-1/lodestar-bn", "--file", &file_s],
        );
        println!("  alerts exit {code}: {}", out.trim().replace('\n', " | "));
        assert!(err.trim().is_empty() || code != 2, "{err}");
        (code, out)
    };
    let count = || got.lock().expect("lock").len();
    let pool = Pool::new(ConnectOptions::default());
    // healthy: nothing
    let (code, _) = run();
    assert_eq!((code, count()), (0, 0));
    systemctl(ctx, &pool, "stop", "lodestar-bn.service");
    // while stopped, the metrics port is closed: a typed problem, not a failed run
    let snap = gather(ctx, &pool, "nhobs-1/lodestar-bn");
    assert!(
        matches!(snap.nodes[0].problem, Some(NodeProblem::PortClosed(_))),
        "{:?}",
        snap.nodes[0].problem
    );
    let stopped = Instant::now();
    let (_, out) = run();
    assert!(out.contains("pending"), "{out}");
    assert_eq!(count(), 0, "fired before its `for`");
    std::thread::sleep(Duration::from_secs(5).saturating_sub(stopped.elapsed()));
    let (code, out) = run();
    assert_eq!(code, 1, "a firing alert makes the run exit 1: {out}");
    assert!(out.contains("FIRING"), "{out}");
    for _ in 0..3 {
        run();
    }
    std::thread::sleep(Duration::from_millis(300));
    {
        let g = got.lock().expect("lock");
        assert_eq!(g.len(), 1, "exactly one notification: {g:?}");
        assert_eq!(g[0]["status"], "firing");
        assert_eq!(g[0]["rule"], "unit-not-active");
        assert_eq!(g[0]["node"], "lodestar-bn");
        assert_eq!(g[0]["text"], "lodestar-bn on nhobs-1 is down");
    }
    systemctl(ctx, &pool, "start", "lodestar-bn.service");
    let (code, out) = run();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("resolved"), "{out}");
    for _ in 0..2 {
        run();
    }
    std::thread::sleep(Duration::from_millis(300));
    let g = got.lock().expect("lock");
    assert_eq!(g.len(), 2, "exactly one RESOLVED: {g:?}");
    assert_eq!(g[1]["status"], "resolved");
    ctx.rt.block_on(pool.close_all());
}

fn prometheus_serve_answers(ctx: &Ctx) {
    let state = ctx.dir.join("state");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nodeherd"))
        .arg("--inventory")
        .arg(&ctx.inventory)
        .args([
            "metrics",
            "nhobs-1",
            "--serve",
            &format!("127.0.0.1:{port}"),
            "--min-interval",
            "1s",
        ])
        .env("XDG_STATE_HOME", &state)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn serve");
    let get = || -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let mut page = String::new();
    wait_for("served page", Duration::from_secs(60), || {
        page = get().unwrap_or_default();
        page.contains("nodeherd_head_slot{host=\"nhobs-1\",node=\"lodestar-bn\"")
    });
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("nodeherd_host_memory_total_bytes{host=\"nhobs-1\"}"),
        "{page}"
    );
    // SIGINT (Ctrl-C) stops it cleanly
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t = Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            assert!(st.success(), "{st:?}");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "serve did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
