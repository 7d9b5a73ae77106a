//! The TLS server's configuration, served by OpenSSL through the `openssl` crate: loading
//! and checking the identity and client-CA files, the client-certificate policy, reloading
//! everything on SIGHUP, and reading the verified client's identity after a handshake.
//!
//! Why OpenSSL directly rather than native-tls (which the client side uses): native-tls
//! offers no way for a server to request and verify client certificates. On Linux
//! native-tls is OpenSSL underneath, so this adds no library to the binary; the rest of the
//! code sees only [`ServerTls`] and [`crate::exec::TlsPeerIdentity`].

use crate::exec::TlsPeerIdentity;
use openssl::asn1::Asn1Time;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{Ssl, SslAcceptor, SslMethod, SslRef, SslVerifyMode};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509NameRef, X509Ref, X509};
use std::sync::{Arc, RwLock, Weak};

/// Where the server's identity comes from, as given on the command line.
#[derive(Debug, Clone)]
pub enum IdentityFiles {
    /// A PKCS#12 file and its password.
    Pkcs12 {
        /// The file (`--pkcs12-der`).
        path: String,
        /// Its password (`--pkcs12-passwd`; empty when not given).
        password: String,
    },
    /// A PEM certificate chain (leaf first) and a PKCS#8 PEM key.
    Pem {
        /// The chain (`--tls-cert`).
        cert: String,
        /// The key (`--tls-key`).
        key: String,
    },
}

/// Everything the server's TLS setup is made of: read again from disk on SIGHUP.
#[derive(Debug, Clone)]
pub struct ServerFiles {
    /// The server's certificate and key.
    pub identity: IdentityFiles,
    /// PEM bundle of CAs whose client certificates are accepted (`--tls-client-ca`); `None`:
    /// client certificates are not requested.
    pub client_ca: Option<String>,
    /// With `client_ca`: a client without a certificate is let in (one it does present must
    /// still verify).
    pub client_cert_optional: bool,
}

/// Reads a small file named by a flag, naming both in errors.
pub fn read_file(flag: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {flag} file `{path}`: {e}"))
}

/// OpenSSL's error queue as one line (without the noise of file names and line numbers).
fn ssl_errors(e: &openssl::error::ErrorStack) -> String {
    let parts: Vec<String> = e
        .errors()
        .iter()
        .map(|e| e.reason().map_or_else(|| e.to_string(), str::to_string))
        .collect();
    if parts.is_empty() {
        "unknown OpenSSL error".to_string()
    } else {
        parts.join("; ")
    }
}

/// The certificates of a PEM file; an error names the flag and file when there are none.
pub fn pem_certificates(flag: &str, path: &str) -> Result<Vec<X509>, String> {
    let pem = read_file(flag, path)?;
    let certs = X509::stack_from_pem(&pem)
        .map_err(|e| format!("{flag} file `{path}` is not valid PEM: {}", ssl_errors(&e)))?;
    if certs.is_empty() {
        return Err(format!(
            "{flag} file `{path}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
        ));
    }
    Ok(certs)
}

/// Loads the certificate chain (leaf first) and key, and checks that they belong together.
fn load_identity(files: &IdentityFiles) -> Result<(Vec<X509>, PKey<Private>, String), String> {
    match files {
        IdentityFiles::Pkcs12 { path, password } => {
            let der = read_file("--pkcs12-der", path)?;
            let p12 = Pkcs12::from_der(&der).map_err(|e| {
                format!(
                    "--pkcs12-der file `{path}` is not a PKCS#12 (.p12/.pfx) file: {}",
                    ssl_errors(&e)
                )
            })?;
            let parsed = p12.parse2(password).map_err(|e| {
                format!(
                    "--pkcs12-der file `{path}`: wrong password (give the right one with \
                     --pkcs12-passwd) or an unsupported PKCS#12 file: {}",
                    ssl_errors(&e)
                )
            })?;
            let (Some(leaf), Some(key)) = (parsed.cert, parsed.pkey) else {
                return Err(format!(
                    "--pkcs12-der file `{path}` lacks the certificate or the private key"
                ));
            };
            if !leaf.public_key().is_ok_and(|p| p.public_eq(&key)) {
                return Err(format!(
                    "--pkcs12-der file `{path}`: its private key does not belong to its certificate"
                ));
            }
            let mut chain = vec![leaf];
            chain.extend(parsed.ca.into_iter().flatten());
            Ok((chain, key, format!("--pkcs12-der file `{path}`")))
        }
        IdentityFiles::Pem { cert, key } => {
            let chain = pem_certificates("--tls-cert", cert)?;
            let key_pem = read_file("--tls-key", key)?;
            let key_pem = super::super::tls::pkcs8_key(&key_pem, "--tls-key", key)?;
            let pkey = PKey::private_key_from_pem(key_pem).map_err(|e| {
                format!(
                    "--tls-key file `{key}` holds no usable private key: {}",
                    ssl_errors(&e)
                )
            })?;
            if !chain[0].public_key().is_ok_and(|p| p.public_eq(&pkey)) {
                return Err(format!(
                    "--tls-key file `{key}` does not belong to the certificate in --tls-cert \
                     file `{cert}` (the first certificate there must be the one for this key)"
                ));
            }
            Ok((chain, pkey, format!("--tls-cert file `{cert}`")))
        }
    }
}

