//! The command line itself: help, version, dump, and how failures are reported.

use crate::support::{refused_port, run};

#[test]
fn help_prints_usage_and_exits_0() {
    let out = run(&["--help"], b"");
    assert!(out.status.success(), "{out:?}");
    let text = out.stdout_text();
    assert!(text.contains("Usage: websocat"), "{text}");
    assert!(text.contains("--binary"), "{text}");
    assert!(text.contains("Exit codes"), "{text}");
}

#[test]
fn help_doc_lists_every_registry_kind_and_synonym() {
    let out = run(&["--help=doc"], b"");
    assert!(out.status.success(), "{out:?}");
    let text = out.stdout_text();
    let mut missing = Vec::new();
    for kind in websocat::kinds::KINDS {
        if !text.contains(&format!("\n{}: (", kind.name)) {
            missing.push(kind.name.to_string());
        }
        for syn in kind.synonyms {
            if !text.contains(&format!("{syn}:")) {
                missing.push(format!("{syn} (synonym of {})", kind.name));
            }
        }
        for ex in kind.examples {
            if !text.contains(ex) {
                missing.push(format!("example {ex:?} of {}", kind.name));
            }
        }
    }
    assert!(missing.is_empty(), "--help=doc lacks {missing:?}");
}

#[test]
fn version_flag_prints_name_and_version() {
    for flag in ["-V", "--version"] {
        let out = run(&[flag], b"");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            out.stdout_text(),
            format!("websocat {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn dump_spec_prints_the_plan_and_opens_nothing() {
    // Port 1 on loopback: nothing is bound or connected by --dump-spec.
    let out = run(&["--dump-spec", "ws-l:127.0.0.1:1", "tcp:[::1]:22"], b"");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        out.stdout_text(),
        "websocat ws-upgrade:tcp-listen:127.0.0.1:1 'lines:tcp:[::1]:22'\n\
         # bridge: right side: inserted `lines:` (lines of its byte stream become text messages)\n"
    );
}

#[test]
fn bad_specifier_exits_2_with_the_diagnostic() {
    let out = run(&["tcpp:127.0.0.1:1", "-"], b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let expected = websocat::render_error(
        &websocat::plan_from_args(["tcpp:127.0.0.1:1", "-"]).expect_err("must not plan"),
        false,
    );
    assert_eq!(out.stderr, expected);
    assert!(out.stderr.contains("unknown specifier kind `tcpp`"));
    assert!(out.stderr.contains("did you mean `tcp:`?"));
    assert!(
        !out.stderr.contains('\x1b'),
        "no colour when stderr is not a terminal"
    );
}

#[test]
fn missing_specifiers_exit_2() {
    let out = run::<&str>(&[], b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("no specifiers given"), "{}", out.stderr);
}

#[test]
fn close_codes_a_close_frame_may_not_carry_exit_2_before_anything_runs() {
    // 1016-2999 are reserved (RFC 6455 section 7.4); the server would have started.
    let out = run(
        &["--close-status-code", "2000", "ws-l:127.0.0.1:0", "mirror:"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("--close-status-code 2000: expected a status code that may be sent"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("1000-1003, 1007-1014 or 3000-4999"),
        "{}",
        out.stderr
    );
    let out = run(&["ws-l[close-code=1005]:127.0.0.1:0", "mirror:"], b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("`1005` cannot be sent in a Close frame"),
        "{}",
        out.stderr
    );
}

#[test]
fn unknown_option_exits_2() {
    let out = run(&["--no-such-option", "-", "-"], b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("--no-such-option"), "{}", out.stderr);
}

#[test]
fn websocket_connection_refused_names_the_address() {
    let port = refused_port();
    let url = format!("ws://127.0.0.1:{port}/");
    let out = run(&[&url], b"");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{port}")),
        "stderr does not name the address: {}",
        out.stderr
    );
    assert!(
        out.stderr.to_lowercase().contains("refused"),
        "stderr does not say why: {}",
        out.stderr
    );
    assert!(out.stderr.contains("right side"), "{}", out.stderr);
}

#[test]
fn tcp_connection_refused_names_the_address() {
    let port = refused_port();
    let target = format!("tcp:127.0.0.1:{port}");
    let out = run(&["-b", "-", &target], b"x");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains(&target), "{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("refused"),
        "{}",
        out.stderr
    );
}

#[test]
fn cat_mode_copies_stdin_to_stdout() {
    let out = run(&["-", "-"], b"one\ntwo\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"one\ntwo\n");
}

#[test]
fn closed_stdout_ends_the_session_quietly() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_websocat"))
        .args(["-b", "-", "mirror:"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    stdin.write_all(&[b'y'; 4096]).expect("write");
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).expect("echo");
    assert_eq!(&first, b"yyyyyyyyyy");
    drop(stdout); // like `| head -c 10`
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        let _ = stdin.write_all(&[b'y'; 4096]);
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("websocat kept running after its stdout was closed");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut err = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err);
    assert!(status.success(), "exit {status:?}: {err}");
    assert_eq!(err, "", "no error is printed for a closed stdout");
}

#[test]
fn a_reset_connection_is_reported_with_its_side_and_operation() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().expect("accept");
        // Wait for data, then reset: the client sees ECONNRESET while reading.
        let mut buf = [0u8; 4];
        let _ = std::io::Read::read(&mut &s, &mut buf);
        socket2::SockRef::from(&s)
            .set_linger(Some(std::time::Duration::ZERO))
            .expect("linger");
        drop(s);
    });
    let target = format!("tcp:127.0.0.1:{port}");
    let mut p = crate::support::Proc::spawn(&["-b", "-", &target]);
    p.write_stdin(b"ping");
    let out = p.wait();
    server.join().expect("server");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = out.stderr.replace("\n  │ ", " ");
    assert!(
        err.contains(&format!(
            "session with tcp:127.0.0.1:{port} (right side): reading"
        )),
        "{err}"
    );
}

