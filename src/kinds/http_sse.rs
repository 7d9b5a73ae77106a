//! `http-post-sse:`: the server side of a server-sent-events + POST pair over an accepted byte
//! stream. The request head (at most 60000 bytes) decides the direction of the connection:
//! - `GET`: answered `200` with `Content-Type: text/event-stream`; each message written to
//!   the connection becomes one event, one `data: ` line per line of the message, then a
//!   blank line. Nothing is read from this connection; it ends when the client goes away, and
//!   the response ends when the other side is done.
//! - `POST`: answered `204` at once; the request body is read, one message per read, and
//!   messages written to the connection are dropped.
//!
//! Any other method is answered `405` and the connection fails.

use super::http::MAX_RESPONSE_HEAD;
use super::support::dgram::{binary_messages, TYPE_PARAM};
use crate::exec::build::BuildCtx;
use crate::exec::conn::{ByteStream, MessagePair};
use crate::exec::{Conn, ConnInfo, ConnLayer, Message};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, Role, Shape};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Registry entry for `http-post-sse:`.
pub const HTTP_POST_SSE: KindDef = KindDef {
    name: "http-post-sse",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::BytesToMessages,
    traits: &[],
    arg: ArgType::None,
    params: &[TYPE_PARAM],
    summary: "serve HTTP: GET streams messages as server-sent events, POST bodies are read",
    help: "Reads one HTTP/1 request from the inner byte stream (usually under `tcp-l:`). A GET \
           is answered `200` with `Content-Type: text/event-stream`, and every message written \
           to the connection is sent as one event (`data: LINE` per line, then a blank line); \
           the response ends when the other side does, and nothing is read from the client \
           except its leaving, which ends the connection. A POST is answered `204` at once and its body is read, one \
           message per read (text, or binary with -b); messages written to it are dropped. \
           Other methods get `405`.",
    examples: &[
        "websocat -E -t http-post-sse:tcp-l:127.0.0.1:8080 reuse:ws://127.0.0.1:80/websock",
    ],
    build: Build::Layer(build),
};

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    Ok(Arc::new(PostSse {
        binary: binary_messages(node)?,
    }))
}

struct PostSse {
    binary: bool,
}

/// Encodes one message as a server-sent event.
pub fn sse_event(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 16);
    for line in payload.split(|&b| b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// Reads a request head; returns the method and the bytes read past the head.
async fn read_request_head<S: AsyncRead + Unpin>(io: &mut S) -> io::Result<(String, Vec<u8>)> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the client closed the connection before the end of the HTTP request head",
            ));
        }
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if let Some(i) = head[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            let end = from + i + 4;
            let rest = head.split_off(end);
            let mut headers = [httparse::EMPTY_HEADER; 128];
            let mut req = httparse::Request::new(&mut headers);
            req.parse(&head).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad HTTP request head: {e}"),
                )
            })?;
            return Ok((req.method.unwrap_or_default().to_string(), rest));
        }
        if head.len() > MAX_RESPONSE_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the HTTP request head is longer than {MAX_RESPONSE_HEAD} bytes"),
            ));
        }
    }
}

/// The read side of an event stream: yields nothing; ends when the client goes away, so the
/// session can end with it. Anything the client sends is ignored.
fn until_client_leaves<R: AsyncRead + Send + Unpin + 'static>(
    r: R,
) -> impl futures::Stream<Item = io::Result<Message>> + Send {
    futures::stream::unfold(r, |mut r| async move {
        let mut buf = [0u8; 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    })
}

type SharedWriter = Arc<tokio::sync::Mutex<tokio::io::WriteHalf<Box<dyn ByteStream>>>>;

/// Writes each message as one event; closing ends the response (the write side shuts down).
struct SseSink {
    w: SharedWriter,
    pending: Option<BoxFuture<'static, io::Result<()>>>,
    shut: bool,
}

impl SseSink {
    fn drive(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        if let Some(f) = self.pending.as_mut() {
            let r = std::task::ready!(f.as_mut().poll(cx));
            self.pending = None;
            r?;
        }
        std::task::Poll::Ready(Ok(()))
    }
}

impl futures::Sink<Message> for SseSink {
    type Error = io::Error;
    fn poll_ready(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        self.drive(cx)
    }
    fn start_send(mut self: std::pin::Pin<&mut Self>, m: Message) -> io::Result<()> {
        let w = self.w.clone();
        self.pending = Some(Box::pin(async move {
            let mut w = w.lock().await;
            w.write_all(&sse_event(m.payload())).await?;
            w.flush().await
        }));
        Ok(())
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        self.drive(cx)
    }
    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::ready!(self.drive(cx))?;
        if !self.shut {
            self.shut = true;
            let w = self.w.clone();
            self.pending = Some(Box::pin(async move { w.lock().await.shutdown().await }));
        }
        self.drive(cx)
    }
}

fn message(binary: bool, b: Bytes) -> Message {
    if binary {
        Message::Binary(b)
    } else {
        Message::Text(b)
    }
}

