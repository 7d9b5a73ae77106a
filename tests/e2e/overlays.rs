//! End-to-end tests of the connection-management overlays and transforms: the built binary
//! on loopback, talking to independent peers written here on `std::net`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// A running websocat that is killed when dropped.
struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts websocat with `args` and waits for its `LISTEN …port=N` announcement.
fn start_listening(args: &[&str]) -> (Proc, u16) {
    start_listening_with(args, Stdio::inherit())
}

/// Like [`start_listening`], with stderr going where the caller says.
fn start_listening_with(args: &[&str], stderr: Stdio) -> (Proc, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_websocat"))
        .arg("--stdout-announce-listening-ports")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn websocat");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the child never blocks on stdout.
        let mut sink = Vec::new();
        let _ = r.read_to_end(&mut sink);
    });
    let proc = Proc { child };
    let line = rx.recv_timeout(T).expect("websocat announced no listener");
    let port = line
        .trim()
        .rsplit("port=")
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("bad announcement {line:?}"));
    (proc, port)
}

/// A minimal WebSocket client (RFC 6455) written independently of the code under test.
struct Ws {
    s: TcpStream,
}

impl Ws {
    fn connect(port: u16) -> Ws {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect ws");
        s.set_read_timeout(Some(T)).unwrap();
        s.write_all(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).expect("handshake response");
            head.push(b[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{:?}",
            String::from_utf8_lossy(&head)
        );
        Ws { s }
    }

    fn send(&mut self, opcode: u8, payload: &[u8]) {
        assert!(payload.len() < 126);
        let mask = [0x11u8, 0x22, 0x33, 0x44];
        let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.s.write_all(&f).unwrap();
    }

    fn send_text(&mut self, payload: &str) {
        self.send(1, payload.as_bytes());
    }

    /// Reads one frame: (opcode, payload).
    fn recv(&mut self) -> std::io::Result<(u8, Vec<u8>)> {
        let mut h = [0u8; 2];
        self.s.read_exact(&mut h)?;
        let mut len = u64::from(h[1] & 0x7f);
        if len == 126 {
            let mut l = [0u8; 2];
            self.s.read_exact(&mut l)?;
            len = u64::from(u16::from_be_bytes(l));
        } else if len == 127 {
            let mut l = [0u8; 8];
            self.s.read_exact(&mut l)?;
            len = u64::from_be_bytes(l);
        }
        let mut p = vec![0u8; len as usize];
        self.s.read_exact(&mut p)?;
        Ok((h[0] & 0x0f, p))
    }
}

fn accept(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + T;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(T)).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "nobody connected to the backend");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).expect("backend read");
    buf
}

/// CPU time (user + system) of a process in clock ticks, from /proc.
#[cfg(target_os = "linux")]
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat; `after` starts at field 3.
    f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
}

#[test]
fn reuse_autoreconnect_survives_tcp_server_restarts() {
    restart_scenario("reuse:autoreconnect:");
}

#[test]
fn autoreconnect_over_reuse_also_survives_restarts() {
    restart_scenario("autoreconnect:reuse:");
}

/// The TCP server behind `OVERLAYS tcp:` is stopped and started again on the same port, twice;
/// the WebSocket clients stay connected and nothing written after a restart is lost.
fn restart_scenario(overlays: &str) {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let bport = backend.local_addr().unwrap().port();
    let target = format!("{overlays}tcp:127.0.0.1:{bport}");
    let (proc, port) = start_listening(&["-u", "-p", "HI", "ws-l:127.0.0.1:0", &target]);

    let mut ws = Ws::connect(port);
    ws.send_text("one");
    let mut s1 = accept(&backend);
    // The preamble comes first on every inner connection; text mode adds the newline.
    assert_eq!(read_n(&mut s1, 6), b"HIone\n");

    // The server goes away; a message written now waits for the next connection.
    drop(backend);
    drop(s1);
    std::thread::sleep(Duration::from_millis(200));
    ws.send_text("two");
    #[cfg(target_os = "linux")]
    let before = cpu_ticks(proc.child.id());
    std::thread::sleep(Duration::from_millis(1500));
    #[cfg(target_os = "linux")]
    {
        let spent = cpu_ticks(proc.child.id()) - before;
        assert!(
            spent < 30,
            "busy while the server was down: {spent} ticks in 1.5 s"
        );
    }

    // Same port again: the queued message arrives after the preamble, nothing is lost.
    let backend = TcpListener::bind(("127.0.0.1", bport)).unwrap();
    let mut s2 = accept(&backend);
    assert_eq!(read_n(&mut s2, 6), b"HItwo\n");
    ws.send_text("three");
    assert_eq!(read_n(&mut s2, 6), b"three\n");

    // A second restart, and a second client sharing the same inner connection.
    drop(s2);
    drop(backend);
    std::thread::sleep(Duration::from_millis(100));
    let backend = TcpListener::bind(("127.0.0.1", bport)).unwrap();
    let mut s3 = accept(&backend);
    assert_eq!(read_n(&mut s3, 2), b"HI");
    let mut ws2 = Ws::connect(port);
    ws2.send_text("four");
    assert_eq!(read_n(&mut s3, 5), b"four\n");
    ws.send_text("five");
    assert_eq!(read_n(&mut s3, 5), b"five\n");
    drop(proc);
}

