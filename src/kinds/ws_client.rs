//! `ws-c:` (WebSocket client handshake over any byte stream) and the lowering of
//! `ws://` / `wss://` URLs into `ws-c:` over `tcp:` (and TLS).

use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, ConnLayer};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape, Trait};
use crate::ws::frame::Role as WsRole;
use crate::ws::handshake::{self, header_pairs, ClientRequest};
use crate::ws::stream::{WsMessages, WsSettings, COMMON_PARAMS};
use base64::Engine;
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Default request URI of `ws-c:` when neither `uri=` nor `--ws-c-uri` is given.
pub const DEFAULT_URI: &str = "ws://0.0.0.0/";

/// The parameters of `ws-c:` alone; the shared WebSocket ones ([`COMMON_PARAMS`]) follow.
const CLIENT_PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "uri",
        ty: ParamType::Text,
        flag: Some("--ws-c-uri"),
        help:
            "request URI; its host becomes the Host header (default ws://0.0.0.0/, as websocat 1.x)",
    },
    ParamDef {
        name: "protocol",
        ty: ParamType::Text,
        flag: Some("--protocol"),
        help: "Sec-WebSocket-Protocol to request",
    },
    ParamDef {
        name: "header",
        ty: ParamType::Repeated,
        flag: Some("--header"),
        help: "extra request header `Name: value` (repeatable)",
    },
    ParamDef {
        name: "origin",
        ty: ParamType::Text,
        flag: Some("--origin"),
        help: "Origin header",
    },
    ParamDef {
        name: "ua",
        ty: ParamType::Text,
        flag: Some("--ua"),
        help: "User-Agent header",
    },
    ParamDef {
        name: "basic-auth",
        ty: ParamType::Text,
        flag: Some("--basic-auth"),
        help: "`user:password` sent as HTTP basic authorization",
    },
    ParamDef {
        name: "connect-timeout",
        ty: ParamType::Uint,
        flag: Some("--connect-timeout"),
        help: "seconds connecting (TCP, proxy, TLS) and the WebSocket handshake may take \
               together (default 30; 0 = no limit)",
    },
    ParamDef {
        name: "version",
        ty: ParamType::Text,
        flag: Some("--websocket-version"),
        help: "Sec-WebSocket-Version to send (default 13)",
    },
    ParamDef {
        name: "basic-auth-file",
        ty: ParamType::Text,
        flag: Some("--basic-auth-file"),
        help: "file holding `user:password` for HTTP basic authorization (read when starting)",
    },
];

const PARAM_LISTS: &[&[ParamDef]] = &[CLIENT_PARAMS, &COMMON_PARAMS];
const PARAMS: [ParamDef; crate::registry::params_len(PARAM_LISTS)] =
    crate::registry::concat_params(PARAM_LISTS);

/// Registry entry for `ws-c:`.
pub const WS_CLIENT: KindDef = KindDef {
    name: "ws-c",
    synonyms: &["ws-connect", "connect-ws", "c-ws"],
    role: Role::Overlay,
    shape: Shape::BytesToMessages,
    traits: &[Trait::WebSocket],
    arg: ArgType::None,
    params: &PARAMS,
    summary: "WebSocket client handshake over the byte stream under it",
    help: "Performs the client side of the WebSocket handshake over any byte stream and then \
           exchanges messages. `ws://host:port/path` is short for \
           `ws-c[uri=ws://host:port/path]:tcp:host:port`. The request URI comes from `uri=` \
           or --ws-c-uri.",
    examples: &[
        "websocat --ws-c-uri=ws://example.com/chat - ws-c:tcp:127.0.0.1:8080",
        "websocat - 'ws-c[uri=/chat,protocol=chat]:tcp:127.0.0.1:8080'",
    ],
    build: Build::Layer(build),
};

struct WsClient {
    request: ClientRequest,
    settings: WsSettings,
    connect_timeout: Option<Duration>,
}

/// The `user:password` of `basic-auth`, or read (trimmed) from the `basic-auth-file` (at
/// build time, before anything connects); giving both is an error.
pub fn basic_auth(node: &PlanNode) -> Result<Option<String>, String> {
    match (node.param("basic-auth"), node.param("basic-auth-file")) {
        (Some(_), Some(_)) => Err("basic-auth and basic-auth-file are both given".into()),
        (Some(auth), None) => Ok(Some(auth.to_string())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|s| Some(s.trim().to_string()))
            .map_err(|e| format!("reading the basic authentication file {path}: {e}")),
        (None, None) => Ok(None),
    }
}

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    let settings = WsSettings::from_node(node)?;
    let uri = node.param("uri").unwrap_or(DEFAULT_URI).to_string();
    let mut headers = header_pairs(node.params_all("header"))?;
    if let Some(auth) = basic_auth(node)? {
        let token = base64::engine::general_purpose::STANDARD.encode(auth.as_bytes());
        headers.push(("Authorization".into(), format!("Basic {token}")));
    }
    if let Some(v) = node.param("version") {
        headers.push(("Sec-WebSocket-Version".into(), v.to_string()));
    }
    if let Some(o) = node.param("origin") {
        headers.push(("Origin".into(), o.to_string()));
    }
    if let Some(p) = node.param("protocol") {
        headers.push(("Sec-WebSocket-Protocol".into(), p.to_string()));
    }
    if let Some(ua) = node.param("ua") {
        headers.push(("User-Agent".into(), ua.to_string()));
    }
    for (_, v) in &headers {
        if v.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err("header values cannot contain line breaks".into());
        }
    }
    let check = if uri.starts_with('/') {
        format!("ws://localhost{uri}")
    } else {
        uri.clone()
    };
    let parsed: http::Uri = check
        .parse()
        .map_err(|e| format!("bad request URI `{uri}`: {e}"))?;
    if parsed.authority().is_none() {
        return Err(format!("request URI `{uri}` has no host"));
    }
    Ok(Arc::new(WsClient {
        request: ClientRequest {
            uri,
            headers,
            deflate: settings.deflate,
        },
        settings,
        connect_timeout: match node.param_u64("connect-timeout") {
            Some(0) => None,
            Some(n) => Some(Duration::from_secs(n)),
            None => Some(Duration::from_secs(
                handshake::DEFAULT_CLIENT_CONNECT_TIMEOUT,
            )),
        },
    }))
}

impl ConnLayer for WsClient {
    fn connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let request = self.request.clone();
        let settings = self.settings.clone();
        Box::pin(async move {
            let mut stream = inner.into_bytes_for(WS_CLIENT.name)?;
            // The time limit (`connect_timeout`) is applied around this by the executor.
            let connected = handshake::connect(&mut stream, &request)
                .await
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("WebSocket handshake with {}: {e}", request.uri),
                    )
                })?;
            let ws = WsMessages::new(stream, connected.leftover, WsRole::Client, settings)
                .with_deflate(connected.deflate);
            Ok((Conn::Messages(Box::new(ws)), info))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_its_own_then_the_shared_websocket_ones() {
        let names: Vec<&str> = WS_CLIENT.params.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "uri",
                "protocol",
                "header",
                "origin",
                "ua",
                "basic-auth",
                "connect-timeout",
                "version",
                "basic-auth-file",
                "max-message",
                "max-frame",
                "ping-interval",
                "ping-timeout",
                "close-code",
                "close-reason",
                "ignore-empty",
                "print-rtt",
                "max-pongs",
                "max-pings",
                "deflate",
                "deflate-level",
                "deflate-window-bits",
                "deflate-no-context-takeover"
            ]
        );
    }
}
