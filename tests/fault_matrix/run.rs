//! One case, start to end: baseline, arm, start the console, inject the fault at the step's
//! progress line, heal, let the host decide, check, rerun, check again. Owns: the assertions
//! every case makes. May not touch: the matrix (cases), the lab's lifecycle.

use crate::cases::{Case, Fault, Op};
use crate::console::{Console, Ended};
use crate::host::{Host, Seen};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The policy every case runs under (short, so a guard that gets no confirmation decides soon).
pub const HEALTH_TIMEOUT: u64 = 20;
pub const CONFIRM_TIMEOUT: u64 = 50;

/// What a worker knows: its host, its inventory, the feed, its scratch dir.
pub struct Worker {
    pub host: Host,
    pub inventory: PathBuf,
    pub feed: String,
    pub dir: PathBuf,
}

impl Worker {
    fn node(&self) -> String {
        format!("{}/{}", self.host.name(), crate::app::NODE)
    }

    /// The playbook: the short policy, the app's feed, and (for apply) the declared version.
    fn playbook(&self, version: &str) -> PathBuf {
        let p = self.dir.join(format!("pb-{}-{version}.toml", self.host.i));
        let text = format!(
            "[upgrade]\nchannel = \"stable\"\ndelay = \"0s\"\nhealth_timeout = \"{HEALTH_TIMEOUT}s\"\nconfirm_timeout = \"{CONFIRM_TIMEOUT}s\"\nsettle = \"4s\"\nmin_quiet = \"0s\"\nkeep = 3\nrelease_feed = \"{}\"\n\n[nodes.\"{}\".state]\nversion = \"{version}\"\nrunning = true\n",
            self.feed,
            self.node()
        );
        std::fs::write(&p, text).expect("write playbook");
        p
    }

    fn args(&self, case: &Case) -> Vec<String> {
        let (_, to) = case.versions();
        let pb = self.playbook(to).display().to_string();
        let mut a: Vec<String> = [
            "-i",
            &self.inventory.display().to_string(),
            "--color",
            "never",
            "--yes",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        let rest: Vec<String> = match case.op {
            Op::Upgrade => vec![
                "upgrade".into(),
                self.node(),
                "--to".into(),
                to.into(),
                "-p".into(),
                pb,
            ],
            Op::Rollback => vec![
                "rollback".into(),
                self.node(),
                "--to".into(),
                to.into(),
                "-p".into(),
                pb,
            ],
            Op::Apply => vec!["apply".into(), "-p".into(), pb],
            Op::KeyMove | Op::KeyQuiet | Op::Failover => {
                unreachable!("key moves and failovers run in keys.rs and quiet.rs")
            }
        };
        a.extend(rest);
        a
    }

    fn console(&self, case: &Case, tag: &str) -> Console {
        Console::start(
            &self.dir.join(format!("console-{}-{tag}", self.host.i)),
            &self.args(case),
        )
    }
}

/// A case's result: the outcome in a few words, or why it failed.
pub struct Outcome {
    pub ok: bool,
    pub text: String,
}

/// Run `case` on the worker's host.
pub fn run(w: &Worker, case: &Case) -> Outcome {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_inner(w, case)));
    match r {
        Ok(text) => Outcome { ok: true, text },
        Err(e) => {
            let msg = panic_text(&*e);
            w.host.link(true);
            let journal = w.host.journal();
            Outcome {
                ok: false,
                text: format!("{msg}\n--- host journal (last lines) ---\n{journal}"),
            }
        }
    }
}

/// The message of a caught panic.
pub fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "panic".into())
}

