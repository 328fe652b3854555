//! The Prometheus and Grafana files shipped in `docs/`: `promtool check rules` accepts the alert rules
//! (promtool comes with Debian's `prometheus` package, installed by `.ci/run`), and the Grafana dashboard
//! parses and queries only series nodeherd exports (every series name in its expressions is one the
//! exporter renders for a node with every signal and a host with every fact).

use nodeherd_core::facts::host::parse_host;
use nodeherd_core::metrics::Sample;
use nodeherd_core::metrics::Signal;
use nodeherd_core::metrics::expose::{HostSample, NodeSample, render};
use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every series name nodeherd's exporter can write (plus `nodeherd_node_up`, added by the engine).
fn exported() -> BTreeSet<String> {
    let mut s = Sample::default();
    for &sig in Signal::ALL {
        s.values.insert(sig, 1.0);
    }
    s.version = Some("v1".into());
    let nodes = [NodeSample {
        host: "h",
        node: "n",
        client: "lodestar",
        sample: &s,
    }];
    let text = std::fs::read_to_string(root().join("tests/fixtures/host/host-1.txt"))
        .expect("host fixture");
    let facts = parse_host(&text).expect("host fixture parses");
    let hosts = [HostSample {
        host: "h",
        facts: &facts,
    }];
    let mut names: BTreeSet<String> = render(&nodes, &hosts)
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    names.insert("nodeherd_node_up".into());
    names
}

fn series_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while let Some(p) = expr[i..].find("nodeherd_") {
        let start = i + p;
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        out.push(expr[start..end].to_string());
        i = end;
    }
    out
}

#[test]
fn promtool_accepts_the_shipped_rules() {
    let rules = root().join("docs/prometheus/nodeherd-rules.yml");
    let out = std::process::Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .expect("promtool (apt-get install prometheus)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS: 6 rules found"), "{text}");
    let yaml = std::fs::read_to_string(&rules).unwrap();
    let exported = exported();
    for name in series_in(&yaml) {
        assert!(
            exported.contains(&name),
            "rules use {name}, not exported: {exported:?}"
        );
    }
}

#[test]
fn grafana_dashboard_parses_and_uses_only_exported_series() {
    let text = std::fs::read_to_string(root().join("docs/grafana/nodeherd.json")).unwrap();
    let d: serde_json::Value = serde_json::from_str(&text).unwrap();
    let exported = exported();
    let mut exprs: Vec<String> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_string))
        .collect();
    assert!(exprs.len() >= 9, "{exprs:?}");
    for v in d["templating"]["list"].as_array().unwrap() {
        exprs.push(v["query"].as_str().unwrap().to_string());
    }
    let mut used = BTreeSet::new();
    for e in &exprs {
        let names = series_in(e);
        assert!(!names.is_empty(), "{e} queries no nodeherd series");
        for n in names {
            assert!(
                exported.contains(&n),
                "{e}: {n} is not exported ({exported:?})"
            );
            used.insert(n);
        }
    }
    assert!(used.contains("nodeherd_head_slot") && used.contains("nodeherd_host_load1"));
}
