//! SSH fan-out benchmark (issue 2): nodeherd against the tools a user would pick instead, on the same
//! lab hosts, in the same run, interleaved round by round.
//!
//! Brings up (or reuses) the `nhbench` lab (subnet 10.220.0.0/24) with the largest N asked for, then
//! for each N (`NODEHERD_BENCH_HOSTS`, e.g. `50` or `20,50`; default 50) and each of
//! `NODEHERD_BENCH_ROUNDS` rounds (default 5, medians reported) runs, in a rotating order:
//! - nodeherd cold: the release binary `nodeherd status all --json --forks N` as a child process;
//! - nodeherd in-process (library, one `Pool`): connect all + `cat /proc/loadavg` (cold), then on
//!   the open connections a second `cat /proc/loadavg` poll and an `nodeherd_engine::status::gather` (warm);
//! - OpenSSH `xargs -P N ssh ...` with its default key exchange and with curve25519-sha256;
//! - OpenSSH `xargs -P N ssh -o ControlPath=...` over warm ControlMasters (started first, not timed);
//! - Ansible ad-hoc `ansible all -f N -m raw -a 'cat /proc/loadavg'`.
//!
//! Every client checks host keys strictly against the lab's known_hosts and uses the lab's key.
//! Client CPU: `getrusage(RUSAGE_CHILDREN)` deltas for child processes (plus the ControlMaster
//! processes' own CPU from /proc/PID/schedstat), `getrusage(RUSAGE_SELF)` for in-process work.
//! Every run's output is checked: a variant that did not answer for all N hosts is reported.
//!
//! Latency: `NODEHERD_BENCH_DELAYS` lists one-way delays in ms (default `0`); each non-zero delay
//! runs every variant again through the userspace relay of `support/relay.rs` (no netem in this
//! kernel), which also counts the round trips per host of each tool. `NODEHERD_BENCH_LAB` and
//! `NODEHERD_BENCH_SUBNET` pick another lab than `nhbench` / 220.
//!
//! Run: `sudo cargo bench --bench fanout` (release build). Without root it says why and exits 0.
//! The lab is brought down at the end unless `NODEHERD_BENCH_KEEP_LAB=1`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodeherd_core::inventory::Inventory;
use nodeherd_core::selector::Selector;
use nodeherd_lab::{self as lab, LabConfig, naming};
use nodeherd_transport::ssh::{self, ConnectOptions, Pool};

#[path = "support/relay.rs"]
mod relay;

/// Default lab name and subnet; `NODEHERD_BENCH_LAB` and `NODEHERD_BENCH_SUBNET` override them.
const LAB_NAME: &str = "nhbench";
const LAB_SUBNET: u8 = 220;
const REMOTE: &str = "cat /proc/loadavg";
/// Pause between variants so the servers finish tearing down the previous variant's sessions.
const SETTLE: Duration = Duration::from_millis(400);

// ---------------------------------------------------------------------------------------------
// Measuring

fn rusage(who: libc::c_int) -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &raw mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU seconds of every child process waited for so far.
fn children_cpu() -> f64 {
    rusage(libc::RUSAGE_CHILDREN)
}

/// CPU seconds of this process (all threads).
fn self_cpu() -> f64 {
    rusage(libc::RUSAGE_SELF)
}

/// CPU seconds a running process has used (ns precision, from /proc/PID/schedstat).
fn process_cpu(pid: u32) -> f64 {
    let mut total = 0.0;
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    for t in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
            if let Some(ns) = s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
            {
                total += ns / 1e9;
            }
        }
    }
    total
}

/// One timed run of one variant.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: f64,
    /// Hosts that answered correctly.
    ok: usize,
    /// Round trips per host counted by the latency relay (NaN without it).
    rts: f64,
}

#[path = "support/stats.rs"]
mod stats;
use stats::median;

/// Lines that look like `/proc/loadavg`: `0.12 0.34 0.56 1/234 5678`.
fn loadavg_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 5 && f[3].contains('/') && f[0].parse::<f64>().is_ok()
        })
        .count()
}

/// Run a child process to the end; wall time and its CPU (and its descendants').
fn run_child(mut cmd: Command, stdin: &str) -> Result<(Sample, String), String> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let c0 = children_cpu();
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if let Some(mut si) = child.stdin.take() {
        let _ = si.write_all(stdin.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {cmd:?}: {e}"))?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = children_cpu() - c0;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        eprintln!(
            "  note: {:?} exited with {}: {}",
            cmd.get_program(),
            out.status,
            tail.join(" | ")
        );
    }
    Ok((
        Sample {
            wall,
            cpu,
            ok: 0,
            rts: f64::NAN,
        },
        text,
    ))
}

