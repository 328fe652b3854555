//! The conventions operators expect of a command-line tool, checked through the built binary:
//! shell completion scripts that their shells parse, a man page that `man` renders, exit codes in
//! `--help`.
//! `bash`, `zsh` and `man` are required (CI installs them): a missing one fails, never skips.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure with its location

use std::path::Path;
use std::process::{Command, Output};

fn nodeherd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nodeherd"));
    c.env_remove("NODEHERD_INVENTORY")
        .env_remove("NODEHERD_PLAYBOOK");
    c
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Runs `tool args... file` and fails with its stderr when it does not exit 0 or is missing.
fn tool_accepts(tool: &str, args: &[&str], file: &Path) -> Output {
    let out = Command::new(tool)
        .args(args)
        .arg(file)
        .env("MANWIDTH", "80")
        .output()
        .unwrap_or_else(|e| panic!("{tool} is required for this test (apt-get install it): {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} rejected {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn completion(shell: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let script = ok(
        &nodeherd().args(["completions", shell]).output().unwrap(),
        "completions",
    );
    assert!(
        script.contains("nodeherd"),
        "{shell} script names no command"
    );
    for sub in ["upgrade", "rollback", "completions", "lab"] {
        assert!(script.contains(sub), "{shell} script lacks `{sub}`");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("nodeherd.{shell}"));
    std::fs::write(&file, script).unwrap();
    (dir, file)
}

#[test]
fn bash_completion_parses() {
    let (_dir, file) = completion("bash");
    tool_accepts("bash", &["-n"], &file);
    // sourcing it registers the completion function for the command
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p nodeherd", file.display()))
        .output()
        .unwrap();
    let reg = ok(&out, "sourcing the bash completion");
    assert!(reg.contains("nodeherd"), "no completion registered: {reg}");
}

#[test]
fn zsh_completion_parses() {
    let (_dir, file) = completion("zsh");
    tool_accepts("zsh", &["-n"], &file);
}

#[test]
fn unknown_shell_is_usage_error() {
    let out = nodeherd().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_page_renders_with_exit_codes() {
    let page = ok(&nodeherd().arg("man").output().unwrap(), "man");
    assert!(
        page.starts_with(".ie") || page.contains(".TH nodeherd"),
        "not roff: {page:.200}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nodeherd.1");
    std::fs::write(&file, &page).unwrap();
    let out = tool_accepts("man", &["-l"], &file);
    let text = String::from_utf8_lossy(&out.stdout);
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(warnings.trim().is_empty(), "man warned: {warnings}");
    for want in [
        "NAME",
        "SYNOPSIS",
        "SUBCOMMANDS",
        "EXIT STATUS",
        "detailed-exitcode",
        "NODEHERD_INVENTORY",
        "nodeherd-upgrade(1)",
    ] {
        assert!(text.contains(want), "rendered page lacks {want:?}:\n{text}");
    }
}

#[test]
fn help_documents_exit_codes() {
    let help = ok(&nodeherd().arg("--help").output().unwrap(), "--help");
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for want in [
        "Exit codes: 0 all done",
        "1 at least one host or node failed",
        "2 bad usage or configuration",
        "3 another apply holds the lock",
        "10 plan --detailed-exitcode",
    ] {
        assert!(flat.contains(want), "--help lacks {want:?}:\n{help}");
    }
}
