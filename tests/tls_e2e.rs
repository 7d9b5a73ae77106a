//! End-to-end TLS tests: our binary as TLS client and server on loopback, with certificates
//! made at test time by the `openssl` command (Debian package `openssl`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_websocat");
const TIMEOUT: Duration = Duration::from_secs(20);

/// A CA, a server certificate for localhost / 127.0.0.1 signed by it (PEM and PKCS#12),
/// an expired server certificate, and an unrelated second CA.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the `openssl` command is needed for the TLS tests");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "3650",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

fn make_certs() -> Certs {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    make_ca(d, "ca");
    make_ca(d, "other-ca");
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext.cnf");
    for (out, days) in [("server.pem", "365"), ("expired.pem", "-1")] {
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                out,
                "-days",
                days,
                "-extfile",
                "ext.cnf",
            ],
        );
    }
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-in",
            "server.pem",
            "-inkey",
            "server.key",
            "-certfile",
            "ca.pem",
            "-out",
            "server.p12",
            "-passout",
            "pass:s3cret",
        ],
    );
    Certs { dir }
}

/// A running server process, killed on drop.
struct Server {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn next_line(&self) -> Option<String> {
        self.lines.recv_timeout(TIMEOUT).ok()
    }
}

/// Starts `websocat ARGS` and waits for its `LISTEN proto=tcp,ip=…,port=N` line.
fn start_server(args: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .arg("--stdout-announce-listening-ports")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn server");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = match rx.recv_timeout(TIMEOUT) {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            panic!("server {args:?} did not announce its port");
        }
    };
    let port = first
        .rsplit("port=")
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("bad announce line {first:?}"));
    Server {
        child,
        port,
        lines: rx,
    }
}

/// Runs `websocat ARGS` with `input` on stdin; kills it after the timeout.
fn run_client(args: &[String], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("client {args:?} did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Bytes that would break a line- or text-based path: NUL, high bytes, CR LF.
fn payload() -> Vec<u8> {
    let mut v = b"hello\0\xff\xfe\r\n".to_vec();
    v.extend((0..=255u8).cycle().take(100_000));
    v
}

fn tls_client(certs: &Certs, port: u16, domain: &str) -> Vec<String> {
    args(&[
        "-b",
        "--cacert",
        &certs.path("ca.pem"),
        "-",
        &format!("tls-c[domain={domain}]:tcp:127.0.0.1:{port}"),
    ])
}

fn echo_server_pem(certs: &Certs, cert: &str) -> Server {
    start_server(&[
        "-b",
        "--tls-cert",
        &certs.path(cert),
        "--tls-key",
        &certs.path("server.key"),
        "tls-l:tcp-l:127.0.0.1:0",
        "mirror:",
    ])
}

fn stderr_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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
    let certs = make_certs();
    let server = echo_server_pem(&certs, "server.pem");
    let data = payload();
    let out = run_client(&tls_client(&certs, server.port, "localhost"), &data);
    assert!(out.status.success(), "client failed: {}", stderr_of(&out));
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "echoed bytes differ");
}

#[test]
fn pkcs12_server_echoes_exact_bytes_and_ip_names_verify() {
    let certs = make_certs();
    let server = start_server(&[
        "-b",
        "--pkcs12-der",
        &certs.path("server.p12"),
        "--pkcs12-passwd",
        "s3cret",
        "tls-l:127.0.0.1:0",
        "mirror:",
    ]);
    let data = payload();
    let out = run_client(&tls_client(&certs, server.port, "127.0.0.1"), &data);
    assert!(out.status.success(), "client failed: {}", stderr_of(&out));
    assert!(out.stdout == data, "echoed bytes differ");
}

