//! Graceful shutdown and exit codes: a server or a client that gets SIGTERM or Ctrl-C stops
//! accepting, lets its sessions finish (a WebSocket peer gets a Close 1001 "going away", data
//! in flight still arrives) and exits 0; the deadline or a second signal cuts what is left.
//! (Exit code 2 for a bad specifier and 1 for a refused connection: `cli.rs`.)

use crate::support::ws::{ws_connect, OP_CLOSE, OP_TEXT};
use crate::support::{run, server, RawServer, TIMEOUT};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// The exact payload of the Close a shutdown sends: status 1001 and its reason.
const GOING_AWAY: &[u8] = b"\x03\xe9going away";

/// What websocat logs when it cuts connections at the deadline or a second signal.
const CUT: &str = "closing the connections";

/// The shutdown deadline of `exec::serve::SHUTDOWN_DEADLINE`.
const DEADLINE: Duration = Duration::from_secs(5);

/// A TCP backend on an ephemeral loopback port.
fn backend() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding the backend");
    let port = l.local_addr().expect("backend address").port();
    (l, port)
}

/// Accepts one connection on `l` with read and write timeouts of [`TIMEOUT`].
fn accept(l: &TcpListener) -> TcpStream {
    let (s, _) = l.accept().expect("accepting on the backend");
    s.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
    s.set_write_timeout(Some(TIMEOUT)).expect("write timeout");
    s
}

/// Bytes that show where they belong in a stream, so a lost or moved chunk is noticed.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn ws_client_of_a_mirror_server_gets_close_1001_on_sigterm() {
    let (p, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_text("before");
    assert_eq!(ws.recv().payload, b"before");
    p.signal(libc::SIGTERM);
    let f = ws.recv();
    assert_eq!(
        (f.opcode, f.fin, f.payload.as_slice()),
        (OP_CLOSE, true, GOING_AWAY),
        "{f:?}"
    );
    ws.send_close_if_open(Some((1001, "")));
    let out = p.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(!out.stderr.contains(CUT), "nothing had to be cut: {out:?}");
}

#[test]
fn ws_to_tcp_tunnel_closes_both_ends_on_ctrl_c() {
    let (back, back_port) = backend();
    let (p, port) = server(&[
        "ws-l:127.0.0.1:0".to_string(),
        format!("tcp:127.0.0.1:{back_port}"),
    ]);
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_text("ping");
    let mut b = accept(&back);
    let mut got = [0u8; 5];
    b.read_exact(&mut got)
        .expect("reading the forwarded message");
    assert_eq!(&got, b"ping\n");
    b.write_all(b"pong\n").expect("answering");
    let f = ws.recv();
    assert_eq!((f.opcode, f.payload.as_slice()), (OP_TEXT, &b"pong\n"[..]));

    p.signal(libc::SIGINT);
    let f = ws.recv();
    assert_eq!(
        (f.opcode, f.payload.as_slice()),
        (OP_CLOSE, GOING_AWAY),
        "{f:?}"
    );
    ws.send_close_if_open(Some((1001, "")));
    // The backend gets a FIN, nothing else.
    let mut rest = Vec::new();
    b.read_to_end(&mut rest)
        .expect("reading to the backend's EOF");
    assert_eq!(rest, b"", "nothing after the shutdown");
    let out = p.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(!out.stderr.contains(CUT), "nothing had to be cut: {out:?}");
}

