//! The artifact upload under faults, over a real lab host (lab "nhupl", 10.234.0.0/24, one
//! host, no Lodestar): the real transport (`exec_with_stdin_file`) streams into the real receive
//! script (`facts::layout::receive_command`) through the host's sshd.
//! - slow link (issue #15 item 11): the host's veth shaped to 5 Mbit/s (netem, or tbf where the
//!   kernel has no netem), a 5 s `command_timeout`, an 8 MiB upload (`UPLOAD_LAB_MIB` to
//!   change) that takes ~14 s: it succeeds (the timeout bounds silence, not the transfer) and
//!   the host has the whole file;
//! - disk full (item 10): a 1 MB tmpfs over `.nodeherd/incoming`: the upload ends within
//!   seconds with the host's `cat: write error: No space left on device`, exit 1, no `.part`;
//! - killed console (item 12, first half): an `ssh` client streaming into the receive script on
//!   the shaped link is SIGKILLed mid-upload: the host removes its `.part` within seconds; a
//!   console holding the node's host lock is SIGKILLed: the lock is free again well within its
//!   lease, so the next run does not wait for it.
//!
//! Needs root: without it, says so and skips.
//!
//! Run: `cargo test --test upload_lab` (as root); a name filter runs only matching scenarios.

use nodeherd_core::facts::layout::{lock_command, receive_command};
use nodeherd_core::remote::{HostKeyPolicy, Target};
use nodeherd_lab::{LabConfig, host, naming};
use nodeherd_transport::ssh::{ConnectOptions, Session};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/labsuite.rs"]
mod labsuite;

/// The install dir the uploads land under (its `.nodeherd/incoming`).
const DIR: &str = "/opt/nodeherd/upload-test";
const MIB: usize = 1_048_576;

