//! Codecs between byte streams and messages: lines (text mode) and chunks (binary mode).
//!
//! Both follow the `tokio_util::codec` contract: `Ok(None)` asks for more bytes; a trailing
//! partial line at EOF becomes a final message; an over-long line is cut into pieces of the
//! maximum length rather than buffered without bound.

use super::conn::{ByteStream, EncodeParts, Message, MessageStream, Part};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::io;
use tokio_util::codec::{Decoder, Encoder, Framed};

/// Which message type a codec produces when decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// Text messages.
    Text,
    /// Binary messages.
    Binary,
}

impl MessageType {
    fn wrap(self, b: Bytes) -> Message {
        match self {
            MessageType::Text => Message::Text(b),
            MessageType::Binary => Message::Binary(b),
        }
    }
}

/// Splits bytes into lines (one message per line) and writes each message as a line.
#[derive(Debug, Clone)]
pub struct LineCodec {
    /// The line terminator: `\n`, or NUL with `-0`.
    pub separator: u8,
    /// Remove the `\n` terminator (and a `\r` before it) from decoded messages; a NUL
    /// terminator is always removed.
    pub strip: bool,
    /// Longest line kept in one message; longer lines are split.
    pub max_length: usize,
    /// How far the buffer has been searched for a separator already.
    scanned: usize,
    /// The last bytes of a message arriving in pieces, held back until its end shows
    /// whether they end the line (see [`EncodeParts::encode_part`]).
    held: [u8; 2],
    held_len: usize,
}

impl LineCodec {
    /// A line codec with the given separator, strip flag and maximum line length.
    pub fn new(separator: u8, strip: bool, max_length: usize) -> Self {
        LineCodec {
            separator,
            strip,
            max_length: max_length.max(1),
            scanned: 0,
            held: [0; 2],
            held_len: 0,
        }
    }

    /// Writes bytes of a line: with the newline separator, `\n` and `\r` become spaces.
    fn put_line_bytes(&self, bytes: &[u8], dst: &mut BytesMut) {
        dst.reserve(bytes.len());
        if self.separator == b'\n' {
            dst.extend(
                bytes
                    .iter()
                    .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
            );
        } else {
            dst.put_slice(bytes);
        }
    }

    fn finish(&self, mut line: BytesMut) -> Message {
        // A NUL separator is never part of a message (websocat 1.x `-0`); a newline is kept
        // unless `strip` is set.
        if (self.strip || self.separator != b'\n') && line.last() == Some(&self.separator) {
            line.truncate(line.len() - 1);
            if self.separator == b'\n' && line.last() == Some(&b'\r') {
                line.truncate(line.len() - 1);
            }
        }
        Message::Text(line.freeze())
    }
}

impl Decoder for LineCodec {
    type Item = Message;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Message>> {
        let limit = buf.len().min(self.max_length);
        if let Some(pos) = buf[self.scanned.min(limit)..limit]
            .iter()
            .position(|b| *b == self.separator)
        {
            let end = self.scanned.min(limit) + pos + 1;
            self.scanned = 0;
            let line = buf.split_to(end);
            return Ok(Some(self.finish(line)));
        }
        if buf.len() >= self.max_length {
            self.scanned = 0;
            let piece = buf.split_to(self.max_length);
            return Ok(Some(Message::Text(piece.freeze())));
        }
        self.scanned = buf.len();
        Ok(None)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> io::Result<Option<Message>> {
        if let Some(m) = self.decode(buf)? {
            return Ok(Some(m));
        }
        self.scanned = 0;
        if buf.is_empty() {
            return Ok(None);
        }
        let rest = buf.split_to(buf.len());
        Ok(Some(self.finish(rest)))
    }
}

impl Encoder<Message> for LineCodec {
    type Error = io::Error;

