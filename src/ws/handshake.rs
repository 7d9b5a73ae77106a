//! The HTTP/1.1 upgrade handshake, client and server side, over any byte stream.
//!
//! Both functions return the bytes read past the end of the HTTP head, which belong to the
//! first WebSocket frames and must be handed to the frame codec.

use crate::exec::ByteStream;
use crate::ws::deflate::{self, DeflateConfig, DeflateParams};
use base64::Engine;
use bytes::{Buf, Bytes, BytesMut};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Largest HTTP head we accept.
pub const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 100;

/// Capacity of the buffer an HTTP head is read into. The frame reader takes the buffer over
/// afterwards, and tokio-util's `Framed` tops any read buffer up to 8 KiB, so starting at that
/// size saves a reallocation per connection.
pub const HEAD_BUFFER: usize = 8 * 1024;

/// Seconds a server waits for a client's complete request head unless told otherwise
/// (`--handshake-timeout`): long enough for slow links, short enough that connections which
/// dribble a request head (slowloris) do not pile up.
pub const DEFAULT_SERVER_HANDSHAKE_TIMEOUT: u64 = 15;

/// Seconds a client may take to connect and get the server's answer to its handshake unless
/// told otherwise (`--connect-timeout`).
pub const DEFAULT_CLIENT_CONNECT_TIMEOUT: u64 = 30;

/// Reads until the end of an HTTP head; returns the buffer and the head's length. Callers
/// bound the time it may take.
async fn read_head(stream: &mut Box<dyn ByteStream>, what: &str) -> io::Result<(BytesMut, usize)> {
    let mut buf = BytesMut::with_capacity(HEAD_BUFFER);
    let mut searched = 0;
    loop {
        if let Some(pos) = memchr::memmem::find(&buf[searched..], b"\r\n\r\n") {
            return Ok((buf, searched + pos + 4));
        }
        searched = buf.len().saturating_sub(3);
        if buf.len() >= MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{what} is larger than {MAX_HEAD} bytes"),
            ));
        }
        let n = stream.read_buf(&mut buf).await?;
        if buf.first() == Some(&0x16) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the peer speaks TLS here (use wss:// / wss-l: / tls-c:, or plain ws:// on the other end)",
            ));
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                if buf.is_empty() {
                    format!("connection closed before the {what}")
                } else {
                    format!("connection closed in the middle of the {what}")
                },
            ));
        }
    }
}

fn header_has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// What the server side checks and adds.
#[derive(Debug, Clone, Default)]
pub struct ServerPolicy {
    /// `--server-protocol`: always answered; a client offering another first is refused.
    pub protocol: Option<String>,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// `--restrict-uri`: exact request target required.
    pub restrict_uri: Option<String>,
    /// `--static-file`: files answering plain HTTP GETs.
    pub static_files: Vec<StaticFile>,
    /// `--browser-console`: a plain GET gets the console page ([`crate::browser_console`]).
    pub console_page: bool,
    /// permessage-deflate offers are accepted with these settings.
    pub deflate: Option<DeflateConfig>,
}

/// A file a WebSocket server sends for plain HTTP GETs of one path (`--static-file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticFile {
    /// The request path it answers, e.g. `/index.html` (the query is ignored).
    pub uri: String,
    /// Its `Content-Type`.
    pub content_type: String,
    /// The file sent.
    pub path: std::path::PathBuf,
}

impl StaticFile {
    /// Parses `URI:CONTENT-TYPE:PATH` (the path may contain colons).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut parts = spec.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(uri), Some(ct), Some(path))
                if !uri.is_empty() && !ct.is_empty() && !path.is_empty() =>
            {
                if ct.bytes().any(|b| b == b'\r' || b == b'\n') {
                    return Err(format!("static file `{spec}`: line break in the content type"));
                }
                Ok(StaticFile {
                    uri: uri.to_string(),
                    content_type: ct.to_string(),
                    path: path.into(),
                })
            }
            _ => Err(format!(
                "static file `{spec}` is not `URI:CONTENT-TYPE:PATH` (e.g. /index.html:text/html:index.html)"
            )),
        }
    }
}

