//! The WebSocket frame codec: decodes frames into whole messages and control events, and
//! encodes outgoing messages and control frames (masked when we are the client).
//!
//! Limits: a frame larger than `max_frame` or a message larger than `max_message` is an
//! error before its payload is buffered. Fragmented messages are reassembled; control frames
//! may arrive between fragments. Text messages must be valid UTF-8.
//!
//! Streaming ([`WsCodec::set_stream_parts`]): an uncompressed data message that does not
//! arrive whole in one read is instead handed on in pieces ([`Event::Part`]) as its payload
//! arrives, also within a frame (binary frames up to [`WHOLE_FRAMES_UP_TO`] are taken whole
//! first), so nothing holds the message; the limits then do not apply
//! to it, as they bound what is held. Text is still checked as it arrives, and fails with
//! 1007 after the valid pieces before the bad byte. Outgoing, [`Frame::Part`] sends a message
//! as fragments.
//!
//! With permessage-deflate ([`WsCodec::set_deflate`]) every outgoing data message is compressed
//! (RSV1 set) and a message whose first frame has RSV1 is inflated as its pieces arrive:
//! `max_message` and UTF-8 then apply to the inflated bytes, checked while inflating.

use crate::exec::Message;
use crate::ws::deflate::{Compressed, MessageDeflate};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::io;
use tokio_util::codec::{Decoder, Encoder};

/// Which end of the connection we are; decides masking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We mask our frames; the peer must not.
    Client,
    /// The peer must mask its frames; we do not.
    Server,
}

/// Something decoded from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete data message.
    Message(Message),
    /// A piece of a data message that is passed on as it arrives (see
    /// [`WsCodec::set_stream_parts`]), typed as the message; `last` ends the message.
    Part {
        /// The payload bytes of this piece.
        data: Message,
        /// True for the piece that ends the message.
        last: bool,
    },
    /// A ping with its payload.
    Ping(Bytes),
    /// A pong with its payload.
    Pong(Bytes),
    /// A Close, with its status code and reason when present.
    Close(Option<(u16, String)>),
    /// The peer broke the protocol: the connection must be failed with this Close. The codec
    /// then only skips frames until the peer's Close (reported as [`Event::Close`]).
    Violation(Violation),
}

/// A protocol violation by the peer (RFC 6455 section 7.1.7): the status code of the Close
/// that answers it and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Status code of our Close: [`PROTOCOL_ERROR`], [`INVALID_PAYLOAD`] or [`TOO_BIG`].
    pub code: u16,
    /// What the peer did wrong; also the reason text of our Close.
    pub reason: String,
    /// The violation was inside the peer's Close frame, so the peer has closed already.
    pub in_close: bool,
}

/// Close status 1002: the peer broke the framing rules.
pub const PROTOCOL_ERROR: u16 = 1002;
/// Close status 1007: a text message or Close reason is not valid UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// Close status 1009: a frame or message is larger than we accept.
pub const TOO_BIG: u16 = 1009;

/// True for the status codes a Close frame may carry on the wire (RFC 6455 section 7.4):
/// 1000–1003, 1007–1014 and 3000–4999.
pub fn close_code_is_valid(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The codes [`close_code_is_valid`] accepts, for messages.
pub const VALID_CLOSE_CODES: &str = "1000-1003, 1007-1014 or 3000-4999";

/// Something to send to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A data message (one frame).
    Message(Message),
    /// One fragment of a data message sent in pieces, typed as the message: `first` starts
    /// the message (its opcode), the others are continuations; `last` ends it (FIN). Never
    /// compressed.
    Part {
        /// The payload of this fragment.
        data: Message,
        /// True for the message's first fragment.
        first: bool,
        /// True for the message's last fragment.
        last: bool,
    },
    /// A ping.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A Close, with an optional status code and reason.
    Close(Option<(u16, String)>),
}

/// Largest read buffer a busy connection grows to.
pub const MAX_READ_BUFFER: usize = 256 * 1024;

/// A binary frame of a streamed message up to this size is still taken whole, as one piece:
/// it costs no more memory than the read buffer, and fewer, larger pieces pass on faster.
/// Larger frames are handed on as their bytes arrive.
pub const WHOLE_FRAMES_UP_TO: usize = MAX_READ_BUFFER;

/// Encoder and decoder of WebSocket frames for one side of a connection.
#[derive(Debug)]
pub struct WsCodec {
    role: Role,
    max_frame: usize,
    max_message: usize,
    /// The data message being received (fragmented, or one frame still arriving).
    partial: Option<Partial>,
    /// Set once a violation was reported: frames are skipped until the peer's Close.
    failed: bool,
    /// Payload bytes still to skip of a frame that is being skipped.
    skip: u64,
    /// permessage-deflate state, when the handshake negotiated it.
    deflate: Option<Box<MessageDeflate>>,
    /// Hand uncompressed data messages on in pieces as they arrive.
    stream_parts: bool,
}

/// A data message whose end has not arrived yet.
#[derive(Debug)]
struct Partial {
    is_text: bool,
    data: BytesMut,
    utf8: Utf8Stream,
    /// The frame whose header was read and whose payload is still arriving.
    frame: Option<FrameRest>,
    /// Sent with RSV1 (permessage-deflate): the payload is inflated into `inflated`.
    compressed: bool,
    /// Handed on in pieces as it arrives ([`Event::Part`]), not collected in `data`.
    streamed: bool,
    /// The inflated message so far, when `compressed`.
    inflated: Vec<u8>,
}

