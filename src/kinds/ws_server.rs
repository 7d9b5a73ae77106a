//! `ws-upgrade:` (server side of the WebSocket handshake over each accepted connection) and
//! its sugar `ws-l:` / `ws-listen:` (= `ws-upgrade:tcp-l:ADDR`, or over a sub-specifier).

use super::ws_client::header_pairs;
use super::ws_stream::{WsMessages, WsSettings, COMMON_PARAMS};
use crate::exec::build::BuildCtx;
use crate::exec::conn::shape_error;
use crate::exec::{Conn, ConnInfo, ConnLayer};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, Expansion, KindDef, ParamDef, ParamType, Role, Shape};
use crate::ws::frame::Role as WsRole;
use crate::ws::handshake::{self, ServerPolicy};
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;

const PARAMS: [ParamDef; 14] = [
    ParamDef {
        name: "protocol",
        ty: ParamType::Text,
        flag: Some("--server-protocol"),
        help:
            "Sec-WebSocket-Protocol to answer with (default: echo the first one the client offers)",
    },
    ParamDef {
        name: "header",
        ty: ParamType::Repeated,
        flag: Some("--server-header"),
        help: "extra response header `Name: value` (repeatable)",
    },
    ParamDef {
        name: "restrict-uri",
        ty: ParamType::Text,
        flag: Some("--restrict-uri"),
        help: "answer 400 unless the request target (path and query) is exactly this",
    },
    COMMON_PARAMS[0],
    COMMON_PARAMS[1],
    COMMON_PARAMS[2],
    COMMON_PARAMS[3],
    COMMON_PARAMS[4],
    COMMON_PARAMS[5],
    COMMON_PARAMS[6],
    COMMON_PARAMS[7],
    COMMON_PARAMS[8],
    COMMON_PARAMS[9],
    ParamDef {
        name: "static-file",
        ty: ParamType::Repeated,
        flag: Some("--static-file"),
        help: "`URI:CONTENT-TYPE:PATH`: a plain HTTP GET for URI gets the file (repeatable)",
    },
];

/// Registry entry for `ws-upgrade:`.
pub const WS_UPGRADE: KindDef = KindDef {
    name: "ws-upgrade",
    synonyms: &["ws-u", "u-ws", "upgrade-ws", "ws-accept"],
    role: Role::Overlay,
    shape: Shape::BytesToMessages,
    arg: ArgType::None,
    params: &PARAMS,
    summary: "WebSocket server handshake over each connection under it",
    help: "Answers the HTTP upgrade request of each incoming connection and then exchanges \
           messages. The request URI and headers are passed on to the other side (for `exec:` \
           and logs). Pings are answered. A client's Close ends what it sends; what is still \
           on its way to the client is delivered before the Close is answered.",
    examples: &[
        "websocat ws-upgrade:tcp-l:127.0.0.1:8080 mirror:",
        "websocat 'ws-u[restrict-uri=/chat]:tcp-l:127.0.0.1:8080' -",
    ],
    build: Build::Layer(build),
};

/// Registry entry for `ws-l:` sugar.
pub const WS_LISTEN: KindDef = KindDef {
    name: "ws-listen",
    synonyms: &["ws-l", "l-ws", "listen-ws"],
    role: Role::ListenerAlias,
    shape: Shape::Expands,
    arg: ArgType::ListenAddr,
    params: &PARAMS,
    summary: "WebSocket server: `ws-upgrade:` over `tcp-l:` or over a sub-specifier",
    help: "`ws-l:ADDR` listens on a TCP address (a bare port means 127.0.0.1) and accepts \
           WebSocket clients. `ws-l:SPEC` accepts WebSocket clients on any listener, e.g. \
           `ws-l:unix-l:/run/ws.sock` behind nginx. Each client gets its own connection on the \
           other side.",
    examples: &[
        "websocat ws-l:127.0.0.1:8080 tcp:127.0.0.1:22",
        "websocat ws-l:127.0.0.1:8080 mirror:",
        "websocat ws-l:tcp-l:[::1]:8080 -",
    ],
    build: Build::Sugar(Expansion {
        overlays: &["ws-upgrade"],
        leaf: "tcp-listen",
    }),
};

struct WsServer {
    policy: ServerPolicy,
    settings: WsSettings,
}

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    Ok(Arc::new(WsServer {
        policy: ServerPolicy {
            protocol: node.param("protocol").map(str::to_string),
            headers: header_pairs(node.params_all("header"))?,
            restrict_uri: node.param("restrict-uri").map(str::to_string),
            static_files: node
                .params_all("static-file")
                .map(handshake::StaticFile::parse)
                .collect::<Result<_, _>>()?,
        },
        settings: WsSettings::from_node(node)?,
    }))
}

impl ConnLayer for WsServer {
    fn peer_speaks_first(&self) -> bool {
        true
    }

    fn wrap(
        &self,
        inner: Conn,
        mut info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let policy = self.policy.clone();
        let settings = self.settings.clone();
        Box::pin(async move {
            let Conn::Bytes(mut stream) = inner else {
                return Err(shape_error("ws-upgrade", "a byte stream", &inner));
            };
            let accepted = handshake::accept(&mut stream, &policy).await?;
            tracing::info!("WebSocket request for {}", accepted.head.uri());
            info.request = Some(accepted.head);
            let ws = WsMessages::new(stream, accepted.leftover, WsRole::Server, settings);
            Ok((Conn::Messages(Box::new(ws)), info))
        })
    }
}
