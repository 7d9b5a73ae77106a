//! The bidirectional copy engine with half-close.
//!
//! Each direction copies until its reader ends, then half-closes the other writer (shutdown
//! for bytes; sink close, e.g. a WebSocket Close, for messages, unless `-n`). The session ends
//! when both directions are done, or when either is with `-E`. An error in one direction ends
//! both and is returned. An empty message is a message, never an end of stream.
//!
//! A graceful shutdown (the `shutdown` token of [`copy_session`]) asks a session to finish:
//! each direction still moves what its source has ready, and ends once that source has been
//! silent for [`SHUTDOWN_IDLE`]; its writer is then closed as at EOF, and a WebSocket writer
//! says 1001 "going away" in its Close.

use super::conn::{ByteStream, Conn, MessageStream};
use super::conn::{CloseRequest, PeerClose};
use crate::error::Side;
use crate::plan::CopyOptions;
use futures::future::OptionFuture;
use futures::{FutureExt, SinkExt, StreamExt};
use std::future::poll_fn;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio_util::sync::CancellationToken;

/// An I/O error of one side of a session, saying whether it happened reading or writing.
#[derive(Debug)]
pub struct SideError {
    /// The side whose connection failed.
    pub side: Side,
    /// True when reading failed, false when writing did.
    pub reading: bool,
    /// The failure.
    pub inner: io::Error,
}

impl std::fmt::Display for SideError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.reading { "reading" } else { "writing" };
        write!(f, "{what}: {}", self.inner)
    }
}

impl std::error::Error for SideError {}

fn tag(side: Side, reading: bool, inner: io::Error) -> io::Error {
    io::Error::new(
        inner.kind(),
        SideError {
            side,
            reading,
            inner,
        },
    )
}

/// The side an error of [`copy_session`] belongs to, when known.
pub fn error_side(e: &io::Error) -> Option<Side> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<SideError>())
        .map(|s| s.side)
}

/// Default buffer for byte copies.
pub const DEFAULT_BUFFER: usize = 64 * 1024;

/// What one session moved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Transferred {
    /// Bytes or messages moved left to right.
    pub forward: u64,
    /// Bytes or messages moved right to left.
    pub backward: u64,
    /// A WebSocket peer's Close that signalled a failure: status code and reason.
    pub abnormal_close: Option<(u16, String)>,
    /// The status code (if any) and reason of a WebSocket peer's Close.
    pub peer_close: Option<(Option<u16>, String)>,
    /// Bytes moved left to right (payload bytes of messages).
    pub forward_bytes: u64,
    /// Bytes moved right to left.
    pub backward_bytes: u64,
}

/// Copies between two connections of the same shape until the session ends; once `shutdown`
/// is cancelled, the session finishes as the module documentation says.
pub async fn copy_session(
    left: Conn,
    right: Conn,
    opts: &CopyOptions,
    shutdown: &CancellationToken,
) -> io::Result<Transferred> {
    let result = copy_any(left, right, opts, shutdown).await;
    match result {
        // A writer whose reader went away (`| head`, a peer that closed): the session is over,
        // which is not a failure of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            tracing::debug!("session ended: {e}");
            Ok(Transferred::default())
        }
        other => other,
    }
}

async fn copy_any(
    left: Conn,
    right: Conn,
    opts: &CopyOptions,
    shutdown: &CancellationToken,
) -> io::Result<Transferred> {
    match (left, right) {
        (Conn::Bytes(l), Conn::Bytes(r)) => copy_bytes_session(l, r, opts, shutdown).await,
        (Conn::Messages(l), Conn::Messages(r)) => copy_message_session(l, r, opts, shutdown).await,
        (l, r) => Err(io::Error::other(format!(
            "internal error: cannot copy between {} and {} (the planner should have bridged them)",
            l.shape_name(),
            r.shape_name()
        ))),
    }
}

/// How long data still in flight towards a peer that sent a WebSocket Close may make no
/// progress before we give up on it; also how long a WebSocket endpoint that failed the
/// connection waits for the peer's Close. The Close itself is answered as soon as what is
/// queued for that peer is sent.
pub const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_millis(1000);

