//! websocat as a WebSocket server against the raw client of `support::ws`.

use crate::support::ws::{
    http_exchange, try_ws_connect, ws_connect, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG,
    OP_TEXT,
};
use crate::support::{server, QUIET};
use std::io::{Read, Write};

#[test]
fn mirror_echoes_messages_with_their_type_unmasked() {
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_text("t1");
    let f = ws.recv();
    assert_eq!(
        (f.opcode, f.fin, f.masked, f.payload.as_slice()),
        (OP_TEXT, true, false, &b"t1"[..])
    );
    ws.send_binary(&[0, 1, 2, 255]);
    let f = ws.recv();
    assert_eq!(
        (f.opcode, f.masked, f.payload.as_slice()),
        (OP_BINARY, false, &[0u8, 1, 2, 255][..])
    );
    // 70000 bytes: a 64-bit length on the wire in both directions.
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    ws.send_binary(&big);
    let f = ws.recv();
    assert_eq!(
        (f.opcode, f.fin, f.payload.len()),
        (OP_BINARY, true, big.len())
    );
    assert!(f.payload == big, "large message corrupted");
    ws.send_text("");
    let f = ws.recv();
    assert_eq!(
        (f.opcode, f.payload.len()),
        (OP_TEXT, 0),
        "an empty message is a message"
    );
    ws.send_close(Some((1000, "done")));
    let f = ws.recv();
    assert_eq!(f.opcode, OP_CLOSE, "{f:?}");
    ws.expect_eof();
}

#[test]
fn server_answers_ping_with_same_payload() {
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send(OP_PING, b"\x01\x02abc");
    let f = ws.recv();
    assert_eq!(
        (f.opcode, f.masked, f.payload.as_slice()),
        (OP_PONG, false, &b"\x01\x02abc"[..])
    );
    ws.send_close(None);
    assert_eq!(ws.recv().opcode, OP_CLOSE);
}

#[test]
fn server_protocol_and_server_headers() {
    let (_p, port) = server(&[
        "--server-protocol",
        "chat",
        "--server-header",
        "X-Server: yes",
        "--server-header",
        "X-Other: 2",
        "ws-l:127.0.0.1:0",
        "mirror:",
    ]);
    let (mut ws, resp) = ws_connect(port, "/", &[("Sec-WebSocket-Protocol", "chat")]);
    assert_eq!(resp.first_line, "HTTP/1.1 101 Switching Protocols");
    assert_eq!(resp.header("sec-websocket-protocol"), Some("chat"));
    assert_eq!(resp.header("x-server"), Some("yes"));
    assert_eq!(resp.header("x-other"), Some("2"));
    ws.send_close(None);
    assert_eq!(ws.recv().opcode, OP_CLOSE);
    // websocat 1.x: a client that offers nothing still gets the protocol (against the RFC).
    let (mut ws, resp) = ws_connect(port, "/", &[]);
    assert_eq!(resp.header("sec-websocket-protocol"), Some("chat"));
    ws.send_close(None);
    assert_eq!(ws.recv().opcode, OP_CLOSE);
    // A client whose first offer is another protocol is refused.
    let (head, conn) = try_ws_connect(port, "/", &[("Sec-WebSocket-Protocol", "other, chat")]);
    assert!(conn.is_none());
    assert_eq!(head.status(), 400, "{head:?}");
}

#[test]
fn without_server_protocol_the_first_offered_protocol_is_echoed() {
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let (mut ws, resp) = ws_connect(port, "/", &[("Sec-WebSocket-Protocol", "first, second")]);
    assert_eq!(resp.headers_named("sec-websocket-protocol"), vec!["first"]);
    ws.send_close(None);
    assert_eq!(ws.recv().opcode, OP_CLOSE);
    // No offer, no protocol in the answer.
    let (mut ws, resp) = ws_connect(port, "/", &[]);
    assert_eq!(resp.header("sec-websocket-protocol"), None);
    ws.send_close(None);
    assert_eq!(ws.recv().opcode, OP_CLOSE);
}

