//! TLS both ways, with the platform TLS library (native-tls: OpenSSL on Linux):
//! `tls-c:` (client overlay over any byte stream), `tls-accept:` (server overlay over each
//! accepted connection), and the sugar `tls-l:` (= `tls-accept:tcp-l:ADDR`, or over a
//! sub-specifier) and `wss-l:` (= `ws-upgrade:tls-accept:tcp-l:ADDR`).
//!
//! Certificates and keys are read and checked when the chain is built, before anything
//! connects or listens, so a bad file fails at startup and names the file.

use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, ConnLayer};
use crate::plan::PlanNode;
use crate::registry::{
    ArgType, Build, Expansion, KindDef, ParamDef, ParamType, Role, Shape, Trait,
};
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;
use std::time::Duration;

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

const SERVER_PARAMS: [ParamDef; 5] = [
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
           required. Client certificates are neither requested nor verified: the platform TLS \
           library used here (native-tls) offers no way to do that on the server side. A \
           client that does not finish its handshake within 30 s is disconnected.",
    examples: &[
        "websocat --tls-cert cert.pem --tls-key key.pem tls-accept:tcp-l:127.0.0.1:8443 mirror:",
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
           `--pkcs12-der` or `--tls-cert` + `--tls-key`. Client certificates are not requested \
           (native-tls cannot verify them on the server side).",
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
           `--tls-cert` + `--tls-key`. `-s PORT` with one of those flags serves `wss-l:`.",
    examples: &[
        "websocat --pkcs12-der server.p12 wss-l:127.0.0.1:8443 mirror:",
        "websocat --tls-cert cert.pem --tls-key key.pem wss-l:0.0.0.0:443 tcp:127.0.0.1:22",
    ],
    build: Build::Sugar(Expansion {
        overlays: &["ws-upgrade", "tls-accept"],
        leaf: "tcp-listen",
    }),
};

/// Reads a small file named by a flag, naming both in errors.
fn read_file(flag: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {flag} file `{path}`: {e}"))
}

/// Returns the key PEM starting at its `BEGIN` line, or explains why it cannot be used.
fn pkcs8_key<'a>(key: &'a [u8], flag: &str, path: &str) -> Result<&'a [u8], String> {
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
    let what = if has("alert unknown ca") {
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
            Ok((Conn::Bytes(Box::new(tls)), info))
        })
    }
}

/// The TLS server layer.
struct TlsServer {
    acceptor: tokio_native_tls::TlsAcceptor,
    /// Time limit of each handshake.
    limit: Option<Duration>,
}

fn build_server(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    let identity =
        load_identity(node, ("--pkcs12-der", "--tls-cert", "--tls-key"))?.ok_or_else(|| {
            "a TLS server needs a certificate and key: give --tls-cert FILE --tls-key FILE (PEM) \
             or --pkcs12-der FILE [--pkcs12-passwd PASS]"
                .to_string()
        })?;
    let acceptor = native_tls::TlsAcceptor::new(identity)
        .map_err(|e| format!("cannot set up the TLS server with this certificate and key: {e}"))?;
    Ok(Arc::new(TlsServer {
        acceptor: acceptor.into(),
        limit: handshake_timeout(node),
    }))
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
        let acceptor = self.acceptor.clone();
        let limit = self.limit;
        Box::pin(async move {
            let stream = inner.into_bytes_for(TLS_ACCEPT.name)?;
            // Turned into text only when a message needs it.
            let peer = || info.peer.as_ref().map_or("?".into(), ToString::to_string);
            let handshake = async {
                acceptor.accept(stream).await.map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        explain_server_handshake_error(&e.to_string(), &peer()),
                    )
                })
            };
            let what = || format!("TLS handshake with client {}", peer());
            let tls = with_limit(limit, what, handshake).await?;
            Ok((Conn::Bytes(Box::new(tls)), info))
        })
    }
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
    fn missing_file_names_flag_and_path() {
        let e = read_file("--cacert", "/nonexistent/ca.pem").unwrap_err();
        assert!(
            e.starts_with("cannot read --cacert file `/nonexistent/ca.pem`"),
            "{e}"
        );
    }
}
