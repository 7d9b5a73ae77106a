//! End-to-end TLS tests: our binary as TLS client and server on loopback, with certificates
//! made at test time by `support::certs` (the `openssl` command).

use crate::support::certs::{Certs, SERVER_P12_PASSWORD};
use crate::support::{run, server, Output, Proc};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Bytes that would break a line- or text-based path: NUL, high bytes, CR LF.
fn payload() -> Vec<u8> {
    let mut v = b"hello\0\xff\xfe\r\n".to_vec();
    v.extend((0..=255u8).cycle().take(100_000));
    v
}

/// Arguments of a binary-mode client from stdio to `tls-c[domain=DOMAIN]:tcp:127.0.0.1:PORT`
/// trusting the test CA.
fn tls_client(certs: &Certs, port: u16, domain: &str) -> Vec<String> {
    [
        "-b",
        "--cacert",
        &certs.path("ca.pem"),
        "-",
        &format!("tls-c[domain={domain}]:tcp:127.0.0.1:{port}"),
    ]
    .map(String::from)
    .to_vec()
}

/// A binary-mode TLS mirror on 127.0.0.1 with the PEM certificate `cert`; returns it and
/// its port.
fn echo_server_pem(certs: &Certs, cert: &str) -> (Proc, u16) {
    pem_mirror(certs, cert, "tls-l:tcp-l:127.0.0.1:0")
}

/// `websocat -b --tls-cert CERT --tls-key server.key LISTEN mirror:`; returns it and its port.
fn pem_mirror(certs: &Certs, cert: &str, listen: &str) -> (Proc, u16) {
    server(&[
        "-b",
        "--tls-cert",
        &certs.path(cert),
        "--tls-key",
        &certs.path("server.key"),
        listen,
        "mirror:",
    ])
}

fn stderr_of(o: &Output) -> String {
    o.stderr.clone()
}

/// Text without the report's line wrapping, gutters and whitespace, for `contains` checks
/// that do not depend on where the renderer breaks lines.
fn flat(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '│' | '╰' | '─' | '▶' | '×' | '·'))
        .collect()
}

/// True when `needle` occurs in the rendered report `haystack`, ignoring line wrapping.
fn says(haystack: &str, needle: &str) -> bool {
    flat(haystack).contains(&flat(needle))
}

#[test]
fn pem_server_echoes_exact_bytes_to_verified_client() {
    let certs = Certs::make();
    let (_server, port) = echo_server_pem(&certs, "server.pem");
    let data = payload();
    let out = run(&tls_client(&certs, port, "localhost"), &data);
    assert!(out.status.success(), "client failed: {}", stderr_of(&out));
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "echoed bytes differ");
}

#[test]
fn pkcs12_server_echoes_exact_bytes_and_ip_names_verify() {
    let certs = Certs::make();
    let (_server, port) = server(&[
        "-b",
        "--pkcs12-der",
        &certs.path("server.p12"),
        "--pkcs12-passwd",
        SERVER_P12_PASSWORD,
        "tls-l:127.0.0.1:0",
        "mirror:",
    ]);
    let data = payload();
    let out = run(&tls_client(&certs, port, "127.0.0.1"), &data);
    assert!(out.status.success(), "client failed: {}", stderr_of(&out));
    assert!(out.stdout == data, "echoed bytes differ");
}

