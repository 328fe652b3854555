//! The guarded switch's persistent half: what survives a reboot or a stopped guard.
//!
//! Before the switch flips `current`, its guard writes a pending record
//! `<install_dir>/.nodeherd/pending` (token, old, new, previous-before, unit, boot id, who and
//! when), a pointer `/var/lib/nodeherd/pending/nodeherd-switch-<node>` to the install dir, the
//! shared recovery script `/var/lib/nodeherd/recover.sh` and an enabled oneshot unit
//! `nodeherd-recover-<node>.service` (`Before=` the node's unit). A confirmation or the guard's
//! own rollback removes all of them but the script. If the host reboots (or the guard is stopped)
//! in between, the recovery runs (at boot, or when a console finds the guard dead): the switch
//! was not confirmed, so it flips `current` back to the old release, `previous` to the
//! previous-before (else the release rolled back from), journals a rollback "interrupted by
//! reboot" and starts the unit. Only files and units, written by the switch over SSH: no agent.
//!
//! Owns: those scripts ([`GUARD_FUNCTIONS`], [`recover_command`]), the pending record's format
//! and its parser ([`Pending`]). May not touch: the switch's order (the parent's `SWITCH`), SSH.

use crate::remote::Command;

/// The recovery: `recover.sh <clean node>`, run at boot by `nodeherd-recover-<clean>.service`,
/// or by a console that finds a pending record whose guard no longer runs.
pub const RECOVER: &str = r#"set -u
C="$1"; NHL="${NODEHERD_LIB:-/var/lib/nodeherd}"; NHU="${NODEHERD_UNIT_DIR:-/etc/systemd/system}"
SW="nodeherd-switch-$C"; P="$NHL/pending/$SW"
drop() { rm -f "$NHU/multi-user.target.wants/nodeherd-recover-$C.service" "$NHU/nodeherd-recover-$C.service" "$P"; }
[ -f "$P" ] || { drop; echo "recover: nothing pending"; exit 0; }
D=$(head -n 1 "$P"); S="$D/.nodeherd"; R="$S/pending"
[ -f "$R" ] || { drop; echo "recover: nothing pending"; exit 0; }
if systemctl is-active --quiet "$SW.service"; then echo "recover: the guard still runs"; exit 0; fi
v() { sed -n "s/^$1=//p" "$R" | head -n 1; }
TOK=$(v tok); OLD=$(v old); NEW=$(v new); PB=$(v prev); U=$(v unit); B=$(v boot); JL=$(v journal); J=$(v jfile)
st=$(cat "$S/switch-$TOK.state" 2>/dev/null)
case "$st" in confirmed|rolled-back) rm -f "$R"; drop; echo "recover: already $st"; exit 0;; esac
NOW=${NODEHERD_BOOT_ID:-$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)}
if [ "$B" = "$NOW" ]; then why="stopped guard"; else why="reboot"; fi
flip() { ln -sfn "releases/$2" "$D/.$1.tmp" && mv -T "$D/.$1.tmp" "$D/$1"; }
echo rolling-back > "$S/switch-$TOK.state"
flip current "$OLD" || { echo "recover: cannot point current at $OLD" >&2; exit 1; }
if [ -n "$PB" ] && [ "$PB" != "$OLD" ] && [ -e "$D/releases/$PB" ]; then flip previous "$PB"; else flip previous "$NEW"; fi
echo rolled-back > "$S/switch-$TOK.state"
mkdir -p "${J%/*}"
printf '{"time":"%s",%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(printf '%s' "$JL" | sed "s/@WHY@/$why/g")" >> "$J"
rm -f "$R"; drop
systemctl reset-failed "$U" 2>/dev/null
systemctl restart --no-block "$U"
echo "recover: rolled back to $OLD (interrupted by $why)"
"#;

