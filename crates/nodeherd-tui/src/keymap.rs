//! Keys as data: one table of (key, context, action, description, dangerous).
//!
//! Owns: which key does what where. The same table drives input handling ([`Keymap::lookup`]),
//! the hint bar ([`Keymap::hints`]), the generated `?` help screen and docs/tui.md. `--readonly`
//! builds the table without the entries that change servers, so they vanish from input, hints and
//! help at once. May not touch: state (the reducer interprets [`Action`]s), the terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies. `Global` bindings apply on every screen unless a screen binds the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Context {
    Global,
    Fleet,
    Detail,
    Alerts,
    Releases,
    Keys,
    Plan,
    History,
    Cosmos,
    Help,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Fleet => "Fleet",
            Context::Detail => "Node detail",
            Context::Alerts => "Alerts",
            Context::Releases => "Releases",
            Context::Keys => "Keys",
            Context::Plan => "Plan/apply",
            Context::History => "History",
            Context::Cosmos => "Cosmos",
            Context::Help => "Help",
        }
    }
}

/// What a key asks for; the reducer decides what it means in the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Suspend,
    Help,
    Back,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Mark,
    Filter,
    Command,
    Sort,
    Refresh,
    ShowAlerts,
    ShowFleet,
    /// The Cosmos screen: chain upgrades, proposals, signing health.
    ShowCosmos,
    /// Fetch the screen's data again (releases, keys).
    Reload,
    LogSearch,
    LogPause,
    LogWrap,
    Start,
    Stop,
    Restart,
    /// Remove the selected validator key (slashing protection saved first).
    RemoveKey,
    /// Import keystores into a validator node (prompt, checks, confirm).
    ImportKey,
    /// Move the selected key to another validator node (prompt, checks, confirm).
    MoveKey,
    /// Apply the loaded plan (plan screen).
    Apply,
    /// Upgrade the selected node to its allowed version (releases screen).
    Upgrade,
    /// Roll the selected node back to its previous version (releases screen).
    Rollback,
    /// Cancel the selected node's upgrade or rollback while it has not switched yet.
    CancelUpgrade,
}

impl Action {
    /// True when the action changes something on a server (removed by `--readonly`).
    pub fn changes_servers(self) -> bool {
        matches!(
            self,
            Action::Start
                | Action::Stop
                | Action::Restart
                | Action::RemoveKey
                | Action::ImportKey
                | Action::MoveKey
                | Action::Apply
                | Action::Upgrade
                | Action::Rollback
        )
    }
}

/// A key as the table spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl Key {
    pub const fn ch(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            ctrl: false,
        }
    }
    pub const fn ctrl(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            ctrl: true,
        }
    }
    pub const fn code(code: KeyCode) -> Key {
        Key { code, ctrl: false }
    }

    /// The table's key for a terminal key event (shift is part of the character).
    pub fn from_event(ev: &KeyEvent) -> Key {
        let code = match ev.code {
            KeyCode::Char(c) if ev.modifiers.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            c => c,
        };
        Key {
            code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
        }
    }

    /// How help and the hint bar spell the key.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "enter".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            KeyCode::Home => "home".into(),
            KeyCode::End => "end".into(),
            KeyCode::Tab => "tab".into(),
            other => format!("{other:?}").to_lowercase(),
        };
        if self.ctrl {
            format!("ctrl-{base}")
        } else {
            base
        }
    }
}

/// One row of the key table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub key: Key,
    pub context: Context,
    pub action: Action,
    pub description: &'static str,
    /// Interrupts a running node: always confirmed in a dialog naming hosts and nodes.
    pub dangerous: bool,
    /// Shown in the hint bar with this short label.
    pub hint: Option<&'static str>,
}

const fn b(
    key: Key,
    context: Context,
    action: Action,
    description: &'static str,
    dangerous: bool,
    hint: Option<&'static str>,
) -> Binding {
    Binding {
        key,
        context,
        action,
        description,
        dangerous,
        hint,
    }
}

