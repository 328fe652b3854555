//! One authenticated SSH connection to one host, and the commands and forwards run over it.
//!
//! Owns: TCP connect (TCP_NODELAY on, timeouts, keepalives), the russh handshake with host-key
//! verification (through [`crate::ssh::known_hosts`]), authentication (ssh-agent, then identity files),
//! jump hosts (direct-tcpip + `connect_stream`), and channels: exec with a timeout, stdin upload,
//! streaming output, and direct-tcpip forwards to the host's 127.0.0.1 ports.
//! May not touch: the inventory, the terminal (questions go through [`ConnectOptions`] callbacks),
//! or what the commands mean.

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
use crate::ssh::remote::Session;
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

/// A piece of output from [`Session::exec_stream`], as it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamChunk {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

// ---------------------------------------------------------------------------------------------
// Host-key check inside the russh handler

/// The russh handler: verifies the host key and carries a refusal out as a typed error.
struct Verifier {
    target: Target,
    on_unknown_key: Option<UnknownKeyHandler>,
    /// The precise reason a key was refused (russh only reports "UnknownKey").
    refusal: Arc<Mutex<Option<SshError>>>,
    /// True while a human is being asked: the connect timeout is paused.
    asking: Arc<AtomicBool>,
}

impl Verifier {
    fn refuse(&self, e: SshError) -> Result<bool, russh::Error> {
        if let Ok(mut slot) = self.refusal.lock() {
            *slot = Some(e);
        }
        Ok(false)
    }

    fn record(&self, key: &PublicKey) {
        let t = &self.target;
        match t.known_hosts_files.first() {
            Some(file) => {
                if let Err(e) = known_hosts::append(file, &t.address, t.port, key) {
                    tracing::warn!(host = %t.name, file = %file.display(), error = %e, "cannot record host key");
                } else {
                    tracing::info!(host = %t.name, file = %file.display(), fingerprint = %known_hosts::fingerprint(key), "recorded new host key");
                }
            }
            None => tracing::warn!(host = %t.name, "no known_hosts file to record the host key in"),
        }
    }

    async fn verify(&self, key: PublicKey) -> Result<bool, russh::Error> {
        let t = &self.target;
        let fingerprint = known_hosts::fingerprint(&key);
        let verdict = known_hosts::check(&t.known_hosts_files, &t.address, t.port, &key);
        match verdict {
            Verdict::Known { .. } => Ok(true),
            Verdict::Revoked { file, line } => self.refuse(SshError::HostKeyRevoked {
                host: t.name.clone(),
                fingerprint,
                file,
                line,
            }),
            Verdict::Changed {
                file,
                line,
                stored_fingerprint,
            } => self.refuse(SshError::HostKeyChanged {
                host: t.name.clone(),
                fingerprint,
                stored_fingerprint,
                file,
                line,
            }),
            Verdict::Unknown => {
                let key_type = key.algorithm().as_str().to_string();
                let accepted = match (t.host_key_policy, &self.on_unknown_key) {
                    (HostKeyPolicy::AcceptNew, _) => true,
                    (HostKeyPolicy::Strict, Some(ask)) => {
                        let question = UnknownKey {
                            host: t.name.clone(),
                            address: t.address.clone(),
                            port: t.port,
                            key_type: key_type.clone(),
                            fingerprint: fingerprint.clone(),
                            key: key.clone(),
                        };
                        self.asking.store(true, Ordering::SeqCst);
                        let yes = ask(question).await;
                        self.asking.store(false, Ordering::SeqCst);
                        yes
                    }
                    (HostKeyPolicy::Strict, None) => false,
                };
                if accepted {
                    self.record(&key);
                    Ok(true)
                } else {
                    self.refuse(SshError::HostKeyUnknown {
                        host: t.name.clone(),
                        fingerprint,
                        key_type,
                        files: t.known_hosts_files.clone(),
                    })
                }
            }
        }
    }
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // Host certificates are not trusted through @cert-authority (not supported): the plain
        // key inside is checked like any other key.
        self.verify(server_key.public_key()).await
    }
}