#[test]
fn restrict_uri_accepts_the_exact_target_only() {
    let (_p, port) = server(&["--restrict-uri", "/ok", "ws-l:127.0.0.1:0", "mirror:"]);
    let (mut ws, _) = ws_connect(port, "/ok", &[]);
    ws.send_text("in");
    assert_eq!(ws.recv().payload, b"in");
    ws.send_close(None);
    assert_eq!(ws.recv().opcode, OP_CLOSE);
    for bad in ["/bad", "/ok?x=1", "/ok/"] {
        let (head, conn) = try_ws_connect(port, bad, &[]);
        assert!(conn.is_none());
        assert_eq!(head.status(), 400, "{bad}: {head:?}");
        assert_eq!(head.first_line, "HTTP/1.1 400 Bad Request");
    }
}

#[test]
fn plain_http_request_gets_400_with_explanation() {
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let (head, body) = http_exchange(
        port,
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(head.first_line, "HTTP/1.1 400 Bad Request");
    assert_eq!(
        String::from_utf8_lossy(&body).trim_end(),
        "Only WebSocket connections are welcome here"
    );
    // The server keeps serving WebSocket clients afterwards.
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_text("ok");
    assert_eq!(ws.recv().payload, b"ok");
}

#[test]
fn literal_sends_its_text_then_closes() {
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "literal:hello world"]);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    let (data, close) = ws.recv_until_close();
    let got: Vec<(u8, Vec<u8>)> = data.iter().map(|f| (f.opcode, f.payload.clone())).collect();
    assert_eq!(got, vec![(OP_TEXT, b"hello world".to_vec())]);
    assert_eq!(close.payload, b"", "default Close has no status code");
    ws.send_close(None);
    ws.expect_eof();
}

#[test]
fn literalreply_answers_every_message() {
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "literalreply:pong"]);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    for msg in ["a", "bb", ""] {
        ws.send_text(msg);
        let f = ws.recv();
        assert_eq!(
            (f.opcode, f.payload.as_slice()),
            (OP_TEXT, &b"pong"[..]),
            "after {msg:?}"
        );
    }
    ws.send_close(None);
    assert_eq!(ws.recv().opcode, OP_CLOSE);
}

#[test]
fn assert_succeeds_on_matching_data() {
    let (mut p, port) = server(&["-b", "-u", "--oneshot", "ws-l:127.0.0.1:0", "assert:hello"]);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_binary(b"hel");
    ws.send_binary(b"lo");
    ws.send_close(None);
    let out = p.wait_exit_within(crate::support::TIMEOUT);
    let out = out.unwrap_or_else(|| panic!("server did not exit: {}", p.stderr_so_far()));
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn assert_fails_on_other_data() {
    let (mut p, port) = server(&["-b", "-u", "--oneshot", "ws-l:127.0.0.1:0", "assert:hello"]);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_binary(b"goodbye");
    ws.send_close(None);
    let out = p.wait_exit_within(crate::support::TIMEOUT);
    let out = out.unwrap_or_else(|| panic!("server did not exit: {}", p.stderr_so_far()));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("assertion failed"), "{}", out.stderr);
    assert!(out.stderr.contains("goodbye"), "{}", out.stderr);
}

#[test]
fn oneshot_server_exits_after_one_connection() {
    let (mut p, port) = server(&["--oneshot", "ws-l:127.0.0.1:0", "mirror:"]);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_text("once");
    assert_eq!(ws.recv().payload, b"once");
    ws.send_close(None);
    assert_eq!(ws.recv().opcode, OP_CLOSE);
    let out = p.wait_exit_within(crate::support::TIMEOUT);
    let out = out.unwrap_or_else(|| panic!("--oneshot server still runs: {}", p.stderr_so_far()));
    assert!(out.status.success(), "{out:?}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the port is still open after --oneshot"
    );
}

