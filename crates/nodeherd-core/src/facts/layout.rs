//! What nodeherd runs on a managed host for upgrades: fixed shell scripts whose data arrive as
//! positional arguments (every one quoted by [`Command::arg`]), plus pure parsers of their output.
//!
//! Owns: the on-host layout `<install_dir>/{releases/<v>/, current, previous, .nodeherd/}`, the
//! switch script (flip, restart, wait for confirmation, roll back by itself), staging (verify,
//! unpack tar.gz/tar.xz/zip or install a bare binary, expose the table's program), pruning
//! and the host journal `/var/log/nodeherd/journal.jsonl`; what of a switch survives a reboot
//! is in [`guard`] (pending record, recovery unit). May not touch: the network or SSH
//! sessions (callers run these commands).

use crate::releases::assets::ArchiveKind;
use crate::remote::Command;

/// The host-side journal.
pub const HOST_JOURNAL: &str = "/var/log/nodeherd/journal.jsonl";

fn script(body: &str, args: &[&str]) -> Command {
    Command::new("sh")
        .arg("-c")
        .arg(body)
        .arg("nodeherd")
        .args(args)
}

/// The transient unit that guards one node's switch.
pub fn switch_unit(node: &str) -> String {
    let clean: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("nodeherd-switch-{clean}")
}

const INSPECT: &str = r#"D="$1"; SW="$2"
[ -d "$D" ] || { echo "missing=1"; exit 0; }
echo "current=$(readlink "$D/current" 2>/dev/null)"
echo "previous=$(readlink "$D/previous" 2>/dev/null)"
for r in "$D"/releases/*; do [ -e "$r" ] || continue; b="${r##*/}"; echo "release=$b"; done
echo "switch=$(systemctl is-active "$SW.service" 2>/dev/null)"
"#;

fn inspect_script() -> String {
    format!("{INSPECT}{}", guard::INSPECT_PENDING)
}

/// Read the layout: current/previous links, releases present, whether a switch still runs.
pub fn inspect_command(install_dir: &str, node: &str) -> Command {
    script(&inspect_script(), &[install_dir, &switch_unit(node)])
}

/// The parsed layout of one node's install dir.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Layout {
    pub missing: bool,
    /// Version `current` points to (`releases/<v>`).
    pub current: Option<String>,
    pub previous: Option<String>,
    /// Every entry of `releases/` (including `<v>.partial` leftovers).
    pub releases: Vec<String>,
    /// State of the switch guard unit (`active` while it still waits or rolls back).
    pub switch_state: String,
    /// The pending record of a switch not yet confirmed or rolled back (in flight, or
    /// interrupted when its guard no longer runs).
    pub pending: Option<Pending>,
}

impl Layout {
    pub fn switch_running(&self) -> bool {
        matches!(
            self.switch_state.as_str(),
            "active" | "activating" | "deactivating"
        )
    }
    /// A switch is in flight: its guard runs, or its pending record is still there.
    pub fn in_flight(&self) -> bool {
        self.switch_running() || self.pending.is_some()
    }
    /// A switch was interrupted: its pending record is there but its guard no longer runs (the
    /// host rebooted, or the guard was stopped); [`recover_command`] rolls it back.
    pub fn interrupted(&self) -> bool {
        !self.switch_running() && self.pending.is_some()
    }
    /// What is in flight, for refusals: `switch 1.4.2 -> 1.5.1 started by ops@console at ...`.
    pub fn in_flight_text(&self) -> String {
        match (&self.pending, self.switch_running()) {
            (Some(p), true) => format!("{p}, its guard still runs"),
            (Some(p), false) => format!("{p}, interrupted (its guard no longer runs)"),
            (None, _) => format!("a guarded switch runs (guard unit {})", self.switch_state),
        }
    }
    pub fn has(&self, v: &str) -> bool {
        self.releases.iter().any(|r| r == v)
    }
}

fn link_version(target: &str) -> Option<String> {
    let t = target.trim().trim_end_matches('/');
    if t.is_empty() {
        return None;
    }
    Some(t.rsplit('/').next().unwrap_or(t).to_string())
}

/// Parse [`inspect_command`]'s output.
pub fn parse_inspect(text: &str) -> Layout {
    let mut l = Layout::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "missing" => l.missing = true,
            "current" => l.current = link_version(v),
            "previous" => l.previous = link_version(v),
            "release" => l.releases.push(v.to_string()),
            "switch" => l.switch_state = v.trim().to_string(),
            k => {
                guard::parse_pending_line(&mut l.pending, k, v);
            }
        }
    }
    l
}

