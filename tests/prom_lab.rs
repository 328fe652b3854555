//! nodeherd with a real Prometheus and a real Alertmanager (Debian's `prometheus` and
//! `prometheus-alertmanager`), against a real lab ("nhprom", 10.228.0.0/24, two hosts running the demo
//! unit, no Lodestar). Both servers run on free loopback ports with their own temp dirs and are killed
//! on drop (even when a scenario panics):
//! - Prometheus scrapes `nodeherd metrics --serve` (the real binary) and its query API returns
//!   nodeherd's series for both lab hosts; it also loads the shipped rules file;
//! - a demo unit stopped on a lab host becomes a firing alert in Alertmanager's `GET /api/v2/alerts`
//!   after `nodeherd alerts` with an `alertmanager` channel, and is resolved there after the unit is
//!   started and `nodeherd alerts` runs again;
//! - the `webhook` channel with `format = "alertmanager"` delivers the same field sets as the
//!   Alertmanager's own webhook (the Alertmanager's receiver posts to the same local receiver).
//!
//! Needs root (the lab): without it, says so and skips. Run: `cargo test --test prom_lab`.

use nodeherd_core::inventory::Inventory;
use nodeherd_lab::LabConfig;
use nodeherd_transport::ssh::{Command, ConnectOptions, Pool};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/labsuite.rs"]
mod labsuite;

/// What the local receiver got: (path, JSON body) of every POST.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

const UNIT: &str = "nodeherd-demo.service";

struct Ctx {
    inventory: PathBuf,
    dir: PathBuf,
    rt: tokio::runtime::Runtime,
    am_port: u16,
    recv_port: u16,
    got: Received,
}

/// A child process killed (and reaped) on drop.
struct Killed(Child, &'static str);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        println!("  stopped {}", self.1);
    }
}

fn main() {
    let Some(mut suite) = labsuite::start("prom_lab", |dir| LabConfig {
        name: "nhprom".into(),
        hosts: 2,
        subnet: 228,
        lodestar: false,
        lodestar_hosts: 0,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let rt = labsuite::runtime();
    let (recv_port, got) = receiver(&rt);
    let am_port = free_port();
    let mut am = None;
    let dir = suite.dir.clone();
    suite.always("alertmanager_starts", || {
        am = Some(start_alertmanager(&dir, am_port, recv_port));
    });
    let ctx = Ctx {
        inventory: suite.report.inventory.clone(),
        dir: suite.dir.clone(),
        rt,
        am_port,
        recv_port,
        got,
    };
    suite.run("prometheus_scrapes_nodeherd_serve", || {
        prometheus_scrapes_nodeherd_serve(&ctx);
    });
    suite.run(
        "stopped_unit_fires_in_alertmanager_and_resolves_after_start",
        || stopped_unit_fires_and_resolves(&ctx),
    );
    drop(am);
    suite.finish();
}

// ---------- helpers ----------

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
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

/// `GET path` over HTTP/1.0 (no chunking); the body when the status is 200.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then_some(())?;
    head.split(' ').nth(1).filter(|c| *c == "200")?;
    Some(body.to_string())
}

fn get_json(port: u16, path: &str) -> Option<Value> {
    serde_json::from_str(&get(port, path)?).ok()
}

/// A local HTTP receiver keeping (path, JSON body) of every POST.
fn receiver(rt: &tokio::runtime::Runtime) -> (u16, Received) {
    let got: Received = Arc::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let g = got.clone();
    rt.spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
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
                        let path = text.split(' ').nth(1).unwrap_or("").to_string();
                        if let Ok(v) = serde_json::from_slice(&buf[p + 4..p + 4 + len]) {
                            g.lock().expect("lock").push((path, v));
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

fn start_alertmanager(dir: &Path, port: u16, recv_port: u16) -> Killed {
    let d = dir.join("alertmanager");
    std::fs::create_dir_all(d.join("data")).expect("am dir");
    let cfg = d.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        format!(
            "route:\n  receiver: test\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: test\n    webhook_configs:\n      - url: http://127.0.0.1:{recv_port}/from-alertmanager\n        send_resolved: true\n"
        ),
    )
    .expect("am config");
    let child = std::process::Command::new("/usr/bin/prometheus-alertmanager")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", d.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("log")).expect("log"))
        .spawn()
        .expect("start /usr/bin/prometheus-alertmanager (apt-get install prometheus-alertmanager)");
    let am = Killed(child, "alertmanager");
    wait_for("alertmanager ready", Duration::from_secs(30), || {
        get(port, "/-/ready").is_some()
    });
    am
}

fn start_prometheus(dir: &Path, port: u16, target: u16) -> Killed {
    let d = dir.join("prometheus");
    std::fs::create_dir_all(d.join("data")).expect("prom dir");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/prometheus/nodeherd-rules.yml");
    let cfg = d.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n  evaluation_interval: 2s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: nodeherd\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n",
            rules.display()
        ),
    )
    .expect("prom config");
    let child = std::process::Command::new("/usr/bin/prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", d.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("log")).expect("log"))
        .spawn()
        .expect("start /usr/bin/prometheus (apt-get install prometheus)");
    let p = Killed(child, "prometheus");
    wait_for("prometheus ready", Duration::from_secs(60), || {
        get(port, "/-/ready").is_some()
    });
    p
}

