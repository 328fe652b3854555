//! A power cut and boot of one running lab host, for fault tests (a host rebooted mid-upgrade).
//!
//! Owns: [`reboot`]. Kills the host's nspawn and every process in its cgroups at once (no
//! shutdown: transient units, `/run` and anything unsynced in memory are lost, as on a power
//! cut), then boots it again from the same overlay root (its persistent files kept) in the same
//! network namespace, and waits until a real SSH login works. May not touch: other hosts, the
//! bridge, the shared caches, the host's identity.

use super::teardown::{alive, cgroup_pids, remove_cgroup_waiting};
use super::{Duration, HostSpec, Instant, LabError, Path, launch, running_pid, sys, wait_ready};
use crate::{LabConfig, naming};

/// What a reboot took.
#[derive(Debug, Clone, Copy)]
pub struct RebootReport {
    /// From the kill until the old nspawn and everything in its cgroups were gone.
    pub down: Duration,
    /// From the new nspawn's start until systemd was `running` and SSH answered.
    pub boot: Duration,
}

/// Power-cuts host `index` of lab `cfg` (which must be running), keeps it off for `off_for`,
/// boots it again from the same root and waits (up to 90 s) until SSH answers.
///
/// # Errors
/// The host is not running, its processes survive `SIGKILL`, or it does not come back.
pub fn reboot(cfg: &LabConfig, index: usize, off_for: Duration) -> Result<RebootReport, LabError> {
    let versions = if cfg.lodestar {
        crate::installed_lodestar(&cfg.state_dir)
    } else {
        Vec::new()
    };
    let spec = HostSpec::new(cfg, index, versions);
    let Some(pid) = running_pid(&spec.pid_file(), &spec.name) else {
        return Err(LabError::Config(format!(
            "cannot reboot {}: it is not running (run `nodeherd lab up --name {}` first)",
            spec.name, cfg.name
        )));
    };
    let cut = Instant::now();
    power_cut(&spec, pid)?;
    let down = cut.elapsed();
    std::thread::sleep(off_for);
    let client_key = naming::client_key(&cfg.state_dir);
    let known_hosts = naming::known_hosts_path(cfg);
    let started = Instant::now();
    let new_pid = launch(&spec)?;
    wait_ready(
        &spec,
        new_pid,
        &client_key,
        &known_hosts,
        Duration::from_secs(90),
    )?;
    Ok(RebootReport {
        down,
        boot: started.elapsed(),
    })
}

/// Kills everything of the host at once, then removes what nspawn leaves outside the host
/// (cgroups, the propagation directory) so that a new nspawn starts clean. The overlay root,
/// the namespace and the veth stay.
fn power_cut(spec: &HostSpec, pid: u32) -> Result<(), LabError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for cg in &spec.cgroups {
            let kill_file = cg.join("cgroup.kill");
            if kill_file.exists() {
                let _ = std::fs::write(&kill_file, "1");
            }
            for p in cgroup_pids(cg) {
                sys::kill(p, libc::SIGKILL);
            }
        }
        sys::kill(pid, libc::SIGKILL);
        let left = spec
            .cgroups
            .iter()
            .any(|cg| cgroup_pids(cg).into_iter().any(sys::running));
        if !alive(pid) && !left {
            break;
        }
        if Instant::now() > deadline {
            return Err(LabError::Config(format!(
                "{}: processes survive SIGKILL after 10 s (see {})",
                spec.name,
                spec.cgroups
                    .first()
                    .map_or_else(String::new, |c| c.display().to_string())
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for cg in &spec.cgroups {
        remove_cgroup_waiting(cg)?;
    }
    let propagate = Path::new("/run/systemd/nspawn/propagate").join(&spec.name);
    sys::unmount_below(&propagate)?;
    match std::fs::remove_dir_all(&propagate) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(LabError::io("removing", &propagate, e))
        }
        _ => Ok(()),
    }
}
