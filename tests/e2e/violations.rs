//! Failing a WebSocket connection (RFC 6455 section 7.1.7) and closing promptly: for every
//! protocol violation the peer gets the exact Close that names it (1002, 1007, 1009; masked
//! from a client), after everything it sent before the violation was delivered; a peer's Close
//! is answered at once when nothing is left to send.

use crate::support::ws::{
    ws_connect, Frame, WsConn, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT,
};
use crate::support::{server, Proc, RawServer};
use std::time::{Duration, Instant};

/// The Close frame websocat sends for `code` and `reason`, as the raw peer decodes it.
fn close_frame(code: u16, reason: &str, masked: bool) -> Frame {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    Frame {
        fin: true,
        opcode: OP_CLOSE,
        masked,
        payload,
    }
}

/// Against `websocat ws-l:... mirror:` (plus `extra` options): sends a text message, then
/// does `violate`; asserts that the message is echoed, then exactly the Close for `code` and
/// `reason` arrives, and that the server closes the TCP connection after our Close. The server
/// keeps serving new connections.
fn server_fails_with(extra: &[&str], violate: impl FnOnce(&mut WsConn), code: u16, reason: &str) {
    let mut args = extra.to_vec();
    args.extend(["ws-l:127.0.0.1:0", "mirror:"]);
    let (_p, port) = server(&args);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_text("before");
    violate(&mut ws);
    let echo = ws.recv();
    assert_eq!(
        (echo.opcode, echo.fin, echo.text()),
        (OP_TEXT, true, "before".to_string()),
        "the message before the violation must be echoed first"
    );
    let close = ws.recv();
    assert_eq!(close, close_frame(code, reason, false));
    ws.send_close_if_open(Some((code, "")));
    ws.expect_eof();
    // Other connections are not affected.
    let (mut again, _) = ws_connect(port, "/", &[]);
    again.send_text("still there");
    assert_eq!(again.recv().text(), "still there");
    again.send_close(None);
    if !extra.contains(&"-n") {
        assert_eq!(again.recv().opcode, OP_CLOSE);
    }
}

#[test]
fn reserved_bits_without_extension_get_1002() {
    for rsv in [0x40u8, 0x20, 0x10, 0x70] {
        server_fails_with(
            &[],
            |ws| ws.send_frame_byte0(0x80 | rsv | OP_TEXT, b"rsv"),
            1002,
            "reserved bits set (no extension was negotiated)",
        );
    }
}

#[test]
fn violations_are_answered_with_a_close_even_with_no_close() {
    // `-n` only means no Close on EOF; failing a connection still needs one.
    server_fails_with(&["-n"], |ws| ws.send(0x3, b""), 1002, "reserved opcode 0x3");
}

#[test]
fn reserved_opcodes_get_1002() {
    for (op, name) in [(3u8, "0x3"), (7, "0x7"), (0xb, "0xb"), (0xf, "0xf")] {
        server_fails_with(
            &[],
            |ws| ws.send(op, b""),
            1002,
            &format!("reserved opcode {name}"),
        );
    }
}

#[test]
fn fragmented_or_long_control_frames_get_1002() {
    server_fails_with(
        &[],
        |ws| ws.send_frame(false, OP_PING, b"frag"),
        1002,
        "fragmented control frame",
    );
    server_fails_with(
        &[],
        |ws| ws.send(OP_PING, &[b'p'; 126]),
        1002,
        "control frame longer than 125 bytes",
    );
}

#[test]
fn orphan_continuation_gets_1002() {
    server_fails_with(
        &[],
        |ws| ws.send_frame(true, OP_CONT, b"orphan"),
        1002,
        "continuation frame without a message to continue",
    );
}

#[test]
fn interleaved_data_frames_get_1002() {
    server_fails_with(
        &[],
        |ws| {
            ws.send_frame(false, OP_TEXT, b"first half");
            ws.send_binary(b"another message");
        },
        1002,
        "new message started before the fragmented one ended",
    );
}

#[test]
fn bad_close_frames_get_1002_or_1007() {
    server_fails_with(
        &[],
        |ws| ws.send(OP_CLOSE, &[0x03]),
        1002,
        "Close frame with a 1-byte payload",
    );
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000,
    ] {
        server_fails_with(
            &[],
            |ws| ws.send(OP_CLOSE, &code.to_be_bytes()),
            1002,
            &format!("invalid Close status code {code}"),
        );
    }
    server_fails_with(
        &[],
        |ws| ws.send(OP_CLOSE, &[0x03, 0xe8, b'o', 0xff, b'k']),
        1007,
        "Close reason is not valid UTF-8",
    );
}

#[test]
fn valid_close_codes_are_echoed() {
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    for code in [1000u16, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
        let (mut ws, _) = ws_connect(port, "/", &[]);
        ws.send_close(Some((code, "ok")));
        assert_eq!(ws.recv(), close_frame(code, "", false), "code {code}");
        ws.expect_eof();
    }
}

