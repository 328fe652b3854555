//! Confirmation of disruptive actions, the one rule every CLI command uses: a disruptive action
//! (stop, restart, upgrade, rollback, apply with changes, key import/remove/move/exit) on ANY
//! number of nodes asks on a terminal, naming the hosts and nodes (and each downgrade); without a
//! terminal it refuses unless `--yes` (exit 2, saying to add `--yes`); a "no" is exit 1.
//!
//! Owns: the rule, the question's wording, the refusal's wording and exit codes. May not touch:
//! what is disruptive (the caller decides that) or the action itself.

use super::context::Fail;
use super::exit;
use std::io::{BufRead, IsTerminal, Write};

/// The answer to "may I do this?".
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Go,
    Declined,
    /// No terminal to ask and no `--yes`: refuse, saying what to add.
    NeedYes,
}

/// A disruptive action to confirm: what, on which nodes, and what deserves saying out loud.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// e.g. "stop 2 node(s)", "upgrade 1 node(s)".
    pub what: String,
    /// `host/node` of every node touched (a bare host name when the action is per host).
    pub nodes: Vec<String>,
    /// Lines said before the question, e.g. "downgrade nhlab-1/lodestar-bn 1.5.1 -> 1.4.2".
    pub notes: Vec<String>,
    /// Said after "add --yes" in the refusal, e.g. how a cron job does it.
    pub hint: Option<String>,
}

impl Request {
    pub fn new(what: impl Into<String>, nodes: Vec<String>) -> Self {
        Request {
            what: what.into(),
            nodes,
            notes: Vec::new(),
            hint: None,
        }
    }

    #[must_use]
    pub fn note(mut self, line: impl Into<String>) -> Self {
        self.notes.push(line.into());
        self
    }

    /// The hosts of `nodes` (the part before `/`), sorted, once each.
    pub fn hosts(&self) -> Vec<String> {
        let mut h: Vec<String> = self
            .nodes
            .iter()
            .map(|n| n.split_once('/').map_or(n.as_str(), |(h, _)| h).to_string())
            .collect();
        h.sort();
        h.dedup();
        h
    }

    /// What is printed before `Proceed? [y/N]`.
    pub fn question(&self) -> String {
        let hosts = self.hosts();
        let mut s = format!(
            "About to {} on {} host(s): {}\n",
            self.what,
            hosts.len(),
            hosts.join(", ")
        );
        for n in &self.nodes {
            s.push_str(&format!("  {n}\n"));
        }
        for n in &self.notes {
            s.push_str(&format!("  {n}\n"));
        }
        s.push_str("Proceed? [y/N] ");
        s
    }

    /// The refusal without a terminal and without `--yes`.
    pub fn refusal(&self) -> String {
        let mut s = format!(
            "error: refusing to {} without a terminal to confirm: {}\n",
            self.what,
            self.nodes.join(", ")
        );
        for n in &self.notes {
            s.push_str(&format!("  {n}\n"));
        }
        s.push_str("help: add --yes to confirm non-interactively");
        if let Some(h) = &self.hint {
            s.push_str(&format!(" ({h})"));
        }
        s
    }
}

/// The rule itself (pure): `--yes` goes; no terminal refuses; otherwise the answer decides
/// (`answer` is asked only then; `None` when it could not be read).
pub fn decide(yes: bool, terminal: bool, answer: impl FnOnce() -> Option<String>) -> Decision {
    if yes {
        return Decision::Go;
    }
    if !terminal {
        return Decision::NeedYes;
    }
    match answer() {
        Some(a) if matches!(a.trim(), "y" | "Y" | "yes" | "YES" | "Yes") => Decision::Go,
        _ => Decision::Declined,
    }
}

/// Whether a person can be asked: stdin and stderr are both terminals.
pub fn terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Ask on the terminal (stderr), or decide without asking.
pub fn ask(req: &Request, yes: bool) -> Decision {
    decide(yes, terminal(), || {
        let mut err = std::io::stderr();
        let _ = write!(err, "{}", req.question());
        let _ = err.flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).ok()?;
        Some(line)
    })
}

/// [`ask`], then say why nothing was done: `Ok` to go on; declined is exit 1, no terminal and no
/// `--yes` is exit 2 with the help to add it.
pub fn require(req: &Request, yes: bool) -> Result<(), Fail> {
    match ask(req, yes) {
        Decision::Go => Ok(()),
        Decision::Declined => {
            eprintln!("declined; nothing done");
            Err(Fail(exit::FAILED))
        }
        Decision::NeedYes => {
            eprintln!("{}", req.refusal());
            Err(Fail(exit::USAGE))
        }
    }
}

/// "upgrade", "downgrade" or "switch" (the core's one word for it).
pub use nodeherd_core::plan::upgrade::direction;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_without_a_terminal_is_refused_not_let_through() {
        // The old rule let any single host through without asking.
        let asked = std::cell::Cell::new(false);
        let d = decide(false, false, || {
            asked.set(true);
            Some("y".into())
        });
        assert_eq!(d, Decision::NeedYes);
        assert!(!asked.get(), "nobody to ask without a terminal");
    }

    #[test]
    fn yes_goes_without_asking_and_a_terminal_answer_decides() {
        assert_eq!(decide(true, false, || None), Decision::Go);
        assert_eq!(decide(false, true, || Some("y\n".into())), Decision::Go);
        assert_eq!(
            decide(false, true, || Some("\n".into())),
            Decision::Declined
        );
        assert_eq!(decide(false, true, || Some("n".into())), Decision::Declined);
        assert_eq!(decide(false, true, || None), Decision::Declined);
    }

    #[test]
    fn question_and_refusal_name_hosts_nodes_and_downgrades() {
        let r = Request::new(
            "upgrade 2 node(s)",
            vec!["h1/bn".into(), "h1/vc".into(), "h2/bn".into()],
        )
        .note("downgrade h1/bn 1.5.1 -> 1.4.2");
        assert_eq!(
            r.question(),
            "About to upgrade 2 node(s) on 2 host(s): h1, h2\n  h1/bn\n  h1/vc\n  h2/bn\n  downgrade h1/bn 1.5.1 -> 1.4.2\nProceed? [y/N] "
        );
        let no = r.refusal();
        assert!(no.contains("h1/bn, h1/vc, h2/bn"), "{no}");
        assert!(no.contains("downgrade h1/bn 1.5.1 -> 1.4.2"), "{no}");
        assert!(no.ends_with("help: add --yes to confirm non-interactively"));
    }
}