/// The rest of a data frame whose header was consumed.
#[derive(Debug)]
struct FrameRest {
    fin: bool,
    mask: Option<[u8; 4]>,
    /// Payload bytes already consumed (the position in the mask).
    done: usize,
    /// Payload bytes still to come.
    remaining: usize,
}

/// Validates UTF-8 that arrives in pieces, failing at the first byte that cannot start or
/// continue a valid sequence (so invalid text is detected before the message is complete).
#[derive(Debug, Default, Clone)]
pub struct Utf8Stream {
    /// The start of a character split between pieces (at most 3 bytes).
    pending: [u8; 4],
    pending_len: usize,
}

impl Utf8Stream {
    /// Checks the next piece; false means the text can no longer become valid UTF-8.
    pub fn feed(&mut self, mut data: &[u8]) -> bool {
        if self.pending_len > 0 {
            let width = match self.pending[0] {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            while self.pending_len < width {
                let Some((&b, rest)) = data.split_first() else {
                    break;
                };
                self.pending[self.pending_len] = b;
                self.pending_len += 1;
                data = rest;
            }
            match std::str::from_utf8(&self.pending[..self.pending_len]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => return true,
                Err(_) => return false,
            }
        }
        match std::str::from_utf8(data) {
            Ok(_) => true,
            Err(e) if e.error_len().is_none() => {
                let rest = &data[e.valid_up_to()..];
                self.pending[..rest.len()].copy_from_slice(rest);
                self.pending_len = rest.len();
                true
            }
            Err(_) => false,
        }
    }

    /// True when the text so far ends on a character boundary.
    pub fn is_complete(&self) -> bool {
        self.pending_len == 0
    }
}

/// Grows a read buffer that the last read filled completely, so idle connections keep a
/// small buffer while busy ones read in large chunks.
pub fn grow_if_full(buf: &mut BytesMut) {
    let cap = buf.capacity();
    if cap > 0 && buf.len() == cap && cap < MAX_READ_BUFFER {
        buf.reserve(cap.min(MAX_READ_BUFFER - cap));
    }
}

fn violation(code: u16, reason: impl Into<String>) -> Violation {
    Violation {
        code,
        reason: reason.into(),
        in_close: false,
    }
}

fn protocol_error(reason: impl Into<String>) -> Violation {
    violation(PROTOCOL_ERROR, reason)
}

fn invalid_text() -> Violation {
    violation(INVALID_PAYLOAD, "text message is not valid UTF-8")
}

/// Inflates a piece of a compressed message onto `out` (up to `limit` bytes) and checks the
/// text it adds.
fn inflate_piece(
    deflate: &mut Option<Box<MessageDeflate>>,
    is_text: bool,
    utf8: &mut Utf8Stream,
    out: &mut Vec<u8>,
    piece: &[u8],
    limit: usize,
) -> Result<(), Violation> {
    let Some(d) = deflate.as_mut() else {
        return Err(protocol_error(
            "compressed message without permessage-deflate",
        ));
    };
    let before = out.len();
    d.inflate(piece, out, limit)?;
    if is_text && !utf8.feed(&out[before..]) {
        return Err(invalid_text());
    }
    Ok(())
}

/// Ends the compressed message `p`: the rest of its inflated text is checked too.
fn finish_inflating(
    deflate: &mut Option<Box<MessageDeflate>>,
    p: &mut Partial,
    limit: usize,
) -> Result<(), Violation> {
    let Some(d) = deflate.as_mut() else {
        return Err(protocol_error(
            "compressed message without permessage-deflate",
        ));
    };
    let before = p.inflated.len();
    d.finish_message(&mut p.inflated, limit)?;
    if p.is_text && !p.utf8.feed(&p.inflated[before..]) {
        return Err(invalid_text());
    }
    Ok(())
}

/// XORs `data` with the 4-byte `mask`, eight bytes at a time where possible.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_ne_bytes(word) ^ wide;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

/// Like [`apply_mask`] for a piece of a payload that starts `offset` bytes into it.
fn apply_mask_at(data: &mut [u8], mask: [u8; 4], offset: usize) {
    let r = offset % 4;
    apply_mask(
        data,
        [
            mask[r],
            mask[(r + 1) % 4],
            mask[(r + 2) % 4],
            mask[(r + 3) % 4],
        ],
    );
}

/// A parsed frame header.
struct Header {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: u64,
    /// Header length in bytes.
    size: usize,
}

/// Parses the frame header at the start of `buf`, if it is complete.
fn parse_header(buf: &[u8]) -> Option<Header> {
    if buf.len() < 2 {
        return None;
    }
    let (b0, b1) = (buf[0], buf[1]);
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7f;
    let ext = match len7 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let size = 2 + ext + if masked { 4 } else { 0 };
    if buf.len() < size {
        return None;
    }
    let len = match len7 {
        126 => u16::from_be_bytes([buf[2], buf[3]]) as u64,
        127 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            u64::from_be_bytes(b)
        }
        n => n as u64,
    };
    let mask = masked.then(|| {
        let m = &buf[size - 4..size];
        [m[0], m[1], m[2], m[3]]
    });
    Some(Header {
        fin: b0 & 0x80 != 0,
        rsv: b0 & 0x70,
        opcode: b0 & 0x0f,
        mask,
        len,
        size,
    })
}