// Never leaves a partial file behind: a write error (disk full), a signal, or a stream that
// ends early (the console was killed: sshd closes stdin, `cat` sees EOF) removes the `.part`.
const RECEIVE: &str = r#"D="$1"; SHA="$2"; SIZE="$3"
f="$D/.nodeherd/incoming/$SHA.part"
mkdir -p "$D/.nodeherd/incoming" || exit 1
trap 'rm -f "$f"; exit 1' HUP INT TERM PIPE
if ! cat > "$f"; then rm -f "$f"; exit 1; fi
got=$(wc -c < "$f" | tr -d ' ')
if [ "$got" != "$SIZE" ]; then
  rm -f "$f"; echo "upload cut short: the host got $got of $SIZE bytes" >&2; exit 1
fi
"#;

/// Upload an artifact of `size` bytes (stdin) into `.nodeherd/incoming/<sha>.part`; removes the
/// partial file when the upload fails or is cut short.
pub fn receive_command(install_dir: &str, sha256: &str, size: u64) -> Command {
    script(RECEIVE, &[install_dir, sha256, &size.to_string()])
}

const STAGE: &str = r#"D="$1"; SHA="$2"; V="$3"; KIND="$4"; BIN="$5"; EXPOSE="$6"
f="$D/.nodeherd/incoming/$SHA.part"
if ! printf '%s  %s\n' "$SHA" "$f" | sha256sum -c --status; then
  got=$(sha256sum "$f" 2>/dev/null | cut -c1-64); rm -f "$f"
  echo "digest mismatch on the host: expected $SHA, got ${got:-nothing}" >&2; exit 3
fi
P="$D/releases/$V.partial"
no() { rm -rf "$P" "$f"; echo "$1" >&2; exit "$2"; }
mkdir -p "$D/releases"
rm -rf "$P"
mkdir "$P"
case "$KIND" in
  tar.gz) tar -xzf "$f" -C "$P" --no-same-owner || no "cannot unpack the artifact (tar.gz)" 4 ;;
  tar.xz) tar -xJf "$f" -C "$P" --no-same-owner || no "cannot unpack the artifact (tar.xz: is xz installed on the host?)" 4 ;;
  zip)
    if command -v unzip >/dev/null 2>&1; then unzip -q -o "$f" -d "$P" >/dev/null || no "cannot unpack the artifact (zip)" 4
    elif command -v bsdtar >/dev/null 2>&1; then bsdtar -xf "$f" -C "$P" --no-same-owner || no "cannot unpack the artifact (zip)" 4
    else no "cannot unpack a zip: the host has neither unzip nor bsdtar (install unzip)" 4; fi ;;
  bare) cp "$f" "$P/$BIN" || no "cannot install the binary $BIN" 4 ;;
  *) no "unknown artifact kind $KIND" 2 ;;
esac
if [ -n "$BIN" ]; then
  [ -f "$P/$BIN" ] || no "the artifact has no $BIN (the program the release layout table names): nothing switched" 5
  [ -x "$P/$BIN" ] || chmod 0755 "$P/$BIN" || no "cannot make $BIN executable" 5
  if [ -n "$EXPOSE" ] && [ "$EXPOSE" != "$BIN" ]; then
    [ -e "$P/$EXPOSE" ] || [ -L "$P/$EXPOSE" ] && no "the artifact already has $EXPOSE at its top: cannot expose $BIN there" 5
    ln -s "$BIN" "$P/$EXPOSE" || no "cannot link $EXPOSE to $BIN" 5
  fi
fi
rm -rf "$D/releases/$V"
mv -T "$P" "$D/releases/$V"
rm -f "$f"
echo staged
"#;

/// How an uploaded artifact becomes `releases/<version>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageSpec<'a> {
    pub sha256: &'a str,
    pub version: &'a str,
    pub kind: ArchiveKind,
    /// The program `current/` must expose, relative to the unpacked tree (for a bare binary:
    /// the name it is installed under); None: unpack as it is (no table row names one).
    pub binary: Option<&'a str>,
}

