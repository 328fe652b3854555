//! Tests of the Cosmos parsers on the answers under `tests/fixtures/cosmos/` (documented
//! shapes, see its README) and of the switch decision.

use super::chain::{self, HaltFacts, Head, Stand, decide};
use super::plan::{self, PlanRefusal, UpgradePlan};
use crate::facts::platform::{Arch, Libc, Os, Platform};
use crate::releases::assets::ArchiveKind;
use std::time::Duration;

fn fixture(name: &str) -> String {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/cosmos/");
    std::fs::read_to_string(format!("{p}{name}")).unwrap()
}

fn amd64() -> Platform {
    Platform::new(Os::Linux, Arch::X86_64, Libc::Unknown)
}

fn plan_with(info: &str) -> UpgradePlan {
    UpgradePlan {
        name: "v19".into(),
        height: 100,
        info: info.into(),
    }
}

#[test]
fn current_plan_pending_and_none() {
    let p = plan::parse_current_plan(&fixture("current_plan.json"))
        .unwrap()
        .unwrap();
    assert_eq!(p.name, "v19");
    assert_eq!(p.height, 20_739_800);
    assert!(p.info.contains("linux/amd64"));
    assert_eq!(
        plan::parse_current_plan(&fixture("current_plan_none.json")).unwrap(),
        None
    );
    assert!(matches!(
        plan::parse_current_plan("<html>"),
        Err(plan::PlanReadError::NotJson(_))
    ));
    assert!(matches!(
        plan::parse_current_plan(r#"{"plan":{"name":"t","height":"0","info":""}}"#),
        Err(plan::PlanReadError::BadHeight { .. })
    ));
}

#[test]
fn the_binary_for_the_host_platform_with_its_checksum() {
    let p = plan::parse_current_plan(&fixture("current_plan.json"))
        .unwrap()
        .unwrap();
    let b = plan::binary_for(&p, &amd64()).unwrap();
    assert_eq!(b.key, "linux/amd64");
    assert_eq!(
        b.url,
        "https://github.com/cosmos/gaia/releases/download/v19.0.0/gaiad-v19.0.0-linux-amd64"
    );
    assert_eq!(
        b.sha256,
        "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"
    );
    assert_eq!(b.asset, "gaiad-v19.0.0-linux-amd64");
    assert_eq!(b.kind, ArchiveKind::Bare);
    let arm = Platform::new(Os::Linux, Arch::Aarch64, Libc::Unknown);
    assert_eq!(plan::binary_for(&p, &arm).unwrap().key, "linux/arm64");
    // the documented `any` fallback; an archive keeps its other query parameters
    let any = plan_with(&format!(
        r#"{{"binaries":{{"any":"https://x.example/simd.tar.gz?checksum=sha256:{}&archive=false"}}}}"#,
        "A".repeat(64)
    ));
    let b = plan::binary_for(&any, &arm).unwrap();
    assert_eq!(b.key, "any");
    assert_eq!(b.kind, ArchiveKind::TarGz);
    assert_eq!(b.url, "https://x.example/simd.tar.gz?archive=false");
    assert_eq!(b.sha256, "a".repeat(64));
}

#[test]
fn bad_plans_are_refused_with_their_reason() {
    let no_sum = plan_with(r#"{"binaries":{"linux/amd64":"https://x.example/gaiad"}}"#);
    let e = plan::binary_for(&no_sum, &amd64()).unwrap_err();
    assert!(matches!(e, PlanRefusal::NoChecksum { .. }));
    assert!(e.to_string().contains("carries no checksum"), "{e}");
    let md5 = plan_with(
        r#"{"binaries":{"linux/amd64":"https://x.example/gaiad?checksum=md5:0123456789abcdef0123456789abcdef"}}"#,
    );
    assert!(matches!(
        plan::binary_for(&md5, &amd64()),
        Err(PlanRefusal::BadChecksum { .. })
    ));
    let other = plan_with(&format!(
        r#"{{"binaries":{{"darwin/arm64":"https://x.example/gaiad?checksum=sha256:{}"}}}}"#,
        "1".repeat(64)
    ));
    let e = plan::binary_for(&other, &amd64()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "upgrade `v19`: no binary for linux/amd64 (the plan names: darwin/arm64)"
    );
    let text = plan_with("see https://forum.example/upgrade-v19");
    assert!(matches!(
        plan::binary_for(&text, &amd64()),
        Err(PlanRefusal::NoBinaries { .. })
    ));
    let mut evil = plan_with(r#"{"binaries":{}}"#);
    evil.name = "../../etc".into();
    assert!(matches!(
        plan::binary_for(&evil, &amd64()),
        Err(PlanRefusal::BadName { .. })
    ));
    let p = plan_with("");
    assert!(plan::check_height(&p, 99).is_ok());
    let e = plan::check_height(&p, 100).unwrap_err();
    assert!(e.to_string().contains("the height has passed"), "{e}");
}

#[test]
fn status_block_peers_and_the_countdown() {
    let h = chain::parse_status(&fixture("status.json")).unwrap();
    assert_eq!(h.height, 20_739_650);
    assert!(!h.catching_up);
    let (bh, bt) = chain::parse_block(&fixture("block.json")).unwrap();
    assert_eq!(bh, 20_739_550);
    // 100 blocks in 620 s
    let per = chain::block_time((h.height, h.time.unwrap()), (bh, bt)).unwrap();
    assert_eq!(per, Duration::from_millis(6200));
    let left = chain::eta(h.height, 20_739_800, per);
    assert_eq!(left, Duration::from_secs(930));
    assert_eq!(chain::countdown(left), "~15m 30s");
    assert_eq!(chain::countdown(Duration::from_secs(7500)), "~2h 5m");
    assert_eq!(chain::parse_peers(&fixture("net_info.json")), Some(2));
    assert_eq!(chain::block_time((5, bt), (5, bt)), None);
}

#[test]
fn halt_facts_are_read_from_the_host_output() {
    let info = fixture("upgrade-info.json");
    let out = format!(
        "info={info}\nhalted_secs=75\nrelease={}\nneeded=UPGRADE \"v19\" NEEDED at height: 20739800\ncosmovisor=yes\nstaged={}\nactive=failed\n",
        "d".repeat(64),
        "c".repeat(64)
    );
    let f = chain::parse_halt_facts(&out);
    let p = f.upgrade_info.unwrap();
    assert_eq!((p.name.as_str(), p.height), ("v19", 20_739_800));
    assert_eq!(p.info, r#"{"binaries":{}}"#);
    assert_eq!(f.needed_line, Some(("v19".into(), 20_739_800)));
    assert!(f.cosmovisor);
    assert_eq!(f.cosmovisor_staged, Some("c".repeat(64)));
    assert_eq!(f.active, "failed");
    assert_eq!(f.release_staged, Some("d".repeat(64)));
    assert_eq!(f.halted_secs, Some(75));
    let empty = chain::parse_halt_facts("info=\nneeded=\nactive=active\n");
    assert_eq!(empty.upgrade_info, None);
    assert!(!empty.cosmovisor);
    assert_eq!((empty.release_staged, empty.halted_secs), (None, None));
    // the command quotes every argument
    let cmd = chain::halt_facts_command(
        "/var/lib/my gaia",
        "gaia.service",
        "v19",
        "gaiad",
        "/opt/my gaia",
    );
    assert!(cmd.to_string().contains("'/var/lib/my gaia'"), "{cmd}");
    assert!(cmd.to_string().contains("'/opt/my gaia'"), "{cmd}");
}

#[test]
fn a_node_switches_only_at_its_halt() {
    let p = UpgradePlan {
        name: "v19".into(),
        height: 100,
        info: String::new(),
    };
    let head = |h| Head {
        height: h,
        time: None,
        catching_up: false,
    };
    let running = HaltFacts {
        active: "active".into(),
        ..HaltFacts::default()
    };
    assert_eq!(
        decide(&p, Some(&head(90)), &running),
        Stand::Before { blocks: 10 }
    );
    // one block short and nothing recorded: not yet, and not forced
    assert!(matches!(
        decide(&p, Some(&head(99)), &running),
        Stand::NotHalted { .. }
    ));
    let halted = HaltFacts {
        upgrade_info: Some(UpgradePlan {
            name: "v19".into(),
            height: 100,
            info: String::new(),
        }),
        active: "failed".into(),
        ..HaltFacts::default()
    };
    assert!(matches!(decide(&p, None, &halted), Stand::Halted { .. }));
    assert!(matches!(
        decide(&p, Some(&head(99)), &halted),
        Stand::Halted { .. }
    ));
    // a halt for another plan does not count
    let other = HaltFacts {
        needed_line: Some(("v18".into(), 50)),
        active: "failed".into(),
        ..HaltFacts::default()
    };
    assert!(matches!(decide(&p, None, &other), Stand::NotHalted { .. }));
    // past the height without halting: reported
    match decide(&p, Some(&head(105)), &running) {
        Stand::NotHalted { why } => assert!(why.contains("without halting"), "{why}"),
        s => panic!("{s:?}"),
    }
    // a marked node that is still up and answering below H is halted; down without a mark is not
    let down = HaltFacts {
        active: "inactive".into(),
        ..HaltFacts::default()
    };
    assert!(matches!(decide(&p, None, &down), Stand::NotHalted { .. }));
}

#[test]
fn bech32_vectors_and_cosmos_addresses() {
    use super::validator::{account_of, decode, encode, valcons_of};
    // BIP-173's valid test vectors
    for s in [
        "A12UEL5L",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    ] {
        assert!(decode(s).is_some(), "{s}");
    }
    // ... and invalid ones: a bad checksum, mixed case, no separator
    for s in [
        "a12uel5m",
        "A12uEL5L",
        "abcdefqpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    ] {
        assert!(decode(s).is_none(), "{s}");
    }
    let raw: Vec<u8> = (0..20).collect();
    let valoper = encode("cosmosvaloper", &raw);
    assert_eq!(
        decode(&valoper),
        Some(("cosmosvaloper".into(), raw.clone()))
    );
    assert_eq!(
        account_of(&valoper).as_deref(),
        Some("cosmos1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnrk363e")
    );
    // the consensus address of the key in status.json/staking_validator.json
    assert_eq!(
        valcons_of(&valoper, "q9tU6Y0CydbQuBn0v9oFnY1yRcn9vJ5NE4xYvqOd8J0=").as_deref(),
        Some("cosmosvalcons1h8nf75ey80tqvgx9jyp8l2sdqvm6c6rjqf3vgf")
    );
    assert_eq!(
        account_of("cosmos1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnrk363e"),
        None
    );
}

#[test]
fn validator_signing_and_governance_answers() {
    use super::validator::{
        describe, parse_signing_info, parse_validator, parse_voted, parse_voting, parse_window,
    };
    let (jailed, key) = parse_validator(&fixture("staking_validator.json")).unwrap();
    assert!(!jailed);
    assert_eq!(key, "q9tU6Y0CydbQuBn0v9oFnY1yRcn9vJ5NE4xYvqOd8J0=");
    assert_eq!(
        parse_signing_info(&fixture("signing_info.json")),
        Some((312, false))
    );
    assert_eq!(parse_window(&fixture("slashing_params.json")), Some(10_000));
    let props = parse_voting(&fixture("gov_proposals_voting.json")).unwrap();
    assert_eq!(props.len(), 1);
    assert_eq!(props[0].id, 956);
    assert_eq!(props[0].title, "Gaia v19 Software Upgrade");
    assert_eq!(parse_voted(200, &fixture("gov_vote.json")), Some(true));
    assert_eq!(
        parse_voted(404, &fixture("gov_vote_not_found.json")),
        Some(false)
    );
    assert_eq!(
        parse_voted(500, "{\"code\":13,\"message\":\"internal\"}"),
        None
    );
    let now = chrono::DateTime::parse_from_rfc3339("2024-06-03T14:30:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(
        describe(&props[0], now),
        "proposal #956 \"Gaia v19 Software Upgrade\" ends 2024-06-04T10:00:00Z (in 19h 30m), not voted"
    );
}

#[test]
fn proposal_pages_carry_the_next_key() {
    use super::validator::{VOTING_PROPOSALS, parse_voting_page, voting_page_path};
    let (p1, next) = parse_voting_page(&fixture("gov_proposals_page1.json")).unwrap();
    assert_eq!(p1.iter().map(|p| p.id).collect::<Vec<_>>(), vec![956, 957]);
    assert_eq!(next.as_deref(), Some("AAAAAAAAA74="));
    let (p2, last) = parse_voting_page(&fixture("gov_proposals_page2.json")).unwrap();
    assert_eq!(p2.iter().map(|p| p.id).collect::<Vec<_>>(), vec![958]);
    assert_eq!(last, None, "next_key null: the last page");
    // the one-page answer says null too; an empty key is the last page as well
    assert_eq!(
        parse_voting_page(&fixture("gov_proposals_voting.json")).map(|(_, n)| n),
        Some(None)
    );
    assert_eq!(
        parse_voting_page(r#"{"proposals":[],"pagination":{"next_key":""}}"#),
        Some((vec![], None))
    );
    assert_eq!(
        voting_page_path("AB+/cd=="),
        format!("{VOTING_PROPOSALS}&pagination.key=AB%2B%2Fcd%3D%3D")
    );
}

fn watched(active: &str, release: Option<&str>) -> HaltFacts {
    HaltFacts {
        active: active.into(),
        release_staged: release.map(str::to_string),
        ..HaltFacts::default()
    }
}

#[test]
fn a_plan_near_and_not_staged_is_seen_and_a_staged_one_is_not() {
    use super::watch;
    let sha = "ab".repeat(32);
    let p = plan_with(&format!(
        r#"{{"binaries":{{"linux/amd64":"https://x/gaiad?checksum=sha256:{sha}"}}}}"#
    ));
    let head = |h| Head {
        height: h,
        time: None,
        catching_up: false,
    };
    let eta = Some(Duration::from_secs(3900));
    let (left, text) = watch::not_staged(
        "h1/gaia",
        &p,
        Some(&head(90)),
        eta,
        &watched("active", None),
    )
    .unwrap();
    assert_eq!(left, 3900.0);
    assert_eq!(
        text,
        "upgrade `v19` at height 100 (in ~1h 5m): its binary is not staged in releases/v19/; run `nodeherd cosmos upgrade h1/gaia --yes`"
    );
    // staged and its digest is the plan's: nothing to say
    let ok = watched("active", Some(&sha));
    assert_eq!(
        watch::not_staged("h1/gaia", &p, Some(&head(90)), eta, &ok),
        None
    );
    // another program there: not verified, said so with its short digest
    let other = watched("active", Some(&"cd".repeat(32)));
    let (_, text) = watch::not_staged("h1/gaia", &p, Some(&head(90)), None, &other).unwrap();
    assert!(text.contains("time left unknown"), "{text}");
    assert!(text.contains("sha256 cdcdcdcd, not the plan's"), "{text}");
    // Cosmovisor's layout counts on a Cosmovisor host
    let cv = HaltFacts {
        cosmovisor: true,
        cosmovisor_staged: Some(sha.clone()),
        ..watched("active", None)
    };
    assert_eq!(
        watch::not_staged("h1/gaia", &p, Some(&head(90)), eta, &cv),
        None
    );
    // past the height: the missed switch speaks, not this
    assert_eq!(
        watch::not_staged(
            "h1/gaia",
            &p,
            Some(&head(101)),
            eta,
            &watched("active", None)
        ),
        None
    );
}

#[test]
fn a_missed_switch_is_a_halt_not_switched_or_a_node_past_the_height() {
    use super::watch;
    let p = plan_with("");
    let head = |h| Head {
        height: h,
        time: None,
        catching_up: false,
    };
    // before the height: nothing
    assert_eq!(
        watch::missed_switch(
            "h1/gaia",
            &p,
            Some(&head(90)),
            None,
            &watched("active", None)
        ),
        None
    );
    // halted for the plan 75 s ago (its RPC down with it)
    let halted = HaltFacts {
        upgrade_info: Some(p.clone()),
        halted_secs: Some(75),
        ..watched("failed", None)
    };
    let (secs, text) = watch::missed_switch("h1/gaia", &p, None, None, &halted).unwrap();
    assert_eq!(secs, 75.0);
    assert!(
        text.starts_with("upgrade `v19` at height 100: halted"),
        "{text}"
    );
    assert!(
        text.contains("75s ago, not switched; run `nodeherd cosmos upgrade h1/gaia --yes`"),
        "{text}"
    );
    // running past the height without a halt
    let (secs, text) = watch::missed_switch(
        "h1/gaia",
        &p,
        Some(&head(104)),
        Some(12.0),
        &watched("active", None),
    )
    .unwrap();
    assert_eq!(secs, 12.0);
    assert!(text.contains("at height 104 past the plan's 100"), "{text}");
    // the RPC down and no halt recorded: unknown here
    assert_eq!(
        watch::missed_switch("h1/gaia", &p, None, None, &watched("failed", None)),
        None
    );
}