impl WsCodec {
    /// A codec for `role` with the given limits.
    pub fn new(role: Role, max_frame: usize, max_message: usize) -> Self {
        WsCodec {
            role,
            max_frame,
            max_message,
            partial: None,
            failed: false,
            skip: 0,
            deflate: None,
            stream_parts: false,
        }
    }

    /// With `true`, data messages that do not arrive whole in one read (and are not
    /// compressed) are decoded into [`Event::Part`]s as their payload arrives; it applies from
    /// the next message on.
    pub fn set_stream_parts(&mut self, on: bool) {
        self.stream_parts = on;
    }

    /// True when outgoing data messages are compressed (permessage-deflate was negotiated).
    pub fn compresses(&self) -> bool {
        self.deflate.is_some()
    }

    /// Which end of the connection this codec is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Compresses data messages and inflates compressed ones with `deflate` (as negotiated
    /// by the handshake); `None` (the default) allows no reserved bits.
    pub fn set_deflate(&mut self, deflate: Option<MessageDeflate>) {
        self.deflate = deflate.map(Box::new);
    }

    fn finish(is_text: bool, payload: Bytes) -> Result<Event, Violation> {
        if is_text {
            if std::str::from_utf8(&payload).is_err() {
                return Err(invalid_text());
            }
            Ok(Event::Message(Message::Text(payload)))
        } else {
            Ok(Event::Message(Message::Binary(payload)))
        }
    }

