//! Facts about systemd units: the commands that read them and pure parsers of their output.
//!
//! Owns: which `systemctl`/`journalctl` invocations nodeherd runs, and turning their text into
//! typed values. May not touch: SSH, the inventory, the terminal. Every parser here is tested on
//! output captured from real systemd (tests/fixtures/systemd/).

use crate::remote::Command;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// The `systemctl show` properties nodeherd reads, in one call for all units of a host.
pub const SHOW_PROPERTIES: &[&str] = &[
    "Id",
    "LoadState",
    "ActiveState",
    "SubState",
    "MainPID",
    "ActiveEnterTimestamp",
    "InactiveEnterTimestamp",
    "ExecMainStatus",
    "Result",
    "NRestarts",
    "UnitFileState",
    "Description",
];

/// `systemctl show` for several units at once, with unix timestamps (no time-zone guessing).
pub fn show_command(units: &[&str]) -> Command {
    Command::new("systemctl")
        .arg("show")
        .arg("--timestamp=unix")
        .arg(format!("--property={}", SHOW_PROPERTIES.join(",")))
        .arg("--")
        .args(units.iter().copied())
}

/// One unit as `systemctl show` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct UnitState {
    pub id: String,
    /// loaded, not-found, bad-setting, error, masked
    pub load_state: String,
    /// active, reloading, inactive, failed, activating, deactivating
    pub active_state: String,
    /// running, exited, dead, failed, auto-restart, start-pre ...
    pub sub_state: String,
    /// The main process, when there is one (systemd reports 0 for none: never act on 0).
    pub main_pid: Option<u32>,
    /// When the unit last entered the active state.
    pub active_since: Option<DateTime<Utc>>,
    /// When the unit last became inactive.
    pub inactive_since: Option<DateTime<Utc>>,
    /// Exit status of the last main process (meaningful when it exited).
    pub exec_main_status: Option<i32>,
    /// success, exit-code, signal, timeout, core-dump, start-limit-hit ...
    pub result: String,
    pub restarts: Option<u32>,
    pub unit_file_state: String,
    pub description: String,
}

impl UnitState {
    pub fn is_active(&self) -> bool {
        self.active_state == "active"
    }
    pub fn is_failed(&self) -> bool {
        self.active_state == "failed"
    }
    pub fn exists(&self) -> bool {
        self.load_state != "not-found"
    }
    /// A short reason when the unit is not healthy from systemd's point of view.
    pub fn problem(&self) -> Option<String> {
        if !self.exists() {
            return Some(format!("unit {} not found on the host", self.id));
        }
        if self.load_state != "loaded" {
            return Some(format!("unit {} is {}", self.id, self.load_state));
        }
        if self.result != "success" && !self.result.is_empty() {
            let status = self
                .exec_main_status
                .filter(|s| *s != 0)
                .map(|s| format!(" (status {s})"))
                .unwrap_or_default();
            return Some(format!("last run ended: {}{status}", self.result));
        }
        None
    }
}

/// Parse the output of [`show_command`]: blocks of `Key=Value` lines separated by blank lines,
/// one block per unit, in the order asked.
pub fn parse_show(text: &str) -> Vec<UnitState> {
    let mut out = Vec::new();
    let mut block: BTreeMap<&str, &str> = BTreeMap::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !block.is_empty() {
                out.push(unit_from_block(&block));
                block.clear();
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            block.insert(k, v);
        }
    }
    out
}

fn unit_from_block(b: &BTreeMap<&str, &str>) -> UnitState {
    let s = |k: &str| {
        b.get(k)
            .map(std::string::ToString::to_string)
            .unwrap_or_default()
    };
    UnitState {
        id: s("Id"),
        load_state: s("LoadState"),
        active_state: s("ActiveState"),
        sub_state: s("SubState"),
        main_pid: b
            .get("MainPID")
            .and_then(|v| v.parse().ok())
            .filter(|p| *p != 0),
        active_since: b.get("ActiveEnterTimestamp").and_then(|v| parse_unix_ts(v)),
        inactive_since: b
            .get("InactiveEnterTimestamp")
            .and_then(|v| parse_unix_ts(v)),
        exec_main_status: b.get("ExecMainStatus").and_then(|v| v.parse().ok()),
        result: s("Result"),
        restarts: b.get("NRestarts").and_then(|v| v.parse().ok()),
        unit_file_state: s("UnitFileState"),
        description: s("Description"),
    }
}

/// `@1700000000` (systemd's `--timestamp=unix`); empty or `n/a` means never.
fn parse_unix_ts(v: &str) -> Option<DateTime<Utc>> {
    let secs: i64 = v.trim().strip_prefix('@')?.parse().ok()?;
    if secs == 0 {
        return None;
    }
    Utc.timestamp_opt(secs, 0).single()
}

/// The lifecycle actions nodeherd performs on a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Start,
    Stop,
    Restart,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
        }
    }
    /// Whether the action interrupts a running node (asks for confirmation).
    pub fn is_disruptive(self) -> bool {
        !matches!(self, Action::Start)
    }
    /// The state the unit should be in once the action succeeded.
    pub fn expect_active(self) -> bool {
        !matches!(self, Action::Stop)
    }
}

/// `systemctl <action> -- <unit>`; waits for the job to finish (systemctl's default).
pub fn action_command(action: Action, unit: &str) -> Command {
    Command::new("systemctl")
        .arg(action.verb())
        .arg("--")
        .arg(unit)
}

