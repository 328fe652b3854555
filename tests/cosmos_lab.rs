//! A Cosmos chain upgrade at its halt height, on two real lab hosts (lab "nhcosmos",
//! 10.239.0.0/24; real systemd, real sshd, the real `nodeherd` binary) running a RECORDED
//! STAND-IN of a Cosmos node, `cosmos-standin` (tests/support/cosmos_standin.rs, compiled here
//! with rustc): no real CometBFT or Cosmos SDK binary installs here, so the node's answers are
//! the documented shapes of `tests/fixtures/cosmos/`, and it halts at the plan's height with
//! `UPGRADE "v19" NEEDED at height: H` as the x/upgrade module does.
//!
//! Scenarios: bad plans (no checksum, no binary for the host's platform, a digest that is not
//! the binary's) are refused with nothing changed on either host; a plan at height H: each node
//! stages and verifies the binary before H (`cosmos plan` and `status` show the plan and the
//! time left) and none switches early; each halts at H, is switched
//! by `nodeherd cosmos upgrade --yes` (run as from cron) and is gated on blocks past H; `history`
//! shows it; a plan whose height has already passed is refused with nothing changed; the Cosmos
//! alerts fire once and resolve once (`cosmos_lab/alerts.rs`); and `apply` with
//! `[state] chain_upgrades = true` stages before H and switches at the halt, while the chain
//! upgrade alerts fire once and resolve once (`cosmos_lab/apply.rs`).
//! Needs root: without it, says so and skips. Run: `cargo test --test cosmos_lab` (as root).

use nodeherd_lab::LabConfig;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "cosmos_lab/alerts.rs"]
mod alerts;
#[path = "cosmos_lab/apply.rs"]
mod apply;
#[path = "support/labsuite.rs"]
mod labsuite;

const DIR: &str = "/opt/nodeherd/gaia";
const HOME: &str = "/var/lib/gaia";
const BLOCK_MS: u64 = 500;
/// Host 1's validator (bytes 0..20 under `cosmosvaloper`; its account is `cosmos1qqqsy...rk363e`).
const VALOPER: &str = "cosmosvaloper1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnxz90a2";

struct Ctx {
    cfg: LabConfig,
    inventory: PathBuf,
    dir: PathBuf,
    /// The plan's binary for v19 (a wrapper of the stand-in) and its sha256.
    v19: PathBuf,
    v19_sha: String,
}

