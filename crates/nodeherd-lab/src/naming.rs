//! Pure derivation of every name, address and path of a lab from its [`LabConfig`].
//!
//! Owns: host/bridge/veth/netns names, addresses, MACs, cgroup and state paths.
//! Touches nothing on the machine; everything here is a pure function, unit-tested.
//! Two labs with different names and subnets never share a derived name.
//!
//! May not touch: the machine (it only computes names).

use std::path::{Path, PathBuf};

use crate::{LabConfig, LabError};

/// Longest lab name: `ve-{name}-{99}` must fit the kernel's 15-byte interface names.
pub const MAX_NAME_LEN: usize = 9;
/// Most hosts per lab (two-digit suffixes keep interface names short).
pub const MAX_HOSTS: usize = 99;

/// Checks that a configuration can be turned into valid names and addresses.
pub fn validate(cfg: &LabConfig) -> Result<(), LabError> {
    let name = &cfg.name;
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(LabError::Config(format!(
            "lab name {name:?} must be 1 to {MAX_NAME_LEN} characters (it prefixes interface names)"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || !name.starts_with(|c: char| c.is_ascii_lowercase())
        || name.ends_with('-')
    {
        return Err(LabError::Config(format!(
            "lab name {name:?} may hold only a-z, 0-9 and '-', start with a letter and not end with '-'"
        )));
    }
    if cfg.hosts == 0 || cfg.hosts > MAX_HOSTS {
        return Err(LabError::Config(format!(
            "number of hosts {} must be between 1 and {MAX_HOSTS}",
            cfg.hosts
        )));
    }
    if cfg.subnet == 0 {
        return Err(LabError::Config(
            "subnet 0 is not allowed (10.0.0.0/24 is too likely in use); pick e.g. 213".into(),
        ));
    }
    if cfg.lodestar && cfg.lodestar_hosts > cfg.hosts {
        return Err(LabError::Config(format!(
            "lodestar_hosts ({}) cannot exceed the number of hosts ({})",
            cfg.lodestar_hosts, cfg.hosts
        )));
    }
    if cfg.ethereumjs_hosts > cfg.hosts {
        return Err(LabError::Config(format!(
            "ethereumjs_hosts ({}) cannot exceed the number of hosts ({})",
            cfg.ethereumjs_hosts, cfg.hosts
        )));
    }
    Ok(())
}

/// Name of host `i` (1-based): `{lab}-{i}`. Also its machine name and network namespace.
pub fn host_name(lab: &str, i: usize) -> String {
    format!("{lab}-{i}")
}

/// Parses `{lab}-{i}` back into `i`; `None` for names of other labs (e.g. `nhlab-t-1` for `nhlab`).
pub fn host_index(lab: &str, host: &str) -> Option<usize> {
    let rest = host.strip_prefix(lab)?.strip_prefix('-')?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) || rest.starts_with('0') {
        return None;
    }
    rest.parse().ok()
}

/// The lab's bridge: `{lab}-br`.
pub fn bridge_name(lab: &str) -> String {
    format!("{lab}-br")
}

/// The machine-side end of host `i`'s veth pair: `ve-{lab}-{i}`.
pub fn veth_name(lab: &str, i: usize) -> String {
    format!("ve-{}", host_name(lab, i))
}

/// Name of the veth end inside the host's namespace.
pub const GUEST_IF: &str = "eth0";

/// Address of host `i`: `10.{subnet}.0.{10+i}`.
pub fn host_address(subnet: u8, i: usize) -> String {
    format!("10.{subnet}.0.{}", 10 + i)
}

/// The bridge's address with prefix: `10.{subnet}.0.1/24`.
pub fn bridge_cidr(subnet: u8) -> String {
    format!("10.{subnet}.0.1/24")
}

/// Stable, locally administered MAC of host `i` (so a re-created host keeps its ARP identity).
pub fn host_mac(subnet: u8, i: usize) -> String {
    format!(
        "02:6e:68:{subnet:02x}:{:02x}:{:02x}",
        (i >> 8) & 0xff,
        i & 0xff
    )
}

/// Stable MAC of the bridge (distinct from every host MAC: fifth byte 0xff).
pub fn bridge_mac(subnet: u8) -> String {
    format!("02:6e:68:{subnet:02x}:ff:01")
}

/// The lab's cgroup parent directory name, one per lab (never shared between labs).
pub fn cgroup_parent(lab: &str) -> String {
    format!("nodeherd-lab-{lab}")
}

/// The cgroup mount points the lab uses (hybrid hierarchy: `name=systemd` v1 and cgroup2).
pub const CGROUP_ROOTS: [&str; 2] = ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"];

/// Per-host cgroup directories in both hierarchies.
pub fn host_cgroups(lab: &str, host: &str) -> Vec<PathBuf> {
    CGROUP_ROOTS
        .iter()
        .map(|root| Path::new(root).join(cgroup_parent(lab)).join(host))
        .collect()
}

/// Paths of one host under the state directory.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPaths {
    /// `state_dir/hosts/{host}`
    pub dir: PathBuf,
    /// Identity kept across down/up: host keys and machine-id.
    pub keys: PathBuf,
    /// Overlay upper and work dirs (recreated at every fresh boot).
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Overlay mount point: the host's root file system.
    pub root: PathBuf,
    /// nspawn's stdout/stderr (the console).
    pub log: PathBuf,
}

/// Paths of host `host` under `state_dir`.
pub fn host_paths(state_dir: &Path, host: &str) -> HostPaths {
    let dir = state_dir.join("hosts").join(host);
    HostPaths {
        keys: dir.join("keys"),
        upper: dir.join("upper"),
        work: dir.join("work"),
        root: dir.join("root"),
        log: dir.join("console.log"),
        dir,
    }
}

/// The lab's own state directory (`state_dir/{name}`): pids, known_hosts, inventory.
pub fn lab_dir(cfg: &LabConfig) -> PathBuf {
    cfg.state_dir.join(&cfg.name)
}

/// The shared Debian base root (read-only lower layer of every host).
pub fn base_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("base")
}

