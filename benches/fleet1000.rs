//! 1000 hosts from one console (issue 15 item 5): `nodeherd status` (cold, with several `--forks`),
//! a warm status poll, `plan` and the TUI idle with polls, against OpenSSH (`xargs -P`), pssh and
//! Ansible, over N = 50, 200 and 1000 SSH endpoints, in the same run, interleaved.
//!
//! The endpoints: this machine's PID 1 is not systemd, so a host's `systemctl` must come from a
//! real systemd. The bench brings up ONE lab host (systemd-nspawn, real systemd as PID 1, real
//! OpenSSH 9.2 server, a real demo unit; lab `NODEHERD_BENCH_LAB`, default `nhfleet`, subnet
//! `NODEHERD_BENCH_SUBNET`, default 241), and enters that host's network namespace. Every address
//! of 127/8 is loopback, so the host's one sshd (listening on 0.0.0.0:22) is reached at 1000
//! distinct addresses `127.78.A.B`: 1000 inventory hosts, 1000 known_hosts lines (the host's real
//! key under each address), 1000 separate TCP connections, key exchanges, authentications and
//! sshd session processes (sshd forks and re-executes itself per connection), and each `status`
//! really asks that systemd for the unit's state. What this does not model: 1000 distinct host
//! keys (the client still checks each address against its own known_hosts line) and 1000
//! distinct kernels; every server's CPU is spent on this machine's 2 cores, beside the clients.
//! The host's sshd gets `MaxStartups 2000` (the lab's 200:30:400 would drop connections at 1000).
//!
//! Client CPU: `wait4` rusage of the child (and its waited descendants). Peak RSS and open files:
//! the child's tree sampled every 200 ms (summed over processes: xargs plus each ssh), and the
//! child's own `ru_maxrss`; the larger is reported. Server CPU is not separated (one machine).
//!
//! Run: `sudo cargo bench --bench fleet1000` (release). Knobs: `NODEHERD_BENCH_HOSTS` (default
//! `50,200,1000`), `NODEHERD_BENCH_ROUNDS` (default 2; 0: only the TUI window), `NODEHERD_BENCH_FORKS` (the nodeherd
//! `--forks` curve, default `50,100,200`), `NODEHERD_BENCH_PAR` (parallelism of OpenSSH, pssh and
//! Ansible, default 100), `NODEHERD_BENCH_TUI_SECONDS` (default 60; 0 skips the TUI),
//! `NODEHERD_BENCH_KEEP_LAB=1`. Installs `ansible-core` and `pssh` with apt when missing.

#[path = "support/procs.rs"]
mod procs;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodeherd_core::inventory::Inventory;
use nodeherd_core::selector::Selector;
use nodeherd_lab::{self as lab, LabConfig};
use nodeherd_transport::ssh::{ConnectOptions, Pool};

const REMOTE: &str = "cat /proc/loadavg";
const SETTLE: Duration = Duration::from_millis(1500);

/// One timed run.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: f64,
    rss_mb: f64,
    fds: usize,
    ok: usize,
}

#[path = "support/stats.rs"]
mod stats;
use stats::median;

fn loadavg_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 5 && f[f.len() - 2].contains('/') && f[f.len() - 5].parse::<f64>().is_ok()
        })
        .count()
}

/// Run a child to the end: wall, CPU and peak RSS (wait4), peak tree RSS and descriptors.
fn run_child(mut cmd: Command) -> Result<(Sample, String), String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let pid = child.id();
    let sampler = procs::TreeSampler::start(pid, Duration::from_millis(200));
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut status = 0;
    // SAFETY: wait4 on our own child's pid, writing into structs we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid as libc::pid_t, &raw mut status, 0, &raw mut ru) };
    let wall = t0.elapsed().as_secs_f64();
    let (tree_rss, fds) = sampler.finish();
    if r < 0 {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = tv(ru.ru_utime) + tv(ru.ru_stime);
    let text = out_t.join().unwrap_or_default();
    let err = err_t.join().unwrap_or_default();
    if status != 0 {
        let tail: Vec<&str> = err.lines().rev().take(2).collect();
        println!(
            "    note: {:?} exit {status}: {}",
            cmd.get_program(),
            tail.join(" | ")
        );
    }
    let rss_mb = tree_rss.max(ru.ru_maxrss as f64 / 1024.0);
    Ok((
        Sample {
            wall,
            cpu,
            rss_mb,
            fds,
            ok: 0,
        },
        text,
    ))
}

