//! The harness every lab test suite shares (custom `harness = false` test binaries): skip
//! without root, bring one lab up for all scenarios, run them (optionally filtered by the first
//! non-flag argument), tear the lab down whatever happened, print `N passed, N failed`.
#![allow(dead_code)]

use nodeherd_lab::{self as lab, LabConfig, LabReport, host, naming};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Instant;

/// A running suite: its lab and its scratch directory.
pub struct Suite {
    pub name: &'static str,
    pub cfg: LabConfig,
    pub dir: PathBuf,
    pub report: LabReport,
    filter: Option<String>,
    passed: usize,
    failed: usize,
}

/// Start a suite: `None` (after saying why) without root; exits with a failure if the lab cannot
/// come up. `cfg` gets the suite's scratch directory (for the inventory it writes).
pub fn start(name: &'static str, cfg: impl FnOnce(&std::path::Path) -> LabConfig) -> Option<Suite> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!(
            "{name} tests skipped: they need root (network namespaces, systemd-nspawn); run `sudo cargo test --test {name}`"
        );
        println!("0 passed, 0 failed, 1 skipped");
        return None;
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let dir = std::env::temp_dir().join(format!("nodeherd-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cfg = cfg(&dir);
    let t = Instant::now();
    match lab::up(&cfg) {
        Ok(report) => {
            println!(
                "lab up: {} hosts in {:.1}s",
                report.hosts.len(),
                t.elapsed().as_secs_f64()
            );
            Some(Suite {
                name,
                cfg,
                dir,
                report,
                filter,
                passed: 0,
                failed: 0,
            })
        }
        Err(e) => {
            eprintln!("lab up failed: {e}");
            let _ = lab::down(&cfg);
            println!("0 passed, 1 failed");
            std::process::exit(1);
        }
    }
}

/// A multi-threaded runtime for scenarios that drive async code.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

impl Suite {
    /// Run one scenario (unless filtered out); a panic fails it and the suite goes on.
    pub fn run(&mut self, name: &str, f: impl FnOnce()) {
        if self
            .filter
            .as_deref()
            .is_some_and(|flt| !name.contains(flt))
        {
            return;
        }
        self.always(name, f);
    }

    /// Run a step whatever the filter (a setup the scenarios need); false when it failed.
    pub fn always(&mut self, name: &str, f: impl FnOnce()) -> bool {
        let t = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(f));
        let secs = t.elapsed().as_secs_f64();
        if r.is_ok() {
            self.passed += 1;
            println!("test {name} ... ok ({secs:.1}s)");
        } else {
            self.failed += 1;
            println!("test {name} ... FAILED ({secs:.1}s)");
        }
        r.is_ok()
    }

    /// Tear the lab down (unless NODEHERD_TEST_KEEP_LAB is set), print the closing line, exit.
    pub fn finish(mut self) -> ! {
        if std::env::var_os("NODEHERD_TEST_KEEP_LAB").is_none() {
            let t = Instant::now();
            if let Err(e) = lab::down(&self.cfg) {
                eprintln!("lab down failed: {e}");
                self.failed += 1;
            }
            println!("lab down in {:.1}s", t.elapsed().as_secs_f64());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        println!("\n{} passed, {} failed", self.passed, self.failed);
        std::process::exit(i32::from(self.failed > 0));
    }
}

/// Run `command` as root on host `i` of the lab over OpenSSH (the lab's key and known_hosts),
/// stdin closed; what it did. Each suite decides what a failure means.
pub fn root_ssh(cfg: &LabConfig, i: usize, command: &str) -> std::process::Output {
    std::process::Command::new("ssh")
        .args(host::ssh_args(
            &naming::client_key(&cfg.state_dir),
            &naming::known_hosts_path(cfg),
            "root",
            &naming::host_address(cfg.subnet, i),
        ))
        .arg(command)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ssh")
}

/// Compile a std-only stand-in (`tests/support/<source>.rs`) with rustc (or `$RUSTC`) into
/// `dir/<name>` and return its bytes, ready to be put on a lab host. Stand-ins are never real
/// clients: each one's name and doc comment say so.
pub fn build_standin(dir: &std::path::Path, source: &str, name: &str) -> Vec<u8> {
    let bin = dir.join(name);
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(format!("{source}.rs"));
    let t = Instant::now();
    let o = std::process::Command::new(rustc)
        .args(["--edition", "2021", "-O"])
        .arg(&src)
        .arg("-o")
        .arg(&bin)
        .output()
        .expect("rustc");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    println!("{name} built in {:.1}s", t.elapsed().as_secs_f64());
    std::fs::read(&bin).expect("stand-in")
}

/// Write `bytes` to `path` on host `i` (mode `mode`) over OpenSSH, through stdin.
pub fn put_file(cfg: &LabConfig, i: usize, path: &str, bytes: &[u8], mode: &str) {
    use std::io::Write as _;
    let mut c = std::process::Command::new("ssh")
        .args(host::ssh_args(
            &naming::client_key(&cfg.state_dir),
            &naming::known_hosts_path(cfg),
            "root",
            &naming::host_address(cfg.subnet, i),
        ))
        .arg(format!(
            "mkdir -p \"$(dirname {path})\" && cat > {path}.tmp && chmod {mode} {path}.tmp && mv {path}.tmp {path}"
        ))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("ssh");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("send");
    assert!(c.wait().expect("ssh").success(), "put {path} on {i}");
}

/// Run the real `nodeherd` binary as a console of its own (state, cache and XDG state under
/// `dir`, no colour, no terminal) with inventory `inventory`: (exit code, stdout, stderr).
pub fn nodeherd(
    inventory: &std::path::Path,
    dir: &std::path::Path,
    args: &[&str],
) -> (i32, String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_nodeherd"))
        .arg("-i")
        .arg(inventory)
        .args(args)
        .env("NODEHERD_STATE_DIR", dir.join("state"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_STATE_HOME", dir.join("xdg-state"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run nodeherd");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// [`root_ssh`] that must succeed: its stdout, trimmed (the command and its stderr in the panic).
pub fn root_sh(cfg: &LabConfig, i: usize, command: &str) -> String {
    let o = root_ssh(cfg, i, command);
    assert!(
        o.status.success(),
        "{command} on host {i}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}
