//! `nodeherd keys list`: the keys of the selected nodes as tables or JSON (validator keys,
//! CometBFT consensus keys, Substrate session keys), and the double-sign risks among them (exit 1).
//!
//! Owns: printing the listing. May not touch: how the fleet is asked (that is
//! `nodeherd_engine::keys::list_fleet`, shared with the TUI).

use super::common::usage;
use crate::cli::context::{self, Fail};
use crate::cli::{Output, exit, table};
use nodeherd_core::inventory::Inventory;
use nodeherd_engine::keys as ops;
use nodeherd_engine::keys::consensus as cosmos;

pub(super) async fn list(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    selector: Option<&str>,
    limit: Option<&str>,
    forks: usize,
    out: Output,
) -> Result<i32, Fail> {
    let selected = context::select(inv, selector, limit)?;
    let (nodes, cosmos_nodes) = ops::fleet_nodes(inv, &selected);
    let substrate_nodes = ops::substrate_nodes(inv, &selected);
    if nodes.is_empty() && cosmos_nodes.is_empty() && substrate_nodes.is_empty() {
        return Err(usage(
            "no selected node has a keymanager API or is a cosmos or substrate node in the inventory",
        ));
    }
    let fleet = ops::list_fleet(pool, inv, &selected, forks, true).await;
    let (results, cosmos_results) = (fleet.validators, fleet.consensus);
    let mut session = Vec::new();
    let mut errors = Vec::new();
    for (r, res) in fleet.session {
        match res {
            Ok(s) => session.push(s),
            Err(e) => errors.push((ops::label(inv, r), e.to_string())),
        }
    }
    let mut rows = Vec::new();
    for (r, res) in results {
        match res {
            Ok(k) => rows.extend(k),
            Err(e) => errors.push((ops::label(inv, r), e.to_string())),
        }
    }
    let mut consensus = Vec::new();
    for (r, res) in cosmos_results {
        match res {
            Ok(c) => consensus.push(c),
            // The error names the node itself.
            Err(e) => errors.push((ops::label(inv, r), e.to_string())),
        }
    }
    let risks = all_risks(&rows, &consensus, &session);
    if out.json {
        let j = serde_json::json!({
            "keys": rows,
            "consensus_keys": consensus,
            "session_keys": session,
            "double_sign_risks": risks,
            "errors": errors.iter().map(|(n, e)| serde_json::json!({"node": n, "error": e})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        if !nodes.is_empty() {
            print_validators(&rows);
        }
        if !cosmos_nodes.is_empty() {
            if !nodes.is_empty() {
                println!();
            }
            print_consensus(&consensus);
        }
        if !substrate_nodes.is_empty() {
            if !nodes.is_empty() || !cosmos_nodes.is_empty() {
                println!();
            }
            print_session(&session);
        }
        for (n, e) in &errors {
            // keymanager errors already start with the node's name
            if e.starts_with(&format!("{n}: ")) {
                eprintln!("{e}");
            } else {
                eprintln!("{n}: {e}");
            }
        }
    }
    let mut unasked: Vec<(&str, &str)> = rows
        .iter()
        .filter_map(|k| Some((k.node.as_str(), k.chain_error.as_deref()?)))
        .filter(|(_, e)| *e != ops::onchain::NOT_ON_CHAIN)
        .collect();
    unasked.dedup();
    for (node, e) in unasked {
        eprintln!("warning: {node}: no chain status for its keys: {e}");
    }
    for c in &consensus {
        if let Some(e) = &c.state_error {
            eprintln!("warning: {}: no double-sign protection state: {e}", c.node);
        }
    }
    for r in &risks {
        eprintln!("DOUBLE-SIGN RISK: {r}");
    }
    if !risks.is_empty() {
        eprintln!(
            "if more than one of these nodes signs, the validator is slashed (Ethereum, Substrate) or tombstoned (Cosmos): \
             stop all but one now, and keep the key on one node only"
        );
    }
    Ok(if errors.is_empty() && risks.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// Every key on two or more nodes, of each chain.
fn all_risks(
    rows: &[ops::KeyRow],
    consensus: &[cosmos::ConsensusRow],
    session: &[ops::keystore::SessionKeysRow],
) -> Vec<ops::DoubleSignRisk> {
    let mut risks = ops::double_sign_risks(
        ops::KeyChain::Ethereum,
        rows.iter()
            .map(|k| (k.node.as_str(), k.pubkey.as_str(), None)),
    );
    risks.extend(ops::double_sign_risks(
        ops::KeyChain::Cosmos,
        consensus.iter().map(|c| {
            (
                c.node.as_str(),
                c.key.pubkey.as_str(),
                Some(c.key.address.as_str()),
            )
        }),
    ));
    risks.extend(ops::double_sign_risks(
        ops::KeyChain::Substrate,
        session.iter().flat_map(|s| {
            s.listing.keys.iter().map(|k| {
                (
                    s.node.as_str(),
                    k.public.as_str(),
                    Some(k.key_type.as_str()),
                )
            })
        }),
    ));
    risks
}

fn print_validators(rows: &[ops::KeyRow]) {
    let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|k| {
            vec![
                k.node.clone(),
                k.pubkey.clone(),
                if k.remote {
                    "remote".into()
                } else {
                    dash(&k.derivation_path)
                },
                k.readonly.map_or_else(|| "-".into(), |b| b.to_string()),
                k.chain
                    .as_ref()
                    .map_or_else(|| "-".into(), |c| c.index.clone()),
                chain_status(k),
                k.chain
                    .as_ref()
                    .map_or_else(|| "-".into(), |c| c.withdrawal.clone()),
                dash(&k.fee_recipient),
                dash(&k.graffiti),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "NODE",
                "PUBKEY",
                "PATH",
                "READONLY",
                "INDEX",
                "STATUS",
                "WITHDRAWAL",
                "FEE RECIPIENT",
                "GRAFFITI"
            ],
            &body
        )
    );
}

/// The chain status of a key; a slashed validator says so; a key the beacon node could not be
/// asked about says why.
fn chain_status(k: &ops::KeyRow) -> String {
    match (&k.chain, &k.chain_error) {
        (Some(c), _) if c.slashed => format!("{} SLASHED", c.status),
        (Some(c), _) => c.status.clone(),
        (None, Some(e)) if e == ops::onchain::NOT_ON_CHAIN => e.clone(),
        (None, Some(_)) => "unknown".into(),
        (None, None) => "-".into(),
    }
}

fn print_consensus(consensus: &[cosmos::ConsensusRow]) {
    let num = |f: fn(&cosmos::SignState) -> String, c: &cosmos::ConsensusRow| {
        c.state.as_ref().map_or_else(|| "-".into(), f)
    };
    let body: Vec<Vec<String>> = consensus
        .iter()
        .map(|c| {
            vec![
                c.node.clone(),
                c.key.address.clone(),
                c.key.pubkey.clone(),
                c.key
                    .key_type
                    .rsplit('/')
                    .next()
                    .unwrap_or(&c.key.key_type)
                    .to_string(),
                num(|s| s.height.to_string(), c),
                num(|s| s.round.to_string(), c),
                num(|s| s.step.to_string(), c),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "NODE",
                "CONSENSUS ADDRESS",
                "PUBKEY (BASE64)",
                "TYPE",
                "HEIGHT",
                "ROUND",
                "STEP"
            ],
            &body
        )
    );
}

fn print_session(session: &[ops::keystore::SessionKeysRow]) {
    let body: Vec<Vec<String>> = session
        .iter()
        .flat_map(|s| {
            s.listing.keys.iter().map(|k| {
                vec![
                    s.node.clone(),
                    match k.name {
                        Some(n) => format!("{} ({n})", k.key_type),
                        None => k.key_type.clone(),
                    },
                    k.public.clone(),
                    k.keystore.clone(),
                ]
            })
        })
        .collect();
    print!(
        "{}",
        table::render(&["NODE", "SESSION KEY", "PUBLIC KEY", "KEYSTORE"], &body)
    );
    for s in session.iter().filter(|s| s.listing.keys.is_empty()) {
        eprintln!(
            "warning: {}: no session keys in {} (run `nodeherd keys rotate {}`)",
            s.node,
            s.listing.keystores.join(", "),
            s.node
        );
    }
}
