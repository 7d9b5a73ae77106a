//! Watching sessions and servers: `--summary` (words and JSON), `--metrics` scraped over HTTP,
//! and `--browser-console` opened in headless Chromium.

use crate::support::external::{available, find_program, GroupGuard};
use crate::support::ws::{http_exchange, ws_connect, OP_BINARY, OP_PING, OP_PONG, OP_TEXT};
use crate::support::{poll, server, server_limited, Proc, RawServer, TIMEOUT};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs our client with `args` against a raw server and plays a known exchange: the client
/// sends `a` and `bcd` (two lines), the server sends a text and a binary message, answers
/// one keep-alive ping, and answers the client's Close with `1000 done`. Returns stderr.
fn known_exchange(args: &[&str]) -> String {
    let server = RawServer::bind();
    let url = server.url("/");
    let mut all = vec!["--ping-interval", "1"];
    all.extend_from_slice(args);
    all.push(&url);
    let mut client = Proc::spawn(&all);
    let (mut ws, _) = server.accept_ws(&[]);
    client.write_stdin(b"a\nbcd\n");
    let f = ws.recv();
    assert_eq!((f.opcode, f.text()), (OP_TEXT, "a\n".to_string()));
    let f = ws.recv();
    assert_eq!((f.opcode, f.text()), (OP_TEXT, "bcd\n".to_string()));
    ws.send_text("xy");
    ws.send_binary(&[1, 2, 3]);
    client.wait_stdout("the messages", |b| b.len() >= 6);
    let ping = ws.recv();
    assert_eq!(ping.opcode, OP_PING);
    ws.send(OP_PONG, &ping.payload);
    client.close_stdin();
    let (_, close) = ws.recv_until_close();
    assert_eq!(
        close.payload, b"",
        "the client's Close has no status by default"
    );
    ws.send_close(Some((1000, "done")));
    let out = client.wait();
    assert_eq!(out.code(), 0, "stderr: {}", out.stderr);
    out.stderr
}

#[test]
fn summary_line_for_a_known_exchange() {
    let stderr = known_exchange(&["--summary"]);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("websocat: ") && l.contains("left→right"))
        .unwrap_or_else(|| panic!("no summary line in {stderr:?}"));
    let (duration, rest) = line["websocat: ".len()..]
        .split_once(" s; ")
        .unwrap_or_else(|| panic!("no duration in {line:?}"));
    let seconds: f64 = duration.parse().expect("duration in seconds");
    assert!((0.9..10.0).contains(&seconds), "{line}");
    let (fixed, pings) = rest
        .split_once(", ping rtt min/avg/max ")
        .unwrap_or_else(|| panic!("no ping times in {line:?}"));
    assert_eq!(
        fixed,
        "left→right 2 messages, 6 bytes; right→left 2 messages, 5 bytes; \
         right WebSocket: close sent empty, received 1000 \"done\""
    );
    // `0.105/0.210/0.300 ms (1 pongs)`
    let (times, count) = pings.split_once(" ms (").expect("ping count");
    let times: Vec<f64> = times
        .split('/')
        .map(|t| t.parse().expect("a time in ms"))
        .collect();
    assert!(
        times.len() == 3 && times[0] <= times[1] && times[1] <= times[2],
        "{line}"
    );
    assert!(count.ends_with(" pongs)"), "{line}");
}

#[test]
fn summary_json_for_a_known_exchange() {
    let stderr = known_exchange(&["--summary=json"]);
    let line = stderr
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in {stderr:?}"));
    let v: serde_json::Value = serde_json::from_str(line).expect("the summary is JSON");
    assert_eq!(v["forward"], serde_json::json!({"messages": 2, "bytes": 6}));
    assert_eq!(
        v["backward"],
        serde_json::json!({"messages": 2, "bytes": 5})
    );
    assert_eq!(v["left"], serde_json::Value::Null);
    assert_eq!(
        v["right"]["close_sent"],
        serde_json::json!({"code": null, "reason": ""})
    );
    assert_eq!(
        v["right"]["close_received"],
        serde_json::json!({"code": 1000, "reason": "done"})
    );
    let rtt = &v["right"]["ping_rtt_ms"];
    assert!(rtt["count"].as_u64().is_some_and(|c| c >= 1), "{line}");
    let (min, avg, max) = (
        rtt["min"].as_f64().expect("min"),
        rtt["avg"].as_f64().expect("avg"),
        rtt["max"].as_f64().expect("max"),
    );
    assert!(min <= avg && avg <= max, "{line}");
    assert!(
        v["duration_ms"].as_f64().is_some_and(|d| d >= 900.0),
        "{line}"
    );
}

#[test]
fn no_summary_without_the_option() {
    let stderr = known_exchange(&[]);
    assert!(!stderr.contains("left→right"), "{stderr}");
}