/// Shell functions the switch script uses (after its own variables are set): `nh_guard_on`
/// writes the pending record, the pointer, the recovery script and unit; `nh_guard_off`
/// removes them (the script stays: other nodes may use it).
pub fn guard_functions() -> String {
    format!(
        r#"NHL="${{NODEHERD_LIB:-/var/lib/nodeherd}}"; NHU="${{NODEHERD_UNIT_DIR:-/etc/systemd/system}}"; C="${{SW#nodeherd-switch-}}"
nh_guard_on() {{
  BOOT=${{NODEHERD_BOOT_ID:-$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)}}
  mkdir -p "$NHL/pending" "$NHU/multi-user.target.wants" || return 1
  {{ echo "tok=$TOK"; echo "old=$OLD"; echo "new=$NEW"; echo "prev=$PB"; echo "unit=$U"; echo "boot=$BOOT"
    echo "since=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo "by=$(printf '%s' "$BY" | tr -d '\n')"
    echo "journal=$J_RB"; echo "jfile=$J"; }} > "$S/pending.tmp" && mv -f "$S/pending.tmp" "$S/pending" || return 1
  printf '%s\n' "$D" > "$NHL/pending/$SW.tmp" && mv -f "$NHL/pending/$SW.tmp" "$NHL/pending/$SW" || return 1
  cat > "$NHL/recover.sh.tmp" <<'NODEHERD_RECOVER_EOF' || return 1
{RECOVER}NODEHERD_RECOVER_EOF
  mv -f "$NHL/recover.sh.tmp" "$NHL/recover.sh" || return 1
  ru="$NHU/nodeherd-recover-$C.service"
  {{ echo "[Unit]"; echo "Description=nodeherd: roll back an unconfirmed switch of $C after a reboot"
    case "$U" in *[!A-Za-z0-9@._:-]*|"") ;; *) echo "Before=$U";; esac
    echo "[Service]"; echo "Type=oneshot"; echo "ExecStart=/bin/sh $NHL/recover.sh $C"
    echo "[Install]"; echo "WantedBy=multi-user.target"; }} > "$ru.tmp" && mv -f "$ru.tmp" "$ru" || return 1
  ln -sfn "$ru" "$NHU/multi-user.target.wants/nodeherd-recover-$C.service"
}}
nh_guard_off() {{
  rm -f "$S/pending" "$NHL/pending/$SW" "$NHU/multi-user.target.wants/nodeherd-recover-$C.service" "$NHU/nodeherd-recover-$C.service"
}}
"#
    )
}

/// Run the recovery of `node`'s switch now (a console that found its guard dead): rolls back an
/// unconfirmed switch whose guard no longer runs; does nothing while the guard runs or when
/// nothing is pending. Prints one `recover: ...` line.
pub fn recover_command(node: &str) -> Command {
    let unit = super::switch_unit(node);
    let clean = unit.trim_start_matches("nodeherd-switch-").to_string();
    Command::new("sh")
        .arg("-c")
        .arg(RECOVER)
        .arg("nodeherd-recover")
        .arg(clean)
}

/// A switch's pending record: written before `current` flips, removed by its confirmation or
/// rollback. Present while the switch is in flight (or was interrupted).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pending {
    pub token: String,
    pub old: String,
    pub new: String,
    /// Who started it (the console's `user@host`).
    pub by: String,
    /// When it started (UTC, `%Y-%m-%dT%H:%M:%SZ`).
    pub since: String,
    /// The guard's last state (`switched`, `rolling-back`, ...).
    pub state: String,
}

impl std::fmt::Display for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "switch {} -> {} started by {} at {}",
            self.old, self.new, self.by, self.since
        )?;
        if !self.state.is_empty() {
            write!(f, ", guard state {}", self.state)?;
        }
        Ok(())
    }
}

/// The inspect script's lines for the pending record (`pending.<key>=<value>`).
pub const INSPECT_PENDING: &str = r#"if [ -f "$D/.nodeherd/pending" ]; then
  grep -E '^(tok|old|new|by|since)=' "$D/.nodeherd/pending" | sed 's/^/pending./'
  t=$(sed -n 's/^tok=//p' "$D/.nodeherd/pending" | head -n 1)
  echo "pending.state=$(cat "$D/.nodeherd/switch-$t.state" 2>/dev/null)"
fi
"#;

/// Fold one `pending.<key>=<value>` line into `p` (other lines: false).
pub fn parse_pending_line(p: &mut Option<Pending>, key: &str, value: &str) -> bool {
    let Some(k) = key.strip_prefix("pending.") else {
        return false;
    };
    let rec = p.get_or_insert_with(Pending::default);
    let v = value.trim().to_string();
    match k {
        "tok" => rec.token = v,
        "old" => rec.old = v,
        "new" => rec.new = v,
        "by" => rec.by = v,
        "since" => rec.since = v,
        "state" => rec.state = v,
        _ => {}
    }
    true
}

/// `systemctl is-active` of one unit: prints its state word (`active`, `failed`, `inactive`,
/// `activating`, ...), always exits 0.
pub fn unit_state_command(unit: &str) -> Command {
    Command::new("sh")
        .arg("-c")
        .arg(r#"echo "unit=$(systemctl is-active -- "$1" 2>/dev/null)""#)
        .arg("nodeherd")
        .arg(unit)
}

/// Parse [`unit_state_command`]: the state word (empty when the host said nothing).
pub fn parse_unit_state(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("unit="))
        .unwrap_or("")
        .trim()
        .to_string()
}