#[test]
fn reuse_raw_shares_one_connection_and_hands_each_reply_to_one_client() {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let bport = backend.local_addr().unwrap().port();
    let target = format!("reuse-raw:tcp:127.0.0.1:{bport}");
    let (_proc, port) = start_listening(&["ws-l:127.0.0.1:0", &target]);
    let mut a = Ws::connect(port);
    a.send_text("from-a");
    let mut s = accept(&backend);
    assert_eq!(read_n(&mut s, 7), b"from-a\n");
    let mut b = Ws::connect(port);
    b.send_text("from-b");
    assert_eq!(read_n(&mut s, 7), b"from-b\n");
    // One shared inner connection: no second backend connection.
    backend.set_nonblocking(true).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        backend.accept().is_err(),
        "a second inner connection was opened"
    );
    // One reply reaches exactly one of the two clients.
    s.write_all(b"reply\n").unwrap();
    a.s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    b.s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let got: Vec<_> = [a.recv(), b.recv()]
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(got, vec![(1u8, b"reply\n".to_vec())]);
}

#[test]
fn preamble_reverse_goes_to_the_left_client_first() {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let bport = backend.local_addr().unwrap().port();
    let target = format!("tcp:127.0.0.1:{bport}");
    let (_proc, port) = start_listening(&["-P", "REV", "-P", "REV2", "ws-l:127.0.0.1:0", &target]);
    let mut ws = Ws::connect(port);
    assert_eq!(ws.recv().unwrap(), (1, b"REV".to_vec()));
    assert_eq!(ws.recv().unwrap(), (1, b"REV2".to_vec()));
    let mut s = accept(&backend);
    s.write_all(b"hello\n").unwrap();
    assert_eq!(ws.recv().unwrap(), (1, b"hello\n".to_vec()));
}

#[test]
fn lengthprefixed_frames_each_message_with_its_length() {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let bport = backend.local_addr().unwrap().port();
    let target = format!("lengthprefixed:tcp:127.0.0.1:{bport}");
    let (_proc, port) = start_listening(&[
        "-b",
        "--lengthprefixed-nbytes=2",
        "--lengthprefixed-little-endian",
        "ws-l:127.0.0.1:0",
        &target,
    ]);
    let mut ws = Ws::connect(port);
    ws.send(2, b"abc");
    ws.send(2, b"");
    let mut s = accept(&backend);
    assert_eq!(read_n(&mut s, 7), b"\x03\x00abc\x00\x00");
    // Two packets in one TCP write, one split across writes: exactly two messages.
    s.write_all(b"\x02\x00hi\x05\x00wor").unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(b"ld").unwrap();
    assert_eq!(ws.recv().unwrap(), (2, b"hi".to_vec()));
    assert_eq!(ws.recv().unwrap(), (2, b"world".to_vec()));
}

#[test]
fn log_prints_reads_and_writes_to_stderr() {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let bport = backend.local_addr().unwrap().port();
    let target = format!("log:tcp:127.0.0.1:{bport}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stderr");
    let file = std::fs::File::create(&path).unwrap();
    let (proc, port) = start_listening_with(&["ws-l:127.0.0.1:0", &target], Stdio::from(file));
    let mut ws = Ws::connect(port);
    ws.send_text("ping");
    let mut s = accept(&backend);
    assert_eq!(read_n(&mut s, 5), b"ping\n");
    s.write_all(b"po\x01ng\n").unwrap();
    assert_eq!(ws.recv().unwrap(), (1, b"po\x01ng\n".to_vec()));
    drop(proc);
    let log = std::fs::read_to_string(&path).unwrap();
    // Text mode puts the line codec under `log:`, so it sees whole messages.
    assert!(log.contains("WRITE 4 \"ping\"\n"), "{log}");
    assert!(log.contains("READ 6 \"po\\x01ng\\n\"\n"), "{log}");
}

