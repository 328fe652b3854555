//! Root-gated: moves that prove the key went quiet, failover with fencing and remote signers,
//! against a real Lodestar 1.5.1 dev chain in the "nhkeys" lab (10.238.0.0/24, one host):
//! lodestar-vc (keymanager 5062) and the keyless lodestar-vc2 (5063). The lab's vc is changed to
//! run interop keys 0..6 only, and interop key 7 (on chain, active since genesis) is imported
//! into it as a keystore through the keymanager, so that it can really be moved.
//!
//! While a move or failover runs, a watcher lists both clients every ~2 s and records any moment
//! the key is on both. Run: `cargo test --test keys_quiet_lab` (as root); a name filter runs only
//! matching scenarios (the setup always runs).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nodeherd_core::keys::bls::SecretKey;
use nodeherd_core::keys::keystore::{KdfParams, Keystore};
use nodeherd_lab::LabConfig;
use serde_json::Value;

#[path = "support/labsuite.rs"]
mod labsuite;

const VC: &str = "nhkeys-1/lodestar-vc";
const VC2: &str = "nhkeys-1/lodestar-vc2";
const PASSWORD: &str = "lab-test-password-1";
/// The interop validator moved around: on chain from genesis.
const MOVED: u64 = 7;

struct Ctx {
    cfg: LabConfig,
    dir: PathBuf,
    inventory: PathBuf,
    state: PathBuf,
    keystore: PathBuf,
    password_file: PathBuf,
    pubkey: String,
}

impl Ctx {
    fn cmd(&self, inventory: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nodeherd"));
        c.arg("-i")
            .arg(inventory)
            .args(args)
            .env("XDG_STATE_HOME", &self.state)
            .env_remove("NODEHERD_LOG");
        c
    }

    fn nodeherd(&self, args: &[&str]) -> (i32, String, String) {
        self.nodeherd_with(&self.inventory, args)
    }

    fn nodeherd_with(&self, inventory: &Path, args: &[&str]) -> (i32, String, String) {
        let out = self
            .cmd(inventory, args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run nodeherd: {e}"));
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        eprintln!("$ nodeherd {}\n{o}{e}", args.join(" "));
        (out.status.code().unwrap_or(-1), o, e)
    }

    fn ssh(&self, command: &str) -> String {
        let o = labsuite::root_ssh(&self.cfg, 1, command);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Which of the two clients list the moved key (`None`: a listing failed).
    fn holders(&self) -> Option<(bool, bool)> {
        let (code, out, _) = self.nodeherd(&["--json", "keys", "list", "nhkeys-1"]);
        if code != 0 {
            return None;
        }
        let v: Value = serde_json::from_str(&out).ok()?;
        let on = |node: &str| {
            v["keys"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|k| k["node"] == node && k["pubkey"] == self.pubkey.as_str())
            })
        };
        Some((on(VC), on(VC2)))
    }

    /// The liveness of the moved validator in `epoch`, asked of the beacon node directly.
    fn live_in(&self, epoch: u64) -> Option<bool> {
        let out = self.ssh(&format!(
            "curl -s 'http://127.0.0.1:9596/eth/v1/validator/liveness?indices={MOVED}&epoch={epoch}'"
        ));
        let v: Value = serde_json::from_str(&out).ok()?;
        v["data"][0]["is_live"].as_bool()
    }

    fn clock_epoch(&self) -> u64 {
        let g: Value =
            serde_json::from_str(&self.ssh("curl -s http://127.0.0.1:9596/eth/v1/beacon/genesis"))
                .unwrap_or_default();
        let s: Value =
            serde_json::from_str(&self.ssh("curl -s http://127.0.0.1:9596/eth/v1/config/spec"))
                .unwrap_or_default();
        let n = |v: &Value| v.as_str().and_then(|x| x.parse::<u64>().ok()).unwrap_or(1);
        let genesis = n(&g["data"]["genesis_time"]);
        let epoch = n(&s["data"]["SECONDS_PER_SLOT"]) * n(&s["data"]["SLOTS_PER_EPOCH"]);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        now.saturating_sub(genesis) / epoch
    }

    /// Wait until the moved key is seen live (signing from wherever it is), at most `secs`.
    fn wait_live(&self, secs: u64) -> bool {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            let e = self.clock_epoch();
            if self.live_in(e) == Some(true) || (e > 0 && self.live_in(e - 1) == Some(true)) {
                return true;
            }
            std::thread::sleep(Duration::from_secs(4));
        }
        false
    }
}

