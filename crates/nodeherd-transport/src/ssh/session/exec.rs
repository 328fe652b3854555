//! The session and its commands: exec with a time limit (waiting for a channel slot counts),
//! stdin from memory or a file (bounded by its progress, with the channel's messages read while
//! it streams), and the guard that stops a command whose caller gave up.
//!
//! Owns: channel slots (`max_channels`), the spare channel opened ahead on a session in repeated
//! use, the command line's `sudo` choice, exit status and signals. May not touch: how the
//! connection was made ([`super::connect`]).
//!
//! Round trips: a command costs two (open a session channel, then exec; the exec request carries
//! no wait and its output is the answer). SSH cannot pipeline the two (the exec names the
//! channel number the server chose). Once a session has run a command, every later channel is
//! opened one command ahead in the background ([`preopen_after`]), so a warm poll's command
//! costs one round trip: the exec on the spare. A one-shot session (`nodeherd status`) opens none.

use super::idle::{Stalled, Stamp, copy_stamped, idle_bounded};
use super::{
    Arc, Channel, ChannelMsg, Command, ConnectOptions, ConnectionInfo, Disconnect, Handle, Instant,
    Msg, Output, OwnedSemaphorePermit, Phase, Semaphore, SshError, Target, Verifier, channel_err,
    connect_ssh, fmt,
};

// ---------------------------------------------------------------------------------------------
// Session

/// One authenticated SSH connection; cheap to clone (all clones share it). Callers hold it as a
/// [`Session`] (the [`crate::ssh::Remote`] seam).
#[derive(Clone)]
pub struct SshSession {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) handle: Handle<Verifier>,
    /// How this connection was made.
    pub(super) info: ConnectionInfo,
    pub(super) target: Target,
    pub(super) channels: Arc<Semaphore>,
    /// The jump session this one tunnels through: kept alive as long as this one.
    pub(super) jump: Option<SshSession>,
    /// Session channels opened so far (spares included).
    pub(super) opened: std::sync::atomic::AtomicUsize,
    /// A session channel opened ahead, not yet used (it holds its channel slot).
    pub(super) spare: std::sync::Mutex<Option<ChannelGuard>>,
}

