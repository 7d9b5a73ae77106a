//! End-to-end tests of the `broadcast:` fan-out hub and its slow-client policies: the built
//! binary behind `ws-l:` with `mirror:` as the shared connection, several independent raw
//! WebSocket clients, and the bytes each of them receives.

use crate::support::server_limited;
use crate::support::ws::{ws_connect, WsConn, OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long a fan-out test's websocat may live.
const LIMIT: Duration = Duration::from_secs(120);

/// Message `i` of a test stream: its index, then bytes derived from it.
fn message(i: usize, len: usize) -> Vec<u8> {
    let mut m = (i as u64).to_be_bytes().to_vec();
    m.extend((8..len).map(|j| (j.wrapping_mul(31) ^ i.wrapping_mul(7)) as u8));
    m
}

/// The index carried by a test message.
fn index_of(m: &[u8]) -> usize {
    let mut a = [0u8; 8];
    a.copy_from_slice(&m[..8]);
    u64::from_be_bytes(a) as usize
}

/// Connects `n` clients and makes sure each has joined the fan-out: it sends a text hello and
/// waits for its own echo (earlier clients see later hellos; readers skip text messages).
fn join_clients(port: u16, n: usize) -> Vec<WsConn> {
    (0..n)
        .map(|i| {
            let (mut ws, _) = ws_connect(port, "/", &[]);
            let hello = format!("hello {i}");
            ws.send_text(&hello);
            loop {
                let f = ws.recv();
                if f.opcode == OP_TEXT && f.payload == hello.as_bytes() {
                    break;
                }
            }
            ws
        })
        .collect()
}

/// Reads the next binary message, skipping text messages (hellos); panics on a Close.
fn next_binary(ws: &mut WsConn) -> Vec<u8> {
    let mut data = Vec::new();
    loop {
        let f = ws.recv();
        match f.opcode {
            OP_TEXT => continue,
            OP_BINARY | OP_CONT => {
                data.extend_from_slice(&f.payload);
                if f.fin {
                    return data;
                }
            }
            OP_CLOSE => panic!("unexpected Close {:?}", f.close_code()),
            other => panic!("unexpected opcode {other}"),
        }
    }
}

/// Issue 18: five clients keep reading while one of them sends 2,000 binary messages of
/// 60,000 bytes as fast as it can; every client gets all 120 MB, in order, byte for byte.
#[test]
fn every_reading_client_gets_every_message_of_a_fast_source() {
    const COUNT: usize = 2000;
    const LEN: usize = 60_000;
    let (_p, port) = server_limited(&["-b", "ws-l:127.0.0.1:0", "broadcast:mirror:"], LIMIT);
    let clients = join_clients(port, 5);
    let mut expected = Sha256::new();
    for i in 0..COUNT {
        expected.update(message(i, LEN));
    }
    let expected = expected.finalize().to_vec();
    let mut sender = clients[0].try_clone();
    let send = std::thread::spawn(move || {
        for i in 0..COUNT {
            sender.send_binary(&message(i, LEN));
        }
        sender
    });
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut ws| {
            std::thread::spawn(move || {
                let mut hash = Sha256::new();
                let mut bytes = 0usize;
                for _ in 0..COUNT {
                    let m = next_binary(&mut ws);
                    bytes += m.len();
                    hash.update(&m);
                }
                (bytes, hash.finalize().to_vec(), ws)
            })
        })
        .collect();
    let _sender = send.join().expect("sender thread");
    for (n, r) in readers.into_iter().enumerate() {
        let (bytes, hash, _ws) = r.join().expect("reader thread");
        assert_eq!(bytes, COUNT * LEN, "client {n}: bytes received");
        assert_eq!(hash, expected, "client {n}: sha256 of the received stream");
    }
}

