//! The quiet cases (issue #14): `keys move --quiet-epochs 1` and `nodeherd failover
//! --quiet-epochs 1` of interop key 7 (on chain from genesis, so the wait really asks the chain)
//! from host 1's `lodestar-vc` to `lodestar-vc2`, the console SIGKILLed when the step's progress
//! line appears on its stderr. Asserts: a watcher listing both clients every ~2 s never sees the
//! key on both, nor does the check after the kill; the state file the console left says where
//! the key is (phase against the listings); the same command run again (same console home)
//! completes, exit 0, the key on vc2 only, the state file closed.
//! Owns: the interop key's setup on vc (the keeper client then runs interop keys 0..6, vc none),
//! unfencing vc after
//! a failover, these checks. May not touch: the generated key's cases (keys.rs).

use crate::cases::{Case, Op};
use crate::console::Console;
use crate::host::Host;
use crate::interop;
use crate::keys::{Keys, vc, vc2};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The interop validator moved by these cases.
pub const KEY: u64 = 7;
const PASSWORD: &str = "fault-matrix-quiet-1";

/// Interop keys 0..6 move to the keeper client (the chain goes on while vc is fenced) and vc
/// runs none from its command line; key 7 is imported into it as a keystore (so the keymanager
/// can remove it).
pub fn setup(host: Host, inventory: PathBuf, dir: &Path) -> Keys {
    let dir = dir.join("quiet");
    std::fs::create_dir_all(&dir).expect("quiet dir");
    let keystore = dir.join("interop-7.json");
    let password = dir.join("password.txt");
    std::fs::write(&keystore, interop::interop_keystore(KEY, PASSWORD)).expect("keystore");
    std::fs::write(&password, format!("{PASSWORD}\n")).expect("password");
    let out = host.must(interop::KEEPER_SCRIPT);
    assert!(out.contains("keeper started"), "{out}");
    Keys::for_key(
        host,
        inventory,
        dir,
        interop::interop_pubkey(KEY),
        keystore,
        password,
    )
}

/// Undo a failover's fence of vc (drop-in or mask), start it, wait for its keymanager.
fn unfence_vc(k: &Keys) {
    let (_, state) = k.host.sh("systemctl is-active lodestar-vc");
    if state.trim() == "active" {
        return;
    }
    k.host.must(
        "rm -f /etc/systemd/system/lodestar-vc.service.d/zz-nodeherd-fenced.conf; systemctl unmask lodestar-vc >/dev/null 2>&1; systemctl daemon-reload; systemctl enable lodestar-vc >/dev/null 2>&1; systemctl reset-failed lodestar-vc; systemctl start lodestar-vc && echo started",
    );
    k.ready(Duration::from_secs(180));
}

/// Whether `node` lists the key; `None` when it cannot be listed (a fenced client).
fn lists(inventory: &Path, home: &Path, pubkey: &str, node: &str) -> Option<bool> {
    let e = Console::start(
        home,
        &[
            "-i".into(),
            inventory.display().to_string(),
            "--json".into(),
            "keys".into(),
            "list".into(),
            node.into(),
        ],
    )
    .end(Duration::from_secs(60));
    if e.code != Some(0) {
        return None;
    }
    let v: Value = serde_json::from_str(&e.stdout).ok()?;
    Some(v["keys"].as_array().is_some_and(|a| {
        a.iter()
            .any(|k| k["node"] == node && k["pubkey"].as_str() == Some(pubkey))
    }))
}

type Seen = (Option<bool>, Option<bool>);

/// Lists both clients every ~2 s until stopped.
struct Watcher {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(k: &Keys) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, v) = (stop.clone(), seen.clone());
        let (inv, home, pk) = (
            k.inventory.clone(),
            k.dir.join("console-watch"),
            k.pubkey.clone(),
        );
        let (a, b) = (vc(&k.host), vc2(&k.host));
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let pair = (lists(&inv, &home, &pk, &a), lists(&inv, &home, &pk, &b));
                v.lock().expect("watcher").push(pair);
                std::thread::sleep(Duration::from_secs(2));
            }
        });
        Watcher {
            stop,
            seen,
            handle: Some(handle),
        }
    }

    /// Stop; every observation.
    fn finish(mut self) -> Vec<Seen> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.seen.lock().expect("watcher").clone()
    }
}

