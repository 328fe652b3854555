//! The doctor's decisions through the fake `Remote`: a healthy host passes everything, a broken
//! one names exactly sudo and the closed port, an unreachable one says how to connect.

use super::*;
use crate::testing::{FakeRemote, HttpReply, Match, Reply, fake_pool};
use nodeherd_core::inventory::Inventory;
use std::path::PathBuf;

const INV: &str = r#"
[hosts.ok]
address = "192.0.2.1"
[hosts.ok.nodes.bn]
client = "lodestar"
role = "beacon"
unit = "bn.service"
rest_port = 9596

[hosts.broken]
address = "192.0.2.2"
user = "ops"
become = true
[hosts.broken.nodes.vc]
client = "lodestar"
role = "validator"
unit = "vc.service"
metrics_port = 5064
keymanager_token_file = "/var/lib/vc/api-token.txt"

[hosts.gone]
address = "192.0.2.3"
"#;

fn inventory() -> Inventory {
    Inventory::from_sources(vec![(PathBuf::from("/t/h.toml"), INV.into())]).expect("inventory")
}

fn probe_reply(missing: &str, token: bool) -> Reply {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let mut s = format!("clock {now:.9}\nsystemd systemd 252 (252.36-1~deb12u1)\n{missing}");
    if token {
        s.push_str("readable /var/lib/vc/api-token.txt\n");
    }
    Reply::ok(s)
}

fn host(inv: &Inventory, name: &str) -> FakeRemote {
    FakeRemote::new(inv.host(name).expect("host").target.clone())
}

#[tokio::test]
async fn healthy_and_broken_hosts() {
    let inv = inventory();
    let ok = host(&inv, "ok");
    ok.on(Match::contains("echo \"clock"), probe_reply("", false));
    let broken = host(&inv, "broken");
    broken.on(Match::contains("echo \"clock"), probe_reply("", true));
    broken.on(
        Match::Exact("sudo -n true".into()),
        Reply::fail(1, "sudo: a password is required"),
    );
    // as on a real host: without sudo rights, anything run through `sudo -n` fails
    broken.on(
        Match::Prefix("sudo -n -- ".into()),
        Reply::fail(1, "sudo: a password is required"),
    );
    broken.http_with(5064, "", |_, _| HttpReply::Refused);
    let pool = fake_pool(&[ok.clone(), broken.clone()]);
    let reports = run(&pool, &inv, &[0, 1, 2], 4).await;
    let by = |n: &str| reports.iter().find(|r| r.host == n).expect("report");

    let good = by("ok");
    assert_eq!(good.failures(), 0, "{good:#?}");
    let names: Vec<&str> = good.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["connect", "systemd", "tools", "clock", "port"]);

    let bad = by("broken");
    let failed: Vec<(&str, Option<&str>)> = bad
        .checks
        .iter()
        .filter(|c| c.failed())
        .map(|c| (c.name.as_str(), c.node.as_deref()))
        .collect();
    assert_eq!(failed, [("sudo", None), ("port", Some("vc"))], "{bad:#?}");
    assert!(
        bad.checks
            .iter()
            .filter(|c| c.failed())
            .all(|c| c.fix.is_some())
    );
    let sudo = bad.checks.iter().find(|c| c.name == "sudo").expect("sudo");
    assert!(sudo.detail.contains("password is required"), "{sudo:?}");
    assert!(sudo.fix.as_deref().is_some_and(|f| f.contains("NOPASSWD")));
    // sudo failed, so the probe ran once, as the login user, and its checks still report
    let probes: Vec<String> = broken
        .lines()
        .into_iter()
        .filter(|l| l.contains("echo \"clock"))
        .collect();
    assert_eq!(probes.len(), 1, "{probes:?}");
    assert!(probes[0].starts_with("sh -c "), "{probes:?}");
    let names: Vec<&str> = bad.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "connect", "sudo", "systemd", "tools", "clock", "token", "port"
        ]
    );

    let gone = by("gone");
    assert_eq!(gone.checks.len(), 1);
    assert_eq!(gone.checks[0].name, "connect");
    assert!(gone.checks[0].failed());
}

#[test]
fn missing_tools_old_systemd_and_a_skewed_clock_fail_with_fixes() {
    let p = HostProbe {
        clock: Some(1000.0),
        systemd_version: Some(219),
        systemd_line: Some("systemd 219".into()),
        missing_tools: vec!["flock".into(), "sha256sum".into()],
        files: vec![],
    };
    let mut checks = Vec::new();
    probe_checks(&mut checks, &p, 1002.0, 1002.2);
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c.failed())
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["systemd", "tools", "clock"]);
    let tools = &checks[1];
    assert!(
        tools
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("apt-get install coreutils util-linux")),
        "{tools:?}"
    );
    assert!(checks[2].detail.contains("-2.10 s"), "{:?}", checks[2]);
    let mut fine = Vec::new();
    probe_checks(
        &mut fine,
        &HostProbe {
            clock: Some(1000.4),
            systemd_version: Some(252),
            ..HostProbe::default()
        },
        1000.0,
        1000.2,
    );
    assert!(fine.iter().all(|c| !c.failed()), "{fine:?}");
}

#[tokio::test]
async fn a_become_host_with_working_sudo_is_probed_as_root() {
    let inv = inventory();
    let broken = host(&inv, "broken");
    broken.on(Match::contains("echo \"clock"), probe_reply("", true));
    let pool = fake_pool(std::slice::from_ref(&broken));
    let reports = run(&pool, &inv, &[1], 1).await;
    assert_eq!(reports[0].failures(), 0, "{:#?}", reports[0]);
    let lines = broken.lines();
    assert!(lines.iter().any(|l| l == "sudo -n true"), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("sudo -n -- ") && l.contains("echo \"clock")),
        "{lines:?}"
    );
}
