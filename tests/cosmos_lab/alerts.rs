//! The Cosmos alert scenarios of `tests/cosmos_lab.rs` (RECORDED: against cosmos-standin, a
//! stand-in of a Cosmos node): a halted chain and lost peers, a jailed validator that misses
//! blocks and has not voted, each rule firing once and resolving once.

use super::{Ctx, HOME, height, labsuite, nodeherd, sh, wait_height};
use std::path::Path;
use std::time::Duration;

/// One `nodeherd alerts` round on host 1's node: the notifications it sent, as (rule, kind).
pub fn alerts_round(ctx: &Ctx, file: &Path) -> Vec<(String, String)> {
    alerts_round_values(ctx, file)
        .into_iter()
        .map(|(r, k, _)| (r, k))
        .collect()
}

/// [`alerts_round`] with each notification's value, sorted by rule.
pub fn alerts_round_values(ctx: &Ctx, file: &Path) -> Vec<(String, String, String)> {
    let (code, out, err) = nodeherd(
        ctx,
        &[
            "--json",
            "alerts",
            "nhcosmos-1/gaia",
            "--file",
            file.to_str().expect("path"),
        ],
    );
    assert_ne!(code, 2, "{out}{err}");
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    v["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|n| {
            (
                n["rule"].as_str().unwrap_or("").to_string(),
                n["kind"].as_str().unwrap_or("").to_lowercase(),
                n["value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The stand-in's chain stops making blocks and loses its peers (its RPC still answers): the
/// Cosmos rules fire once each, stay quiet while it lasts, and resolve once when it recovers.
pub fn halted_chain_alerts(ctx: &Ctx) {
    let file = ctx.dir.join("alerts.toml");
    std::fs::write(
        &file,
        "[[rule]]\nname = \"no-new-block\"\ncondition = { no_new_block_for = 4 }\nfor = \"0s\"\nseverity = \"page\"\nhint = \"{node} on {host}: no new block for {value}s\"\n\n[[rule]]\nname = \"peers-low\"\ncondition = { peers_below = 1 }\nfor = \"0s\"\nseverity = \"warn\"\nhint = \"{node} on {host} has {value} peers\"\n",
    )
    .expect("alerts file");
    wait_height(
        ctx,
        1,
        height(ctx, 1).unwrap_or(0) + 1,
        Duration::from_secs(20),
    );
    assert_eq!(alerts_round(ctx, &file), vec![], "a healthy chain");
    sh(
        &ctx.cfg,
        1,
        &format!("touch {HOME}/pause && echo 0 > {HOME}/peers"),
    );
    std::thread::sleep(Duration::from_secs(6));
    let mut fired = alerts_round(ctx, &file);
    fired.sort();
    assert_eq!(
        fired,
        vec![
            ("no-new-block".to_string(), "firing".to_string()),
            ("peers-low".to_string(), "firing".to_string())
        ]
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(alerts_round(ctx, &file), vec![], "fires once");
    sh(&ctx.cfg, 1, &format!("rm -f {HOME}/pause {HOME}/peers"));
    let h = height(ctx, 1).expect("height");
    wait_height(ctx, 1, h + 2, Duration::from_secs(20));
    let mut resolved = alerts_round(ctx, &file);
    resolved.sort();
    assert_eq!(
        resolved,
        vec![
            ("no-new-block".to_string(), "resolved".to_string()),
            ("peers-low".to_string(), "resolved".to_string())
        ]
    );
    assert_eq!(alerts_round(ctx, &file), vec![], "resolves once");
}

/// Host 1's validator is jailed, misses blocks and has not voted on a proposal ending in 10 h
/// (all from the stand-in's REST answers, through the SSH session): each rule fires once with
/// what it saw, and resolves once when the validator is back, signs and votes.
pub fn validator_alerts(ctx: &Ctx) {
    let file = ctx.dir.join("validator-alerts.toml");
    std::fs::write(
        &file,
        "[[rule]]\nname = \"jailed\"\ncondition = \"validator_jailed\"\nfor = \"0s\"\nseverity = \"page\"\n\n[[rule]]\nname = \"missed-blocks\"\ncondition = { missed_blocks_above = 5 }\nfor = \"0s\"\nseverity = \"warn\"\n\n[[rule]]\nname = \"vote\"\ncondition = { proposal_not_voted_within = 24 }\nfor = \"0s\"\nseverity = \"warn\"\n",
    )
    .expect("alerts file");
    assert_eq!(alerts_round(ctx, &file), vec![], "a healthy validator");
    let end = (chrono::Utc::now() + chrono::Duration::hours(10)).format("%Y-%m-%dT%H:%M:%SZ");
    let proposals = format!(
        r#"{{"proposals":[{{"id":"12","messages":[],"status":"PROPOSAL_STATUS_VOTING_PERIOD","submit_time":"2026-12-01T00:00:00Z","voting_start_time":"2026-12-02T00:00:00Z","voting_end_time":"{end}","metadata":"","title":"Standin Upgrade v20","summary":"s","proposer":"cosmos1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnrk363e"}}],"pagination":{{"next_key":null,"total":"1"}}}}"#
    );
    labsuite::put_file(
        &ctx.cfg,
        1,
        &format!("{HOME}/proposals.json"),
        proposals.as_bytes(),
        "0644",
    );
    sh(
        &ctx.cfg,
        1,
        &format!("touch {HOME}/jailed && echo 12 > {HOME}/missed"),
    );
    let fired = alerts_round_values(ctx, &file);
    println!("{fired:?}");
    let kinds: Vec<(&str, &str)> = fired
        .iter()
        .map(|(r, k, _)| (r.as_str(), k.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("jailed", "firing"),
            ("missed-blocks", "firing"),
            ("vote", "firing")
        ]
    );
    assert_eq!(fired[0].2, "jailed");
    assert_eq!(fired[1].2, "12");
    assert!(
        fired[2].2.starts_with(&format!(
            "proposal #12 \"Standin Upgrade v20\" ends {end} (in 9h"
        )),
        "{}",
        fired[2].2
    );
    assert_eq!(alerts_round(ctx, &file), vec![], "fires once");
    sh(
        &ctx.cfg,
        1,
        &format!("rm -f {HOME}/jailed && echo 0 > {HOME}/missed && touch {HOME}/voted-12"),
    );
    assert_eq!(
        alerts_round(ctx, &file),
        vec![
            ("jailed".to_string(), "resolved".to_string()),
            ("missed-blocks".to_string(), "resolved".to_string()),
            ("vote".to_string(), "resolved".to_string())
        ]
    );
    assert_eq!(alerts_round(ctx, &file), vec![], "resolves once");
}
