//! End-to-end tests of the less common websocat 1.x kinds: `seqpacket:` / `seqpacket-l:`
//! (SOCK_SEQPACKET unix sockets, message boundaries checked on real sockets) and `http:` /
//! `http-request:` (against an HTTP server written here on `std::net`), `http-post-sse:`
//! (raw HTTP clients) and `socks5-bind:` (against a SOCKS5 proxy written here).

#[cfg(target_os = "linux")]
mod seqpacket {
    use crate::support::{poll, run, Proc, TIMEOUT};
    use socket2::{Domain, SockAddr, Socket, Type};
    use std::mem::MaybeUninit;
    use std::path::Path;

    fn seq_socket() -> Socket {
        Socket::new(Domain::UNIX, Type::from(libc::SOCK_SEQPACKET), None).unwrap()
    }

    fn listen_at(path: &Path) -> Socket {
        let s = seq_socket();
        s.bind(&SockAddr::unix(path).unwrap()).unwrap();
        s.listen(8).unwrap();
        s
    }

    fn connect_to(path: &Path) -> Socket {
        let s = seq_socket();
        s.connect(&SockAddr::unix(path).unwrap()).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s
    }

    fn accept(l: &Socket) -> Socket {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s
    }

    /// One packet (an empty one reads as an empty vector, as does end of stream).
    fn recv_packet(s: &Socket) -> Vec<u8> {
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        let n = s.recv(&mut buf).expect("a packet within the timeout");
        // SAFETY: recv initialised the first `n` bytes.
        buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect()
    }

    #[test]
    fn relay_between_two_seqpacket_sockets_keeps_every_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let up = dir.path().join("up");
        let down = dir.path().join("down");
        let upstream = listen_at(&up);
        let down_s = down.to_str().unwrap();
        let server = Proc::spawn(&[
            "-b",
            "--stdout-announce-listening-ports",
            &format!("seqpacket-l:{down_s}"),
            &format!("seqpacket:{}", up.to_str().unwrap()),
        ]);
        assert_eq!(
            server.first_line(),
            format!("LISTEN proto=unix_seqpacket,path={down_s:?}\n")
        );
        let client = connect_to(&down);
        for p in [&b"one"[..], b"", b"three"] {
            assert_eq!(client.send(p).unwrap(), p.len());
        }
        let inner = accept(&upstream);
        assert_eq!(recv_packet(&inner), b"one");
        assert_eq!(recv_packet(&inner), b"");
        assert_eq!(recv_packet(&inner), b"three");
        inner.send(b"x").unwrap();
        inner.send(b"yz").unwrap();
        assert_eq!(recv_packet(&client), b"x");
        assert_eq!(recv_packet(&client), b"yz");
        // The client's shutdown reaches the upstream socket as end of stream.
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(recv_packet(&inner), b"");
        drop(inner);
        assert_eq!(recv_packet(&client), b"");
    }

    #[test]
    fn stdio_lines_become_packets_and_packets_become_lines() {
        let dir = tempfile::tempdir().unwrap();
        let up = dir.path().join("up");
        let upstream = listen_at(&up);
        let target = format!("connect-seqpacket:{}", up.to_str().unwrap());
        let peer = std::thread::spawn(move || {
            let s = accept(&upstream);
            let got = vec![recv_packet(&s), recv_packet(&s)];
            s.send(b"reply").unwrap();
            s.send(b"").unwrap();
            s.send(b"last").unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            got
        });
        let mut p = Proc::spawn(&["-t", "-", &target]);
        p.write_stdin(b"hello\nworld\n");
        let out = p.wait_stdout("three lines", |b| b.ends_with(b"last\n"));
        p.close_stdin();
        let o = p.wait();
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(out, b"reply\n\nlast\n");
        assert_eq!(
            peer.join().unwrap(),
            vec![b"hello\n".to_vec(), b"world\n".to_vec()]
        );
    }

    #[test]
    fn listener_mirrors_and_unlink_replaces_a_stale_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, b"stale").unwrap();
        let spec = format!("l-seqpacket:{}", path.to_str().unwrap());
        let o = run(&[spec.as_str(), "mirror:"], b"");
        assert_ne!(o.code(), 0);
        assert!(o.stderr.contains("--unlink"), "{}", o.stderr);
        let _server = Proc::spawn(&["-b", "--unlink", spec.as_str(), "mirror:"]);
        let c = poll(TIMEOUT, || {
            let s = seq_socket();
            s.connect(&SockAddr::unix(&path).unwrap()).ok().map(|_| s)
        })
        .expect("the listener comes up");
        c.set_read_timeout(Some(TIMEOUT)).unwrap();
        c.send(b"ab").unwrap();
        c.send(b"c").unwrap();
        assert_eq!(recv_packet(&c), b"ab");
        assert_eq!(recv_packet(&c), b"c");
    }

    #[test]
    fn abstract_names_work_end_to_end() {
        let name = format!("websocat-e2e-seqpacket-{}", std::process::id());
        let _server = Proc::spawn(&["-b", &format!("seqpacket-listen:@{name}"), "mirror:"]);
        let mut raw = vec![0u8];
        raw.extend_from_slice(name.as_bytes());
        let addr =
            SockAddr::unix(std::ffi::OsStr::new(std::str::from_utf8(&raw).unwrap())).unwrap();
        let c = poll(TIMEOUT, || {
            let s = seq_socket();
            s.connect(&addr).ok().map(|_| s)
        })
        .expect("the abstract listener comes up");
        c.set_read_timeout(Some(TIMEOUT)).unwrap();
        c.send(b"abs").unwrap();
        assert_eq!(recv_packet(&c), b"abs");
    }
}

