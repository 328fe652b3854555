//! The host's platform (OS, CPU architecture, C library) as a fact: one command and the pure
//! parser of its output, plus the inventory spelling (`"linux/aarch64"`) and the check of a
//! declared platform against the detected one.
//!
//! Owns: [`Platform`] (with [`Os`], [`Arch`], [`Libc`]), [`PLATFORM_SCRIPT`],
//! [`platform_command`], [`parse_platform`], [`parse_uname`], [`parse_libc`],
//! [`Platform::parse_declared`] and [`check_declared`].
//! May not touch: running anything (the engine runs the command through its `Remote` and hands
//! the text here), the inventory files, release assets (choosing an asset for a platform is
//! `releases::assets`).
//!
//! The command prints `uname -sm` and the first two lines of `ldd --version` (glibc prints
//! `ldd (Debian GLIBC 2.36-9+deb12u14) 2.36`, musl's loader prints `musl libc (x86_64)` then
//! `Version 1.2.4` on stderr), each after a `@@nodeherd:<section>` marker so that noise from the
//! login shell's rc files is ignored.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The script; run it as [`platform_command`] builds it.
pub const PLATFORM_SCRIPT: &str = "\
echo @@nodeherd:uname; uname -sm; \
echo @@nodeherd:libc; ldd --version 2>&1 | head -n2; \
echo @@nodeherd:end";

const MARK: &str = "@@nodeherd:";

/// The remote command: `sh -c '<script>'`, the script quoted as one word.
pub fn platform_command() -> crate::remote::Command {
    crate::remote::Command::new("sh")
        .arg("-c")
        .arg(PLATFORM_SCRIPT)
}

/// The kernel, as `uname -s` names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Os {
    Linux,
    Darwin,
    /// Anything else, lowercased (`freebsd`, ...).
    Other(String),
}

impl Os {
    /// `Linux` -> [`Os::Linux`], `Darwin`/`macos` -> [`Os::Darwin`], case-insensitive.
    pub fn parse(s: &str) -> Os {
        match s.to_ascii_lowercase().as_str() {
            "linux" => Os::Linux,
            "darwin" | "macos" => Os::Darwin,
            other => Os::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Os::Linux => f.write_str("linux"),
            Os::Darwin => f.write_str("darwin"),
            Os::Other(s) => f.write_str(s),
        }
    }
}

/// The CPU architecture, normalised: `amd64`/`x64` are [`Arch::X86_64`], `arm64` is
/// [`Arch::Aarch64`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Arch {
    X86_64,
    Aarch64,
    /// Anything else, lowercased as given (`riscv64`, `armv7l`, `i686`, `s390x`, ...).
    Other(String),
}

impl Arch {
    /// Case-insensitive; `uname -m`, Go (`amd64`, `arm64`) and .NET (`x64`) spellings.
    pub fn parse(s: &str) -> Arch {
        match s.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" | "amd64" | "x64" => Arch::X86_64,
            "aarch64" | "arm64" => Arch::Aarch64,
            other => Arch::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arch::X86_64 => f.write_str("x86_64"),
            Arch::Aarch64 => f.write_str("aarch64"),
            Arch::Other(s) => f.write_str(s),
        }
    }
}

/// The C library dynamically linked programs get.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Libc {
    Glibc {
        version: Option<String>,
    },
    Musl {
        version: Option<String>,
    },
    /// Not probed (a declaration without libc) or not recognisable (no `ldd`).
    Unknown,
}

impl Libc {
    /// Same family (glibc vs musl), versions ignored; `Unknown` is never the same.
    pub fn same_family(&self, other: &Libc) -> bool {
        matches!(
            (self, other),
            (Libc::Glibc { .. }, Libc::Glibc { .. }) | (Libc::Musl { .. }, Libc::Musl { .. })
        )
    }
}

impl fmt::Display for Libc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, v) = match self {
            Libc::Glibc { version } => ("glibc", version),
            Libc::Musl { version } => ("musl", version),
            Libc::Unknown => return f.write_str("unknown libc"),
        };
        match v {
            Some(v) => write!(f, "{name} {v}"),
            None => f.write_str(name),
        }
    }
}