/// The console-side address of endpoint `i`.
fn endpoint(i: usize) -> String {
    format!("127.78.{}.{}", i / 200, 10 + i % 200)
}

struct Setup {
    n: usize,
    par: usize,
    inventory: PathBuf,
    known_hosts: PathBuf,
    key: PathBuf,
    hosts_file: PathBuf,
    playbook: PathBuf,
    ansible_cfg: Option<PathBuf>,
    ansible_ini: PathBuf,
}

impl Setup {
    fn ssh_opts(&self) -> Vec<String> {
        let mut v = vec!["-i".to_string(), self.key.display().to_string()];
        for o in [
            "IdentitiesOnly=yes".to_string(),
            "IdentityAgent=none".into(),
            "BatchMode=yes".into(),
            "StrictHostKeyChecking=yes".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "GlobalKnownHostsFile=/dev/null".into(),
            "ConnectTimeout=60".into(),
            "LogLevel=ERROR".into(),
            "KexAlgorithms=curve25519-sha256".into(),
        ] {
            v.push("-o".into());
            v.push(o);
        }
        v.push("-l".into());
        v.push("root".into());
        v
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn setup_for(
    n: usize,
    par: usize,
    rep: &lab::LabReport,
    host_key_line: &str,
    dir: &Path,
    have_ansible: bool,
) -> Result<Setup, String> {
    let dir = dir.join(format!("n{n}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let addresses: Vec<String> = (0..n).map(endpoint).collect();
    let known_hosts = dir.join("known_hosts");
    let kh: String = addresses
        .iter()
        .map(|a| format!("{a} {host_key_line}\n"))
        .collect();
    write(&known_hosts, &kh)?;
    let spec = lab::inventory::InventorySpec {
        identity_file: rep.client_key.clone(),
        known_hosts_file: known_hosts.clone(),
        hosts: addresses
            .iter()
            .enumerate()
            .map(|(i, a)| lab::inventory::InventoryHost {
                name: format!("h{:04}", i + 1),
                address: a.clone(),
                lodestar: false,
                extra_vc: false,
                ethereumjs: false,
            })
            .collect(),
        release_feed: None,
    };
    let inventory = dir.join("inventory.toml");
    write(&inventory, &lab::inventory::inventory_text(&spec))?;
    let hosts_file = dir.join("hosts.txt");
    write(
        &hosts_file,
        &addresses
            .iter()
            .map(|a| format!("{a}\n"))
            .collect::<String>(),
    )?;
    let playbook = dir.join("playbook.toml");
    write(&playbook, "[state]\nrunning = true\n")?;
    let ansible_ini = dir.join("hosts.ini");
    let mut ini = String::from("[fleet]\n");
    for (i, a) in addresses.iter().enumerate() {
        ini.push_str(&format!("h{:04} ansible_host={a}\n", i + 1));
    }
    ini.push_str(&format!(
        "\n[all:vars]\nansible_user=root\nansible_ssh_private_key_file={}\n",
        rep.client_key.display()
    ));
    write(&ansible_ini, &ini)?;
    let mut s = Setup {
        n,
        par,
        inventory,
        known_hosts,
        key: rep.client_key.clone(),
        hosts_file,
        playbook,
        ansible_cfg: None,
        ansible_ini,
    };
    if have_ansible {
        let opts = s.ssh_opts();
        let ssh_args: Vec<String> = opts[2..opts.len() - 2].to_vec();
        let cfg = dir.join("ansible.cfg");
        write(
            &cfg,
            &format!(
                "[defaults]\nhost_key_checking = True\nforks = {par}\ngathering = explicit\n\
                 interpreter_python = auto_silent\nlocal_tmp = {}\nretry_files_enabled = False\n\
                 [ssh_connection]\nssh_args = -o ControlMaster=no {}\n",
                dir.join("ansible-tmp").display(),
                ssh_args.join(" ")
            ),
        )?;
        s.ansible_cfg = Some(cfg);
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// Variants

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Row {
    Status(usize),
    Warm,
    Plan,
    Xargs,
    Pssh,
    Ansible,
}

impl Row {
    fn label(&self, par: usize) -> String {
        match self {
            Row::Status(f) => {
                format!("nodeherd status all --json --forks {f} (cold, child process)")
            }
            Row::Warm => {
                "nodeherd warm status poll (engine `status::gather` on an open Pool, in-process)"
                    .into()
            }
            Row::Plan => {
                format!("nodeherd plan -p PLAYBOOK --forks {par} (no-op: every unit running)")
            }
            Row::Xargs => format!("OpenSSH `xargs -P {par} ssh` (curve25519) cat /proc/loadavg"),
            Row::Pssh => {
                format!("pssh `parallel-ssh -p {par}` (OpenSSH curve25519) cat /proc/loadavg")
            }
            Row::Ansible => format!("Ansible `-f {par} -m raw` cat /proc/loadavg"),
        }
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_nodeherd")
}

fn nodeherd_status(s: &Setup, forks: usize) -> Result<Sample, String> {
    let mut cmd = Command::new(bin());
    cmd.arg("-i")
        .arg(&s.inventory)
        .args([
            "--json",
            "--color",
            "never",
            "--forks",
            &forks.to_string(),
            "status",
            "all",
        ])
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("NODEHERD_LOG");
    let (mut x, out) = run_child(cmd)?;
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&out).map_err(|e| format!("status --json: {e}"))?;
    x.ok = rows
        .iter()
        .filter(|r| r.get("unit_state").is_some_and(|u| !u.is_null()))
        .count();
    Ok(x)
}

fn nodeherd_plan(s: &Setup) -> Result<Sample, String> {
    let mut cmd = Command::new(bin());
    cmd.arg("-i")
        .arg(&s.inventory)
        .args([
            "--json",
            "--color",
            "never",
            "--forks",
            &s.par.to_string(),
            "plan",
            "-p",
        ])
        .arg(&s.playbook)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("NODEHERD_LOG");
    let (mut x, out) = run_child(cmd)?;
    // one entry per node, each a no-op with its reason, when every host answered
    x.ok = out.matches("\"host\"").count().min(s.n);
    if x.ok < s.n {
        println!(
            "    plan output (head): {}",
            out.chars().take(300).collect::<String>()
        );
    }
    Ok(x)
}

fn xargs_ssh(s: &Setup) -> Result<Sample, String> {
    let mut cmd = Command::new("xargs");
    cmd.arg("-a")
        .arg(&s.hosts_file)
        .args(["-P", &s.par.to_string(), "-I{}", "ssh"])
        .args(s.ssh_opts())
        .args(["{}", REMOTE]);
    let (mut x, out) = run_child(cmd)?;
    x.ok = loadavg_lines(&out);
    Ok(x)
}

fn pssh(s: &Setup) -> Result<Sample, String> {
    let mut cmd = Command::new("parallel-ssh");
    cmd.arg("-h")
        .arg(&s.hosts_file)
        .args(["-p", &s.par.to_string(), "-t", "120", "-i"]);
    let opts = s.ssh_opts();
    // -X passes one argument to ssh
    cmd.args(["-X", "-i", "-X", &opts[1]]);
    for pair in opts[2..opts.len() - 2].chunks(2) {
        cmd.arg("-O").arg(&pair[1]);
    }
    cmd.args(["-l", "root", REMOTE]);
    let (mut x, out) = run_child(cmd)?;
    x.ok = loadavg_lines(&out);
    Ok(x)
}

fn ansible(s: &Setup) -> Result<Sample, String> {
    let Some(cfg) = &s.ansible_cfg else {
        return Err("not available".into());
    };
    let mut cmd = Command::new("ansible");
    cmd.args(["all", "-i"])
        .arg(&s.ansible_ini)
        .args(["-f", &s.par.to_string(), "-m", "raw", "-a", REMOTE])
        .env("ANSIBLE_CONFIG", cfg)
        .env("ANSIBLE_NOCOLOR", "1")
        .env_remove("SSH_AUTH_SOCK");
    let (mut x, out) = run_child(cmd)?;
    x.ok = loadavg_lines(&out);
    Ok(x)
}

/// Warm poll: connect every host once (not timed), then time one `status::gather`.
fn warm(rt: &tokio::runtime::Runtime, s: &Setup, forks: usize) -> Result<Sample, String> {
    let inv = Inventory::load(&s.inventory).map_err(|e| format!("{e:?}"))?;
    let nodes = Selector::parse("all")
        .and_then(|sel| sel.select_nodes(&inv))
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let pool = Arc::new(Pool::new(ConnectOptions::default()));
        // the first poll opens the connections
        let _ = nodeherd_engine::status::gather(&pool, &inv, &nodes, forks).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (c0, t0) = (procs::self_cpu(), Instant::now());
        let rows = nodeherd_engine::status::gather(&pool, &inv, &nodes, forks).await;
        let wall = t0.elapsed().as_secs_f64();
        let cpu = procs::self_cpu() - c0;
        let ok = rows.iter().filter(|r| r.unit_state.is_some()).count();
        let rss = procs::proc_rss_mb(std::process::id()).unwrap_or(f64::NAN);
        let fds = std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count);
        pool.close_all().await;
        Ok(Sample {
            wall,
            cpu,
            rss_mb: rss,
            fds,
            ok,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Tools and the endpoints

fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `program` is there, or the Debian package `package` is installed for it.
fn ensure(program: &str, arg: &str, package: &str) -> bool {
    if have(program, arg) {
        return true;
    }
    println!("{program} not found: `apt-get install -y {package}`");
    let _ = Command::new("apt-get")
        .args(["install", "-y", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status();
    have(program, arg)
}

/// Run a command on the lab host through OpenSSH from the root namespace.
fn on_host(rep: &lab::LabReport, address: &str, script: &str) -> Result<String, String> {
    let out = Command::new("ssh")
        .arg("-i")
        .arg(&rep.client_key)
        .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o"])
        .arg(format!("UserKnownHostsFile={}", rep.known_hosts.display()))
        .args(["-l", "root", address, script])
        .output()
        .map_err(|e| format!("ssh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "on the host: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Enter the network namespace of the lab host (this thread; call before any other thread).
fn enter_netns(host: &str) -> Result<(), String> {
    let path = format!("/run/netns/{host}");
    let f = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    use std::os::fd::AsRawFd as _;
    // SAFETY: setns on a namespace file descriptor we hold open.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn raise_limits() {
    let lim = libc::rlimit {
        rlim_cur: 65536,
        rlim_max: 65536,
    };
    // SAFETY: setrlimit with a struct we own.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const lim) };
}

fn machine() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!(
        "{cores} cores, load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
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
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!(
            "fleet1000 bench skipped: it needs root (a lab host, its network namespace); run `sudo cargo bench --bench fleet1000`"
        );
        return;
    }
    raise_limits();
    // SAFETY: single-threaded here.
    unsafe { std::env::remove_var("SSH_AUTH_SOCK") };
    let name = std::env::var("NODEHERD_BENCH_LAB").unwrap_or_else(|_| "nhfleet".into());
    let subnet = std::env::var("NODEHERD_BENCH_SUBNET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(241u8);
    let keep = std::env::var("NODEHERD_BENCH_KEEP_LAB").is_ok_and(|v| v == "1");
    let work = match tempfile::Builder::new().prefix("nhfleet.").tempdir() {
        Ok(d) => d,
        Err(e) => {
            println!("cannot create a temporary directory: {e}");
            std::process::exit(1);
        }
    };
    let cfg = LabConfig {
        name: name.clone(),
        subnet,
        hosts: 1,
        lodestar: false,
        extra_vc: false,
        inventory_out: Some(work.path().join("lab-inventory.toml")),
        ..LabConfig::default()
    };
    println!("machine: {}", machine());
    let code = match lab::up(&cfg) {
        Err(e) => {
            println!("lab up failed: {e:?}");
            1
        }
        Ok(rep) => match run(&rep, work.path()) {
            Ok(()) => 0,
            Err(e) => {
                println!("bench failed: {e}");
                1
            }
        },
    };
    if keep {
        println!("NODEHERD_BENCH_KEEP_LAB=1: lab {name} left running");
    } else {
        match lab::down(&cfg) {
            Ok(()) => println!("lab {name} is down"),
            Err(e) => println!("lab down failed: {e:?}"),
        }
    }
    drop(work);
    std::process::exit(code);
}

#[path = "support/fleet_run.rs"]
mod fleet_run;
use fleet_run::run;
