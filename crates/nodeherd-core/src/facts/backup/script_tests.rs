//! The guarded switch's backup and restore lines, run for real by `sh` on a temporary install
//! dir, with a `systemctl` stand-in that records its calls (no root, no systemd): the copy is
//! made while the unit is stopped, pruned to `keep`, restored before the old version starts
//! when the guard rolls back, and a failed copy switches nothing.

use super::*;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::time::{Duration, Instant};

struct Host {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Host {
    fn new() -> Host {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        for d in [
            "node/releases/1.0.0",
            "node/releases/2.0.0",
            "data/db",
            "bin",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::os::unix::fs::symlink("releases/1.0.0", root.join("node/current")).unwrap();
        std::fs::write(root.join("data/db/state"), "written by 1.0.0").unwrap();
        let sc = root.join("bin/systemctl");
        std::fs::write(
            &sc,
            format!(
                "#!/bin/sh\necho \"$* $(readlink {}/node/current)\" >> {}/systemctl.log\n",
                root.display(),
                root.display()
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
    /// Start the switch 1.0.0 -> 2.0.0 with `mode` (`copy` here), confirm window `secs`.
    fn switch(&self, mode: &str, secs: u64, bk: &str, prune: &[String]) -> std::process::Child {
        let tail = |what: &str| format!(r#""action":"{what}","detail":"{HOW}"}}"#);
        let b = SwitchBackup {
            mode: mode.into(),
            data_dir: self.p("data"),
            path: bk.into(),
            journal_done: tail("backup"),
            journal_failed: tail("backup-failed"),
            journal_restored: tail("restore"),
            journal_restore_failed: tail("restore-failed"),
            prune: prune.to_vec(),
        };
        let mut args = vec![
            self.p("node"),
            "demo.service".into(),
            "2.0.0".into(),
            "1.0.0".into(),
            secs.to_string(),
            "tok".into(),
            r#""result":"ok"}"#.into(),
            r#""result":"rolled-back (no confirmation)"}"#.into(),
            r#""result":"rolled-back (health gate failed)"}"#.into(),
            String::new(),
            r#""result":"rolled-back (interrupted by @WHY@)"}"#.into(),
            "ops@console".into(),
            "nodeherd-switch-demo".into(),
        ];
        args.extend(SwitchBackup::args(Some(&b)));
        Proc::new("sh")
            .arg("-c")
            .arg(crate::facts::layout::switch_script())
            .arg("nodeherd-switch")
            .args(args)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", self.p("bin")),
            )
            .env("NODEHERD_JOURNAL", self.p("journal.jsonl"))
            .env("NODEHERD_LIB", self.p("lib"))
            .env("NODEHERD_UNIT_DIR", self.p("units"))
            .spawn()
            .unwrap()
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
}

fn old_backups(h: &Host) -> Vec<String> {
    ["1.0.0-20260101T000000Z", "0.9.0-20251201T000000Z"]
        .iter()
        .map(|n| {
            let p = h.root.join("node/backups").join(n);
            std::fs::create_dir_all(&p).unwrap();
            p.display().to_string()
        })
        .collect()
}

#[test]
fn a_rollback_by_the_guard_restores_the_copy_before_the_old_version_starts() {
    let h = Host::new();
    let prune = vec![old_backups(&h)[1].clone()];
    let bk = h.p("node/backups/1.0.0-20261206T050000Z");
    let mut child = h.switch("copy", 1, &bk, &prune);
    h.wait_state("switched");
    // the new version "migrates" the data while it runs
    std::fs::write(h.root.join("data/db/state"), "migrated by 2.0.0").unwrap();
    std::fs::write(h.root.join("data/db/marker"), "new").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        h.read("node/.nodeherd/switch-tok.state").trim(),
        "rolled-back"
    );
    assert_eq!(h.read("data/db/state"), "written by 1.0.0");
    assert!(
        !h.root.join("data/db/marker").exists(),
        "restored: the marker is gone"
    );
    assert_eq!(
        std::fs::read_to_string(Path::new(&bk).join("db/state")).unwrap(),
        "written by 1.0.0",
        "the backup itself is kept"
    );
    assert!(!Path::new(&prune[0]).exists(), "pruned");
    assert!(Path::new(&old_backups(&h)[0]).exists());
    // stopped for the copy (still on 1.0.0), restarted on 2.0.0, stopped for the restore,
    // restarted on 1.0.0 after its start limit is cleared (a crash loop may have spent it)
    assert_eq!(
        h.read("systemctl.log"),
        "stop demo.service releases/1.0.0\nrestart demo.service releases/2.0.0\nstop demo.service releases/1.0.0\nreset-failed demo.service releases/1.0.0\nrestart demo.service releases/1.0.0\n"
    );
    let j = h.read("journal.jsonl");
    let lines: Vec<&str> = j.lines().collect();
    assert_eq!(lines.len(), 3, "{j}");
    assert!(
        lines[0].contains(r#""action":"backup","detail":"copy in "#),
        "{j}"
    );
    assert!(
        lines[1].contains(r#""action":"restore","detail":"from "#),
        "{j}"
    );
    assert!(lines[2].contains("rolled-back (no confirmation)"), "{j}");
    for l in lines {
        assert!(l.starts_with(r#"{"time":""#) && l.ends_with('}'), "{l}");
    }
}

#[test]
fn a_confirmed_switch_keeps_the_new_data_and_the_backup() {
    let h = Host::new();
    let bk = h.p("node/backups/1.0.0-20261206T050000Z");
    let mut child = h.switch("copy", 30, &bk, &[]);
    h.wait_state("switched");
    std::fs::write(h.root.join("data/db/marker"), "new").unwrap();
    std::fs::write(h.root.join("node/.nodeherd/confirm-tok"), "").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        h.read("node/.nodeherd/switch-tok.state").trim(),
        "confirmed"
    );
    assert!(h.root.join("data/db/marker").exists());
    assert!(Path::new(&bk).join("db/state").exists());
    assert!(!Path::new(&format!("{bk}.partial")).exists());
}

#[test]
fn a_copy_that_fails_switches_nothing_and_starts_the_unit_again() {
    let h = Host::new();
    // `backups` is a file: the copy cannot be made
    std::fs::write(h.root.join("node/backups"), "").unwrap();
    let bk = h.p("node/backups/1.0.0-20261206T050000Z");
    let mut child = h.switch("copy", 30, &bk, &[]);
    assert!(!child.wait().unwrap().success());
    assert_eq!(
        h.read("node/.nodeherd/switch-tok.state").trim(),
        "backup-failed"
    );
    assert_eq!(
        std::fs::read_link(h.root.join("node/current")).unwrap(),
        PathBuf::from("releases/1.0.0")
    );
    assert_eq!(
        h.read("systemctl.log"),
        "stop demo.service releases/1.0.0\nstart demo.service releases/1.0.0\n"
    );
    let j = h.read("journal.jsonl");
    assert!(
        j.contains(r#""action":"backup-failed","detail":"cannot create "#),
        "{j}"
    );
}

#[test]
fn a_rollback_switch_restores_first_and_a_missing_backup_leaves_the_unit_stopped() {
    let h = Host::new();
    let bk = h.p("node/backups/2.0.0-20261206T050000Z");
    std::fs::create_dir_all(Path::new(&bk).join("db")).unwrap();
    std::fs::write(Path::new(&bk).join("db/state"), "from the backup").unwrap();
    let mut child = h.switch("restore", 30, &bk, &[]);
    h.wait_state("switched");
    assert_eq!(h.read("data/db/state"), "from the backup");
    std::fs::write(h.root.join("node/.nodeherd/confirm-tok"), "").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        h.read("systemctl.log"),
        "stop demo.service releases/1.0.0\nrestart demo.service releases/2.0.0\n"
    );
    let h = Host::new();
    let mut child = h.switch("restore", 30, &h.p("node/backups/none"), &[]);
    assert!(!child.wait().unwrap().success());
    assert_eq!(
        h.read("node/.nodeherd/switch-tok.state").trim(),
        "restore-failed"
    );
    assert_eq!(
        h.read("systemctl.log"),
        "stop demo.service releases/1.0.0\n"
    );
    assert!(h.read("journal.jsonl").contains("no backup at "));
}
