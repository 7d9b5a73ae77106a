//! Per-connection transforms: `msg2line:`, `lengthprefixed:`, `log:`, `timestamp:` and
//! `exit_on_specific_byte:`.

use super::codecs::DEFAULT_MAX_LINE;
use crate::exec::build::BuildCtx;
use crate::exec::codec::{framed, LineCodec};
use crate::exec::conn::{ByteStream, MessageStream};
use crate::exec::{Conn, ConnInfo, ConnLayer, Message};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::{Sink, SinkExt, Stream, StreamExt};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::codec::{Decoder, Encoder};

/// Registry entry for `msg2line:`.
pub const MSG2LINE: KindDef = KindDef {
    name: "msg2line",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::MessagesToBytes,
    traits: &[],
    arg: ArgType::None,
    params: &[ParamDef {
        name: "separator",
        ty: ParamType::Text,
        flag: None,
        help: "`newline` (default) or `nul`",
    }],
    summary: "messages become lines of a byte stream (the inverse of `lines:`)",
    help: "Reading: each message becomes exactly one line: one trailing separator (and a `\\r` \
           before a newline) is dropped, other newlines and carriage returns become spaces, and \
           one separator is appended. Writing: each write becomes one text message, unchanged. \
           `line2msg:` (`lines:`) is the opposite direction.",
    examples: &["websocat -b tcp-l:127.0.0.1:1234 msg2line:ws://127.0.0.1:8080/"],
    build: Build::Layer(build_msg2line),
};

/// Registry entry for `lengthprefixed:`.
pub const LENGTH_PREFIXED: KindDef = KindDef {
    name: "lengthprefixed",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::BytesToMessages,
    traits: &[],
    arg: ArgType::None,
    params: &[
        ParamDef {
            name: "width",
            ty: ParamType::Uint,
            flag: Some("--lengthprefixed-nbytes"),
            help: "size of the length header in bytes, 1 to 8 (default 4)",
        },
        ParamDef {
            name: "little-endian",
            ty: ParamType::Bool,
            flag: Some("--lengthprefixed-little-endian"),
            help: "little-endian header (default big-endian)",
        },
        ParamDef {
            name: "max",
            ty: ParamType::Uint,
            flag: None,
            help: "largest accepted packet in bytes (default 16 MiB)",
        },
        ParamDef {
            name: "skip-read",
            ty: ParamType::Bool,
            flag: Some("--lengthprefixed-skip-read-direction"),
            help: "reading passes the bytes through as they come (one binary message per read, \
                   up to `max`), without headers",
        },
        ParamDef {
            name: "skip-write",
            ty: ParamType::Bool,
            flag: Some("--lengthprefixed-skip-write-direction"),
            help: "writing sends each message's bytes as they are, without a header",
        },
    ],
    summary: "byte stream of length-prefixed packets ⇄ binary messages",
    help: "Each packet is a length header (`width` bytes, big-endian unless `little-endian`) \
           followed by that many bytes; each packet is one binary message, and each message \
           written becomes one packet. A packet longer than `max`, or a message too long for \
           the header, is an error. An empty packet is an empty message (websocat 1.x took it \
           as end of stream).",
    examples: &["websocat -b ws-l:127.0.0.1:8080 lengthprefixed:tcp:127.0.0.1:5000"],
    build: Build::Layer(build_lengthprefixed),
};

/// Registry entry for `log:`.
pub const LOG: KindDef = KindDef {
    name: "log",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::Preserve,
    traits: &[],
    arg: ArgType::None,
    params: &[],
    summary: "print everything read and written to stderr",
    help: "Passes data through unchanged and prints one line per read or written buffer (or \
           message) to stderr: `READ <length> \"<escaped>\"` or `WRITE <length> \"<escaped>\"`, \
           with non-printable bytes escaped as `\\n`, `\\x00`, ….",
    examples: &["websocat - log:tcp:127.0.0.1:5000"],
    build: Build::Layer(build_log),
};

