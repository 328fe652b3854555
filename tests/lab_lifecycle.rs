//! Root-gated: a real 2-host lab comes up, answers SSH with strict host keys, keeps its host
//! identities across down/up, survives a crashed nspawn, and `down` leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use nodeherd_lab::{self as lab, LabConfig, naming};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn cfg() -> LabConfig {
    LabConfig {
        name: "nhlab-t".into(),
        hosts: 2,
        subnet: 215,
        lodestar: false,
        ..LabConfig::default()
    }
}

fn ssh(cfg: &LabConfig, user: &str, address: &str, command: &str) -> (bool, String, String) {
    let out = Command::new("ssh")
        .arg("-i")
        .arg(naming::client_key(&cfg.state_dir))
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            naming::known_hosts_path(cfg).display()
        ))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=10",
        ])
        .arg(format!("{user}@{address}"))
        .arg(command)
        .output();
    match out {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        Err(e) => (false, String::new(), format!("cannot run ssh: {e}")),
    }
}

/// Everything of the lab still present on the machine, described.
fn leftovers(cfg: &LabConfig) -> Vec<String> {
    let mut left = Vec::new();
    let mine = |n: &str| naming::host_index(&cfg.name, n).is_some();
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if mine(&n) {
                left.push(format!("netns {n}"));
            }
        }
    }
    if Path::new("/sys/class/net")
        .join(naming::bridge_name(&cfg.name))
        .exists()
    {
        left.push("bridge".into());
    }
    for i in 1..=cfg.hosts {
        if Path::new("/sys/class/net")
            .join(naming::veth_name(&cfg.name, i))
            .exists()
        {
            left.push(format!("veth of host {i}"));
        }
    }
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let raw = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if args.first().is_some_and(|a| a.ends_with("systemd-nspawn"))
                && args
                    .iter()
                    .any(|a| a.strip_prefix("--machine=").is_some_and(&mine))
            {
                left.push(format!("nspawn process {:?}", e.file_name()));
            }
        }
    }
    let hosts_dir = cfg.state_dir.join("hosts");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mountinfo.lines() {
        if let Some(mp) = line.split(' ').nth(4) {
            let mp = PathBuf::from(mp);
            if let Ok(rel) = mp.strip_prefix(&hosts_dir) {
                let first = rel
                    .components()
                    .next()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned());
                if first.as_deref().is_some_and(mine) {
                    left.push(format!("mount {}", mp.display()));
                }
            }
        }
    }
    for root in ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"] {
        let p = Path::new(root).join(naming::cgroup_parent(&cfg.name));
        if p.exists() {
            left.push(format!("cgroup {}", p.display()));
        }
    }
    for i in 1..=cfg.hosts {
        let p = Path::new("/run/systemd/nspawn/propagate").join(naming::host_name(&cfg.name, i));
        if p.exists() {
            left.push(format!("{}", p.display()));
        }
    }
    left
}