    /// After a violation: skips whole frames until the peer's Close arrives.
    fn skip_until_close(&mut self, buf: &mut BytesMut) -> Option<Event> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(buf.len() as u64);
                buf.advance(n as usize);
                self.skip -= n;
                if self.skip > 0 {
                    return None;
                }
            }
            let h = parse_header(buf)?;
            buf.advance(h.size);
            self.skip = h.len;
            if h.opcode == 0x8 {
                let n = self.skip.min(buf.len() as u64);
                buf.advance(n as usize);
                self.skip -= n;
                return Some(Event::Close(None));
            }
        }
    }

    /// Decodes the next event, or the violation that fails the connection.
    fn decode_valid(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, Violation> {
        loop {
            if let Some(p) = self.partial.as_mut() {
                if let Some(f) = p.frame.as_mut() {
                    let n = f.remaining.min(buf.len());
                    if n == 0 && f.remaining > 0 {
                        return Ok(None);
                    }
                    let mut piece = buf.split_to(n);
                    if let Some(m) = f.mask {
                        apply_mask_at(&mut piece, m, f.done);
                    }
                    f.done += n;
                    f.remaining -= n;
                    if p.compressed {
                        let (text, utf8, out) = (p.is_text, &mut p.utf8, &mut p.inflated);
                        let limit = self.max_message;
                        if let Err(v) =
                            inflate_piece(&mut self.deflate, text, utf8, out, &piece, limit)
                        {
                            self.skip = f.remaining as u64;
                            return Err(v);
                        }
                    } else {
                        if p.is_text && !p.utf8.feed(&piece) {
                            self.skip = f.remaining as u64;
                            return Err(invalid_text());
                        }
                        if p.streamed {
                            let last = f.remaining == 0 && f.fin;
                            if f.remaining == 0 {
                                p.frame = None;
                            }
                            if last && !p.utf8.is_complete() {
                                return Err(invalid_text());
                            }
                            let data = if p.is_text {
                                Message::Text(piece.freeze())
                            } else {
                                Message::Binary(piece.freeze())
                            };
                            if last {
                                self.partial = None;
                            } else if data.payload().is_empty() {
                                continue;
                            }
                            return Ok(Some(Event::Part { data, last }));
                        }
                        p.data.extend_from_slice(&piece);
                    }
                    if f.remaining > 0 {
                        return Ok(None);
                    }
                    let fin = f.fin;
                    p.frame = None;
                    if fin {
                        if p.compressed {
                            finish_inflating(&mut self.deflate, p, self.max_message)?;
                        }
                        if !p.utf8.is_complete() {
                            return Err(invalid_text());
                        }
                        let data = if p.compressed {
                            Bytes::from(std::mem::take(&mut p.inflated))
                        } else {
                            std::mem::take(&mut p.data).freeze()
                        };
                        let is_text = p.is_text;
                        self.partial = None;
                        return Self::finish(is_text, data).map(Some);
                    }
                    continue;
                }
            }
            let Some(h) = parse_header(buf) else {
                return Ok(None);
            };
            // RSV1 marks the first frame of a compressed message (RFC 7692 section 6).
            let compressed_start =
                h.rsv == 0x40 && self.deflate.is_some() && matches!(h.opcode, 0x1 | 0x2);
            if h.rsv != 0 && !compressed_start {
                return Err(protocol_error(if self.deflate.is_none() {
                    "reserved bits set (no extension was negotiated)"
                } else {
                    "reserved bits set other than RSV1 on the first frame of a data message"
                }));
            }
            match (self.role, h.mask.is_some()) {
                (Role::Server, false) => return Err(protocol_error("client frame is not masked")),
                (Role::Client, true) => return Err(protocol_error("server frame is masked")),
                _ => {}
            }
            let is_control = h.opcode & 0x08 != 0;
            if !matches!(h.opcode, 0x0..=0x2 | 0x8..=0xa) {
                return Err(protocol_error(format!("reserved opcode {:#x}", h.opcode)));
            }
            if is_control && !h.fin {
                return Err(protocol_error("fragmented control frame"));
            }
            if is_control && h.len > 125 {
                return Err(protocol_error("control frame longer than 125 bytes"));
            }
            if h.len > i64::MAX as u64 {
                // RFC 6455 section 5.2: the most significant bit of a 64-bit length is 0.
                return Err(protocol_error(
                    "frame length with the most significant bit set",
                ));
            }
            // A message handed on in pieces holds nothing: the limits do not apply to it.
            let streamed = !is_control
                && match &self.partial {
                    Some(p) => p.streamed,
                    None => self.stream_parts && !compressed_start,
                };
            if h.len > self.max_frame as u64 && !streamed {
                return Err(violation(
                    TOO_BIG,
                    format!(
                        "frame of {} bytes is over the limit of {} (--max-ws-frame-length)",
                        h.len, self.max_frame
                    ),
                ));
            }
            let Ok(len) = usize::try_from(h.len) else {
                return Err(violation(
                    TOO_BIG,
                    format!("frame of {} bytes is too large for this system", h.len),
                ));
            };
            if is_control {
                if buf.len() < h.size + len {
                    buf.reserve(h.size + len - buf.len());
                    return Ok(None);
                }
                buf.advance(h.size);
                let mut payload = buf.split_to(len);
                if let Some(m) = h.mask {
                    apply_mask(&mut payload, m);
                }
                return match h.opcode {
                    0x8 => Self::close_event(&payload).map(Some),
                    0x9 => Ok(Some(Event::Ping(payload.freeze()))),
                    _ => Ok(Some(Event::Pong(payload.freeze()))),
                };
            }
            match (h.opcode, self.partial.is_some()) {
                (0x0, false) => {
                    return Err(protocol_error(
                        "continuation frame without a message to continue",
                    ))
                }
                (0x1 | 0x2, true) => {
                    return Err(protocol_error(
                        "new message started before the fragmented one ended",
                    ))
                }
                _ => {}
            }
            let compressed = match &self.partial {
                Some(p) => p.compressed,
                None => compressed_start,
            };
            // A compressed message's limit is checked on what it inflates to, as it inflates.
            let so_far = self.partial.as_ref().map_or(0, |p| p.data.len());
            if !compressed && !streamed && so_far.saturating_add(len) > self.max_message {
                return Err(violation(
                    TOO_BIG,
                    format!(
                        "message of at least {} bytes is over the limit of {} (--max-ws-message-length)",
                        so_far + len,
                        self.max_message
                    ),
                ));
            }
            let whole = buf.len() >= h.size.saturating_add(len);
            if h.opcode != 0x0 && h.fin && whole && !compressed {
                // The common case: a whole message in one frame, taken without copying.
                buf.advance(h.size);
                let mut payload = buf.split_to(len);
                if let Some(m) = h.mask {
                    apply_mask(&mut payload, m);
                }
                return Self::finish(h.opcode == 0x1, payload.freeze()).map(Some);
            }
            let is_text = match &self.partial {
                Some(p) => p.is_text,
                None => h.opcode == 0x1,
            };
            if !is_text && !whole && !compressed && (!streamed || len <= WHOLE_FRAMES_UP_TO) {
                // Binary data is taken frame by frame; only text is checked as it arrives.
                buf.reserve(h.size + len - buf.len());
                return Ok(None);
            }
            buf.advance(h.size);
            let p = self.partial.get_or_insert_with(|| Partial {
                is_text,
                data: BytesMut::new(),
                utf8: Utf8Stream::default(),
                frame: None,
                compressed,
                streamed,
                inflated: Vec::new(),
            });
            if !compressed && !streamed {
                p.data.reserve(len.min(MAX_READ_BUFFER));
            }
            p.frame = Some(FrameRest {
                fin: h.fin,
                mask: h.mask,
                done: 0,
                remaining: len,
            });
        }
    }

    /// The event for a Close frame's payload, or the violation it contains.
    fn close_event(payload: &[u8]) -> Result<Event, Violation> {
        let in_close = |mut v: Violation| {
            v.in_close = true;
            v
        };
        match payload {
            [] => Ok(Event::Close(None)),
            [_] => Err(in_close(protocol_error(
                "Close frame with a 1-byte payload",
            ))),
            [hi, lo, reason @ ..] => {
                let code = u16::from_be_bytes([*hi, *lo]);
                if !close_code_is_valid(code) {
                    return Err(in_close(protocol_error(format!(
                        "invalid Close status code {code}"
                    ))));
                }
                let reason = std::str::from_utf8(reason).map_err(|_| {
                    in_close(violation(
                        INVALID_PAYLOAD,
                        "Close reason is not valid UTF-8",
                    ))
                })?;
                Ok(Event::Close(Some((code, reason.to_string()))))
            }
        }
    }
}

impl Decoder for WsCodec {
    type Item = Event;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Event>> {
        grow_if_full(buf);
        if self.failed {
            return Ok(self.skip_until_close(buf));
        }
        match self.decode_valid(buf) {
            Ok(event) => Ok(event),
            Err(v) => {
                self.failed = true;
                self.partial = None;
                Ok(Some(Event::Violation(v)))
            }
        }
    }
}

