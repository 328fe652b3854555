//! The journal: one JSON line per action that changes a host (start, stop, restart, key import,
//! removal and move, unit rewrite, install, upgrade, rollback, backup, restore), on the host
//! (`/var/log/nodeherd/journal.jsonl`) and in the console's `~/.local/state/nodeherd/journal.jsonl`;
//! `history` merges both.
//!
//! Owns: the entry format and the action names ([`action`]), the local journal file, parsing and
//! merging (pure). May not touch: SSH (callers fetch host journals with
//! [`crate::facts::layout::journal_read_command`] and write them through the engine's one
//! recorder). An entry never carries a secret: no key material, password or token goes into it.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// RFC 3339 UTC, seconds precision.
    pub time: String,
    /// The console user: `user@hostname`.
    pub who: String,
    /// One of [`action`]'s names.
    pub action: String,
    /// `host/node`.
    pub node: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// `ok`, `failed`, `rolled-back (health gate failed)`, `rolled-back (no confirmation)`, `refused`.
    pub result: String,
    #[serde(default)]
    pub detail: String,
    /// The id of the console run that wrote it. The host's guard and the console journal the
    /// same switch each with its own clock; the shared id lets `history` show it once.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run: String,
}

/// The action names a journal line can carry.
pub mod action {
    pub const START: &str = "start";
    pub const STOP: &str = "stop";
    pub const RESTART: &str = "restart";
    pub const KEY_IMPORT: &str = "key-import";
    pub const KEY_REMOVE: &str = "key-remove";
    pub const KEY_MOVE: &str = "key-move";
    pub const UNIT_REWRITE: &str = "unit-rewrite";
    pub const INSTALL: &str = "install";
    pub const UPGRADE: &str = "upgrade";
    pub const ROLLBACK: &str = "rollback";
    pub const BACKUP: &str = "backup";
    pub const RESTORE: &str = "restore";
    pub const APPLY: &str = "apply";
}

impl Entry {
    /// A line for `action` on `node` (`host/node`) by `who`, stamped now; the detail is
    /// sanitized (it often carries a server's text). No versions, no run id: set them after.
    pub fn now(who: &str, action: &str, node: &str, result: &str, detail: &str) -> Entry {
        Entry {
            time: now(),
            who: who.into(),
            action: action.into(),
            node: node.into(),
            from: String::new(),
            to: String::new(),
            result: result.into(),
            detail: crate::text::sanitize(detail),
            run: String::new(),
        }
    }

    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The entry as JSON without its leading `{"time":"...",`: the host's switch script prefixes the
/// host's own clock (see [`crate::facts::layout::switch_command`]).
pub fn tail_json(e: &Entry) -> String {
    #[derive(Serialize)]
    struct NoTime<'a> {
        who: &'a str,
        action: &'a str,
        node: &'a str,
        from: &'a str,
        to: &'a str,
        result: &'a str,
        detail: &'a str,
        #[serde(skip_serializing_if = "str::is_empty")]
        run: &'a str,
    }
    let s = serde_json::to_string(&NoTime {
        who: &e.who,
        action: &e.action,
        node: &e.node,
        from: &e.from,
        to: &e.to,
        result: &e.result,
        detail: &e.detail,
        run: &e.run,
    })
    .unwrap_or_else(|_| "{}".into());
    s.strip_prefix('{').unwrap_or(&s).to_string()
}

/// `user@hostname` of this console. The user is `$USER`, else `$LOGNAME`, else the name of the
/// process's uid in the user database (as `id -un` says it), else `uid N`.
pub fn who() -> String {
    let env = std::env::var("USER")
        .ok()
        .or_else(|| std::env::var("LOGNAME").ok());
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let user = pick_user(env, || uid_name(uid), uid);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "unknown".into(), |s| s.trim().to_string());
    format!("{user}@{host}")
}

/// The first of: a non-empty environment name, the uid's name (looked up only when needed), the
/// uid itself.
fn pick_user(
    env: Option<String>,
    name_of_uid: impl FnOnce() -> Option<String>,
    uid: u32,
) -> String {
    env.filter(|u| !u.trim().is_empty())
        .or_else(name_of_uid)
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The user database's name for `uid` (`getpwuid_r`: /etc/passwd and NSS), if it has one.
fn uid_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf's length is passed with it; `found` is
    // either null or points at `pw`, whose strings live in `buf`, read before buf is dropped.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &raw mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &raw mut found,
        )
    };
    if rc != 0 || found.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: pw_name is a NUL-terminated string inside `buf` (checked non-null above).
    let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
    let name = name.to_string_lossy().into_owned();
    (!name.is_empty()).then_some(name)
}

pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The console's journal file (`NODEHERD_STATE_DIR` overrides the state dir, for tests).
pub fn local_path() -> PathBuf {
    let base = std::env::var_os("NODEHERD_STATE_DIR")
        .map(PathBuf::from)
        .or_else(dirs::state_dir)
        .unwrap_or_else(|| std::env::temp_dir().join("nodeherd-state"));
    let base = if std::env::var_os("NODEHERD_STATE_DIR").is_some() {
        base
    } else {
        base.join("nodeherd")
    };
    base.join("journal.jsonl")
}

/// Append to the local journal (best effort: a journal problem never fails an upgrade).
///
/// The line and its newline go in one `write` on an `O_APPEND` file, so lines written at once
/// by the tasks of one fleet action (or by two consoles) never interleave: `writeln!` wrote the
/// text and the newline in two calls, and two tasks' lines could end up on one line, unreadable.
pub fn append_local(e: &Entry) {
    append_to(&local_path(), e);
}

/// [`append_local`] to the journal file at `p`.
fn append_to(p: &std::path::Path, e: &Entry) {
    if let Some(d) = p.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
    {
        let mut line = e.line();
        line.push('\n');
        let _ = f.write_all(line.as_bytes());
    }
}

