//! Conversions between connection shapes, used by the connector overlays (`broadcast:`,
//! `reuse-raw:`, `autoreconnect:`, `lazy:`) and transforms: turning any connection into
//! messages for a background task, and handing a client a connection of the original shape made
//! from a message stream and sink.

use crate::exec::codec::{framed, ChunkCodec, MessageType};
use crate::exec::conn::{MessagePair, MessageStream};
use crate::exec::{Conn, Message};
use bytes::Bytes;
use futures::{Sink, SinkExt, Stream, StreamExt};
use std::io;
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