impl ConnLayer for PostSse {
    fn peer_speaks_first(&self) -> bool {
        true
    }

    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let binary = self.binary;
        Box::pin(async move {
            let mut io = inner.into_bytes_for(HTTP_POST_SSE.name)?;
            let (method, rest) = read_request_head(&mut io)
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("http-post-sse: {e}")))?;
            let conn = match method.as_str() {
                "GET" => {
                    io.write_all(
                        b"HTTP/1.1 200 OK\r\nServer: websocat\r\nCache-Control: no-cache\r\n\
                          Content-Type: text/event-stream\r\n\r\n",
                    )
                    .await?;
                    io.flush().await?;
                    let (r, w) = tokio::io::split(io);
                    MessagePair {
                        stream: until_client_leaves(r).boxed(),
                        sink: Box::pin(SseSink {
                            w: Arc::new(tokio::sync::Mutex::new(w)),
                            pending: None,
                            shut: false,
                        }) as crate::exec::conn::BoxMessageSink,
                    }
                }
                "POST" => {
                    io.write_all(b"HTTP/1.1 204 No Content\r\nServer: websocat\r\n\r\n")
                        .await?;
                    io.flush().await?;
                    let first = (!rest.is_empty()).then(|| Ok(message(binary, rest.into())));
                    let body = futures::stream::unfold(
                        (io, vec![0u8; 65536]),
                        move |(mut io, mut buf): (Box<dyn ByteStream>, Vec<u8>)| async move {
                            match io.read(&mut buf).await {
                                Ok(0) => None,
                                Ok(n) => Some((
                                    Ok(message(binary, Bytes::copy_from_slice(&buf[..n]))),
                                    (io, buf),
                                )),
                                Err(e) => Some((Err(e), (io, buf))),
                            }
                        },
                    );
                    let sink = futures::sink::drain().sink_map_err(
                        |never: std::convert::Infallible| -> io::Error { match never {} },
                    );
                    MessagePair {
                        stream: futures::stream::iter(first).chain(body).boxed(),
                        sink: Box::pin(sink) as crate::exec::conn::BoxMessageSink,
                    }
                }
                other => {
                    let _ = io
                        .write_all(
                            b"HTTP/1.1 405 Method Not Allowed\r\nServer: websocat\r\n\
                              Allow: GET, POST\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        )
                        .await;
                    let _ = io.shutdown().await;
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "http-post-sse: the request method is {other}; only GET and POST are served"
                        ),
                    ));
                }
            };
            Ok((Conn::Messages(Box::new(conn)), info))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_one_data_line_per_line() {
        assert_eq!(sse_event(b"a"), b"data: a\n\n");
        assert_eq!(sse_event(b"a\nb"), b"data: a\ndata: b\n\n");
        assert_eq!(sse_event(b"a\n"), b"data: a\ndata: \n\n");
    }

    async fn wrapped(request: &'static [u8]) -> (io::Result<Conn>, tokio::io::DuplexStream) {
        let (a, mut b) = tokio::io::duplex(4096);
        b.write_all(request).await.unwrap();
        let r = PostSse { binary: false }
            .wrap(Conn::Bytes(Box::new(a)), ConnInfo::default())
            .await
            .map(|(c, _)| c);
        (r, b)
    }

    #[tokio::test]
    async fn get_streams_events() {
        let (c, mut peer) = wrapped(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nignored").await;
        let Conn::Messages(mut m) = c.unwrap() else {
            panic!("messages expected")
        };
        m.send(Message::Text("hi\nthere".into())).await.unwrap();
        // Closing ends the response: the client reads to its end.
        m.close().await.unwrap();
        let mut out = Vec::new();
        peer.read_to_end(&mut out).await.unwrap();
        // The client leaving ends the (silent) read side.
        drop(peer);
        assert!(m.next().await.is_none());
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("Content-Type: text/event-stream\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\ndata: hi\ndata: there\n\n"), "{out}");
    }

    #[tokio::test]
    async fn post_body_is_read_and_answered_204() {
        let (c, mut peer) = wrapped(b"POST /x HTTP/1.1\r\nContent-Length: 9\r\n\r\nbody").await;
        let Conn::Messages(mut m) = c.unwrap() else {
            panic!("messages expected")
        };
        peer.write_all(b" more").await.unwrap();
        peer.shutdown().await.unwrap();
        let mut got = Vec::new();
        while let Some(msg) = m.next().await {
            got.extend_from_slice(msg.unwrap().payload());
        }
        assert_eq!(got, b"body more");
        let mut head = [0u8; 24];
        peer.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 204 No Content\r");
    }

    #[tokio::test]
    async fn other_methods_get_405() {
        let (c, mut peer) = wrapped(b"PUT / HTTP/1.1\r\n\r\n").await;
        assert!(c.err().unwrap().to_string().contains("PUT"));
        let mut out = Vec::new();
        peer.read_to_end(&mut out).await.unwrap();
        assert!(out.starts_with(b"HTTP/1.1 405 "));
    }
}