/// The client key used to log into every host.
pub fn client_key(state_dir: &Path) -> PathBuf {
    state_dir.join("id_ed25519")
}

/// The known_hosts file of a lab.
pub fn known_hosts_path(cfg: &LabConfig) -> PathBuf {
    lab_dir(cfg).join("known_hosts")
}

/// Where the inventory goes: `inventory_out`, else `inventory/lab.toml` (relative to the
/// current directory) for the default lab `nhlab`, else `state_dir/{name}/inventory.toml`.
pub fn inventory_path(cfg: &LabConfig) -> PathBuf {
    if let Some(p) = &cfg.inventory_out {
        return p.clone();
    }
    if cfg.name == crate::DEFAULT_NAME {
        PathBuf::from("inventory/lab.toml")
    } else {
        lab_dir(cfg).join("inventory.toml")
    }
}

/// Install directory of one Lodestar version on the machine.
pub fn lodestar_dist(state_dir: &Path, version: &str) -> PathBuf {
    state_dir.join("lodestar").join(version)
}

/// Where a Lodestar version is bind-mounted (read-only) inside every host.
pub fn lodestar_dist_in_host(version: &str) -> String {
    format!("/opt/lodestar-dist/{version}")
}

/// Install directory of one EthereumJS version on the machine.
pub fn ethereumjs_dist(state_dir: &Path, version: &str) -> PathBuf {
    state_dir.join("ethereumjs").join(version)
}

