//! The reducer: `update(&mut App, Msg, now) -> Vec<Effect>`, pure.
//!
//! Owns: every state transition of the TUI (keys through the keymap, dialogs, prompts, worker
//! results). May not touch: I/O, clocks (time comes in as `now`), the terminal; whatever must
//! happen outside is returned as an [`Effect`] for the runtime.

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::keycmd;
use crate::keymap::{Action, Key};
use crate::msg::{Effect, Msg, event_label, lifecycle_of};
use crate::state::{
    AlertState, App, Dialog, Flash, KeyEntry, LogView, Prompt, Screen, SortKey, UpgradeAsk,
    short_pubkey,
};
use nodeherd_core::inventory::NodeRef;
use nodeherd_core::facts::systemd;

/// How long a flash message stays.
const FLASH_SECS: i64 = 6;

/// Apply one message to the state; returns what the runtime must do.
pub fn update(app: &mut App, msg: Msg, now: DateTime<Utc>) -> Vec<Effect> {
    let mut fx = Vec::new();
    match msg {
        Msg::Key(k) => {
            if k.kind == KeyEventKind::Release {
                return fx;
            }
            app.dirty = true;
            on_key(app, k, now, &mut fx);
        }
        Msg::Resize(..) => app.dirty = true,
        Msg::Tick => {
            if app.flash.as_ref().is_some_and(|f| f.until <= now) {
                app.flash = None;
            }
            // ages on screen ("polled 3s ago") move
            app.dirty = true;
        }
        Msg::PollStarted => {
            app.polling = true;
            app.dirty = true;
        }
        Msg::StatusBatch(batch) => {
            for s in batch {
                if let Some(i) = app.row_index(&s.host, &s.node) {
                    app.rows[i].status = Some(s);
                }
            }
            app.polling = false;
            app.last_poll = Some(now);
            app.refresh_view();
            app.dirty = true;
        }
        Msg::Metrics {
            host,
            node,
            metrics,
        } => {
            if let Some(i) = app.row_index(&host, &node) {
                app.rows[i].metrics = metrics;
                app.dirty = true;
            }
        }
        Msg::Alerts(list) => {
            for row in app.rows.iter_mut() {
                row.alerts = list
                    .iter()
                    .filter(|a| {
                        // a host-level alert (no node) counts on every node of its host
                        a.state == AlertState::Firing
                            && a.host == row.host
                            && (a.node == row.node || a.node.is_empty())
                    })
                    .count();
            }
            app.alerts = list;
            app.alerts
                .sort_by(|a, b| a.state.cmp(&b.state).then(b.since.cmp(&a.since)));
            app.alerts_selected = app.alerts_selected.min(app.alerts.len().saturating_sub(1));
            app.dirty = true;
        }
        Msg::Releases(r) => {
            if let Ok(list) = &r {
                for rel in list {
                    if let Some(i) = app.row_index(&rel.host, &rel.node) {
                        app.rows[i].upgrade = rel.to.clone();
                    }
                }
            }
            app.releases.finish(r, now);
            let n = app.releases.data.as_ref().map_or(0, Vec::len);
            app.releases_selected = app.releases_selected.min(n.saturating_sub(1));
            app.dirty = true;
        }
        Msg::Keys(list) => {
            app.keys.finish(Ok(list), now);
            let n = app.key_entries().len();
            app.keys_selected = app.keys_selected.min(n.saturating_sub(1));
            app.dirty = true;
        }
        Msg::ImportChecked(r) => {
            app.keys_checking = false;
            match r {
                Ok(ask) if app.dialog.is_none() && !app.readonly => {
                    app.dialog = Some(Dialog::ImportKeys(ask));
                }
                Ok(_) => flash(app, now, "import not started: another dialog is open", true),
                Err(e) => flash(app, now, systemd::sanitize(&e), true),
            }
            app.dirty = true;
        }
        Msg::MoveChecked(r) => {
            app.keys_checking = false;
            match r {
                Ok(ask) if app.dialog.is_none() && !app.readonly => {
                    app.dialog = Some(Dialog::MoveKey(ask));
                }
                Ok(_) => flash(app, now, "move not started: another dialog is open", true),
                Err(e) => flash(app, now, systemd::sanitize(&e), true),
            }
            app.dirty = true;
        }
        Msg::KeysImported { ok, text } => {
            flash(app, now, systemd::sanitize(&text), !ok);
            if app.keys.start() {
                fx.push(Effect::LoadKeys);
            }
            app.dirty = true;
        }
        Msg::KeyMoved { pubkey, ok, text } => {
            app.keys_removing.remove(&pubkey);
            flash(app, now, systemd::sanitize(&text), !ok);
            if app.keys.start() {
                fx.push(Effect::LoadKeys);
            }
            app.dirty = true;
        }
        Msg::KeyRemoved { pubkey, ok, text } => {
            app.keys_removing.remove(&pubkey);
            flash(app, now, systemd::sanitize(&text), !ok);
            // whatever happened, show what the node holds now
            if app.keys.start() {
                fx.push(Effect::LoadKeys);
            }
            app.dirty = true;
        }
        Msg::LogLine { node, line } => {
            if app.log.node == Some(node) {
                app.log.push(line);
                if app.screen == Screen::Detail && app.log.paused_at.is_none() {
                    app.dirty = true;
                }
            }
        }
        Msg::LogEnded { node, error } => {
            if app.log.node == Some(node) {
                app.log.ended = Some(error.unwrap_or_else(|| "the journal follow ended".into()));
                app.dirty = true;
            }
        }
        Msg::ActionDone { action, outcomes } => {
            on_action_done(app, action, outcomes, now);
            fx.push(Effect::PollNow);
            app.dirty = true;
        }
        Msg::HostKeyQuestion { ask, reply } => {
            if app.dialog.is_none() {
                app.dialog = Some(Dialog::HostKey {
                    ask,
                    reply: Some(reply),
                });
            } else {
                app.pending_keys.push_back((ask, reply));
            }
            app.dirty = true;
        }
        Msg::Notice { text, error } => {
            flash(app, now, systemd::sanitize(&text), error);
            app.dirty = true;
        }
        Msg::Plan(r) => {
            let r = r.map(|(plan, inputs)| {
                app.plan.inputs = Some(inputs);
                plan
            });
            if r.is_err() {
                app.plan.inputs = None;
            }
            app.plan.plan.finish(r, now);
            let n = app.plan.plan.data.as_ref().map_or(0, plan_len);
            app.plan.selected = app.plan.selected.min(n.saturating_sub(1));
            app.dirty = true;
        }
        Msg::Progress { key, event } => {
            app.progress.insert(key, event_label(event).to_string());
            app.dirty = true;
        }
        Msg::Applied(Err(e)) => {
            app.plan.applying = false;
            app.progress.clear();
            flash(app, now, format!("apply: {}", systemd::sanitize(&e)), true);
            app.dirty = true;
        }
        Msg::Applied(Ok(results)) => {
            app.plan.applying = false;
            for r in &results {
                app.progress.remove(&format!("{}/{}", r.host, r.node));
            }
            let verified = results.iter().filter(|r| r.verified).count();
            let failed = results.iter().filter(|r| !r.ok).count();
            let text = format!(
                "apply done: {} change(s), {verified} verified, {failed} failed",
                results.len()
            );
            flash(app, now, text, failed > 0 || verified < results.len());
            app.plan.results = Some(results);
            // the facts changed: what the plan showed is stale now
            app.plan.inputs = None;
            fx.push(Effect::PollNow);
            app.dirty = true;
        }
        Msg::UpgradeDone {
            key,
            rollback,
            outcome,
        } => {
            app.upgrading.remove(&key);
            app.progress.remove(&key);
            let what = if rollback { "rollback" } else { "upgrade" };
            let versions = format!(
                "{} → {}",
                outcome.from.as_deref().unwrap_or("?"),
                outcome.to.as_deref().unwrap_or("?")
            );
            let status = serde_json::to_value(outcome.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let text = format!(
                "{what} {key} {versions}: {status}{}{}",
                if outcome.detail.is_empty() { "" } else { ": " },
                outcome.detail
            );
            flash(app, now, systemd::sanitize(&text), outcome.failed());
            fx.push(Effect::PollNow);
            if app.releases.start() {
                fx.push(Effect::LoadReleases);
            }
            app.dirty = true;
        }
        Msg::History(r) => {
            app.history.finish(r, now);
            let n = app.history.data.as_ref().map_or(0, |h| h.entries.len());
            // newest first on screen: the cursor starts at the top
            app.history_selected = app.history_selected.min(n.saturating_sub(1));
            app.dirty = true;
        }
        Msg::Terminate => quit(app, &mut fx),
        Msg::SuspendRequested => fx.push(Effect::Suspend),
    }
    fx
}

fn flash(app: &mut App, now: DateTime<Utc>, text: impl Into<String>, error: bool) {
    app.flash = Some(Flash {
        text: text.into(),
        error,
        until: now + Duration::seconds(FLASH_SECS),
    });
}

fn quit(app: &mut App, fx: &mut Vec<Effect>) {
    // refuse every open host-key question: nothing may stay waiting on a dead UI
    if let Some(Dialog::HostKey {
        reply: Some(reply), ..
    }) = app.dialog.take()
    {
        fx.push(Effect::AnswerHostKey {
            reply,
            accept: false,
        });
    }
    for (_, reply) in app.pending_keys.drain(..) {
        fx.push(Effect::AnswerHostKey {
            reply,
            accept: false,
        });
    }
    app.quit = true;
    app.dirty = true;
    fx.push(Effect::Quit);
}

fn on_key(app: &mut App, k: KeyEvent, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    let key = Key::from_event(&k);
    if app.dialog.is_some() {
        on_dialog_key(app, key, now, fx);
        return;
    }
    if app.prompt.is_some() {
        on_prompt_key(app, k, now, fx);
        return;
    }
    let Some(binding) = app.keymap.lookup(app.context(), key).copied() else {
        return;
    };
    perform(app, binding.action, binding.dangerous, now, fx);
}

fn on_dialog_key(app: &mut App, key: Key, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    if key == Key::ctrl('c') {
        quit(app, fx);
        return;
    }
    let yes = key == Key::ch('y') || key == Key::ch('Y');
    let no = key == Key::ch('n') || key == Key::ch('N') || key == Key::code(KeyCode::Esc);
    if !yes && !no {
        return;
    }
    match app.dialog.take() {
        Some(Dialog::Confirm { action, nodes }) => {
            let Some(a) = lifecycle_of(action) else {
                return;
            };
            if yes {
                start_action(app, a, nodes, now, fx);
            } else {
                flash(app, now, format!("{} cancelled", a.verb()), false);
            }
        }
        Some(Dialog::RemoveKey { key }) => {
            let short = short_pubkey(&key.pubkey);
            let at = format!("{}/{}", key.host, key.node);
            if !yes {
                flash(
                    app,
                    now,
                    format!("remove {short} from {at} cancelled"),
                    false,
                );
            } else if app.readonly {
                flash(app, now, "readonly: actions are disabled", true);
            } else {
                app.keys_removing.insert(key.pubkey.clone());
                flash(
                    app,
                    now,
                    format!("removing {short} from {at} (saving its slashing data first) …"),
                    false,
                );
                fx.push(Effect::RemoveKey {
                    node: key.r,
                    pubkey: key.pubkey,
                });
            }
        }
        Some(Dialog::ImportKeys(ask)) => {
            let at = format!("{}/{}", ask.host, ask.node);
            let n = ask.pubkeys.len();
            if !yes {
                flash(app, now, format!("import into {at} cancelled"), false);
            } else if app.readonly {
                flash(app, now, "readonly: actions are disabled", true);
            } else {
                flash(
                    app,
                    now,
                    format!(
                        "importing {n} key(s) into {at} (files and guard checked again first) …"
                    ),
                    false,
                );
                fx.push(Effect::ImportKeys(ask));
            }
        }
        Some(Dialog::MoveKey(ask)) => {
            let short = short_pubkey(&ask.pubkey);
            if !yes {
                flash(
                    app,
                    now,
                    format!("move of {short} to {} cancelled", ask.to_label),
                    false,
                );
            } else if app.readonly {
                flash(app, now, "readonly: actions are disabled", true);
            } else {
                app.keys_removing.insert(ask.pubkey.clone());
                flash(
                    app,
                    now,
                    format!(
                        "moving {short} from {} to {} (remove, save slashing data, verify, import) …",
                        ask.from_label, ask.to_label
                    ),
                    false,
                );
                fx.push(Effect::MoveKey(ask));
            }
        }
        Some(Dialog::Apply { changes }) => {
            let n = changes.len();
            if !yes {
                flash(app, now, format!("apply of {n} change(s) cancelled"), false);
            } else if app.readonly {
                flash(app, now, "readonly: actions are disabled", true);
            } else if app.plan.applying {
                flash(app, now, "an apply is already running", true);
            } else if let Some(inputs) = app.plan.inputs.clone() {
                app.plan.applying = true;
                app.plan.results = None;
                for c in &changes {
                    app.progress
                        .insert(format!("{}/{}", c.host, c.node), "queued".into());
                }
                flash(app, now, format!("applying {n} change(s) …"), false);
                fx.push(Effect::Apply(inputs));
            } else {
                flash(app, now, "the plan is gone: R plans again", true);
            }
        }
        Some(Dialog::Upgrade(ask)) => {
            let key = format!("{}/{}", ask.host, ask.node);
            let what = if ask.rollback { "rollback" } else { "upgrade" };
            if !yes {
                flash(app, now, format!("{what} of {key} cancelled"), false);
            } else if app.readonly {
                flash(app, now, "readonly: actions are disabled", true);
            } else if app.upgrading.contains(&key) {
                flash(app, now, format!("{key}: already running"), true);
            } else {
                let fx_one = if ask.rollback {
                    Some(Effect::Rollback {
                        node: ask.r,
                        to: ask.to.clone(),
                    })
                } else {
                    ask.to.clone().map(|to| Effect::Upgrade { node: ask.r, to })
                };
                if let Some(e) = fx_one {
                    app.upgrading.insert(key.clone());
                    app.progress.insert(key.clone(), "starting".into());
                    flash(app, now, format!("{what} {key} …"), false);
                    fx.push(e);
                }
            }
        }
        Some(Dialog::HostKey { ask, reply }) => {
            if let Some(reply) = reply {
                fx.push(Effect::AnswerHostKey { reply, accept: yes });
            }
            let verdict = if yes {
                "trusted and recorded"
            } else {
                "refused"
            };
            flash(
                app,
                now,
                format!("host key of {} {verdict}", ask.host),
                !yes,
            );
            if let Some((ask, reply)) = app.pending_keys.pop_front() {
                app.dialog = Some(Dialog::HostKey {
                    ask,
                    reply: Some(reply),
                });
            }
        }
        None => {}
    }
}

fn on_prompt_key(app: &mut App, k: KeyEvent, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    let Some(prompt) = app.prompt.as_mut() else {
        return;
    };
    let text = match prompt {
        Prompt::Filter(t) | Prompt::Command(t) | Prompt::Search(t) => t,
    };
    match k.code {
        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
            app.prompt = None;
            quit(app, fx);
            return;
        }
        KeyCode::Char(c) => text.push(c),
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Esc => {
            match prompt {
                Prompt::Filter(_) => {
                    app.filter.clear();
                    app.refresh_view();
                }
                Prompt::Search(_) => app.log.search = None,
                Prompt::Command(_) => {}
            }
            app.prompt = None;
            return;
        }
        KeyCode::Enter => {
            let done = app.prompt.take();
            if let Some(Prompt::Command(cmd)) = done {
                run_command(app, cmd.trim(), now, fx);
            }
            return;
        }
        _ => return,
    }
    // live: the filter and the search apply while typing
    match app.prompt.clone() {
        Some(Prompt::Filter(t)) => {
            app.filter = t;
            app.refresh_view();
        }
        Some(Prompt::Search(t)) => {
            app.log.search = (!t.is_empty()).then_some(t);
            app.log.scroll = 0;
        }
        _ => {}
    }
}

