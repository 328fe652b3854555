//! A throwaway OpenSSH server on 127.0.0.1 for integration tests (needs root).
//!
//! Include with `#[path = "support/sshd.rs"] mod sshd;`. Each [`Sshd`] has its own host key,
//! client key and known_hosts file in a temp dir; the server is killed on drop.
#![allow(dead_code)]

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nodeherd_transport::ssh::{HostKeyPolicy, Target};

/// True when running as root; otherwise prints why the test is skipped.
pub fn have_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("{test}: skipped because it needs root (it runs a real sshd)");
    }
    root
}

/// A free TCP port on 127.0.0.1 (closed again; tiny race acceptable in tests).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    l.local_addr()
        .map_or_else(|e| panic!("local_addr: {e}"), |a| a.port())
}

/// Run ssh-keygen to make an unencrypted key; returns the private key path.
pub fn keygen(dir: &Path, name: &str, kind: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("ssh-keygen: {e}"));
    assert!(out.status.success(), "ssh-keygen failed: {out:?}");
    path
}

/// `ssh-keygen -lf`'s SHA256 fingerprint of a public key file.
pub fn fingerprint_of(pub_file: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pub_file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "ssh-keygen -l failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// "type base64" of a .pub file.
pub fn pub_key_text(pub_file: &Path) -> String {
    let text =
        fs::read_to_string(pub_file).unwrap_or_else(|e| panic!("read {}: {e}", pub_file.display()));
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

pub struct Sshd {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
    /// Host public key file.
    pub host_pub: PathBuf,
    /// Client private key accepted for root.
    pub client_key: PathBuf,
    /// known_hosts file that lists this server's key (written by `start`).
    pub known_hosts: PathBuf,
    /// sshd's stderr log (`-e`).
    pub log: PathBuf,
}

impl Sshd {
    /// Start a server; call only after [`have_root`] said yes.
    pub fn start() -> Sshd {
        Self::start_with("")
    }

    /// Start a server with extra sshd_config lines.
    pub fn start_with(extra: &str) -> Sshd {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let d = dir.path();
        let _ = fs::create_dir_all("/run/sshd"); // privilege separation directory
        let host_key = keygen(d, "host_ed25519", "ed25519");
        let client_key = keygen(d, "client_ed25519", "ed25519");
        let host_pub = host_key.with_extension("pub");
        fs::copy(client_key.with_extension("pub"), d.join("authorized_keys"))
            .unwrap_or_else(|e| panic!("{e}"));
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile none\nUsePAM no\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nAuthorizedKeysFile {ak}\nStrictModes no\nAllowTcpForwarding yes\n\
             MaxSessions 10\nMaxStartups 200:30:400\nLogLevel VERBOSE\n{extra}\n",
            hk = host_key.display(),
            ak = d.join("authorized_keys").display(),
        );
        let config_path = d.join("sshd_config");
        fs::write(&config_path, config).unwrap_or_else(|e| panic!("{e}"));
        let log = d.join("sshd.log");
        let log_file = fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sshd: {e}"));
        let known_hosts = d.join("known_hosts");
        fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", pub_key_text(&host_pub)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut sshd = Sshd {
            port,
            dir,
            child,
            host_pub,
            client_key,
            known_hosts,
            log,
        };
        sshd.wait_ready();
        sshd
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "sshd exited with {status}: {}",
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sshd did not listen on {} within 10 s", self.port);
    }

    /// A strict target for root on this server, trusting it through [`Sshd::known_hosts`].
    pub fn target(&self, name: &str) -> Target {
        let mut t = Target::new(name, "127.0.0.1", "root");
        t.port = self.port;
        t.identity_files = vec![self.client_key.clone()];
        t.known_hosts_files = vec![self.known_hosts.clone()];
        t.host_key_policy = HostKeyPolicy::Strict;
        t.connect_timeout = Duration::from_secs(10);
        t.command_timeout = Duration::from_secs(20);
        t
    }

    /// The server's host key fingerprint as ssh-keygen prints it.
    pub fn host_fingerprint(&self) -> String {
        fingerprint_of(&self.host_pub)
    }

    /// How many logins sshd accepted so far.
    pub fn accepted_logins(&self) -> usize {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    }

    /// The sshd log so far (for assertion messages).
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