fn known_hosts_lines(cfg: &LabConfig) -> Vec<String> {
    std::fs::read_to_string(naming::known_hosts_path(cfg))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn lab_up_ssh_down_leaves_nothing() {
    if !is_root() {
        eprintln!(
            "skipped lab_up_ssh_down_leaves_nothing: needs root (network namespaces, mounts)"
        );
        return;
    }
    let cfg = cfg();
    // A previous failed run must not poison this one.
    if let Err(e) = lab::down(&cfg) {
        panic!("initial cleanup failed: {e}");
    }

    let report = match lab::up(&cfg) {
        Ok(r) => r,
        Err(e) => {
            let _ = lab::down(&cfg);
            panic!("lab up failed: {e}");
        }
    };
    let result = std::panic::catch_unwind(|| {
        assert_eq!(report.hosts.len(), 2);
        assert!(report.hosts.iter().all(|h| h.started));
        let inventory = std::fs::read_to_string(&report.inventory).unwrap_or_default();
        assert!(inventory.contains("[hosts.nhlab-t-2]"), "{inventory}");
        let kh = known_hosts_lines(&cfg);
        assert_eq!(kh.len(), 2, "{kh:?}");
        assert!(kh[0].starts_with("10.215.0.11 ssh-ed25519 "), "{kh:?}");
        assert_ne!(
            kh[0].split(' ').nth(2),
            kh[1].split(' ').nth(2),
            "hosts share a key"
        );

        for h in &report.hosts {
            let (ok, out, err) = ssh(
                &cfg,
                "root",
                &h.address,
                "hostname; systemctl is-system-running; systemctl is-active nodeherd-demo.service",
            );
            assert!(ok, "ssh root@{} failed: {err}", h.address);
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines, vec![h.name.as_str(), "running", "active"], "{out}");
            let (ok, out, err) = ssh(&cfg, "ops", &h.address, "sudo -n id -u");
            assert!(ok, "ssh ops@{} failed: {err}", h.address);
            assert_eq!(out.trim(), "0");
        }
        // No route out of the lab.
        let (_, out, _) = ssh(&cfg, "root", "10.215.0.11", "ip route");
        assert!(!out.contains("default"), "{out}");

        // Idempotent: a second up leaves running hosts alone.
        let again = lab::up(&cfg).map_err(|e| e.to_string());
        assert!(
            again
                .as_ref()
                .is_ok_and(|r| r.hosts.iter().all(|h| !h.started)),
            "{again:?}"
        );

        let st = lab::status(&cfg).map_err(|e| e.to_string());
        assert!(
            st.as_ref()
                .is_ok_and(|s| s.len() == 2 && s.iter().all(|h| h.running && h.ssh_open)),
            "{st:?}"
        );
        kh
    });

    // Simulate a crash: the nspawn of host 2 is killed hard; down must still clean up.
    let pid2 =
        std::fs::read_to_string(naming::lab_dir(&cfg).join("nhlab-t-2.pid")).unwrap_or_default();
    if let Ok(p) = pid2.trim().parse::<i32>() {
        if p > 0 {
            // SAFETY: signalling a positive pid we started.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
    }
    let down = lab::down(&cfg);
    let left = leftovers(&cfg);
    let kh_before = match result {
        Ok(kh) => kh,
        Err(p) => std::panic::resume_unwind(p),
    };
    if let Err(e) = down {
        panic!("lab down failed: {e}");
    }
    assert!(left.is_empty(), "left behind after down: {left:?}");

    // Identities survive down/up.
    let one = LabConfig {
        hosts: 1,
        ..cfg.clone()
    };
    let r = lab::up(&one);
    let kh_after = known_hosts_lines(&cfg);
    let (ok, _, err) = ssh(&cfg, "root", "10.215.0.11", "true");
    let down = lab::down(&one);
    if let Err(e) = r {
        panic!("second up failed: {e}");
    }
    assert!(ok, "ssh after re-up failed (stale ARP or key?): {err}");
    assert_eq!(
        kh_after.first(),
        kh_before.first(),
        "host key changed across down/up"
    );
    if let Err(e) = down {
        panic!("second down failed: {e}");
    }
    let left = leftovers(&cfg);
    assert!(left.is_empty(), "left behind after second down: {left:?}");

    // Leftovers of an `up` that died half-way (namespace and cgroups, no process) are found.
    let partial = LabConfig {
        hosts: 3,
        ..cfg.clone()
    };
    let made_ns = Command::new("ip")
        .args(["netns", "add", "nhlab-t-3"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        made_ns,
        "could not create a namespace for the partial-state check"
    );
    for cg in naming::host_cgroups(&partial.name, "nhlab-t-3") {
        if let Err(e) = std::fs::create_dir_all(&cg) {
            panic!("creating {}: {e}", cg.display());
        }
    }
    assert!(!leftovers(&partial).is_empty());
    if let Err(e) = lab::down(&partial) {
        panic!("down after a partial up failed: {e}");
    }
    let left = leftovers(&partial);
    assert!(left.is_empty(), "left behind after a partial up: {left:?}");
}
