//! `ws-upgrade:` (server side of the WebSocket handshake over each accepted connection) and
//! its sugar `ws-l:` / `ws-listen:` (= `ws-upgrade:tcp-l:ADDR`, or over a sub-specifier).

use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, ConnLayer};
use crate::plan::PlanNode;
use crate::registry::{
    ArgType, Build, Expansion, KindDef, ParamDef, ParamType, Role, Shape, Trait,
};
use crate::ws::frame::Role as WsRole;
use crate::ws::handshake::{self, header_pairs, ServerPolicy};
use crate::ws::stream::{WsMessages, WsSettings, COMMON_PARAMS};
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// The parameters of `ws-upgrade:` (and its sugar) alone; the shared WebSocket ones
/// ([`COMMON_PARAMS`]) follow.
const SERVER_PARAMS: &[ParamDef] = &[
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
    ParamDef {
        name: "handshake-timeout",
        ty: ParamType::Uint,
        flag: Some("--handshake-timeout"),
        help: "seconds a client may take to send its request head (default 15; 0 = no limit)",
    },
    ParamDef {
        name: "static-file",
        ty: ParamType::Repeated,
        flag: Some("--static-file"),
        help: "`URI:CONTENT-TYPE:PATH`: a plain HTTP GET for URI gets the file (repeatable)",
    },
    ParamDef {
        name: "browser-console",
        ty: ParamType::Bool,
        flag: Some("--browser-console"),
        help: "answer a plain HTTP GET with a web page that connects back (send and see messages)",
    },
];

const PARAM_LISTS: &[&[ParamDef]] = &[SERVER_PARAMS, &COMMON_PARAMS];
const PARAMS: [ParamDef; crate::registry::params_len(PARAM_LISTS)] =
    crate::registry::concat_params(PARAM_LISTS);

/// Registry entry for `ws-upgrade:`.
pub const WS_UPGRADE: KindDef = KindDef {
    name: "ws-upgrade",
    synonyms: &["ws-u", "u-ws", "upgrade-ws", "ws-accept"],
    role: Role::Overlay,
    shape: Shape::BytesToMessages,
    traits: &[Trait::WebSocket],
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
    traits: &[],
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
    handshake_timeout: Option<Duration>,
}

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    let settings = WsSettings::from_node(node)?;
    Ok(Arc::new(WsServer {
        policy: ServerPolicy {
            protocol: node.param("protocol").map(str::to_string),
            headers: header_pairs(node.params_all("header"))?,
            restrict_uri: node.param("restrict-uri").map(str::to_string),
            static_files: node
                .params_all("static-file")
                .map(handshake::StaticFile::parse)
                .collect::<Result<_, _>>()?,
            console_page: node.param_bool("browser-console"),
            deflate: settings.deflate,
        },
        settings,
        handshake_timeout: match node.param_u64("handshake-timeout") {
            Some(0) => None,
            Some(n) => Some(Duration::from_secs(n)),
            None => Some(Duration::from_secs(
                handshake::DEFAULT_SERVER_HANDSHAKE_TIMEOUT,
            )),
        },
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
        let limit = self.handshake_timeout;
        Box::pin(async move {
            let mut stream = inner.into_bytes_for(WS_UPGRADE.name)?;
            let accepted = crate::exec::conn::within_time_limit(
                limit,
                || "the client's WebSocket handshake".to_string(),
                "--handshake-timeout",
                handshake::accept(&mut stream, &policy),
            )
            .await?;
            tracing::info!("WebSocket request for {}", accepted.head.uri());
            info.request = Some(accepted.head);
            let ws = WsMessages::new(stream, accepted.leftover, WsRole::Server, settings)
                .with_deflate(accepted.deflate);
            Ok((Conn::Messages(Box::new(ws)), info))
        })
    }
}
