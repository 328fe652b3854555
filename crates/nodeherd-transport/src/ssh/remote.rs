//! The `Remote` seam: what the engine may ask of a connection to one host, and [`Session`], the
//! cloneable handle every caller holds (the real [`SshSession`] or a test's fake behind it).
//!
//! Owns: the trait, the handle, the boxed stream type of forwards, and the [`Connector`] a
//! [`crate::ssh::Pool`] uses to open sessions. May not touch: SSH itself (that is
//! [`crate::ssh::session`]), quoting or timeouts (the implementation decides; the real one keeps
//! the target's `command_timeout`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::ssh::error::SshError;
use crate::ssh::session::{ConnectOptions, ConnectionInfo, Output, SshSession, StreamChunk};
use nodeherd_core::remote::{Command, Target};

/// A byte stream to a port on the host (what a forward returns; HTTP runs over it).
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + ?Sized> ByteStream for T {}

/// A forward's stream, boxed so every [`Remote`] can hand one out.
pub type BoxStream = Box<dyn ByteStream>;

/// One connection to one host: commands, streams and forwards. Implemented by [`SshSession`]
/// and by test fakes (`nodeherd_engine::testing`).
pub trait Remote: Send + Sync + 'static {
    /// The host this connection reaches.
    fn target(&self) -> &Target;
    /// True once the connection is gone.
    fn is_closed(&self) -> bool;
    /// Say goodbye (best effort).
    fn close(&self) -> BoxFuture<'_, ()>;
    /// Run `cmd`, collecting all output, bounded by `limit`.
    fn exec_with_timeout<'a>(
        &'a self,
        cmd: &'a Command,
        limit: Duration,
    ) -> BoxFuture<'a, Result<Output, SshError>>;
    /// Run `cmd` with `stdin` then EOF, bounded by the target's `command_timeout`.
    fn exec_with_stdin<'a>(
        &'a self,
        cmd: &'a Command,
        stdin: &'a [u8],
    ) -> BoxFuture<'a, Result<Output, SshError>>;
    /// Run `cmd` with an open file streamed as stdin, bounded by the target's `command_timeout`.
    fn exec_with_stdin_file<'a>(
        &'a self,
        cmd: &'a Command,
        file: tokio::fs::File,
    ) -> BoxFuture<'a, Result<Output, SshError>>;
    /// Run `cmd` without a time limit, sending output to `tx` as it arrives; `Ok(None)` once `tx`
    /// is closed, else the exit status.
    fn exec_stream<'a>(
        &'a self,
        cmd: &'a Command,
        tx: mpsc::Sender<StreamChunk>,
    ) -> BoxFuture<'a, Result<Option<u32>, SshError>>;
    /// A byte stream to `127.0.0.1:port` as seen from the host.
    fn forward(&self, port: u16) -> BoxFuture<'_, Result<BoxStream, SshError>>;
    /// How the connection was made (auth method, matching known_hosts line), when known.
    fn connection_info(&self) -> Option<ConnectionInfo> {
        None
    }
}

impl Remote for SshSession {
    fn target(&self) -> &Target {
        SshSession::target(self)
    }
    fn is_closed(&self) -> bool {
        SshSession::is_closed(self)
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(SshSession::close(self))
    }
    fn exec_with_timeout<'a>(
        &'a self,
        cmd: &'a Command,
        limit: Duration,
    ) -> BoxFuture<'a, Result<Output, SshError>> {
        Box::pin(SshSession::exec_with_timeout(self, cmd, limit))
    }
    fn exec_with_stdin<'a>(
        &'a self,
        cmd: &'a Command,
        stdin: &'a [u8],
    ) -> BoxFuture<'a, Result<Output, SshError>> {
        Box::pin(SshSession::exec_with_stdin(self, cmd, stdin))
    }
    fn exec_with_stdin_file<'a>(
        &'a self,
        cmd: &'a Command,
        file: tokio::fs::File,
    ) -> BoxFuture<'a, Result<Output, SshError>> {
        Box::pin(SshSession::exec_with_stdin_file(self, cmd, file))
    }
    fn exec_stream<'a>(
        &'a self,
        cmd: &'a Command,
        tx: mpsc::Sender<StreamChunk>,
    ) -> BoxFuture<'a, Result<Option<u32>, SshError>> {
        Box::pin(SshSession::exec_stream(self, cmd, tx))
    }
    fn forward(&self, port: u16) -> BoxFuture<'_, Result<BoxStream, SshError>> {
        Box::pin(async move {
            let s = SshSession::forward(self, port).await?;
            Ok(Box::new(s) as BoxStream)
        })
    }
    fn connection_info(&self) -> Option<ConnectionInfo> {
        Some(SshSession::connection_info(self).clone())
    }
}