/// Sends `count` messages of `len` bytes through the sender (client 0), each only after the
/// sender and every other reading client got the previous one, asserting each arrives whole.
fn lockstep(reading: &mut [WsConn], count: usize, len: usize) {
    for i in 0..count {
        let m = message(i, len);
        reading[0].send_binary(&m);
        for (n, ws) in reading.iter_mut().enumerate() {
            let got = next_binary(ws);
            assert!(
                got == m,
                "client {n}: message {i} is missing or damaged (got index {})",
                index_of(&got)
            );
        }
    }
}

#[test]
fn drop_policy_costs_only_the_client_that_does_not_read() {
    const COUNT: usize = 2000;
    const LEN: usize = 32 * 1024;
    let (p, port) = server_limited(
        &[
            "-b",
            "--slow-client-policy=drop",
            "--client-buffer-bytes=262144",
            "ws-l:127.0.0.1:0",
            "broadcast:mirror:",
        ],
        LIMIT,
    );
    let mut clients = join_clients(port, 3);
    let mut idle = clients.pop().expect("three clients");
    // The sender and the other reader get every message while `idle` reads nothing.
    lockstep(&mut clients, COUNT, LEN);
    // `idle` lost its oldest messages but never the newest; what it got is intact and in order.
    let mut got = Vec::new();
    loop {
        let m = next_binary(&mut idle);
        let i = index_of(&m);
        assert_eq!(m, message(i, LEN), "message {i} damaged");
        assert!(got.last().is_none_or(|&last| i > last), "{i} after {got:?}");
        got.push(i);
        if i == COUNT - 1 {
            break;
        }
    }
    assert!(
        got.len() < COUNT,
        "the client that did not read lost nothing"
    );
    let stderr = p.wait_stderr("dropped its oldest messages");
    assert!(stderr.contains("(slow=drop)"), "{stderr}");
    // Nothing else is on its way to it.
    idle.expect_silence(crate::support::QUIET);
}

#[test]
fn disconnect_policy_closes_the_client_that_does_not_read() {
    const COUNT: usize = 2000;
    const LEN: usize = 32 * 1024;
    let (p, port) = server_limited(
        &[
            "-b",
            "--slow-client-policy=disconnect",
            "--slow-client-timeout-ms=3000",
            "--client-buffer-bytes=262144",
            "ws-l:127.0.0.1:0",
            "broadcast:mirror:",
        ],
        LIMIT,
    );
    let mut clients = join_clients(port, 3);
    let mut idle = clients.pop().expect("three clients");
    std::thread::scope(|scope| {
        // The idle client starts reading only once it was disconnected: it gets an unbroken
        // first part of the stream, then Close 1008, then the end of the connection.
        let idle_reader = scope.spawn(|| {
            p.wait_stderr("disconnecting slow client");
            let mut next = 0;
            let close = loop {
                let f = idle.recv();
                match f.opcode {
                    OP_TEXT => {}
                    OP_BINARY => {
                        assert_eq!(f.payload, message(next, LEN), "message {next}");
                        next += 1;
                    }
                    OP_CLOSE => break f,
                    other => panic!("unexpected opcode {other}"),
                }
            };
            idle.expect_eof();
            (next, close)
        });
        // The others get every message: they wait for the idle client up to the limit only.
        lockstep(&mut clients, COUNT, LEN);
        let (got, close) = idle_reader.join().expect("idle client's thread");
        assert!(got < COUNT, "the idle client got everything");
        let (code, reason) = close.close_code().expect("a Close with a status");
        assert_eq!(code, 1008, "{reason}");
        assert!(reason.contains("too slow"), "{reason}");
    });
    let stderr = p.stderr_so_far();
    assert!(stderr.contains("(slow=disconnect)"), "{stderr}");
    // The hub goes on for the others.
    lockstep(&mut clients, 3, 100);
}

#[test]
fn slow_client_flags_reach_the_broadcast_node_inserted_for_stdio() {
    let out = crate::support::run(
        &[
            "--dump-spec",
            "--queue-len=8",
            "--client-buffer-bytes=4096",
            "--slow-client-policy=disconnect",
            "--slow-client-timeout-ms=500",
            "ws-l:127.0.0.1:8080",
            "-",
        ],
        b"",
    );
    let text = out.stdout_text();
    assert!(
        text.contains(
            "'broadcast[queue=8,client-buffer=4096,slow=disconnect,slow-timeout=500]:lines:-'"
        ),
        "{text}"
    );
}