fn run_command(app: &mut App, cmd: &str, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    let mut words = cmd.split_whitespace();
    let head = words.next().unwrap_or("");
    match head {
        "" => {}
        "q" | "quit" | "q!" => quit(app, fx),
        "fleet" | "nodes" | "hosts" | "f" => go_fleet(app, fx),
        "alerts" | "a" => go(app, Screen::Alerts),
        "help" | "h" => go(app, Screen::Help),
        "releases" | "rel" => open_releases(app, fx),
        "keys" | "k" => open_keys(app, fx),
        "import" | "move" => {
            let args: Vec<&str> = words.collect();
            key_command(app, head, &args, now, fx);
        }
        "plan" | "apply" => open_plan(app, fx),
        "history" | "hist" => open_history(app, fx),
        "silence" => {
            let (spec, dur) = (words.next(), words.next());
            let parsed = match (spec, dur) {
                (Some(spec), Some(d)) => nodeherd_engine::alerts::parse_silence(spec)
                    .and_then(|_| {
                        humantime::parse_duration(d).map_err(|e| format!("duration {d:?}: {e}"))
                    })
                    .map(|d| (spec.to_string(), d)),
                _ => Err(
                    "usage: :silence RULE[/HOST[/NODE]] DURATION (e.g. :silence peers-low/bn-1 2h)"
                        .into(),
                ),
            };
            match parsed.and_then(|(spec, d)| {
                chrono::Duration::from_std(d)
                    .map(|d| (spec, now + d))
                    .map_err(|e| e.to_string())
            }) {
                Ok((spec, until)) => {
                    flash(
                        app,
                        now,
                        format!(
                            "silencing {spec} until {}",
                            until.format("%Y-%m-%d %H:%M UTC")
                        ),
                        false,
                    );
                    fx.push(Effect::Silence { spec, until });
                }
                Err(e) => flash(app, now, e, true),
            }
        }
        "sort" => {
            let key = match words.next() {
                Some("host") => Some(SortKey::Host),
                Some("state") => Some(SortKey::State),
                Some("client") => Some(SortKey::Client),
                Some("lag") => Some(SortKey::Lag),
                _ => None,
            };
            match key {
                Some(k) => {
                    app.sort = k;
                    app.refresh_view();
                }
                None => flash(app, now, "sort by: host, state, client or lag", true),
            }
        }
        "restart" | "stop" | "start" => {
            let a = match head {
                "restart" => Action::Restart,
                "stop" => Action::Stop,
                _ => Action::Start,
            };
            if !app.keymap.has(a) {
                flash(app, now, format!(":{head} is disabled (--readonly)"), true);
                return;
            }
            let dangerous = app
                .keymap
                .bindings
                .iter()
                .any(|b| b.action == a && b.dangerous);
            perform(app, a, dangerous, now, fx);
        }
        other => flash(
            app,
            now,
            format!(
                "unknown command :{}",
                systemd::sanitize(other)
                    .chars()
                    .take(30)
                    .collect::<String>()
            ),
            true,
        ),
    }
}

