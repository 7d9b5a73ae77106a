//! `preamble:`: sends fixed texts at the start of every connection it wraps (what `-p` and
//! `-P` ask for). Under `autoreconnect:` the texts are sent again on every new connection.

use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, ConnLayer, Message};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::SinkExt;
use std::io;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// Registry entry for `preamble:`.
pub const PREAMBLE: KindDef = KindDef {
    name: "preamble",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::Preserve,
    traits: &[],
    arg: ArgType::None,
    params: &[ParamDef {
        name: "text",
        ty: ParamType::Repeated,
        flag: None,
        help: "a text to send; repeat for several (filled from -p on the right, -P on the left)",
    }],
    summary: "send fixed texts first on every new connection",
    help: "Before any other data, writes each `text` to the connection it wraps: one text \
           message each over messages, the bare bytes (no newline added) over a byte stream. \
           `-p TEXT` (`--preamble`) makes the planner put it on the right side, `-P TEXT` \
           (`--preamble-reverse`) on the left side, under any `reuse:`/`autoreconnect:` so it \
           is repeated for every new inner connection.",
    examples: &[
        "websocat -p 'AUTH secret' - ws://127.0.0.1:8080/",
        "websocat - 'autoreconnect:preamble[text=hello]:tcp:127.0.0.1:5000'",
    ],
    build: Build::Layer(build),
};

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    let texts = node
        .params_all("text")
        .map(|t| Bytes::copy_from_slice(t.as_bytes()))
        .collect();
    Ok(Arc::new(Preamble {
        texts: Arc::new(texts),
    }))
}

struct Preamble {
    texts: Arc<Vec<Bytes>>,
}

impl ConnLayer for Preamble {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let texts = self.texts.clone();
        Box::pin(async move {
            let conn = match inner {
                Conn::Bytes(mut b) => {
                    for t in texts.iter() {
                        b.write_all(t).await?;
                    }
                    b.flush().await?;
                    Conn::Bytes(b)
                }
                Conn::Messages(mut m) => {
                    for t in texts.iter() {
                        m.feed(Message::Text(t.clone())).await?;
                    }
                    m.flush().await?;
                    Conn::Messages(m)
                }
            };
            Ok((conn, info))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Span;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn texts_are_written_first_without_terminator() {
        let node = PlanNode::new(&PREAMBLE, "", crate::plan::Origin::Written(Span::new(0, 1)))
            .with_param("text", "AB")
            .with_param("text", "C");
        let ctx = BuildCtx {
            side: crate::error::Side::Right,
        };
        let layer = build(&node, &ctx).unwrap();
        let (a, mut peer) = tokio::io::duplex(64);
        let (conn, _) = layer
            .wrap(Conn::Bytes(Box::new(a)), ConnInfo::default())
            .await
            .unwrap();
        drop(conn);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ABC");
    }
}