/// Runs websocat as a client with `stdin` as input; returns its stdout once it exits.
fn run_client(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Vec<u8> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_websocat"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for v in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn websocat client");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    let mut proc = Proc { child };
    let got = rx.recv_timeout(T).expect("client did not finish");
    let status = proc.child.wait().expect("wait");
    assert!(status.success(), "client failed: {status}");
    got
}

/// Copies both ways between two sockets on threads, passing half-closes on.
fn relay(a: TcpStream, b: TcpStream) {
    for (mut from, mut to) in [(a.try_clone().unwrap(), b.try_clone().unwrap()), (b, a)] {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    }
}

/// A one-connection SOCKS5 proxy that connects every request to `real_port` on loopback and
/// reports the requested destination and credentials.
fn socks5_proxy(real_port: u16) -> (u16, mpsc::Receiver<(String, Option<String>)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut c, _)) = l.accept() else { return };
        let mut h = [0u8; 2];
        c.read_exact(&mut h).unwrap();
        let mut methods = vec![0u8; h[1] as usize];
        c.read_exact(&mut methods).unwrap();
        let mut creds = None;
        if methods.contains(&2) {
            c.write_all(&[5, 2]).unwrap();
            let mut v = [0u8; 2];
            c.read_exact(&mut v).unwrap();
            let mut user = vec![0u8; v[1] as usize];
            c.read_exact(&mut user).unwrap();
            let mut pl = [0u8; 1];
            c.read_exact(&mut pl).unwrap();
            let mut pass = vec![0u8; pl[0] as usize];
            c.read_exact(&mut pass).unwrap();
            creds = Some(format!(
                "{}:{}",
                String::from_utf8_lossy(&user),
                String::from_utf8_lossy(&pass)
            ));
            c.write_all(&[1, 0]).unwrap();
        } else {
            c.write_all(&[5, 0]).unwrap();
        }
        let mut r = [0u8; 4];
        c.read_exact(&mut r).unwrap();
        assert_eq!(&r[..3], &[5, 1, 0]);
        let host = match r[3] {
            1 => {
                let mut a = [0u8; 4];
                c.read_exact(&mut a).unwrap();
                std::net::Ipv4Addr::from(a).to_string()
            }
            3 => {
                let mut l = [0u8; 1];
                c.read_exact(&mut l).unwrap();
                let mut n = vec![0u8; l[0] as usize];
                c.read_exact(&mut n).unwrap();
                String::from_utf8_lossy(&n).to_string()
            }
            t => panic!("address type {t}"),
        };
        let mut p = [0u8; 2];
        c.read_exact(&mut p).unwrap();
        let _ = tx.send((format!("{host}:{}", u16::from_be_bytes(p)), creds));
        let upstream = TcpStream::connect(("127.0.0.1", real_port)).unwrap();
        c.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).unwrap();
        relay(c, upstream);
    });
    (port, rx)
}

/// A one-connection HTTP CONNECT proxy that tunnels to `real_port` on loopback and reports
/// the request head.
fn http_proxy(real_port: u16) -> (u16, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut c, _)) = l.accept() else { return };
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            c.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let _ = tx.send(String::from_utf8_lossy(&head).to_string());
        let upstream = TcpStream::connect(("127.0.0.1", real_port)).unwrap();
        c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        relay(c, upstream);
    });
    (port, rx)
}

#[test]
fn socks5_flag_routes_a_url_through_the_proxy_with_credentials() {
    let (_server, ws_port) = start_listening(&["ws-l:127.0.0.1:0", "mirror:"]);
    let (pport, seen) = socks5_proxy(ws_port);
    let proxy = format!("127.0.0.1:{pport}");
    let url = format!("ws://ws.example.invalid:{ws_port}/");
    let out = run_client(
        &["--socks5", &proxy, "--socks5-user-pass", "u:pw", &url],
        b"hello\n",
        &[],
    );
    assert_eq!(out, b"hello\n");
    let (dest, creds) = seen.recv_timeout(T).unwrap();
    assert_eq!(dest, format!("ws.example.invalid:{ws_port}"));
    assert_eq!(creds.as_deref(), Some("u:pw"));
}