/// Why a [`StageSpec`] cannot be staged (checked before anything runs on the host).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    #[error("{0:?} is not a safe path inside a release (relative, no `..`, no empty part)")]
    UnsafePath(String),
    #[error("a bare binary needs the name to install it under")]
    BareWithoutName,
}

fn safe_rel(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.starts_with('-')
        && p.split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(['\n', '\0']))
}

fn kind_word(k: ArchiveKind) -> &'static str {
    match k {
        ArchiveKind::TarGz => "tar.gz",
        ArchiveKind::TarXz => "tar.xz",
        ArchiveKind::Zip => "zip",
        ArchiveKind::Bare => "bare",
    }
}

/// Verify the uploaded artifact's digest on the host, unpack it (tar.gz, tar.xz, zip) or
/// install it (bare binary, `chmod 0755`) into `releases/<v>.partial/`, check that the program
/// the table names is there and executable, link it as its last path part at the release's
/// top (`teku` -> `teku-24.1.0/bin/teku`, so `current/teku` is stable across versions), then
/// rename to `releases/<v>/`. Any failure removes the partial tree and the upload: `current`
/// and every other release are untouched.
pub fn stage_command(install_dir: &str, s: &StageSpec<'_>) -> Result<Command, StageError> {
    let bin = s.binary.unwrap_or("");
    if s.binary.is_some() && !safe_rel(bin) {
        return Err(StageError::UnsafePath(bin.to_string()));
    }
    if s.kind == ArchiveKind::Bare && (bin.is_empty() || bin.contains('/')) {
        return Err(StageError::BareWithoutName);
    }
    if !safe_rel(s.version) || s.version.contains('/') {
        return Err(StageError::UnsafePath(s.version.to_string()));
    }
    let expose = bin.rsplit('/').next().unwrap_or("");
    Ok(script(
        STAGE,
        &[
            install_dir,
            s.sha256,
            s.version,
            kind_word(s.kind),
            bin,
            expose,
        ],
    ))
}

const SWITCH: &str = r#"set -u
D="$1"; U="$2"; NEW="$3"; OLD="$4"; T="$5"; TOK="$6"; J_OK="$7"; J_NC="$8"; J_GF="$9"; PREV="${10}"
J_RB="${11}"; BY="${12}"; SW="${13}"
BM="${14}"; DATA="${15}"; BK="${16}"; J_BO="${17}"; J_BF="${18}"; J_RO="${19}"; J_RF="${20}"; shift 20
S="$D/.nodeherd"; J="${NODEHERD_JOURNAL:-/var/log/nodeherd/journal.jsonl}"
mkdir -p "${J%/*}" "$S"
PB=$(readlink "$D/previous" 2>/dev/null); PB=${PB##*/}; [ -n "$PB" ] || PB="$PREV"
jr() { printf '{"time":"%s",%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" >> "$J"; }
flip() { ln -sfn "releases/$2" "$D/.$1.tmp" && mv -T "$D/.$1.tmp" "$D/$1"; }
st() { echo "$1" > "$S/switch-$TOK.state"; }
rm -f "$S/confirm-$TOK" "$S/abort-$TOK"
BKD=
case "$BM" in
snapshot|copy) st backing-up; systemctl stop "$U"
  if nh_backup; then jx "$J_BO" "$how"; BKD=1; for p in "$@"; do nh_drop "$p"; done
  else jx "$J_BF" "$how"; systemctl start "$U"; st backup-failed; exit 1; fi;;
restore) st restoring; systemctl stop "$U"
  if nh_restore; then jx "$J_BO" "$how"; else jx "$J_BF" "$how"; st restore-failed; exit 1; fi;;
esac
nh_guard_on || { nh_guard_off; st failed; systemctl start "$U"; echo "cannot write the switch's pending record" >&2; exit 1; }
flip current "$NEW" || { nh_guard_off; st failed; systemctl start "$U"; exit 1; }
flip previous "$OLD"
st switched
systemctl restart "$U"
i=0
while [ "$i" -lt "$T" ]; do
  if [ -e "$S/confirm-$TOK" ]; then st confirmed; jr "$J_OK"; rm -f "$S/confirm-$TOK"; nh_guard_off; exit 0; fi
  [ -e "$S/abort-$TOK" ] && break
  sleep 1; i=$((i+1))
