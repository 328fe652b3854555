//! SSH transport: the only way nodeherd talks to a managed host.
//!
//! Owns: connecting (russh, TCP_NODELAY, timeouts, keepalives, jump hosts), host-key
//! verification against known_hosts files, authentication (agent, then identity files),
//! running quoted commands, and direct-tcpip forwards to a host's 127.0.0.1 ports; the [`Remote`]
//! seam ([`Session`]) every caller goes through, so tests can put a fake behind it.
//! May not touch: the inventory format, the terminal, or anything systemd-specific.

mod error;
pub mod known_hosts;
mod pool;
mod remote;
mod session;

pub use error::{Phase, SshError};
pub use known_hosts::Verdict;
pub use nodeherd_core::remote::{Command, HostKeyPolicy, Target, quote};
pub use pool::Pool;
pub use remote::{BoxStream, ByteStream, Connector, Remote, Session, connect, ssh_connector};
pub use session::{
    ConnectOptions, ConnectionInfo, Output, PassphraseHandler, SshSession, StreamChunk, UnknownKey,
    UnknownKeyHandler,
};
