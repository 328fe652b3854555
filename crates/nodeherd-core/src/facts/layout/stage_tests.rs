//! The staging script run for real: `sh -c` on this machine over a temporary install dir, the
//! way a host runs it (it needs only sh, sha256sum, tar, xz and unzip, like a host).
//!
//! Owns: nothing but tests. May not touch: anything outside its temporary directory.

use super::*;
use std::path::Path;
use std::process::Command as Proc;

fn sha(p: &Path) -> String {
    let o = Proc::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&o.stdout)[..64].to_string()
}

fn run(c: &Command) -> (bool, String) {
    let o = Proc::new("sh")
        .arg("-c")
        .arg(c.to_shell_string())
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Put `artifact` where the upload leaves it; returns its sha256.
fn upload(dir: &Path, artifact: &Path) -> String {
    let sum = sha(artifact);
    let inc = dir.join(".nodeherd/incoming");
    std::fs::create_dir_all(&inc).unwrap();
    std::fs::copy(artifact, inc.join(format!("{sum}.part"))).unwrap();
    sum
}

/// A tree `top/bin/prog` (executable) plus a README, in `src`.
fn tree(src: &Path, top: &str) {
    let bin = src.join(top).join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("prog"), "#!/bin/sh\necho hi\n").unwrap();
    Proc::new("chmod")
        .arg("0755")
        .arg(bin.join("prog"))
        .status()
        .unwrap();
    std::fs::write(src.join(top).join("README"), "r\n").unwrap();
}

fn stage(dir: &Path, sum: &str, kind: ArchiveKind, bin: Option<&str>) -> (bool, String) {
    let spec = StageSpec {
        sha256: sum,
        version: "2.0.0",
        kind,
        binary: bin,
    };
    run(&stage_command(&dir.display().to_string(), &spec).unwrap())
}

fn is_exec(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[test]
fn every_archive_kind_exposes_the_program() {
    let guard = tempfile_dir();
    let t = guard.path();
    let src = t.join("src");
    tree(&src, "app-2.0.0");
    let cases: [(&str, ArchiveKind, Vec<&str>); 3] = [
        ("a.tar.gz", ArchiveKind::TarGz, vec!["tar", "-czf"]),
        ("a.tar.xz", ArchiveKind::TarXz, vec!["tar", "-cJf"]),
        ("a.zip", ArchiveKind::Zip, vec!["zip", "-qr"]),
    ];
    for (name, kind, tool) in cases {
        let dir = t.join(format!("install-{name}"));
        let art = t.join(name);
        let st = Proc::new(tool[0])
            .arg(tool[1])
            .arg(&art)
            .arg("app-2.0.0")
            .current_dir(&src)
            .status()
            .unwrap();
        assert!(st.success(), "{name}");
        let sum = upload(&dir, &art);
        let (ok, err) = stage(&dir, &sum, kind, Some("app-2.0.0/bin/prog"));
        assert!(ok, "{name}: {err}");
        let exposed = dir.join("releases/2.0.0/prog");
        assert!(
            is_exec(&exposed),
            "{name}: current/prog must be the program"
        );
        assert_eq!(
            std::fs::read_link(&exposed).unwrap(),
            Path::new("app-2.0.0/bin/prog"),
            "{name}"
        );
        assert!(!dir.join("releases/2.0.0.partial").exists());
        assert!(!dir.join(format!(".nodeherd/incoming/{sum}.part")).exists());
    }
}

#[test]
fn a_bare_binary_is_installed_under_its_name_and_made_executable() {
    let guard = tempfile_dir();
    let t = guard.path();
    let art = t.join("beacon-chain-v7.1.4-linux-amd64");
    std::fs::write(&art, "#!/bin/sh\necho beacon\n").unwrap();
    let dir = t.join("install");
    let sum = upload(&dir, &art);
    let (ok, err) = stage(&dir, &sum, ArchiveKind::Bare, Some("beacon-chain"));
    assert!(ok, "{err}");
    assert!(is_exec(&dir.join("releases/2.0.0/beacon-chain")));
}

#[test]
fn a_missing_program_or_bad_digest_leaves_nothing_behind() {
    let guard = tempfile_dir();
    let t = guard.path();
    let src = t.join("src");
    tree(&src, "app-2.0.0");
    let art = t.join("a.tar.gz");
    assert!(
        Proc::new("tar")
            .args(["-czf"])
            .arg(&art)
            .arg("app-2.0.0")
            .current_dir(&src)
            .status()
            .unwrap()
            .success()
    );
    let dir = t.join("install");
    std::fs::create_dir_all(dir.join("releases/1.0.0")).unwrap();
    let sum = upload(&dir, &art);
    let (ok, err) = stage(
        &dir,
        &sum,
        ArchiveKind::TarGz,
        Some("app-2.0.0/bin/lodestar"),
    );
    assert!(!ok);
    assert!(err.contains("has no app-2.0.0/bin/lodestar"), "{err}");
    let left: Vec<String> = std::fs::read_dir(dir.join("releases"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["1.0.0".to_string()]);
    assert!(!dir.join(format!(".nodeherd/incoming/{sum}.part")).exists());
    // a digest that is not the upload's: refused before unpacking
    let sum2 = upload(&dir, &art);
    let wrong = "0".repeat(64);
    std::fs::rename(
        dir.join(format!(".nodeherd/incoming/{sum2}.part")),
        dir.join(format!(".nodeherd/incoming/{wrong}.part")),
    )
    .unwrap();
    let (ok, err) = stage(&dir, &wrong, ArchiveKind::TarGz, None);
    assert!(!ok);
    assert!(err.contains("digest mismatch on the host"), "{err}");
    assert!(!dir.join("releases/2.0.0").exists());
}

#[test]
fn unsafe_paths_are_refused_before_anything_runs() {
    let spec = |bin| StageSpec {
        sha256: "ab",
        version: "1.0.0",
        kind: ArchiveKind::TarGz,
        binary: Some(bin),
    };
    for bad in ["../x", "/bin/sh", "a//b", "-rf", "a/../../b", ""] {
        assert!(stage_command("/opt/n", &spec(bad)).is_err(), "{bad}");
    }
    let bare = StageSpec {
        kind: ArchiveKind::Bare,
        binary: None,
        ..spec("x")
    };
    assert_eq!(
        stage_command("/opt/n", &bare).unwrap_err(),
        StageError::BareWithoutName
    );
}

/// A fresh directory, removed when the guard drops.
fn tempfile_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Run the receive script with `input` on stdin; returns (success, stderr).
fn receive(dir: &Path, sum: &str, size: u64, input: &[u8]) -> (bool, String) {
    use std::io::Write;
    let c = receive_command(&dir.display().to_string(), sum, size);
    let mut child = Proc::new("sh")
        .arg("-c")
        .arg(c.to_shell_string())
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let o = child.wait_with_output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A whole upload lands as `<sha>.part`; one cut short (the console died, sshd closed stdin)
/// leaves nothing and says how much arrived.
#[test]
fn receive_keeps_a_whole_upload_and_removes_a_short_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let part = |s: &str| dir.join(format!(".nodeherd/incoming/{s}.part"));
    let (ok, err) = receive(dir, "aa", 10, b"0123456789");
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(part("aa")).unwrap(), b"0123456789");
    let (ok, err) = receive(dir, "bb", 10, b"01234");
    assert!(!ok);
    assert!(err.contains("the host got 5 of 10 bytes"), "{err}");
    assert!(!part("bb").exists());
}
