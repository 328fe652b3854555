//! Backup of a data dir before a switch: `backup = "snapshot"` against a plain `cp -a` of the same
//! data dir, in the same run, with the very shell functions the host's guarded switch runs
//! (`nodeherd_core::facts::backup::SWITCH_FUNCTIONS`). On this machine's own filesystem (whatever
//! it is: the bench says whether it has reflinks) and, as root with `mkfs.btrfs` / `mkfs.xfs`
//! present, on loop-mounted btrfs (the data dir a subvolume) and xfs (reflink=1) filesystems (loop
//! devices with direct I/O, so their writes reach this machine's disk).
//!
//! Data: `NODEHERD_BENCH_MIB` MiB (default 256): 15/16 in 8 MiB "table" files, the rest in 4 KiB
//! files, pseudo-random bytes (nothing compresses or dedups). Source in the page cache (the machine
//! is shared: no cache drops); each variant's time includes `sync -f` of the target filesystem (a
//! backup counts once it is on disk); three rounds, alternating order, medians. Run: `cargo bench --bench backup_copy`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nodeherd_core::facts::backup::SWITCH_FUNCTIONS;

fn sh(script: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("bench")
        .args(args)
        .output()
        .expect("sh");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
        .trim()
        .to_string(),
    )
}

/// Fill `dir` with `mib` MiB of pseudo-random files (xorshift; fast, incompressible).
fn make_data(dir: &Path, mib: usize) {
    std::fs::create_dir_all(dir.join("chain-db")).expect("data dir");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut fill = |buf: &mut [u8]| {
        for c in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
        }
    };
    let tables = mib * 15 / 16 / 8;
    let mut buf = vec![0u8; 8 << 20];
    for i in 0..tables {
        fill(&mut buf);
        std::fs::write(dir.join(format!("chain-db/{i:06}.sst")), &buf).expect("write");
    }
    let logs = (mib - tables * 8) * 256;
    let mut small = vec![0u8; 4096];
    for i in 0..logs {
        fill(&mut small);
        let mut f = std::fs::File::create(dir.join(format!("chain-db/{i:06}.log"))).expect("log");
        f.write_all(&small).expect("write");
    }
}

/// The guard's own `nh_backup` with `mode`; returns (seconds, its `how`).
fn guard_backup(mode: &str, data: &Path, dest: &Path) -> (f64, String) {
    let script = format!(
        "{SWITCH_FUNCTIONS}\nBM=\"$1\"; DATA=\"$2\"; BK=\"$3\"\nnh_backup || {{ echo \"FAILED: $how\"; exit 1; }}\nsync -f \"$BK\"\necho \"$how\""
    );
    let t = Instant::now();
    let (ok, how) = sh(
        &script,
        &[
            mode,
            &data.display().to_string(),
            &dest.display().to_string(),
        ],
    );
    let secs = t.elapsed().as_secs_f64();
    assert!(ok, "{mode}: {how}");
    (secs, how)
}

fn plain_cp(data: &Path, dest: &Path) -> f64 {
    let t = Instant::now();
    let (ok, out) = sh(
        r#"cp -a -- "$1" "$2" && sync -f "$2""#,
        &[&data.display().to_string(), &dest.display().to_string()],
    );
    assert!(ok, "cp -a: {out}");
    t.elapsed().as_secs_f64()
}

