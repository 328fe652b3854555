//! `doctor`: can nodeherd work with each selected host, and if not, what to do about it.
//!
//! Owns: the checks per host (connect with the auth method used and the known_hosts line that
//! matched, `sudo -n` for `become` hosts, systemd version, the programs host-side scripts need,
//! clock offset, each node's declared ports answering on the host's loopback through the SSH
//! session, keymanager token files readable, the nodes' release feeds reachable or cached, see
//! [`feeds`]), each a typed [`Check`] with the fix when it fails; the bounded fan-out over hosts.
//! May not touch: parsing host output (that is `nodeherd_core::facts::doctor`), output formats,
//! exit codes.

use crate::fleet;
use nodeherd_core::facts::doctor::{self as fact, HostProbe};
use nodeherd_core::inventory::{Host, Inventory};
use nodeherd_transport::ssh::{Command, ConnectionInfo, Pool, Session};
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// The oldest systemd whose `systemctl show` properties and `systemd-run` options nodeherd uses.
pub const MIN_SYSTEMD: u32 = 232;
/// A clock further off than this (seconds) fails: journal times and release delays go wrong.
pub const MAX_CLOCK_OFFSET: f64 = 1.0;

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
}

/// One check on one host (or one of its nodes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `connect`, `sudo`, `systemd`, `tools`, `clock`, `port`, `token`.
    pub name: String,
    /// The node this is about, for node checks.
    pub node: Option<String>,
    pub outcome: Outcome,
    /// What was found.
    pub detail: String,
    /// What to do, when it failed.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &str, node: Option<&str>, detail: String) -> Check {
        Check {
            name: name.into(),
            node: node.map(Into::into),
            outcome: Outcome::Pass,
            detail,
            fix: None,
        }
    }
    fn fail(name: &str, node: Option<&str>, detail: String, fix: String) -> Check {
        Check {
            name: name.into(),
            node: node.map(Into::into),
            outcome: Outcome::Fail,
            detail,
            fix: Some(fix),
        }
    }
    pub fn failed(&self) -> bool {
        self.outcome == Outcome::Fail
    }
}

#[path = "doctor_feeds.rs"]
pub mod feeds;
pub use feeds::Feeds;

/// Every check of one host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostReport {
    pub host: String,
    pub address: String,
    pub user: String,
    /// The credential the server accepted (`key file …` or `agent key …`), once connected.
    pub auth: Option<String>,
    /// The known_hosts `file:line` that matched the host key, once connected.
    pub known_hosts: Option<String>,
    pub checks: Vec<Check>,
}

impl HostReport {
    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|c| c.failed()).count()
    }
}

/// Run every check on the hosts `hosts` (indexes into `inv.hosts`), at most `forks` at once;
/// each release feed their nodes follow is read once, from the console, meanwhile.
pub async fn run(
    pool: &Pool,
    inv: &Inventory,
    hosts: &[usize],
    forks: usize,
    feed_env: &Feeds,
) -> Vec<HostReport> {
    let sources: std::collections::BTreeSet<String> = hosts
        .iter()
        .flat_map(|&h| inv.hosts[h].nodes.iter().filter_map(feeds::node_feed))
        .collect();
    let (done, states) = tokio::join!(
        fleet::run_all(hosts.to_vec(), forks, |h| async move {
            check_host(pool, &inv.hosts[h]).await
        }),
        feeds::probe_all(feed_env, sources)
    );
    let mut out: Vec<HostReport> = done
        .into_iter()
        .map(|(h, mut r)| {
            feeds::feed_checks(&mut r.checks, &inv.hosts[h], &states);
            r
        })
        .collect();
    out.sort_by(|a, b| a.host.cmp(&b.host));
    out
}

