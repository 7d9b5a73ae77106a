//! Messages that only pass through a relay (WebSocket to a byte stream, WebSocket to
//! WebSocket) are streamed in pieces, not reassembled: a 1 GiB message goes through in
//! bounded memory and arrives byte for byte; text keeps its one line; invalid UTF-8 in the
//! middle still fails the connection with 1007 after the valid bytes before it.
//!
//! The payloads are generated and hashed as they go, never held by the test.

use crate::support::ws::{self, ws_connect, OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT};
use crate::support::{server_limited, Proc, RawServer};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

/// The mask our raw client puts on its frames (non-zero, so unmasking is exercised).
const MASK: [u8; 4] = [0x5c, 0x13, 0xa7, 0x01];
/// Size of the pseudo-random block payloads are cut from.
const BLOCK: usize = 1 << 20;
/// What a relay may hold for one connection at its peak (VmHWM, the whole process).
const RSS_BOUND: u64 = 64 << 20;

/// Payload bytes cut from one pseudo-random block, and the same block masked with [`MASK`]:
/// a piece starting at a multiple of 4 in the block is sent masked without any work per byte
/// (the test is not built optimised).
struct Payload {
    plain: Vec<u8>,
    masked: Vec<u8>,
    /// Which piece comes next (decides where in the block it starts).
    next: usize,
}

impl Payload {
    fn new(seed: u64) -> Payload {
        let mut state = seed;
        let plain: Vec<u8> = (0..BLOCK)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let masked = plain
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ MASK[i % 4])
            .collect();
        Payload {
            plain,
            masked,
            next: 0,
        }
    }

    /// The next piece of `len` bytes (at most half the block): its plain bytes and its bytes
    /// masked as the start of a frame, or as frame payload at an offset that is a multiple of 4.
    fn piece(&mut self, len: usize) -> (&[u8], &[u8]) {
        assert!(len <= BLOCK / 2);
        let start = (self.next * 4 * 1009) % (BLOCK / 2);
        self.next += 1;
        (
            &self.plain[start..start + len],
            &self.masked[start..start + len],
        )
    }
}

/// A frame header from a client (masked with [`MASK`]).
fn client_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut h = vec![if fin { 0x80 } else { 0 } | opcode];
    if len < 126 {
        h.push(0x80 | len as u8);
    } else if len <= 0xffff {
        h.push(0x80 | 126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(0x80 | 127);
        h.extend_from_slice(&len.to_be_bytes());
    }
    h.extend_from_slice(&MASK);
    h
}

/// Sends one binary message of `total` bytes (a multiple of 64 KiB) as one frame; returns
/// the SHA-256 of its payload.
fn send_one_frame(s: &mut TcpStream, total: u64, seed: u64) -> Vec<u8> {
    let mut payload = Payload::new(seed);
    let mut hash = Sha256::new();
    s.write_all(&client_header(true, OP_BINARY, total))
        .expect("sending the header");
    let piece = 64 << 10;
    let mut sent = 0u64;
    while sent < total {
        let (plain, wire) = payload.piece(piece);
        hash.update(plain);
        s.write_all(wire).expect("sending the payload");
        sent += piece as u64;
    }
    hash.finalize().to_vec()
}

/// Sends one binary message of `total` bytes as fragments of varying sizes (odd ones too,
/// up to 300 KiB), with a ping between fragments now and then; returns its SHA-256.
fn send_fragments(s: &mut TcpStream, total: u64, seed: u64) -> Vec<u8> {
    let mut payload = Payload::new(seed);
    let mut hash = Sha256::new();
    let mut sent = 0u64;
    let mut n = 0usize;
    while sent < total {
        let size = ((n * 7919) % (300 << 10) + 1).min((total - sent) as usize);
        let opcode = if n == 0 { OP_BINARY } else { OP_CONT };
        let fin = sent + size as u64 == total;
        let (plain, wire) = payload.piece(size);
        hash.update(plain);
        s.write_all(&client_header(fin, opcode, size as u64))
            .expect("sending a header");
        s.write_all(wire).expect("sending a fragment");
        if n.is_multiple_of(500) {
            s.write_all(&client_header(true, 0x9, 0))
                .expect("sending a ping");
        }
        sent += size as u64;
        n += 1;
    }
    hash.finalize().to_vec()
}