fn main() {
    let Some(mut suite) = labsuite::start("upload_lab", |dir| LabConfig {
        name: "nhupl".into(),
        hosts: 1,
        subnet: 234,
        lodestar: false,
        lodestar_hosts: 0,
        feed: false,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let cfg = suite.cfg.clone();
    let art = suite.dir.join("artifact.bin");
    // not compressible, not constant: what a release tarball looks like to the link;
    // UPLOAD_LAB_MIB=55 measures the 55 MB artifact (~95 s at 5 Mbit/s)
    let mib: usize = std::env::var("UPLOAD_LAB_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let bytes: Vec<u8> = (0..(mib * MIB) as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&art, &bytes).expect("artifact");
    let sum = sha256(&bytes);
    let rt = labsuite::runtime();
    suite.run("slow_link_upload_outlives_the_command_timeout", || {
        shape(&cfg, true);
        let t = Instant::now();
        let r = rt.block_on(upload(&cfg, &art, &sum, Duration::from_secs(5)));
        let took = t.elapsed();
        shape(&cfg, false);
        let out = r.unwrap_or_else(|e| panic!("upload failed after {took:?}: {e}"));
        println!(
            "  {mib} MiB at 5 Mbit/s with command_timeout 5s: {:.1}s ({:.2} MB/s), exit {:?}",
            took.as_secs_f64(),
            mib as f64 * 1.048_576 / took.as_secs_f64(),
            out.exit_status
        );
        assert!(out.success(), "{out:?}");
        assert!(
            took > Duration::from_secs(5),
            "the link was not shaped: {took:?}"
        );
        let got = on_host(
            &cfg,
            &format!("sha256sum {DIR}/.nodeherd/incoming/{sum}.part"),
        );
        assert!(got.starts_with(&sum), "{got}");
        on_host(&cfg, &format!("rm -f {DIR}/.nodeherd/incoming/*.part"));
    });
    suite.run("disk_full_ends_at_once_with_the_hosts_error", || {
        on_host(
            &cfg,
            &format!("mkdir -p {DIR}/.nodeherd/incoming && mount -t tmpfs -o size=1m nhupl {DIR}/.nodeherd/incoming && echo mounted"),
        );
        let t = Instant::now();
        let r = rt.block_on(upload(&cfg, &art, &sum, Duration::from_secs(60)));
        let took = t.elapsed();
        let left = on_host(&cfg, &format!("ls -A {DIR}/.nodeherd/incoming; umount {DIR}/.nodeherd/incoming"));
        let out = r.unwrap_or_else(|e| panic!("upload failed after {took:?}: {e}"));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        println!(
            "  {mib} MiB into a 1 MB tmpfs: exit {:?} after {:.1}s: {}",
            out.exit_status,
            took.as_secs_f64(),
            err.trim()
        );
        assert_eq!(out.exit_status, Some(1), "{out:?}");
        assert!(err.contains("No space left on device"), "{err}");
        assert!(took < Duration::from_secs(10), "{took:?}");
        assert!(left.trim().is_empty(), "left on the host: {left}");
    });
    suite.run("killed_console_leaves_no_part_file", || {
        shape(&cfg, true);
        let line = receive_command(DIR, &sum, bytes.len() as u64).to_shell_string();
        let mut child = Command::new("ssh")
            .args(ssh_args(&cfg))
            .arg(line)
            .stdin(std::fs::File::open(&art).expect("artifact"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh");
        let part = format!("{DIR}/.nodeherd/incoming/{sum}.part");
        // wait until the upload is under way on the host
        let t = Instant::now();
        while on_host(&cfg, &format!("test -s {part} && echo yes")).trim() != "yes" {
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "upload never started"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_secs(2));
        let size = on_host(&cfg, &format!("wc -c < {part}"));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let t = Instant::now();
        let mut gone = false;
        while t.elapsed() < Duration::from_secs(10) {
            if on_host(&cfg, &format!("test -e {part} || echo gone")).trim() == "gone" {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        shape(&cfg, false);
        println!(
            "  killed at {} bytes; .part removed after {:.1}s: {gone}",
            size.trim(),
            t.elapsed().as_secs_f64()
        );
        assert!(gone, ".part still on the host 10 s after the console died");
    });
    suite.run(
        "killed_console_frees_the_host_lock_within_its_lease",
        || {
            let lease = 30;
            let mut child = Command::new("ssh")
                .args(ssh_args(&cfg))
                .arg(lock_command(DIR, "upload_lab", "upload", lease).to_shell_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("ssh");
            let mut first = String::new();
            {
                use std::io::BufRead;
                let out = child.stdout.take().expect("stdout");
                std::io::BufReader::new(out)
                    .read_line(&mut first)
                    .expect("read");
            }
            assert!(first.starts_with("LOCKED "), "{first}");
            let free = || {
                on_host(
                    &cfg,
                    &format!("flock -n {DIR}/.nodeherd/lock true && echo free"),
                )
                .trim()
                    == "free"
            };
            assert!(!free(), "the lock is not held");
            let _ = child.kill(); // SIGKILL: the console vanishes mid-run
            let _ = child.wait();
            let t = Instant::now();
            while !free() {
                assert!(
                    t.elapsed() < Duration::from_secs(lease),
                    "the lock is still held {lease} s after the console died"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
            println!(
                "  lock free {:.1}s after the console was killed (lease {lease}s)",
                t.elapsed().as_secs_f64()
            );
        },
    );
    suite.finish();
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn target(cfg: &LabConfig, command_timeout: Duration) -> Target {
    let mut t = Target::new(
        naming::host_name(&cfg.name, 1),
        naming::host_address(cfg.subnet, 1),
        "root",
    );
    t.identity_files = vec![naming::client_key(&cfg.state_dir)];
    t.known_hosts_files = vec![naming::known_hosts_path(cfg)];
    t.host_key_policy = HostKeyPolicy::Strict;
    t.connect_timeout = Duration::from_secs(10);
    t.command_timeout = command_timeout;
    t
}

/// Stream `art` into the receive script through the real transport.
async fn upload(
    cfg: &LabConfig,
    art: &Path,
    sum: &str,
    command_timeout: Duration,
) -> Result<nodeherd_transport::ssh::Output, String> {
    let mut o = ConnectOptions::default();
    o.use_agent = false;
    let s = Session::connect(&target(cfg, command_timeout), &o)
        .await
        .map_err(|e| e.to_string())?;
    let size = std::fs::metadata(art).map_err(|e| e.to_string())?.len();
    let file = tokio::fs::File::open(art)
        .await
        .map_err(|e| e.to_string())?;
    let r = s
        .exec_with_stdin_file(&receive_command(DIR, sum, size), file)
        .await
        .map_err(|e| e.to_string());
    s.close().await;
    r
}

fn ssh_args(cfg: &LabConfig) -> Vec<std::ffi::OsString> {
    host::ssh_args(
        &naming::client_key(&cfg.state_dir),
        &naming::known_hosts_path(cfg),
        "root",
        &naming::host_address(cfg.subnet, 1),
    )
}

/// Run `line` on the lab host as root; its stdout (stderr goes to the test's output).
fn on_host(cfg: &LabConfig, line: &str) -> String {
    let o = labsuite::root_ssh(cfg, 1, line);
    eprint!("{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Shape (or unshape) the host's link on the bridge side (the upload's direction) to 5 Mbit/s:
/// netem's rate where the kernel has it, else a token bucket (tbf) at the same rate.
fn shape(cfg: &LabConfig, on: bool) {
    let dev = naming::veth_name(&cfg.name, 1);
    let _ = Command::new("tc")
        .args(["qdisc", "del", "dev", &dev, "root"])
        .stderr(Stdio::null())
        .status();
    if !on {
        return;
    }
    let tc = |args: &[&str]| {
        Command::new("tc")
            .args(["qdisc", "add", "dev", &dev, "root"])
            .args(args)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let ok = tc(&["netem", "rate", "5mbit"])
        || tc(&[
            "tbf", "rate", "5mbit", "burst", "32kbit", "latency", "400ms",
        ]);
    assert!(ok, "tc: neither netem nor tbf can shape {dev}");
}