fn go(app: &mut App, to: Screen) {
    if app.screen != to {
        app.back.push(app.screen);
        app.screen = to;
    }
    app.help_scroll = 0;
}

/// Show the releases screen and (re)load its plan unless a load is running.
fn open_releases(app: &mut App, fx: &mut Vec<Effect>) {
    go(app, Screen::Releases);
    if app.releases.start() {
        fx.push(Effect::LoadReleases);
    }
}

/// Show the plan screen and (re)plan unless a plan is being made or applied, or there is no
/// playbook (the screen says so).
fn open_plan(app: &mut App, fx: &mut Vec<Effect>) {
    go(app, Screen::Plan);
    if app.plan.playbook.is_some() && !app.plan.applying && app.plan.plan.start() {
        fx.push(Effect::LoadPlan);
    }
}

/// Show the history screen and (re)read the journals unless a read is running.
fn open_history(app: &mut App, fx: &mut Vec<Effect>) {
    go(app, Screen::History);
    if app.history.start() {
        fx.push(Effect::LoadHistory);
    }
}

/// Rows of the plan screen: changes, then no-ops, then unknown nodes.
pub fn plan_len(p: &nodeherd_core::plan::apply::Plan) -> usize {
    p.changes.len() + p.noops.len() + p.unknown.len()
}

