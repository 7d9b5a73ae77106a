//! `literal:`, `literalreply:` and `clogged:`: fixed data sources for tests and demos.

use super::mirror::{wants_messages, PARTNER_SHAPE};
use crate::exec::build::BuildCtx;
use crate::exec::conn::MessagePair;
use crate::exec::{Conn, ConnInfo, Connect, Message};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, Role, Shape};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Registry entry for `literal:`.
pub const LITERAL: KindDef = KindDef {
    name: "literal",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Messages,
    traits: &[],
    arg: ArgType::Text,
    params: &[super::support::dgram::TYPE_PARAM],
    summary: "sends the given text as one message, then EOF; input is discarded",
    help: "Produces one message holding the argument (text, or binary with -b) and then end \
           of stream; anything written is discarded. Opposite a byte stream in text mode the \
           message is written as one line, as websocat 1.x does (`- literal:hi` prints `hi` \
           and a newline).",
    examples: &[
        "websocat ws-l:127.0.0.1:8080 literal:hello",
        "websocat - literal:abc",
    ],
    build: Build::Connector(build_literal),
};

/// Registry entry for `literalreply:`.
pub const LITERAL_REPLY: KindDef = KindDef {
    name: "literalreply",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Any,
    traits: &[],
    arg: ArgType::Text,
    params: &[PARTNER_SHAPE],
    summary: "answers every incoming message (or write) with the given text",
    help: "For each message received (each write, opposite a byte stream) it sends back the \
           argument's text. Ends when its input ends.",
    examples: &["websocat ws-l:127.0.0.1:8080 literalreply:pong"],
    build: Build::Connector(build_reply),
};

/// Registry entry for `clogged:`.
pub const CLOGGED: KindDef = KindDef {
    name: "clogged",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Any,
    traits: &[],
    arg: ArgType::None,
    params: &[PARTNER_SHAPE],
    summary: "never reads and never accepts writes (for testing stalls)",
    help: "A connection that never produces data and never accepts any: reads and writes wait \
           forever. Useful to test timeouts and back-pressure.",
    examples: &["websocat ws-l:127.0.0.1:8080 clogged:"],
    build: Build::Connector(build_clogged),
};

fn build_literal(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    let data = Bytes::from(node.arg.clone());
    let msg = if super::support::dgram::binary_messages(node)? {
        Message::Binary(data)
    } else {
        Message::Text(data)
    };
    Ok(Arc::new(Literal(msg)))
}

struct Literal(Message);

impl Connect for Literal {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        let msg = self.0.clone();
        Box::pin(async move {
            let stream = futures::stream::iter([Ok(msg)]);
            let sink = futures::sink::drain().sink_map_err(|e| match e {});
            Ok(Conn::Messages(Box::new(MessagePair {
                stream: Box::pin(stream),
                sink: Box::pin(sink),
            })))
        })
    }
}

fn build_reply(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(Reply {
        text: Bytes::from(node.arg.clone()),
        messages: wants_messages(node),
    }))
}

struct Reply {
    text: Bytes,
    messages: bool,
}

impl Connect for Reply {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        let text = self.text.clone();
        let messages = self.messages;
        Box::pin(async move {
            if messages {
                let (tx, rx) = futures::channel::mpsc::channel::<Message>(64);
                let sink = tx
                    .sink_map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
                    .with(move |_m: Message| {
                        futures::future::ready(Ok::<_, io::Error>(Message::Text(text.clone())))
                    });
                let stream = rx.map(Ok);
                Ok(Conn::Messages(Box::new(MessagePair {
                    stream: Box::pin(stream),
                    sink: Box::pin(sink),
                })))
            } else {
                Ok(Conn::Bytes(Box::new(ReplyBytes {
                    text,
                    pending: Vec::new(),
                    closed: false,
                    waker: None,
                })))
            }
        })
    }
}

/// Byte-stream form of `literalreply:`: every write queues one copy of the text.
struct ReplyBytes {
    text: Bytes,
    pending: Vec<u8>,
    closed: bool,
    waker: Option<std::task::Waker>,
}

impl AsyncRead for ReplyBytes {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pending.is_empty() {
            if self.closed {
                return Poll::Ready(Ok(()));
            }
            self.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = self.pending.len().min(buf.remaining());
        buf.put_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ReplyBytes {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !data.is_empty() {
            let text = self.text.clone();
            self.pending.extend_from_slice(&text);
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.closed = true;
        if let Some(w) = self.waker.take() {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}

fn build_clogged(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(Clogged {
        messages: wants_messages(node),
    }))
}

struct Clogged {
    messages: bool,
}

impl Connect for Clogged {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        let messages = self.messages;
        Box::pin(async move {
            if messages {
                let stream = futures::stream::pending::<io::Result<Message>>();
                let sink = NeverReady;
                Ok(Conn::Messages(Box::new(MessagePair {
                    stream: Box::pin(stream),
                    sink: Box::pin(sink),
                })))
            } else {
                Ok(Conn::Bytes(Box::new(ClogBytes)))
            }
        })
    }
}

struct ClogBytes;

/// A message sink that never accepts anything.
struct NeverReady;

impl futures::Sink<Message> for NeverReady {
    type Error = io::Error;
    fn poll_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Pending
    }
    fn start_send(self: Pin<&mut Self>, _item: Message) -> io::Result<()> {
        Ok(())
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ClogBytes {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for ClogBytes {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Pending
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