/// Lists both clients every ~2 s until stopped; records every listing where both had the key.
struct Watcher {
    stop: Arc<AtomicBool>,
    both: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<Vec<(bool, bool)>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(ctx: &Ctx) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let both = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, b, v) = (stop.clone(), both.clone(), seen.clone());
        let (inventory, state, pubkey) =
            (ctx.inventory.clone(), ctx.state.clone(), ctx.pubkey.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let out = Command::new(env!("CARGO_BIN_EXE_nodeherd"))
                    .arg("-i")
                    .arg(&inventory)
                    .args(["--json", "keys", "list", "nhkeys-1"])
                    .env("XDG_STATE_HOME", &state)
                    .output();
                if let Ok(o) = out {
                    if let Ok(j) = serde_json::from_slice::<Value>(&o.stdout) {
                        let on = |node: &str| {
                            j["keys"].as_array().is_some_and(|a| {
                                a.iter()
                                    .any(|k| k["node"] == node && k["pubkey"] == pubkey.as_str())
                            })
                        };
                        let pair = (on(VC), on(VC2));
                        if pair == (true, true) {
                            b.lock()
                                .expect("watcher")
                                .push(chrono::Utc::now().to_rfc3339());
                        }
                        v.lock().expect("watcher").push(pair);
                    }
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        });
        Watcher {
            stop,
            both,
            seen,
            handle: Some(handle),
        }
    }

    /// Stop; the times both clients had the key, and how many listings were made.
    fn finish(mut self) -> (Vec<String>, usize) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let both = self.both.lock().expect("watcher").clone();
        let n = self.seen.lock().expect("watcher").len();
        (both, n)
    }
}

/// The interop secret key i: sha256(i as 32 bytes LE), read little-endian, mod r (via blst).
fn interop_secret(i: u64) -> SecretKey {
    use sha2::Digest;
    let mut le = [0u8; 32];
    le[..8].copy_from_slice(&i.to_le_bytes());
    let h = sha2::Sha256::digest(le);
    let mut scalar = blst::blst_scalar::default();
    let mut be = [0u8; 32];
    // SAFETY: valid pointers to fixed-size buffers of the sizes passed.
    unsafe {
        blst::blst_scalar_from_le_bytes(&raw mut scalar, h.as_ptr(), 32);
        blst::blst_bendian_from_scalar(be.as_mut_ptr(), &raw const scalar);
    }
    SecretKey::from_bytes(&be).unwrap_or_else(|e| panic!("interop key {i}: {e}"))
}

