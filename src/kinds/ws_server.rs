//! `ws-upgrade:` (server side of the WebSocket handshake over each accepted connection) and
//! its sugar `ws-l:` / `ws-listen:` (= `ws-upgrade:tcp-l:ADDR`, or over a sub-specifier).

use super::ws_client::header_pairs;
use super::ws_stream::{WsMessages, WsSettings, COMMON_PARAMS};
use crate::exec::build::BuildCtx;
use crate::exec::conn::shape_error;
use crate::exec::{Conn, ConnInfo, ConnLayer};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, Expansion, KindDef, ParamDef, ParamType, Role, Shape};
use futures::future::BoxFuture;
use http::header::{HeaderName, HeaderValue};
use http::StatusCode;
use std::io;
use std::sync::{Arc, Mutex};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

const PARAMS: [ParamDef; 9] = [
    ParamDef {
        name: "protocol",
        ty: ParamType::Text,
        flag: Some("--server-protocol"),
        help: "Sec-WebSocket-Protocol to answer with (default: echo the first one the client offers)",
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
];

/// Registry entry for `ws-upgrade:`.
pub const WS_UPGRADE: KindDef = KindDef {
    name: "ws-upgrade",
    synonyms: &["ws-u", "upgrade-ws", "ws-accept"],
    role: Role::Overlay,
    shape: Shape::BytesToMessages,
    arg: ArgType::None,
    params: &PARAMS,
    summary: "WebSocket server handshake over each connection under it",
    help: "Answers the HTTP upgrade request of each incoming connection and then exchanges \
           messages. The request URI and headers are passed on to the other side (for `exec:` \
           and logs). Pings are answered; a Close is answered and ends the connection.",
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
    protocol: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    restrict_uri: Option<String>,
    settings: WsSettings,
}

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    Ok(Arc::new(WsServer {
        protocol: node.param("protocol").map(str::to_string),
        headers: header_pairs(node.params_all("header"))?,
        restrict_uri: node.param("restrict-uri").map(str::to_string),
        settings: WsSettings::from_node(node)?,
    }))
}

fn reject(status: StatusCode, text: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(format!("{text}\n")));
    *r.status_mut() = status;
    r
}

impl ConnLayer for WsServer {
    fn wrap(&self, inner: Conn, mut info: ConnInfo) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let protocol = self.protocol.clone();
        let headers = self.headers.clone();
        let restrict = self.restrict_uri.clone();
        let settings = self.settings.clone();
        Box::pin(async move {
            let Conn::Bytes(stream) = inner else {
                return Err(shape_error("ws-upgrade", "a byte stream", &inner));
            };
            let seen: Arc<Mutex<Option<(String, Vec<(String, String)>)>>> = Arc::default();
            let seen_cb = seen.clone();
            let callback = move |req: &Request, mut resp: Response| {
                let uri = req.uri().to_string();
                if let Some(r) = &restrict {
                    // Exact match on the request target, query included (as websocat 1.x).
                    if uri != *r {
                        tracing::warn!("request URI {uri} does not match --restrict-uri {r}");
                        return Err(reject(StatusCode::BAD_REQUEST, "request URI does not match --restrict-uri"));
                    }
                }
                let hdrs = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                    .collect();
                if let Ok(mut s) = seen_cb.lock() {
                    *s = Some((uri, hdrs));
                }
                let first_offer = req
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').next())
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty());
                let answer = match (&protocol, first_offer) {
                    (Some(p), Some(offer)) if *p != offer => {
                        tracing::warn!("client asked for protocol {offer}, not --server-protocol {p}");
                        return Err(reject(StatusCode::BAD_REQUEST, "requested Sec-WebSocket-Protocol is not supported"));
                    }
                    (Some(p), _) => Some(p.clone()),
                    (None, offer) => offer,
                };
                if let Some(p) = answer {
                    if let Ok(v) = HeaderValue::from_str(&p) {
                        resp.headers_mut().insert("sec-websocket-protocol", v);
                    }
                }
                for (k, v) in headers {
                    resp.headers_mut().append(k, v);
                }
                Ok(resp)
            };
            let ws = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(settings.config))
                .await
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("WebSocket handshake failed: {e}")))?;
            if let Ok(mut s) = seen.lock() {
                if let Some((uri, hdrs)) = s.take() {
                    info.uri = Some(uri);
                    info.headers = hdrs;
                }
            }
            Ok((Conn::Messages(Box::new(WsMessages::new(ws, settings))), info))
        })
    }
}
