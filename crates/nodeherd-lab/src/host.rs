//! One lab host: its identity, network namespace, overlay root, cgroups, nspawn and teardown.
//!
//! Owns everything named after one host (`{lab}-{i}`): `/run/netns/{host}`, `ve-{host}`,
//! `state_dir/hosts/{host}`, `nodeherd-lab-{lab}/{host}` cgroups, the nspawn process and
//! `/run/systemd/nspawn/propagate/{host}`. Does not touch the bridge or the shared caches.
//! Waiting for a booted host is in `ready`, tearing it down in `teardown`, a power cut and boot in
//! `reboot`.

use std::ffi::OsString;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod ready;
mod reboot;
mod teardown;

pub use ready::{ssh_args, ssh_port_open, wait_ready};
pub use reboot::{RebootReport, reboot};
pub use teardown::{destroy, remove_cgroup_waiting};

use crate::naming::{self, HostPaths};
use crate::units;
use crate::{LabConfig, LabError, base, ethereumjs, sys};

/// Everything needed to build and boot host `i` of a lab.
#[derive(Debug, Clone)]
pub struct HostSpec {
    pub lab: String,
    pub index: usize,
    pub name: String,
    pub address: String,
    pub mac: String,
    pub veth: String,
    pub bridge: String,
    pub subnet: u8,
    pub state_dir: PathBuf,
    pub paths: HostPaths,
    pub cgroups: Vec<PathBuf>,
    /// Runs lodestar-bn and lodestar-vc.
    pub lodestar: bool,
    /// Also runs `lodestar-vc2` (keyless second validator client).
    pub extra_vc: bool,
    /// Lodestar versions installed on the machine (bind-mounted read-only).
    pub lodestar_versions: Vec<String>,
    /// Runs `ethereumjs-el` (every EthereumJS version bind-mounted read-only).
    pub ethereumjs: bool,
    /// The lab's feed directory, served by this host (host 1 of a lab with a feed).
    pub feed: Option<PathBuf>,
}

impl HostSpec {
    pub fn new(cfg: &LabConfig, i: usize, lodestar_versions: Vec<String>) -> Self {
        let name = naming::host_name(&cfg.name, i);
        HostSpec {
            lab: cfg.name.clone(),
            index: i,
            address: naming::host_address(cfg.subnet, i),
            mac: naming::host_mac(cfg.subnet, i),
            veth: naming::veth_name(&cfg.name, i),
            bridge: naming::bridge_name(&cfg.name),
            subnet: cfg.subnet,
            state_dir: cfg.state_dir.clone(),
            paths: naming::host_paths(&cfg.state_dir, &name),
            cgroups: naming::host_cgroups(&cfg.name, &name),
            lodestar: cfg.lodestar && i <= cfg.lodestar_hosts,
            extra_vc: cfg.extra_vc && cfg.lodestar && i == 1 && cfg.lodestar_hosts >= 1,
            lodestar_versions,
            ethereumjs: i <= cfg.ethereumjs_hosts,
            feed: (i == 1 && crate::feed::serves_feed(cfg)).then(|| crate::feed::feed_dir(cfg)),
            name,
        }
    }

    pub fn pid_file(&self) -> PathBuf {
        self.state_dir
            .join(&self.lab)
            .join(format!("{}.pid", self.name))
    }

    pub fn host_key(&self) -> PathBuf {
        self.paths.keys.join("ssh_host_ed25519_key")
    }

    pub fn host_pubkey(&self) -> PathBuf {
        self.paths.keys.join("ssh_host_ed25519_key.pub")
    }
}

/// PID of the running nspawn of `host`: the recorded one if it still is that nspawn, else one
/// found in `/proc`.
pub fn running_pid(pid_file: &Path, host: &str) -> Option<u32> {
    if let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
    {
        if sys::cmdline(pid).is_some_and(|a| sys::is_nspawn_of(&a, host)) {
            return Some(pid);
        }
    }
    sys::find_nspawn(host).into_iter().next()
}

/// Creates the host's identity once (host key, machine-id); kept across down/up.
pub fn ensure_identity(spec: &HostSpec) -> Result<(), LabError> {
    sys::mkdir_p(&spec.paths.keys)?;
    if !spec.host_key().exists() || !spec.host_pubkey().exists() {
        base::generate_ed25519(&spec.host_key(), &format!("root@{}", spec.name))?;
    }
    let mid = spec.paths.keys.join("machine-id");
    if !mid.exists() {
        let id: u128 = rand::random();
        sys::write_atomic(&mid, format!("{id:032x}\n"))?;
    }
    Ok(())
}

