//! Process measurements for the fleet benches: CPU of waited children, and a sampler of a running
//! process tree's summed RSS and open file descriptors.
//!
//! Owns: reading `/proc` and `getrusage`. May not touch: what the processes are.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

fn rusage(who: libc::c_int) -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &raw mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU seconds of this process (all threads).
pub fn self_cpu() -> f64 {
    rusage(libc::RUSAGE_SELF)
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime of a running process, in seconds.
pub fn proc_cpu(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / ticks_per_sec())
}

/// Resident set of a running process, in MB.
pub fn proc_rss_mb(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Every process now under `root` (itself included).
fn tree(root: u32) -> Vec<u32> {
    let mut parent: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let ppid = s
                .rfind(')')
                .and_then(|i| s[i + 2..].split_whitespace().nth(1))
                .and_then(|v| v.parse::<u32>().ok());
            if let Some(pp) = ppid {
                parent.entry(pp).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = parent.get(&out[i]) {
            out.extend(kids);
        }
        i += 1;
    }
    out
}

/// Peak summed RSS (MB) and open descriptors of a process tree, sampled every `every`.
pub struct TreeSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(f64, usize)>,
}

impl TreeSampler {
    pub fn start(root: u32, every: Duration) -> TreeSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut rss, mut fds) = (0.0f64, 0usize);
            while !s.load(Ordering::SeqCst) {
                let (mut r, mut f) = (0.0, 0);
                for pid in tree(root) {
                    r += proc_rss_mb(pid).unwrap_or(0.0);
                    f += std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
                }
                rss = rss.max(r);
                fds = fds.max(f);
                std::thread::sleep(every);
            }
            (rss, fds)
        });
        TreeSampler { stop, handle }
    }

    /// Peak summed RSS in MB and peak open descriptors.
    pub fn finish(self) -> (f64, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap_or((f64::NAN, 0))
    }
}