fn main() {
    let Some(mut suite) = labsuite::start("keys_quiet_lab", |dir| LabConfig {
        name: "nhkeys".into(),
        hosts: 1,
        subnet: 238,
        lodestar: true,
        lodestar_hosts: 1,
        extra_vc: true,
        inventory_out: Some(dir.join("inventory.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let sk = interop_secret(MOVED);
    let pubkey = format!("0x{}", sk.public_key().to_hex().trim_start_matches("0x"));
    let ctx = Ctx {
        cfg: suite.cfg.clone(),
        inventory: suite.dir.join("inventory.toml"),
        state: suite.dir.join("state"),
        keystore: suite.dir.join("interop-7.json"),
        password_file: suite.dir.join("password.txt"),
        dir: suite.dir.clone(),
        pubkey,
    };
    let ks = Keystore::encrypt(
        &sk,
        PASSWORD,
        &"m/12381/3600/7/0/0".parse().expect("path"),
        &KdfParams::insecure_scrypt_for_tests(1024),
        "",
    )
    .and_then(|k| k.to_json())
    .expect("keystore");
    std::fs::write(&ctx.keystore, ks).expect("keystore file");
    std::fs::write(&ctx.password_file, format!("{PASSWORD}\n")).expect("password file");
    if !suite.always("setup_interop_7_as_an_imported_keystore_on_vc", || {
        setup(&ctx);
    }) {
        suite.finish();
    }
    suite.run("move_waits_for_quiet_epochs_from_the_chain", || {
        move_waits_for_quiet_epochs(&ctx);
    });
    suite.run("move_killed_during_the_wait_resumes", || {
        move_killed_during_the_wait_resumes(&ctx);
    });
    suite.run("failover_fences_a_reachable_source", || {
        failover_fences_a_reachable_source(&ctx);
    });
    suite.run(
        "failover_refuses_an_unreachable_source_until_fenced",
        || {
            failover_refuses_an_unreachable_source(&ctx);
        },
    );
    suite.run("remote_keys_import_list_guard_remove", || {
        remote_keys(&ctx);
    });
    suite.run("failover_killed_during_the_wait_resumes", || {
        failover_killed_during_the_wait_resumes(&ctx);
    });
    let _ = &ctx.dir;
    suite.finish();
}

/// vc runs interop keys 0..6; key 7 is imported into it as a keystore and seen live on chain.
fn setup(ctx: &Ctx) {
    // The validator clients' data directories, for the failover's open-files check.
    let inv = std::fs::read_to_string(&ctx.inventory).expect("inventory");
    let inv = inv
        .replace(
            "[hosts.nhkeys-1.nodes.lodestar-vc]\n",
            "[hosts.nhkeys-1.nodes.lodestar-vc]\ndata_dir = \"/var/lib/lodestar-vc\"\n",
        )
        .replace(
            "[hosts.nhkeys-1.nodes.lodestar-vc2]\n",
            "[hosts.nhkeys-1.nodes.lodestar-vc2]\ndata_dir = \"/var/lib/lodestar-vc2\"\n",
        );
    assert_eq!(
        inv.matches("data_dir = \"/var/lib/lodestar-vc").count(),
        2,
        "{inv}"
    );
    std::fs::write(&ctx.inventory, inv).expect("inventory");
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(180) && ctx.holders().is_none() {
        std::thread::sleep(Duration::from_secs(3));
    }
    let unit = ctx.ssh("systemctl show -p FragmentPath --value lodestar-vc");
    let out = ctx.ssh(&format!(
        "sed -i 's/--interopIndexes 0..7 /--interopIndexes 0..6 /' {} && systemctl daemon-reload && systemctl restart lodestar-vc && echo done",
        unit.trim()
    ));
    assert!(out.contains("done"), "{out}");
    let t = Instant::now();
    loop {
        if ctx.holders() == Some((false, false)) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "vc did not come back without key 7"
        );
        std::thread::sleep(Duration::from_secs(3));
    }
    let ks = ctx.keystore.to_string_lossy().into_owned();
    let pw = ctx.password_file.to_string_lossy().into_owned();
    let (code, _, err) =
        ctx.nodeherd(&["keys", "import", VC, &ks, "--password-file", &pw, "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ctx.holders(), Some((true, false)));
    assert!(
        ctx.wait_live(200),
        "validator {MOVED} never live after the import into vc"
    );
}

fn move_args<'a>(
    ctx: &'a Ctx,
    from: &'a str,
    to: &'a str,
    ks: &'a str,
    pw: &'a str,
) -> Vec<&'a str> {
    vec![
        "--json",
        "keys",
        "move",
        &ctx.pubkey,
        "--from",
        from,
        "--to",
        to,
        "--keystore",
        ks,
        "--password-file",
        pw,
        "--yes",
    ]
}

/// The report's liveness answers must prove `needed` quiet epochs after the removal.
fn assert_quiet_proof(report: &Value, needed: u64) {
    let quiet = &report["quiet"];
    let removed = quiet["removed_epoch"].as_u64().expect("removed_epoch");
    let run: Vec<u64> = quiet["run"]
        .as_array()
        .expect("run")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(run.len() as u64, needed, "{quiet}");
    assert!(run[0] > removed, "{quiet}");
    assert!(
        run.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive: {quiet}"
    );
    let answers = report["liveness"].as_array().expect("liveness answers");
    for e in &run {
        assert!(
            answers.iter().any(|a| a["epoch"] == *e
                && a["live"] == false
                && a["index"] == MOVED
                && a["request"]
                    .as_str()
                    .is_some_and(|r| r.contains("liveness"))),
            "epoch {e} not answered quiet by the chain: {answers:?}"
        );
    }
}

fn move_waits_for_quiet_epochs(ctx: &Ctx) {
    let (ks, pw) = (
        ctx.keystore.to_string_lossy().into_owned(),
        ctx.password_file.to_string_lossy().into_owned(),
    );
    let w = Watcher::start(ctx);
    let t = Instant::now();
    let (code, out, err) = ctx.nodeherd(&move_args(ctx, VC, VC2, &ks, &pw));
    let took = t.elapsed();
    let (both, listings) = w.finish();
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["resumed"], false);
    assert_quiet_proof(&report, 2);
    assert!(
        err.contains("quiet wait: epoch") && err.contains("(2 of 2 quiet epochs)"),
        "progress on stderr: {err}"
    );
    assert!(both.is_empty(), "on both clients at {both:?}");
    assert!(listings >= 5, "the watcher listed {listings} times");
    assert_eq!(ctx.holders(), Some((false, true)), "on vc2 only");
    // The doppelganger check names the unit's flag (the lab's vc2 runs without it).
    let steps = report["steps"].to_string();
    assert!(steps.contains("--doppelgangerProtection"), "{steps}");
    eprintln!("move with 2 quiet epochs took {took:.1?}");
    assert!(ctx.wait_live(200), "the key signs from vc2 after the move");
}

fn move_killed_during_the_wait_resumes(ctx: &Ctx) {
    let (ks, pw) = (
        ctx.keystore.to_string_lossy().into_owned(),
        ctx.password_file.to_string_lossy().into_owned(),
    );
    let w = Watcher::start(ctx);
    let mut child = ctx
        .cmd(&ctx.inventory, &move_args(ctx, VC2, VC, &ks, &pw))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn move");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap_or_default();
        seen.push(line.clone());
        if line.contains("quiet wait: epoch") {
            break;
        }
    }
    // SIGKILL during the wait: no cleanup of any kind runs.
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(i32::try_from(child.id()).unwrap_or(0), libc::SIGKILL);
    }
    let _ = child.wait();
    assert!(
        seen.iter().any(|l| l.contains("quiet wait")),
        "the move never reached its wait: {seen:?}"
    );
    assert_eq!(
        ctx.holders(),
        Some((false, false)),
        "killed in the wait: on neither client"
    );
    let state_file = ctx
        .state
        .join("nodeherd/moves")
        .join(format!("{}.json", ctx.pubkey));
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{}: {e}", state_file.display()));
    assert_eq!(st["phase"], "waiting", "{st}");
    // A different move of the same key is refused while this one is unfinished.
    let (code, _, err) = ctx.nodeherd(&move_args(ctx, VC, VC2, &ks, &pw));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("finish that move first"), "{err}");
    // The rerun continues and completes.
    let (code, out, err) = ctx.nodeherd(&move_args(ctx, VC2, VC, &ks, &pw));
    let (both, _) = w.finish();
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["resumed"], true, "{report}");
    assert_quiet_proof(&report, 2);
    assert!(both.is_empty(), "on both clients at {both:?}");
    assert_eq!(ctx.holders(), Some((true, false)), "on vc only");
    assert!(!state_file.exists(), "the state file is closed");
}

