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
        let p = plan_from_args([
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--tls-client-ca",
            "clients.pem",
            "--tls-client-cert-optional",
            "-s",
            "8080",
        ])
        .expect("plan");
        assert_eq!(
            p.left.to_spec_string(),
            "ws-upgrade:tls-accept[cert=c.pem,key=k.pem,client-ca=clients.pem,\
             client-cert-optional=true]:tcp-listen:127.0.0.1:8080"
        );
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
        let e = error(&[
            "-b",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--tls-client-cert-optional",
            "wss-l:127.0.0.1:1",
            "mirror:",
        ]);
        assert!(
            e.contains("--tls-client-cert-optional needs --tls-client-ca"),
            "{e}"
        );
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

/// Servers that require client certificates (`--tls-client-ca`), the identity they pass on,
/// and reloading the server's files on SIGHUP.
mod client_certificates {
    use super::{payload, says, stderr_of};
    use crate::support::certs::Certs;
    use crate::support::external::find_program;
    use crate::support::{exchange_until, run, server, Proc};
    use std::process::Command;

    /// Extensions of the client certificate `alice`: names the exec child must see.
    const ALICE_EXTENSIONS: &str = "subjectAltName=email:alice@example.com,DNS:alice.example\n\
                                    extendedKeyUsage=clientAuth\n";

    /// Certificates plus `alice` (signed by the trusted CA) and `mallory` (signed by the
    /// other CA, with the same subject shape).
    fn certs_with_clients() -> Certs {
        let certs = Certs::make();
        certs.make_signed("alice", "/CN=alice/O=Team", "ca", ALICE_EXTENSIONS);
        certs.make_signed("mallory", "/CN=mallory/O=Team", "other-ca", "");
        certs
    }

