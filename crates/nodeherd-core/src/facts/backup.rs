//! Backups of a node's data dir before a version switch: the on-host place
//! (`<install_dir>/backups/<from-version>-<UTC timestamp>/`), the read-only space fact (`du` of the
//! data dir, `df` of the backup target, filesystems, existing backups) with its pure parsers and
//! the fit decision, which backups to prune, and the shell functions the host's guarded switch
//! runs to make or restore a backup while the unit is stopped.
//!
//! Owns: those commands, names, parsers and decisions. May not touch: SSH (the engine runs the
//! commands), the switch script's order (that is [`super::layout`], which calls these functions
//! between its stop and its start), or the journal (the script writes the lines it is handed).

use crate::inventory::Backup;
use crate::remote::Command;

/// The directory of a node's backups, beside its releases.
pub fn backups_dir(install_dir: &str) -> String {
    format!("{}/backups", install_dir.trim_end_matches('/'))
}

/// `<from-version>-<YYYYmmddTHHMMSSZ>`: sortable by time within one version, unique per second.
pub fn backup_name(from: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{from}-{}", at.format("%Y%m%dT%H%M%SZ"))
}

/// Split a backup name into (version, timestamp); None for anything else in the directory.
pub fn parse_name(name: &str) -> Option<(&str, &str)> {
    let (v, ts) = name.rsplit_once('-')?;
    let ok = ts.len() == 16
        && ts.as_bytes()[8] == b'T'
        && ts.ends_with('Z')
        && ts[..8].bytes().all(|b| b.is_ascii_digit())
        && ts[9..15].bytes().all(|b| b.is_ascii_digit());
    (ok && !v.is_empty()).then_some((v, ts))
}

/// The newest backup made when leaving `version` (what a rollback to it restores).
pub fn newest_for(names: &[String], version: &str) -> Option<String> {
    names
        .iter()
        .filter_map(|n| parse_name(n).map(|(v, ts)| (v, ts, n)))
        .filter(|(v, _, _)| *v == version)
        .max_by(|a, b| a.1.cmp(b.1))
        .map(|(_, _, n)| n.clone())
}

/// Which existing backups to delete so that, with `adding` new ones, `keep` remain: the oldest
/// first (by timestamp, whatever the version). Names that are not backups are never touched.
pub fn prune_list(names: &[String], keep: usize, adding: usize) -> Vec<String> {
    let mut b: Vec<(&str, &String)> = names
        .iter()
        .filter_map(|n| parse_name(n).map(|(_, ts)| (ts, n)))
        .collect();
    b.sort();
    let excess = (b.len() + adding).saturating_sub(keep.max(1));
    b.into_iter().take(excess).map(|(_, n)| n.clone()).collect()
}

const SPACE: &str = r#"DATA="$1"; D="$2"
[ -d "$DATA" ] || { echo "data_missing=1"; exit 0; }
T="$D/backups"; [ -d "$T" ] || T="$D"
echo "--du"
du -sk -- "$DATA" 2>/dev/null | tail -n 1
echo "--df"
df -Pk -- "$T"
echo "--"
echo "fs_data=$(stat -f -c %T -- "$DATA")"
echo "fs_target=$(stat -f -c %T -- "$T")"
echo "src_data=$(findmnt -n -o SOURCE -T "$DATA")"
echo "src_target=$(findmnt -n -o SOURCE -T "$T")"
if btrfs subvolume show "$DATA" >/dev/null 2>&1; then echo "subvolume=1"; fi
for b in "$D"/backups/*; do [ -e "$b" ] || continue; echo "backup=${b##*/}"; done
"#;

/// Read what a backup of `data_dir` into `<install_dir>/backups` needs and has (read only).
pub fn space_command(data_dir: &str, install_dir: &str) -> Command {
    Command::new("sh")
        .arg("-c")
        .arg(SPACE)
        .arg("nodeherd")
        .arg(data_dir)
        .arg(install_dir)
}

