//! websocat 1.x parity (issue 15): the seed examples on descriptors the event loop cannot
//! poll, `-u` into `mirror:`, and the options 1.14.1 has, each through the built binary.

use crate::support::ws::{ws_connect, OP_BINARY, OP_TEXT};
use crate::support::{server, Proc};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Receives data frames until `want` payload bytes arrived; returns them.
fn receive_bytes(ws: &mut crate::support::ws::WsConn, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        let f = ws.recv();
        assert!(
            f.opcode == OP_BINARY || f.opcode == OP_TEXT,
            "unexpected frame {:?} after {} bytes",
            f.opcode,
            got.len()
        );
        got.extend_from_slice(&f.payload);
    }
    got
}

/// Random bytes: 4 KiB of them are not all alike, and two draws differ.
fn assert_random(a: &[u8], b: &[u8]) {
    assert!(a.len() >= 4096 && b.len() >= 4096);
    let distinct = a.iter().collect::<std::collections::BTreeSet<_>>().len();
    assert!(distinct > 200, "only {distinct} distinct byte values");
    assert_ne!(&a[..4096], &b[..4096], "two reads gave the same bytes");
}

#[test]
fn seed_example_open_async_urandom_serves_random_bytes() {
    let (server, port) = server(&["-U", "ws-l:127.0.0.1:0", "open-async:/dev/urandom"]);
    let (mut first, _) = ws_connect(port, "/", &[]);
    let a = receive_bytes(&mut first, 8192);
    // Each client opens the device anew.
    let (mut second, _) = ws_connect(port, "/", &[]);
    let b = receive_bytes(&mut second, 8192);
    assert_random(&a, &b);
    // Random bytes in text mode are not UTF-8: said once per connection, not per message.
    let warnings = server.stderr_so_far().matches("UTF-8").count();
    assert!(
        warnings <= 2,
        "{warnings} warnings: {}",
        server.stderr_so_far()
    );
}

#[test]
fn seed_example_reuse_open_fd_urandom_serves_random_bytes() {
    // `55</dev/urandom` as the README writes it: the shell opens the descriptor.
    // bash: POSIX shells need not support descriptors above 9.
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec {} --stdout-announce-listening-ports -U ws-l:127.0.0.1:0 reuse:open-fd:55 55</dev/urandom",
            env!("CARGO_BIN_EXE_websocat")
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting sh");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().expect("stdout");
    let mut child = Kill(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reading the LISTEN line");
    let port: u16 = line
        .trim()
        .rsplit("port=")
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let (mut first, _) = ws_connect(port, "/", &[]);
    let a = receive_bytes(&mut first, 8192);
    let (mut second, _) = ws_connect(port, "/", &[]);
    let b = receive_bytes(&mut second, 8192);
    assert_random(&a, &b);
    assert!(matches!(child.0.try_wait(), Ok(None)), "the server exited");
}

#[test]
fn unidirectional_into_mirror_does_not_hang_on_large_input() {
    // Far more than mirror's queue and the pipe buffers hold.
    let input: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8).collect();
    for mode in ["-b", "-t"] {
        let out = crate::support::run(&[mode, "-u", "-", "mirror:"], &input);
        assert_eq!(out.status.code(), Some(0), "{mode}: {out:?}");
        assert!(out.stdout.is_empty(), "{mode}: -u printed the echo");
    }
    // The same with -U and the echo on the left.
    let out = crate::support::run(&["-b", "-U", "mirror:", "-"], &input);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn unidirectional_into_mirror_is_shown_by_dump_spec() {
    let out = crate::support::run(&["--dump-spec", "-b", "-u", "-", "mirror:"], b"");
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stdout_text().contains(
            "# discard-unread: -u: what `mirror:` on the right echoes is read and discarded"
        ),
        "{}",
        out.stdout_text()
    );
}

// ------------------------------------------------------------------ options of 1.14.1

use crate::support::ws::{http_exchange, RawServer, OP_PING, OP_PONG};
use crate::support::{run, QUIET};
use base64::Engine;
use std::io::{Read, Write};
use std::time::Duration;

#[test]
fn just_generate_key_prints_a_fresh_16_byte_key() {
    let a = run(&["--just-generate-key"], b"");
    let b = run(&["--just-generate-key"], b"");
    assert!(a.status.success() && b.status.success(), "{a:?} {b:?}");
    for out in [&a, &b] {
        let key = out.stdout_text();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(key.trim_end())
            .expect("base64");
        assert_eq!(raw.len(), 16, "{key:?}");
        assert!(key.ends_with('\n'));
    }
    assert_ne!(a.stdout, b.stdout);
}

