//! End-to-end tests of the leaf kinds (unix sockets, processes, UDP, files) running the built
//! binary on loopback and in temporary directories, asserting exact bytes.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_websocat");
const TIMEOUT: Duration = Duration::from_secs(10);

/// A websocat process that is killed and reaped when dropped.
struct Proc {
    child: Child,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Starts websocat with piped stdin/stdout and inherited stderr.
    fn start(args: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start websocat");
        let stdout = child.stdout.take().map(BufReader::new);
        Proc { child, stdout }
    }

    /// Reads one line of stdout (with a timeout, so a silent process fails the test).
    fn line(&mut self) -> String {
        let mut out = self.stdout.take().expect("stdout already consumed");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut l = String::new();
            let r = out.read_line(&mut l);
            let _ = tx.send((r.map(|_| l), out));
        });
        let (line, out) = rx.recv_timeout(TIMEOUT).expect("no line on stdout in time");
        self.stdout = Some(out);
        line.expect("reading stdout")
    }

    /// Reads the `LISTEN proto=…,ip=…,port=N` announcement and returns the port.
    fn announced_port(&mut self) -> u16 {
        let line = self.line();
        let port = line
            .trim_end()
            .rsplit("port=")
            .next()
            .and_then(|p| p.parse().ok());
        port.unwrap_or_else(|| panic!("not an announcement: {line:?}"))
    }

    /// Writes to stdin and closes it.
    fn feed_and_close(&mut self, data: &[u8]) {
        let mut stdin = self.child.stdin.take().expect("stdin");
        stdin.write_all(data).expect("write stdin");
    }

    /// Waits for exit (with a timeout); returns the exit code and everything left on stdout.
    fn finish(mut self) -> (i32, Vec<u8>) {
        drop(self.child.stdin.take());
        let mut out = self.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out.read_to_end(&mut v);
            let _ = tx.send(v);
        });
        let v = rx
            .recv_timeout(TIMEOUT)
            .expect("websocat did not finish in time");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return (st.code().unwrap_or(-1), v);
            }
            assert!(Instant::now() < deadline, "websocat did not exit in time");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Runs websocat to completion with `input` on stdin; returns (exit code, stdout, stderr).