/// Answers a plain HTTP request (not a WebSocket upgrade) from the static files: 200 with
/// the file, 404 for another path, 400 for another method, 500 when the file cannot be
/// read. `None` for a WebSocket request, which gets the usual refusal. The connection ends
/// either way; the returned error says what happened.
async fn serve_static(
    stream: &mut Box<dyn ByteStream>,
    head: &[u8],
    files: &[StaticFile],
) -> Option<io::Error> {
    let (method, path) = {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        req.parse(head).ok()?;
        if req
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("upgrade"))
        {
            return None;
        }
        let target = req.path.unwrap_or("/");
        let path = target.split('?').next().unwrap_or(target).to_string();
        (req.method.unwrap_or("").to_string(), path)
    };
    let answered = |what: String| Some(crate::exec::conn::AnsweredWithoutSession::error(what));
    let failed = |what: String| Some(io::Error::other(what));
    if method != "GET" && method != "HEAD" {
        respond_error(
            stream,
            "400 Bad Request",
            &[],
            "Only GET requests are served here\n",
        )
        .await;
        return failed(format!(
            "plain HTTP {method} {path} refused (static files are for GET)"
        ));
    }
    let Some(file) = files.iter().find(|f| f.uri == path) else {
        respond_error(
            stream,
            "404 Not Found",
            &[],
            "No such file here, and not a WebSocket request\n",
        )
        .await;
        return answered(format!(
            "plain HTTP GET {path}: no --static-file for it (404)"
        ));
    };
    let opened = match tokio::fs::File::open(&file.path).await {
        Ok(f) => f.metadata().await.map(|m| (f, m.len())),
        Err(e) => Err(e),
    };
    let (mut body, len) = match opened {
        Ok(x) => x,
        Err(e) => {
            respond_error(
                stream,
                "500 Internal Server Error",
                &[],
                "Cannot read the file\n",
            )
            .await;
            return failed(format!("static file {}: {e}", file.path.display()));
        }
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nServer: websocat\r\nContent-Type: {}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        file.content_type
    );
    let mut result = stream.write_all(head.as_bytes()).await;
    if result.is_ok() && method == "GET" {
        result = tokio::io::copy(&mut body, stream).await.map(|_| ());
    }
    if result.is_ok() {
        result = stream.flush().await;
    }
    let _ = stream.shutdown().await;
    match result {
        Ok(()) => answered(format!(
            "served {path} from {} (static file)",
            file.path.display()
        )),
        Err(e) => failed(format!("sending static file {}: {e}", file.path.display())),
    }
}

/// The request head of an accepted WebSocket connection, kept as it arrived. Its parts are
/// read out when somebody asks (`-e` for a child's environment); most connections never do.
#[derive(Debug, Clone, Default)]
pub struct RequestHead(Bytes);

impl RequestHead {
    /// Wraps a complete request head: request line, header lines and the blank line.
    pub fn new(raw: Bytes) -> Self {
        RequestHead(raw)
    }

    /// The request target, e.g. `/chat?x=1`.
    pub fn uri(&self) -> &str {
        let line = self.0.split(|&b| b == b'\r').next().unwrap_or_default();
        let target = line.split(|&b| b == b' ').nth(1).unwrap_or(b"/");
        std::str::from_utf8(target).unwrap_or("/")
    }

    /// The values of every header called `name` (in any case), in the order they came.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        if req.parse(&self.0).is_err() {
            return Vec::new();
        }
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
            .collect()
    }
}

/// A completed server handshake.
pub struct Accepted {
    /// The request head as received.
    pub head: RequestHead,
    /// Bytes after the request head, in a buffer with room for the first frames.
    pub leftover: BytesMut,
    /// The permessage-deflate parameters we accepted, if any.
    pub deflate: Option<DeflateParams>,
}