fn failover_args<'a>(from: &'a str, to: &'a str, ks: &'a str, pw: &'a str) -> Vec<&'a str> {
    vec![
        "--json",
        "failover",
        from,
        "--to",
        to,
        "--keystore",
        ks,
        "--password-file",
        pw,
        "--yes",
    ]
}

/// vc holds key 7 (after the moves). Failover to vc2 fences vc: the key out through its
/// keymanager with the slashing data saved, the unit stopped, disabled and masked, no process
/// holding /var/lib/lodestar-vc; then the quiet proof from the chain, then the import into vc2.
fn failover_fences_a_reachable_source(ctx: &Ctx) {
    assert_eq!(ctx.holders(), Some((true, false)), "key 7 starts on vc");
    let (ks, pw) = (
        ctx.keystore.to_string_lossy().into_owned(),
        ctx.password_file.to_string_lossy().into_owned(),
    );
    let w = Watcher::start(ctx);
    let (code, out, err) = ctx.nodeherd(&failover_args(VC, VC2, &ks, &pw));
    let (both, _) = w.finish();
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_quiet_proof(&report, 2);
    let steps = report["steps"].to_string();
    assert!(steps.contains("slashing data saved to"), "{steps}");
    // The lab's unit file lives in /etc/systemd/system, where systemd cannot mask it: the
    // fence is then the drop-in whose condition never holds.
    assert!(
        steps.contains("active=inactive") && steps.contains("pid=0"),
        "{steps}"
    );
    assert!(
        steps.contains("enabled=masked") || steps.contains("dropin=loaded"),
        "{steps}"
    );
    assert!(
        steps.contains("no process holds files under /var/lib/lodestar-vc"),
        "{steps}"
    );
    assert!(both.is_empty(), "on both clients at {both:?}");
    // Fenced for good: even a start by hand does not run it.
    let state = ctx.ssh("systemctl start lodestar-vc; sleep 2; systemctl is-active lodestar-vc");
    assert!(state.trim() == "inactive", "{state}");
    let file = report["slashing_file"].as_str().expect("slashing file");
    let saved = std::fs::read_to_string(file).expect("saved slashing data");
    assert!(saved.contains(&ctx.pubkey[2..]), "{saved}");
    // Only vc2 can be asked now (vc is fenced): it has the key.
    let (_, out, _) = ctx.nodeherd(&["--json", "keys", "list", VC2]);
    assert!(out.contains(&ctx.pubkey), "{out}");
    // Bring vc back for the next scenario (interop keys 0..6, no key 7).
    let back = ctx.ssh(
        "rm -f /etc/systemd/system/lodestar-vc.service.d/zz-nodeherd-fenced.conf; systemctl unmask lodestar-vc; systemctl daemon-reload; systemctl enable lodestar-vc; systemctl start lodestar-vc && echo started",
    );
    assert!(back.contains("started"), "{back}");
    let t = Instant::now();
    while ctx.holders() != Some((false, true)) {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "vc did not come back"
        );
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// The source on a host nothing answers on: refused, naming the node and the reason, nothing
/// imported; with --source-is-fenced the key (never deposited: no wait) goes to vc.
fn failover_refuses_an_unreachable_source(ctx: &Ctx) {
    let sk = interop_secret(1000);
    let pk = format!("0x{}", sk.public_key().to_hex().trim_start_matches("0x"));
    let ks = Keystore::encrypt(
        &sk,
        PASSWORD,
        &"m/12381/3600/1000/0/0".parse().expect("path"),
        &KdfParams::insecure_scrypt_for_tests(1024),
        "",
    )
    .and_then(|k| k.to_json())
    .expect("keystore");
    let ks_path = ctx.dir.join("fresh.json");
    std::fs::write(&ks_path, ks).expect("keystore file");
    let mut inv = std::fs::read_to_string(&ctx.inventory).expect("inventory");
    inv.push_str(
        "\n[hosts.nhkeys-ghost]\naddress = \"10.238.0.99\"\n\n[hosts.nhkeys-ghost.nodes.lodestar-vc]\nclient = \"lodestar\"\nrole = \"validator\"\nunit = \"lodestar-vc.service\"\nkeymanager_port = 5062\nkeymanager_token_file = \"/var/lib/lodestar-vc/validator-db/api-token.txt\"\n",
    );
    let ghost_inv = ctx.dir.join("ghost.toml");
    std::fs::write(&ghost_inv, inv).expect("inventory");
    let (ks, pw) = (
        ks_path.to_string_lossy().into_owned(),
        ctx.password_file.to_string_lossy().into_owned(),
    );
    let ghost = "nhkeys-ghost/lodestar-vc";
    let args = failover_args(ghost, VC, &ks, &pw);
    let (code, out, err) = ctx.nodeherd_with(&ghost_inv, &args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(ghost)
            && err.contains("cannot be reached")
            && err.contains("NOT assumed dead")
            && err.contains("--source-is-fenced"),
        "{err}"
    );
    let (_, list, _) = ctx.nodeherd(&["--json", "keys", "list", VC]);
    assert!(!list.contains(&pk), "nothing imported: {list}");
    let mut fenced = args.clone();
    fenced.push("--source-is-fenced");
    let (code, out, err) = ctx.nodeherd_with(&ghost_inv, &fenced);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("--source-is-fenced: taken as powered off"),
        "{out}"
    );
    let (_, list, _) = ctx.nodeherd(&["--json", "keys", "list", VC]);
    assert!(list.contains(&pk), "imported into vc: {list}");
}