#[test]
fn without_oneshot_the_server_serves_many_connections_at_once() {
    let (mut p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let (mut a, _) = ws_connect(port, "/", &[]);
    let (mut b, _) = ws_connect(port, "/", &[]);
    b.send_text("from b");
    a.send_text("from a");
    assert_eq!(a.recv().payload, b"from a");
    assert_eq!(b.recv().payload, b"from b");
    a.send_close(None);
    assert_eq!(a.recv().opcode, OP_CLOSE);
    b.send_close(None);
    assert_eq!(b.recv().opcode, OP_CLOSE);
    assert!(
        p.wait_exit_within(QUIET).is_none(),
        "the server must keep running"
    );
}

#[test]
fn conncap_holds_back_connections_over_the_cap() {
    let (_p, port) = server(&["--conncap", "1", "tcp-l:127.0.0.1:0", "mirror:"]);
    let connect = || {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connecting");
        s.set_read_timeout(Some(crate::support::TIMEOUT))
            .expect("timeout");
        s
    };
    let mut a = connect();
    a.write_all(b"a1").expect("writing");
    let mut buf = [0u8; 2];
    a.read_exact(&mut buf).expect("echo for a");
    assert_eq!(&buf, b"a1");
    let mut b = connect();
    b.write_all(b"b1").expect("writing");
    b.set_read_timeout(Some(QUIET)).expect("timeout");
    let mut one = [0u8; 1];
    match b.read(&mut one) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("second connection served while the first holds the only slot: {other:?}"),
    }
    // Ending the first connection lets the second one through.
    a.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut rest = Vec::new();
    a.read_to_end(&mut rest).expect("a closes");
    drop(a);
    b.set_read_timeout(Some(crate::support::TIMEOUT))
        .expect("timeout");
    b.read_exact(&mut buf).expect("echo for b");
    assert_eq!(&buf, b"b1");
}

#[test]
fn server_mode_prints_client_messages_and_banner() {
    // A bare port means 127.0.0.1 (`server` checks the announced address).
    let (p, port) = server(&["-s", "0"]);
    p.wait_stderr(&format!("Listening on ws://127.0.0.1:{port}/"));
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_text("hi there");
    let out = p.wait_stdout("the client's message", |b| {
        String::from_utf8_lossy(b).contains("hi there\n")
    });
    let text = String::from_utf8_lossy(&out);
    let after_listen: Vec<&str> = text.lines().filter(|l| !l.starts_with("LISTEN ")).collect();
    assert_eq!(after_listen, vec!["hi there"]);
}

#[test]
fn stdio_is_broadcast_to_every_client() {
    let (mut p, port) = server(&["ws-l:127.0.0.1:0", "-"]);
    let (mut a, _) = ws_connect(port, "/", &[]);
    let (mut b, _) = ws_connect(port, "/", &[]);
    // Once a client's message reaches stdout, its session is attached to the shared stdio.
    a.send_text("from a");
    b.send_text("from b");
    p.wait_stdout("both clients' messages", |out| {
        let t = String::from_utf8_lossy(out);
        t.contains("from a\n") && t.contains("from b\n")
    });
    p.write_stdin(b"news\n");
    for ws in [&mut a, &mut b] {
        let f = ws.recv();
        assert_eq!((f.opcode, f.payload.as_slice()), (OP_TEXT, &b"news\n"[..]));
    }
    // A client leaving does not end the server or the other client's session.
    a.send_close(None);
    assert_eq!(a.recv().opcode, OP_CLOSE);
    p.write_stdin(b"more\n");
    let f = b.recv();
    assert_eq!((f.opcode, f.payload.as_slice()), (OP_TEXT, &b"more\n"[..]));
    assert!(p.is_running());
}

#[test]
fn ipv6_listener_announces_unbracketed_address() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    let p = crate::support::Proc::spawn(&[
        "--stdout-announce-listening-ports",
        "tcp-l:[::1]:0",
        "mirror:",
    ]);
    let (ip, port) = p.listen_addr();
    assert_eq!(ip, "::1");
    let mut s = std::net::TcpStream::connect(("::1", port)).expect("connecting over IPv6");
    s.set_read_timeout(Some(crate::support::TIMEOUT))
        .expect("timeout");
    s.write_all(b"v6").expect("writing");
    let mut buf = [0u8; 2];
    s.read_exact(&mut buf).expect("echo");
    assert_eq!(&buf, b"v6");
}

#[test]
fn fragmented_message_is_reassembled() {
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_frame(false, OP_TEXT, b"hel");
    ws.send(OP_PING, b"between fragments");
    ws.send_frame(false, OP_CONT, b"lo ");
    ws.send_frame(true, OP_CONT, b"world");
    let pong = ws.recv();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (OP_PONG, &b"between fragments"[..])
    );
    let f = ws.recv();
    assert_eq!(
        (f.opcode, f.fin, f.text()),
        (OP_TEXT, true, "hello world".to_string())
    );
    ws.send_close(None);
    assert_eq!(ws.recv().opcode, OP_CLOSE);
}

