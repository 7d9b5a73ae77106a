//! The WebSocket frame codec: decodes frames into whole messages and control events, and
//! encodes outgoing messages and control frames (masked when we are the client).
//!
//! Limits: a frame larger than `max_frame` or a message larger than `max_message` is an
//! error before its payload is buffered. Fragmented messages are reassembled; control frames
//! may arrive between fragments. Text messages must be valid UTF-8.

use crate::exec::Message;
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
    /// A ping with its payload.
    Ping(Bytes),
    /// A pong with its payload.
    Pong(Bytes),
    /// A Close, with its status code and reason when present.
    Close(Option<(u16, String)>),
}

/// Something to send to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A data message (one frame).
    Message(Message),
    /// A ping.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A Close, with an optional status code and reason.
    Close(Option<(u16, String)>),
}

/// Largest read buffer a busy connection grows to.
pub const MAX_READ_BUFFER: usize = 256 * 1024;

/// Encoder and decoder of WebSocket frames for one side of a connection.
#[derive(Debug)]
pub struct WsCodec {
    role: Role,
    max_frame: usize,
    max_message: usize,
    partial: Option<(bool, BytesMut)>,
}

/// Grows a read buffer that the last read filled completely, so idle connections keep a
/// small buffer while busy ones read in large chunks.
pub fn grow_if_full(buf: &mut BytesMut) {
    let cap = buf.capacity();
    if cap > 0 && buf.len() == cap && cap < MAX_READ_BUFFER {
        buf.reserve(cap.min(MAX_READ_BUFFER - cap));
    }
}

fn protocol_error(msg: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("WebSocket protocol error: {}", msg.into()),
    )
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

impl WsCodec {
    /// A codec for `role` with the given limits.
    pub fn new(role: Role, max_frame: usize, max_message: usize) -> Self {
        WsCodec {
            role,
            max_frame,
            max_message,
            partial: None,
        }
    }

    fn finish(is_text: bool, payload: Bytes) -> io::Result<Event> {
        if is_text {
            if std::str::from_utf8(&payload).is_err() {
                return Err(protocol_error("text message is not valid UTF-8"));
            }
            Ok(Event::Message(Message::Text(payload)))
        } else {
            Ok(Event::Message(Message::Binary(payload)))
        }
    }
}

impl Decoder for WsCodec {
    type Item = Event;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Event>> {
        grow_if_full(buf);
        loop {
            if buf.len() < 2 {
                return Ok(None);
            }
            let (b0, b1) = (buf[0], buf[1]);
            let fin = b0 & 0x80 != 0;
            if b0 & 0x70 != 0 {
                return Err(protocol_error(
                    "reserved bits set (no extension was negotiated)",
                ));
            }
            let opcode = b0 & 0x0f;
            let masked = b1 & 0x80 != 0;
            let len7 = (b1 & 0x7f) as usize;
            let ext = match len7 {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            let header = 2 + ext + if masked { 4 } else { 0 };
            if buf.len() < header {
                return Ok(None);
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
            match (self.role, masked) {
                (Role::Server, false) => return Err(protocol_error("client frame is not masked")),
                (Role::Client, true) => return Err(protocol_error("server frame is masked")),
                _ => {}
            }
            let is_control = opcode & 0x08 != 0;
            if is_control && (len > 125 || !fin) {
                return Err(protocol_error("control frame too long or fragmented"));
            }
            if len > self.max_frame as u64 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "incoming frame of {len} bytes exceeds the limit of {} (--max-ws-frame-length)",
                        self.max_frame
                    ),
                ));
            }
            let len = len as usize;
            if !is_control {
                let so_far = self.partial.as_ref().map_or(0, |(_, p)| p.len());
                if so_far + len > self.max_message {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "incoming message of at least {} bytes exceeds the limit of {} (--max-ws-message-length)",
                            so_far + len,
                            self.max_message
                        ),
                    ));
                }
            }
            if buf.len() < header + len {
                buf.reserve(header + len - buf.len());
                return Ok(None);
            }
            let mask = if masked {
                let m = &buf[header - 4..header];
                Some([m[0], m[1], m[2], m[3]])
            } else {
                None
            };
            buf.advance(header);
            let mut payload = buf.split_to(len);
            if let Some(m) = mask {
                apply_mask(&mut payload, m);
            }
            match opcode {
                0x0 => {
                    let Some((is_text, mut acc)) = self.partial.take() else {
                        return Err(protocol_error(
                            "continuation frame without a message to continue",
                        ));
                    };
                    acc.extend_from_slice(&payload);
                    if fin {
                        return Self::finish(is_text, acc.freeze()).map(Some);
                    }
                    self.partial = Some((is_text, acc));
                }
                0x1 | 0x2 => {
                    if self.partial.is_some() {
                        return Err(protocol_error(
                            "new message started before the fragmented one ended",
                        ));
                    }
                    let is_text = opcode == 0x1;
                    if fin {
                        return Self::finish(is_text, payload.freeze()).map(Some);
                    }
                    self.partial = Some((is_text, payload));
                }
                0x8 => {
                    if payload.is_empty() {
                        return Ok(Some(Event::Close(None)));
                    }
                    if payload.len() == 1 {
                        return Err(protocol_error("Close frame with a 1-byte payload"));
                    }
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    let reason = std::str::from_utf8(&payload[2..])
                        .map_err(|_| protocol_error("Close reason is not valid UTF-8"))?
                        .to_string();
                    return Ok(Some(Event::Close(Some((code, reason)))));
                }
                0x9 => return Ok(Some(Event::Ping(payload.freeze()))),
                0xA => return Ok(Some(Event::Pong(payload.freeze()))),
                other => return Err(protocol_error(format!("unknown opcode {other:#x}"))),
            }
        }
    }
}

impl Encoder<Frame> for WsCodec {
    type Error = io::Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> io::Result<()> {
        let close_payload;
        let (opcode, payload): (u8, &[u8]) = match &frame {
            Frame::Message(Message::Text(b)) => (0x1, b),
            Frame::Message(Message::Binary(b)) => (0x2, b),
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
        dst.put_u8(0x80 | opcode);
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

    #[test]
    fn unmasked_client_frame_is_rejected_by_server() {
        let mut dec = WsCodec::new(Role::Server, 100, 100);
        let mut buf = BytesMut::from(&[0x81, 1, b'a'][..]);
        assert!(dec.decode(&mut buf).is_err());
    }

    #[test]
    fn oversized_frame_is_rejected_before_buffering() {
        let mut dec = WsCodec::new(Role::Client, 10, 100);
        let mut buf = BytesMut::from(&[0x82, 126, 0x01, 0x00][..]);
        let e = dec.decode(&mut buf).unwrap_err();
        assert!(e.to_string().contains("--max-ws-frame-length"), "{e}");
    }

    #[test]
    fn invalid_utf8_text_is_an_error() {
        let mut dec = WsCodec::new(Role::Client, 10, 100);
        let mut buf = BytesMut::from(&[0x81, 1, 0xff][..]);
        assert!(dec.decode(&mut buf).is_err());
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
