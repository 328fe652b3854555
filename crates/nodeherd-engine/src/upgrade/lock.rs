//! The per-node host lock, held on an open SSH channel for the whole upgrade.
//!
//! Owns: taking the lock (`flock -n` on `<install_dir>/.nodeherd/lock`, see
//! [`nodeherd_core::facts::layout::lock_command`]), renewing its lease, explaining a refusal (who holds it, since
//! when, whether it looks stale), and releasing it: [`LockGuard::release`] (or [`held`]) stops the
//! host's holder and waits until the lock is free, so the next command finds it free; dropping
//! the guard without it only closes the channel, and the host side also gives up when the lease
//! is not renewed, so a vanished console frees it.

use nodeherd_core::facts::layout::{self, Holder};
use nodeherd_transport::ssh::{Session, StreamChunk};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Seconds without renewal after which the host drops the lock by itself.
pub const LEASE_SECS: u64 = 30;
const BEAT_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{node} is locked by {} (pid {} on the host) since {} for `{}`{}", .holder.who, .holder.pid, .holder.since, .holder.action, stale_note(.holder))]
    Busy { node: String, holder: Holder },
    #[error("cannot take the lock of {node}: {message}")]
    Failed { node: String, message: String },
    #[error("this console no longer holds the lock of {node}: its lease ({LEASE_SECS}s) lapsed (the console was stopped or cut off); {}", holder_now(.holder))]
    Lost { node: String, holder: Holder },
}

fn holder_now(h: &Holder) -> String {
    if h.who.is_empty() {
        "nobody holds it now".into()
    } else {
        format!(
            "it is now held by {} (pid {}) since {} for `{}`",
            h.who, h.pid, h.since, h.action
        )
    }
}

/// What is needed to ask the host whether this console still holds a lock (see
/// [`LockGuard::lease`]).
#[derive(Clone)]
pub struct Lease {
    session: Session,
    dir: String,
    holder: u32,
    node: String,
}

impl Lease {
    /// Whether the host's lock is still held by this console's holder with a fresh lease.
    /// `Err(Lost)`: it is not (acting now could race another console); a failed read of the
    /// holder (lost link) is `Ok`: the caller's next step finds the link down by itself.
    pub async fn check(&self) -> Result<(), LockError> {
        let Ok(o) = self
            .session
            .exec(&layout::lock_info_command(&self.dir))
            .await
        else {
            return Ok(());
        };
        let h = layout::parse_lock_info(&o.stdout_str());
        let ours = h.pid == self.holder.to_string();
        if ours && h.beat_age_secs.is_some_and(|a| a <= LEASE_SECS) {
            return Ok(());
        }
        Err(LockError::Lost {
            node: self.node.clone(),
            holder: if ours { Holder::default() } else { h },
        })
    }
}

fn stale_note(h: &Holder) -> String {
    match h.beat_age_secs {
        Some(a) if a > LEASE_SECS => format!(
            "; its lease was last renewed {a}s ago, so its console is probably gone: the host releases it within {LEASE_SECS}s"
        ),
        Some(a) => format!("; lease renewed {a}s ago (alive)"),
        None => String::new(),
    }
}

/// How long a release waits for the host to say the lock is free.
const RELEASE_WAIT_SECS: u64 = 10;

/// Holds the lock until released (or dropped).
pub struct LockGuard {
    tasks: Vec<JoinHandle<()>>,
    beat: Option<JoinHandle<()>>,
    session: Session,
    /// The host's holder and flock pids, from its `LOCKED` line.
    pids: Option<(u32, u32)>,
    node: String,
}

impl LockGuard {
    /// A handle to check, later, that this lock is still ours (`None`: the host's lock script
    /// did not say its holder's pid, nothing to compare with).
    pub fn lease(&self, install_dir: &str) -> Option<Lease> {
        self.pids.map(|(holder, _)| Lease {
            session: self.session.clone(),
            dir: install_dir.to_string(),
            holder,
            node: self.node.clone(),
        })
    }

