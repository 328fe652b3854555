//! The light node every generic case upgrades: "app", a shell daemon under systemd released as
//! tiny tarballs, with an HTTP health endpoint served by systemd socket activation on
//! 127.0.0.1:8080 (declared as the node's probe). Releases: 1.0.0 and 1.1.0 (healthy), 1.2.0
//! (its self-check fails: the daemon stays up, the probe answers 503), 1.3.0 (healthy, padded
//! with 1 MiB of noise: too big for the small tmpfs of the disk-full cases), 1.4.0 (exits at
//! once: a crash loop). Owns: the release trees, their tarballs, the units. May not touch: the
//! faults, the checks.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::app_common as common;
use common::{DAEMON, HEALTH};

pub const DIR: &str = "/opt/nodeherd/app";
pub const NODE: &str = "app";

/// The units (the service runs `current/bin/app`; the health socket runs `current/bin/health`).
pub fn units() -> String {
    format!(
        "{}\n{}",
        common::UNITS,
        "systemctl enable nodeherd-app.service nodeherd-app-health.socket 2>/dev/null
systemctl restart nodeherd-app-health.socket
echo units"
    )
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Good,
    Broken,
    Big,
    Crash,
}

/// Every release: (version, what is wrong with it).
pub const RELEASES: &[(&str, Kind)] = &[
    ("1.0.0", Kind::Good),
    ("1.1.0", Kind::Good),
    ("1.2.0", Kind::Broken),
    ("1.3.0", Kind::Big),
    ("1.4.0", Kind::Crash),
];

/// The asset name of `version` (the generic rule: one tarball naming the host's CPU).
pub fn asset(version: &str, cpu: &str) -> String {
    format!("nodeherd-app-v{version}-linux-{cpu}.tar.gz")
}

/// Build each release's tree and tarball under `dir`: `(version, tarball, sha256)`.
pub fn build(dir: &Path, cpu: &str) -> Vec<(String, PathBuf, String)> {
    let mut out = Vec::new();
    for (v, kind) in RELEASES {
        let d = tree(dir, v);
        std::fs::create_dir_all(d.join("bin")).expect("app dir");
        std::fs::write(d.join("VERSION"), format!("{v}\n")).expect("write");
        std::fs::write(d.join("bin/app"), DAEMON).expect("write");
        std::fs::write(d.join("bin/health"), HEALTH).expect("write");
        match kind {
            Kind::Broken => std::fs::write(d.join("BROKEN"), "database schema 7 is unknown\n"),
            Kind::Crash => std::fs::write(d.join("CRASH"), "\n"),
            Kind::Big => std::fs::write(d.join("padding.bin"), noise(1 << 20)),
            Kind::Good => Ok(()),
        }
        .expect("write");
        let st = Command::new("chmod")
            .arg("0755")
            .arg(d.join("bin/app"))
            .arg(d.join("bin/health"))
            .status()
            .expect("chmod");
        assert!(st.success());
        let file = dir.join(asset(v, cpu));
        let st = Command::new("tar")
            .arg("-C")
            .arg(&d)
            .arg("-czf")
            .arg(&file)
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success(), "tar {v}");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&d)
            .arg("-cf")
            .arg(baseline_tar(dir, v))
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success(), "tar {v}");
        let sha = crate::feed::sha256_of(&file);
        out.push(((*v).to_string(), file, sha));
    }
    out
}

/// Bytes gzip cannot shrink (xorshift).
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The tree of `version` built by [`build`].
fn tree(dir: &Path, version: &str) -> PathBuf {
    dir.join("app-releases").join(format!("app-{version}"))
}

/// A plain tar of the tree of `version` (unpacked onto a host for a baseline).
pub fn baseline_tar(dir: &Path, version: &str) -> PathBuf {
    dir.join(format!("baseline-{version}.tar"))
}
