//! The state file of an unfinished move (or failover), so that a console killed at any step and
//! run again continues where it was and never imports before the quiet proof:
//! `<state dir>/moves/<pubkey>.json`, written atomically (temporary file, fsync, rename) before
//! each step that changes a host, kept as `<pubkey>.done-<ts>.json` when the move ends.
//!
//! Owns: that file's shape and its reading and writing, and the atomic write every state file of
//! a move or failover uses ([`write_atomic`]). May not touch: the steps themselves
//! (move_key.rs, failover.rs), the network.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use nodeherd_core::keymanager::liveness::Quiet;

use super::{SaveError, ensure_writable_dir, timestamp};

/// Where a move is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// About to remove from the source (the DELETE may or may not have happened).
    Removing,
    /// Removed, slashing data saved: the quiet wait runs.
    Waiting,
    /// The quiet proof is done: about to import into the target (it may have happened).
    Importing,
}

/// One unfinished move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveState {
    pub pubkey: String,
    /// `host/node` of the source and the target.
    pub from: String,
    pub to: String,
    /// `move` or `failover`.
    pub kind: String,
    pub phase: Phase,
    /// The console copy of the source's slashing data (EIP-3076), once saved.
    pub slashing_file: Option<PathBuf>,
    /// The quiet wait, once the removal's epoch is known.
    pub quiet: Option<Quiet>,
    pub updated: String,
}

/// The state file of one key's move.
pub struct Journal {
    dir: PathBuf,
    name: String,
}

impl Journal {
    pub fn at(state_dir: &Path, pubkey: &str) -> Journal {
        Journal {
            dir: state_dir.join("moves"),
            name: super::file_label(pubkey),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.name))
    }

    /// The unfinished move of this key, if any.
    pub fn load(&self) -> Result<Option<MoveState>, String> {
        let p = self.path();
        match std::fs::read_to_string(&p) {
            Ok(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| format!("{}: not a move state file: {e}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", p.display())),
        }
    }

    /// Write the state (atomically: [`write_atomic`]).
    pub fn save(&self, state: &mut MoveState) -> Result<(), SaveError> {
        state.updated = timestamp();
        let text = serde_json::to_string_pretty(state).unwrap_or_default();
        write_atomic(&self.path(), &text)
    }

    /// The move ended (done, or abandoned with a message): keep the file under another name.
    pub fn finish(&self) -> Result<PathBuf, String> {
        let to = self
            .dir
            .join(format!("{}.done-{}.json", self.name, timestamp()));
        std::fs::rename(self.path(), &to)
            .map(|()| to)
            .map_err(|e| format!("cannot close {}: {e}", self.path().display()))
    }
}

/// Write a state file atomically, readable by its owner only: a temporary file beside it
/// (mode 0600), synced, renamed over the old one, the folder synced; the folder is made first
/// (mode 0700). A console killed at any moment leaves the old file or the new one, whole.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), SaveError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_writable_dir(dir)?;
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|source| SaveError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_finishes() {
        let t = tempfile::tempdir().unwrap();
        let j = Journal::at(t.path(), "0xabc");
        assert_eq!(j.load().unwrap(), None);
        let mut s = MoveState {
            pubkey: "0xabc".into(),
            from: "h/a".into(),
            to: "h/b".into(),
            kind: "move".into(),
            phase: Phase::Waiting,
            slashing_file: Some("/x.json".into()),
            quiet: Some(Quiet::new(4, 2)),
            updated: String::new(),
        };
        j.save(&mut s).unwrap();
        assert_eq!(j.load().unwrap(), Some(s.clone()));
        s.phase = Phase::Importing;
        j.save(&mut s).unwrap();
        assert_eq!(j.load().unwrap().map(|x| x.phase), Some(Phase::Importing));
        let done = j.finish().unwrap();
        assert!(done.exists());
        assert_eq!(j.load().unwrap(), None);
        std::fs::write(j.path(), "garbage").unwrap();
        assert!(
            j.load().is_err(),
            "a broken state file is an error, never 'no move'"
        );
    }
}
