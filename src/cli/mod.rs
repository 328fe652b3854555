//! The command-line front end: one file (or folder) per subcommand, over the use cases of
//! `nodeherd_engine`.
//!
//! Owns: argument shapes, prompts, confirmations, exit codes and how results are printed (plain
//! text, colour only on a terminal, or `--json`), and the SSH pool a command hands to the engine.
//! May not touch: SSH commands, systemd or HTTP APIs directly (it calls `nodeherd_engine`), nor
//! the full-screen front end (`nodeherd_tui` is launched by `crate::tui_front`, not from here).

pub mod alerts;
pub mod apply;
pub mod check;
pub mod completions;
pub mod confirm;
pub mod context;
pub mod cosmos;
pub mod doctor;
pub mod failover;
pub mod keys;
pub mod lab;
pub mod lifecycle;
pub mod logs;
pub mod man;
pub mod metrics;
pub mod pipe;
pub mod progress;
pub mod releases;
pub mod serve;
pub mod status;
pub mod table;
pub mod targets;
pub mod upgrade;

/// Exit codes, documented in the README.
pub mod exit {
    /// Everything asked for was done (or there was nothing to do).
    pub const OK: i32 = 0;
    /// At least one host or node failed (the others were handled), or something asked for was
    /// not done (feed unreachable, `--to` not in the feed, a confirmation answered no).
    pub const FAILED: i32 = 1;
    /// Bad usage or configuration, or a disruptive action without a terminal and without
    /// `--yes`; nothing was done.
    pub const USAGE: i32 = 2;
    /// `apply`: another apply holds the lock; nothing was done.
    pub const LOCKED: i32 = 3;
    /// `plan --detailed-exitcode`: changes are pending.
    pub const CHANGES: i32 = 10;
}

/// How a command prints: chosen once from the global flags.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub color: bool,
    /// `-q/--quiet`: no progress lines on stderr.
    pub quiet: bool,
}

impl Output {
    pub fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}
