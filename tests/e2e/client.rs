//! websocat as a WebSocket client against the raw server of `support::ws`.

use crate::support::ws::{OP_BINARY, OP_PING, OP_PONG, OP_TEXT};
use crate::support::{Proc, RawServer, QUIET};

/// (opcode, fin, payload) of each frame, for compact comparisons.
fn frames(fs: &[crate::support::Frame]) -> Vec<(u8, bool, Vec<u8>)> {
    fs.iter()
        .map(|f| (f.opcode, f.fin, f.payload.clone()))
        .collect()
}

#[test]
fn text_mode_sends_each_line_as_a_text_frame() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&[&srv.url("/")]);
    p.write_stdin(b"hello\nworld\n");
    p.close_stdin();
    let (mut ws, _) = srv.accept_ws(&[]);
    let (data, close) = ws.recv_until_close();
    assert_eq!(
        frames(&data),
        vec![
            (OP_TEXT, true, b"hello\n".to_vec()),
            (OP_TEXT, true, b"world\n".to_vec())
        ]
    );
    assert!(close.masked);
    ws.send_close(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"");
}

#[test]
fn stdin_eof_sends_a_close_with_empty_payload() {
    // websocat 1.x: without --close-status-code the Close frame carries no status code.
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&[&srv.url("/")]);
    p.close_stdin();
    let (mut ws, _) = srv.accept_ws(&[]);
    let (data, close) = ws.recv_until_close();
    assert!(data.is_empty(), "{data:?}");
    assert_eq!(close.payload, b"", "Close must be empty: {close:?}");
    ws.send_close(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn close_is_a_half_close_client_keeps_reading_until_servers_close() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&[&srv.url("/")]);
    p.write_stdin(b"question\n");
    p.close_stdin();
    let (mut ws, _) = srv.accept_ws(&[]);
    let (data, _close) = ws.recv_until_close();
    assert_eq!(frames(&data), vec![(OP_TEXT, true, b"question\n".to_vec())]);
    // The client closed its sending side; what we still send must reach its stdout.
    ws.send_text("late answer");
    std::thread::sleep(QUIET);
    assert!(p.is_running(), "client exited before the server's Close");
    ws.send_close(Some((1000, "")));
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"late answer\n");
}

#[test]
fn incoming_messages_are_printed_as_lines() {
    let srv = RawServer::bind();
    let p = Proc::spawn(&[&srv.url("/")]);
    let (mut ws, _) = srv.accept_ws(&[]);
    ws.send_text("a\nb");
    ws.send_text("c\r\n");
    ws.send_binary(b"bin");
    ws.send_close(Some((1000, "bye")));
    let reply = ws.recv();
    assert_eq!(reply.opcode, 0x8, "expected the Close reply, got {reply:?}");
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout_text(), "a b\nc\nbin\n");
}

#[test]
fn binary_mode_sends_binary_frames_and_prints_raw_bytes() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&["-b", &srv.url("/")]);
    p.write_stdin(b"l1\nl2\n");
    p.close_stdin();
    let (mut ws, _) = srv.accept_ws(&[]);
    ws.send_binary(&[0, 1, 2, 255, b'\n']);
    ws.send_text("t");
    let (data, close) = ws.recv_until_close();
    assert!(!data.is_empty());
    assert!(
        data.iter().all(|f| f.opcode == OP_BINARY && f.fin),
        "{data:?}"
    );
    let sent: Vec<u8> = data.iter().flat_map(|f| f.payload.clone()).collect();
    assert_eq!(sent, b"l1\nl2\n");
    assert_eq!(close.payload, b"");
    ws.send_close(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    // No separators in binary mode.
    assert_eq!(out.stdout, [0, 1, 2, 255, b'\n', b't']);
}

