//! A local practice fleet: N real hosts (systemd as PID 1 via `systemd-nspawn --boot`, a real
//! OpenSSH server, own host keys) in their own network namespaces on a private bridge, plus an
//! inventory for them. Optionally real Ethereum clients on the first hosts: Lodestar (beacon node
//! and validator client) and EthereumJS (an execution client, see [`ethereumjs`]).
//!
//! Owns: everything under `state_dir` (default `/var/lib/nodeherd/lab`), the lab's bridge,
//! namespaces, veths, cgroups and nspawn processes, and the inventory file it writes.
//! It may not touch anything of another lab (all names derive from the lab name, see
//! [`naming`]) except the read-only caches (base root, Lodestar and EthereumJS installs, client
//! key).
//! Linux and root only. The recipe is docs/lab.md.

pub mod base;
mod bridge;
pub mod error;
pub mod ethereumjs;
pub mod feed;
pub mod host;
pub mod inventory;
pub mod lodestar;
pub mod naming;
pub mod sys;
pub mod units;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bridge::{ensure_bridge, raise_inotify};
pub use error::LabError;
use host::HostSpec;

/// Name of the default lab (its inventory goes to `inventory/lab.toml`).
pub const DEFAULT_NAME: &str = "nhlab";
/// Default state directory (caches and per-lab state).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/nodeherd/lab";

/// What lab to build and where.
#[derive(Debug, Clone, PartialEq)]
pub struct LabConfig {
    /// Lab name; prefixes every host, interface and cgroup name (1-9 chars, a-z0-9-).
    pub name: String,
    /// Number of hosts wanted by `up`.
    pub hosts: usize,
    /// Second octet: 213 gives 10.213.0.0/24.
    pub subnet: u8,
    pub state_dir: PathBuf,
    /// Install Lodestar and run it on the first `lodestar_hosts` hosts.
    pub lodestar: bool,
    pub lodestar_hosts: usize,
    /// Where to write the inventory (else see [`naming::inventory_path`]).
    pub inventory_out: Option<PathBuf>,
    /// Also run a second, keyless validator client `lodestar-vc2` on host 1 (same beacon node,
    /// keymanager 5063, metrics 5065): a target for moving keys between two nodes.
    pub extra_vc: bool,
    /// Install EthereumJS (every version of [`ethereumjs::VERSIONS`]) into the caches.
    pub ethereumjs: bool,
    /// Run EthereumJS in the nodeherd layout on the first `ethereumjs_hosts` hosts (implies the
    /// install).
    pub ethereumjs_hosts: usize,
    /// Serve a release feed of the cached Lodestar versions from host 1 and name it in the
    /// inventory (see [`feed`]); needs `lodestar`. On for the CLI's lab.
    pub feed: bool,
}

impl LabConfig {
    /// Whether `prepare` installs EthereumJS.
    pub fn wants_ethereumjs(&self) -> bool {
        self.ethereumjs || self.ethereumjs_hosts > 0
    }
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            name: DEFAULT_NAME.into(),
            hosts: 3,
            subnet: 213,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            lodestar: true,
            lodestar_hosts: 1,
            inventory_out: None,
            extra_vc: false,
            ethereumjs: false,
            ethereumjs_hosts: 0,
            feed: false,
        }
    }
}

/// One host after `up`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostReport {
    pub name: String,
    pub address: String,
    /// False when it was already running and left alone.
    pub started: bool,
    pub lodestar: bool,
    /// Runs `lodestar-vc2` too.
    pub extra_vc: bool,
    /// Runs `ethereumjs-el`.
    pub ethereumjs: bool,
}

/// What `up` did.
#[derive(Debug, Clone)]
pub struct LabReport {
    pub hosts: Vec<HostReport>,
    pub inventory: PathBuf,
    pub known_hosts: PathBuf,
    pub client_key: PathBuf,
    pub elapsed: Duration,
}

/// One host as seen by `status`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostStatus {
    pub name: String,
    pub address: String,
    pub running: bool,
    pub ssh_open: bool,
    pub pid: Option<u32>,
}

fn check_root() -> Result<(), LabError> {
    if !cfg!(target_os = "linux") {
        return Err(LabError::NotLinux);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LabError::NotRoot);
    }
    Ok(())
}

