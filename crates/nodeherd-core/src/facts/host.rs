//! Host metrics without installing anything: one batched shell command and a pure parser of its output.
//!
//! Owns: [`HOST_SCRIPT`], [`host_command`], [`parse_host`], [`HostFacts`], and rates between two samples
//! ([`cpu_percent`], [`net_rates`]).
//! May not touch: SSH or any I/O (the transport runs the command and hands the text back).
//!
//! The command reads `/proc/loadavg`, `/proc/meminfo`, the `cpu` line of `/proc/stat`, `/proc/net/dev`,
//! `df -P -B1` of the data directory, `nproc` and `date +%s%N`, each after a `@@nodeherd:<section>` marker,
//! in one exec (a login shell's rc files run on every exec: keep it to one).

use serde::{Deserialize, Serialize};

/// The script; the data directory is `$1`. Run it as [`host_command`] builds it.
pub const HOST_SCRIPT: &str = "\
echo @@nodeherd:loadavg; cat /proc/loadavg; \
echo @@nodeherd:meminfo; cat /proc/meminfo; \
echo @@nodeherd:stat; grep '^cpu ' /proc/stat; \
echo @@nodeherd:netdev; cat /proc/net/dev; \
echo @@nodeherd:df; df -P -B1 -- \"$1\" 2>/dev/null; \
echo @@nodeherd:nproc; nproc 2>/dev/null; \
echo @@nodeherd:date; date +%s%N; \
echo @@nodeherd:end";

const MARK: &str = "@@nodeherd:";

/// The remote command: `sh -c '<script>' nodeherd-host '<data dir>'`.
pub fn host_command(data_dir: &str) -> String {
    crate::remote::Command::new("sh")
        .arg("-c")
        .arg(HOST_SCRIPT)
        .arg("nodeherd-host")
        .arg(data_dir)
        .to_shell_string()
}

/// Aggregate CPU jiffies from the `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuJiffies {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

impl CpuJiffies {
    /// Everything except guest time (already counted in user/nice).
    pub fn total(&self) -> u64 {
        self.user
            + self.nice
            + self.system
            + self.idle
            + self.iowait
            + self.irq
            + self.softirq
            + self.steal
    }
    pub fn idle_all(&self) -> u64 {
        self.idle + self.iowait
    }
}

/// The filesystem holding the data directory, from `df -P -B1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    pub filesystem: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub available_bytes: u64,
    pub mount: String,
}

impl Disk {
    /// Used percent as df computes it: used / (used + available), reserved blocks excluded.
    pub fn used_percent(&self) -> f64 {
        let denom = self.used_bytes + self.available_bytes;
        if denom == 0 {
            0.0
        } else {
            self.used_bytes as f64 * 100.0 / denom as f64
        }
    }
}

/// What one run of the host command says.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFacts {
    pub load1: Option<f64>,
    pub load5: Option<f64>,
    pub load15: Option<f64>,
    pub mem_total_bytes: Option<u64>,
    pub mem_available_bytes: Option<u64>,
    pub cpu: Option<CpuJiffies>,
    pub cpus: Option<u32>,
    /// Sum over interfaces except `lo`.
    pub net_rx_bytes: Option<u64>,
    pub net_tx_bytes: Option<u64>,
    pub disk: Option<Disk>,
    /// The host's clock, ns since the epoch (compare with local time for a clock-offset estimate).
    pub time_ns: Option<i64>,
}