fn run(args: &[&str], input: &[u8]) -> (i32, Vec<u8>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start websocat");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(TIMEOUT)
        .expect("websocat did not finish in time")
        .expect("wait");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn wait_for_path(p: &Path) {
    let deadline = Instant::now() + TIMEOUT;
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn read_exactly(r: &mut impl Read, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    r.read_exact(&mut v).expect("read");
    v
}

mod unix_sockets {
    use super::*;
    use std::os::unix::net::{UnixDatagram, UnixStream};

    #[test]
    fn unix_client_talks_to_unix_listener_and_listener_announces_path() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s");
        let sock_s = sock.to_str().unwrap();
        let mut server = Proc::start(&[
            "--stdout-announce-listening-ports",
            &format!("unix-l:{sock_s}"),
            "mirror:",
        ]);
        assert_eq!(
            server.line(),
            format!("LISTEN proto=unix,path={sock_s:?}\n")
        );
        let (code, out, err) = run(&["-", &format!("unix:{sock_s}")], b"hello\nworld\n");
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, b"hello\nworld\n");
        // The listener serves more than one connection.
        let (code, out, err) = run(&["-b", "-", &format!("unix-connect:{sock_s}")], b"again");
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, b"again");
    }

    #[test]
    fn existing_socket_path_needs_unlink() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("stale");
        let sock_s = sock.to_str().unwrap();
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        let (code, _, err) = run(&[&format!("unix-l:{sock_s}"), "mirror:"], b"");
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(sock_s), "{err}");
        assert!(err.contains("--unlink"), "{err}");

        let mut server = Proc::start(&["--unlink", &format!("l-unix:{sock_s}"), "mirror:"]);
        let _ = &mut server;
        let deadline = Instant::now() + TIMEOUT;
        let mut c = loop {
            match UnixStream::connect(&sock) {
                Ok(c) => break c,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("never listened: {e}"),
            }
        };
        c.write_all(b"x1").unwrap();
        assert_eq!(read_exactly(&mut c, 2), b"x1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn abstract_listener_and_client() {
        let name = format!("websocat-e2e-{}", std::process::id());
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        let mut server = Proc::start(&[
            "--stdout-announce-listening-ports",
            &format!("abstract-l:{name}"),
            "mirror:",
        ]);
        assert_eq!(
            server.line(),
            format!("LISTEN proto=abstract,path_hex={hex}\n")
        );
        assert!(!Path::new(&name).exists());
        let (code, out, err) = run(&["-b", "-", &format!("abstract:{name}")], b"abs");
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, b"abs");
    }

    /// A WebSocket upgrade over `unix-l:` (no close handshake involved): the 101 answer and
    /// one echoed frame.
    fn ws_echo_over_unix(spec: &str, sock: &Path) {
        let mut server = Proc::start(&["--stdout-announce-listening-ports", spec, "mirror:"]);
        let line = server.line();
        assert!(line.starts_with("LISTEN proto=unix,path="), "{line}");
        let mut c = UnixStream::connect(sock).unwrap();
        c.set_read_timeout(Some(TIMEOUT)).unwrap();
        c.write_all(
            b"GET /x HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.extend(read_exactly(&mut c, 1));
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
        // Masked text frame "hi" (mask 0): the echo comes back unmasked.
        c.write_all(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']).unwrap();
        assert_eq!(read_exactly(&mut c, 4), [0x81, 0x02, b'h', b'i']);
    }

    #[test]
    fn ws_listen_over_unix_listener() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("ws");
        ws_echo_over_unix(&format!("ws-l:unix-l:{}", sock.display()), &sock);
    }

    #[test]
    fn l_ws_unix_shorthand() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("ws2");
        ws_echo_over_unix(&format!("l-ws-unix:{}", sock.display()), &sock);
    }

    #[test]
    fn unix_dgram_sends_one_datagram_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let peer_path = dir.path().join("peer");
        let me_path = dir.path().join("me");
        let peer = UnixDatagram::bind(&peer_path).unwrap();
        peer.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut p = Proc::start(&[
            "-b",
            "-u",
            "-",
            &format!("unix-dgram:{}:{}", me_path.display(), peer_path.display()),
        ]);
        p.feed_and_close(b"one datagram");
        let mut buf = [0u8; 64];
        let n = peer.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one datagram");
        let (code, _) = p.finish();
        assert_eq!(code, 0);
    }

    #[test]
    fn unix_dgram_receives_into_stdout() {
        let dir = tempfile::tempdir().unwrap();
        let peer_path = dir.path().join("peer");
        let me_path = dir.path().join("me");
        let peer = UnixDatagram::bind(&peer_path).unwrap();
        let p = Proc::start(&[
            "-b",
            "-U",
            "-",
            &format!("unix-dgram:{}:{}", me_path.display(), peer_path.display()),
        ]);
        wait_for_path(&me_path);
        peer.send_to(b"from peer", &me_path).unwrap();
        let mut p = p;
        let mut out = p.stdout.take().unwrap();
        let got = read_exactly(&mut out, 9);
        assert_eq!(got, b"from peer");
    }
}

/// Connects to 127.0.0.1:`port`, sends `input`, half-closes and reads everything back.
fn tcp_exchange(port: u16, input: &[u8]) -> (Vec<u8>, std::net::TcpStream) {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(TIMEOUT)).unwrap();
    c.write_all(input).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).expect("read reply");
    (out, c)
}

mod processes {
    use super::*;

    #[test]
    fn sh_c_behind_tcp_listener_uppercases() {
        let mut server = Proc::start(&[
            "--stdout-announce-listening-ports",
            "tcp-l:127.0.0.1:0",
            "sh-c:tr a-z A-Z",
        ]);
        let port = server.announced_port();
        assert_eq!(tcp_exchange(port, b"hello\nworld\n").0, b"HELLO\nWORLD\n");
        // Every connection gets its own child.
        assert_eq!(tcp_exchange(port, b"again").0, b"AGAIN");
    }

