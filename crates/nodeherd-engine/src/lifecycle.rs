//! `start` / `stop` / `restart`: act on nodes' systemd units, verify the result by re-reading it,
//! and journal each node's action on its host ([`crate::record`]).
//!
//! May not touch: output formats (front ends render the outcomes), unit files or versions.

use crate::fleet;
use nodeherd_core::facts::systemd::{self, Action, UnitState};
use nodeherd_core::inventory::{Host, Inventory, Node, NodeRef};
use nodeherd_core::journal::{self, Entry};
use nodeherd_transport::ssh::{Command, Pool, Session, SshError};
use serde::Serialize;
use std::time::{Duration, Instant};

/// The outcome of one action on one node.
#[derive(Debug, Clone, Serialize)]
pub struct ActionOutcome {
    pub host: String,
    pub node: String,
    pub unit: String,
    pub action: Action,
    /// True when the action ran and the unit is in the state the action promises.
    pub ok: bool,
    /// The unit as re-read after the action.
    pub after: Option<UnitState>,
    /// What went wrong (sanitized), when `ok` is false.
    pub error: Option<String>,
    #[serde(with = "millis")]
    pub took: Duration,
}

mod millis {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

/// Perform `action` on every node, hosts in parallel (at most `forks`), nodes of one host in order;
/// each node's action is journaled on its host as done by this console's user.
pub async fn act(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    action: Action,
    forks: usize,
) -> Vec<ActionOutcome> {
    act_as(pool, inv, nodes, action, forks, &journal::who()).await
}

/// [`act`], journaled as done by `who` (`user@machine`).
pub async fn act_as(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    action: Action,
    forks: usize,
    who: &str,
) -> Vec<ActionOutcome> {
    let groups = crate::fleet::by_host(nodes);
    let per_host = fleet::run_all(groups, forks, |(h, refs)| async move {
        let mut out = Vec::new();
        for r in refs {
            out.push(act_one(pool, inv, h, r, action, who).await);
        }
        out
    })
    .await;
    per_host.into_iter().flat_map(|(_, v)| v).collect()
}

/// Run the action and re-read the unit.
async fn run(
    session: &Session,
    host: &Host,
    node: &Node,
    action: Action,
) -> Result<UnitState, SshError> {
    let cmd = systemd::action_command(action, &node.unit).become_root(host.target.become_root);
    session.exec(&cmd).await?.check(&host.name)?;
    let show = systemd::show_command(&[node.unit.as_str()]);
    let out = session.exec(&show).await?.check(&host.name)?;
    systemd::parse_show(&out.stdout_str())
        .into_iter()
        .next()
        .ok_or_else(|| SshError::Channel {
            host: host.name.clone(),
            message: "systemctl show printed nothing".into(),
        })
}

async fn act_one(
    pool: &Pool,
    inv: &Inventory,
    h: usize,
    r: NodeRef,
    action: Action,
    who: &str,
) -> ActionOutcome {
    let host = &inv.hosts[h];
    let node = &host.nodes[r.node];
    let started = Instant::now();
    let (session, result) = match pool.session(&host.target).await {
        Ok(s) => {
            let res = run(&s, host, node, action).await;
            (Some(s), res)
        }
        Err(e) => (None, Err(e)),
    };
    let (ok, after, error) = match result {
        Ok(state) => {
            let good = if action.expect_active() {
                state.is_active()
            } else {
                !state.is_active() && state.active_state != "deactivating"
            };
            let err = (!good).then(|| {
                let mut m = format!(
                    "after {} the unit is {}/{}",
                    action.verb(),
                    state.active_state,
                    state.sub_state
                );
                if let Some(p) = state.problem() {
                    m.push_str(": ");
                    m.push_str(&p);
                }
                m
            });
            (good, Some(state), err)
        }
        Err(e) => (
            false,
            None,
            Some(nodeherd_core::text::sanitize(&e.to_string())),
        ),
    };
    let o = ActionOutcome {
        host: host.name.clone(),
        node: node.name.clone(),
        unit: node.unit.clone(),
        action,
        ok,
        after,
        error,
        took: started.elapsed(),
    };
    let line = journal_line(&o, who);
    if let Err(e) = crate::record::record(session.as_ref(), &line).await {
        tracing::warn!(host = %o.host, node = %o.node, "journal: {e}");
    }
    o
}

/// The journal line of one node's action: the unit as re-read, or what went wrong.
fn journal_line(o: &ActionOutcome, who: &str) -> Entry {
    let detail = match (&o.error, &o.after) {
        (Some(e), _) => e.clone(),
        (None, Some(u)) => format!(
            "{} is {}/{}{}",
            o.unit,
            u.active_state,
            u.sub_state,
            u.main_pid
                .filter(|p| *p != 0)
                .map(|p| format!(", main PID {p}"))
                .unwrap_or_default()
        ),
        (None, None) => String::new(),
    };
    Entry::now(
        who,
        o.action.verb(),
        &format!("{}/{}", o.host, o.node),
        if o.ok { "ok" } else { "failed" },
        &detail,
    )
}

/// The command a front end may show in a plan or confirmation.
pub fn describe(inv: &Inventory, r: NodeRef, action: Action) -> String {
    let (host, node) = inv.node(r);
    let cmd: Command =
        systemd::action_command(action, &node.unit).become_root(host.target.become_root);
    format!("{}/{}: {}", host.name, node.name, cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeRemote, Match, Reply, fake_pool, isolate_state};
    use crate::upgrade::tests::inventory;

    fn journal_lines(f: &FakeRemote) -> Vec<String> {
        f.lines()
            .into_iter()
            .filter(|l| l.contains("/var/log/nodeherd/journal.jsonl"))
            .collect()
    }

    #[tokio::test]
    async fn a_restart_is_journaled_on_its_host_after_the_unit_is_read_again() {
        isolate_state();
        let inv = inventory(&["h1", "h2"], false);
        let fakes = [FakeRemote::named("h1"), FakeRemote::named("h2")];
        fakes[0].on(
            Match::contains("systemctl show"),
            Reply::ok(
                "Id=lodestar-bn.service\nActiveState=active\nSubState=running\nMainPID=4242\n",
            ),
        );
        let pool = fake_pool(&fakes);
        let r = NodeRef { host: 0, node: 0 };
        let out = act_as(&pool, &inv, &[r], Action::Restart, 2, "alice@laptop").await;
        assert!(out[0].ok, "{out:?}");
        let lines = fakes[0].lines();
        let j = journal_lines(&fakes[0]);
        assert_eq!(j.len(), 1, "{lines:?}");
        // after the restart and the re-read, never before
        assert!(lines[0].contains("systemctl restart") && lines[1].contains("systemctl show"));
        assert_eq!(lines[2], j[0]);
        for part in [
            r#""who":"alice@laptop""#,
            r#""action":"restart""#,
            r#""node":"h1/bn""#,
            r#""result":"ok""#,
            r#""detail":"lodestar-bn.service is active/running, main PID 4242""#,
        ] {
            assert!(j[0].contains(part), "{part} not in {}", j[0]);
        }
        assert!(fakes[1].lines().is_empty(), "the other host is not touched");
    }

    #[tokio::test]
    async fn a_failed_stop_is_journaled_as_failed_with_the_units_state() {
        isolate_state();
        let inv = inventory(&["h1"], false);
        let f = FakeRemote::named("h1");
        f.on(
            Match::contains("systemctl show"),
            Reply::ok("Id=lodestar-bn.service\nActiveState=active\nSubState=running\n"),
        );
        let pool = fake_pool(std::slice::from_ref(&f));
        let out = act_as(
            &pool,
            &inv,
            &[NodeRef { host: 0, node: 0 }],
            Action::Stop,
            1,
            "w",
        )
        .await;
        assert!(!out[0].ok);
        let j = journal_lines(&f);
        assert_eq!(j.len(), 1);
        assert!(j[0].contains(r#""action":"stop""#) && j[0].contains(r#""result":"failed""#));
        assert!(
            j[0].contains("after stop the unit is active/running"),
            "{}",
            j[0]
        );
    }

    #[tokio::test]
    async fn an_unreachable_host_leaves_the_line_in_the_consoles_journal() {
        isolate_state();
        let inv = inventory(&["gone"], false);
        let pool = fake_pool(&[]);
        let out = act_as(
            &pool,
            &inv,
            &[NodeRef { host: 0, node: 0 }],
            Action::Start,
            1,
            "w",
        )
        .await;
        assert!(!out[0].ok);
        let local = std::fs::read_to_string(journal::local_path()).unwrap_or_default();
        assert!(
            journal::parse(&local)
                .0
                .iter()
                .any(|e| e.node == "gone/bn" && e.action == "start" && e.result == "failed"),
            "{local}"
        );
    }
}
