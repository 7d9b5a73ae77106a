//! websocat relaying between two real endpoints: client ⇄ server pairs of our own binary,
//! TCP tunnels with half-close, and WebSocket-to-TCP forwarding.

use crate::support::ws::{ws_connect, OP_BINARY, OP_CLOSE, OP_TEXT};
use crate::support::{server, Proc, RawServer, TIMEOUT};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread::JoinHandle;

/// A one-connection TCP backend: reads everything until the client half-closes, then replies
/// with `reply(data)` and closes. Returns its port and a handle yielding what it read.
fn backend_reply_after_eof(
    reply: impl FnOnce(&[u8]) -> Vec<u8> + Send + 'static,
) -> (u16, JoinHandle<Vec<u8>>) {
    let l = RawServer::bind();
    let port = l.port();
    let h = std::thread::spawn(move || {
        let mut s = l.accept_tcp();
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("backend reading until EOF");
        s.write_all(&reply(&got)).expect("backend replying");
        got
    });
    (port, h)
}

#[test]
fn websocket_client_and_server_pair_echo_and_exit_cleanly() {
    let (_srv, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let url = format!("ws://127.0.0.1:{port}/");
    let mut c = Proc::spawn(&[&url]);
    c.write_stdin(b"hello\n");
    c.close_stdin();
    let out = c.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"hello\n");
}

#[test]
fn websocket_pair_in_binary_mode_keeps_bytes_exact() {
    let (_srv, port) = server(&["-b", "ws-l:127.0.0.1:0", "mirror:"]);
    let url = format!("ws://127.0.0.1:{port}/");
    let data: Vec<u8> = (0..=255u8).chain(b"\n\r\n".iter().copied()).collect();
    let mut c = Proc::spawn(&["-b", &url]);
    c.write_stdin(&data);
    c.close_stdin();
    let out = c.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, data);
}

#[test]
fn tcp_tunnel_with_exact_bytes_and_half_close() {
    let (backend, got) = backend_reply_after_eof(|d| {
        let mut r = b"got ".to_vec();
        r.extend_from_slice(&d.len().to_string().into_bytes());
        r.push(b':');
        r.extend_from_slice(d);
        r
    });
    let target = format!("tcp:127.0.0.1:{backend}");
    let (_p, port) = server(&["tcp-l:127.0.0.1:0", &target]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting to the tunnel");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    s.write_all(&data).expect("sending through the tunnel");
    // Half-close: we are done sending but still expect the reply.
    s.shutdown(Shutdown::Write).expect("shutdown write");
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("reading the reply");
    let mut expected = b"got 100000:".to_vec();
    expected.extend_from_slice(&data);
    assert_eq!(reply.len(), expected.len());
    assert!(
        reply == expected,
        "reply differs from what the backend sent"
    );
    assert_eq!(got.join().expect("backend thread"), data);
}

#[test]
fn websocket_to_tcp_forwarding_binary() {
    let l = RawServer::bind();
    let backend = l.port();
    let target = format!("tcp:127.0.0.1:{backend}");
    let (_p, port) = server(&["-b", "ws-l:127.0.0.1:0", &target]);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    let mut b = l.accept_tcp();
    ws.send_binary(&[1, 2, 3, 0, 255]);
    let mut buf = [0u8; 5];
    b.read_exact(&mut buf).expect("backend receiving");
    assert_eq!(buf, [1, 2, 3, 0, 255]);
    b.write_all(b"\x00reply\n").expect("backend sending");
    let f = ws.recv();
    assert_eq!(
        (f.opcode, f.payload.as_slice()),
        (OP_BINARY, &b"\x00reply\n"[..])
    );
    // The client's Close reaches the backend as EOF.
    ws.send_close(None);
    assert_eq!(ws.recv().opcode, OP_CLOSE);
    let mut rest = Vec::new();
    b.read_to_end(&mut rest).expect("backend sees EOF");
    assert_eq!(rest, b"");
}

#[test]
fn websocket_to_tcp_forwarding_text_lines() {
    let l = RawServer::bind();
    let backend = l.port();
    let target = format!("tcp:127.0.0.1:{backend}");
    let (_p, port) = server(&["ws-l:127.0.0.1:0", &target]);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    let mut b = l.accept_tcp();
    ws.send_text("first\n");
    ws.send_text("a\nb");
    let mut buf = vec![0u8; "first\na b\n".len()];
    b.read_exact(&mut buf).expect("backend receiving");
    assert_eq!(String::from_utf8_lossy(&buf), "first\na b\n");
    b.write_all(b"r1\nr2\n").expect("backend sending");
    let f1 = ws.recv();
    let f2 = ws.recv();
    assert_eq!((f1.opcode, f1.payload.as_slice()), (OP_TEXT, &b"r1\n"[..]));
    assert_eq!((f2.opcode, f2.payload.as_slice()), (OP_TEXT, &b"r2\n"[..]));
    // The backend closing ends the session with a Close to the client.
    drop(b);
    let (rest, close) = ws.recv_until_close();
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(close.payload, b"");
}

#[test]
fn lowlevel_websocket_framing_without_handshake_both_ends() {
    let (_srv, port) = server(&["ws-ll-s:tcp-l:127.0.0.1:0", "mirror:"]);
    let target = format!("ws-ll-c:tcp:127.0.0.1:{port}");
    let mut c = Proc::spawn(&["-", &target]);
    c.write_stdin(b"low\nlevel\n");
    c.close_stdin();
    let out = c.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"low\nlevel\n");
}

#[test]
fn lowlevel_client_sends_masked_frames_with_no_http() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let target = format!("ws-ll-c:tcp:127.0.0.1:{port}");
    let mut c = Proc::spawn(&["-b", "-", &target]);
    c.write_stdin(b"\x01\x02");
    let (mut s, _) = listener.accept().expect("accept");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut head = [0u8; 8];
    s.read_exact(&mut head).expect("frame");
    assert_eq!(head[0], 0x82, "FIN + binary opcode, no HTTP request first");
    assert_eq!(head[1], 0x80 | 2, "masked, 2 bytes");
    let mask = [head[2], head[3], head[4], head[5]];
    assert_eq!([head[6] ^ mask[0], head[7] ^ mask[1]], [1, 2]);
    c.kill();
}

#[test]
fn random_source_gives_distinct_full_reads() {
    let mut c = Proc::spawn(&["-b", "-u", "random:", "-"]);
    let got = c.wait_stdout("64 random bytes", |b| b.len() >= 64);
    assert!(got[..32] != got[32..64], "two reads of random data differ");
    c.kill();
}