/// `a` on the plan screen: the confirm dialog naming every changing host and node.
fn ask_apply(app: &mut App, now: DateTime<Utc>) {
    if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
        return;
    }
    if app.plan.applying {
        flash(app, now, "an apply is already running", true);
        return;
    }
    let (Some(plan), Some(_)) = (app.plan.plan.data.as_ref(), app.plan.inputs.as_ref()) else {
        flash(app, now, "no current plan: R plans again", true);
        return;
    };
    if plan.changes.is_empty() {
        flash(
            app,
            now,
            "nothing to apply: the fleet matches the playbook",
            false,
        );
        return;
    }
    app.dialog = Some(Dialog::Apply {
        changes: plan.changes.clone(),
    });
}

/// `u` / `b` on the releases screen: the confirm dialog for the selected node.
fn ask_upgrade(app: &mut App, rollback: bool, now: DateTime<Utc>) {
    if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
        return;
    }
    let Some(rel) = app
        .releases
        .data
        .as_ref()
        .and_then(|d| d.get(app.releases_selected))
        .cloned()
    else {
        flash(app, now, "no node selected", true);
        return;
    };
    let key = format!("{}/{}", rel.host, rel.node);
    let Some(r) = app.row_index(&rel.host, &rel.node).map(|i| app.rows[i].r) else {
        flash(app, now, format!("{key} is not in this session"), true);
        return;
    };
    if app.upgrading.contains(&key) {
        flash(
            app,
            now,
            format!("{key}: an upgrade or rollback is running"),
            true,
        );
        return;
    }
    if rollback && rel.previous.is_none() {
        flash(
            app,
            now,
            format!("nothing to roll back to on {key}: the host records no previous release"),
            true,
        );
        return;
    }
    if !rollback && rel.to.is_none() {
        flash(
            app,
            now,
            format!("nothing to upgrade on {key}: {}", rel.reason),
            false,
        );
        return;
    }
    app.dialog = Some(Dialog::Upgrade(UpgradeAsk {
        r,
        host: rel.host,
        node: rel.node,
        rollback,
        from: rel.running,
        to: if rollback { rel.previous } else { rel.to },
    }));
}

