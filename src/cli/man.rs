//! `nodeherd man`: the manual page (roff), printed to stdout, e.g.
//! `nodeherd man > /usr/local/share/man/man1/nodeherd.1`.
//!
//! Owns: rendering the binary's argument definition as a man page (clap_mangen), with the exit
//! codes and the environment in their own sections.
//! May not touch: the inventory, SSH or the engine; the argument shapes themselves (main.rs owns them).

use super::exit;
use std::io::Write;

/// The EXIT STATUS section: the codes of `cli::exit`, as the README documents them.
const EXIT_STATUS: &[(i32, &str)] = &[
    (exit::OK, "all done (or nothing to do)"),
    (
        exit::FAILED,
        "at least one host or node failed (the others were handled), or something asked for was \
         not done (feed unreachable, --to version not in the feed, a confirmation answered no), \
         the reason on stderr",
    ),
    (
        exit::USAGE,
        "bad usage or configuration, or a disruptive action without a terminal and without \
         --yes (nothing was done)",
    ),
    (exit::LOCKED, "another apply holds the lock"),
    (
        exit::CHANGES,
        "plan --detailed-exitcode found changes pending",
    ),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "NODEHERD_INVENTORY",
        "the inventory, as -i/--inventory; without either, ./inventory",
    ),
    ("NODEHERD_PLAYBOOK", "the playbook of plan, apply and tui"),
    ("NODEHERD_ALERTS", "the alerts file of the alerts command"),
    (
        "NODEHERD_LOG",
        "a tracing filter for the log lines on stderr",
    ),
    ("NO_COLOR", "no colours with --color auto"),
];

/// The whole page: clap_mangen's sections, then EXIT STATUS and ENVIRONMENT.
pub fn page(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd);
    let mut buf = Vec::new();
    man.render(&mut buf)?;
    let mut extra = String::from(".SH \"EXIT STATUS\"\n");
    for (code, what) in EXIT_STATUS {
        extra.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", escape(what)));
    }
    extra.push_str(".SH ENVIRONMENT\n");
    for (name, what) in ENVIRONMENT {
        extra.push_str(&format!(".TP\n\\fB{name}\\fR\n{}\n", escape(what)));
    }
    buf.extend_from_slice(extra.as_bytes());
    Ok(buf)
}

/// roff: a backslash starts an escape, and a line starting with `.` or `'` is a request.
fn escape(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// Print the page to stdout (exit 0), or say why it could not be written (exit 1).
pub fn run(cmd: clap::Command) -> i32 {
    let written = page(cmd).and_then(|buf| std::io::stdout().lock().write_all(&buf));
    match written {
        Ok(()) => exit::OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK, // `| head`: the reader is done
        Err(e) => {
            eprintln!("error: cannot write the manual page: {e}");
            exit::FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_keeps_requests_out() {
        assert_eq!(escape(".x-y"), "\\&.x\\-y");
        assert_eq!(escape("a\\b"), "a\\eb");
    }
}
