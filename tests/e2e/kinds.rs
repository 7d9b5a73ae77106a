//! End-to-end tests of the leaf kinds (unix sockets, processes, UDP, files) running the built
//! binary on loopback and in temporary directories, asserting exact bytes.

use crate::support::{poll, run, server, Proc, TIMEOUT};
use std::io::{Read, Write};
use std::path::Path;

/// Waits until `p` exists.
fn wait_for_path(p: &Path) {
    if poll(TIMEOUT, || p.exists().then_some(())).is_none() {
        panic!("{} never appeared", p.display());
    }
}

fn read_exactly(r: &mut impl Read, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    r.read_exact(&mut v).expect("read");
    v
}

/// Waits until `p` wrote at least `n` bytes to stdout and returns the first `n`.
fn stdout_prefix(p: &Proc, n: usize) -> Vec<u8> {
    let out = p.wait_stdout(&format!("{n} bytes"), |b| b.len() >= n);
    out[..n].to_vec()
}

/// A WebSocket handshake request for `path` on `host` with the RFC 6455 sample key (for
/// transports the raw peer of `support::ws` cannot use: unix sockets, stdio).
fn upgrade_request(path: &str, host: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Reads an HTTP head byte by byte, up to and including the blank line.
fn read_head(r: &mut impl Read) -> Vec<u8> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.extend(read_exactly(r, 1));
    }
    head
}

mod unix_sockets {
    use super::*;
    use std::os::unix::net::{UnixDatagram, UnixStream};

    #[test]
    fn unix_client_talks_to_unix_listener_and_listener_announces_path() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s");
        let sock_s = sock.to_str().unwrap();
        let server = Proc::spawn(&[
            "--stdout-announce-listening-ports",
            &format!("unix-l:{sock_s}"),
            "mirror:",
        ]);
        assert_eq!(
            server.first_line(),
            format!("LISTEN proto=unix,path={sock_s:?}\n")
        );
        let o = run(&["-", &format!("unix:{sock_s}")], b"hello\nworld\n");
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(o.stdout, b"hello\nworld\n");
        // The listener serves more than one connection.
        let o = run(&["-b", "-", &format!("unix-connect:{sock_s}")], b"again");
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(o.stdout, b"again");
    }

    #[test]
    fn existing_socket_path_needs_unlink() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("stale");
        let sock_s = sock.to_str().unwrap();
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        let o = run(&[&format!("unix-l:{sock_s}"), "mirror:"], b"");
        let err = &o.stderr;
        assert_eq!(o.code(), 1, "{err}");
        assert!(err.contains(sock_s), "{err}");
        assert!(err.contains("--unlink"), "{err}");

        let _server = Proc::spawn(&["--unlink", &format!("l-unix:{sock_s}"), "mirror:"]);
        let mut last_error = None;
        let mut c = poll(TIMEOUT, || {
            UnixStream::connect(&sock)
                .map_err(|e| last_error = Some(e))
                .ok()
        })
        .unwrap_or_else(|| panic!("never listened: {last_error:?}"));
        c.set_read_timeout(Some(TIMEOUT)).unwrap();
        c.write_all(b"x1").unwrap();
        assert_eq!(read_exactly(&mut c, 2), b"x1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn abstract_listener_and_client() {
        let name = format!("websocat-e2e-{}", std::process::id());
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        let server = Proc::spawn(&[
            "--stdout-announce-listening-ports",
            &format!("abstract-l:{name}"),
            "mirror:",
        ]);
        assert_eq!(
            server.first_line(),
            format!("LISTEN proto=abstract,path_hex={hex}\n")
        );
        assert!(!Path::new(&name).exists());
        let o = run(&["-b", "-", &format!("abstract:{name}")], b"abs");
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(o.stdout, b"abs");
    }

    /// A WebSocket upgrade over `unix-l:` (no close handshake involved): the 101 answer and
    /// one echoed frame.
    fn ws_echo_over_unix(spec: &str, sock: &Path) {
        let server = Proc::spawn(&["--stdout-announce-listening-ports", spec, "mirror:"]);
        let line = server.first_line();
        assert!(line.starts_with("LISTEN proto=unix,path="), "{line}");
        let mut c = UnixStream::connect(sock).unwrap();
        c.set_read_timeout(Some(TIMEOUT)).unwrap();
        c.write_all(&upgrade_request("/x", "localhost")).unwrap();
        let head = read_head(&mut c);
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
        let mut p = Proc::spawn(&[
            "-b",
            "-u",
            "-",
            &format!("unix-dgram:{}:{}", me_path.display(), peer_path.display()),
        ]);
        p.write_stdin(b"one datagram");
        p.close_stdin();
        let mut buf = [0u8; 64];
        let n = peer.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one datagram");
        assert_eq!(p.wait().code(), 0);
    }

    #[test]
    fn unix_dgram_receives_into_stdout() {
        let dir = tempfile::tempdir().unwrap();
        let peer_path = dir.path().join("peer");
        let me_path = dir.path().join("me");
        let peer = UnixDatagram::bind(&peer_path).unwrap();
        let p = Proc::spawn(&[
            "-b",
            "-U",
            "-",
            &format!("unix-dgram:{}:{}", me_path.display(), peer_path.display()),
        ]);
        wait_for_path(&me_path);
        peer.send_to(b"from peer", &me_path).unwrap();
        let got = stdout_prefix(&p, 9);
        assert_eq!(got, b"from peer");
    }
}

