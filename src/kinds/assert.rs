//! `assert:`: checks that the data it receives equals the given text (for tests).

use crate::exec::build::BuildCtx;
use crate::exec::conn::MessagePair;
use crate::exec::{Conn, ConnInfo, Connect, Message};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, Role, Shape};
use futures::future::BoxFuture;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Registry entry for `assert:`.
pub const ASSERT: KindDef = KindDef {
    name: "assert",
    synonyms: &["assert2"],
    role: Role::Leaf,
    shape: Shape::Messages,
    traits: &[],
    arg: ArgType::Text,
    params: &[],
    summary: "fails unless everything written to it equals the given text",
    help: "Collects the payloads of all incoming messages; at end of stream, if together they \
           differ from the argument, the \
           session fails with an error showing both (exit code 1; websocat 1.x's `assert2:` \
           behaviour). Reading from it gives nothing. For tests.",
    examples: &["websocat -u ws-l:127.0.0.1:8080 assert:hello"],
    build: Build::Connector(build),
};

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(Assert(node.arg.clone().into_bytes())))
}

struct Assert(Vec<u8>);

impl Connect for Assert {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        let expected = self.0.clone();
        Box::pin(async move {
            Ok(Conn::Messages(Box::new(MessagePair {
                stream: Box::pin(futures::stream::empty()),
                sink: Box::pin(AssertSink {
                    expected,
                    got: Vec::new(),
                }),
            })))
        })
    }
}

/// Collects message payloads and compares them with the expected text when closed.
struct AssertSink {
    expected: Vec<u8>,
    got: Vec<u8>,
}

impl futures::Sink<Message> for AssertSink {
    type Error = io::Error;
    fn poll_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(mut self: Pin<&mut Self>, item: Message) -> io::Result<()> {
        self.got.extend_from_slice(item.payload());
        Ok(())
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.got == self.expected {
            Poll::Ready(Ok(()))
        } else {
            Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "assertion failed: expected {:?}, got {:?}",
                    String::from_utf8_lossy(&self.expected),
                    String::from_utf8_lossy(&self.got)
                ),
            )))
        }
    }
}
