//! The guarded switch's persistent half run for real: the switch script and the recovery script
//! by `sh` on a temporary install dir, with a `systemctl` stand-in that records its calls and
//! answers `is-active` from a marker file (no root, no systemd), unit and state directories
//! redirected into the temporary directory.
//!
//! Owns: nothing but tests. May not touch: anything outside its temporary directory.

use super::*;
use std::path::PathBuf;
use std::process::Command as Proc;
use std::time::{Duration, Instant};

struct Host {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Host {
    /// An install dir with releases 1.0.0, 2.0.0 and 0.9.0, `current` -> 1.0.0, `previous` as
    /// given.
    fn new(previous: Option<&str>) -> Host {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        for d in [
            "node/releases/0.9.0",
            "node/releases/1.0.0",
            "node/releases/2.0.0",
            "bin",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::os::unix::fs::symlink("releases/1.0.0", root.join("node/current")).unwrap();
        if let Some(p) = previous {
            std::os::unix::fs::symlink(format!("releases/{p}"), root.join("node/previous"))
                .unwrap();
        }
        // `is-active` answers from a marker file: the guard "runs" while `guard.active` exists.
        let sc = root.join("bin/systemctl");
        let r = root.display();
        std::fs::write(
            &sc,
            format!(
                "#!/bin/sh\necho \"$* $(readlink {r}/node/current)\" >> {r}/systemctl.log\ncase \"$1\" in is-active) [ -e {r}/guard.active ] || exit 3;; esac\nexit 0\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sc, std::fs::Permissions::from_mode(0o755)).unwrap();
        Host { _tmp: tmp, root }
    }
    fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }
    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap_or_default()
    }
    fn link(&self, rel: &str) -> String {
        std::fs::read_link(self.root.join(rel))
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }
    fn exists(&self, rel: &str) -> bool {
        self.root.join(rel).exists()
    }
    fn env(&self, c: &mut Proc, boot: &str) {
        c.env(
            "PATH",
            format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", self.p("bin")),
        )
        .env("NODEHERD_JOURNAL", self.p("journal.jsonl"))
        .env("NODEHERD_LIB", self.p("lib"))
        .env("NODEHERD_UNIT_DIR", self.p("units"))
        .env("NODEHERD_BOOT_ID", boot);
    }
    /// Start the switch `old` -> `new` (confirm window `secs`) as boot `boot-1`.
    fn switch(&self, new: &str, old: &str, prev: &str, secs: u64) -> std::process::Child {
        let mut args = vec![
            self.p("node"),
            "demo.service".into(),
            new.into(),
            old.into(),
            secs.to_string(),
            "tok".into(),
            r#""result":"ok"}"#.into(),
            r#""result":"rolled-back (no confirmation)"}"#.into(),
            r#""result":"rolled-back (health gate failed)"}"#.into(),
            prev.into(),
            r#""result":"rolled-back (interrupted by @WHY@)"}"#.into(),
            "ops@console".into(),
            "nodeherd-switch-demo".into(),
        ];
        args.extend(crate::facts::backup::SwitchBackup::args(None));
        let mut c = Proc::new("sh");
        c.arg("-c")
            .arg(switch_script())
            .arg("nodeherd-switch")
            .args(args);
        self.env(&mut c, "boot-1");
        c.spawn().unwrap()
    }
    fn wait_state(&self, want: &str) {
        let start = Instant::now();
        while self.read("node/.nodeherd/switch-tok.state").trim() != want {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "state {want} never came: {}",
                self.read("node/.nodeherd/switch-tok.state")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    /// Run the recovery as boot `boot`: (success, stdout).
    fn recover(&self, boot: &str) -> (bool, String) {
        let mut c = Proc::new("sh");
        c.arg("-c").arg(RECOVER).arg("nodeherd-recover").arg("demo");
        self.env(&mut c, boot);
        let o = c.output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    }
    /// The persistent pieces of a pending switch, each present or not.
    fn guard_files(&self) -> [bool; 4] {
        [
            self.exists("node/.nodeherd/pending"),
            self.exists("lib/pending/nodeherd-switch-demo"),
            self.exists("units/nodeherd-recover-demo.service"),
            self.exists("units/multi-user.target.wants/nodeherd-recover-demo.service"),
        ]
    }
}

#[test]
fn a_switch_in_flight_leaves_a_pending_record_and_a_boot_unit_that_confirm_removes() {
    let h = Host::new(Some("0.9.0"));
    let mut child = h.switch("2.0.0", "1.0.0", "0.9.0", 30);
    h.wait_state("switched");
    assert_eq!(h.guard_files(), [true; 4]);
    let rec = h.read("node/.nodeherd/pending");
    for want in [
        "tok=tok",
        "old=1.0.0",
        "new=2.0.0",
        "prev=0.9.0",
        "unit=demo.service",
        "boot=boot-1",
        "by=ops@console",
        "interrupted by @WHY@",
    ] {
        assert!(rec.contains(want), "{want} not in {rec}");
    }
    let unit = h.read("units/nodeherd-recover-demo.service");
    assert!(unit.contains("Before=demo.service"), "{unit}");
    assert!(
        unit.contains(&format!("ExecStart=/bin/sh {}/recover.sh demo", h.p("lib"))),
        "{unit}"
    );
    assert!(unit.contains("WantedBy=multi-user.target"), "{unit}");
    assert_eq!(h.read("lib/recover.sh"), RECOVER);
    // what a console's inspect reads of it
    let out = Proc::new("sh")
        .arg("-c")
        .arg(inspect_command(&h.p("node"), "demo").to_shell_string())
        .env("PATH", format!("{}:/usr/bin:/bin", h.p("bin")))
        .output()
        .unwrap();
    let l = parse_inspect(&String::from_utf8_lossy(&out.stdout));
    let p = l.pending.clone().expect("pending record in the layout");
    assert_eq!(
        (
            p.old.as_str(),
            p.new.as_str(),
            p.by.as_str(),
            p.state.as_str()
        ),
        ("1.0.0", "2.0.0", "ops@console", "switched")
    );
    assert!(l.in_flight() && l.interrupted(), "{l:?}");
    assert!(
        l.in_flight_text()
            .starts_with("switch 1.0.0 -> 2.0.0 started by ops@console at 20"),
        "{}",
        l.in_flight_text()
    );
    std::fs::write(h.root.join("node/.nodeherd/confirm-tok"), "").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(h.guard_files(), [false; 4]);
    assert_eq!(h.link("node/current"), "releases/2.0.0");
    assert_eq!(h.link("node/previous"), "releases/1.0.0");
}

#[test]
fn a_reboot_before_the_confirmation_rolls_back_at_boot_and_says_so() {
    let h = Host::new(Some("0.9.0"));
    let mut child = h.switch("2.0.0", "1.0.0", "0.9.0", 30);
    h.wait_state("switched");
    // the power cut: the guard dies with the transient unit, nothing of it runs at boot
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(h.link("node/current"), "releases/2.0.0");
    let (ok, out) = h.recover("boot-2");
    assert!(ok, "{out}");
    assert!(
        out.contains("rolled back to 1.0.0 (interrupted by reboot)"),
        "{out}"
    );
    assert_eq!(h.link("node/current"), "releases/1.0.0");
    assert_eq!(h.link("node/previous"), "releases/0.9.0");
    assert_eq!(
        h.read("node/.nodeherd/switch-tok.state").trim(),
        "rolled-back"
    );
    let j = h.read("journal.jsonl");
    assert!(
        j.lines()
            .last()
            .is_some_and(|l| l.contains(r#""result":"rolled-back (interrupted by reboot)"}"#)),
        "{j}"
    );
    assert!(
        h.read("systemctl.log")
            .contains("reset-failed demo.service releases/1.0.0\nrestart --no-block demo.service releases/1.0.0"),
        "{}",
        h.read("systemctl.log")
    );
    assert_eq!(h.guard_files(), [false; 4]);
    // a second run (the next boot) finds nothing to do and changes nothing
    let (ok, out) = h.recover("boot-3");
    assert!(ok && out.contains("nothing pending"), "{out}");
    assert_eq!(h.read("journal.jsonl"), j);
}

#[test]
fn the_recovery_leaves_a_running_guard_alone_and_names_a_stopped_one() {
    let h = Host::new(None);
    let mut child = h.switch("2.0.0", "1.0.0", "", 30);
    h.wait_state("switched");
    std::fs::write(h.root.join("guard.active"), "").unwrap();
    let (ok, out) = h.recover("boot-1");
    assert!(ok && out.contains("the guard still runs"), "{out}");
    assert_eq!(h.link("node/current"), "releases/2.0.0");
    assert_eq!(h.guard_files(), [true; 4]);
    // the guard is stopped (same boot): the console's recovery rolls back
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(h.root.join("guard.active")).unwrap();
    let (ok, out) = h.recover("boot-1");
    assert!(ok && out.contains("interrupted by stopped guard"), "{out}");
    assert_eq!(h.link("node/current"), "releases/1.0.0");
    // no previous-before: `previous` names the release rolled back from
    assert_eq!(h.link("node/previous"), "releases/2.0.0");
}

#[test]
fn a_confirmed_switch_is_not_rolled_back_by_a_late_recovery() {
    let h = Host::new(None);
    let mut child = h.switch("2.0.0", "1.0.0", "", 30);
    h.wait_state("switched");
    child.kill().unwrap();
    child.wait().unwrap();
    // the guard died right after writing `confirmed`, before removing its record
    std::fs::write(
        h.root.join("node/.nodeherd/switch-tok.state"),
        "confirmed\n",
    )
    .unwrap();
    let (ok, out) = h.recover("boot-2");
    assert!(ok && out.contains("already confirmed"), "{out}");
    assert_eq!(h.link("node/current"), "releases/2.0.0");
    assert_eq!(h.guard_files(), [false; 4]);
}

#[test]
fn the_guards_own_rollback_keeps_previous_meaningful() {
    // Upgrade 1.0.0 -> 2.0.0 with no previous-before, not confirmed: previous is the release
    // rolled back from (it used to be deleted, leaving `rollback` nothing to go back to).
    let h = Host::new(None);
    let mut child = h.switch("2.0.0", "1.0.0", "", 1);
    assert!(child.wait().unwrap().success());
    assert_eq!(h.link("node/current"), "releases/1.0.0");
    assert_eq!(h.link("node/previous"), "releases/2.0.0");
    assert_eq!(h.guard_files(), [false; 4]);
    // A rollback 1.0.0 -> 0.9.0 while previous is 0.9.0 (the console passes no previous-before
    // when it equals the target): not confirmed, previous is 0.9.0 again, as before the switch.
    let h = Host::new(Some("0.9.0"));
    let mut child = h.switch("0.9.0", "1.0.0", "", 1);
    assert!(child.wait().unwrap().success());
    assert_eq!(h.link("node/current"), "releases/1.0.0");
    assert_eq!(h.link("node/previous"), "releases/0.9.0");
}