/// Installs debootstrap/systemd-nspawn if missing; checks the other programs.
fn ensure_programs(cfg: &LabConfig) -> Result<(), LabError> {
    if !sys::have_program("debootstrap") || !sys::have_program("systemd-nspawn") {
        eprintln!(
            "nodeherd lab: installing the lab's prerequisites: apt-get install -y debootstrap systemd-container"
        );
        let mut cmd = std::process::Command::new("apt-get");
        cmd.args(["install", "-y", "debootstrap", "systemd-container"])
            .env("DEBIAN_FRONTEND", "noninteractive");
        sys::run_cmd(&mut cmd)?;
    }
    let mut needed = vec![
        ("ip", "install iproute2"),
        ("ssh", "install openssh-client"),
        ("ssh-keygen", "install openssh-client"),
        ("mount", "install mount"),
        ("chroot", "install coreutils"),
        ("debootstrap", "apt-get install debootstrap"),
        ("systemd-nspawn", "apt-get install systemd-container"),
    ];
    if cfg.lodestar || cfg.wants_ethereumjs() {
        needed.push(("node", "install Node.js 20 (nodejs)"));
        needed.push(("npm", "install npm"));
    }
    for (program, hint) in needed {
        if !sys::have_program(program) {
            return Err(LabError::MissingProgram {
                program: program.into(),
                hint: hint.into(),
            });
        }
    }
    Ok(())
}

/// Checks root and prerequisites and builds the caches (base root, client key, Lodestar
/// installs when `cfg.lodestar`, EthereumJS installs when [`LabConfig::wants_ethereumjs`]),
/// each only once. Safe to call concurrently (one lock on the state directory).
pub fn prepare(cfg: &LabConfig) -> Result<(), LabError> {
    naming::validate(cfg)?;
    check_root()?;
    ensure_programs(cfg)?;
    sys::mkdir_p(&cfg.state_dir)?;
    let _lock = sys::lock(&cfg.state_dir.join(".lock"))?;
    base::ensure_base(&cfg.state_dir)?;
    base::ensure_client_key(&cfg.state_dir)?;
    if cfg.lodestar {
        for v in units::LODESTAR_VERSIONS {
            lodestar::ensure(&cfg.state_dir, v)?;
        }
    }
    if cfg.wants_ethereumjs() {
        for v in ethereumjs::VERSIONS {
            ethereumjs::ensure(&cfg.state_dir, v)?;
        }
    }
    if cfg.feed && cfg.lodestar {
        feed::ensure_artifacts(&cfg.state_dir)?;
    }
    Ok(())
}

/// Lodestar versions installed and complete on the machine.
fn installed_lodestar(state_dir: &Path) -> Vec<String> {
    units::LODESTAR_VERSIONS
        .iter()
        .filter(|v| lodestar::is_ready(&naming::lodestar_dist(state_dir, v)))
        .map(std::string::ToString::to_string)
        .collect()
}

/// Numbers of this lab's hosts that exist in any form (state files, processes, namespaces,
/// cgroups, mounts), so `down` finds partial states.
fn existing_hosts(cfg: &LabConfig) -> BTreeSet<usize> {
    let mut found = BTreeSet::new();
    let mut scan = |dir: &Path, strip: &str| {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                let n = n.strip_suffix(strip).unwrap_or(&n).to_string();
                if let Some(i) = naming::host_index(&cfg.name, &n) {
                    found.insert(i);
                }
            }
        }
    };
    scan(&naming::lab_dir(cfg), ".pid");
    scan(Path::new("/run/netns"), "");
    for root in naming::CGROUP_ROOTS {
        scan(&Path::new(root).join(naming::cgroup_parent(&cfg.name)), "");
    }
    scan(Path::new("/run/systemd/nspawn/propagate"), "");
    // Hosts whose overlay is still mounted.
    let hosts_dir = cfg.state_dir.join("hosts");
    for m in sys::mounts_below(&hosts_dir) {
        if let Ok(rel) = m.strip_prefix(&hosts_dir) {
            if let Some(first) = rel.components().next() {
                if let Some(i) = naming::host_index(&cfg.name, &first.as_os_str().to_string_lossy())
                {
                    found.insert(i);
                }
            }
        }
    }
    // Running nspawns (e.g. after the state dir was lost).
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(args) = sys::cmdline(pid) {
                if args.first().is_some_and(|a| a.ends_with("systemd-nspawn")) {
                    for a in &args {
                        if let Some(m) = a.strip_prefix("--machine=") {
                            if let Some(i) = naming::host_index(&cfg.name, m) {
                                found.insert(i);
                            }
                        }
                    }
                }
            }
        }
    }
    found
}