/// One HTTP GET; returns the status line and the body.
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting for a GET");
    s.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").expect("sending a GET");
    let mut all = String::new();
    s.read_to_string(&mut all).expect("reading the response");
    let (head, body) = all.split_once("\r\n\r\n").expect("a complete response");
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

#[test]
fn metrics_count_connections_failures_messages_and_closes() {
    let (p, port) = server(&["--metrics", "127.0.0.1:0", "ws-l:127.0.0.1:0", "mirror:"]);
    let (_, metrics_port) = p.listen_addr_of("metrics");

    for _ in 0..2 {
        let (mut ws, _) = ws_connect(port, "/", &[]);
        ws.send_text("hello");
        ws.send_binary(&[0, 1, 2]);
        assert_eq!(ws.recv().text(), "hello");
        assert_eq!(ws.recv().opcode, OP_BINARY);
        ws.send_close(Some((1000, "")));
        let (_, close) = ws.recv_until_close();
        assert_eq!(close.close_code().map(|c| c.0), Some(1000));
    }
    let (mut ws, _) = ws_connect(port, "/", &[]);
    ws.send_close(Some((4001, "custom")));
    ws.recv_until_close();
    // A plain GET is refused by the WebSocket server: a failed handshake.
    let (head, _) = http_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status(), 400);

    let expected = [
        "websocat_connections_total 4",
        "websocat_connections_open 0",
        "websocat_handshake_failures_total{reason=\"bad_request\"} 1",
        "websocat_messages_total{direction=\"from_client\"} 4",
        "websocat_messages_total{direction=\"to_client\"} 4",
        "websocat_bytes_total{direction=\"from_client\"} 16",
        "websocat_bytes_total{direction=\"to_client\"} 16",
        "websocat_closes_total{code=\"1000\"} 2",
        "websocat_closes_total{code=\"4001\"} 1",
    ];
    // Connections finish their bookkeeping just after the peer saw the Close.
    let body = poll(TIMEOUT, || {
        let (status, body) = http_get(metrics_port, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        expected
            .iter()
            .all(|e| body.lines().any(|l| l == *e))
            .then_some(body)
    });
    let body = body.unwrap_or_else(|| {
        panic!(
            "metrics never matched; last scrape:\n{}",
            http_get(metrics_port, "/metrics").1
        )
    });
    assert!(
        body.contains("# TYPE websocat_connections counter"),
        "{body}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
}

/// Runs headless Chromium on `url` and returns what it prints (`--dump-dom`) or writes
/// (`--screenshot`), killing its process group at the end.
fn run_chromium(chromium: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let mut guard = GroupGuard::spawn(
        Command::new(chromium)
            .args(crate::support::external::CHROMIUM_HEADLESS)
            .arg("--disable-quic")
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg(url)
            .current_dir(profile)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "chromium",
    );
    let mut stdout = guard.child().stdout.take().expect("chromium stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = guard.child().try_wait().expect("waiting for chromium") {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "chromium did not finish in 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(guard);
    reader.join().unwrap_or_default()
}

#[test]
fn browser_console_page_sends_and_shows_the_echo() {
    let Some(chromium) = find_program("chromium") else {
        return;
    };
    if !available("chromium", true) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let arrived = dir.path().join("arrived.txt");
    let (_server, port) = server_limited(
        &[
            "--browser-console",
            "ws-l:127.0.0.1:0",
            &format!("sh-c:tee -a {}", arrived.display()),
        ],
        Duration::from_secs(60),
    );
    // The page itself, as a plain GET gets it.
    let (status, page) = http_get(port, "/");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(page.contains("<title>websocat console</title>"), "{page}");

    let url = format!("http://127.0.0.1:{port}/#send=hello%20from%20the%20page");
    let profile = tempfile::tempdir().expect("profile dir");
    let dom = run_chromium(
        &chromium,
        profile.path(),
        &["--virtual-time-budget=5000", "--dump-dom"],
        &url,
    );
    let got = poll(TIMEOUT, || {
        std::fs::read_to_string(&arrived)
            .ok()
            .filter(|s| s.contains('\n'))
    })
    .expect("the message reached the server");
    assert_eq!(got, "hello from the page\n");
    assert!(
        dom.contains("<div class=\"out\">→ hello from the page</div>"),
        "the page does not show what it sent:\n{dom}"
    );
    assert!(
        dom.contains("<div class=\"in\">← hello from the page\n</div>"),
        "the page does not show the echo:\n{dom}"
    );

    // A screenshot for people to look at, in the test's temp dir.
    let shot = dir.path().join("console.png");
    let profile = tempfile::tempdir().expect("profile dir");
    run_chromium(
        &chromium,
        profile.path(),
        &[
            "--virtual-time-budget=5000",
            "--window-size=800,400",
            &format!("--screenshot={}", shot.display()),
        ],
        &format!("http://127.0.0.1:{port}/#send=second"),
    );
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    eprintln!("browser console screenshot: {}", shot.display());
}
