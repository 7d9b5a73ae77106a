//! One HTTP/1.1 request as a byte stream: `http://host[:port]/path` (a leaf that connects
//! over TCP) and the `http-request:` overlay (over any inner byte stream, the request taken
//! from `--request-uri`, `-X` and `--request-header`).
//!
//! As in websocat 1.x the request head is sent at once, with no `Content-Length` or chunked
//! framing added: the data written becomes the body verbatim (add the framing headers
//! yourself when the server needs them). Reading yields the response body: the response head
//! (at most 60000 bytes) is read and checked first, and fails unless its status is 1xx or
//! 2xx, naming the status. As in 1.x the head is awaited before the connection is handed over,
//! except when the request announces a body (`Content-Length` / `Transfer-Encoding`): the
//! server may wait for that body, so the head is then checked on the first read instead.

use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, ConnLayer, Connect};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape};
pub use crate::spec::args::{parse_http_arg, HttpTarget};
use base64::Engine;
use futures::future::BoxFuture;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Longest response head accepted, as websocat 1.x.
pub const MAX_RESPONSE_HEAD: usize = 60_000;

const METHOD_PARAM: ParamDef = ParamDef {
    name: "method",
    ty: ParamType::Text,
    flag: Some("--request-method"),
    help: "request method (-X/--request-method) [default: GET]",
};
const HEADER_PARAM: ParamDef = ParamDef {
    name: "header",
    ty: ParamType::Repeated,
    flag: Some("--request-header"),
    help: "extra request header `Name: value` (--request-header, repeatable)",
};
const BASIC_AUTH_PARAM: ParamDef = ParamDef {
    name: "basic-auth",
    ty: ParamType::Text,
    flag: Some("--basic-auth"),
    help: "`user:password` sent as `Authorization: Basic …` after the other headers",
};
const BASIC_AUTH_FILE_PARAM: ParamDef = ParamDef {
    name: "basic-auth-file",
    ty: ParamType::Text,
    flag: Some("--basic-auth-file"),
    help: "file holding `user:password` for `Authorization: Basic …` (read when starting)",
};

/// Registry entry for `http:`.
pub const HTTP: KindDef = KindDef {
    name: "http",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[],
    arg: ArgType::HttpUrl,
    params: &[
        METHOD_PARAM,
        HEADER_PARAM,
        BASIC_AUTH_PARAM,
        BASIC_AUTH_FILE_PARAM,
    ],
    summary: "one HTTP/1.1 request: `http://host[:port]/path`; body = what is written",
    help: "Connects over TCP to HOST:PORT (port 80 by default) and sends one HTTP/1.1 request \
           for PATH with `Host: HOST[:PORT]`, the method from -X (GET by default) and the \
           `--request-header` headers. The data written is sent verbatim as the body (no \
           framing is added); reading returns the response body. The connection fails unless the \
           response status is 1xx or 2xx; the response head is awaited before any data flows, \
           except when a Content-Length or Transfer-Encoding header announces a body (then \
           the first read checks it). Only plain http is supported.",
    examples: &[
        "websocat -b -U - http://127.0.0.1:8080/status",
        "websocat -b -X POST --request-header 'Content-Length: 5' - http://127.0.0.1:8080/upload",
    ],
    build: Build::Connector(build_http),
};

/// Registry entry for `http-request:`.
pub const HTTP_REQUEST: KindDef = KindDef {
    name: "http-request",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::BytesToBytes,
    traits: &[],
    arg: ArgType::None,
    params: &[
        ParamDef {
            name: "uri",
            ty: ParamType::Text,
            flag: Some("--request-uri"),
            help: "request target (--request-uri) [default: /]; an absolute \
                   `http://host/path` sends `/path` with `Host: host`",
        },
        METHOD_PARAM,
        HEADER_PARAM,
        BASIC_AUTH_PARAM,
        BASIC_AUTH_FILE_PARAM,
    ],
    summary: "send one HTTP/1.1 request over the inner byte stream",
    help: "Sends one HTTP/1.1 request over the inner byte stream: the target from \
           `--request-uri` (`/` by default; for an absolute URI its path is sent and \
           `Host` is added unless given), the method from -X (GET by default) and the \
           `--request-header` headers. The data written is the body, verbatim; reading \
           returns the response body. The status must be 1xx or 2xx; it is checked as for `http:` \
           (before data flows, or on the first read when the request announces a body).",
    examples: &[
        "websocat -b -U - http-request:tcp:127.0.0.1:80 --request-uri=http://example.com/ --request-header 'Connection: close'",
        "websocat -b - 'http-request[method=PUT,uri=/x]:unix:/run/api.sock'",
    ],
    build: Build::Layer(build_http_request),
};