impl HostFacts {
    pub fn mem_used_percent(&self) -> Option<f64> {
        let total = self.mem_total_bytes?;
        let avail = self.mem_available_bytes?;
        (total > 0).then(|| total.saturating_sub(avail) as f64 * 100.0 / total as f64)
    }
    pub fn disk_used_percent(&self) -> Option<f64> {
        self.disk.as_ref().map(Disk::used_percent)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostParseError {
    #[error("host command output has no section markers (did the command run?)")]
    NoMarkers,
    #[error("host command output is cut short (no end marker)")]
    Truncated,
}

/// Parse the output of [`host_command`]. Sections that are missing or unreadable stay `None`.
pub fn parse_host(text: &str) -> Result<HostFacts, HostParseError> {
    let mut facts = HostFacts::default();
    let mut section: Option<&str> = None;
    let mut seen_marker = false;
    let mut ended = false;
    let (mut rx, mut tx, mut any_if) = (0u64, 0u64, false);
    for line in text.lines() {
        if let Some(name) = line.trim().strip_prefix(MARK) {
            seen_marker = true;
            if name == "end" {
                ended = true;
            }
            section = Some(name);
            continue;
        }
        match section {
            Some("loadavg") => {
                let mut it = line.split_whitespace().map(|f| f.parse::<f64>().ok());
                facts.load1 = it.next().flatten();
                facts.load5 = it.next().flatten();
                facts.load15 = it.next().flatten();
            }
            Some("meminfo") => {
                if let Some(kb) = meminfo_kb(line, "MemTotal:") {
                    facts.mem_total_bytes = Some(kb * 1024);
                } else if let Some(kb) = meminfo_kb(line, "MemAvailable:") {
                    facts.mem_available_bytes = Some(kb * 1024);
                }
            }
            Some("stat") => facts.cpu = parse_cpu_line(line).or(facts.cpu),
            Some("netdev") => {
                if let Some((name, r, t)) = parse_netdev_line(line) {
                    if name != "lo" {
                        rx = rx.saturating_add(r);
                        tx = tx.saturating_add(t);
                        any_if = true;
                    }
                }
            }
            Some("df") => {
                if let Some(d) = parse_df_line(line) {
                    facts.disk = Some(d);
                }
            }
            Some("nproc") => facts.cpus = line.trim().parse().ok().or(facts.cpus),
            Some("date") => facts.time_ns = line.trim().parse().ok().or(facts.time_ns),
            _ => {}
        }
    }
    if !seen_marker {
        return Err(HostParseError::NoMarkers);
    }
    if !ended {
        return Err(HostParseError::Truncated);
    }
    if any_if {
        facts.net_rx_bytes = Some(rx);
        facts.net_tx_bytes = Some(tx);
    }
    Ok(facts)
}

fn meminfo_kb(line: &str, key: &str) -> Option<u64> {
    let rest = line.strip_prefix(key)?;
    let mut it = rest.split_whitespace();
    let n = it.next()?.parse().ok()?;
    match it.next() {
        Some("kB") | None => Some(n),
        Some(_) => None,
    }
}

fn parse_cpu_line(line: &str) -> Option<CpuJiffies> {
    let mut it = line.split_whitespace();
    if it.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = it.map(|f| f.parse().ok()).collect::<Option<Vec<u64>>>()?;
    if v.len() < 4 {
        return None;
    }
    let g = |i: usize| v.get(i).copied().unwrap_or(0);
    Some(CpuJiffies {
        user: g(0),
        nice: g(1),
        system: g(2),
        idle: g(3),
        iowait: g(4),
        irq: g(5),
        softirq: g(6),
        steal: g(7),
    })
}

/// `  eth0: 123 4 0 0 0 0 0 0 456 7 ...` -> (name, rx bytes, tx bytes). Header lines give `None`.
fn parse_netdev_line(line: &str) -> Option<(&str, u64, u64)> {
    let (name, rest) = line.split_once(':')?;
    let name = name.trim();
    if name.is_empty() || name.contains(' ') || name.contains('|') {
        return None;
    }
    let f: Vec<&str> = rest.split_whitespace().collect();
    if f.len() < 16 {
        return None;
    }
    Some((name, f[0].parse().ok()?, f[8].parse().ok()?))
}

/// A data line of `df -P -B1`: `fs total used avail cap% mount` (fs and mount may contain spaces).
fn parse_df_line(line: &str) -> Option<Disk> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let cap = f
        .iter()
        .position(|x| x.ends_with('%') && x[..x.len() - 1].parse::<u32>().is_ok())?;
    if cap < 4 || cap + 1 >= f.len() {
        return None;
    }
    Some(Disk {
        filesystem: f[..cap - 3].join(" "),
        total_bytes: f[cap - 3].parse().ok()?,
        used_bytes: f[cap - 2].parse().ok()?,
        available_bytes: f[cap - 1].parse().ok()?,
        mount: f[cap + 1..].join(" "),
    })
}

/// Busy CPU percent between two samples (all cores together, 0-100). `None` if no time passed or counters
/// went backwards (reboot).
pub fn cpu_percent(prev: &CpuJiffies, cur: &CpuJiffies) -> Option<f64> {
    let total = cur.total().checked_sub(prev.total())?;
    let idle = cur.idle_all().checked_sub(prev.idle_all())?;
    if total == 0 || idle > total {
        return None;
    }
    Some((total - idle) as f64 * 100.0 / total as f64)
}

/// Estimated offset of the host's clock from ours, in ms (positive: host ahead), from the host's
/// `date` and our clock just before sending and just after receiving (the midpoint halves the round trip).
pub fn clock_offset_ms(host_time_ns: i64, local_sent_ns: i64, local_received_ns: i64) -> f64 {
    // in integers: ns since the epoch do not fit an f64 exactly
    let mid = (i128::from(local_sent_ns) + i128::from(local_received_ns)) / 2;
    (i128::from(host_time_ns) - mid) as f64 / 1e6
}

/// Network throughput between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NetRates {
    pub rx_bytes_per_sec: f64,
    pub tx_bytes_per_sec: f64,
}