/// During a graceful shutdown, how long a direction's source may stay silent before the
/// direction ends (and closes its writer).
pub const SHUTDOWN_IDLE: std::time::Duration = std::time::Duration::from_millis(200);

/// Per-direction controls for [`join_directions`].
#[derive(Default)]
struct DirectionControl {
    /// Set when this direction's source was closed by its peer; also where a shutdown is
    /// recorded for that stream's own Close.
    closed_by_peer: Option<Arc<PeerClose>>,
    /// Counts messages moved, to detect idleness.
    progress: AtomicU64,
    /// Counts payload bytes moved (for `--summary`).
    bytes: AtomicU64,
    /// Stops the direction once nothing more is ready to read (its writer is still closed).
    stop: StopSignal,
}

/// Asks a direction to stop gracefully (its writer is still closed): at once, or once its
/// source has been silent for [`SHUTDOWN_IDLE`]. Lives inline in the session's state: unlike
/// a cancellation token it needs no allocation per session.
#[derive(Default)]
struct StopSignal {
    /// Running (0), [`StopSignal::AFTER_LINGER`], [`StopSignal::WHEN_IDLE`] or
    /// [`StopSignal::NOW`]; only ever rises.
    state: AtomicU8,
    notify: tokio::sync::Notify,
}

impl StopSignal {
    const AFTER_LINGER: u8 = 1;
    const WHEN_IDLE: u8 = 2;
    const NOW: u8 = 3;

    /// Stops the direction the next time it waits for its source.
    fn stop(&self) {
        self.raise(Self::NOW);
    }

    /// Stops the direction once it has waited [`SHUTDOWN_IDLE`] for its source (a graceful
    /// shutdown: what the source still sends keeps flowing).
    fn stop_when_idle(&self) {
        self.raise(Self::WHEN_IDLE);
    }

    /// Stops the direction once its source has been silent for [`CLOSE_LINGER`]: a reply to
    /// our half-close (a backend's answer, a process's last output) still goes out.
    fn stop_after_linger(&self) {
        self.raise(Self::AFTER_LINGER);
    }

    /// True once a stop of any kind was asked for.
    fn requested(&self) -> bool {
        self.state.load(Ordering::SeqCst) != 0
    }

