//! The prompt line: typing a filter, a log search or a `:` command, and running the command.
//!
//! Owns: editing the prompt text (live filter and search while typing) and the `:` command
//! vocabulary. May not touch: I/O, clocks (`now` comes in); a command's work is the same
//! function its key runs, in the sibling modules.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::actions::perform;
use super::changes::{open_history, open_plan, open_releases};
use super::keys::{key_command, open_keys};
use super::{flash, go, go_fleet, quit};
use crate::keymap::Action;
use crate::msg::Effect;
use crate::state::{App, Prompt, Screen, SortKey};
use nodeherd_core::text::sanitize;

pub(super) fn on_prompt_key(app: &mut App, k: KeyEvent, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    let Some(prompt) = app.prompt.as_mut() else {
        return;
    };
    let text = match prompt {
        Prompt::Filter(t) | Prompt::Command(t) | Prompt::Search(t) => t,
    };
    match k.code {
        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
            app.prompt = None;
            quit(app, fx, now);
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
        "q" | "quit" | "q!" => quit(app, fx, now),
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
        "cosmos" | "chains" => super::cosmos::open_cosmos(app, fx),
        "silence" => {
            let (spec, dur) = (words.next(), words.next());
            let parsed = match (spec, dur) {
                (Some(spec), Some(d)) => nodeherd_engine::alerts::parse_silence(spec)
                    .map_err(|e| e.to_string())
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
                sanitize(other).chars().take(30).collect::<String>()
            ),
            true,
        ),
    }
}
