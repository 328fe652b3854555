//! The parser and evaluation on realistic files from `tests/fixtures/ssh_config/` (see the README
//! there), through an in-memory [`Files`].

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::eval::{Tokens, expand};
use super::{Files, SshConfig};
use crate::inventory::{Inventory, render};

const CONFIG: &str = include_str!("../../../../../tests/fixtures/ssh_config/config");
const ARCHIVE: &str = include_str!("../../../../../tests/fixtures/ssh_config/config.d/archive");
const BAD: &str = include_str!("../../../../../tests/fixtures/ssh_config/bad.config");

struct Mem(BTreeMap<PathBuf, Result<&'static str, ErrorKind>>);

impl Files for Mem {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        match self.0.get(path) {
            Some(Ok(t)) => Ok((*t).to_string()),
            Some(Err(k)) => Err((*k).into()),
            None => Err(ErrorKind::NotFound.into()),
        }
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        Ok(self
            .0
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .cloned()
            .collect())
    }
}

fn operator() -> SshConfig {
    let files = Mem(BTreeMap::from([
        (PathBuf::from("/home/op/.ssh/config"), Ok(CONFIG)),
        (PathBuf::from("/home/op/.ssh/config.d/archive"), Ok(ARCHIVE)),
    ]));
    let roots = [(
        PathBuf::from("/home/op/.ssh/config"),
        PathBuf::from("/home/op/.ssh"),
    )];
    SshConfig::read(&roots, &files, "op", Path::new("/home/op"))
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle in fixture")
}

#[test]
fn first_value_wins_identity_files_accumulate() {
    let c = operator();
    assert!(c.parsed.problems.is_empty(), "{:?}", c.parsed.problems);
    let s = c.settings("bn-1");
    let hn = s.get("hostname").unwrap();
    assert_eq!(hn.first(), "10.20.0.11");
    assert_eq!(hn.line, line_of(CONFIG, "10.20.0.11"));
    // `Host bn-*` comes before `Host *`: its User wins.
    assert_eq!(s.get("user").unwrap().first(), "nodeops");
    assert_eq!(s.get("proxyjump").unwrap().first(), "bastion");
    // `Match host` sees the HostName obtained so far.
    assert_eq!(s.get("connecttimeout").unwrap().first(), "5");
    assert_eq!(s.get("serveraliveinterval").unwrap().first(), "30");
    let ids: Vec<&str> = s
        .identity_files
        .iter()
        .map(super::eval::Value::first)
        .collect();
    assert_eq!(ids, ["~/.ssh/fleet_%r", "~/.ssh/id_ed25519"]);
    assert_eq!(s.get("userknownhostsfile").unwrap().args.len(), 2);
    // The `Match exec` block is skipped and said so.
    assert_eq!(s.skipped.len(), 1);
    assert!(s.skipped[0].2.contains("Match exec"), "{:?}", s.skipped);
    assert!(s.get("port").is_none());
}

#[test]
fn negation_excludes_and_none_is_kept() {
    let s = operator().settings("bn-test");
    assert_eq!(s.get("user").unwrap().first(), "fallback");
    assert_eq!(s.get("proxyjump").unwrap().first(), "none");
    assert!(
        s.get("connecttimeout").is_none(),
        "bn-test's HostName is no 10.20.0.*"
    );
    let other = operator().settings("somewhere");
    assert_eq!(other.get("user").unwrap().first(), "fallback");
    assert!(other.get("hostname").is_none());
}

#[test]
fn include_glob_relative_to_ssh_dir_and_equals_syntax() {
    let c = operator();
    assert_eq!(c.parsed.files.len(), 2);
    let s = c.settings("archive");
    assert_eq!(s.get("hostname").unwrap().first(), "archive.example.org");
    assert_eq!(s.get("user").unwrap().first(), "archiver");
    assert_eq!(s.get("port").unwrap().first(), "2201");
    assert_eq!(
        c.place(s.get("port").unwrap().file, s.get("port").unwrap().line),
        "/home/op/.ssh/config.d/archive:5"
    );
}

