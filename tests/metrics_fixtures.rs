//! Parsers of metrics pages and host facts on captured real output (Lodestar 1.5.1, this machine's /proc)
//! and on synthetic pages for the other clients (names from their docs; see each file's header).
#![allow(clippy::unwrap_used)] // a test or bench: a panic is a failure with its location

use std::collections::BTreeMap;
use std::path::PathBuf;

use nodeherd_core::facts::host::{cpu_percent, host_command, net_rates, parse_host};
use nodeherd_core::metrics::clients::{CLIENTS, Signal, for_client};
use nodeherd_core::metrics::page::{Kind, extract, families};

fn fixture(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const BN: &str = "metrics/lodestar-1.5.1-bn-metrics.prom";
const VC: &str = "metrics/lodestar-1.5.1-vc-metrics.prom";

/// Label set as a sorted `k=v` string, for comparing with prometheus-parse's own output.
fn key(name: &str, labels: impl Iterator<Item = (String, String)>) -> String {
    let sorted: BTreeMap<String, String> = labels.collect();
    format!("{name}{sorted:?}")
}

/// The head slot the same node reported on its Beacon API (`/eth/v1/node/syncing`), an independent source.
fn rest_head_slot() -> f64 {
    let text = fixture("metrics/lodestar-1.5.1-rest-samples.txt");
    let line = text
        .lines()
        .find(|l| l.starts_with("GET /eth/v1/node/syncing"))
        .expect("syncing line");
    let json = &line[line.find('{').unwrap()..=line.rfind('}').unwrap()];
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["data"]["head_slot"].as_str().unwrap().parse().unwrap()
}

#[test]
fn lodestar_bn_extract_agrees_with_full_parse_and_beacon_api() {
    let page = fixture(BN);
    let lodestar = for_client("lodestar");
    let s = extract(&page, lodestar);

    // independent source: the Beacon API of the same node at capture time
    assert_eq!(s.get(Signal::HeadSlot), Some(rest_head_slot()));
    assert_eq!(s.version.as_deref(), Some("v1.5.1/2115aa7"));

    // every signal found must equal what prometheus-parse reads from the whole page
    let full = prometheus_parse::Scrape::parse(page.lines().map(|l| Ok(l.to_string()))).unwrap();
    for spec in lodestar.metrics {
        let crate_value = full
            .samples
            .iter()
            .find(|x| x.metric == spec.family)
            .map(|x| match x.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            });
        if let Some(v) = crate_value {
            assert_eq!(
                s.get(spec.signal),
                Some(v),
                "{:?} {}",
                spec.signal,
                spec.family
            );
        }
    }
    // the BN page has the beacon-node signals, not the VC ones
    for sig in [
        Signal::HeadSlot,
        Signal::WallSlot,
        Signal::Peers,
        Signal::FinalizedEpoch,
        Signal::SyncStatus,
    ] {
        assert!(s.get(sig).is_some(), "{sig:?} missing");
    }
    assert_eq!(s.get(Signal::AttestationsPublished), None);
    assert_eq!(s.sync_distance(), Some(0.0));
}

#[test]
fn lodestar_vc_page() {
    let page = fixture(VC);
    let s = extract(&page, for_client("lodestar"));
    assert_eq!(s.version.as_deref(), Some("v1.5.1/2115aa7"));
    assert!(s.get(Signal::AttestationsPublished).is_some());
    assert!(s.get(Signal::Validators).is_some());
    assert_eq!(s.get(Signal::HeadSlot), None);
}

/// families() over every family on the real pages must agree with prometheus-parse on every scalar sample
/// the crate reads correctly (it truncates label values containing `,` or `=`).
#[test]
fn families_match_prometheus_parse_on_whole_real_pages() {
    for path in [BN, VC] {
        let page = fixture(path);
        let names: Vec<&str> = page
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let ours = families(&page, &names);
        assert_eq!(ours.len(), names.len(), "{path}: every TYPE'd family found");

        let full =
            prometheus_parse::Scrape::parse(page.lines().map(|l| Ok(l.to_string()))).unwrap();
        let mut theirs: BTreeMap<String, f64> = BTreeMap::new();
        for x in &full.samples {
            if let prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Untyped(v) = x.value
            {
                let labels = x.labels.iter().map(|(k, v)| (k.clone(), v.clone()));
                theirs.insert(key(&x.metric, labels), v);
            }
        }
        let mut compared = 0;
        for f in ours
            .iter()
            .filter(|f| !matches!(f.kind, Kind::Histogram | Kind::Summary))
        {
            for m in &f.metrics {
                if m.labels.iter().any(|(_, v)| v.contains([',', '=', '\\'])) {
                    continue;
                }
                let k = key(&m.name, m.labels.iter().cloned());
                let Some(&v) = theirs.get(&k) else {
                    panic!("{path}: {k} not in prometheus-parse output");
                };
                assert!(
                    v == m.value || (v.is_nan() && m.value.is_nan()),
                    "{k}: {v} vs {}",
                    m.value
                );
                compared += 1;
            }
        }
        assert!(compared > 50, "{path}: only {compared} samples compared");
    }
}