#[test]
fn server_finishes_sending_before_answering_close() {
    // Half-close on the server side: data the client sent just before its Close is still
    // echoed, then the server's Close follows.
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    for round in 0..5 {
        let (mut ws, _) = ws_connect(port, "/", &[]);
        ws.send_text("last words");
        ws.send_close(None);
        let (data, close) = ws.recv_until_close();
        let got: Vec<(u8, Vec<u8>)> = data.iter().map(|f| (f.opcode, f.payload.clone())).collect();
        assert_eq!(
            got,
            vec![(OP_TEXT, b"last words".to_vec())],
            "round {round}"
        );
        assert_eq!(close.opcode, OP_CLOSE);
        ws.expect_eof();
    }
}

#[test]
fn tls_client_on_plain_server_is_refused_at_once_and_others_still_served() {
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let mut tls = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tls.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    // The first bytes of a TLS ClientHello: the server must not wait for an HTTP head.
    tls.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00])
        .expect("write");
    let mut buf = [0u8; 16];
    let started = std::time::Instant::now();
    let n = tls.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "connection is closed without an answer");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_text("still here");
    assert_eq!(ws.recv().payload, b"still here");
}

/// The kernel's state for the server end of the loopback connection from `client_port` to
/// `server_port` (from /proc/net/tcp: `01` established, `03` SYN_RECV).
#[cfg(target_os = "linux")]
fn server_end_state(server_port: u16, client_port: u16) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("reading /proc/net/tcp");
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let ours = f.get(1)?.ends_with(&format!(":{server_port:04X}"))
            && f.get(2)?.ends_with(&format!(":{client_port:04X}"));
        ours.then(|| f.get(3).map(|s| s.to_string())).flatten()
    })
}

#[cfg(target_os = "linux")]
#[test]
fn ws_listener_accepts_a_connection_once_the_request_arrives() {
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let mut s = crate::support::ws::connect(port);
    let client_port = s.local_addr().expect("local address").port();
    std::thread::sleep(std::time::Duration::from_millis(200));
    // WebSocket clients speak first, so the listener defers the connection (TCP_DEFER_ACCEPT):
    // until the request comes, it is not handed to the server at all.
    assert_eq!(
        server_end_state(port, client_port).as_deref(),
        Some("03"),
        "a silent connection to ws-l: should wait in SYN_RECV"
    );
    // A client that stays silent longer than the deferral period is accepted all the same
    // (the kernel completes it after resending its SYN-ACK), then served.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server_end_state(port, client_port).as_deref() != Some("01") {
        assert!(
            std::time::Instant::now() < deadline,
            "a silent connection was never established: {:?}",
            server_end_state(port, client_port)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    s.write_all(crate::support::ws::upgrade_request(port, "/", &[]).as_bytes())
        .expect("sending the request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("reading the response");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
}

#[cfg(target_os = "linux")]
#[test]
fn plain_tcp_listener_accepts_at_once_for_protocols_where_the_server_speaks_first() {
    let (_p, port) = server(&["tcp-l:127.0.0.1:0", "literal:banner"]);
    let mut s = crate::support::ws::connect(port);
    s.set_read_timeout(Some(std::time::Duration::from_millis(900)))
        .expect("timeout");
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .expect("the banner comes without the client saying anything");
    assert_eq!(got, b"banner\n");
}

#[test]
fn frames_sent_together_with_the_request_are_not_lost() {
    let (_p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let mut s = crate::support::ws::connect(port);
    // The request, a masked text frame "hi" and a masked Close (1000), in one write.
    let mut bytes = crate::support::ws::upgrade_request(port, "/", &[]).into_bytes();
    let mask = [1u8, 2, 3, 4];
    bytes.extend_from_slice(&[0x81, 0x82]);
    bytes.extend_from_slice(&mask);
    bytes.extend(b"hi".iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    bytes.extend_from_slice(&[0x88, 0x82]);
    bytes.extend_from_slice(&mask);
    bytes.extend([0x03u8, 0xE8].iter().zip(mask.iter()).map(|(b, m)| b ^ m));
    s.write_all(&bytes).expect("sending");
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .expect("reading until the server closes");
    let head_end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    assert!(got.starts_with(b"HTTP/1.1 101 "), "{got:?}");
    assert_eq!(
        &got[head_end..],
        &[0x81, 0x02, b'h', b'i', 0x88, 0x02, 0x03, 0xE8][..],
        "the echo, then the Close echoing 1000, then the end of the connection"
    );
}