    /// Writes one message as exactly one line, as websocat 1.x does: one trailing separator
    /// (and, for newline, one `\r` before it) is dropped, remaining `\n`/`\r` become spaces,
    /// then one separator is appended.
    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> io::Result<()> {
        let mut payload: &[u8] = msg.payload();
        if payload.last() == Some(&self.separator) {
            payload = &payload[..payload.len() - 1];
            if self.separator == b'\n' && payload.last() == Some(&b'\r') {
                payload = &payload[..payload.len() - 1];
            }
        }
        dst.reserve(payload.len() + 1);
        self.put_line_bytes(payload, dst);
        dst.put_u8(self.separator);
        Ok(())
    }
}

impl EncodeParts for LineCodec {
    fn accepts_parts(&self) -> bool {
        true
    }

    /// Writes a message that arrives in pieces as the same one line: only the end of a message
    /// is treated differently (a final separator, and a `\r` before a newline, are dropped), so
    /// such bytes at the end of a piece are held back until the next piece shows whether the
    /// message ends there. (A message that never ends loses them.)
    fn encode_part(&mut self, part: Part, dst: &mut BytesMut) -> io::Result<()> {
        let (held, held_len) = (self.held, std::mem::take(&mut self.held_len));
        let data: &[u8] = part.data.payload();
        if part.last {
            if held_len == 0 {
                return self.encode(part.data, dst);
            }
            let mut whole = BytesMut::with_capacity(held_len + data.len());
            whole.put_slice(&held[..held_len]);
            whole.put_slice(data);
            return self.encode(Message::Text(whole.freeze()), dst);
        }
        // Only a separator at the very end (with a `\r` before a newline) is dropped, and a
        // `\r` may yet be followed by a newline: such bytes wait for the next piece.
        let total = held_len + data.len();
        let byte = |i: usize| held[..held_len].iter().chain(data).nth(i).copied();
        let from_end = |n: usize| total.checked_sub(n).and_then(byte);
        let newline = self.separator == b'\n';
        let keep = if from_end(1) == Some(self.separator) {
            if newline && from_end(2) == Some(b'\r') {
                2
            } else {
                1
            }
        } else {
            usize::from(newline && from_end(1) == Some(b'\r'))
        };
        let emit = total - keep;
        let from_held = emit.min(held_len);
        self.put_line_bytes(&held[..from_held], dst);
        self.put_line_bytes(&data[..emit - from_held], dst);
        for &b in held[from_held..held_len]
            .iter()
            .chain(&data[emit - from_held..])
        {
            self.held[self.held_len] = b;
            self.held_len += 1;
        }
        Ok(())
    }
}

/// Turns each read of a byte stream into one message (up to a maximum size) and writes
/// messages' payloads back to back.
#[derive(Debug, Clone)]
pub struct ChunkCodec {
    /// Type of decoded messages.
    pub ty: MessageType,
    /// Largest message produced.
    pub max_length: usize,
}

impl Decoder for ChunkCodec {
    type Item = Message;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Message>> {
        if buf.is_empty() {
            return Ok(None);
        }
        let n = buf.len().min(self.max_length.max(1));
        Ok(Some(self.ty.wrap(buf.split_to(n).freeze())))
    }
}

impl Encoder<Message> for ChunkCodec {
    type Error = io::Error;

    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> io::Result<()> {
        let payload = msg.into_payload();
        dst.reserve(payload.len());
        dst.put(payload.chunk());
        Ok(())
    }
}

impl EncodeParts for ChunkCodec {
    fn accepts_parts(&self) -> bool {
        true
    }