/// A request method: one HTTP token.
fn checked_method(node: &PlanNode) -> Result<String, String> {
    let m = node.param("method").unwrap_or("GET");
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if m.is_empty() || !m.bytes().all(token) {
        return Err(format!("`{m}` is not a valid HTTP method"));
    }
    Ok(m.to_string())
}

/// The written headers plus `Authorization` from `basic-auth`.
fn node_headers(node: &PlanNode) -> Result<Vec<(String, String)>, String> {
    let mut headers = crate::ws::handshake::header_pairs(node.params_all("header"))?;
    if let Some(auth) = super::ws_client::basic_auth(node)? {
        let token = base64::engine::general_purpose::STANDARD.encode(auth.as_bytes());
        headers.push(("Authorization".into(), format!("Basic {token}")));
    }
    Ok(headers)
}

/// Formats a request head: the request line, `Host` first when `host` is given and no
/// `Host` header was, then the headers in order, then the blank line.
pub fn request_head(
    method: &str,
    target: &str,
    host: Option<&str>,
    headers: &[(String, String)],
) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    let has_host = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host"));
    if let (Some(h), false) = (host, has_host) {
        head.push_str(&format!("Host: {h}\r\n"));
    }
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Splits a request URI into the request target and the authority for `Host`: an absolute
/// `scheme://authority/path?q` gives `/path?q` and the authority (without user
/// information); anything else is sent as written.
fn split_uri(uri: &str) -> (String, Option<String>) {
    if let Some((scheme, rest)) = uri.split_once("://") {
        if !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let authority = rest[..end].rsplit('@').next().unwrap_or("").to_string();
            let mut target = rest[end..].split('#').next().unwrap_or("").to_string();
            if !target.starts_with('/') {
                target.insert(0, '/');
            }
            return (target, (!authority.is_empty()).then_some(authority));
        }
    }
    (uri.to_string(), None)
}

fn check_target(target: &str) -> Result<(), String> {
    if target.is_empty() || target.bytes().any(|b| b.is_ascii_whitespace() || b < 0x20) {
        return Err(format!(
            "`{target}` is not a valid request target (no spaces or control characters)"
        ));
    }
    Ok(())
}

fn build_http(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    let target = parse_http_arg(&node.arg).map_err(|p| p.message)?;
    check_target(&target.path)?;
    let head = request_head(
        &checked_method(node)?,
        &target.path,
        Some(&target.host_header),
        &node_headers(node)?,
    );
    let headers = node_headers(node)?;
    Ok(Arc::new(HttpConnect {
        what: format!("http:{}", node.arg),
        target,
        head,
        eager: !declares_body(&headers),
    }))
}

fn build_http_request(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    let (target, host) = split_uri(node.param("uri").unwrap_or("/"));
    check_target(&target)?;
    let head = request_head(
        &checked_method(node)?,
        &target,
        host.as_deref(),
        &node_headers(node)?,
    );
    let headers = node_headers(node)?;
    Ok(Arc::new(HttpRequest {
        what: format!("HTTP request {target}"),
        head: Arc::new(head),
        eager: !declares_body(&headers),
    }))
}

/// True when the request announces a body (`Content-Length` or `Transfer-Encoding`): the
/// server may then wait for the body before answering, so the response head is checked on
/// the first read instead of before the connection is handed over.
fn declares_body(headers: &[(String, String)]) -> bool {
    headers.iter().any(|(n, _)| {
        n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
    })
}

struct HttpConnect {
    what: String,
    target: HttpTarget,
    head: Vec<u8>,
    eager: bool,
}

impl Connect for HttpConnect {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let mut s = crate::net::connect_tcp(&self.target.addr).await?;
            send_head(&mut s, &self.head, &self.what).await?;
            let mut r = HttpResponseStream::new(s, self.what.clone());
            if self.eager {
                r.read_head().await?;
            }
            Ok(Conn::Bytes(Box::new(r)))
        })
    }
}

struct HttpRequest {
    what: String,
    head: Arc<Vec<u8>>,
    eager: bool,
}