/// A remote-signer key on vc2 (the URL answers nothing: Lodestar lists it anyway); the guard
/// refuses it for vc as a remote key and as a local keystore; removal takes it off.
fn remote_keys(ctx: &Ctx) {
    let sk = interop_secret(2000);
    let pk = format!("0x{}", sk.public_key().to_hex().trim_start_matches("0x"));
    let url = "http://10.238.0.1:9000";
    let (code, out, err) = ctx.nodeherd(&["keys", "import", VC2, "--remote", url, &pk, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported"), "{out}");
    let (_, list, _) = ctx.nodeherd(&["--json", "keys", "list", VC2]);
    let v: Value = serde_json::from_str(&list).unwrap_or_else(|e| panic!("{e}: {list}"));
    let row = v["keys"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|k| k["pubkey"] == pk.as_str() && k["remote"] == true)
                .cloned()
        })
        .unwrap_or_else(|| panic!("remote key not listed as remote: {list}"));
    assert_eq!(row["node"], VC2, "{row}");
    let (_, table, _) = ctx.nodeherd(&["keys", "list", VC2]);
    assert!(table.contains("remote"), "{table}");
    // Remote on vc2: refused for vc as a remote key ...
    let (code, _, err) = ctx.nodeherd(&["keys", "import", VC, "--remote", url, &pk, "--yes"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("DOUBLE-SIGN GUARD") && err.contains(VC2),
        "{err}"
    );
    // ... and as a local keystore.
    let ks = Keystore::encrypt(
        &sk,
        PASSWORD,
        &"m/12381/3600/2000/0/0".parse().expect("path"),
        &KdfParams::insecure_scrypt_for_tests(1024),
        "",
    )
    .and_then(|k| k.to_json())
    .expect("keystore");
    let ks_path = ctx.dir.join("remote-local.json");
    std::fs::write(&ks_path, ks).expect("keystore file");
    let pw = ctx.password_file.to_string_lossy().into_owned();
    let (code, _, err) = ctx.nodeherd(&[
        "keys",
        "import",
        VC,
        &ks_path.to_string_lossy(),
        "--password-file",
        &pw,
        "--yes",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(VC2), "{err}");
    let (code, out, err) = ctx.nodeherd(&["keys", "remove", VC2, "--remote", &pk, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("deleted"), "{out}");
    let (_, list, _) = ctx.nodeherd(&["--json", "keys", "list", VC2]);
    assert!(!list.contains(&pk), "{list}");
}

/// Key 7 is on vc2 (after the first failover). A failover vc2 -> vc killed with SIGKILL during
/// its wait leaves the key on neither client (vc2 fenced, vc not yet importing); the rerun
/// completes with the fence's slashing data; the key is on vc only.
fn failover_killed_during_the_wait_resumes(ctx: &Ctx) {
    assert_eq!(ctx.holders(), Some((false, true)), "key 7 starts on vc2");
    let (ks, pw) = (
        ctx.keystore.to_string_lossy().into_owned(),
        ctx.password_file.to_string_lossy().into_owned(),
    );
    let w = Watcher::start(ctx);
    let mut child = ctx
        .cmd(&ctx.inventory, &failover_args(VC2, VC, &ks, &pw))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn failover");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap_or_default();
        seen.push(line.clone());
        if line.contains("quiet wait: epoch") {
            break;
        }
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(i32::try_from(child.id()).unwrap_or(0), libc::SIGKILL);
    }
    let _ = child.wait();
    assert!(seen.iter().any(|l| l.contains("quiet wait")), "{seen:?}");
    // vc2 is fenced (its keymanager no longer answers): only vc can be listed.
    let (_, list, _) = ctx.nodeherd(&["--json", "keys", "list", VC]);
    assert!(
        !list.contains(&ctx.pubkey),
        "not on vc during the wait: {list}"
    );
    let vc2 = ctx.ssh("systemctl is-active lodestar-vc2");
    assert_eq!(vc2.trim(), "inactive", "vc2 fenced");
    let (code, out, err) = ctx.nodeherd(&failover_args(VC2, VC, &ks, &pw));
    let (both, _) = w.finish();
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["resumed"], true, "{report}");
    assert_quiet_proof(&report, 2);
    assert!(
        report["steps"]
            .to_string()
            .contains("slashing data read back from"),
        "{report}"
    );
    assert!(both.is_empty(), "on both clients at {both:?}");
    let (_, list, _) = ctx.nodeherd(&["--json", "keys", "list", VC]);
    assert!(list.contains(&ctx.pubkey), "on vc: {list}");
    let back = ctx.ssh(
        "rm -f /etc/systemd/system/lodestar-vc2.service.d/zz-nodeherd-fenced.conf; systemctl unmask lodestar-vc2; systemctl daemon-reload; systemctl enable lodestar-vc2; systemctl start lodestar-vc2 && echo started",
    );
    assert!(back.contains("started"), "{back}");
}