/// List the node's backups (names under `<install_dir>/backups`, one per line; none: nothing).
pub fn list_command(install_dir: &str) -> Command {
    Command::new("sh")
        .arg("-c")
        .arg(r#"for b in "$1"/backups/*; do [ -e "$b" ] && echo "${b##*/}"; done; exit 0"#)
        .arg("nodeherd")
        .arg(install_dir)
}

/// One line of `df -Pk`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DfRow {
    pub filesystem: String,
    pub size_kib: u64,
    pub used_kib: u64,
    pub avail_kib: u64,
    pub mount: String,
}

/// Why the output of [`space_command`] could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("no `du` size of the data dir in the host's answer")]
    NoDu,
    #[error("unreadable `df -P` line: {0:?}")]
    BadDf(String),
    #[error("no `df` line for the backup target in the host's answer")]
    NoDf,
}

/// The size in KiB from `du -sk` output (`<kib>\t<path>`).
pub fn parse_du(text: &str) -> Result<u64, ParseError> {
    text.lines()
        .rev()
        .find_map(|l| l.split_whitespace().next()?.parse().ok())
        .ok_or(ParseError::NoDu)
}

/// The row of `df -Pk <path>` output (header, then one line; the mount point may hold spaces).
pub fn parse_df(text: &str) -> Result<DfRow, ParseError> {
    let line = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .find(|l| !l.starts_with("Filesystem"))
        .ok_or(ParseError::NoDf)?;
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 6 {
        return Err(ParseError::BadDf(line.to_string()));
    }
    let num = |s: &str| s.parse::<u64>().map_err(|_| ParseError::BadDf(line.into()));
    // The mount point is everything after the capacity column.
    let mount_at = line.find(f[4]).map_or(0, |i| i + f[4].len());
    Ok(DfRow {
        filesystem: f[0].to_string(),
        size_kib: num(f[1])?,
        used_kib: num(f[2])?,
        avail_kib: num(f[3])?,
        mount: line[mount_at..].trim().to_string(),
    })
}

/// What [`space_command`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SpaceFacts {
    pub data_missing: bool,
    pub data_kib: u64,
    /// The filesystem the backups go to.
    pub target: DfRow,
    /// `stat -f` types, e.g. `btrfs`, `xfs`, `ext2/ext3` (ext4 reads so).
    pub data_fs: String,
    pub target_fs: String,
    /// Data dir and backups on one filesystem (same `findmnt` source, its `[/subvol]` suffix
    /// dropped; a btrfs subvolume has its own device number and `df` shows it as `-`): a reflink
    /// or snapshot can share blocks.
    pub same_fs: bool,
    /// The data dir is a btrfs subvolume (a snapshot is possible).
    pub subvolume: bool,
    /// Existing backups (names under `backups/`).
    pub backups: Vec<String>,
}

/// Parse [`space_command`]'s output.
pub fn parse_space(text: &str) -> Result<SpaceFacts, ParseError> {
    let mut f = SpaceFacts::default();
    if text.lines().any(|l| l.trim() == "data_missing=1") {
        f.data_missing = true;
        return Ok(f);
    }
    let section = |name: &str| -> String {
        let mut on = false;
        let mut out = String::new();
        for l in text.lines() {
            if l.starts_with("--") {
                on = l == name;
                continue;
            }
            if on {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    };
    f.data_kib = parse_du(&section("--du"))?;
    f.target = parse_df(&section("--df"))?;
    let (mut dev_data, mut dev_target) = (String::new(), String::new());
    for line in section("--").lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = crate::text::sanitize(v.trim());
        match k {
            "fs_data" => f.data_fs = v,
            "fs_target" => f.target_fs = v,
            "src_data" => dev_data = v,
            "src_target" => dev_target = v,
            "subvolume" => f.subvolume = v == "1",
            "backup" => f.backups.push(v),
            _ => {}
        }
    }
    let device = |s: &str| s.split('[').next().unwrap_or("").trim().to_string();
    f.same_fs = !device(&dev_data).is_empty() && device(&dev_data) == device(&dev_target);
    Ok(f)
}

/// What a backup will take.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Need {
    /// Free space required on the target (0 when the copy certainly shares blocks).
    pub need_kib: u64,
    pub free_kib: u64,
    /// How the host will most likely do it (it falls back to a plain copy and says so).
    pub method: &'static str,
}