use Action as A;
use Context as C;

/// The full table, in help order.
#[rustfmt::skip]
pub const TABLE: &[Binding] = &[
    b(Key::ch('?'), C::Global, A::Help, "help (this screen)", false, Some("help")),
    b(Key::ch(':'), C::Global, A::Command, "command prompt (:fleet :alerts :releases :keys :plan :history :cosmos :help :quit)", false, Some("cmd")),
    b(Key::ch('q'), C::Global, A::Quit, "quit", false, Some("quit")),
    b(Key::ctrl('c'), C::Global, A::Quit, "quit", false, None),
    b(Key::ctrl('z'), C::Global, A::Suspend, "suspend to the shell (fg resumes)", false, None),
    b(Key::code(KeyCode::Esc), C::Global, A::Back, "back / clear filter", false, None),
    b(Key::code(KeyCode::Up), C::Global, A::Up, "move up", false, None),
    b(Key::ch('k'), C::Global, A::Up, "move up", false, None),
    b(Key::code(KeyCode::Down), C::Global, A::Down, "move down", false, None),
    b(Key::ch('j'), C::Global, A::Down, "move down", false, None),
    b(Key::code(KeyCode::PageUp), C::Global, A::PageUp, "page up", false, None),
    b(Key::code(KeyCode::PageDown), C::Global, A::PageDown, "page down", false, None),
    b(Key::ch('g'), C::Global, A::Top, "first row", false, None),
    b(Key::ch('G'), C::Global, A::Bottom, "last row / follow the end", false, None),
    b(Key::ch('a'), C::Global, A::ShowAlerts, "alerts", false, None),
    b(Key::ch('R'), C::Global, A::Refresh, "poll every host now", false, None),
    b(Key::ch('C'), C::Global, A::ShowCosmos, "Cosmos chains: pending upgrades, proposals to vote, signing health", false, None),
    b(Key::code(KeyCode::Enter), C::Fleet, A::Open, "open node detail", false, Some("open")),
    b(Key::ch(' '), C::Fleet, A::Mark, "mark / unmark node", false, Some("mark")),
    b(Key::ch('/'), C::Fleet, A::Filter, "filter rows", false, Some("filter")),
    b(Key::ch('s'), C::Fleet, A::Sort, "cycle sort column", false, Some("sort")),
    b(Key::ch('r'), C::Fleet, A::Restart, "restart marked or selected nodes", true, Some("restart")),
    b(Key::ch('x'), C::Fleet, A::Stop, "stop marked or selected nodes", true, Some("stop")),
    b(Key::ch('S'), C::Fleet, A::Start, "start marked or selected nodes", false, Some("start")),
    b(Key::ch('/'), C::Detail, A::LogSearch, "search the log", false, Some("search")),
    b(Key::ch('p'), C::Detail, A::LogPause, "pause / resume the log", false, Some("pause")),
    b(Key::ch('w'), C::Detail, A::LogWrap, "wrap long lines", false, Some("wrap")),
    b(Key::ch('r'), C::Detail, A::Restart, "restart this node", true, Some("restart")),
    b(Key::ch('x'), C::Detail, A::Stop, "stop this node", true, Some("stop")),
    b(Key::ch('S'), C::Detail, A::Start, "start this node", false, Some("start")),
    b(Key::ch('f'), C::Alerts, A::ShowFleet, "back to the fleet", false, Some("fleet")),
    b(Key::ch('f'), C::Detail, A::ShowFleet, "back to the fleet", false, None),
    b(Key::ch('R'), C::Releases, A::Reload, "fetch feeds and running versions again", false, Some("reload")),
    b(Key::ch('u'), C::Releases, A::Upgrade, "upgrade the selected node to its allowed version", true, Some("upgrade")),
    b(Key::ch('b'), C::Releases, A::Rollback, "roll the selected node back to its previous version", true, Some("rollback")),
    b(Key::ch('c'), C::Releases, A::CancelUpgrade, "cancel the selected node's upgrade/rollback while it waits (before its switch)", false, Some("cancel")),
    b(Key::ch('f'), C::Releases, A::ShowFleet, "back to the fleet", false, Some("fleet")),
    b(Key::ch('R'), C::Keys, A::Reload, "list the keys again", false, Some("reload")),
    b(Key::ch('i'), C::Keys, A::ImportKey, "import keystores into a node (:import, double-sign guard, confirm)", true, Some("import")),
    b(Key::ch('m'), C::Keys, A::MoveKey, "move the selected key to another node (:move, confirm)", true, Some("move")),
    b(Key::ch('d'), C::Keys, A::RemoveKey, "remove the selected key (slashing data saved first)", true, Some("remove")),
    b(Key::ch('f'), C::Keys, A::ShowFleet, "back to the fleet", false, Some("fleet")),
    b(Key::ch('R'), C::Plan, A::Reload, "gather facts and plan again", false, Some("replan")),
    b(Key::ch('a'), C::Plan, A::Apply, "apply the plan (every change listed first)", true, Some("apply")),
    b(Key::ch('f'), C::Plan, A::ShowFleet, "back to the fleet", false, Some("fleet")),
    b(Key::ch('R'), C::History, A::Reload, "read the journals again", false, Some("reload")),
    b(Key::ch('f'), C::History, A::ShowFleet, "back to the fleet", false, Some("fleet")),
    b(Key::ch('R'), C::Cosmos, A::Reload, "read the chains again now (else every 30 s)", false, Some("reload")),
    b(Key::ch('f'), C::Cosmos, A::ShowFleet, "back to the fleet", false, Some("fleet")),
];

