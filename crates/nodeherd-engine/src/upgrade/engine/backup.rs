//! Data safety around a switch: before an upgrade of a node with `backup = "snapshot" | "copy"`
//! and a `data_dir`, check the backup fits (refused, nothing changed, when not), then hand the
//! host's guarded switch what to copy (while the unit is stopped), what to prune beyond
//! `backup_keep`, and the journal lines of the copy and of the restore it runs if it rolls back.
//! A rollback restores the newest backup made when leaving the version it goes back to.
//!
//! Owns: those decisions, their outcome texts, and the plan line of a backup. May not touch: the
//! order of an upgrade's steps (that is [`super::node`], which calls in here), the host scripts
//! (`nodeherd_core::facts::{backup, layout}`), the health gate.

use super::data_plan::Prepared;
use super::steps::Ctx;
use super::{Duration, Outcome, Pool, Serialize, Status, Target, entry, journal, link};
use nodeherd_core::facts::backup::{
    self as facts, HOW, Need, SpaceFacts, SwitchBackup, backup_name, backups_dir, newest_for,
};
use nodeherd_core::facts::layout;
use nodeherd_core::inventory::Backup;

/// A node's backup as the upgrade plan shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupPlan {
    pub mode: &'static str,
    pub data_dir: String,
    /// Where backups go (`<install_dir>/backups`).
    pub target: String,
    pub data_kib: u64,
    pub need_kib: u64,
    pub free_kib: u64,
    pub method: String,
    /// Set when the backup would be refused (the upgrade then is).
    pub problem: Option<String>,
}

impl BackupPlan {
    /// One line for the plan, e.g. `copy of /var/lib/x (1.2 GiB) into /opt/n/backups: needs
    /// 1.3 GiB, 40.0 GiB free (full copy)`.
    pub fn describe(&self) -> String {
        let h = facts::human_kib;
        match &self.problem {
            Some(p) => format!("{}: REFUSED: {p}", self.mode),
            None => format!(
                "{} of {} ({}) into {}: needs {}, {} free ({})",
                self.mode,
                self.data_dir,
                h(self.data_kib),
                self.target,
                h(self.need_kib),
                h(self.free_kib),
                self.method
            ),
        }
    }
}

fn data_dir(t: &Target) -> Option<String> {
    if t.node.backup == Backup::None {
        return None;
    }
    t.node.data_dir.as_ref().map(|d| d.display().to_string())
}

/// Read the space fact of `t`'s data dir (None: the node takes no backup).
async fn space(
    session: &nodeherd_transport::ssh::Session,
    t: &Target,
) -> Option<Result<(String, SpaceFacts), String>> {
    let data = data_dir(t)?;
    let dir = t.node.install_dir.display().to_string();
    let out = match session.exec(&facts::space_command(&data, &dir)).await {
        Ok(o) => o,
        Err(e) => return Some(Err(link(e).to_string())),
    };
    Some(
        facts::parse_space(&out.stdout_str())
            .map(|f| (data, f))
            .map_err(|e| format!("cannot read the backup space of {}: {e}", t.key)),
    )
}

/// Before an upgrade from `from`: check the backup fits and prepare it. A refusal (or a host
/// that cannot answer) is the upgrade's outcome, journaled; nothing changed on the host.
pub(super) async fn before_upgrade(cx: &Ctx<'_>, from: &str, to: &str) -> Result<(), Outcome> {
    let t = cx.t;
    let Some(read) = space(cx.session, t).await else {
        return Ok(());
    };
    let fail = |status, detail: String| cx.outcome(Some(from), Some(to), status, detail, vec![]);
    let (data, f) = match read {
        Ok(x) => x,
        Err(e) => {
            let o = fail(Status::Failed, e);
            cx.journal(&o, false).await;
            return Err(o);
        }
    };
    if let Err(e) = facts::check(t.node.backup, &data, &f) {
        let o = fail(Status::Refused, e.to_string());
        cx.journal(&o, true).await;
        return Err(o);
    }
    let dir = backups_dir(&t.node.install_dir.display().to_string());
    let prune = facts::prune_list(&f.backups, t.node.backup_keep, 1)
        .into_iter()
        .map(|n| format!("{dir}/{n}"))
        .collect();
    let _ = cx.backup.set(Prepared::Backup {
        mode: t.node.backup,
        data_dir: data,
        path: format!("{dir}/{}", backup_name(from, chrono::Utc::now())),
        data_kib: f.data_kib,
        prune,
    });
    Ok(())
}

/// Before a rollback to `target`: restore the newest backup made when leaving `target`, if the
/// node takes backups and one is on the host (none: the data dir is left as it is).
pub(super) async fn before_rollback(cx: &Ctx<'_>, target: &str) -> Result<(), Outcome> {
    let t = cx.t;
    let Some(data) = data_dir(t) else {
        return Ok(());
    };
    let dir = t.node.install_dir.display().to_string();
    let out = match cx.session.exec(&facts::list_command(&dir)).await {
        Ok(o) => o,
        Err(e) => {
            let o = cx.outcome(
                None,
                Some(target),
                Status::Failed,
                link(e).to_string(),
                vec![],
            );
            cx.journal(&o, false).await;
            return Err(o);
        }
    };
    let names: Vec<String> = out.stdout_str().lines().map(str::to_string).collect();
    if let Some(name) = newest_for(&names, target) {
        let _ = cx.backup.set(Prepared::Restore {
            data_dir: data,
            path: format!("{}/{name}", backups_dir(&dir)),
        });
    }
    Ok(())
}

