//! Waiting for a booted lab host: its SSH port, then a real login that runs a command.
//!
//! Owns: the strict `ssh` arguments the lab uses, running a command with a time limit, and
//! [`wait_ready`]. May not touch: building or tearing down the host (the parent module and
//! `teardown`).

use super::teardown::reap;
use super::{
    Command, Duration, HostSpec, Instant, LabError, OsString, Path, SocketAddr, Stdio, TcpStream,
    sys, tail,
};

/// Whether TCP port 22 of `address` accepts a connection now.
pub fn ssh_port_open(address: &str, timeout: Duration) -> bool {
    address
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| TcpStream::connect_timeout(&SocketAddr::new(ip, 22), timeout).is_ok())
}

/// OpenSSH client arguments for a lab host (strict host keys against the lab's known_hosts).
pub fn ssh_args(key: &Path, known_hosts: &Path, user: &str, address: &str) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["-i".into(), key.into()];
    for o in [
        "BatchMode=yes".to_string(),
        "StrictHostKeyChecking=yes".to_string(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        "GlobalKnownHostsFile=/dev/null".to_string(),
        "ConnectTimeout=10".to_string(),
        "LogLevel=ERROR".to_string(),
        "IdentitiesOnly=yes".to_string(),
    ] {
        a.push("-o".into());
        a.push(o.into());
    }
    a.push(format!("{user}@{address}").into());
    a
}

/// Runs a command with a time limit; returns (success, stdout, stderr).
fn run_timeout(cmd: &mut Command, limit: Duration) -> Result<(bool, String, String), LabError> {
    let shown = sys::show(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LabError::Spawn {
            command: shown.clone(),
            source,
        })?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok((false, String::new(), format!("timed out after {limit:?}")));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                return Err(LabError::Spawn {
                    command: shown,
                    source: e,
                });
            }
        }
    }
    let out = child.wait_with_output().map_err(|source| LabError::Spawn {
        command: shown,
        source,
    })?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Waits until the host answers on port 22 and systemd reports `running`.
pub fn wait_ready(
    spec: &HostSpec,
    pid: u32,
    client_key: &Path,
    known_hosts: &Path,
    limit: Duration,
) -> Result<(), LabError> {
    let start = Instant::now();
    let not_ready = |reason: String| LabError::NotReady {
        host: spec.name.clone(),
        reason,
        log: spec.paths.log.clone(),
    };
    loop {
        if ssh_port_open(&spec.address, Duration::from_millis(300)) {
            break;
        }
        reap(pid);
        if !sys::running(pid) {
            return Err(not_ready(format!(
                "systemd-nspawn exited; last console lines:\n{}",
                tail(&spec.paths.log, 15)
            )));
        }
        if start.elapsed() > limit {
            return Err(not_ready(format!("port 22 not open after {limit:?}")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let remaining = limit
        .saturating_sub(start.elapsed())
        .max(Duration::from_secs(15));
    let mut cmd = Command::new("ssh");
    cmd.args(ssh_args(client_key, known_hosts, "root", &spec.address))
        .arg("systemctl is-system-running --wait; systemctl --failed --no-legend --plain");
    let (_, out, err) = run_timeout(&mut cmd, remaining)?;
    let mut lines = out.lines();
    let state = lines.next().unwrap_or("").trim().to_string();
    if state == "running" {
        return Ok(());
    }
    let failed: Vec<&str> = lines.collect();
    Err(not_ready(format!(
        "systemd state {state:?} (failed units: {}) {}",
        if failed.is_empty() {
            "none".to_string()
        } else {
            failed.join("; ")
        },
        err.trim()
    )))
}