#[test]
fn tokens_and_tilde() {
    let t = Tokens {
        alias: "bn-1",
        hostname: "10.20.0.11",
        port: 2200,
        remote_user: "nodeops",
        local_user: "op",
        home: Path::new("/home/op"),
    };
    assert_eq!(expand("~/.ssh/fleet_%r", &t), "/home/op/.ssh/fleet_nodeops");
    assert_eq!(
        expand("%d/kh/%h:%p-%n-%u-100%%", &t),
        "/home/op/kh/10.20.0.11:2200-bn-1-op-100%"
    );
    assert_eq!(expand("%x", &t), "%x");
}

fn inventory(text: &str) -> Result<Inventory, crate::inventory::InventoryError> {
    Inventory::from_sources_with_ssh(
        vec![(PathBuf::from("/srv/inv/hosts.toml"), text.to_string())],
        &operator(),
    )
}

#[test]
fn hosts_by_alias_resolve_through_ssh_config_below_the_inventory() {
    let inv = inventory("[hosts.bn-1]\n\n[hosts.bn-2]\nuser = \"root\"\n").unwrap();
    let b1 = &inv.host("bn-1").unwrap().target;
    assert_eq!(b1.address, "10.20.0.11");
    assert_eq!(b1.user, "nodeops");
    assert_eq!(b1.port, 22);
    assert_eq!(
        b1.identity_files,
        [
            PathBuf::from("/home/op/.ssh/fleet_nodeops"),
            PathBuf::from("/home/op/.ssh/id_ed25519")
        ]
    );
    assert_eq!(
        b1.known_hosts_files,
        [
            PathBuf::from("/home/op/.ssh/known_hosts.fleet"),
            PathBuf::from("/etc/ssh/ssh_known_hosts")
        ]
    );
    assert_eq!(b1.connect_timeout.as_secs(), 5);
    assert_eq!(b1.keepalive_interval.as_secs(), 30);
    let j = b1.jump.as_deref().unwrap();
    assert_eq!(
        (j.address.as_str(), j.port, j.user.as_str()),
        ("198.51.100.7", 2222, "ops")
    );
    assert_eq!(
        j.identity_files,
        [
            PathBuf::from("/home/op/.ssh/id_ed25519_bastion"),
            PathBuf::from("/home/op/.ssh/id_ed25519")
        ]
    );
    assert!(j.jump.is_none());

    let h2 = inv.host("bn-2").unwrap();
    assert_eq!(h2.target.user, "root", "the inventory wins");
    assert_eq!(h2.target.port, 2200);
    assert_eq!(
        h2.target.host_key_policy,
        crate::remote::HostKeyPolicy::Strict
    );
    assert!(
        h2.notes
            .iter()
            .any(|n| n.contains("StrictHostKeyChecking no is not applied")),
        "{:?}",
        h2.notes
    );
    let user = h2.origins.iter().find(|o| o.setting == "user").unwrap();
    assert_eq!(
        (user.source, user.place.as_deref()),
        ("inventory", Some("/srv/inv/hosts.toml:4"))
    );
    let port = h2.origins.iter().find(|o| o.setting == "port").unwrap();
    let line = line_of(CONFIG, "Port 2200");
    assert_eq!(
        port.place.as_deref(),
        Some(format!("/home/op/.ssh/config:{line}").as_str())
    );
    let become_root = h2.origins.iter().find(|o| o.setting == "become").unwrap();
    assert_eq!(become_root.source, "default");
}

#[test]
fn proxyjump_lists_and_none() {
    let inv = inventory("[hosts.vc-deep]\n[hosts.bn-test]\n[hosts.bastion]\n").unwrap();
    let deep = &inv.host("vc-deep").unwrap().target;
    // `ProxyJump a,b`: connect to a, then b, then the host.
    let b = deep.jump.as_deref().unwrap();
    assert_eq!((b.address.as_str(), b.port), ("198.51.100.7", 2222));
    let a = b.jump.as_deref().unwrap();
    assert_eq!(
        (a.address.as_str(), a.port, a.user.as_str()),
        ("198.51.100.8", 2022, "ops")
    );
    assert!(inv.host("bn-test").unwrap().target.jump.is_none());
    // A jump naming an inventory host uses that host.
    let inv = inventory("[hosts.bn-1]\n[hosts.bastion]\nport = 2022\n").unwrap();
    assert_eq!(
        inv.host("bn-1")
            .unwrap()
            .target
            .jump
            .as_deref()
            .unwrap()
            .port,
        2022
    );
}

