//! Root-gated: a 1-host lab with Lodestar: the beacon node answers with the expected version,
//! its head advances, and the validator client's keymanager accepts the token at the path the
//! inventory names. Installs Lodestar on first use (~6 min), then uses the cache.

use std::process::Command;
use std::time::{Duration, Instant};

use nodeherd_lab::{self as lab, LabConfig, naming};

fn ssh(cfg: &LabConfig, address: &str, command: &str) -> String {
    let out = Command::new("ssh")
        .arg("-i")
        .arg(naming::client_key(&cfg.state_dir))
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            naming::known_hosts_path(cfg).display()
        ))
        .args(["-o", "ConnectTimeout=10"])
        .arg(format!("root@{address}"))
        .arg(command)
        .output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => format!("cannot run ssh: {e}"),
    }
}

fn head_slot(cfg: &LabConfig, address: &str) -> Option<u64> {
    let metrics = ssh(cfg, address, "curl -s 127.0.0.1:8008/metrics");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("beacon_head_slot "))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn lodestar_beacon_node_and_validator_run_in_the_lab() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped lodestar_beacon_node_and_validator_run_in_the_lab: needs root");
        return;
    }
    let cfg = LabConfig {
        name: "nhlab-l".into(),
        hosts: 1,
        subnet: 221,
        lodestar: true,
        lodestar_hosts: 1,
        ..LabConfig::default()
    };
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
        let inv = std::fs::read_to_string(&report.inventory).unwrap_or_default();
        let inv: toml::Table = match toml::from_str(&inv) {
            Ok(t) => t,
            Err(e) => panic!("inventory is not TOML: {e}"),
        };
        let vc = &inv["hosts"]["nhlab-l-1"]["nodes"]["lodestar-vc"];
        let token_file = vc["keymanager_token_file"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let addr_owned = nodeherd_lab::naming::host_address(cfg.subnet, 1);
        let addr = addr_owned.as_str();

        // Healthy and advancing within a minute (6 s slots).
        let start = Instant::now();
        let mut first = None;
        let mut advanced = false;
        while start.elapsed() < Duration::from_secs(90) {
            if let Some(slot) = head_slot(&cfg, addr) {
                match first {
                    None => first = Some(slot),
                    Some(f) if slot > f => {
                        advanced = true;
                        break;
                    }
                    _ => {}
                }
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        eprintln!(
            "lodestar: first head slot {first:?}, advanced after {:?}",
            start.elapsed()
        );
        assert!(advanced, "head slot did not advance (first {first:?})");

        let version = ssh(&cfg, addr, "curl -s 127.0.0.1:9596/eth/v1/node/version");
        assert!(version.contains("Lodestar/v1.5.1/"), "{version}");
        let current = ssh(&cfg, addr, "readlink /opt/nodeherd/lodestar-bn/current");
        assert_eq!(current.trim(), "releases/1.5.1");

        let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let codes = ssh(
            &cfg,
            addr,
            &format!(
                "curl -s -o /dev/null -w '%{{http_code}} ' 127.0.0.1:5062/eth/v1/keystores; \
                 curl -s -o /dev/null -w '%{{http_code}}' -H \"Authorization: Bearer $(cat {})\" 127.0.0.1:5062/eth/v1/keystores",
                q(&token_file)
            ),
        );
        assert_eq!(
            codes.trim(),
            "401 200",
            "keymanager answers without/with token {token_file}"
        );
    });
    let down = lab::down(&cfg);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
    if let Err(e) = down {
        panic!("lab down failed: {e}");
    }
}
