//! Streams over a session: a command's output as it arrives (logs, the host lock), and
//! direct-tcpip forwards to the host's 127.0.0.1 ports (HTTP to the node's APIs).
//!
//! Owns: ending a stream when its reader goes away, the forward's open timeout. May not touch:
//! channel slot accounting beyond taking one ([`super::exec`]).

use super::{
    AsyncRead, AsyncWrite, ChannelMsg, Command, Phase, SshError, SshSession, StreamChunk,
    channel_err, mpsc,
};

impl SshSession {
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
                () = tx.closed() => return Ok(None),
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
