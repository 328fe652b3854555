//! `nodeherd logs NODE [-f] [-n N]`: a node's journal, sanitized, optionally followed.

use super::context::{self, Fail};
use super::{Output, exit};
use nodeherd_core::facts::systemd::JournalLine;
use nodeherd_engine::logs;
use std::path::Path;
use tokio::sync::mpsc;

pub async fn run(
    inventory: &Path,
    node: &str,
    lines: usize,
    follow: bool,
    out: Output,
) -> Result<i32, Fail> {
    let inv = context::load_inventory(inventory, out.color)?;
    let r = inv.find_node(node).map_err(|e| {
        eprintln!("error: {e}");
        Fail(exit::USAGE)
    })?;
    let pool = context::pool();
    let code = if follow {
        let (tx, mut rx) = mpsc::channel(256);
        let printer = async {
            while let Some(l) = rx.recv().await {
                println!("{}", format_line(&l, out));
            }
        };
        let (res, ()) = tokio::join!(
            async {
                tokio::select! {
                    r = logs::follow(&pool, &inv, r, lines, tx) => r,
                    _ = tokio::signal::ctrl_c() => Ok(()),
                }
            },
            printer
        );
        report(res)
    } else {
        let res = logs::tail(&pool, &inv, r, lines).await.map(|ls| {
            for l in ls {
                println!("{}", format_line(&l, out));
            }
        });
        report(res)
    };
    pool.close_all().await;
    Ok(code)
}

fn report(res: Result<(), nodeherd_transport::ssh::SshError>) -> i32 {
    match res {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

/// One journal line for a terminal or a pipe; JSON lines with `--json`.
pub fn format_line(l: &JournalLine, out: Output) -> String {
    if out.json {
        return serde_json::to_string(l).unwrap_or_default();
    }
    let time = l
        .time
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%b %d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    if time.is_empty() {
        l.message.clone()
    } else {
        format!("{} {} {}", out.paint(&time, "2"), l.ident, l.message)
    }
}