fn run_inner(w: &Worker, case: &Case) -> String {
    let (from, to) = case.versions();
    let h = &w.host;
    if case.op == Op::Rollback {
        h.baseline(&w.dir, &["1.0.0", "1.1.0"]);
    } else {
        h.baseline(&w.dir, &["1.0.0"]);
    }
    match case.fault {
        Fault::DiskFull => h.fill_disk(),
        Fault::Skew => h.skew(),
        _ => {}
    }
    let mut a = w.console(case, "a");
    let mut second = None;
    if let Some(pat) = case.step.line() {
        assert!(
            a.wait_line(pat, Duration::from_secs(120)),
            "the console never printed {pat:?}; {}",
            a.end(Duration::from_secs(60)).text()
        );
        inject(w, case, &mut a, &mut second);
    }
    let limit = Duration::from_secs(HEALTH_TIMEOUT + CONFIRM_TIMEOUT + 150);
    let first = a.end(limit);
    let b = second.map(|c| c.end(limit));
    heal(w, case);
    h.reachable(Duration::from_secs(60));
    let mut story = format!("exit {}", code(&first));
    if let Some(b) = &b {
        story.push_str(&format!(", 2nd console exit {} ({})", code(b), gist(b)));
    }
    if !case.rerun_at_once {
        let s = decided(h);
        let on = s.healthy_on().unwrap_or_else(|| {
            panic!(
                "not healthy on one version after the fault: {s:?}\nconsole: {}",
                first.text()
            )
        });
        story.push_str(&format!(" -> {on}"));
        if !s.leftovers.is_empty() {
            // allowed until the next run (docs/upgrades.md "Recovery"); the rerun must clean it
            story.push_str(&format!(" (left until the rerun: {})", s.leftovers.trim()));
        }
        consistent(case, &first, &on, from, to);
        if let Some(b) = &b {
            consistent(case, b, &on, from, to);
            assert!(
                b.code == Some(0)
                    || !b.stderr.trim().is_empty()
                    || b.stdout.contains("a switch is in flight"),
                "the second console failed without a word: {b:?}"
            );
        }
    }
    if case.rerun_at_once {
        // at once, as an operator would: it may be refused (the dead console's lock), but it
        // must not report done while the host's guard is still deciding (issue #15 item 10b)
        let r0 = w.console(case, "r0").end(limit);
        let s = decided(h);
        let on = s
            .healthy_on()
            .unwrap_or_else(|| panic!("not healthy after the rerun at once: {s:?}"));
        story.push_str(&format!("; rerun at once exit {} -> {on}", code(&r0)));
        consistent(case, &r0, &on, from, to);
    }
    let rerun = w.console(case, "r").end(limit);
    let s = decided(h);
    let want = if case.target_is_bad() { from } else { to };
    let on = s.healthy_on();
    story.push_str(&format!(
        "; rerun exit {} -> {}",
        code(&rerun),
        on.as_deref().unwrap_or("unhealthy")
    ));
    let want_code = i32::from(case.target_is_bad());
    assert_eq!(
        rerun.code,
        Some(want_code),
        "the rerun exits {want_code}: {}",
        rerun.text()
    );
    assert_eq!(
        on.as_deref(),
        Some(want),
        "after the rerun: {s:?}\n{}",
        rerun.text()
    );
    assert!(
        s.leftovers.is_empty(),
        "left behind after the rerun: {}",
        s.leftovers
    );
    story
}

/// Inject the case's fault now (the step's line just appeared).
fn inject(w: &Worker, case: &Case, a: &mut Console, second: &mut Option<Console>) {
    match case.fault {
        Fault::Kill => a.kill(),
        Fault::Freeze(s) => {
            a.signal(libc::SIGSTOP);
            std::thread::sleep(Duration::from_secs(s));
            a.signal(libc::SIGCONT);
        }
        Fault::Cut(s) => {
            w.host.link(false);
            std::thread::sleep(Duration::from_secs(s));
            w.host.link(true);
        }
        Fault::Sshd => w.host.kill_sshd(),
        Fault::Second => *second = Some(w.console(case, "b")),
        Fault::Reboot | Fault::RebootBroken => {
            nodeherd_lab::host::reboot(&w.host.cfg, w.host.i, Duration::from_secs(1))
                .unwrap_or_else(|e| panic!("reboot {}: {e}", w.host.name()));
        }
        Fault::DiskFull | Fault::Broken | Fault::Crash | Fault::Skew => {}
    }
}

/// Undo what the fault left on the host side (the rerun runs on a healed host).
fn heal(w: &Worker, case: &Case) {
    w.host.link(true);
    if case.fault == Fault::DiskFull {
        w.host.reachable(Duration::from_secs(60));
        w.host.free_disk();
    }
}

/// Wait until the host has decided (no switch unit, lock free), then until the node answers.
fn decided(h: &Host) -> Seen {
    let t = Instant::now();
    let s = h.quiet(Duration::from_secs(CONFIRM_TIMEOUT + 60));
    assert!(
        s.switch_units.is_empty(),
        "a guarded switch still runs {:?} after the run: {s:?}",
        t.elapsed()
    );
    assert!(s.lock_free, "the node's lock is still held: {s:?}");
    // the node may still be starting (a restart by the guard): give it its settle time
    let t = Instant::now();
    loop {
        let s = h.seen();
        if s.healthy_on().is_some() || t.elapsed() > Duration::from_secs(20) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// What the console said agrees with where the node ended.
fn consistent(case: &Case, e: &Ended, on: &str, from: &str, to: &str) {
    match e.code {
        Some(0) => assert_eq!(
            on,
            to,
            "the console said done (exit 0) but the node is on {on}: {}",
            e.text()
        ),
        Some(_) if e.says_rolled_back() => assert_eq!(
            on,
            from,
            "the console said rolled back but the node is on {on}: {}",
            e.text()
        ),
        // a reason on stderr, or in apply's report on stdout (e.g. "a switch is in flight: ...")
        Some(_) => assert!(
            !e.stderr.trim().is_empty() || e.stdout.contains("cannot plan:"),
            "a failure without a reason: {e:?}"
        ),
        None => {}
    }
    if case.target_is_bad() {
        assert_eq!(on, from, "a bad release stayed: {}", e.text());
        assert_ne!(
            e.code,
            Some(0),
            "a bad release reported as done: {}",
            e.text()
        );
    }
}

/// The last thing a console said on stderr (its outcome line), shortened.
fn gist(e: &Ended) -> String {
    let last = e
        .stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let last = last.split_once("Z ").map_or(last, |(_, rest)| rest);
    last.chars().take(110).collect()
}

fn code(e: &Ended) -> String {
    e.code.map_or_else(|| "killed".into(), |c| c.to_string())
}