impl ConnLayer for HttpRequest {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let head = self.head.clone();
        let what = self.what.clone();
        let eager = self.eager;
        Box::pin(async move {
            let mut io = inner.into_bytes_for(HTTP_REQUEST.name)?;
            send_head(&mut io, &head, &what).await?;
            let mut r = HttpResponseStream::new(io, what);
            if eager {
                r.read_head().await?;
            }
            Ok((Conn::Bytes(Box::new(r)), info))
        })
    }
}

async fn send_head<S: AsyncWrite + Unpin>(io: &mut S, head: &[u8], what: &str) -> io::Result<()> {
    async {
        io.write_all(head).await?;
        io.flush().await
    }
    .await
    .map_err(|e| io::Error::new(e.kind(), format!("{what}: sending the request: {e}")))
}

enum ReadState {
    /// Collecting the response head.
    Head(Vec<u8>),
    /// Handing out body bytes read together with the head, then reading through.
    Body { leftover: Vec<u8>, pos: usize },
    /// The head was rejected.
    Failed,
}

/// A byte stream whose reads return the response body once the head has been checked.
pub struct HttpResponseStream<S> {
    inner: S,
    state: ReadState,
    what: String,
}

impl<S> HttpResponseStream<S> {
    /// Wraps a stream on which a request was just sent; `what` names it in errors.
    pub fn new(inner: S, what: String) -> Self {
        HttpResponseStream {
            inner,
            state: ReadState::Head(Vec::with_capacity(1024)),
            what,
        }
    }
}

/// Checks a complete response head; `Ok` for 1xx and 2xx.
fn check_response_head(head: &[u8]) -> Result<u16, String> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err("incomplete HTTP response head".into()),
        Err(e) => return Err(format!("bad HTTP response head: {e}")),
    }
    let code = resp.code.unwrap_or(0);
    if (100..300).contains(&code) {
        Ok(code)
    } else {
        Err(format!(
            "HTTP response indicates failure: {code} {}",
            resp.reason.unwrap_or_default()
        ))
    }
}