// ---------------------------------------------------------------------------------------------
// The fleet under test

#[derive(Debug, Clone)]
struct Host {
    name: String,
    address: String,
}

/// Files shared by all variants for one N.
struct Setup {
    n: usize,
    hosts: Vec<Host>,
    dir: PathBuf,
    inventory: PathBuf,
    known_hosts: PathBuf,
    key: PathBuf,
    ansible_cfg: Option<PathBuf>,
    ansible_ini: PathBuf,
    /// Emulated one-way latency (zero: the clients reach the hosts directly).
    delay: Duration,
    /// The latency relay every client goes through when `delay` is not zero.
    relay: Option<relay::Relay>,
}

impl Setup {
    fn host_lines(&self) -> String {
        self.hosts
            .iter()
            .map(|h| format!("{}\n", h.address))
            .collect()
    }

    /// OpenSSH options every ssh variant shares: lab key only, strict host keys against the lab
    /// known_hosts, no prompts.
    fn ssh_common(&self) -> Vec<String> {
        let kh = self.known_hosts.display();
        vec![
            "-i".into(),
            self.key.display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "IdentityAgent=none".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            format!("UserKnownHostsFile={kh}"),
            "-o".into(),
            "GlobalKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "ConnectTimeout=20".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
            "-l".into(),
            "root".into(),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// Variants

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Variant {
    NodeherdCold,
    NodeherdLib, // produces three samples: cold in-process, warm cat, warm status
    SshDefault,
    SshCurve,
    SshControlMaster,
    Ansible,
}

/// Rows of the table, in print order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Row {
    NodeherdCold,
    NodeherdLibCold,
    NodeherdWarmCat,
    NodeherdWarmStatus,
    SshDefault,
    SshCurve,
    SshControlMaster,
    Ansible,
}

impl Row {
    fn label(self) -> &'static str {
        match self {
            Row::NodeherdCold => "nodeherd cold: `nodeherd status all --json` (child process)",
            Row::NodeherdLibCold => "nodeherd cold in-process: Pool connect + cat /proc/loadavg",
            Row::NodeherdWarmCat => "nodeherd warm: cat /proc/loadavg on open Pool",
            Row::NodeherdWarmStatus => {
                "nodeherd warm: nodeherd_engine::status::gather on open Pool"
            }
            Row::SshDefault => "OpenSSH xargs -P N, default kex (sntrup761x25519)",
            Row::SshCurve => "OpenSSH xargs -P N, KexAlgorithms=curve25519-sha256",
            Row::SshControlMaster => "OpenSSH xargs -P N over warm ControlMaster",
            Row::Ansible => "Ansible ad-hoc -f N -m raw (cold, no ControlPersist)",
        }
    }
    fn warm(self) -> bool {
        matches!(
            self,
            Row::NodeherdWarmCat | Row::NodeherdWarmStatus | Row::SshControlMaster
        )
    }
    /// The nodeherd row this row is compared with.
    fn baseline(self) -> Row {
        if self.warm() {
            Row::NodeherdWarmCat
        } else {
            Row::NodeherdCold
        }
    }
}

fn nodeherd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nodeherd"))
}

fn nodeherd_cold(s: &Setup) -> Result<Sample, String> {
    let mut cmd = Command::new(nodeherd_bin());
    cmd.arg("-i")
        .arg(&s.inventory)
        .args(["--json", "--color", "never", "--forks"])
        .arg(s.n.to_string())
        .args(["status", "all"])
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("NODEHERD_LOG");
    let (mut sample, out) = run_child(cmd, "")?;
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&out).map_err(|e| format!("nodeherd --json output: {e}"))?;
    sample.ok = rows
        .iter()
        .filter(|r| r.get("unit_state").is_some_and(|u| !u.is_null()))
        .count();
    Ok(sample)
}

fn xargs_ssh(s: &Setup, extra: &[&str]) -> Result<Sample, String> {
    let mut cmd = Command::new("xargs");
    cmd.args(["-P", &s.n.to_string(), "-I{}", "ssh"])
        .args(s.ssh_common())
        .args(extra)
        .args(["{}", REMOTE]);
    let (mut sample, out) = run_child(cmd, &s.host_lines())?;
    sample.ok = loadavg_lines(&out);
    Ok(sample)
}

/// ControlMaster processes (children of this process), one per host.
struct Masters {
    dir: PathBuf,
    children: Vec<Child>,
}