/// Remembers whether the server ever sent a byte, to tell a silent server from a slow kex.
struct Watched<S> {
    inner: S,
    seen: Arc<AtomicBool>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.seen.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A TCP stream that acknowledges received data at once (`TCP_QUICKACK` after every read).
///
/// sshd sends several small packets in a row without TCP_NODELAY (e.g. after auth: the
/// `hostkeys-00@openssh.com` request, then the channel-open confirmation); Nagle holds the last one
/// until the previous is acknowledged, and a client in delayed-ACK mode acknowledges only after
/// ~40 ms. That stalled every new connection's first command by ~40 ms. Linux resets quick-ack
/// mode on its own, hence the call after each read (one cheap syscall).
struct QuickAck {
    inner: tokio::net::TcpStream,
}

impl QuickAck {
    fn ack_now(&self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let one: libc::c_int = 1;
            // SAFETY: setsockopt on a socket we own, with a pointer to a live c_int and its size.
            unsafe {
                libc::setsockopt(
                    self.inner.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_QUICKACK,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.ack_now();
        }
        r
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn protocol(host: &str, e: russh::Error) -> SshError {
    match e {
        russh::Error::Disconnect | russh::Error::SendError | russh::Error::HUP => {
            SshError::Disconnected {
                host: host.to_string(),
            }
        }
        other => SshError::Protocol {
            host: host.to_string(),
            message: other.to_string(),
        },
    }
}

fn channel_err(host: &str, what: &str, e: russh::Error) -> SshError {
    match e {
        russh::Error::SendError | russh::Error::Disconnect | russh::Error::HUP => {
            SshError::Disconnected {
                host: host.to_string(),
            }
        }
        other => SshError::Channel {
            host: host.to_string(),
            message: format!("{what}: {other}"),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Session

/// One authenticated SSH connection; cheap to clone (all clones share it). Callers hold it as a
/// [`Session`] (the [`crate::ssh::Remote`] seam).
#[derive(Clone)]
pub struct SshSession {
    inner: Arc<Inner>,
}

struct Inner {
    handle: Handle<Verifier>,
    target: Target,
    channels: Arc<Semaphore>,
    /// The jump session this one tunnels through: kept alive as long as this one.
    jump: Option<SshSession>,
}

impl fmt::Debug for SshSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshSession")
            .field("host", &self.inner.target.name)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl SshSession {
    /// Connect, verify the host key, and authenticate (see the module doc).
    pub async fn connect(target: &Target, opts: &ConnectOptions) -> Result<SshSession, SshError> {
        connect_ssh(target, opts).await
    }

    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    /// True once the connection (or the jump connection under it) is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.handle.is_closed() || self.inner.jump.as_ref().is_some_and(|j| j.is_closed())
    }

    /// Say goodbye to the server (and to the jump host, if this session owns the last reference).
    pub async fn close(&self) {
        let _ = self
            .inner
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
        if let Some(j) = &self.inner.jump {
            if Arc::strong_count(&j.inner) == 1 {
                Box::pin(j.close()).await;
            }
        }
    }

    fn host(&self) -> &str {
        &self.inner.target.name
    }

    fn line_for(&self, cmd: &Command) -> String {
        let root = cmd
            .become_root_choice()
            .unwrap_or(self.inner.target.become_root && self.inner.target.user != "root");
        cmd.shell_string_with(root)
    }

    /// Run `cmd`, collecting all output until the channel closes, bounded by the target's
    /// `command_timeout` (waiting for a free channel counts).
    pub async fn exec(&self, cmd: &Command) -> Result<Output, SshError> {
        let line = self.line_for(cmd);
        self.run(line, None, self.inner.target.command_timeout)
            .await
    }

    /// Like [`SshSession::exec`] with another time limit than the target's `command_timeout`
    /// (e.g. a long upgrade step).
    pub async fn exec_with_timeout(
        &self,
        cmd: &Command,
        limit: std::time::Duration,
    ) -> Result<Output, SshError> {
        let line = self.line_for(cmd);
        self.run(line, None, limit).await
    }

    /// Like [`SshSession::exec`], sending `stdin` then EOF (e.g. `cat > file` for uploads).
    pub async fn exec_with_stdin(&self, cmd: &Command, stdin: &[u8]) -> Result<Output, SshError> {
        let line = self.line_for(cmd);
        self.run(
            line,
            Some(Stdin::Bytes(stdin)),
            self.inner.target.command_timeout,
        )
        .await
    }

    /// Like [`SshSession::exec_with_stdin`], streaming an open file as stdin: read as the channel's
    /// window allows, never held in memory whole (release artifacts can be hundreds of MB).
    pub async fn exec_with_stdin_file(
        &self,
        cmd: &Command,
        file: tokio::fs::File,
    ) -> Result<Output, SshError> {
        let line = self.line_for(cmd);
        self.run(
            line,
            Some(Stdin::File(file)),
            self.inner.target.command_timeout,
        )
        .await
    }

    /// Take a channel slot, then open a session channel; the guard holds both.
    async fn open_session_channel(&self) -> Result<ChannelGuard, SshError> {
        let permit = self
            .inner
            .channels
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SshError::Disconnected {
                host: self.host().to_string(),
            })?;
        let ch = self
            .inner
            .handle
            .channel_open_session()
            .await
            .map_err(|e| channel_err(self.host(), "cannot open a session channel", e))?;
        Ok(ChannelGuard {
            ch: Some(ch),
            _permit: Some(permit),
        })
    }

    async fn run(
        &self,
        line: String,
        stdin: Option<Stdin<'_>>,
        limit: std::time::Duration,
    ) -> Result<Output, SshError> {
        let deadline = Instant::now() + limit;
        let timeout = || SshError::Timeout {
            host: self.host().to_string(),
            phase: Phase::Command(line.clone()),
            after: limit,
        };
        let mut guard = tokio::time::timeout_at(deadline, self.open_session_channel())
            .await
            .map_err(|_| timeout())??;
        let result = tokio::time::timeout_at(deadline, self.drive(&mut guard, &line, stdin)).await;
        match result {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(e),
            // the guard closes the channel when dropped
            Err(_) => Err(timeout()),
        }
    }

    async fn drive(
        &self,
        guard: &mut ChannelGuard,
        line: &str,
        stdin: Option<Stdin<'_>>,
    ) -> Result<Output, SshError> {
        let host = self.host();
        let Some(ch) = guard.ch.as_mut() else {
            return Err(SshError::Channel {
                host: host.to_string(),
                message: "channel already closed".into(),
            });
        };
        ch.exec(true, line.as_bytes())
            .await
            .map_err(|e| channel_err(host, "exec request", e))?;
        if let Some(stdin) = stdin {
            match stdin {
                Stdin::Bytes(data) => ch.data(data).await,
                Stdin::File(file) => ch.data(tokio::io::BufReader::new(file)).await,
            }
            .map_err(|e| channel_err(host, "sending stdin", e))?;
            ch.eof()
                .await
                .map_err(|e| channel_err(host, "sending EOF", e))?;
        }
        let mut out = Output {
            command: line.to_string(),
            ..Output::default()
        };
        loop {
            match ch.wait().await {
                Some(ChannelMsg::Data { data }) => out.stdout.extend_from_slice(&data),
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    out.stderr.extend_from_slice(&data)
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => out.exit_status = Some(exit_status),
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    out.exit_signal = Some(sig_name(&signal_name))
                }
                Some(ChannelMsg::Failure) => {
                    return Err(SshError::Channel {
                        host: host.to_string(),
                        message: format!("the server refused to run `{line}`"),
                    });
                }
                Some(ChannelMsg::Close) => {
                    guard.ch = None; // the server closed it: nothing to close on drop
                    return Ok(out);
                }
                None => {
                    guard.ch = None;
                    if self.inner.handle.is_closed() {
                        return Err(SshError::Disconnected {
                            host: host.to_string(),
                        });
                    }
                    return Ok(out);
                }
                Some(_) => {}
            }
        }
    }

    /// Run `cmd` without a time limit, sending output to `tx` as it arrives. Returns the exit
    /// status when the channel closes; returns `Ok(None)` (closing the channel) once `tx` is closed.
    /// Holds one of the session's channel slots while it runs.
    pub async fn exec_stream(
        &self,
        cmd: &Command,
        tx: mpsc::Sender<StreamChunk>,
    ) -> Result<Option<u32>, SshError> {
        let line = self.line_for(cmd);
        let host = self.host();
        let mut guard = self.open_session_channel().await?;
        let Some(ch) = guard.ch.as_mut() else {
            return Err(SshError::Channel {
                host: host.to_string(),
                message: "channel already closed".into(),
            });
        };
        ch.exec(true, line.as_bytes())
            .await
            .map_err(|e| channel_err(host, "exec request", e))?;
        let mut status = None;
        loop {
            let msg = tokio::select! {
                m = ch.wait() => m,
                _ = tx.closed() => return Ok(None),
            };
            let chunk = match msg {
                Some(ChannelMsg::Data { data }) => StreamChunk::Stdout(data.to_vec()),
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    StreamChunk::Stderr(data.to_vec())
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    status = Some(exit_status);
                    continue;
                }
                Some(ChannelMsg::Failure) => {
                    return Err(SshError::Channel {
                        host: host.to_string(),
                        message: format!("the server refused to run `{line}`"),
                    });
                }
                Some(ChannelMsg::Close) | None => {
                    guard.ch = None;
                    return Ok(status);
                }
                Some(_) => continue,
            };
            if tx.send(chunk).await.is_err() {
                return Ok(None);
            }
        }
    }

    /// A byte stream to `127.0.0.1:port` as seen from the host (direct-tcpip); dropping it closes it.
    /// Does not use a session slot (sshd's MaxSessions does not count forwards).
    pub async fn forward(
        &self,
        port: u16,
    ) -> Result<impl AsyncRead + AsyncWrite + Unpin + Send + use<>, SshError> {
        let limit = self.inner.target.connect_timeout;
        let open = self.inner.handle.channel_open_direct_tcpip(
            "127.0.0.1",
            u32::from(port),
            "127.0.0.1",
            0,
        );
        let ch = tokio::time::timeout(limit, open)
            .await
            .map_err(|_| SshError::Timeout {
                host: self.host().to_string(),
                phase: Phase::Command(format!("forward to 127.0.0.1:{port}")),
                after: limit,
            })?
            .map_err(|e| {
                channel_err(
                    self.host(),
                    &format!("cannot forward to 127.0.0.1:{port}"),
                    e,
                )
            })?;
        Ok(ch.into_stream())
    }
}

fn sig_name(s: &russh::Sig) -> String {
    match s {
        russh::Sig::Custom(c) => c.clone(),
        other => format!("{other:?}"),
    }
}

/// What a command reads on stdin: bytes in memory, or a file streamed as the window allows.
enum Stdin<'a> {
    Bytes(&'a [u8]),
    File(tokio::fs::File),
}

/// Ends the channel when dropped early (timeout, cancelled caller). sshd frees a session only
/// when its process exits, so the command gets SIGTERM, then SIGKILL after a grace period, then
/// the channel is closed; the channel slot stays taken until the server confirms the close, so
/// this client never opens more sessions than sshd allows. Note: OpenSSH refuses signals on
/// sessions of root logins ("session signalling requires privilege separation"); there a
/// timed-out command keeps its slot until it ends on its own (or writes to the closed pipe).
struct ChannelGuard {
    ch: Option<Channel<Msg>>,
    _permit: Option<OwnedSemaphorePermit>,
}

/// How long a stopped command gets between SIGTERM and SIGKILL.
const TERM_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

async fn wait_closed(ch: &mut Channel<Msg>, limit: Option<std::time::Duration>) -> bool {
    loop {
        let msg = match limit {
            Some(l) => match tokio::time::timeout(l, ch.wait()).await {
                Ok(m) => m,
                Err(_) => return false,
            },
            None => ch.wait().await,
        };
        if matches!(msg, Some(ChannelMsg::Close) | None) {
            return true;
        }
    }
}

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        let Some(mut ch) = self.ch.take() else {
            return;
        };
        let permit = self._permit.take();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _permit = permit;
                for sig in [russh::Sig::TERM, russh::Sig::KILL] {
                    if ch.signal(sig).await.is_err() {
                        return; // connection gone
                    }
                    if wait_closed(&mut ch, Some(TERM_GRACE)).await {
                        return;
                    }
                }
                if ch.close().await.is_ok() {
                    wait_closed(&mut ch, None).await;
                }
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connecting

fn client_config(target: &Target) -> Arc<client::Config> {
    let keepalive = (!target.keepalive_interval.is_zero()).then_some(target.keepalive_interval);
    Arc::new(client::Config {
        nodelay: true,
        keepalive_interval: keepalive,
        keepalive_max: 3,
        inactivity_timeout: None,
        ..Default::default()
    })
}

/// Connect, verify the host key, and authenticate; jump hosts are connected first (recursively).
pub async fn connect(target: &Target, opts: &ConnectOptions) -> Result<Session, SshError> {
    Ok(Session::new(connect_ssh(target, opts).await?))
}

/// [`connect`], keeping the concrete type (a jump session is one).
pub async fn connect_ssh(target: &Target, opts: &ConnectOptions) -> Result<SshSession, SshError> {
    let (mut handle, jump) = match &target.jump {
        Some(via) => {
            let jump_err = |e: SshError| SshError::Jump {
                host: target.name.clone(),
                via: via.name.clone(),
                source: Box::new(e),
            };
            let jump: SshSession = Box::pin(connect_ssh(via, opts)).await.map_err(jump_err)?;
            let open = jump.inner.handle.channel_open_direct_tcpip(
                target.address.clone(),
                u32::from(target.port),
                "127.0.0.1",
                0,
            );
            let ch = tokio::time::timeout(target.connect_timeout, open)
                .await
                .map_err(|_| {
                    jump_err(SshError::Timeout {
                        host: via.name.clone(),
                        phase: Phase::Connect,
                        after: target.connect_timeout,
                    })
                })?
                .map_err(|e| {
                    jump_err(channel_err(
                        &via.name,
                        &format!("cannot open a tunnel to {}:{}", target.address, target.port),
                        e,
                    ))
                })?;
            let handle = handshake(target, opts, ch.into_stream()).await?;
            (handle, Some(jump))
        }
        None => {
            let addr = format!("{}:{}", target.address, target.port);
            let tcp = tokio::time::timeout(
                target.connect_timeout,
                tokio::net::TcpStream::connect((target.address.as_str(), target.port)),
            )
            .await
            .map_err(|_| SshError::Timeout {
                host: target.name.clone(),
                phase: Phase::Connect,
                after: target.connect_timeout,
            })?
            .map_err(|source| SshError::Unreachable {
                host: target.name.clone(),
                addr,
                source,
            })?;
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(host = %target.name, error = %e, "set_nodelay failed");
            }
            (
                handshake(target, opts, QuickAck { inner: tcp }).await?,
                None,
            )
        }
    };
    authenticate(&mut handle, target, opts).await?;
    Ok(SshSession {
        inner: Arc::new(Inner {
            handle,
            target: target.clone(),
            channels: Arc::new(Semaphore::new(opts.max_channels.max(1))),
            jump,
        }),
    })
}

/// Banner exchange and key exchange with the host-key check, bounded by `connect_timeout`
/// (paused while a human is asked about an unknown key).
async fn handshake<S>(
    target: &Target,
    opts: &ConnectOptions,
    stream: S,
) -> Result<Handle<Verifier>, SshError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let seen = Arc::new(AtomicBool::new(false));
    let refusal = Arc::new(Mutex::new(None));
    let asking = Arc::new(AtomicBool::new(false));
    let verifier = Verifier {
        target: target.clone(),
        on_unknown_key: opts.on_unknown_key.clone(),
        refusal: refusal.clone(),
        asking: asking.clone(),
    };
    let watched = Watched {
        inner: stream,
        seen: seen.clone(),
    };
    let fut = client::connect_stream(client_config(target), watched, verifier);
    tokio::pin!(fut);
    let limit = target.connect_timeout;
    let mut deadline = Instant::now() + limit;
    let result = loop {
        tokio::select! {
            r = &mut fut => break r,
            _ = tokio::time::sleep_until(deadline) => {
                if asking.load(Ordering::SeqCst) {
                    deadline = Instant::now() + limit;
                    continue;
                }
                let phase = if seen.load(Ordering::Relaxed) { Phase::KeyExchange } else { Phase::Connect };
                return Err(SshError::Timeout { host: target.name.clone(), phase, after: limit });
            }
        }
    };
    match result {
        Ok(handle) => Ok(handle),
        Err(e) => {
            if let Some(refused) = refusal.lock().ok().and_then(|mut r| r.take()) {
                return Err(refused);
            }
            Err(protocol(&target.name, e))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication

fn default_identity_files() -> Vec<PathBuf> {
    let Some(home) = dirs::home_dir() else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| home.join(".ssh").join(n))
        .filter(|p| p.exists())
        .collect()
}

fn describe(key: &PublicKey) -> String {
    format!(
        "{} {}",
        key.algorithm().as_str(),
        known_hosts::fingerprint(key)
    )
}

/// Load (and decrypt, asking for the passphrase) an identity file; cached per options.
fn load_identity(path: &Path, opts: &ConnectOptions) -> Result<Arc<PrivateKey>, String> {
    if let Some(k) = opts
        .key_cache
        .lock()
        .ok()
        .and_then(|c| c.get(path).cloned())
    {
        return Ok(k);
    }
    let key = match keys::load_secret_key(path, None) {
        Ok(k) => k,
        Err(keys::Error::KeyIsEncrypted) => {
            let Some(ask) = &opts.passphrase else {
                return Err("encrypted, no passphrase available".into());
            };
            let Some(pass) = ask(path) else {
                return Err("encrypted, passphrase not given".into());
            };
            keys::load_secret_key(path, Some(&pass)).map_err(|e| format!("cannot decrypt: {e}"))?
        }
        Err(keys::Error::IO(e)) if e.kind() == io::ErrorKind::NotFound => {
            return Err("missing".into());
        }
        Err(e) => return Err(format!("unreadable: {e}")),
    };
    let key = Arc::new(key);
    if let Ok(mut c) = opts.key_cache.lock() {
        c.insert(path.to_path_buf(), key.clone());
    }
    Ok(key)
}

struct Auth<'a> {
    handle: &'a mut Handle<Verifier>,
    target: &'a Target,
    rsa_hash: Option<Option<HashAlg>>,
}

impl Auth<'_> {
    fn timeout(&self) -> SshError {
        SshError::Timeout {
            host: self.target.name.clone(),
            phase: Phase::Auth,
            after: self.target.connect_timeout,
        }
    }