/// Why a backup is refused before anything changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpaceError {
    #[error(
        "backup does not fit: the data dir {data_dir} holds {}, a {mode} needs {} free on {mount} but only {} is free; nothing changed",
        human_kib(*data_kib), human_kib(*need_kib), human_kib(*free_kib)
    )]
    DoesNotFit {
        mode: &'static str,
        data_dir: String,
        mount: String,
        data_kib: u64,
        need_kib: u64,
        free_kib: u64,
    },
    #[error("the data dir {0} does not exist on the host: nothing to back up; nothing changed")]
    DataDirMissing(String),
}

/// Headroom over the data's size a copy needs: 5% and at least 16 MiB (metadata, a growing log).
pub fn with_headroom(kib: u64) -> u64 {
    kib + (kib / 20).max(16 * 1024)
}

/// Decide whether a `mode` backup of `data_dir` fits (pure). A snapshot is free only where
/// copy-on-write is certain: a btrfs data dir with its backups on the same filesystem. Anywhere
/// else (xfs may or may not have reflinks; ext4 has none) the host may fall back to a full copy,
/// so the full size plus [`with_headroom`] must be free.
pub fn check(mode: Backup, data_dir: &str, f: &SpaceFacts) -> Result<Need, SpaceError> {
    if f.data_missing {
        return Err(SpaceError::DataDirMissing(data_dir.to_string()));
    }
    let cow = mode == Backup::Snapshot && f.same_fs && f.target_fs == "btrfs";
    let method = match mode {
        Backup::Snapshot if cow && f.subvolume => "btrfs snapshot",
        Backup::Snapshot if cow => "reflink copy",
        Backup::Snapshot if f.same_fs && f.target_fs == "xfs" => {
            "reflink copy if the filesystem has reflinks, else a full copy"
        }
        Backup::Snapshot => "full copy (no copy-on-write on this filesystem)",
        _ => "full copy",
    };
    let need_kib = if cow { 0 } else { with_headroom(f.data_kib) };
    if need_kib > f.target.avail_kib {
        return Err(SpaceError::DoesNotFit {
            mode: mode.as_str(),
            data_dir: data_dir.to_string(),
            mount: f.target.mount.clone(),
            data_kib: f.data_kib,
            need_kib,
            free_kib: f.target.avail_kib,
        });
    }
    Ok(Need {
        need_kib,
        free_kib: f.target.avail_kib,
        method,
    })
}

/// `12.3 MiB`, `1.5 GiB`: sizes as an operator reads them.
pub fn human_kib(kib: u64) -> String {
    let units = ["KiB", "MiB", "GiB", "TiB"];
    let mut v = kib as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{kib} KiB")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// The marker in a journal line's detail that the host replaces with how the copy went
/// (`copy in 14s`, `reflink copy in 0s`, `cp -a failed: ...`).
pub const HOW: &str = "@HOW@";

/// What the guarded switch does with the data dir, passed to it as positional arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SwitchBackup {
    /// `snapshot` or `copy` (back up before the switch), `restore` (restore before it).
    pub mode: String,
    pub data_dir: String,
    /// The backup's full path (made, or restored from).
    pub path: String,
    /// Journal tails (see `journal::tail_json`) with [`HOW`] in their detail: the backup (or
    /// the rollback's restore) done, and failed.
    pub journal_done: String,
    pub journal_failed: String,
    /// The restore the guard runs when it rolls back after this switch's backup.
    pub journal_restored: String,
    pub journal_restore_failed: String,
    /// Full paths of older backups to delete once the new one is made.
    pub prune: Vec<String>,
}