/// A TCP sink on 127.0.0.1 that accepts one connection and reads it to the end, hashing
/// (pausing now and then when `slow`); gives the byte count and SHA-256.
fn tcp_sink(slow: bool) -> (u16, JoinHandle<(u64, Vec<u8>)>) {
    let sink = TcpListener::bind("127.0.0.1:0").expect("binding the sink");
    let port = sink.local_addr().expect("sink address").port();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = sink.accept().expect("accepting the relay");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("read timeout");
        let mut hash = Sha256::new();
        let mut got = 0u64;
        let mut since_pause = 0usize;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = s.read(&mut buf).expect("reading from the relay");
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            got += n as u64;
            since_pause += n;
            // A slow reader: the relays must hold back instead of buffering.
            if slow && since_pause >= 4 << 20 {
                since_pause = 0;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        (got, hash.finalize().to_vec())
    });
    (port, reader)
}

/// Ends the raw client's session with a Close and waits for the relay's answer.
fn close_and_wait(mut s: TcpStream) {
    s.write_all(&client_header(true, OP_CLOSE, 0))
        .expect("sending our Close");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(
        rest.windows(2).any(|w| w == [0x88, 0x00]),
        "no Close came back: {:?}",
        &rest[rest.len().saturating_sub(32)..]
    );
}

/// The relay's peak memory, asserted under [`RSS_BOUND`] and printed.
fn assert_peak_under_bound(relay: &Proc, what: &str) {
    let peak = crate::support::peak_resident_bytes(relay.pid());
    eprintln!("{what}: peak RSS (VmHWM) {} KiB", peak >> 10);
    assert!(
        peak < RSS_BOUND,
        "{what}: peak RSS {} MiB, bound {} MiB",
        peak >> 20,
        RSS_BOUND >> 20
    );
}

#[test]
fn one_gib_message_through_a_ws_to_tcp_relay_in_bounded_memory_as_one_frame_or_in_fragments() {
    const GIB: u64 = 1 << 30;
    let limit = Duration::from_secs(600);
    // The fragmented message is smaller only to keep the test short (the binary under test
    // is not optimised): its memory does not depend on its size either.
    for (how, fragmented, size) in [("one frame", false, GIB), ("fragments", true, GIB / 4)] {
        let (sink_port, reader) = tcp_sink(false);
        let sink = format!("tcp:127.0.0.1:{sink_port}");
        let (relay, port) = server_limited(&["-b", "ws-l:127.0.0.1:0", sink.as_str()], limit);
        let mut s = ws::raw_client(port);
        let sent = if fragmented {
            send_fragments(&mut s, size, 7)
        } else {
            send_one_frame(&mut s, size, 3)
        };
        close_and_wait(s);
        let (got, got_hash) = reader.join().expect("sink");
        assert_eq!(got, size, "{how}");
        assert_eq!(got_hash, sent, "{how}: the bytes changed on the way");
        let what = format!("{} MiB message as {how}, ws-l: to tcp:", size >> 20);
        assert_peak_under_bound(&relay, &what);
    }
}

#[test]
fn big_message_through_ws_to_ws_to_tcp_relays_to_a_slow_reader_arrives_intact() {
    const TOTAL: u64 = 256 << 20;
    let limit = Duration::from_secs(300);
    let (sink_port, reader) = tcp_sink(true);
    let sink = format!("tcp:127.0.0.1:{sink_port}");
    let (last, last_port) = server_limited(&["-b", "ws-l:127.0.0.1:0", sink.as_str()], limit);
    let url = format!("ws://127.0.0.1:{last_port}/");
    let (middle, port) = server_limited(&["-b", "ws-l:127.0.0.1:0", url.as_str()], limit);
    let mut s = ws::raw_client(port);
    // One message, 16 times the default message limit: only streaming lets it through.
    let sent = send_fragments(&mut s, TOTAL, 11);
    close_and_wait(s);
    let (got, got_hash) = reader.join().expect("sink");
    assert_eq!(got, TOTAL);
    assert_eq!(got_hash, sent, "the bytes changed on the way");
    assert_peak_under_bound(&middle, "256 MiB message, ws-l: to ws://");
    assert_peak_under_bound(&last, "256 MiB message, ws-l: to tcp: (slow reader)");
}

/// Text inside a line as websocat's line mode writes it: `\n` and `\r` become spaces.
fn spaced(text: &[u8]) -> Vec<u8> {
    text.iter()
        .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
        .collect()
}