/// What a host runs: the key an asset is chosen by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    pub os: Os,
    pub arch: Arch,
    pub libc: Libc,
}

impl Platform {
    pub fn new(os: Os, arch: Arch, libc: Libc) -> Platform {
        Platform { os, arch, libc }
    }

    /// `linux/x86_64`, `linux/aarch64`: the spelling of messages and of the inventory.
    pub fn os_arch(&self) -> String {
        format!("{}/{}", self.os, self.arch)
    }

    /// The inventory spelling: `<os>/<arch>[/<libc>]`, e.g. `linux/aarch64`,
    /// `linux/amd64/musl`; libc is `gnu`/`glibc` or `musl` (left out: [`Libc::Unknown`]).
    pub fn parse_declared(s: &str) -> Result<Platform, PlatformError> {
        let bad = || PlatformError::Declared(s.to_string());
        let parts: Vec<&str> = s.trim().split('/').collect();
        let word_ok = |w: &&str| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(word_ok) {
            return Err(bad());
        }
        let libc = match parts.get(2).map(|l| l.to_ascii_lowercase()) {
            None => Libc::Unknown,
            Some(l) if l == "gnu" || l == "glibc" => Libc::Glibc { version: None },
            Some(l) if l == "musl" => Libc::Musl { version: None },
            Some(_) => return Err(bad()),
        };
        Ok(Platform::new(
            Os::parse(parts[0]),
            Arch::parse(parts[1]),
            libc,
        ))
    }
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse_declared(s)
    }
}

/// `linux/x86_64`, with ` (glibc 2.36)` when the libc is known.
impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if self.libc != Libc::Unknown {
            write!(f, " ({})", self.libc)?;
        }
        Ok(())
    }
}

/// Errors reading or checking a platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error(
        "cannot read the platform from `uname -sm` output {0:?} (expected e.g. \"Linux x86_64\")"
    )]
    Uname(String),
    #[error("the platform probe printed no `uname` section; output was: {0:?}")]
    NoUname(String),
    #[error(
        "{0:?} is not a platform; write <os>/<arch>[/<libc>], e.g. \"linux/x86_64\", \"linux/aarch64\", \"linux/x86_64/musl\""
    )]
    Declared(String),
    #[error("the inventory declares {declared} but the host reports {detected}")]
    Mismatch { declared: String, detected: String },
}

/// One `uname -sm` line: `Linux x86_64`.
pub fn parse_uname(line: &str) -> Result<(Os, Arch), PlatformError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [os, arch] => Ok((Os::parse(os), Arch::parse(arch))),
        _ => Err(PlatformError::Uname(line.to_string())),
    }
}

