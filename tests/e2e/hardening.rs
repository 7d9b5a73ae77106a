//! Hostile and broken peers: a client checks the server's `101` answer, handshakes time out,
//! and memory stays bounded when a peer sends much and reads nothing.

use crate::support::resident_bytes;
use crate::support::ws::{accept_key, raw_client};
use crate::support::{Proc, RawServer};
use std::io::{Read, Write};
use std::net::TcpStream;

/// Reads the client's request head from `s` and returns its `Sec-WebSocket-Key`.
fn read_request_key(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("reading the client's request");
        assert_eq!(n, 1, "the client closed inside its request: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no Sec-WebSocket-Key in {head}"))
}

/// Runs `websocat [extra] ws://…` against a raw server that answers the handshake with the
/// head `answer(key)` (then sends a text frame, which must never be printed) and returns
/// the client's exit code, stdout and stderr.
fn client_against(extra: &[&str], answer: impl Fn(&str) -> String) -> (i32, Vec<u8>, String) {
    let srv = RawServer::bind();
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    args.push(srv.url("/"));
    let p = Proc::spawn(&args);
    let mut s = srv.accept_tcp();
    let key = read_request_key(&mut s);
    let mut bytes = answer(&key).into_bytes();
    bytes.extend_from_slice(b"\x81\x05hello");
    let _ = s.write_all(&bytes);
    // The server then vanishes without a Close, so a client that accepted the answer ends too
    // (its stdin stays open).
    drop(s);
    let out = p.wait();
    (out.code(), out.stdout, out.stderr)
}

fn good_head(key: &str, extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_key(key)
    )
}

/// An error report with its line wrapping and frame (`│`) undone, for matching sentences.
fn unwrapped(report: &str) -> String {
    report
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts that the client refused the answer: exit 1, nothing printed, `why` in stderr.
fn assert_refused((code, stdout, stderr): (i32, Vec<u8>, String), why: &str) {
    assert_eq!(code, 1, "stderr: {stderr}");
    assert_eq!(stdout, b"", "no frame may be read after a bad handshake");
    assert!(
        unwrapped(&stderr).contains(why),
        "expected {why:?} in: {stderr}"
    );
}

#[test]
fn client_refuses_101_without_upgrade_websocket() {
    let got = client_against(&[], |key| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(key)
        )
    });
    assert_refused(got, "the server answered 101 without `Upgrade: websocket`");
}

#[test]
fn client_refuses_101_with_another_upgrade() {
    let got = client_against(&[], |key| {
        good_head(key, "").replace("Upgrade: websocket", "Upgrade: h2c")
    });
    assert_refused(
        got,
        "the server answered 101 with `Upgrade: h2c`, not `websocket`",
    );
}

#[test]
fn client_accepts_upgrade_and_connection_in_any_case_and_connection_lists() {
    let (code, stdout, stderr) = client_against(&[], |key| {
        good_head(key, "")
            .replace("Upgrade: websocket", "upgrade: WebSocket")
            .replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE")
    });
    // The handshake passes and the frame is printed; the peer then vanishes without a Close.
    assert_eq!(stdout, b"hello\n", "exit {code}, stderr: {stderr}");
}

#[test]
fn client_refuses_101_without_connection_upgrade() {
    let got = client_against(&[], |key| {
        good_head(key, "").replace("Connection: Upgrade\r\n", "")
    });
    assert_refused(got, "the server answered 101 without `Connection: upgrade`");
    let got = client_against(&[], |key| {
        good_head(key, "").replace("Connection: Upgrade", "Connection: keep-alive")
    });
    assert_refused(
        got,
        "the server answered 101 with `Connection: keep-alive`, which lacks the token `upgrade`",
    );
}