    #[test]
    fn cmd_is_sh_c_and_keeps_colons() {
        let (code, out, err) = run(&["-b", "-", "cmd:printf %s a:b"], b"");
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, b"a:b");
    }

    #[test]
    fn exec_args_come_last_and_are_verbatim() {
        let mut server = Proc::start(&[
            "--stdout-announce-listening-ports",
            "tcp-l:127.0.0.1:0",
            "exec:printf",
            "--exec-args",
            "%s|%s|%s",
            "-x",
            "--not-an-option",
            "a b;c",
        ]);
        let port = server.announced_port();
        assert_eq!(tcp_exchange(port, b"").0, b"-x|--not-an-option|a b;c");
    }

    #[test]
    fn set_environment_gives_the_client_address() {
        let mut server = Proc::start(&[
            "-e",
            "--stdout-announce-listening-ports",
            "tcp-l:127.0.0.1:0",
            "exec:printenv",
            "--exec-args",
            "WEBSOCAT_CLIENT",
        ]);
        let port = server.announced_port();
        let (out, c) = tcp_exchange(port, b"");
        let me = c.local_addr().unwrap();
        assert_eq!(out, format!("{me}\n").as_bytes());
    }

    #[test]
    fn no_environment_without_e() {
        let mut server = Proc::start(&[
            "--stdout-announce-listening-ports",
            "tcp-l:127.0.0.1:0",
            "sh-c:printf %s \"${WEBSOCAT_CLIENT-unset}\"",
        ]);
        let port = server.announced_port();
        assert_eq!(tcp_exchange(port, b"").0, b"unset");
    }

    /// The request URI and a header reach the child through a raw WebSocket handshake
    /// (no close handshake involved: we read the one data frame and stop).
    #[test]
    fn set_environment_gives_uri_and_headers_under_ws_server() {
        let mut server = Proc::start(&[
            "-e",
            "--stdout-announce-listening-ports",
            "--header-to-env",
            "X-Token",
            "ws-l:127.0.0.1:0",
            // Not through `sh`: dash drops variables with `-` in their names.
            "exec:printenv",
            "--exec-args",
            "H_X-Token",
            "WEBSOCAT_URI",
        ]);
        let port = server.announced_port();
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(TIMEOUT)).unwrap();
        c.write_all(
            b"GET /p?q=1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              X-Token: s3cret\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.extend(read_exactly(&mut c, 1));
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        // Text mode: one text message per line of the child's output.
        for expected in [&b"s3cret\n"[..], b"/p?q=1\n"] {
            let frame = read_exactly(&mut c, 2 + expected.len());
            assert_eq!(frame[0], 0x81);
            assert_eq!(usize::from(frame[1]), expected.len());
            assert_eq!(&frame[2..], expected);
        }
    }

    #[test]
    fn exit_on_disconnect_kills_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let mut server = Proc::start(&[
            "-E",
            "--exec-exit-on-disconnect",
            "--stdout-announce-listening-ports",
            "tcp-l:127.0.0.1:0",
            &format!("sh-c:echo $$ > {}; exec sleep 30", pidfile.display()),
        ]);
        let port = server.announced_port();
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        wait_for_path(&pidfile);
        let deadline = Instant::now() + TIMEOUT;
        let pid = loop {
            let text = std::fs::read_to_string(&pidfile).unwrap();
            if let Ok(p) = text.trim().parse::<u32>() {
                break p;
            }
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(10));
        };
        let proc_dir = format!("/proc/{pid}");
        assert!(Path::new(&proc_dir).exists());
        drop(c);
        let deadline = Instant::now() + TIMEOUT;
        while Path::new(&proc_dir).exists() {
            assert!(
                Instant::now() < deadline,
                "child {pid} outlived its connection"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

mod udp {
    use super::*;
    use std::net::UdpSocket;

    fn peer() -> (UdpSocket, u16) {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let port = s.local_addr().unwrap().port();
        (s, port)
    }

    fn recv(s: &UdpSocket) -> (Vec<u8>, std::net::SocketAddr) {
        let mut buf = [0u8; 2048];
        let (n, from) = s.recv_from(&mut buf).expect("datagram in time");
        (buf[..n].to_vec(), from)
    }

    #[test]
    fn text_mode_sends_one_datagram_per_line() {
        let (p, port) = peer();
        let (code, _, err) = run(
            &["-u", "-", &format!("udp:127.0.0.1:{port}")],
            b"a\nbb\nccc\n",
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(recv(&p).0, b"a\n");
        assert_eq!(recv(&p).0, b"bb\n");
        assert_eq!(recv(&p).0, b"ccc\n");
    }

    #[test]
    fn udp_client_receives_replies_on_stdout() {
        let (p, port) = peer();
        let mut client = Proc::start(&["-b", "-", &format!("udp-connect:127.0.0.1:{port}")]);
        client
            .child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"ping")
            .unwrap();
        let (got, from) = recv(&p);
        assert_eq!(got, b"ping");
        p.send_to(b"pong", from).unwrap();
        let mut out = client.stdout.take().unwrap();
        assert_eq!(read_exactly(&mut out, 4), b"pong");
    }

    #[test]
    fn udp_listen_echo_keeps_datagram_boundaries() {
        let mut server = Proc::start(&[
            "-b",
            "--stdout-announce-listening-ports",
            "udp-l:127.0.0.1:0",
            "mirror:",
        ]);
        let port = server.announced_port();
        let (c, _) = peer();
        for d in [&b"x"[..], b"yy", b"", b"a longer datagram\n with a newline"] {
            c.send_to(d, ("127.0.0.1", port)).unwrap();
            let (got, from) = recv(&c);
            assert_eq!(got, d);
            assert_eq!(from.port(), port);
        }
        // Replies follow the most recent sender.
        let (c2, _) = peer();
        c2.send_to(b"second", ("127.0.0.1", port)).unwrap();
        assert_eq!(recv(&c2).0, b"second");
    }

    #[test]
    fn udp_listen_to_tcp_in_binary_mode() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tport = tcp.local_addr().unwrap().port();
        let mut server = Proc::start(&[
            "-b",
            "--stdout-announce-listening-ports",
            "l-udp:127.0.0.1:0",
            &format!("tcp:127.0.0.1:{tport}"),
        ]);
        let uport = server.announced_port();
        let (c, _) = peer();
        c.send_to(b"over udp", ("127.0.0.1", uport)).unwrap();
        let (mut t, _) = tcp.accept().unwrap();
        t.set_read_timeout(Some(TIMEOUT)).unwrap();
        assert_eq!(read_exactly(&mut t, 8), b"over udp");
        t.write_all(b"back over tcp").unwrap();
        assert_eq!(recv(&c).0, b"back over tcp");
    }
}

mod files {
    use super::*;

    #[test]
    fn readfile_content_to_stdout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.bin");
        let content = b"line one\nline two\n\x00\xff end without newline";
        std::fs::write(&p, content).unwrap();
        let (code, out, err) = run(
            &["-b", "-U", "-", &format!("readfile:{}", p.display())],
            b"",
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, content);
    }

    #[test]
    fn writefile_truncates_and_appendfile_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        std::fs::write(&p, b"previous content that must go away").unwrap();
        let w = format!("writefile:{}", p.display());
        let (code, _, err) = run(&["-b", "-u", "-", &w], b"first\n\x00second");
        assert_eq!(code, 0, "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"first\n\x00second");
        let a = format!("appendfile:{}", p.display());
        let (code, _, err) = run(&["-u", "-", &a], b"+more\n");
        assert_eq!(code, 0, "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"first\n\x00second+more\n");
    }

    #[test]
    fn writefile_behind_a_tcp_listener() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("upload");
        let mut server = Proc::start(&[
            "--stdout-announce-listening-ports",
            "-b",
            "tcp-l:127.0.0.1:0",
            &format!("writefile:{}", p.display()),
        ]);
        let port = server.announced_port();
        let (reply, _) = tcp_exchange(port, b"uploaded bytes");
        assert_eq!(reply, b"");
        // Reading a writefile ends at once, so our reply ends before the upload is written:
        // wait for it.
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let got = std::fs::read(&p).unwrap_or_default();
            if got == b"uploaded bytes" {
                break;
            }
            assert!(Instant::now() < deadline, "file holds {got:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn open_async_writes_into_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(st.success());
        let mut p = Proc::start(&["-b", "-u", "-", &format!("open-async:{}", fifo.display())]);
        p.child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"into the fifo")
            .unwrap();
        // websocat holds the FIFO open read-write, so this open does not block.
        let mut r = std::fs::File::open(&fifo).unwrap();
        assert_eq!(read_exactly(&mut r, 13), b"into the fifo");
        let (code, _) = p.finish();
        assert_eq!(code, 0);
    }

    #[test]
    fn open_fd_reads_an_inherited_pipe() {
        let script =
            format!("printf 'via fd 3' | {{ '{BIN}' -b -U - open-fd:3 3<&0 0</dev/null; }}");
        let (code, out, err) = run(&["-b", "-U", "-", &format!("sh-c:{script}")], b"");
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, b"via fd 3");
    }

    #[test]
    fn threadedstdio_echoes_through_mirror() {
        let (code, out, err) = run(&["threadedstdio:", "mirror:"], b"abc\ndef\n");
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, b"abc\ndef\n");
    }

    #[test]
    fn threadedstdio_counts_as_stdio_for_the_planner() {
        // Cat mode: `- threadedstdio:` copies stdin to stdout once.
        let (code, out, err) = run(&["-", "threadedstdio:"], b"cat mode\n");
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, b"cat mode\n");
        let (code, out, err) = run(&["--dump-spec", "tcp-l:127.0.0.1:0", "threadedstdio:"], b"");
        assert_eq!(code, 0, "{err}");
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("broadcast:threadedstdio:"), "{out}");
    }

    /// `inetd-ws:` answers a WebSocket handshake arriving on stdin (only the first frame is
    /// checked, no close handshake).
    #[test]
    fn inetd_ws_serves_a_client_on_stdio() {
        let mut p = Proc::start(&["inetd-ws:", "literal:hello"]);
        p.child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            )
            .unwrap();
        let mut out = p.stdout.take().unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.extend(read_exactly(&mut out, 1));
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        assert_eq!(read_exactly(&mut out, 7), b"\x81\x05hello");
    }
}
