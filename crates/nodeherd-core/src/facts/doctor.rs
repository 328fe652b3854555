//! The doctor's host probe: one shell script that reports the host's clock, its systemd version,
//! which of the programs nodeherd runs on hosts are missing, and whether given files are readable;
//! plus the pure parser of its output.
//!
//! Owns: the script text (every path single-quoted) and [`parse_probe`]. May not touch: running
//! anything (the engine sends the script through its `Remote`), deciding what is a failure (that
//! is `nodeherd_engine::doctor`).

use crate::remote::quote;

/// The programs nodeherd's host-side scripts call (status, lifecycle, layout, switch, lock,
/// backup, journal, platform), each found with `command -v`.
pub const HOST_TOOLS: &[&str] = &[
    "systemctl",
    "journalctl",
    "systemd-run",
    "systemd-cat",
    "flock",
    "sha256sum",
    "tar",
    "readlink",
    "ln",
    "mv",
    "rm",
    "mkdir",
    "cp",
    "df",
    "du",
    "find",
    "date",
    "uname",
    "sleep",
];

/// What the probe found on one host.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostProbe {
    /// The host's clock (`date +%s.%N`), seconds since the epoch.
    pub clock: Option<f64>,
    /// `systemd 252 (252.36-1~deb12u1)` -> 252.
    pub systemd_version: Option<u32>,
    /// The first line of `systemctl --version`, as printed.
    pub systemd_line: Option<String>,
    /// Programs of the asked list that `command -v` did not find.
    pub missing_tools: Vec<String>,
    /// Files asked about, with whether the probing user could read them.
    pub files: Vec<(String, bool)>,
}

/// The probe script for `tools` and `files` (run as the login user; files checked with `test -r`).
pub fn probe_script(tools: &[&str], files: &[String]) -> String {
    let mut s = String::from("echo \"clock $(date +%s.%N)\"\n");
    s.push_str("echo \"systemd $(systemctl --version 2>/dev/null | head -n 1)\"\n");
    for t in tools {
        let q = quote(t);
        s.push_str(&format!(
            "command -v {q} >/dev/null 2>&1 || echo missing {q}\n"
        ));
    }
    for f in files {
        let q = quote(f);
        s.push_str(&format!(
            "if test -r {q}; then echo readable {q}; else echo unreadable {q}; fi\n"
        ));
    }
    s
}

/// Parse the probe's output (unknown lines are ignored).
pub fn parse_probe(text: &str) -> HostProbe {
    let mut p = HostProbe::default();
    for line in text.lines() {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "clock" => p.clock = rest.trim().parse().ok(),
            "systemd" => {
                let rest = rest.trim();
                if !rest.is_empty() {
                    p.systemd_line = Some(rest.to_string());
                    p.systemd_version = rest
                        .strip_prefix("systemd ")
                        .and_then(|v| v.split_whitespace().next())
                        .and_then(|v| v.parse().ok());
                }
            }
            "missing" => p.missing_tools.push(rest.to_string()),
            "readable" => p.files.push((rest.to_string(), true)),
            "unreadable" => p.files.push((rest.to_string(), false)),
            _ => {}
        }
    }
    p
}

/// The offset of the host's clock from the console's, in seconds (positive: host ahead), given
/// the console's clock just before and just after the round trip.
pub fn clock_offset(before: f64, host: f64, after: f64) -> f64 {
    host - f64::midpoint(before, after)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In the shape a Debian 12 lab host (systemd 252) prints, with `flock` missing and one
    /// file unreadable for the login user.
    const CAPTURED: &str = "clock 1796578201.482913570\n\
systemd systemd 252 (252.36-1~deb12u1)\n\
missing flock\n\
readable /var/lib/lodestar-vc/validator-db/api-token.txt\n\
unreadable /root/token.txt\n";

    #[test]
    fn parses_captured_output() {
        let p = parse_probe(CAPTURED);
        assert_eq!(p.clock, Some(1_796_578_201.482_913_6));
        assert_eq!(p.systemd_version, Some(252));
        assert_eq!(
            p.systemd_line.as_deref(),
            Some("systemd 252 (252.36-1~deb12u1)")
        );
        assert_eq!(p.missing_tools, vec!["flock".to_string()]);
        assert_eq!(
            p.files,
            vec![
                (
                    "/var/lib/lodestar-vc/validator-db/api-token.txt".to_string(),
                    true
                ),
                ("/root/token.txt".to_string(), false)
            ]
        );
    }

    #[test]
    fn no_systemctl_gives_no_version() {
        let p = parse_probe("clock 12.5\nsystemd \n");
        assert_eq!(p.systemd_version, None);
        assert_eq!(p.systemd_line, None);
        assert_eq!(p.clock, Some(12.5));
    }

    #[test]
    fn script_quotes_paths() {
        let s = probe_script(&["tar"], &["/tmp/a b".to_string()]);
        assert!(s.contains("test -r '/tmp/a b'"), "{s}");
        assert!(s.contains("command -v tar"), "{s}");
    }

    #[test]
    fn offset_uses_the_midpoint() {
        assert!((clock_offset(100.0, 103.0, 102.0) - 2.0).abs() < 1e-9);
        assert!((clock_offset(100.0, 100.5, 101.0)).abs() < 1e-9);
    }
}
