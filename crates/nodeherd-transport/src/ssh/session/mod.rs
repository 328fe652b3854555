//! One authenticated SSH connection to one host, and the commands and forwards run over it.
//!
//! Owns: TCP connect (TCP_NODELAY on, timeouts, keepalives), the russh handshake with host-key
//! verification (through [`crate::ssh::known_hosts`]), authentication (ssh-agent, then identity files),
//! jump hosts (direct-tcpip + `connect_stream`), and channels: exec with a timeout, stdin upload,
//! streaming output, and direct-tcpip forwards to the host's 127.0.0.1 ports.
//! May not touch: the inventory, the terminal (questions go through [`ConnectOptions`] callbacks),
//! or what the commands mean.
//!
//! This file: the options and result types. The parts: [`connect`] (TCP, jump hosts, the
//! handshake with the host-key check), [`auth`] (agent, identity files), [`exec`] (the session,
//! commands with timeouts and stdin, channel slots and their cleanup), [`idle`] (uploads bounded
//! by their progress, not their duration), [`streams`] (streaming output and direct-tcpip
//! forwards).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use russh::client::{self, Handle, Msg};
use russh::keys::agent::client::AgentClient;
use russh::keys::{
    self, HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate,
};
use russh::{Channel, ChannelMsg, Disconnect};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;

use crate::ssh::error::{Phase, SshError};
use crate::ssh::known_hosts::{self, Verdict};

mod auth;
mod connect;
mod exec;
mod idle;
mod streams;

use self::auth::authenticate;
pub use self::connect::connect_ssh;
use self::connect::{Verifier, channel_err, protocol};
use self::exec::Inner;
pub use self::exec::SshSession;
use nodeherd_core::remote::Command;
use nodeherd_core::remote::{HostKeyPolicy, Target};

/// An unknown host key, as shown to whoever decides (a TUI prompt).
#[derive(Debug, Clone)]
pub struct UnknownKey {
    /// Inventory name of the host.
    pub host: String,
    pub address: String,
    pub port: u16,
    /// e.g. `ssh-ed25519`.
    pub key_type: String,
    /// `SHA256:...`, as OpenSSH prints it.
    pub fingerprint: String,
    pub key: PublicKey,
}

/// Asked about an unknown host key under the strict policy; `true` records and accepts it.
pub type UnknownKeyHandler = Arc<dyn Fn(UnknownKey) -> BoxFuture<'static, bool> + Send + Sync>;
/// Asked for the passphrase of an encrypted identity file; `None` skips the file.
/// Called on a blocking thread, at most once per file per [`ConnectOptions`] (keys are cached).
pub type PassphraseHandler = Arc<dyn Fn(&Path) -> Option<String> + Send + Sync>;

/// Process-wide choices for connecting (the per-host ones live in [`Target`]).
#[derive(Clone)]
pub struct ConnectOptions {
    /// Asked for unknown host keys when the target's policy is `Strict` (a TUI prompt);
    /// without it, unknown keys are refused. `AcceptNew` targets never ask.
    pub on_unknown_key: Option<UnknownKeyHandler>,
    /// Asked for passphrases of encrypted identity files.
    pub passphrase: Option<PassphraseHandler>,
    /// Concurrent channels per session (sshd's default MaxSessions is 10).
    pub max_channels: usize,
    /// Try the ssh-agent first.
    pub use_agent: bool,
    /// The agent's socket; `None` means `SSH_AUTH_SOCK`.
    pub agent_socket: Option<PathBuf>,
    /// Identity files already loaded (and decrypted), shared by every clone of these options.
    key_cache: Arc<Mutex<HashMap<PathBuf, Arc<PrivateKey>>>>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            on_unknown_key: None,
            passphrase: None,
            max_channels: 8,
            use_agent: true,
            agent_socket: None,
            key_cache: Arc::default(),
        }
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("on_unknown_key", &self.on_unknown_key.is_some())
            .field("passphrase", &self.passphrase.is_some())
            .field("max_channels", &self.max_channels)
            .field("use_agent", &self.use_agent)
            .finish()
    }
}

/// How a connection was made (for `doctor`): the credential the server accepted and the
/// known_hosts entry that vouched for its host key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionInfo {
    /// `agent key ssh-ed25519 SHA256:…` or `key file /path (ssh-ed25519 SHA256:…)`.
    pub auth: String,
    /// The host key's fingerprint, `SHA256:…`.
    pub host_key: String,
    /// The known_hosts file and 1-based line that matched the host key; `None` when the key was
    /// unknown and accepted (then recorded) during this connect.
    pub known_host: Option<(PathBuf, usize)>,
}

/// What a remote command produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// The shell string that was run.
    pub command: String,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_status: Option<u32>,
    /// Signal name (e.g. `KILL`) when the command was killed.
    pub exit_signal: Option<String>,
}

impl Output {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.exit_status == Some(0)
    }

    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// `Ok(self)` on success, else `CommandFailed` with the last ~20 lines of stderr.
    pub fn check(self, host: &str) -> Result<Output, SshError> {
        if self.success() {
            return Ok(self);
        }
        let text = String::from_utf8_lossy(&self.stderr);
        let lines: Vec<&str> = text.trim_end().lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        Err(SshError::CommandFailed {
            host: host.to_string(),
            command: self.command,
            status: self.exit_status,
            stderr: tail,
        })
    }
}

/// A piece of output from [`SshSession::exec_stream`], as it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamChunk {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}