    async fn rsa_hash(&mut self) -> Result<Option<HashAlg>, SshError> {
        if let Some(h) = self.rsa_hash {
            return Ok(h);
        }
        let best = tokio::time::timeout(
            self.target.connect_timeout,
            self.handle.best_supported_rsa_hash(),
        )
        .await
        .map_err(|_| self.timeout())?
        .map_err(|e| protocol(&self.target.name, e))?
        .flatten();
        self.rsa_hash = Some(best);
        Ok(best)
    }

    async fn hash_for(&mut self, key: &PublicKey) -> Result<Option<HashAlg>, SshError> {
        if key.algorithm().is_rsa() {
            self.rsa_hash().await
        } else {
            Ok(None)
        }
    }

    /// Offer every agent identity; `Ok(true)` once one is accepted.
    async fn agent(
        &mut self,
        socket: Option<&Path>,
        tried: &mut Vec<String>,
    ) -> Result<bool, SshError> {
        let socket = match socket {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os("SSH_AUTH_SOCK") {
                Some(p) => PathBuf::from(p),
                None => return Ok(false),
            },
        };
        let mut agent = match AgentClient::connect_uds(&socket).await {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "ssh-agent not usable");
                return Ok(false);
            }
        };
        if let Some(binding) = self.handle.agent_session_binding() {
            if let Err(e) = agent.bind_session(binding, false).await {
                tracing::debug!(error = %e, "ssh-agent session-bind not supported");
            }
        }
        let identities = match agent.request_identities().await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::debug!(error = %e, "ssh-agent would not list identities");
                return Ok(false);
            }
        };
        for id in identities {
            if matches!(id, keys::agent::AgentIdentity::Certificate { .. }) {
                continue; // certificates are not offered
            }
            let key = id.public_key().into_owned();
            let hash = self.hash_for(&key).await?;
            tried.push(format!("agent key {}", describe(&key)));
            let user = self.target.user.clone();
            let attempt = self
                .handle
                .authenticate_publickey_with(user, key, hash, &mut agent);
            match tokio::time::timeout(self.target.connect_timeout, attempt)
                .await
                .map_err(|_| self.timeout())?
            {
                Ok(r) if r.success() => return Ok(true),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "ssh-agent could not sign"),
            }
        }
        Ok(false)
    }

    async fn file(
        &mut self,
        path: &Path,
        opts: &ConnectOptions,
        tried: &mut Vec<String>,
    ) -> Result<bool, SshError> {
        let loaded = {
            let (path, opts) = (path.to_path_buf(), opts.clone());
            tokio::task::spawn_blocking(move || load_identity(&path, &opts))
                .await
                .unwrap_or_else(|e| Err(format!("loader failed: {e}")))
        };
        let key = match loaded {
            Ok(k) => k,
            Err(why) => {
                tried.push(format!("{} ({why})", path.display()));
                return Ok(false);
            }
        };
        let public = key.public_key().clone();
        let hash = self.hash_for(&public).await?;
        tried.push(format!("{} ({})", path.display(), describe(&public)));
        let attempt = self.handle.authenticate_publickey(
            self.target.user.clone(),
            PrivateKeyWithHashAlg::new(key, hash),
        );
        let r = tokio::time::timeout(self.target.connect_timeout, attempt)
            .await
            .map_err(|_| self.timeout())?
            .map_err(|e| protocol(&self.target.name, e))?;
        Ok(r.success())
    }
}

async fn authenticate(
    handle: &mut Handle<Verifier>,
    target: &Target,
    opts: &ConnectOptions,
) -> Result<(), SshError> {
    let mut tried = Vec::new();
    let mut auth = Auth {
        handle,
        target,
        rsa_hash: None,
    };
    if opts.use_agent && auth.agent(opts.agent_socket.as_deref(), &mut tried).await? {
        return Ok(());
    }
    let files = if target.identity_files.is_empty() {
        default_identity_files()
    } else {
        target.identity_files.clone()
    };
    for f in &files {
        if auth.file(f, opts, &mut tried).await? {
            return Ok(());
        }
    }
    Err(SshError::AuthRefused {
        host: target.name.clone(),
        user: target.user.clone(),
        tried,
    })
}