impl Encoder<Frame> for WsCodec {
    type Error = io::Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> io::Result<()> {
        let close_payload;
        let deflated;
        let mut rsv = 0;
        let mut fin = 0x80;
        let (opcode, payload): (u8, &[u8]) = match &frame {
            Frame::Message(m) if self.deflate.is_some() => {
                let (opcode, data) = match m {
                    Message::Text(b) => (0x1, b),
                    Message::Binary(b) => (0x2, b),
                };
                match self
                    .deflate
                    .as_mut()
                    .map(|d| d.compress(data))
                    .transpose()?
                {
                    Some(Compressed::Deflated(d)) => {
                        rsv = 0x40;
                        deflated = d;
                        (opcode, &deflated[..])
                    }
                    _ => (opcode, &data[..]),
                }
            }
            Frame::Message(Message::Text(b)) => (0x1, b),
            Frame::Message(Message::Binary(b)) => (0x2, b),
            Frame::Part { data, first, last } => {
                if !last {
                    fin = 0;
                }
                match (first, data) {
                    (false, d) => (0x0, d.payload()),
                    (true, Message::Text(b)) => (0x1, b),
                    (true, Message::Binary(b)) => (0x2, b),
                }
            }
            Frame::Ping(b) => (0x9, b),
            Frame::Pong(b) => (0xA, b),
            Frame::Close(None) => (0x8, &[]),
            Frame::Close(Some((code, reason))) => {
                let mut v = code.to_be_bytes().to_vec();
                v.extend_from_slice(reason.as_bytes());
                close_payload = v;
                (0x8, &close_payload)
            }
        };
        let len = payload.len();
        dst.reserve(len + 14);
        dst.put_u8(fin | rsv | opcode);
        let mask_bit = if self.role == Role::Client { 0x80 } else { 0 };
        if len < 126 {
            dst.put_u8(mask_bit | len as u8);
        } else if len <= u16::MAX as usize {
            dst.put_u8(mask_bit | 126);
            dst.put_u16(len as u16);
        } else {
            dst.put_u8(mask_bit | 127);
            dst.put_u64(len as u64);
        }
        if self.role == Role::Client {
            let mask: [u8; 4] = rand::random();
            dst.put_slice(&mask);
            let start = dst.len();
            dst.put_slice(payload);
            apply_mask(&mut dst[start..], mask);
        } else {
            dst.put_slice(payload);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(frames: Vec<Frame>) -> Vec<Event> {
        let mut enc = WsCodec::new(Role::Client, 1 << 20, 1 << 20);
        let mut dec = WsCodec::new(Role::Server, 1 << 20, 1 << 20);
        let mut wire = BytesMut::new();
        for f in frames {
            enc.encode(f, &mut wire).unwrap();
        }
        // Feed one byte at a time: any chunking must decode the same.
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for b in wire.iter() {
            buf.put_u8(*b);
            while let Some(e) = dec.decode(&mut buf).unwrap() {
                out.push(e);
            }
        }
        out
    }

    #[test]
    fn masked_roundtrip_byte_by_byte() {
        let big = Bytes::from(vec![7u8; 70_000]);
        let got = roundtrip(vec![
            Frame::Message(Message::Text(Bytes::from_static(b"hello"))),
            Frame::Message(Message::Binary(big.clone())),
            Frame::Ping(Bytes::from_static(b"p")),
            Frame::Message(Message::Text(Bytes::new())),
            Frame::Close(Some((4000, "bye".into()))),
        ]);
        assert_eq!(
            got,
            vec![
                Event::Message(Message::Text(Bytes::from_static(b"hello"))),
                Event::Message(Message::Binary(big)),
                Event::Ping(Bytes::from_static(b"p")),
                Event::Message(Message::Text(Bytes::new())),
                Event::Close(Some((4000, "bye".into()))),
            ]
        );
    }

    #[test]
    fn fragments_with_interleaved_ping_reassemble() {
        let mut dec = WsCodec::new(Role::Client, 100, 100);
        let mut buf = BytesMut::from(&[0x01, 2, b'a', b'b', 0x89, 0, 0x80, 1, b'c'][..]);
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(Event::Ping(Bytes::new()))
        );
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(Event::Message(Message::Text(Bytes::from_static(b"abc"))))
        );
    }