impl SwitchBackup {
    /// The positional arguments after the switch's own ten (none: seven empty ones).
    pub fn args(b: Option<&SwitchBackup>) -> Vec<String> {
        let Some(b) = b else {
            return vec![String::new(); 7];
        };
        let mut v = vec![
            b.mode.clone(),
            b.data_dir.clone(),
            b.path.clone(),
            b.journal_done.clone(),
            b.journal_failed.clone(),
            b.journal_restored.clone(),
            b.journal_restore_failed.clone(),
        ];
        v.extend(b.prune.iter().cloned());
        v
    }
}

/// The switch's shell functions for backups (prefixed to the switch script): `nh_backup` copies
/// `$DATA` to `$BK` (btrfs snapshot, reflink copy when one file of the data dir clones, else
/// `cp -a`, saying which; a failed whole-tree reflink attempt would cost a pass over every file), `nh_restore`
/// replaces `$DATA`'s contents with `$BK`'s, `nh_drop` deletes an old backup, `jx` journals a
/// tail with its [`HOW`] replaced by `$how` (reduced to safe characters). The unit is stopped
/// by the caller around them.
pub const SWITCH_FUNCTIONS: &str = r#"safe() { printf '%s' "$1" | tr -cd 'A-Za-z0-9 ._:/,()+=-' | cut -c1-300; }
jx() { jr "${1%%@HOW@*}$(safe "$2")${1#*@HOW@}"; }
nh_reflinks() { # one file of the data dir cloned beside the backup: are reflinks possible here?
  f=$(find "$DATA" -type f -size +0 2>/dev/null | head -n 1)
  [ -n "$f" ] && cp --reflink=always -- "$f" "$BK.probe" 2>/dev/null; r=$?; rm -f "$BK.probe"; return $r
}
nh_backup() {
  t0=$(date +%s)
  mkdir -p "${BK%/*}" || { how="cannot create ${BK%/*}"; return 1; }
  rm -rf "$BK.partial"
  if [ "$BM" = snapshot ] && btrfs subvolume show "$DATA" >/dev/null 2>&1 \
     && btrfs subvolume snapshot -r "$DATA" "$BK" >/dev/null 2>&1; then how="btrfs snapshot"
  elif [ "$BM" = snapshot ] && nh_reflinks && cp -a --reflink=always -- "$DATA" "$BK.partial" 2>/dev/null; then how="reflink copy"
  else
    rm -rf "$BK.partial"
    if ! e=$(cp -a -- "$DATA" "$BK.partial" 2>&1); then
      rm -rf "$BK.partial"; how="cp -a failed: $(printf '%s' "$e" | tail -n 1)"; return 1
    fi
    if [ "$BM" = snapshot ]; then how="plain copy (no copy-on-write here)"; else how="copy"; fi
  fi
  [ -e "$BK.partial" ] && mv -T "$BK.partial" "$BK"
  how="$how in $(( $(date +%s) - t0 ))s"
}
nh_restore() {
  t0=$(date +%s)
  [ -d "$BK" ] || { how="no backup at $BK"; return 1; }
  mkdir -p "$DATA" && find "$DATA" -mindepth 1 -maxdepth 1 -exec rm -rf {} + \
    || { how="cannot empty $DATA"; return 1; }
  if ! e=$(cp -a --reflink=auto -- "$BK"/. "$DATA"/ 2>&1); then
    how="cp failed: $(printf '%s' "$e" | tail -n 1)"; return 1
  fi
  how="from $BK in $(( $(date +%s) - t0 ))s"
}
nh_drop() { btrfs subvolume delete "$1" >/dev/null 2>&1 || rm -rf -- "$1"; }
"#;

#[cfg(test)]
mod script_tests;
#[cfg(test)]
mod tests;
