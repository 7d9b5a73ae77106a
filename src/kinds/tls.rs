//! TLS both ways: the client with the platform TLS library (native-tls: OpenSSL on Linux),
//! the server with OpenSSL directly (see [`super::support::tls_server`]: native-tls cannot
//! verify client certificates):
//! `tls-c:` (client overlay over any byte stream), `tls-accept:` (server overlay over each
//! accepted connection), and the sugar `tls-l:` (= `tls-accept:tcp-l:ADDR`, or over a
//! sub-specifier) and `wss-l:` (= `ws-upgrade:tls-accept:tcp-l:ADDR`).
//!
//! Certificates and keys are read and checked when the chain is built, before anything
//! connects or listens, so a bad file fails at startup and names the file.

use super::support::tls_server::{self, IdentityFiles, ServerFiles, ServerTls};
use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, ConnLayer};
use crate::plan::PlanNode;
use crate::registry::{
    ArgType, Build, Expansion, KindDef, ParamDef, ParamType, Role, Shape, Trait,
};
use futures::future::BoxFuture;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tls_server::read_file;

/// Seconds a TLS handshake may take unless `handshake-timeout` says otherwise.
pub const DEFAULT_HANDSHAKE_TIMEOUT: u64 = 30;

const HANDSHAKE_TIMEOUT_PARAM: ParamDef = ParamDef {
    name: "handshake-timeout",
    ty: ParamType::Uint,
    flag: None,
    help: "seconds the TLS handshake may take (default 30; 0 = no limit)",
};

const CLIENT_PARAMS: [ParamDef; 8] = [
    ParamDef {
        name: "domain",
        ty: ParamType::Text,
        flag: Some("--tls-domain"),
        help: "server name sent as SNI and checked against the certificate (`wss://` URLs set it \
               to the URL's host); without it the name is not checked",
    },
    ParamDef {
        name: "insecure",
        ty: ParamType::Bool,
        flag: Some("--insecure"),
        help: "`true`: accept any server certificate (expired, self-signed, other name)",
    },
    ParamDef {
        name: "cacert",
        ty: ParamType::Text,
        flag: Some("--cacert"),
        help: "PEM file of CA certificates to trust instead of the system roots",
    },
    ParamDef {
        name: "pkcs12",
        ty: ParamType::Text,
        flag: Some("--client-pkcs12-der"),
        help: "client certificate and key as a PKCS#12 (.p12/.pfx) file",
    },
    ParamDef {
        name: "pkcs12-passwd",
        ty: ParamType::Text,
        flag: Some("--client-pkcs12-passwd"),
        help: "password of the client PKCS#12 file; empty when not given",
    },
    ParamDef {
        name: "cert",
        ty: ParamType::Text,
        flag: Some("--client-cert"),
        help: "client certificate chain as a PEM file (with `key`)",
    },
    ParamDef {
        name: "key",
        ty: ParamType::Text,
        flag: Some("--client-key"),
        help: "client private key as a PKCS#8 PEM file (with `cert`)",
    },
    HANDSHAKE_TIMEOUT_PARAM,
];

const SERVER_PARAMS: [ParamDef; 7] = [
    ParamDef {
        name: "pkcs12",
        ty: ParamType::Text,
        flag: Some("--pkcs12-der"),
        help: "server certificate and key as a PKCS#12 (.p12/.pfx) file",
    },
    ParamDef {
        name: "pkcs12-passwd",
        ty: ParamType::Text,
        flag: Some("--pkcs12-passwd"),
        help: "password of the PKCS#12 file; empty when not given",
    },
    ParamDef {
        name: "cert",
        ty: ParamType::Text,
        flag: Some("--tls-cert"),
        help: "server certificate chain as a PEM file, leaf first (with `key`)",
    },
    ParamDef {
        name: "key",
        ty: ParamType::Text,
        flag: Some("--tls-key"),
        help: "server private key as a PKCS#8 PEM file (with `cert`)",
    },
    ParamDef {
        name: "client-ca",
        ty: ParamType::Text,
        flag: Some("--tls-client-ca"),
        help: "PEM file of CA certificates: clients must present a certificate signed by one",
    },
    ParamDef {
        name: "client-cert-optional",
        ty: ParamType::Bool,
        flag: Some("--tls-client-cert-optional"),
        help: "`true`: with `client-ca`, let clients without a certificate in too",
    },
    HANDSHAKE_TIMEOUT_PARAM,
];

