//! The host-side guarded switch under faults, on a real lab host (lab "nhguard", 10.236.0.0/24,
//! one light host, no Lodestar): a generic node "app" (a shell daemon under systemd released as
//! real tarballs: 1.0.0 good, 1.2.0 whose self-check fails, with an HTTP health endpoint by
//! socket activation declared as its probe), upgraded by the real binary from a feed served by
//! this test.
//!
//! Scenarios: a power cut keeps persistent files and loses `/run` and transient units (the lab's
//! reboot); the host reboots while the console gates a broken release with a long confirm
//! window: after the boot the host itself has rolled back (current = old, unit healthy, journal
//! "interrupted by reboot") and a rerun does not report success; a second console's `upgrade`
//! while the first is in its gate is refused naming the switch, exit 1; a guard stopped with
//! its console killed (same boot) is named by `upgrade` and rolled back by `rollback`; a
//! console frozen
//! (SIGSTOP) in its gate longer than its lock's lease stops after it resumes with a clear
//! message, neither confirming nor aborting.
//!
//! Run: `cargo test --test guard_lab` (as root); a name filter runs only matching scenarios.

use nodeherd_lab::{LabConfig, host};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/app.rs"]
mod app;
#[path = "support/feed.rs"]
mod feed;
#[path = "support/labsuite.rs"]
mod labsuite;

use app::{UNITS as APP_UNITS, release_dir as app_release};

const APP: &str = "nhguard-1/app";
const APP_DIR: &str = "/opt/nodeherd/app";