/// Removes whatever a previous run of this host left (it is not running).
pub fn clean_leftovers(spec: &HostSpec) -> Result<(), LabError> {
    destroy(spec)?;
    Ok(())
}

/// Network namespace with the host's address, veth to the bridge, stable MAC.
fn setup_network(spec: &HostSpec) -> Result<(), LabError> {
    let ns = spec.name.as_str();
    sys::run("ip", ["netns", "add", ns])?;
    sys::run(
        "ip",
        [
            "link",
            "add",
            &spec.veth,
            "type",
            "veth",
            "peer",
            "name",
            naming::GUEST_IF,
            "netns",
            ns,
        ],
    )?;
    let guest = naming::GUEST_IF;
    sys::run("ip", ["-n", ns, "link", "set", guest, "address", &spec.mac])?;
    sys::run(
        "ip",
        [
            "-n",
            ns,
            "addr",
            "add",
            &format!("{}/24", spec.address),
            "dev",
            guest,
        ],
    )?;
    sys::run("ip", ["-n", ns, "link", "set", "lo", "up"])?;
    sys::run("ip", ["-n", ns, "link", "set", guest, "up"])?;
    sys::run(
        "ip",
        ["link", "set", &spec.veth, "master", &spec.bridge, "up"],
    )?;
    // A re-created host must be reachable at once, not after stale ARP entries expire.
    let _ = sys::run_ok("ip", ["neigh", "flush", "to", &spec.address]);
    Ok(())
}

/// Mounts the overlay root (fresh upper dir every boot; identity comes from `keys/`).
fn mount_root(spec: &HostSpec) -> Result<(), LabError> {
    let p = &spec.paths;
    sys::remove_tree(&p.upper)?;
    sys::remove_tree(&p.work)?;
    sys::mkdir_p(&p.upper)?;
    sys::mkdir_p(&p.work)?;
    sys::mkdir_p(&p.root)?;
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        naming::base_dir(&spec.state_dir).display(),
        p.upper.display(),
        p.work.display()
    );
    sys::run(
        "mount",
        [
            OsString::from("-t"),
            "overlay".into(),
            "overlay".into(),
            "-o".into(),
            opts.into(),
            p.root.clone().into(),
        ],
    )?;
    Ok(())
}

/// Writes the host's own files into its root: identity, authorized keys, units.
fn populate_root(spec: &HostSpec, client_pub: &str) -> Result<(), LabError> {
    let root = &spec.paths.root;
    let r = |p: &str| root.join(p.trim_start_matches('/'));
    sys::write_file(&r("/etc/hostname"), format!("{}\n", spec.name))?;
    sys::write_file(
        &r("/etc/hosts"),
        format!(
            "127.0.0.1\tlocalhost\n{}\t{}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            spec.address, spec.name
        ),
    )?;
    let mid = std::fs::read_to_string(spec.paths.keys.join("machine-id"))
        .map_err(|e| LabError::io("reading", spec.paths.keys.join("machine-id"), e))?;
    sys::write_file(&r("/etc/machine-id"), mid)?;

    let key =
        std::fs::read(spec.host_key()).map_err(|e| LabError::io("reading", spec.host_key(), e))?;
    let pubkey = std::fs::read(spec.host_pubkey())
        .map_err(|e| LabError::io("reading", spec.host_pubkey(), e))?;
    let key_dst = r("/etc/ssh/ssh_host_ed25519_key");
    sys::write_file(&key_dst, key)?;
    base::set_mode(&key_dst, 0o600)?;
    sys::write_file(&r("/etc/ssh/ssh_host_ed25519_key.pub"), pubkey)?;

    let ak = r("/root/.ssh/authorized_keys");
    sys::write_file(&ak, client_pub)?;
    base::set_mode(&ak, 0o600)?;
    let passwd = std::fs::read_to_string(r("/etc/passwd"))
        .map_err(|e| LabError::io("reading", r("/etc/passwd"), e))?;
    if let Some((uid, gid, home)) = base::passwd_entry(&passwd, base::OPS_USER) {
        let dir = r(&format!("{home}/.ssh"));
        let ak = dir.join("authorized_keys");
        sys::write_file(&ak, client_pub)?;
        base::set_mode(&dir, 0o700)?;
        base::set_mode(&ak, 0o600)?;
        for p in [&dir, &ak] {
            std::os::unix::fs::chown(p, Some(uid), Some(gid))
                .map_err(|e| LabError::io("chown", p, e))?;
        }
    }

    let wants = "/etc/systemd/system/multi-user.target.wants";
    sys::write_file(&r(units::DEMO_SCRIPT_PATH), units::DEMO_SCRIPT)?;
    base::set_mode(&r(units::DEMO_SCRIPT_PATH), 0o755)?;
    install_unit(root, units::DEMO_UNIT, &units::demo_unit(), wants)?;

    if spec.lodestar {
        let mut installs = vec![
            (
                units::BN_INSTALL_DIR,
                units::BN_UNIT,
                units::lodestar_bn_unit(),
            ),
            (
                units::VC_INSTALL_DIR,
                units::VC_UNIT,
                units::lodestar_vc_unit(),
            ),
        ];
        if spec.extra_vc {
            installs.push((
                units::VC2_INSTALL_DIR,
                units::VC2_UNIT,
                units::lodestar_vc2_unit(),
            ));
        }
        for (install, unit, text) in installs {
            let v = units::LODESTAR_CURRENT;
            sys::symlink(
                &naming::lodestar_dist_in_host(v),
                &r(&format!("{install}/releases/{v}")),
            )?;
            sys::symlink(&format!("releases/{v}"), &r(&format!("{install}/current")))?;
            install_unit(root, unit, &text, wants)?;
        }
    }
    if spec.ethereumjs {
        ethereumjs::populate(root)?;
        install_unit(root, ethereumjs::UNIT, &ethereumjs::unit(), wants)?;
    }
    if spec.feed.is_some() {
        install_unit(root, crate::feed::UNIT, &crate::feed::unit(), wants)?;
    }
    Ok(())
}