/// Registry entry for `tls-c:`.
pub const TLS_CONNECT: KindDef = KindDef {
    name: "tls-c",
    synonyms: &[
        "tls-connect",
        "ssl-connect",
        "ssl-c",
        "ssl",
        "tls",
        "connect-ssl",
        "connect-tls",
        "c-ssl",
        "c-tls",
    ],
    role: Role::Overlay,
    shape: Shape::BytesToBytes,
    traits: &[
        Trait::TlsIdentity {
            required: false,
            what: "a TLS client certificate",
        },
        Trait::ChecksServerName,
    ],
    arg: ArgType::None,
    params: &CLIENT_PARAMS,
    summary: "TLS client over the byte stream under it",
    help: "Performs a TLS handshake as a client over the connection under it (usually `tcp:`) \
           and then carries bytes encrypted. The server certificate is verified against the \
           system's trusted roots, or only against the CAs in `--cacert FILE`. The name checked \
           (and sent as SNI) is `domain` / `--tls-domain`; `wss://` URLs set it to their host. \
           Without a domain only the certificate chain is checked, not the name (as websocat \
           1.x; a warning says so). `-k` / `--insecure` accepts any certificate. A client \
           certificate can be presented with `--client-pkcs12-der` (+ `--client-pkcs12-passwd`) \
           or `--client-cert` + `--client-key` (PEM; the key must be PKCS#8). A handshake \
           that takes more than 30 s (e.g. against a port that does not speak TLS) fails.",
    examples: &[
        "websocat - tls-c[domain=example.com]:tcp:example.com:443",
        "websocat --cacert ca.pem --tls-domain localhost - tls-c:tcp:127.0.0.1:8443",
        "websocat -k wss://127.0.0.1:8443/",
    ],
    build: Build::Layer(build_client),
};

/// Registry entry for `tls-accept:`.
pub const TLS_ACCEPT: KindDef = KindDef {
    name: "tls-accept",
    synonyms: &[
        "ssl-accept",
        "ssl-a",
        "tls-a",
        "a-ssl",
        "accept-ssl",
        "accept-tls",
    ],
    role: Role::Overlay,
    shape: Shape::BytesToBytes,
    traits: &[Trait::TlsIdentity {
        required: true,
        what: "a TLS server",
    }],
    arg: ArgType::None,
    params: &SERVER_PARAMS,
    summary: "TLS server over each connection under it",
    help: "Performs the server side of a TLS handshake on each accepted connection (inside \
           that connection's task) and then carries bytes encrypted. The server identity comes \
           from `--pkcs12-der FILE` (+ `--pkcs12-passwd`) or from `--tls-cert FILE` + \
           `--tls-key FILE` (PEM; the key must be PKCS#8, `BEGIN PRIVATE KEY`); one of them is \
           required. With `--tls-client-ca FILE` (a PEM bundle of CAs) every client must \
           present a certificate signed by one of them, or its handshake is refused; \
           `--tls-client-cert-optional` lets clients without a certificate in (one that is \
           presented must still verify). The verified client's subject and alternative names \
           are logged with -v and, with -e, given to `exec:`/`sh-c:` children as \
           WEBSOCAT_TLS_CLIENT_SUBJECT, WEBSOCAT_TLS_CLIENT_ISSUER and \
           WEBSOCAT_TLS_CLIENT_SAN. On SIGHUP the certificate, key and client CA files are read \
           again for new connections (open ones are not touched); if a file is broken, the \
           old ones stay and an error names the file. A client that does not finish its \
           handshake within 30 s is disconnected.",
    examples: &[
        "websocat --tls-cert cert.pem --tls-key key.pem tls-accept:tcp-l:127.0.0.1:8443 mirror:",
        "websocat -e --tls-cert cert.pem --tls-key key.pem --tls-client-ca clients.pem wss-l:0.0.0.0:8443 exec:./handler",
    ],
    build: Build::Layer(build_server),
};