#[test]
fn request_headers_from_flags() {
    let srv = RawServer::bind();
    let url = format!("ws://127.0.0.1:{}/some/path?q=1", srv.port());
    let mut p = Proc::spawn(&[
        "-H",
        "X-Foo: bar",
        "-H",
        "X-Two: 2",
        "--protocol",
        "chat",
        "--origin",
        "http://example.com",
        "--ua",
        "test-agent/1.0",
        "--basic-auth",
        "user:pw",
        &url,
    ]);
    let (mut ws, req) = srv.accept_ws(&[("Sec-WebSocket-Protocol", "chat")]);
    assert_eq!(req.target(), "/some/path?q=1");
    assert_eq!(
        req.header("host"),
        Some(format!("127.0.0.1:{}", srv.port()).as_str())
    );
    assert_eq!(req.header("x-foo"), Some("bar"));
    assert_eq!(req.header("x-two"), Some("2"));
    assert_eq!(req.header("sec-websocket-protocol"), Some("chat"));
    assert_eq!(req.header("origin"), Some("http://example.com"));
    assert_eq!(req.header("user-agent"), Some("test-agent/1.0"));
    assert_eq!(req.header("authorization"), Some("Basic dXNlcjpwdw=="));
    p.close_stdin();
    let _ = ws.recv_until_close();
    ws.send_close(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn ping_is_answered_with_pong_carrying_the_same_payload() {
    let srv = RawServer::bind();
    let p = Proc::spawn(&[&srv.url("/")]);
    let (mut ws, _) = srv.accept_ws(&[]);
    ws.send(OP_PING, b"ping-\x00\xff-payload");
    let pong = ws.recv();
    assert_eq!(pong.opcode, OP_PONG, "{pong:?}");
    assert_eq!(pong.payload, b"ping-\x00\xff-payload");
    assert!(pong.masked);
    ws.send_close(Some((1000, "")));
    let _ = ws.recv();
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"");
}

#[test]
fn close_status_code_and_reason() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&[
        "--close-status-code",
        "4000",
        "--close-reason",
        "bye",
        &srv.url("/"),
    ]);
    p.close_stdin();
    let (mut ws, _) = srv.accept_ws(&[]);
    let (_, close) = ws.recv_until_close();
    assert_eq!(close.payload, b"\x0f\xa0bye");
    assert_eq!(close.close_code(), Some((4000, "bye".to_string())));
    ws.send_close(Some((4000, "")));
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn max_messages_limits_the_forward_direction() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&["--max-messages", "2", &srv.url("/")]);
    p.write_stdin(b"a\nb\nc\n");
    let (mut ws, _) = srv.accept_ws(&[]);
    let (data, close) = ws.recv_until_close();
    assert_eq!(
        frames(&data),
        vec![
            (OP_TEXT, true, b"a\n".to_vec()),
            (OP_TEXT, true, b"b\n".to_vec())
        ]
    );
    assert_eq!(close.payload, b"");
    // The reverse direction is not limited.
    ws.send_text("r1");
    ws.send_text("r2");
    ws.send_text("r3");
    ws.send_close(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"r1\nr2\nr3\n");
}

#[test]
fn one_message_each_way() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&["-1", &srv.url("/")]);
    p.write_stdin(b"a\nb\n");
    let (mut ws, _) = srv.accept_ws(&[]);
    ws.send_text("x");
    ws.send_text("y");
    let (data, close) = ws.recv_until_close();
    assert_eq!(frames(&data), vec![(OP_TEXT, true, b"a\n".to_vec())]);
    assert_eq!(close.payload, b"");
    ws.send_close_if_open(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"x\n");
}

#[test]
fn unidirectional_copies_only_stdin_to_server() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&["-u", &srv.url("/")]);
    p.write_stdin(b"up\n");
    p.close_stdin();
    let (mut ws, _) = srv.accept_ws(&[]);
    ws.send_text("down");
    let (data, _) = ws.recv_until_close();
    assert_eq!(frames(&data), vec![(OP_TEXT, true, b"up\n".to_vec())]);
    ws.send_close_if_open(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"", "-u must not print incoming messages");
}

#[test]
fn unidirectional_reverse_copies_only_server_to_stdout() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&["-U", &srv.url("/")]);
    p.write_stdin(b"ignored\n");
    p.close_stdin();
    let (mut ws, _) = srv.accept_ws(&[]);
    ws.send_text("down");
    ws.send_close(Some((1000, "")));
    // Whatever the client sends back must not contain its stdin.
    let mut got = Vec::new();
    while let Ok(Some(f)) = ws.try_recv() {
        let close = f.opcode == 0x8;
        got.push(f);
        if close {
            break;
        }
    }
    assert!(
        got.iter()
            .all(|f| f.opcode != OP_TEXT && f.opcode != OP_BINARY),
        "-U must not send stdin: {got:?}"
    );
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"down\n");
}

