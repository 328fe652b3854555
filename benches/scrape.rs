//! Scrape cost through the SSH tunnel, against a real lab ("nhobs", 10.217.0.0/24, 50 hosts; root):
//! 1. the real Lodestar metrics page: GET through a direct-tcpip forward vs `curl` run on the host over the
//!    same SSH session (exec), interleaved in one run;
//! 2. a warm scrape of 50 hosts through open connections: each host serves a captured real Lodestar page
//!    from a systemd socket-activated unit (`Accept=yes`, installed over SSH here), read with
//!    `ops::metrics::gather` (pages only, then pages + host facts).
//!
//! Run: `cargo bench --bench scrape` (as root). Prints medians (wall and process CPU).

use std::time::{Duration, Instant};

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::metrics::{clients::for_client, page::extract};
use nodeherd_engine::metrics::{self, GatherOptions};
use nodeherd_lab::{self as lab, LabConfig};
use nodeherd_transport::ssh::{Command, ConnectOptions, Pool, Session};

const PAGE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/metrics/lodestar-1.5.1-bn-metrics.prom"
));
const HOSTS: usize = 50;
const PAGE_PORT: u16 = 9109;

fn cpu_secs() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if unsafe { libc::geteuid() } != 0 {
        println!("scrape bench skipped: it needs root (a lab of {HOSTS} hosts)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("nodeherd-scrape-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cfg = LabConfig {
        name: "nhobs".into(),
        hosts: HOSTS,
        subnet: 217,
        lodestar: true,
        lodestar_hosts: 1,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    };
    let t = Instant::now();
    let report = match lab::up(&cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lab up failed: {e}");
            let _ = lab::down(&cfg);
            std::process::exit(1);
        }
    };
    println!(
        "lab up: {} hosts in {:.1}s",
        report.hosts.len(),
        t.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(bench(&report.inventory, &dir));
    }));
    if std::env::var_os("NODEHERD_TEST_KEEP_LAB").is_none() {
        let _ = lab::down(&cfg);
    }
    let _ = std::fs::remove_dir_all(&dir);
    if result.is_err() {
        std::process::exit(1);
    }
}