mod processes {
    use super::*;
    use crate::support::ws::{connect, tcp_exchange, ws_connect, OP_TEXT};

    #[test]
    fn sh_c_behind_tcp_listener_uppercases() {
        let (_server, port) = server(&["tcp-l:127.0.0.1:0", "sh-c:tr a-z A-Z"]);
        assert_eq!(tcp_exchange(port, b"hello\nworld\n").0, b"HELLO\nWORLD\n");
        // Every connection gets its own child.
        assert_eq!(tcp_exchange(port, b"again").0, b"AGAIN");
    }

    #[test]
    fn empty_binary_message_sends_sighup_to_the_child() {
        let (_server, port) = server(&[
            "-b",
            "--exec-sighup-on-zero-msg",
            "ws-l:127.0.0.1:0",
            "sh-c:trap 'echo got-hup' HUP; echo ready; while :; do sleep 0.05; done",
        ]);
        let (mut ws, _) = ws_connect(port, "/", &[]);
        let mut got = Vec::new();
        while !got.ends_with(b"ready\n") {
            got.extend(ws.recv().payload);
        }
        ws.send_binary(b"");
        let mut after = Vec::new();
        while !after.ends_with(b"got-hup\n") {
            after.extend(ws.recv().payload);
        }
        assert_eq!(after, b"got-hup\n");
    }

    #[test]
    fn cmd_is_sh_c_and_keeps_colons() {
        let o = run(&["-b", "-", "cmd:printf %s a:b"], b"");
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(o.stdout, b"a:b");
    }

    #[test]
    fn exec_args_come_last_and_are_verbatim() {
        let (_server, port) = server(&[
            "tcp-l:127.0.0.1:0",
            "exec:printf",
            "--exec-args",
            "%s|%s|%s",
            "-x",
            "--not-an-option",
            "a b;c",
        ]);
        assert_eq!(tcp_exchange(port, b"").0, b"-x|--not-an-option|a b;c");
    }

    #[test]
    fn set_environment_gives_the_client_address() {
        let (_server, port) = server(&[
            "-e",
            "tcp-l:127.0.0.1:0",
            "exec:printenv",
            "--exec-args",
            "WEBSOCAT_CLIENT",
        ]);
        let (out, c) = tcp_exchange(port, b"");
        let me = c.local_addr().unwrap();
        assert_eq!(out, format!("{me}\n").as_bytes());
    }

    #[test]
    fn no_environment_without_e() {
        let (_server, port) = server(&[
            "tcp-l:127.0.0.1:0",
            "sh-c:printf %s \"${WEBSOCAT_CLIENT-unset}\"",
        ]);
        assert_eq!(tcp_exchange(port, b"").0, b"unset");
    }

