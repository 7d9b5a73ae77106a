//! Interoperability with third-party WebSocket peers: python `websockets` and node `ws`.
//!
//! `.ci/run` installs both (node's `ws` with `npm install` in `tests/interop`). On a developer
//! machine without them these tests say so and pass; under CI (`CI` set) a missing peer is a
//! failure (`support::external::available`).

use crate::support::external::{available, GroupGuard};
use crate::support::{data_file, exchange, exchange_until, server, server_limited};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{ChildStdout, Command, Stdio};
use std::time::Duration;

/// True when the `which` ("python" or "node") peer can run; see [`available`] for what a
/// missing one means.
fn peer_available(which: &str) -> bool {
    let ok = match which {
        "python" => Command::new("python3")
            .args(["-c", "import websockets.asyncio.server"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        _ => {
            data_file("interop/node_modules/ws").exists()
                && Command::new("node")
                    .arg("--version")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
        }
    };
    available(&format!("{which} WebSocket peer"), ok)
}

fn peer_command(which: &str) -> Command {
    if which == "python" {
        let mut c = Command::new("python3");
        c.arg(data_file("interop/py_peer.py"));
        c
    } else {
        let mut c = Command::new("node");
        c.arg(data_file("interop/node_peer.js"));
        c
    }
}

/// Starts a third-party server; returns it, its port and its stdout lines.
fn start_peer_server(which: &str) -> (GroupGuard, u16, BufReader<ChildStdout>) {
    start_peer_server_with(which, &[])
}

/// Like [`start_peer_server`], with extra arguments for the peer (`deflate`).
fn start_peer_server_with(which: &str, args: &[&str]) -> (GroupGuard, u16, BufReader<ChildStdout>) {
    let mut guard = GroupGuard::spawn(
        peer_command(which)
            .arg("server")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
        &format!("{which} peer server"),
    );
    let stdout = guard.child().stdout.take().expect("peer stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).expect("peer port line");
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected peer output {line:?}"));
    (guard, port, reader)
}

fn run_peer_client(which: &str, url: &str, proto: Option<&str>) -> serde_json::Value {
    let mut cmd = peer_command(which);
    cmd.arg("client").arg(url);
    if let Some(p) = proto {
        cmd.arg(p);
    }
    let out = cmd.output().expect("run peer client");
    assert!(
        out.status.success(),
        "{which} client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("peer client JSON")
}

fn our_server_with_third_party_client(which: &str) {
    if !peer_available(which) {
        return;
    }
    let (_server, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let got = run_peer_client(which, &format!("ws://127.0.0.1:{port}/x"), Some("chat"));
    assert_eq!(got["text"], "hello", "{got}");
    assert_eq!(got["binary_hex"], "000102ff", "{got}");
    assert_eq!(
        got["subprotocol"], "chat",
        "server echoes the first offered protocol: {got}"
    );
    assert_eq!(got["close_code"], 1000, "{got}");
    assert_eq!(got["big_ok"], true, "{got}");
    assert!(
        got["extensions"].is_null(),
        "no compression without --permessage-deflate: {got}"
    );
}

#[test]
fn python_client_to_our_server() {
    our_server_with_third_party_client("python");
}

#[test]
fn node_client_to_our_server() {
    our_server_with_third_party_client("node");
}

fn our_client_with_third_party_server(which: &str) {
    if !peer_available(which) {
        return;
    }
    let (_server, port, mut log) = start_peer_server(which);
    let url = format!("ws://127.0.0.1:{port}/path?q=1");
    let o = exchange(
        &["--protocol", "chat", "-H", "X-Test: yes", url.as_str()],
        b"hello\nworld\n",
        12,
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert_eq!(o.stdout, b"hello\nworld\n");
    let mut line = String::new();
    log.read_line(&mut line).expect("connection log");
    let seen: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(seen["path"], "/path?q=1");
    assert_eq!(seen["headers"]["x-test"], "yes");
    assert_eq!(seen["subprotocol"], "chat");
    assert!(seen["extensions"].is_null(), "nothing offered: {seen}");

    // Binary mode: bytes go out as one binary message and come back raw.
    let o = exchange(&["-b", url.as_str()], b"\x00\x01\xfe", 3);
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert_eq!(o.stdout, b"\x00\x01\xfe");

    // An abnormal close from the server is a failure that names the code and reason. Stdin
    // stays open so that the server, not our EOF, starts the closing handshake.
    let o = exchange_until(
        &["--linemode-strip-newlines", url.as_str()],
        b"please-close\n",
        |_| false,
    );
    let err = &o.stderr;
    assert_eq!(o.code(), 1, "{err}");
    assert!(err.contains("4001") && err.contains("custom"), "{err}");
}

/// `websocat --permessage-deflate ws-l:` against a third-party client that offers compression
/// (both do by default): negotiated, and every message (a large one too) comes back intact.
fn our_deflate_server_with_third_party_client(which: &str) {
    if !peer_available(which) {
        return;
    }
    let (_server, port) = server(&["--permessage-deflate", "ws-l:127.0.0.1:0", "mirror:"]);
    let got = run_peer_client(which, &format!("ws://127.0.0.1:{port}/x"), None);
    assert_eq!(got["extensions"], "permessage-deflate", "{got}");
    assert_eq!(got["text"], "hello", "{got}");
    assert_eq!(got["binary_hex"], "000102ff", "{got}");
    assert_eq!(got["big_ok"], true, "{got}");
    assert_eq!(got["close_code"], 1000, "{got}");
}

#[test]
fn python_deflate_client_to_our_server() {
    our_deflate_server_with_third_party_client("python");
}

#[test]
fn node_deflate_client_to_our_server() {
    our_deflate_server_with_third_party_client("node");
}

/// `websocat --permessage-deflate ws://` against a third-party server that accepts compression
/// (node's `ws` compressing every message): negotiated on both sides, lines and a large line
/// come back byte for byte.
fn our_deflate_client_with_third_party_server(which: &str) {
    if !peer_available(which) {
        return;
    }
    let (_server, port, mut log) = start_peer_server_with(which, &["deflate"]);
    let url = format!("ws://127.0.0.1:{port}/");
    let big: String = (0..4000)
        .map(|i| format!("{i} websocat compresses this line well. "))
        .collect();
    let input = format!("hello\n{big}\nworld\n");
    let o = exchange(
        &["-v", "--permessage-deflate", url.as_str()],
        input.as_bytes(),
        input.len(),
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert!(o.stdout == input.as_bytes(), "echo differs");
    assert!(
        o.stderr
            .contains("WebSocket extension negotiated: permessage-deflate"),
        "{}",
        o.stderr
    );
    let mut line = String::new();
    log.read_line(&mut line).expect("connection log");
    let seen: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(
        seen["headers"]["sec-websocket-extensions"], "permessage-deflate; client_max_window_bits",
        "{seen}"
    );
    let answer = seen["extensions"].as_str().unwrap_or_default();
    assert!(answer.starts_with("permessage-deflate"), "{seen}");
    assert!(
        o.stderr.contains(answer),
        "we log what the server answered ({answer}): {}",
        o.stderr
    );
}

#[test]
fn our_deflate_client_to_python_server() {
    our_deflate_client_with_third_party_server("python");
}

#[test]
fn our_deflate_client_to_node_server() {
    our_deflate_client_with_third_party_server("node");
}

#[test]
fn our_client_to_python_server() {
    our_client_with_third_party_server("python");
}

#[test]
fn our_client_to_node_server() {
    our_client_with_third_party_server("node");
}

/// A TCP tunnel through our client to a third-party echo server carries 100 MiB intact.
#[test]
fn tunnel_through_python_echo_keeps_100_mib_intact() {
    use sha2::{Digest, Sha256};
    if !peer_available("python") {
        return;
    }
    let (_peer, port, _log) = start_peer_server("python");
    let url = format!("ws://127.0.0.1:{port}/");
    // 100 MiB through a debug build takes a few seconds; allow it the read timeout below.
    let (_tunnel, tport) = server_limited(
        &["-b", "tcp-l:127.0.0.1:0", url.as_str()],
        Duration::from_secs(60),
    );
    let mut conn = TcpStream::connect(("127.0.0.1", tport)).expect("connect tunnel");
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    const TOTAL: usize = 100 << 20;
    let writer = conn.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        crate::support::send_pseudorandom(writer, TOTAL, 64 * 1024, 0x1234_5678_9abc_def0)
    });
    let mut hash = Sha256::new();
    let mut got = 0;
    let mut buf = vec![0u8; 256 * 1024];
    while got < TOTAL {
        let n = conn.read(&mut buf).expect("receive");
        assert!(n > 0, "tunnel closed after {got} bytes");
        hash.update(&buf[..n]);
        got += n;
    }
    let sent_hash = sender.join().expect("sender");
    assert_eq!(got, TOTAL);
    assert_eq!(hash.finalize(), sent_hash);
}
