//! Progress of long work through the real binary (lab "nhprog", 10.232.0.0/24, one host with
//! Lodestar and the lab's release feed): `upgrade --to 1.4.2 --yes` and `rollback --yes` with
//! stderr piped print plain timestamped progress lines in order on stderr (locking, uploading
//! with bytes, unpacking, switching, the gate's wait, confirmed, finished) while stdout with
//! `--json` stays one JSON document; under a terminal (`script`) the running node's line is
//! redrawn in place; `-q` prints no progress. Needs root: without it, says so and skips.
//!
//! Run: `cargo test --test progress_lab` (as root); a name filter runs only matching scenarios.

use nodeherd_lab::LabConfig;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

#[path = "support/labsuite.rs"]
mod labsuite;

const NODE: &str = "nhprog-1/lodestar-bn";
const PLAYBOOK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/lab.toml");
const BIN: &str = env!("CARGO_BIN_EXE_nodeherd");

fn main() {
    let t = Instant::now();
    let Some(mut suite) = labsuite::start("progress_lab", |dir| LabConfig {
        name: "nhprog".into(),
        hosts: 1,
        subnet: 232,
        lodestar: true,
        lodestar_hosts: 1,
        feed: true,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    println!("lab up with the feed: {:.1}s", t.elapsed().as_secs_f64());
    let inv = suite.report.inventory.clone();
    let state = suite.dir.join("state");
    suite.run(
        "upgrade_prints_plain_progress_on_stderr_and_json_on_stdout",
        || {
            let (out, err) = nodeherd(
                &inv,
                &state,
                &[
                    "--json", "upgrade", NODE, "--to", "1.4.2", "--yes", "-p", PLAYBOOK,
                ],
            );
            one_json_outcome(&out, "upgrade", "1.4.2");
            let lines = progress_lines(&err);
            println!("  {} progress lines on stderr:", lines.len());
            for l in &lines {
                println!("    {l}");
            }
            in_order(
                &lines,
                &[
                    ": locking",
                    ": locked",
                    ": checking health before the change",
                    ": uploading 0.0 MB / ",
                    " MB (100%)",
                    ": verifying and unpacking on the host",
                    ": staged",
                    ": switching",
                    ": switched, health gate next",
                    ": gate waiting ",
                    ": gate passed",
                    ": confirmed",
                    ": finished: ok",
                ],
            );
            // the upload's size is the tarball's, not a placeholder
            let up = lines
                .iter()
                .find(|l| l.contains("(100%)"))
                .map_or("", String::as_str);
            assert!(!up.contains("/ 0.0 MB"), "{up}");
            plain_only(&err);
        },
    );
    suite.run(
        "rollback_prints_plain_progress_on_stderr_and_json_on_stdout",
        || {
            let (out, err) = nodeherd(
                &inv,
                &state,
                &["--json", "rollback", NODE, "--yes", "-p", PLAYBOOK],
            );
            one_json_outcome(&out, "rollback", "1.5.1");
            let lines = progress_lines(&err);
            in_order(
                &lines,
                &[
                    ": locking",
                    ": locked",
                    ": switching",
                    ": switched, health gate next",
                    ": gate passed",
                    ": confirmed",
                    ": finished: ok",
                ],
            );
            assert!(!lines.iter().any(|l| l.contains("uploading")), "{lines:#?}");
            plain_only(&err);
        },
    );
    suite.run("on_a_terminal_the_nodes_line_is_redrawn_in_place", || {
        let t = Instant::now();
        let cmd = format!(
            "NO_COLOR=1 NODEHERD_STATE_DIR={} {BIN} -i {} upgrade {NODE} --to 1.4.2 --yes -p {PLAYBOOK}",
            state.display(),
            inv.display()
        );
        let o = Command::new("script")
            .args(["-q", "-e", "-c", &cmd, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("run script");
        println!("  (tty) upgrade --to 1.4.2: {:.1}s", t.elapsed().as_secs_f64());
        let screen = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{screen}");
        // up over the block, clear it, draw it again: at least once per step after the first
        let redraws = screen.matches("\r\x1b[1A\x1b[J").count();
        assert!(redraws >= 5, "{redraws} redraws: {screen:?}");
        assert!(screen.contains("nhprog-1/lodestar-bn ["), "{screen:?}");
        assert!(screen.contains("] gate"), "{screen:?}");
        assert!(
            screen.contains("nhprog-1/lodestar-bn: finished: ok after "),
            "{screen:?}"
        );
        // no timestamped plain lines on a terminal
        assert!(!screen.contains("Z nhprog-1/"), "{screen:?}");
    });
    suite.run("quiet_prints_no_progress", || {
        let (out, err) = nodeherd(
            &inv,
            &state,
            &["--json", "-q", "rollback", NODE, "--yes", "-p", PLAYBOOK],
        );
        one_json_outcome(&out, "rollback", "1.5.1");
        assert!(progress_lines(&err).is_empty(), "{err}");
    });
    suite.finish();
}

/// Run the real binary with the lab's inventory, stdin closed and stderr piped: (stdout,
/// stderr); panics (with both) unless it exits 0.
fn nodeherd(inventory: &Path, state: &Path, args: &[&str]) -> (String, String) {
    let t = Instant::now();
    let o = Command::new(BIN)
        .arg("-i")
        .arg(inventory)
        .args(args)
        .env("NODEHERD_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run nodeherd");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    println!(
        "  nodeherd {}: {:.1}s",
        args.join(" "),
        t.elapsed().as_secs_f64()
    );
    assert!(
        o.status.success(),
        "nodeherd {args:?} exited {:?}:\n{out}{err}",
        o.status.code()
    );
    (out, err)
}

/// stdout is exactly one JSON document: an array with the node's outcome, `ok`, to `to`.
fn one_json_outcome(out: &str, action: &str, to: &str) {
    let v: serde_json::Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let rows = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {out}"));
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0]["node"], NODE, "{out}");
    assert_eq!(rows[0]["action"], action, "{out}");
    assert_eq!(rows[0]["status"], "ok", "{out}");
    assert_eq!(rows[0]["to"], to, "{out}");
}

/// The progress lines of stderr: `<UTC timestamp> <node or batch>: ...`.
fn progress_lines(err: &str) -> Vec<String> {
    err.lines()
        .filter(|l| {
            let mut w = l.splitn(2, ' ');
            let stamp = w.next().unwrap_or("");
            let rest = w.next().unwrap_or("");
            chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%SZ").is_ok()
                && (rest.starts_with(NODE) || rest.starts_with("batch "))
        })
        .map(str::to_string)
        .collect()
}

/// Each of `wanted` is in some line, each after the line of the one before it.
fn in_order(lines: &[String], wanted: &[&str]) {
    let mut from = 0;
    for w in wanted {
        match lines[from..].iter().position(|l| l.contains(w)) {
            Some(i) => from += i + 1,
            None => panic!("no `{w}` after line {from}:\n{}", lines.join("\n")),
        }
    }
}

/// Without a terminal: no carriage returns, no escape sequences, no flood of upload lines.
fn plain_only(err: &str) {
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");
    let uploads = err.lines().filter(|l| l.contains(": uploading ")).count();
    assert!(uploads <= 12, "{uploads} upload lines:\n{err}");
}
