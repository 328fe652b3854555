//! Progress-watched transfers: copy a reader into a writer while stamping each accepted chunk,
//! and bound a future by how long it goes without progress (not by its total duration), so a
//! slow but steady upload is never cut while a stalled one ends with "no progress for Ns".
//!
//! Owns: the progress stamp and the idle bound. May not touch: channels, sessions or errors of
//! the SSH layer (the caller maps [`Stalled`] to its error).

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// The size of one chunk read from the source (the channel splits it into packets).
const CHUNK: usize = 32 * 1024;

/// When the transfer last moved: a chunk accepted by the writer, or a message from the host.
#[derive(Debug)]
pub(super) struct Stamp(Mutex<Instant>);

impl Stamp {
    pub(super) fn now() -> Stamp {
        Stamp(Mutex::new(Instant::now()))
    }

    pub(super) fn touch(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn last(&self) -> Instant {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Nothing moved for the idle limit.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Stalled;

/// Copy `from` into `to` chunk by chunk, touching `stamp` each time the writer accepts one;
/// shuts `to` down (EOF) at the end. Returns the bytes sent.
pub(super) async fn copy_stamped<R, W>(
    mut from: R,
    mut to: W,
    stamp: &Stamp,
) -> std::io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n]).await?;
        sent += n as u64;
        stamp.touch();
    }
    to.flush().await?;
    to.shutdown().await?;
    stamp.touch();
    Ok(sent)
}

/// Run `fut` until it ends, or until `stamp` was last touched more than `idle` ago.
pub(super) async fn idle_bounded<T>(
    fut: impl Future<Output = T>,
    stamp: &Stamp,
    idle: Duration,
) -> Result<T, Stalled> {
    tokio::pin!(fut);
    loop {
        let wake = stamp.last() + idle;
        tokio::select! {
            out = &mut fut => return Ok(out),
            () = tokio::time::sleep_until(wake) => {
                if stamp.last() + idle <= Instant::now() {
                    return Err(Stalled);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    const IDLE: Duration = Duration::from_millis(150);

    /// A sink that accepts `per_tick` bytes every `tick`, or nothing at all once it has taken
    /// `stall_after` bytes (a host whose link or disk stopped moving).
    struct Slow {
        tick: Duration,
        per_tick: usize,
        stall_after: Option<u64>,
        taken: u64,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    }

    impl Slow {
        fn new(tick_ms: u64, per_tick: usize, stall_after: Option<u64>) -> Slow {
            Slow {
                tick: Duration::from_millis(tick_ms),
                per_tick,
                stall_after,
                taken: 0,
                sleep: None,
            }
        }
    }

    impl AsyncWrite for Slow {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            if self.stall_after.is_some_and(|s| self.taken >= s) {
                return Poll::Pending; // never woken: a stalled peer
            }
            let tick = self.tick;
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(tick)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
            let n = buf.len().min(self.per_tick);
            self.taken += n as u64;
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// 256 KiB at 8 KiB every 20 ms takes 0.64 s, four times the 150 ms idle limit: it passes,
    /// because every chunk is progress.
    #[tokio::test]
    async fn slow_but_steady_transfer_is_not_cut() {
        let data = vec![7u8; 256 * 1024];
        let stamp = Stamp::now();
        let start = Instant::now();
        let sink = Slow::new(20, 8 * 1024, None);
        let r = idle_bounded(copy_stamped(&data[..], sink, &stamp), &stamp, IDLE).await;
        assert_eq!(r.map(Result::ok), Ok(Some(256 * 1024)));
        assert!(start.elapsed() >= 4 * IDLE, "{:?}", start.elapsed());
    }

    /// The same transfer whose peer stops accepting after 64 KiB ends one idle limit after the
    /// last accepted chunk.
    #[tokio::test]
    async fn stalled_transfer_ends_after_the_idle_limit() {
        let data = vec![7u8; 256 * 1024];
        let stamp = Stamp::now();
        let start = Instant::now();
        let sink = Slow::new(20, 8 * 1024, Some(64 * 1024));
        let r = idle_bounded(copy_stamped(&data[..], sink, &stamp), &stamp, IDLE).await;
        assert_eq!(r.map(Result::ok), Err(Stalled));
        let took = start.elapsed();
        // 8 chunks of 20 ms, then the idle limit (generous upper bound for a loaded machine)
        assert!(
            took >= Duration::from_millis(310) && took < Duration::from_millis(900),
            "{took:?}"
        );
    }
}
