//! Every invalid-inventory fixture (one per error class) is rendered and snapshotted; each
//! test also checks the problem kinds, so a fixture that stops failing for its reason fails here.
#![allow(clippy::unwrap_used)] // a test or bench: a panic is a failure with its location

use std::path::Path;

use nodeherd_core::inventory::{Inventory, ProblemKind, render};

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}

/// Loads an invalid fixture (path relative to the crate, so file names in the report are stable),
/// checks the kinds of its problems and snapshots the plain-text report.
fn check(name: &str, expected: &[ProblemKind]) {
    // Integration tests run in the package root; keep names relative for stable snapshots.
    let path = Path::new("tests/fixtures/inventory/invalid").join(name);
    let err = match Inventory::load(&path) {
        Ok(_) => panic!("{} loaded but must be rejected", path.display()),
        Err(e) => e,
    };
    let kinds: Vec<ProblemKind> = err.problems.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, expected, "problem kinds of {name}");
    let text = render(&err, false);
    for p in &err.problems {
        // Every problem names its file and has a hint.
        let file = p
            .file_name()
            .unwrap_or_else(|| panic!("problem without file in {name}: {}", p.message));
        assert!(
            text.contains(&format!("[{file}:")),
            "file:line of {file} missing in\n{text}"
        );
        assert!(
            p.help.is_some(),
            "problem without a hint in {name}: {}",
            p.message
        );
    }
    let snap = name.trim_end_matches(".toml").replace('/', "_");
    settings().bind(|| insta::assert_snapshot!(format!("inventory_invalid_{snap}"), text));
}

use ProblemKind::*;

#[test]
fn unknown_field() {
    check("unknown_field.toml", &[MissingField, UnknownField]);
}

#[test]
fn bad_client() {
    check("bad_client.toml", &[InvalidValue]);
}

#[test]
fn bad_unit_with_shell_metacharacters() {
    check("bad_unit.toml", &[InvalidValue]);
}

#[test]
fn bad_port() {
    check("bad_port.toml", &[InvalidValue, InvalidValue]);
}

#[test]
fn missing_address() {
    check("missing_address.toml", &[MissingField]);
}

#[test]
fn unknown_jump() {
    check("unknown_jump.toml", &[UnknownReference]);
}

#[test]
fn jump_cycle() {
    check("jump_cycle.toml", &[Cycle]);
}

#[test]
fn group_cycle() {
    check("group_cycle.toml", &[Cycle]);
}

#[test]
fn duplicate_host_across_two_files() {
    check("duplicate_host", &[Duplicate]);
}

#[test]
fn syntax_error() {
    check("syntax_error.toml", &[Syntax]);
}

#[test]
fn group_conflict() {
    check("group_conflict.toml", &[Conflict]);
}

#[test]
fn duplicate_port() {
    check("duplicate_port.toml", &[Duplicate]);
}

#[test]
fn insecure_known_hosts_and_bad_duration() {
    check("insecure_known_hosts.toml", &[InvalidValue, InvalidValue]);
}

#[test]
fn many_problems_in_one_file() {
    check(
        "many_problems.toml",
        &[
            UnknownField,
            UnknownReference,
            WrongType,
            InvalidValue,
            InvalidValue,
            InvalidValue,
            UnknownReference,
        ],
    );
}

#[test]
fn colour_rendering_uses_ansi_and_unicode() {
    let err = Inventory::load(Path::new(
        "tests/fixtures/inventory/invalid/bad_client.toml",
    ))
    .unwrap_err();
    let plain = render(&err, false);
    let color = render(&err, true);
    assert!(!plain.contains('\u{1b}'), "plain output has escape codes");
    assert!(
        color.contains("\u{1b}["),
        "colour output has no escape codes"
    );
    assert!(
        color.contains('│') || color.contains('╭'),
        "colour output is not unicode"
    );
}

#[test]
fn missing_path_is_reported() {
    let err =
        Inventory::load(Path::new("tests/fixtures/inventory/does-not-exist.toml")).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].kind, Io);
    assert!(err.problems[0].message.contains("does-not-exist.toml"));
}

