//! The chain upgrade through the scripted fake host on tokio's paused clock: bad plans refused
//! with nothing changed, the binary staged before the height and never switched early, a node
//! past the height without a halt reported, a halted node switched and gated on a block past
//! the height. (Answers in the documented shapes of `tests/fixtures/cosmos/`.)

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nodeherd_core::inventory::{Inventory, NodeRef};
use sha2::{Digest, Sha256};

use super::upgrade::{Did, run_node};
use crate::testing::{FakeRemote, HttpReply, Match, Reply, fake_pool};
use crate::upgrade::engine::{Options, Target};
use crate::upgrade::tests::{INSPECT, LOCK, LOCK_INFO, PLATFORM, X86_64, playbook};

const STAGE: &str = "sha256sum -c --status";
const SWITCH: &str = "systemd-run --unit nodeherd-switch-gaia";
const SIGNAL: &str = ": > \"$D/.nodeherd/$W-$TOK\"";
const STATE: &str = "echo \"state=$(cat";
const H: u64 = 100;

fn inventory() -> Inventory {
    let text = "[defaults]\nuser = \"root\"\n[hosts.h1]\naddress = \"192.0.2.1\"\n[hosts.h1.nodes.gaia]\nclient = \"cosmos\"\ndaemon = \"gaiad\"\ndata_dir = \"/var/lib/gaia\"\ninstall_dir = \"/opt/nh/gaia\"\nrpc_port = 26657\napi_port = 1317\n";
    Inventory::from_sources(vec![(PathBuf::from("/t/hosts.toml"), text.into())])
        .unwrap_or_else(|e| panic!("{e:?}"))
}

fn target() -> Target {
    let inv = inventory();
    let pb = playbook("[upgrade]\nhealth_timeout = \"60s\"\nconfirm_timeout = \"30s\"\n");
    Target::new(&inv, NodeRef { host: 0, node: 0 }, &pb)
}

struct Chain {
    dir: tempfile::TempDir,
    sha: String,
}

/// The plan's binary in a file (the plan's URL), with its digest.
fn chain() -> Chain {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gaiad"), b"#!/bin/sh\necho v19\n").unwrap();
    let sha = crate::upgrade::artifact::hex(&Sha256::digest(b"#!/bin/sh\necho v19\n"));
    Chain { dir, sha }
}