/// A warning when the leaf certificate is outside its validity period (the server still
/// serves it: clients decide, and tests use such certificates on purpose).
fn validity_warning(leaf: &X509Ref, source: &str) -> Option<String> {
    let now = Asn1Time::days_from_now(0).ok()?;
    if leaf.not_after() < now {
        Some(format!(
            "the certificate in {source} expired on {}; clients will refuse it",
            leaf.not_after()
        ))
    } else if leaf.not_before() > now {
        Some(format!(
            "the certificate in {source} is not valid before {}; clients will refuse it",
            leaf.not_before()
        ))
    } else {
        None
    }
}

/// Reads all files and builds an acceptor; logs a warning for a certificate out of its
/// validity period. Errors name the file at fault.
pub fn build_acceptor(files: &ServerFiles) -> Result<SslAcceptor, String> {
    let (chain, key, source) = load_identity(&files.identity)?;
    if let Some(w) = validity_warning(&chain[0], &source) {
        tracing::warn!("{w}");
    }
    let setup = |e: openssl::error::ErrorStack| {
        format!(
            "cannot set up the TLS server with {source}: {}",
            ssl_errors(&e)
        )
    };
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(setup)?;
    b.set_certificate(&chain[0]).map_err(setup)?;
    for extra in &chain[1..] {
        b.add_extra_chain_cert(extra.clone()).map_err(setup)?;
    }
    b.set_private_key(&key).map_err(setup)?;
    b.check_private_key().map_err(setup)?;
    if let Some(path) = &files.client_ca {
        let cas = pem_certificates("--tls-client-ca", path)?;
        let ca_setup = |e: openssl::error::ErrorStack| {
            format!(
                "cannot use --tls-client-ca file `{path}`: {}",
                ssl_errors(&e)
            )
        };
        let mut store = X509StoreBuilder::new().map_err(ca_setup)?;
        let mut names = Stack::new().map_err(ca_setup)?;
        for ca in cas {
            names
                .push(ca.subject_name().to_owned().map_err(ca_setup)?)
                .map_err(ca_setup)?;
            store.add_cert(ca).map_err(ca_setup)?;
        }
        b.set_verify_cert_store(store.build()).map_err(ca_setup)?;
        b.set_client_ca_list(names);
        let mut mode = SslVerifyMode::PEER;
        if !files.client_cert_optional {
            mode |= SslVerifyMode::FAIL_IF_NO_PEER_CERT;
        }
        b.set_verify(mode);
        // No session resumption when clients are verified: a resumed session would skip
        // the check against a client CA that a reload may have changed.
        b.set_session_id_context(b"websocat").map_err(ca_setup)?;
        b.set_session_cache_mode(openssl::ssl::SslSessionCacheMode::OFF);
        b.set_options(openssl::ssl::SslOptions::NO_TICKET);
    }
    Ok(b.build())
}

/// The server's TLS setup: the acceptor in use, replaced on SIGHUP by one built from the
/// files read again. Connections already open keep the setup they were accepted with.
pub struct ServerTls {
    files: ServerFiles,
    current: RwLock<Arc<SslAcceptor>>,
}

impl ServerTls {
    /// Builds the setup from the files (failing with a message naming the file) and, when
    /// called inside a Tokio runtime, starts reloading it on SIGHUP.
    pub fn new(files: ServerFiles) -> Result<Arc<ServerTls>, String> {
        let acceptor = build_acceptor(&files)?;
        let tls = Arc::new(ServerTls {
            files,
            current: RwLock::new(Arc::new(acceptor)),
        });
        #[cfg(unix)]
        if tokio::runtime::Handle::try_current().is_ok() {
            reload_on_sighup(Arc::downgrade(&tls))?;
        }
        Ok(tls)
    }

    /// A new server-side TLS session with the current setup.
    pub fn session(&self) -> Result<Ssl, String> {
        let acceptor = match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
        Ssl::new(acceptor.context())
            .map_err(|e| format!("cannot start a TLS session: {}", ssl_errors(&e)))
    }