/// A tcp-l → tcp tunnel whose backend has not been reading: when the signal arrives, the
/// client is still writing (the bytes are queued in its kernel buffers, websocat and the
/// backend's), and all of them get through before the exit. Meanwhile the listener refuses
/// new connections.
#[test]
fn tunnel_in_progress_delivers_every_byte_and_the_listener_stops_accepting() {
    // More than the socket buffers on the way can hold.
    const TOTAL: usize = 16 << 20;
    const CHUNK: usize = 64 << 10;
    let (back, back_port) = backend();
    let (p, port) = server(&[
        "tcp-l:127.0.0.1:0".to_string(),
        format!("tcp:127.0.0.1:{back_port}"),
    ]);
    let data = pattern(TOTAL);
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connecting the client");
    client
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    let mut writer = client.try_clone().expect("cloning the client");
    let sent = data.clone();
    // The client sends everything and keeps its side open: only the shutdown ends the tunnel.
    let sender = std::thread::spawn(move || writer.write_all(&sent));
    let mut b = accept(&back);
    let mut received = vec![0u8; CHUNK];
    b.read_exact(&mut received)
        .expect("reading the first chunk");
    // Let the queues fill up.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !sender.is_finished(),
        "the client must still be sending at the signal for this test to mean anything"
    );
    p.signal(libc::SIGTERM);
    let signalled = Instant::now();
    // Read slowly until EOF, checking on the way that new clients are refused while the
    // tunnel is still draining.
    let mut refused_while_running = false;
    let mut buf = vec![0u8; CHUNK];
    loop {
        std::thread::sleep(Duration::from_millis(1));
        if !refused_while_running && signalled.elapsed() > Duration::from_millis(150) {
            let refused = matches!(
                TcpStream::connect(("127.0.0.1", port)),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused
            );
            refused_while_running = refused && p.is_running();
        }
        let n = b.read(&mut buf).expect("reading the tunnel");
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
    }
    assert_eq!(received.len(), TOTAL, "bytes lost in the shutdown");
    assert!(received == data, "bytes corrupted in the shutdown");
    assert!(
        sender.join().expect("the sender thread").is_ok(),
        "the client could write everything"
    );
    assert!(
        refused_while_running,
        "the listener still accepted after the signal"
    );
    // The client's side ends too.
    let mut rest = Vec::new();
    let _ = client.read_to_end(&mut rest);
    assert_eq!(rest, b"");
    let out = p.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(!out.stderr.contains(CUT), "nothing had to be cut: {out:?}");
    assert!(signalled.elapsed() < DEADLINE, "took the whole deadline");
}

/// Fills a tunnel towards a backend that never reads, so the session cannot finish.
fn stuck_tunnel() -> (crate::support::Proc, TcpStream, TcpStream) {
    let (back, back_port) = backend();
    let (p, port) = server(&[
        "tcp-l:127.0.0.1:0".to_string(),
        format!("tcp:127.0.0.1:{back_port}"),
    ]);
    let client = TcpStream::connect(("127.0.0.1", port)).expect("connecting the client");
    let mut writer = client.try_clone().expect("cloning the client");
    // Far more than the socket buffers hold; the write fails once websocat is gone.
    let flood = vec![7u8; 64 << 20];
    std::thread::spawn(move || writer.write_all(&flood));
    let b = accept(&back);
    // Let the buffers fill: the direction towards the backend then waits to write.
    std::thread::sleep(Duration::from_millis(300));
    (p, client, b)
}

#[test]
fn a_second_signal_exits_at_once() {
    let (mut p, _client, _b) = stuck_tunnel();
    p.signal(libc::SIGTERM);
    assert!(
        p.wait_exit_within(Duration::from_millis(800)).is_none(),
        "a stuck session keeps the first shutdown waiting"
    );
    p.signal(libc::SIGINT);
    let started = Instant::now();
    let out = p
        .wait_exit_within(Duration::from_secs(2))
        .unwrap_or_else(|| panic!("no exit after a second signal: {}", p.stderr_so_far()));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(
        out.stderr
            .contains("closing the connections still open at a second signal"),
        "{out:?}"
    );
}

#[test]
fn the_deadline_cuts_a_session_that_cannot_finish() {
    let (mut p, _client, _b) = stuck_tunnel();
    p.signal(libc::SIGTERM);
    let signalled = Instant::now();
    let out = p
        .wait_exit_within(DEADLINE + Duration::from_secs(4))
        .unwrap_or_else(|| panic!("no exit after the deadline: {}", p.stderr_so_far()));
    let took = signalled.elapsed();
    assert!(
        took >= DEADLINE - Duration::from_millis(100),
        "{took:?} {out:?}"
    );
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(
        out.stderr
            .contains("closing the connections still open 5s after the signal"),
        "{out:?}"
    );
}

#[test]
fn ws_client_sends_close_1001_on_sigterm() {
    let srv = RawServer::bind();
    let p = crate::support::Proc::spawn(&[&srv.url("/")]);
    let (mut ws, _) = srv.accept_ws(&[]);
    ws.send_text("hello");
    p.wait_stdout("the message", |b| b == b"hello\n");
    p.signal(libc::SIGTERM);
    let (before, close) = ws.recv_until_close();
    assert!(before.is_empty(), "{before:?}");
    assert!(close.masked);
    assert_eq!(close.payload, GOING_AWAY, "{close:?}");
    ws.send_close(Some((1001, "")));
    let out = p.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout, b"hello\n");
}

#[test]
fn a_listener_that_cannot_bind_exits_1() {
    let (_taken, port) = backend();
    let out = run(&[&format!("tcp-l:127.0.0.1:{port}"), "mirror:"], b"");
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("listening on tcp-l:127.0.0.1:{port} (left side)")),
        "{out:?}"
    );
}
