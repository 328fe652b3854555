//! The key-move cases, on the real Lodestar validator clients of host 1 (`lodestar-vc` with
//! keymanager 5062, the keyless `lodestar-vc2` with 5063): one generated key moved from vc to
//! vc2 by `nodeherd keys move`, a fault injected a fixed time after the console starts (the move
//! prints no steps while it runs: remove from vc with its slashing data, verify, import into
//! vc2, all within a few seconds). Asserts: the key is never on both clients, what the console
//! said matches where it is, and finishing the move afterwards leaves it on vc2 alone.
//! Owns: the key, its keystore, the move's checks. May not touch: the generic cases.

use crate::cases::{Case, Fault};
use crate::console::{Console, Ended};
use crate::host::Host;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ADDRESS: &str = "0x00000000219ab540356cBB839Cbe05303d7705Fa";
const PASSWORD: &str = "fault-matrix-password-1";

pub struct Keys {
    pub host: Host,
    pub inventory: PathBuf,
    pub dir: PathBuf,
    pub pubkey: String,
    pub keystore: PathBuf,
    pub password: PathBuf,
}

pub fn vc(h: &Host) -> String {
    format!("{}/lodestar-vc", h.name())
}

pub fn vc2(h: &Host) -> String {
    format!("{}/lodestar-vc2", h.name())
}