#[test]
fn wrong_hostname_fails_clearly() {
    let certs = make_certs();
    let server = echo_server_pem(&certs, "server.pem");
    let out = run_client(&tls_client(&certs, server.port, "wrong.example"), b"x");
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(says(&err, "not valid for `wrong.example`"), "{err}");
    assert!(says(&err, &format!("127.0.0.1:{}", server.port)), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_ca_fails_and_insecure_allows_it() {
    let certs = make_certs();
    let server = echo_server_pem(&certs, "server.pem");
    let target = format!("tls-c[domain=localhost]:tcp:127.0.0.1:{}", server.port);
    // Trusting only an unrelated CA.
    let out = run_client(
        &args(&["-b", "--cacert", &certs.path("other-ca.pem"), "-", &target]),
        b"x",
    );
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(says(&err, "unknown certificate authority"), "{err}");
    assert!(says(&err, "--cacert"), "{err}");
    // System roots do not know our CA either.
    let out = run_client(&args(&["-b", "-", &target]), b"x");
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
    assert!(says(&stderr_of(&out), "unknown certificate authority"));
    // -k accepts it, even under a wrong name.
    let data = payload();
    let out = run_client(
        &args(&[
            "-b",
            "-k",
            "-",
            &format!("tls-c[domain=wrong.example]:tcp:127.0.0.1:{}", server.port),
        ]),
        &data,
    );
    assert!(out.status.success(), "client failed: {}", stderr_of(&out));
    assert!(out.stdout == data, "echoed bytes differ");
}

#[test]
fn expired_certificate_fails_clearly() {
    let certs = make_certs();
    let server = echo_server_pem(&certs, "expired.pem");
    let out = run_client(&tls_client(&certs, server.port, "localhost"), b"x");
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
    assert!(
        says(&stderr_of(&out), "certificate has expired"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn tcp_tunnel_over_wss_carries_bytes_intact() {
    let certs = make_certs();
    let wss = start_server(&[
        "-b",
        "--tls-cert",
        &certs.path("server.pem"),
        "--tls-key",
        &certs.path("server.key"),
        "wss-l:127.0.0.1:0",
        "mirror:",
    ]);
    let url = format!("wss://localhost:{}/", wss.port);
    let tunnel = start_server(&[
        "-b",
        "--cacert",
        &certs.path("ca.pem"),
        "tcp-l:127.0.0.1:0",
        &url,
    ]);
    let mut s = TcpStream::connect(("127.0.0.1", tunnel.port)).expect("connect to tunnel");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
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
    let certs = make_certs();
    let mut child = Command::new(BIN)
        .args([
            "--tls-cert",
            &certs.path("server.pem"),
            "--tls-key",
            &certs.path("server.key"),
            "--stdout-announce-listening-ports",
            "-s",
            "0",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn -s server");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(format!("out:{l}"));
        }
    });
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx2.send(format!("err:{l}"));
        }
    });
    let mut server = Server {
        child,
        port: 0,
        lines: rx,
    };
    let mut banner = None;
    while server.port == 0 || banner.is_none() {
        let Some(l) = server.next_line() else {
            panic!("no announce line and banner");
        };
        if let Some(p) = l.strip_prefix("out:LISTEN ") {
            server.port = p
                .rsplit("port=")
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
        } else if l.starts_with("err:Listening on") {
            banner = Some(l);
        }
    }
    assert_eq!(
        banner.as_deref(),
        Some(format!("err:Listening on wss://127.0.0.1:{}/", server.port).as_str())
    );
    let url = format!("wss://localhost:{}/", server.port);
    let out = run_client(
        &args(&["--cacert", &certs.path("ca.pem"), "-E", &url]),
        b"over tls\n",
    );
    let _ = out;
    loop {
        let Some(l) = server.next_line() else {
            panic!("server printed nothing");
        };
        if l.starts_with("out:") {
            assert_eq!(l, "out:over tls");
            break;
        }
    }
}

#[test]
fn tls_server_without_identity_is_a_usage_error() {
    let out = run_client(&args(&["-b", "tls-l:127.0.0.1:0", "mirror:"]), b"");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        says(&err, "--tls-cert") && says(&err, "--pkcs12-der"),
        "{err}"
    );
}

#[test]
fn unreadable_certificate_file_is_named() {
    let certs = make_certs();
    let missing = certs.path("nope.pem");
    let out = run_client(
        &args(&[
            "-b",
            "--tls-cert",
            &missing,
            "--tls-key",
            &certs.path("server.key"),
            "tls-l:127.0.0.1:0",
            "mirror:",
        ]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(says(&err, &format!("--tls-cert file `{missing}`")), "{err}");
}

#[test]
fn wrong_pkcs12_password_is_explained() {
    let certs = make_certs();
    let p12 = certs.path("server.p12");
    let out = run_client(
        &args(&[
            "-b",
            "--pkcs12-der",
            &p12,
            "--pkcs12-passwd",
            "bad",
            "tls-l:127.0.0.1:0",
            "mirror:",
        ]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(says(&err, &p12) && says(&err, "password"), "{err}");
}

#[test]
fn client_identity_files_are_loaded_and_bad_keys_are_explained() {
    let certs = make_certs();
    let d = certs.dir.path();
    // A client certificate signed by the same CA; PEM (PKCS#8 key), PKCS#12 and a SEC1 key.
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
            "-subj",
            "/CN=client",
        ],
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "client.pem",
            "-days",
            "30",
        ],
    );
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-in",
            "client.pem",
            "-inkey",
            "client.key",
            "-out",
            "client.p12",
            "-passout",
            "pass:pw",
        ],
    );
    openssl(d, &["ec", "-in", "client.key", "-out", "client-sec1.key"]);
    let server = echo_server_pem(&certs, "server.pem");
    let target = format!("tls-c[domain=localhost]:tcp:127.0.0.1:{}", server.port);
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
        let mut a = args(&["-b", "--cacert", &ca]);
        a.extend(identity.iter().map(|s| {
            if s.starts_with("--") || *s == "pw" {
                s.to_string()
            } else {
                certs.path(s)
            }
        }));
        a.extend(args(&["-", &target]));
        let out = run_client(&a, &data);
        assert!(out.status.success(), "{identity:?}: {}", stderr_of(&out));
        assert!(out.stdout == data, "{identity:?}: echoed bytes differ");
    }
    let sec1 = certs.path("client-sec1.key");
    let out = run_client(
        &args(&[
            "-b",
            "--cacert",
            &ca,
            "--client-cert",
            &certs.path("client.pem"),
            "--client-key",
            &sec1,
            "-",
            &target,
        ]),
        b"x",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(says(&err, &format!("--client-key file `{sec1}`")), "{err}");
    assert!(says(&err, "openssl pkcs8 -topk8"), "{err}");
}

#[test]
fn handshakes_time_out_both_ways() {
    let certs = make_certs();
    // A client against a port that never answers gives up and says why.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let holder = std::thread::spawn(move || silent.accept().map(|(s, _)| s));
    let started = Instant::now();
    let out = run_client(
        &args(&[
            "-b",
            "-",
            &format!("tls-c[domain=localhost,handshake-timeout=1]:tcp:127.0.0.1:{port}"),
        ]),
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
    let server = start_server(&[
        "-b",
        "--tls-cert",
        &certs.path("server.pem"),
        "--tls-key",
        &certs.path("server.key"),
        "tls-l[handshake-timeout=1]:127.0.0.1:0",
        "mirror:",
    ]);
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
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