fn install_unit(root: &Path, unit: &str, text: &str, wants: &str) -> Result<(), LabError> {
    let dir = root.join("etc/systemd/system");
    sys::write_file(&dir.join(unit), text)?;
    sys::symlink(
        &format!("/etc/systemd/system/{unit}"),
        &root.join(wants.trim_start_matches('/')).join(unit),
    )
}

/// The nspawn arguments of docs/lab.md.
pub fn nspawn_args(spec: &HostSpec) -> Vec<OsString> {
    let mut a: Vec<OsString> = ["--quiet", "--boot"].iter().map(OsString::from).collect();
    a.push(format!("--directory={}", spec.paths.root.display()).into());
    a.push(format!("--machine={}", spec.name).into());
    a.push(format!("--network-namespace-path=/run/netns/{}", spec.name).into());
    for fixed in [
        "--register=no",
        "--keep-unit",
        "--console=read-only",
        "--link-journal=no",
        "--resolv-conf=off",
        "--timezone=off",
        "--kill-signal=SIGRTMIN+4",
    ] {
        a.push(fixed.into());
    }
    for v in &spec.lodestar_versions {
        a.push(
            format!(
                "--bind-ro={}:{}",
                naming::lodestar_dist(&spec.state_dir, v).display(),
                naming::lodestar_dist_in_host(v)
            )
            .into(),
        );
    }
    if spec.ethereumjs {
        for v in ethereumjs::VERSIONS {
            a.push(
                format!(
                    "--bind-ro={}:{}",
                    naming::ethereumjs_dist(&spec.state_dir, v).display(),
                    naming::ethereumjs_dist_in_host(v)
                )
                .into(),
            );
        }
    }
    if let Some(dir) = &spec.feed {
        a.push(format!("--bind-ro={}:{}", dir.display(), crate::feed::DIR_IN_HOST).into());
    }
    if !spec.lodestar_versions.is_empty() || spec.ethereumjs || spec.feed.is_some() {
        a.push(format!("--bind-ro=/usr/bin/node:{}", units::NODE_IN_HOST).into());
    }
    a
}

/// Starts nspawn detached (own session, own cgroups in both hierarchies). Returns its PID.
fn launch(spec: &HostSpec) -> Result<u32, LabError> {
    for cg in &spec.cgroups {
        sys::mkdir_p(cg)?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.paths.log)
        .map_err(|e| LabError::io("opening", &spec.paths.log, e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| LabError::io("opening", &spec.paths.log, e))?;
    // The shell moves itself into the host's cgroups, then becomes nspawn (same PID).
    let script = "for c in \"$1\" \"$2\"; do echo $$ > \"$c/cgroup.procs\" || exit 97; done; shift 2; exec systemd-nspawn \"$@\"";
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .arg("nodeherd-lab-launch")
        .args(spec.cgroups.iter().take(2))
        .args(nspawn_args(spec))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: setsid() is async-signal-safe; it detaches nspawn from our terminal and session
    // so it keeps running after `nodeherd lab up` exits.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|source| LabError::Spawn {
        command: "systemd-nspawn".into(),
        source,
    })?;
    let pid = child.id();
    drop(child); // not waited for: it outlives us (reaped by init, or by `wait_gone`)
    sys::write_file(&spec.pid_file(), format!("{pid}\n"))?;
    Ok(pid)
}

