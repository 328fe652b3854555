//! What every `keys` subcommand shares: error printing, the terminal test, confirmations,
//! password prompts, pubkey and node arguments, the console state directory.
//!
//! Owns: asking and refusing on the terminal. May not touch: any key operation (that is
//! `nodeherd_engine::keys`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::cli::context::Fail;
use crate::cli::exit;
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keymanager::types::normalize_pubkey;
use nodeherd_core::keys::Secret;
use nodeherd_engine::keymanager::Keymanager;
use nodeherd_engine::keys as ops;

pub(super) fn usage(msg: impl std::fmt::Display) -> Fail {
    eprintln!("error: {msg}");
    Fail(exit::USAGE)
}

pub(super) fn failed(msg: impl std::fmt::Display) -> Fail {
    eprintln!("error: {msg}");
    Fail(exit::FAILED)
}

pub(super) fn tty() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Ask before a disruptive action on `nodes` (`host/node`): the one rule of
/// [`crate::cli::confirm`] (asked on a terminal, `--yes` required without one).
pub(super) fn confirm(what: &str, nodes: &[String], yes: bool) -> Result<(), Fail> {
    crate::cli::confirm::require(
        &crate::cli::confirm::Request::new(what, nodes.to_vec()),
        yes,
    )
}

/// A password from a file (trailing newline removed) or the terminal.
pub(super) fn password(
    file: Option<&Path>,
    prompt: &str,
    twice: bool,
) -> Result<Secret<String>, Fail> {
    if let Some(f) = file {
        return nodeherd_engine::keys::files::read_password_file(f).map_err(usage);
    }
    if !tty() {
        return Err(usage(
            "no terminal to ask for the password: give --password-file",
        ));
    }
    let a = Secret::new(rpassword::prompt_password(prompt).map_err(failed)?);
    if twice {
        let b = Secret::new(rpassword::prompt_password("Repeat: ").map_err(failed)?);
        if a.expose() != b.expose() {
            return Err(usage("the passwords differ"));
        }
    }
    Ok(a)
}

pub(super) fn pubkey_arg(s: &str) -> Result<String, Fail> {
    normalize_pubkey(s)
        .ok_or_else(|| usage(format!("{s:?} is not a public key (0x + 96 hex digits)")))
}

/// [`pubkey_arg`] of every argument; the first bad one is the error.
pub(super) fn pubkey_args(args: &[String]) -> Result<Vec<String>, Fail> {
    args.iter().map(|p| pubkey_arg(p)).collect()
}

pub(super) fn find(inv: &Inventory, spec: &str) -> Result<NodeRef, Fail> {
    let r = inv.find_node(spec).map_err(usage)?;
    let (_, n) = inv.node(r);
    if n.keymanager_port.is_none() || n.keymanager_token_file.is_none() {
        return Err(usage(format!(
            "{spec} has no keymanager_port and keymanager_token_file in the inventory"
        )));
    }
    Ok(r)
}

pub(super) async fn connect(
    pool: &nodeherd_transport::ssh::Pool,
    inv: &Inventory,
    r: NodeRef,
) -> Result<Keymanager, Fail> {
    Keymanager::connect(pool, inv, r).await.map_err(failed)
}

pub(super) fn state_dir() -> Result<PathBuf, Fail> {
    ops::console_state_dir()
        .ok_or_else(|| failed("no state directory (set HOME or XDG_STATE_HOME)"))
}

/// Print a step-by-step key report (a move or a failover): `--json` the whole report, else its
/// steps and where the keys are; on failure `<what> NOT completed: <state>` on stderr. The exit code.
pub(super) fn print_steps_report(
    report: &impl serde::Serialize,
    steps: &[String],
    state: &str,
    ok: bool,
    what: &str,
    out: crate::cli::Output,
) -> i32 {
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        for s in steps {
            println!("  - {s}");
        }
        println!("{state}");
    }
    if !ok {
        eprintln!("{what} NOT completed: {state}");
    }
    if ok { exit::OK } else { exit::FAILED }
}
