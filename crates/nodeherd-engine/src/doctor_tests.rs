//! The doctor's decisions through the fake `Remote`: a healthy host passes everything, a broken
//! one names exactly sudo and the closed port, an unreachable one says how to connect; feeds
//! read from a real loopback server (reachable), a closed port (unavailable) and the cache.

use super::feeds::{FeedState, cache_age, probe};
use super::*;
use crate::testing::{FakeRemote, HttpReply, Match, Reply, fake_pool};
use nodeherd_core::inventory::Inventory;
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FEED: &str = r#"[{"tag_name":"v1.5.1","published_at":"2023-02-01T10:00:00Z","assets":[]},
                      {"tag_name":"v1.4.2","published_at":"2023-01-10T10:00:00Z","assets":[]}]"#;
/// Nothing listens on port 1 of the loopback.
const DEAD: &str = "http://127.0.0.1:1/lodestar.json";

/// A loopback HTTP server answering every request with `body` (200); its base URL.
async fn serve(body: &'static str) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = vec![0u8; 8192];
            let _ = s.read(&mut buf).await;
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    url
}

/// Feeds read with a fresh, empty cache.
fn feed_env(cache: &tempfile::TempDir) -> Feeds {
    Feeds {
        client: feeds::client(),
        cache_dir: cache.path().to_path_buf(),
    }
}

const INV: &str = r#"
[hosts.ok]
address = "192.0.2.1"
[hosts.ok.nodes.bn]
client = "lodestar"
role = "beacon"
unit = "bn.service"
rest_port = 9596
release_feed = "FEED/lodestar.json"

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
release_feed = "FEED/lodestar.json"

[hosts.gone]
address = "192.0.2.3"
"#;

/// The test inventory, its nodes following the feed at `feed` (a base URL).
fn inventory_with(feed: &str) -> Inventory {
    Inventory::from_sources(vec![(
        PathBuf::from("/t/h.toml"),
        INV.replace("FEED", feed),
    )])
    .expect("inventory")
}

fn inventory() -> Inventory {
    inventory_with("http://127.0.0.1:1")
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
    let inv = inventory_with(&serve(FEED).await);
    let cache = tempfile::tempdir().expect("tempdir");
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
    let reports = run(&pool, &inv, &[0, 1, 2], 4, &feed_env(&cache)).await;
    let by = |n: &str| reports.iter().find(|r| r.host == n).expect("report");

    let good = by("ok");
    assert_eq!(good.failures(), 0, "{good:#?}");
    let names: Vec<&str> = good.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["connect", "systemd", "tools", "clock", "port", "feed"]
    );
    let feed = good.checks.last().expect("feed check");
    assert!(feed.detail.contains("2 releases"), "{feed:?}");

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
            "connect", "sudo", "systemd", "tools", "clock", "token", "port", "feed"
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
    let cache = tempfile::tempdir().expect("tempdir");
    let mut reports = run(&pool, &inv, &[1], 1, &feed_env(&cache)).await;
    // the feed does not answer and is not cached: that is the one failure
    let failed: Vec<&str> = reports[0]
        .checks
        .iter()
        .filter(|c| c.failed())
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["feed"], "{:#?}", reports[0]);
    let feed = reports[0].checks.last().expect("feed");
    assert!(feed.detail.contains("no cached copy"), "{feed:?}");
    assert!(
        feed.fix
            .as_deref()
            .is_some_and(|f| f.contains("release_feed"))
    );
    reports[0].checks.retain(|c| c.name != "feed");
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

#[tokio::test]
async fn the_connect_check_names_the_auth_used_and_the_known_hosts_line() {
    let inv = inventory();
    let ok = host(&inv, "ok");
    ok.on(Match::contains("echo \"clock"), probe_reply("", false));
    ok.connected_with(ConnectionInfo {
        auth: "key file /root/.ssh/id_ed25519 (ssh-ed25519 SHA256:abc)".into(),
        host_key: "SHA256:hostkey".into(),
        known_host: Some((PathBuf::from("/root/.ssh/known_hosts"), 3)),
    });
    let pool = fake_pool(std::slice::from_ref(&ok));
    let cache = tempfile::tempdir().expect("tempdir");
    let reports = run(&pool, &inv, &[0], 1, &feed_env(&cache)).await;
    let r = &reports[0];
    assert_eq!(r.known_hosts.as_deref(), Some("/root/.ssh/known_hosts:3"));
    assert_eq!(
        r.auth.as_deref(),
        Some("key file /root/.ssh/id_ed25519 (ssh-ed25519 SHA256:abc)")
    );
    assert_eq!(
        r.checks[0].detail,
        "root@192.0.2.1:22; host key SHA256:hostkey matched /root/.ssh/known_hosts:3; \
         auth: key file /root/.ssh/id_ed25519 (ssh-ed25519 SHA256:abc)"
    );
    let new = ConnectionInfo {
        auth: "agent key ssh-ed25519 SHA256:abc".into(),
        host_key: "SHA256:k".into(),
        known_host: None,
    };
    assert_eq!(
        connect_detail("ops", "h:22", Some(&new)),
        "ops@h:22; host key SHA256:k was new and was recorded; auth: agent key ssh-ed25519 SHA256:abc"
    );
}

#[tokio::test]
async fn feeds_reachable_cached_unavailable_or_not_a_feed() {
    let cache = tempfile::tempdir().expect("tempdir");
    let env = feed_env(&cache);
    let live = format!("{}/lodestar.json", serve(FEED).await);
    let state = probe(&env, &live).await;
    assert!(
        matches!(state, FeedState::Reachable { releases: 2, .. }),
        "{state:?}"
    );
    // the doctor reads, it does not fill the cache
    assert_eq!(cache_age(&env.cache_dir, &live, SystemTime::now()), None);

    let FeedState::Unavailable { error } = probe(&env, DEAD).await else {
        panic!("a closed port is unavailable without a cache");
    };
    assert!(error.contains("refused"), "{error}");

    let copy = crate::feeds::cache_file(&env.cache_dir, DEAD);
    std::fs::write(&copy, FEED).expect("cache a copy");
    let FeedState::Cached { age, .. } = probe(&env, DEAD).await else {
        panic!("a cached copy is used when the feed does not answer");
    };
    assert!(age.as_secs() < 60, "{age:?}");

    let html = format!("{}/", serve("<html>hello</html>").await);
    let FeedState::Unavailable { error } = probe(&env, &html).await else {
        panic!("a page that is not a feed is no feed");
    };
    assert!(error.contains("not a release feed"), "{error}");

    let file = cache.path().join("local.json");
    std::fs::write(&file, FEED).expect("write");
    assert_eq!(
        probe(&env, &file.display().to_string()).await,
        FeedState::File { releases: 2 }
    );
    assert_eq!(feeds::age_text(std::time::Duration::from_secs(7300)), "2 h");
}