async fn respond_error(
    stream: &mut Box<dyn ByteStream>,
    status: &str,
    extra: &[(String, String)],
    body: &str,
) {
    let mut resp = format!("HTTP/1.1 {status}\r\nServer: websocat\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in extra {
        resp.push_str(&format!("{k}: {v}\r\n"));
    }
    resp.push_str("\r\n");
    resp.push_str(body);
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// Why a request is not upgraded: the HTTP answer it gets and the error we report.
struct Refusal {
    status: &'static str,
    extra: Vec<(String, String)>,
    body: &'static str,
    error: io::Error,
}

impl Refusal {
    fn new(status: &'static str, body: &'static str, kind: io::ErrorKind, why: String) -> Self {
        Refusal {
            status,
            extra: Vec::new(),
            body,
            error: io::Error::new(kind, why),
        }
    }
}

/// Decides on a complete request head: the `101` response to send (and the permessage-deflate
/// parameters it accepts), or a refusal. Synchronous, so the parser's header table lives on
/// the stack rather than in every connection's state.
fn answer_request(
    head: &[u8],
    policy: &ServerPolicy,
) -> Result<(Vec<u8>, Option<DeflateParams>), Refusal> {
    use std::io::Write;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
        return Err(Refusal::new(
            "400 Bad Request",
            "Malformed HTTP request\n",
            io::ErrorKind::InvalidData,
            "malformed HTTP request".into(),
        ));
    }
    let method = req.method.unwrap_or("");
    let uri = req.path.unwrap_or("/");
    let get = |name: &str| -> Option<&str> {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| std::str::from_utf8(h.value).unwrap_or(""))
    };
    let is_upgrade = get("upgrade").is_some_and(|v| header_has_token(v, "websocket"))
        && get("connection").is_some_and(|v| header_has_token(v, "upgrade"));
    if method != "GET" || !is_upgrade {
        return Err(Refusal::new(
            "400 Bad Request",
            "Only WebSocket connections are welcome here\n",
            io::ErrorKind::InvalidData,
            format!("not a WebSocket request: {method} {uri}"),
        ));
    }
    if get("sec-websocket-version").map(str::trim) != Some("13") {
        let mut refusal = Refusal::new(
            "426 Upgrade Required",
            "Unsupported WebSocket version\n",
            io::ErrorKind::InvalidData,
            "client asked for an unsupported WebSocket version".into(),
        );
        refusal.extra = vec![("Sec-WebSocket-Version".into(), "13".into())];
        return Err(refusal);
    }
    let Some(key) = get("sec-websocket-key").map(str::trim) else {
        return Err(Refusal::new(
            "400 Bad Request",
            "Missing Sec-WebSocket-Key\n",
            io::ErrorKind::InvalidData,
            "request without Sec-WebSocket-Key".into(),
        ));
    };
    let refuse_with_policy_headers = |kind, why| Refusal {
        extra: policy.headers.clone(),
        ..Refusal::new("400 Bad Request", "", kind, why)
    };
    if let Some(r) = &policy.restrict_uri {
        if uri != r {
            return Err(refuse_with_policy_headers(
                io::ErrorKind::PermissionDenied,
                format!("request URI {uri} does not match --restrict-uri {r}"),
            ));
        }
    }
    let first_offer = get("sec-websocket-protocol")
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let protocol = match (&policy.protocol, first_offer) {
        (Some(p), Some(offer)) if p != offer => {
            return Err(refuse_with_policy_headers(
                io::ErrorKind::InvalidData,
                format!("client asked for protocol {offer}, not --server-protocol {p}"),
            ));
        }
        (Some(p), _) => Some(p.as_str()),
        (None, offer) => offer,
    };
    let mut resp = Vec::with_capacity(160);
    resp.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
    // Writing into a Vec cannot fail.
    if let Some(p) = protocol {
        let _ = write!(resp, "Sec-WebSocket-Protocol: {p}\r\n");
    }
    let deflate = policy.deflate.as_ref().and_then(|config| {
        let offers = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
            .filter_map(|h| std::str::from_utf8(h.value).ok());
        deflate::accept_offer(config, offers)
    });
    if let Some(params) = &deflate {
        let _ = write!(resp, "Sec-WebSocket-Extensions: {params}\r\n");
    }
    for (k, v) in &policy.headers {
        let _ = write!(resp, "{k}: {v}\r\n");
    }
    let _ = write!(
        resp,
        "Sec-WebSocket-Accept: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    Ok((resp, deflate))
}

/// Performs the server side of the handshake. A plain HTTP request is answered with
/// `400 Bad Request` and becomes an error.
pub async fn accept(
    stream: &mut Box<dyn ByteStream>,
    policy: &ServerPolicy,
) -> io::Result<Accepted> {
    let (mut buf, head_len) = read_head(stream, "HTTP request").await?;
    if policy.console_page && crate::browser_console::wants_page(&buf[..head_len]) {
        return Err(crate::browser_console::serve(stream).await);
    }
    match answer_request(&buf[..head_len], policy) {
        Ok((response, deflate)) => {
            stream.write_all(&response).await?;
            stream.flush().await?;
            let head = RequestHead::new(Bytes::copy_from_slice(&buf[..head_len]));
            // The rest of the read buffer becomes the frame reader's buffer (no second one).
            buf.advance(head_len);
            Ok(Accepted {
                head,
                leftover: buf,
                deflate,
            })
        }
        Err(refusal) => {
            if !policy.static_files.is_empty() {
                if let Some(e) = serve_static(stream, &buf[..head_len], &policy.static_files).await
                {
                    return Err(e);
                }
            }
            respond_error(stream, refusal.status, &refusal.extra, refusal.body).await;
            Err(refusal.error)
        }
    }
}