/// Show the keys screen and (re)list the keys unless a listing is running.
fn open_keys(app: &mut App, fx: &mut Vec<Effect>) {
    go(app, Screen::Keys);
    if app.keys.start() {
        fx.push(Effect::LoadKeys);
    }
}

/// `:import` / `:move`: parse against the listed nodes, then let a worker check the files
/// (and the guard) before any dialog opens. Nothing here touches a server.
fn key_command(app: &mut App, head: &str, args: &[&str], now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    let action = if head == "import" {
        Action::ImportKey
    } else {
        Action::MoveKey
    };
    if app.readonly || !app.keymap.has(action) {
        flash(app, now, format!(":{head} is disabled (--readonly)"), true);
        return;
    }
    if app.keys.data.is_none() {
        flash(
            app,
            now,
            format!(":{head} needs the keys listed first (:keys)"),
            true,
        );
        return;
    }
    if app.keys_checking {
        flash(app, now, "a key check is already running", true);
        return;
    }
    let nodes = app.listed_key_nodes();
    let effect = if head == "import" {
        keycmd::parse_import(args, &nodes).map(Effect::CheckImport)
    } else {
        keycmd::parse_move(args, &nodes).and_then(|m| {
            if app.keys_removing.contains(&m.pubkey) {
                Err(format!(
                    "{}: a removal or move is already running",
                    short_pubkey(&m.pubkey)
                ))
            } else {
                Ok(Effect::CheckMove(m))
            }
        })
    };
    drop(nodes);
    match effect {
        Ok(e) => {
            app.keys_checking = true;
            flash(
                app,
                now,
                if head == "import" {
                    "checking the keystores and asking every other validator node (double-sign guard) …"
                } else {
                    "checking that the keystore opens to the key (this takes a few seconds) …"
                },
                false,
            );
            fx.push(e);
        }
        Err(e) => flash(app, now, e, true),
    }
}

