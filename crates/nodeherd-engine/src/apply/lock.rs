//! The console-side lock of `apply`: one apply at a time per state dir (a laptop and a cron job
//! on the same account never overlap). Held with flock(2), so a crashed run never leaves a stale
//! lock behind; the holder's pid and start time are written inside for the refusal message.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct ApplyLock {
    file: File,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another `nodeherd apply` is running ({holder}); lock file {path}")]
    Held { path: PathBuf, holder: String },
    #[error("cannot open the apply lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ApplyLock {
    /// Take the lock without waiting.
    pub fn acquire(path: &Path) -> Result<ApplyLock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        // SAFETY: flock on a file descriptor we own; LOCK_NB makes it non-blocking.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held {
                    path: path.to_path_buf(),
                    holder: if holder.is_empty() {
                        "holder unknown".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            return Err(io(err));
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        let _ = writeln!(
            file,
            "pid {} since {}",
            std::process::id(),
            chrono::Utc::now().to_rfc3339()
        );
        Ok(ApplyLock {
            file,
            path: path.to_path_buf(),
        })
    }
}

impl Drop for ApplyLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        // SAFETY: unlocking our own descriptor.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Where the apply lock lives: `$XDG_STATE_HOME/nodeherd/apply.lock`.
pub fn default_path() -> PathBuf {
    dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("nodeherd")
        .join("apply.lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_named_then_released() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("apply.lock");
        let first = ApplyLock::acquire(&p).unwrap();
        match ApplyLock::acquire(&p) {
            Err(LockError::Held { holder, .. }) => assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{holder}"
            ),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        assert!(ApplyLock::acquire(&p).is_ok());
    }
}