/// The switch's backup arguments, with journal lines of this run (from `from` to `to`).
pub(super) fn switch_backup(cx: &Ctx<'_>, from: &str, to: &str) -> Option<SwitchBackup> {
    let (t, opts) = (cx.t, cx.opts);
    let line = |action: &str, result: &str, detail: String| {
        journal::tail_json(&entry(t, opts, &cx.run, action, from, to, result, &detail))
    };
    let restore_failed = |data: &str, path: &str| {
        format!(
            "restore of {data} FAILED ({HOW}): the unit is left stopped and {data} is incomplete; restore it by hand from {path}"
        )
    };
    Some(match cx.backup.get()? {
        Prepared::Backup {
            mode,
            data_dir,
            path,
            prune,
            data_kib,
        } => SwitchBackup {
            mode: mode.as_str().into(),
            data_dir: data_dir.clone(),
            path: path.clone(),
            // the size read before the switch: the guard does not walk the copy again while
            // the node is down
            journal_done: line(
                "backup",
                "ok",
                format!(
                    "{data_dir} ({}) -> {path}: {HOW}",
                    facts::human_kib(*data_kib)
                ),
            ),
            journal_failed: line(
                "backup",
                "failed",
                format!("{data_dir} not saved ({HOW}); nothing switched, {from} started again"),
            ),
            journal_restored: line(
                "restore",
                "ok",
                format!("{data_dir} restored before {from} starts again: {HOW}"),
            ),
            journal_restore_failed: line("restore", "failed", restore_failed(data_dir, path)),
            prune: prune.clone(),
        },
        Prepared::Restore { data_dir, path } => SwitchBackup {
            mode: "restore".into(),
            data_dir: data_dir.clone(),
            path: path.clone(),
            journal_done: line(
                "restore",
                "ok",
                format!("{data_dir} restored before {to} starts: {HOW}"),
            ),
            journal_failed: line("restore", "failed", restore_failed(data_dir, path)),
            ..SwitchBackup::default()
        },
    })
}

/// After the guard started: wait while it copies or restores (as long as the guard runs; no
/// guessed limit), then let the switch go on, or end with the copy's failure.
pub(super) async fn await_backup(
    cx: &Ctx<'_>,
    tok: &str,
    from: &str,
    to: &str,
) -> Result<(), Outcome> {
    let Some(p) = cx.backup.get() else {
        return Ok(());
    };
    let dir = cx.t.node.install_dir.display().to_string();
    let mut quiet = 0;
    loop {
        let read = cx
            .session
            .exec(&layout::switch_state_command(&dir, tok, &cx.t.node.name))
            .await;
        let (state, unit) = match read {
            Ok(o) => layout::parse_switch_state(&o.stdout_str()),
            Err(e) => {
                let o = cx.outcome(
                    Some(from),
                    Some(to),
                    Status::Failed,
                    format!(
                        "connection lost while the host copies the data dir ({}); the host's guard finishes on its own (it starts the unit again); run again to complete",
                        link(e)
                    ),
                    vec![],
                );
                cx.journal(&o, false).await;
                return Err(o);
            }
        };
        let failed = match state.as_str() {
            "backing-up" | "restoring" | "" => None,
            "backup-failed" => Some(format!(
                "the backup of {} failed on the host; nothing switched, {from} runs again (`nodeherd history` has the reason)",
                data_of(p)
            )),
            "restore-failed" => Some(format!(
                "the restore of {} failed on the host: the unit is LEFT STOPPED (`nodeherd history` has the reason)",
                data_of(p)
            )),
            _ => return Ok(()),
        };
        if let Some(detail) = failed {
            let o = cx.outcome(Some(from), Some(to), Status::Failed, detail, vec![]);
            cx.journal(&o, false).await;
            return Err(o);
        }
        // Not started yet, or still copying: give up only when the guard has ended meanwhile.
        quiet = if unit == "active" || unit == "activating" {
            0
        } else {
            quiet + 1
        };
        if quiet > 20 {
            return Ok(()); // the caller's wait for `switched` reports the guard's state
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn data_of(p: &Prepared) -> &str {
    match p {
        Prepared::Backup { data_dir, .. } | Prepared::Restore { data_dir, .. } => data_dir,
    }
}

/// Extra time the guard may take to roll back when it restores this switch's backup (a copy at
/// 40 MiB/s, plus a minute).
pub(super) fn restore_allowance(cx: &Ctx<'_>) -> Duration {
    match cx.backup.get() {
        Some(Prepared::Backup { data_kib, .. }) => Duration::from_secs(60 + data_kib / 40_960),
        _ => Duration::ZERO,
    }
}

/// The plan line of `t`'s backup (None when the node takes none), read through the pool.
pub async fn plan_backup(pool: &Pool, t: &Target) -> Option<BackupPlan> {
    data_dir(t)?;
    let session = pool.session(&t.host.target).await.ok()?;
    let read = space(&session, t).await?;
    let target = backups_dir(&t.node.install_dir.display().to_string());
    let mode = t.node.backup.as_str();
    Some(match read {
        Ok((data, f)) => {
            let checked = facts::check(t.node.backup, &data, &f);
            let (need, problem) = match checked {
                Ok(Need {
                    need_kib, method, ..
                }) => ((need_kib, method.to_string()), None),
                Err(e) => (
                    (facts::with_headroom(f.data_kib), String::new()),
                    Some(e.to_string()),
                ),
            };
            BackupPlan {
                mode,
                data_dir: data,
                target,
                data_kib: f.data_kib,
                need_kib: need.0,
                free_kib: f.target.avail_kib,
                method: need.1,
                problem,
            }
        }
        Err(e) => BackupPlan {
            mode,
            data_dir: String::new(),
            target,
            data_kib: 0,
            need_kib: 0,
            free_kib: 0,
            method: String::new(),
            problem: Some(e),
        },
    })
}

#[cfg(test)]
mod tests;
