//! `nodeherd failover` of a CometBFT validator on two real lab hosts (lab "nhcfail",
//! 10.245.0.0/24; real systemd, real sshd, the real `nodeherd` binary) running a RECORDED
//! STAND-IN of a Cosmos node and of CometBFT consensus, `cosmos-standin`
//! (tests/support/cosmos_standin.rs, compiled here with rustc; no real CometBFT installs here):
//! the two nodes share one stand-in chain (heights from a shared genesis time), the node whose
//! key is in the validator set signs each block as CometBFT's FilePV does (state file updated,
//! never at or below its last signed height) and gossips its signature to the other over the
//! lab network; `/commit?height=H` answers in CometBFT's shape with the signatures it has.
//!
//! Scenarios: bad arguments are refused with nothing changed; failover with both hosts
//! reachable ends with the key on TARGET only (0600, owned by the unit's user; SOURCE's copy
//! removed), TARGET signing, SOURCE fenced (its drop-in: a manual start runs nothing),
//! TARGET's last-sign state not below SOURCE's, the quiet proof read from the chain (3 blocks after the fence without the validator), no form of the
//! private key in any output; with SOURCE's link down (the fault matrix's silent partition) it is
//! refused naming the node and nothing changes on TARGET, then, SOURCE powered off (its
//! stand-in killed from the machine side), `--source-is-fenced --priv-validator-key F` works and
//! `keys list` flags the key still on the powered-off SOURCE.
//! Needs root: without it, says so and skips. Run: `cargo test --test cometbft_failover_lab`.

use nodeherd_lab::{LabConfig, naming};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "support/comet_key.rs"]
mod comet_key;
#[path = "support/labsuite.rs"]
mod labsuite;
use comet_key::{CometKey, comet_key};

const LAB: &str = "nhcfail";
const SUBNET: u8 = 245;
const HOME: &str = "/var/lib/gaia";
const BLOCK_MS: u64 = 500;

struct Ctx {
    cfg: LabConfig,
    inventory: PathBuf,
    dir: PathBuf,
    validator: CometKey,
}

