//! Substrate session keys on a real lab host (lab "nhsub", 10.242.0.0/24; real systemd, real
//! sshd, the real `nodeherd` binary) running a RECORDED STAND-IN of a Substrate node,
//! `substrate-standin` (tests/support/substrate_standin.rs, compiled here with rustc): no real
//! Substrate or Polkadot binary installs here, so the node's answers are the documented shapes
//! of `tests/fixtures/substrate/`, and its "keys" are random bytes it records under its home.
//!
//! Scenarios (all RECORDED, none against a real node): `keys rotate` prints exactly the session
//! keys the stand-in generated (plain and `--json`), with the `session.setKeys(keys, 0x)` call to
//! submit, that the node holds them (`author_hasSessionKeys`, which the stand-in answers from its
//! keystore files), and none of the keystore's private seeds; with `--rpc-methods safe` emulated it is
//! refused with Substrate's real message and the fix, and no keys are made; a node that is not
//! substrate is refused before any call; the health probe (the upgrade gate's reading) reads the
//! node over SSH and calls it syncing when `system_syncState` shows it far behind; `keys list`
//! shows every session key in the stand-in's keystore (Substrate's default
//! `<base>/chains/<id>/keystore`, Substrate's file naming) from the file names alone, none of the
//! seeds in the files, and a key copied to a second node's keystore is a DOUBLE-SIGN RISK (exit 1).
//! Needs root: without it, says so and skips. Run: `cargo test --test substrate_lab` (as root).

use nodeherd_lab::LabConfig;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "support/labsuite.rs"]
mod labsuite;

const HOME: &str = "/var/lib/polkadot";
/// The stand-in's keystore: Substrate's default, `<base-path>/chains/<chain id>/keystore`.
const KEYSTORE: &str = "/var/lib/polkadot/chains/polkadot/keystore";
/// A second node's keystore (`keystore_dir` in the inventory), for the double-sign check.
const OTHER: &str = "/var/lib/polkadot-b/keystore";
const PORT: u16 = 9944;

struct Ctx {
    cfg: LabConfig,
    inventory: PathBuf,
    dir: PathBuf,
}