/// `i` on the keys screen: the `:import` prompt, pre-filled with the selected key's node (or the
/// first validator node listed).
fn prompt_import(app: &mut App, now: DateTime<Utc>) {
    if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
        return;
    }
    let node = app
        .selected_key()
        .filter(|k| k.cosmos.is_none())
        .map(|k| format!("{}/{}", k.host, k.node))
        .or_else(|| app.listed_key_nodes().first().map(|n| n.name.clone()));
    let Some(node) = node else {
        flash(app, now, "no validator node listed (R reloads)", true);
        return;
    };
    app.prompt = Some(Prompt::Command(format!("import {node} ")));
    flash(app, now, keycmd::IMPORT_USAGE, false);
}

/// The selected key, when this console may remove it from its node (a move removes it too):
/// not `--readonly`, a key selected, not busy, not a remote-signer or read-only key. Otherwise the
/// flash line says why and `None`.
fn removable_selected_key(app: &mut App, now: DateTime<Utc>, verb: &str) -> Option<KeyEntry> {
    // never trust the caller: a readonly table has no such binding, and nothing else may act
    if app.readonly {
        flash(app, now, "readonly: actions are disabled", true);
        return None;
    }
    let Some(key) = app.selected_key().cloned() else {
        flash(app, now, "no key selected", true);
        return None;
    };
    let short = short_pubkey(&key.pubkey);
    let why = if key.cosmos.is_some() {
        format!(
            "{short} is a CometBFT consensus key: nodeherd lists it and checks it for double signing, \
             it does not {verb} it (stop the old node before its key runs anywhere else)"
        )
    } else if app.keys_removing.contains(&key.pubkey) {
        format!("{short}: a removal or move is already running")
    } else if key.remote {
        format!("{short} is a remote-signer key: {verb} it on the signer")
    } else if key.readonly == Some(true) {
        format!(
            "{short} is read-only on {}/{}: the client will not remove it",
            key.host, key.node
        )
    } else {
        return Some(key);
    };
    flash(app, now, why, true);
    None
}

/// `m` on the keys screen: the `:move` prompt, pre-filled with the selected key.
fn prompt_move(app: &mut App, now: DateTime<Utc>) {
    if let Some(key) = removable_selected_key(app, now, "move") {
        app.prompt = Some(Prompt::Command(format!("move {} --to ", key.pubkey)));
        flash(app, now, keycmd::MOVE_USAGE, false);
    }
}

/// `d` on the keys screen: the confirm dialog for the selected key (never the removal itself).
fn ask_remove_key(app: &mut App, now: DateTime<Utc>) {
    if let Some(key) = removable_selected_key(app, now, "remove") {
        app.dialog = Some(Dialog::RemoveKey { key });
    }
}

fn go_fleet(app: &mut App, fx: &mut Vec<Effect>) {
    if app.log.node.is_some() {
        fx.push(Effect::StopLogs);
    }
    app.log = LogView::default();
    app.detail = None;
    app.back.clear();
    app.screen = Screen::Fleet;
}

fn go_back(app: &mut App, fx: &mut Vec<Effect>) {
    let leaving = app.screen;
    let to = app.back.pop().unwrap_or(Screen::Fleet);
    if leaving == Screen::Detail && to != Screen::Help {
        fx.push(Effect::StopLogs);
        app.log = LogView::default();
        app.detail = None;
    }
    app.screen = to;
}