/// Registry entry for `tls-l:` sugar.
pub const TLS_LISTEN: KindDef = KindDef {
    name: "tls-listen",
    synonyms: &[
        "tls-l",
        "ssl-listen",
        "ssl-l",
        "listen-ssl",
        "listen-tls",
        "l-ssl",
        "l-tls",
    ],
    role: Role::ListenerAlias,
    shape: Shape::Expands,
    traits: &[],
    arg: ArgType::ListenAddr,
    params: &SERVER_PARAMS,
    summary: "TLS server: `tls-accept:` over `tcp-l:` or over a sub-specifier",
    help: "`tls-l:ADDR` listens on a TCP address (a bare port means 127.0.0.1) and accepts TLS \
           clients; `tls-l:SPEC` accepts TLS over any listener. The identity comes from \
           `--pkcs12-der` or `--tls-cert` + `--tls-key`; `--tls-client-ca FILE` requires client \
           certificates (see `tls-accept:`).",
    examples: &[
        "websocat --pkcs12-der server.p12 tls-l:127.0.0.1:8443 tcp:127.0.0.1:22",
        "websocat -b --tls-cert cert.pem --tls-key key.pem tls-l:tcp-l:127.0.0.1:8443 mirror:",
    ],
    build: Build::Sugar(Expansion {
        overlays: &["tls-accept"],
        leaf: "tcp-listen",
    }),
};

/// Registry entry for `wss-l:` sugar.
pub const WSS_LISTEN: KindDef = KindDef {
    name: "wss-listen",
    synonyms: &["wss-l", "l-wss", "listen-wss"],
    role: Role::ListenerAlias,
    shape: Shape::Expands,
    traits: &[],
    arg: ArgType::ListenAddr,
    params: super::ws_server::WS_LISTEN.params,
    summary: "secure WebSocket server: `ws-upgrade:` over `tls-accept:` over `tcp-l:`",
    help: "`wss-l:ADDR` listens on a TCP address (a bare port means 127.0.0.1) and accepts \
           WebSocket clients over TLS (`wss://`). Bracket parameters are those of \
           `ws-upgrade:`; the TLS identity comes from `--pkcs12-der` (+ `--pkcs12-passwd`) or \
           `--tls-cert` + `--tls-key`, and `--tls-client-ca FILE` requires client certificates \
           (see `tls-accept:`). `-s PORT` with one of those flags serves `wss-l:`.",
    examples: &[
        "websocat --pkcs12-der server.p12 wss-l:127.0.0.1:8443 mirror:",
        "websocat --tls-cert cert.pem --tls-key key.pem wss-l:0.0.0.0:443 tcp:127.0.0.1:22",
    ],
    build: Build::Sugar(Expansion {
        overlays: &["ws-upgrade", "tls-accept"],
        leaf: "tcp-listen",
    }),
};

/// Returns the key PEM starting at its `BEGIN` line, or explains why it cannot be used.
pub(crate) fn pkcs8_key<'a>(key: &'a [u8], flag: &str, path: &str) -> Result<&'a [u8], String> {
    const PKCS8: &[u8] = b"-----BEGIN PRIVATE KEY-----";
    if let Some(at) = key.windows(PKCS8.len()).position(|w| w == PKCS8) {
        return Ok(&key[at..]);
    }
    let text = String::from_utf8_lossy(key);
    let convert =
        format!("convert it with `openssl pkcs8 -topk8 -nocrypt -in {path} -out key-pkcs8.pem`");
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        Err(format!(
            "{flag} file `{path}` holds an encrypted key; decrypt it: `openssl pkcs8 -in {path} -out key-pkcs8.pem`"
        ))
    } else if text.contains("-----BEGIN RSA PRIVATE KEY-----")
        || text.contains("-----BEGIN EC PRIVATE KEY-----")
    {
        Err(format!(
            "{flag} file `{path}` holds a PKCS#1/SEC1 key, but a PKCS#8 key (`BEGIN PRIVATE KEY`) is needed; {convert}"
        ))
    } else {
        Err(format!(
            "{flag} file `{path}` holds no PEM private key (`-----BEGIN PRIVATE KEY-----`)"
        ))
    }
}

