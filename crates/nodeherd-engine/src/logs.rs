//! `logs`: a node's journal, once or followed live, sanitized line by line.
//!
//! May not touch: the terminal or output formats (front ends print the lines).

use nodeherd_core::facts::systemd::{self, JournalLine};
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_transport::ssh::{Pool, SshError, StreamChunk};
use tokio::sync::mpsc;

/// The last `lines` journal lines of a node's unit.
pub async fn tail(
    pool: &Pool,
    inv: &Inventory,
    r: NodeRef,
    lines: usize,
) -> Result<Vec<JournalLine>, SshError> {
    let (host, node) = inv.node(r);
    let session = pool.session(&host.target).await?;
    let cmd =
        systemd::journal_command(&node.unit, lines, false).become_root(host.target.become_root);
    let out = session.exec(&cmd).await?.check(&host.name)?;
    Ok(out
        .stdout_str()
        .lines()
        .filter(|l| !l.is_empty())
        .map(systemd::parse_journal_line)
        .collect())
}

/// Follow a node's journal: parsed lines are sent to `tx` as they arrive, until the remote side
/// ends or `tx` is closed by the receiver.
pub async fn follow(
    pool: &Pool,
    inv: &Inventory,
    r: NodeRef,
    lines: usize,
    tx: mpsc::Sender<JournalLine>,
) -> Result<(), SshError> {
    let (host, node) = inv.node(r);
    let session = pool.session(&host.target).await?;
    let cmd =
        systemd::journal_command(&node.unit, lines, true).become_root(host.target.become_root);
    let (ctx, mut crx) = mpsc::channel::<StreamChunk>(64);
    let stream = session.exec_stream(&cmd, ctx);
    let forward = async move {
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = crx.recv().await {
            let StreamChunk::Stdout(bytes) = chunk else {
                continue;
            };
            buf.extend_from_slice(&bytes);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1]);
                if text.is_empty() {
                    continue;
                }
                if tx.send(systemd::parse_journal_line(&text)).await.is_err() {
                    return; // receiver gone: dropping crx ends the remote command
                }
            }
        }
    };
    let (res, ()) = tokio::join!(stream, forward);
    res.map(|_| ())
}
