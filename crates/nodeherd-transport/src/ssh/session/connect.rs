//! Connecting: TCP (TCP_NODELAY, quick ACKs), jump hosts through direct-tcpip, and the russh
//! handshake with the host-key check against known_hosts (asking through the options' callback).
//!
//! Owns: the connect and key-exchange timeouts and the errors they raise. May not touch:
//! authentication (that is [`super::auth`]) or channels ([`super::exec`]).

use super::{
    Arc, AsyncRead, AsyncWrite, AtomicBool, ConnectOptions, ConnectionInfo, Context, Handle,
    HostKeyPolicy, Inner, Instant, Mutex, Ordering, PathBuf, Phase, Pin, Poll, PublicKey,
    PublicKeyOrCertificate, ReadBuf, Semaphore, SshError, SshSession, Target, UnknownKey,
    UnknownKeyHandler, Verdict, authenticate, client, io, known_hosts,
};

/// The accepted host key: its fingerprint and the known_hosts file:line that matched (if any).
pub(super) type Accepted = (String, Option<(PathBuf, usize)>);

// ---------------------------------------------------------------------------------------------
// Host-key check inside the russh handler

/// The russh handler: verifies the host key and carries a refusal out as a typed error.
pub(super) struct Verifier {
    pub(super) target: Target,
    pub(super) on_unknown_key: Option<UnknownKeyHandler>,
    /// The precise reason a key was refused (russh only reports "UnknownKey").
    pub(super) refusal: Arc<Mutex<Option<SshError>>>,
    /// True while a human is being asked: the connect timeout is paused.
    pub(super) asking: Arc<AtomicBool>,
    /// The key accepted, and where it was found.
    pub(super) accepted: Arc<Mutex<Option<Accepted>>>,
}

impl Verifier {
    fn refuse(&self, e: SshError) -> Result<bool, russh::Error> {
        if let Ok(mut slot) = self.refusal.lock() {
            *slot = Some(e);
        }
        Ok(false)
    }

    fn accept(
        &self,
        fingerprint: String,
        at: Option<(PathBuf, usize)>,
    ) -> Result<bool, russh::Error> {
        if let Ok(mut slot) = self.accepted.lock() {
            *slot = Some((fingerprint, at));
        }
        Ok(true)
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
            Verdict::Known { file, line } => self.accept(fingerprint, Some((file, line))),
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
                    self.accept(fingerprint, None)
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
pub(super) struct Watched<S> {
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
pub(super) struct QuickAck {
    pub(super) inner: tokio::net::TcpStream,
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
                    (&raw const one).cast(),
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

pub(super) fn protocol(host: &str, e: russh::Error) -> SshError {
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

pub(super) fn channel_err(host: &str, what: &str, e: russh::Error) -> SshError {
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
// Connecting

pub(super) fn client_config(target: &Target) -> Arc<client::Config> {
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
/// (`ssh::connect` wraps the result in the [`crate::ssh::Session`] handle.)
pub async fn connect_ssh(target: &Target, opts: &ConnectOptions) -> Result<SshSession, SshError> {
    let (mut handle, (host_key, known_host), jump) = match &target.jump {
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
            let (handle, accepted) = handshake(target, opts, ch.into_stream()).await?;
            (handle, accepted, Some(jump))
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
            let (handle, accepted) = handshake(target, opts, QuickAck { inner: tcp }).await?;
            (handle, accepted, None)
        }
    };
    let auth = authenticate(&mut handle, target, opts).await?;
    Ok(SshSession {
        inner: Arc::new(Inner {
            handle,
            info: ConnectionInfo {
                auth,
                host_key,
                known_host,
            },
            target: target.clone(),
            channels: Arc::new(Semaphore::new(opts.max_channels.max(1))),
            jump,
            opened: std::sync::atomic::AtomicUsize::new(0),
            spare: Mutex::new(None),
        }),
    })
}

/// Banner exchange and key exchange with the host-key check, bounded by `connect_timeout`
/// (paused while a human is asked about an unknown key); with the accepted key.
pub(super) async fn handshake<S>(
    target: &Target,
    opts: &ConnectOptions,
    stream: S,
) -> Result<(Handle<Verifier>, Accepted), SshError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let seen = Arc::new(AtomicBool::new(false));
    let refusal = Arc::new(Mutex::new(None));
    let asking = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(None));
    let verifier = Verifier {
        target: target.clone(),
        on_unknown_key: opts.on_unknown_key.clone(),
        refusal: refusal.clone(),
        asking: asking.clone(),
        accepted: accepted.clone(),
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
            () = tokio::time::sleep_until(deadline) => {
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
        Ok(handle) => {
            let found = accepted.lock().ok().and_then(|mut a| a.take());
            Ok((handle, found.unwrap_or_default()))
        }
        Err(e) => {
            if let Some(refused) = refusal.lock().ok().and_then(|mut r| r.take()) {
                return Err(refused);
            }
            Err(protocol(&target.name, e))
        }
    }
}
