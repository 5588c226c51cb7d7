//! A connection's socket with its timeouts: reads and writes that wait too long, for the
//! connection's phase, fail with `TimedOut` and say why.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::connections::{Phase, Slot};
use super::limits::Limits;

/// `io` read and written under `limits`' timeouts, for the phase `slot` is in.
///
/// - Nothing received yet, or a request's line and headers under way: the headers must be in
///   within `header_timeout` of the connection's start (its first request) or of the first byte
///   (the next ones).
/// - Between requests: closed after `idle_timeout`.
/// - A body under way: no pause longer than `body_timeout`.
/// - Writing: no pause longer than `body_timeout` (a client that stops reading its answer).
/// - Working on a request: reads have no timeout.
pub struct TimedIo<S> {
    io: S,
    slot: Arc<Slot>,
    limits: Limits,
    /// The phase last seen, and when the timeout for it started counting.
    seen: Phase,
    since: Instant,
    read_timer: Pin<Box<Sleep>>,
    /// Since when a write has been waiting, if one is.
    write_waiting: Option<Instant>,
    write_timer: Pin<Box<Sleep>>,
    /// Why the connection timed out, once it has.
    reason: Arc<Mutex<Option<String>>>,
}

impl<S> TimedIo<S> {
    /// `io`, timed for the phase `slot` is in.
    pub fn new(io: S, slot: Arc<Slot>, limits: Limits) -> Self {
        let now = Instant::now();
        Self {
            io,
            seen: slot.phase(),
            slot,
            limits,
            since: now,
            read_timer: Box::pin(tokio::time::sleep_until(now)),
            write_waiting: None,
            write_timer: Box::pin(tokio::time::sleep_until(now)),
            reason: Arc::default(),
        }
    }

    /// Where the reason for a timeout will be, for the connection's log line; an idle
    /// keep-alive connection's close leaves it empty.
    pub fn reason(&self) -> Arc<Mutex<Option<String>>> {
        self.reason.clone()
    }

    /// When a pending read times out in the current phase, and what to say then.
    fn read_deadline(&mut self) -> Option<(Instant, String)> {
        let phase = self.slot.phase();
        if phase != self.seen {
            // The first request's headers count from the connection's start.
            if !(self.seen == Phase::Fresh && phase == Phase::Head) {
                self.since = Instant::now();
            }
            self.seen = phase;
        }
        let secs = |d: Duration| d.as_secs_f64();
        match phase {
            Phase::Fresh | Phase::Head => Some((
                self.since + self.limits.header_timeout,
                format!(
                    "no complete request headers within {} s (--header-timeout)",
                    secs(self.limits.header_timeout)
                ),
            )),
            Phase::KeepAlive => Some((
                self.since + self.limits.idle_timeout,
                format!(
                    "idle for {} s with no request (--idle-timeout)",
                    secs(self.limits.idle_timeout)
                ),
            )),
            Phase::Body => Some((
                self.since + self.limits.body_timeout,
                format!(
                    "the request's body paused for {} s (--body-timeout)",
                    secs(self.limits.body_timeout)
                ),
            )),
            Phase::Working => None,
        }
    }

    fn timed_out(&self, reason: String) -> io::Error {
        *self.reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
        io::Error::new(io::ErrorKind::TimedOut, reason)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    // The first byte of a request starts its headers' clock.
                    this.slot.advance(Phase::Fresh, Phase::Head);
                    this.slot.advance(Phase::KeepAlive, Phase::Head);
                    if this.slot.phase() == Phase::Body {
                        this.since = Instant::now();
                    }
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                // A move to another phase wakes this read, to time it anew.
                this.slot.wake_on_move(cx.waker());
                let Some((deadline, reason)) = this.read_deadline() else {
                    return Poll::Pending;
                };
                if this.read_timer.deadline() != deadline {
                    this.read_timer.as_mut().reset(deadline);
                }
                ready!(this.read_timer.as_mut().poll(cx));
                if this.seen == Phase::KeepAlive {
                    // The normal end of a keep-alive connection: nothing to log.
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, reason)));
                }
                Poll::Ready(Err(this.timed_out(reason)))
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> TimedIo<S> {
    /// `poll` on the socket, failing once writing has made no progress for `body_timeout`.
    fn poll_writing<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll(Pin::new(&mut self.io), cx) {
            Poll::Ready(result) => {
                self.write_waiting = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let waiting = *self.write_waiting.get_or_insert_with(Instant::now);
                let deadline = waiting + self.limits.body_timeout;
                if self.write_timer.deadline() != deadline {
                    self.write_timer.as_mut().reset(deadline);
                }
                ready!(self.write_timer.as_mut().poll(cx));
                let reason = format!(
                    "the client read nothing of the answer for {} s (--body-timeout)",
                    self.limits.body_timeout.as_secs_f64()
                );
                Poll::Ready(Err(self.timed_out(reason)))
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_writing(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_writing(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_writing(cx, |io, cx| io.poll_shutdown(cx))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_writing(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