impl<S: AsyncRead + Unpin> HttpResponseStream<S> {
    /// Reads and checks the response head, keeping any body bytes read with it.
    pub fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let head = match &mut self.state {
                ReadState::Body { .. } => return Poll::Ready(Ok(())),
                ReadState::Failed => {
                    return Poll::Ready(Err(io::Error::other(format!(
                        "{}: the HTTP response was rejected",
                        self.what
                    ))))
                }
                ReadState::Head(head) => head,
            };
            let mut chunk = [0u8; 4096];
            let mut rb = ReadBuf::new(&mut chunk);
            std::task::ready!(Pin::new(&mut self.inner).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                self.state = ReadState::Failed;
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{}: the connection closed before the end of the HTTP response head",
                        self.what
                    ),
                )));
            }
            let search_from = head.len().saturating_sub(3);
            head.extend_from_slice(rb.filled());
            let Some(end) = head[search_from..]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|i| search_from + i + 4)
            else {
                if head.len() > MAX_RESPONSE_HEAD {
                    self.state = ReadState::Failed;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: the HTTP response head is longer than {MAX_RESPONSE_HEAD} bytes",
                            self.what
                        ),
                    )));
                }
                continue;
            };
            match check_response_head(&head[..end]) {
                Ok(code) => {
                    tracing::info!("{}: HTTP response status {code}", self.what);
                    let leftover = head.split_off(end);
                    self.state = ReadState::Body { leftover, pos: 0 };
                }
                Err(e) => {
                    self.state = ReadState::Failed;
                    return Poll::Ready(Err(io::Error::other(format!("{}: {e}", self.what))));
                }
            }
        }
    }

    /// Waits for the response head and checks it.
    pub async fn read_head(&mut self) -> io::Result<()> {
        futures::future::poll_fn(|cx| self.poll_head(cx)).await
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HttpResponseStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_head(cx))?;
        if let ReadState::Body { leftover, pos } = &mut this.state {
            if *pos < leftover.len() {
                let n = (leftover.len() - *pos).min(buf.remaining());
                buf.put_slice(&leftover[*pos..*pos + n]);
                *pos += n;
                return Poll::Ready(Ok(()));
            }
            if !leftover.is_empty() {
                *leftover = Vec::new();
            }
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HttpResponseStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned_specs as planned;
    use tokio::io::AsyncReadExt;

    #[test]
    fn http_argument_forms() {
        let t = parse_http_arg("//example.com").unwrap();
        assert_eq!(t.addr.to_addr_string(), "example.com:80");
        assert_eq!(
            (t.host_header.as_str(), t.path.as_str()),
            ("example.com", "/")
        );
        let t = parse_http_arg("//127.0.0.1:8080/a/b?x=1#frag").unwrap();
        assert_eq!(t.addr.to_addr_string(), "127.0.0.1:8080");
        assert_eq!(
            (t.host_header.as_str(), t.path.as_str()),
            ("127.0.0.1:8080", "/a/b?x=1")
        );
        let t = parse_http_arg("//[::1]?q").unwrap();
        assert_eq!(t.addr.to_addr_string(), "[::1]:80");
        assert_eq!(t.path, "/?q");
        assert_eq!(parse_http_arg("example.com/").unwrap_err().span, (0, 2));
        assert!(parse_http_arg("///x").is_err());
        assert!(parse_http_arg("//u:p@h/").is_err());
        let p = parse_http_arg("//h:99999/").unwrap_err();
        assert_eq!(p.span.0, 4, "{p:?}");
    }

    #[test]
    fn flags_fill_the_request() {
        let (_, r) = planned(&[
            "-X",
            "POST",
            "--request-header",
            "A: 1",
            "--request-header=B: 2",
            "-",
            "http://h:1/p",
        ]);
        assert_eq!(
            r,
            "http[method=POST,header=\"A: 1\",header=\"B: 2\"]://h:1/p"
        );
        let (_, r) = planned(&["--request-uri", "/x", "-", "http-request:tcp:h:1"]);
        assert_eq!(r, "http-request[uri=/x]:tcp:h:1");
    }

    #[test]
    fn request_heads() {
        let h = request_head("GET", "/p?q", Some("h:8"), &[("X-A".into(), "1".into())]);
        assert_eq!(h, b"GET /p?q HTTP/1.1\r\nHost: h:8\r\nX-A: 1\r\n\r\n");
        let h = request_head("PUT", "/", Some("h"), &[("host".into(), "other".into())]);
        assert_eq!(h, b"PUT / HTTP/1.1\r\nhost: other\r\n\r\n");
        assert_eq!(
            split_uri("http://u@example.com:81/a?b#c"),
            ("/a?b".to_string(), Some("example.com:81".to_string()))
        );
        assert_eq!(
            split_uri("http://example.com"),
            ("/".to_string(), Some("example.com".to_string()))
        );
        assert_eq!(split_uri("/plain"), ("/plain".to_string(), None));
        assert!(check_target("/a b").is_err());
    }

    #[test]
    fn only_framing_headers_declare_a_body() {
        let h = |n: &str| vec![(n.to_string(), "1".to_string())];
        assert!(declares_body(&h("content-length")));
        assert!(declares_body(&h("Transfer-Encoding")));
        assert!(!declares_body(&h("X-Length")));
        assert!(!declares_body(&[]));
    }

    #[tokio::test]
    async fn body_after_the_head_is_kept_and_statuses_are_checked() {
        let (client, mut server) = tokio::io::duplex(64);
        tokio::spawn(async move {
            server
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nbody")
                .await
                .unwrap();
            server.write_all(b" rest").await.unwrap();
        });
        let mut s = HttpResponseStream::new(client, "t".into());
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"body rest");

        for (resp, ok) in [
            (&b"HTTP/1.1 101 Switching Protocols\r\n\r\n"[..], true),
            (b"HTTP/1.1 204 No Content\r\n\r\n", true),
            (b"HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n", false),
            (b"HTTP/1.1 404 Not Found\r\n\r\n", false),
        ] {
            let (client, mut server) = tokio::io::duplex(1024);
            server.write_all(resp).await.unwrap();
            drop(server);
            let mut s = HttpResponseStream::new(client, "t".into());
            let r = s.read_to_end(&mut Vec::new()).await;
            assert_eq!(r.is_ok(), ok, "{r:?}");
            if !ok {
                let code = std::str::from_utf8(&resp[9..12]).unwrap();
                assert!(r.unwrap_err().to_string().contains(code));
            }
        }
    }

    #[tokio::test]
    async fn overlong_or_truncated_heads_fail() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
            h.extend(
                std::iter::repeat_n(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 2000).flatten(),
            );
            let _ = server.write_all(&h).await;
        });
        let mut s = HttpResponseStream::new(client, "t".into());
        let e = s.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert!(e.to_string().contains("60000"), "{e}");

        let (client, mut server) = tokio::io::duplex(1024);
        server.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        drop(server);
        let mut s = HttpResponseStream::new(client, "t".into());
        let e = s.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