/// Targets of an action: the detail node, else the marked nodes, else the selected one.
fn targets(app: &App) -> Vec<NodeRef> {
    if app.screen == Screen::Detail {
        return app.detail.into_iter().collect();
    }
    if !app.marked.is_empty() {
        return app.marked.iter().copied().collect();
    }
    app.selected_row().map(|r| r.r).into_iter().collect()
}

fn start_action(
    app: &mut App,
    action: systemd::Action,
    nodes: Vec<NodeRef>,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let nodes: Vec<NodeRef> = nodes
        .into_iter()
        .filter(|n| !app.busy.contains(n))
        .collect();
    if nodes.is_empty() {
        flash(app, now, "an action is already running on that node", true);
        return;
    }
    app.busy.extend(nodes.iter().copied());
    app.marked.clear();
    let what = if nodes.len() == 1 {
        app.row_of(nodes[0])
            .map(|r| format!("{}/{}", r.host, r.node))
            .unwrap_or_default()
    } else {
        format!("{} nodes", nodes.len())
    };
    flash(app, now, format!("{}: {what} …", action.verb()), false);
    fx.push(Effect::Act { action, nodes });
}

fn perform(
    app: &mut App,
    action: Action,
    dangerous: bool,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let screen = app.screen;
    match action {
        Action::Quit => quit(app, fx),
        Action::Suspend => fx.push(Effect::Suspend),
        Action::Help => {
            if screen == Screen::Help {
                go_back(app, fx);
            } else {
                go(app, Screen::Help);
            }
        }
        Action::Back => match screen {
            Screen::Fleet => {
                if !app.filter.is_empty() {
                    app.filter.clear();
                    app.refresh_view();
                } else {
                    app.marked.clear();
                }
            }
            Screen::Detail if app.log.search.is_some() => app.log.search = None,
            _ => go_back(app, fx),
        },
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom => move_cursor(app, action),
        Action::Open => {
            if let Some(r) = app.selected_row().map(|r| r.r) {
                go(app, Screen::Detail);
                app.detail = Some(r);
                app.log = LogView {
                    node: Some(r),
                    ..LogView::default()
                };
                fx.push(Effect::FollowLogs(r));
            }
        }
        Action::Mark => {
            if let Some(r) = app.selected_row().map(|r| r.r) {
                if !app.marked.remove(&r) {
                    app.marked.insert(r);
                }
                move_cursor(app, Action::Down);
            }
        }
        Action::Filter => app.prompt = Some(Prompt::Filter(app.filter.clone())),
        Action::Command => app.prompt = Some(Prompt::Command(String::new())),
        Action::LogSearch => {
            app.prompt = Some(Prompt::Search(app.log.search.clone().unwrap_or_default()))
        }
        Action::Sort => {
            app.sort = app.sort.next();
            app.refresh_view();
            flash(app, now, format!("sorted by {}", app.sort.label()), false);
        }
        Action::Refresh => {
            fx.push(Effect::PollNow);
            flash(app, now, "polling every host now", false);
        }
        Action::ShowAlerts => go(app, Screen::Alerts),
        Action::ShowFleet => go_fleet(app, fx),
        Action::Reload => {
            let started = match screen {
                Screen::Releases => app.releases.start().then_some(Effect::LoadReleases),
                Screen::Keys => app.keys.start().then_some(Effect::LoadKeys),
                Screen::History => app.history.start().then_some(Effect::LoadHistory),
                Screen::Plan => {
                    if app.plan.playbook.is_none() {
                        flash(
                            app,
                            now,
                            "no playbook: start with `nodeherd tui -p PLAYBOOK`",
                            true,
                        );
                        return;
                    }
                    if app.plan.applying {
                        flash(
                            app,
                            now,
                            "an apply is running: plan again when it ended",
                            true,
                        );
                        return;
                    }
                    app.plan.plan.start().then_some(Effect::LoadPlan)
                }
                _ => return,
            };
            match started {
                Some(e) => fx.push(e),
                None => flash(app, now, "already loading", false),
            }
        }
        Action::RemoveKey => {
            if screen == Screen::Keys {
                ask_remove_key(app, now);
            }
        }
        Action::ImportKey => {
            if screen == Screen::Keys {
                prompt_import(app, now);
            }
        }
        Action::MoveKey => {
            if screen == Screen::Keys {
                prompt_move(app, now);
            }
        }
        Action::Apply => {
            if screen == Screen::Plan {
                ask_apply(app, now);
            }
        }
        Action::Upgrade | Action::Rollback => {
            if screen == Screen::Releases {
                ask_upgrade(app, action == Action::Rollback, now);
            }
        }
        Action::LogPause => {
            app.log.paused_at = match app.log.paused_at {
                Some(_) => None,
                None => Some(app.log.next_seq),
            };
            if app.log.paused_at.is_none() {
                app.log.scroll = 0;
            }
        }
        Action::LogWrap => app.log.wrap = !app.log.wrap,
        Action::Start | Action::Stop | Action::Restart => {
            let Some(a) = lifecycle_of(action) else {
                return;
            };
            // never trust the caller: a readonly table has no such binding, and nothing else may act
            if app.readonly {
                flash(app, now, "readonly: actions are disabled", true);
                return;
            }
            let nodes = targets(app);
            if nodes.is_empty() {
                flash(app, now, "no node selected", true);
                return;
            }
            if dangerous || a.is_disruptive() {
                app.dialog = Some(Dialog::Confirm { action, nodes });
            } else {
                start_action(app, a, nodes, now, fx);
            }
        }
    }
}

