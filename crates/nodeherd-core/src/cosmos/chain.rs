//! A Cosmos node's place on its chain and its halt: CometBFT `/status` and `/block` answers,
//! the time to a plan's height, the host-side facts of a halt (the `upgrade-info.json` the
//! upgrade module writes, the `UPGRADE "<name>" NEEDED at height: H` journal line, a Cosmovisor
//! tree) and the pure decision whether a node may switch now.
//!
//! Owns: those parsers, the one host command that reads the halt facts, and [`decide`]. May not
//! touch: I/O (the engine runs the command and the requests).

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

use super::plan::UpgradePlan;
use crate::remote::Command;

/// The head of a node: CometBFT `/status` `sync_info`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Head {
    pub height: u64,
    pub time: Option<DateTime<Utc>>,
    pub catching_up: bool,
}

fn json(body: &str) -> Option<Value> {
    serde_json::from_str(body).ok()
}

fn int(v: &Value) -> Option<u64> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// CometBFT RPC `/status` (with or without the JSON-RPC envelope).
pub fn parse_status(body: &str) -> Option<Head> {
    let v = json(body)?;
    let s = v.get("result").unwrap_or(&v).get("sync_info")?;
    Some(Head {
        height: int(s.get("latest_block_height")?)?,
        time: s.get("latest_block_time").and_then(time),
        catching_up: s
            .get("catching_up")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// CometBFT RPC `/block?height=N`: the block's (height, time).
pub fn parse_block(body: &str) -> Option<(u64, DateTime<Utc>)> {
    let v = json(body)?;
    let h = v.get("result").unwrap_or(&v).pointer("/block/header")?;
    Some((int(h.get("height")?)?, time(h.get("time")?)?))
}

/// CometBFT RPC `/net_info`: the number of peers (`n_peers`, an int as a string).
pub fn parse_peers(body: &str) -> Option<u64> {
    let v = json(body)?;
    int(v.get("result").unwrap_or(&v).get("n_peers")?)
}

/// The mean block time between two blocks (None when they are not in order).
pub fn block_time(a: (u64, DateTime<Utc>), b: (u64, DateTime<Utc>)) -> Option<Duration> {
    let (lo, hi) = if a.0 < b.0 { (a, b) } else { (b, a) };
    let blocks = hi.0.checked_sub(lo.0).filter(|n| *n > 0)?;
    let ms = (hi.1 - lo.1).num_milliseconds();
    let ms = u64::try_from(ms).ok()?;
    Some(Duration::from_millis(ms / blocks))
}

/// How long until `height` at `per_block` from `now_height`.
pub fn eta(now_height: u64, height: u64, per_block: Duration) -> Duration {
    let blocks = height.saturating_sub(now_height);
    per_block.saturating_mul(u32::try_from(blocks).unwrap_or(u32::MAX))
}

/// `in ~2h 5m`, `in ~40s`: the countdown text of a plan.
pub fn countdown(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 {
        format!("~{}d {}h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 3600 {
        format!("~{}h {}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("~{}m {}s", s / 60, s % 60)
    } else {
        format!("~{s}s")
    }
}

/// What the host says about a node's halt.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HaltFacts {
    /// `<home>/data/upgrade-info.json`, written by the upgrade module at the halt: the plan it
    /// halted for (name, height, info). The only source of the plan once the node is down.
    pub upgrade_info: Option<UpgradePlan>,
    /// The unit's journal has `UPGRADE "<name>" NEEDED at height: <H>` (name, height).
    pub needed_line: Option<(String, u64)>,
    /// `<home>/cosmovisor` exists: Cosmovisor manages the binary switch on this host.
    pub cosmovisor: bool,
    /// The SHA-256 of `<home>/cosmovisor/upgrades/<name>/bin/<daemon>` when it is there.
    pub cosmovisor_staged: Option<String>,
    /// systemd's `ActiveState` of the unit.
    pub active: String,
    /// The SHA-256 of the plan's program staged in nodeherd's layout
    /// (`<install_dir>/releases/<name>/<daemon>`, or `bin/<daemon>` there) when it is there.
    pub release_staged: Option<String>,
    /// Seconds since the upgrade module wrote `upgrade-info.json` (the halt), by the host's clock.
    pub halted_secs: Option<u64>,
}

const HALT: &str = r#"H="$1"; U="$2"; N="$3"; D="$4"; I="$5"
echo "info=$(tr -d '\n' < "$H/data/upgrade-info.json" 2>/dev/null)"
if [ -f "$H/data/upgrade-info.json" ]; then echo "halted_secs=$(( $(date +%s) - $(stat -c %Y "$H/data/upgrade-info.json") ))"; fi
if [ -n "$N" ]; then for R in "$I/releases/$N/$D" "$I/releases/$N/bin/$D"; do
  if [ -f "$R" ]; then echo "release=$(sha256sum "$R" | cut -d' ' -f1)"; break; fi
done; fi
echo "needed=$(journalctl -u "$U" -n 400 --no-pager -o cat 2>/dev/null | grep -o 'UPGRADE "[^"]*" NEEDED at height: [0-9]*' | tail -n 1)"
if [ -d "$H/cosmovisor" ]; then echo "cosmovisor=yes"; fi
B="$H/cosmovisor/upgrades/$N/bin/$D"
if [ -f "$B" ]; then echo "staged=$(sha256sum "$B" | cut -d' ' -f1)"; fi
echo "active=$(systemctl show -p ActiveState --value "$U" 2>/dev/null)"
"#;

/// The host command that reads the halt facts of a node (home, unit, plan name, daemon, install
/// dir): what the upgrade module wrote at the halt and when, the journal's UPGRADE NEEDED line,
/// the unit's state, and the plan's program staged in nodeherd's or Cosmovisor's layout.
pub fn halt_facts_command(
    home: &str,
    unit: &str,
    plan: &str,
    daemon: &str,
    install_dir: &str,
) -> Command {
    Command::new("sh")
        .arg("-c")
        .arg(HALT)
        .arg("nodeherd-halt")
        .arg(home)
        .arg(unit)
        .arg(plan)
        .arg(daemon)
        .arg(install_dir)
}

/// `UPGRADE "v19" NEEDED at height: 1234` -> ("v19", 1234).
pub fn parse_needed(line: &str) -> Option<(String, u64)> {
    let rest = line.split("UPGRADE \"").nth(1)?;
    let (name, rest) = rest.split_once("\" NEEDED at height: ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((name.to_string(), digits.parse().ok()?))
}

/// `upgrade-info.json`: `{"name":"v19","time":"0001-01-01T00:00:00Z","height":1234,"info":"..."}`.
pub fn parse_upgrade_info(body: &str) -> Option<UpgradePlan> {
    let v = json(body)?;
    Some(UpgradePlan {
        name: v.get("name")?.as_str()?.to_string(),
        height: int(v.get("height")?)?,
        info: v
            .get("info")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    })
}

/// The output of [`halt_facts_command`].
pub fn parse_halt_facts(out: &str) -> HaltFacts {
    let mut f = HaltFacts::default();
    for line in out.lines() {
        if let Some(v) = line.strip_prefix("info=") {
            f.upgrade_info = parse_upgrade_info(v);
        } else if let Some(v) = line.strip_prefix("needed=") {
            f.needed_line = parse_needed(v);
        } else if line == "cosmovisor=yes" {
            f.cosmovisor = true;
        } else if let Some(v) = line.strip_prefix("staged=") {
            f.cosmovisor_staged = Some(v.trim().to_string()).filter(|s| !s.is_empty());
        } else if let Some(v) = line.strip_prefix("active=") {
            f.active = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("release=") {
            f.release_staged = Some(v.trim().to_string()).filter(|s| !s.is_empty());
        } else if let Some(v) = line.strip_prefix("halted_secs=") {
            f.halted_secs = v.trim().parse().ok();
        }
    }
    f
}

/// Where a node stands against a plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Stand {
    /// Before the plan's height: stage, never switch.
    Before { blocks: u64 },
    /// Halted for this plan: switch now.
    Halted { why: String },
    /// At or past the height and not halted for this plan: report, never force.
    NotHalted { why: String },
}

/// Whether a node may switch to `plan` now: only when it halted for this plan (its
/// `upgrade-info.json` or its journal names the plan and its height, and it makes no blocks:
/// the unit is down or its head is below the plan's height). `head` is None when the RPC did
/// not answer.
pub fn decide(plan: &UpgradePlan, head: Option<&Head>, f: &HaltFacts) -> Stand {
    let by_info = f
        .upgrade_info
        .as_ref()
        .is_some_and(|p| p.name == plan.name && p.height == plan.height);
    let by_line = f
        .needed_line
        .as_ref()
        .is_some_and(|(n, h)| *n == plan.name && *h == plan.height);
    let marked = by_info || by_line;
    let down = f.active != "active" && f.active != "activating" && f.active != "reloading";
    match head {
        Some(h) if h.height + 1 < plan.height && !marked => Stand::Before {
            blocks: plan.height - h.height,
        },
        Some(h) if marked && h.height < plan.height => Stand::Halted {
            why: halt_words(f, Some(h.height)),
        },
        None if marked && down => Stand::Halted {
            why: halt_words(f, None),
        },
        Some(h) if h.height >= plan.height => Stand::NotHalted {
            why: format!(
                "at height {} past the plan's {} without halting for `{}`",
                h.height, plan.height, plan.name
            ),
        },
        Some(h) => Stand::NotHalted {
            why: format!(
                "at height {} (plan at {}) and no halt recorded for `{}` yet",
                h.height, plan.height, plan.name
            ),
        },
        None => Stand::NotHalted {
            why: format!(
                "its RPC does not answer and no halt for `{}` is recorded (unit {})",
                plan.name,
                if f.active.is_empty() {
                    "unknown"
                } else {
                    &f.active
                }
            ),
        },
    }
}

fn halt_words(f: &HaltFacts, height: Option<u64>) -> String {
    let by = match (&f.upgrade_info, &f.needed_line) {
        (Some(_), Some(_)) => "upgrade-info.json and the journal's UPGRADE NEEDED line",
        (Some(_), None) => "upgrade-info.json",
        _ => "the journal's UPGRADE NEEDED line",
    };
    match height {
        Some(h) => format!("halted at height {h} ({by})"),
        None => format!("halted, unit {} ({by})", f.active),
    }
}

const COSMOVISOR_STAGE: &str = r#"set -u
H="$1"; N="$2"; D="$3"; S="$4"; K="$5"
U="$H/cosmovisor/upgrades/$N"; T="$H/cosmovisor/upgrades/.$N.partial"
if [ -e "$U/bin/$D" ]; then echo "$U/bin/$D is already there; left as it is" >&2; cat > /dev/null; exit 1; fi
rm -rf "$T"; mkdir -p "$T/bin" || exit 1
cat > "$T/upload" || { rm -rf "$T"; exit 1; }
G="$(sha256sum "$T/upload" | cut -d' ' -f1)"
if [ "$G" != "$S" ]; then rm -rf "$T"; echo "digest mismatch on the host: sha256:$G, the plan says sha256:$S" >&2; exit 1; fi
case "$K" in
bare) mv "$T/upload" "$T/bin/$D" && chmod 0755 "$T/bin/$D";;
tar.gz) tar -xzf "$T/upload" -C "$T" && rm -f "$T/upload";;
*) rm -rf "$T"; echo "cannot unpack a $K archive for Cosmovisor" >&2; exit 1;;
esac
if [ ! -x "$T/bin/$D" ]; then rm -rf "$T"; echo "the upgrade has no executable bin/$D" >&2; exit 1; fi
mkdir -p "$U" && rm -rf "$U/bin" && mv "$T/bin" "$U/bin" && rm -rf "$T"
"#;

/// The host command that receives a plan's binary on stdin, verifies its SHA-256 and puts it at
/// Cosmovisor's `<home>/cosmovisor/upgrades/<name>/bin/<daemon>` (a bare binary, or a `.tar.gz`
/// holding `bin/<daemon>`). It never replaces a binary already there.
pub fn cosmovisor_stage_command(
    home: &str,
    name: &str,
    daemon: &str,
    sha256: &str,
    kind: crate::releases::assets::ArchiveKind,
) -> Result<Command, String> {
    use crate::releases::assets::ArchiveKind;
    let k = match kind {
        ArchiveKind::Bare => "bare",
        ArchiveKind::TarGz => "tar.gz",
        ArchiveKind::TarXz | ArchiveKind::Zip => {
            return Err(format!(
                "upgrade `{name}`: Cosmovisor staging takes a bare binary or a .tar.gz, not this archive; nothing changed"
            ));
        }
    };
    if !super::plan::safe_name(name) || !super::plan::safe_name(daemon) {
        return Err(format!("upgrade `{name}`: unsafe name; nothing changed"));
    }
    Ok(Command::new("sh")
        .arg("-c")
        .arg(COSMOVISOR_STAGE)
        .arg("nodeherd-cosmovisor-stage")
        .arg(home)
        .arg(name)
        .arg(daemon)
        .arg(sha256)
        .arg(k))
}
