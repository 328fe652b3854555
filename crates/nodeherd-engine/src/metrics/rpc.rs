//! The Ethereum JSON-RPC calls `metrics` makes to an execution client through its forward
//! (`eth_blockNumber`, `net_peerCount`, `eth_syncing`, `web3_clientVersion`: head block, peers,
//! highest block and version, which EthereumJS's page lacks).
//!
//! Owns: which calls a node gets ([`specs_for`]), sending them as POSTs on the host's
//! `127.0.0.1:rpc_port` and merging the answers into the node's sample through core's pure
//! [`eth_rpc::fill`]. May not touch: parsing the answers (core), the metrics page, the SSH
//! session itself beyond opening forwards.

use nodeherd_core::inventory::{Node, Role};
use nodeherd_core::metrics::eth_rpc::{self, ETH_JSON_RPC, RpcSpec};
use nodeherd_core::metrics::{ClientMetrics, Sample};
use nodeherd_transport::http;
use nodeherd_transport::ssh::Session;

use super::{HTTP_TIMEOUT, NodeMetrics, NodeProblem, SampleOut, forward_problem};

/// The calls for `node`: its client's `json_rpc` column, or the standard reads for any other
/// node declared `role = "execution"`; none without an `rpc_port`.
pub fn specs_for(node: &Node, table: &ClientMetrics) -> &'static [RpcSpec] {
    if node.rpc_port.is_none() {
        return &[];
    }
    if !table.json_rpc.is_empty() {
        table.json_rpc
    } else if node.role == Role::Execution {
        ETH_JSON_RPC
    } else {
        &[]
    }
}

/// One call: the body of an HTTP 200 answer, or why there is none.
async fn call(session: &Session, port: u16, spec: &RpcSpec) -> Result<String, NodeProblem> {
    let stream = session
        .forward(port)
        .await
        .map_err(|e| forward_problem(&e, port))?;
    let body = eth_rpc::request(spec);
    let sent = http::request(
        stream,
        "POST",
        "/",
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    );
    let r = match tokio::time::timeout(HTTP_TIMEOUT, sent).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return Err(NodeProblem::BadPage(nodeherd_core::text::sanitize(
                &e.to_string(),
            )));
        }
        Err(_) => {
            return Err(NodeProblem::BadPage(format!(
                "no answer within {}s",
                HTTP_TIMEOUT.as_secs()
            )));
        }
    };
    if r.status != 200 {
        return Err(NodeProblem::BadPage(format!("HTTP {}", r.status)));
    }
    Ok(r.text())
}

/// What the calls of one node gave, in the order of its specs.
pub(super) struct Answers {
    port: u16,
    specs: &'static [RpcSpec],
    results: Vec<Result<String, NodeProblem>>,
}

/// Ask `specs` on `port`, all at once.
pub(super) async fn ask(session: &Session, port: u16, specs: &'static [RpcSpec]) -> Answers {
    let results = futures::future::join_all(specs.iter().map(|s| call(session, port, s))).await;
    Answers {
        port,
        specs,
        results,
    }
}

/// Merge the answers into `nm`'s sample; the page's own values stay. A failure becomes the
/// node's problem unless it already has one (a node whose RPC port is closed says so).
pub(super) fn merge(nm: &mut NodeMetrics, a: Answers) {
    let closed = a.results.iter().find_map(|r| match r {
        Err(p @ (NodeProblem::PortClosed(_) | NodeProblem::Unreachable(_))) => Some(p.clone()),
        _ => None,
    });
    let answers: Vec<(RpcSpec, Result<String, String>)> = a
        .specs
        .iter()
        .zip(a.results)
        .map(|(s, r)| (*s, r.map_err(|p| problem_text(&p))))
        .collect();
    let had_sample = nm.sample.is_some();
    let mut sample: Sample = nm.sample.take().map(|s| s.raw).unwrap_or_default();
    let problems = eth_rpc::fill(&mut sample, &answers);
    if had_sample || !sample.values.is_empty() || sample.version.is_some() {
        nm.sample = Some(SampleOut::from_sample(sample));
    }
    if nm.problem.is_none() && !problems.is_empty() {
        nm.problem = Some(closed.unwrap_or_else(|| {
            NodeProblem::BadPage(format!(
                "JSON-RPC 127.0.0.1:{}: {}",
                a.port,
                problems.join("; ")
            ))
        }));
    }
}