/// Loads an identity from either a PKCS#12 file or a PEM certificate chain plus key.
/// `flags` names the CLI flags for (pkcs12, cert, key), for error messages.
fn load_identity(
    node: &PlanNode,
    flags: (&str, &str, &str),
) -> Result<Option<native_tls::Identity>, String> {
    let (p12_flag, cert_flag, key_flag) = flags;
    match (node.param("pkcs12"), node.param("cert"), node.param("key")) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(format!(
            "give either {p12_flag} or {cert_flag} + {key_flag}, not both"
        )),
        (Some(path), None, None) => {
            let der = read_file(p12_flag, path)?;
            let passwd = node.param("pkcs12-passwd").unwrap_or("");
            native_tls::Identity::from_pkcs12(&der, passwd)
                .map(Some)
                .map_err(|e| {
                    format!(
                        "{p12_flag} file `{path}` is not a usable PKCS#12 file or the password is wrong: {e}"
                    )
                })
        }
        (None, Some(cert), Some(key)) => {
            let cert_pem = read_file(cert_flag, cert)?;
            let key_pem = read_file(key_flag, key)?;
            let key_pem = pkcs8_key(&key_pem, key_flag, key)?;
            if native_tls::Certificate::stack_from_pem(&cert_pem)
                .map(|v| v.is_empty())
                .unwrap_or(true)
            {
                return Err(format!(
                    "{cert_flag} file `{cert}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
                ));
            }
            native_tls::Identity::from_pkcs8(&cert_pem, key_pem)
                .map(Some)
                .map_err(|e| format!("{cert_flag} `{cert}` with {key_flag} `{key}`: {e}"))
        }
        (None, Some(_), None) => Err(format!("{cert_flag} needs {key_flag} (the private key)")),
        (None, None, Some(_)) => Err(format!("{key_flag} needs {cert_flag} (the certificate)")),
        (None, None, None) => Ok(None),
    }
}

/// The handshake time limit of a node; `None` = no limit.
fn handshake_timeout(node: &PlanNode) -> Option<Duration> {
    match node.param_u64("handshake-timeout") {
        Some(0) => None,
        Some(n) => Some(Duration::from_secs(n)),
        None => Some(Duration::from_secs(DEFAULT_HANDSHAKE_TIMEOUT)),
    }
}

/// Runs a handshake under an optional time limit; `what` describes it for the error.
async fn with_limit<T>(
    limit: Option<Duration>,
    what: impl FnOnce() -> String,
    fut: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match limit {
        None => fut.await,
        Some(d) => tokio::time::timeout(d, fut).await.unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{} timed out after {} s", what(), d.as_secs()),
            ))
        }),
    }
}

/// The TLS client layer.
struct TlsClient {
    connector: tokio_native_tls::TlsConnector,
    /// Name for SNI and verification; `None` = chain checked, name not.
    domain: Option<String>,
    /// Time limit of the handshake.
    limit: Option<Duration>,
}

fn build_client(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    let mut b = native_tls::TlsConnector::builder();
    let domain = node
        .param("domain")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    if node.param_bool("insecure") {
        b.danger_accept_invalid_certs(true);
        b.danger_accept_invalid_hostnames(true);
    }
    if domain.is_none() {
        b.use_sni(false);
        b.danger_accept_invalid_hostnames(true);
    }
    if let Some(path) = node.param("cacert") {
        let pem = read_file("--cacert", path)?;
        let certs = native_tls::Certificate::stack_from_pem(&pem)
            .map_err(|e| format!("--cacert file `{path}` is not valid PEM: {e}"))?;
        if certs.is_empty() {
            return Err(format!(
                "--cacert file `{path}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
            ));
        }
        b.disable_built_in_roots(true);
        for c in certs {
            b.add_root_certificate(c);
        }
    }
    if let Some(id) = load_identity(
        node,
        ("--client-pkcs12-der", "--client-cert", "--client-key"),
    )? {
        b.identity(id);
    }
    let connector = b
        .build()
        .map_err(|e| format!("cannot set up the TLS client: {e}"))?;
    Ok(Arc::new(TlsClient {
        connector: connector.into(),
        domain,
        limit: handshake_timeout(node),
    }))
}

