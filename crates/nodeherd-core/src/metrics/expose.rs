//! Render what nodeherd gathered in Prometheus text format, so an existing Prometheus can scrape it.
//!
//! Owns: [`render`] and label-value escaping. May not touch: gathering, I/O.
//!
//! Output: one family per signal (`nodeherd_head_slot`, ...), all its samples together, labels
//! `host`, `node`, `client`; the version as `nodeherd_version_info{...,version="v1.5.1/2115aa7"} 1`;
//! host facts as `nodeherd_host_*{host="..."}`.

use std::fmt::Write as _;

use crate::facts::host::HostFacts;
use crate::metrics::page::Sample;
use crate::metrics::schema::Signal;

/// One node's sample with the labels it is exposed under.
#[derive(Debug, Clone, Copy)]
pub struct NodeSample<'a> {
    pub host: &'a str,
    pub node: &'a str,
    pub client: &'a str,
    pub sample: &'a Sample,
}

/// One host's facts.
#[derive(Debug, Clone, Copy)]
pub struct HostSample<'a> {
    pub host: &'a str,
    pub facts: &'a HostFacts,
}

/// Escape a label value: `\` -> `\\`, `"` -> `\"`, newline -> `\n`.
pub fn escape_label_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A float as Prometheus writes it (`NaN`, `+Inf`, `-Inf`, shortest round-trip decimal otherwise).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn help_for(signal: Signal) -> &'static str {
    match signal {
        Signal::HeadSlot => "Slot of the node's head block.",
        Signal::WallSlot => "Wall-clock slot as the node sees it.",
        Signal::Peers => "Connected peers.",
        Signal::FinalizedEpoch => "Finalized epoch.",
        Signal::SyncStatus => "Client-specific sync state number.",
        Signal::HeadBlock => "Head block number.",
        Signal::HighestBlock => "Highest block number seen on the network.",
        Signal::Height => "Block height.",
        Signal::FinalizedHeight => "Finalized block height.",
        Signal::NextActionWait => "Seconds to the next validator duty.",
        Signal::NextProposalWait => "Seconds to the next block proposal.",
        Signal::ValidatorHits => "Attestations included on chain (cumulative).",
        Signal::ValidatorMisses => "Attestations missed (cumulative).",
        Signal::AttestationsPublished => {
            "Attestations published by the validator client (cumulative)."
        }
        Signal::Validators => "Validators the client signs for.",
        Signal::Version => "Client version.",
    }
}

fn node_labels(n: &NodeSample<'_>) -> String {
    format!(
        "host=\"{}\",node=\"{}\",client=\"{}\"",
        escape_label_value(n.host),
        escape_label_value(n.node),
        escape_label_value(n.client)
    )
}

fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// Render nodes' samples and hosts' facts as one Prometheus text page.
pub fn render(nodes: &[NodeSample<'_>], hosts: &[HostSample<'_>]) -> String {
    let mut out = String::new();
    for &signal in Signal::ALL {
        if signal == Signal::Version {
            continue;
        }
        let mut rows = nodes
            .iter()
            .filter_map(|n| n.sample.get(signal).map(|v| (n, v)))
            .peekable();
        if rows.peek().is_none() {
            continue;
        }
        let name = format!("nodeherd_{}", signal.name());
        header(&mut out, &name, help_for(signal));
        for (n, v) in rows {
            let _ = writeln!(out, "{name}{{{}}} {}", node_labels(n), format_value(v));
        }
    }
    let versions: Vec<_> = nodes
        .iter()
        .filter_map(|n| n.sample.version.as_deref().map(|v| (n, v)))
        .collect();
    if !versions.is_empty() {
        header(&mut out, "nodeherd_version_info", help_for(Signal::Version));
        for (n, v) in versions {
            let _ = writeln!(
                out,
                "nodeherd_version_info{{{},version=\"{}\"}} 1",
                node_labels(n),
                escape_label_value(v)
            );
        }
    }
    type HostGetter = fn(&HostFacts) -> Option<f64>;
    let host_families: &[(&str, &str, HostGetter)] = &[
        ("nodeherd_host_load1", "1-minute load average.", |f| f.load1),
        ("nodeherd_host_load5", "5-minute load average.", |f| f.load5),
        ("nodeherd_host_load15", "15-minute load average.", |f| {
            f.load15
        }),
        ("nodeherd_host_memory_total_bytes", "Memory total.", |f| {
            f.mem_total_bytes.map(|v| v as f64)
        }),
        (
            "nodeherd_host_memory_available_bytes",
            "Memory available.",
            |f| f.mem_available_bytes.map(|v| v as f64),
        ),
        (
            "nodeherd_host_disk_used_percent",
            "Used percent of the data directory's filesystem.",
            |f| f.disk_used_percent(),
        ),
        (
            "nodeherd_host_network_receive_bytes",
            "Bytes received, all interfaces but lo.",
            |f| f.net_rx_bytes.map(|v| v as f64),
        ),
        (
            "nodeherd_host_network_transmit_bytes",
            "Bytes sent, all interfaces but lo.",
            |f| f.net_tx_bytes.map(|v| v as f64),
        ),
    ];
    for (name, help, get) in host_families {
        let mut rows = hosts
            .iter()
            .filter_map(|h| get(h.facts).map(|v| (h, v)))
            .peekable();
        if rows.peek().is_none() {
            continue;
        }
        header(&mut out, name, help);
        for (h, v) in rows {
            let _ = writeln!(
                out,
                "{name}{{host=\"{}\"}} {}",
                escape_label_value(h.host),
                format_value(v)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::page::families;

    #[test]
    fn escaping() {
        assert_eq!(escape_label_value(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label_value("x\ny"), "x\\ny");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(123.0), "123");
        assert_eq!(format_value(0.25), "0.25");
    }

    #[test]
    fn rendered_page_reads_back_with_hostile_labels() {
        let mut s = Sample::default();
        s.values.insert(Signal::HeadSlot, 123.0);
        s.values.insert(Signal::Peers, 7.0);
        s.version = Some("v1.5.1/2115aa7".into());
        let host = "we\"ird,host=\\x\n";
        let nodes = [NodeSample {
            host,
            node: "bn",
            client: "lodestar",
            sample: &s,
        }];
        let facts = HostFacts {
            load1: Some(0.5),
            ..Default::default()
        };
        let hosts = [HostSample {
            host,
            facts: &facts,
        }];
        let page = render(&nodes, &hosts);
        assert!(
            page.contains("nodeherd_head_slot{host=\"we\\\"ird,host=\\\\x\\n\",node=\"bn\",client=\"lodestar\"} 123\n"),
            "{page}"
        );
        let fams = families(
            &page,
            &[
                "nodeherd_head_slot",
                "nodeherd_version_info",
                "nodeherd_host_load1",
                "nodeherd_peers",
            ],
        );
        assert_eq!(fams.len(), 4, "{fams:?}");
        assert_eq!(fams[0].metrics[0].label("host"), Some(host));
        assert_eq!(fams[0].metrics[0].value, 123.0);
        assert_eq!(fams[2].metrics[0].label("version"), Some("v1.5.1/2115aa7"));
        assert_eq!(fams[3].metrics[0].value, 0.5);
        // every family appears once, with its HELP and TYPE before its samples
        assert_eq!(page.matches("# TYPE nodeherd_head_slot gauge").count(), 1);
    }
}