/// Registry entry for `timestamp:`.
pub const TIMESTAMP: KindDef = KindDef {
    name: "timestamp",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::Preserve,
    traits: &[],
    arg: ArgType::None,
    params: &[ParamDef {
        name: "monotonic",
        ty: ParamType::Bool,
        flag: Some("--timestamp-monotonic"),
        help: "seconds since the connection started instead of since the Unix epoch",
    }],
    summary: "prefix everything read with the time in seconds",
    help: "Each message (or each read of a byte stream) read through it is prefixed with the \
           current time as fractional seconds and a space, e.g. `1700000000.123456 hello`. \
           Writes pass unchanged.",
    examples: &["websocat - timestamp:ws://127.0.0.1:8080/"],
    build: Build::Layer(build_timestamp),
};

/// Registry entry for `exit_on_specific_byte:`.
pub const EXIT_ON_BYTE: KindDef = KindDef {
    name: "exit_on_specific_byte",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::BytesToBytes,
    traits: &[],
    arg: ArgType::None,
    params: &[ParamDef {
        name: "byte",
        ty: ParamType::Uint,
        flag: Some("--byte-to-exit-on"),
        help: "the byte value, 0 to 255 (default 28, Ctrl-\\)",
    }],
    summary: "end the input when a given byte is read",
    help: "Reading stops at the first occurrence of `byte`: what comes before it is delivered, \
           then the stream ends. Handy for ending an interactive session with a key press. \
           Writes pass unchanged.",
    examples: &["websocat -b exit_on_specific_byte:- ws://127.0.0.1:8080/"],
    build: Build::Layer(build_exit_on_byte),
};

// ---------------------------------------------------------------- msg2line

struct Msg2Line {
    separator: u8,
}

fn build_msg2line(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    let separator = match node.param("separator").unwrap_or("newline") {
        "newline" | "lf" => b'\n',
        "nul" | "zero" => 0,
        other => return Err(format!("separator `{other}` is not `newline` or `nul`")),
    };
    Ok(Arc::new(Msg2Line { separator }))
}

impl ConnLayer for Msg2Line {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let separator = self.separator;
        Box::pin(async move {
            let m = inner.into_messages_for(MSG2LINE.name)?;
            let (sink, stream) = m.split();
            let mut codec = LineCodec::new(separator, false, DEFAULT_MAX_LINE);
            let stream = stream.map(move |r| {
                r.and_then(|m| {
                    let mut out = BytesMut::new();
                    codec.encode(m, &mut out)?;
                    Ok(Message::Binary(out.freeze()))
                })
            });
            let sink = sink.with(|m: Message| {
                futures::future::ready(Ok::<_, io::Error>(Message::Text(m.into_payload())))
            });
            Ok((crate::exec::share::client_conn(true, stream, sink), info))
        })
    }
}

// ---------------------------------------------------------------- lengthprefixed

/// Packets with a fixed-size length header.
#[derive(Debug, Clone)]
pub struct LengthCodec {
    /// Header size, 1..=8 bytes.
    pub width: usize,
    /// Little-endian header.
    pub little_endian: bool,
    /// Largest accepted packet.
    pub max: usize,
}

impl Decoder for LengthCodec {
    type Item = Message;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Message>> {
        if buf.len() < self.width {
            return Ok(None);
        }
        let mut header = [0u8; 8];
        let len = if self.little_endian {
            header[..self.width].copy_from_slice(&buf[..self.width]);
            u64::from_le_bytes(header)
        } else {
            header[8 - self.width..].copy_from_slice(&buf[..self.width]);
            u64::from_be_bytes(header)
        };
        if len > self.max as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "lengthprefixed: packet of {len} bytes is longer than the maximum {}",
                    self.max
                ),
            ));
        }
        let total = self.width + len as usize;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        buf.advance(self.width);
        Ok(Some(Message::Binary(buf.split_to(len as usize).freeze())))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> io::Result<Option<Message>> {
        match self.decode(buf)? {
            Some(m) => Ok(Some(m)),
            None if buf.is_empty() => Ok(None),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "lengthprefixed: stream ended inside a packet ({} bytes left)",
                    buf.len()
                ),
            )),
        }
    }
}

impl crate::exec::conn::EncodeParts for LengthCodec {}