    /// The request URI and a header reach the child through a raw WebSocket handshake
    /// (no close handshake involved: we read the one data frame and stop).
    #[test]
    fn set_environment_gives_uri_and_headers_under_ws_server() {
        let (_server, port) = server(&[
            "-e",
            "--header-to-env",
            "X-Token",
            "ws-l:127.0.0.1:0",
            // Not through `sh`: dash drops variables with `-` in their names.
            "exec:printenv",
            "--exec-args",
            "H_X-Token",
            "WEBSOCAT_URI",
        ]);
        let (mut c, head) = ws_connect(port, "/p?q=1", &[("X-Token", "s3cret")]);
        assert_eq!(head.status(), 101, "{head:?}");
        // Text mode: one text message per line of the child's output.
        for expected in [&b"s3cret\n"[..], b"/p?q=1\n"] {
            let frame = c.recv();
            assert_eq!((frame.fin, frame.opcode), (true, OP_TEXT));
            assert_eq!(frame.payload, expected);
        }
    }

    #[test]
    fn exit_on_disconnect_kills_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let (_server, port) = server(&[
            "-E",
            "--exec-exit-on-disconnect",
            "tcp-l:127.0.0.1:0",
            &format!("sh-c:echo $$ > {}; exec sleep 30", pidfile.display()),
        ]);
        let c = connect(port);
        wait_for_path(&pidfile);
        let pid = poll(TIMEOUT, || {
            let text = std::fs::read_to_string(&pidfile).unwrap();
            text.trim().parse::<u32>().ok()
        })
        .expect("a pid in the pid file");
        let proc_dir = format!("/proc/{pid}");
        assert!(Path::new(&proc_dir).exists());
        drop(c);
        let gone = poll(TIMEOUT, || (!Path::new(&proc_dir).exists()).then_some(()));
        assert!(gone.is_some(), "child {pid} outlived its connection");
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

    /// Starts `websocat -b --stdout-announce-listening-ports ARGS` with a UDP listener and
    /// returns it with the announced port.
    fn udp_server(args: &[&str]) -> (Proc, u16) {
        let mut all = vec!["-b", "--stdout-announce-listening-ports"];
        all.extend_from_slice(args);
        let p = Proc::spawn(&all);
        let port = p.listen_addr_of("udp").1;
        (p, port)
    }

    #[test]
    fn text_mode_sends_one_datagram_per_line() {
        let (p, port) = peer();
        let o = run(
            &["-u", "-", &format!("udp:127.0.0.1:{port}")],
            b"a\nbb\nccc\n",
        );
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(recv(&p).0, b"a\n");
        assert_eq!(recv(&p).0, b"bb\n");
        assert_eq!(recv(&p).0, b"ccc\n");
    }

    #[test]
    fn udp_client_receives_replies_on_stdout() {
        let (p, port) = peer();
        let mut client = Proc::spawn(&["-b", "-", &format!("udp-connect:127.0.0.1:{port}")]);
        client.write_stdin(b"ping");
        let (got, from) = recv(&p);
        assert_eq!(got, b"ping");
        p.send_to(b"pong", from).unwrap();
        assert_eq!(stdout_prefix(&client, 4), b"pong");
    }

    #[test]
    fn udp_listen_echo_keeps_datagram_boundaries() {
        let (_server, port) = udp_server(&["udp-l:127.0.0.1:0", "mirror:"]);
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
        let (_server, uport) =
            udp_server(&["l-udp:127.0.0.1:0", &format!("tcp:127.0.0.1:{tport}")]);
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
    use crate::support::ws::tcp_exchange;

    #[test]
    fn stdout_redirected_to_a_file_gets_every_byte_before_exit() {
        // A regular file on stdout is written on blocking threads; the process must not exit
        // before the last write landed. 3 MiB of varied bytes in 16 KiB pieces from a pipe.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.bin");
        let input: Vec<u8> = (0..3 * 1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let file = std::fs::File::create(&out).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_websocat"))
            .args(["-b", "-", "mirror:"])
            .stdin(std::process::Stdio::piped())
            .stdout(file)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for piece in input.chunks(16 * 1024) {
            stdin.write_all(piece).unwrap();
        }
        drop(stdin);
        let status = child.wait().unwrap();
        assert!(status.success(), "{status}");
        let got = std::fs::read(&out).unwrap();
        assert_eq!(got.len(), input.len());
        assert!(got == input, "the file differs from what was sent");
    }

    #[test]
    fn readfile_content_to_stdout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.bin");
        let content = b"line one\nline two\n\x00\xff end without newline";
        std::fs::write(&p, content).unwrap();
        let o = run(
            &["-b", "-U", "-", &format!("readfile:{}", p.display())],
            b"",
        );
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(o.stdout, content);
    }

    #[test]
    fn writefile_truncates_and_appendfile_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        std::fs::write(&p, b"previous content that must go away").unwrap();
        let w = format!("writefile:{}", p.display());
        let o = run(&["-b", "-u", "-", &w], b"first\n\x00second");
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(std::fs::read(&p).unwrap(), b"first\n\x00second");
        let a = format!("appendfile:{}", p.display());
        let o = run(&["-u", "-", &a], b"+more\n");
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(std::fs::read(&p).unwrap(), b"first\n\x00second+more\n");
    }