#[test]
fn an_unknown_slow_client_policy_is_an_error() {
    let out = crate::support::run(
        &["--slow-client-policy=sometimes", "ws-l:127.0.0.1:0", "-"],
        b"",
    );
    assert_ne!(out.code(), 0);
    let stderr = &out.stderr;
    assert!(
        stderr.contains("unknown slow-client policy `sometimes`"),
        "{stderr}"
    );
}

/// Issue 18: what clients send towards the shared connection waits in a queue bounded in
/// bytes. The shared connection (a TCP peer) does not read for a while: the client's sends
/// stall, websocat's memory stays bounded although 200 MB are offered in 4 MiB messages (a
/// queue of 64 messages would hold 256 MiB), and once the peer reads, every byte arrives.
#[test]
fn clients_writing_to_a_source_that_does_not_read_are_held_back_and_lose_nothing() {
    use std::io::Read;
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    const COUNT: usize = 50;
    const LEN: usize = 4 << 20;
    const BOUND: u64 = 64 << 20;
    let source = TcpListener::bind("127.0.0.1:0").expect("binding the shared connection's peer");
    let source_port = source.local_addr().expect("its address").port();
    let target = format!("broadcast:tcp:127.0.0.1:{source_port}");
    let (p, port) = server_limited(&["-b", "ws-l:127.0.0.1:0", target.as_str()], LIMIT);
    let (ws, _) = ws_connect(port, "/", &[]);
    let (mut shared, _) = source.accept().expect("accepting the shared connection");
    let before = crate::support::resident_bytes(p.pid());
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let mut sender = ws.try_clone();
    let send = std::thread::spawn(move || {
        let mut hash = Sha256::new();
        for i in 0..COUNT {
            let m = message(i, LEN);
            sender.send_binary(&m);
            hash.update(&m);
            counter.fetch_add(1, Ordering::Relaxed);
        }
        hash.finalize().to_vec()
    });
    // The peer reads nothing until the client's sends have stalled for 2 s (or all went).
    let mut peak = before;
    let mut last = (0, Instant::now());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        peak = peak.max(crate::support::resident_bytes(p.pid()));
        let now = sent.load(Ordering::Relaxed);
        if now == COUNT {
            break;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(2) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let stalled_at = sent.load(Ordering::Relaxed);
    let growth = peak.saturating_sub(before);
    eprintln!(
        "broadcast: {stalled_at} of {COUNT} messages of 4 MiB taken while the shared \
         connection did not read; websocat grew by {} KiB",
        growth >> 10
    );
    assert!(
        stalled_at < COUNT,
        "all {COUNT} messages were taken although the shared connection read nothing"
    );
    assert!(
        growth < BOUND,
        "websocat grew by {} MiB holding what the client sent (bound {} MiB)",
        growth >> 20,
        BOUND >> 20
    );
    // Now the peer reads: everything arrives, in order, byte for byte.
    shared
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let mut hash = Sha256::new();
    let mut got = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    while got < COUNT * LEN {
        let n = shared
            .read(&mut buf)
            .expect("reading the shared connection");
        assert!(n > 0, "the shared connection ended after {got} bytes");
        hash.update(&buf[..n]);
        got += n;
    }
    let expected = send.join().expect("sender thread");
    assert_eq!(got, COUNT * LEN);
    assert_eq!(
        hash.finalize().to_vec(),
        expected,
        "sha256 of what reached the shared connection"
    );
    drop(ws);
}

/// The TCP state (as in /proc/net/tcp: 1 is ESTABLISHED) of the IPv4 loopback socket whose
/// local port is `local` and whose peer's port is `remote`; `None` once it is gone.
fn tcp_state(local: u16, remote: u16) -> Option<u8> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("reading /proc/net/tcp");
    let port = |addr: &str| {
        addr.rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (l, r, st) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
        (port(l)? == local && port(r)? == remote)
            .then(|| u8::from_str_radix(st, 16).ok())
            .flatten()
    })
}