#[test]
fn client_refuses_a_wrong_or_missing_accept_key() {
    let got = client_against(&[], |key| {
        good_head(key, "").replace(&accept_key(key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    });
    assert_refused(
        got,
        "the server's `Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=` does not match our key",
    );
    let got = client_against(&[], |_| {
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
            .to_string()
    });
    assert_refused(
        got,
        "the server answered 101 without `Sec-WebSocket-Accept`",
    );
}

#[test]
fn client_refuses_a_subprotocol_it_did_not_offer() {
    let got = client_against(&[], |key| {
        good_head(key, "Sec-WebSocket-Protocol: chat\r\n")
    });
    assert_refused(
        got,
        "the server chose subprotocol `chat` although we offered none",
    );
    let got = client_against(&["--protocol", "chat, superchat"], |key| {
        good_head(key, "Sec-WebSocket-Protocol: other\r\n")
    });
    assert_refused(
        got,
        "the server chose subprotocol `other`, which is not one we offered (chat, superchat)",
    );
}

#[test]
fn client_accepts_one_of_the_subprotocols_it_offered() {
    let (_, stdout, stderr) = client_against(&["--protocol", "chat, superchat"], |key| {
        good_head(key, "Sec-WebSocket-Protocol: superchat\r\n")
    });
    assert_eq!(stdout, b"hello\n", "stderr: {stderr}");
}

#[test]
fn client_refuses_an_extension_it_did_not_offer() {
    let got = client_against(&[], |key| {
        good_head(
            key,
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
        )
    });
    assert_refused(
        got,
        "the server enabled extension `permessage-deflate`, which we did not offer",
    );
}

#[test]
fn server_closes_a_connection_that_dribbles_its_request_head_and_serves_others() {
    use crate::support::ws::ws_connect;
    use std::time::{Duration, Instant};
    let (p, port) =
        crate::support::server(&["--handshake-timeout", "1", "ws-l:127.0.0.1:0", "mirror:"]);
    let mut slow = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let started = Instant::now();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr")
        .expect("sending half a request head");
    // Another client is served while the slow one dangles.
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_text("still served");
    assert_eq!(ws.recv().text(), "still served");
    std::thread::sleep(Duration::from_millis(300));
    let _ = slow.write_all(b"ade: websocket\r\n");
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert_eq!(rest, b"", "no answer to an unfinished request head");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}, the timeout is 1 s"
    );
    let log = p.wait_stderr("--handshake-timeout");
    assert!(
        log.contains(
            "the client's WebSocket handshake did not complete within 1 s (--handshake-timeout)"
        ),
        "{log}"
    );
    // The first client still works after the slow one was dropped.
    ws.send_text("after");
    assert_eq!(ws.recv().text(), "after");
}

#[test]
fn client_gives_up_on_a_silent_server_within_connect_timeout() {
    use std::time::{Duration, Instant};
    let srv = RawServer::bind();
    let url = srv.url("/");
    let started = Instant::now();
    let mut p = Proc::spawn(&["--connect-timeout", "1", url.as_str()]);
    let _silent = srv.accept_tcp();
    let out = p
        .wait_exit_within(Duration::from_secs(5))
        .expect("the client must give up within its timeout");
    let waited = started.elapsed();
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert!(
        unwrapped(&out.stderr).contains(&format!(
            "connecting {url} (right side): the connection and WebSocket handshake did not \
             complete within 1 s (--connect-timeout)"
        )),
        "{}",
        out.stderr
    );
    assert!(
        waited >= Duration::from_millis(900),
        "gave up after {waited:?}"
    );
}

/// A masked binary frame (mask 0, so the payload is sent as is) of `len` bytes.
fn masked_binary_frame(len: usize) -> Vec<u8> {
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(len as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.resize(frame.len() + len, 0x5a);
    frame
}

#[test]
fn mirror_server_memory_stays_bounded_when_a_client_sends_big_messages_and_never_reads() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    const MESSAGE: usize = 16 << 20;
    const BOUND: u64 = 64 << 20;
    let (p, port) = crate::support::server_limited(
        &["-b", "ws-l:127.0.0.1:0", "mirror:"],
        Duration::from_secs(60),
    );
    let mut s = raw_client(port);
    let before = resident_bytes(p.pid());
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let frame = masked_binary_frame(MESSAGE);
    std::thread::spawn(move || {
        // Blocks once the server stops reading; ends when the server is gone.
        for _ in 0..64 {
            if s.write_all(&frame).is_err() {
                return;
            }
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let mut peak = before;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        peak = peak.max(resident_bytes(p.pid()));
        std::thread::sleep(Duration::from_millis(50));
    }
    let messages = sent.load(Ordering::Relaxed);
    assert!(
        messages >= 2,
        "the server should have taken a few messages, took {messages}"
    );
    assert!(
        messages < 64,
        "the server took every message: its queue pushed nothing back"
    );
    let growth = peak.saturating_sub(before);
    eprintln!(
        "mirror: {messages} messages of 16 MiB taken, server grew by {} KiB",
        growth >> 10
    );
    assert!(
        growth < BOUND,
        "the server grew by {} MiB with {messages} messages of 16 MiB sent (bound {} MiB)",
        growth >> 20,
        BOUND >> 20
    );
}

#[test]
fn tunnel_keeps_64_mib_intact_under_back_pressure_from_a_slow_reader() {
    use sha2::{Digest, Sha256};
    use std::net::{Shutdown, TcpListener};
    use std::time::Duration;
    const TOTAL: usize = 64 << 20;
    let sink = TcpListener::bind("127.0.0.1:0").expect("binding the sink");
    let sink_port = sink.local_addr().expect("sink address").port();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = sink.accept().expect("accepting the tunnel");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("read timeout");
        let mut hash = Sha256::new();
        let mut got = 0usize;
        let mut since_pause = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = s.read(&mut buf).expect("reading the tunnel");
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            got += n;
            since_pause += n;
            // A slow reader: the relays must hold back instead of buffering.
            if since_pause >= 2 << 20 {
                since_pause = 0;
                std::thread::sleep(Duration::from_millis(60));
            }
        }
        (got, hash.finalize())
    });
    let limit = Duration::from_secs(90);
    let sink_addr = format!("tcp:127.0.0.1:{sink_port}");
    let (server, ws_port) =
        crate::support::server_limited(&["-b", "ws-l:127.0.0.1:0", sink_addr.as_str()], limit);
    let url = format!("ws://127.0.0.1:{ws_port}/");
    let (client, tcp_port) =
        crate::support::server_limited(&["-b", "tcp-l:127.0.0.1:0", url.as_str()], limit);
    let before = [resident_bytes(server.pid()), resident_bytes(client.pid())];
    let source = TcpStream::connect(("127.0.0.1", tcp_port)).expect("connecting the tunnel");
    let writer = source.try_clone().expect("cloning the socket");
    let sender = std::thread::spawn(move || {
        crate::support::send_pseudorandom(writer, TOTAL, 256 * 1024, 0x0123_4567_89ab_cdef)
    });
    let mut peak = before;
    while !sender.is_finished() {
        peak[0] = peak[0].max(resident_bytes(server.pid()));
        peak[1] = peak[1].max(resident_bytes(client.pid()));
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent_hash = sender.join().expect("sender");
    source.shutdown(Shutdown::Write).expect("half-closing");
    let (got, got_hash) = reader.join().expect("reader");
    assert_eq!(got, TOTAL);
    assert_eq!(got_hash, sent_hash, "the bytes changed on the way");
    eprintln!(
        "tunnel: relays grew by {} and {} KiB",
        (peak[0] - before[0]) >> 10,
        (peak[1] - before[1]) >> 10
    );
    for (which, (p, b)) in ["ws-l relay", "ws:// relay"]
        .iter()
        .zip(peak.iter().zip(before.iter()))
    {
        assert!(
            p - b < 64 << 20,
            "the {which} grew by {} MiB",
            (p - b) >> 20
        );
    }
}