#[test]
fn wrong_hostname_fails_clearly() {
    let certs = Certs::make();
    let (_server, port) = echo_server_pem(&certs, "server.pem");
    let out = run(&tls_client(&certs, port, "wrong.example"), b"x");
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(says(&err, "not valid for `wrong.example`"), "{err}");
    assert!(says(&err, &format!("127.0.0.1:{port}")), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_ca_fails_and_insecure_allows_it() {
    let certs = Certs::make();
    let (_server, port) = echo_server_pem(&certs, "server.pem");
    let target = format!("tls-c[domain=localhost]:tcp:127.0.0.1:{port}");
    // Trusting only an unrelated CA.
    let out = run(
        &["-b", "--cacert", &certs.path("other-ca.pem"), "-", &target],
        b"x",
    );
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(says(&err, "unknown certificate authority"), "{err}");
    assert!(says(&err, "--cacert"), "{err}");
    // System roots do not know our CA either.
    let out = run(&["-b", "-", &target], b"x");
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
    assert!(says(&stderr_of(&out), "unknown certificate authority"));
    // -k accepts it, even under a wrong name.
    let data = payload();
    let out = run(
        &[
            "-b",
            "-k",
            "-",
            &format!("tls-c[domain=wrong.example]:tcp:127.0.0.1:{port}"),
        ],
        &data,
    );
    assert!(out.status.success(), "client failed: {}", stderr_of(&out));
    assert!(out.stdout == data, "echoed bytes differ");
}

#[test]
fn expired_certificate_fails_clearly() {
    let certs = Certs::make();
    let (_server, port) = echo_server_pem(&certs, "expired.pem");
    let out = run(&tls_client(&certs, port, "localhost"), b"x");
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
    assert!(
        says(&stderr_of(&out), "certificate has expired"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn tcp_tunnel_over_wss_carries_bytes_intact() {
    let certs = Certs::make();
    let (_wss, wss_port) = pem_mirror(&certs, "server.pem", "wss-l:127.0.0.1:0");
    let url = format!("wss://localhost:{wss_port}/");
    let (_tunnel, tunnel_port) = server(&[
        "-b",
        "--cacert",
        &certs.path("ca.pem"),
        "tcp-l:127.0.0.1:0",
        &url,
    ]);
    let mut s = TcpStream::connect(("127.0.0.1", tunnel_port)).expect("connect to tunnel");
    s.set_read_timeout(Some(crate::support::TIMEOUT))
        .expect("timeout");
    let data = payload();
    let writer = {
        let mut w = s.try_clone().expect("clone");
        let data = data.clone();
        std::thread::spawn(move || w.write_all(&data))
    };
    let mut back = vec![0u8; data.len()];
    s.read_exact(&mut back).expect("read echoed bytes");
    writer.join().expect("writer thread").expect("write");
    assert!(back == data, "echoed bytes differ");
}

#[test]
fn server_mode_with_certificate_serves_wss() {
    let certs = Certs::make();
    let server = Proc::spawn(&[
        "--tls-cert",
        &certs.path("server.pem"),
        "--tls-key",
        &certs.path("server.key"),
        "--stdout-announce-listening-ports",
        "-s",
        "0",
    ]);
    let (_, port) = server.listen_addr();
    let stderr = server.wait_stderr(&format!("Listening on wss://127.0.0.1:{port}/\n"));
    let banner = stderr.lines().find(|l| l.starts_with("Listening on"));
    assert_eq!(
        banner,
        Some(format!("Listening on wss://127.0.0.1:{port}/").as_str())
    );
    let url = format!("wss://localhost:{port}/");
    let out = run(
        &["--cacert", &certs.path("ca.pem"), "-E", &url],
        b"over tls\n",
    );
    let _ = out;
    // The line after the LISTEN announcement is what the client sent.
    let stdout = server.wait_stdout("a line after the announcement", |b| {
        b.iter().filter(|&&c| c == b'\n').count() >= 2
    });
    let stdout = String::from_utf8_lossy(&stdout);
    assert_eq!(stdout.lines().nth(1), Some("over tls"));
}

#[test]
fn tls_server_without_identity_is_a_usage_error() {
    let out = run(&["-b", "tls-l:127.0.0.1:0", "mirror:"], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        says(&err, "--tls-cert") && says(&err, "--pkcs12-der"),
        "{err}"
    );
}

#[test]
fn unreadable_certificate_file_is_named() {
    let certs = Certs::make();
    let missing = certs.path("nope.pem");
    let out = run(
        &[
            "-b",
            "--tls-cert",
            &missing,
            "--tls-key",
            &certs.path("server.key"),
            "tls-l:127.0.0.1:0",
            "mirror:",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(says(&err, &format!("--tls-cert file `{missing}`")), "{err}");
}

#[test]
fn wrong_pkcs12_password_is_explained() {
    let certs = Certs::make();
    let p12 = certs.path("server.p12");
    let out = run(
        &[
            "-b",
            "--pkcs12-der",
            &p12,
            "--pkcs12-passwd",
            "bad",
            "tls-l:127.0.0.1:0",
            "mirror:",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(says(&err, &p12) && says(&err, "password"), "{err}");
}

#[test]
fn client_identity_files_are_loaded_and_bad_keys_are_explained() {
    let certs = Certs::make();
    // A client certificate signed by the same CA; PEM (PKCS#8 key), PKCS#12 and a SEC1 key.
    certs.make_client("client", "pw");
    let (_server, port) = echo_server_pem(&certs, "server.pem");
    let target = format!("tls-c[domain=localhost]:tcp:127.0.0.1:{port}");
    let ca = certs.path("ca.pem");
    let data = payload();
    for identity in [
        vec!["--client-cert", "client.pem", "--client-key", "client.key"],
        vec![
            "--client-pkcs12-der",
            "client.p12",
            "--client-pkcs12-passwd",
            "pw",
        ],
    ] {
        let mut a: Vec<String> = ["-b", "--cacert", &ca].map(String::from).to_vec();
        a.extend(identity.iter().map(|s| {
            if s.starts_with("--") || *s == "pw" {
                s.to_string()
            } else {
                certs.path(s)
            }
        }));
        a.extend(["-", &target].map(String::from));
        let out = run(&a, &data);
        assert!(out.status.success(), "{identity:?}: {}", stderr_of(&out));
        assert!(out.stdout == data, "{identity:?}: echoed bytes differ");
    }
    let sec1 = certs.path("client-sec1.key");
    let out = run(
        &[
            "-b",
            "--cacert",
            &ca,
            "--client-cert",
            &certs.path("client.pem"),
            "--client-key",
            &sec1,
            "-",
            &target,
        ],
        b"x",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(says(&err, &format!("--client-key file `{sec1}`")), "{err}");
    assert!(says(&err, "openssl pkcs8 -topk8"), "{err}");
}

#[test]
fn handshakes_time_out_both_ways() {
    let certs = Certs::make();
    // A client against a port that never answers gives up and says why.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let holder = std::thread::spawn(move || silent.accept().map(|(s, _)| s));
    let started = Instant::now();
    let out = run(
        &[
            "-b",
            "-",
            &format!("tls-c[domain=localhost,handshake-timeout=1]:tcp:127.0.0.1:{port}"),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = stderr_of(&out);
    assert!(
        says(
            &err,
            "TLS handshake with localhost (is it a TLS port?) timed out after 1 s"
        ),
        "{err}"
    );
    drop(holder.join());
    // A server drops a client that never starts its handshake.
    let (_server, port) = pem_mirror(
        &certs,
        "server.pem",
        "tls-l[handshake-timeout=1]:127.0.0.1:0",
    );
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    let started = Instant::now();
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the server to hang up, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(8));
}

/// The planner side: sugar, synonyms, flags and checks, as `--dump-spec` shows them.
mod planning {
    use websocat::plan::dump::canonical_args;
    use websocat::plan_from_args;

    fn specs(a: &[&str]) -> (String, String) {
        let p = plan_from_args(a.iter().copied())
            .unwrap_or_else(|e| panic!("{a:?}: {}", websocat::render_error(&e, false)));
        // The dump plans back to the same plan.
        let again = plan_from_args(canonical_args(&p)).expect("dump re-plans");
        assert!(again == p, "{a:?}: dump does not round-trip");
        (p.left.to_spec_string(), p.right.to_spec_string())
    }

    fn error(a: &[&str]) -> String {
        match plan_from_args(a.iter().copied()) {
            Ok(_) => panic!("{a:?} planned"),
            Err(e) => websocat::render_error(&e, false),
        }
    }

    #[test]
    fn wss_url_goes_over_tls_with_the_host_as_domain() {
        let (_, r) = specs(&["-b", "-", "wss://localhost:8443/x"]);
        assert_eq!(
            r,
            "ws-c[uri=wss://localhost:8443/x]:tls-c[domain=localhost]:tcp:localhost:8443"
        );
    }

    #[test]
    fn client_flags_fill_tls_c() {
        let (_, r) = specs(&[
            "-b",
            "-k",
            "--cacert",
            "ca.pem",
            "--tls-domain",
            "example.org",
            "-",
            "ssl-connect:tcp:127.0.0.1:1",
        ]);
        assert_eq!(
            r,
            "tls-c[domain=example.org,insecure=true,cacert=ca.pem]:tcp:127.0.0.1:1"
        );
    }

    #[test]
    fn tls_listen_takes_an_address_or_a_subspecifier() {
        let flags = ["-b", "--tls-cert", "c.pem", "--tls-key", "k.pem"];
        let want = "tls-accept[cert=c.pem,key=k.pem]:tcp-listen:127.0.0.1:1";
        for spec in [
            "tls-l:127.0.0.1:1",
            "ssl-listen:tcp-l:127.0.0.1:1",
            "tls-accept:tcp-l:127.0.0.1:1",
        ] {
            let mut a = flags.to_vec();
            a.extend([spec, "mirror:"]);
            assert_eq!(specs(&a).0, want, "{spec}");
        }
    }

    #[test]
    fn wss_listen_and_server_mode_with_a_certificate() {
        let (l, _) = specs(&[
            "-b",
            "--pkcs12-der",
            "s.p12",
            "wss-l:127.0.0.1:1",
            "mirror:",
        ]);
        assert_eq!(
            l,
            "ws-upgrade:tls-accept[pkcs12=s.p12]:tcp-listen:127.0.0.1:1"
        );
        let p = plan_from_args(["--pkcs12-der", "s.p12", "-s", "8080"]).expect("plan");
        assert_eq!(
            p.left.to_spec_string(),
            "ws-upgrade:tls-accept[pkcs12=s.p12]:tcp-listen:127.0.0.1:8080"
        );
        assert!(p.serve.server_banner_tls);
        let p = plan_from_args(["-s", "8080"]).expect("plan");
        assert!(!p.serve.server_banner_tls);
    }

    #[test]
    fn identity_problems_name_the_flags() {
        let e = error(&["-b", "tls-l:127.0.0.1:1", "mirror:"]);
        assert!(e.contains("--tls-cert FILE --tls-key FILE"), "{e}");
        assert!(e.contains("--pkcs12-der FILE"), "{e}");
        let e = error(&["-b", "--tls-cert", "c.pem", "wss-l:127.0.0.1:1", "mirror:"]);
        assert!(e.contains("--tls-cert needs --tls-key"), "{e}");
        let e = error(&["-b", "--client-key", "k.pem", "-", "wss://h/"]);
        assert!(e.contains("--client-key needs --client-cert"), "{e}");
    }

    #[test]
    fn tls_c_without_domain_warns() {
        let p = plan_from_args(["-b", "-", "tls-c:tcp:127.0.0.1:1"]).expect("plan");
        assert!(
            p.warnings.iter().any(|w| w.contains("--tls-domain")),
            "{:?}",
            p.warnings
        );
        let p = plan_from_args(["-b", "-", "wss://h/"]).expect("plan");
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn tls_domain_flag_that_cannot_apply_warns() {
        let p = plan_from_args(["-b", "--tls-domain", "other", "-", "wss://h/"]).expect("plan");
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("--tls-domain other has no effect")),
            "{:?}",
            p.warnings
        );
        let p = plan_from_args(["-b", "--tls-domain", "n", "-", "tls-c:tcp:127.0.0.1:1"])
            .expect("plan");
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert_eq!(p.right.to_spec_string(), "tls-c[domain=n]:tcp:127.0.0.1:1");
    }
}