/// Builds and boots a host that is not running. Returns the nspawn PID.
pub fn create(spec: &HostSpec, client_pub: &str) -> Result<u32, LabError> {
    clean_leftovers(spec)?;
    sys::mkdir_p(&spec.paths.dir)?;
    let _ = std::fs::remove_file(&spec.paths.log);
    setup_network(spec)?;
    mount_root(spec)?;
    populate_root(spec, client_pub)?;
    let marker = spec
        .state_dir
        .join(&spec.lab)
        .join(format!("{}.lodestar", spec.name));
    if spec.lodestar {
        sys::write_file(&marker, "")?;
    } else {
        let _ = std::fs::remove_file(&marker);
    }
    for (ext, on) in [("vc2", spec.extra_vc), ("ethereumjs", spec.ethereumjs)] {
        let m = marker.with_extension(ext);
        if on {
            sys::write_file(&m, "")?;
        } else {
            let _ = std::fs::remove_file(&m);
        }
    }
    launch(spec)
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nspawn_arguments_follow_the_recipe() {
        let cfg = LabConfig {
            name: "nhtest".into(),
            subnet: 214,
            ..LabConfig::default()
        };
        let spec = HostSpec::new(&cfg, 2, vec!["1.4.2".into(), "1.5.1".into()]);
        let args: Vec<String> = nspawn_args(&spec)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        for want in [
            "--boot",
            "--directory=/var/lib/nodeherd/lab/hosts/nhtest-2/root",
            "--machine=nhtest-2",
            "--network-namespace-path=/run/netns/nhtest-2",
            "--register=no",
            "--keep-unit",
            "--console=read-only",
            "--link-journal=no",
            "--resolv-conf=off",
            "--timezone=off",
            "--kill-signal=SIGRTMIN+4",
            "--bind-ro=/var/lib/nodeherd/lab/lodestar/1.4.2:/opt/lodestar-dist/1.4.2",
            "--bind-ro=/var/lib/nodeherd/lab/lodestar/1.5.1:/opt/lodestar-dist/1.5.1",
            "--bind-ro=/usr/bin/node:/usr/local/bin/node",
        ] {
            assert!(args.iter().any(|a| a == want), "missing {want} in {args:?}");
        }
        assert!(!spec.lodestar, "only host 1 runs Lodestar by default");
        assert_eq!(spec.address, "10.214.0.12");
        assert_eq!(
            spec.cgroups,
            vec![
                PathBuf::from("/sys/fs/cgroup/systemd/nodeherd-lab-nhtest/nhtest-2"),
                PathBuf::from("/sys/fs/cgroup/unified/nodeherd-lab-nhtest/nhtest-2"),
            ]
        );
        let el = HostSpec::new(
            &LabConfig {
                ethereumjs_hosts: 1,
                ..cfg.clone()
            },
            1,
            Vec::new(),
        );
        let el_args: Vec<String> = nspawn_args(&el)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let binds: Vec<&String> = el_args.iter().filter(|a| a.starts_with("--bind")).collect();
        assert_eq!(
            binds,
            [
                "--bind-ro=/var/lib/nodeherd/lab/ethereumjs/0.10.4:/opt/ethereumjs-dist/0.10.4",
                "--bind-ro=/var/lib/nodeherd/lab/ethereumjs/0.10.5:/opt/ethereumjs-dist/0.10.5",
                "--bind-ro=/usr/bin/node:/usr/local/bin/node",
            ]
        );
        assert!(!spec.ethereumjs, "no host runs EthereumJS by default");
        let none = HostSpec::new(&cfg, 1, Vec::new());
        assert!(
            nspawn_args(&none)
                .iter()
                .all(|a| !a.to_string_lossy().starts_with("--bind"))
        );
    }

    #[test]
    fn ssh_arguments_are_strict() {
        let a: Vec<String> = ssh_args(Path::new("/k"), Path::new("/kh"), "root", "10.213.0.11")
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(a.contains(&"StrictHostKeyChecking=yes".to_string()));
        assert!(a.contains(&"UserKnownHostsFile=/kh".to_string()));
        assert_eq!(a.last().map(String::as_str), Some("root@10.213.0.11"));
    }
}
