//! permessage-deflate (RFC 7692) end to end, against the raw peer of `support::ws` and an
//! independent DEFLATE implementation on the test side (flate2 with its default settings):
//! the negotiated `Sec-WebSocket-Extensions`, RSV1 on compressed messages, context takeover
//! and its absence, fragmented compressed messages, and a decompression bomb refused with 1009
//! in bounded memory.

use crate::support::ws::{ws_connect, WsConn, OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT};
use crate::support::{exchange, server, Proc, RawServer};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

const RSV1: u8 = 0x40;
const OFFER: (&str, &str) = (
    "Sec-WebSocket-Extensions",
    "permessage-deflate; client_max_window_bits",
);

/// The test side's half of a compressed connection.
struct Peer {
    deflate: Compress,
    inflate: Decompress,
}

impl Peer {
    fn new() -> Peer {
        Peer {
            deflate: Compress::new(Compression::default(), false),
            inflate: Decompress::new(false),
        }
    }

    /// A message compressed as RFC 7692 says: sync flush, without the 00 00 ff ff tail.
    fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 64);
        let start = self.deflate.total_in();
        loop {
            out.reserve(4096);
            let done = (self.deflate.total_in() - start) as usize;
            self.deflate
                .compress_vec(&data[done..], &mut out, FlushCompress::Sync)
                .expect("test-side deflate");
            if self.deflate.total_in() - start == data.len() as u64 && out.len() < out.capacity() {
                break;
            }
        }
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        out
    }

    /// Inflates one compressed message's payload.
    fn inflate(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut input = payload.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(input.len() * 4 + 1024);
        let start = self.inflate.total_in();
        loop {
            let done = (self.inflate.total_in() - start) as usize;
            self.inflate
                .decompress_vec(&input[done..], &mut out, FlushDecompress::Sync)
                .expect("websocat sent valid DEFLATE data");
            if self.inflate.total_in() - start == input.len() as u64 && out.len() < out.capacity() {
                return out;
            }
            out.reserve(out.capacity());
        }
    }
}

/// Receives one whole compressed message (RSV1 on its first frame only) and its opcode.
fn recv_compressed(ws: &mut WsConn) -> (u8, Vec<u8>) {
    let (rsv, first) = ws.recv_with_rsv();
    assert_eq!(rsv, RSV1, "a compressed message: {first:?}");
    let mut payload = first.payload;
    let mut fin = first.fin;
    while !fin {
        let (rsv, next) = ws.recv_with_rsv();
        assert_eq!((rsv, next.opcode), (0, OP_CONT), "{next:?}");
        payload.extend_from_slice(&next.payload);
        fin = next.fin;
    }
    (first.opcode, payload)
}

fn compressible_text(len: usize) -> String {
    let words = [
        "websocat ",
        "relays ",
        "messages ",
        "compressed ",
        "or not, ",
    ];
    let mut text = String::new();
    let mut i = 0usize;
    while text.len() < len {
        text.push_str(words[i % words.len()]);
        i = i.wrapping_mul(31).wrapping_add(7) % 1009;
    }
    text.truncate(len);
    text
}

/// Text that compresses little by itself (pseudo-random numbers) but a lot when repeated.
fn varied_text(len: usize) -> String {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut text = String::new();
    while text.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        text.push_str(&format!("{} ", state % 1_000_000));
    }
    text.truncate(len);
    text
}

#[test]
fn server_accepts_the_offer_and_echoes_compressed_messages_with_context() {
    let (_p, port) = server(&["--permessage-deflate", "ws-l:127.0.0.1:0", "mirror:"]);
    let (mut ws, head) = ws_connect(port, "/", &[OFFER]);
    assert_eq!(
        head.headers_named("sec-websocket-extensions"),
        ["permessage-deflate"],
        "{head:?}"
    );
    let mut peer = Peer::new();
    let text = varied_text(20_000);
    let mut first_len = 0;
    for round in 0..3 {
        let wire = peer.compress(text.as_bytes());
        ws.send_frame_byte0(0x80 | RSV1 | OP_TEXT, &wire);
        let (opcode, payload) = recv_compressed(&mut ws);
        assert_eq!(opcode, OP_TEXT);
        if round == 0 {
            first_len = payload.len();
            assert!(first_len < text.len(), "{first_len} bytes");
        } else {
            // The same message again: with the context kept it is mostly back-references.
            assert!(
                payload.len() < first_len / 4,
                "round {round}: {} bytes, first {first_len}",
                payload.len()
            );
        }
        assert_eq!(peer.inflate(&payload), text.as_bytes(), "round {round}");
    }
    // A fragmented compressed binary message: RSV1 on the first frame only.
    let binary: Vec<u8> = (0..50_000u32).map(|i| (i % 7) as u8).collect();
    let wire = peer.compress(&binary);
    let third = wire.len() / 3;
    ws.send_frame_byte0(RSV1 | OP_BINARY, &wire[..third]);
    ws.send_frame(false, OP_CONT, &wire[third..2 * third]);
    ws.send_frame(true, OP_CONT, &wire[2 * third..]);
    let (opcode, payload) = recv_compressed(&mut ws);
    assert_eq!(opcode, OP_BINARY);
    assert_eq!(peer.inflate(&payload), binary);
    // An uncompressed message is allowed too; it comes back compressed.
    ws.send_text("plain");
    let (_, payload) = recv_compressed(&mut ws);
    assert_eq!(peer.inflate(&payload), b"plain");
    ws.send_close(Some((1000, "")));
    let (rsv, close) = ws.recv_with_rsv();
    assert_eq!(
        (rsv, close.opcode),
        (0, OP_CLOSE),
        "control frames are never compressed"
    );
}