/// Parse journal text; lines that are not entries are skipped (counted).
pub fn parse(text: &str) -> (Vec<Entry>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Entry>(l) {
            Ok(e) => out.push(e),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

/// Merge journals given host entries first, then the console's: sorted by time; an action
/// journaled in both places shows once, as the host wrote it (the host is the source of truth).
/// Entries of the same run are the same action when node, action and result agree; entries
/// without a run id (older lines) when their time, node, action, target and result agree.
pub fn merge(all: Vec<Entry>) -> Vec<Entry> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Entry> = all
        .into_iter()
        .filter(|e| {
            let key = if e.run.is_empty() {
                (
                    String::new(),
                    e.time.clone(),
                    e.node.clone(),
                    e.action.clone(),
                    e.to.clone(),
                    e.result.clone(),
                )
            } else {
                (
                    e.run.clone(),
                    String::new(),
                    e.node.clone(),
                    e.action.clone(),
                    e.to.clone(),
                    e.result.clone(),
                )
            };
            seen.insert(key)
        })
        .collect();
    out.sort_by(|a, b| a.time.cmp(&b.time));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_appended_at_once_by_many_tasks_each_stay_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        std::thread::scope(|s| {
            for t in 0..8 {
                let path = &path;
                s.spawn(move || {
                    for i in 0..300 {
                        let mut x = e("2026-12-07T12:00:00Z", "ok");
                        x.detail = format!("task {t} line {i} {}", "x".repeat(200));
                        append_to(path, &x);
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let (entries, bad) = parse(&text);
        assert_eq!((entries.len(), bad), (2400, 0));
    }

    fn e(time: &str, result: &str) -> Entry {
        Entry {
            time: time.into(),
            who: "root@box".into(),
            action: "upgrade".into(),
            node: "h/n".into(),
            from: "1.4.2".into(),
            to: "1.5.1".into(),
            result: result.into(),
            detail: "say \"hi\"".into(),
            run: String::new(),
        }
    }

    #[test]
    fn a_new_line_is_stamped_and_sanitized() {
        let x = Entry::now(
            "ops@box",
            action::RESTART,
            "h/n",
            "ok",
            "pid 42\x1b[31m red",
        );
        assert_eq!(x.action, "restart");
        assert!(x.time.ends_with('Z') && x.time.len() == 20, "{}", x.time);
        assert!(!x.detail.contains('\x1b'), "{}", x.detail);
        assert_eq!(parse(&x.line()).0, vec![x]);
    }

    #[test]
    fn tail_json_rebuilds_with_host_time() {
        let x = e("2026-01-01T00:00:00Z", "ok");
        let line = format!(
            "{{\"time\":\"{}\",{}",
            "2026-01-02T00:00:00Z",
            tail_json(&x)
        );
        let back: Entry = serde_json::from_str(&line).unwrap();
        assert_eq!(back.time, "2026-01-02T00:00:00Z");
        assert_eq!(back.detail, x.detail);
    }

    #[test]
    fn merge_dedups_and_sorts() {
        let a = e("2026-01-02T00:00:00Z", "ok");
        let b = e("2026-01-01T00:00:00Z", "failed");
        let text = format!("{}\nnot json\n{}\n", a.line(), b.line());
        let (parsed, bad) = parse(&text);
        assert_eq!(bad, 1);
        let merged = merge([parsed.clone(), parsed].concat());
        assert_eq!(merged, vec![b, a]);
    }

    #[test]
    fn merge_shows_one_run_once_as_the_host_wrote_it() {
        let mut host = e("2026-01-01T00:00:05Z", "ok");
        host.run = "ab12".into();
        host.detail = "health gate passed and confirmed".into();
        let mut local = host.clone();
        local.time = "2026-01-01T00:00:06Z".into();
        local.detail = "healthy and confirmed".into();
        // A different outcome of the same run (the console lost the link) stays visible.
        let mut lost = local.clone();
        lost.result = "failed".into();
        // Another run with the same times and versions is another action.
        let mut other = host.clone();
        other.run = "cd34".into();
        let merged = merge(vec![host.clone(), other.clone(), local, lost.clone()]);
        assert_eq!(merged, vec![host, other, lost]);
    }

    #[test]
    fn who_falls_back_to_the_uids_name_then_the_uid() {
        assert_eq!(pick_user(Some("ops".into()), || None, 7), "ops");
        // $USER unset (cron, systemd services): the uid's name, never "unknown".
        assert_eq!(pick_user(None, || Some("root".into()), 0), "root");
        assert_eq!(
            pick_user(Some(" ".into()), || Some("ops".into()), 1000),
            "ops"
        );
        assert_eq!(pick_user(None, || None, 1234), "uid 1234");
        // The real lookup: this process's uid has the name the user database gives it.
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let id_un = std::process::Command::new("id").arg("-un").output();
        if let Some(o) = id_un.ok().filter(|o| o.status.success()) {
            let want = String::from_utf8_lossy(&o.stdout).trim().to_string();
            assert_eq!(uid_name(uid), Some(want));
        }
    }

    #[test]
    fn run_id_round_trips_through_the_hosts_tail_json() {
        let mut x = e("2026-01-01T00:00:00Z", "ok");
        x.run = "ab12".into();
        let line = format!("{{\"time\":\"{}\",{}", x.time, tail_json(&x));
        let back: Entry = serde_json::from_str(&line).unwrap();
        assert_eq!(back, x);
        // Lines written before run ids existed still parse.
        let old = r#"{"time":"t","who":"w","action":"upgrade","node":"h/n","result":"ok"}"#;
        assert_eq!(parse(old).0[0].run, "");
    }
}