fn args(k: &Keys, op: Op) -> Vec<String> {
    let (ks, pw) = (
        k.keystore.display().to_string(),
        k.password.display().to_string(),
    );
    let mut a: Vec<String> = ["-i", &k.inventory.display().to_string(), "--yes"]
        .iter()
        .map(ToString::to_string)
        .collect();
    let rest: Vec<String> = match op {
        Op::KeyQuiet => vec![
            "keys".into(),
            "move".into(),
            k.pubkey.clone(),
            "--from".into(),
            vc(&k.host),
            "--to".into(),
            vc2(&k.host),
        ],
        Op::Failover => vec!["failover".into(), vc(&k.host), "--to".into(), vc2(&k.host)],
        other => panic!("not a quiet case: {other:?}"),
    };
    a.extend(rest);
    a.extend(
        [
            "--keystore",
            &ks,
            "--password-file",
            &pw,
            "--quiet-epochs",
            "1",
        ]
        .iter()
        .map(ToString::to_string),
    );
    a
}

/// The state file a console with `home` keeps for this case's command.
fn state_file(k: &Keys, home: &Path, op: Op) -> PathBuf {
    let name = match op {
        Op::Failover => format!("failover-{}", vc(&k.host).replace('/', "_")),
        _ => k.pubkey.clone(),
    };
    home.join("state/nodeherd/moves")
        .join(format!("{name}.json"))
}

/// Run one quiet case; its outcome in a few words.
pub fn run(k: &Keys, case: &Case) -> String {
    unfence_vc(k);
    k.baseline();
    let home = k.dir.join(format!("console-{case}"));
    let _ = std::fs::remove_dir_all(&home);
    let args = args(k, case.op);
    let pat = case
        .step
        .line()
        .expect("a quiet case kills at a step's line");
    let w = Watcher::start(k);
    let started = Instant::now();
    let mut a = Console::start(&home, &args);
    let reached = a.wait_line(pat, Duration::from_secs(400));
    a.kill();
    let first = a.end(Duration::from_secs(60));
    assert!(
        reached,
        "the console never printed {pat:?}: {}",
        first.text()
    );
    let killed_at = started.elapsed().as_secs_f64();
    // A killed import may still land: Lodestar finishes a request it received by itself.
    std::thread::sleep(Duration::from_secs(12));
    let file = state_file(k, &home, case.op);
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{}: {e}; console: {}", file.display(), first.text()));
    let phase = st["phase"].as_str().unwrap_or("").to_string();
    let probe = k.dir.join("console-probe");
    let now = (
        lists(&k.inventory, &probe, &k.pubkey, &vc(&k.host)),
        lists(&k.inventory, &probe, &k.pubkey, &vc2(&k.host)),
    );
    assert!(
        now != (Some(true), Some(true)),
        "the key is on BOTH clients after the kill"
    );
    // The state file says where the key is.
    match phase.as_str() {
        // the DELETE (or the fence) may have happened: never on vc2
        "removing" => assert_eq!(now.1, Some(false), "phase removing, vc2: {now:?}"),
        "waiting" => assert!(
            now.0 != Some(true) && now.1 == Some(false),
            "phase waiting: on neither, seen {now:?}"
        ),
        "importing" => assert!(now.0 != Some(true), "phase importing, vc: {now:?}"),
        other => panic!("unknown phase {other:?} in {st}"),
    }
    let rerun = Console::start(&home, &args).end(Duration::from_secs(600));
    let seen = w.finish();
    assert_eq!(rerun.code, Some(0), "the rerun completes: {}", rerun.text());
    assert!(
        rerun.text().contains("continuing the"),
        "the rerun continued the recorded {}: {}",
        case.op.name(),
        rerun.text()
    );
    let both = seen
        .iter()
        .filter(|p| **p == (Some(true), Some(true)))
        .count();
    assert_eq!(
        both,
        0,
        "the watcher saw the key on both clients {both} times of {}",
        seen.len()
    );
    assert!(!file.exists(), "the state file is closed after the rerun");
    let on_vc2 = lists(&k.inventory, &probe, &k.pubkey, &vc2(&k.host));
    let on_vc = lists(&k.inventory, &probe, &k.pubkey, &vc(&k.host));
    assert_eq!(on_vc2, Some(true), "the key is on vc2 at the end");
    assert_ne!(on_vc, Some(true), "the key is not on vc at the end");
    format!(
        "killed at {killed_at:.0}s in phase {phase} -> on {}; rerun exit 0 after {:.0}s -> on vc2 only ({} observations, never on both)",
        match now {
            (Some(true), _) => "vc",
            (_, Some(true)) => "vc2",
            _ => "neither",
        },
        started.elapsed().as_secs_f64() - killed_at,
        seen.len()
    )
}