#[test]
fn without_the_option_the_server_ignores_offers_and_rsv1_stays_an_error() {
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let (mut ws, head) = ws_connect(port, "/", &[OFFER]);
    assert!(
        head.header("sec-websocket-extensions").is_none(),
        "{head:?}"
    );
    ws.send_text("plain");
    assert_eq!(ws.recv().text(), "plain");
    ws.send_frame_byte0(0x80 | RSV1 | OP_TEXT, &Peer::new().compress(b"x"));
    let close = ws.recv();
    assert_eq!(close.opcode, OP_CLOSE);
    assert_eq!(close.close_code().map(|c| c.0), Some(1002));
}

#[test]
fn server_limits_windows_and_context_as_configured() {
    let (_p, port) = server(&[
        "--permessage-deflate-window-bits",
        "9",
        "--permessage-deflate-no-context-takeover",
        "ws-l:127.0.0.1:0",
        "mirror:",
    ]);
    let (mut ws, head) = ws_connect(
        port,
        "/",
        &[(
            "Sec-WebSocket-Extensions",
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits",
        )],
    );
    assert_eq!(
        head.header("sec-websocket-extensions"),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=9; client_max_window_bits=9"
        ),
        "{head:?}"
    );
    let text = compressible_text(5000);
    let mut echoes = Vec::new();
    for _ in 0..2 {
        // Each message compressed on its own, as negotiated.
        let wire = Peer::new().compress(text.as_bytes());
        ws.send_frame_byte0(0x80 | RSV1 | OP_TEXT, &wire);
        let (_, payload) = recv_compressed(&mut ws);
        // A fresh inflater with a 512-byte window decodes each echo by itself.
        let mut fresh = Decompress::new_with_window_bits(false, 9);
        let mut input = payload.clone();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(text.len() + 1);
        fresh
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .expect("decodable with a 9-bit window");
        assert_eq!(out, text.as_bytes());
        echoes.push(payload);
    }
    assert_eq!(echoes[0], echoes[1], "no context is carried over");
    ws.send_close(None);
}

/// A message of 1 GiB of zeros compressed into about a megabyte: one compressed MiB, then the
/// same sync-flushed block for every further MiB (it only refers back to zeros).
fn bomb() -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let zeros = vec![0u8; 1 << 20];
    let block = |c: &mut Compress| {
        let mut out = Vec::with_capacity(64 * 1024);
        c.compress_vec(&zeros, &mut out, FlushCompress::Sync)
            .expect("compressing zeros");
        assert_eq!(c.total_in() % (1 << 20), 0, "all of it taken");
        out
    };
    let mut wire = block(&mut c);
    let repeat = block(&mut c);
    for _ in 1..1024 {
        wire.extend_from_slice(&repeat);
    }
    wire
}

#[test]
fn a_decompression_bomb_is_refused_with_1009_in_bounded_memory() {
    let (p, port) = server(&[
        "--permessage-deflate",
        "--max-ws-message-length",
        "1000000",
        "ws-l:127.0.0.1:0",
        "mirror:",
    ]);
    let (mut ws, _) = ws_connect(port, "/", &[OFFER]);
    let wire = bomb();
    assert!(wire.len() < 4 << 20, "{} bytes", wire.len());
    ws.send_frame_byte0(0x80 | RSV1 | OP_BINARY, &wire);
    let close = ws.recv();
    assert_eq!(close.opcode, OP_CLOSE);
    let (code, reason) = close.close_code().expect("a status code");
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("1000000"), "{reason}");
    // Inflating it would take a GiB; the server never held more than its usual few MiB plus
    // the message limit.
    let peak = crate::support::peak_resident_bytes(p.pid()) / 1024;
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
    ws.send_close_if_open(Some((1009, "")));
}

