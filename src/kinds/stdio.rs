//! `-` / `stdio:`: standard input and output as one byte stream.

use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, Connect};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, Role, Shape};
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;

/// Registry entry for stdio.
pub const STDIO: KindDef = KindDef {
    name: "stdio",
    synonyms: &["inetd", "asyncstdio"],
    role: Role::Leaf,
    shape: Shape::Bytes,
    arg: ArgType::None,
    params: &[],
    summary: "standard input and output (also written `-`)",
    help: "Reads standard input and writes standard output. `-` is the short form. In text mode \
           each line of input becomes one message. When placed behind a listener, all clients \
           share it (the planner adds `broadcast:`).",
    examples: &[
        "websocat - ws://127.0.0.1:8080/",
        "websocat ws-l:127.0.0.1:8080 -",
    ],
    build: Build::Connector(build),
};

fn build(_node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(Stdio))
}

struct Stdio;

impl Connect for Stdio {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async {
            let stream = tokio::io::join(tokio::io::stdin(), tokio::io::stdout());
            Ok(Conn::Bytes(Box::new(stream)))
        })
    }
}