/// The `connect` check's text: who, where, the host key and the known_hosts line that vouched
/// for it, and the credential accepted (pure).
pub fn connect_detail(user: &str, address: &str, info: Option<&ConnectionInfo>) -> String {
    let Some(i) = info else {
        return format!("{user}@{address} (host key verified)");
    };
    let key = match &i.known_host {
        Some((file, line)) => format!("host key {} matched {}:{line}", i.host_key, file.display()),
        None => format!("host key {} was new and was recorded", i.host_key),
    };
    format!("{user}@{address}; {key}; auth: {}", i.auth)
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The checks of one host.
pub async fn check_host(pool: &Pool, host: &Host) -> HostReport {
    let t = &host.target;
    let mut report = HostReport {
        host: host.name.clone(),
        address: format!("{}:{}", t.address, t.port),
        user: t.user.clone(),
        auth: None,
        known_hosts: None,
        checks: Vec::new(),
    };
    let session = match pool.session(t).await {
        Ok(s) => s,
        Err(e) => {
            report.checks.push(Check::fail(
                "connect",
                None,
                nodeherd_core::text::sanitize(&e.to_string()),
                "check the address and port, that sshd runs, that the host key is in a known_hosts file \
                 (ssh-keyscan -H HOST >> ~/.ssh/known_hosts after checking its fingerprint) and that \
                 the user's key is in its authorized_keys"
                    .into(),
            ));
            return report;
        }
    };
    let info = session.connection_info();
    if let Some(i) = &info {
        report.auth = Some(i.auth.clone());
        report.known_hosts = i
            .known_host
            .as_ref()
            .map(|(f, l)| format!("{}:{l}", f.display()));
    }
    report.checks.push(Check::pass(
        "connect",
        None,
        connect_detail(&t.user, &report.address, info.as_ref()),
    ));
    // Probe as root only when sudo works: a failed `sudo -n` is reported once, by its own
    // check, and the other checks still run as the login user.
    let mut as_root = t.become_root;
    if t.become_root {
        let sudo = sudo_check(&session, &t.user).await;
        as_root = !sudo.failed();
        report.checks.push(sudo);
    }
    let files: Vec<String> = host
        .nodes
        .iter()
        .filter_map(|n| n.keymanager_token_file.as_ref())
        .map(|p| p.display().to_string())
        .collect();
    let script = fact::probe_script(fact::HOST_TOOLS, &files);
    let before = now_secs();
    let probe = session
        .exec(
            &Command::new("sh")
                .arg("-c")
                .arg(&script)
                .become_root(as_root),
        )
        .await;
    let after = now_secs();
    match probe {
        Ok(out) if out.success() => {
            let p = fact::parse_probe(&out.stdout_str());
            probe_checks(&mut report.checks, &p, before, after);
            token_checks(&mut report.checks, host, &p);
        }
        Ok(out) => report.checks.push(Check::fail(
            "probe",
            None,
            format!(
                "the probe script exited {}: {}",
                out.exit_status.map_or_else(|| "?".into(), |s| s.to_string()),
                nodeherd_core::text::sanitize(String::from_utf8_lossy(&out.stderr).trim())
            ),
            "run `sh -c 'systemctl --version'` on the host as the inventory user and fix what it says".into(),
        )),
        Err(e) => report.checks.push(Check::fail(
            "probe",
            None,
            nodeherd_core::text::sanitize(&e.to_string()),
            "the connection broke: run doctor again; if it persists check sshd's MaxSessions".into(),
        )),
    }
    port_checks(&mut report.checks, &session, host).await;
    report
}

async fn sudo_check(session: &Session, user: &str) -> Check {
    let cmd = Command::new("sudo")
        .arg("-n")
        .arg("true")
        .become_root(false);
    match session.exec(&cmd).await {
        Ok(o) if o.success() => Check::pass("sudo", None, "sudo -n true works".into()),
        Ok(o) => Check::fail(
            "sudo",
            None,
            format!(
                "`sudo -n true` exited {}: {}",
                o.exit_status.map_or_else(|| "?".into(), |s| s.to_string()),
                nodeherd_core::text::sanitize(String::from_utf8_lossy(&o.stderr).trim())
            ),
            format!(
                "the host has become = true: give {user} password-less sudo (e.g. `{user} ALL=(ALL) NOPASSWD:ALL` in /etc/sudoers.d/), or connect as root without become"
            ),
        ),
        Err(e) => Check::fail(
            "sudo",
            None,
            nodeherd_core::text::sanitize(&e.to_string()),
            "the connection broke while running sudo: run doctor again".into(),
        ),
    }
}

/// The decisions on the probe's findings (pure).
pub fn probe_checks(checks: &mut Vec<Check>, p: &HostProbe, before: f64, after: f64) {
    checks.push(match p.systemd_version {
        Some(v) if v >= MIN_SYSTEMD => Check::pass("systemd", None, format!("systemd {v}")),
        Some(v) => Check::fail(
            "systemd",
            None,
            format!("systemd {v} is older than {MIN_SYSTEMD}"),
            format!("upgrade the host's OS to one with systemd {MIN_SYSTEMD} or newer"),
        ),
        None => Check::fail(
            "systemd",
            None,
            "`systemctl --version` printed nothing: no systemd found".into(),
            "nodeherd manages nodes as systemd units: run them on a host booted with systemd"
                .into(),
        ),
    });
    checks.push(if p.missing_tools.is_empty() {
        Check::pass(
            "tools",
            None,
            format!("all {} host programs found", fact::HOST_TOOLS.len()),
        )
    } else {
        Check::fail(
            "tools",
            None,
            format!("missing: {}", p.missing_tools.join(", ")),
            format!(
                "install them (on Debian: util-linux has flock, coreutils has sha256sum/readlink, tar, systemd has systemd-run): apt-get install {}",
                debian_packages(&p.missing_tools).join(" ")
            ),
        )
    });
    checks.push(match p.clock {
        Some(h) => {
            let off = fact::clock_offset(before, h, after);
            if off.abs() > MAX_CLOCK_OFFSET {
                Check::fail(
                    "clock",
                    None,
                    format!("host clock is {off:+.2} s off the console's"),
                    "run time synchronisation on the host (systemd-timesyncd or chrony) and on the console".into(),
                )
            } else {
                Check::pass("clock", None, format!("offset {off:+.3} s"))
            }
        }
        None => Check::fail(
            "clock",
            None,
            "`date +%s.%N` gave no time".into(),
            "install GNU coreutils' date on the host".into(),
        ),
    });
}

fn debian_packages(tools: &[String]) -> Vec<&'static str> {
    let mut pk: Vec<&'static str> = tools
        .iter()
        .map(|t| match t.as_str() {
            "flock" => "util-linux",
            "tar" => "tar",
            "find" => "findutils",
            "systemctl" | "journalctl" | "systemd-run" | "systemd-cat" => "systemd",
            _ => "coreutils",
        })
        .collect();
    pk.sort_unstable();
    pk.dedup();
    pk
}