/// The first lines of `ldd --version 2>&1`. glibc: `ldd (... GLIBC 2.36-9...) 2.36` or
/// `ldd (GNU libc) 2.34`; musl: `musl libc (aarch64)` + `Version 1.2.4`; anything else
/// (`sh: 1: ldd: not found`) is [`Libc::Unknown`].
pub fn parse_libc(text: &str) -> Libc {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let Some(first) = lines.first() else {
        return Libc::Unknown;
    };
    let lower = first.to_ascii_lowercase();
    let is_version = |w: &str| {
        w.split('.').count() >= 2
            && w.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    if lower.starts_with("musl libc") {
        let version = lines
            .iter()
            .find_map(|l| l.strip_prefix("Version "))
            .map(str::trim)
            .filter(|v| is_version(v))
            .map(str::to_string);
        return Libc::Musl { version };
    }
    if lower.starts_with("ldd ") && (lower.contains("glibc") || lower.contains("gnu libc")) {
        let version = first
            .split_whitespace()
            .last()
            .filter(|v| is_version(v))
            .map(str::to_string);
        return Libc::Glibc { version };
    }
    Libc::Unknown
}

/// The whole output of [`platform_command`].
pub fn parse_platform(output: &str) -> Result<Platform, PlatformError> {
    let mut section: Option<&str> = None;
    let mut uname: Vec<&str> = Vec::new();
    let mut libc = String::new();
    for line in output.lines() {
        if let Some(name) = line.trim().strip_prefix(MARK) {
            section = Some(name.trim());
            continue;
        }
        match section {
            Some("uname") if !line.trim().is_empty() => uname.push(line.trim()),
            Some("libc") => {
                libc.push_str(line);
                libc.push('\n');
            }
            _ => {}
        }
    }
    let [line] = uname.as_slice() else {
        return Err(if uname.is_empty() {
            PlatformError::NoUname(output.to_string())
        } else {
            PlatformError::Uname(uname.join("\n"))
        });
    };
    let (os, arch) = parse_uname(line)?;
    Ok(Platform::new(os, arch, parse_libc(&libc)))
}

/// A declared platform must agree with the detected one on OS and architecture, and on the
/// libc family when the declaration names one and the probe recognised one.
pub fn check_declared(declared: &Platform, detected: &Platform) -> Result<(), PlatformError> {
    let libc_ok = declared.libc == Libc::Unknown
        || detected.libc == Libc::Unknown
        || declared.libc.same_family(&detected.libc);
    if declared.os == detected.os && declared.arch == detected.arch && libc_ok {
        Ok(())
    } else {
        Err(PlatformError::Mismatch {
            declared: declared.to_string(),
            detected: detected.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured on a Debian 12 (bookworm) x86_64 container on the day this was written.
    const DEBIAN12_X86_64: &str = "\
@@nodeherd:uname
Linux x86_64
@@nodeherd:libc
ldd (Debian GLIBC 2.36-9+deb12u14) 2.36
Copyright (C) 2022 Free Software Foundation, Inc.
@@nodeherd:end
";

    /// Debian 12 on arm64: representative, NOT captured from a host for this commit (same glibc
    /// package and format as the x86_64 capture); a login-shell banner before the first marker
    /// must be ignored.
    const DEBIAN12_AARCH64: &str = "\
Welcome to node-7!
@@nodeherd:uname
Linux aarch64
@@nodeherd:libc
ldd (Debian GLIBC 2.36-9+deb12u7) 2.36
Copyright (C) 2022 Free Software Foundation, Inc.
@@nodeherd:end
";

    /// Alpine (musl 1.2.4): `ldd` is musl's loader, which prints its banner on stderr.
    /// Representative of musl's `ldd --version` output, NOT captured from a host for this commit.
    const ALPINE_X86_64: &str = "\
@@nodeherd:uname
Linux x86_64
@@nodeherd:libc
musl libc (x86_64)
Version 1.2.4
@@nodeherd:end
";

    /// A minimal image without ldd (dash's wording; representative).
    const NO_LDD_AARCH64: &str = "\
@@nodeherd:uname
Linux aarch64
@@nodeherd:libc
sh: 1: ldd: not found
@@nodeherd:end
";

    #[test]
    fn the_command_is_one_quoted_script() {
        let line = platform_command().to_shell_string();
        assert!(line.starts_with("sh -c '"), "{line}");
        assert!(line.contains("uname -sm"));
        assert!(line.contains("ldd --version 2>&1 | head -n2"));
    }

    #[test]
    fn glibc_x86_64() {
        let p = parse_platform(DEBIAN12_X86_64).expect("parses");
        assert_eq!(p.os, Os::Linux);
        assert_eq!(p.arch, Arch::X86_64);
        assert_eq!(
            p.libc,
            Libc::Glibc {
                version: Some("2.36".into())
            }
        );
        assert_eq!(p.to_string(), "linux/x86_64 (glibc 2.36)");
        assert_eq!(p.os_arch(), "linux/x86_64");
    }

    #[test]
    fn glibc_aarch64_with_banner() {
        let p = parse_platform(DEBIAN12_AARCH64).expect("parses");
        assert_eq!(p.os_arch(), "linux/aarch64");
        assert_eq!(
            p.libc,
            Libc::Glibc {
                version: Some("2.36".into())
            }
        );
    }

    #[test]
    fn musl_alpine() {
        let p = parse_platform(ALPINE_X86_64).expect("parses");
        assert_eq!(p.arch, Arch::X86_64);
        assert_eq!(
            p.libc,
            Libc::Musl {
                version: Some("1.2.4".into())
            }
        );
        assert_eq!(p.to_string(), "linux/x86_64 (musl 1.2.4)");
    }

    #[test]
    fn no_ldd_is_unknown_libc() {
        let p = parse_platform(NO_LDD_AARCH64).expect("parses");
        assert_eq!(p.arch, Arch::Aarch64);
        assert_eq!(p.libc, Libc::Unknown);
        assert_eq!(p.to_string(), "linux/aarch64");
    }

    #[test]
    fn other_libc_spellings() {
        assert_eq!(
            parse_libc("ldd (GNU libc) 2.34\n"),
            Libc::Glibc {
                version: Some("2.34".into())
            }
        );
        assert_eq!(
            parse_libc("ldd (Ubuntu GLIBC 2.35-0ubuntu3.8) 2.35\n"),
            Libc::Glibc {
                version: Some("2.35".into())
            }
        );
        assert_eq!(
            parse_libc("musl libc (aarch64)\n"),
            Libc::Musl { version: None }
        );
        assert_eq!(parse_libc(""), Libc::Unknown);
    }

    #[test]
    fn uname_spellings_and_errors() {
        assert_eq!(
            parse_uname("Linux riscv64").expect("parses"),
            (Os::Linux, Arch::Other("riscv64".into()))
        );
        assert_eq!(
            parse_uname("Darwin arm64").expect("parses"),
            (Os::Darwin, Arch::Aarch64)
        );
        assert!(matches!(parse_uname("Linux"), Err(PlatformError::Uname(_))));
        assert!(matches!(
            parse_platform("Linux x86_64\n"),
            Err(PlatformError::NoUname(_))
        ));
        let two = "@@nodeherd:uname\nLinux x86_64\nLinux aarch64\n@@nodeherd:end\n";
        assert!(matches!(parse_platform(two), Err(PlatformError::Uname(_))));
    }

    #[test]
    fn declared_spellings() {
        let p: Platform = "linux/aarch64".parse().expect("parses");
        assert_eq!(p, Platform::new(Os::Linux, Arch::Aarch64, Libc::Unknown));
        let p = Platform::parse_declared("linux/amd64/musl").expect("parses");
        assert_eq!(
            p,
            Platform::new(Os::Linux, Arch::X86_64, Libc::Musl { version: None })
        );
        for bad in [
            "",
            "linux",
            "linux/",
            "linux/x86_64/bsd",
            "linux x86_64",
            "a/b/c/d",
        ] {
            let e = Platform::parse_declared(bad).expect_err(bad);
            assert!(e.to_string().contains("linux/aarch64"), "{e}");
        }
    }

    #[test]
    fn declared_against_detected() {
        let detected = parse_platform(DEBIAN12_X86_64).expect("parses");
        let ok: Platform = "linux/x86_64".parse().expect("parses");
        assert_eq!(check_declared(&ok, &detected), Ok(()));
        let ok_gnu: Platform = "linux/amd64/gnu".parse().expect("parses");
        assert_eq!(check_declared(&ok_gnu, &detected), Ok(()));

        let wrong: Platform = "linux/aarch64".parse().expect("parses");
        let e = check_declared(&wrong, &detected).expect_err("mismatch");
        assert_eq!(
            e.to_string(),
            "the inventory declares linux/aarch64 but the host reports linux/x86_64 (glibc 2.36)"
        );

        let musl: Platform = "linux/x86_64/musl".parse().expect("parses");
        let e = check_declared(&musl, &detected).expect_err("libc mismatch");
        assert_eq!(
            e.to_string(),
            "the inventory declares linux/x86_64 (musl) but the host reports linux/x86_64 (glibc 2.36)"
        );
        // A probe that could not tell the libc does not contradict a declaration.
        let unknown = parse_platform(NO_LDD_AARCH64).expect("parses");
        let arm_musl: Platform = "linux/aarch64/musl".parse().expect("parses");
        assert_eq!(check_declared(&arm_musl, &unknown), Ok(()));
    }
}
