//! The shared, read-only Debian base root (`state_dir/base`) and the client key pair.
//!
//! Owns: running debootstrap once, the fixes applied to the base (no shared host keys, empty
//! machine-id, masked units, key-only sshd, the `ops` sudo user) and `state_dir/id_ed25519`.
//! Callers hold the cache lock (`state_dir/.lock`). Never touches a host's own files.
//!
//! May not touch: anything named after one host (`host`), the bridge.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::LabError;
use crate::sys;

/// Debian suite and packages of the base (see docs/lab.md).
pub const SUITE: &str = "bookworm";
pub const MIRROR: &str = "http://deb.debian.org/debian";
pub const PACKAGES: &str =
    "systemd,systemd-sysv,dbus,openssh-server,sudo,curl,ca-certificates,iproute2,procps,libstdc++6";

/// Written last, when the base is complete.
pub const READY_MARKER: &str = ".nodeherd-base-ready";
/// Written when debootstrap itself finished (before the fixes).
const DEBOOTSTRAP_MARKER: &str = ".nodeherd-debootstrap-done";

/// Units masked in every host: they wait for a console, or do maintenance nobody wants in a lab.
pub const MASKED_UNITS: [&str; 8] = [
    "systemd-firstboot.service",
    "getty@tty1.service",
    "console-getty.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "fstrim.timer",
    "systemd-pstore.service",
];

/// The sshd drop-in: only keys, the host's own ed25519 key, room for many parallel sessions.
pub const SSHD_CONFIG: &str = "# nodeherd lab: key-only sshd
HostKey /etc/ssh/ssh_host_ed25519_key
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxStartups 200:30:400
MaxSessions 64
UseDNS no
";

/// The non-root user for tests of `sudo`.
pub const OPS_USER: &str = "ops";

/// Whether debootstrap completed in `base` (our marker, or debootstrap's own sign of success:
/// it removes `/debootstrap` from the target at the very end).
fn debootstrap_done(base: &Path) -> bool {
    base.join(DEBOOTSTRAP_MARKER).exists()
        || (!base.join("debootstrap").exists()
            && base.join("usr/sbin/sshd").exists()
            && base.join("etc/debian_version").exists()
            && base.join("usr/bin/systemctl").exists())
}

pub fn is_ready(base: &Path) -> bool {
    base.join(READY_MARKER).exists()
}

/// Builds the base root if it is not complete. Returns whether anything was done.
pub fn ensure_base(state_dir: &Path) -> Result<bool, LabError> {
    let base = crate::naming::base_dir(state_dir);
    if is_ready(&base) {
        return Ok(false);
    }
    if !debootstrap_done(&base) {
        let started = Instant::now();
        eprintln!(
            "nodeherd lab: building the Debian {SUITE} base root in {} (once, ~2 min)",
            base.display()
        );
        sys::unmount_below(&base)?;
        sys::remove_tree(&base)?;
        let log = state_dir.join("debootstrap.log");
        let log_file =
            std::fs::File::create(&log).map_err(|e| LabError::io("creating", &log, e))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| LabError::io("opening", &log, e))?;
        let status = Command::new("debootstrap")
            .arg("--variant=minbase")
            .arg(format!("--include={PACKAGES}"))
            .arg(SUITE)
            .arg(&base)
            .arg(MIRROR)
            .stdin(std::process::Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .status()
            .map_err(|source| LabError::Spawn {
                command: "debootstrap".into(),
                source,
            })?;
        // debootstrap may leave /proc etc. mounted when it fails.
        sys::unmount_below(&base)?;
        if !status.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(8).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(LabError::Base(format!(
                "debootstrap exited with {status}; last lines of {}:\n{}",
                log.display(),
                tail.join("\n")
            )));
        }
        sys::write_file(&base.join(DEBOOTSTRAP_MARKER), "")?;
        eprintln!(
            "nodeherd lab: debootstrap finished in {:.0?}",
            started.elapsed()
        );
    }
    apply_fixes(&base)?;
    sys::write_file(&base.join(READY_MARKER), "")?;
    Ok(true)
}