/// A fresh random `Sec-WebSocket-Key`: 16 random bytes in base64.
pub fn generate_key() -> String {
    let key_bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(key_bytes)
}

/// The `Sec-WebSocket-Accept` value answering `key`, which must be base64 of 16 bytes.
pub fn accept_for_key(key: &str) -> Result<String, String> {
    let key = key.trim();
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(bytes) if bytes.len() == 16 => Ok(derive_accept_key(key.as_bytes())),
        Ok(bytes) => Err(format!(
            "`{key}` is not a Sec-WebSocket-Key: it decodes to {} bytes, not 16",
            bytes.len()
        )),
        Err(e) => Err(format!(
            "`{key}` is not a Sec-WebSocket-Key: not base64 ({e})"
        )),
    }
}

/// Splits `Name: value` at the first colon; one space after the colon is dropped.
fn header_pair(raw: &str) -> Result<(String, String), String> {
    let (name, value) = raw
        .split_once(':')
        .ok_or_else(|| format!("header `{raw}` must contain `:` (write `Name: value`)"))?;
    let value = value.strip_prefix(' ').unwrap_or(value);
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("`{name}` is not a valid header name"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(format!("header `{name}` has a line break in its value"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Parses repeated `Name: value` parameters into header pairs.
pub fn header_pairs<'a>(
    raw: impl Iterator<Item = &'a str>,
) -> Result<Vec<(String, String)>, String> {
    raw.map(header_pair).collect()
}

/// What the client sends.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    /// `ws://host[:port]/path?query` (or `wss://…`); a bare `/path` uses host `localhost`.
    pub uri: String,
    /// Extra headers, in order, sent before the mandatory ones.
    pub headers: Vec<(String, String)>,
    /// permessage-deflate is offered with these settings.
    pub deflate: Option<DeflateConfig>,
}

/// A completed client handshake.
pub struct Connected {
    /// Bytes read past the response head: the start of the first frames.
    pub leftover: BytesMut,
    /// The permessage-deflate parameters the server accepted, if any.
    pub deflate: Option<DeflateParams>,
}

/// Performs the client side of the handshake.
pub async fn connect(
    stream: &mut Box<dyn ByteStream>,
    request: &ClientRequest,
) -> io::Result<Connected> {
    let raw = if request.uri.starts_with('/') {
        format!("ws://localhost{}", request.uri)
    } else {
        request.uri.clone()
    };
    let bad = |e: String| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad request URI `{raw}`: {e}"),
        )
    };
    let uri: http::Uri = raw
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?;
    let authority = uri.authority().ok_or_else(|| bad("no host".into()))?;
    let host_header = match authority.as_str().rsplit_once('@') {
        Some((_, h)) => h.to_string(),
        None => authority.as_str().to_string(),
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let key_bytes: [u8; 16] = rand::random();
    let key = base64::engine::general_purpose::STANDARD.encode(key_bytes);
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    for (k, v) in &request.headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some((userinfo, _)) = authority.as_str().rsplit_once('@') {
        if !request
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            let token = base64::engine::general_purpose::STANDARD.encode(userinfo.as_bytes());
            req.push_str(&format!("Authorization: Basic {token}\r\n"));
        }
    }
    // `--websocket-version` (or `-H`) may give another version than 13.
    let version = if request
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-version"))
    {
        ""
    } else {
        "Sec-WebSocket-Version: 13\r\n"
    };
    if let Some(config) = &request.deflate {
        let offer = deflate::client_offer(config);
        req.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
    }
    req.push_str(&format!(
        "Host: {host_header}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{version}Sec-WebSocket-Key: {key}\r\n\r\n"
    ));
    stream.write_all(req.as_bytes()).await?;
    stream.flush().await?;
    let (mut buf, head_len) = read_head(stream, "HTTP response").await?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    if !matches!(
        resp.parse(&buf[..head_len]),
        Ok(httparse::Status::Complete(_))
    ) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "malformed HTTP response from the server",
        ));
    }
    let code = resp.code.unwrap_or(0);
    let get = |name: &str| -> Option<String> {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    if code != 101 {
        let reason = resp.reason.unwrap_or("");
        let mut msg =
            format!("the server answered HTTP {code} {reason} instead of switching to WebSocket");
        if let Some(loc) = get("location") {
            msg.push_str(&format!(" (redirect to {loc})"));
        }
        let body = String::from_utf8_lossy(&buf[head_len..]);
        let body = body.trim();
        if !body.is_empty() {
            let snippet: String = body.chars().take(200).collect();
            msg.push_str(&format!(": {snippet}"));
        }
        return Err(io::Error::new(io::ErrorKind::ConnectionRefused, msg));
    }
    // What we offered: the request headers, and the permessage-deflate offer.
    let mut offered = request.headers.clone();
    if let Some(config) = &request.deflate {
        offered.push((
            "Sec-WebSocket-Extensions".to_string(),
            deflate::client_offer(config),
        ));
    }
    check_upgrade_answer(resp.headers, &key, &offered)
        .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?;
    let deflate = match &request.deflate {
        Some(config) => {
            let answers = resp
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
                .map(|h| std::str::from_utf8(h.value).unwrap_or("\u{fffd}"));
            deflate::check_response(config, answers)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        }
        None => None,
    };
    buf.advance(head_len);
    Ok(Connected {
        leftover: buf,
        deflate,
    })
}

