//! The conventions operators expect of a command-line tool, checked through the built binary:
//! shell completion scripts that their shells parse, a man page that `man` renders, exit codes in
//! `--help`, a quiet exit when the reader of stdout goes away (`| head -1`), and the inventory found
//! under `$XDG_CONFIG_HOME/nodeherd/` when `./inventory` does not exist.
//! `bash`, `zsh`, `fish` and `man` are required (CI installs them): a missing one fails, never skips.
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

#[test]
fn fish_completion_parses() {
    let (_dir, file) = completion("fish");
    tool_accepts("fish", &["-n"], &file);
}

/// Runs nodeherd with its stdout a pipe whose reader is already gone (as after `| head -1`).
fn with_closed_stdout(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.toml");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &inv,
        format!(
            "[hosts.h1]\naddress = \"127.0.0.1\"\nport = {closed}\n\n\
             [hosts.h1.nodes.bn]\nclient = \"lodestar\"\nunit = \"bn.service\"\nmetrics_port = 8008\n"
        ),
    )
    .unwrap();
    let runs: [&[&str]; 3] = [
        &["completions", "bash"],
        &["man"],
        &["metrics", "--json", "-i", inv.to_str().unwrap()],
    ];
    for args in runs {
        let out = with_closed_stdout(
            nodeherd()
                .args(args)
                .env("NODEHERD_SSH_CONFIG", "none")
                .env("HOME", dir.path()),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

/// `./inventory` first, then `$XDG_CONFIG_HOME/nodeherd/inventory` (`~/.config/nodeherd/...`); `-i` and
/// `NODEHERD_INVENTORY` win; when nothing is found the error names every path tried.
#[test]
fn inventory_defaults_to_the_xdg_config_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let home = tmp.path().join("home");
    let xdg = tmp.path().join("xdg");
    std::fs::create_dir_all(&work).unwrap();
    let write_inv = |dir: &Path, host: &str| {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("hosts.toml"),
            format!("[hosts.{host}]\naddress = \"127.0.0.1\"\n"),
        )
        .unwrap();
    };
    let check = |env: &[(&str, &Path)], args: &[&str]| {
        let mut c = nodeherd();
        c.current_dir(&work)
            .env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .env("NODEHERD_SSH_CONFIG", "none")
            .arg("check")
            .args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // nothing anywhere: exit 2, every place named
    let out = check(&[], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("./inventory"), "{err}");
    assert!(
        err.contains(
            &home
                .join(".config/nodeherd/inventory")
                .display()
                .to_string()
        ),
        "{err}"
    );
    let out = check(&[("XDG_CONFIG_HOME", &xdg)], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&xdg.join("nodeherd/inventory").display().to_string()),
        "{err}"
    );
    // ~/.config/nodeherd/inventory, then $XDG_CONFIG_HOME over it
    write_inv(&home.join(".config/nodeherd/inventory"), "from-home");
    let out = check(&[], &[]);
    assert!(ok(&out, "check").contains("/.config/nodeherd/inventory/hosts.toml"));
    write_inv(&xdg.join("nodeherd/inventory"), "from-xdg");
    let out = check(&[("XDG_CONFIG_HOME", &xdg)], &[]);
    assert!(ok(&out, "check").contains(&xdg.join("nodeherd/inventory").display().to_string()));
    // ./inventory wins over both; -i and NODEHERD_INVENTORY over everything
    write_inv(&work.join("inventory"), "from-cwd");
    let out = check(&[("XDG_CONFIG_HOME", &xdg)], &[]);
    assert!(
        ok(&out, "check").contains("(inventory/hosts.toml"),
        "cwd first"
    );
    let other = tmp.path().join("other");
    write_inv(&other, "given");
    let out = check(
        &[("XDG_CONFIG_HOME", &xdg)],
        &["-i", other.to_str().unwrap()],
    );
    assert!(ok(&out, "check").contains(&other.display().to_string()));
    let out = check(
        &[("XDG_CONFIG_HOME", &xdg), ("NODEHERD_INVENTORY", &other)],
        &[],
    );
    assert!(ok(&out, "check").contains(&other.display().to_string()));
}