/// Explains the common verification failures in words, with what to do about them.
/// OpenSSL's wording differs between versions ("Hostname mismatch", "hostname mismatch"),
/// so matching ignores case.
fn explain_handshake_error(raw: &str, domain: Option<&str>) -> String {
    let name = domain.unwrap_or("the server");
    let low = raw.to_ascii_lowercase();
    let has = |s: &str| low.contains(s);
    if let Some(refusal) = explain_client_certificate_alert(raw) {
        return format!("TLS handshake with {name} failed: {refusal}");
    }
    let (what, hint) = if has("hostname mismatch") || has("ip address mismatch") {
        (
            format!("the server's certificate is not valid for `{name}`"),
            "connect by a name the certificate covers, or set the expected name with --tls-domain",
        )
    } else if has("unable to get local issuer certificate")
        || has("self-signed certificate")
        || has("self signed certificate")
        || has("unable to get issuer certificate")
        || has("unable to verify the first certificate")
    {
        (
            "the server's certificate is signed by an unknown certificate authority".to_string(),
            "trust its CA with --cacert FILE, or skip verification with -k",
        )
    } else if has("certificate has expired") {
        (
            "the server's certificate has expired".to_string(),
            "renew the certificate, or skip verification with -k",
        )
    } else if has("certificate is not yet valid") {
        (
            "the server's certificate is not valid yet".to_string(),
            "check the clocks, or skip verification with -k",
        )
    } else if has("certificate verify failed") {
        (
            "the server's certificate could not be verified".to_string(),
            "trust its CA with --cacert FILE, or skip verification with -k",
        )
    } else if has("wrong version number") || has("unexpected eof") {
        (
            "the server did not answer with TLS".to_string(),
            "check that the port serves TLS (ws:// instead of wss://?)",
        )
    } else {
        return format!("TLS handshake with {name} failed: {raw}");
    };
    format!("TLS handshake with {name} failed: {what} ({raw}); {hint}")
}

/// Explains why a client's handshake failed, as far as the server can tell.
fn explain_server_handshake_error(raw: &str, peer: &str) -> String {
    let low = raw.to_ascii_lowercase();
    let has = |s: &str| low.contains(s);
    let what = if has("peer did not return a certificate") {
        "the client presented no certificate, but --tls-client-ca requires one"
    } else if has("certificate verify failed") {
        "its certificate did not verify against --tls-client-ca"
    } else if has("alert unknown ca") {
        "the client does not trust the CA of this server's certificate"
    } else if has("alert bad certificate") || has("alert certificate unknown") {
        "the client rejected this server's certificate (wrong name?)"
    } else if has("alert certificate expired") {
        "the client says this server's certificate has expired"
    } else if has("http request") || has("wrong version number") || has("unexpected eof") {
        "the client did not speak TLS"
    } else {
        return format!("TLS handshake with client {peer} failed: {raw}");
    };
    format!("TLS handshake with client {peer} failed: {what} ({raw})")
}

impl ConnLayer for TlsClient {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let connector = self.connector.clone();
        let domain = self.domain.clone();
        let limit = self.limit;
        Box::pin(async move {
            let stream = inner.into_bytes_for(TLS_CONNECT.name)?;
            // Without a domain SNI and the name check are off, so the name is unused.
            let name = domain.as_deref().unwrap_or("domain-verification-disabled");
            let handshake = async {
                connector.connect(name, stream).await.map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        explain_handshake_error(&e.to_string(), domain.as_deref()),
                    )
                })
            };
            let what = || {
                format!(
                    "TLS handshake with {} (is it a TLS port?)",
                    domain.as_deref().unwrap_or("the server")
                )
            };
            let tls = with_limit(limit, what, handshake).await?;
            Ok((Conn::Bytes(Box::new(ExplainRefusal { inner: tls })), info))
        })
    }
}

/// The TLS server layer.
struct TlsServer {
    tls: Arc<ServerTls>,
    /// Time limit of each handshake.
    limit: Option<Duration>,
}

/// The server's files as given by a node's parameters (checked by the planner: exactly one
/// identity is there).
fn server_files(node: &PlanNode) -> Result<ServerFiles, String> {
    let identity =
        match (node.param("pkcs12"), node.param("cert"), node.param("key")) {
            (Some(path), None, None) => IdentityFiles::Pkcs12 {
                path: path.to_string(),
                password: node.param("pkcs12-passwd").unwrap_or("").to_string(),
            },
            (None, Some(cert), Some(key)) => IdentityFiles::Pem {
                cert: cert.to_string(),
                key: key.to_string(),
            },
            _ => return Err(
                "a TLS server needs a certificate and key: give --tls-cert FILE --tls-key FILE \
                 (PEM) or --pkcs12-der FILE [--pkcs12-passwd PASS]"
                    .to_string(),
            ),
        };
    let client_cert_optional = node.param_bool("client-cert-optional");
    let client_ca = node.param("client-ca").map(str::to_string);
    if client_cert_optional && client_ca.is_none() {
        return Err(
            "--tls-client-cert-optional needs --tls-client-ca FILE (the CAs that client \
             certificates are checked against)"
                .to_string(),
        );
    }
    Ok(ServerFiles {
        identity,
        client_ca,
        client_cert_optional,
    })
}