/// The comma-separated tokens of every header called `name`, trimmed, empty ones skipped.
fn header_tokens<'a>(
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    name: &str,
) -> Vec<&'a str> {
    headers
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

/// Checks a `101` answer against RFC 6455 §4.1 (the client's duties): `Upgrade: websocket`,
/// `Connection: upgrade`, the accept key derived from `key`, and no subprotocol or extension
/// that `offered` (our request headers) did not ask for. The error says what was wrong.
fn check_upgrade_answer(
    answer: &[httparse::Header<'_>],
    key: &str,
    offered: &[(String, String)],
) -> Result<(), String> {
    let answered = || {
        answer
            .iter()
            .map(|h| (h.name, std::str::from_utf8(h.value).unwrap_or("\u{fffd}")))
    };
    let values = |name: &str| -> Vec<&str> {
        answered()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    };
    let upgrade = values("upgrade");
    if !upgrade.iter().any(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err(match upgrade.first() {
            None => "the server answered 101 without `Upgrade: websocket`".into(),
            Some(v) => format!("the server answered 101 with `Upgrade: {v}`, not `websocket`"),
        });
    }
    if !header_tokens(answered(), "connection")
        .iter()
        .any(|t| t.eq_ignore_ascii_case("upgrade"))
    {
        return Err(match values("connection").first() {
            None => "the server answered 101 without `Connection: upgrade`".into(),
            Some(v) => format!(
                "the server answered 101 with `Connection: {v}`, which lacks the token `upgrade`"
            ),
        });
    }
    let expected = derive_accept_key(key.as_bytes());
    match values("sec-websocket-accept").first() {
        None => {
            return Err("the server answered 101 without `Sec-WebSocket-Accept`".into());
        }
        Some(got) if *got != expected => {
            return Err(format!(
                "the server's `Sec-WebSocket-Accept: {got}` does not match our key (expected {expected})"
            ));
        }
        Some(_) => {}
    }
    let ours = || offered.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let protocols = header_tokens(answered(), "sec-websocket-protocol");
    let offered_protocols = header_tokens(ours(), "sec-websocket-protocol");
    match protocols.as_slice() {
        [] => {}
        [p] if offered_protocols.contains(p) => {}
        [p] if offered_protocols.is_empty() => {
            return Err(format!(
                "the server chose subprotocol `{p}` although we offered none"
            ));
        }
        [p] => {
            return Err(format!(
                "the server chose subprotocol `{p}`, which is not one we offered ({})",
                offered_protocols.join(", ")
            ));
        }
        many => {
            return Err(format!(
                "the server answered with several subprotocols ({}); it must choose one",
                many.join(", ")
            ));
        }
    }
    let offered_extensions: Vec<&str> = header_tokens(ours(), "sec-websocket-extensions")
        .into_iter()
        .map(|e| e.split(';').next().unwrap_or("").trim())
        .collect();
    for extension in header_tokens(answered(), "sec-websocket-extensions") {
        let name = extension.split(';').next().unwrap_or("").trim();
        if !offered_extensions
            .iter()
            .any(|o| o.eq_ignore_ascii_case(name))
        {
            return Err(format!(
                "the server enabled extension `{name}`, which we did not offer"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn header_needs_a_colon() {
        assert!(header_pair("X-A: b").is_ok());
        assert!(header_pair("nocolon").is_err());
    }

    const REQUEST: &[u8] = b"GET /chat?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nX-Tag: one\r\nx-tag: two\r\n\r\n";

    #[tokio::test]
    async fn accept_answers_and_keeps_the_request_and_what_followed_it() {
        let (ours, mut peer) = tokio::io::duplex(4096);
        let mut ours: Box<dyn ByteStream> = Box::new(ours);
        let mut sent = REQUEST.to_vec();
        sent.extend_from_slice(b"\x81\x80frame");
        peer.write_all(&sent).await.unwrap();
        let accepted = accept(&mut ours, &ServerPolicy::default()).await.unwrap();
        assert_eq!(&accepted.leftover[..], b"\x81\x80frame");
        assert_eq!(accepted.head.uri(), "/chat?x=1");
        assert_eq!(accepted.head.header_values("X-TAG"), ["one", "two"]);
        assert!(accepted.head.header_values("missing").is_empty());
        let mut answer = vec![0u8; 256];
        let n = tokio::io::AsyncReadExt::read(&mut peer, &mut answer)
            .await
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 101 "), "{answer}");
        assert!(
            answer.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{answer}"
        );
    }

    /// Runs [`check_upgrade_answer`] on the header lines of `head` for the RFC's sample key.
    fn check(head: &str, offered: &[(&str, &str)]) -> Result<(), String> {
        let full = format!("HTTP/1.1 101 Switching Protocols\r\n{head}\r\n");
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        assert!(resp.parse(full.as_bytes()).unwrap().is_complete());
        let offered: Vec<(String, String)> = offered
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        check_upgrade_answer(resp.headers, "dGhlIHNhbXBsZSBub25jZQ==", &offered)
    }

    const GOOD: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";

    #[test]
    fn a_correct_answer_passes_and_names_match_in_any_case() {
        assert_eq!(check(GOOD, &[]), Ok(()));
        let shouting = GOOD
            .replace("Upgrade: websocket", "UPGRADE: WEBSOCKET")
            .replace("Connection: Upgrade", "connection: keep-alive,upgrade");
        assert_eq!(check(&shouting, &[]), Ok(()));
    }

    #[test]
    fn a_server_must_choose_exactly_one_offered_subprotocol() {
        let offer = [
            ("Sec-WebSocket-Protocol", "a, b"),
            ("sec-websocket-protocol", "c"),
        ];
        let answer = |p: &str| format!("{GOOD}Sec-WebSocket-Protocol: {p}\r\n");
        assert_eq!(check(&answer("c"), &offer), Ok(()));
        assert_eq!(
            check(&answer("a, b"), &offer),
            Err("the server answered with several subprotocols (a, b); it must choose one".into())
        );
        assert_eq!(
            check(&answer("d"), &offer),
            Err("the server chose subprotocol `d`, which is not one we offered (a, b, c)".into())
        );
    }

    #[test]
    fn an_extension_is_accepted_only_when_offered() {
        let answer = format!("{GOOD}Sec-WebSocket-Extensions: x-test; level=1\r\n");
        assert_eq!(
            check(&answer, &[]),
            Err("the server enabled extension `x-test`, which we did not offer".into())
        );
        let offer = [("Sec-WebSocket-Extensions", "x-other, X-Test; level=2")];
        assert_eq!(check(&answer, &offer), Ok(()));
    }

    #[tokio::test]
    async fn accept_refuses_a_wrong_version_with_426() {
        let (ours, mut peer) = tokio::io::duplex(4096);
        let mut ours: Box<dyn ByteStream> = Box::new(ours);
        let request = String::from_utf8_lossy(REQUEST).replace("Version: 13", "Version: 8");
        peer.write_all(request.as_bytes()).await.unwrap();
        let e = accept(&mut ours, &ServerPolicy::default())
            .await
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("unsupported WebSocket version"),
            "{e}"
        );
        let mut answer = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut peer, &mut answer)
            .await
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 426 "), "{answer}");
        assert!(answer.contains("Sec-WebSocket-Version: 13\r\n"), "{answer}");
    }
}