impl Encoder<Message> for LengthCodec {
    type Error = io::Error;

    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> io::Result<()> {
        let payload = msg.into_payload();
        let len = payload.len() as u64;
        if self.width < 8 && len >> (8 * self.width) != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "lengthprefixed: a message of {len} bytes does not fit a {}-byte header",
                    self.width
                ),
            ));
        }
        dst.reserve(self.width + payload.len());
        if self.little_endian {
            dst.put_slice(&len.to_le_bytes()[..self.width]);
        } else {
            dst.put_slice(&len.to_be_bytes()[8 - self.width..]);
        }
        dst.put_slice(&payload);
        Ok(())
    }
}

struct LengthLayer(OneWayLength);

/// [`LengthCodec`] in one direction only when `skip-read` / `skip-write` say so; the other
/// passes bytes through.
#[derive(Debug, Clone)]
struct OneWayLength {
    codec: LengthCodec,
    skip_read: bool,
    skip_write: bool,
}

impl Decoder for OneWayLength {
    type Item = Message;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Message>> {
        if !self.skip_read {
            return self.codec.decode(buf);
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let n = buf.len().min(self.codec.max.max(1));
        Ok(Some(Message::Binary(buf.split_to(n).freeze())))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> io::Result<Option<Message>> {
        if !self.skip_read {
            return self.codec.decode_eof(buf);
        }
        self.decode(buf)
    }
}

impl crate::exec::conn::EncodeParts for OneWayLength {}

impl Encoder<Message> for OneWayLength {
    type Error = io::Error;

    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> io::Result<()> {
        if !self.skip_write {
            return self.codec.encode(msg, dst);
        }
        dst.put_slice(msg.payload());
        Ok(())
    }
}

fn build_lengthprefixed(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    let width = node.param_u64("width").unwrap_or(4);
    if !(1..=8).contains(&width) {
        return Err(format!("width {width} is not between 1 and 8"));
    }
    Ok(Arc::new(LengthLayer(OneWayLength {
        codec: LengthCodec {
            width: width as usize,
            little_endian: node.param_bool("little-endian"),
            max: node.param_u64("max").unwrap_or(16 << 20) as usize,
        },
        skip_read: node.param_bool("skip-read"),
        skip_write: node.param_bool("skip-write"),
    })))
}

impl ConnLayer for LengthLayer {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let codec = self.0.clone();
        Box::pin(async move {
            let io = inner.into_bytes_for(LENGTH_PREFIXED.name)?;
            Ok((Conn::Messages(framed(io, codec, 16 * 1024)), info))
        })
    }
}

// ---------------------------------------------------------------- log

/// Formats one log line: `READ 5 "hello"`.
pub fn log_line(dir: &str, data: &[u8]) -> String {
    let escaped: String = data
        .iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    format!("{dir} {} \"{escaped}\"", data.len())
}

struct LogLayer;

fn build_log(_node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    Ok(Arc::new(LogLayer))
}

impl ConnLayer for LogLayer {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        Box::pin(async move {
            let conn = match inner {
                Conn::Bytes(b) => Conn::Bytes(Box::new(Tap {
                    inner: b,
                    on_read: Box::new(|d: &[u8]| {
                        stderr_line(log_line("READ", d));
                        (d.to_vec(), false)
                    }),
                    pending: Bytes::new(),
                    eof: false,
                    on_write: Some(Box::new(|d: &[u8]| stderr_line(log_line("WRITE", d)))),
                })),
                Conn::Messages(m) => Conn::Messages(Box::new(MapMessages {
                    inner: m,
                    on_read: Box::new(|m: Message| {
                        stderr_line(log_line("READ", m.payload()));
                        m
                    }),
                    on_write: Box::new(|m: Message| {
                        stderr_line(log_line("WRITE", m.payload()));
                        m
                    }),
                })),
            };
            Ok((conn, info))
        })
    }
}

// ---------------------------------------------------------------- timestamp

struct TimestampLayer {
    monotonic: bool,
}

fn build_timestamp(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    Ok(Arc::new(TimestampLayer {
        monotonic: node.param_bool("monotonic"),
    }))
}

fn stamp(start: Option<std::time::Instant>, data: &[u8]) -> Vec<u8> {
    let secs = match start {
        Some(s) => s.elapsed().as_secs_f64(),
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    };
    let mut out = format!("{secs} ").into_bytes();
    out.extend_from_slice(data);
    out
}