#[test]
fn production_example_loads() {
    let inv = match Inventory::load(Path::new("inventory/examples/production.toml")) {
        Ok(i) => i,
        Err(e) => panic!("{}", render(&e, false)),
    };
    let bastion = inv.host("bastion").expect("bastion");
    assert!(
        bastion.target.jump.is_none(),
        "the bastion is reached directly"
    );
    let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    for h in &inv.hosts {
        if h.name != "bastion" {
            let jump = h
                .target
                .jump
                .as_deref()
                .unwrap_or_else(|| panic!("{} has no jump", h.name));
            assert_eq!(jump.name, "bastion");
            assert_eq!(h.target.user, "ops");
            assert!(h.target.become_root, "{} must use sudo", h.name);
        }
    }
    assert!(
        inv.groups.contains_key("mainnet") && inv.groups.contains_key("holesky"),
        "{names:?}"
    );
    let clients: Vec<String> = inv
        .hosts
        .iter()
        .flat_map(|h| h.nodes.iter().map(|n| format!("{}:{}", n.client, n.role)))
        .collect();
    for want in [
        "lodestar:beacon",
        "lodestar:validator",
        "nimbus:beacon",
        "geth:execution",
        "cosmos:consensus",
    ] {
        assert!(
            clients.iter().any(|c| c == want),
            "{want} missing from {clients:?}"
        );
    }
    // Networks come from the groups.
    for h in &inv.hosts {
        for n in &h.nodes {
            assert!(n.network.is_some(), "{}/{} has no network", h.name, n.name);
        }
    }
}

#[test]
fn a_directory_merges_its_toml_files_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        "[hosts.b]\naddress = \"10.0.0.2\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.toml"),
        "[hosts.a]\naddress = \"10.0.0.1\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not toml").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("sub/c.toml"),
        "[hosts.c]\naddress = \"10.0.0.3\"\n",
    )
    .unwrap();
    let inv = Inventory::load(dir.path()).unwrap_or_else(|e| panic!("{}", render(&e, false)));
    let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, vec!["a", "b"], "files in name order, not recursive");
    assert_eq!(inv.sources.len(), 2);

    let empty = tempfile::tempdir().unwrap();
    let err = Inventory::load(empty.path()).unwrap_err();
    assert_eq!(err.problems[0].kind, Io);
}

#[test]
fn a_large_inventory_loads_and_selects() {
    use nodeherd_core::selector::Selector;
    let mut text = String::from("[defaults]\nuser = \"ops\"\n[groups.all-bn]\nhosts = [");
    let n = 2000;
    text.push_str(
        &(0..n)
            .map(|i| format!("\"bn-{i}\""))
            .collect::<Vec<_>>()
            .join(", "),
    );
    text.push_str("]\n");
    for i in 0..n {
        text.push_str(&format!(
            "[hosts.bn-{i}]\naddress = \"10.{}.{}.{}\"\n[hosts.bn-{i}.nodes.lodestar-bn]\nclient = \"lodestar\"\nmetrics_port = 8008\n[hosts.bn-{i}.nodes.lodestar-vc]\nclient = \"lodestar\"\nrole = \"validator\"\nmetrics_port = 5064\n",
            i / 65536, (i / 256) % 256, i % 256
        ));
    }
    let start = std::time::Instant::now();
    let inv = Inventory::from_sources(vec![("big.toml".into(), text)])
        .unwrap_or_else(|e| panic!("{}", render(&e, false)));
    let loaded = start.elapsed();
    let sel = Selector::parse("all-bn,!bn-1*/lodestar-vc").unwrap();
    let nodes = sel.select_nodes(&inv).unwrap();
    println!(
        "loaded {n} hosts in {loaded:?}, selected {} nodes in {:?}",
        nodes.len(),
        start.elapsed().checked_sub(loaded).unwrap()
    );
    assert_eq!(inv.hosts.len(), n);
    // bn-1, bn-10..19, bn-100..199, bn-1000..1999: 1 + 10 + 100 + 1000 validator nodes excluded.
    assert_eq!(nodes.len(), 2 * n - 1111);
}

/// A probe declared wrong, a bad platform and an unknown client: `upgrade` stops before any
/// connection with exit 2, naming each file and line (the address is never contacted).
#[test]
fn bad_probe_platform_and_client_stop_an_upgrade_with_exit_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nodeherd"))
        .args([
            "-i",
            "tests/fixtures/inventory/bad-probe-platform-client.toml",
            "--color",
            "never",
            "upgrade",
            "all",
            "--yes",
        ])
        .output()
        .expect("run nodeherd");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for at in [
        "bad-probe-platform-client.toml:4:12",
        "bad-probe-platform-client.toml:8:18",
        "bad-probe-platform-client.toml:11:10",
    ] {
        assert!(err.contains(at), "{at} missing:\n{err}");
    }
    assert!(
        err.contains("the probe reaches only the host's loopback"),
        "{err}"
    );
    assert!(err.contains("did you mean \"geth\""), "{err}");
}
