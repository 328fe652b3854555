//! Trustworthy commands against real hosts (issue #15 items 1-4), through the real binary (lab
//! "nhtrust", 10.233.0.0/24, two hosts, the demo unit only, no Lodestar):
//! - a disruptive `stop`/`restart` of ONE node with no terminal and no `--yes` is refused (exit 2,
//!   naming the node, saying to add `--yes`) and the unit stays active; `start` is not asked;
//! - `upgrade --to` with the feed unreachable, or a version not in the feed, exits 1 with the
//!   reason, and `releases` with a dead feed exits 1 showing the feed error in its WHY column;
//! - two `rollback --yes` back to back both succeed: the host lock is free when the first
//!   returns (the demo node gets a managed layout with two releases; its gate is the unit
//!   staying up 2 s);
//! - `history` names the user from the uid when `$USER` and `$LOGNAME` are unset;
//! - an `apply` moving the node up to a staged release is journaled as an `upgrade` (it was a
//!   `rollback`), and `history` shows the apply run;
//! - a lock held by someone else is refused with the holder named in full under the table's row.
//!
//! Needs root: without it, says so and skips. Run: `cargo test --test trust_lab` (a name filter
//! runs only matching scenarios; `NODEHERD_TEST_BIN=path` runs another build of the binary).

use nodeherd_lab::LabConfig;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

#[path = "support/labsuite.rs"]
mod labsuite;

const NODE: &str = "nhtrust-1/demo";
const UNIT: &str = "nodeherd-demo.service";
const DIR: &str = "/opt/nodeherd/demo";