impl Masters {
    fn path_opt(&self) -> String {
        format!("ControlPath={}/%h", self.dir.display())
    }

    fn start(s: &Setup) -> Result<Masters, String> {
        let dir = s.dir.join("cm");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut m = Masters {
            dir,
            children: Vec::new(),
        };
        for h in &s.hosts {
            let child = Command::new("ssh")
                .args(s.ssh_common())
                .args(["-o", "ControlMaster=yes", "-o", &m.path_opt()])
                .args(["-o", "ControlPersist=no", "-N", &h.address])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start ssh master: {e}"))?;
            m.children.push(child);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for h in &s.hosts {
            let sock = m.dir.join(&h.address);
            while !sock.exists() {
                if Instant::now() > deadline {
                    return Err(format!("ControlMaster for {} did not come up", h.address));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(m)
    }

    fn cpu(&self) -> f64 {
        self.children.iter().map(|c| process_cpu(c.id())).sum()
    }

    fn stop(&mut self) {
        for c in &mut self.children {
            // SAFETY: kill on the pid of a child we started and have not yet waited for.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
        }
        for c in &mut self.children {
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Masters {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ssh_control_master(s: &Setup, m: &Masters) -> Result<Sample, String> {
    let before = m.cpu();
    let mut sample = xargs_ssh(s, &["-o", "ControlMaster=no", "-o", &m.path_opt()])?;
    let master_cpu = m.cpu() - before;
    sample.cpu += master_cpu;
    Ok(sample)
}

fn ansible(s: &Setup) -> Result<Sample, String> {
    let Some(cfg) = &s.ansible_cfg else {
        return Err("not available".into());
    };
    let mut cmd = Command::new("ansible");
    cmd.args(["all", "-i"])
        .arg(&s.ansible_ini)
        .args(["-f", &s.n.to_string(), "-m", "raw", "-a", REMOTE])
        .env("ANSIBLE_CONFIG", cfg)
        .env("ANSIBLE_NOCOLOR", "1")
        .env_remove("SSH_AUTH_SOCK");
    let (mut sample, out) = run_child(cmd, "")?;
    sample.ok = loadavg_lines(&out);
    Ok(sample)
}

/// Whether `ansible` is there; installs ansible-core with apt when it is not.
fn ensure_ansible() -> bool {
    let have = || {
        Command::new("ansible")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if have() {
        return true;
    }
    println!("ansible not found: installing ansible-core with `apt-get install -y ansible-core`");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "ansible-core"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("ansible-core could not be installed: its row is reported as not available");
    }
    ok && have()
}

/// The in-process variant: one Pool; connect + first poll (cold), second poll (warm cat), status.
fn nodeherd_lib(
    rt: &tokio::runtime::Runtime,
    s: &Setup,
    inv: &Inventory,
    relay: Option<&relay::Relay>,
) -> Result<Vec<(Row, Sample)>, String> {
    let nodes = Selector::parse("all")
        .and_then(|sel| sel.select_nodes(inv))
        .map_err(|e| e.to_string())?;
    let targets: Vec<ssh::Target> = inv.hosts.iter().map(|h| h.target.clone()).collect();
    let n = s.n;
    rt.block_on(async {
        // as the CLI does (no agent here: SSH_AUTH_SOCK is unset for every variant)
        let pool = Arc::new(Pool::new(ConnectOptions::default()));
        let poll = |pool: Arc<Pool>| {
            let targets = targets.clone();
            async move {
                let cmd = ssh::Command::new("cat").arg("/proc/loadavg");
                let res = nodeherd_engine::fleet::run_all(targets, n, |t| {
                    let (pool, cmd) = (pool.clone(), cmd.clone());
                    async move {
                        let session = pool.session(&t).await?;
                        session.exec(&cmd).await
                    }
                })
                .await;
                res.iter()
                    .filter(|(_, r)| {
                        r.as_ref()
                            .is_ok_and(|o| o.success() && loadavg_lines(&o.stdout_str()) == 1)
                    })
                    .count()
            }
        };
        let timed = |ok: usize, c0: f64, t0: Instant| Sample {
            wall: t0.elapsed().as_secs_f64(),
            cpu: self_cpu() - c0,
            ok,
            rts: f64::NAN,
        };
        // round trips of each phase, counted after its traffic has settled (not timed)
        let counted = |mut x: Sample, r0: Option<relay::Counts>| {
            if let (Some(relay), Some(r0)) = (relay, r0) {
                std::thread::sleep(relay.delay * 2 + Duration::from_millis(100));
                if let Ok(r1) = relay.counts() {
                    x.rts = r1.since(r0).exchanges as f64 / n as f64;
                }
            }
            x
        };
        let snap = || relay.and_then(|r| r.counts().ok());
        let mut out = Vec::new();
        let r0 = snap();
        let (c0, t0) = (self_cpu(), Instant::now());
        let ok = poll(pool.clone()).await;
        out.push((Row::NodeherdLibCold, counted(timed(ok, c0, t0), r0)));
        let r0 = snap();
        let (c0, t0) = (self_cpu(), Instant::now());
        let ok = poll(pool.clone()).await;
        out.push((Row::NodeherdWarmCat, counted(timed(ok, c0, t0), r0)));
        let r0 = snap();
        let (c0, t0) = (self_cpu(), Instant::now());
        let rows = nodeherd_engine::status::gather(&pool, inv, &nodes, n).await;
        let ok = rows.iter().filter(|r| r.unit_state.is_some()).count();
        out.push((Row::NodeherdWarmStatus, counted(timed(ok, c0, t0), r0)));
        pool.close_all().await;
        Ok(out)
    })
}

/// Phases of one connection to one host (nothing else running): connect (TCP + key exchange +
/// host-key check + auth), then three commands on it. Medians of `reps`, in ms.
fn phases(rt: &tokio::runtime::Runtime, inv: &Inventory, reps: usize) -> Result<String, String> {
    let target = inv
        .hosts
        .first()
        .map(|h| h.target.clone())
        .ok_or("empty inventory")?;
    let cmd = ssh::Command::new("cat").arg("/proc/loadavg");
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); 4];
    for _ in 0..reps {
        std::thread::sleep(Duration::from_millis(50));
        let r: Result<Vec<f64>, ssh::SshError> = rt.block_on(async {
            let opts = ConnectOptions::default();
            let t = Instant::now();
            let session = ssh::Session::connect(&target, &opts).await?;
            let mut v = vec![t.elapsed().as_secs_f64() * 1e3];
            for _ in 0..3 {
                let t = Instant::now();
                session.exec(&cmd).await?.check(&target.name)?;
                v.push(t.elapsed().as_secs_f64() * 1e3);
            }
            session.close().await;
            Ok(v)
        });
        let v = r.map_err(|e| e.to_string())?;
        for (c, x) in cols.iter_mut().zip(v) {
            c.push(x);
        }
    }
    let m: Vec<f64> = cols.into_iter().map(median).collect();
    Ok(format!(
        "one host alone, median of {reps}: connect+kex+auth {:.1} ms, 1st command {:.1} ms, 2nd {:.1} ms, 3rd {:.1} ms",
        m[0], m[1], m[2], m[3]
    ))
}

/// The status poll's server-side work on one host, on one warm connection: the poll's real
/// script against its parts and against an empty command (the floor: a session channel, the
/// login shell, exit). Medians of `reps` round-robin runs, in ms.
fn server_work(
    rt: &tokio::runtime::Runtime,
    inv: &Inventory,
    reps: usize,
) -> Result<String, String> {
    use nodeherd_core::facts::{status, systemd};
    let host = inv.hosts.first().ok_or("empty inventory")?;
    let units: Vec<&str> = host.nodes.iter().map(|n| n.unit.as_str()).collect();
    let dirs: Vec<String> = host
        .nodes
        .iter()
        .map(|n| n.install_dir.display().to_string())
        .collect();
    let script = status::status_script(&units, &dirs);
    let links: Vec<String> = dirs.iter().map(|d| format!("{d}/current")).collect();
    let variants: Vec<(&str, ssh::Command)> = vec![
        ("empty command (`true`)", ssh::Command::new("true")),
        (
            "the status poll (`sh -c` systemctl show + readlink)",
            ssh::Command::new("sh").arg("-c").arg(&script),
        ),
        ("`systemctl show` alone", systemd::show_command(&units)),
        (
            "`systemctl is-active` alone",
            ssh::Command::new("systemctl")
                .arg("is-active")
                .arg("--")
                .args(units.iter().copied()),
        ),
        (
            "`readlink` alone",
            ssh::Command::new("readlink")
                .arg("--")
                .args(links.iter().map(String::as_str)),
        ),
    ];
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    rt.block_on(async {
        let session = ssh::Session::connect(&host.target, &ConnectOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        for _ in 0..reps {
            for (i, (_, cmd)) in variants.iter().enumerate() {
                let t = Instant::now();
                session.exec(cmd).await.map_err(|e| e.to_string())?;
                cols[i].push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        session.close().await;
        Ok::<(), String>(())
    })?;
    let parts: Vec<String> = variants
        .iter()
        .zip(cols)
        .map(|((label, _), c)| format!("{label} {:.1} ms", median(c)))
        .collect();
    Ok(format!(
        "server-side work on one host, warm connection, median of {reps}: {}",
        parts.join(", ")
    ))
}

// ---------------------------------------------------------------------------------------------
// Setup

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The hosts as the clients see them behind the relay (`127.77.x.y`), a known_hosts file naming
/// those addresses (the same host keys), and the relay started for them.
fn behind_relay(
    hosts: &[Host],
    known_hosts: &Path,
    dir: &Path,
    delay: Duration,
) -> Result<(Vec<Host>, PathBuf, relay::Relay), String> {
    let text = std::fs::read_to_string(known_hosts)
        .map_err(|e| format!("{}: {e}", known_hosts.display()))?;
    let mut pairs = Vec::new();
    let mut kh = String::new();
    let mut out = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        let listen = relay::listen_address(i);
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(&format!("{} ", h.address)) {
                kh.push_str(&format!("{listen} {rest}\n"));
            }
        }
        pairs.push((listen.clone(), h.address.clone()));
        out.push(Host {
            name: h.name.clone(),
            address: listen,
        });
    }
    let path = dir.join("known_hosts");
    write(&path, &kh)?;
    let relay = relay::Relay::start(&pairs, delay)?;
    Ok((out, path, relay))
}

fn setup_for(
    n: usize,
    all: &[Host],
    report: &lab::LabReport,
    root: &Path,
    have_ansible: bool,
    delay: Duration,
) -> Result<Setup, String> {
    let hosts: Vec<Host> = all.iter().take(n).cloned().collect();
    let dir = root.join(format!("n{n}-d{}", delay.as_millis()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (hosts, known_hosts, relay) = if delay.is_zero() {
        (hosts, report.known_hosts.clone(), None)
    } else {
        let (h, k, r) = behind_relay(&hosts, &report.known_hosts, &dir, delay)?;
        (h, k, Some(r))
    };
    let inventory = dir.join("inventory.toml");
    let spec = lab::inventory::InventorySpec {
        identity_file: report.client_key.clone(),
        known_hosts_file: known_hosts.clone(),
        hosts: hosts
            .iter()
            .map(|h| lab::inventory::InventoryHost {
                name: h.name.clone(),
                address: h.address.clone(),
                lodestar: false,
                extra_vc: false,
                ethereumjs: false,
            })
            .collect(),
        release_feed: None,
    };
    write(&inventory, &lab::inventory::inventory_text(&spec))?;
    let mut s = Setup {
        n,
        hosts,
        dir: dir.clone(),
        inventory,
        known_hosts,
        key: report.client_key.clone(),
        ansible_cfg: None,
        ansible_ini: dir.join("hosts.ini"),
        delay,
        relay,
    };
    let mut ini = String::from("[lab]\n");
    for h in &s.hosts {
        ini.push_str(&format!("{} ansible_host={}\n", h.name, h.address));
    }
    ini.push_str(&format!(
        "\n[all:vars]\nansible_user=root\nansible_ssh_private_key_file={}\n",
        s.key.display()
    ));
    write(&s.ansible_ini, &ini)?;
    if have_ansible {
        // The same ssh options as the OpenSSH rows; no ControlPersist, so every run is cold.
        let ssh_args: Vec<String> = s.ssh_common()[2..s.ssh_common().len() - 2].to_vec();
        let cfg = dir.join("ansible.cfg");
        let tmp = dir.join("ansible-tmp");
        write(
            &cfg,
            &format!(
                "[defaults]\nhost_key_checking = True\nforks = {n}\ngathering = explicit\n\
                 interpreter_python = auto_silent\nlocal_tmp = {}\nretry_files_enabled = False\n\
                 [ssh_connection]\nssh_args = -o ControlMaster=no {}\n",
                tmp.display(),
                ssh_args.join(" ")
            ),
        )?;
        s.ansible_cfg = Some(cfg);
    }
    Ok(s)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let ssh = Command::new("ssh")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), Linux {}, load average {}; {ssh}",
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

// ---------------------------------------------------------------------------------------------
// Report

struct Stats {
    wall: f64,
    cpu: f64,
    rts: f64,
    runs: usize,
    failed_runs: usize,
    errors: Vec<String>,
}

fn stats(samples: &[Sample], errors: &[String], n: usize) -> Stats {
    let good: Vec<&Sample> = samples.iter().filter(|s| s.ok == n).collect();
    Stats {
        wall: median(good.iter().map(|s| s.wall).collect()),
        cpu: median(good.iter().map(|s| s.cpu).collect()),
        rts: median(
            good.iter()
                .map(|s| s.rts)
                .filter(|r| r.is_finite())
                .collect(),
        ),
        runs: good.len(),
        failed_runs: samples.len() - good.len(),
        errors: errors.to_vec(),
    }
}

fn f(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "-".into()
    }
}

fn report(n: usize, rounds: usize, table: &BTreeMap<Row, Stats>) -> String {
    let mut md = String::new();
    md.push_str(
        "| variant | N | median wall s | client CPU s | CPU ms/host | wall ratio to nodeherd | round trips/host |\n|---|---|---|---|---|---|---|\n",
    );
    for (row, st) in table {
        let base = table.get(&row.baseline()).map_or(f64::NAN, |b| b.wall);
        if st.runs == 0 {
            let why = st.errors.first().cloned().unwrap_or_else(|| {
                format!(
                    "no complete run ({} of {rounds} incomplete)",
                    st.failed_runs
                )
            });
            md.push_str(&format!("| {} | {n} | {why} | | | | |\n", row.label()));
            continue;
        }
        let note = if st.failed_runs > 0 {
            format!(
                " ({} of {} runs incomplete, excluded)",
                st.failed_runs, rounds
            )
        } else {
            String::new()
        };
        md.push_str(&format!(
            "| {}{note} | {n} | {} | {} | {} | {} | {} |\n",
            row.label(),
            f(st.wall, 3),
            f(st.cpu, 3),
            f(st.cpu * 1000.0 / n as f64, 2),
            f(st.wall / base, 2),
            f(st.rts, 1),
        ));
    }
    md
}

fn targets(n: usize, t: &BTreeMap<Row, Stats>) -> String {
    let get = |r: Row| t.get(&r).filter(|s| s.runs > 0);
    let ratio = |a: Row, b: Row| match (get(a), get(b)) {
        (Some(a), Some(b)) => a.wall / b.wall,
        _ => f64::NAN,
    };
    let per_host = |r: Row| get(r).map_or(f64::NAN, |s| s.cpu * 1000.0 / n as f64);
    let verdict = |ok: bool, v: f64| {
        if !v.is_finite() {
            "n/a"
        } else if ok {
            "met"
        } else {
            "MISSED"
        }
    };
    let mut lines = Vec::new();
    let mut line = |what: &str, v: f64, ok: bool, unit: &str| {
        lines.push(format!(
            "| {what} | {}{unit} | {} |",
            f(v, 2),
            verdict(ok, v)
        ));
    };
    let r = ratio(Row::NodeherdCold, Row::SshCurve);
    line("cold wall / OpenSSH curve25519 <= 0.7x", r, r <= 0.7, "x");
    let r = ratio(Row::NodeherdCold, Row::SshDefault);
    line(
        "cold wall / OpenSSH default kex <= 0.25x",
        r,
        r <= 0.25,
        "x",
    );
    let r = ratio(Row::NodeherdWarmCat, Row::SshControlMaster);
    line(
        "warm poll wall / OpenSSH ControlMaster <= 0.5x",
        r,
        r <= 0.5,
        "x",
    );
    let r = ratio(Row::NodeherdWarmStatus, Row::SshControlMaster);
    line(
        "(warm status gather wall / ControlMaster)",
        r,
        r <= 0.5,
        "x",
    );
    let c = per_host(Row::NodeherdCold);
    line(
        "client CPU per host cold (CLI) <= 1.5 ms",
        c,
        c <= 1.5,
        " ms",
    );
    let c = per_host(Row::NodeherdLibCold);
    line("(client CPU per host cold, in-process)", c, c <= 1.5, " ms");
    let c = per_host(Row::NodeherdWarmCat);
    line(
        "client CPU per host per warm command <= 0.3 ms",
        c,
        c <= 0.3,
        " ms",
    );
    let c = per_host(Row::NodeherdWarmStatus);
    line("(same, warm status gather)", c, c <= 0.3, " ms");
    let r = ratio(Row::Ansible, Row::NodeherdCold);
    line("Ansible wall / nodeherd cold >= 15x", r, r >= 15.0, "x");
    format!(
        "| target (N={n}) | measured | verdict |\n|---|---|---|\n{}\n",
        lines.join("\n")
    )
}

// ---------------------------------------------------------------------------------------------

fn bench_n(
    rt: &tokio::runtime::Runtime,
    s: &Setup,
    rounds: usize,
) -> Result<BTreeMap<Row, Stats>, String> {
    let inv = Inventory::load(&s.inventory).map_err(|e| format!("{e:?}"))?;
    println!(
        "\n== N = {}, one-way delay {} ms ({} rounds) ==",
        s.n,
        s.delay.as_millis(),
        rounds
    );
    match phases(rt, &inv, 11) {
        Ok(line) => println!("{line}"),
        Err(e) => println!("phases of one connection: {e}"),
    }
    match server_work(rt, &inv, 21) {
        Ok(line) => println!("{line}"),
        Err(e) => println!("server-side work: {e}"),
    }
    print!("starting {} ControlMasters (not timed) ... ", s.n);
    let _ = std::io::stdout().flush();
    let masters = Masters::start(s)?;
    println!("up");
    let order = [
        Variant::NodeherdCold,
        Variant::SshCurve,
        Variant::NodeherdLib,
        Variant::SshDefault,
        Variant::SshControlMaster,
        Variant::Ansible,
    ];
    let mut samples: BTreeMap<Row, Vec<Sample>> = BTreeMap::new();
    let mut errors: BTreeMap<Row, Vec<String>> = BTreeMap::new();
    for round in 0..rounds {
        // rotate the order so no variant always follows the same one
        for k in 0..order.len() {
            let v = order[(k + round) % order.len()];
            std::thread::sleep(SETTLE);
            let r0 = s.relay.as_ref().and_then(|r| r.counts().ok());
            let mut result: Result<Vec<(Row, Sample)>, String> = match v {
                Variant::NodeherdCold => nodeherd_cold(s).map(|x| vec![(Row::NodeherdCold, x)]),
                Variant::NodeherdLib => nodeherd_lib(rt, s, &inv, s.relay.as_ref()),
                Variant::SshDefault => xargs_ssh(s, &[]).map(|x| vec![(Row::SshDefault, x)]),
                Variant::SshCurve => xargs_ssh(s, &["-o", "KexAlgorithms=curve25519-sha256"])
                    .map(|x| vec![(Row::SshCurve, x)]),
                Variant::SshControlMaster => {
                    ssh_control_master(s, &masters).map(|x| vec![(Row::SshControlMaster, x)])
                }
                Variant::Ansible => ansible(s).map(|x| vec![(Row::Ansible, x)]),
            };
            // round trips per host of a one-row variant (the in-process one counts its own phases)
            if let (Some(relay), Some(r0), Ok([(_, x)])) =
                (s.relay.as_ref(), r0, result.as_deref_mut())
            {
                std::thread::sleep(s.delay * 2 + Duration::from_millis(100));
                if let Ok(r1) = relay.counts() {
                    x.rts = r1.since(r0).exchanges as f64 / s.n as f64;
                }
            }
            match result {
                Ok(rows) => {
                    for (row, x) in rows {
                        println!(
                            "  round {} {:<62} wall {:>7.3} s  cpu {:>7.3} s  ok {}/{}  rt/host {:.1}",
                            round + 1,
                            row.label(),
                            x.wall,
                            x.cpu,
                            x.ok,
                            s.n,
                            x.rts
                        );
                        samples.entry(row).or_default().push(x);
                    }
                }
                Err(e) => {
                    let row = match v {
                        Variant::Ansible => Row::Ansible,
                        Variant::NodeherdCold => Row::NodeherdCold,
                        Variant::NodeherdLib => Row::NodeherdLibCold,
                        Variant::SshDefault => Row::SshDefault,
                        Variant::SshCurve => Row::SshCurve,
                        Variant::SshControlMaster => Row::SshControlMaster,
                    };
                    if round == 0 {
                        println!("  round {} {}: {e}", round + 1, row.label());
                    }
                    errors.entry(row).or_default().push(e);
                    samples.entry(row).or_default();
                }
            }
        }
    }
    drop(masters);
    let mut table = BTreeMap::new();
    for (row, v) in &samples {
        let e = errors.get(row).cloned().unwrap_or_default();
        table.insert(*row, stats(v, &e, s.n));
    }
    Ok(table)
}

fn env_list(name: &str, default: &str) -> Vec<usize> {
    let raw = std::env::var(name).unwrap_or_else(|_| default.into());
    let mut v: Vec<usize> = raw
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .filter(|&x| x > 0)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn main() {
    relay::run_if_relay();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!(
            "fanout bench skipped: it needs root to bring up the lab (network namespaces, systemd-nspawn); \
             run `sudo cargo bench --bench fanout`"
        );
        return;
    }
    let ns = env_list("NODEHERD_BENCH_HOSTS", "50");
    let Some(&max_n) = ns.last() else {
        println!("NODEHERD_BENCH_HOSTS gives no host count (e.g. 50 or 20,50)");
        std::process::exit(2);
    };
    let lab_name = std::env::var("NODEHERD_BENCH_LAB").unwrap_or_else(|_| LAB_NAME.into());
    let subnet = std::env::var("NODEHERD_BENCH_SUBNET")
        .ok()
        .and_then(|v| v.parse::<u8>().ok())
        .unwrap_or(LAB_SUBNET);
    if max_n > 200 {
        println!("NODEHERD_BENCH_HOSTS: at most 200 hosts in subnet 10.{subnet}.0.0/24");
        std::process::exit(2);
    }
    // one-way delays in ms; 0 is the direct link, anything else goes through the relay
    let delays: Vec<Duration> = std::env::var("NODEHERD_BENCH_DELAYS")
        .unwrap_or_else(|_| "0".into())
        .split(',')
        .filter_map(|x| x.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
        .collect();
    let rounds = env_list("NODEHERD_BENCH_ROUNDS", "5")
        .first()
        .copied()
        .unwrap_or(5);
    // SAFETY: single-threaded here; no other thread reads the environment yet.
    unsafe { std::env::remove_var("SSH_AUTH_SOCK") };
    let keep = std::env::var("NODEHERD_BENCH_KEEP_LAB").is_ok_and(|v| v == "1");

    let work = match tempfile::Builder::new().prefix("nhbench.").tempdir() {
        Ok(d) => d,
        Err(e) => {
            println!("cannot create a temporary directory: {e}");
            std::process::exit(1);
        }
    };
    let cfg = LabConfig {
        name: lab_name.clone(),
        subnet,
        hosts: max_n,
        lodestar: false,
        extra_vc: false,
        inventory_out: Some(work.path().join("lab-inventory.toml")),
        ..LabConfig::default()
    };
    println!("machine: {}", machine());
    println!("bringing up lab {lab_name} with {max_n} hosts (10.{subnet}.0.0/24) ...");
    let code = match lab::up(&cfg) {
        Err(e) => {
            println!("lab up failed: {e:?}");
            1
        }
        Ok(rep) => {
            println!("lab up in {:.1} s", rep.elapsed.as_secs_f64());
            match run(&cfg, &rep, &ns, &delays, rounds, work.path()) {
                Ok(()) => 0,
                Err(e) => {
                    println!("bench failed: {e}");
                    1
                }
            }
        }
    };
    if keep {
        println!(
            "NODEHERD_BENCH_KEEP_LAB=1: lab {lab_name} left running (`nodeherd lab down` it later)"
        );
    } else {
        match lab::down(&cfg) {
            Ok(()) => println!("lab {lab_name} is down"),
            Err(e) => println!("lab down failed: {e:?}"),
        }
    }
    drop(work); // process::exit skips destructors: remove the temporary files first
    std::process::exit(code);
}

fn run(
    cfg: &LabConfig,
    rep: &lab::LabReport,
    ns: &[usize],
    delays: &[Duration],
    rounds: usize,
    work: &Path,
) -> Result<(), String> {
    let mut hosts: Vec<(usize, Host)> = rep
        .hosts
        .iter()
        .filter_map(|h| {
            naming::host_index(&cfg.name, &h.name).map(|i| {
                (
                    i,
                    Host {
                        name: h.name.clone(),
                        address: h.address.clone(),
                    },
                )
            })
        })
        .collect();
    hosts.sort_by_key(|(i, _)| *i);
    let hosts: Vec<Host> = hosts.into_iter().map(|(_, h)| h).collect();
    let have_ansible = ensure_ansible();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let mut out = String::new();
    for &n in ns {
        if hosts.len() < n {
            return Err(format!("lab has {} hosts, {n} wanted", hosts.len()));
        }
        for &delay in delays {
            let s = setup_for(n, &hosts, rep, work, have_ansible, delay)?;
            let table = bench_n(&rt, &s, rounds)?;
            out.push_str(&format!(
                "\n### N = {n}, one-way delay {} ms, median of {rounds} interleaved rounds\n\n",
                delay.as_millis()
            ));
            out.push_str(&report(n, rounds, &table));
            out.push('\n');
            out.push_str(&targets(n, &table));
        }
    }
    println!("\nmachine at the end: {}", machine());
    println!(
        "\nRatios: cold rows against `nodeherd cold` (CLI), warm rows against `nodeherd warm: cat`.\n\
         ControlMaster CPU includes the master processes' CPU during the poll.\n\
         Markdown (paste into docs/performance.md):\n{out}"
    );
    Ok(())
}
