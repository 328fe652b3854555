//! The one place a journal line is written: every use case that changes a host (lifecycle, keys,
//! apply's unit rewrites, upgrades, rollbacks, installs, backups, restores) hands its
//! [`Entry`] to [`record`], which appends it to the node's host journal and to the console's.
//!
//! Owns: where a line goes (the host's `/var/log/nodeherd/journal.jsonl` through the session,
//! the console's journal file) and the run ids that let `history` show the two copies once.
//! May not touch: what a line says (the use case builds it, never with a secret in it), how
//! `history` reads and merges ([`crate::upgrade::engine::history`], `nodeherd_core::journal`).

use nodeherd_core::facts::layout;
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::journal::{self, Entry};
use nodeherd_transport::ssh::{Pool, Session};

/// Why a line did not reach the host's journal (it is in the console's journal regardless).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("no session to the host: the line is only in the console's journal")]
    NoSession,
    #[error("cannot reach the host's journal: {0}")]
    Link(String),
    #[error("the host refused the journal line ({status}): {stderr}")]
    Refused { status: String, stderr: String },
}

/// A fresh id for the lines of one action (16 hex digits).
pub fn run_id() -> String {
    use rand::Rng;
    let b: [u8; 8] = rand::thread_rng().r#gen();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Write `e` to the console's journal, then (with a session) to the host's. A journal problem
/// never fails the action it records: callers log the error and go on. An entry without a run
/// id gets one, so the two copies show once in `history`.
pub async fn record(session: Option<&Session>, e: &Entry) -> Result<(), RecordError> {
    let mut e = e.clone();
    if e.run.is_empty() {
        e.run = run_id();
    }
    journal::append_local(&e);
    let Some(session) = session else {
        return Err(RecordError::NoSession);
    };
    let out = session
        .exec(&layout::journal_append_command(&e.line()))
        .await
        .map_err(|err| {
            RecordError::Link(
                nodeherd_core::text::sanitize(&err.to_string())
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            )
        })?;
    if out.success() {
        Ok(())
    } else {
        Err(RecordError::Refused {
            status: out
                .exit_status
                .map_or_else(|| "no exit status".into(), |c| format!("exit {c}")),
            stderr: nodeherd_core::text::sanitize(String::from_utf8_lossy(&out.stderr).trim()),
        })
    }
}

/// [`record`] on node `r`'s host, through the pool's session (connecting if needed).
pub async fn record_on(
    pool: &Pool,
    inv: &Inventory,
    r: NodeRef,
    e: &Entry,
) -> Result<(), RecordError> {
    let res = match pool.session(&inv.node(r).0.target).await {
        Ok(s) => record(Some(&s), e).await,
        Err(_) => record(None, e).await,
    };
    if let Err(err) = &res {
        tracing::warn!(node = %e.node, action = %e.action, "journal: {err}");
    }
    res
}

/// `host/node` of a node, as journal lines name it.
pub fn node_key(inv: &Inventory, r: NodeRef) -> String {
    let (h, n) = inv.node(r);
    format!("{}/{}", h.name, n.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeRemote, Match, Reply, isolate_state};

    #[tokio::test]
    async fn a_line_goes_to_the_host_and_the_console_with_one_run_id() {
        isolate_state();
        let f = FakeRemote::named("h1");
        let e = Entry::now(
            "ops@box",
            journal::action::STOP,
            "h1/bn",
            "ok",
            "it's stopped",
        );
        record(Some(&f.session()), &e).await.unwrap();
        let lines = f.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("/var/log/nodeherd/journal.jsonl"));
        // The JSON travels as one quoted argument, apostrophe and all.
        assert!(lines[0].contains(r#""action":"stop""#), "{}", lines[0]);
        assert!(lines[0].contains(r"it'\''s stopped"), "{}", lines[0]);
        let local = std::fs::read_to_string(journal::local_path()).unwrap();
        let run = local
            .lines()
            .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
            .find(|x| x.detail == "it's stopped")
            .map(|x| x.run)
            .unwrap();
        assert_eq!(run.len(), 16);
        assert!(lines[0].contains(&run), "same run id on the host");
    }

    #[tokio::test]
    async fn a_refusing_or_lost_host_is_reported_not_hidden() {
        isolate_state();
        let f = FakeRemote::named("h1");
        f.on(
            Match::contains("journal.jsonl"),
            Reply::fail(1, "Read-only file system"),
        );
        let e = Entry::now("ops@box", "start", "h1/bn", "ok", "");
        assert_eq!(
            record(Some(&f.session()), &e).await,
            Err(RecordError::Refused {
                status: "exit 1".into(),
                stderr: "Read-only file system".into()
            })
        );
        f.lose_link();
        assert!(matches!(
            record(Some(&f.session()), &e).await,
            Err(RecordError::Link(_))
        ));
        assert_eq!(record(None, &e).await, Err(RecordError::NoSession));
    }
}