mod http {
    use crate::support::{run, TIMEOUT};
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::thread::JoinHandle;

    /// Reads an HTTP head byte by byte, up to and including the blank line.
    fn read_head(s: &mut TcpStream) -> String {
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).expect("request head");
            head.push(b[0]);
        }
        String::from_utf8(head).expect("UTF-8 head")
    }

    /// A one-request HTTP server: returns its port and a thread that yields the request head
    /// and the `body_len` body bytes after it, once `response` was sent and the connection
    /// closed.
    fn one_shot_server(
        body_len: usize,
        response: &'static [u8],
    ) -> (u16, JoinHandle<(String, Vec<u8>)>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            let head = read_head(&mut s);
            let mut body = vec![0u8; body_len];
            s.read_exact(&mut body).expect("request body");
            s.write_all(response).unwrap();
            (head, body)
        });
        (port, t)
    }

    #[test]
    fn http_url_posts_the_input_and_prints_the_response_body() {
        let (port, server) = one_shot_server(
            5,
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nworld\n",
        );
        let o = run(
            &[
                "-b",
                "-X",
                "POST",
                "--request-header",
                "Content-Length: 5",
                "--request-header=X-Test: yes",
                "-",
                &format!("http://127.0.0.1:{port}/up?x=1"),
            ],
            b"hello",
        );
        let (head, body) = server.join().unwrap();
        assert_eq!(
            head,
            format!(
                "POST /up?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 5\r\n\
                 X-Test: yes\r\n\r\n"
            )
        );
        assert_eq!(body, b"hello");
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(o.stdout, b"world\n");
    }

    #[test]
    fn error_status_fails_naming_the_status() {
        let (port, server) = one_shot_server(
            0,
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope",
        );
        let o = run(
            &["-b", "-", &format!("http://127.0.0.1:{port}/missing")],
            b"",
        );
        let (head, _) = server.join().unwrap();
        assert!(head.starts_with("GET /missing HTTP/1.1\r\n"), "{head}");
        assert_eq!(o.code(), 1, "{}", o.stderr);
        assert!(o.stderr.contains("404 Not Found"), "{}", o.stderr);
        assert!(o.stdout.is_empty(), "the error body is not printed");
    }

    #[test]
    fn without_a_declared_body_the_status_is_checked_before_any_copying() {
        // -u copies only towards the server, so nothing would ever read the response: the
        // status must be checked when connecting.
        let (port, server) = one_shot_server(0, b"HTTP/1.1 403 Forbidden\r\n\r\n");
        let o = run(
            &["-b", "-u", "-", &format!("http://127.0.0.1:{port}/")],
            b"",
        );
        server.join().unwrap();
        assert_eq!(o.code(), 1, "{}", o.stderr);
        assert!(o.stderr.contains("403 Forbidden"), "{}", o.stderr);
    }

    #[test]
    fn http_request_overlay_takes_uri_method_and_headers_from_flags() {
        let (port, server) = one_shot_server(
            0,
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nfirst\nsecond\n",
        );
        let o = run(
            &[
                "--request-uri",
                "http://example.com/path?q",
                "--request-header",
                "Connection: close",
                "-",
                &format!("http-request:tcp:127.0.0.1:{port}"),
            ],
            b"",
        );
        let (head, _) = server.join().unwrap();
        assert_eq!(
            head,
            "GET /path?q HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(o.stdout, b"first\nsecond\n");
    }

    #[test]
    fn refused_connection_names_the_address() {
        let port = crate::support::refused_port();
        let o = run(&["-b", "-", &format!("http://127.0.0.1:{port}/")], b"");
        assert_eq!(o.code(), 1);
        assert!(
            o.stderr.contains(&format!("127.0.0.1:{port}")),
            "{}",
            o.stderr
        );
    }
}

