//! Fencing a validator's node before its key goes elsewhere: the unit stopped, disabled and
//! masked (or kept from starting by a drop-in where masking is impossible), checked inactive with
//! no main PID, and no process left holding a file under its data directory. Shared by the
//! Ethereum failover ([`super::failover`]) and the CometBFT one ([`super::cometbft_failover`]).
//!
//! Owns: the two host scripts and the verdict on what they print. May not touch: what a failover
//! does before or after (its state, its messages), the terminal.

use std::path::Path;

use nodeherd_core::remote::Command;
use nodeherd_transport::ssh::Session;

/// Stop and disable the unit, then mask it; where a unit file in `/etc/systemd/system` makes
/// masking impossible, a drop-in whose condition can never hold keeps it from starting (delete
/// it to undo). Prints one line: `active= enabled= pid= how= dropin=`.
const FENCE_SCRIPT: &str = r#"u="$1"
systemctl stop -- "$u"
systemctl disable -- "$u" >/dev/null 2>&1
how=masked
if ! systemctl mask -- "$u" >/dev/null 2>&1; then
  d="/etc/systemd/system/$u.d"
  mkdir -p "$d" && printf '[Unit]\n# nodeherd failover fenced this unit: delete this file to let it start again\nConditionPathExists=/nodeherd-fenced-this-unit\n' > "$d/zz-nodeherd-fenced.conf" && systemctl daemon-reload && how=dropin
fi
case "$(systemctl show -p DropInPaths --value -- "$u")" in *zz-nodeherd-fenced.conf*) dropin=loaded;; *) dropin=none;; esac
printf 'active=%s enabled=%s pid=%s how=%s dropin=%s
' "$(systemctl is-active -- "$u")" "$(systemctl is-enabled -- "$u" 2>/dev/null)" "$(systemctl show -p MainPID --value -- "$u")" "$how" "$dropin""#;

/// Prints `PID CMDLINE` of every process with a file descriptor or its working directory under
/// `$1`.
const HOLDERS_SCRIPT: &str = "for p in /proc/[0-9]*; do for f in \"$p\"/fd/* \"$p\"/cwd; do \
         case \"$(readlink \"$f\" 2>/dev/null)\" in \"$1\"|\"$1\"/*) echo \"${p#/proc/} $(tr '\\0' ' ' < \"$p\"/cmdline | cut -c1-120)\"; break;; esac; done; done | sort -u";

/// The fence's report line says the unit is stopped and cannot start again.
pub(super) fn fence_holds(line: &str) -> bool {
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .unwrap_or("")
    };
    matches!(field("active"), "inactive" | "failed")
        && field("pid") == "0"
        && (field("enabled") == "masked" || field("dropin") == "loaded")
}

/// Stop, disable and mask `unit`. `Ok(report line)` when the fence holds; `Err(what was seen)`
/// otherwise (the report line, or the SSH error).
pub(super) async fn fence_unit(
    session: &Session,
    unit: &str,
    become_root: bool,
) -> Result<String, String> {
    let cmd = Command::new("sh")
        .arg("-c")
        .arg(FENCE_SCRIPT)
        .arg("nodeherd")
        .arg(unit)
        .become_root(become_root);
    let out = session.exec(&cmd).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.trim().lines().last().unwrap_or("").to_string();
    if fence_holds(&last) {
        Ok(last)
    } else {
        Err(last)
    }
}

/// Whether a process holds a file (or its working directory) under `dir`: `Ok(None)` when none,
/// `Ok(Some("PID CMDLINE ..."))` when some do, `Err` when it could not be checked.
pub(super) async fn holders(
    session: &Session,
    dir: &Path,
    become_root: bool,
) -> Result<Option<String>, String> {
    let cmd = Command::new("sh")
        .arg("-c")
        .arg(HOLDERS_SCRIPT)
        .arg("nodeherd")
        .arg(dir.to_string_lossy().as_ref())
        .become_root(become_root);
    match session.exec(&cmd).await {
        Ok(o) if o.success() && o.stdout.iter().all(u8::is_ascii_whitespace) => Ok(None),
        Ok(o) if o.success() => Ok(Some(String::from_utf8_lossy(&o.stdout).trim().to_string())),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_holds_only_when_stopped_and_unable_to_start() {
        assert!(fence_holds(
            "active=inactive enabled=masked pid=0 how=masked dropin=none"
        ));
        assert!(fence_holds(
            "active=failed enabled=disabled pid=0 how=dropin dropin=loaded"
        ));
        // Running, a main PID left, or able to start again: not fenced.
        assert!(!fence_holds(
            "active=active enabled=masked pid=0 how=masked dropin=none"
        ));
        assert!(!fence_holds(
            "active=inactive enabled=masked pid=812 how=masked dropin=none"
        ));
        assert!(!fence_holds(
            "active=inactive enabled=disabled pid=0 how=dropin dropin=none"
        ));
        assert!(!fence_holds(""));
    }

    #[test]
    fn the_host_scripts_parse() {
        for script in [FENCE_SCRIPT, HOLDERS_SCRIPT] {
            let ok = std::process::Command::new("sh")
                .args(["-n", "-c", script])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "{script}");
        }
    }
}