/// Whether to open a spare channel ahead once `opened` channels were opened on a session: from
/// its second command on (a session in repeated use), never for a session's only command.
pub(super) fn preopen_after(opened: usize) -> bool {
    opened >= 1
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

    /// The credential accepted and the known_hosts entry that matched the host key.
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.inner.info
    }

    /// True once the connection (or the jump connection under it) is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.handle.is_closed() || self.inner.jump.as_ref().is_some_and(SshSession::is_closed)
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

    pub(super) fn host(&self) -> &str {
        &self.inner.target.name
    }

    pub(super) fn line_for(&self, cmd: &Command) -> String {
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

    /// Take the spare channel, if one is open.
    fn take_spare(&self) -> Option<ChannelGuard> {
        let mut g = self.inner.spare.lock().ok()?.take()?;
        g.idle = false;
        Some(g)
    }

    /// Open a spare channel in the background, when a slot is free and none is open; it is kept
    /// for the next command (see the module doc).
    fn refill_spare(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        rt.spawn(async move {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            if inner.spare.lock().map_or(true, |s| s.is_some()) {
                return;
            }
            // leave a slot free, so a spare never makes a waiting command wait longer
            if inner.channels.available_permits() < 2 {
                return;
            }
            let Ok(permit) = inner.channels.clone().try_acquire_owned() else {
                return; // every slot busy: the next command opens its own
            };
            let open = inner.handle.channel_open_session();
            let Ok(Ok(ch)) = tokio::time::timeout(inner.target.connect_timeout, open).await else {
                return;
            };
            inner
                .opened
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let guard = ChannelGuard {
                ch: Some(ch),
                _permit: Some(permit),
                idle: true,
            };
            if let Ok(mut s) = inner.spare.lock() {
                if s.is_none() {
                    *s = Some(guard);
                }
            }
        });
    }

    /// A session channel with its slot: the spare opened ahead when there is one, else a slot
    /// taken and a channel opened now; the guard holds both.
    pub(super) async fn open_session_channel(&self) -> Result<ChannelGuard, SshError> {
        let spare = self.take_spare();
        let opened = self.inner.opened.load(std::sync::atomic::Ordering::SeqCst);
        if preopen_after(opened) {
            self.refill_spare();
        }
        if let Some(g) = spare {
            return Ok(g);
        }
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
        self.inner
            .opened
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(ChannelGuard {
            ch: Some(ch),
            _permit: Some(permit),
            idle: false,
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
        let Some(stdin) = stdin else {
            // the guard closes the channel when dropped
            return tokio::time::timeout_at(deadline, self.drive(&mut guard, &line))
                .await
                .map_err(|_| timeout())?;
        };
        // a transfer is bounded by its progress, not its duration: a slow link is no failure
        let stamp = Stamp::now();
        idle_bounded(
            self.drive_stdin(&mut guard, &line, stdin, &stamp),
            &stamp,
            limit,
        )
        .await
        .map_err(|Stalled| SshError::Stalled {
            host: self.host().to_string(),
            phase: Phase::Command(line.clone()),
            after: limit,
        })?
    }

    async fn drive(&self, guard: &mut ChannelGuard, line: &str) -> Result<Output, SshError> {
        let host = self.host();
        let Some(ch) = guard.ch.as_mut() else {
            return Err(closed(host));
        };
        ch.exec(true, line.as_bytes())
            .await
            .map_err(|e| channel_err(host, "exec request", e))?;
        let mut out = Output {
            command: line.to_string(),
            ..Output::default()
        };
        loop {
            let msg = ch.wait().await;
            if let Some((end, closed)) = self.absorb(&mut out, msg, line) {
                if closed {
                    guard.ch = None; // the server closed it: nothing to close on drop
                }
                return end;
            }
        }
    }

    /// Run `line` with `stdin` streamed to it while reading the channel's messages: when the
    /// command exits before reading everything (disk full, refused), sending stops at once and
    /// its exit status and stderr are the result. Touches `stamp` on every accepted chunk and
    /// every message.
    async fn drive_stdin(
        &self,
        guard: &mut ChannelGuard,
        line: &str,
        stdin: Stdin<'_>,
        stamp: &Stamp,
    ) -> Result<Output, SshError> {
        let host = self.host();
        let Some(ch) = guard.ch.as_mut() else {
            return Err(closed(host));
        };
        ch.exec(true, line.as_bytes())
            .await
            .map_err(|e| channel_err(host, "exec request", e))?;
        let reader: Box<dyn tokio::io::AsyncRead + Unpin + Send + '_> = match stdin {
            Stdin::Bytes(b) => Box::new(b),
            Stdin::File(f) => Box::new(f),
        };
        let send = copy_stamped(reader, ch.make_writer(), stamp);
        tokio::pin!(send);
        let mut sending = true;
        let mut send_err = None;
        let mut out = Output {
            command: line.to_string(),
            ..Output::default()
        };
        loop {
            let msg = tokio::select! {
                r = &mut send, if sending => {
                    sending = false;
                    send_err = r.err();
                    continue;
                }
                m = ch.wait() => m,
            };
            stamp.touch();
            if matches!(
                msg,
                Some(ChannelMsg::ExitStatus { .. } | ChannelMsg::ExitSignal { .. })
            ) {
                sending = false; // the command is gone: nothing reads what we would send
            }
            if let Some((end, closed)) = self.absorb(&mut out, msg, line) {
                if closed {
                    guard.ch = None;
                }
                return match (end, send_err) {
                    (Ok(o), Some(e)) if o.exit_status.is_none() && o.exit_signal.is_none() => {
                        Err(SshError::Channel {
                            host: host.to_string(),
                            message: format!("sending stdin: {e}"),
                        })
                    }
                    (end, _) => end,
                };
            }
        }
    }

    /// Take one channel message into `out`; `Some` when the command is over (the channel closed,
    /// or the server refused it), with whether the channel is gone.
    fn absorb(
        &self,
        out: &mut Output,
        msg: Option<ChannelMsg>,
        line: &str,
    ) -> Option<(Result<Output, SshError>, bool)> {
        let host = self.host();
        match msg {
            Some(ChannelMsg::Data { data }) => out.stdout.extend_from_slice(&data),
            Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                out.stderr.extend_from_slice(&data);
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => out.exit_status = Some(exit_status),
            Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                out.exit_signal = Some(sig_name(&signal_name));
            }
            Some(ChannelMsg::Failure) => {
                return Some((
                    Err(SshError::Channel {
                        host: host.to_string(),
                        message: format!("the server refused to run `{line}`"),
                    }),
                    false,
                ));
            }
            Some(ChannelMsg::Close) => return Some((Ok(std::mem::take(out)), true)),
            None => {
                if self.inner.handle.is_closed() {
                    return Some((
                        Err(SshError::Disconnected {
                            host: host.to_string(),
                        }),
                        true,
                    ));
                }
                return Some((Ok(std::mem::take(out)), true));
            }
            Some(_) => {}
        }
        None
    }
}

fn closed(host: &str) -> SshError {
    SshError::Channel {
        host: host.to_string(),
        message: "channel already closed".into(),
    }
}

pub(super) fn sig_name(s: &russh::Sig) -> String {
    match s {
        russh::Sig::Custom(c) => c.clone(),
        other => format!("{other:?}"),
    }
}

/// What a command reads on stdin: bytes in memory, or a file streamed as the window allows.
pub(super) enum Stdin<'a> {
    Bytes(&'a [u8]),
    File(tokio::fs::File),
}

/// Ends the channel when dropped early (timeout, cancelled caller). sshd frees a session only
/// when its process exits, so the command gets SIGTERM, then SIGKILL after a grace period, then
/// the channel is closed; the channel slot stays taken until the server confirms the close, so
/// this client never opens more sessions than sshd allows. Note: OpenSSH refuses signals on
/// sessions of root logins ("session signalling requires privilege separation"); there a
/// timed-out command keeps its slot until it ends on its own (or writes to the closed pipe).
pub(super) struct ChannelGuard {
    pub(super) ch: Option<Channel<Msg>>,
    pub(super) _permit: Option<OwnedSemaphorePermit>,
    /// A spare never used: nothing runs on it, so dropping it only closes it.
    pub(super) idle: bool,
}

/// How long a stopped command gets between SIGTERM and SIGKILL.
pub(super) const TERM_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

pub(super) async fn wait_closed(ch: &mut Channel<Msg>, limit: Option<std::time::Duration>) -> bool {
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
        let idle = self.idle;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _permit = permit;
                if idle {
                    let _ = ch.close().await;
                    return;
                }
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

#[cfg(test)]
mod tests {
    use super::preopen_after;

    #[test]
    fn a_spare_channel_is_opened_ahead_only_for_a_session_in_repeated_use() {
        // the first command of a session (e.g. `nodeherd status`'s only one) opens no spare
        assert!(!preopen_after(0));
        // from the second on, the next command's channel is opened during this one
        assert!(preopen_after(1));
        assert!(preopen_after(40));
    }
}