fn read_pub(path: &Path) -> Result<String, LabError> {
    std::fs::read_to_string(path).map_err(|e| LabError::io("reading", path, e))
}

/// Brings the lab up: `prepare`, then hosts 1..=`cfg.hosts` (running ones are left alone),
/// known_hosts and inventory. Returns when every host runs sshd and systemd is `running`.
pub fn up(cfg: &LabConfig) -> Result<LabReport, LabError> {
    let started = Instant::now();
    prepare(cfg)?;
    let lab_dir = naming::lab_dir(cfg);
    sys::mkdir_p(&lab_dir)?;
    let _lock = sys::lock(&lab_dir.join(".lock"))?;
    let running_elsewhere = sys::find_nspawn_count();
    raise_inotify(running_elsewhere + cfg.hosts)?;
    ensure_bridge(cfg)?;
    sys::write_atomic(&lab_dir.join("subnet"), format!("{}\n", cfg.subnet))?;

    let versions = if cfg.lodestar {
        installed_lodestar(&cfg.state_dir)
    } else {
        Vec::new()
    };
    let client_key = naming::client_key(&cfg.state_dir);
    let client_pub = read_pub(&client_key.with_extension("pub"))?;
    let known_hosts = naming::known_hosts_path(cfg);

    // Every host of the lab after this run: the wanted ones plus any already running.
    let mut wanted: BTreeSet<usize> = (1..=cfg.hosts).collect();
    for i in existing_hosts(cfg) {
        let name = naming::host_name(&cfg.name, i);
        let spec = HostSpec::new(cfg, i, versions.clone());
        if host::running_pid(&spec.pid_file(), &name).is_some() {
            wanted.insert(i);
        }
    }
    let specs: Vec<HostSpec> = wanted
        .iter()
        .map(|&i| HostSpec::new(cfg, i, versions.clone()))
        .collect();

    let release_feed = feed::prepare_for_up(cfg)?;
    // Identities first: known_hosts must exist before the first strict SSH connection.
    write_known_hosts(&specs, &known_hosts)?;

    let to_start: Vec<&HostSpec> = specs
        .iter()
        .filter(|s| host::running_pid(&s.pid_file(), &s.name).is_none())
        .collect();
    boot(cfg, &to_start, &client_pub, &client_key, &known_hosts)?;

    let started_names: BTreeSet<&str> = to_start.iter().map(|s| s.name.as_str()).collect();
    let hosts: Vec<HostReport> = specs
        .iter()
        .map(|s| HostReport {
            name: s.name.clone(),
            address: s.address.clone(),
            started: started_names.contains(s.name.as_str()),
            lodestar: lab_dir.join(format!("{}.lodestar", s.name)).exists(),
            extra_vc: lab_dir.join(format!("{}.vc2", s.name)).exists(),
            ethereumjs: lab_dir.join(format!("{}.ethereumjs", s.name)).exists(),
        })
        .collect();
    let inv = inventory::InventorySpec {
        identity_file: client_key.clone(),
        known_hosts_file: known_hosts.clone(),
        hosts: hosts
            .iter()
            .map(|h| inventory::InventoryHost {
                name: h.name.clone(),
                address: h.address.clone(),
                lodestar: h.lodestar,
                extra_vc: h.extra_vc,
                ethereumjs: h.ethereumjs,
            })
            .collect(),
        release_feed,
    };
    let inventory_path = naming::inventory_path(cfg);
    sys::write_atomic(&inventory_path, inventory::inventory_text(&inv))?;
    Ok(LabReport {
        hosts,
        inventory: inventory_path,
        known_hosts,
        client_key,
        elapsed: started.elapsed(),
    })
}

/// Every host's identity (generated once), and the known_hosts file naming them all.
fn write_known_hosts(specs: &[HostSpec], known_hosts: &Path) -> Result<(), LabError> {
    let mut kh = String::new();
    for spec in specs {
        host::ensure_identity(spec)?;
        let pubkey = read_pub(&spec.host_pubkey())?;
        match inventory::known_hosts_line(&spec.address, &pubkey) {
            Some(line) => {
                kh.push_str(&line);
                kh.push('\n');
            }
            None => {
                return Err(LabError::Config(format!(
                    "host key {} is malformed; delete {} to regenerate it",
                    spec.host_pubkey().display(),
                    spec.paths.keys.display()
                )));
            }
        }
    }
    sys::write_atomic(known_hosts, kh)
}