done
if [ -e "$S/abort-$TOK" ]; then why="$J_GF"; else why="$J_NC"; fi
st rolling-back
flip current "$OLD"
# `previous` stays something to go back to: the previous-before, else the release rolled back from
if [ -n "$PB" ] && [ "$PB" != "$OLD" ] && [ -e "$D/releases/$PB" ]; then flip previous "$PB"; else flip previous "$NEW"; fi
if [ -n "$BKD" ]; then systemctl stop "$U"
  if nh_restore; then jx "$J_RO" "$how"; else jx "$J_RF" "$how"; st rolled-back; nh_guard_off; jr "$why"; exit 1; fi
fi
# a crash-looping release can have spent the unit's start limit: the old version must still start
systemctl reset-failed "$U" 2>/dev/null
systemctl restart "$U"
rm -f "$S/abort-$TOK"
st rolled-back
nh_guard_off
jr "$why"
"#;

/// Everything the guarded switch needs.
#[derive(Debug, Clone)]
pub struct SwitchSpec<'a> {
    pub install_dir: &'a str,
    pub unit: &'a str,
    pub node: &'a str,
    pub new: &'a str,
    pub old: &'a str,
    /// What `previous` pointed to before (restored on rollback).
    pub prev_before: Option<&'a str>,
    pub confirm_secs: u64,
    pub token: &'a str,
    /// Journal lines without the leading `{"time":"..",` (see [`crate::journal::tail_json`]).
    pub journal_ok: String,
    pub journal_no_confirm: String,
    pub journal_gate_failed: String,
    /// The journal line of a rollback by the recovery (`@WHY@`: `reboot` or `stopped guard`).
    pub journal_interrupted: String,
    /// Who starts the switch (`user@host`), kept in the pending record.
    pub by: &'a str,
    /// A backup of the data dir made (or restored) between the unit's stop and start.
    pub backup: Option<crate::facts::backup::SwitchBackup>,
}

/// The switch script itself (the backup functions first), for tests that run it on a fake unit.
pub fn switch_script() -> String {
    let (head, body) = SWITCH.split_at(SWITCH.find("PB=$(readlink").unwrap_or(0));
    format!(
        "{}{head}{}{body}",
        crate::facts::backup::SWITCH_FUNCTIONS,
        guard::guard_functions()
    )
}

/// Start the guard as a transient unit: it flips `current`, restarts the unit and waits for the
/// confirmation file; without it (or on an abort file) it flips back and restarts the old version.
/// With a backup, the unit is stopped, the data dir copied, old backups pruned, then the switch
/// goes on (a failed copy starts the old version again: nothing switched); rolling back then
/// restores the copy before the old version starts.
pub fn switch_command(s: &SwitchSpec<'_>) -> Command {
    let unit = switch_unit(s.node);
    let mut argv: Vec<String> = vec![
        "/bin/sh".into(),
        "-c".into(),
        switch_script(),
        "nodeherd-switch".into(),
        s.install_dir.into(),
        s.unit.into(),
        s.new.into(),
        s.old.into(),
        s.confirm_secs.to_string(),
        s.token.into(),
        s.journal_ok.clone(),
        s.journal_no_confirm.clone(),
        s.journal_gate_failed.clone(),
        s.prev_before.unwrap_or("").into(),
        s.journal_interrupted.clone(),
        s.by.into(),
        unit.clone(),
    ];
    argv.extend(crate::facts::backup::SwitchBackup::args(s.backup.as_ref()));
    Command::new("systemd-run")
        .arg("--unit")
        .arg(&unit)
        .arg("--collect")
        .arg("--quiet")
        .arg("--description")
        .arg(format!("nodeherd guarded switch of {}", s.node))
        .arg("--")
        // systemd expands `${NAME}` (and `$NAME` words) in a unit's command line, unknown names to
        // nothing: `${10}`, `${11}` and `${BK%/*}` would reach the shell empty. `$$` is a literal `$`.
        .args(argv.iter().map(|a| a.replace('$', "$$")))
}

const SIGNAL: &str =
    r#"D="$1"; W="$2"; TOK="$3"; mkdir -p "$D/.nodeherd"; : > "$D/.nodeherd/$W-$TOK""#;

/// Confirm (`confirm`) or abort (`abort`) a running switch.
pub fn signal_command(install_dir: &str, what: &str, token: &str) -> Command {
    script(SIGNAL, &[install_dir, what, token])
}

