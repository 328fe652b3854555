//! Tearing one lab host down: the nspawn process, its cgroups, mounts, namespace and state.
//!
//! Owns: [`destroy`] and [`remove_cgroup_waiting`] (with reaping, liveness and cgroup helpers).
//! May not touch: the bridge or the shared caches, other hosts.

use super::{Duration, HostSpec, Instant, LabError, Path, running_pid, sys};

/// Collects the exit status if `pid` is our own child (harmless otherwise).
pub(super) fn reap(pid: u32) {
    if let Ok(p) = libc::pid_t::try_from(pid) {
        if p > 0 {
            let mut status = 0;
            // SAFETY: waitpid with WNOHANG on a positive pid; ECHILD if it is not our child.
            unsafe {
                libc::waitpid(p, &raw mut status, libc::WNOHANG);
            }
        }
    }
}

pub(super) fn alive(pid: u32) -> bool {
    reap(pid);
    sys::running(pid)
}

/// PIDs in a cgroup directory and all its descendants.
pub(super) fn cgroup_pids(dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        pids.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                pids.extend(cgroup_pids(&e.path()));
            }
        }
    }
    pids
}

/// Removes a cgroup directory tree, deepest first.
fn rmdir_cgroup(dir: &Path) -> std::io::Result<()> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_cgroup(&e.path())?;
            }
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Removes a cgroup tree, waiting up to 15 s for zombies in it to be reaped (EBUSY until then).
pub fn remove_cgroup_waiting(cg: &Path) -> Result<(), LabError> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match rmdir_cgroup(cg) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(LabError::io("removing cgroup", cg, e)),
        }
    }
}

/// Stops the host (if running) and removes everything it owns except its identity (`keys/`)
/// and its console log. Works on partial states.
pub fn destroy(spec: &HostSpec) -> Result<(), LabError> {
    let mut pids = sys::find_nspawn(&spec.name);
    if let Some(p) = running_pid(&spec.pid_file(), &spec.name) {
        if !pids.contains(&p) {
            pids.push(p);
        }
    }
    for &p in &pids {
        sys::kill(p, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Anything left in the host's cgroups (a hung nspawn or payload) is killed.
    // Zombies stay listed in cgroup.procs until PID 1 reaps them (slowly on some machines):
    // they are dead already and do not count.
    let leftover = || {
        spec.cgroups
            .iter()
            .any(|cg| cgroup_pids(cg).into_iter().any(sys::running))
    };
    if pids.iter().any(|&p| alive(p)) || leftover() {
        eprintln!(
            "nodeherd lab: {} did not stop within 10 s, killing its cgroup",
            spec.name
        );
        for cg in &spec.cgroups {
            let kill_file = cg.join("cgroup.kill");
            if kill_file.exists() {
                let _ = std::fs::write(&kill_file, "1");
            }
            for p in cgroup_pids(cg) {
                sys::kill(p, libc::SIGKILL);
            }
        }
        for &p in &pids {
            sys::kill(p, libc::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while (pids.iter().any(|&p| alive(p)) || leftover()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    sys::unmount_below(&spec.paths.root)?;
    if Path::new("/run/netns").join(&spec.name).exists() {
        sys::run("ip", ["netns", "del", spec.name.as_str()])?;
    }
    // Deleting the namespace destroys the veth pair asynchronously.
    sys::delete_link(&spec.veth)?;
    for cg in &spec.cgroups {
        remove_cgroup_waiting(cg)?;
    }
    let propagate = Path::new("/run/systemd/nspawn/propagate").join(&spec.name);
    sys::unmount_below(&propagate)?;
    match std::fs::remove_dir_all(&propagate) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(LabError::io("removing", &propagate, e));
        }
        _ => {}
    }
    sys::remove_tree(&spec.paths.upper)?;
    sys::remove_tree(&spec.paths.work)?;
    if spec.paths.root.exists() {
        let _ = std::fs::remove_dir(&spec.paths.root);
    }
    let _ = std::fs::remove_file(spec.pid_file());
    Ok(())
}
