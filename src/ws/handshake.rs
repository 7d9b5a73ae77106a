//! The HTTP/1.1 upgrade handshake, client and server side, over any byte stream.
//!
//! Both functions return the bytes read past the end of the HTTP head, which belong to the
//! first WebSocket frames and must be handed to the frame codec.

use crate::exec::ByteStream;
use base64::Engine;
use bytes::BytesMut;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Largest HTTP head we accept.
pub const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 100;

/// How long a peer may take to send its HTTP head.
pub const HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads until the end of an HTTP head; returns the buffer and the head's length.
async fn read_head(stream: &mut Box<dyn ByteStream>, what: &str) -> io::Result<(BytesMut, usize)> {
    match tokio::time::timeout(HEAD_TIMEOUT, read_head_inner(stream, what)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no complete {what} within {} s", HEAD_TIMEOUT.as_secs()),
        )),
    }
}

async fn read_head_inner(
    stream: &mut Box<dyn ByteStream>,
    what: &str,
) -> io::Result<(BytesMut, usize)> {
    let mut buf = BytesMut::with_capacity(4096);
    let mut searched = 0;
    loop {
        if let Some(pos) = buf[searched..].windows(4).position(|w| w == b"\r\n\r\n") {
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
}

/// A completed server handshake.
pub struct Accepted {
    /// Request target, e.g. `/chat?x=1`.
    pub uri: String,
    /// Request headers as received.
    pub headers: Vec<(String, String)>,
    /// Bytes after the request head.
    pub leftover: BytesMut,
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

/// Performs the server side of the handshake. A plain HTTP request is answered with
/// `400 Bad Request` and becomes an error.
pub async fn accept(
    stream: &mut Box<dyn ByteStream>,
    policy: &ServerPolicy,
) -> io::Result<Accepted> {
    let (mut buf, head_len) = read_head(stream, "HTTP request").await?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = req.parse(&buf[..head_len]);
    if !matches!(parsed, Ok(httparse::Status::Complete(_))) {
        respond_error(stream, "400 Bad Request", &[], "Malformed HTTP request\n").await;
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "malformed HTTP request",
        ));
    }
    let method = req.method.unwrap_or("").to_string();
    let uri = req.path.unwrap_or("/").to_string();
    let hdrs: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let get = |name: &str| -> Option<&str> {
        hdrs.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let is_upgrade = get("upgrade").is_some_and(|v| header_has_token(v, "websocket"))
        && get("connection").is_some_and(|v| header_has_token(v, "upgrade"));
    if method != "GET" || !is_upgrade {
        respond_error(
            stream,
            "400 Bad Request",
            &[],
            "Only WebSocket connections are welcome here\n",
        )
        .await;
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a WebSocket request: {method} {uri}"),
        ));
    }
    if get("sec-websocket-version").map(str::trim) != Some("13") {
        let extra = vec![("Sec-WebSocket-Version".to_string(), "13".to_string())];
        respond_error(
            stream,
            "426 Upgrade Required",
            &extra,
            "Unsupported WebSocket version\n",
        )
        .await;
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "client asked for an unsupported WebSocket version",
        ));
    }
    let Some(key) = get("sec-websocket-key").map(|k| k.trim().to_string()) else {
        respond_error(
            stream,
            "400 Bad Request",
            &[],
            "Missing Sec-WebSocket-Key\n",
        )
        .await;
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request without Sec-WebSocket-Key",
        ));
    };
    if let Some(r) = &policy.restrict_uri {
        if uri != *r {
            respond_error(stream, "400 Bad Request", &policy.headers, "").await;
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("request URI {uri} does not match --restrict-uri {r}"),
            ));
        }
    }
    let first_offer = get("sec-websocket-protocol")
        .and_then(|v| v.split(',').next())
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    let answer = match (&policy.protocol, first_offer) {
        (Some(p), Some(offer)) if *p != offer => {
            respond_error(stream, "400 Bad Request", &policy.headers, "").await;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("client asked for protocol {offer}, not --server-protocol {p}"),
            ));
        }
        (Some(p), _) => Some(p.clone()),
        (None, offer) => offer,
    };
    let mut resp = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    if let Some(p) = answer {
        resp.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    for (k, v) in &policy.headers {
        resp.push_str(&format!("{k}: {v}\r\n"));
    }
    resp.push_str(&format!(
        "Sec-WebSocket-Accept: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        derive_accept_key(key.as_bytes())
    ));
    stream.write_all(resp.as_bytes()).await?;
    stream.flush().await?;
    let leftover = buf.split_off(head_len);
    Ok(Accepted {
        uri,
        headers: hdrs,
        leftover,
    })
}

/// What the client sends.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    /// `ws://host[:port]/path?query` (or `wss://…`); a bare `/path` uses host `localhost`.
    pub uri: String,
    /// Extra headers, in order, sent before the mandatory ones.
    pub headers: Vec<(String, String)>,
}

/// Performs the client side of the handshake.
pub async fn connect(
    stream: &mut Box<dyn ByteStream>,
    request: &ClientRequest,
) -> io::Result<BytesMut> {
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
    req.push_str(&format!(
        "Host: {host_header}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
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
    let expected = derive_accept_key(key.as_bytes());
    if get("sec-websocket-accept").as_deref().map(str::trim) != Some(expected.as_str()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the server's Sec-WebSocket-Accept does not match our key (not a WebSocket server?)",
        ));
    }
    Ok(buf.split_off(head_len))
}
