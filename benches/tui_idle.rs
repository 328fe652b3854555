//! TUI idle benchmark (issue 5): the CPU and memory of the real `nodeherd tui` left alone on the
//! fleet screen while it polls N lab hosts (status + host facts + alert rules every 5 s), against a
//! baseline in the same run: what watching the same fleet with the CLI costs (`nodeherd status`
//! once per poll interval, a fresh connection each time, as `watch -n5` or a cron loop does).
//!
//! Brings up (or reuses) the `nhidle` lab (10.224.0.0/24, demo units, no Lodestar) with N hosts
//! (`NODEHERD_BENCH_HOSTS`, default 50), starts the binary in tmux at 160x48, waits until every
//! host's row is on screen (connections open), then reads utime+stime and VmRSS from
//! /proc/PID over `NODEHERD_BENCH_SECONDS` (default 60). The baseline runs `nodeherd status all`
//! every 5 s over the same span and sums the children's CPU (getrusage). The two are interleaved
//! (TUI window, baseline window, TUI window) so a noisy neighbour hits both. Last, the CPU
//! *between* polls: the TUI again with `--poll-secs 3600`, measured after its first poll.
//!
//! Run: `sudo cargo bench --bench tui_idle` (release build; `--profile dev` works too). Without
//! root it says why and exits 0. The lab goes down at the end unless `NODEHERD_BENCH_KEEP_LAB=1`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nodeherd_lab::{self as lab, LabConfig};

const LAB_NAME: &str = "nhidle";
const LAB_SUBNET: u8 = 224;
const POLL: Duration = Duration::from_secs(5);

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat).
fn proc_cpu(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name may hold spaces: fields count from after its closing parenthesis
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / ticks_per_sec())
}

fn proc_rss_mb(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn children_cpu() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &raw mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn tmux(sock: &Path, args: &[&str]) -> String {
    let out = Command::new("tmux").arg("-S").arg(sock).args(args).output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => format!("tmux: {e}"),
    }
}

/// One TUI window: CPU seconds used and RSS at the end.
fn tui_window(pid: u32, span: Duration) -> (f64, f64) {
    let c0 = proc_cpu(pid).unwrap_or(0.0);
    std::thread::sleep(span);
    let c1 = proc_cpu(pid).unwrap_or(0.0);
    let rss = proc_rss_mb(pid).unwrap_or(0.0);
    (c1 - c0, rss)
}

