//! Signals an execution client gives through its Ethereum JSON-RPC (on the node's `rpc_port`):
//! head block, peers, highest block and version, for clients whose metrics page lacks them
//! (EthereumJS publishes neither head nor peers on its page).
//!
//! Owns: which method answers which signal ([`ETH_JSON_RPC`], named by the client table's
//! `json_rpc` column) and turning the answers into [`Sample`] values (pure). The answer parsers
//! are [`crate::health::answers`]'s, shared with the health gate. May not touch: sending the
//! requests (the engine does, through the SSH forward), the metrics page.

use super::page::Sample;
pub use super::schema::RpcSpec;
use super::schema::Signal;
use crate::health::answers;

/// The standard Ethereum JSON-RPC reads (every execution client serves them).
pub const ETH_JSON_RPC: &[RpcSpec] = &[
    RpcSpec {
        signal: Signal::HeadBlock,
        method: "eth_blockNumber",
    },
    RpcSpec {
        signal: Signal::Peers,
        method: "net_peerCount",
    },
    RpcSpec {
        signal: Signal::HighestBlock,
        method: "eth_syncing",
    },
    RpcSpec {
        signal: Signal::Version,
        method: "web3_clientVersion",
    },
];

/// The request body of `spec` (`{"jsonrpc":"2.0","id":1,"method":...,"params":[]}`).
pub fn request(spec: &RpcSpec) -> String {
    answers::rpc_request(spec.method)
}

/// `eth_syncing` while syncing: `{"startingBlock":"0x0","currentBlock":"0x5","highestBlock":"0x9",...}`.
fn syncing_highest(body: &str) -> Option<u64> {
    let r = answers::rpc_result(body).ok()?;
    let s = r.get("highestBlock")?.as_str()?;
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

/// Put what the answers say into `sample`, leaving signals it already has (the page wins where
/// it has them). `answers` pairs each spec with the HTTP 200 body, or why there is none.
/// Returns one message per call that gave nothing usable.
pub fn fill(sample: &mut Sample, answers: &[(RpcSpec, Result<String, String>)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut not_syncing = false;
    for (spec, body) in answers {
        let body = match body {
            Ok(b) => b.as_str(),
            Err(e) => {
                problems.push(format!("{}: {e}", spec.method));
                continue;
            }
        };
        if let Err(e) = answers::rpc_result(body) {
            problems.push(format!("{}: {e}", spec.method));
            continue;
        }
        let read: Option<f64> = match spec.signal {
            Signal::Version => {
                if sample.version.is_none() {
                    sample.version = answers::rpc_string(body)
                        .map(|v| crate::text::sanitize(&v))
                        .filter(|v| !v.is_empty());
                }
                continue;
            }
            Signal::HighestBlock => match answers::eth_syncing(body) {
                Some(false) => {
                    not_syncing = true;
                    continue;
                }
                Some(true) => syncing_highest(body).map(|h| h as f64),
                None => None,
            },
            _ => answers::rpc_quantity(body).map(|q| q as f64),
        };
        match read {
            Some(v) => {
                sample.values.entry(spec.signal).or_insert(v);
            }
            None => problems.push(format!(
                "{}: unexpected answer {}",
                spec.method,
                answers::short(body)
            )),
        }
    }
    // Not syncing: the highest block the node knows is its head.
    if not_syncing {
        if let Some(head) = sample.get(Signal::HeadBlock) {
            sample.values.entry(Signal::HighestBlock).or_insert(head);
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(version: &str, file: &str) -> String {
        let p = format!(
            "{}/../../tests/fixtures/ethereumjs/{version}/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn real_answers(version: &str) -> Vec<(RpcSpec, Result<String, String>)> {
        ETH_JSON_RPC
            .iter()
            .map(|s| (*s, Ok(fixture(version, &format!("{}.json", s.method)))))
            .collect()
    }

    #[test]
    fn real_ethereumjs_answers_give_head_peers_highest_and_version() {
        for (version, head) in [("0.10.5", 3.0), ("0.10.4", 2.0), ("0.10.3", 2.0)] {
            let mut s = Sample::default();
            let problems = fill(&mut s, &real_answers(version));
            assert!(problems.is_empty(), "{version}: {problems:?}");
            assert_eq!(s.get(Signal::HeadBlock), Some(head), "{version}");
            assert_eq!(s.get(Signal::Peers), Some(0.0));
            assert_eq!(s.get(Signal::HighestBlock), s.get(Signal::HeadBlock));
            assert_eq!(
                s.version,
                Some(format!("EthereumJS/{version}/linux/node20.20.2"))
            );
        }
    }

    #[test]
    fn the_page_wins_and_failures_are_named() {
        let mut s = Sample::default();
        s.values.insert(Signal::Peers, 7.0);
        s.version = Some("from-page".into());
        let mut answers = real_answers("0.10.5");
        answers[0].1 = Err("127.0.0.1:8545: connection refused".into());
        let problems = fill(&mut s, &answers);
        assert_eq!(
            problems,
            vec!["eth_blockNumber: 127.0.0.1:8545: connection refused".to_string()]
        );
        assert_eq!(s.get(Signal::Peers), Some(7.0));
        assert_eq!(s.version.as_deref(), Some("from-page"));
        assert_eq!(s.get(Signal::HeadBlock), None);
        assert_eq!(s.get(Signal::HighestBlock), None, "no head, no highest");
    }

    #[test]
    fn syncing_object_and_errors() {
        let syncing = r#"{"jsonrpc":"2.0","id":1,"result":{"startingBlock":"0x0","currentBlock":"0x5","highestBlock":"0x9"}}"#;
        let head = r#"{"jsonrpc":"2.0","id":1,"result":"0x5"}"#;
        let mut s = Sample::default();
        let problems = fill(
            &mut s,
            &[
                (ETH_JSON_RPC[0], Ok(head.into())),
                (ETH_JSON_RPC[2], Ok(syncing.into())),
                (
                    ETH_JSON_RPC[1],
                    Ok(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#.into()),
                ),
                (ETH_JSON_RPC[3], Ok("<html>\u{1b}[31m".into())),
            ],
        );
        assert_eq!(s.get(Signal::HeadBlock), Some(5.0));
        assert_eq!(s.get(Signal::HighestBlock), Some(9.0));
        assert_eq!(s.get(Signal::Peers), None);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0], "net_peerCount: error Method not found");
        assert!(problems[1].starts_with("web3_clientVersion: not JSON-RPC"));
        assert!(!problems[1].contains('\u{1b}'));
    }

    #[test]
    fn requests_are_json_rpc() {
        let v: serde_json::Value =
            serde_json::from_str(&request(&ETH_JSON_RPC[0])).unwrap_or_default();
        assert_eq!(v["method"], "eth_blockNumber");
        assert_eq!(v["jsonrpc"], "2.0");
        assert!(v["params"].as_array().is_some_and(Vec::is_empty));
    }
}