    fn encode_part(&mut self, part: Part, dst: &mut BytesMut) -> io::Result<()> {
        self.encode(part.data, dst)
    }
}

/// Wraps a byte stream with a codec, giving a message stream.
pub fn framed<C>(io: Box<dyn ByteStream>, codec: C, read_capacity: usize) -> Box<dyn MessageStream>
where
    C: Decoder<Item = Message, Error = io::Error> + EncodeParts + Send + Unpin + 'static,
{
    let mut f = Framed::with_capacity(io, codec, read_capacity);
    // Flush as soon as a frame is queued; the copy engine batches by not flushing between
    // messages that are already available.
    f.set_backpressure_boundary(64 * 1024);
    Box::new(f)
}

/// Binary/`--no-line` mode over a byte stream without copying payloads: each read (at most
/// `max_length` bytes) is one message, and outgoing payloads are queued as they are and written
/// with vectored writes.
pub struct ChunkStream {
    io: Box<dyn ByteStream>,
    ty: MessageType,
    max_length: usize,
    read_buf: BytesMut,
    eof: bool,
    pending: std::collections::VecDeque<Bytes>,
    /// Bytes queued, counting an empty chunk as one so that a flood of them is bounded too.
    pending_len: usize,
    /// Empty messages become empty writes (see [`ChunkStream::with_empty_writes`]).
    empty_writes: bool,
    /// A message arriving in pieces is being written (its empty pieces are no empty message).
    mid_message: bool,
}

/// Queued bytes above which `poll_ready` first writes some out.
const CHUNK_BACKPRESSURE: usize = 256 * 1024;

impl ChunkStream {
    /// Wraps `io`; messages are at most `max_length` bytes and of type `ty`.
    pub fn new(io: Box<dyn ByteStream>, ty: MessageType, max_length: usize) -> Self {
        let max_length = max_length.max(1);
        ChunkStream {
            io,
            ty,
            max_length,
            read_buf: BytesMut::new(),
            eof: false,
            pending: std::collections::VecDeque::new(),
            pending_len: 0,
            empty_writes: false,
            mid_message: false,
        }
    }

    /// With `true`, an empty message is written as an empty write, in order, for a byte
    /// stream that gives it a meaning (`exec:` with --exec-sighup-on-zero-msg); otherwise it
    /// writes nothing.
    pub fn with_empty_writes(mut self, on: bool) -> Self {
        self.empty_writes = on;
        self
    }

    fn poll_write_pending(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        use std::task::Poll;
        use tokio::io::AsyncWrite;
        while let Some(front) = self.pending.front() {
            if front.is_empty() {
                match std::pin::Pin::new(&mut self.io).poll_write(cx, &[]) {
                    Poll::Ready(Ok(_)) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
                self.pending.pop_front();
                self.pending_len -= 1;
                continue;
            }
            let slices: Vec<io::IoSlice<'_>> = self
                .pending
                .iter()
                .take(64)
                .take_while(|b| !b.is_empty())
                .map(|b| io::IoSlice::new(b))
                .collect();
            let n = match std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, &slices) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the byte stream accepted no more data",
                )));
            }
            self.pending_len -= n;
            let mut left = n;
            while left > 0 {
                let Some(front) = self.pending.front_mut() else {
                    break;
                };
                if front.len() <= left {
                    left -= front.len();
                    self.pending.pop_front();
                } else {
                    front.advance(left);
                    left = 0;
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl futures::Stream for ChunkStream {
    type Item = io::Result<Message>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = &mut *self;
        if this.eof {
            return Poll::Ready(None);
        }
        if this.read_buf.capacity() < this.max_length {
            this.read_buf.reserve(this.max_length);
        }
        let mut limited = (&mut this.read_buf).limit(this.max_length);
        match tokio_util::io::poll_read_buf(std::pin::Pin::new(&mut this.io), cx, &mut limited) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(0)) => {
                this.eof = true;
                Poll::Ready(None)
            }
            Poll::Ready(Ok(_)) => {
                let chunk = this.read_buf.split().freeze();
                Poll::Ready(Some(Ok(this.ty.wrap(chunk))))
            }
        }
    }
}

impl futures::Sink<Message> for ChunkStream {
    type Error = io::Error;

    fn poll_ready(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        if self.pending_len >= CHUNK_BACKPRESSURE {
            return self.poll_write_pending(cx);
        }
        std::task::Poll::Ready(Ok(()))
    }

