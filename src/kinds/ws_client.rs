//! `ws-c:` (WebSocket client handshake over any byte stream) and the lowering of
//! `ws://` / `wss://` URLs into `ws-c:` over `tcp:` (and TLS).

use super::ws_stream::{WsMessages, WsSettings, COMMON_PARAMS};
use crate::error::SpecProblem;
use crate::exec::build::BuildCtx;
use crate::exec::conn::shape_error;
use crate::exec::{Conn, ConnInfo, ConnLayer};
use crate::plan::{Origin, PlanNode};
use crate::registry::{self, ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape};
use crate::ws::frame::Role as WsRole;
use crate::ws::handshake::{self, ClientRequest};
use base64::Engine;
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;

/// Default request URI of `ws-c:` when neither `uri=` nor `--ws-c-uri` is given.
pub const DEFAULT_URI: &str = "ws://0.0.0.0/";

const PARAMS: [ParamDef; 18] = [
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

/// Registry entry for `ws-c:`.
pub const WS_CLIENT: KindDef = KindDef {
    name: "ws-c",
    synonyms: &["ws-connect", "connect-ws", "c-ws"],
    role: Role::Overlay,
    shape: Shape::BytesToMessages,
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

/// Lowers a `ws://` or `wss://` URL into `ws-c:` over `tcp:` (with TLS for `wss://`).
/// Problems are reported relative to the URL's first byte.
pub fn lower_url(url: &str, origin: Origin) -> Result<Vec<PlanNode>, SpecProblem> {
    let bad = |msg: String| {
        SpecProblem::new("websocat::spec::bad_url", msg, 0, url.len())
            .label("not a valid WebSocket URL")
            .help("URLs look like `ws://127.0.0.1:8080/path` or `wss://example.com/`")
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(format!("bad URL `{url}`: {e}")))?;
    let secure = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err(bad(format!("`{url}` is not a ws:// or wss:// URL"))),
    };
    let scheme_len = if secure { 6 } else { 5 };
    let Some(authority) = uri.authority() else {
        return Err(
            SpecProblem::new("websocat::spec::bad_url", "URL has no host", scheme_len, 0)
                .label("expected a host here")
                .help("e.g. `ws://127.0.0.1:8080/`"),
        );
    };
    let host = authority.host();
    if host.is_empty() {
        return Err(SpecProblem::new(
            "websocat::spec::bad_url",
            "URL has no host",
            scheme_len,
            authority.as_str().len(),
        )
        .label("expected a host here"));
    }
    let hostport = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, h)| h);
    if !hostport.ends_with(']') {
        if let Some((_, port_text)) = hostport.rsplit_once(':') {
            if !port_text.is_empty() && port_text.parse::<u16>().is_err() {
                let start = scheme_len + authority.as_str().len() - port_text.len();
                return Err(SpecProblem::new(
                    "websocat::spec::bad_url",
                    format!("port `{port_text}` is not a number from 0 to 65535"),
                    start,
                    port_text.len(),
                )
                .label("invalid port"));
            }
        }
    }
    let port = authority
        .port_u16()
        .unwrap_or(if secure { 443 } else { 80 });
    if authority.as_str().ends_with(':') {
        return Err(SpecProblem::new(
            "websocat::spec::bad_url",
            "URL has an empty port",
            scheme_len + authority.as_str().len() - 1,
            1,
        )
        .label("port missing after `:`"));
    }
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp_arg = if bare_host.contains(':') {
        format!("[{bare_host}]:{port}")
    } else {
        format!("{bare_host}:{port}")
    };
    // The host must also be valid for `tcp:` (brackets hold only IPv6 literals), so that the
    // lowered chain plans again as written.
    if let Err(p) = crate::spec::args::parse_host_port(&tcp_arg) {
        return Err(SpecProblem::new(
            "websocat::spec::bad_url",
            format!("URL host `{host}` is not valid: {}", p.message),
            scheme_len,
            host.len(),
        )
        .label("invalid host"));
    }
    let mut nodes = vec![PlanNode::new(registry::kind("ws-c"), "", origin).with_param("uri", url)];
    if secure {
        let Some(tls) = registry::lookup("tls-c") else {
            return Err(SpecProblem::new(
                "websocat::spec::no_tls",
                "wss:// needs TLS, which this build does not include yet",
                0,
                scheme_len,
            )
            .label("TLS not available"));
        };
        nodes.push(PlanNode::new(tls, "", origin).with_param("domain", bare_host));
    }
    nodes.push(PlanNode::new(registry::kind("tcp"), tcp_arg, origin));
    Ok(nodes)
}

struct WsClient {
    request: ClientRequest,
    settings: WsSettings,
}

/// Splits `Name: value` at the first colon; one space after the colon is dropped.
fn header_pair(raw: &str) -> Result<(String, String), String> {
    let (name, value) = raw
        .split_once(':')
        .ok_or_else(|| format!("header `{raw}` must contain `:` (write `Name: value`)"))?;
    let value = value.strip_prefix(' ').unwrap_or(value);
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("`{name}` is not a valid header name"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(format!("header `{name}` has a line break in its value"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Parses repeated `Name: value` parameters into header pairs.
pub fn header_pairs<'a>(
    raw: impl Iterator<Item = &'a str>,
) -> Result<Vec<(String, String)>, String> {
    raw.map(header_pair).collect()
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
        request: ClientRequest { uri, headers },
        settings,
    }))
}

impl ConnLayer for WsClient {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let request = self.request.clone();
        let settings = self.settings.clone();
        Box::pin(async move {
            let Conn::Bytes(mut stream) = inner else {
                return Err(shape_error("ws-c", "a byte stream", &inner));
            };
            let leftover = handshake::connect(&mut stream, &request)
                .await
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("WebSocket handshake with {}: {e}", request.uri),
                    )
                })?;
            let ws = WsMessages::new(stream, leftover, WsRole::Client, settings);
            Ok((Conn::Messages(Box::new(ws)), info))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lowered(url: &str) -> Vec<String> {
        lower_url(url, Origin::Inserted)
            .map(|v| {
                v.iter()
                    .map(|n| {
                        format!(
                            "{}{}",
                            n.display_element(),
                            if n.arg.is_empty() {
                                String::new()
                            } else {
                                format!(":{}", n.arg)
                            }
                        )
                    })
                    .collect()
            })
            .unwrap_or_else(|e| vec![e.message])
    }

    #[test]
    fn url_default_port_and_ipv6() {
        assert_eq!(
            lowered("ws://example.com/x"),
            vec!["ws-c[uri=ws://example.com/x]", "tcp:example.com:80"]
        );
        assert_eq!(
            lowered("ws://[::1]:8080/"),
            vec!["ws-c[uri=\"ws://[::1]:8080/\"]", "tcp:[::1]:8080"]
        );
    }

    #[test]
    fn url_port_out_of_range_is_an_error() {
        assert_eq!(
            lowered("ws://h:99999/x"),
            vec!["port `99999` is not a number from 0 to 65535"]
        );
        assert_eq!(
            lowered("ws://[::1]/x"),
            vec!["ws-c[uri=\"ws://[::1]/x\"]", "tcp:[::1]:80"]
        );
    }

    #[test]
    fn url_without_host_is_an_error() {
        assert_eq!(
            lowered("ws:///x"),
            vec!["bad URL `ws:///x`: invalid format"]
        );
    }

    #[test]
    fn header_needs_a_colon() {
        assert!(header_pair("X-A: b").is_ok());
        assert!(header_pair("nocolon").is_err());
    }
}