    /// Decodes `wire` (one byte at a time) with a client-role codec and returns the events.
    fn decode_all(role: Role, max: usize, wire: &[u8]) -> Vec<Event> {
        let mut dec = WsCodec::new(role, max, max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for b in wire {
            buf.put_u8(*b);
            while let Some(e) = dec.decode(&mut buf).unwrap() {
                out.push(e);
            }
        }
        out
    }

    fn violation_code(events: &[Event]) -> Option<u16> {
        events.iter().find_map(|e| match e {
            Event::Violation(v) => Some(v.code),
            _ => None,
        })
    }

    fn text(s: &str) -> Event {
        Event::Message(Message::Text(Bytes::copy_from_slice(s.as_bytes())))
    }

    #[test]
    fn unmasked_client_frame_is_a_protocol_error() {
        let got = decode_all(Role::Server, 100, &[0x81, 1, b'a']);
        assert_eq!(violation_code(&got), Some(PROTOCOL_ERROR), "{got:?}");
    }

    #[test]
    fn each_framing_violation_is_a_protocol_error_after_the_valid_message() {
        let cases: &[(&str, &[u8])] = &[
            ("rsv1", &[0xc1, 1, b'x']),
            ("rsv2", &[0xa1, 1, b'x']),
            ("rsv3", &[0x91, 1, b'x']),
            ("opcode 3", &[0x83, 0]),
            ("opcode 7", &[0x87, 0]),
            ("opcode 0xb", &[0x8b, 0]),
            ("opcode 0xf", &[0x8f, 0]),
            ("fragmented ping", &[0x09, 0]),
            ("long ping", &[0x89, 126, 0, 126]),
            ("orphan continuation", &[0x80, 1, b'x']),
            ("interleaved text", &[0x01, 1, b'x', 0x81, 1, b'y']),
            ("interleaved binary", &[0x02, 1, b'x', 0x82, 1, b'y']),
            ("1-byte close", &[0x88, 1, 0x03]),
            ("close code 999", &[0x88, 2, 0x03, 0xe7]),
            ("close code 1005", &[0x88, 2, 0x03, 0xed]),
            ("close code 2999", &[0x88, 2, 0x0b, 0xb7]),
            ("masked server frame", &[0x81, 0x81, 0, 0, 0, 0, b'x']),
        ];
        for (name, bad) in cases {
            let mut wire = vec![0x81, 2, b'o', b'k'];
            wire.extend_from_slice(bad);
            let got = decode_all(Role::Client, 1000, &wire);
            assert_eq!(got.first(), Some(&text("ok")), "{name}: {got:?}");
            assert_eq!(
                violation_code(&got),
                Some(PROTOCOL_ERROR),
                "{name}: {got:?}"
            );
        }
    }

    #[test]
    fn valid_close_codes_pass_and_invalid_ones_do_not() {
        for code in [1000u16, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert!(close_code_is_valid(code), "{code}");
        }
        for code in [
            0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000,
        ] {
            assert!(!close_code_is_valid(code), "{code}");
        }
    }

    #[test]
    fn invalid_utf8_in_text_or_close_reason_is_invalid_payload() {
        let got = decode_all(Role::Client, 100, &[0x81, 1, 0xff]);
        assert_eq!(violation_code(&got), Some(INVALID_PAYLOAD), "{got:?}");
        let got = decode_all(Role::Client, 100, &[0x88, 3, 0x03, 0xe8, 0xff]);
        assert_eq!(violation_code(&got), Some(INVALID_PAYLOAD), "{got:?}");
        assert!(matches!(&got[0], Event::Violation(v) if v.in_close));
        // A character cut at the end of the message.
        let got = decode_all(Role::Client, 100, &[0x81, 2, 0xce, 0xba, 0x81, 1, 0xce]);
        assert_eq!(got[0], text("κ"));
        assert_eq!(violation_code(&got), Some(INVALID_PAYLOAD), "{got:?}");
    }

    #[test]
    fn invalid_utf8_fails_before_the_rest_of_the_frame_or_message_arrives() {
        // A text frame announced as 20 bytes; byte 3 can never be valid UTF-8.
        let mut dec = WsCodec::new(Role::Client, 100, 100);
        let mut buf = BytesMut::from(&[0x81, 20, b'a', 0xf4][..]);
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            None,
            "F4 can still start a character"
        );
        buf.put_u8(0x90);
        assert_eq!(
            violation_code(&[dec.decode(&mut buf).unwrap().unwrap()]),
            Some(INVALID_PAYLOAD)
        );
        // Fragments: the second one makes the message invalid; its end never comes.
        let mut dec = WsCodec::new(Role::Client, 100, 100);
        let mut buf = BytesMut::from(&[0x01, 2, 0xce, 0xba, 0x00, 2, 0xf4, 0x90][..]);
        assert_eq!(
            violation_code(&[dec.decode(&mut buf).unwrap().unwrap()]),
            Some(INVALID_PAYLOAD)
        );
    }

    #[test]
    fn utf8_split_anywhere_across_frames_is_accepted() {
        let msg = "κόσμε ½ 𝄞 end";
        let bytes = msg.as_bytes();
        for cut in 0..=bytes.len() {
            let mut wire = vec![0x01, cut as u8];
            wire.extend_from_slice(&bytes[..cut]);
            wire.extend_from_slice(&[0x80, (bytes.len() - cut) as u8]);
            wire.extend_from_slice(&bytes[cut..]);
            assert_eq!(
                decode_all(Role::Client, 100, &wire),
                vec![text(msg)],
                "cut {cut}"
            );
        }
    }

    #[test]
    fn oversized_frame_or_message_is_too_big_before_buffering() {
        let got = decode_all(Role::Client, 10, &[0x82, 126, 0x01, 0x00]);
        assert_eq!(violation_code(&got), Some(TOO_BIG), "{got:?}");
        // Two fragments of 6 bytes: each frame fits, the message does not.
        let mut wire = vec![0x02, 6];
        wire.extend_from_slice(&[1; 6]);
        wire.extend_from_slice(&[0x80, 6]);
        let got = decode_all(Role::Client, 10, &wire);
        assert_eq!(violation_code(&got), Some(TOO_BIG), "{got:?}");
    }

