//! The fleet1000 bench's rounds, report and TUI window (see `benches/fleet1000.rs`).
//!
//! Owns: the order of variants, the medians, the markdown tables. May not touch: the lab beyond
//! its one host's sshd limit.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{
    Row, SETTLE, Sample, Setup, ansible, ensure, enter_netns, env_list, lab, machine, median,
    nodeherd_plan, nodeherd_status, on_host, procs, pssh, setup_for, warm, xargs_ssh,
};

pub fn run(rep: &lab::LabReport, dir: &std::path::Path) -> Result<(), String> {
    let host = rep.hosts.first().ok_or("the lab has no host")?;
    let kh = std::fs::read_to_string(&rep.known_hosts)
        .map_err(|e| format!("{}: {e}", rep.known_hosts.display()))?;
    let key_line = kh
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{} ", host.address)))
        .ok_or("the host's key is not in the lab's known_hosts")?
        .to_string();
    // 1000 connections at once would trip the lab's MaxStartups 200:30:400
    on_host(
        rep,
        &host.address,
        "sed -i 's/^MaxStartups.*/MaxStartups 2000/' /etc/ssh/sshd_config && \
         (systemctl reload ssh || systemctl reload sshd) && sshd -T | grep -i maxstartups",
    )?;
    let have_ansible = ensure("ansible", "--version", "ansible-core");
    let have_pssh = ensure("parallel-ssh", "--version", "pssh");
    let ns = env_list("NODEHERD_BENCH_HOSTS", "50,200,1000");
    let rounds = std::env::var("NODEHERD_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(2);
    let forks = env_list("NODEHERD_BENCH_FORKS", "50,100,200");
    let par = env_list("NODEHERD_BENCH_PAR", "100")
        .first()
        .copied()
        .unwrap_or(100);
    let tui_secs = std::env::var("NODEHERD_BENCH_TUI_SECONDS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(60);
    let (rep, dir, netns) = (rep.clone(), dir.to_path_buf(), host.name.clone());
    // Everything below runs in the host's network namespace: on a thread of its own (setns is per
    // thread; its children and threads inherit it), so the lab goes down from the root namespace.
    let worker = std::thread::spawn(move || -> Result<String, String> {
        enter_netns(&netns)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio: {e}"))?;
        let mut md = String::new();
        // NODEHERD_BENCH_ROUNDS=0: only the TUI window
        for &n in ns.iter().filter(|_| rounds > 0) {
            let p = par.min(n);
            let s = setup_for(n, p, &rep, &key_line, &dir, have_ansible)?;
            let table = rounds_for(&rt, &s, rounds, &forks, have_pssh);
            md.push_str(&report(&s, rounds, &table));
        }
        if tui_secs > 0 {
            if let Some(&n) = ns.last() {
                let s = setup_for(n, par.min(n), &rep, &key_line, &dir, have_ansible)?;
                // the same run's baseline first: the fixed 5 s poll (no CPU budget)
                for (extra, what) in [
                    (
                        "--poll-budget 0",
                        "`--poll-budget 0`: a poll every 5 s, no budget (baseline)",
                    ),
                    (
                        "",
                        "defaults: a poll every 5 s or longer to stay in the 2 % CPU budget",
                    ),
                ] {
                    md.push_str(&tui_window(&s, Duration::from_secs(tui_secs), extra, what));
                }
            }
        }
        Ok(md)
    });
    let md = worker.join().map_err(|_| "the bench thread panicked")??;
    println!(
        "\nmachine at the end: {}\n\nMarkdown (paste into docs/performance.md):\n{md}",
        machine()
    );
    Ok(())
}

fn rounds_for(
    rt: &tokio::runtime::Runtime,
    s: &Setup,
    rounds: usize,
    forks: &[usize],
    have_pssh: bool,
) -> BTreeMap<Row, Vec<Sample>> {
    println!(
        "\n== N = {} (parallelism of the other tools {}), {rounds} rounds; {} ==",
        s.n,
        s.par,
        machine()
    );
    let mut order: Vec<Row> = forks.iter().map(|&f| Row::Status(f.min(s.n))).collect();
    order.dedup();
    order.extend([Row::Warm, Row::Plan, Row::Xargs, Row::Ansible]);
    if have_pssh {
        order.push(Row::Pssh);
    }
    let mut samples: BTreeMap<Row, Vec<Sample>> = BTreeMap::new();
    for round in 0..rounds {
        for k in 0..order.len() {
            let row = order[(k + round) % order.len()].clone();
            std::thread::sleep(SETTLE);
            let r = match &row {
                Row::Status(f) => nodeherd_status(s, *f),
                Row::Warm => warm(rt, s, s.par),
                Row::Plan => nodeherd_plan(s),
                Row::Xargs => xargs_ssh(s),
                Row::Pssh => pssh(s),
                Row::Ansible => ansible(s),
            };
            match r {
                Ok(x) => {
                    println!(
                        "  round {} {:<78} wall {:>7.2} s cpu {:>7.2} s rss {:>8.1} MB fds {:>5} ok {}/{}",
                        round + 1,
                        row.label(s.par),
                        x.wall,
                        x.cpu,
                        x.rss_mb,
                        x.fds,
                        x.ok,
                        s.n
                    );
                    samples.entry(row).or_default().push(x);
                }
                Err(e) => {
                    println!("  round {} {}: {e}", round + 1, row.label(s.par));
                    samples.entry(row).or_default();
                }
            }
        }
    }
    samples
}

fn report(s: &Setup, rounds: usize, table: &BTreeMap<Row, Vec<Sample>>) -> String {
    let mut md = format!(
        "\n### N = {}, median of {rounds} interleaved rounds\n\n\
         | variant | N | wall s | client CPU s | peak RSS MB | peak open files | complete runs |\n\
         |---|---|---|---|---|---|---|\n",
        s.n
    );
    for (row, v) in table {
        let good: Vec<&Sample> = v.iter().filter(|x| x.ok == s.n).collect();
        let m = |f: fn(&Sample) -> f64| median(good.iter().map(|x| f(x)).collect());
        md.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.1} | {:.0} | {}/{} |\n",
            row.label(s.par),
            s.n,
            m(|x| x.wall),
            m(|x| x.cpu),
            m(|x| x.rss_mb),
            m(|x| x.fds as f64),
            good.len(),
            v.len()
        ));
    }
    md
}