#[test]
fn exit_on_eof_does_not_wait_for_the_servers_close() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&["-E", &srv.url("/")]);
    p.write_stdin(b"x\n");
    p.close_stdin();
    let (mut ws, _) = srv.accept_ws(&[]);
    let (data, _) = ws.recv_until_close();
    assert_eq!(frames(&data), vec![(OP_TEXT, true, b"x\n".to_vec())]);
    // We never answer the Close: with -E the client must exit anyway.
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn no_close_sends_no_close_frame_on_stdin_eof() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&["-n", &srv.url("/")]);
    p.write_stdin(b"x\n");
    p.close_stdin();
    let (mut ws, _) = srv.accept_ws(&[]);
    let f = ws.recv();
    assert_eq!((f.opcode, f.payload.as_slice()), (OP_TEXT, &b"x\n"[..]));
    ws.expect_silence(QUIET);
    ws.send_text("still here");
    ws.send_close(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"still here\n");
}

#[test]
fn null_terminated_lines() {
    // websocat 1.x: with -0 the separator is NUL; it is not part of the messages, and incoming
    // messages are written with a NUL after them (newlines untouched).
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&["-0", &srv.url("/")]);
    p.write_stdin(b"l1\0l2\nx\0");
    p.close_stdin();
    let (mut ws, _) = srv.accept_ws(&[]);
    ws.send_text("in\n1");
    let (data, _) = ws.recv_until_close();
    assert_eq!(
        frames(&data),
        vec![
            (OP_TEXT, true, b"l1".to_vec()),
            (OP_TEXT, true, b"l2\nx".to_vec())
        ]
    );
    ws.send_close(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"in\n1\0");
}

#[test]
fn linemode_strip_newlines_drops_line_terminators() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&["--linemode-strip-newlines", &srv.url("/")]);
    p.write_stdin(b"l1\nl2\r\n\nl4");
    p.close_stdin();
    let (mut ws, _) = srv.accept_ws(&[]);
    let (data, _) = ws.recv_until_close();
    assert_eq!(
        frames(&data),
        vec![
            (OP_TEXT, true, b"l1".to_vec()),
            (OP_TEXT, true, b"l2".to_vec()),
            (OP_TEXT, true, b"".to_vec()),
            (OP_TEXT, true, b"l4".to_vec())
        ]
    );
    ws.send_close(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn buffer_size_bounds_binary_messages() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&["-b", "-B", "4", &srv.url("/")]);
    p.write_stdin(b"abcdefghij");
    p.close_stdin();
    let (mut ws, _) = srv.accept_ws(&[]);
    let (data, _) = ws.recv_until_close();
    assert!(
        data.iter()
            .all(|f| f.opcode == OP_BINARY && f.payload.len() <= 4 && !f.payload.is_empty()),
        "{data:?}"
    );
    let sent: Vec<u8> = data.iter().flat_map(|f| f.payload.clone()).collect();
    assert_eq!(sent, b"abcdefghij");
    ws.send_close(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn no_line_writes_messages_without_separators() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&["--no-line", &srv.url("/")]);
    p.write_stdin(b"one\ntwo\n");
    p.close_stdin();
    let (mut ws, _) = srv.accept_ws(&[]);
    ws.send_text("a");
    ws.send_text("b\n");
    let (data, _) = ws.recv_until_close();
    assert!(data.iter().all(|f| f.opcode == OP_TEXT), "{data:?}");
    let sent: Vec<u8> = data.iter().flat_map(|f| f.payload.clone()).collect();
    assert_eq!(sent, b"one\ntwo\n");
    ws.send_close(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"ab\n");
}

#[test]
fn ws_c_over_tcp_uses_ws_c_uri_for_target_and_host() {
    let srv = RawServer::bind();
    let tcp = format!("ws-c:tcp:127.0.0.1:{}", srv.port());
    let mut p = Proc::spawn(&["--ws-c-uri=ws://example.com/chat?x=1", "-", &tcp]);
    p.write_stdin(b"via ws-c\n");
    p.close_stdin();
    let (mut ws, req) = srv.accept_ws(&[]);
    assert_eq!(req.target(), "/chat?x=1");
    assert_eq!(req.header("host"), Some("example.com"));
    let (data, _) = ws.recv_until_close();
    assert_eq!(frames(&data), vec![(OP_TEXT, true, b"via ws-c\n".to_vec())]);
    ws.send_close(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn max_messages_rev_limits_the_reverse_direction() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&["--max-messages-rev", "1", &srv.url("/")]);
    let (mut ws, _) = srv.accept_ws(&[]);
    ws.send_text("first");
    ws.send_text("second");
    p.wait_stdout("the first message", |b| b == b"first\n");
    // The forward direction still works.
    p.write_stdin(b"up\n");
    p.close_stdin();
    let (data, _) = ws.recv_until_close();
    assert_eq!(frames(&data), vec![(OP_TEXT, true, b"up\n".to_vec())]);
    ws.send_close_if_open(None);
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"first\n");
}