/// Issue 18: under `slow=disconnect`, a byte-stream client (behind `tcp-l:`) that never reads
/// is disconnected when the limit is over: websocat closes its TCP connection at once, though
/// it is stuck writing to it, instead of only when the client reads again. The reading client
/// goes on.
#[test]
fn disconnect_policy_closes_a_byte_stream_client_that_never_reads_promptly() {
    byte_client_disconnected_promptly("");
}

/// The same when the shared connection carries messages and each client's bytes go through
/// a codec (`chunks:tcp-listen:… broadcast:chunks:…`): the session is stuck waiting for room
/// in the codec, not in a byte write.
#[test]
fn disconnect_policy_closes_a_client_behind_a_codec_that_never_reads_promptly() {
    byte_client_disconnected_promptly("chunks:");
}

/// Runs the test above with `codec` between `broadcast:` and the shared TCP connection.
fn byte_client_disconnected_promptly(codec: &str) {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    const ESTABLISHED: u8 = 1;
    // The shared connection's peer sends as fast as it may, until websocat is gone.
    let source = TcpListener::bind("127.0.0.1:0").expect("binding the shared connection's peer");
    let source_port = source.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = source.accept() else {
            return;
        };
        let chunk = vec![0x5au8; 64 * 1024];
        while s.write_all(&chunk).is_ok() {}
    });
    let target = format!("broadcast:{codec}tcp:127.0.0.1:{source_port}");
    let (p, port) = server_limited(
        &[
            "-b",
            "--slow-client-policy=disconnect",
            "--slow-client-timeout-ms=1000",
            "--client-buffer-bytes=65536",
            "tcp-l:127.0.0.1:0",
            target.as_str(),
        ],
        LIMIT,
    );
    let mut idle = TcpStream::connect(("127.0.0.1", port)).expect("connecting the idle client");
    let idle_port = idle.local_addr().expect("its address").port();
    let mut reader = TcpStream::connect(("127.0.0.1", port)).expect("connecting the reader");
    reader
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let received = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reading = {
        let (received, stop) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while !stop.load(Ordering::Relaxed) {
                let n = reader.read(&mut buf).expect("the reading client reads");
                assert!(n > 0, "the reading client's connection ended");
                received.fetch_add(n, Ordering::Relaxed);
            }
        })
    };
    let found = crate::support::poll(crate::support::TIMEOUT, || {
        (tcp_state(port, idle_port) == Some(ESTABLISHED)).then_some(())
    });
    assert!(
        found.is_some(),
        "websocat's side of the idle client's connection"
    );
    p.wait_stderr("disconnecting slow client");
    let evicted = Instant::now();
    // Closed at once (a FIN waits behind the unread data: FIN_WAIT1), not when it next reads.
    let closed = crate::support::poll(Duration::from_secs(5), || {
        (tcp_state(port, idle_port) != Some(ESTABLISHED)).then(|| evicted.elapsed())
    });
    let closed_after =
        closed.expect("the idle client's connection is still open 5 s after it was disconnected");
    assert!(
        closed_after < Duration::from_millis(2000),
        "closed {closed_after:?} after the disconnection"
    );
    // The reading client goes on.
    let before = received.load(Ordering::Relaxed);
    let more = crate::support::poll(crate::support::TIMEOUT, || {
        (received.load(Ordering::Relaxed) > before + (1 << 20)).then_some(())
    });
    assert!(more.is_some(), "the reading client got nothing more");
    stop.store(true, Ordering::Relaxed);
    reading.join().expect("reader thread");
    // The idle client finds what was queued for it, then the end of the connection.
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match idle.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => panic!("the idle client's connection did not end cleanly: {e}"),
        }
    }
}