/// One connection to one host, cheap to clone (all clones share it): the real SSH session, or
/// whatever [`Remote`] a test put behind it.
#[derive(Clone)]
pub struct Session {
    inner: Arc<dyn Remote>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.inner.target().name)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Session {
    /// Wrap any connection.
    pub fn new(remote: impl Remote) -> Session {
        Session {
            inner: Arc::new(remote),
        }
    }

    /// Wrap a shared connection (a test keeps its own handle to the fake).
    pub fn from_arc(remote: Arc<dyn Remote>) -> Session {
        Session { inner: remote }
    }

    /// Connect over SSH, verify the host key, and authenticate (see [`crate::ssh::session`]).
    pub async fn connect(target: &Target, opts: &ConnectOptions) -> Result<Session, SshError> {
        connect(target, opts).await
    }

    pub fn target(&self) -> &Target {
        self.inner.target()
    }

    /// How the connection was made, when the implementation knows (see [`ConnectionInfo`]).
    pub fn connection_info(&self) -> Option<ConnectionInfo> {
        self.inner.connection_info()
    }

    /// True once the connection (or the jump connection under it) is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Say goodbye to the server (and to the jump host, if this session owns the last reference).
    pub async fn close(&self) {
        self.inner.close().await;
    }

    /// Run `cmd`, collecting all output until the channel closes, bounded by the target's
    /// `command_timeout` (waiting for a free channel counts).
    pub async fn exec(&self, cmd: &Command) -> Result<Output, SshError> {
        let limit = self.inner.target().command_timeout;
        self.inner.exec_with_timeout(cmd, limit).await
    }

    /// Like [`Session::exec`] with another time limit than the target's `command_timeout`
    /// (e.g. a long upgrade step).
    pub async fn exec_with_timeout(
        &self,
        cmd: &Command,
        limit: Duration,
    ) -> Result<Output, SshError> {
        self.inner.exec_with_timeout(cmd, limit).await
    }

    /// Like [`Session::exec`], sending `stdin` then EOF (e.g. `cat > file` for uploads).
    pub async fn exec_with_stdin(&self, cmd: &Command, stdin: &[u8]) -> Result<Output, SshError> {
        self.inner.exec_with_stdin(cmd, stdin).await
    }

    /// Like [`Session::exec_with_stdin`], streaming an open file as stdin: read as the channel's
    /// window allows, never held in memory whole (release artifacts can be hundreds of MB).
    pub async fn exec_with_stdin_file(
        &self,
        cmd: &Command,
        file: tokio::fs::File,
    ) -> Result<Output, SshError> {
        self.inner.exec_with_stdin_file(cmd, file).await
    }

    /// Run `cmd` without a time limit, sending output to `tx` as it arrives. Returns the exit
    /// status when the channel closes; returns `Ok(None)` (closing the channel) once `tx` is closed.
    pub async fn exec_stream(
        &self,
        cmd: &Command,
        tx: mpsc::Sender<StreamChunk>,
    ) -> Result<Option<u32>, SshError> {
        self.inner.exec_stream(cmd, tx).await
    }

    /// A byte stream to `127.0.0.1:port` as seen from the host; dropping it closes it.
    pub async fn forward(&self, port: u16) -> Result<BoxStream, SshError> {
        self.inner.forward(port).await
    }
}

/// How a [`crate::ssh::Pool`] opens a session to a target (the default: [`Session::connect`]).
pub type Connector = Arc<
    dyn for<'a> Fn(&'a Target, &'a ConnectOptions) -> BoxFuture<'a, Result<Session, SshError>>
        + Send
        + Sync,
>;

/// The real connector: SSH.
pub fn ssh_connector() -> Connector {
    Arc::new(|t, o| Box::pin(Session::connect(t, o)))
}

/// Connect over SSH, verify the host key, and authenticate (jump hosts first), behind the
/// [`Session`] handle.
pub async fn connect(target: &Target, opts: &ConnectOptions) -> Result<Session, SshError> {
    Ok(Session::new(
        crate::ssh::session::connect_ssh(target, opts).await?,
    ))
}