#[test]
fn unfinished_messages_past_the_limit_end_their_connections_and_memory_stays_bounded() {
    use std::time::Duration;
    const FRAGMENT: usize = 1 << 20;
    let (p, port) = crate::support::server_limited(
        &["-b", "ws-l:127.0.0.1:0", "mirror:"],
        Duration::from_secs(60),
    );
    let before = resident_bytes(p.pid());
    // Three clients each start a message and keep adding 1 MiB fragments (40 MiB in all),
    // never ending it.
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let mut s = raw_client(port);
            std::thread::spawn(move || {
                let mut frame = masked_binary_frame(FRAGMENT);
                frame[0] = 0x02; // binary, no FIN
                for _ in 0..40 {
                    if s.write_all(&frame).is_err() {
                        break;
                    }
                    frame[0] = 0x00; // continuation, no FIN
                }
                s.set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("read timeout");
                // The server fails the connection with a Close 1009 (message too big) and
                // closes it rather than buffering on.
                let mut answer = Vec::new();
                let ended = match s.read_to_end(&mut answer) {
                    Ok(_) => true,
                    Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
                };
                (answer, ended)
            })
        })
        .collect();
    let mut peak = before;
    while clients.iter().any(|c| !c.is_finished()) {
        peak = peak.max(resident_bytes(p.pid()));
        std::thread::sleep(Duration::from_millis(20));
    }
    for c in clients {
        let (answer, ended) = c.join().expect("client thread");
        assert!(
            ended,
            "the server kept a connection with an over-long message open"
        );
        assert_eq!(
            answer.get(2..4),
            Some(&1009u16.to_be_bytes()[..]),
            "expected a Close 1009: {:?}",
            &answer[..answer.len().min(64)]
        );
        assert_eq!(answer[0], 0x88, "expected a Close frame");
    }
    let growth = peak.saturating_sub(before);
    eprintln!("unfinished messages: server grew by {} KiB", growth >> 10);
    assert!(
        growth < 64 << 20,
        "three unfinished messages grew the server by {} MiB",
        growth >> 20
    );
    let log = p.wait_stderr("--max-ws-message-length");
    assert!(
        log.contains("is over the limit of 16777216 (--max-ws-message-length)"),
        "{log}"
    );
}

#[test]
fn idle_clients_of_a_shared_connection_do_not_hold_its_queue() {
    use crate::support::ws::ws_connect;
    // The copy engine asks a writer for room before taking a message only where that room is
    // the connection's own; a shared queue's room taken by idle clients would starve this one.
    let (_p, port) =
        crate::support::server(&["--queue-len", "2", "ws-l:127.0.0.1:0", "broadcast:mirror:"]);
    let idle: Vec<_> = (0..4).map(|_| ws_connect(port, "/", &[]).0).collect();
    let (mut active, _) = ws_connect(port, "/", &[]);
    // Let every idle client's copy loop reach its wait for a message.
    std::thread::sleep(std::time::Duration::from_millis(300));
    active.send_text("through");
    assert_eq!(active.recv().text(), "through");
    drop(idle);
}