    fn raise(&self, state: u8) {
        self.state.fetch_max(state, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Raced against each wait for the source: completes when the direction should stop.
    async fn stopped(&self) {
        loop {
            // Registered before the check, so a stop in between is not missed.
            let notified = self.notify.notified();
            match self.state.load(Ordering::SeqCst) {
                Self::NOW => return,
                // The timers are boxed: they run once per session, at its end, while this
                // future sits in every session's state for its whole life.
                Self::WHEN_IDLE => tokio::select! {
                    () = Box::pin(tokio::time::sleep(SHUTDOWN_IDLE)) => return,
                    () = notified => {}
                },
                Self::AFTER_LINGER => tokio::select! {
                    () = Box::pin(tokio::time::sleep(CLOSE_LINGER)) => return,
                    () = notified => {}
                },
                _ => notified.await,
            }
        }
    }
}

/// Runs the two directions as the options say. `controls` are the forward (left to right)
/// and the backward direction's, in that order.
///
/// The directions come pinned in the caller's state: an `async fn` keeps the arguments it
/// takes by value besides the locals they move into, so taking them by value would store
/// both directions twice in every session.
async fn join_directions<F, B>(
    mut forward: Pin<&mut F>,
    mut backward: Pin<&mut B>,
    opts: &CopyOptions,
    controls: [&DirectionControl; 2],
    shutdown: &CancellationToken,
) -> io::Result<Transferred>
where
    F: std::future::Future<Output = io::Result<u64>>,
    B: std::future::Future<Output = io::Result<u64>>,
{
    // A direction switched off but discarding (see `CopyOptions::discard_unread`) runs too.
    let forward_on = !opts.unidirectional_reverse || opts.discard_unread;
    let backward_on = !opts.unidirectional || opts.discard_unread;
    // A direction that is off starts out "done", so it is never polled.
    let mut result = Transferred::default();
    let mut forward_done = !forward_on;
    let mut backward_done = !backward_on;
    let mut linger: Option<(usize, u64)> = None;
    // Armed (and allocated) only once a peer has closed: most sessions never need it.
    let mut tick: Option<Pin<Box<tokio::time::Sleep>>> = None;
    // Created once, so a session registers with the shared token once, not on every turn.
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let mut shutting_down = false;
    while !(forward_done && backward_done) {
        tokio::select! {
            r = forward.as_mut(), if !forward_done => {
                result.forward = r?;
                forward_done = true;
            }
            r = backward.as_mut(), if !backward_done => {
                result.backward = r?;
                backward_done = true;
            }
            () = &mut cancelled, if !shutting_down => {
                shutting_down = true;
                for c in controls {
                    if let Some(close) = &c.closed_by_peer {
                        close.mark_going_away();
                    }
                    c.stop.stop_when_idle();
                }
            }
            _ = OptionFuture::from(tick.as_mut().map(Pin::as_mut)), if linger.is_some() => {
                if let Some((dir, seen)) = linger {
                    let now = controls[dir].progress.load(Ordering::Relaxed);
                    if now == seen {
                        // Stuck writing towards a peer that already closed: give up on it.
                        tracing::debug!(
                            "no progress within {CLOSE_LINGER:?} after the peer's Close; ending the session"
                        );
                        break;
                    }
                    linger = Some((dir, now));
                }
                if let Some(tick) = tick.as_mut() {
                    tick.as_mut().reset(tokio::time::Instant::now() + CLOSE_LINGER);
                }
            }
        }
        if opts.exit_on_eof && (forward_done || backward_done) {
            break;
        }
        if linger.is_none() {
            let peer_closed =
                |c: &DirectionControl| c.closed_by_peer.as_ref().is_some_and(|f| f.is_closed());
            let start = if forward_done && !backward_done && peer_closed(controls[0]) {
                Some(1)
            } else if backward_done && !forward_done && peer_closed(controls[1]) {
                Some(0)
            } else {
                None
            };
            if let Some(dir) = start {
                // One side's peer closed: the other direction sends what is ready for it and
                // then answers with its Close. A source that may still answer our half-close
                // (a backend, a process) gets until it has been silent for CLOSE_LINGER; one
                // that cannot (stdio) is not waited for.
                if (dir == 0 && !forward_on) || (dir == 1 && !backward_on) {
                    break;
                }
                let may_answer = opts.source_may_answer[dir];
                if may_answer {
                    controls[dir].stop.stop_after_linger();
                } else {
                    controls[dir].stop.stop();
                }
                // Usually it is done at once (an echo, nothing left to send): poll it once
                // before arming the linger timer, which costs a timer registration and a
                // wake-up of the event loop on every connection.
                if dir == 0 {
                    if let std::task::Poll::Ready(r) = futures::poll!(forward.as_mut()) {
                        result.forward = r?;
                        break;
                    }
                } else if let std::task::Poll::Ready(r) = futures::poll!(backward.as_mut()) {
                    result.backward = r?;
                    break;
                }
                linger = Some((dir, controls[dir].progress.load(Ordering::Relaxed)));
                // A source waited for may be silent for CLOSE_LINGER before its stop: only
                // no progress for longer than that means the writer is stuck.
                let first_check = if may_answer {
                    2 * CLOSE_LINGER
                } else {
                    CLOSE_LINGER
                };
                tick = Some(Box::pin(tokio::time::sleep(first_check)));
            }
        }
    }
    Ok(result)
}

async fn copy_bytes_session(
    mut left: Box<dyn ByteStream>,
    mut right: Box<dyn ByteStream>,
    opts: &CopyOptions,
    shutdown: &CancellationToken,
) -> io::Result<Transferred> {
    // A side that can end the session at once (a `broadcast:` client disconnected while we
    // wait to write to it): dropping the session closes both connections.
    let mut aborts: Vec<_> = [(Side::Left, &mut left), (Side::Right, &mut right)]
        .into_iter()
        .filter_map(|(side, s)| super::share::take_abort(s).map(|f| (side, f)))
        .collect();
    let aborted = poll_fn(move |cx| {
        for (side, abort) in aborts.iter_mut() {
            if let std::task::Poll::Ready(e) = abort.poll_unpin(cx) {
                return std::task::Poll::Ready(tag(*side, true, e));
            }
        }
        std::task::Poll::Pending
    });
    let (lr, lw) = tokio::io::split(left);
    let (rr, rw) = tokio::io::split(right);
    let size = opts.buffer_size.unwrap_or(DEFAULT_BUFFER).max(1);
    let none = DirectionControl::default();
    use futures::future::Either;
    // A direction that is off but discarding keeps its (unused) write half open until done.
    let discard_forward = opts.discard_unread && opts.unidirectional_reverse;
    let discard_backward = opts.discard_unread && opts.unidirectional && !discard_forward;
    // Built inside `pin!`, in this session's state, and lent (see `join_directions`): a future
    // bound to a variable first would keep its moved-from copy in the state as well.
    let forward = pin!(if discard_forward {
        Either::Left(discard_bytes(lr, rw, size, Side::Left))
    } else {
        Either::Right(copy_bytes(lr, rw, size, &none.stop, Side::Left))
    });
    let backward = pin!(if discard_backward {
        Either::Left(discard_bytes(rr, lw, size, Side::Right))
    } else {
        Either::Right(copy_bytes(rr, lw, size, &none.stop, Side::Right))
    });
    let mut t = tokio::select! {
        t = join_directions(forward, backward, opts, [&none, &none], shutdown) => t?,
        e = aborted => return Err(e),
    };
    (t.forward_bytes, t.backward_bytes) = (t.forward, t.backward);
    Ok(t)
}

/// A direction that is switched off (`-u`/`-U`) but whose source must still be read so that
/// it does not stall (an echo whose answers nobody reads): reads to the end and drops it. The
/// unused write half is kept open until then.
async fn discard_bytes(
    mut reader: ReadHalf<Box<dyn ByteStream>>,
    _unused: WriteHalf<Box<dyn ByteStream>>,
    size: usize,
    from: Side,
) -> io::Result<u64> {
    let mut buf = vec![0u8; size.min(DEFAULT_BUFFER)];
    let mut total = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|e| tag(from, true, e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    if total > 0 {
        tracing::info!("discarded {total} bytes from the {from}: that direction is not copied");
    }
    Ok(0)
}

/// Like [`discard_bytes`] for messages.
async fn discard_messages(reader: &SharedStream, from: Side) -> io::Result<u64> {
    let mut total = 0u64;
    while let Some(item) = poll_fn(|cx| lock(reader).poll_next_unpin(cx)).await {
        item.map_err(|e| tag(from, true, e))?;
        total += 1;
    }
    if total > 0 {
        tracing::info!("discarded {total} messages from the {from}: that direction is not copied");
    }
    Ok(0)
}

async fn copy_bytes(
    mut reader: ReadHalf<Box<dyn ByteStream>>,
    mut writer: WriteHalf<Box<dyn ByteStream>>,
    size: usize,
    stop: &StopSignal,
    from: Side,
) -> io::Result<u64> {
    let mut buf = vec![0u8; size];
    let mut total = 0u64;
    // One wait for the whole copy, not one per read: this is the hot loop of byte tunnels.
    let stopped = stop.stopped();
    tokio::pin!(stopped);
    loop {
        // Biased: bytes that are ready are still moved after a stop; only a wait ends.
        let n = tokio::select! {
            biased;
            r = reader.read(&mut buf) => r.map_err(|e| tag(from, true, e))?,
            () = &mut stopped => break,
        };
        if n == 0 {
            break;
        }
        if stop.requested() {
            // The source is not idle: its idle time starts again at the next wait.
            stopped.set(stop.stopped());
        }
        let to = from.other();
        writer
            .write_all(&buf[..n])
            .await
            .map_err(|e| tag(to, false, e))?;
        writer.flush().await.map_err(|e| tag(to, false, e))?;
        total += n as u64;
    }
    writer
        .shutdown()
        .await
        .map_err(|e| tag(from.other(), false, e))?;
    Ok(total)
}

async fn copy_message_session(
    left: Box<dyn MessageStream>,
    right: Box<dyn MessageStream>,
    opts: &CopyOptions,
    shutdown: &CancellationToken,
) -> io::Result<Transferred> {
    let fwd = DirectionControl {
        closed_by_peer: left.peer_close(),
        ..Default::default()
    };
    let bwd = DirectionControl {
        closed_by_peer: right.peer_close(),
        ..Default::default()
    };
    let (left, right) = (Mutex::new(left), Mutex::new(right));
    let close = !opts.no_close;
    use futures::future::Either;
    // Built inside `pin!` (see `copy_bytes_session`).
    let forward = pin!(if opts.discard_unread && opts.unidirectional_reverse {
        Either::Left(discard_messages(&left, Side::Left))
    } else {
        Either::Right(copy_messages(
            (&left, &right),
            opts.max_messages,
            close,
            &fwd,
            bwd.closed_by_peer.as_deref(),
            Side::Left,
        ))
    });
    let backward = pin!(if opts.discard_unread && opts.unidirectional {
        Either::Left(discard_messages(&right, Side::Right))
    } else {
        Either::Right(copy_messages(
            (&right, &left),
            opts.max_messages_rev,
            close,
            &bwd,
            fwd.closed_by_peer.as_deref(),
            Side::Right,
        ))
    });
    let mut t = join_directions(forward, backward, opts, [&fwd, &bwd], shutdown).await?;
    for (control, side) in [(&fwd, Side::Left), (&bwd, Side::Right)] {
        if let Some(what) = control.closed_by_peer.as_ref().and_then(|p| p.failure()) {
            return Err(tag(
                side,
                true,
                io::Error::new(io::ErrorKind::InvalidData, what),
            ));
        }
    }
    t.abnormal_close = [&fwd, &bwd]
        .iter()
        .find_map(|c| c.closed_by_peer.as_ref().and_then(|p| p.abnormal()));
    t.peer_close = [&fwd, &bwd]
        .iter()
        .find_map(|c| c.closed_by_peer.as_ref().and_then(|p| p.frame()));
    t.forward_bytes = fwd.bytes.load(Ordering::Relaxed);
    t.backward_bytes = bwd.bytes.load(Ordering::Relaxed);
    Ok(t)
}

/// One side's message stream, read by one direction and written by the other. Both directions
/// run in the same task and hold the lock for one poll at a time only, so it is never
/// contended; unlike a split into halves, it needs no allocation.
type SharedStream = Mutex<Box<dyn MessageStream>>;

fn lock(s: &SharedStream) -> std::sync::MutexGuard<'_, Box<dyn MessageStream>> {
    // A poll that panicked takes the whole session down anyway; the stream itself is intact.
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Copies messages, flushing only when no further message is ready (write coalescing). Where
/// the writer takes messages in pieces and the reader can give them so, messages pass
/// through piece by piece as they arrive ([`MessageStream::deliver_parts`]); `--max-messages`
/// still counts whole messages.
/// `writer_peer` is where the writer records its own peer's Close or violation: a WebSocket
/// connection failed because of its peer is always closed (its Close answers the violation),
/// even with `-n`.
async fn copy_messages(
    (reader, writer): (&SharedStream, &SharedStream),
    max: Option<u64>,
    close: bool,
    control: &DirectionControl,
    writer_peer: Option<&PeerClose>,
    from: Side,
) -> io::Result<u64> {
    let to = from.other();
    let mut count = 0u64;
    let mut pending_flush = false;
    let next = || poll_fn(|cx| lock(reader).poll_next_part(cx));
    // The reader ending the session while the writer makes us wait (see
    // `MessageStream::poll_abort`).
    let aborted = || poll_fn(|cx| lock(reader).poll_abort(cx));
    let room_first = lock(writer).room_is_private();
    // A writer that takes messages in pieces gets them as they arrive: the reader then holds
    // no whole message, however large.
    if lock(writer).accepts_parts() && lock(reader).deliver_parts() {
        tracing::debug!("messages from the {from} pass through in pieces");
    }
    loop {
        if max.is_some_and(|m| count >= m) {
            break;
        }
        if room_first {
            // Room in the writer first, then a message from the reader: a writer that cannot
            // take more holds the reader back, with no message waiting in between (memory per
            // connection stays a few messages, not one more per stage).
            let ready = || poll_fn(|cx| lock(writer).poll_ready_unpin(cx));
            let room = match ready().now_or_never() {
                Some(r) => r,
                None => tokio::select! {
                    r = ready() => r,
                    e = aborted() => {
                        return Err(tag(from, true, Box::pin(close_as_requested(writer, e)).await));
                    }
                    _ = control.stop.stopped() => break,
                },
            };
            room.map_err(|e| tag(to, false, e))?;
        }
        let next = match next().now_or_never() {
            Some(item) => item,
            None => {
                if std::mem::take(&mut pending_flush) {
                    tokio::select! {
                        r = poll_fn(|cx| lock(writer).poll_flush_unpin(cx)) => {
                            r.map_err(|e| tag(to, false, e))?;
                        }
                        e = aborted() => {
                            return Err(tag(from, true, Box::pin(close_as_requested(writer, e)).await));
                        }
                    }
                }
                // Biased: a message that is ready still goes out before a stop is obeyed.
                tokio::select! {
                    biased;
                    item = next() => item,
                    _ = control.stop.stopped() => break,
                }
            }
        };
        match next {
            Some(Ok(part)) => {
                let len = part.data.payload().len() as u64;
                let ends_message = part.last;
                let mut part = Some(part);
                let mut aborted = None;
                poll_fn(|cx| {
                    let mut w = lock(writer);
                    if w.poll_ready_unpin(cx)?.is_pending() {
                        drop(w);
                        if let std::task::Poll::Ready(e) = lock(reader).poll_abort(cx) {
                            aborted = Some(e);
                            return std::task::Poll::Ready(Ok(()));
                        }
                        return std::task::Poll::Pending;
                    }
                    match part.take() {
                        Some(p) => std::task::Poll::Ready(w.start_send_part(p)),
                        None => std::task::Poll::Ready(Ok(())),
                    }
                })
                .await
                .map_err(|e| tag(to, false, e))?;
                if let Some(e) = aborted {
                    return Err(tag(
                        from,
                        true,
                        Box::pin(close_as_requested(writer, e)).await,
                    ));
                }
                pending_flush = true;
                count += u64::from(ends_message);
                control.progress.fetch_add(1, Ordering::Relaxed);
                control.bytes.fetch_add(len, Ordering::Relaxed);
            }
            Some(Err(e)) => {
                if pending_flush {
                    // What was taken before the error is delivered (best effort, bounded):
                    // a peer that vanishes after its last message still has it printed.
                    let flush = poll_fn(|cx| lock(writer).poll_flush_unpin(cx));
                    // Boxed, like the other waits of rare paths (see `StopSignal::stopped`).
                    let _ = Box::pin(tokio::time::timeout(CLOSE_LINGER, flush)).await;
                }
                return Err(tag(
                    from,
                    true,
                    Box::pin(close_as_requested(writer, e)).await,
                ));
            }
            None => break,
        }
    }
    let writer_failed = writer_peer.is_some_and(|p| p.failure().is_some());
    let end = if close || writer_failed {
        poll_fn(|cx| lock(writer).poll_close_unpin(cx)).await
    } else {
        poll_fn(|cx| lock(writer).poll_flush_unpin(cx)).await
    };
    end.map_err(|e| tag(to, false, e))?;
    Ok(count)
}

/// When a reader's error is a [`CloseRequest`], closes the writer with its status, waiting
/// for that at most the request's grace time; returns the error.
async fn close_as_requested(writer: &SharedStream, e: io::Error) -> io::Error {
    // Only a WebSocket writer has a Close to send; any other ends at once.
    let has_close = lock(writer).ws_control().is_some();
    if let Some(req) = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<CloseRequest>())
        .filter(|_| has_close)
    {
        lock(writer).set_close_status(req.code, &req.reason);
        let close = poll_fn(|cx| lock(writer).poll_close_unpin(cx));
        let _ = tokio::time::timeout(req.grace, close).await;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::codec::{framed, ChunkCodec, MessageType};
    use tokio::io::duplex;

    #[tokio::test]
    async fn bytes_half_close_keeps_other_direction_open() {
        let (a, mut a_peer) = duplex(1024);
        let (b, mut b_peer) = duplex(1024);
        let opts = CopyOptions::default();
        let session = tokio::spawn(async move {
            copy_session(
                Conn::Bytes(Box::new(a)),
                Conn::Bytes(Box::new(b)),
                &opts,
                &CancellationToken::new(),
            )
            .await
        });
        a_peer.write_all(b"ping").await.unwrap();
        a_peer.shutdown().await.unwrap();
        let mut got = Vec::new();
        b_peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ping");
        // The other direction still works after the first one ended.
        b_peer.write_all(b"pong").await.unwrap();
        b_peer.shutdown().await.unwrap();
        let mut back = Vec::new();
        a_peer.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"pong");
        let t = session.await.unwrap().unwrap();
        assert_eq!((t.forward, t.backward), (4, 4));
    }

    // Paused time: the timers fire in order however slow the machine is.
    #[tokio::test(start_paused = true)]
    async fn shutdown_keeps_moving_what_the_source_sends_then_ends_when_it_is_idle() {
        let (a, mut a_peer) = duplex(1024);
        let (b, mut b_peer) = duplex(1024);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let session = tokio::spawn(async move {
            let opts = CopyOptions::default();
            copy_session(
                Conn::Bytes(Box::new(a)),
                Conn::Bytes(Box::new(b)),
                &opts,
                &token,
            )
            .await
        });
        a_peer.write_all(b"queued").await.unwrap();
        shutdown.cancel();
        // A source that keeps sending, with pauses shorter than the idle limit, is not cut.
        for part in [&b" more"[..], b" and more"] {
            tokio::time::sleep(SHUTDOWN_IDLE / 2).await;
            a_peer.write_all(part).await.unwrap();
        }
        let mut got = Vec::new();
        b_peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"queued more and more");
        // The idle direction ended too, with an EOF for its writer.
        let mut back = Vec::new();
        a_peer.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"");
        let t = session.await.unwrap().unwrap();
        assert_eq!((t.forward, t.backward), (20, 0));
    }

    #[tokio::test]
    async fn exit_on_eof_ends_session_after_one_direction() {
        let (a, mut a_peer) = duplex(1024);
        let (b, _b_peer) = duplex(1024);
        let opts = CopyOptions {
            exit_on_eof: true,
            ..Default::default()
        };
        a_peer.shutdown().await.unwrap();
        let t = copy_session(
            Conn::Bytes(Box::new(a)),
            Conn::Bytes(Box::new(b)),
            &opts,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(t.forward, 0);
    }

    #[tokio::test]
    async fn max_messages_stops_forward_direction() {
        let (a, mut a_peer) = duplex(1024);
        let (b, mut b_peer) = duplex(1024);
        let codec = || ChunkCodec {
            ty: MessageType::Binary,
            max_length: 1,
        };
        let left = framed(Box::new(a), codec(), 16);
        let right = framed(Box::new(b), codec(), 16);
        let opts = CopyOptions {
            max_messages: Some(2),
            unidirectional: true,
            ..Default::default()
        };
        a_peer.write_all(b"xyz").await.unwrap();
        let t = copy_session(
            Conn::Messages(left),
            Conn::Messages(right),
            &opts,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(t.forward, 2);
        let mut got = Vec::new();
        b_peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"xy");
    }
}