/// One baseline window: `nodeherd status all` every POLL; CPU seconds of those runs, and how many
/// of them answered for every host.
fn status_window(bin: &str, inv: &Path, n: usize, span: Duration) -> (f64, usize, usize) {
    let c0 = children_cpu();
    let start = Instant::now();
    let (mut runs, mut complete) = (0, 0);
    while start.elapsed() + POLL <= span + Duration::from_millis(50) {
        let t = Instant::now();
        let out = Command::new(bin)
            .arg("-i")
            .arg(inv)
            .args(["--json", "status", "all", "--forks", "50"])
            .env_remove("SSH_AUTH_SOCK")
            .output();
        runs += 1;
        if let Ok(o) = out {
            let text = String::from_utf8_lossy(&o.stdout);
            if text.matches("\"active_state\"").count() >= n {
                complete += 1;
            }
        }
        std::thread::sleep(POLL.saturating_sub(t.elapsed()));
    }
    (children_cpu() - c0, runs, complete)
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!(
            "tui_idle bench skipped: it needs root to bring up the lab; run `sudo cargo bench --bench tui_idle`"
        );
        return;
    }
    let n: usize = std::env::var("NODEHERD_BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let secs: u64 = std::env::var("NODEHERD_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let span = Duration::from_secs(secs);
    let keep = std::env::var("NODEHERD_BENCH_KEEP_LAB").is_ok_and(|v| v == "1");
    let work = match tempfile::Builder::new().prefix("nhidle.").tempdir() {
        Ok(d) => d,
        Err(e) => {
            println!("cannot create a temporary directory: {e}");
            std::process::exit(1);
        }
    };
    let inv = work.path().join("lab-inventory.toml");
    let cfg = LabConfig {
        name: LAB_NAME.into(),
        subnet: LAB_SUBNET,
        hosts: n,
        lodestar: false,
        extra_vc: false,
        inventory_out: Some(inv.clone()),
        ..LabConfig::default()
    };
    let t = Instant::now();
    if let Err(e) = lab::up(&cfg) {
        println!("lab up failed: {e}");
        let _ = lab::down(&cfg);
        std::process::exit(1);
    }
    println!(
        "lab {LAB_NAME}: {n} hosts up in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let bin = env!("CARGO_BIN_EXE_nodeherd");
    let sock = work.path().join("tmux.sock");
    let cmd = format!("NODEHERD_LOG= {bin} -i {} tui", inv.display());
    tmux(&sock, &["new-session", "-d", "-x", "160", "-y", "48", &cmd]);
    let pid: u32 = tmux(&sock, &["display", "-p", "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap_or(0);
    // all rows polled once: every host's demo unit shows as running
    let start = Instant::now();
    let mut ready = false;
    while start.elapsed() < Duration::from_secs(90) {
        let screen = tmux(&sock, &["capture-pane", "-p"]);
        if screen.contains(&format!("ok {n} ")) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let connect_s = start.elapsed().as_secs_f64();
    if !ready || pid == 0 {
        println!(
            "the TUI never showed {n} hosts ok (pid {pid}); last screen:\n{}",
            tmux(&sock, &["capture-pane", "-p"])
        );
    }
    // let the first metrics/alerts rounds settle before measuring
    std::thread::sleep(Duration::from_secs(10));
    let (tui_a, _) = tui_window(pid, span);
    let (base_cpu, runs, complete) = status_window(bin, &inv, n, span);
    let (tui_b, rss) = tui_window(pid, span);
    let still_ok = tmux(&sock, &["capture-pane", "-p"]).contains(&format!("ok {n} "));
    tmux(&sock, &["send-keys", "q"]);
    std::thread::sleep(Duration::from_secs(2));
    tmux(&sock, &["kill-server"]);
    // Between polls: the same TUI with a poll interval longer than the window, measured after its
    // first poll (connections open, rows drawn): the redraw tick, timers and open sessions only.
    let cmd = format!("exec {bin} -i {} tui --poll-secs 3600", inv.display());
    tmux(&sock, &["new-session", "-d", "-x", "160", "-y", "48", &cmd]);
    let pid2: u32 = tmux(&sock, &["display", "-p", "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap_or(0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(90)
        && !tmux(&sock, &["capture-pane", "-p"]).contains(&format!("ok {n} "))
    {
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(10));
    let (between, rss_between) = tui_window(pid2, span);
    tmux(&sock, &["send-keys", "q"]);
    std::thread::sleep(Duration::from_secs(2));
    tmux(&sock, &["kill-server"]);
    if !keep {
        if let Err(e) = lab::down(&cfg) {
            println!("lab down failed: {e}");
        }
    }
    let tui = f64::midpoint(tui_a, tui_b);
    let pct = |cpu: f64| 100.0 * cpu / span.as_secs_f64();
    println!();
    println!(
        "| what ({n} hosts, {secs} s windows, poll every 5 s) | CPU-s per window | share of one core | RSS |"
    );
    println!("|---|---|---|---|");
    println!(
        "| `nodeherd tui`, fleet screen, idle (mean of 2 windows: {tui_a:.2}, {tui_b:.2}) | {tui:.2} | {:.2} % | {rss:.1} MB |",
        pct(tui)
    );
    println!(
        "| `nodeherd tui --poll-secs 3600`, between polls (after the first) | {between:.2} | {:.2} % | {rss_between:.1} MB |",
        pct(between)
    );
    println!(
        "| baseline: `nodeherd status all` every 5 s ({runs} runs, {complete} answered for all hosts) | {base_cpu:.2} | {:.2} % | - |",
        pct(base_cpu)
    );
    println!();
    println!(
        "TUI ready (all {n} rows ok) {connect_s:.1}s after launch; rows still ok at the end: {still_ok}; \
         the TUI costs {:.2}x the CLI baseline's CPU",
        if base_cpu > 0.0 {
            tui / base_cpu
        } else {
            f64::NAN
        }
    );
}