    /// Reads the files again; on success new connections use them, on failure the old
    /// setup stays and the error (naming the file) is returned.
    pub fn reload(&self) -> Result<(), String> {
        let acceptor = build_acceptor(&self.files)?;
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(acceptor),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(acceptor),
        }
        Ok(())
    }

    /// True when client certificates are requested.
    pub fn asks_for_client_certificates(&self) -> bool {
        self.files.client_ca.is_some()
    }
}

/// Starts a task that reloads `tls` on each SIGHUP until it is dropped. The files are read
/// on a blocking thread so the runtime never waits for the disk.
#[cfg(unix)]
fn reload_on_sighup(tls: Weak<ServerTls>) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())
        .map_err(|e| format!("cannot listen for SIGHUP (certificate reload): {e}"))?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let Some(tls) = tls.upgrade() else { break };
            let outcome = tokio::task::spawn_blocking(move || tls.reload()).await;
            match outcome {
                Ok(Ok(())) => tracing::info!("SIGHUP: reloaded the TLS certificate and key"),
                Ok(Err(e)) => tracing::error!(
                    "SIGHUP: certificate reload failed, still serving the previous one: {e}"
                ),
                Err(e) => tracing::error!("SIGHUP: certificate reload failed: {e}"),
            }
        }
    });
    Ok(())
}

/// `CN=alice,O=Team` from a certificate name, in the certificate's order; `\` and `,` in
/// values are escaped with a backslash.
fn name_text(name: &X509NameRef) -> String {
    let parts: Vec<String> = name
        .entries()
        .map(|e| {
            let key = e
                .object()
                .nid()
                .short_name()
                .map_or_else(|_| e.object().to_string(), |s| s.to_string());
            let value = e.data().to_string().unwrap_or_else(|_| "?".to_string());
            let value = value.replace('\\', "\\\\").replace(',', "\\,");
            format!("{key}={value}")
        })
        .collect();
    parts.join(",")
}

/// The subject alternative names of a certificate as `DNS:name`, `IP:addr`, `email:addr`,
/// `URI:uri`.
fn alt_names(cert: &X509Ref) -> Vec<String> {
    let Some(names) = cert.subject_alt_names() else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|n| {
            if let Some(d) = n.dnsname() {
                Some(format!("DNS:{d}"))
            } else if let Some(ip) = n.ipaddress() {
                match ip.len() {
                    4 => <[u8; 4]>::try_from(ip)
                        .ok()
                        .map(|a| format!("IP:{}", std::net::Ipv4Addr::from(a))),
                    16 => <[u8; 16]>::try_from(ip)
                        .ok()
                        .map(|a| format!("IP:{}", std::net::Ipv6Addr::from(a))),
                    _ => None,
                }
            } else if let Some(e) = n.email() {
                Some(format!("email:{e}"))
            } else {
                n.uri().map(|u| format!("URI:{u}"))
            }
        })
        .collect()
}

/// The verified client certificate of a finished handshake, if the client sent one.
/// (With a client CA configured, OpenSSL has already refused any that did not verify.)
pub fn peer_identity(ssl: &SslRef) -> Option<TlsPeerIdentity> {
    let cert = ssl.peer_certificate()?;
    if ssl.verify_result() != openssl::x509::X509VerifyResult::OK {
        return None;
    }
    Some(TlsPeerIdentity {
        subject: name_text(cert.subject_name()),
        issuer: name_text(cert.issuer_name()),
        alt_names: alt_names(&cert),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::X509NameBuilder;

    /// A self-signed certificate for `CN=a\,b,O=Team` with every kind of alternative name.
    fn cert() -> X509 {
        let group = EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "a,b").unwrap();
        name.append_entry_by_text("O", "Team").unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        let san = SubjectAlternativeName::new()
            .dns("a.example")
            .ip("127.0.0.1")
            .ip("::1")
            .email("a@example.com")
            .uri("spiffe://team/a")
            .build(&b.x509v3_context(None, None))
            .unwrap();
        b.append_extension(san).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        b.build()
    }

    #[test]
    fn names_are_text_in_certificate_order_with_commas_escaped() {
        let c = cert();
        assert_eq!(name_text(c.subject_name()), "CN=a\\,b,O=Team");
        assert_eq!(
            alt_names(&c),
            [
                "DNS:a.example",
                "IP:127.0.0.1",
                "IP:::1",
                "email:a@example.com",
                "URI:spiffe://team/a"
            ]
        );
        assert!(validity_warning(&c, "x").is_none());
    }

    #[test]
    fn ca_file_without_certificates_is_named() {
        let dir = std::env::temp_dir().join(format!("websocat-ca-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "nothing here\n").unwrap();
        let path = path.to_string_lossy().into_owned();
        let e = pem_certificates("--tls-client-ca", &path).unwrap_err();
        assert!(
            e.contains(&format!(
                "--tls-client-ca file `{path}` holds no PEM certificate"
            )),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