fn build_server(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    Ok(Arc::new(TlsServer {
        tls: ServerTls::new(server_files(node)?)?,
        limit: handshake_timeout(node),
    }))
}

/// Closes a connection whose handshake failed so that the alert already sent reaches the
/// client: closing a socket with unread input makes the kernel send a reset, and a client
/// receiving it loses the alert (and sees "connection reset" instead of the reason). So the
/// write side is shut first and what the client still sends is read and dropped, for at
/// most a second and 64 KiB.
async fn linger(stream: &mut Box<dyn crate::exec::ByteStream>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let drain = async {
        let _ = stream.shutdown().await;
        let mut buf = [0u8; 4096];
        let mut left = 64 * 1024usize;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

/// Why the server refused a client's certificate, from OpenSSL's verification result.
fn explain_client_verification(verify: &str, peer: &str) -> String {
    let low = verify.to_ascii_lowercase();
    let what = if low.contains("unable to get local issuer")
        || low.contains("self-signed")
        || low.contains("self signed")
        || low.contains("unable to get issuer")
    {
        "its certificate is not signed by a CA in --tls-client-ca"
    } else if low.contains("expired") {
        "its certificate has expired"
    } else if low.contains("not yet valid") {
        "its certificate is not valid yet"
    } else {
        "its certificate did not verify"
    };
    format!("TLS handshake with client {peer} failed: {what} ({verify})")
}

impl ConnLayer for TlsServer {
    fn peer_speaks_first(&self) -> bool {
        true
    }

    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let tls = Arc::clone(&self.tls);
        let limit = self.limit;
        Box::pin(async move {
            let stream = inner.into_bytes_for(TLS_ACCEPT.name)?;
            // Turned into text only when a message needs it.
            let peer = || info.peer.as_ref().map_or("?".into(), ToString::to_string);
            let ssl = tls.session().map_err(io::Error::other)?;
            let mut stream = tokio_openssl::SslStream::new(ssl, stream)
                .map_err(|e| io::Error::other(format!("cannot start a TLS session: {e}")))?;
            let handshake = async {
                match Pin::new(&mut stream).accept().await {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        let verify = stream.ssl().verify_result();
                        let message = if verify != openssl::x509::X509VerifyResult::OK {
                            explain_client_verification(verify.error_string(), &peer())
                        } else {
                            explain_server_handshake_error(&e.to_string(), &peer())
                        };
                        // Our alert must reach the client before the connection ends.
                        linger(stream.get_mut()).await;
                        Err(io::Error::new(io::ErrorKind::InvalidData, message))
                    }
                }
            };
            let what = || format!("TLS handshake with client {}", peer());
            with_limit(limit, what, handshake).await?;
            let identity = tls_server::peer_identity(stream.ssl());
            if let Some(id) = &identity {
                tracing::info!(
                    "TLS client {} presented a verified certificate: subject {}, issuer {}{}",
                    peer(),
                    id.subject,
                    id.issuer,
                    if id.alt_names.is_empty() {
                        String::new()
                    } else {
                        format!(", alternative names {}", id.alt_names.join(","))
                    }
                );
            } else if tls.asks_for_client_certificates() {
                tracing::info!("TLS client {} presented no certificate", peer());
            }
            let info = ConnInfo {
                tls_client: identity.map(Arc::new),
                ..info
            };
            Ok((Conn::Bytes(Box::new(stream)), info))
        })
    }
}

/// A TLS client stream whose errors explain the server's refusal of our client
/// certificate: with TLS 1.3 the server checks it after our handshake has finished, so the
/// refusal arrives with the first read.
#[pin_project::pin_project]
struct ExplainRefusal<S> {
    #[pin]
    inner: S,
}

/// The error with an explanation when it is the server refusing our client certificate.
fn explain_refusal(e: io::Error) -> io::Error {
    match explain_client_certificate_alert(&e.to_string()) {
        Some(message) => io::Error::new(e.kind(), message),
        None => e,
    }
}

impl<S: tokio::io::AsyncRead> tokio::io::AsyncRead for ExplainRefusal<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project()
            .inner
            .poll_read(cx, buf)
            .map_err(explain_refusal)
    }
}