mod http_post_sse {
    use crate::support::{poll, server, TIMEOUT};
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn connect(port: u16) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s
    }

    #[test]
    fn get_receives_messages_as_server_sent_events() {
        let (_p, port) = server(&["http-post-sse:tcp-l:127.0.0.1:0", "literal:hello"]);
        let mut s = connect(port);
        s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nServer: websocat\r\nCache-Control: no-cache\r\n\
             Content-Type: text/event-stream\r\n\r\ndata: hello\n\n"
        );
    }

    #[test]
    fn post_body_goes_to_the_other_side_and_gets_204() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("body");
        let (_p, port) = server(&[
            "-b",
            "http-post-sse:tcp-l:127.0.0.1:0",
            &format!("writefile:{}", file.to_str().unwrap()),
        ]);
        let mut s = connect(port);
        s.write_all(b"POST /in HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello")
            .unwrap();
        s.write_all(b" world").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"HTTP/1.1 204 No Content\r\nServer: websocat\r\n\r\n");
        let got = poll(TIMEOUT, || {
            std::fs::read(&file).ok().filter(|b| b.len() >= 11)
        });
        assert_eq!(got.as_deref(), Some(&b"hello world"[..]));
    }
}

mod socks5_bind {
    use crate::support::{poll, run, TIMEOUT};
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn bind_runs_the_script_with_the_port_and_then_carries_the_connection() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("port");
        let script = dir.path().join("tell.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$1\" > {}.tmp && mv {0}.tmp {0}\n",
                out.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let proxy = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            let mut g = [0u8; 3];
            s.read_exact(&mut g).unwrap();
            assert_eq!(g, [5, 1, 0]);
            s.write_all(&[5, 0]).unwrap();
            let mut r = [0u8; 7 + 11];
            s.read_exact(&mut r).unwrap();
            let request = r.to_vec();
            // Bound on 127.0.0.1:4242; a peer arrives from 192.0.2.1:80.
            s.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0x10, 0x92])
                .unwrap();
            s.write_all(&[5, 0, 0, 1, 192, 0, 2, 1, 0, 80]).unwrap();
            s.write_all(b"from remote").unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).unwrap();
            (request, rest)
        });
        let o = run(
            &[
                "-b",
                "--socks5-destination",
                "example.net:8080",
                "--socks5-bind-script",
                script.to_str().unwrap(),
                "-",
                &format!("socks5-bind:tcp:127.0.0.1:{port}"),
            ],
            b"to remote",
        );
        let (request, rest) = proxy.join().unwrap();
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(request, b"\x05\x02\x00\x03\x0bexample.net\x1f\x90");
        assert_eq!(rest, b"to remote");
        assert_eq!(o.stdout, b"from remote");
        let port = poll(TIMEOUT, || std::fs::read_to_string(&out).ok());
        assert_eq!(port.as_deref(), Some("4242\n"));
    }
}