/// The fixes of docs/lab.md, idempotent.
fn apply_fixes(base: &Path) -> Result<(), LabError> {
    // One key set made by debootstrap would be shared by every host: delete it.
    let ssh_dir = base.join("etc/ssh");
    if let Ok(entries) = std::fs::read_dir(&ssh_dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("ssh_host_") {
                let p = e.path();
                std::fs::remove_file(&p).map_err(|err| LabError::io("removing", &p, err))?;
            }
        }
    }
    sys::write_file(&base.join("etc/machine-id"), "")?;
    for unit in MASKED_UNITS {
        sys::symlink("/dev/null", &base.join("etc/systemd/system").join(unit))?;
    }
    sys::write_file(
        &base.join("etc/ssh/sshd_config.d/nodeherd-lab.conf"),
        SSHD_CONFIG,
    )?;
    sys::mkdir_p(&base.join("root/.ssh"))?;
    set_mode(&base.join("root/.ssh"), 0o700)?;

    let passwd = std::fs::read_to_string(base.join("etc/passwd"))
        .map_err(|e| LabError::io("reading", base.join("etc/passwd"), e))?;
    if passwd_entry(&passwd, OPS_USER).is_none() {
        sys::run(
            "chroot",
            [
                base.as_os_str(),
                "useradd".as_ref(),
                "--create-home".as_ref(),
                "--shell".as_ref(),
                "/bin/bash".as_ref(),
                OPS_USER.as_ref(),
            ],
        )?;
    }
    // '*' = no password but not locked, so key logins work whatever sshd's PAM setting.
    sys::run(
        "chroot",
        [
            base.as_os_str(),
            "usermod".as_ref(),
            "-p".as_ref(),
            "*".as_ref(),
            OPS_USER.as_ref(),
        ],
    )?;
    let sudoers = base.join("etc/sudoers.d/nodeherd-ops");
    sys::write_file(&sudoers, format!("{OPS_USER} ALL=(ALL) NOPASSWD:ALL\n"))?;
    set_mode(&sudoers, 0o440)?;
    Ok(())
}

pub fn set_mode(path: &Path, mode: u32) -> Result<(), LabError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| LabError::io("setting permissions of", path, e))
}

/// `(uid, gid, home)` of `user` in `/etc/passwd` text.
pub fn passwd_entry(passwd: &str, user: &str) -> Option<(u32, u32, String)> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 7 && f[0] == user {
            Some((f[2].parse().ok()?, f[3].parse().ok()?, f[5].to_string()))
        } else {
            None
        }
    })
}

/// Creates the client key pair `state_dir/id_ed25519` if missing. Returns whether it did.
pub fn ensure_client_key(state_dir: &Path) -> Result<bool, LabError> {
    let key = crate::naming::client_key(state_dir);
    let pubkey = key.with_extension("pub");
    if key.exists() && pubkey.exists() {
        return Ok(false);
    }
    generate_ed25519(&key, "nodeherd-lab-client")?;
    Ok(true)
}

/// Generates an ed25519 key pair without passphrase at `path` (and `path.pub`), atomically.
pub fn generate_ed25519(path: &Path, comment: &str) -> Result<(), LabError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    sys::mkdir_p(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "key".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let tmp_pub = dir.join(format!(".{name}.tmp{}.pub", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_file(&tmp_pub);
    sys::run(
        "ssh-keygen",
        [
            "-q".as_ref(),
            "-t".as_ref(),
            "ed25519".as_ref(),
            "-N".as_ref(),
            "".as_ref(),
            "-C".as_ref(),
            comment.as_ref(),
            "-f".as_ref(),
            tmp.as_os_str(),
        ],
    )?;
    let pub_final = {
        let mut p = path.as_os_str().to_owned();
        p.push(".pub");
        std::path::PathBuf::from(p)
    };
    std::fs::rename(&tmp_pub, &pub_final).map_err(|e| LabError::io("renaming", &pub_final, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LabError::io("renaming", path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lookup() {
        let text = "root:x:0:0:root:/root:/bin/bash\nops:x:1000:1000::/home/ops:/bin/bash\n";
        assert_eq!(
            passwd_entry(text, "ops"),
            Some((1000, 1000, "/home/ops".to_string()))
        );
        assert_eq!(passwd_entry(text, "op"), None);
        assert_eq!(passwd_entry("ops:x:zz:1::/h:/bin/sh", "ops"), None);
    }

    #[test]
    fn generates_a_key_pair() {
        if !sys::have_program("ssh-keygen") {
            eprintln!("skipped: needs ssh-keygen");
            return;
        }
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let key = dir.path().join("id_ed25519");
        assert!(matches!(ensure_client_key(dir.path()), Ok(true)));
        assert!(matches!(ensure_client_key(dir.path()), Ok(false)));
        let pubtext = std::fs::read_to_string(key.with_extension("pub")).unwrap_or_default();
        assert!(pubtext.starts_with("ssh-ed25519 "), "{pubtext}");
    }
}