fn main() {
    let Some(mut suite) = labsuite::start("cometbft_failover_lab", |dir| LabConfig {
        name: LAB.into(),
        hosts: 2,
        subnet: SUBNET,
        lodestar: false,
        lodestar_hosts: 0,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let dir = suite.dir.clone();
    let inventory = dir.join("cometbft.toml");
    let mut text = std::fs::read_to_string(&suite.report.inventory).expect("lab inventory");
    for i in 1..=2 {
        text.push_str(&format!(
            "\n[hosts.{LAB}-{i}.nodes.gaia]\nclient = \"cosmos\"\nunit = \"gaia.service\"\ninstall_dir = \"/opt/nodeherd/gaia\"\ndata_dir = \"{HOME}\"\nrpc_port = 26657\napi_port = 1317\n"
        ));
    }
    std::fs::write(&inventory, text).expect("inventory");
    let ctx = Ctx {
        cfg: suite.cfg.clone(),
        inventory,
        dir,
        validator: comet_key([41; 32]),
    };
    let ready = suite.always(
        "setup_a_validator_and_a_full_node_on_one_standin_chain",
        || {
            setup(&ctx);
        },
    );
    if ready {
        suite.run("bad_arguments_are_refused_with_nothing_changed", || {
            bad_arguments(&ctx);
        });
        suite.run(
            "reachable_source_fenced_quiet_proof_key_on_target_only_and_signing",
            || reachable_failover(&ctx),
        );
        suite.run(
            "link_down_source_refused_then_source_is_fenced_with_the_key_file_works",
            || link_down_failover(&ctx),
        );
    }
    for i in 1..=2 {
        let _ = std::process::Command::new("ip")
            .args(["link", "set", &naming::veth_name(LAB, i), "up"])
            .status();
        let _ = labsuite::root_ssh(
            &ctx.cfg,
            i,
            "systemctl unmask gaia.service; rm -f /etc/systemd/system/gaia.service.d/zz-nodeherd-fenced.conf; systemctl daemon-reload; systemctl stop gaia.service",
        );
    }
    suite.finish();
}

fn sh(cfg: &LabConfig, i: usize, cmd: &str) -> String {
    labsuite::root_sh(cfg, i, cmd)
}

fn unit(peer: usize) -> String {
    format!(
        "[Unit]\nDescription=cosmos-standin (a recorded stand-in of a Cosmos node)\n[Service]\nUser=gaia\nExecStart=/usr/local/bin/cosmos-standin --version v1 --home {HOME} --rpc 26657 --api 1317 --block-ms {BLOCK_MS} --p2p 26656 --peers {}:26656\nRestart=no\n[Install]\nWantedBy=multi-user.target\n",
        naming::host_address(SUBNET, peer)
    )
}

/// Give host `i` a key (`own` seed, or the validator's) and start it as a node of the chain.
fn node_with_key(ctx: &Ctx, i: usize, key: &CometKey) {
    labsuite::put_file(
        &ctx.cfg,
        i,
        &format!("{HOME}/config/priv_validator_key.json"),
        key.file().as_bytes(),
        "0600",
    );
    sh(
        &ctx.cfg,
        i,
        &format!(
            "chown -R gaia:gaia {HOME} && systemctl unmask gaia.service && rm -f /etc/systemd/system/gaia.service.d/zz-nodeherd-fenced.conf && systemctl daemon-reload && systemctl enable --now gaia.service && systemctl reset-failed gaia.service; systemctl start gaia.service"
        ),
    );
}

fn setup(ctx: &Ctx) {
    let standin = labsuite::build_standin(&ctx.dir, "cosmos_standin", "cosmos-standin");
    let genesis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("lab test step")
        .as_millis() as u64
        - 20 * BLOCK_MS;
    for i in 1..=2 {
        let _ = labsuite::root_ssh(
            &ctx.cfg,
            i,
            &format!(
                "systemctl stop gaia.service; systemctl unmask gaia.service; rm -rf {HOME}; id gaia >/dev/null 2>&1 || useradd --system --no-create-home gaia"
            ),
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
            "/etc/systemd/system/gaia.service",
            unit(3 - i).as_bytes(),
            "0644",
        );
        labsuite::put_file(
            &ctx.cfg,
            i,
            &format!("{HOME}/data/genesis_ms"),
            genesis.to_string().as_bytes(),
            "0644",
        );
        labsuite::put_file(
            &ctx.cfg,
            i,
            &format!("{HOME}/validator_set"),
            ctx.validator.address.as_bytes(),
            "0644",
        );
    }
    node_with_key(ctx, 1, &ctx.validator);
    node_with_key(ctx, 2, &comet_key([42; 32]));
    // The full node sees the validator's signatures (gossip over the lab network works).
    wait_height(ctx, 2, 25, Duration::from_secs(30));
    let t = Instant::now();
    loop {
        let h = status(ctx, 2).map_or(1, |s| s.height);
        if signed(ctx, 2, h.saturating_sub(1)) {
            break;
        }
        if t.elapsed() > Duration::from_secs(30) {
            let logs = sh(
                &ctx.cfg,
                1,
                "journalctl -u gaia.service -n 20 --no-pager; systemctl status gaia.service --no-pager || true",
            );
            panic!("host 2 never saw {} sign:\n{logs}", ctx.validator.address);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn rpc(ctx: &Ctx, i: usize, path: &str) -> String {
    let o = labsuite::root_ssh(
        &ctx.cfg,
        i,
        &format!("curl -s -m 2 'http://127.0.0.1:26657{path}'"),
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn status(ctx: &Ctx, i: usize) -> Option<nodeherd_core::cosmos::signing::NodeSelf> {
    nodeherd_core::cosmos::signing::parse_node_self(&rpc(ctx, i, "/status")).ok()
}

fn wait_height(ctx: &Ctx, i: usize, at_least: u64, limit: Duration) -> u64 {
    let t = Instant::now();
    loop {
        if let Some(s) = status(ctx, i) {
            if s.height >= at_least {
                return s.height;
            }
        }
        assert!(
            t.elapsed() < limit,
            "host {i} never reached height {at_least}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Whether host `i`'s chain shows the validator's signature in the commit of `h`.
fn signed(ctx: &Ctx, i: usize, h: u64) -> bool {
    nodeherd_core::cosmos::signing::parse_commit(&rpc(ctx, i, &format!("/commit?height={h}")))
        .is_ok_and(|c| c.signed_by(&ctx.validator.address))
}

fn nodeherd(ctx: &Ctx, args: &[&str]) -> (i32, String, String) {
    let r = labsuite::nodeherd(&ctx.inventory, &ctx.dir, args);
    for form in ctx.validator.secret_forms() {
        assert!(
            !r.1.contains(&form) && !r.2.contains(&form),
            "a form of the private key was printed"
        );
    }
    r
}

/// (sha256 of the key file, unit active state, state file) on host `i`.
fn node_files(ctx: &Ctx, i: usize) -> (String, String, String) {
    (
        sh(
            &ctx.cfg,
            i,
            &format!("sha256sum {HOME}/config/priv_validator_key.json | cut -c1-64"),
        ),
        sh(&ctx.cfg, i, "systemctl is-active gaia.service || true"),
        sh(
            &ctx.cfg,
            i,
            &format!("cat {HOME}/data/priv_validator_state.json 2>/dev/null || true"),
        ),
    )
}

fn last_signed(text: &str) -> u64 {
    nodeherd_engine::keys::consensus::parse_sign_state(text).map_or(0, |s| s.height)
}

fn bad_arguments(ctx: &Ctx) {
    let before = (node_files(ctx, 1).0, node_files(ctx, 2).0);
    let ks = ctx.dir.join("ks.json");
    std::fs::write(&ks, "{}").expect("lab test step");
    let bad = ctx.dir.join("bad_key.json");
    std::fs::write(
        &bad,
        ctx.validator
            .file()
            .replace(&ctx.validator.address, &"A".repeat(40)),
    )
    .expect("lab test step");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--keystore".into(), ks.display().to_string()],
            "for validator clients",
        ),
        (vec!["--quiet-blocks".into(), "0".into()], "at least 1"),
        (
            vec!["--priv-validator-key".into(), bad.display().to_string()],
            "address is not its pub_key",
        ),
    ];
    for (extra, says) in cases {
        let mut args = vec![
            "failover",
            "nhcfail-1/gaia",
            "--to",
            "nhcfail-2/gaia",
            "--yes",
        ];
        args.extend(extra.iter().map(String::as_str));
        let (code, _, err) = nodeherd(ctx, &args);
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    // Without a terminal and without --yes: refused.
    let (code, _, err) = nodeherd(
        ctx,
        &["failover", "nhcfail-1/gaia", "--to", "nhcfail-2/gaia"],
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!((node_files(ctx, 1).0, node_files(ctx, 2).0), before);
}

fn keys_list(ctx: &Ctx) -> (i32, serde_json::Value) {
    let (code, out, err) = nodeherd(ctx, &["keys", "list", "--json"]);
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}")),
    )
}

fn holders_of(list: &serde_json::Value, address: &str) -> Vec<String> {
    list["consensus_keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["address"] == address)
        .map(|k| k["node"].as_str().unwrap_or("").to_string())
        .collect()
}

fn reachable_failover(ctx: &Ctx) {
    let v = &ctx.validator.address;
    let t = Instant::now();
    let (code, out, err) = nodeherd(
        ctx,
        &[
            "failover",
            "nhcfail-1/gaia",
            "--to",
            "nhcfail-2/gaia",
            "--yes",
            "--json",
        ],
    );
    println!("  failover took {:.1}s", t.elapsed().as_secs_f64());
    assert_eq!(code, 0, "{out}\n{err}");
    let r: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(r["ok"], true, "{out}");
    assert_eq!(r["address"], v.as_str());
    let fence = r["fence_height"].as_u64().expect("fence height");
    let quiet: Vec<u64> = r["quiet_heights"]
        .as_array()
        .expect("lab test step")
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    assert_eq!(quiet, vec![fence + 1, fence + 2, fence + 3], "{out}");
    for h in &quiet {
        assert!(
            !signed(ctx, 2, *h),
            "block {h} of the quiet proof is signed"
        );
    }
    let signed_at = r["signed_at"].as_u64().expect("signed_at");
    assert!(signed(ctx, 2, signed_at));
    assert!(
        err.contains("quiet proof: block"),
        "progress on stderr: {err}"
    );
    // SOURCE: masked, stopped, cannot start.
    // The unit file is in /etc/systemd/system (cannot be masked): the fence's drop-in holds it.
    let fenced = sh(
        &ctx.cfg,
        1,
        "systemctl is-enabled gaia.service; systemctl show -p DropInPaths --value gaia.service",
    );
    assert!(
        fenced.contains("masked") || fenced.contains("zz-nodeherd-fenced.conf"),
        "{fenced}"
    );
    assert_eq!(
        sh(&ctx.cfg, 1, "systemctl is-active gaia.service || true"),
        "inactive"
    );
    // A manual start does not run it (the drop-in's condition never holds).
    let _ = labsuite::root_ssh(&ctx.cfg, 1, "systemctl start gaia.service");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        sh(
            &ctx.cfg,
            1,
            "systemctl is-active gaia.service; pgrep -x cosmos-standin || echo no-process"
        ),
        "inactive\nno-process"
    );
    // TARGET: the key, 0600, owned by the unit's user; its state not below SOURCE's.
    assert_eq!(
        sh(
            &ctx.cfg,
            2,
            &format!("stat -c '%a %U' {HOME}/config/priv_validator_key.json")
        ),
        "600 gaia"
    );
    let src = last_signed(&node_files(ctx, 1).2);
    let written = r["state_written"]["height"]
        .as_u64()
        .expect("state written");
    assert_eq!(
        written, src,
        "the source's last-sign state is what was written"
    );
    assert!(last_signed(&node_files(ctx, 2).2) >= src);
    assert_eq!(status(ctx, 2).map(|s| s.address), Some(v.clone()));
    // The key is on TARGET only, as keys list computes: SOURCE's copy was removed (keys list
    // reports its missing file, exit 1, and no double-sign risk).
    let (code, list) = keys_list(ctx);
    assert_eq!(holders_of(&list, v), vec!["nhcfail-2/gaia".to_string()]);
    assert_eq!(list["double_sign_risks"], serde_json::json!([]), "{list}");
    let errors = list["errors"].as_array().expect("errors");
    assert!(
        code == 1
            && errors.len() == 1
            && errors[0]["node"] == "nhcfail-1/gaia"
            && errors[0]["error"]
                .as_str()
                .is_some_and(|e| e.contains("No such file")),
        "{list}"
    );
    // It goes on signing from there.
    let h = wait_height(ctx, 2, signed_at + 3, Duration::from_secs(20));
    assert!(signed(ctx, 2, h - 1));
}

fn standin_pids_of(i: usize) -> Vec<i32> {
    // Host i's stand-in is the one whose peer is the other host.
    let peer = format!("--peers {}:26656", naming::host_address(SUBNET, 3 - i));
    std::fs::read_dir("/proc")
        .expect("lab test step")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .is_ok_and(|c| c.starts_with("/usr/local/bin/cosmos-standin") && c.contains(&peer))
        })
        .collect()
}

fn link(i: usize, up: bool) {
    let st = std::process::Command::new("ip")
        .args([
            "link",
            "set",
            &naming::veth_name(LAB, i),
            if up { "up" } else { "down" },
        ])
        .status()
        .expect("ip");
    assert!(st.success());
}

fn link_down_failover(ctx: &Ctx) {
    let v = &ctx.validator.address;
    // Host 1 back as a full node with a key of its own (its old unit unmasked by hand).
    node_with_key(ctx, 1, &comet_key([43; 32]));
    wait_height(
        ctx,
        1,
        status(ctx, 2).map_or(0, |s| s.height),
        Duration::from_secs(20),
    );
    // The operator's copies, taken while host 2 still answered.
    let key_copy = ctx.dir.join("pvk-copy.json");
    std::fs::write(&key_copy, ctx.validator.file()).expect("lab test step");
    let state_copy = ctx.dir.join("pvs-copy.json");
    std::fs::write(&state_copy, node_files(ctx, 2).2).expect("lab test step");
    let before = node_files(ctx, 1);
    link(2, false);
    let t = Instant::now();
    let (code, out, err) = nodeherd(
        ctx,
        &[
            "failover",
            "nhcfail-2/gaia",
            "--to",
            "nhcfail-1/gaia",
            "--yes",
        ],
    );
    println!("  refused in {:.1}s", t.elapsed().as_secs_f64());
    let refused = code == 1
        && err.contains("nhcfail-2/gaia")
        && err.contains("cannot be reached")
        && err.contains("NOT assumed dead")
        && err.contains("--source-is-fenced");
    let unchanged = node_files(ctx, 1) == before;
    // Power SOURCE off: its stand-in killed from the machine side (its link is down).
    let pids = standin_pids_of(2);
    for pid in &pids {
        // SAFETY: kill(2) on a process this suite started on its own lab host.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    let (code2, out2, err2) = nodeherd(
        ctx,
        &[
            "failover",
            "nhcfail-2/gaia",
            "--to",
            "nhcfail-1/gaia",
            "--yes",
            "--json",
            "--source-is-fenced",
            "--priv-validator-key",
            key_copy.to_str().expect("lab test step"),
            "--priv-validator-state",
            state_copy.to_str().expect("lab test step"),
        ],
    );
    link(2, true);
    assert!(refused, "exit {code}\n{out}\n{err}");
    assert!(unchanged, "host 1 changed by a refused failover");
    assert_eq!(pids.len(), 1, "host 2's stand-in: {pids:?}");
    assert_eq!(code2, 0, "{out2}\n{err2}");
    let r: serde_json::Value = serde_json::from_str(&out2).expect("json");
    assert!(
        r["signed_at"].as_u64().is_some_and(|h| signed(ctx, 1, h)),
        "{out2}"
    );
    assert_eq!(status(ctx, 1).map(|s| s.address), Some(v.clone()));
    assert_eq!(
        r["state_written"]["height"].as_u64(),
        Some(last_signed(
            &std::fs::read_to_string(&state_copy).expect("lab test step")
        ))
    );
    // Host 2 was not touched (powered off by the operator): its key file is still there, and
    // keys list says so once it answers again.
    let t = Instant::now();
    while labsuite::root_ssh(&ctx.cfg, 2, "true").status.code() != Some(0) {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "host 2 unreachable after link up"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let (code, list) = keys_list(ctx);
    assert_eq!(code, 1, "{list}");
    let mut holders = holders_of(&list, v);
    holders.sort();
    assert_eq!(
        holders,
        vec!["nhcfail-1/gaia".to_string(), "nhcfail-2/gaia".to_string()]
    );
}