#[test]
fn just_generate_accept_answers_the_rfc_sample_key() {
    let out = run(&["--just-generate-accept", "dGhlIHNhbXBsZSBub25jZQ=="], b"");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout_text(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n");
    let out = run(&["--just-generate-accept", "not a key"], b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        out.stderr.contains("not a Sec-WebSocket-Key"),
        "{}",
        out.stderr
    );
}

#[test]
fn async_stdio_options_keep_stdio_working_and_exclude_each_other() {
    for flag in ["--async-stdio", "--no-async-stdio"] {
        let out = run(&["-b", flag, "-", "mirror:"], b"hello\x00world");
        assert!(out.status.success(), "{flag}: {out:?}");
        assert_eq!(out.stdout, b"hello\x00world", "{flag}");
    }
    let out = run(
        &["--dump-spec", "--no-async-stdio", "-b", "-", "mirror:"],
        b"",
    );
    assert!(
        out.stdout_text().contains("stdio[blocking=true]:"),
        "{}",
        out.stdout_text()
    );
    let out = run(&["--async-stdio", "--no-async-stdio", "-", "mirror:"], b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// Our client (with `flags`) against a raw server that sends `frames`, then a Close; returns
/// our client's stdout.
fn client_receiving(flags: &[&str], frames: &[(u8, &[u8])]) -> Vec<u8> {
    let srv = RawServer::bind();
    let url = srv.url("/");
    let mut args: Vec<&str> = flags.to_vec();
    args.push(&url);
    let mut p = Proc::spawn(&args);
    let (mut ws, _) = srv.accept_ws(&[]);
    for (op, payload) in frames {
        ws.send(*op, payload);
    }
    ws.send_close(None);
    let _ = ws.recv_until_close();
    p.close_stdin();
    let out = p.wait();
    assert!(out.status.success(), "{out:?}");
    out.stdout
}

#[test]
fn empty_messages_are_kept_and_no_exit_on_zeromsg_is_accepted() {
    let frames: &[(u8, &[u8])] = &[(OP_TEXT, b"a\n"), (OP_TEXT, b""), (OP_TEXT, b"b\n")];
    // An empty message never ends the session here; 1.x needed --no-exit-on-zeromsg for it.
    assert_eq!(client_receiving(&["-t"], frames), b"a\n\nb\n");
    assert_eq!(
        client_receiving(&["-t", "--no-exit-on-zeromsg"], frames),
        b"a\n\nb\n"
    );
}

#[test]
fn websocket_ignore_zeromsg_drops_empty_messages() {
    let frames: &[(u8, &[u8])] = &[
        (OP_BINARY, b"a"),
        (OP_BINARY, b""),
        (OP_TEXT, b""),
        (OP_BINARY, b"b"),
    ];
    assert_eq!(
        client_receiving(&["-b", "--websocket-ignore-zeromsg"], frames),
        b"ab"
    );
}

/// Starts our client with `args` (URL of a raw listener appended) and returns the request
/// head it sends.
fn request_head_of(args: &[&str]) -> crate::support::ws::HttpHead {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "ws://127.0.0.1:{}/",
        listener.local_addr().expect("addr").port()
    );
    let mut all = args.to_vec();
    all.push(&url);
    let mut p = Proc::spawn(&all);
    let (mut s, _) = listener.accept().expect("accept");
    s.set_read_timeout(Some(crate::support::TIMEOUT))
        .expect("timeout");
    let (head, _) = crate::support::ws::read_head(&mut s).expect("request head");
    p.kill();
    head
}

#[test]
fn websocket_version_overrides_the_version_header() {
    let head = request_head_of(&["--websocket-version", "8"]);
    assert_eq!(
        head.headers_named("sec-websocket-version"),
        ["8"],
        "{head:?}"
    );
    let head = request_head_of(&[]);
    assert_eq!(
        head.headers_named("sec-websocket-version"),
        ["13"],
        "{head:?}"
    );
}

#[test]
fn basic_auth_file_sends_the_trimmed_file_contents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("auth");
    std::fs::write(&file, "alice:open sesame\n").expect("write");
    let file = file.to_string_lossy().into_owned();
    let head = request_head_of(&["--basic-auth-file", &file]);
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:open sesame")
    );
    assert_eq!(head.headers_named("authorization"), [expected.as_str()]);
    // The password is not in the plan: --dump-spec shows the file name only.
    let out = run(&["--dump-spec", "--basic-auth-file", &file, "ws://h/"], b"");
    assert!(
        !out.stdout_text().contains("sesame"),
        "{}",
        out.stdout_text()
    );
    assert!(out.stdout_text().contains(&file));
    // A missing file is reported before connecting, naming it.
    let out = run(
        &[
            "--basic-auth-file",
            "/nonexistent/auth",
            "ws://127.0.0.1:1/",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // The message may be wrapped: compare without white space and frame characters.
    let flat: String = out
        .stderr
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect();
    assert!(
        flat.contains("basicauthenticationfile/nonexistent/auth"),
        "{}",
        out.stderr
    );
    // With --basic-auth as well: a usage error, as in 1.x.
    let out = run(
        &["--basic-auth=a:b", "--basic-auth-file", &file, "ws://h/"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn lengthprefixed_skip_directions() {
    // Written with a header, read back raw: the header shows.
    let out = run(
        &[
            "-b",
            "--lengthprefixed-skip-read-direction",
            "-",
            "lengthprefixed:mirror:",
        ],
        b"abc",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"\x00\x00\x00\x03abc");
    // Written raw, read back as packets: the header given in the input is taken off.
    let out = run(
        &[
            "-b",
            "--lengthprefixed-skip-write-direction",
            "-",
            "lengthprefixed:mirror:",
        ],
        b"\x00\x00\x00\x03abc",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"abc");
    // Neither: a plain round trip.
    let out = run(&["-b", "-", "lengthprefixed:mirror:"], b"abc");
    assert_eq!(out.stdout, b"abc", "{out:?}");
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("compressing");
    e.finish().expect("compressing")
}

#[test]
fn compress_options_compress_binary_messages_on_the_wire() {
    let data: Vec<u8> = b"websocat websocat websocat websocat ".repeat(40);
    for (flag, check) in [
        ("--compress-deflate", 0u8),
        ("--compress-zlib", 1),
        ("--compress-gzip", 2),
    ] {
        let srv = RawServer::bind();
        let mut p = Proc::spawn(&["-b", flag, &srv.url("/")]);
        p.write_stdin(&data);
        let (mut ws, _) = srv.accept_ws(&[]);
        let frame = ws.recv();
        assert_eq!(frame.opcode, OP_BINARY);
        assert!(
            frame.payload.len() < data.len() / 4,
            "{flag}: not compressed"
        );
        let mut plain = Vec::new();
        let payload = &frame.payload[..];
        let r: Box<dyn Read> = match check {
            0 => Box::new(flate2::read::DeflateDecoder::new(payload)),
            1 => Box::new(flate2::read::ZlibDecoder::new(payload)),
            _ => Box::new(flate2::read::GzDecoder::new(payload)),
        };
        r.take(1 << 20)
            .read_to_end(&mut plain)
            .expect("decompressing");
        assert_eq!(plain, data, "{flag}");
        p.kill();
    }
}

#[test]
fn uncompress_options_decompress_binary_messages_and_keep_text() {
    let data: Vec<u8> = b"0123456789".repeat(100);
    let out = client_receiving(
        &["-b", "--uncompress-zlib"],
        &[(OP_BINARY, &zlib(&data)), (OP_TEXT, b"plain")],
    );
    let mut expected = data.clone();
    expected.extend_from_slice(b"plain");
    assert_eq!(out, expected);
    // Every pair of methods round-trips through our own server.
    for m in ["deflate", "zlib", "gzip"] {
        let (_srv, port) = server(&["-b", "ws-l:127.0.0.1:0", "mirror:"]);
        let url = format!("ws://127.0.0.1:{port}/");
        let c = format!("--compress-{m}");
        let u = format!("--uncompress-{m}");
        let out = crate::support::exchange(&["-b", &c, &u, &url], &data, data.len());
        assert_eq!(out.stdout, data, "{m}");
    }
}

#[test]
fn static_file_answers_plain_gets_and_websocket_still_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("index.html");
    std::fs::write(&page, "<h1>hi</h1>\n").expect("write");
    let spec = format!("/index.html:text/html:{}", page.display());
    let (srv, port) = server(&["-F", &spec, "ws-l:127.0.0.1:0", "mirror:"]);
    let (head, body) = http_exchange(port, b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status(), 200, "{head:?}");
    assert_eq!(head.header("content-type"), Some("text/html"));
    assert_eq!(body, b"<h1>hi</h1>\n");
    let (head, _) = http_exchange(port, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status(), 404, "{head:?}");
    // Answering a plain GET is no failure: nothing is logged at the default level.
    assert_eq!(srv.stderr_so_far(), "", "served files logged as problems");
    let (mut ws, _) = ws_connect(port, "/index.html", &[]);
    ws.send_text("echo");
    assert_eq!(ws.recv().payload, b"echo");
    // A malformed argument is a usage error before anything listens.
    let out = run(&["-F", "/only-uri", "ws-l:127.0.0.1:0", "mirror:"], b"");
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.contains("URI:CONTENT-TYPE:PATH"),
        "{}",
        out.stderr
    );
}

#[test]
fn inhibit_pongs_answers_only_that_many_pings() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&["--inhibit-pongs", "1", &srv.url("/")]);
    let (mut ws, _) = srv.accept_ws(&[]);
    ws.send(OP_PING, b"one");
    let pong = ws.recv();
    assert_eq!((pong.opcode, &pong.payload[..]), (OP_PONG, &b"one"[..]));
    ws.send(OP_PING, b"two");
    ws.expect_silence(QUIET);
    p.kill();
}

#[test]
fn max_sent_pings_stops_the_keepalive() {
    let srv = RawServer::bind();
    let mut p = Proc::spawn(&[
        "--ping-interval",
        "1",
        "--max-sent-pings",
        "1",
        &srv.url("/"),
    ]);
    let (mut ws, _) = srv.accept_ws(&[]);
    let ping = ws.recv();
    assert_eq!(ping.opcode, OP_PING);
    ws.send(OP_PONG, &ping.payload);
    ws.expect_silence(Duration::from_millis(2500));
    p.kill();
}

#[test]
fn print_ping_rtts_prints_each_round_trip() {
    let (_srv, port) = server(&["ws-l:127.0.0.1:0", "mirror:"]);
    let url = format!("ws://127.0.0.1:{port}/");
    let mut p = Proc::spawn(&["--ping-interval", "1", "--print-ping-rtts", &url]);
    let err = p.wait_stderr(" s\n");
    let line = err
        .lines()
        .find(|l| l.starts_with("RTT "))
        .unwrap_or_default()
        .to_string();
    let secs: f64 = line
        .trim_start_matches("RTT ")
        .trim_end_matches(" s")
        .parse()
        .unwrap_or_else(|_| panic!("bad RTT line {line:?}"));
    assert!((0.0..1.0).contains(&secs), "{line}");
    p.kill();
}

// ------------------------------------------------------------------ every 1.14.1 option

/// A sample value for each option of 1.14.1 that takes one.
fn sample_value(long: &str) -> Option<&'static str> {
    Some(match long {
        "autoreconnect-delay-millis" => "10",
        "basic-auth" => "user:pass",
        "basic-auth-file" => "/dev/null",
        "binary-prefix" => "B:",
        "buffer-size" => "100",
        "byte-to-exit-on" => "28",
        "client-pkcs12-der" | "pkcs12-der" => "identity.p12",
        "client-pkcs12-passwd" | "pkcs12-passwd" => "secret",
        "close-reason" => "bye",
        "close-status-code" => "1000",
        "conncap"
        | "queue-len"
        | "inhibit-pongs"
        | "max-sent-pings"
        | "max-messages"
        | "max-messages-rev"
        | "ping-interval"
        | "udp-ttl"
        | "udp-multicast-iface-v6" => "2",
        "lengthprefixed-nbytes" => "2",
        "ping-timeout" => "3",
        "max-ws-frame-length" | "max-ws-message-length" => "1000",
        "header" | "server-header" | "request-header" => "X-A: b",
        "header-to-env" => "X-A",
        "just-generate-accept" => "dGhlIHNhbXBsZSBub25jZQ==",
        "origin" => "http://example.com",
        "preamble" | "preamble-reverse" => "hello",
        "protocol" | "server-protocol" => "chat",
        "request-method" => "POST",
        "request-uri" | "restrict-uri" => "/x",
        "socks5" => "127.0.0.1:1080",
        "socks5-bind-script" => "./tell-port.sh",
        "socks5-destination" => "example.com:80",
        "socks5-user-pass" => "user:pass",
        "static-file" => "/index.html:text/html:index.html",
        "text-prefix" => "T:",
        "tls-domain" => "example.com",
        "ua" => "agent/1",
        "udp-multicast" => "239.1.2.3",
        "udp-multicast-iface-v4" => "127.0.0.1",
        "websocket-version" => "13",
        "ws-c-uri" => "ws://example.com/",
        _ => return None,
    })
}