const SWITCH_STATE: &str = r#"D="$1"; TOK="$2"; SW="$3"
echo "state=$(cat "$D/.nodeherd/switch-$TOK.state" 2>/dev/null)"
echo "unit=$(systemctl is-active "$SW.service" 2>/dev/null)"
"#;

/// The guard's progress (`switched`, `confirmed`, `rolling-back`, `rolled-back`) and unit state.
pub fn switch_state_command(install_dir: &str, token: &str, node: &str) -> Command {
    script(SWITCH_STATE, &[install_dir, token, &switch_unit(node)])
}

/// Parse [`switch_state_command`] output: (state, unit state).
pub fn parse_switch_state(text: &str) -> (String, String) {
    let mut st = String::new();
    let mut unit = String::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("state=") {
            st = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("unit=") {
            unit = v.trim().to_string();
        }
    }
    (st, unit)
}

const PRUNE: &str = r#"D="$1"; shift
for v in "$@"; do rm -rf "$D/releases/$v"; done
rm -f "$D"/.nodeherd/switch-*.state
rm -rf "$D"/releases/*.partial
"#;

/// Remove the given releases (already filtered by [`prune_list`]) and leftovers.
pub fn prune_command(install_dir: &str, remove: &[String]) -> Command {
    let mut c = script(PRUNE, &[install_dir]);
    for r in remove {
        c = c.arg(r);
    }
    c
}

/// Which releases to delete so `keep` remain: oldest versions first; never current or previous;
/// `.partial` leftovers are handled by the prune script itself.
pub fn prune_list(
    releases: &[String],
    current: Option<&str>,
    previous: Option<&str>,
    keep: usize,
) -> Vec<String> {
    let mut versions: Vec<(semver::Version, &String)> = releases
        .iter()
        .filter(|r| !r.ends_with(".partial"))
        .filter_map(|r| semver::Version::parse(r).ok().map(|v| (v, r)))
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    let protected = |r: &str| Some(r) == current || Some(r) == previous;
    let mut kept = versions.iter().filter(|(_, r)| protected(r)).count();
    let mut out = Vec::new();
    for (_, r) in &versions {
        if protected(r) {
            continue;
        }
        if kept < keep {
            kept += 1;
        } else {
            out.push((*r).clone());
        }
    }
    out
}

const WRITE_UNIT: &str = r#"set -e
U="$1"; M="$2"; N="$3"; MODE="$4"
case "$U" in */*|.*|-*|"") echo "refusing unit name $U" >&2; exit 2;; esac
F="/etc/systemd/system/$U"
T="$F.nodeherd-tmp"
if [ -e "$F" ]; then
  head -n 1 "$F" | grep -qxF "$M" || { echo "$F was not written by nodeherd: not overwritten" >&2; exit 4; }
elif [ "$MODE" = rewrite ]; then
  echo "$F does not exist: not rewritten" >&2; exit 3
fi
trap 'rm -f "$T"' EXIT
(umask 022; cat > "$T")
[ "$(wc -c < "$T")" -eq "$N" ] || { echo "short write ($(wc -c < "$T") of $N bytes): old file left in place" >&2; exit 5; }
chmod 0644 "$T"
mv -f "$T" "$F"
systemctl daemon-reload
echo written
"#;

/// Write a unit file (its `len` bytes on stdin) to `/etc/systemd/system/<unit>` for a first
/// install: temp file (0644), size check, atomic rename, `daemon-reload`. Refuses (exit 4) to
/// replace a file whose first line is not `marker` (not written by nodeherd); on any failure
/// an existing file stays in place.
pub fn write_unit_command(unit: &str, marker: &str, len: usize) -> Command {
    script(WRITE_UNIT, &[unit, marker, &len.to_string(), "install"])
}

/// The same write replacing nodeherd's own unit file (unit-file drift): also refuses (exit 3)
/// when there is no file to rewrite.
pub fn rewrite_unit_command(unit: &str, marker: &str, len: usize) -> Command {
    script(WRITE_UNIT, &[unit, marker, &len.to_string(), "rewrite"])
}

const POINT_CURRENT: &str = r#"set -e
D="$1"; V="$2"
[ -d "$D/releases/$V" ] || { echo "$D/releases/$V is not staged" >&2; exit 3; }
ln -sfn "releases/$V" "$D/.current.tmp"
mv -T "$D/.current.tmp" "$D/current"
echo "current=$(readlink "$D/current")"
"#;

