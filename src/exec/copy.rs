//! The bidirectional copy engine with half-close.
//!
//! Each direction copies until its reader ends, then half-closes the other writer (shutdown
//! for bytes; sink close, e.g. a WebSocket Close, for messages, unless `-n`). The session ends
//! when both directions are done, or when either is with `-E`. An error in one direction ends
//! both and is returned. An empty message is a message, never an end of stream.

use super::conn::PeerClose;
use super::conn::{ByteStream, Conn, MessageStream};
use crate::error::Side;
use crate::plan::CopyOptions;
use futures::{FutureExt, SinkExt, StreamExt};
use std::future::poll_fn;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

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

/// Copies between two connections of the same shape until the session ends.
pub async fn copy_session(left: Conn, right: Conn, opts: &CopyOptions) -> io::Result<Transferred> {
    let result = copy_any(left, right, opts).await;
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

async fn copy_any(left: Conn, right: Conn, opts: &CopyOptions) -> io::Result<Transferred> {
    match (left, right) {
        (Conn::Bytes(l), Conn::Bytes(r)) => copy_bytes_session(l, r, opts).await,
        (Conn::Messages(l), Conn::Messages(r)) => copy_message_session(l, r, opts).await,
        (l, r) => Err(io::Error::other(format!(
            "internal error: cannot copy between {} and {} (the planner should have bridged them)",
            l.shape_name(),
            r.shape_name()
        ))),
    }
}

/// How long the direction towards a peer that sent a WebSocket Close may stay idle before
/// we stop it and answer the Close.
pub const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_millis(1000);

/// Per-direction controls for [`join_directions`].
#[derive(Default)]
struct DirectionControl {
    /// Set when this direction's source was closed by its peer.
    closed_by_peer: Option<Arc<PeerClose>>,
    /// Counts messages moved, to detect idleness.
    progress: AtomicU64,
    /// Counts payload bytes moved (for `--summary`).
    bytes: AtomicU64,
    /// Stops the direction gracefully (its writer is still closed).
    stop: StopSignal,
}

/// Asks a direction to stop gracefully. Lives inline in the session's state: unlike a
/// cancellation token it needs no allocation per session.
#[derive(Default)]
struct StopSignal {
    stopped: AtomicBool,
    notify: tokio::sync::Notify,
}

impl StopSignal {
    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Completes once [`StopSignal::stop`] was called.
    async fn stopped(&self) {
        loop {
            // Registered before the check, so a stop in between is not missed.
            let notified = self.notify.notified();
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// Runs the two directions as the options say.
async fn join_directions<F, B>(
    forward: F,
    backward: B,
    opts: &CopyOptions,
    controls: [&DirectionControl; 2],
) -> io::Result<Transferred>
where
    F: std::future::Future<Output = io::Result<u64>>,
    B: std::future::Future<Output = io::Result<u64>>,
{
    let forward_on = !opts.unidirectional_reverse;
    let backward_on = !opts.unidirectional;
    // A direction that is off starts out "done", so it is never polled. The futures are pinned
    // where they are (no wrapping future): every copy of them would grow each session's state.
    tokio::pin!(forward);
    tokio::pin!(backward);
    let mut result = Transferred::default();
    let mut forward_done = !forward_on;
    let mut backward_done = !backward_on;
    let mut linger: Option<(usize, u64)> = None;
    let tick = tokio::time::sleep(CLOSE_LINGER);
    tokio::pin!(tick);
    while !(forward_done && backward_done) {
        tokio::select! {
            r = &mut forward, if !forward_done => {
                result.forward = r?;
                forward_done = true;
            }
            r = &mut backward, if !backward_done => {
                result.backward = r?;
                backward_done = true;
            }
            _ = &mut tick, if linger.is_some() => {
                if let Some((dir, seen)) = linger {
                    let now = controls[dir].progress.load(Ordering::Relaxed);
                    if now == seen {
                        controls[dir].stop.stop();
                    }
                    linger = Some((dir, now));
                }
                tick.as_mut().reset(tokio::time::Instant::now() + CLOSE_LINGER);
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
                // One side's peer closed: the other direction may finish what it is sending.
                if (dir == 0 && !forward_on) || (dir == 1 && !backward_on) {
                    break;
                }
                // Usually it is done at once (an echo, a peer that closes in turn): poll it
                // once before arming the linger timer, which costs a timer registration and a
                // wake-up of the event loop on every connection.
                if dir == 0 {
                    if let std::task::Poll::Ready(r) = futures::poll!(&mut forward) {
                        result.forward = r?;
                        break;
                    }
                } else if let std::task::Poll::Ready(r) = futures::poll!(&mut backward) {
                    result.backward = r?;
                    break;
                }
                linger = Some((dir, controls[dir].progress.load(Ordering::Relaxed)));
                tick.as_mut()
                    .reset(tokio::time::Instant::now() + CLOSE_LINGER);
            }
        }
    }
    Ok(result)
}

async fn copy_bytes_session(
    left: Box<dyn ByteStream>,
    right: Box<dyn ByteStream>,
    opts: &CopyOptions,
) -> io::Result<Transferred> {
    let (lr, lw) = tokio::io::split(left);
    let (rr, rw) = tokio::io::split(right);
    let size = opts.buffer_size.unwrap_or(DEFAULT_BUFFER).max(1);
    let none = DirectionControl::default();
    let mut t = join_directions(
        copy_bytes(lr, rw, size, Side::Left),
        copy_bytes(rr, lw, size, Side::Right),
        opts,
        [&none, &none],
    )
    .await?;
    (t.forward_bytes, t.backward_bytes) = (t.forward, t.backward);
    Ok(t)
}

async fn copy_bytes(
    mut reader: ReadHalf<Box<dyn ByteStream>>,
    mut writer: WriteHalf<Box<dyn ByteStream>>,
    size: usize,
    from: Side,
) -> io::Result<u64> {
    let mut buf = vec![0u8; size];
    let mut total = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|e| tag(from, true, e))?;
        if n == 0 {
            break;
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
    let mut t = join_directions(
        copy_messages(&left, &right, opts.max_messages, close, &fwd, Side::Left),
        copy_messages(
            &right,
            &left,
            opts.max_messages_rev,
            close,
            &bwd,
            Side::Right,
        ),
        opts,
        [&fwd, &bwd],
    )
    .await?;
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

/// Copies messages, flushing only when no further message is ready (write coalescing).
async fn copy_messages(
    reader: &SharedStream,
    writer: &SharedStream,
    max: Option<u64>,
    close: bool,
    control: &DirectionControl,
    from: Side,
) -> io::Result<u64> {
    let to = from.other();
    let mut count = 0u64;
    let mut pending_flush = false;
    let next = || poll_fn(|cx| lock(reader).poll_next_unpin(cx));
    loop {
        if max.is_some_and(|m| count >= m) {
            break;
        }
        let next = match next().now_or_never() {
            Some(item) => item,
            None => {
                if std::mem::take(&mut pending_flush) {
                    poll_fn(|cx| lock(writer).poll_flush_unpin(cx))
                        .await
                        .map_err(|e| tag(to, false, e))?;
                }
                tokio::select! {
                    item = next() => item,
                    _ = control.stop.stopped() => break,
                }
            }
        };
        match next {
            Some(Ok(msg)) => {
                let len = msg.payload().len() as u64;
                let mut msg = Some(msg);
                poll_fn(|cx| {
                    let mut w = lock(writer);
                    std::task::ready!(w.poll_ready_unpin(cx))?;
                    match msg.take() {
                        Some(m) => std::task::Poll::Ready(w.start_send_unpin(m)),
                        None => std::task::Poll::Ready(Ok(())),
                    }
                })
                .await
                .map_err(|e| tag(to, false, e))?;
                pending_flush = true;
                count += 1;
                control.progress.fetch_add(1, Ordering::Relaxed);
                control.bytes.fetch_add(len, Ordering::Relaxed);
            }
            Some(Err(e)) => return Err(tag(from, true, e)),
            None => break,
        }
    }
    let end = if close {
        poll_fn(|cx| lock(writer).poll_close_unpin(cx)).await
    } else {
        poll_fn(|cx| lock(writer).poll_flush_unpin(cx)).await
    };
    end.map_err(|e| tag(to, false, e))?;
    Ok(count)
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
            copy_session(Conn::Bytes(Box::new(a)), Conn::Bytes(Box::new(b)), &opts).await
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

    #[tokio::test]
    async fn exit_on_eof_ends_session_after_one_direction() {
        let (a, mut a_peer) = duplex(1024);
        let (b, _b_peer) = duplex(1024);
        let opts = CopyOptions {
            exit_on_eof: true,
            ..Default::default()
        };
        a_peer.shutdown().await.unwrap();
        let t = copy_session(Conn::Bytes(Box::new(a)), Conn::Bytes(Box::new(b)), &opts)
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
        let t = copy_session(Conn::Messages(left), Conn::Messages(right), &opts)
            .await
            .unwrap();
        assert_eq!(t.forward, 2);
        let mut got = Vec::new();
        b_peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"xy");
    }
}