fn main() {
    let Some(mut suite) = labsuite::start("substrate_lab", |dir| LabConfig {
        name: "nhsub".into(),
        hosts: 1,
        subnet: 242,
        lodestar: false,
        lodestar_hosts: 0,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let dir = suite.dir.clone();
    let inventory = dir.join("substrate.toml");
    let mut text = std::fs::read_to_string(&suite.report.inventory).expect("lab inventory");
    text.push_str(&format!(
        "\n[hosts.nhsub-1.nodes.dot]\nclient = \"substrate\"\nunit = \"polkadot.service\"\ndata_dir = \"{HOME}\"\nrpc_port = {PORT}\n"
    ));
    text.push_str(&format!(
        "\n[hosts.nhsub-1.nodes.dot2]\nclient = \"substrate\"\nunit = \"polkadot-b.service\"\nkeystore_dir = \"{OTHER}\"\n"
    ));
    text.push_str("\n[hosts.nhsub-1.nodes.gaia]\nclient = \"cosmos\"\nunit = \"gaia.service\"\nrpc_port = 26657\n");
    std::fs::write(&inventory, text).expect("inventory");
    let ctx = Ctx {
        cfg: suite.cfg.clone(),
        inventory,
        dir,
    };
    let ready = suite.always("setup_the_standin", || setup(&ctx));
    if ready {
        suite.run(
            "recorded_rotate_prints_exactly_the_keys_the_standin_generated",
            || rotate_prints_generated_keys(&ctx),
        );
        suite.run(
            "recorded_rotate_on_a_safe_rpc_is_refused_with_the_fix",
            || safe_rpc_refused(&ctx),
        );
        suite.run("recorded_rotate_on_a_non_substrate_node_is_refused", || {
            not_substrate_refused(&ctx);
        });
        suite.run(
            "recorded_standins_has_session_keys_checks_its_keystore",
            || {
                held_check_is_real(&ctx);
            },
        );
        suite.run(
            "recorded_keys_list_shows_the_session_keys_by_file_name_only",
            || keys_list_by_file_name(&ctx),
        );
        suite.run(
            "recorded_keys_list_flags_a_session_key_on_two_nodes",
            || keys_list_flags_a_copy(&ctx),
        );
        suite.run(
            "recorded_health_probe_reads_system_sync_state_over_ssh",
            || health_reads_sync_state(&ctx),
        );
    }
    let _ = labsuite::root_ssh(&ctx.cfg, 1, "systemctl stop polkadot.service");
    suite.finish();
}

fn sh(cfg: &LabConfig, cmd: &str) -> String {
    labsuite::root_sh(cfg, 1, cmd)
}

/// Build the stand-in, install it as `polkadot.service`, wait for its RPC.
fn setup(ctx: &Ctx) {
    let standin = labsuite::build_standin(&ctx.dir, "substrate_standin", "substrate-standin");
    let unit = format!(
        "[Unit]\nDescription=substrate-standin (a recorded stand-in of a Substrate node)\n[Service]\nExecStart=/usr/local/bin/substrate-standin --home {HOME} --rpc {PORT} --block-ms 1000\nRestart=no\n[Install]\nWantedBy=multi-user.target\n"
    );
    let _ = labsuite::root_ssh(
        &ctx.cfg,
        1,
        &format!("systemctl stop polkadot.service; rm -rf {HOME} /var/lib/polkadot-b"),
    );
    labsuite::put_file(
        &ctx.cfg,
        1,
        "/usr/local/bin/substrate-standin",
        &standin,
        "0755",
    );
    labsuite::put_file(
        &ctx.cfg,
        1,
        "/etc/systemd/system/polkadot.service",
        unit.as_bytes(),
        "0644",
    );
    sh(
        &ctx.cfg,
        "systemctl daemon-reload && systemctl start polkadot.service",
    );
    let t = Instant::now();
    let health = r#"{"jsonrpc":"2.0","id":1,"method":"system_health","params":[]}"#;
    loop {
        let o = labsuite::root_ssh(
            &ctx.cfg,
            1,
            &format!(
                "curl -s -m 2 -H 'Content-Type: application/json' -d '{health}' http://127.0.0.1:{PORT}"
            ),
        );
        if String::from_utf8_lossy(&o.stdout).contains("isSyncing") {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the stand-in never answered"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn nodeherd(ctx: &Ctx, args: &[&str]) -> (i32, String, String) {
    labsuite::nodeherd(&ctx.inventory, &ctx.dir, args)
}

/// The blobs the stand-in generated, oldest first.
fn generated(ctx: &Ctx) -> Vec<String> {
    let o = labsuite::root_ssh(&ctx.cfg, 1, &format!("cat {HOME}/rotated_keys"));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The private seeds in the stand-in's keystore.
fn seeds(ctx: &Ctx) -> Vec<String> {
    sh(&ctx.cfg, &format!("cat {KEYSTORE}/* 2>/dev/null; echo"))
        .split('"')
        .filter(|s| s.starts_with("0x"))
        .map(|s| s.trim_start_matches("0x").to_string())
        .collect()
}

fn rotate_prints_generated_keys(ctx: &Ctx) {
    let before = generated(ctx).len();
    let t = Instant::now();
    let (code, out, err) = nodeherd(ctx, &["keys", "rotate", "nhsub-1/dot"]);
    println!("keys rotate took {:.2}s", t.elapsed().as_secs_f64());
    assert_eq!(code, 0, "{out}\n{err}");
    let made = generated(ctx);
    assert_eq!(made.len(), before + 1, "one rotation: {made:?}");
    let keys = made.last().expect("a blob");
    assert_eq!(keys.len(), 2 + 2 * 193, "{keys}");
    assert!(out.lines().any(|l| l == keys), "{out}");
    assert!(out.contains(&format!("keys  = {keys}")), "{out}");
    assert!(
        out.contains("proof = 0x") && out.contains("session.setKeys"),
        "{out}"
    );
    assert!(out.contains("keystore holds all of them"), "{out}");
    // JSON: a second rotation makes other keys, printed exactly.
    let (code, out2, err) = nodeherd(ctx, &["--json", "keys", "rotate", "nhsub-1/dot"]);
    assert_eq!(code, 0, "{out2}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out2).expect("json");
    let made = generated(ctx);
    assert_eq!(made.len(), before + 2);
    let second = made.last().expect("a blob");
    assert_ne!(second, keys);
    assert_eq!(v["session_keys"].as_str(), Some(second.as_str()), "{out2}");
    assert_eq!(v["submit"]["keys"].as_str(), Some(second.as_str()));
    assert_eq!(v["submit"]["proof"].as_str(), Some("0x"));
    assert_eq!(v["bytes"].as_u64(), Some(193));
    assert_eq!(v["held_by_node"].as_bool(), Some(true), "{out2}");
    // No private material leaves the host.
    let seeds = seeds(ctx);
    assert_eq!(seeds.len(), 12, "six keys per rotation");
    for s in &seeds {
        for text in [&out, &out2, &err] {
            assert!(!text.contains(s.as_str()), "a private seed was printed");
        }
    }
}

fn safe_rpc_refused(ctx: &Ctx) {
    sh(&ctx.cfg, &format!("echo safe > {HOME}/rpc-methods"));
    let before = generated(ctx).len();
    let (code, out, err) = nodeherd(ctx, &["keys", "rotate", "nhsub-1/dot"]);
    sh(&ctx.cfg, &format!("rm -f {HOME}/rpc-methods"));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("RPC call is unsafe to be called externally")
            && err.contains("--rpc-methods unsafe"),
        "{err}"
    );
    assert_eq!(generated(ctx).len(), before, "no keys made");
}

fn not_substrate_refused(ctx: &Ctx) {
    let before = generated(ctx).len();
    let (code, out, err) = nodeherd(ctx, &["keys", "rotate", "nhsub-1/gaia"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("client = \"cosmos\""), "{err}");
    assert_eq!(generated(ctx).len(), before);
}

/// The gate's reading of the node, through a real SSH session.
fn reading(ctx: &Ctx) -> nodeherd_core::health::Reading {
    let text = std::fs::read_to_string(&ctx.inventory).expect("inventory");
    let inv =
        nodeherd_core::inventory::Inventory::from_sources(vec![(ctx.inventory.clone(), text)])
            .unwrap_or_else(|e| panic!("{e:?}"));
    let r = inv.find_node("nhsub-1/dot").expect("node");
    let (h, node) = inv.node(r);
    labsuite::runtime().block_on(async {
        let pool =
            nodeherd_transport::ssh::Pool::new(nodeherd_transport::ssh::ConnectOptions::default());
        let session = pool.session(&h.target).await.expect("ssh to the lab host");
        let reading = nodeherd_engine::upgrade::health::read(
            &session,
            node,
            &nodeherd_core::health::probe_for(node),
        )
        .await;
        pool.close_all().await;
        reading
    })
}

fn health_reads_sync_state(ctx: &Ctx) {
    use nodeherd_core::health::Check;
    let r = reading(ctx);
    assert!(r.unit_active, "{r:?}");
    assert_eq!(r.check, Some(Check::Healthy), "{r:?}");
    assert_eq!(r.peers, Some(12));
    assert_eq!(r.version.as_deref(), Some("1.17.1-7ae6f4a1f3"));
    assert!(r.progress.is_some_and(|p| p >= 1), "{r:?}");
    let said = r.said.clone().unwrap_or_default();
    assert!(said.contains("system_syncState: block"), "{said}");
    sh(&ctx.cfg, &format!("echo 21482118 > {HOME}/highest"));
    let r = reading(ctx);
    sh(&ctx.cfg, &format!("rm -f {HOME}/highest"));
    assert_eq!(r.check, Some(Check::Syncing), "{r:?}");
    let said = r.said.unwrap_or_default();
    assert!(said.contains("of 21482118"), "{said}");
}

/// The stand-in's `author_hasSessionKeys` is a real check: without one key's keystore file it
/// says false, and `keys rotate` would then exit 1 (the engine's fake-host test covers that).
fn held_check_is_real(ctx: &Ctx) {
    let keys = generated(ctx).pop().expect("a rotation");
    let ask = |blob: &str| {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"author_hasSessionKeys","params":["{blob}"]}}"#
        );
        sh(
            &ctx.cfg,
            &format!(
                "curl -s -m 2 -H 'Content-Type: application/json' -d '{body}' http://127.0.0.1:{PORT}"
            ),
        )
    };
    assert!(ask(&keys).contains(r#""result":true"#));
    sh(
        &ctx.cfg,
        &format!("mkdir -p {HOME}/aside && mv {KEYSTORE}/62656566* {HOME}/aside/"),
    );
    let o = ask(&keys);
    sh(&ctx.cfg, &format!("mv {HOME}/aside/* {KEYSTORE}/"));
    assert!(o.contains(r#""result":false"#), "{o}");
}

/// The public keys of every rotation so far, split per key type (the blob's order).
fn generated_keys(ctx: &Ctx) -> Vec<(String, String)> {
    let types = [
        ("gran", 32),
        ("babe", 32),
        ("para", 32),
        ("asgn", 32),
        ("audi", 32),
        ("beef", 33),
    ];
    let mut out = Vec::new();
    for blob in generated(ctx) {
        let mut rest = blob.trim_start_matches("0x");
        for (ty, len) in types {
            let (public, tail) = rest.split_at(2 * len);
            out.push((ty.to_string(), format!("0x{public}")));
            rest = tail;
        }
    }
    out
}

fn keys_list_by_file_name(ctx: &Ctx) {
    let keys = generated_keys(ctx);
    assert!(keys.len() >= 12, "two rotations before: {keys:?}");
    let t = Instant::now();
    let (code, out, err) = nodeherd(ctx, &["keys", "list", "nhsub-1/dot"]);
    println!("keys list took {:.2}s", t.elapsed().as_secs_f64());
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("SESSION KEY") && out.contains(KEYSTORE),
        "{out}"
    );
    // a long column is printed under its row when the table is wider than the terminal
    let shown: Vec<&str> = out.lines().collect();
    for (ty, public) in &keys {
        let at = shown.iter().position(|l| l.contains(public.as_str()));
        assert!(
            at.is_some_and(
                |i| shown[i].contains(ty.as_str()) || (i > 0 && shown[i - 1].contains(ty.as_str()))
            ),
            "{ty} {public} missing: {out}"
        );
    }
    let (code, json, err) = nodeherd(ctx, &["--json", "keys", "list", "nhsub-1/dot"]);
    assert_eq!(code, 0, "{json}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    let listed = v["session_keys"][0]["keys"].as_array().expect("keys");
    assert_eq!(listed.len(), keys.len(), "{json}");
    assert_eq!(
        v["session_keys"][0]["keystores"][0].as_str(),
        Some(KEYSTORE)
    );
    assert!(listed.iter().any(|k| k["name"] == "grandpa"), "{json}");
    // names only: not one seed of the files crossed
    let seeds = seeds(ctx);
    assert_eq!(seeds.len(), keys.len());
    for s in &seeds {
        for text in [&out, &json, &err] {
            assert!(!text.contains(s.as_str()), "a private seed was printed");
        }
    }
}

fn keys_list_flags_a_copy(ctx: &Ctx) {
    let (ty, public) = generated_keys(ctx).pop().expect("a key");
    let name = format!(
        "{}{}",
        ty.bytes().map(|b| format!("{b:02x}")).collect::<String>(),
        public.trim_start_matches("0x")
    );
    sh(
        &ctx.cfg,
        &format!("mkdir -p {OTHER} && cp {KEYSTORE}/{name} {OTHER}/"),
    );
    let (code, out, err) = nodeherd(ctx, &["keys", "list", "nhsub-1/dot*"]);
    let _ = labsuite::root_ssh(&ctx.cfg, 1, "rm -rf /var/lib/polkadot-b");
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "DOUBLE-SIGN RISK: session key {public} ({ty}) is on 2 nodes: nhsub-1/dot, nhsub-1/dot2"
        )),
        "{err}"
    );
    // without the copy: listed, no risk (an empty keystore is a warning, not a failure)
    sh(&ctx.cfg, &format!("mkdir -p {OTHER}"));
    let (code, out, err) = nodeherd(ctx, &["keys", "list", "nhsub-1/dot*"]);
    let _ = labsuite::root_ssh(&ctx.cfg, 1, "rm -rf /var/lib/polkadot-b");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!err.contains("DOUBLE-SIGN"), "{err}");
    assert!(err.contains("nhsub-1/dot2: no session keys"), "{err}");
}