fn main() {
    let Some(mut suite) = labsuite::start("trust_lab", |dir| LabConfig {
        name: "nhtrust".into(),
        hosts: 2,
        subnet: 233,
        lodestar: false,
        lodestar_hosts: 0,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let cfg = suite.cfg.clone();
    let inv = suite.report.inventory.clone();
    let dir = suite.dir.clone();
    let state = dir.join("state");
    suite.run("stop_of_one_node_without_a_terminal_is_refused", || {
        for verb in ["stop", "restart"] {
            let o = nodeherd(&inv, &state, &[verb, NODE], &[]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{verb}: {err}");
            assert!(err.contains("add --yes"), "{err}");
            assert!(err.contains(NODE), "names the node: {err}");
            assert_eq!(
                ssh(&cfg, 1, &format!("systemctl is-active {UNIT}")),
                "active"
            );
        }
    });
    suite.run("start_is_not_asked_and_stop_goes_with_yes", || {
        let o = nodeherd(&inv, &state, &["stop", NODE, "--yes"], &[]);
        assert!(o.status.success(), "{o:?}");
        assert_eq!(
            ssh(&cfg, 1, &format!("systemctl is-active {UNIT}")),
            "inactive"
        );
        let o = nodeherd(&inv, &state, &["start", NODE], &[]);
        assert!(o.status.success(), "{o:?}");
        assert_eq!(
            ssh(&cfg, 1, &format!("systemctl is-active {UNIT}")),
            "active"
        );
    });
    suite.run("a_dead_feed_is_exit_1_with_the_feed_error", || {
        let pb = playbook(&dir, "dead", "http://127.0.0.1:1/feed.json");
        let o = nodeherd(
            &inv,
            &state,
            &["upgrade", NODE, "--to", "1.0.0", "--yes", "-p", &pb],
            &[],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("feed unavailable"), "{err}");
        assert!(!err.contains("nothing to upgrade"), "{err}");
        let o = nodeherd(&inv, &state, &["releases", NODE, "-p", &pb], &[]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{out}");
        // The WHY is the feed's error, whole (under the row: it is long).
        assert!(out.contains("feed unavailable"), "{out}");
        assert!(out.contains("http://127.0.0.1:1/feed.json"), "{out}");
        assert!(!out.contains("maintenance window"), "{out}");
    });
    suite.run("a_version_not_in_the_feed_is_exit_1", || {
        let url = serve_feed();
        let pb = playbook(&dir, "live", &url);
        let o = nodeherd(
            &inv,
            &state,
            &["upgrade", NODE, "--to", "9.9.9", "--yes", "-p", &pb],
            &[],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("9.9.9 is not in the feed"), "{err}");
    });
    suite.run("two_rollbacks_back_to_back_find_the_lock_free", || {
        ssh(
            &cfg,
            1,
            &format!(
                "mkdir -p {DIR}/releases/1.0.0 {DIR}/releases/1.1.0 && cd {DIR} && ln -sfn releases/1.1.0 current && ln -sfn releases/1.0.0 previous"
            ),
        );
        let pb = playbook(&dir, "lock", "http://127.0.0.1:1/feed.json");
        for (i, want) in ["1.0.0", "1.1.0", "1.0.0"].iter().enumerate() {
            let t = Instant::now();
            let o = nodeherd(
                &inv,
                &state,
                &["rollback", NODE, "--yes", "-p", &pb],
                &["USER", "LOGNAME"],
            );
            let out = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            println!("  rollback {i}: {:.1}s", t.elapsed().as_secs_f64());
            assert!(o.status.success(), "rollback {i}: {out}");
            assert!(!out.contains("locked by"), "rollback {i}: {out}");
            assert_eq!(
                ssh(&cfg, 1, &format!("readlink {DIR}/current")),
                format!("releases/{want}")
            );
        }
        let o = nodeherd(&inv, &state, &["history", NODE], &["USER", "LOGNAME"]);
        let out = String::from_utf8_lossy(&o.stdout);
        let rollbacks: Vec<&str> = out.lines().filter(|l| l.contains(" rollback ")).collect();
        assert_eq!(rollbacks.len(), 3, "{out}");
        assert!(
            rollbacks.iter().all(|l| l.contains("root@")),
            "WHO from the uid: {out}"
        );
        assert!(!out.contains("unknown@"), "{out}");
    });
    suite.run("apply_moving_up_is_journaled_as_an_upgrade_and_shown", || {
        // The demo node's managed layout (made above, or here when run alone) on 1.0.0 with
        // 1.1.0 staged: a playbook declaring 1.1.0 switches it up, right after a rollback.
        ssh(
            &cfg,
            1,
            &format!(
                "mkdir -p {DIR}/releases/1.0.0 {DIR}/releases/1.1.0 && cd {DIR} && ln -sfn releases/1.0.0 current && ln -sfn releases/1.1.0 previous"
            ),
        );
        let pb = playbook(&dir, "apply", "http://127.0.0.1:1/feed.json");
        let mut text = std::fs::read_to_string(&pb).expect("playbook");
        text.push_str(&format!(
            "\n[state]\nrunning = true\n\n[nodes.\"{NODE}\".state]\nversion = \"1.1.0\"\n"
        ));
        std::fs::write(&pb, text).expect("write playbook");
        let o = nodeherd(
            &inv,
            &state,
            &["apply", "-p", &pb, "--limit", "nhtrust-1", "--yes"],
            &["USER", "LOGNAME"],
        );
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(ssh(&cfg, 1, &format!("readlink {DIR}/current")), "releases/1.1.0");
        let o = nodeherd(&inv, &state, &["history", NODE], &[]);
        let out = String::from_utf8_lossy(&o.stdout);
        let last = out.lines().rfind(|l| l.contains(NODE)).unwrap_or_default();
        assert!(
            last.contains(" upgrade ") && last.contains("1.0.0") && last.contains("1.1.0"),
            "the switch up is an upgrade: {out}"
        );
        assert!(
            out.lines().any(|l| l.contains(" apply ") && l.contains(" * ")),
            "the apply run is shown: {out}"
        );
    });
    suite.run("a_lock_holder_is_shown_whole_in_the_table", || {
        // Someone else holds the node's lock (a long `action`): the refusal's detail names them
        // in full, under the row, in piped output (it was cut with "…").
        let pid = ssh(
            &cfg,
            1,
            &format!(
                "mkdir -p {DIR}/.nodeherd && cd {DIR}/.nodeherd && printf 'who=tester@another-console.example.org\\npid=4242\\nsince=2026-12-06T21:00:00Z\\naction=a long maintenance of the demo node by the trust_lab test\\n' > lock.holder && touch lock.beat; setsid flock -n lock sleep 60 >/dev/null 2>&1 </dev/null & echo $!"
            ),
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
        let pb = playbook(&dir, "held", "http://127.0.0.1:1/feed.json");
        let o = nodeherd(&inv, &state, &["rollback", NODE, "--yes", "-p", &pb], &[]);
        ssh(&cfg, 1, &format!("kill {pid}; rm -f {DIR}/.nodeherd/lock.holder"));
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(!out.contains('…'), "{out}");
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("locked by tester@another-console.example.org (pid 4242 on the host)")
                && flat.contains("for `a long maintenance of the demo node by the trust_lab test`"),
            "{out}"
        );
    });
    suite.finish();
}

/// The real binary with the lab's inventory, stdin from /dev/null (no terminal), `unset` removed
/// from its environment.
fn nodeherd(inventory: &Path, state: &Path, args: &[&str], unset: &[&str]) -> Output {
    let t = Instant::now();
    // NODEHERD_TEST_BIN runs another build (e.g. one from before these fixes, to see them fail).
    let bin = std::env::var_os("NODEHERD_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_nodeherd").into());
    let mut c = Command::new(bin);
    c.arg("-i")
        .arg(inventory)
        .args(args)
        .env("NODEHERD_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    for v in unset {
        c.env_remove(v);
    }
    let o = c.output().expect("run nodeherd");
    println!(
        "  nodeherd {} -> {:?} in {:.1}s",
        args.join(" "),
        o.status.code(),
        t.elapsed().as_secs_f64()
    );
    o
}

fn ssh(cfg: &LabConfig, i: usize, command: &str) -> String {
    let o = labsuite::root_ssh(cfg, i, command);
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A lab policy (no delay, no window, a 2 s settle) following `feed`; returns its path.
fn playbook(dir: &Path, name: &str, feed: &str) -> String {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            "[upgrade]\ndelay = \"0s\"\nmin_quiet = \"0s\"\nsettle = \"2s\"\nhealth_timeout = \"60s\"\nconfirm_timeout = \"90s\"\nrelease_feed = \"{feed}\"\n"
        ),
    )
    .expect("write playbook");
    p.display().to_string()
}

/// Serve a GitHub-shaped feed of 1.0.0 and 1.1.0 on the machine's loopback; returns its URL.
fn serve_feed() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/feed.json", l.local_addr().expect("addr"));
    let body = r#"[{"tag_name":"v1.1.0","published_at":"2026-01-02T00:00:00Z","assets":[]},{"tag_name":"v1.0.0","published_at":"2026-01-01T00:00:00Z","assets":[]}]"#;
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}