impl Keys {
    /// Generate the key (offline) and import it into vc.
    pub fn setup(host: Host, inventory: PathBuf, dir: &Path) -> Keys {
        let dir = dir.join("keys");
        std::fs::create_dir_all(&dir).expect("keys dir");
        let mn = dir.join("mnemonic.txt");
        std::fs::write(
            &mn,
            "test test test test test test test test test test test junk\n",
        )
        .expect("write");
        let password = dir.join("password.txt");
        std::fs::write(&password, format!("{PASSWORD}\n")).expect("write");
        let mut k = Keys {
            host,
            inventory,
            dir: dir.clone(),
            pubkey: String::new(),
            keystore: PathBuf::new(),
            password,
        };
        let e = k.nodeherd(
            "gen",
            &[
                "--json",
                "keys",
                "generate",
                "--mnemonic-file",
                &mn.display().to_string(),
                "--count",
                "1",
                "--start-index",
                "11",
                "--network",
                "hoodi",
                "--withdrawal-address",
                ADDRESS,
                "--out",
                &dir.join("generated").display().to_string(),
                "--password-file",
                &k.password.display().to_string(),
            ],
        );
        assert_eq!(e.code, Some(0), "keys generate: {}", e.text());
        let v: Value =
            serde_json::from_str(&e.stdout).unwrap_or_else(|x| panic!("{x}: {}", e.stdout));
        k.pubkey = v["keys"][0]["pubkey"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        k.keystore = PathBuf::from(v["keys"][0]["keystore"].as_str().unwrap_or_default());
        k.ready(Duration::from_secs(180));
        k.baseline();
        k
    }

    /// A context for a key whose keystore and password file exist already (the quiet cases'
    /// interop key), under `dir`; the key is put on vc only.
    pub fn for_key(
        host: Host,
        inventory: PathBuf,
        dir: PathBuf,
        pubkey: String,
        keystore: PathBuf,
        password: PathBuf,
    ) -> Keys {
        let k = Keys {
            host,
            inventory,
            dir,
            pubkey,
            keystore,
            password,
        };
        k.ready(Duration::from_secs(180));
        k.baseline();
        k
    }

    /// Wait until both keymanagers answer (`lab up` returns before the validator clients wrote
    /// their token files).
    pub fn ready(&self, limit: Duration) {
        let t = std::time::Instant::now();
        for node in [vc(&self.host), vc2(&self.host)] {
            loop {
                let e = self.nodeherd("ready", &["keys", "list", &node]);
                if e.code == Some(0) {
                    break;
                }
                assert!(t.elapsed() < limit, "{node} not ready: {}", e.text());
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }

    pub fn nodeherd(&self, tag: &str, args: &[&str]) -> Ended {
        let mut a = vec!["-i".to_string(), self.inventory.display().to_string()];
        a.extend(args.iter().map(ToString::to_string));
        Console::start(&self.dir.join(format!("console-{tag}")), &a).end(Duration::from_secs(180))
    }

    /// A console killed after sending its import leaves Lodestar finishing it (decrypting the
    /// keystore, holding its `voting-keystore.json.lock`): a second import meanwhile fails with
    /// EEXIST. Watch both clients for up to 30 s; `true` when the key landed on vc2 (and never
    /// on both).
    fn import_lands_by_itself(&self, story: &mut String) -> bool {
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_secs(2));
            let (on_vc, on_vc2) = self.where_();
            assert!(!(on_vc && on_vc2), "the key is on BOTH validator clients");
            if on_vc2 {
                story.push_str(&format!(
                    "; the killed console's import landed on vc2 {:.0}s later",
                    t.elapsed().as_secs_f64()
                ));
                return true;
            }
        }
        false
    }

    fn move_args(&self, from: &str, to: &str) -> Vec<String> {
        [
            "-i",
            &self.inventory.display().to_string(),
            "--yes",
            "keys",
            "move",
            &self.pubkey,
            "--from",
            from,
            "--to",
            to,
            "--keystore",
            &self.keystore.display().to_string(),
            "--password-file",
            &self.password.display().to_string(),
            // the faults land on the remove/export/import steps (a move without its wait takes
            // ~9 s); a kill during the quiet wait and its resume are keys_quiet_lab's cases
            "--quiet-epochs",
            "0",
        ]
        .iter()
        .map(ToString::to_string)
        .collect()
    }

    /// Whether the key is on (vc, vc2), from `keys list --json` of each.
    pub fn where_(&self) -> (bool, bool) {
        let on = |node: &str| {
            let e = self.nodeherd("list", &["--json", "keys", "list", node]);
            assert_eq!(e.code, Some(0), "keys list {node}: {}", e.text());
            let v: Value =
                serde_json::from_str(&e.stdout).unwrap_or_else(|x| panic!("{x}: {}", e.stdout));
            v["keys"].as_array().is_some_and(|a| {
                a.iter().any(|k| {
                    k["node"] == node && k["pubkey"].as_str() == Some(self.pubkey.as_str())
                })
            })
        };
        (on(&vc(&self.host)), on(&vc2(&self.host)))
    }

    /// The key on vc only.
    pub fn baseline(&self) {
        self.host.link(true);
        self.host.reachable(Duration::from_secs(60));
        match self.where_() {
            (true, false) => {}
            (false, true) => {
                let c = Console::start(
                    &self.dir.join("console-back"),
                    &self.move_args(&vc2(&self.host), &vc(&self.host)),
                )
                .end(Duration::from_secs(180));
                assert_eq!(c.code, Some(0), "move back: {}", c.text());
            }
            (false, false) => {
                let e = self.nodeherd(
                    "import",
                    &[
                        "--yes",
                        "keys",
                        "import",
                        &vc(&self.host),
                        &self.keystore.display().to_string(),
                        "--password-file",
                        &self.password.display().to_string(),
                    ],
                );
                assert_eq!(e.code, Some(0), "import: {}", e.text());
            }
            (true, true) => panic!("the key is on both validator clients"),
        }
        assert_eq!(self.where_(), (true, false), "baseline: the key on vc only");
    }

    /// Run one key-move case; its outcome in a few words.
    pub fn run(&self, case: &Case, after: Duration) -> String {
        self.baseline();
        let args = self.move_args(&vc(&self.host), &vc2(&self.host));
        let started = std::time::Instant::now();
        let mut a = Console::start(&self.dir.join("console-a"), &args);
        std::thread::sleep(after);
        let mut b = None;
        match case.fault {
            Fault::Kill => a.kill(),
            Fault::Freeze(s) => {
                a.signal(libc::SIGSTOP);
                std::thread::sleep(Duration::from_secs(s));
                a.signal(libc::SIGCONT);
            }
            Fault::Cut(s) => {
                self.host.link(false);
                std::thread::sleep(Duration::from_secs(s));
                self.host.link(true);
            }
            Fault::Sshd => self.host.kill_sshd(),
            Fault::Second => b = Some(Console::start(&self.dir.join("console-b"), &args)),
            other => panic!("no key-move case with {other:?}"),
        }
        let first = a.end(Duration::from_secs(240));
        let took = started.elapsed().as_secs_f64();
        let second = b.map(|c| c.end(Duration::from_secs(240)));
        self.host.link(true);
        self.host.reachable(Duration::from_secs(60));
        // Lodestar's keymanager comes back after sshd (the console reaches it through a forward)
        std::thread::sleep(Duration::from_secs(2));
        let (on_vc, on_vc2) = self.where_();
        assert!(
            !(on_vc && on_vc2),
            "the key is on BOTH validator clients: {}",
            first.text()
        );
        let mut story = format!(
            "exit {} after {took:.1}s{} -> {}",
            first
                .code
                .map_or_else(|| "killed".into(), |c| c.to_string()),
            second
                .as_ref()
                .map(|s| format!(", 2nd console exit {}", s.code.map_or(-1, |c| c)))
                .unwrap_or_default(),
            match (on_vc, on_vc2) {
                (true, false) => "on vc",
                (false, true) => "on vc2",
                _ => "on neither",
            }
        );
        for e in std::iter::once(&first).chain(second.as_ref()) {
            if e.code == Some(0) {
                assert!(
                    on_vc2,
                    "a console said moved (exit 0) but the key is not on vc2: {}",
                    e.text()
                );
            }
            if e.code.is_some_and(|c| c != 0) {
                assert!(
                    !e.stderr.trim().is_empty(),
                    "a failed move without a reason: {e:?}"
                );
            }
        }
        // finish the job: move again from where it is, or import it where it belongs
        if on_vc {
            let r =
                Console::start(&self.dir.join("console-r"), &args).end(Duration::from_secs(180));
            story.push_str(&format!("; rerun exit {}", r.code.unwrap_or(-1)));
            assert_eq!(r.code, Some(0), "the rerun of the move: {}", r.text());
        } else if !on_vc2 && self.import_lands_by_itself(&mut story) {
            // the killed console's import request reached Lodestar, which finished it alone
        } else if !on_vc2 {
            let r = self.nodeherd(
                "reimport",
                &[
                    "--yes",
                    "keys",
                    "import",
                    &vc2(&self.host),
                    &self.keystore.display().to_string(),
                    "--password-file",
                    &self.password.display().to_string(),
                ],
            );
            story.push_str(&format!(
                "; imported into vc2 by hand, exit {}",
                r.code.unwrap_or(-1)
            ));
            assert_eq!(r.code, Some(0), "import into vc2: {}", r.text());
        }
        assert_eq!(
            self.where_(),
            (false, true),
            "at the end the key is on vc2 only"
        );
        story
    }
}