#[test]
fn every_long_option_of_websocat_1_14_1_parses_and_plans() {
    use clap::CommandFactory;
    let list = include_str!("../ws1-long-options.txt");
    let command = websocat::cli::Cli::command();
    let mut failures = Vec::new();
    let mut count = 0;
    for long in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        count += 1;
        let name = long.trim_start_matches("--");
        let Some(arg) = command.get_arguments().find(|a| a.get_long() == Some(name)) else {
            failures.push(format!("{long}: no such option here"));
            continue;
        };
        let takes_value = arg.get_action().takes_values();
        let optional_value = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
        let mut args: Vec<String> = Vec::new();
        // The specifiers each option goes with: `-s` takes one argument; the rest a pair.
        let specs: Vec<&str> = match name {
            "server-mode" => vec!["127.0.0.1:0"],
            // These act on a `ws://` URL with stdio on the other side.
            "jsonrpc" | "socks5" => vec!["ws://127.0.0.1:1/"],
            _ => vec!["ws-l:127.0.0.1:0", "mirror:"],
        };
        if name == "exec-args" {
            continue; // below: it takes every argument after it
        }
        if takes_value && !optional_value {
            let Some(v) = sample_value(name) else {
                failures.push(format!("{long}: give it a sample value in this test"));
                continue;
            };
            args.push(format!("{long}={v}"));
        } else {
            args.push(long.to_string());
        }
        args.extend(specs.iter().map(|s| s.to_string()));
        if let Err(e) = websocat::plan_from_args(&args) {
            failures.push(format!("{args:?}: {}", websocat::render_error(&e, false)));
        }
    }
    // `--exec-args` swallows what follows it, so it goes last, after the specifiers.
    let exec = ["ws-l:127.0.0.1:0", "exec:echo", "--exec-args", "hello"];
    if let Err(e) = websocat::plan_from_args(exec) {
        failures.push(format!("{exec:?}: {}", websocat::render_error(&e, false)));
    }
    assert!(count >= 100, "only {count} options in the list");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The options this work added, as 1.14.1 spells them.