    #[test]
    fn after_a_violation_frames_are_skipped_until_the_peers_close() {
        let wire = [
            0x83, 1, b'x', // reserved opcode 3: the violation
            0x83, 3, b'a', b'b', b'c', // skipped
            0x81, 1, b'y', // skipped
            0x88, 2, 0x03, 0xe8, // the peer's Close
        ];
        let got = decode_all(Role::Client, 100, &wire);
        assert_eq!(violation_code(&got), Some(PROTOCOL_ERROR), "{got:?}");
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1], Event::Close(None));
    }

    /// A masked (client) message of `payload` sent as fragments of the given sizes, with a
    /// ping between the first two, encoded by our own encoder with `Frame::Part`.
    fn fragmented_wire(payload: &[u8], text: bool, sizes: &[usize]) -> Vec<u8> {
        let mut enc = WsCodec::new(Role::Client, 1 << 20, 1 << 20);
        let mut wire = BytesMut::new();
        let mut at = 0;
        for (i, size) in sizes.iter().enumerate() {
            let piece = Bytes::copy_from_slice(&payload[at..at + size]);
            at += size;
            let data = if text {
                Message::Text(piece)
            } else {
                Message::Binary(piece)
            };
            let (first, last) = (i == 0, i + 1 == sizes.len());
            enc.encode(Frame::Part { data, first, last }, &mut wire)
                .unwrap();
            if first {
                enc.encode(Frame::Ping(Bytes::from_static(b"p")), &mut wire)
                    .unwrap();
            }
        }
        assert_eq!(at, payload.len());
        wire.to_vec()
    }

    /// Decodes `reads` (the wire cut into pieces) with a streaming server-role codec whose
    /// limits are `max`; returns the events.
    fn decode_streaming(max: usize, reads: &[&[u8]]) -> Vec<Event> {
        let mut dec = WsCodec::new(Role::Server, max, max);
        dec.set_stream_parts(true);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for r in reads {
            buf.extend_from_slice(r);
            while let Some(e) = dec.decode(&mut buf).unwrap() {
                out.push(e);
            }
        }
        assert!(buf.is_empty(), "left undecoded: {buf:?}");
        out
    }

    /// The pieces of one streamed message, joined, checking that only the last ends it and
    /// that every piece has the message's type.
    fn joined_parts(events: &[Event], text: bool) -> Vec<u8> {
        let parts: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Part { data, last } => Some((data, *last)),
                _ => None,
            })
            .collect();
        let lasts: Vec<bool> = parts.iter().map(|p| p.1).collect();
        assert_eq!(lasts.iter().filter(|l| **l).count(), 1, "{lasts:?}");
        assert_eq!(lasts.last(), Some(&true), "{lasts:?}");
        let mut all = Vec::new();
        for (data, _) in parts {
            assert_eq!(matches!(data, Message::Text(_)), text, "{data:?}");
            all.extend_from_slice(data.payload());
        }
        all
    }

    #[test]
    fn streamed_masked_message_split_at_every_offset_arrives_intact_in_pieces() {
        let payload: Vec<u8> = (0..700u32).map(|i| (i * 7 + i / 13) as u8).collect();
        // Fragments of 300 (a 2-byte length), 0 and 400 bytes, a ping after the first.
        let wire = fragmented_wire(&payload, false, &[300, 0, 400]);
        for cut in 0..=wire.len() {
            // Limits far below the message: a streamed message holds nothing, so they do not
            // apply to it.
            let got = decode_streaming(100, &[&wire[..cut], &wire[cut..]]);
            assert_eq!(joined_parts(&got, false), payload, "cut at {cut}");
            assert!(
                got.contains(&Event::Ping(Bytes::from_static(b"p"))),
                "cut at {cut}: {got:?}"
            );
            assert_eq!(violation_code(&got), None, "cut at {cut}");
        }
        // One byte per read: small binary frames are taken whole, text comes out as it arrives.
        let reads: Vec<&[u8]> = wire.chunks(1).collect();
        let got = decode_streaming(100, &reads);
        assert_eq!(joined_parts(&got, false), payload);
        let pieces = |got: &[Event]| {
            got.iter()
                .filter(|e| matches!(e, Event::Part { .. }))
                .count()
        };
        assert_eq!(pieces(&got), 2, "one piece per non-empty frame");
        let text = "κόσμε ".repeat(60);
        let wire = fragmented_wire(text.as_bytes(), true, &[300, 0, text.len() - 300]);
        let reads: Vec<&[u8]> = wire.chunks(1).collect();
        let got = decode_streaming(100, &reads);
        assert_eq!(joined_parts(&got, true), text.as_bytes());
        assert_eq!(pieces(&got), text.len(), "one piece per payload byte");
    }

    #[test]
    fn a_streamed_single_frame_message_is_handed_on_before_it_is_complete() {
        let payload = vec![0x42u8; WHOLE_FRAMES_UP_TO + 1];
        let mut enc = WsCodec::new(Role::Client, 1 << 20, 1 << 20);
        let mut wire = BytesMut::new();
        enc.encode(
            Frame::Message(Message::Binary(Bytes::from(payload.clone()))),
            &mut wire,
        )
        .unwrap();
        let mut dec = WsCodec::new(Role::Server, 100, 100);
        dec.set_stream_parts(true);
        let mut buf = BytesMut::from(&wire[..500]);
        let first = dec.decode(&mut buf).unwrap();
        assert!(
            matches!(&first, Some(Event::Part { data: Message::Binary(b), last: false }) if b.len() == 500 - 14),
            "{first:?}"
        );
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&wire[500..]);
        assert!(matches!(
            dec.decode(&mut buf).unwrap(),
            Some(Event::Part { last: true, .. })
        ));
        // A message that arrives whole in one read is one whole message.
        let got = decode_streaming(1 << 20, &[&wire]);
        assert_eq!(
            got,
            vec![Event::Message(Message::Binary(Bytes::from(payload)))]
        );
        // A binary frame no larger than the read buffer is taken whole, as one piece.
        let mut wire = fragmented_wire(&vec![7; WHOLE_FRAMES_UP_TO], false, &[WHOLE_FRAMES_UP_TO]);
        wire[0] = 0x02; // no FIN: the message goes on
        let mut dec = WsCodec::new(Role::Server, 100, 100);
        dec.set_stream_parts(true);
        let mut buf = BytesMut::from(&wire[..500]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&wire[500..]);
        assert!(matches!(
            dec.decode(&mut buf).unwrap(),
            Some(Event::Part { data, last: false }) if data.payload().len() == WHOLE_FRAMES_UP_TO
        ));
    }

    #[test]
    fn streamed_text_fails_with_1007_after_its_valid_pieces() {
        let mut payload = "κόσμε".repeat(20).into_bytes();
        payload.extend_from_slice(&[b'a', 0xff, b'b']);
        let wire = fragmented_wire(&payload, true, &[51, payload.len() - 51]);
        // Cut before the bad byte: the valid pieces come first, then the violation.
        let bad_at = wire.len() - 2;
        let got = decode_streaming(1 << 20, &[&wire[..bad_at], &wire[bad_at..]]);
        let mut valid = Vec::new();
        for e in &got {
            if let Event::Part { data, last } = e {
                assert!(!last);
                assert!(matches!(data, Message::Text(_)));
                valid.extend_from_slice(data.payload());
            }
        }
        assert_eq!(valid, &payload[..payload.len() - 2]);
        assert_eq!(
            got.last().map(|e| violation_code(std::slice::from_ref(e))),
            Some(Some(INVALID_PAYLOAD))
        );
        // A character cut at the very end of a streamed message is invalid too.
        let wire = fragmented_wire(&[b'a', b'b', 0xce], true, &[1, 1, 1]);
        let got = decode_streaming(1 << 20, &[&wire]);
        assert_eq!(violation_code(&got), Some(INVALID_PAYLOAD), "{got:?}");
    }

    #[test]
    fn streamed_utf8_split_anywhere_is_accepted() {
        let msg = "κόσμε ½ 𝄞 end";
        let bytes = msg.as_bytes();
        for cut in 1..bytes.len() {
            let wire = fragmented_wire(bytes, true, &[cut, bytes.len() - cut]);
            let reads: Vec<&[u8]> = wire.chunks(1).collect();
            let got = decode_streaming(1 << 20, &reads);
            assert_eq!(joined_parts(&got, true), bytes, "cut {cut}");
        }
    }

    #[test]
    fn huge_frame_lengths_do_not_overflow_when_streaming() {
        // The most significant bit of a 64-bit length must be 0 (1002); a frame of 2^62
        // bytes is streamed as its bytes come.
        for len in [u64::MAX, 1 << 63] {
            let mut wire = vec![0x82, 0x80 | 127];
            wire.extend_from_slice(&len.to_be_bytes());
            wire.extend_from_slice(&[1, 2, 3, 4, 9, 9]);
            let got = decode_streaming(100, &[&wire[..wire.len() - 2]]);
            assert_eq!(violation_code(&got), Some(PROTOCOL_ERROR), "{len}: {got:?}");
        }
        let mut wire = vec![0x82, 0x80 | 127];
        wire.extend_from_slice(&(1u64 << 62).to_be_bytes());
        wire.extend_from_slice(&[0, 0, 0, 0, 9, 9]);
        let got = decode_streaming(100, &[&wire]);
        assert_eq!(
            got,
            vec![Event::Part {
                data: Message::Binary(Bytes::from_static(&[9, 9])),
                last: false
            }]
        );
    }

    #[test]
    fn parts_are_sent_as_fragments_that_reassemble() {
        let wire = fragmented_wire(b"abcdef", true, &[2, 0, 4]);
        // First: text opcode without FIN; the continuations: opcode 0, FIN on the last.
        assert_eq!(wire[0], 0x01);
        let got = decode_all(Role::Server, 100, &wire);
        assert_eq!(
            got,
            vec![Event::Ping(Bytes::from_static(b"p")), text("abcdef")]
        );
        let cont: Vec<u8> = [0x00, 0x80].to_vec();
        let mut enc = WsCodec::new(Role::Server, 100, 100);
        let mut out = BytesMut::new();
        for (last, byte0) in [(false, cont[0]), (true, cont[1])] {
            out.clear();
            let data = Message::Binary(Bytes::from_static(b"x"));
            enc.encode(
                Frame::Part {
                    data,
                    first: false,
                    last,
                },
                &mut out,
            )
            .unwrap();
            assert_eq!(&out[..], &[byte0, 1, b'x']);
        }
    }

    #[test]
    fn mask_matches_bytewise_xor() {
        let mut data: Vec<u8> = (0..37).collect();
        let orig = data.clone();
        apply_mask(&mut data, [1, 2, 3, 4]);
        for (i, (a, b)) in data.iter().zip(orig.iter()).enumerate() {
            assert_eq!(*a, b ^ [1, 2, 3, 4][i % 4]);
        }
    }
}
