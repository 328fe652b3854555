//! Confirmation of disruptive actions: asked on a terminal, `--yes` required without one.

use std::io::{BufRead, IsTerminal, Write};

/// The answer to "may I do this?".
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Go,
    Declined,
    /// No terminal to ask and no `--yes`: refuse, saying what to add.
    NeedYes,
}

/// Ask before `what` (e.g. "restart 4 nodes") on `hosts`. A single host is not asked about.
pub fn confirm(what: &str, hosts: &[String], yes: bool) -> Decision {
    if hosts.len() <= 1 {
        return Decision::Go;
    }
    confirm_any(what, hosts, yes)
}

/// Ask before `what` on `hosts`, however few they are.
pub fn confirm_any(what: &str, hosts: &[String], yes: bool) -> Decision {
    if yes {
        return Decision::Go;
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() || !std::io::stderr().is_terminal() {
        return Decision::NeedYes;
    }
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "About to {what} on {} host(s): {}\nProceed? [y/N] ",
        hosts.len(),
        hosts.join(", ")
    );
    let _ = err.flush();
    let mut line = String::new();
    if stdin.lock().read_line(&mut line).is_err() {
        return Decision::Declined;
    }
    if matches!(line.trim(), "y" | "Y" | "yes" | "YES") {
        Decision::Go
    } else {
        Decision::Declined
    }
}
