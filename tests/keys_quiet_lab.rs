//! Root-gated: moves that prove the key went quiet, failover with fencing and remote signers,
//! against a real Lodestar 1.5.1 dev chain in the "nhkeys" lab (10.238.0.0/24): host 1 runs
//! lodestar-vc (keymanager 5062) and the keyless lodestar-vc2 (5063); host 2 runs no Lodestar
//! (the source of a failover whose link is dropped). Interop keys 0..6 move from vc to a
//! validator client of their own, `lodestar-keeper` (`interop::KEEPER_SCRIPT`: the chain goes on
//! while vc is fenced), and interop key 7 (on chain, active since genesis) is imported into vc as
//! a keystore through the keymanager, so that it can really be moved.
//!
//! While a move or failover runs, a watcher lists both clients every ~2 s and records any moment
//! the key is on both. Run: `cargo test --test keys_quiet_lab` (as root); a name filter runs only
//! matching scenarios (the setup always runs). The scenarios live in `keys_quiet_lab/`: moves,
//! failover, remote keys, the inclusion proof, the lock-file refusal, a stopped chain.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nodeherd_lab::LabConfig;
use serde_json::Value;

#[path = "keys_quiet_lab/failover.rs"]
mod failover;
#[path = "keys_quiet_lab/inclusion.rs"]
mod inclusion;
#[path = "support/interop.rs"]
mod interop;
#[path = "support/labsuite.rs"]
mod labsuite;
#[path = "keys_quiet_lab/lock.rs"]
mod lock;
#[path = "keys_quiet_lab/moves.rs"]
mod moves;
#[path = "keys_quiet_lab/remote.rs"]
mod remote;
#[path = "keys_quiet_lab/stall.rs"]
mod stall;

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

    /// Where captured answers of the real clients go (`NODEHERD_CAPTURE_DIR`, else the suite's
    /// scratch directory, removed at the end).
    fn captured(&self) -> PathBuf {
        let d = std::env::var_os("NODEHERD_CAPTURE_DIR")
            .map_or_else(|| self.dir.join("captured"), PathBuf::from);
        std::fs::create_dir_all(&d).expect("capture dir");
        d
    }

    fn ssh(&self, command: &str) -> String {
        self.ssh_to(1, command)
    }

    fn ssh_to(&self, host: usize, command: &str) -> String {
        let o = labsuite::root_ssh(&self.cfg, host, command);
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

    /// The moved key's unfinished move: its state file and what it says.
    fn move_state(&self) -> (PathBuf, Value) {
        let file = self
            .state
            .join("nodeherd/moves")
            .join(format!("{}.json", self.pubkey));
        let st = serde_json::from_str(&std::fs::read_to_string(&file).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        (file, st)
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

    /// What the chain and the clients look like, printed when a wait for the key runs out: the
    /// beacon node's genesis and head, the liveness of key 7 and of key 0 (on the keeper) in the
    /// last epochs, the validator clients' keys and the ends of their journals.
    fn explain_not_live(&self) {
        let e = self.clock_epoch();
        let live_of = |index: u64, epoch: u64| {
            self.ssh(&format!(
                "curl -s 'http://127.0.0.1:9596/eth/v1/validator/liveness?indices={index}&epoch={epoch}'"
            ))
        };
        eprintln!("--- why key {MOVED} is not live: clock epoch {e}");
        eprintln!(
            "genesis: {}\nhead: {}",
            self.ssh("curl -s http://127.0.0.1:9596/eth/v1/beacon/genesis"),
            self.ssh("curl -s http://127.0.0.1:9596/eth/v1/beacon/headers/head | head -c 400")
        );
        for epoch in [e.saturating_sub(1), e] {
            eprintln!(
                "epoch {epoch}: key {MOVED} {} key 0 {}",
                live_of(MOVED, epoch),
                live_of(0, epoch)
            );
        }
        eprintln!(
            "{}",
            self.ssh(
                "for u in lodestar-bn lodestar-keeper lodestar-vc lodestar-vc2; do echo \"== $u: $(systemctl show -p ActiveState,ExecMainStartTimestamp,NRestarts $u | tr '\\n' ' ')\"; journalctl -u $u -n 25 --no-pager -o cat | cut -c1-300; done; ls /var/lib/lodestar-vc/keystores"
            )
        );
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

fn main() {
    let Some(mut suite) = labsuite::start("keys_quiet_lab", |dir| LabConfig {
        name: "nhkeys".into(),
        // host 2 runs no Lodestar: the source of the link-down failover
        hosts: 2,
        subnet: 238,
        lodestar: true,
        lodestar_hosts: 1,
        extra_vc: true,
        inventory_out: Some(dir.join("inventory.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let pubkey = interop::interop_pubkey(MOVED);
    let ctx = Ctx {
        cfg: suite.cfg.clone(),
        inventory: suite.dir.join("inventory.toml"),
        state: suite.dir.join("state"),
        keystore: suite.dir.join("interop-7.json"),
        password_file: suite.dir.join("password.txt"),
        dir: suite.dir.clone(),
        pubkey,
    };
    std::fs::write(&ctx.keystore, interop::interop_keystore(MOVED, PASSWORD))
        .expect("keystore file");
    std::fs::write(&ctx.password_file, format!("{PASSWORD}\n")).expect("password file");
    if !suite.always("setup_interop_7_as_an_imported_keystore_on_vc", || {
        setup(&ctx);
    }) {
        suite.finish();
    }
    suite.run("move_waits_for_quiet_epochs_from_the_chain", || {
        moves::move_waits_for_quiet_epochs(&ctx);
    });
    suite.run("move_killed_during_the_wait_resumes", || {
        moves::move_killed_during_the_wait_resumes(&ctx);
    });
    suite.run("failover_fences_a_reachable_source", || {
        failover::failover_fences_a_reachable_source(&ctx);
    });
    suite.run(
        "failover_refuses_an_unreachable_source_until_fenced",
        || {
            failover::failover_refuses_an_unreachable_source(&ctx);
        },
    );
    suite.run("remote_keys_import_list_guard_remove", || {
        remote::remote_keys(&ctx);
    });
    suite.run("failover_killed_during_the_wait_resumes", || {
        failover::failover_killed_during_the_wait_resumes(&ctx);
    });
    suite.run("real_inclusion_proof_agrees_with_liveness", || {
        inclusion::move_with_the_inclusion_proof(&ctx);
    });
    suite.run("real_link_down_refuses_failover", || {
        failover::failover_refused_with_the_source_link_down(&ctx);
    });
    suite.run("real_lock_file_refusal_explained", || {
        lock::import_refused_by_a_lock_file(&ctx);
    });
    // Last: the chain does not resume after it.
    suite.run("real_stopped_chain_proves_nothing", || {
        stall::a_stopped_chain_proves_nothing(&ctx);
    });
    suite.finish();
}

/// The keeper client takes interop keys 0..6 (the chain goes on while vc is fenced), vc runs
/// none; key 7 is imported into vc as a keystore and seen live on chain.
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
    let out = ctx.ssh(interop::KEEPER_SCRIPT);
    assert!(out.contains("keeper started"), "{out}");
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
    if !ctx.wait_live(400) {
        ctx.explain_not_live();
        panic!("validator {MOVED} never live after the import into vc");
    }
}