const ADDED_OPTIONS: &[&str] = &[
    "--static-file",
    "--basic-auth-file",
    "--print-ping-rtts",
    "--inhibit-pongs",
    "--max-sent-pings",
    "--just-generate-key",
    "--just-generate-accept",
    "--compress-deflate",
    "--compress-zlib",
    "--compress-gzip",
    "--uncompress-deflate",
    "--uncompress-zlib",
    "--uncompress-gzip",
    "--lengthprefixed-skip-read-direction",
    "--lengthprefixed-skip-write-direction",
    "--async-stdio",
    "--no-async-stdio",
    "--no-exit-on-zeromsg",
    "--websocket-ignore-zeromsg",
    "--websocket-version",
    "--dump-spec-secrets",
];

#[test]
fn added_options_are_in_help_man_page_and_completions() {
    let help = run(&["--help=long"], b"").stdout_text();
    let man = run(&["--man"], b"").stdout_text().replace("\\-", "-");
    let mut missing = Vec::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["--completions", shell], b"");
        assert!(out.status.success(), "{out:?}");
        let script = out.stdout_text();
        for o in ADDED_OPTIONS {
            // fish writes `-l name` instead of `--name`.
            if !script.contains(o) && !script.contains(&format!("-l {}", &o[2..])) {
                missing.push(format!("{o} in {shell} completions"));
            }
        }
    }
    for o in ADDED_OPTIONS {
        if !help.contains(o) {
            missing.push(format!("{o} in --help=long"));
        }
        if !man.contains(o) {
            missing.push(format!("{o} in the man page"));
        }
    }
    assert_eq!(ADDED_OPTIONS.len(), 21);
    assert!(missing.is_empty(), "missing: {missing:?}");
}