fn token_checks(checks: &mut Vec<Check>, host: &Host, p: &HostProbe) {
    for node in &host.nodes {
        let Some(path) = &node.keymanager_token_file else {
            continue;
        };
        let path = path.display().to_string();
        let readable = p.files.iter().find(|(f, _)| *f == path).map(|(_, r)| *r);
        checks.push(if readable == Some(true) {
            Check::pass("token", Some(&node.name), format!("{path} readable"))
        } else {
            Check::fail(
                "token",
                Some(&node.name),
                format!("keymanager token file {path} is not readable by the login user"),
                format!("check keymanager_token_file in the inventory, that the validator client wrote it (keymanager enabled), and that {} may read it (or set become = true)", host.target.user),
            )
        });
    }
}

/// The ports a node declares, with what each is for.
pub fn declared_ports(node: &nodeherd_core::inventory::Node) -> Vec<(&'static str, u16)> {
    [
        ("rest_port", node.rest_port),
        ("metrics_port", node.metrics_port),
        ("keymanager_port", node.keymanager_port),
        ("rpc_port", node.rpc_port),
    ]
    .into_iter()
    .filter_map(|(k, p)| p.map(|p| (k, p)))
    .collect()
}

async fn port_checks(checks: &mut Vec<Check>, session: &Session, host: &Host) {
    for node in &host.nodes {
        for (what, port) in declared_ports(node) {
            checks.push(match session.forward(port).await {
                Ok(stream) => {
                    drop(stream);
                    Check::pass("port", Some(&node.name), format!("{what} {port} answers on 127.0.0.1"))
                }
                Err(e) => Check::fail(
                    "port",
                    Some(&node.name),
                    format!(
                        "{what} {port}: nothing answers on the host's 127.0.0.1 ({})",
                        nodeherd_core::text::sanitize(&e.to_string())
                    ),
                    format!(
                        "start the node (`nodeherd start {}/{}`) or fix {what} in the inventory to the port its client listens on (`ss -ltn` on the host)",
                        host.name, node.name
                    ),
                ),
            });
        }
    }
}

#[cfg(test)]
#[path = "doctor_tests.rs"]
mod tests;
