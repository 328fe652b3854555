//! OpenSSH configuration against real lab hosts (lab "nhsshc", 10.227.0.0/24, three hosts, no
//! Lodestar): an inventory that lists hosts by alias only, with no connection setting, is
//! resolved through a test ssh_config (HostName, User, Port, IdentityFile, UserKnownHostsFile);
//! host 3 is reached only through `ProxyJump` via host 1 (a blackhole route in host 3's namespace
//! drops every answer to this machine, so a direct connection cannot work); `check --explain`
//! names the ssh_config lines; `StrictHostKeyChecking no` with a wrong known_hosts file still
//! refuses the host key. Every scenario runs the real `nodeherd` binary with
//! `NODEHERD_SSH_CONFIG`. Needs root: without it, says so and skips.
//!
//! Run: `cargo test --test ssh_config_lab` (as root); a name filter runs only matching scenarios.

use nodeherd_lab::LabConfig;
use std::path::{Path, PathBuf};
use std::process::Output;

#[path = "support/labsuite.rs"]
mod labsuite;

struct Ctx {
    dir: PathBuf,
    ssh_config: PathBuf,
}

fn main() {
    let Some(mut suite) = labsuite::start("ssh_config_lab", |dir| LabConfig {
        name: "nhsshc".into(),
        hosts: 3,
        subnet: 227,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let ctx = setup(&suite);
    let ok = suite.always("host_3_is_unreachable_directly", || cut_host_3(&ctx));
    if ok {
        suite.run("status_through_aliases_and_proxyjump", || {
            status_through_aliases(&ctx);
        });
        suite.run("explain_names_the_ssh_config_lines", || explain(&ctx));
        suite.run("strict_host_key_checking_no_does_not_loosen", || {
            loose_is_still_strict(&ctx);
        });
    }
    suite.finish();
}

/// The ssh_config, the inventories and a known_hosts file with a wrong key for host 2.
fn setup(suite: &labsuite::Suite) -> Ctx {
    let dir = suite.dir.clone();
    let key = suite.report.client_key.display().to_string();
    let kh = suite.report.known_hosts.display().to_string();
    let good = std::fs::read_to_string(&suite.report.known_hosts).expect("lab known_hosts");
    // Host 1's key written for host 2's address: a changed key.
    let line1 = good
        .lines()
        .find(|l| l.starts_with("10.227.0.11 "))
        .expect("host 1 in known_hosts");
    let wrong = dir.join("wrong_known_hosts");
    std::fs::write(
        &wrong,
        format!("{}\n", line1.replacen("10.227.0.11", "10.227.0.12", 1)),
    )
    .expect("write wrong known_hosts");
    let ssh_config = dir.join("ssh_config");
    let text = format!(
        "# written like an operator's ~/.ssh/config for the nhsshc lab\n\
         Host lab-loose\n    HostName 10.227.0.12\n    StrictHostKeyChecking no\n    UserKnownHostsFile {}\n\n\
         Host lab-*\n    UserKnownHostsFile {kh}\n    ConnectTimeout 4\n\n\
         Host lab-one\n    HostName 10.227.0.11\n\n\
         Host lab-two\n    HostName 10.227.0.12\n    Port 22\n\n\
         Host lab-three\n    HostName 10.227.0.13\n    ProxyJump lab-one\n\n\
         Host lab-three-direct\n    HostName 10.227.0.13\n    ProxyJump none\n\n\
         Host *\n    User root\n    IdentityFile {key}\n    ServerAliveInterval 20\n",
        wrong.display()
    );
    std::fs::write(&ssh_config, text).expect("write ssh_config");
    let node = "\n[hosts.{h}.nodes.demo]\nclient = \"generic\"\nunit = \"nodeherd-demo.service\"\n";
    let inv = |hosts: &[&str]| {
        hosts
            .iter()
            .map(|h| format!("[hosts.{h}]\n{}", node.replace("{h}", h)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (file, hosts) in [
        ("aliases.toml", &["lab-one", "lab-two", "lab-three"][..]),
        ("direct.toml", &["lab-three-direct"][..]),
        ("loose.toml", &["lab-loose"][..]),
    ] {
        std::fs::write(dir.join(file), inv(hosts)).expect("write inventory");
    }
    Ctx { dir, ssh_config }
}

fn nodeherd(ctx: &Ctx, inventory: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_nodeherd"))
        .arg("-i")
        .arg(ctx.dir.join(inventory))
        .args(args)
        .env("NODEHERD_SSH_CONFIG", &ctx.ssh_config)
        .env("NODEHERD_STATE_DIR", ctx.dir.join("state"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
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

/// Host 3 drops every packet to this machine (10.227.0.1): only host 1 can talk to it. A
/// direct `status` then fails, and is the proof that a success later went through the jump.
fn cut_host_3(ctx: &Ctx) {
    let st = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            "nhsshc-3",
            "ip",
            "route",
            "add",
            "blackhole",
            "10.227.0.1/32",
        ])
        .status()
        .expect("ip");
    assert!(st.success(), "ip route add blackhole in nhsshc-3");
    let o = nodeherd(ctx, "direct.toml", &["status", "all"]);
    let out = text(&o);
    assert!(!o.status.success(), "direct status must fail: {out}");
    assert!(
        !out.contains("host key"),
        "fails on reachability, not keys: {out}"
    );
}

fn status_through_aliases(ctx: &Ctx) {
    let o = nodeherd(ctx, "aliases.toml", &["status", "all", "--json"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    let s = v.to_string();
    for h in ["lab-one", "lab-two", "lab-three"] {
        assert!(s.contains(&format!("\"{h}\"")), "{h} missing: {out}");
    }
    assert_eq!(s.matches("\"active\"").count(), 3, "{out}");
}

fn explain(ctx: &Ctx) {
    let cfg = ctx.ssh_config.display().to_string();
    let o = nodeherd(ctx, "aliases.toml", &["check", "--explain", "lab-three"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let line = |s: &str| {
        let text = std::fs::read_to_string(&ctx.ssh_config).expect("ssh_config");
        text.lines().position(|l| l.trim() == s).expect("line") + 1
    };
    let want = [
        (
            "address",
            format!(
                "10.227.0.13  (ssh_config {cfg}:{})",
                line("HostName 10.227.0.13")
            ),
        ),
        (
            "user",
            format!("root  (ssh_config {cfg}:{})", line("User root")),
        ),
        ("port", "22  (default)".to_string()),
        (
            "connect_timeout",
            format!("4s  (ssh_config {cfg}:{})", line("ConnectTimeout 4")),
        ),
        (
            "keepalive_interval",
            format!("20s  (ssh_config {cfg}:{})", line("ServerAliveInterval 20")),
        ),
    ];
    for (setting, tail) in want {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(setting) && l.ends_with(&tail)),
            "{setting}: want ...{tail} in\n{out}"
        );
    }
    assert!(
        out.contains("jump_chain") && out.contains("root@10.227.0.11:22"),
        "{out}"
    );
    let o = nodeherd(
        ctx,
        "aliases.toml",
        &["check", "--explain", "lab-two", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("explain json");
    let port = v["settings"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["setting"] == "port"))
        .expect("port setting");
    assert_eq!(port["source"], "ssh_config");
    assert_eq!(port["place"], format!("{cfg}:{}", line("Port 22")));
    assert_eq!(v["jump_chain"].as_array().map(Vec::len), Some(0));
}

fn loose_is_still_strict(ctx: &Ctx) {
    let o = nodeherd(ctx, "loose.toml", &["check", "--explain", "lab-loose"]);
    let out = text(&o);
    assert!(
        out.contains("StrictHostKeyChecking no is not applied"),
        "{out}"
    );
    assert!(
        out.contains("host_key_policy") && out.contains("strict"),
        "{out}"
    );
    let o = nodeherd(ctx, "loose.toml", &["status", "all", "--json"]);
    let out = text(&o);
    assert!(!o.status.success(), "a wrong key must be refused: {out}");
    assert!(out.contains("HOST KEY CHANGED"), "{out}");
    let wrong = Path::new(&ctx.dir).join("wrong_known_hosts");
    assert!(
        out.contains(&wrong.display().to_string()),
        "the refusal names the known_hosts file: {out}"
    );
}