#[test]
fn a_compressed_text_message_must_inflate_to_utf8() {
    let (_p, port) = server(&["--permessage-deflate", "ws-l:127.0.0.1:0", "mirror:"]);
    let (mut ws, _) = ws_connect(port, "/", &[OFFER]);
    ws.send_frame_byte0(0x80 | RSV1 | OP_TEXT, &Peer::new().compress(b"ok \xff"));
    let close = ws.recv();
    assert_eq!(close.close_code().map(|c| c.0), Some(1007));
}

#[test]
fn rsv1_on_a_continuation_or_control_frame_is_a_protocol_error() {
    for (first, second) in [
        ((RSV1 | OP_TEXT, true), (0x80 | RSV1 | OP_CONT, false)),
        ((0x80 | RSV1 | 0x9, false), (0, false)),
    ] {
        let (_p, port) = server(&["--permessage-deflate", "ws-l:127.0.0.1:0", "mirror:"]);
        let (mut ws, _) = ws_connect(port, "/", &[OFFER]);
        let mut peer = Peer::new();
        let wire = peer.compress(b"hello");
        ws.send_frame_byte0(first.0, if first.1 { &wire } else { b"" });
        if second.0 != 0 {
            ws.send_frame_byte0(second.0, b"");
        }
        let close = ws.recv();
        assert_eq!(close.opcode, OP_CLOSE);
        assert_eq!(close.close_code().map(|c| c.0), Some(1002), "{close:?}");
    }
}

#[test]
fn client_offers_and_uses_what_the_server_answers() {
    let srv = RawServer::bind();
    let mut client = Proc::spawn(&[
        "-v",
        "--permessage-deflate-window-bits",
        "10",
        srv.url("/").as_str(),
    ]);
    let (mut ws, req) = srv.accept_ws(&[(
        "Sec-WebSocket-Extensions",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
         client_max_window_bits=9",
    )]);
    assert_eq!(
        req.header("sec-websocket-extensions"),
        Some("permessage-deflate; server_max_window_bits=10; client_max_window_bits=10")
    );
    client.wait_stderr("permessage-deflate; server_no_context_takeover");
    let line = compressible_text(3000);
    client.write_stdin(format!("{line}\n").as_bytes());
    let (opcode, payload) = recv_compressed(&mut ws);
    assert_eq!(opcode, OP_TEXT);
    assert!(payload.len() < line.len() / 2, "{} bytes", payload.len());
    let mut inflate = Decompress::new_with_window_bits(false, 9);
    let mut input = payload;
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(line.len() + 2);
    inflate
        .decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .expect("the client used at most the 9-bit window it was given");
    assert_eq!(out, format!("{line}\n").as_bytes());
    // The server compresses (each message on its own, as it announced).
    for _ in 0..2 {
        let wire = Peer::new().compress(b"from the server\n");
        ws.send_frame_byte0(0x80 | RSV1 | OP_TEXT, &wire);
    }
    client.wait_stdout("both messages", |o| {
        o == b"from the server\nfrom the server\n"
    });
    client.close_stdin();
    assert_eq!(ws.recv().opcode, OP_CLOSE);
    ws.send_close(None);
    assert_eq!(client.wait().code(), 0);
}

#[test]
fn client_fails_on_an_answer_it_did_not_offer() {
    for answer in [
        "permessage-deflate; server_max_window_bits=15",
        "permessage-deflate; mystery",
        "x-webkit-deflate-frame",
    ] {
        let srv = RawServer::bind();
        let client = Proc::spawn(&[
            "--permessage-deflate-window-bits",
            "12",
            srv.url("/").as_str(),
        ]);
        let _conn = srv.accept_ws(&[("Sec-WebSocket-Extensions", answer)]);
        let out = client.wait();
        assert_eq!(out.code(), 1, "{answer}: {}", out.stderr);
        assert!(
            out.stderr.contains("permessage-deflate") || out.stderr.contains("x-webkit"),
            "{answer}: {}",
            out.stderr
        );
    }
}

#[test]
fn lowlevel_ends_with_the_same_settings_exchange_compressed_messages() {
    let (_p, port) = server(&[
        "--permessage-deflate-no-context-takeover",
        "ws-ll-s:tcp-l:127.0.0.1:0",
        "mirror:",
    ]);
    let line = compressible_text(10_000);
    let input = format!("{line}\nsecond\n");
    let o = exchange(
        &[
            "--permessage-deflate-no-context-takeover",
            "-",
            &format!("ws-ll-c:tcp:127.0.0.1:{port}"),
        ],
        input.as_bytes(),
        input.len(),
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert_eq!(o.stdout, input.as_bytes());
}