fn remove(p: &Path) {
    let s = p.display().to_string();
    let _ = sh(
        r#"btrfs subvolume delete "$1" >/dev/null 2>&1 || rm -rf -- "$1""#,
        &[&s],
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Three rounds of snapshot vs `cp -a` on `root` (data in `root/data`, made by `prepare`).
fn compare(label: &str, root: &Path, mib: usize) {
    let data = root.join("data");
    let reflink = {
        let probe = root.join("reflink-probe");
        let _ = std::fs::write(&probe, b"x");
        let (ok, _) = sh(
            r#"cp --reflink=always -- "$1" "$1.copy""#,
            &[&probe.display().to_string()],
        );
        let _ = std::fs::remove_file(&probe);
        let _ = std::fs::remove_file(root.join("reflink-probe.copy"));
        ok
    };
    let fs = sh(r#"stat -f -c %T -- "$1""#, &[&root.display().to_string()]).1;
    let mut snap = Vec::new();
    let mut copy = Vec::new();
    let mut how = String::new();
    for round in 0..3 {
        let (a, b) = (root.join("bk-snapshot"), root.join("bk-copy"));
        let mut run_snap = || {
            let (s, h) = guard_backup("snapshot", &data, &a);
            how = h;
            snap.push(s);
        };
        let mut run_copy = || copy.push(plain_cp(&data, &b));
        if round % 2 == 0 {
            run_snap();
            run_copy();
        } else {
            run_copy();
            run_snap();
        }
        remove(&a);
        remove(&b);
    }
    let (s, c) = (median(snap), median(copy));
    println!(
        "{label} ({fs}, reflinks {}): {mib} MiB data dir: snapshot {s:.3} s (the guard said: {how}) vs plain cp -a {c:.3} s -> {:.1}x",
        if reflink { "yes" } else { "no" },
        c / s.max(1e-6)
    );
}

/// A loop-mounted filesystem of `mib` MiB made by `mkfs` (root only); None when it cannot be.
struct Loop {
    mount: PathBuf,
    image: PathBuf,
}

impl Loop {
    fn new(base: &Path, kind: &str, mib: usize) -> Option<Loop> {
        let mkfs = format!("mkfs.{kind}");
        let found = sh(r#"command -v "$1""#, &[&mkfs]).0;
        // SAFETY: geteuid has no preconditions.
        if !found || unsafe { libc::geteuid() } != 0 {
            println!("{kind}: skipped (needs root and {mkfs})");
            return None;
        }
        let image = base.join(format!("{kind}.img"));
        let mount = base.join(kind);
        std::fs::create_dir_all(&mount).ok()?;
        let extra = if kind == "xfs" { "-m reflink=1" } else { "" };
        let (ok, out) = sh(
            &format!(
                // direct I/O: the loop device's writes reach the disk, not the page cache of its image
                r#"truncate -s {mib}M "$1" && {mkfs} -q {extra} "$1" >/dev/null && d=$(losetup -f --show --direct-io=on "$1") && mount "$d" "$2""#
            ),
            &[&image.display().to_string(), &mount.display().to_string()],
        );
        if !ok {
            println!("{kind}: skipped ({out})");
            let _ = std::fs::remove_file(&image);
            return None;
        }
        Some(Loop { mount, image })
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = sh(
            r#"d=$(findmnt -n -o SOURCE "$1"); umount "$1" && losetup -d "$d""#,
            &[&self.mount.display().to_string()],
        );
        let _ = std::fs::remove_file(&self.image);
        let _ = std::fs::remove_dir(&self.mount);
    }
}

fn main() {
    let mib: usize = std::env::var("NODEHERD_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let base = std::env::temp_dir().join(format!("nodeherd-bench-backup-{}", std::process::id()));
    std::fs::create_dir_all(&base).expect("bench dir");
    // 1. This machine's own filesystem.
    let own = base.join("own");
    make_data(&own.join("data"), mib);
    compare("this machine's filesystem", &own, mib);
    let _ = std::fs::remove_dir_all(&own);
    // 2. btrfs, the data dir a subvolume; 3. xfs with reflinks. Room for data + two copies.
    let size = mib * 3 + 512;
    if let Some(l) = Loop::new(&base, "btrfs", size) {
        let data = l.mount.join("data");
        let (ok, out) = sh(
            r#"btrfs subvolume create "$1" >/dev/null"#,
            &[&data.display().to_string()],
        );
        assert!(ok, "{out}");
        make_data(&data, mib);
        compare("btrfs (loop), data dir a subvolume", &l.mount, mib);
    }
    if let Some(l) = Loop::new(&base, "xfs", size) {
        make_data(&l.mount.join("data"), mib);
        compare("xfs reflink=1 (loop)", &l.mount, mib);
    }
    let _ = std::fs::remove_dir_all(&base);
}
