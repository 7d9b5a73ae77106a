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