#[test]
fn invalid_utf8_text_gets_1007() {
    server_fails_with(
        &[],
        |ws| ws.send(OP_TEXT, b"bad \xff text"),
        1007,
        "text message is not valid UTF-8",
    );
    // Cut inside a character at the end of the message.
    server_fails_with(
        &[],
        |ws| {
            ws.send_frame(false, OP_TEXT, "κ".as_bytes());
            ws.send_frame(true, OP_CONT, &"κ".as_bytes()[..1]);
        },
        1007,
        "text message is not valid UTF-8",
    );
}

#[test]
fn invalid_utf8_fails_fast_before_the_message_ends() {
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    // In a fragment: the message never ends, the Close must come anyway.
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_frame(false, OP_TEXT, "κόσμε".as_bytes());
    ws.send_frame(false, OP_CONT, b"\xf4\x90\x80\x80");
    assert_eq!(
        ws.recv(),
        close_frame(1007, "text message is not valid UTF-8", false)
    );
    ws.send_close_if_open(None);
    ws.expect_eof();
    // Inside one frame whose end never comes.
    let (mut ws, _) = ws_connect(port, "/", &[]);
    let mut frame = ws.start_frame(OP_TEXT, 40);
    frame.send("κόσμε".as_bytes());
    frame.send(b"\xf4\x90");
    assert_eq!(
        ws.recv(),
        close_frame(1007, "text message is not valid UTF-8", false)
    );
    ws.send_close_if_open(None);
    ws.expect_eof();
}

#[test]
fn too_big_frame_or_message_gets_1009() {
    server_fails_with(
        &["--max-ws-frame-length", "100"],
        |ws| ws.send_binary(&[7; 101]),
        1009,
        "frame of 101 bytes is over the limit of 100 (--max-ws-frame-length)",
    );
    server_fails_with(
        &["--max-ws-message-length", "100"],
        |ws| {
            ws.send_frame(false, OP_BINARY, &[7; 60]);
            ws.send_frame(true, OP_CONT, &[7; 60]);
        },
        1009,
        "message of at least 120 bytes is over the limit of 100 (--max-ws-message-length)",
    );
}

/// Against `websocat URL mirror:` as a client: the raw server sends a text message, then
/// does `violate`; asserts the echo, then exactly the masked Close for `code` and `reason`;
/// after our Close the client exits with an error saying the peer broke the protocol.
fn client_fails_with(violate: impl FnOnce(&mut WsConn), code: u16, reason: &str) {
    let srv = RawServer::bind();
    let p = Proc::spawn(&[&srv.url("/"), "mirror:"]);
    let (mut ws, _) = srv.accept_ws(&[]);
    ws.send_text("before");
    violate(&mut ws);
    let echo = ws.recv();
    assert_eq!(
        (echo.opcode, echo.masked, echo.text()),
        (OP_TEXT, true, "before".to_string()),
        "the message before the violation must be echoed first"
    );
    assert_eq!(ws.recv(), close_frame(code, reason, true));
    ws.send_close_if_open(Some((code, "")));
    let out = p.wait();
    assert!(!out.status.success(), "{out:?}");
    // (miette wraps the message, so only its start is matched.)
    assert!(
        out.stderr.contains("reading: WebSocket protocol error"),
        "{}",
        out.stderr
    );
}

#[test]
fn client_fails_violations_with_masked_close() {
    client_fails_with(
        |ws| ws.send_frame_byte0(0x80 | 0x40 | OP_BINARY, b"rsv"),
        1002,
        "reserved bits set (no extension was negotiated)",
    );
    client_fails_with(
        |ws| ws.send(OP_CLOSE, &1005u16.to_be_bytes()),
        1002,
        "invalid Close status code 1005",
    );
    client_fails_with(
        |ws| ws.send(OP_TEXT, b"\xc0\xaf"),
        1007,
        "text message is not valid UTF-8",
    );
}

#[test]
fn client_answers_the_servers_close_at_once_when_it_has_nothing_to_send() {
    let srv = RawServer::bind();
    // stdin stays open and silent: nothing is queued for the server.
    let p = Proc::spawn(&[&srv.url("/")]);
    let (mut ws, _) = srv.accept_ws(&[]);
    ws.send_text("hello");
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    ws.send_close(Some((1000, "")));
    let close = ws.recv();
    let took = started.elapsed();
    assert_eq!(close, close_frame(1000, "", true));
    assert!(
        took < Duration::from_millis(700),
        "the Close was answered after {took:?}"
    );
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"hello\n");
}

#[test]
fn server_answers_the_clients_close_at_once_when_its_backend_is_silent() {
    // A TCP backend that accepts and never sends: nothing is queued for the client.
    let backend = RawServer::bind();
    let target = format!("tcp:127.0.0.1:{}", backend.port());
    let (_p, port) = server(&["ws-l:127.0.0.1:0", &target]);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    let _b = backend.accept_tcp();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    ws.send_close(Some((1000, "")));
    let close = ws.recv();
    let took = started.elapsed();
    assert_eq!(close, close_frame(1000, "", false));
    assert!(
        took < Duration::from_millis(700),
        "the Close was answered after {took:?}"
    );
    ws.expect_eof();
}
