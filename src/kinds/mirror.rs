//! `mirror:`: echoes back whatever is written to it, bytes or whole messages.

use crate::exec::build::BuildCtx;
use crate::exec::conn::MessageStream;
use crate::exec::queue::ITEM_OVERHEAD;
use crate::exec::Message;
use crate::exec::{Conn, ConnInfo, Connect};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape, SHAPE_PARAM};
use futures::future::BoxFuture;
use futures::{Sink, Stream};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The `shape` parameter ([`SHAPE_PARAM`]) of kinds that adapt to their partner.
pub const PARTNER_SHAPE: ParamDef = ParamDef {
    name: SHAPE_PARAM,
    ty: ParamType::Text,
    flag: None,
    help: "`bytes` or `messages`; set by the planner to match the other side",
};

/// Registry entry for `mirror:`.
pub const MIRROR: KindDef = KindDef {
    name: "mirror",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Any,
    traits: &[],
    arg: ArgType::None,
    params: &[PARTNER_SHAPE],
    summary: "echo: everything written is read back",
    help: "Sends back everything it receives. Opposite a WebSocket it echoes whole messages, \
           keeping their type (text or binary); opposite a byte stream it echoes bytes. Useful \
           as an echo server. It holds at most 1 MiB of messages (or one larger message) \
           that the other side has not read back; beyond that the sender waits.",
    examples: &[
        "websocat ws-l:127.0.0.1:8080 mirror:",
        "websocat tcp-l:127.0.0.1:9000 mirror:",
    ],
    build: Build::Connector(build),
};

/// True when an `Any`-shaped node was settled to messages by the planner.
pub fn wants_messages(node: &PlanNode) -> bool {
    node.param(SHAPE_PARAM) == Some("messages")
}

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(Mirror {
        messages: wants_messages(node),
    }))
}

struct Mirror {
    messages: bool,
}

impl Connect for Mirror {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        let messages = self.messages;
        Box::pin(async move {
            if messages {
                Ok(Conn::Messages(Box::new(Echo::new(ECHO_QUEUE_BYTES))))
            } else {
                let (r, w) = tokio::io::simplex(64 * 1024);
                Ok(Conn::Bytes(Box::new(tokio::io::join(r, w))))
            }
        })
    }
}

/// How many bytes of messages `mirror:` holds before the writer has to wait for the reader.
/// A message is let in whenever less than this is queued, so one larger message still
/// passes (alone): the queue holds at most this plus one message.
pub const ECHO_QUEUE_BYTES: usize = 1 << 20;

/// `mirror:` for messages: a queue bounded in bytes that gives back what was put in, in
/// order. One object serves both directions (no channel halves to allocate and synchronise).
struct Echo {
    queue: VecDeque<Message>,
    /// Bytes queued, each message counting [`ITEM_OVERHEAD`] more than its payload.
    queued: usize,
    capacity: usize,
    /// Our sink was closed: the stream ends once the queue is empty.
    closed: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Echo {
    fn new(capacity: usize) -> Self {
        Echo {
            queue: VecDeque::new(),
            queued: 0,
            capacity: capacity.max(1),
            closed: false,
            reader: None,
            writer: None,
        }
    }
}

impl Stream for Echo {
    type Item = io::Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(m) = self.queue.pop_front() {
            self.queued -= m.payload().len() + ITEM_OVERHEAD;
            if let Some(w) = self.writer.take() {
                w.wake();
            }
            return Poll::Ready(Some(Ok(m)));
        }
        if self.closed {
            return Poll::Ready(None);
        }
        self.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Sink<Message> for Echo {
    type Error = io::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.queued < self.capacity {
            return Poll::Ready(Ok(()));
        }
        self.writer = Some(cx.waker().clone());
        Poll::Pending
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> io::Result<()> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "mirror: written after its end",
            ));
        }
        self.queued += item.payload().len() + ITEM_OVERHEAD;
        self.queue.push_back(item);
        if let Some(w) = self.reader.take() {
            w.wake();
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.closed = true;
        if let Some(w) = self.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl MessageStream for Echo {
    fn room_is_private(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::{SinkExt, StreamExt};

    #[tokio::test]
    async fn echo_gives_back_messages_in_order_then_ends_after_close() {
        let mut echo = Echo::new(2 * (3 + ITEM_OVERHEAD));
        echo.send(Message::Text(Bytes::from_static(b"one")))
            .await
            .unwrap();
        echo.feed(Message::Binary(Bytes::from_static(b"two")))
            .await
            .unwrap();
        // Full: a third message waits until the reader takes one.
        assert!(matches!(
            Pin::new(&mut echo).poll_ready(&mut Context::from_waker(Waker::noop())),
            Poll::Pending
        ));
        assert_eq!(
            echo.next().await.unwrap().unwrap(),
            Message::Text(Bytes::from_static(b"one"))
        );
        echo.send(Message::Text(Bytes::from_static(b"")))
            .await
            .unwrap();
        echo.close().await.unwrap();
        assert_eq!(
            echo.next().await.unwrap().unwrap(),
            Message::Binary(Bytes::from_static(b"two"))
        );
        assert_eq!(
            echo.next().await.unwrap().unwrap(),
            Message::Text(Bytes::new()),
            "an empty message is a message"
        );
        assert!(echo.next().await.is_none(), "ends after the close");
        assert_eq!(echo.queued, 0);
        assert!(echo.send(Message::Text(Bytes::new())).await.is_err());
    }

    #[tokio::test]
    async fn echo_lets_one_message_larger_than_its_budget_through_alone() {
        let mut echo = Echo::new(100);
        let big = Message::Binary(Bytes::from(vec![1u8; 1000]));
        echo.send(big.clone()).await.unwrap();
        assert!(matches!(
            Pin::new(&mut echo).poll_ready(&mut Context::from_waker(Waker::noop())),
            Poll::Pending
        ));
        assert_eq!(echo.next().await.unwrap().unwrap(), big);
        echo.send(big.clone()).await.unwrap();
    }
}