/// Rates from two runs, using the host's own clock. `None` if a counter reset or no time passed.
pub fn net_rates(prev: &HostFacts, cur: &HostFacts) -> Option<NetRates> {
    let dt_ns = cur.time_ns?.checked_sub(prev.time_ns?)?;
    if dt_ns <= 0 {
        return None;
    }
    let dt = dt_ns as f64 / 1e9;
    let rx = cur.net_rx_bytes?.checked_sub(prev.net_rx_bytes?)?;
    let tx = cur.net_tx_bytes?.checked_sub(prev.net_tx_bytes?)?;
    Some(NetRates {
        rx_bytes_per_sec: rx as f64 / dt,
        tx_bytes_per_sec: tx as f64 / dt,
    })
}

/// Both rates from two runs: CPU busy percent and network throughput.
pub fn host_rates(prev: &HostFacts, cur: &HostFacts) -> (Option<f64>, Option<NetRates>) {
    let cpu = match (&prev.cpu, &cur.cpu) {
        (Some(p), Some(c)) => cpu_percent(p, c),
        _ => None,
    };
    (cpu, net_rates(prev, cur))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_quotes_the_dir_and_the_script() {
        let c = host_command("/data dir/it's");
        assert!(c.starts_with("sh -c '"), "{c}");
        assert!(c.ends_with(" nodeherd-host '/data dir/it'\\''s'"), "{c}");
    }

    #[test]
    fn cpu_percent_and_resets() {
        let a = CpuJiffies {
            user: 100,
            idle: 300,
            ..Default::default()
        };
        let b = CpuJiffies {
            user: 150,
            idle: 350,
            ..Default::default()
        };
        assert_eq!(cpu_percent(&a, &b), Some(50.0));
        assert_eq!(cpu_percent(&b, &a), None);
        assert_eq!(cpu_percent(&a, &a), None);
    }

    #[test]
    fn clock_offset_uses_the_midpoint() {
        let s = 1_800_000_000_000_000_000;
        assert_eq!(clock_offset_ms(s + 60_000_000, s, s + 100_000_000), 10.0);
        assert_eq!(clock_offset_ms(s, s, s + 100_000_000), -50.0);
    }

    #[test]
    fn df_with_spaces_in_mount() {
        let d = parse_df_line("/dev/sdb1  1000  250  750  25% /mnt/my data").unwrap();
        assert_eq!(d.mount, "/mnt/my data");
        assert_eq!(d.used_percent(), 25.0);
        assert!(parse_df_line("Filesystem 1-blocks Used Available Capacity Mounted on").is_none());
    }

    #[test]
    fn missing_markers_and_truncation() {
        assert_eq!(parse_host("sh: 1: bad\n"), Err(HostParseError::NoMarkers));
        assert_eq!(
            parse_host("@@nodeherd:loadavg\n0.1 0.2 0.3 1/2 3\n"),
            Err(HostParseError::Truncated)
        );
    }
}