/// Runs the client `websocat CLIENT_ARGS ws://127.0.0.1:PORT/` under `script`, which gives it
/// a terminal as stdin and stderr, as an interactive user has, against a server started with
/// `server_args`; asserts it succeeded and returns the server's port and what the terminal
/// showed (carriage returns removed). `None` when `script` is missing (a skip, failing
/// under CI).
fn on_a_terminal(server_args: &[&str], client_args: &str) -> Option<(u16, String)> {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "`script` (util-linux) is missing"
        );
        eprintln!("skipping: no `script` command");
        return None;
    }
    let (_srv, port) = crate::support::server(server_args);
    let cmd = format!(
        "{} {client_args} ws://127.0.0.1:{port}/",
        env!("CARGO_BIN_EXE_websocat")
    );
    let out = std::process::Command::new("timeout")
        .args(["10", "script", "-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script");
    assert!(out.status.success(), "{out:?}");
    Some((port, String::from_utf8_lossy(&out.stdout).replace('\r', "")))
}

#[test]
fn terminal_users_see_connected_and_closed_status_lines() {
    // Plain stdio on a terminal (the interactive console has tests of its own).
    let Some((port, text)) = on_a_terminal(
        &[
            "--close-status-code",
            "1001",
            "--close-reason",
            "going away",
            "ws-l:127.0.0.1:0",
            "literal:hi",
        ],
        "--no-interactive",
    ) else {
        return;
    };
    assert_eq!(
        text,
        format!("websocat: connected to ws://127.0.0.1:{port}/\nhi\nwebsocat: closed: 1001 going away\n")
    );
}

#[test]
fn terminal_users_see_the_negotiated_compression_in_the_status_line() {
    let Some((port, text)) = on_a_terminal(
        &[
            "--permessage-deflate-window-bits",
            "10",
            "ws-l:127.0.0.1:0",
            "literal:hi",
        ],
        "--no-interactive --permessage-deflate",
    ) else {
        return;
    };
    assert_eq!(
        text,
        format!(
            "websocat: connected to ws://127.0.0.1:{port}/ (permessage-deflate; \
             server_max_window_bits=10; client_max_window_bits=10)\nhi\nwebsocat: closed\n"
        )
    );
}

