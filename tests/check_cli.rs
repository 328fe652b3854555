//! `nodeherd check` and the alerts commands through the built binary, on broken fixture files
//! (`tests/fixtures/check/`): every problem of the inventory, the playbooks and the alerts file
//! at once with its file:line, exit 1 when any, 0 on the shipped files, `--json`; lines of tens
//! of kilobytes never panic the report (they did: exit 101, "Formatting argument out of range");
//! `alerts` never says "sent" without a channel; `alerts silence` refuses a rule that does not exist.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure with its location

use std::path::Path;
use std::process::{Command, Output};

const FIX: &str = "tests/fixtures/check";

/// The binary, run in the package root with nothing inherited that would change what it reads.
fn nodeherd(args: &[&str]) -> Output {
    nodeherd_with(args, &[])
}

fn nodeherd_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let state = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_nodeherd"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NODEHERD_INVENTORY")
        .env_remove("NODEHERD_PLAYBOOK")
        .env_remove("NODEHERD_ALERTS")
        .env("NODEHERD_SSH_CONFIG", "none")
        .env("XDG_STATE_HOME", state.path())
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn fix(name: &str) -> String {
    format!("{FIX}/{name}")
}

#[test]
fn every_problem_of_every_file_at_once_with_file_and_line() {
    let (inv, pb, al) = (
        fix("inventory-broken.toml"),
        fix("playbook-broken.toml"),
        fix("alerts-broken.toml"),
    );
    let o = nodeherd(&["-i", &inv, "check", "-p", &pb, "--alerts", &al]);
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(!t.contains("panicked"), "{t}");
    for place in [
        // inventory: unknown field, bad port, unknown client
        format!("[{inv}:4:1]"),
        format!("[{inv}:5:8]"),
        format!("[{inv}:8:10]"),
        // playbook: delay, unknown key, canary, percent, window
        format!("[{pb}:3:9]"),
        format!("[{pb}:4:1]"),
        format!("[{pb}:5:10]"),
        format!("[{pb}:6:20]"),
        format!("[{pb}:9:12]"),
        // alerts: condition, severity, duplicate name, channel type, deadman
        format!("[{al}:5:13]"),
        format!("[{al}:6:12]"),
        format!("[{al}:9:8]"),
        format!("[{al}:14:8]"),
        format!("[{al}:17:1]"),
    ] {
        assert!(t.contains(&place), "{place} missing in\n{t}");
    }
    for words in [
        "canary in [upgrade] must be a number of nodes or a list of node selectors",
        "did you mean \"channel\"?",
        "did you mean \"unit_not_active\"?",
        "rule name \"down\" is used twice (first on line 4)",
        "[deadman] has no url, url_env or url_file",
    ] {
        assert!(t.contains(words), "{words:?} missing in\n{t}");
    }
    assert!(!t.contains("untagged"), "{t}");
    assert!(!t.contains("did not match any variant"), "{t}");
    assert!(t.contains("13 problems in 3 of 3 files"), "{t}");
}

