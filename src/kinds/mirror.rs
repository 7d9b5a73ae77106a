//! `mirror:`: echoes back whatever is written to it, bytes or whole messages.

use crate::exec::build::BuildCtx;
use crate::exec::conn::{message_channel, MessagePair};
use crate::exec::{Conn, ConnInfo, Connect};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape};
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;

/// The `shape` parameter shared by kinds that adapt to their partner.
pub const SHAPE_PARAM: ParamDef = ParamDef {
    name: "shape",
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
    arg: ArgType::None,
    params: &[SHAPE_PARAM],
    summary: "echo: everything written is read back",
    help: "Sends back everything it receives. Opposite a WebSocket it echoes whole messages, \
           keeping their type (text or binary); opposite a byte stream it echoes bytes. Useful \
           as an echo server.",
    examples: &[
        "websocat ws-l:127.0.0.1:8080 mirror:",
        "websocat tcp-l:127.0.0.1:9000 mirror:",
    ],
    build: Build::Connector(build),
};

/// True when an `Any`-shaped node was settled to messages by the planner.
pub fn wants_messages(node: &PlanNode) -> bool {
    node.param("shape") == Some("messages")
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
                let (sink, stream) = message_channel(64);
                Ok(Conn::Messages(Box::new(MessagePair { stream, sink })))
            } else {
                let (r, w) = tokio::io::simplex(64 * 1024);
                Ok(Conn::Bytes(Box::new(tokio::io::join(r, w))))
            }
        })
    }
}