/// Where an EthereumJS version is bind-mounted (read-only) inside a host that runs it.
pub fn ethereumjs_dist_in_host(version: &str) -> String {
    format!("/opt/ethereumjs-dist/{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(name: &str, subnet: u8) -> LabConfig {
        LabConfig {
            name: name.into(),
            subnet,
            ..LabConfig::default()
        }
    }

    #[test]
    fn derives_names_and_addresses() {
        assert_eq!(host_name("nhlab", 3), "nhlab-3");
        assert_eq!(bridge_name("nhlab"), "nhlab-br");
        assert_eq!(veth_name("nhlab", 12), "ve-nhlab-12");
        assert_eq!(host_address(213, 1), "10.213.0.11");
        assert_eq!(host_address(214, 20), "10.214.0.30");
        assert_eq!(bridge_cidr(215), "10.215.0.1/24");
    }

    #[test]
    fn interface_names_fit_the_kernel_limit() {
        let longest = "abcdefghi";
        assert_eq!(longest.len(), MAX_NAME_LEN);
        assert!(veth_name(longest, MAX_HOSTS).len() <= 15);
        assert!(bridge_name(longest).len() <= 15);
    }

    #[test]
    fn macs_are_stable_unique_and_local() {
        assert_eq!(host_mac(213, 1), "02:6e:68:d5:00:01");
        assert_eq!(host_mac(213, 1), host_mac(213, 1));
        assert_ne!(host_mac(213, 1), host_mac(214, 1));
        let mut all: Vec<String> = (1..=MAX_HOSTS).map(|i| host_mac(213, i)).collect();
        all.push(bridge_mac(213));
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn host_index_rejects_other_labs() {
        assert_eq!(host_index("nhlab", "nhlab-7"), Some(7));
        assert_eq!(host_index("nhlab", "nhlab-t-1"), None);
        assert_eq!(host_index("nhlab", "nhlab-br"), None);
        assert_eq!(host_index("nhlab", "nhlab-07"), None);
        assert_eq!(host_index("nhlab", "nhlab-"), None);
        assert_eq!(host_index("nhlab-t", "nhlab-t-2"), Some(2));
        assert_eq!(host_index("nhtest", "nhlab-2"), None);
    }

    #[test]
    fn two_labs_share_no_names() {
        let a = cfg("nhlab", 213);
        let b = cfg("nhtest", 214);
        assert_ne!(bridge_name(&a.name), bridge_name(&b.name));
        assert_ne!(cgroup_parent(&a.name), cgroup_parent(&b.name));
        assert_ne!(lab_dir(&a), lab_dir(&b));
        assert_ne!(known_hosts_path(&a), known_hosts_path(&b));
        assert_ne!(inventory_path(&a), inventory_path(&b));
    }

    #[test]
    fn inventory_location_rules() {
        assert_eq!(
            inventory_path(&cfg("nhlab", 213)),
            PathBuf::from("inventory/lab.toml")
        );
        assert_eq!(
            inventory_path(&cfg("nhtest", 214)),
            PathBuf::from("/var/lib/nodeherd/lab/nhtest/inventory.toml")
        );
        let mut c = cfg("nhtest", 214);
        c.inventory_out = Some(PathBuf::from("/tmp/x.toml"));
        assert_eq!(inventory_path(&c), PathBuf::from("/tmp/x.toml"));
    }

    #[test]
    fn validation() {
        assert!(validate(&cfg("nhlab", 213)).is_ok());
        assert!(validate(&cfg("nhlab-t", 215)).is_ok());
        assert!(validate(&cfg("toolongname", 213)).is_err());
        assert!(validate(&cfg("Bad", 213)).is_err());
        assert!(validate(&cfg("a b", 213)).is_err());
        assert!(validate(&cfg("x-", 213)).is_err());
        assert!(validate(&cfg("nhlab", 0)).is_err());
        let mut c = cfg("nhlab", 213);
        c.hosts = 0;
        assert!(validate(&c).is_err());
        c.hosts = 100;
        assert!(validate(&c).is_err());
        c.hosts = 2;
        c.lodestar = true;
        c.lodestar_hosts = 3;
        assert!(validate(&c).is_err());
        c.lodestar_hosts = 1;
        c.ethereumjs_hosts = 3;
        assert!(validate(&c).is_err());
        c.ethereumjs_hosts = 2;
        assert!(validate(&c).is_ok());
    }
}