#[test]
fn no_address_and_no_hostname_is_still_an_error() {
    let err = inventory("[hosts.nowhere]\n").unwrap_err();
    let text = render(&err, false);
    assert!(text.contains("host \"nowhere\" has no address"), "{text}");
    assert!(text.contains("HostName"), "{text}");
}

#[test]
fn mistakes_in_ssh_config_name_file_and_line() {
    let files = Mem(BTreeMap::from([
        (PathBuf::from("/home/op/.ssh/bad.config"), Ok(BAD)),
        (
            PathBuf::from("/home/op/.ssh/secret.conf"),
            Err(ErrorKind::PermissionDenied),
        ),
    ]));
    let roots = [(
        PathBuf::from("/home/op/.ssh/bad.config"),
        PathBuf::from("/home/op/.ssh"),
    )];
    let c = SshConfig::read(&roots, &files, "op", Path::new("/home/op"));
    let err = Inventory::from_sources_with_ssh(
        vec![(
            PathBuf::from("/srv/inv/hosts.toml"),
            "[hosts.bn-9]\n".into(),
        )],
        &c,
    )
    .unwrap_err();
    let text = render(&err, false);
    assert_eq!(err.problems.len(), 3, "{text}");
    assert!(
        text.contains("Port \"70000\" is not a port number"),
        "{text}"
    );
    assert!(text.contains("/home/op/.ssh/bad.config:2:"), "{text}");
    assert!(
        text.contains("cannot read included file /home/op/.ssh/secret.conf"),
        "{text}"
    );
    assert!(text.contains("/home/op/.ssh/bad.config:4:"), "{text}");
    assert!(text.contains("connecttimeout \"soon\""), "{text}");
}

fn read_only(files: Mem) -> SshConfig {
    let home = Path::new("/home/op");
    let roots = [(home.join(".ssh/config"), home.join(".ssh"))];
    SshConfig::read(&roots, &files, "op", home)
}

#[test]
fn a_file_including_itself_is_a_problem_not_an_explosion() {
    // Found by fuzzing (tests/fixtures/fuzz/ssh_config/hang-*): each level read the file twice,
    // 2^16 copies before the depth limit.
    let files = Mem(BTreeMap::from([(
        PathBuf::from("/home/op/.ssh/config"),
        Ok("Include config config\nHost x\n  User u\n"),
    )]));
    let cfg = read_only(files);
    assert_eq!(cfg.parsed.files.len(), 1, "{:?}", cfg.parsed.files.len());
    let loops: Vec<_> = cfg
        .parsed
        .problems
        .iter()
        .filter(|p| p.message.starts_with("Include loop"))
        .collect();
    assert_eq!(loops.len(), 2, "{:?}", cfg.parsed.problems);
    assert_eq!((loops[0].file, loops[0].line), (0, 1));
    assert_eq!(
        cfg.settings("x")
            .get("user")
            .map(|v| v.first().to_string())
            .as_deref(),
        Some("u")
    );
}

#[test]
fn files_including_each_other_stop_at_the_file_limit() {
    // Ten files each including the whole folder: every order of them is a chain without a loop.
    let mut map = BTreeMap::from([(
        PathBuf::from("/home/op/.ssh/config"),
        Ok("Include config.d/*\n"),
    )]);
    for i in 0..10 {
        map.insert(
            PathBuf::from(format!("/home/op/.ssh/config.d/f{i}")),
            Ok("Include config.d/*\nHost h\n  Port 2222\n"),
        );
    }
    let cfg = read_only(Mem(map));
    assert!(
        cfg.parsed.files.len() <= 256,
        "{} files read",
        cfg.parsed.files.len()
    );
    assert!(
        cfg.parsed
            .problems
            .iter()
            .any(|p| p.message.starts_with("more than 256 files")),
        "{:?}",
        cfg.parsed.problems
    );
    assert_eq!(
        cfg.settings("h")
            .get("port")
            .map(|v| v.first().to_string())
            .as_deref(),
        Some("2222")
    );
}
