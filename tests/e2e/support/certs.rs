//! Test certificates made at test time by the `openssl` command (Debian package `openssl`):
//! a CA, a server certificate for `localhost` / `127.0.0.1` (PEM and PKCS#12), an expired
//! one, an unrelated second CA, and client certificates on request. Each [`Certs`] lives in
//! its own temporary directory, so tests running in parallel never share files.

use std::path::Path;
use std::process::Command;

/// Password of `server.p12`.
pub const SERVER_P12_PASSWORD: &str = "s3cret";

/// A temporary directory holding `ca.pem`/`ca.key`, `other-ca.pem`, `server.key`,
/// `server.pem` (valid a year), `expired.pem` (same key, expired) and `server.p12`
/// (password [`SERVER_P12_PASSWORD`], with the CA certificate). Removed on drop.
pub struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    /// Makes a fresh set of certificates; panics (naming the command) if `openssl` fails.
    pub fn make() -> Certs {
        let dir = tempfile::tempdir().expect("tempdir for certificates");
        let d = dir.path();
        make_ca(d, "ca");
        make_ca(d, "other-ca");
        new_key_and_csr(d, "server", "/CN=localhost");
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write ext.cnf");
        sign(d, "ca", "server.csr", "server.pem", "365", Some("ext.cnf"));
        sign(d, "ca", "server.csr", "expired.pem", "-1", Some("ext.cnf"));
        pkcs12(
            d,
            "server",
            Some("ca.pem"),
            "server.p12",
            SERVER_P12_PASSWORD,
        );
        Certs { dir }
    }

    /// Full path of the file `name` in the directory, as a string for command lines.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// Makes a client identity `NAME.key` (PKCS#8), `NAME.pem` (signed by `ca`, 30 days),
    /// `NAME.p12` (password `p12_password`, no chain) and `NAME-sec1.key` (the same key in
    /// SEC1 form, which our client refuses with advice).
    pub fn make_client(&self, name: &str, p12_password: &str) {
        let d = self.dir.path();
        new_key_and_csr(d, name, &format!("/CN={name}"));
        sign(
            d,
            "ca",
            &format!("{name}.csr"),
            &format!("{name}.pem"),
            "30",
            None,
        );
        pkcs12(d, name, None, &format!("{name}.p12"), p12_password);
        openssl(
            d,
            &[
                "ec",
                "-in",
                &format!("{name}.key"),
                "-out",
                &format!("{name}-sec1.key"),
            ],
        );
    }
}

impl Certs {
    /// Makes `NAME.key` (a new PKCS#8 key) and `NAME.pem`, a certificate for `subject`
    /// signed by the CA `ca` (`ca` or `other-ca`), valid 30 days, with the extension lines
    /// `extensions` (e.g. `subjectAltName=DNS:localhost`; empty for none).
    pub fn make_signed(&self, name: &str, subject: &str, ca: &str, extensions: &str) {
        let d = self.dir.path();
        new_key_and_csr(d, name, subject);
        let ext = format!("{name}.ext");
        std::fs::write(d.join(&ext), extensions).expect("write extensions file");
        let ext = (!extensions.is_empty()).then_some(ext.as_str());
        sign(
            d,
            ca,
            &format!("{name}.csr"),
            &format!("{name}.pem"),
            "30",
            ext,
        );
    }
}

/// Runs `openssl ARGS` in `dir`; panics with its stderr if it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
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

/// A self-signed P-256 CA `NAME.pem` / `NAME.key` with subject `CN=NAME`.
fn make_ca(dir: &Path, name: &str) {
    new_key(
        dir,
        name,
        &format!("/CN={name}"),
        &format!("{name}.pem"),
        &[
            "-x509",
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A P-256 key `NAME.key` and a request `NAME.csr` for `subject`.
fn new_key_and_csr(dir: &Path, name: &str, subject: &str) {
    new_key(dir, name, subject, &format!("{name}.csr"), &[]);
}

/// `openssl req`: a new P-256 key `NAME.key` and, for `subject`, a request (or with
/// `-x509` in `extra`, a self-signed certificate) `out`.
fn new_key(dir: &Path, name: &str, subject: &str, out: &str, extra: &[&str]) {
    let key = format!("{name}.key");
    let mut args = vec![
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        out,
        "-subj",
        subject,
    ];
    args.extend_from_slice(extra);
    openssl(dir, &args);
}

/// Signs `csr` with the CA `ca` (`ca` or `other-ca`) into `out`, valid for `days`
/// (negative: already expired).
fn sign(dir: &Path, ca: &str, csr: &str, out: &str, days: &str, extfile: Option<&str>) {
    let (ca_cert, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    let mut args = vec![
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        &ca_cert,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        out,
        "-days",
        days,
    ];
    if let Some(ext) = extfile {
        args.extend(["-extfile", ext]);
    }
    openssl(dir, &args);
}

/// Bundles `NAME.pem` and `NAME.key` (and `chain`, if any) into the PKCS#12 file `out`.
fn pkcs12(dir: &Path, name: &str, chain: Option<&str>, out: &str, password: &str) {
    let (cert, key, pass) = (
        format!("{name}.pem"),
        format!("{name}.key"),
        format!("pass:{password}"),
    );
    let mut args = vec!["pkcs12", "-export", "-in", &cert, "-inkey", &key];
    if let Some(chain) = chain {
        args.extend(["-certfile", chain]);
    }
    args.extend(["-out", out, "-passout", &pass]);
    openssl(dir, &args);
}
