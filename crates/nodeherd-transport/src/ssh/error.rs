//! Typed SSH errors, each naming the host and saying what an operator can do about it.
//!
//! Owns: the error vocabulary of the transport. May not touch: I/O of any kind.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Which step of talking to a host ran out of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// TCP connect, or the server never sent its SSH banner.
    Connect,
    /// Banner received but the key exchange did not finish.
    KeyExchange,
    Auth,
    /// Running this command (its shell string).
    Command(String),
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Connect => f.write_str("connecting (no SSH banner from the server)"),
            Phase::KeyExchange => f.write_str("the key exchange"),
            Phase::Auth => f.write_str("authentication"),
            Phase::Command(c) => write!(f, "command `{c}`"),
        }
    }
}

fn files_list(files: &[PathBuf]) -> String {
    if files.is_empty() {
        return "no known_hosts file configured".into();
    }
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything that can go wrong talking to a host.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error(
        "{host}: cannot reach {addr}: {source} (is the host up and sshd listening on that port?)"
    )]
    Unreachable {
        host: String,
        addr: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{host}: timed out during {phase} after {}", humantime::format_duration(*after))]
    Timeout {
        host: String,
        phase: Phase,
        after: Duration,
    },

    /// A transfer that stopped moving: no byte accepted and no message for `after`.
    #[error("{host}: no progress for {}s during {phase}", after.as_secs())]
    Stalled {
        host: String,
        phase: Phase,
        after: Duration,
    },

    #[error(
        "{host}: unknown host key {key_type} {fingerprint} (not in {}); verify it, then add it with \
         `ssh-keyscan` into known_hosts, or set known_hosts = \"accept-new\" for this host",
        files_list(files)
    )]
    HostKeyUnknown {
        host: String,
        fingerprint: String,
        key_type: String,
        files: Vec<PathBuf>,
    },

    #[error(
        "{host}: HOST KEY CHANGED: the server offers {fingerprint} but {}:{line} records {stored_fingerprint}. \
         This may be a man-in-the-middle attack, or the host was reinstalled; if you verified the new key, \
         remove line {line} of {} and connect again",
        file.display(),
        file.display()
    )]
    HostKeyChanged {
        host: String,
        fingerprint: String,
        stored_fingerprint: String,
        file: PathBuf,
        line: usize,
    },

    #[error("{host}: host key {fingerprint} is marked @revoked at {}:{line}; refusing to connect", file.display())]
    HostKeyRevoked {
        host: String,
        fingerprint: String,
        file: PathBuf,
        line: usize,
    },

    #[error(
        "{host}: authentication refused for user {user:?}; tried: {}. Check the user name, the identity \
         files, and the server's authorized_keys",
        if tried.is_empty() { "nothing (no agent, no identity files)".to_string() } else { tried.join(", ") }
    )]
    AuthRefused {
        host: String,
        user: String,
        tried: Vec<String>,
    },

    #[error("{host}: `{command}` failed ({}){}", status_text(*status), stderr_text(stderr))]
    CommandFailed {
        host: String,
        command: String,
        status: Option<u32>,
        stderr: String,
    },

    #[error("{host}: via jump host {via}: {source}")]
    Jump {
        host: String,
        via: String,
        #[source]
        source: Box<SshError>,
    },

    #[error("{host}: channel error: {message}")]
    Channel { host: String, message: String },

    #[error("{host}: SSH protocol error: {message}")]
    Protocol { host: String, message: String },

    #[error("{host}: the connection was closed")]
    Disconnected { host: String },
}

fn status_text(status: Option<u32>) -> String {
    match status {
        Some(s) => format!("exit status {s}"),
        None => "no exit status: killed by a signal or the connection dropped".into(),
    }
}

fn stderr_text(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!(":\n{stderr}")
    }
}