fn main() {
    let Some(mut suite) = labsuite::start("cosmos_lab", |dir| LabConfig {
        name: "nhcosmos".into(),
        hosts: 2,
        subnet: 239,
        lodestar: false,
        lodestar_hosts: 0,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let dir = suite.dir.clone();
    let v19 = dir.join("standind-v19");
    std::fs::write(&v19, wrapper("v19")).expect("v19 binary");
    let v19_sha = hex(&Sha256::digest(wrapper("v19").as_bytes()));
    let inventory = dir.join("cosmos.toml");
    let mut text = std::fs::read_to_string(&suite.report.inventory).expect("lab inventory");
    for i in 1..=2 {
        if i == 1 {
            text.push_str(&format!(
                "\n[hosts.nhcosmos-1.nodes.gaia]\nvaloper = \"{VALOPER}\""
            ));
        } else {
            text.push_str("\n[hosts.nhcosmos-2.nodes.gaia]");
        }
        text.push_str(&format!(
            "\nclient = \"cosmos\"\nunit = \"gaia.service\"\ndaemon = \"standind\"\ninstall_dir = \"{DIR}\"\ndata_dir = \"{HOME}\"\nrpc_port = 26657\napi_port = 1317\n"
        ));
    }
    std::fs::write(&inventory, text).expect("inventory");
    std::fs::write(
        dir.join("policy.toml"),
        "[upgrade]\nhealth_timeout = \"60s\"\nconfirm_timeout = \"60s\"\nsettle = \"2s\"\n",
    )
    .expect("playbook");
    let ctx = Ctx {
        cfg: suite.cfg.clone(),
        inventory,
        dir,
        v19,
        v19_sha,
    };
    let ready = suite.always("setup_the_standin_on_both_hosts", || setup(&ctx));
    if ready {
        suite.run("bad_plans_are_refused_with_nothing_changed", || {
            bad_plans_refused(&ctx);
        });
        suite.run(
            "staged_before_h_none_early_each_switched_at_its_halt_and_in_history",
            || chain_upgrade(&ctx),
        );
        suite.run("a_height_already_passed_is_refused", || {
            height_passed(&ctx);
        });
        suite.run(
            "no_new_block_and_peers_low_fire_once_and_resolve_once",
            || alerts::halted_chain_alerts(&ctx),
        );
        suite.run(
            "jailed_missed_blocks_and_unvoted_proposal_fire_once_and_resolve_once",
            || alerts::validator_alerts(&ctx),
        );
        suite.run(
            "apply_stages_before_h_switches_at_the_halt_and_the_chain_upgrade_alerts_fire_and_resolve_once",
            || apply::apply_chain_upgrade(&ctx),
        );
    }
    for i in 1..=2 {
        let _ = labsuite::root_ssh(&ctx.cfg, i, "systemctl stop gaia.service");
    }
    suite.finish();
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The daemon of one version: a wrapper that runs the stand-in with that version.
fn wrapper(version: &str) -> String {
    format!("#!/bin/sh\nexec /usr/local/bin/cosmos-standin --version {version} \"$@\"\n")
}

fn sh(cfg: &LabConfig, i: usize, cmd: &str) -> String {
    labsuite::root_sh(cfg, i, cmd)
}

/// Build the stand-in, install it and the v18 daemon on both hosts, start the nodes.
fn setup(ctx: &Ctx) {
    let standin = labsuite::build_standin(&ctx.dir, "cosmos_standin", "cosmos-standin");
    let unit = format!(
        "[Unit]\nDescription=cosmos-standin (a recorded stand-in of a Cosmos node)\n[Service]\nExecStart={DIR}/current/standind --home {HOME} --rpc 26657 --api 1317 --block-ms {BLOCK_MS}\nRestart=no\n[Install]\nWantedBy=multi-user.target\n"
    );
    for i in 1..=2 {
        let _ = labsuite::root_ssh(
            &ctx.cfg,
            i,
            &format!("systemctl stop gaia.service; rm -rf {DIR} {HOME}"),
        );
        labsuite::put_file(
            &ctx.cfg,
            i,
            "/usr/local/bin/cosmos-standin",
            &standin,
            "0755",
        );
        labsuite::put_file(
            &ctx.cfg,
            i,
            &format!("{DIR}/releases/v18/standind"),
            wrapper("v18").as_bytes(),
            "0755",
        );
        labsuite::put_file(
            &ctx.cfg,
            i,
            "/etc/systemd/system/gaia.service",
            unit.as_bytes(),
            "0644",
        );
        sh(
            &ctx.cfg,
            i,
            &format!(
                "ln -sfn releases/v18 {DIR}/current && mkdir -p {HOME}/data && systemctl daemon-reload && systemctl start gaia.service"
            ),
        );
    }
    for i in 1..=2 {
        wait_height(ctx, i, 3, Duration::from_secs(20));
    }
}

fn height(ctx: &Ctx, i: usize) -> Option<u64> {
    let o = labsuite::root_ssh(&ctx.cfg, i, "curl -s -m 2 http://127.0.0.1:26657/status");
    nodeherd_core::cosmos::chain::parse_status(&String::from_utf8_lossy(&o.stdout))
        .map(|h| h.height)
}

fn wait_height(ctx: &Ctx, i: usize, at_least: u64, limit: Duration) -> u64 {
    let t = Instant::now();
    loop {
        if let Some(h) = height(ctx, i) {
            if h >= at_least {
                return h;
            }
        }
        assert!(
            t.elapsed() < limit,
            "host {i} never reached height {at_least}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Publish `plan` on host `i`'s stand-in (as if governance passed it).
fn set_plan(ctx: &Ctx, i: usize, name: &str, height: u64, info: &str) {
    let body = serde_json::json!({"plan": {"name": name, "time": "0001-01-01T00:00:00Z", "height": height.to_string(), "info": info, "upgraded_client_state": null}}).to_string();
    labsuite::put_file(
        &ctx.cfg,
        i,
        &format!("{HOME}/plan.json"),
        body.as_bytes(),
        "0644",
    );
}

fn info(ctx: &Ctx, key: &str, checksum: Option<&str>) -> String {
    let url = format!("file://{}", ctx.v19.display());
    let q = checksum
        .map(|c| format!("?checksum=sha256:{c}"))
        .unwrap_or_default();
    serde_json::json!({"binaries": {key: format!("{url}{q}")}}).to_string()
}

/// Run the real binary; (exit code, stdout, stderr).
fn nodeherd(ctx: &Ctx, args: &[&str]) -> (i32, String, String) {
    labsuite::nodeherd(&ctx.inventory, &ctx.dir, args)
}

fn chain_upgrade_run(ctx: &Ctx) -> Vec<serde_json::Value> {
    let pb = ctx.dir.join("policy.toml");
    let (code, out, err) = nodeherd(
        ctx,
        &[
            "--json",
            "cosmos",
            "upgrade",
            "--yes",
            "-p",
            pb.to_str().expect("path"),
        ],
    );
    let v: Vec<serde_json::Value> =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("exit {code}: {e}: {out}{err}"));
    v
}

fn layout(ctx: &Ctx, i: usize) -> String {
    sh(
        &ctx.cfg,
        i,
        &format!("readlink {DIR}/current; ls {DIR}/releases"),
    )
}

fn bad_plans_refused(ctx: &Ctx) {
    let before: Vec<String> = (1..=2).map(|i| layout(ctx, i)).collect();
    let h = height(ctx, 1).expect("height") + 1000;
    let cases = [
        (info(ctx, "linux/amd64", None), "carries no checksum"),
        (
            info(ctx, "linux/arm64", Some(&ctx.v19_sha)),
            "no binary for linux/amd64",
        ),
        (
            info(ctx, "linux/amd64", Some(&"0".repeat(64))),
            "digest mismatch",
        ),
    ];
    for (inf, why) in cases {
        for i in 1..=2 {
            set_plan(ctx, i, "v19", h, &inf);
        }
        let out = chain_upgrade_run(ctx);
        assert_eq!(out.len(), 2, "{out:?}");
        for o in &out {
            assert_eq!(o["did"], "refused", "{o}");
            assert!(o["detail"].as_str().unwrap_or("").contains(why), "{o}");
        }
        let after: Vec<String> = (1..=2).map(|i| layout(ctx, i)).collect();
        assert_eq!(before, after, "nothing may change");
    }
}

fn chain_upgrade(ctx: &Ctx) {
    let now = (1..=2)
        .filter_map(|i| height(ctx, i))
        .max()
        .expect("heights");
    // about 20 s of blocks ahead
    let h = now + 40;
    let inf = info(ctx, "linux/amd64", Some(&ctx.v19_sha));
    for i in 1..=2 {
        set_plan(ctx, i, "v19", h, &inf);
    }
    let (code, plan_out, _) = nodeherd(ctx, &["cosmos", "plan"]);
    assert_eq!(code, 0, "{plan_out}");
    assert!(
        plan_out.contains(&format!("upgrade `v19` at height {h}, in ~")),
        "{plan_out}"
    );
    println!("{plan_out}");
    let (code, status_out, _) = nodeherd(ctx, &["status"]);
    assert_eq!(code, 0, "{status_out}");
    for i in 1..=2 {
        let line = format!("nhcosmos-{i}/gaia: upgrade `v19` at height {h}, in ~");
        assert!(status_out.contains(&line), "{status_out}");
    }
    // before H: staged and verified on both, nothing switched
    let t0 = Instant::now();
    let first = chain_upgrade_run(ctx);
    println!(
        "first run (stage both) took {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    for o in &first {
        assert_eq!(o["did"], "staged", "{o}");
    }
    for i in 1..=2 {
        let l = layout(ctx, i);
        assert!(l.starts_with("releases/v18"), "{l}");
        assert!(l.contains("v19"), "{l}");
        let got = sh(
            &ctx.cfg,
            i,
            &format!("sha256sum {DIR}/releases/v19/standind | cut -d' ' -f1"),
        );
        assert_eq!(got, ctx.v19_sha);
    }
    // as from cron: run until both have switched; never before their halt
    let t = Instant::now();
    let mut switched = [false, false];
    let mut halts: [Option<Instant>; 2] = [None, None];
    while !(switched[0] && switched[1]) {
        assert!(
            t.elapsed() < Duration::from_secs(150),
            "not both switched: {switched:?}"
        );
        for i in 1..=2 {
            if halts[i - 1].is_none()
                && labsuite::root_ssh(
                    &ctx.cfg,
                    i,
                    &format!("test -e {HOME}/data/upgrade-info.json"),
                )
                .status
                .success()
            {
                halts[i - 1] = Some(Instant::now());
            }
        }
        let out = chain_upgrade_run(ctx);
        for o in &out {
            let i = if o["node"] == "nhcosmos-1/gaia" { 1 } else { 2 };
            match o["did"].as_str() {
                Some("switched") => {
                    // the halt may come during the run: its mark must be on the host now
                    if halts[i - 1].is_none() {
                        let marked = labsuite::root_ssh(
                            &ctx.cfg,
                            i,
                            &format!("test -e {HOME}/data/upgrade-info.json"),
                        );
                        assert!(marked.status.success(), "switched before its halt: {o}");
                    }
                    if !switched[i - 1] {
                        println!("{}: {}", o["node"], o["detail"]);
                    }
                    switched[i - 1] = true;
                }
                Some("waiting" | "staged") => {
                    assert!(
                        layout(ctx, i).starts_with("releases/v18"),
                        "switched early: {o}"
                    );
                }
                Some("no-plan") if switched[i - 1] => {}
                _ => panic!("unexpected: {o}"),
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    for i in 1..=2 {
        assert!(layout(ctx, i).starts_with("releases/v19"));
        let past = wait_height(ctx, i, h + 2, Duration::from_secs(20));
        assert!(past > h);
        let j = sh(&ctx.cfg, i, "journalctl -u gaia.service --no-pager -o cat");
        assert!(
            j.contains(&format!("UPGRADE \"v19\" NEEDED at height: {h}")),
            "{j}"
        );
        assert!(
            j.contains(&format!("applying upgrade \"v19\" at height: {h}")),
            "{j}"
        );
        assert!(!j.contains("BINARY UPDATED BEFORE TRIGGER"), "{j}");
    }
    let (code, hist, err) = nodeherd(ctx, &["history"]);
    assert_eq!(code, 0, "{hist}{err}");
    println!("{hist}");
    for i in 1..=2 {
        let n = format!("nhcosmos-{i}/gaia");
        assert!(
            hist.lines()
                .any(|l| l.contains(&n) && l.contains("stage") && l.contains("v19")),
            "{hist}"
        );
        assert!(
            hist.lines().any(|l| l.contains(&n)
                && l.contains("chain-upgrade")
                && l.contains("v19")
                && l.contains("ok")),
            "{hist}"
        );
    }
}

fn height_passed(ctx: &Ctx) {
    let before: Vec<String> = (1..=2).map(|i| layout(ctx, i)).collect();
    let inf = info(ctx, "linux/amd64", Some(&ctx.v19_sha));
    for i in 1..=2 {
        set_plan(ctx, i, "v20", 5, &inf);
    }
    let out = chain_upgrade_run(ctx);
    for o in &out {
        assert_eq!(o["did"], "not-halted", "{o}");
        assert!(
            o["detail"]
                .as_str()
                .unwrap_or("")
                .contains("the height has passed"),
            "{o}"
        );
    }
    let after: Vec<String> = (1..=2).map(|i| layout(ctx, i)).collect();
    assert_eq!(before, after);
    for i in 1..=2 {
        let _ = labsuite::root_ssh(&ctx.cfg, i, &format!("rm -f {HOME}/plan.json"));
    }
}
