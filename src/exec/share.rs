//! Conversions between connection shapes, used by the connector overlays (`broadcast:`,
//! `reuse-raw:`, `autoreconnect:`, `lazy:`) and transforms: turning any connection into
//! messages for a background task, and handing a client a connection of the original shape made
//! from a message stream and sink.

use crate::exec::codec::{framed, ChunkCodec, MessageType};
use crate::exec::conn::{ByteStream, MessagePair, MessageStream};
use crate::exec::queue::ByteSender;
use crate::exec::{Conn, Message};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::io::{CopyToBytes, SinkWriter, StreamReader};

/// Largest message made from one read of a byte stream shared by a connector overlay.
pub const SHARED_CHUNK: usize = 64 * 1024;

/// Turns a connection into a message stream; the flag says it was a byte stream (each read
/// becomes one binary message, message payloads are written back to back).
pub fn into_messages(conn: Conn) -> (bool, Box<dyn MessageStream>) {
    match conn {
        Conn::Messages(m) => (false, m),
        Conn::Bytes(b) => (
            true,
            framed(
                b,
                ChunkCodec {
                    ty: MessageType::Binary,
                    max_length: SHARED_CHUNK,
                },
                SHARED_CHUNK,
            ),
        ),
    }
}

/// Builds a client connection from a message stream and sink: a byte stream when `bytes`
/// (the shared inner connection was one), otherwise messages.
pub fn client_conn<St, Si>(bytes: bool, stream: St, sink: Si) -> Conn
where
    St: Stream<Item = io::Result<Message>> + Send + 'static,
    Si: Sink<Message, Error = io::Error> + Send + 'static,
{
    if bytes {
        let reader = StreamReader::new(stream.map(|r| r.map(Message::into_payload)));
        let writer =
            SinkWriter::new(CopyToBytes::new(sink.with(|b: Bytes| {
                futures::future::ready(Ok::<_, io::Error>(Message::Binary(b)))
            })));
        Conn::Bytes(Box::new(tokio::io::join(
            Box::pin(reader),
            Box::pin(writer),
        )))
    } else {
        Conn::Messages(Box::new(MessagePair {
            stream: Box::pin(stream),
            sink: Box::pin(sink),
        }))
    }
}

/// A client's sink into the queue towards a shared connection ([`crate::exec::queue`]): the
/// message given to `start_send` waits for room in the queue (bytes and places) during the
/// next `poll_ready` or `poll_flush`, so a client holds no room while it has nothing to send
/// and a full queue holds the client back. Closing it does not close the queue (the shared
/// connection stays open for the other clients).
pub struct QueueSink {
    tx: ByteSender<Message>,
    sending: Option<BoxFuture<'static, Result<(), Message>>>,
    /// Sent once the client is gone (`reuse-raw:`'s `zero-msg-on-disconnect`).
    goodbye: Option<Message>,
}

impl QueueSink {
    /// A sink into the queue of `tx`.
    pub fn new(tx: ByteSender<Message>) -> Self {
        QueueSink {
            tx,
            sending: None,
            goodbye: None,
        }
    }

    /// Sends `message` into the queue, after what the client sent, once the client is gone.
    pub fn with_goodbye(mut self, message: Message) -> Self {
        self.goodbye = Some(message);
        self
    }

    fn poll_sent(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(sending) = self.sending.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let result = futures::ready!(sending.poll_unpin(cx));
        self.sending = None;
        Poll::Ready(
            result
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "shared connection closed")),
        )
    }
}

impl Sink<Message> for QueueSink {
    type Error = io::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_sent(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> io::Result<()> {
        let this = self.get_mut();
        let tx = this.tx.clone();
        this.sending = Some(Box::pin(async move { tx.send(item).await }));
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_sent(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_sent(cx)
    }
}

impl Drop for QueueSink {
    fn drop(&mut self) {
        let pending = self.sending.take();
        let goodbye = self.goodbye.take();
        if pending.is_none() && goodbye.is_none() {
            return;
        }
        // What the client already handed over still goes out, in order.
        let tx = self.tx.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Some(p) = pending {
                    let _ = p.await;
                }
                if let Some(m) = goodbye {
                    let _ = tx.send(m).await;
                }
            });
        }
    }
}

/// A byte-stream client of a shared connection that the sharing overlay can disconnect at
/// once (`broadcast:` with `slow=disconnect`): the copy engine takes the signal with
/// [`take_abort`] and ends the session when it resolves, even while it is waiting to write to
/// a client that does not read (which a byte stream's reads alone could not do).
pub struct AbortableBytes {
    io: Box<dyn ByteStream>,
    abort: Option<BoxFuture<'static, io::Error>>,
}

impl AbortableBytes {
    /// Wraps `io`; `abort` resolves with the error that ends the session.
    pub fn new(io: Box<dyn ByteStream>, abort: BoxFuture<'static, io::Error>) -> Self {
        AbortableBytes {
            io,
            abort: Some(abort),
        }
    }
}

/// The signal that ends `stream`'s session at once, when it has one (see [`AbortableBytes`]).
pub fn take_abort(stream: &mut Box<dyn ByteStream>) -> Option<BoxFuture<'static, io::Error>> {
    (**stream)
        .as_any_mut()
        .downcast_mut::<AbortableBytes>()
        .and_then(|s| s.abort.take())
}

impl AsyncRead for AbortableBytes {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for AbortableBytes {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