impl ConnLayer for TimestampLayer {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let start = self.monotonic.then(std::time::Instant::now);
        Box::pin(async move {
            let conn = match inner {
                Conn::Bytes(b) => Conn::Bytes(Box::new(Tap {
                    inner: b,
                    on_read: Box::new(move |d: &[u8]| (stamp(start, d), false)),
                    pending: Bytes::new(),
                    eof: false,
                    on_write: None,
                })),
                Conn::Messages(m) => Conn::Messages(Box::new(MapMessages {
                    inner: m,
                    on_read: Box::new(move |m: Message| {
                        let data = Bytes::from(stamp(start, m.payload()));
                        match m {
                            Message::Text(_) => Message::Text(data),
                            Message::Binary(_) => Message::Binary(data),
                        }
                    }),
                    on_write: Box::new(|m| m),
                })),
            };
            Ok((conn, info))
        })
    }
}

// ---------------------------------------------------------------- exit_on_specific_byte

struct ExitOnByte {
    byte: u8,
}

fn build_exit_on_byte(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    let byte = node.param_u64("byte").unwrap_or(28);
    let byte = u8::try_from(byte).map_err(|_| format!("byte {byte} is not between 0 and 255"))?;
    Ok(Arc::new(ExitOnByte { byte }))
}

impl ConnLayer for ExitOnByte {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let byte = self.byte;
        Box::pin(async move {
            let b = inner.into_bytes_for(EXIT_ON_BYTE.name)?;
            Ok((
                Conn::Bytes(Box::new(Tap {
                    inner: b,
                    on_read: Box::new(move |d: &[u8]| match d.iter().position(|x| *x == byte) {
                        Some(i) => (d[..i].to_vec(), true),
                        None => (d.to_vec(), false),
                    }),
                    pending: Bytes::new(),
                    eof: false,
                    on_write: None,
                })),
                info,
            ))
        })
    }
}

// ---------------------------------------------------------------- helpers

/// Transforms one read; the flag ends the stream after the returned bytes.
pub(crate) type ReadFn = Box<dyn FnMut(&[u8]) -> (Vec<u8>, bool) + Send>;
pub(crate) type WriteFn = Box<dyn FnMut(&[u8]) + Send>;

/// A byte stream whose reads go through a function (its output may be longer or shorter,
/// and it may end the stream) and whose writes are observed.
pub(crate) struct Tap {
    pub(crate) inner: Box<dyn ByteStream>,
    pub(crate) on_read: ReadFn,
    /// Transformed bytes not yet handed to the reader.
    pub(crate) pending: Bytes,
    pub(crate) eof: bool,
    pub(crate) on_write: Option<WriteFn>,
}

impl AsyncRead for Tap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pending.is_empty() && !this.eof {
            let mut tmp = vec![0u8; buf.remaining().max(1)];
            let mut rb = ReadBuf::new(&mut tmp);
            std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let got = rb.filled();
            if got.is_empty() {
                this.eof = true;
            } else {
                let (out, end) = (this.on_read)(got);
                this.eof = end;
                this.pending = Bytes::from(out);
            }
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending[..n]);
        this.pending.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let n = std::task::ready!(Pin::new(&mut this.inner).poll_write(cx, data))?;
        if let Some(f) = this.on_write.as_mut().filter(|_| n > 0) {
            f(&data[..n]);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

pub(crate) type MsgFn = Box<dyn FnMut(Message) -> Message + Send>;

/// A message stream whose incoming and outgoing messages go through functions.
pub(crate) struct MapMessages {
    pub(crate) inner: Box<dyn MessageStream>,
    pub(crate) on_read: MsgFn,
    pub(crate) on_write: MsgFn,
}

impl Stream for MapMessages {
    type Item = io::Result<Message>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match std::task::ready!(Pin::new(&mut this.inner).poll_next(cx)) {
            Some(Ok(m)) => Poll::Ready(Some(Ok((this.on_read)(m)))),
            other => Poll::Ready(other),
        }
    }
}