#[test]
fn proxy_flag_uses_http_connect_with_basic_auth() {
    let (_server, ws_port) = start_listening(&["ws-l:127.0.0.1:0", "mirror:"]);
    let (pport, seen) = http_proxy(ws_port);
    let proxy = format!("http://user:pass@127.0.0.1:{pport}");
    let out = run_client(
        &["--proxy", &proxy, "ws://ws.example.invalid/chat"],
        b"hi there\n",
        &[],
    );
    assert_eq!(out, b"hi there\n");
    let head = seen.recv_timeout(T).unwrap();
    assert!(
        head.starts_with("CONNECT ws.example.invalid:80 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\n"),
        "{head}"
    );
}

#[test]
fn proxy_credentials_in_the_url_are_percent_decoded() {
    let (_server, ws_port) = start_listening(&["ws-l:127.0.0.1:0", "mirror:"]);
    let (pport, seen) = http_proxy(ws_port);
    // user name "user", password "p@ss", written escaped as a URL needs.
    let proxy = format!("http://us%65r:p%40ss@127.0.0.1:{pport}");
    let out = run_client(
        &["ws://ws.example.invalid:8080/"],
        b"escaped\n",
        &[("HTTP_PROXY", &proxy)],
    );
    assert_eq!(out, b"escaped\n");
    let head = seen.recv_timeout(T).unwrap();
    assert!(
        head.contains("\r\nProxy-Authorization: Basic dXNlcjpwQHNz\r\n"),
        "{head}"
    );
}

#[test]
fn http_proxy_environment_variable_is_honoured() {
    let (_server, ws_port) = start_listening(&["ws-l:127.0.0.1:0", "mirror:"]);
    let (pport, seen) = http_proxy(ws_port);
    let proxy = format!("http://127.0.0.1:{pport}");
    let out = run_client(
        &["ws://ws.example.invalid:8080/"],
        b"via env\n",
        &[("HTTP_PROXY", &proxy), ("NO_PROXY", "other.example")],
    );
    assert_eq!(out, b"via env\n");
    let head = seen.recv_timeout(T).unwrap();
    assert!(
        head.starts_with("CONNECT ws.example.invalid:8080 HTTP/1.1\r\n"),
        "{head}"
    );
}

#[test]
fn type_prefixes_and_base64_mark_message_types() {
    let (_server, ws_port) = start_listening(&["ws-l:127.0.0.1:0", "mirror:"]);
    let url = format!("ws://127.0.0.1:{ws_port}/");
    let out = run_client(
        &["--binary-prefix=B:", "--text-prefix=T:", "--base64", &url],
        b"B:aGVsbG8=\nT:hi\n",
        &[],
    );
    // Sent as a binary `hello` and a text `hi\n`; echoed back and marked again.
    assert_eq!(out, b"B:aGVsbG8=\nT:hi\n");
}

#[test]
fn jsonrpc_turns_stdin_lines_into_requests() {
    let (backend_proc, ws_port) = start_listening(&["ws-l:127.0.0.1:0", "mirror:"]);
    let url = format!("ws://127.0.0.1:{ws_port}/");
    let out = run_client(&["--jsonrpc", &url], b"add 1, 2\nping\n", &[]);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "{\"jsonrpc\":\"2.0\",\"id\":1, \"method\":\"add\", \"params\":[1, 2]}\n\
         {\"jsonrpc\":\"2.0\",\"id\":2, \"method\":\"ping\", \"params\":[]}\n"
    );
    drop(backend_proc);
}

#[test]
fn foreachmsg_opens_a_connection_per_message() {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let bport = backend.local_addr().unwrap().port();
    let target = format!("foreachmsg:tcp:127.0.0.1:{bport}");
    let (_proc, port) = start_listening(&["-u", "ws-l:127.0.0.1:0", &target]);
    let mut ws = Ws::connect(port);
    ws.send_text("first");
    ws.send_text("second");
    for want in [&b"first\n"[..], b"second\n"] {
        let mut s = accept(&backend);
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, want);
    }
}