/// The message of a problem without its kind (the kind is reported once, by the node).
fn problem_text(p: &NodeProblem) -> String {
    match p {
        NodeProblem::Unreachable(m) | NodeProblem::PortClosed(m) | NodeProblem::BadPage(m) => {
            m.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodeherd_core::inventory::Inventory;
    use nodeherd_core::metrics::{Signal, clients};

    const INV: &str = r#"
[hosts.h]
address = "10.0.0.1"
[hosts.h.nodes.el]
client = "ethereumjs"
unit = "el.service"
rpc_port = 8545
metrics_port = 8000
[hosts.h.nodes.el-no-rpc]
client = "ethereumjs"
unit = "el2.service"
[hosts.h.nodes.custom-el]
client = "generic"
role = "execution"
unit = "el3.service"
rpc_port = 8546
[hosts.h.nodes.bn]
client = "lodestar"
unit = "bn.service"
rest_port = 9596
rpc_port = 8547
"#;

    fn node(name: &str) -> Node {
        let inv = Inventory::from_sources(vec![("i.toml".into(), INV.into())])
            .unwrap_or_else(|e| panic!("{e:?}"));
        inv.hosts[0]
            .nodes
            .iter()
            .find(|n| n.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name}"))
    }

    fn specs(name: &str) -> &'static [RpcSpec] {
        let n = node(name);
        specs_for(
            &n,
            clients::for_client(super::super::metrics_kind(n.client)),
        )
    }

    #[test]
    fn which_nodes_are_asked() {
        assert_eq!(specs("el"), ETH_JSON_RPC);
        assert!(specs("el-no-rpc").is_empty(), "no rpc_port, no call");
        assert_eq!(specs("custom-el"), ETH_JSON_RPC, "declared execution role");
        assert!(specs("bn").is_empty(), "a beacon node has the Beacon API");
    }

    fn blank() -> NodeMetrics {
        super::super::blank_node("h", &node("el"), chrono::Utc::now())
    }

    fn fixture(file: &str) -> String {
        let p = format!(
            "{}/../../tests/fixtures/ethereumjs/0.10.5/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn real_answers_become_the_sample() {
        let mut nm = blank();
        let results = ETH_JSON_RPC
            .iter()
            .map(|s| Ok(fixture(&format!("{}.json", s.method))))
            .collect();
        merge(
            &mut nm,
            Answers {
                port: 8545,
                specs: ETH_JSON_RPC,
                results,
            },
        );
        assert_eq!(nm.head(), Some(3.0));
        assert_eq!(nm.get(Signal::Peers), Some(0.0));
        assert_eq!(nm.version(), Some("EthereumJS/0.10.5/linux/node20.20.2"));
        assert_eq!(nm.problem, None);
    }

    #[test]
    fn a_closed_port_is_the_problem_and_leaves_no_sample() {
        let mut nm = blank();
        let closed = NodeProblem::PortClosed("cannot forward to 127.0.0.1:8545".into());
        merge(
            &mut nm,
            Answers {
                port: 8545,
                specs: ETH_JSON_RPC,
                results: ETH_JSON_RPC.iter().map(|_| Err(closed.clone())).collect(),
            },
        );
        assert_eq!(nm.sample, None);
        assert_eq!(nm.problem, Some(closed));
    }

    #[test]
    fn a_bad_answer_is_named_and_a_page_problem_stays() {
        let mut nm = blank();
        let mut results: Vec<Result<String, NodeProblem>> = ETH_JSON_RPC
            .iter()
            .map(|s| Ok(fixture(&format!("{}.json", s.method))))
            .collect();
        results[1] = Err(NodeProblem::BadPage("HTTP 500".into()));
        merge(
            &mut nm,
            Answers {
                port: 8545,
                specs: ETH_JSON_RPC,
                results: results.clone(),
            },
        );
        assert_eq!(
            nm.problem,
            Some(NodeProblem::BadPage(
                "JSON-RPC 127.0.0.1:8545: net_peerCount: HTTP 500".into()
            ))
        );
        assert_eq!(nm.head(), Some(3.0));
        let mut nm = blank();
        nm.problem = Some(NodeProblem::BadPage("/metrics answered HTTP 404".into()));
        merge(
            &mut nm,
            Answers {
                port: 8545,
                specs: ETH_JSON_RPC,
                results,
            },
        );
        assert_eq!(
            nm.problem,
            Some(NodeProblem::BadPage("/metrics answered HTTP 404".into()))
        );
    }
}