/// Histograms on the real page keep buckets, sum and count in their family.
#[test]
fn lodestar_histogram_family() {
    let page = fixture(BN);
    let hist_name = page
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .find(|l| l.ends_with(" histogram"))
        .and_then(|l| l.split_whitespace().next())
        .expect("a histogram on the page");
    let fams = families(&page, &[hist_name]);
    assert_eq!(fams.len(), 1);
    let f = &fams[0];
    assert_eq!(f.kind, Kind::Histogram);
    let buckets = page
        .lines()
        .filter(|l| l.starts_with(&format!("{hist_name}_bucket")))
        .count();
    assert_eq!(
        f.metrics
            .iter()
            .filter(|m| m.name.ends_with("_bucket"))
            .count(),
        buckets
    );
    assert!(
        f.metrics
            .iter()
            .any(|m| m.name == format!("{hist_name}_count"))
    );
    assert!(f.help.is_some());
}

/// Synthetic pages: each carries `# expect: signal=value ...` lines. (Lodestar and EthereumJS
/// are checked on their real pages.)
#[test]
fn synthetic_pages_of_other_clients() {
    let mut checked = 0;
    for c in CLIENTS
        .iter()
        .filter(|c| !matches!(c.kind, "lodestar" | "ethereumjs" | "generic"))
    {
        let page = fixture(&format!("metrics/{}-synthetic.prom", c.kind));
        let s = extract(&page, c);
        let expects: Vec<(&str, &str)> = page
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .flat_map(|l| l.split_whitespace())
            .filter_map(|kv| kv.split_once('='))
            .collect();
        assert!(!expects.is_empty(), "{}: no expectations", c.kind);
        let mut got: BTreeMap<&str, String> = s
            .values
            .iter()
            .map(|(k, v)| (k.name(), format!("{v}")))
            .collect();
        if let Some(v) = &s.version {
            got.insert("version", v.clone());
        }
        let want: BTreeMap<&str, String> = expects
            .iter()
            .map(|(k, v)| {
                let v = if *k == "version" {
                    v.to_string()
                } else {
                    format!("{}", v.parse::<f64>().unwrap())
                };
                (*k, v)
            })
            .collect();
        assert_eq!(got, want, "{}", c.kind);
        checked += 1;
    }
    assert_eq!(checked, CLIENTS.len() - 3);
}

/// EthereumJS's real page (0.10.3-0.10.5) has process and tx-pool series only: the table reads
/// nothing from it, and head and peers come from JSON-RPC (`eth_rpc`, tested on its answers).
#[test]
fn ethereumjs_real_pages_leave_head_and_peers_to_json_rpc() {
    let c = for_client("ethereumjs");
    for v in ["0.10.3", "0.10.4", "0.10.5"] {
        let page = fixture(&format!("ethereumjs/{v}/metrics.txt"));
        assert!(page.contains("nodejs_heap_size_total_bytes"), "{v}");
        assert!(!page.contains("block") && !page.contains("peer"), "{v}");
        let s = extract(&page, c);
        assert!(s.values.is_empty() && s.version.is_none(), "{v}: {s:?}");
    }
    for want in [Signal::HeadBlock, Signal::Peers, Signal::Version] {
        assert!(c.json_rpc.iter().any(|r| r.signal == want), "{want:?}");
    }
}

#[test]
fn host_facts_from_this_machine() {
    let a = parse_host(&fixture("host/host-1.txt")).unwrap();
    let b = parse_host(&fixture("host/host-2.txt")).unwrap();
    for f in [&a, &b] {
        assert!(f.load1.is_some() && f.load5.is_some() && f.load15.is_some());
        let total = f.mem_total_bytes.unwrap();
        let avail = f.mem_available_bytes.unwrap();
        assert!(avail <= total && total > 0);
        assert!(f.cpu.is_some() && f.cpus.unwrap() >= 1);
        assert!(f.net_rx_bytes.is_some());
        let d = f.disk.as_ref().unwrap();
        assert_eq!(d.mount, "/");
        assert!(f.time_ns.unwrap() > 1_600_000_000_000_000_000);
    }
    // df prints used/(used+avail) rounded up: our percent must round up to its own column
    let text = fixture("host/host-1.txt");
    let df_line = text
        .lines()
        .skip_while(|l| !l.starts_with("@@nodeherd:df"))
        .nth(2)
        .unwrap();
    let cap: f64 = df_line
        .split_whitespace()
        .find_map(|x| x.strip_suffix('%'))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(a.disk_used_percent().unwrap().ceil(), cap);
    // and /proc/meminfo's MemTotal in kB
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(a.mem_total_bytes, Some(kb * 1024));

    let cpu = cpu_percent(&a.cpu.unwrap(), &b.cpu.unwrap()).unwrap();
    assert!((0.0..=100.0).contains(&cpu), "{cpu}");
    let dt = (b.time_ns.unwrap() - a.time_ns.unwrap()) as f64 / 1e9;
    assert!((1.5..10.0).contains(&dt), "captured ~2 s apart, got {dt}");
    let r = net_rates(&a, &b).unwrap();
    assert!(r.rx_bytes_per_sec >= 0.0 && r.tx_bytes_per_sec >= 0.0);
    assert!(net_rates(&b, &a).is_none(), "time going backwards");
}

/// Runs the real command locally (the same text goes over SSH), with a directory name that needs quoting.
#[test]
fn host_command_runs_here() {
    if !cfg!(target_os = "linux") {
        println!("skipped: host_command_runs_here needs Linux /proc");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("it's a $(dir)");
    std::fs::create_dir(&dir).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(host_command(dir.to_str().unwrap()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = parse_host(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert!(f.disk.is_some(), "df of the quoted dir worked");
    assert!(
        f.load1.is_some() && f.mem_total_bytes.is_some() && f.cpu.is_some() && f.time_ns.is_some()
    );
}