fn nodeherd(ctx: &Ctx, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nodeherd"))
        .arg("--inventory")
        .arg(&ctx.inventory)
        .arg("--color")
        .arg("never")
        .args(args)
        .env("XDG_STATE_HOME", ctx.dir.join("state"))
        .output()
        .expect("run nodeherd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn systemctl(ctx: &Ctx, host: &str, verb: &str) {
    let inv = Inventory::load(&ctx.inventory).expect("inventory");
    let target = inv.host(host).expect("host").target.clone();
    let pool = Pool::new(ConnectOptions::default());
    let out = ctx
        .rt
        .block_on(async {
            let s = pool.session(&target).await?;
            let o = s.exec(&Command::new("systemctl").arg(verb).arg(UNIT)).await;
            pool.close_all().await;
            o
        })
        .expect("systemctl");
    assert!(out.success(), "systemctl {verb} {UNIT}: {out:?}");
}

/// Prometheus's query API: the `host` label values of the series `query` returns.
fn hosts_in(prom: u16, query: &str) -> BTreeSet<String> {
    get_json(prom, &format!("/api/v1/query?query={query}"))
        .and_then(|v| v["data"]["result"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r["metric"]["host"].as_str().map(str::to_string))
        .collect()
}

// ---------- scenarios ----------

fn prometheus_scrapes_nodeherd_serve(ctx: &Ctx) {
    let serve_port = free_port();
    let serve = std::process::Command::new(env!("CARGO_BIN_EXE_nodeherd"))
        .arg("--inventory")
        .arg(&ctx.inventory)
        .args(["metrics", "--serve", &format!("127.0.0.1:{serve_port}")])
        .args(["--min-interval", "1s"])
        .env("XDG_STATE_HOME", ctx.dir.join("state"))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nodeherd metrics --serve");
    let _serve = Killed(serve, "nodeherd metrics --serve");
    let prom_port = free_port();
    let _prom = start_prometheus(&ctx.dir, prom_port, serve_port);
    let want: BTreeSet<String> = ["nhprom-1", "nhprom-2"].map(String::from).into();
    let t = Instant::now();
    wait_for(
        "nodeherd series in Prometheus",
        Duration::from_secs(90),
        || {
            hosts_in(prom_port, "nodeherd_node_up") == want
                && hosts_in(prom_port, "nodeherd_host_memory_total_bytes") == want
        },
    );
    println!("  series queryable after {:.1}s", t.elapsed().as_secs_f64());
    let up = get_json(
        prom_port,
        "/api/v1/query?query=up%7Bjob%3D%22nodeherd%22%7D",
    )
    .expect("up");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    let nodes: BTreeSet<String> = get_json(prom_port, "/api/v1/query?query=nodeherd_node_up")
        .and_then(|v| v["data"]["result"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r["metric"]["node"].as_str().map(str::to_string))
        .collect();
    assert_eq!(nodes, ["demo".to_string()].into());
    // the shipped rules loaded without error
    let rules = get_json(prom_port, "/api/v1/rules").expect("rules");
    let groups = rules["data"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!groups.is_empty(), "{rules}");
    for g in &groups {
        for r in g["rules"].as_array().into_iter().flatten() {
            assert_ne!(r["health"], "err", "{r}");
        }
    }
}

/// Alerts in Alertmanager named `rule` for `instance`.
fn am_alerts(port: u16, rule: &str, instance: &str) -> Vec<Value> {
    get_json(port, "/api/v2/alerts")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == rule && a["labels"]["instance"] == instance)
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn stopped_unit_fires_and_resolves(ctx: &Ctx) {
    const RULE: &str = "demo-down";
    let file = ctx.dir.join("alerts.toml");
    std::fs::write(
        &file,
        format!(
            "[[rule]]\nname = \"{RULE}\"\ncondition = \"unit_not_active\"\nfor = \"0s\"\nseverity = \"page\"\nhint = \"{{node}} on {{host}} is down\"\n\n\
             [[channel]]\ntype = \"alertmanager\"\nurl = \"http://127.0.0.1:{}\"\n\n\
             [[channel]]\ntype = \"webhook\"\nformat = \"alertmanager\"\nname = \"nodeherd-hook\"\nurl = \"http://127.0.0.1:{}/from-nodeherd\"\n",
            ctx.am_port,
            ctx.recv_port,
        ),
    )
    .expect("alerts file");
    let file_s = file.display().to_string();
    let run = || {
        let (code, out, err) = nodeherd(ctx, &["alerts", "--file", &file_s]);
        println!("  alerts exit {code}: {}", out.trim().replace('\n', " | "));
        assert_ne!(code, 2, "{err}");
        (code, out)
    };
    let (code, out) = run();
    assert_eq!(code, 0, "healthy lab: {out}");
    systemctl(ctx, "nhprom-2", "stop");
    let (code, out) = run();
    assert_eq!(code, 1, "{out}");
    let firing = am_alerts(ctx.am_port, RULE, "nhprom-2/demo");
    assert_eq!(firing.len(), 1, "{firing:?}");
    let a = &firing[0];
    assert_eq!(a["status"]["state"], "active", "{a}");
    assert_eq!(a["labels"]["host"], "nhprom-2");
    assert_eq!(a["labels"]["node"], "demo");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["annotations"]["description"], "demo on nhprom-2 is down");
    assert!(am_alerts(ctx.am_port, RULE, "nhprom-1/demo").is_empty());
    // a second round re-posts it (Alertmanager would otherwise expire it): still exactly one, still active
    let first_update = a["updatedAt"].clone();
    std::thread::sleep(Duration::from_millis(1100));
    run();
    let again = am_alerts(ctx.am_port, RULE, "nhprom-2/demo");
    assert_eq!(again.len(), 1, "{again:?}");
    assert_ne!(again[0]["updatedAt"], first_update, "re-posted");
    // Alertmanager's own webhook and nodeherd's `format = "alertmanager"` webhook: same field sets
    let hook = |path: &str| {
        ctx.got
            .lock()
            .expect("lock")
            .iter()
            .rev()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
    };
    wait_for("Alertmanager's webhook", Duration::from_secs(30), || {
        hook("/from-alertmanager").is_some()
    });
    let theirs = hook("/from-alertmanager").expect("theirs");
    let ours = hook("/from-nodeherd").expect("ours: webhook channel with format = alertmanager");
    assert_eq!(
        keys(&ours),
        keys(&theirs),
        "payload fields\nours {ours}\ntheirs {theirs}"
    );
    assert_eq!(
        keys(&ours["alerts"][0]),
        keys(&theirs["alerts"][0]),
        "alert fields\nours {ours}\ntheirs {theirs}"
    );
    assert_eq!(ours["version"], theirs["version"]);
    assert_eq!(ours["status"], "firing");
    assert_eq!(theirs["status"], "firing");
    assert_eq!(ours["commonLabels"], theirs["commonLabels"]);
    let at = |v: &Value| -> chrono::DateTime<chrono::Utc> {
        v.as_str().and_then(|s| s.parse().ok()).expect("a time")
    };
    assert_eq!(
        at(&ours["alerts"][0]["startsAt"]),
        at(&theirs["alerts"][0]["startsAt"])
    );
    // started again: the next round resolves it in Alertmanager
    systemctl(ctx, "nhprom-2", "start");
    let (code, out) = run();
    assert_eq!(code, 0, "{out}");
    let now = chrono::Utc::now();
    let left = am_alerts(ctx.am_port, RULE, "nhprom-2/demo");
    for a in &left {
        let ends: chrono::DateTime<chrono::Utc> = a["endsAt"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("endsAt");
        assert!(ends <= now, "still active: {a}");
    }
    println!(
        "  after resolve: {} alert(s) listed, none active",
        left.len()
    );
    wait_for(
        "Alertmanager's resolved webhook",
        Duration::from_secs(30),
        || hook("/from-alertmanager").is_some_and(|v| v["status"] == "resolved"),
    );
    let ours = hook("/from-nodeherd").expect("ours");
    assert_eq!(ours["status"], "resolved");
    let theirs = hook("/from-alertmanager").expect("theirs");
    assert_eq!(keys(&ours["alerts"][0]), keys(&theirs["alerts"][0]));
    assert!(at(&ours["alerts"][0]["endsAt"]) >= at(&ours["alerts"][0]["startsAt"]));
    assert!(at(&theirs["alerts"][0]["endsAt"]) >= at(&theirs["alerts"][0]["startsAt"]));
}
