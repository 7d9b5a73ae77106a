//! Shared plumbing for datagram kinds (`udp:`, `udp-l:`, `unix-dgram:`): every datagram is one
//! message, boundaries preserved, and an empty datagram is an empty message (never EOF).

use crate::exec::conn::MessagePair;
use crate::exec::{Conn, Message};
use crate::plan::PlanNode;
use crate::registry::{ParamDef, ParamType};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use std::io;
use std::sync::Arc;

/// Largest datagram received in one message (the largest UDP payload fits).
pub const MAX_DATAGRAM: usize = 65536;

/// The `type` parameter of datagram kinds: what kind of message a received datagram becomes.
/// `-b` fills it with `binary`; without it datagrams become text messages (text mode).
pub const TYPE_PARAM: ParamDef = ParamDef {
    name: "type",
    ty: ParamType::Text,
    flag: Some("--binary"),
    help: "received datagrams become `text` (default, text mode) or `binary` messages (-b)",
};

/// Reads the `type` parameter: true when received datagrams become binary messages.
pub fn binary_messages(node: &PlanNode) -> Result<bool, String> {
    match node.param("type") {
        None | Some("text") => Ok(false),
        Some("binary") => Ok(true),
        Some(other) => Err(format!(
            "parameter `type` must be `text` or `binary`, not `{other}`"
        )),
    }
}

/// A datagram socket as the shared plumbing sees it.
pub trait Datagrams: Send + Sync + 'static {
    /// Receives one datagram into `buf`, returning its length.
    fn recv_one<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, io::Result<usize>>;
    /// Sends one datagram.
    fn send_one<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, io::Result<()>>;
}

/// Turns a datagram socket into a message connection.
pub fn datagram_conn<D: Datagrams>(sock: Arc<D>, binary: bool) -> Conn {
    let rx = sock.clone();
    let stream = futures::stream::unfold(
        (rx, vec![0u8; MAX_DATAGRAM]),
        move |(s, mut buf)| async move {
            let r = s.recv_one(&mut buf).await.map(|n| {
                let b = Bytes::copy_from_slice(&buf[..n]);
                if binary {
                    Message::Binary(b)
                } else {
                    Message::Text(b)
                }
            });
            Some((r, (s, buf)))
        },
    );
    let sink = futures::sink::unfold(sock, |s, msg: Message| async move {
        s.send_one(msg.payload()).await?;
        Ok::<_, io::Error>(s)
    });
    Conn::Messages(Box::new(MessagePair {
        stream: stream.boxed(),
        sink: Box::pin(sink),
    }))
}
