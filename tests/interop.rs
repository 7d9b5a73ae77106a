//! Interoperability with third-party WebSocket peers: python `websockets` and node `ws`.
//!
//! `.ci/run` installs both. On a developer machine without them these tests say so and
//! pass; under CI (`CI` set) a missing peer is a failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_websocat");

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Kills the child when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peer_available(which: &str) -> bool {
    let ok = match which {
        "python" => Command::new("python3")
            .args(["-c", "import websockets.asyncio.server"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        _ => {
            interop_dir().join("node_modules/ws").exists()
                && Command::new("node")
                    .arg("--version")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
        }
    };
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{which} WebSocket peer is missing under CI (.ci/run should install it)"
        );
        eprintln!("skipping: {which} WebSocket peer not installed");
    }
    ok
}

fn peer_command(which: &str) -> Command {
    if which == "python" {
        let mut c = Command::new("python3");
        c.arg(interop_dir().join("py_peer.py"));
        c
    } else {
        let mut c = Command::new("node");
        c.arg(interop_dir().join("node_peer.js"));
        c
    }
}

/// Starts a third-party server; returns it, its port and its stdout lines.
fn start_peer_server(which: &str) -> (Guard, u16, BufReader<std::process::ChildStdout>) {
    let mut child = peer_command(which)
        .arg("server")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start peer server");
    let stdout = child.stdout.take().expect("peer stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).expect("peer port line");
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected peer output {line:?}"));
    (Guard(child), port, reader)
}

/// Starts our binary with a listener on port 0; returns it and the bound port.
fn start_ours(args: &[&str]) -> (Guard, u16) {
    let mut child = Command::new(BIN)
        .arg("--stdout-announce-listening-ports")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start websocat");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("LISTEN line");
    let port = line
        .trim()
        .rsplit("port=")
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected announce {line:?}"));
    (Guard(child), port)
}

/// Like [`run_ours`]; with `keep_open` stdin stays open after `input` until the process exits.
fn run_ours_stdin(args: &[&str], input: &[u8], keep_open: bool) -> (i32, Vec<u8>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start websocat");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done_writer = done.clone();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
        while keep_open && !done_writer.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("websocat {args:?} did not finish in 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = writer.join();
    let out = child.wait_with_output().expect("output");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs our client: writes `input`, waits until `expect_len` bytes came back on stdout, then
/// closes stdin (third-party servers answer a Close at once and drop echoes still queued, so
/// the client must not half-close early). Returns (exit code, stdout, stderr).
fn exchange(args: &[&str], input: &[u8], expect_len: usize) -> (i32, Vec<u8>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start websocat");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    stdin.write_all(input).expect("write stdin");
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < expect_len {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        (got, stdout)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reader.is_finished() {
        assert!(Instant::now() < deadline, "no echo within 10 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (mut got, mut stdout) = reader.join().expect("reader");
    drop(stdin);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("websocat {args:?} did not exit after stdin closed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = stdout.read_to_end(&mut got);
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let code = child.wait().expect("status").code().unwrap_or(-1);
    (code, got, err)
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
    let (_server, port) = start_ours(&["ws-l:127.0.0.1:0", "mirror:"]);
    let got = run_peer_client(which, &format!("ws://127.0.0.1:{port}/x"), Some("chat"));
    assert_eq!(got["text"], "hello", "{got}");
    assert_eq!(got["binary_hex"], "000102ff", "{got}");
    assert_eq!(
        got["subprotocol"], "chat",
        "server echoes the first offered protocol: {got}"
    );
    assert_eq!(got["close_code"], 1000, "{got}");
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
    let (code, out, err) = exchange(
        &["--protocol", "chat", "-H", "X-Test: yes", url.as_str()],
        b"hello\nworld\n",
        12,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"hello\nworld\n");
    let mut line = String::new();
    log.read_line(&mut line).expect("connection log");
    let seen: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(seen["path"], "/path?q=1");
    assert_eq!(seen["headers"]["x-test"], "yes");
    assert_eq!(seen["subprotocol"], "chat");

    // Binary mode: bytes go out as one binary message and come back raw.
    let (code, out, err) = exchange(&["-b", url.as_str()], b"\x00\x01\xfe", 3);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"\x00\x01\xfe");

    // An abnormal close from the server is a failure that names the code and reason. Stdin
    // stays open so that the server, not our EOF, starts the closing handshake.
    let (code, _out, err) = run_ours_stdin(
        &["--linemode-strip-newlines", url.as_str()],
        b"please-close\n",
        true,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("4001") && err.contains("custom"), "{err}");
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
    let (_tunnel, tport) = start_ours(&["-b", "tcp-l:127.0.0.1:0", url.as_str()]);
    let mut conn = TcpStream::connect(("127.0.0.1", tport)).expect("connect tunnel");
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    const TOTAL: usize = 100 << 20;
    let mut writer = conn.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let mut hash = Sha256::new();
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut sent = 0;
        while sent < TOTAL {
            for b in chunk.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            writer.write_all(&chunk).expect("send");
            hash.update(&chunk);
            sent += chunk.len();
        }
        hash.finalize()
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