    #[test]
    fn writefile_behind_a_tcp_listener() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("upload");
        let (_server, port) = server(&[
            "-b",
            "tcp-l:127.0.0.1:0",
            &format!("writefile:{}", p.display()),
        ]);
        let (reply, _) = tcp_exchange(port, b"uploaded bytes");
        assert_eq!(reply, b"");
        // Reading a writefile ends at once, so our reply ends before the upload is written:
        // wait for it.
        let mut got = Vec::new();
        let written = poll(TIMEOUT, || {
            got = std::fs::read(&p).unwrap_or_default();
            (got == b"uploaded bytes").then_some(())
        });
        assert!(written.is_some(), "file holds {got:?}");
    }

    #[test]
    fn open_async_writes_into_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let st = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(st.success());
        let mut p = Proc::spawn(&["-b", "-u", "-", &format!("open-async:{}", fifo.display())]);
        p.write_stdin(b"into the fifo");
        // websocat holds the FIFO open read-write, so this open does not block.
        let mut r = std::fs::File::open(&fifo).unwrap();
        assert_eq!(read_exactly(&mut r, 13), b"into the fifo");
        p.close_stdin();
        assert_eq!(p.wait().code(), 0);
    }

    #[test]
    fn open_fd_reads_an_inherited_pipe() {
        let bin = env!("CARGO_BIN_EXE_websocat");
        let script =
            format!("printf 'via fd 3' | {{ '{bin}' -b -U - open-fd:3 3<&0 0</dev/null; }}");
        let o = run(&["-b", "-U", "-", &format!("sh-c:{script}")], b"");
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(o.stdout, b"via fd 3");
    }

    #[test]
    fn threadedstdio_echoes_through_mirror() {
        let o = run(&["threadedstdio:", "mirror:"], b"abc\ndef\n");
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(o.stdout, b"abc\ndef\n");
    }

    #[test]
    fn threadedstdio_counts_as_stdio_for_the_planner() {
        // Cat mode: `- threadedstdio:` copies stdin to stdout once.
        let o = run(&["-", "threadedstdio:"], b"cat mode\n");
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(o.stdout, b"cat mode\n");
        let o = run(&["--dump-spec", "tcp-l:127.0.0.1:0", "threadedstdio:"], b"");
        assert_eq!(o.code(), 0, "{}", o.stderr);
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(out.contains("broadcast:threadedstdio:"), "{out}");
    }

    /// `inetd-ws:` answers a WebSocket handshake arriving on stdin (only the first frame is
    /// checked, no close handshake).
    #[test]
    fn inetd_ws_serves_a_client_on_stdio() {
        let mut p = Proc::spawn(&["inetd-ws:", "literal:hello"]);
        p.write_stdin(&upgrade_request("/", "x"));
        let out = p.wait_stdout("a 101 head and one frame", |b| {
            b.windows(4)
                .position(|w| w == b"\r\n\r\n")
                .is_some_and(|end| b.len() >= end + 4 + 7)
        });
        let mut out = &out[..];
        let head = read_head(&mut out);
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        assert_eq!(read_exactly(&mut out, 7), b"\x81\x05hello");
    }
}

#[test]
fn writefile_behind_a_listener_is_shared_not_truncated_per_client() {
    use crate::support::ws::ws_connect;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.txt");
    let target = format!("writefile:{}", path.display());
    let (_srv, port) = crate::support::server(&["ws-l:127.0.0.1:0", &target]);
    for line in ["first", "second"] {
        let (mut ws, _) = ws_connect(port, "/", &[]);
        ws.send_text(line);
        ws.send_close(None);
        let _ = ws.recv_until_close();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let got = std::fs::read(&path).unwrap_or_default();
        if got == b"first\nsecond\n" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "file holds {:?}",
            String::from_utf8_lossy(&got)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