impl Sink<Message> for MapMessages {
    type Error = io::Error;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }
    fn start_send(mut self: Pin<&mut Self>, item: Message) -> io::Result<()> {
        let this = &mut *self;
        let item = (this.on_write)(item);
        Pin::new(&mut this.inner).start_send(item)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl MessageStream for MapMessages {
    fn peer_close(&self) -> Option<Arc<crate::exec::conn::PeerClose>> {
        self.inner.peer_close()
    }
}

/// Writes one whole line to stderr in a single write, so concurrent lines never interleave.
fn stderr_line(mut line: String) {
    use std::io::Write;
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn length_codec_round_trip_big_and_little_endian() {
        for little_endian in [false, true] {
            let mut c = LengthCodec {
                width: 2,
                little_endian,
                max: 1000,
            };
            let mut buf = BytesMut::new();
            c.encode(Message::Binary(Bytes::from_static(b"abc")), &mut buf)
                .unwrap();
            let want: &[u8] = if little_endian {
                b"\x03\x00abc"
            } else {
                b"\x00\x03abc"
            };
            assert_eq!(&buf[..], want);
            // Split delivery: header and payload arrive in pieces.
            let mut partial = BytesMut::from(&buf[..3]);
            assert_eq!(c.decode(&mut partial).unwrap(), None);
            partial.extend_from_slice(&buf[3..]);
            assert_eq!(
                c.decode(&mut partial).unwrap(),
                Some(Message::Binary(Bytes::from_static(b"abc")))
            );
        }
    }

    #[test]
    fn length_codec_rejects_oversized() {
        let mut c = LengthCodec {
            width: 1,
            little_endian: false,
            max: 4,
        };
        let mut buf = BytesMut::from(&b"\x05hello"[..]);
        assert!(c.decode(&mut buf).is_err());
        let mut out = BytesMut::new();
        let big = Message::Binary(Bytes::from(vec![0u8; 256]));
        assert!(c.encode(big, &mut out).is_err());
    }

    #[test]
    fn timestamp_prefixes_seconds_and_a_space() {
        let out = stamp(Some(std::time::Instant::now()), b"msg");
        let text = String::from_utf8(out).unwrap();
        let (secs, rest) = text.split_once(' ').unwrap();
        assert!(secs.parse::<f64>().unwrap() < 1.0, "{text}");
        assert_eq!(rest, "msg");
        let epoch = String::from_utf8(stamp(None, b"")).unwrap();
        assert!(epoch.trim_end().parse::<f64>().unwrap() > 1.6e9, "{epoch}");
    }

    #[test]
    fn log_line_escapes_like_1x() {
        assert_eq!(log_line("READ", b"a\n\x00\"b"), r#"READ 5 "a\n\x00\"b""#);
    }

    #[tokio::test]
    async fn exit_on_byte_truncates_and_ends() {
        let (a, mut peer) = tokio::io::duplex(64);
        let layer = ExitOnByte { byte: b'!' };
        let (conn, _) = layer
            .wrap(Conn::Bytes(Box::new(a)), ConnInfo::default())
            .await
            .unwrap();
        let Conn::Bytes(mut conn) = conn else {
            panic!("shape")
        };
        peer.write_all(b"abc!def").await.unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"abc");
    }

    #[tokio::test]
    async fn msg2line_turns_messages_into_lines() {
        let (to_us, from_test) = crate::exec::conn::message_channel(8);
        let (to_test, mut from_us) = crate::exec::conn::message_channel(8);
        let inner = Conn::Messages(Box::new(crate::exec::conn::MessagePair {
            stream: from_test,
            sink: to_test,
        }));
        let (conn, _) = Msg2Line { separator: b'\n' }
            .wrap(inner, ConnInfo::default())
            .await
            .unwrap();
        let Conn::Bytes(mut conn) = conn else {
            panic!("shape")
        };
        let mut to_us = to_us;
        to_us
            .send(Message::Text(Bytes::from_static(b"a\nb\r\n")))
            .await
            .unwrap();
        to_us
            .send(Message::Binary(Bytes::from_static(b"c")))
            .await
            .unwrap();
        drop(to_us);
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"a b\nc\n");
        conn.write_all(b"raw").await.unwrap();
        conn.flush().await.unwrap();
        assert_eq!(
            from_us.next().await.unwrap().unwrap(),
            Message::Text(Bytes::from_static(b"raw"))
        );
    }
}