/// Boots `to_start` in parallel (create, then wait for a real SSH login); every failure named.
fn boot(
    cfg: &LabConfig,
    to_start: &[&HostSpec],
    client_pub: &str,
    client_key: &Path,
    known_hosts: &Path,
) -> Result<(), LabError> {
    if !to_start.is_empty() {
        eprintln!(
            "nodeherd lab: starting {} host(s) of lab {}: {}",
            to_start.len(),
            cfg.name,
            to_start
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let limit = Duration::from_secs(90 + 2 * to_start.len() as u64);
    let results: Vec<(String, Result<(), LabError>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = to_start
            .iter()
            .map(|spec| {
                let spec: &HostSpec = spec;
                scope.spawn(move || {
                    let r = host::create(spec, client_pub).and_then(|pid| {
                        host::wait_ready(spec, pid, client_key, known_hosts, limit)
                    });
                    (spec.name.clone(), r)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                Err(_) => (
                    "?".to_string(),
                    Err(LabError::Config("a boot thread panicked".into())),
                ),
            })
            .collect()
    });
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("  {n}: {e}")))
        .collect();
    if !failures.is_empty() {
        return Err(LabError::Hosts {
            count: failures.len(),
            details: failures.join("\n"),
        });
    }
    Ok(())
}

/// The subnet the lab was last brought up with (recorded by `up`), if any.
pub fn recorded_subnet(cfg: &LabConfig) -> Option<u8> {
    std::fs::read_to_string(naming::lab_dir(cfg).join("subnet"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// The lab's hosts that exist in any form, with whether they run and answer on port 22.
/// Addresses use the subnet recorded by `up` when there is one.
pub fn status(cfg: &LabConfig) -> Result<Vec<HostStatus>, LabError> {
    naming::validate(&LabConfig {
        hosts: 1,
        lodestar: false,
        ethereumjs_hosts: 0,
        ..cfg.clone()
    })?;
    let cfg = &LabConfig {
        subnet: recorded_subnet(cfg).unwrap_or(cfg.subnet),
        ..cfg.clone()
    };
    let hosts = existing_hosts(cfg);
    let out: Vec<HostStatus> = std::thread::scope(|scope| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|&i| {
                scope.spawn(move || {
                    let spec = HostSpec::new(cfg, i, Vec::new());
                    let pid = host::running_pid(&spec.pid_file(), &spec.name);
                    let ssh_open = pid.is_some()
                        && host::ssh_port_open(&spec.address, Duration::from_millis(500));
                    HostStatus {
                        name: spec.name,
                        address: spec.address,
                        running: pid.is_some(),
                        ssh_open,
                        pid,
                    }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    Ok(out)
}

/// Stops every host of the lab and removes its processes, mounts, namespaces, veths, bridge
/// and cgroups. Keeps the caches, the host identities and the console logs. Works after a
/// crash or a partial `up`.
pub fn down(cfg: &LabConfig) -> Result<(), LabError> {
    naming::validate(&LabConfig {
        hosts: 1,
        lodestar: false,
        ethereumjs_hosts: 0,
        ..cfg.clone()
    })?;
    check_root()?;
    let lab_dir = naming::lab_dir(cfg);
    sys::mkdir_p(&lab_dir)?;
    let _lock = sys::lock(&lab_dir.join(".lock"))?;
    let hosts = existing_hosts(cfg);
    let errors: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|&i| {
                scope.spawn(move || {
                    let spec = HostSpec::new(cfg, i, Vec::new());
                    host::destroy(&spec)
                        .err()
                        .map(|e| format!("{}: {e}", spec.name))
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .collect()
    });
    let mut errors = errors;
    if let Err(e) = feed::remove(cfg) {
        errors.push(e.to_string());
    }
    let br = naming::bridge_name(&cfg.name);
    if let Err(e) = sys::delete_link(&br) {
        errors.push(format!("bridge {br}: {e}"));
    }
    for root in naming::CGROUP_ROOTS {
        let parent = Path::new(root).join(naming::cgroup_parent(&cfg.name));
        if parent.exists() {
            if let Err(e) = host::remove_cgroup_waiting(&parent) {
                errors.push(e.to_string());
            }
        }
    }
    if !errors.is_empty() {
        return Err(LabError::Leftovers(errors.join("; ")));
    }
    let left = existing_hosts(cfg);
    if !left.is_empty() {
        return Err(LabError::Leftovers(format!(
            "hosts {left:?} of lab {} still have processes, namespaces, mounts or cgroups",
            cfg.name
        )));
    }
    Ok(())
}