/// journalctl for one unit, unix timestamps in microseconds, no pager, no colour.
pub fn journal_command(unit: &str, lines: usize, follow: bool) -> Command {
    let mut c = Command::new("journalctl")
        .arg("--unit")
        .arg(unit)
        .arg("--lines")
        .arg(lines.to_string())
        .arg("--output=short-unix")
        .arg("--no-pager")
        .arg("--quiet");
    if follow {
        c = c.arg("--follow");
    }
    c
}

/// One journal line as `journalctl --output=short-unix` prints it:
/// `1700000000.123456 hostname ident[pid]: message`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalLine {
    pub time: Option<DateTime<Utc>>,
    pub host: String,
    /// Syslog identifier with the pid, e.g. `node[123]` or `systemd[1]`.
    pub ident: String,
    /// The message, sanitized: no ANSI escape sequences, no control characters.
    pub message: String,
}

/// Parse one short-unix journal line; a line that does not have the shape is kept whole as message.
pub fn parse_journal_line(line: &str) -> JournalLine {
    let fallback = || JournalLine {
        time: None,
        host: String::new(),
        ident: String::new(),
        message: sanitize(line),
    };
    let Some((ts, rest)) = line.split_once(' ') else {
        return fallback();
    };
    let Some(time) = parse_micro_ts(ts) else {
        return fallback();
    };
    let Some((host, rest)) = rest.split_once(' ') else {
        return fallback();
    };
    let (ident, message) = match rest.split_once(": ") {
        Some((i, m)) if !i.contains(' ') => (i, m),
        _ => ("", rest),
    };
    JournalLine {
        time: Some(time),
        host: sanitize(host),
        ident: sanitize(ident),
        message: sanitize(message),
    }
}

fn parse_micro_ts(ts: &str) -> Option<DateTime<Utc>> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    let secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let nanos: u32 = format!("{frac:0<9}").parse().ok()?;
    Utc.timestamp_opt(secs, nanos).single()
}

/// Moved to [`crate::text::sanitize`]; kept here so older paths still compile.
pub use crate::text::sanitize;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_parses_blocks_in_order() {
        let text = "Id=a.service\nLoadState=loaded\nActiveState=active\nSubState=running\nMainPID=42\nActiveEnterTimestamp=@1700000000\nResult=success\n\nId=b.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\nActiveEnterTimestamp=\nResult=success\n";
        let u = parse_show(text);
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].main_pid, Some(42));
        assert!(u[0].is_active());
        assert_eq!(
            u[0].active_since.map(|t| t.timestamp()),
            Some(1_700_000_000)
        );
        assert_eq!(u[1].main_pid, None, "MainPID=0 must never become a pid");
        assert!(!u[1].exists());
        assert!(u[1].problem().unwrap().contains("not found"));
    }

    #[test]
    fn journal_line_shapes() {
        let l = parse_journal_line(
            "1700000000.250000 nhlab-1 node[77]: \u{1b}[32minfo\u{1b}[39m: Synced - slot: 3",
        );
        assert_eq!(l.ident, "node[77]");
        assert_eq!(l.message, "info: Synced - slot: 3");
        assert_eq!(l.time.unwrap().timestamp_subsec_millis(), 250);
        let odd = parse_journal_line("-- No entries --");
        assert_eq!(odd.time, None);
        assert_eq!(odd.message, "-- No entries --");
    }

    // Captured from systemd 252 (Debian 12) in a lab host: an active, a stopped, a failed
    // transient and a missing unit, in the order asked.
    #[test]
    fn show_on_real_systemd_output() {
        let u = parse_show(include_str!(
            "../../../../tests/fixtures/systemd/show-mixed.txt"
        ));
        let ids: Vec<&str> = u.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "lodestar-bn.service",
                "nodeherd-demo.service",
                "nh-fail-demo.service",
                "no-such-unit.service"
            ]
        );
        assert!(u[0].is_active() && u[0].main_pid == Some(30) && u[0].problem().is_none());
        assert_eq!(
            u[0].active_since.map(|t| t.timestamp()),
            Some(1_795_255_366)
        );
        assert_eq!(
            (u[1].active_state.as_str(), u[1].main_pid),
            ("inactive", None)
        );
        assert_eq!(
            u[1].inactive_since.map(|t| t.timestamp()),
            Some(1_795_255_373)
        );
        assert!(u[2].is_failed());
        assert_eq!(
            u[2].problem().as_deref(),
            Some("last run ended: exit-code (status 3)")
        );
        assert!(!u[3].exists() && u[3].active_since.is_none());
    }

    #[test]
    fn journal_on_real_output() {
        let lines: Vec<JournalLine> =
            include_str!("../../../../tests/fixtures/systemd/journal-failed.txt")
                .lines()
                .map(parse_journal_line)
                .collect();
        assert_eq!(lines.len(), 4);
        assert!(
            lines
                .iter()
                .all(|l| l.time.is_some() && l.host == "nhlab-1")
        );
        assert_eq!(
            (lines[1].ident.as_str(), lines[1].message.as_str()),
            ("sh[88]", "boom")
        );
        assert_eq!(
            lines[3].message,
            "nh-fail-demo.service: Failed with result 'exit-code'."
        );
        let lode: Vec<JournalLine> =
            include_str!("../../../../tests/fixtures/systemd/journal-lodestar.txt")
                .lines()
                .map(parse_journal_line)
                .collect();
        assert!(
            lode.iter()
                .any(|l| l.ident == "node[30]" && l.message.contains("version=v1.5.1/2115aa7"))
        );
    }

    #[test]
    fn commands_quote_units() {
        let c = action_command(Action::Restart, "x;rm -rf /");
        assert_eq!(c.to_shell_string(), "systemctl restart -- 'x;rm -rf /'");
    }
}