impl<S: tokio::io::AsyncWrite> tokio::io::AsyncWrite for ExplainRefusal<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project()
            .inner
            .poll_write(cx, buf)
            .map_err(explain_refusal)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx).map_err(explain_refusal)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project()
            .inner
            .poll_shutdown(cx)
            .map_err(explain_refusal)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project()
            .inner
            .poll_write_vectored(cx, bufs)
            .map_err(explain_refusal)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// An explanation when the server's TLS alert says it refused our client certificate (or
/// our lack of one).
fn explain_client_certificate_alert(raw: &str) -> Option<String> {
    let low = raw.to_ascii_lowercase();
    let has = |s: &str| low.contains(s);
    let present =
        "present one with --client-cert FILE --client-key FILE or --client-pkcs12-der FILE";
    let (what, hint) = if has("alert certificate required") {
        ("the server requires a client certificate", present)
    } else if has("alert handshake failure") {
        (
            "the server refused the handshake (does it require a client certificate?)",
            present,
        )
    } else if has("alert unknown ca") {
        (
            "the server does not trust the CA that signed our client certificate",
            "use a client certificate from a CA the server trusts",
        )
    } else if has("alert certificate expired") {
        (
            "the server says our client certificate has expired",
            "renew the client certificate",
        )
    } else if has("alert bad certificate")
        || has("alert certificate unknown")
        || has("alert access denied")
    {
        (
            "the server refused our client certificate",
            "use a client certificate the server accepts",
        )
    } else {
        return None;
    };
    Some(format!("TLS: {what} ({raw}); {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_key_is_found_after_leading_text() {
        let pem = b"Bag Attributes\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let k = pkcs8_key(pem, "--tls-key", "k.pem").unwrap();
        assert!(k.starts_with(b"-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn pkcs1_key_explains_the_conversion() {
        let pem = b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let e = pkcs8_key(pem, "--tls-key", "k.pem").unwrap_err();
        assert!(e.contains("--tls-key file `k.pem`"), "{e}");
        assert!(e.contains("openssl pkcs8 -topk8"), "{e}");
    }

    #[test]
    fn verification_failures_are_explained() {
        let e = explain_handshake_error(
            "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed (Hostname mismatch)",
            Some("example.org"),
        );
        assert!(e.contains("not valid for `example.org`"), "{e}");
        let e = explain_handshake_error(
            "certificate verify failed (unable to get local issuer certificate)",
            Some("localhost"),
        );
        assert!(e.contains("unknown certificate authority"), "{e}");
        assert!(e.contains("--cacert"), "{e}");
        let e = explain_handshake_error("certificate verify failed (hostname mismatch)", Some("x"));
        assert!(e.contains("not valid for `x`"), "{e}");
    }

    #[test]
    fn server_side_alerts_are_explained() {
        let e = explain_server_handshake_error(
            "error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca",
            "127.0.0.1:5",
        );
        assert!(e.contains("client 127.0.0.1:5"), "{e}");
        assert!(e.contains("does not trust the CA"), "{e}");
    }

    #[test]
    fn refusals_of_our_client_certificate_are_explained() {
        let e = explain_client_certificate_alert(
            "error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required",
        )
        .unwrap();
        assert!(e.contains("requires a client certificate"), "{e}");
        assert!(e.contains("--client-cert"), "{e}");
        let e = explain_handshake_error(
            "error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca",
            Some("localhost"),
        );
        assert!(
            e.contains("does not trust the CA that signed our client"),
            "{e}"
        );
        assert!(explain_client_certificate_alert("connection reset by peer").is_none());
        let refused = explain_refusal(io::Error::other("tlsv13 alert certificate required"));
        assert!(refused
            .to_string()
            .contains("requires a client certificate"));
    }

    #[test]
    fn client_verification_failures_are_explained() {
        let e = explain_client_verification("unable to get local issuer certificate", "p:1");
        assert!(e.contains("client p:1"), "{e}");
        assert!(e.contains("not signed by a CA in --tls-client-ca"), "{e}");
        let e = explain_client_verification("certificate has expired", "p:1");
        assert!(e.contains("its certificate has expired"), "{e}");
        let e = explain_server_handshake_error("peer did not return a certificate", "p:1");
        assert!(e.contains("presented no certificate"), "{e}");
    }

    #[test]
    fn missing_file_names_flag_and_path() {
        let e = read_file("--cacert", "/nonexistent/ca.pem").unwrap_err();
        assert!(
            e.starts_with("cannot read --cacert file `/nonexistent/ca.pem`"),
            "{e}"
        );
    }
}