    fn start_send(mut self: std::pin::Pin<&mut Self>, item: Message) -> io::Result<()> {
        let payload = item.into_payload();
        if payload.is_empty() && !self.empty_writes {
            return Ok(());
        }
        self.pending_len += payload.len().max(1);
        self.pending.push_back(payload);
        Ok(())
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        use tokio::io::AsyncWrite;
        std::task::ready!(self.poll_write_pending(cx))?;
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        use tokio::io::AsyncWrite;
        std::task::ready!(self.as_mut().poll_flush(cx))?;
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl MessageStream for ChunkStream {
    fn room_is_private(&self) -> bool {
        true
    }

    fn accepts_parts(&self) -> bool {
        true
    }

    /// Pieces are written back to back; only a whole empty message is an empty write.
    fn start_send_part(&mut self, part: Part) -> io::Result<()> {
        let whole = !std::mem::replace(&mut self.mid_message, !part.last);
        if part.data.payload().is_empty() && !(whole && part.last) {
            return Ok(());
        }
        futures::Sink::start_send(std::pin::Pin::new(self), part.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all<D: Decoder<Item = Message, Error = io::Error>>(
        codec: &mut D,
        chunks: &[&[u8]],
    ) -> Vec<Message> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(m) = codec.decode(&mut buf).unwrap() {
                out.push(m);
            }
        }
        while let Some(m) = codec.decode_eof(&mut buf).unwrap() {
            out.push(m);
        }
        out
    }

    fn text(s: &str) -> Message {
        Message::Text(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn line_split_across_reads_is_one_message() {
        let mut c = LineCodec::new(b'\n', false, 1024);
        let got = decode_all(&mut c, &[b"hel", b"lo\nwor", b"ld\n"]);
        assert_eq!(got, vec![text("hello\n"), text("world\n")]);
    }

    #[test]
    fn trailing_partial_line_at_eof_is_a_message() {
        let mut c = LineCodec::new(b'\n', false, 1024);
        assert_eq!(decode_all(&mut c, &[b"a\nb"]), vec![text("a\n"), text("b")]);
    }

    #[test]
    fn strip_removes_crlf() {
        let mut c = LineCodec::new(b'\n', true, 1024);
        assert_eq!(
            decode_all(&mut c, &[b"a\r\nb\n\n"]),
            vec![text("a"), text("b"), text("")]
        );
    }

    #[test]
    fn nul_separator() {
        let mut c = LineCodec::new(0, true, 1024);
        assert_eq!(
            decode_all(&mut c, &[b"a\nb\0c\0"]),
            vec![text("a\nb"), text("c")]
        );
    }

    #[test]
    fn nul_separator_is_dropped_even_without_strip() {
        let mut c = LineCodec::new(0, false, 1024);
        assert_eq!(
            decode_all(&mut c, &[b"a\nb\0c\0d"]),
            vec![text("a\nb"), text("c"), text("d")]
        );
    }

    #[test]
    fn overlong_line_is_split_not_buffered() {
        let mut c = LineCodec::new(b'\n', false, 4);
        assert_eq!(
            decode_all(&mut c, &[b"abcdefghij\n"]),
            vec![text("abcd"), text("efgh"), text("ij\n")]
        );
    }

    #[test]
    fn encoder_writes_each_message_as_one_line() {
        let mut c = LineCodec::new(b'\n', false, 1024);
        let mut dst = BytesMut::new();
        c.encode(text("a"), &mut dst).unwrap();
        c.encode(text("b\n"), &mut dst).unwrap();
        c.encode(text(""), &mut dst).unwrap();
        c.encode(text("x\ny\r\nz\r\n"), &mut dst).unwrap();
        assert_eq!(&dst[..], b"a\nb\n\nx y  z\n");
    }

    #[test]
    fn a_line_written_in_pieces_is_the_line_of_the_whole_message() {
        let messages: &[&[u8]] = &[
            b"a",
            b"",
            b"b\n",
            b"x\ny\r\nz\r\n",
            b"ends with cr\r",
            b"two\n\n",
            b"\r\n",
            b"nul\0inside\0",
        ];
        for separator in [b'\n', 0] {
            for msg in messages {
                let mut whole = BytesMut::new();
                LineCodec::new(separator, false, 1024)
                    .encode(Message::Text(Bytes::copy_from_slice(msg)), &mut whole)
                    .unwrap();
                // Every way of cutting the message in two or three pieces (some empty).
                for a in 0..=msg.len() {
                    for b in a..=msg.len() {
                        let mut c = LineCodec::new(separator, false, 1024);
                        let mut out = BytesMut::new();
                        for (piece, last) in
                            [(&msg[..a], false), (&msg[a..b], false), (&msg[b..], true)]
                        {
                            let data = Message::Text(Bytes::copy_from_slice(piece));
                            c.encode_part(Part { data, last }, &mut out).unwrap();
                        }
                        assert_eq!(
                            out, whole,
                            "{msg:?} cut at {a} and {b}, separator {separator}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn chunk_stream_writes_pieces_back_to_back_and_only_whole_empty_messages_as_empty_writes() {
        let (a, _peer) = tokio::io::duplex(1024);
        let mut s = ChunkStream::new(Box::new(a), MessageType::Binary, 4).with_empty_writes(true);
        let part = |b: &'static [u8], last| Part {
            data: Message::Binary(Bytes::from_static(b)),
            last,
        };
        for p in [
            part(b"ab", false),
            part(b"", false),
            part(b"c", false),
            part(b"", true),
        ] {
            s.start_send_part(p).unwrap();
        }
        assert_eq!(
            s.pending,
            vec![Bytes::from_static(b"ab"), Bytes::from_static(b"c")]
        );
        s.start_send_part(part(b"", true)).unwrap();
        assert_eq!(
            s.pending.len(),
            3,
            "a whole empty message is an empty write"
        );
        assert!(s.pending[2].is_empty());
    }

    #[test]
    fn chunks_respect_max_and_type() {
        let mut c = ChunkCodec {
            ty: MessageType::Binary,
            max_length: 3,
        };
        let got = decode_all(&mut c, &[b"abcde"]);
        assert_eq!(
            got,
            vec![
                Message::Binary(Bytes::from_static(b"abc")),
                Message::Binary(Bytes::from_static(b"de"))
            ]
        );
    }

    #[tokio::test]
    async fn chunk_stream_reads_bounded_chunks_and_writes_payloads_exactly() {
        use futures::{SinkExt, StreamExt};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (a, mut peer) = tokio::io::duplex(1 << 20);
        let mut s = ChunkStream::new(Box::new(a), MessageType::Binary, 4);
        peer.write_all(b"abcdefghij").await.unwrap();
        let mut got: Vec<Vec<u8>> = Vec::new();
        while got.concat().len() < 10 {
            match s.next().await.unwrap().unwrap() {
                Message::Binary(b) => {
                    assert!(b.len() <= 4);
                    got.push(b.to_vec());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got.concat(), b"abcdefghij");
        let big = Bytes::from(vec![7u8; 600_000]);
        s.feed(Message::Binary(Bytes::from_static(b"x")))
            .await
            .unwrap();
        s.feed(Message::Binary(Bytes::new())).await.unwrap();
        let writer = tokio::spawn(async move {
            s.send(Message::Text(big.clone())).await.unwrap();
            s.close().await.unwrap();
        });
        let mut out = Vec::new();
        peer.read_to_end(&mut out).await.unwrap();
        writer.await.unwrap();
        assert_eq!(out.len(), 600_001);
        assert_eq!(out[0], b'x');
        assert!(out[1..].iter().all(|&b| b == 7));
    }
}