#[test]
fn stdio_pipes_are_blocking_again_after_exit() {
    // websocat drives piped stdin/stdout from its event loop (non-blocking, as websocat 1.x);
    // the pipes are shared with the shell, so their mode must be restored on exit.
    let script = format!(
        "echo in | {{ {} -b - literal:x; python3 -c 'import fcntl,os; print(\"\", bool(fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK), bool(fcntl.fcntl(1, fcntl.F_GETFL) & os.O_NONBLOCK))'; }} | cat",
        env!("CARGO_BIN_EXE_websocat")
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("sh");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "x False False\n",
        "{out:?}"
    );
}

#[test]
fn literal_is_one_message_printed_as_a_line_in_text_mode() {
    // websocat 1.x: `echo | websocat -t - literal:hello` prints `hello` and a newline.
    let out = run(&["-t", "-", "literal:hello"], b"\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"hello\n");
    // In binary mode the bytes come out unchanged.
    let out = run(&["-b", "-u", "literal:x", "-"], b"");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"x");
}

#[test]
fn error_output_starts_with_the_message() {
    let port = refused_port();
    let target = format!("tcp:127.0.0.1:{port}");
    let out = run(&["-b", "-", &target], b"x");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let first = out.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("  × connecting ") && first.contains(&target),
        "first line is not the message: {:?}",
        out.stderr
    );
    assert!(!out.stderr.contains("websocat::run"), "{}", out.stderr);
    // Planner errors too (exit code 2 as before).
    let out = run(&["exec:cat", "exec:cat"], b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        out.stderr.lines().next(),
        Some("  × `exec:` is used on both sides"),
        "{}",
        out.stderr
    );
}

const SECRET_ARGS: &[&str] = &[
    "--dump-spec",
    "--basic-auth=alice:s3cret-ws",
    "--socks5-user-pass=bob:s3cret-socks",
    "--socks5-destination=example.com:80",
    "--client-pkcs12-passwd=s3cret-p12",
    "-H",
    "Authorization: Bearer s3cret-token",
    "-H",
    "X-Other: visible",
    "tcp-l:127.0.0.1:1",
    "ws-c:socks5-connect:tls-c:tcp:127.0.0.1:2",
];

#[test]
fn dump_spec_redacts_credentials_by_default() {
    let out = run(SECRET_ARGS, b"");
    assert!(out.status.success(), "{out:?}");
    let text = out.stdout_text();
    assert!(!text.contains("s3cret"), "a secret is printed: {text}");
    for shown in [
        "basic-auth=alice:***",
        "auth=bob:***",
        "pkcs12-passwd=***",
        "Authorization: ***",
        "X-Other: visible",
    ] {
        assert!(text.contains(shown), "{shown:?} missing: {text}");
    }
    assert!(text.contains("--dump-spec-secrets"), "{text}");
    // Proxy credentials from --proxy and from the environment.
    let out = run(
        &[
            "--dump-spec",
            "--proxy=http://carol:s3cret-proxy@127.0.0.1:3128",
            "ws://example.com/",
        ],
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    let text = out.stdout_text();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("auth=carol:***"), "{text}");
    let out = run(&["--dump-spec", "ws://dave:s3cret-url@h/p"], b"");
    assert!(out.status.success(), "{out:?}");
    let text = out.stdout_text();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("uri=ws://dave:***@h/p"), "{text}");
    let out = run(
        &["--dump-spec=json", "--basic-auth=a:s3cret", "ws://h/"],
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        !out.stdout_text().contains("s3cret"),
        "{}",
        out.stdout_text()
    );
}

#[test]
fn dump_spec_secrets_round_trips_exactly() {
    let mut args = SECRET_ARGS.to_vec();
    args.insert(1, "--dump-spec-secrets");
    let out = run(&args, b"");
    assert!(out.status.success(), "{out:?}");
    let plan = websocat::plan_from_args(&SECRET_ARGS[1..]).expect("plans");
    assert_eq!(out.stdout_text(), websocat::plan::dump::dump_text(&plan));
    for secret in ["s3cret-ws", "s3cret-socks", "s3cret-p12", "s3cret-token"] {
        assert!(out.stdout_text().contains(secret), "{}", out.stdout_text());
    }
    // The printed command line plans back into the same plan.
    let again =
        websocat::plan_from_args(websocat::plan::dump::canonical_args(&plan)).expect("replans");
    assert_eq!(again, plan);
}