fn move_cursor(app: &mut App, action: Action) {
    let page = app.page.max(1);
    let step = |cur: usize, len: usize| -> usize {
        let last = len.saturating_sub(1);
        match action {
            Action::Up => cur.saturating_sub(1),
            Action::Down => (cur + 1).min(last),
            Action::PageUp => cur.saturating_sub(page),
            Action::PageDown => (cur + page).min(last),
            Action::Top => 0,
            _ => last,
        }
    };
    match app.screen {
        Screen::Fleet => app.selected = step(app.selected, app.view.len()),
        Screen::Alerts => app.alerts_selected = step(app.alerts_selected, app.alerts.len()),
        Screen::Releases => {
            let n = app.releases.data.as_ref().map_or(0, Vec::len);
            app.releases_selected = step(app.releases_selected, n);
        }
        Screen::Keys => {
            let n = app.key_entries().len();
            app.keys_selected = step(app.keys_selected, n);
        }
        Screen::Plan => {
            let n = app.plan.plan.data.as_ref().map_or(0, plan_len);
            app.plan.selected = step(app.plan.selected, n);
        }
        Screen::History => {
            let n = app.history.data.as_ref().map_or(0, |h| h.entries.len());
            app.history_selected = step(app.history_selected, n);
        }
        Screen::Help => {
            app.help_scroll = match action {
                Action::Up => app.help_scroll.saturating_sub(1),
                Action::Down => app.help_scroll + 1,
                Action::PageUp => app.help_scroll.saturating_sub(page),
                Action::PageDown => app.help_scroll + page,
                Action::Top => 0,
                _ => app.help_scroll,
            }
        }
        Screen::Detail => {
            // the log scrolls from its end; scrolling up pins the view like a pause
            let total = app.log.visible().count();
            let s = app.log.scroll;
            app.log.scroll = match action {
                Action::Up => (s + 1).min(total),
                Action::Down => s.saturating_sub(1),
                Action::PageUp => (s + page).min(total),
                Action::PageDown => s.saturating_sub(page),
                Action::Top => total,
                _ => 0,
            };
        }
    }
}

fn on_action_done(
    app: &mut App,
    action: systemd::Action,
    outcomes: Vec<nodeherd_engine::lifecycle::ActionOutcome>,
    now: DateTime<Utc>,
) {
    let mut ok = 0;
    let mut failed: Vec<String> = Vec::new();
    let mut single: Option<String> = None;
    let n = outcomes.len();
    for o in outcomes {
        let Some(i) = app.row_index(&o.host, &o.node) else {
            continue;
        };
        let r = app.rows[i].r;
        app.busy.remove(&r);
        let before = app.rows[i].pid();
        if let (Some(after), Some(st)) = (o.after.clone(), app.rows[i].status.as_mut()) {
            st.error = after.problem().map(|p| systemd::sanitize(&p));
            st.unit_state = Some(after);
            st.checked_at = now;
            if st.error.is_none() {
                st.last_log = None;
            }
        }
        let after_pid = o.after.as_ref().and_then(|u| u.main_pid);
        let pid = |p: Option<u32>| p.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        if o.ok {
            ok += 1;
            single = Some(format!(
                "{} {}/{}: ok, pid {} → {}",
                action.verb(),
                o.host,
                o.node,
                pid(before),
                pid(after_pid)
            ));
        } else {
            failed.push(format!(
                "{}/{}: {}",
                o.host,
                o.node,
                o.error.as_deref().unwrap_or("failed")
            ));
        }
    }
    app.refresh_view();
    if failed.is_empty() && n == 1 {
        flash(app, now, single.unwrap_or_default(), false);
    } else if failed.is_empty() {
        flash(app, now, format!("{}: {ok} nodes ok", action.verb()), false);
    } else {
        flash(
            app,
            now,
            format!(
                "{}: {ok} ok, {} failed: {}",
                action.verb(),
                failed.len(),
                failed.join("; ")
            ),
            true,
        );
    }
}

#[cfg(test)]
mod tests;