fn main() {
    let Some(mut suite) = labsuite::start("guard_lab", |dir| LabConfig {
        name: "nhguard".into(),
        hosts: 1,
        subnet: 236,
        lodestar: false,
        lodestar_hosts: 0,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let cfg = suite.cfg.clone();
    let dir = suite.dir.clone();
    let rt = labsuite::runtime();
    let arts = build_artifacts(&dir);
    let base = rt.block_on(serve(&dir, &arts));
    let inv = inventory(&suite.report.inventory, &dir);
    let pb = playbook(&dir, &base);
    let cx = Cx {
        cfg: cfg.clone(),
        dir,
        inv,
        pb,
    };
    suite.run("a_power_cut_keeps_files_and_loses_run", || {
        power_cut_keeps_files(&cfg);
    });
    if suite.always("setup", || install_app(&cx)) {
        suite.run("a_reboot_in_the_gate_rolls_back_at_boot", || {
            reboot_in_the_gate(&cx);
        });
        suite.run("a_second_console_is_refused_while_the_first_gates", || {
            second_console_refused(&cx);
        });
        suite.run("a_stopped_guard_is_rolled_back_by_the_next_run", || {
            stopped_guard_recovered(&cx);
        });
        suite.run(
            "a_console_frozen_past_its_lease_stops_without_acting",
            || {
                frozen_console_stops(&cx);
            },
        );
    }
    drop(rt);
    suite.finish();
}

struct Cx {
    cfg: LabConfig,
    dir: PathBuf,
    inv: PathBuf,
    pb: PathBuf,
}

fn ssh(cfg: &LabConfig, command: &str) -> String {
    let o = labsuite::root_ssh(cfg, 1, command);
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Poll `check` (None: done) until `limit`; panics with its last answer.
fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> Option<String>) {
    let t = Instant::now();
    loop {
        let Some(last) = check() else { return };
        assert!(t.elapsed() < limit, "{what}: not after {limit:?}: {last}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn power_cut_keeps_files(cfg: &LabConfig) {
    let boot_before = ssh(cfg, "cat /proc/sys/kernel/random/boot_id");
    ssh(
        cfg,
        "echo kept > /root/persist && echo lost > /run/volatile && systemd-run --unit nhguard-transient sleep 1000",
    );
    assert_eq!(ssh(cfg, "systemctl is-active nhguard-transient"), "active");
    let t = Instant::now();
    let r = host::reboot(cfg, 1, Duration::from_millis(200)).expect("reboot");
    println!(
        "  figure: reboot: down {:.2}s, boot {:.2}s, total {:.2}s",
        r.down.as_secs_f64(),
        r.boot.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    assert_ne!(ssh(cfg, "cat /proc/sys/kernel/random/boot_id"), boot_before);
    assert_eq!(ssh(cfg, "cat /root/persist"), "kept");
    assert_eq!(
        ssh(cfg, "cat /run/volatile 2>/dev/null || echo gone"),
        "gone"
    );
    assert_ne!(ssh(cfg, "systemctl is-active nhguard-transient"), "active");
}

// ------------------------------------------------------------------------------------------
// The generic node: a release is a directory with VERSION, bin/app and bin/health.

fn asset(v: &str) -> String {
    format!("nodeherd-app-v{v}-linux-{}.tar.gz", feed::lab_cpu())
}

/// `(asset name, file, sha256)` of the app's releases 1.0.0 and 1.2.0 (broken).
fn build_artifacts(dir: &Path) -> Vec<(String, PathBuf, String)> {
    let rel = dir.join("app-releases");
    let mut out = Vec::new();
    for (v, broken) in [
        ("1.0.0", None),
        ("1.2.0", Some("database schema 7 is unknown")),
    ] {
        let d = app_release(&rel, v, broken);
        let f = dir.join(asset(v));
        let st = Command::new("tar")
            .arg("-C")
            .arg(&d)
            .arg("-czf")
            .arg(&f)
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success());
        let sha = feed::sha256_of(&f);
        out.push((asset(v), f, sha));
    }
    out
}

async fn serve(dir: &Path, arts: &[(String, PathBuf, String)]) -> String {
    let (listener, base) = feed::bind().await;
    let rels: Vec<serde_json::Value> = [("1.2.0", 20), ("1.0.0", 60)]
        .iter()
        .map(|(v, days)| {
            let sha = arts
                .iter()
                .find(|(n, _, _)| *n == asset(v))
                .map(|(_, _, s)| s.clone())
                .expect("artifact");
            feed::release_json(&base, &format!("v{v}"), *days, &asset(v), &sha)
        })
        .collect();
    let mut files: Vec<(String, PathBuf)> = arts
        .iter()
        .map(|(n, f, _)| (n.clone(), f.clone()))
        .collect();
    files.push(feed::feed_file(dir, "app", &rels));
    feed::spawn_file_server(listener, files);
    base
}

fn inventory(lab: &Path, dir: &Path) -> PathBuf {
    let mut text = std::fs::read_to_string(lab).expect("lab inventory");
    text.push_str(&format!(
        "\n[hosts.nhguard-1.nodes.app]\nclient = \"generic\"\nunit = \"nodeherd-app.service\"\ninstall_dir = \"{APP_DIR}\"\nprobe = {{ http = \"http://127.0.0.1:8080/health\", status = 200 }}\n"
    ));
    let p = dir.join("guard.toml");
    std::fs::write(&p, text).expect("write inventory");
    p
}

/// A long confirm window (the host must not roll back by itself during the test), a gate long
/// enough to reboot the host inside it.
fn playbook(dir: &Path, base: &str) -> PathBuf {
    let text = format!(
        "[upgrade]\ndelay = \"0s\"\nhealth_timeout = \"25s\"\nconfirm_timeout = \"600s\"\nsettle = \"3s\"\nmin_quiet = \"0s\"\nkeep = 3\n\
         [nodes.app.upgrade]\nrelease_feed = \"{base}/feed/app.json\"\n"
    );
    let p = dir.join("guard-playbook.toml");
    std::fs::write(&p, text).expect("write playbook");
    p
}

fn install_app(cx: &Cx) {
    let d = cx.dir.join("app-releases/app-1.0.0");
    let file = |f: &str| std::fs::read_to_string(d.join(f)).expect("read");
    let q = nodeherd_core::remote::quote;
    let script = format!(
        "set -e\nrm -rf {APP_DIR} /var/log/nodeherd/journal.jsonl\nmkdir -p {APP_DIR}/releases/1.0.0/bin\ncd {APP_DIR}/releases/1.0.0\nprintf '%s' {} > VERSION\nprintf '%s' {} > bin/app\nprintf '%s' {} > bin/health\nchmod 0755 bin/app bin/health\ncd {APP_DIR} && ln -sfn releases/1.0.0 current\n{APP_UNITS}\nsystemctl enable nodeherd-app.service nodeherd-app-health.socket\nsystemctl restart nodeherd-app.service nodeherd-app-health.socket\necho installed",
        q(&file("VERSION")),
        q(&file("bin/app")),
        q(&file("bin/health")),
    );
    assert!(ssh(&cx.cfg, &script).contains("installed"));
    app_answers(cx, "1.0.0");
}

fn app_answers(cx: &Cx, version: &str) {
    let want = format!("200 {{\"version\":\"{version}\",\"health\":\"ok\"}}");
    eventually(
        &format!("app answers {version}"),
        Duration::from_secs(60),
        || {
            let got = ssh(
                &cx.cfg,
                "curl -s -o /tmp/h -w '%{http_code}' --max-time 3 http://127.0.0.1:8080/health; echo \" $(cat /tmp/h)\"",
            );
            (got != want).then_some(got)
        },
    );
}

/// The real binary, as console `who` (its `$USER`), stdin closed.
fn nodeherd(cx: &Cx, who: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nodeherd"));
    c.arg("-i")
        .arg(&cx.inv)
        .args(args)
        .arg("-p")
        .arg(&cx.pb)
        .env("NODEHERD_STATE_DIR", cx.dir.join(format!("state-{who}")))
        .env("XDG_CACHE_HOME", cx.dir.join(format!("cache-{who}")))
        .env("USER", who)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Wait for a child: (exit code, stdout + stderr).
fn finish(c: Child) -> (Option<i32>, String) {
    let o = c.wait_with_output().expect("wait nodeherd");
    (
        o.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Start `upgrade APP --to 1.2.0` (broken) as `who`, return once the host's guard switched.
fn start_broken_upgrade(cx: &Cx, who: &str) -> Child {
    let child = nodeherd(cx, who, &["upgrade", APP, "--to", "1.2.0", "--yes"])
        .spawn()
        .expect("spawn nodeherd");
    eventually("the guard switched", Duration::from_secs(90), || {
        let s = ssh(
            &cx.cfg,
            &format!(
                "readlink {APP_DIR}/current; grep ^tok= {APP_DIR}/.nodeherd/pending 2>/dev/null"
            ),
        );
        (!(s.contains("releases/1.2.0") && s.contains("tok="))).then_some(s)
    });
    child
}

fn reboot_in_the_gate(cx: &Cx) {
    let a = start_broken_upgrade(cx, "console-a");
    // the gate runs (25 s); the confirm window is 600 s: without the boot-time recovery the
    // node would stay on the broken release
    let t = Instant::now();
    let r = host::reboot(&cx.cfg, 1, Duration::from_millis(500)).expect("reboot");
    println!(
        "  figure: reboot in the gate: down {:.2}s, boot {:.2}s",
        r.down.as_secs_f64(),
        r.boot.as_secs_f64()
    );
    let (code, out) = finish(a);
    println!(
        "  console A ended {:.1}s after the power cut, exit {code:?}",
        t.elapsed().as_secs_f64()
    );
    assert_ne!(
        code,
        Some(0),
        "the interrupted upgrade reported success:\n{out}"
    );
    assert_eq!(
        ssh(&cx.cfg, &format!("readlink {APP_DIR}/current")),
        "releases/1.0.0",
        "{out}"
    );
    app_answers(cx, "1.0.0");
    assert_eq!(ssh(&cx.cfg, "systemctl is-active nodeherd-app"), "active");
    let journal = ssh(&cx.cfg, "cat /var/log/nodeherd/journal.jsonl");
    assert!(
        journal.contains("rolled-back (interrupted by reboot)"),
        "{journal}"
    );
    let left = ssh(
        &cx.cfg,
        &format!(
            "ls {APP_DIR}/.nodeherd/pending /var/lib/nodeherd/pending/* /etc/systemd/system/nodeherd-recover-* /etc/systemd/system/multi-user.target.wants/nodeherd-recover-* 2>/dev/null; systemctl is-active nodeherd-recover-app.service"
        ),
    );
    assert_eq!(left, "inactive", "left behind after the recovery");
    assert_eq!(
        ssh(&cx.cfg, &format!("readlink {APP_DIR}/previous")),
        "releases/1.2.0",
        "previous names the release rolled back from"
    );
    // the rerun of the same upgrade: the broken release fails its gate again, never exit 0
    let t = Instant::now();
    let (code, out) = finish(
        nodeherd(cx, "console-a", &["upgrade", APP, "--to", "1.2.0", "--yes"])
            .spawn()
            .expect("spawn"),
    );
    println!(
        "  figure: rerun of the broken upgrade {:.1}s, exit {code:?}",
        t.elapsed().as_secs_f64()
    );
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("rolled back") || out.contains("rolled-back"),
        "{out}"
    );
    app_answers(cx, "1.0.0");
}

fn second_console_refused(cx: &Cx) {
    let a = start_broken_upgrade(cx, "console-a");
    let t = Instant::now();
    let (code, out) = finish(
        nodeherd(cx, "console-b", &["upgrade", APP, "--to", "1.2.0", "--yes"])
            .spawn()
            .expect("spawn"),
    );
    println!(
        "  figure: console B refused in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(code, Some(1), "{out}");
    for want in [
        "a switch is in flight",
        "switch 1.0.0 -> 1.2.0 started by console-a@",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
    let (code, out) = finish(
        nodeherd(cx, "console-b", &["rollback", APP, "--yes"])
            .spawn()
            .expect("spawn"),
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("console-a@"),
        "names the other console:\n{out}"
    );
    // A finishes on its own: the broken release fails the gate, rolled back
    let (code, out) = finish(a);
    assert_ne!(code, Some(0), "{out}");
    app_answers(cx, "1.0.0");
}

fn frozen_console_stops(cx: &Cx) {
    let a = start_broken_upgrade(cx, "console-a");
    let pid = i32::try_from(a.id()).expect("pid");
    // SAFETY: kill(2) on our own child's positive pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    // the lease is 30 s; the host's holder looks every 2 s
    std::thread::sleep(Duration::from_secs(40));
    let free = ssh(
        &cx.cfg,
        &format!("cat {APP_DIR}/.nodeherd/lock.holder 2>/dev/null || echo free"),
    );
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    assert_eq!(free, "free", "the host kept the lapsed lock");
    let (code, out) = finish(a);
    assert_eq!(code, Some(1), "{out}");
    for want in [
        "this console no longer holds the lock of nhguard-1/app",
        "neither confirmed nor aborted",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
    let tok = ssh(
        &cx.cfg,
        &format!("sed -n 's/^tok=//p' {APP_DIR}/.nodeherd/pending"),
    );
    assert!(!tok.is_empty(), "the switch is still pending");
    let st = ssh(
        &cx.cfg,
        &format!(
            "cat {APP_DIR}/.nodeherd/switch-{tok}.state; ls {APP_DIR}/.nodeherd/ | grep -c -e '^abort-' -e '^confirm-'"
        ),
    );
    assert_eq!(st, "switched\n0", "console A signalled the guard");
    // clean up as an operator would: abort the guard by hand, it rolls back
    ssh(&cx.cfg, &format!(": > {APP_DIR}/.nodeherd/abort-{tok}"));
    app_answers(cx, "1.0.0");
}

fn stopped_guard_recovered(cx: &Cx) {
    let mut a = start_broken_upgrade(cx, "console-a");
    a.kill().expect("kill console A");
    let _ = a.wait();
    ssh(&cx.cfg, "systemctl stop nodeherd-switch-app.service");
    assert_eq!(
        ssh(
            &cx.cfg,
            &format!(
                "readlink {APP_DIR}/current; test -f {APP_DIR}/.nodeherd/pending && echo pending"
            )
        ),
        "releases/1.2.0\npending",
        "the interrupted switch is on the host"
    );
    // an upgrade names it and refuses; a rollback has the host roll it back
    let (code, out) = finish(
        nodeherd(cx, "console-b", &["upgrade", APP, "--to", "1.0.0", "--yes"])
            .spawn()
            .expect("spawn"),
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("interrupted (its guard no longer runs)")
            && out.contains("`nodeherd rollback` of the node has the host roll it back"),
        "{out}"
    );
    let (code, out) = finish(
        // A's lock holder goes when the host notices A's dead channel (within seconds)
        nodeherd(
            cx,
            "console-b",
            &["rollback", APP, "--yes", "--wait-lock", "60s"],
        )
        .spawn()
        .expect("spawn"),
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("the interrupted switch 1.0.0 -> 1.2.0")
            && out.contains("1.0.0 is healthy again"),
        "{out}"
    );
    app_answers(cx, "1.0.0");
    let journal = ssh(&cx.cfg, "tail -n 3 /var/log/nodeherd/journal.jsonl");
    assert!(
        journal.contains("rolled-back (interrupted by stopped guard)"),
        "{journal}"
    );
    assert_eq!(
        ssh(
            &cx.cfg,
            &format!(
                "ls {APP_DIR}/.nodeherd/pending /etc/systemd/system/nodeherd-recover-* 2>/dev/null | wc -l"
            )
        ),
        "0"
    );
}