/// Cloned so that one failed connect can be handed to every waiter (the I/O source keeps its
/// kind and message).
impl Clone for SshError {
    fn clone(&self) -> Self {
        match self {
            SshError::Unreachable { host, addr, source } => SshError::Unreachable {
                host: host.clone(),
                addr: addr.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            SshError::Timeout { host, phase, after } => SshError::Timeout {
                host: host.clone(),
                phase: phase.clone(),
                after: *after,
            },
            SshError::Stalled { host, phase, after } => SshError::Stalled {
                host: host.clone(),
                phase: phase.clone(),
                after: *after,
            },
            SshError::HostKeyUnknown {
                host,
                fingerprint,
                key_type,
                files,
            } => SshError::HostKeyUnknown {
                host: host.clone(),
                fingerprint: fingerprint.clone(),
                key_type: key_type.clone(),
                files: files.clone(),
            },
            SshError::HostKeyChanged {
                host,
                fingerprint,
                stored_fingerprint,
                file,
                line,
            } => SshError::HostKeyChanged {
                host: host.clone(),
                fingerprint: fingerprint.clone(),
                stored_fingerprint: stored_fingerprint.clone(),
                file: file.clone(),
                line: *line,
            },
            SshError::HostKeyRevoked {
                host,
                fingerprint,
                file,
                line,
            } => SshError::HostKeyRevoked {
                host: host.clone(),
                fingerprint: fingerprint.clone(),
                file: file.clone(),
                line: *line,
            },
            SshError::AuthRefused { host, user, tried } => SshError::AuthRefused {
                host: host.clone(),
                user: user.clone(),
                tried: tried.clone(),
            },
            SshError::CommandFailed {
                host,
                command,
                status,
                stderr,
            } => SshError::CommandFailed {
                host: host.clone(),
                command: command.clone(),
                status: *status,
                stderr: stderr.clone(),
            },
            SshError::Jump { host, via, source } => SshError::Jump {
                host: host.clone(),
                via: via.clone(),
                source: source.clone(),
            },
            SshError::Channel { host, message } => SshError::Channel {
                host: host.clone(),
                message: message.clone(),
            },
            SshError::Protocol { host, message } => SshError::Protocol {
                host: host.clone(),
                message: message.clone(),
            },
            SshError::Disconnected { host } => SshError::Disconnected { host: host.clone() },
        }
    }
}

impl SshError {
    /// The inventory name of the host the error is about (the outermost one for jumps).
    pub fn host(&self) -> &str {
        match self {
            SshError::Unreachable { host, .. }
            | SshError::Timeout { host, .. }
            | SshError::Stalled { host, .. }
            | SshError::HostKeyUnknown { host, .. }
            | SshError::HostKeyChanged { host, .. }
            | SshError::HostKeyRevoked { host, .. }
            | SshError::AuthRefused { host, .. }
            | SshError::CommandFailed { host, .. }
            | SshError::Jump { host, .. }
            | SshError::Channel { host, .. }
            | SshError::Protocol { host, .. }
            | SshError::Disconnected { host } => host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_host_and_location() {
        let e = SshError::HostKeyChanged {
            host: "eth-1".into(),
            fingerprint: "SHA256:new".into(),
            stored_fingerprint: "SHA256:old".into(),
            file: "/root/.ssh/known_hosts".into(),
            line: 7,
        };
        let m = e.to_string();
        assert!(m.starts_with("eth-1: "), "{m}");
        assert!(m.contains("/root/.ssh/known_hosts:7"), "{m}");
        assert!(m.contains("attack"), "{m}");
        let t = SshError::Timeout {
            host: "h".into(),
            phase: Phase::Command("sleep 30".into()),
            after: Duration::from_millis(1500),
        };
        assert_eq!(
            t.to_string(),
            "h: timed out during command `sleep 30` after 1s 500ms"
        );
        let u = SshError::HostKeyUnknown {
            host: "h".into(),
            fingerprint: "SHA256:x".into(),
            key_type: "ssh-ed25519".into(),
            files: vec![],
        };
        assert!(u.to_string().contains("accept-new"));
        let a = SshError::AuthRefused {
            host: "h".into(),
            user: "root".into(),
            tried: vec![],
        };
        assert!(a.to_string().contains("nothing"));
        let j = SshError::Jump {
            host: "inner".into(),
            via: "bastion".into(),
            source: Box::new(SshError::Disconnected {
                host: "bastion".into(),
            }),
        };
        assert_eq!(
            j.to_string(),
            "inner: via jump host bastion: bastion: the connection was closed"
        );
    }
}
