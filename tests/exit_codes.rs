//! Exit codes through the real binary, without root or a lab (issue #15 item 2): what was asked
//! for and not done is exit 1 with the reason; a disruptive action without a terminal and
//! without `--yes` is exit 2 and touches nothing. The host is 127.0.0.1 port 1 (nothing listens:
//! refused at once) and the feed http://127.0.0.1:1/ (the same).

use std::process::{Command, Output, Stdio};

const INV: &str = r#"
[hosts.h1]
address = "127.0.0.1"
port = 1

[hosts.h1.nodes.bn]
client = "lodestar"
role = "beacon"
unit = "lodestar-bn.service"
install_dir = "/opt/nodeherd/lodestar-bn"
rest_port = 9596
"#;

const PLAYBOOK: &str = "[upgrade]\ndelay = \"0s\"\nwindows = [\"Sat 00:00-00:01\"]\nrelease_feed = \"http://127.0.0.1:1/feed.json\"\n";

fn run(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("inv.toml"), INV).expect("inventory");
    std::fs::write(dir.path().join("pb.toml"), PLAYBOOK).expect("playbook");
    Command::new(env!("CARGO_BIN_EXE_nodeherd"))
        .current_dir(dir.path())
        .args(["-i", "inv.toml"])
        .args(args)
        .env("NODEHERD_STATE_DIR", dir.path().join("state"))
        .env("NODEHERD_SSH_CONFIG", "none")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run nodeherd")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn upgrade_to_with_the_feed_unreachable_is_exit_1_with_the_reason() {
    let o = run(&[
        "upgrade", "h1/bn", "--to", "1.4.2", "--yes", "-p", "pb.toml",
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("error: h1/bn: feed unavailable"), "{t}");
    assert!(t.contains("http://127.0.0.1:1/feed.json"), "{t}");
    assert!(!t.contains("nothing to upgrade"), "{t}");
}

#[test]
fn releases_with_a_dead_feed_is_exit_1_and_says_why() {
    // The playbook's only window is a minute on Saturday: the feed error is the WHY, not the
    // window.
    let o = run(&["releases", "h1/bn", "-p", "pb.toml"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("feed unavailable"), "{t}");
    assert!(!t.contains("maintenance window"), "{t}");
    assert!(!t.contains('…'), "{t}");
}

#[test]
fn a_disruptive_action_without_a_terminal_is_exit_2_before_any_connection() {
    for args in [
        &["stop", "h1/bn"][..],
        &["restart", "h1/bn"],
        &["rollback", "h1/bn", "-p", "pb.toml"],
    ] {
        let o = run(args);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {t}");
        assert!(t.contains("h1/bn") && t.contains("add --yes"), "{t}");
    }
}