fn tmux(sock: &std::path::Path, args: &[&str]) -> String {
    match std::process::Command::new("tmux")
        .arg("-S")
        .arg(sock)
        .args(args)
        .output()
    {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => format!("tmux: {e}"),
    }
}

/// The real `nodeherd tui` over the whole fleet in tmux (160x48, default 5 s poll): once every row
/// is ok, its CPU and RSS over `span` (a poll of N hosts may take longer than 5 s: the next starts
/// when it ends).
pub fn tui_window(s: &Setup, span: Duration, extra: &str, what: &str) -> String {
    let n = s.n;
    let sock = s.inventory.with_file_name("tmux.sock");
    let cmd = format!(
        "NODEHERD_LOG= exec {} -i {} tui {extra}",
        super::bin(),
        s.inventory.display()
    );
    tmux(&sock, &["new-session", "-d", "-x", "160", "-y", "48", &cmd]);
    let pid: u32 = tmux(&sock, &["display", "-p", "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap_or(0);
    let start = Instant::now();
    let mut ready = false;
    while start.elapsed() < Duration::from_secs(300) {
        if tmux(&sock, &["capture-pane", "-p"]).contains(&format!("ok {n} ")) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let ready_s = start.elapsed().as_secs_f64();
    if !ready {
        println!(
            "the TUI never showed {n} hosts ok; last screen:\n{}",
            tmux(&sock, &["capture-pane", "-p"])
        );
    }
    std::thread::sleep(Duration::from_secs(10));
    let c0 = procs::proc_cpu(pid).unwrap_or(f64::NAN);
    std::thread::sleep(span);
    let cpu = procs::proc_cpu(pid).unwrap_or(f64::NAN) - c0;
    let rss = procs::proc_rss_mb(pid).unwrap_or(f64::NAN);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    let still_ok = tmux(&sock, &["capture-pane", "-p"]).contains(&format!("ok {n} "));
    tmux(&sock, &["send-keys", "q"]);
    std::thread::sleep(Duration::from_secs(2));
    tmux(&sock, &["kill-server"]);
    let secs = span.as_secs_f64();
    println!(
        "TUI {extra}: ready after {ready_s:.1} s, {cpu:.2} CPU-s over {secs:.0} s, RSS {rss:.1} MB, {fds} fds, still ok {still_ok}"
    );
    format!(
        "\n### TUI idle on the fleet screen with polls, N = {n}\n\n\
         | what | CPU-s over {secs:.0} s | share of one core | RSS MB | open files | all rows ok at the end |\n|---|---|---|---|---|---|\n\
         | `nodeherd tui` ({what}; status, host facts, alert rules), all {n} rows ok after {ready_s:.1} s | {cpu:.2} | {:.2} % | {rss:.1} | {fds} | {still_ok} |\n",
        100.0 * cpu / secs
    )
}