#[test]
fn json_lists_every_problem_with_its_place() {
    let pb = fix("playbook-broken.toml");
    let al = fix("alerts-broken.toml");
    let inv = fix("inventory-ok.toml");
    let o = nodeherd(&["-i", &inv, "--json", "check", "-p", &pb, "--alerts", &al]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 10, "{v:#}");
    let places: Vec<(String, u64)> = problems
        .iter()
        .map(|p| {
            assert!(p["help"].is_string(), "{p}");
            assert!(p["code"].as_str().unwrap().contains("::"), "{p}");
            (
                p["file"].as_str().unwrap().to_string(),
                p["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        places
            .iter()
            .filter(|(f, _)| *f == pb)
            .map(|(_, l)| *l)
            .collect::<Vec<_>>(),
        vec![3, 4, 5, 6, 9]
    );
    assert_eq!(
        places
            .iter()
            .filter(|(f, _)| *f == al)
            .map(|(_, l)| *l)
            .collect::<Vec<_>>(),
        vec![5, 6, 9, 14, 17]
    );
    let files = v["checked"].as_array().unwrap();
    assert_eq!(files.len(), 3, "{v:#}");
    assert_eq!(files[0]["ok"], true);
    // The inventory's summary, as `check --json` always gave it.
    assert_eq!(
        (v["hosts"].as_u64(), v["nodes"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(v["files"][0], inv);
}

#[test]
fn a_playbooks_declared_state_is_checked_against_the_inventory() {
    let o = nodeherd(&[
        "-i",
        &fix("inventory-ok.toml"),
        "check",
        "-p",
        &fix("playbook-state-broken.toml"),
        "--alerts",
        "playbooks/alerts.toml",
    ]);
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("node \"bn-9/lodestar-bn\" is not in the inventory"),
        "{t}"
    );
    assert!(
        t.contains(&format!("[{}:5:8]", fix("playbook-state-broken.toml"))),
        "{t}"
    );
}

#[test]
fn the_shipped_files_check_clean() {
    for inv in ["inventory", "inventory/examples"] {
        let o = nodeherd(&["-i", inv, "check"]);
        let t = text(&o);
        assert_eq!(code(&o), 0, "{inv}: {t}");
        for f in [
            "playbook playbooks/lab.toml: ok",
            "playbook playbooks/testnet-lodestar.toml: ok",
            "playbook playbooks/upgrade-policy.toml: ok",
            "alerts playbooks/alerts.toml: ok",
        ] {
            assert!(t.contains(f), "{f} missing in\n{t}");
        }
    }
    // The lab playbook's declared state against the lab inventory it was written for.
    let o = nodeherd(&[
        "-i",
        "inventory/lab.toml",
        "check",
        "-p",
        "playbooks/lab.toml",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

/// A file whose line `line` holds `before` after 70 000 spaces, in a fresh directory.
fn long_line_file(dir: &Path, name: &str, head: &str, before: &str, tail: &str) -> String {
    let path = dir.join(name);
    let pad = " ".repeat(70_000);
    std::fs::write(&path, format!("{head}{pad}{before}\n{tail}")).unwrap();
    path.display().to_string()
}

#[test]
fn lines_of_tens_of_kilobytes_are_reported_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inv = long_line_file(
        d,
        "inv.toml",
        "[hosts.a]\naddress = \"10.0.0.1\"\n",
        "bad_key = 1",
        "",
    );
    let long_value = format!("unit = \"{};\"", "x".repeat(60_000));
    let inv_value = long_line_file(
        d,
        "inv2.toml",
        "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.a.nodes.n]\nclient = \"lodestar\"\n",
        &long_value,
        "",
    );
    let pb = long_line_file(d, "pb.toml", "[upgrade]\n", "delay = \"fortnight\"", "");
    let al = long_line_file(
        d,
        "alerts.toml",
        "[[rule]]\nname = \"x\"\nseverity = \"page\"\n",
        "condition = \"nope\"",
        "",
    );
    let ok_inv = fix("inventory-ok.toml");
    for (args, place) in [
        (vec!["-i", &inv, "check"], format!("[{inv}:3:70001]")),
        (
            vec!["-i", &inv_value, "check"],
            format!("[{inv_value}:5:70008]"),
        ),
        (
            vec!["-i", &ok_inv, "check", "-p", &pb, "--alerts", &al],
            format!("[{pb}:2:70009]"),
        ),
        (
            vec!["-i", &ok_inv, "check", "-p", &pb, "--alerts", &al],
            format!("[{al}:4:70013]"),
        ),
        (
            vec!["-i", &ok_inv, "plan", "-p", &pb],
            format!("[{pb}:2:70009]"),
        ),
        (
            vec!["-i", &ok_inv, "alerts", "--file", &al],
            format!("[{al}:4:70013]"),
        ),
    ] {
        let o = nodeherd(&args);
        let t = text(&o);
        assert_ne!(code(&o), 101, "{args:?} panicked: {t}");
        assert!(!t.contains("panicked"), "{args:?}: {t}");
        assert!(matches!(code(&o), 1 | 2), "{args:?}: {}", code(&o));
        assert!(
            t.contains(&place),
            "{args:?}: {place} missing in\n{}",
            &t[..t.len().min(3000)]
        );
        assert!(
            t.len() < 20_000,
            "{args:?}: the report is {} bytes",
            t.len()
        );
    }
}

#[test]
fn alerts_without_a_channel_never_claim_a_send() {
    let o = nodeherd(&[
        "-i",
        &fix("inventory-ok.toml"),
        "alerts",
        "--file",
        &fix("alerts-fire-now.toml"),
    ]);
    let t = text(&o);
    assert_eq!(code(&o), 1, "a firing alert: {t}");
    assert!(
        t.contains("not sent (no channel configured): [FIRING]"),
        "{t}"
    );
    assert!(!t.contains("sent ["), "{t}");
}

#[test]
fn silencing_a_rule_that_does_not_exist_is_refused_with_the_rule_names() {
    let al = fix("alerts-fire-now.toml");
    let file = [("NODEHERD_ALERTS", al.as_str())];
    let o = nodeherd_with(&["alerts", "silence", "disk-ful", "--for", "1h"], &file);
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(t.contains("no alert rule \"disk-ful\""), "{t}");
    assert!(t.contains("rules: host-unreachable"), "{t}");
    let o = nodeherd(&["alerts", "silence", "disk-ful", "--for", "1h"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains("in playbooks/alerts.toml") && text(&o).contains("disk-high"),
        "the default file's rules: {}",
        text(&o)
    );
    let silence = ["alerts", "silence", "host-unreachable/bn-1", "--for", "1h"];
    let o = nodeherd_with(&silence, &file);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("silenced host-unreachable/bn-1 until"),
        "{}",
        text(&o)
    );
    let o = nodeherd_with(&["alerts", "silence", "*/bn-1", "--for", "1h"], &file);
    assert_eq!(code(&o), 0, "{}", text(&o));
}