    /// `--tls-cert server.pem --tls-key server.key --tls-client-ca ca.pem` and `extra`.
    fn server_args(certs: &Certs, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = [
            "--tls-cert",
            &certs.path("server.pem"),
            "--tls-key",
            &certs.path("server.key"),
            "--tls-client-ca",
            &certs.path("ca.pem"),
        ]
        .map(String::from)
        .to_vec();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    /// A binary TLS client to `port` trusting the test CA, presenting `identity` (a name
    /// made by `make_signed`) if any.
    fn client_args(certs: &Certs, port: u16, identity: Option<&str>) -> Vec<String> {
        let mut a: Vec<String> = ["-b", "--cacert", &certs.path("ca.pem")]
            .map(String::from)
            .to_vec();
        if let Some(name) = identity {
            a.extend([
                "--client-cert".to_string(),
                certs.path(&format!("{name}.pem")),
                "--client-key".to_string(),
                certs.path(&format!("{name}.key")),
            ]);
        }
        a.extend([
            "-".to_string(),
            format!("tls-c[domain=localhost]:tcp:127.0.0.1:{port}"),
        ]);
        a
    }

    #[test]
    fn client_with_certificate_from_trusted_ca_gets_through() {
        let certs = certs_with_clients();
        let (server, port) = server(&server_args(
            &certs,
            &["-v", "-b", "tls-l:127.0.0.1:0", "mirror:"],
        ));
        let data = payload();
        let out = run(&client_args(&certs, port, Some("alice")), &data);
        assert!(out.status.success(), "client failed: {}", stderr_of(&out));
        assert!(out.stdout == data, "echoed bytes differ");
        // -v logs who it was.
        let log = server.wait_stderr("presented a verified certificate");
        assert!(says(&log, "subject CN=alice,O=Team"), "{log}");
        assert!(
            says(
                &log,
                "alternative names email:alice@example.com,DNS:alice.example"
            ),
            "{log}"
        );
    }

    #[test]
    fn client_without_certificate_or_from_another_ca_is_refused_clearly() {
        let certs = certs_with_clients();
        let (server, port) = server(&server_args(
            &certs,
            &["-b", "tls-l:127.0.0.1:0", "mirror:"],
        ));
        // No certificate.
        let out = run(&client_args(&certs, port, None), b"secret");
        assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
        assert!(out.stdout.is_empty(), "bytes got through: {:?}", out.stdout);
        let err = stderr_of(&out);
        assert!(
            says(&err, "the server requires a client certificate"),
            "{err}"
        );
        assert!(says(&err, "--client-cert"), "{err}");
        server.wait_stderr("presented no certificate, but --tls-client-ca requires one");
        // A certificate from a CA the server does not trust.
        let out = run(&client_args(&certs, port, Some("mallory")), b"secret");
        assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
        assert!(out.stdout.is_empty(), "bytes got through: {:?}", out.stdout);
        let err = stderr_of(&out);
        assert!(
            says(
                &err,
                "the server does not trust the CA that signed our client certificate"
            ),
            "{err}"
        );
        server.wait_stderr("its certificate is not signed by a CA in --tls-client-ca");
        // The server still serves trusted clients afterwards.
        let out = run(&client_args(&certs, port, Some("alice")), b"still here");
        assert!(out.status.success(), "client failed: {}", stderr_of(&out));
        assert_eq!(out.stdout, b"still here");
    }

    #[test]
    fn optional_client_certificates_let_anonymous_clients_in_but_check_presented_ones() {
        let certs = certs_with_clients();
        let (_server, port) = server(&server_args(
            &certs,
            &[
                "-b",
                "--tls-client-cert-optional",
                "tls-l:127.0.0.1:0",
                "mirror:",
            ],
        ));
        let out = run(&client_args(&certs, port, None), b"anonymous");
        assert!(out.status.success(), "client failed: {}", stderr_of(&out));
        assert_eq!(out.stdout, b"anonymous");
        let out = run(&client_args(&certs, port, Some("alice")), b"alice");
        assert!(out.status.success(), "client failed: {}", stderr_of(&out));
        assert_eq!(out.stdout, b"alice");
        let out = run(&client_args(&certs, port, Some("mallory")), b"mallory");
        assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
        assert!(out.stdout.is_empty());
    }

    /// The command of an `sh-c:` child that prints what it was told about the client.
    const PRINT_IDENTITY: &str = "sh-c:printf '%s|%s|%s\\n' \"$WEBSOCAT_TLS_CLIENT_SUBJECT\" \
                                  \"$WEBSOCAT_TLS_CLIENT_SAN\" \"$WEBSOCAT_TLS_CLIENT_ISSUER\"";

    #[test]
    fn exec_child_behind_wss_sees_the_client_subject() {
        let certs = certs_with_clients();
        let (_server, port) = server(&server_args(
            &certs,
            &["-e", "wss-l:127.0.0.1:0", PRINT_IDENTITY],
        ));
        let args = [
            "--cacert".to_string(),
            certs.path("ca.pem"),
            "--client-cert".to_string(),
            certs.path("alice.pem"),
            "--client-key".to_string(),
            certs.path("alice.key"),
            "-".to_string(),
            format!("wss://localhost:{port}/"),
        ];
        let out = exchange_until(&args, b"", |got| got.ends_with(b"\n"));
        assert_eq!(
            out.stdout_text(),
            "CN=alice,O=Team|email:alice@example.com,DNS:alice.example|CN=ca\n",
            "stderr: {}",
            stderr_of(&out)
        );
        // Without a certificate the WebSocket client fails with the reason.
        let out = exchange_until(
            &args[..2].iter().chain(&args[6..]).collect::<Vec<_>>(),
            b"",
            |_| false,
        );
        assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
        assert!(out.stdout.is_empty());
        let err = stderr_of(&out);
        assert!(
            says(&err, "the server requires a client certificate"),
            "{err}"
        );
    }

    #[test]
    fn server_mode_requires_client_certificates_too() {
        let certs = certs_with_clients();
        let server = Proc::spawn(&server_args(
            &certs,
            &["--stdout-announce-listening-ports", "-s", "0"],
        ));
        let (_, port) = server.listen_addr();
        let url = format!("wss://localhost:{port}/");
        let ca = certs.path("ca.pem");
        let out = exchange_until(&["--cacert", &ca, "-", &url], b"", |_| false);
        assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
        assert!(
            says(&stderr_of(&out), "the server requires a client certificate"),
            "{}",
            stderr_of(&out)
        );
        let (cert, key) = (certs.path("alice.pem"), certs.path("alice.key"));
        let args = [
            "--cacert",
            &ca,
            "--client-cert",
            &cert,
            "--client-key",
            &key,
            "-",
            &url,
        ];
        let _ = run(&args, b"from alice\n");
        // -s prints what clients send; the line after the LISTEN announcement is alice's.
        let stdout = server.wait_stdout("alice's line", |b| {
            b.iter().filter(|&&c| c == b'\n').count() >= 2
        });
        assert_eq!(
            String::from_utf8_lossy(&stdout).lines().nth(1),
            Some("from alice")
        );
    }

    #[test]
    fn curl_with_a_client_certificate_is_identified() {
        let Some(curl) = find_program("curl") else {
            return;
        };
        let certs = certs_with_clients();
        // A tiny HTTPS responder: the child answers with the client's subject.
        let respond =
            "sh-c:printf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\n%s\\n' \
                       \"$WEBSOCAT_TLS_CLIENT_SUBJECT\"; cat >/dev/null";
        let (_server, port) = server(&server_args(
            &certs,
            &["-e", "-b", "tls-l:127.0.0.1:0", respond],
        ));
        let url = format!("https://localhost:{port}/");
        let curl_with = |identity: &[String]| {
            Command::new(&curl)
                .args(["-sS", "--max-time", "10", "--http1.0", "--cacert"])
                .arg(certs.path("ca.pem"))
                .args(identity)
                .arg(&url)
                .output()
                .expect("run curl")
        };
        let out = curl_with(&[
            "--cert".to_string(),
            certs.path("alice.pem"),
            "--key".to_string(),
            certs.path("alice.key"),
        ]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "CN=alice,O=Team\n",
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Without one curl fails and gets nothing.
        let out = curl_with(&[]);
        assert!(!out.status.success());
        assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    }

    #[test]
    fn sighup_reloads_certificates_for_new_connections_only() {
        let certs = certs_with_clients();
        // The server's files, replaced later.
        let (cert, key) = (certs.path("live.pem"), certs.path("live.key"));
        std::fs::copy(certs.path("server.pem"), &cert).expect("copy cert");
        std::fs::copy(certs.path("server.key"), &key).expect("copy key");
        certs.make_signed(
            "next",
            "/CN=localhost",
            "other-ca",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        );
        let (server, port) = server(&[
            "-v",
            "-b",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "tls-l:127.0.0.1:0",
            "mirror:",
        ]);
        let trusting = |ca: &str| {
            [
                "-b".to_string(),
                "--cacert".to_string(),
                certs.path(ca),
                "-".to_string(),
                format!("tls-c[domain=localhost]:tcp:127.0.0.1:{port}"),
            ]
        };
        // A connection made before the reload.
        let mut old = Proc::spawn(&trusting("ca.pem"));
        old.write_stdin(b"before\n");
        old.wait_stdout("the echo before the reload", |b| b == b"before\n");

        std::fs::copy(certs.path("next.pem"), &cert).expect("replace cert");
        std::fs::copy(certs.path("next.key"), &key).expect("replace key");
        hangup(&server);
        server.wait_stderr("reloaded the TLS certificate");

        // New clients see the new certificate: only the other CA verifies it now.
        let out = run(&trusting("other-ca.pem"), b"new");
        assert!(out.status.success(), "client failed: {}", stderr_of(&out));
        assert_eq!(out.stdout, b"new");
        let out = run(&trusting("ca.pem"), b"new");
        assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
        assert!(says(&stderr_of(&out), "unknown certificate authority"));
        // The old connection keeps working.
        old.write_stdin(b"after\n");
        old.wait_stdout("the echo after the reload", |b| b == b"before\nafter\n");

        // A broken key file: the error names it and the last good identity stays.
        std::fs::write(&key, "not a key\n").expect("break key");
        hangup(&server);
        let log = server.wait_stderr("certificate reload failed");
        assert!(says(&log, &format!("--tls-key file `{key}`")), "{log}");
        let out = run(&trusting("other-ca.pem"), b"still");
        assert!(out.status.success(), "client failed: {}", stderr_of(&out));
        assert_eq!(out.stdout, b"still");
        old.write_stdin(b"end\n");
        old.wait_stdout("the last echo", |b| b.ends_with(b"end\n"));
    }

    /// Sends SIGHUP to a running websocat.
    fn hangup(p: &Proc) {
        p.signal(libc::SIGHUP);
    }

    #[test]
    fn usual_mistakes_are_named() {
        let certs = certs_with_clients();
        let start = |args: &[String]| {
            let mut a = args.to_vec();
            a.extend(["-b", "tls-l:127.0.0.1:0", "mirror:"].map(String::from));
            run(&a, b"")
        };
        let pem = |cert: &str, key: &str| {
            vec![
                "--tls-cert".to_string(),
                certs.path(cert),
                "--tls-key".to_string(),
                certs.path(key),
            ]
        };
        // A key that belongs to another certificate.
        let out = start(&pem("server.pem", "alice.key"));
        assert_eq!(out.status.code(), Some(1));
        let err = stderr_of(&out);
        assert!(
            says(
                &err,
                &format!(
                    "--tls-key file `{}` does not belong to the certificate",
                    certs.path("alice.key")
                )
            ),
            "{err}"
        );
        // A client-CA file without certificates.
        let empty = certs.path("empty.pem");
        std::fs::write(&empty, "no certificates here\n").expect("write");
        let mut a = pem("server.pem", "server.key");
        a.extend(["--tls-client-ca".to_string(), empty.clone()]);
        let out = start(&a);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr_of(&out);
        assert!(
            says(
                &err,
                &format!("--tls-client-ca file `{empty}` holds no PEM certificate")
            ),
            "{err}"
        );
        // An expired certificate is served (clients decide) but named at startup.
        let (server, _port) = server(
            &[
                &pem("expired.pem", "server.key")[..],
                &["tls-l:127.0.0.1:0".to_string(), "mirror:".to_string()],
            ]
            .concat(),
        );
        let log = server.wait_stderr("expired on");
        assert!(
            says(
                &log,
                &format!("--tls-cert file `{}`", certs.path("expired.pem"))
            ),
            "{log}"
        );
        // Optional client certificates need a client CA.
        let mut a = pem("server.pem", "server.key");
        a.push("--tls-client-cert-optional".to_string());
        let out = start(&a);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            says(
                &stderr_of(&out),
                "--tls-client-cert-optional needs --tls-client-ca"
            ),
            "{}",
            stderr_of(&out)
        );
    }
}