impl Chain {
    fn info(&self, checksum: bool) -> String {
        let url = self.dir.path().join("gaiad").display().to_string();
        let q = if checksum {
            format!("?checksum=sha256:{}", self.sha)
        } else {
            String::new()
        };
        format!(r#"{{"binaries":{{"linux/amd64":"{url}{q}"}}}}"#)
    }
    fn options(&self) -> Options {
        let mut o = crate::upgrade::tests::options();
        o.artifact_cache = self.dir.path().join("cache");
        o
    }
}

fn plan_body(info: &str) -> String {
    serde_json::json!({"plan": {"name": "v19", "time": "0001-01-01T00:00:00Z", "height": H.to_string(), "info": info, "upgraded_client_state": null}}).to_string()
}

fn status(h: u64) -> HttpReply {
    HttpReply::Answer(
        200,
        format!(
            r#"{{"jsonrpc":"2.0","id":-1,"result":{{"node_info":{{"version":"0.38.12"}},"sync_info":{{"latest_block_height":"{h}","latest_block_time":"2024-05-29T13:58:03Z","catching_up":false}}}}}}"#
        ),
    )
}

/// A host whose node is at `height` (halted there when `halted`), the plan's `info` as given.
/// After the switch the node makes blocks again from the height on.
fn host(info: &str, height: u64, halted: bool) -> FakeRemote {
    let f = FakeRemote::named("h1");
    f.on(Match::contains(PLATFORM), Reply::ok(X86_64));
    f.on(
        Match::contains(LOCK),
        Reply::Hold {
            stdout: "LOCKED 4242 4241\n".into(),
        },
    );
    // the lock is ours (the holder of the LOCKED line) with a fresh lease
    f.on(
        Match::contains(LOCK_INFO),
        Reply::ok("who=tester@console\npid=4242\nsince=2026-12-06T23:00:00Z\naction=upgrade\nbeat_age=2\n"),
    );
    f.on_with(Match::contains(INSPECT), |_, h| {
        let staged = h.iter().any(|l| l.contains(STAGE));
        let cur = if h.iter().any(|l| l.contains(SWITCH)) {
            "v19"
        } else {
            "v18"
        };
        let extra = if staged { "release=v19\n" } else { "" };
        Reply::ok(format!(
            "current=releases/{cur}\nprevious=\nrelease=v18\n{extra}switch=inactive\n"
        ))
    });
    f.on_with(Match::contains(STATE), |_, h| {
        let confirmed = h
            .iter()
            .any(|l| l.contains(SIGNAL) && l.contains(" confirm "));
        let st = if confirmed { "confirmed" } else { "switched" };
        Reply::ok(format!("state={st}\nunit=active\n"))
    });
    f.on(
        Match::contains("systemctl show"),
        Reply::ok(
            "Id=gaia.service\nActiveState=active\nSubState=running\nMainPID=7\nNRestarts=0\n",
        ),
    );
    let facts = if halted {
        let written = serde_json::json!({"name": "v19", "time": "0001-01-01T00:00:00Z", "height": H, "info": info});
        format!("info={written}\nneeded=UPGRADE \"v19\" NEEDED at height: {H}\nactive=failed\n")
    } else {
        "info=\nneeded=\nactive=active\n".to_string()
    };
    f.on(Match::contains("nodeherd-halt"), Reply::ok(facts));
    f.http(
        1317,
        "/cosmos/upgrade/v1beta1/current_plan",
        200,
        &plan_body(info),
    );
    let n = Arc::new(AtomicU64::new(0));
    f.http_with(26657, "/status", move |_, h| {
        if h.iter().any(|l| l.contains(SWITCH)) {
            status(height + 1 + n.fetch_add(1, Ordering::SeqCst))
        } else {
            status(height)
        }
    });
    f.http_with(26657, "/abci_info", |_, h| {
        let v = if h.iter().any(|l| l.contains(SWITCH)) {
            "v19.0.0"
        } else {
            "v18.1.0"
        };
        HttpReply::Answer(
            200,
            format!(r#"{{"result":{{"response":{{"version":"{v}"}}}}}}"#),
        )
    });
    f
}

fn untouched(f: &FakeRemote) {
    for m in [STAGE, SWITCH, LOCK] {
        assert_eq!(f.ran(m), 0, "`{m}` must not run: {:#?}", f.lines());
    }
}

#[tokio::test(start_paused = true)]
async fn bad_plans_are_refused_and_nothing_changes() {
    let c = chain();
    // no checksum
    let f = host(&c.info(false), 50, false);
    let o = run_node(
        &fake_pool(std::slice::from_ref(&f)),
        &target(),
        &c.options(),
    )
    .await;
    assert_eq!(o.did, Did::Refused, "{o:?}");
    assert!(o.detail.contains("carries no checksum"), "{}", o.detail);
    untouched(&f);
    // no binary for the host's platform
    let arm = c.info(true).replace("linux/amd64", "linux/arm64");
    let f = host(&arm, 50, false);
    let o = run_node(
        &fake_pool(std::slice::from_ref(&f)),
        &target(),
        &c.options(),
    )
    .await;
    assert_eq!(o.did, Did::Refused);
    assert!(
        o.detail.contains("no binary for linux/amd64"),
        "{}",
        o.detail
    );
    untouched(&f);
    // a height already passed, without a halt: reported, not forced
    let f = host(&c.info(true), H + 5, false);
    let o = run_node(
        &fake_pool(std::slice::from_ref(&f)),
        &target(),
        &c.options(),
    )
    .await;
    assert_eq!(o.did, Did::NotHalted);
    assert!(o.detail.contains("the height has passed"), "{}", o.detail);
    untouched(&f);
    // a digest that is not the download's: refused on the console, nothing uploaded
    let wrong = c.info(true).replace(&c.sha, &"0".repeat(64));
    let f = host(&wrong, 50, false);
    let o = run_node(
        &fake_pool(std::slice::from_ref(&f)),
        &target(),
        &c.options(),
    )
    .await;
    assert_eq!(o.did, Did::Refused);
    assert!(o.detail.contains("digest mismatch"), "{}", o.detail);
    untouched(&f);
}

#[tokio::test(start_paused = true)]
async fn staged_before_the_height_and_never_switched_early() {
    let c = chain();
    let f = host(&c.info(true), 60, false);
    let pool = fake_pool(std::slice::from_ref(&f));
    let o = run_node(&pool, &target(), &c.options()).await;
    assert_eq!(o.did, Did::Staged, "{o:?}");
    assert!(o.detail.contains("40 blocks to go"), "{}", o.detail);
    assert_eq!(f.ran(STAGE), 1);
    assert_eq!(f.ran(SWITCH), 0);
    // a second run: already staged, still waiting
    let o = run_node(&pool, &target(), &c.options()).await;
    assert_eq!(o.did, Did::Waiting, "{o:?}");
    assert_eq!(f.ran(STAGE), 1);
    assert_eq!(f.ran(SWITCH), 0);
    // one block short of the height without a halt: not yet
    let f = host(&c.info(true), H - 1, false);
    let o = run_node(
        &fake_pool(std::slice::from_ref(&f)),
        &target(),
        &c.options(),
    )
    .await;
    assert_eq!(o.did, Did::Staged, "{o:?}");
    assert!(o.detail.contains("waiting for the halt"), "{}", o.detail);
    assert_eq!(f.ran(SWITCH), 0);
}

#[tokio::test(start_paused = true)]
async fn a_halted_node_switches_and_is_gated_on_blocks_past_the_height() {
    let c = chain();
    let f = host(&c.info(true), H - 1, true);
    let o = run_node(
        &fake_pool(std::slice::from_ref(&f)),
        &target(),
        &c.options(),
    )
    .await;
    assert_eq!(o.did, Did::Switched, "{o:?}");
    assert!(
        o.detail.contains("past the plan's height 100"),
        "{}",
        o.detail
    );
    assert_eq!(f.ran(STAGE), 1);
    assert_eq!(f.ran(SWITCH), 1);
    // journaled on the host, with a detail short enough for `history`'s column
    assert!(
        f.ran("\"action\":\"chain-upgrade\"") >= 1,
        "{:#?}",
        f.lines()
    );
    let short = &c.sha[..8];
    assert_eq!(
        f.ran(&format!(
            "\"detail\":\"v19 at height 100, sha256 {short}: block 10"
        )),
        1,
        "{:#?}",
        f.lines()
    );
    assert_eq!(
        f.ran(&format!(
            "\"detail\":\"v19 at height 100, sha256 {short} verified\""
        )),
        1,
        "{:#?}",
        f.lines()
    );
}

#[tokio::test(start_paused = true)]
async fn a_halted_node_whose_api_is_down_switches_by_its_upgrade_info() {
    let c = chain();
    let f = host(&c.info(true), H - 1, true);
    // the halted process took its REST API and RPC with it until the switch restarts it
    f.http_with(1317, "/cosmos/upgrade/v1beta1/current_plan", |_, _| {
        HttpReply::Refused
    });
    let n = Arc::new(AtomicU64::new(0));
    f.http_with(26657, "/status", move |_, h| {
        if h.iter().any(|l| l.contains(SWITCH)) {
            status(H + n.fetch_add(1, Ordering::SeqCst))
        } else {
            HttpReply::Refused
        }
    });
    let o = run_node(
        &fake_pool(std::slice::from_ref(&f)),
        &target(),
        &c.options(),
    )
    .await;
    assert_eq!(o.did, Did::Switched, "{o:?}");
    assert_eq!(o.plan.as_deref(), Some("v19"));
    assert_eq!(f.ran(SWITCH), 1);
    // not halted, API down, nothing recorded: nothing to go on
    let f = host(&c.info(true), 50, false);
    f.http_with(1317, "/cosmos/upgrade/v1beta1/current_plan", |_, _| {
        HttpReply::Refused
    });
    let o = run_node(
        &fake_pool(std::slice::from_ref(&f)),
        &target(),
        &c.options(),
    )
    .await;
    assert_eq!(o.did, Did::Failed, "{o:?}");
    assert!(o.detail.starts_with("cannot read the plan"), "{}", o.detail);
    untouched(&f);
}

/// What the chain upgrade alerts read of the node on `f`.
async fn watched(f: &FakeRemote) -> nodeherd_core::alerts::Observation {
    let t = target();
    let pool = fake_pool(std::slice::from_ref(f));
    let session = pool.session(&t.host.target).await.unwrap();
    let head = super::read_head(&session, &t.node).await.ok();
    let mut o = nodeherd_core::alerts::Observation::default();
    let now = chrono::DateTime::parse_from_rfc3339("2024-05-29T14:00:00Z")
        .unwrap()
        .to_utc();
    super::stand::observe(&session, &t.key, &t.node, head.as_ref(), &mut o, now).await;
    o
}

#[tokio::test(start_paused = true)]
async fn the_alerts_see_a_plan_not_staged_then_staged_then_a_halt_not_switched() {
    let c = chain();
    // 40 blocks before the plan, nothing staged
    let f = host(&c.info(true), 60, false);
    let o = watched(&f).await;
    let (left, text) = o.cosmos_unstaged.clone().unwrap().unwrap();
    assert_eq!(left, 0.0, "no block time known: due now");
    assert!(
        text.starts_with("upgrade `v19` at height 100 (time left unknown): its binary is not staged in releases/v19/; run `nodeherd cosmos upgrade h1/gaia --yes`"),
        "{text}"
    );
    assert_eq!(o.cosmos_missed, Some(None));
    assert!(
        f.ran("gaiad /opt/nh/gaia") >= 1,
        "the install dir is asked: {:#?}",
        f.lines()
    );
    // staged with the plan's digest: quiet
    f.on(
        Match::contains("nodeherd-halt"),
        Reply::ok(format!(
            "info=\nneeded=\nrelease={}\nactive=active\n",
            c.sha
        )),
    );
    let o = watched(&f).await;
    assert_eq!(
        (o.cosmos_unstaged, o.cosmos_missed),
        (Some(None), Some(None))
    );
    // halted at the height (API and RPC down), 300 s ago, not switched
    let f = host(&c.info(true), H - 1, true);
    f.http_with(1317, "/cosmos/upgrade/v1beta1/current_plan", |_, _| {
        HttpReply::Refused
    });
    f.http_with(26657, "/status", |_, _| HttpReply::Refused);
    let written = serde_json::json!({"name": "v19", "height": H, "info": c.info(true)});
    f.on(
        Match::contains("nodeherd-halt"),
        Reply::ok(format!(
            "info={written}\nhalted_secs=300\nrelease={}\nactive=failed\n",
            c.sha
        )),
    );
    let o = watched(&f).await;
    assert_eq!(o.cosmos_unstaged, Some(None));
    let (secs, text) = o.cosmos_missed.unwrap().unwrap();
    assert_eq!(secs, 300.0);
    assert!(text.contains("300s ago, not switched"), "{text}");
    untouched(&f);
    // no plan pending: both known and quiet
    let f = host(&c.info(true), 60, false);
    f.http(
        1317,
        "/cosmos/upgrade/v1beta1/current_plan",
        200,
        r#"{"plan":null}"#,
    );
    let o = watched(&f).await;
    assert_eq!(
        (o.cosmos_unstaged, o.cosmos_missed),
        (Some(None), Some(None))
    );
}

#[tokio::test(start_paused = true)]
async fn apply_plans_the_chain_upgrade_step_and_runs_it_through_the_same_engine() {
    use crate::apply::run;
    use nodeherd_core::plan::apply::ChainStep;
    use nodeherd_core::plan::apply::Change;
    let c = chain();
    let f = host(&c.info(true), 60, false);
    // the host says what is staged once the stage ran
    let sha = c.sha.clone();
    f.on_with(Match::contains("nodeherd-halt"), move |_, h| {
        let staged = h.iter().any(|l| l.contains(STAGE));
        let release = if staged {
            format!("release={sha}\n")
        } else {
            String::new()
        };
        Reply::ok(format!("info=\nneeded=\n{release}active=active\n"))
    });
    let pool = fake_pool(std::slice::from_ref(&f));
    let inv = inventory();
    let text = "[upgrade]\nhealth_timeout = \"60s\"\n[state]\nchain_upgrades = true\n";
    let pb = playbook(text);
    let desired =
        nodeherd_core::plan::desired::DesiredState::parse(&[("pb.toml".into(), text.into())], &inv)
            .unwrap_or_else(|e| panic!("{e:?}"));
    let nodes = vec![NodeRef { host: 0, node: 0 }];
    let opts = c.options();
    let g = run::gather(&pool, &inv, &nodes, 1, &pb, &desired, &opts).await;
    let (p, refs) = run::make_plan(&inv, &g, &desired);
    assert_eq!(p.changes.len(), 1, "{p:?}");
    assert_eq!(
        p.changes[0].change,
        Change::ChainUpgrade {
            plan: "v19".into(),
            height: H,
            step: ChainStep::Stage
        }
    );
    assert_eq!(f.ran(STAGE), 0, "plan changes nothing");
    let res = run::apply(&pool, &inv, &p, &refs, &g, &desired, &pb, 1, &opts).await;
    assert_eq!(res.len(), 1);
    assert!(res[0].ok && res[0].verified, "{:?}", res[0]);
    assert!(
        res[0].detail.starts_with("staged: staged `v19` now"),
        "{}",
        res[0].detail
    );
    assert_eq!(f.ran(STAGE), 1);
    assert_eq!(f.ran(SWITCH), 0, "never switched before the halt");
    // planned again: a no-op saying what it waits for
    let g = run::gather(&pool, &inv, &nodes, 1, &pb, &desired, &opts).await;
    let (p, _) = run::make_plan(&inv, &g, &desired);
    assert!(p.changes.is_empty(), "{p:?}");
    assert!(
        p.noops.iter().any(|n| n
            .why
            .starts_with("chain upgrade `v19` staged in releases/v19/; waiting for height 100")),
        "{:?}",
        p.noops
    );
}
