//! Where and how to reach one host; built by the inventory, consumed by the transport.
//!
//! Owns: the description of one host's connection. May not touch: connecting (the transport).

use std::path::PathBuf;
use std::time::Duration;

/// What to do with a host key that no known_hosts file knows.
/// There is deliberately no "accept anything" variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// Unknown and changed keys are refused (default).
    #[default]
    Strict,
    /// An unknown key is recorded in the first writable known_hosts file and accepted;
    /// a changed key is still refused.
    AcceptNew,
}

/// Everything needed to open an SSH session to one host.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Inventory name of the host (used in messages and errors).
    pub name: String,
    /// DNS name or IP address to connect to.
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Identity files tried after the ssh-agent, in order.
    pub identity_files: Vec<PathBuf>,
    /// Reach this host through that one (ProxyJump); chains are nested.
    pub jump: Option<Box<Target>>,
    /// known_hosts files consulted, in order; the first is where accept-new writes.
    pub known_hosts_files: Vec<PathBuf>,
    pub host_key_policy: HostKeyPolicy,
    /// Run remote commands through `sudo -n` (for non-root users).
    pub become_root: bool,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub keepalive_interval: Duration,
}

impl Target {
    /// A target with the defaults an operator would expect (port 22, strict keys, ~/.ssh/known_hosts).
    pub fn new(
        name: impl Into<String>,
        address: impl Into<String>,
        user: impl Into<String>,
    ) -> Self {
        let mut known_hosts_files = Vec::new();
        if let Some(home) = dirs::home_dir() {
            known_hosts_files.push(home.join(".ssh/known_hosts"));
        }
        Target {
            name: name.into(),
            address: address.into(),
            port: 22,
            user: user.into(),
            identity_files: Vec::new(),
            jump: None,
            known_hosts_files,
            host_key_policy: HostKeyPolicy::Strict,
            become_root: false,
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(60),
            keepalive_interval: Duration::from_secs(15),
        }
    }
}