#[test]
fn big_text_message_streamed_to_a_line_sink_is_one_line_and_bad_utf8_inside_gets_1007() {
    let limit = Duration::from_secs(120);
    // 40 MiB of text (over the 16 MiB limit for reassembled messages) with newlines and
    // carriage returns inside, ending with "\r\n" split between the last two fragments.
    let unit = "κόσμε line\r\nmore\ttext ½ 𝄞\n".repeat(1000);
    let mut expected = Sha256::new();
    {
        let (sink_port, reader) = tcp_sink(false);
        let sink = format!("tcp:127.0.0.1:{sink_port}");
        let (relay, port) = server_limited(&["ws-l:127.0.0.1:0", sink.as_str()], limit);
        let (mut ws, _) = ws_connect(port, "/", &[]);
        let fragments = (40 << 20) / unit.len();
        let mut whole_len = 0usize;
        for i in 0..fragments {
            let opcode = if i == 0 { OP_TEXT } else { OP_CONT };
            ws.send_frame(false, opcode, unit.as_bytes());
            expected.update(spaced(unit.as_bytes()));
            whole_len += unit.len();
        }
        // The message's final "\r\n" is its one line end, written as "\n".
        ws.send_frame(false, OP_CONT, b"last words\r");
        ws.send_frame(true, OP_CONT, b"\n");
        expected.update(b"last words\n");
        whole_len += b"last words\n".len();
        ws.send_close(None);
        assert_eq!(ws.recv().opcode, OP_CLOSE);
        let (got, got_hash) = reader.join().expect("sink");
        assert!(whole_len > 16 << 20);
        assert_eq!(
            got as usize, whole_len,
            "one byte out for each byte in, less the \\r"
        );
        assert_eq!(
            got_hash,
            expected.finalize().to_vec(),
            "the line differs from what the whole message gives"
        );
        assert_peak_under_bound(&relay, "40 MiB text message, ws-l: to tcp: lines");
    }
    // Invalid UTF-8 in the middle: the valid fragment before it is written, then the client
    // gets the Close 1007 and the sink an end of stream without a line end.
    let (sink_port, reader) = tcp_sink(false);
    let sink = format!("tcp:127.0.0.1:{sink_port}");
    let (_relay, port) = server_limited(&["ws-l:127.0.0.1:0", sink.as_str()], limit);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    let prefix = "valid κόσμε text ".repeat(20_000);
    ws.send_frame(false, OP_TEXT, prefix.as_bytes());
    ws.send_frame(true, OP_CONT, b"ab\xffcd");
    let close = ws.recv();
    assert_eq!(close.opcode, OP_CLOSE);
    assert_eq!(
        close.payload,
        [
            &1007u16.to_be_bytes()[..],
            b"text message is not valid UTF-8"
        ]
        .concat()
    );
    ws.send_close_if_open(Some((1007, "")));
    let (got, got_hash) = reader.join().expect("sink");
    assert_eq!(got as usize, prefix.len());
    assert_eq!(got_hash, Sha256::digest(prefix.as_bytes()).to_vec());
}

#[test]
fn text_message_over_the_limit_passes_ws_to_ws_as_text_fragments() {
    let srv = RawServer::bind();
    let url = srv.url("/");
    let (relay, port) =
        server_limited(&["ws-l:127.0.0.1:0", url.as_str()], Duration::from_secs(60));
    let (mut client, _) = ws_connect(port, "/", &[]);
    let (mut far, _) = srv.accept_ws(&[]);
    // 20 MiB of text, over the 16 MiB limit for messages held whole, sent as fragments cut
    // inside characters.
    let text = "κόσμε ½ 𝄞 ".repeat((20 << 20) / 18);
    let sent = Sha256::digest(text.as_bytes()).to_vec();
    let sender = std::thread::spawn(move || {
        let bytes = text.as_bytes();
        let fragments: Vec<&[u8]> = bytes.chunks(100_003).collect();
        for (i, f) in fragments.iter().enumerate() {
            let opcode = if i == 0 { OP_TEXT } else { OP_CONT };
            client.send_frame(i + 1 == fragments.len(), opcode, f);
        }
        (client, bytes.len())
    });
    let mut hash = Sha256::new();
    let mut frames = 0usize;
    let mut got = 0usize;
    loop {
        let f = far.recv();
        let expected_opcode = if frames == 0 { OP_TEXT } else { OP_CONT };
        assert_eq!(f.opcode, expected_opcode, "frame {frames}");
        hash.update(&f.payload);
        got += f.payload.len();
        frames += 1;
        if f.fin {
            break;
        }
    }
    let (mut client, len) = sender.join().expect("sender");
    assert_eq!(got, len);
    assert_eq!(
        hash.finalize().to_vec(),
        sent,
        "the text changed on the way"
    );
    assert!(frames > 1, "passed on as {frames} frame(s)");
    client.send_close(None);
    assert_eq!(far.recv().opcode, OP_CLOSE);
    far.send_close(None);
    assert_eq!(client.recv().opcode, OP_CLOSE);
    assert_peak_under_bound(&relay, "20 MiB text message, ws-l: to ws://");
}