/// Point `current` at an already staged `releases/<v>` (atomic rename), for a first install.
pub fn point_current_command(install_dir: &str, version: &str) -> Command {
    script(POINT_CURRENT, &[install_dir, version])
}

const APPEND: &str =
    r#"mkdir -p /var/log/nodeherd && printf '%s\n' "$1" >> /var/log/nodeherd/journal.jsonl"#;

/// Append one ready JSON line to the host journal.
pub fn journal_append_command(line: &str) -> Command {
    script(APPEND, &[line])
}

/// Read the host journal (empty when there is none).
pub fn journal_read_command() -> Command {
    script(
        r"cat /var/log/nodeherd/journal.jsonl 2>/dev/null; exit 0",
        &[],
    )
}

mod guard;
pub use guard::{Pending, RECOVER, parse_unit_state, recover_command, unit_state_command};
mod lock;
pub use lock::{
    Holder, LOCK_BUSY, lock_beat_command, lock_command, lock_info_command, lock_pid,
    lock_release_command, parse_lock_info,
};

#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod stage_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_parses_lab_layout() {
        // Captured from a lab host (nhupg-1) after an upgrade to 1.5.1.
        let out = "current=releases/1.5.1\nprevious=releases/1.4.2\nrelease=1.4.2\nrelease=1.5.1\nrelease=1.6.0.partial\nswitch=inactive\n";
        let l = parse_inspect(out);
        assert_eq!(l.current.as_deref(), Some("1.5.1"));
        assert_eq!(l.previous.as_deref(), Some("1.4.2"));
        assert_eq!(l.releases.len(), 3);
        assert!(!l.switch_running());
        assert!(parse_inspect("missing=1\n").missing);
        let empty = parse_inspect("current=\nprevious=\nswitch=active\n");
        assert_eq!(empty.current, None);
        assert!(empty.switch_running());
    }

    #[test]
    fn prune_keeps_newest_and_protected() {
        let rs: Vec<String> = ["1.2.0", "1.3.0", "1.4.2", "1.5.1", "1.6.0", "1.6.1.partial"]
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        let out = prune_list(&rs, Some("1.6.0"), Some("1.2.0"), 3);
        // current + previous + the newest other one stay.
        assert_eq!(out, vec!["1.4.2".to_string(), "1.3.0".to_string()]);
        assert!(prune_list(&rs[..2], Some("1.3.0"), None, 3).is_empty());
    }

    #[test]
    fn data_travels_as_quoted_arguments() {
        let spec = StageSpec {
            sha256: "ab",
            version: "1.0.0;rm -rf x",
            kind: ArchiveKind::TarGz,
            binary: Some("teku 1/bin/te'ku"),
        };
        let s = stage_command("/opt/x y", &spec).unwrap().to_shell_string();
        assert!(s.contains("'/opt/x y'"));
        assert!(s.contains("'1.0.0;rm -rf x'"));
        assert!(s.contains(r"'teku 1/bin/te'\''ku'"), "{s}");
        let spec = SwitchSpec {
            install_dir: "/opt/n",
            unit: "u.service",
            node: "lodestar bn",
            new: "1.5.1",
            old: "1.4.2",
            prev_before: None,
            confirm_secs: 30,
            token: "t",
            journal_ok: "\"a\":\"it's\"}".into(),
            journal_no_confirm: "x}".into(),
            journal_gate_failed: "y}".into(),
            journal_interrupted: "z}".into(),
            by: "ops@console",
            backup: None,
        };
        let s = switch_command(&spec).to_shell_string();
        assert!(s.contains("nodeherd-switch-lodestar_bn"));
        // every `$` of the script reaches the shell through systemd's expansion as one `$`
        assert!(
            s.contains(r#"PREV="$${10}""#) && !s.contains(r#"PREV="${10}""#),
            "{s}"
        );
        assert!(s.contains(r#"'"a":"it'\''s"}'"#));
    }

    #[test]
    fn install_pieces_are_quoted() {
        let s = write_unit_command("x y.service", "# m'x", 10).to_shell_string();
        assert!(
            s.contains("'x y.service'") && s.contains(r"'# m'\''x'"),
            "{s}"
        );
        let s = point_current_command("/opt/n", "1.5.1;id").to_shell_string();
        assert!(s.contains("'1.5.1;id'"), "{s}");
    }
}