async fn bench(inventory: &std::path::Path, dir: &std::path::Path) {
    // Every host also gets a `page` node served by the socket unit.
    let mut text = std::fs::read_to_string(inventory).expect("inventory");
    for i in 1..=HOSTS {
        text.push_str(&format!(
            "\n[hosts.nhobs-{i}.nodes.page]\nclient = \"lodestar\"\nunit = \"nhpage.socket\"\nmetrics_port = {PAGE_PORT}\n"
        ));
    }
    let inv_path = dir.join("bench.toml");
    std::fs::write(&inv_path, text).expect("write inventory");
    let inv = Inventory::load(&inv_path).expect("inventory loads");
    let pool = Pool::new(ConnectOptions::default());

    // Cold connect of all hosts (for reference).
    let (t, c) = (Instant::now(), cpu_secs());
    let sessions: Vec<Session> =
        futures::future::join_all(inv.hosts.iter().map(|h| pool.session(&h.target)))
            .await
            .into_iter()
            .map(|r| r.expect("connect"))
            .collect();
    println!(
        "cold connect {HOSTS} hosts: {:.3}s wall, {:.3}s CPU",
        t.elapsed().as_secs_f64(),
        cpu_secs() - c
    );

    // Install the socket-activated page server on every host.
    let socket = format!(
        "[Socket]\nListenStream=127.0.0.1:{PAGE_PORT}\nAccept=yes\n\n[Install]\nWantedBy=sockets.target\n"
    );
    // Reads the request head first (closing with unread input would make the kernel send a RST).
    let service = "[Service]\nStandardInput=socket\nStandardOutput=socket\nExecStart=/bin/sh -c 'while read -r l && [ $${#l} -gt 1 ]; do :; done; printf \"HTTP/1.0 200 OK\\r\\n\\r\\n\"; cat /root/page.prom'\n";
    let installs = sessions.iter().map(|s| async {
        s.exec_with_stdin(
            &Command::new("sh").arg("-c").arg("cat > /root/page.prom"),
            PAGE.as_bytes(),
        )
        .await?
        .check("page")?;
        s.exec_with_stdin(
            &Command::new("sh")
                .arg("-c")
                .arg("cat > /etc/systemd/system/nhpage.socket"),
            socket.as_bytes(),
        )
        .await?
        .check("socket")?;
        s.exec_with_stdin(
            &Command::new("sh")
                .arg("-c")
                .arg("cat > /etc/systemd/system/nhpage@.service"),
            service.as_bytes(),
        )
        .await?
        .check("service")?;
        s.exec(
            &Command::new("sh")
                .arg("-c")
                .arg("systemctl daemon-reload && systemctl restart nhpage.socket"),
        )
        .await?
        .check("start")
    });
    for r in futures::future::join_all(installs).await {
        r.expect("install page server");
    }

    // 1. Lodestar's real page: tunnel vs curl on the host, same session, interleaved.
    let s1 = &sessions[0];
    let t0 = Instant::now();
    loop {
        if metrics::get_through(s1, 8008, "/metrics")
            .await
            .is_ok_and(|r| r.status == 200 && r.body.len() > 10_000)
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "lodestar metrics never answered"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let curl = Command::new("curl")
        .arg("-sf")
        .arg("http://127.0.0.1:8008/metrics");
    let (mut tun, mut cur, mut parse) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    let table = for_client("lodestar");
    for i in 0..41 {
        let t = Instant::now();
        let r = metrics::get_through(s1, 8008, "/metrics")
            .await
            .expect("tunnel GET");
        let d_tun = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let o = s1.exec(&curl).await.expect("curl");
        let d_curl = t.elapsed().as_secs_f64() * 1000.0;
        assert!(
            o.success() && o.stdout.len() > 10_000,
            "curl on host failed"
        );
        let page = String::from_utf8_lossy(&r.body).into_owned();
        let t = Instant::now();
        let sample = extract(&page, table);
        let d_parse = t.elapsed().as_secs_f64() * 1e6;
        assert!(sample.values.len() > 3);
        bytes = r.body.len();
        if i > 0 {
            tun.push(d_tun);
            cur.push(d_curl);
            parse.push(d_parse);
        }
    }
    println!(
        "lodestar page ({} KB): tunnel GET median {:.1} ms, curl on host via exec median {:.1} ms, extract {:.0} µs (n={})",
        bytes / 1024,
        median(tun),
        median(cur),
        median(parse.clone()),
        parse.len()
    );

    // 2. Warm scrape of 50 hosts through the open connections.
    let page_nodes: Vec<NodeRef> = inv
        .hosts
        .iter()
        .enumerate()
        .flat_map(|(h, host)| {
            host.nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.name == "page")
                .map(move |(n, _)| NodeRef { host: h, node: n })
        })
        .collect();
    assert_eq!(page_nodes.len(), HOSTS);
    let pages_only = |snap: &metrics::Snapshot| {
        snap.nodes
            .iter()
            .filter(|n| {
                n.problem.is_none() && n.sample.as_ref().is_some_and(|s| !s.values.is_empty())
            })
            .count()
    };
    // pages only: the forwards, without the host facts exec
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for i in 0..11 {
        let (t, c) = (Instant::now(), cpu_secs());
        let results = futures::future::join_all(page_nodes.iter().map(|r| {
            let host = &inv.hosts[r.host];
            let node = &host.nodes[r.node];
            let s = &sessions[r.host];
            metrics::scrape_node(s, &host.name, node, false)
        }))
        .await;
        let (w, cp) = (t.elapsed().as_secs_f64(), cpu_secs() - c);
        let ok = results
            .iter()
            .filter(|n| n.problem.is_none() && n.sample.is_some())
            .count();
        assert_eq!(
            ok,
            HOSTS,
            "every host's page read: {:?}",
            results.iter().find(|n| n.problem.is_some())
        );
        if i > 0 {
            walls.push(w);
            cpus.push(cp);
        }
    }
    println!(
        "warm scrape {HOSTS} hosts, pages only (forward + GET + extract): median {:.3}s wall, {:.3}s CPU ({:.2} ms CPU/host)",
        median(walls.clone()),
        median(cpus.clone()),
        median(cpus) * 1000.0 / HOSTS as f64
    );
    // the product path: gather = pages + one host-facts exec per host, 50 hosts at once
    let opts = GatherOptions {
        forks: HOSTS,
        rate_window: None,
        beacon_api: false,
    };
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for i in 0..11 {
        let (t, c) = (Instant::now(), cpu_secs());
        let snap = metrics::gather(&pool, &inv, &page_nodes, &opts, None).await;
        let (w, cp) = (t.elapsed().as_secs_f64(), cpu_secs() - c);
        assert_eq!(pages_only(&snap), HOSTS);
        assert!(snap.hosts.iter().all(|h| h.facts.is_some()));
        if i > 0 {
            walls.push(w);
            cpus.push(cp);
        }
    }
    println!(
        "warm gather {HOSTS} hosts (pages + host facts exec): median {:.3}s wall, {:.3}s CPU ({:.2} ms CPU/host)",
        median(walls),
        median(cpus.clone()),
        median(cpus) * 1000.0 / HOSTS as f64
    );
    assert_eq!(pool.connect_attempts(), HOSTS, "no reconnects");
    pool.close_all().await;
}