    /// Release the lock and return once the host says it is free (its holder stopped, its
    /// `flock` gone), so a command run right after finds it free. A host that cannot be told
    /// (link lost) frees it itself when the channel closes or the lease lapses.
    pub async fn release(mut self) -> Result<(), LockError> {
        if let Some(b) = self.beat.take() {
            b.abort();
        }
        let Some((holder, flock)) = self.pids else {
            return Ok(());
        };
        let cmd = layout::lock_release_command(holder, flock, RELEASE_WAIT_SECS);
        let failed = |message: String| LockError::Failed {
            node: self.node.clone(),
            message,
        };
        match self.session.exec(&cmd).await {
            Ok(o) if o.success() => Ok(()),
            Ok(o) => Err(failed(format!(
                "releasing the lock: {}",
                nodeherd_core::facts::systemd::sanitize(String::from_utf8_lossy(&o.stderr).trim())
            ))),
            Err(e) => Err(failed(format!(
                "releasing the lock: {}",
                nodeherd_core::facts::systemd::sanitize(&e.to_string())
            ))),
        }
    }
}

/// Run `work` under `guard`, then release the lock (waiting until the host says it is free)
/// before returning what `work` returned. A failed release is logged: the host frees the lock
/// itself when the lease lapses.
pub async fn held<T>(guard: LockGuard, work: impl std::future::Future<Output = T>) -> T {
    let out = work.await;
    if let Err(e) = guard.release().await {
        tracing::warn!("{e}");
    }
    out
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        for t in self.tasks.iter().chain(&self.beat) {
            t.abort();
        }
    }
}

/// Try once to take the lock of a node.
pub async fn acquire(
    session: &Session,
    install_dir: &str,
    node: &str,
    who: &str,
    action: &str,
) -> Result<LockGuard, LockError> {
    let failed = |m: String| LockError::Failed {
        node: node.to_string(),
        message: m,
    };
    // Renew the lease first, so a stale beat of a previous holder does not end our hold at once.
    let cmd = layout::lock_command(install_dir, who, action, LEASE_SECS);
    let (tx, mut rx) = mpsc::channel::<StreamChunk>(16);
    let s = session.clone();
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    let holder = tokio::spawn(async move {
        let r = s.exec_stream(&cmd, tx).await;
        let _ = done_tx.send(r);
    });
    let mut seen = String::new();
    let mut err = String::new();
    let locked = loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(StreamChunk::Stdout(b)) => {
                    seen.push_str(&String::from_utf8_lossy(&b));
                    if seen.split_once("LOCKED").is_some_and(|(_, rest)| rest.contains('\n')) { break true; }
                }
                Some(StreamChunk::Stderr(b)) => err.push_str(&String::from_utf8_lossy(&b)),
                None => break false,
            },
            () = tokio::time::sleep(Duration::from_secs(30)) => break false,
        }
    };
    if !locked {
        // The stream ends before the holder task has passed on the exit status: wait for it
        // (aborting first would lose it and turn a plain "busy" into an unexplained failure).
        let status = match tokio::time::timeout(Duration::from_secs(10), &mut done_rx).await {
            Ok(Ok(Ok(s))) => s,
            Ok(Ok(Err(e))) => return Err(failed(e.to_string())),
            Ok(Err(_)) | Err(_) => None,
        };
        holder.abort();
        if status == Some(layout::LOCK_BUSY) {
            let info = session
                .exec(&layout::lock_info_command(install_dir))
                .await
                .map(|o| layout::parse_lock_info(&o.stdout_str()))
                .unwrap_or_default();
            return Err(LockError::Busy {
                node: node.to_string(),
                holder: info,
            });
        }
        return Err(failed(format!(
            "the lock command ended (status {status:?}): {}",
            nodeherd_core::facts::systemd::sanitize(err.trim())
        )));
    }
    // Drain the heartbeat dots so the channel never stalls.
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let s = session.clone();
    let dir = install_dir.to_string();
    let beat = tokio::spawn(async move {
        loop {
            let _ = s.exec(&layout::lock_beat_command(&dir)).await;
            tokio::time::sleep(BEAT_EVERY).await;
        }
    });
    Ok(LockGuard {
        tasks: vec![holder, drain],
        beat: Some(beat),
        session: session.clone(),
        pids: layout::lock_pid(&seen),
        node: node.to_string(),
    })
}

/// Take the lock, waiting up to `wait` (zero: refuse at once) while someone else holds it.
pub async fn acquire_waiting(
    session: &Session,
    install_dir: &str,
    node: &str,
    who: &str,
    action: &str,
    wait: Duration,
) -> Result<LockGuard, LockError> {
    let start = tokio::time::Instant::now();
    loop {
        match acquire(session, install_dir, node, who, action).await {
            Err(LockError::Busy { .. }) if start.elapsed() < wait => {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            r => return r,
        }
    }
}