/// One help line: the keys (`↑/k`), what they do, whether it is dangerous.
pub type HelpRow = (String, &'static str, bool);

/// The active table: the full one, or without server-changing actions under `--readonly`.
#[derive(Debug, Clone)]
pub struct Keymap {
    pub readonly: bool,
    pub bindings: Vec<Binding>,
}

impl Keymap {
    pub fn new(readonly: bool) -> Keymap {
        let bindings = TABLE
            .iter()
            .filter(|b| !(readonly && (b.dangerous || b.action.changes_servers())))
            .copied()
            .collect();
        Keymap { readonly, bindings }
    }

    /// The action of `key` on screen `ctx`: the screen's own binding first, then a global one.
    pub fn lookup(&self, ctx: Context, key: Key) -> Option<&Binding> {
        self.bindings
            .iter()
            .find(|b| b.context == ctx && b.key == key)
            .or_else(|| {
                self.bindings
                    .iter()
                    .find(|b| b.context == Context::Global && b.key == key)
            })
    }

    /// Whether an action is bound anywhere (a readonly table has no restart).
    pub fn has(&self, action: Action) -> bool {
        self.bindings.iter().any(|b| b.action == action)
    }

    /// The hint bar of a screen: the global hinted keys (help first), then the screen's own.
    pub fn hints(&self, ctx: Context) -> Vec<(String, &'static str)> {
        let global = self
            .bindings
            .iter()
            .filter(|b| b.context == Context::Global);
        let own = self.bindings.iter().filter(|b| b.context == ctx);
        global
            .chain(own)
            .filter_map(|b| b.hint.map(|h| (b.key.label(), h)))
            .collect()
    }

    /// Help sections: per context, key labels merged for one action ("↑/k  move up").
    pub fn help_sections(&self) -> Vec<(Context, Vec<HelpRow>)> {
        let mut out: Vec<(Context, Vec<HelpRow>)> = Vec::new();
        for ctx in [
            C::Global,
            C::Fleet,
            C::Detail,
            C::Alerts,
            C::Releases,
            C::Keys,
            C::Plan,
            C::History,
            C::Cosmos,
        ] {
            let mut rows: Vec<HelpRow> = Vec::new();
            let mut seen: Vec<(Action, &'static str)> = Vec::new();
            for b in self.bindings.iter().filter(|b| b.context == ctx) {
                if let Some(i) = seen
                    .iter()
                    .position(|(a, d)| *a == b.action && *d == b.description)
                {
                    rows[i].0.push('/');
                    rows[i].0.push_str(&b.key.label());
                    continue;
                }
                seen.push((b.action, b.description));
                rows.push((b.key.label(), b.description, b.dangerous));
            }
            if !rows.is_empty() {
                out.push((ctx, rows));
            }
        }
        out
    }

    /// The key table as Markdown (docs/tui.md is generated from this).
    pub fn markdown(&self) -> String {
        let mut s = String::from("| screen | key | action | dangerous |\n|---|---|---|---|\n");
        for (ctx, rows) in self.help_sections() {
            for (k, d, dangerous) in rows {
                let k = k.replace('|', "\\|");
                s.push_str(&format!(
                    "| {} | `{}` | {} | {} |\n",
                    ctx.title(),
                    k,
                    d,
                    if dangerous { "yes (confirmed)" } else { "" }
                ));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readonly_strips_every_server_changing_key() {
        let full = Keymap::new(false);
        let ro = Keymap::new(true);
        assert!(full.has(Action::Restart) && full.has(Action::Stop) && full.has(Action::Start));
        for a in [Action::Restart, Action::Stop, Action::Start] {
            assert!(!ro.has(a), "{a:?} must not be bound when readonly");
        }
        assert!(ro.lookup(Context::Fleet, Key::ch('r')).is_none());
        assert!(ro.hints(Context::Fleet).iter().all(|(k, _)| k != "r"));
        assert!(!ro.markdown().contains("restart"));
        assert!(full.has(Action::RemoveKey) && !ro.has(Action::RemoveKey));
        assert!(ro.lookup(Context::Keys, Key::ch('d')).is_none());
        assert!(full.has(Action::Apply) && !ro.has(Action::Apply));
        // under --readonly `a` on the plan screen falls back to the global binding (alerts)
        assert_eq!(
            ro.lookup(Context::Plan, Key::ch('a')).map(|b| b.action),
            Some(Action::ShowAlerts)
        );
        for a in [Action::Upgrade, Action::Rollback] {
            assert!(full.has(a) && !ro.has(a), "{a:?}");
        }
    }

    #[test]
    fn screen_binding_wins_over_global() {
        let km = Keymap::new(false);
        let f = km.lookup(Context::Fleet, Key::ch('/')).map(|b| b.action);
        let d = km.lookup(Context::Detail, Key::ch('/')).map(|b| b.action);
        assert_eq!(f, Some(Action::Filter));
        assert_eq!(d, Some(Action::LogSearch));
        assert_eq!(
            km.lookup(Context::Alerts, Key::ch('q')).map(|b| b.action),
            Some(Action::Quit)
        );
    }

    #[test]
    fn dangerous_rows_are_only_the_server_changing_ones() {
        for b in TABLE.iter().filter(|b| b.dangerous) {
            assert!(
                matches!(
                    b.action,
                    Action::Stop
                        | Action::Restart
                        | Action::RemoveKey
                        | Action::ImportKey
                        | Action::MoveKey
                        | Action::Apply
                        | Action::Upgrade
                        | Action::Rollback
                ),
                "{b:?}"
            );
        }
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for (i, a) in TABLE.iter().enumerate() {
            for b in &TABLE[i + 1..] {
                assert!(
                    !(a.key == b.key && a.context == b.context),
                    "{a:?} and {b:?} collide"
                );
            }
        }
    }

    #[test]
    fn ctrl_events_map_to_ctrl_keys() {
        let ev = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(Key::from_event(&ev), Key::ctrl('c'));
        let ev = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&ev), Key::ch('G'));
    }
}
