//! Thin helpers over the machine: running programs, file locks, mounts, processes.
//!
//! Owns: how the lab runs external commands and reads `/proc`. The parsers of `/proc` text
//! (`mountinfo`, `cmdline`) are pure and unit-tested. Knows nothing about hosts or labs.
//!
//! May not touch: anything that knows about labs (names and paths come from the callers).

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::LabError;

/// Runs a program to completion; error (with its stderr) unless it exits 0. Returns stdout.
pub fn run<I, S>(program: &str, args: I) -> Result<String, LabError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args);
    run_cmd(&mut cmd)
}

/// Like [`run`] for a prepared [`Command`].
pub fn run_cmd(cmd: &mut Command) -> Result<String, LabError> {
    let shown = show(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::Spawn {
            command: shown.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: shown,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a program and reports only whether it succeeded (for probes and best-effort cleanup).
pub fn run_ok<I, S>(program: &str, args: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Deletes a network interface of the root namespace if it exists; tolerates it vanishing
/// meanwhile (a veth dies with its peer's namespace) and waits up to 3 s for it to be gone.
pub fn delete_link(name: &str) -> Result<(), LabError> {
    let exists = || Path::new("/sys/class/net").join(name).exists();
    if !exists() {
        return Ok(());
    }
    let result = run("ip", ["link", "del", name]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while exists() {
        if std::time::Instant::now() > deadline {
            return result.map(|_| ());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(())
}

/// A command line for messages.
pub fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Whether `program` is found on PATH (or is an existing path).
pub fn have_program(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).any(|d| d.join(program).is_file())
}

/// An exclusive `flock` held until dropped.
pub struct FileLock {
    _file: File,
}

/// Takes an exclusive lock on `path` (created if needed), waiting for other holders.
pub fn lock(path: &Path) -> Result<FileLock, LabError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| LabError::io("creating", dir, e))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| LabError::io("opening lock file", path, e))?;
    // SAFETY: flock on a valid, owned file descriptor; no memory is shared.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    if rc != 0 {
        return Err(LabError::io(
            "locking",
            path,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(FileLock { _file: file })
}

pub fn write_file(path: &Path, content: impl AsRef<[u8]>) -> Result<(), LabError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| LabError::io("creating", dir, e))?;
    }
    std::fs::write(path, content).map_err(|e| LabError::io("writing", path, e))
}

/// Writes a file atomically (temp file in the same directory, then rename).
pub fn write_atomic(path: &Path, content: impl AsRef<[u8]>) -> Result<(), LabError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(dir).map_err(|e| LabError::io("creating", dir, e))?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp{}", std::process::id()));
    {
        let mut f = File::create(&tmp).map_err(|e| LabError::io("creating", &tmp, e))?;
        f.write_all(content.as_ref())
            .and_then(|()| f.sync_all())
            .map_err(|e| LabError::io("writing", &tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| LabError::io("renaming into", path, e))
}

pub fn mkdir_p(path: &Path) -> Result<(), LabError> {
    std::fs::create_dir_all(path).map_err(|e| LabError::io("creating", path, e))
}

pub fn symlink(target: &str, link: &Path) -> Result<(), LabError> {
    if let Some(dir) = link.parent() {
        mkdir_p(dir)?;
    }
    match std::fs::symlink_metadata(link) {
        Ok(_) => {
            std::fs::remove_file(link).map_err(|e| LabError::io("replacing", link, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(LabError::io("inspecting", link, e)),
    }
    std::os::unix::fs::symlink(target, link).map_err(|e| LabError::io("creating symlink", link, e))
}

/// Unescapes the octal escapes (`\040` etc.) of `/proc/*/mountinfo` fields.
fn unescape_mount_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points listed in `/proc/self/mountinfo` text (field 5), unescaped, in file order.
pub fn parse_mountinfo(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mount_path(p)))
        .collect()
}

/// Mount points at or below `dir`, deepest first (the order to unmount them).
pub fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = parse_mountinfo(&text)
        .into_iter()
        .filter(|m| m.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// Unmounts everything at or below `dir` (lazily as a last resort), deepest first.
pub fn unmount_below(dir: &Path) -> Result<(), LabError> {
    for _ in 0..3 {
        let mounts = mounts_below(dir);
        if mounts.is_empty() {
            return Ok(());
        }
        for m in mounts {
            if !run_ok("umount", [m.as_os_str()]) {
                run_ok("umount", [OsStr::new("-l"), m.as_os_str()]);
            }
        }
    }
    match mounts_below(dir).into_iter().next() {
        None => Ok(()),
        Some(mount) => Err(LabError::StillMounted {
            path: dir.to_path_buf(),
            mount,
        }),
    }
}

/// Removes a directory tree, refusing if anything is mounted inside it.
pub fn remove_tree(dir: &Path) -> Result<(), LabError> {
    if let Some(mount) = mounts_below(dir).into_iter().next() {
        return Err(LabError::StillMounted {
            path: dir.to_path_buf(),
            mount,
        });
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LabError::io("removing", dir, e)),
    }
}

/// Splits a `/proc/PID/cmdline` blob into arguments.
pub fn parse_cmdline(raw: &[u8]) -> Vec<String> {
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Whether a command line is the `systemd-nspawn` of machine `machine`.
pub fn is_nspawn_of(args: &[String], machine: &str) -> bool {
    let is_nspawn = args
        .first()
        .is_some_and(|a| a == "systemd-nspawn" || a.ends_with("/systemd-nspawn"));
    let want = format!("--machine={machine}");
    is_nspawn && args.contains(&want)
}

/// Arguments of a live process, `None` if it is gone (or a zombie: empty cmdline).
/// Whether `pid` is a live process (not a zombie). Unlike [`cmdline`], which reads empty while a
/// process is inside `exec` (the kernel has not set up the new arguments yet: a window that widens
/// on a loaded machine), this reads the process state from `/proc/PID/stat`.
pub fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| process_state(&s))
        .is_some_and(|c| c != 'Z' && c != 'X' && c != 'x')
}

/// The state letter of a `/proc/PID/stat` line (after the command name, which may hold spaces
/// and parentheses).
fn process_state(stat: &str) -> Option<char> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args = parse_cmdline(&raw);
    if args.is_empty() { None } else { Some(args) }
}

/// PIDs of every `systemd-nspawn --machine=machine` process on the machine.
pub fn find_nspawn(machine: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(std::result::Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| cmdline(*pid).is_some_and(|a| is_nspawn_of(&a, machine)))
        .collect()
}

/// Number of `systemd-nspawn` processes on the machine (all labs).
pub fn find_nspawn_count() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(std::result::Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| {
            cmdline(*pid)
                .and_then(|a| a.first().map(|a0| a0.ends_with("systemd-nspawn")))
                .unwrap_or(false)
        })
        .count()
}

/// Sends a signal; false if the process does not exist.
pub fn kill(pid: u32, sig: i32) -> bool {
    let Ok(p) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if p <= 0 {
        return false; // never signal a process group by accident
    }
    // SAFETY: kill(2) with a positive pid; no memory involved.
    unsafe { libc::kill(p, sig) == 0 }
}

#[cfg(test)]
mod tests {

    #[test]
    fn process_state_reads_past_a_command_name_with_parens() {
        assert_eq!(super::process_state("42 (sh) S 1 42 42"), Some('S'));
        assert_eq!(super::process_state("7 (a) b (c)) Z 1 7"), Some('Z'));
        assert_eq!(super::process_state("garbage"), None);
    }

    #[test]
    fn running_sees_this_process_and_not_a_reaped_child() {
        assert!(super::running(std::process::id()));
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!super::running(pid));
    }

    use super::*;

    #[test]
    fn mountinfo_parsing() {
        let text = "36 35 98:0 /mnt1 /mnt/parent\\040dir rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    120 29 0:52 / /var/lib/nodeherd/lab/hosts/nhlab-1/root rw,relatime shared:70 - overlay overlay rw,lowerdir=/var/lib/nodeherd/lab/base\n";
        assert_eq!(
            parse_mountinfo(text),
            vec![
                PathBuf::from("/mnt/parent dir"),
                PathBuf::from("/var/lib/nodeherd/lab/hosts/nhlab-1/root")
            ]
        );
    }

    #[test]
    fn cmdline_parsing_and_matching() {
        let raw = b"systemd-nspawn\0--quiet\0--boot\0--machine=nhlab-1\0";
        let args = parse_cmdline(raw);
        assert_eq!(args.len(), 4);
        assert!(is_nspawn_of(&args, "nhlab-1"));
        assert!(!is_nspawn_of(&args, "nhlab-11"));
        assert!(!is_nspawn_of(&args, "nhlab"));
        let other = parse_cmdline(b"/bin/sh\0-c\0--machine=nhlab-1\0");
        assert!(!is_nspawn_of(&other, "nhlab-1"));
        assert!(parse_cmdline(b"").is_empty());
    }

    #[test]
    fn kill_refuses_pid_zero() {
        assert!(!kill(0, 0));
    }
}
