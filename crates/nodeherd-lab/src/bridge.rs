//! The lab's bridge and kernel limits: the per-lab bridge `10.{subnet}.0.1/24` (refused when
//! another interface already holds the subnet) and the inotify limits its hosts need.
//!
//! Owns: the bridge named by [`crate::naming::bridge_name`] and the two inotify sysctls (raised,
//! never lowered). May not touch: hosts, namespaces or files of the lab (see `host`).

use crate::{LabConfig, LabError, naming, sys};
use std::path::Path;

/// Raises the inotify limits for `total_hosts` hosts (each uses ~7 instances); never lowers.
pub(crate) fn raise_inotify(total_hosts: usize) -> Result<(), LabError> {
    for (file, want) in [
        (
            "/proc/sys/fs/inotify/max_user_instances",
            256 + 16 * total_hosts as u64,
        ),
        ("/proc/sys/fs/inotify/max_user_watches", 524_288),
    ] {
        let current: u64 = std::fs::read_to_string(file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        if current < want {
            std::fs::write(file, want.to_string()).map_err(|e| LabError::io("raising", file, e))?;
        }
    }
    Ok(())
}

/// Creates the lab's bridge if missing (stable MAC, `10.{subnet}.0.1/24`, up).
pub(crate) fn ensure_bridge(cfg: &LabConfig) -> Result<(), LabError> {
    let br = naming::bridge_name(&cfg.name);
    // Two labs (or a lab and anything else) on one subnet would make both unreachable.
    let out = std::process::Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map_err(|e| LabError::io("running", "ip -o -4 addr show", e))?;
    if let Some(other) = subnet_user(&String::from_utf8_lossy(&out.stdout), cfg.subnet, &br) {
        return Err(LabError::Config(format!(
            "subnet 10.{}.0.0/24 is already used by interface {other}; pick another with --subnet (or `lab down` the lab that owns it)",
            cfg.subnet
        )));
    }
    if !Path::new("/sys/class/net").join(&br).exists() {
        sys::run("ip", ["link", "add", br.as_str(), "type", "bridge"])?;
        sys::run(
            "ip",
            [
                "link",
                "set",
                br.as_str(),
                "address",
                &naming::bridge_mac(cfg.subnet),
            ],
        )?;
    }
    sys::run(
        "ip",
        [
            "addr",
            "replace",
            &naming::bridge_cidr(cfg.subnet),
            "dev",
            br.as_str(),
        ],
    )?;
    sys::run("ip", ["link", "set", br.as_str(), "up"])?;
    Ok(())
}

/// The interface (other than `own`) holding an address in 10.{subnet}.0.0/24, from `ip -o -4 addr show`.
fn subnet_user(ip_addr: &str, subnet: u8, own: &str) -> Option<String> {
    let prefix = format!("10.{subnet}.0.");
    ip_addr.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let ifname = f.nth(1)?.trim_end_matches(':');
        let addr = f.skip_while(|w| *w != "inet").nth(1)?;
        (addr.starts_with(&prefix) && ifname != own).then(|| ifname.to_string())
    })
}

#[cfg(test)]
mod subnet_tests {
    #[test]
    fn subnet_user_finds_other_interfaces_only() {
        let out = "1: lo    inet 127.0.0.1/8 scope host lo\n5: nhupg-br    inet 10.216.0.1/24 scope global nhupg-br\n";
        assert_eq!(
            super::subnet_user(out, 216, "nhlab-l-br").as_deref(),
            Some("nhupg-br")
        );
        assert_eq!(super::subnet_user(out, 216, "nhupg-br"), None);
        assert_eq!(super::subnet_user(out, 213, "x"), None);
    }
}
