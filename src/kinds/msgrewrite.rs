//! Message rewriting overlays: `jsonrpc:` (what `--jsonrpc` inserts) and `typeprefix:`
//! (what `--text-prefix`, `--binary-prefix`, `--base64` and `--base64-text` insert).

use super::transforms::{MapMessages, Tap};
use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, ConnLayer, Message};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape};
use base64::Engine;
use bytes::Bytes;
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;

/// Registry entry for `jsonrpc:`.
pub const JSONRPC: KindDef = KindDef {
    name: "jsonrpc",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::Preserve,
    traits: &[],
    arg: ArgType::None,
    params: &[ParamDef {
        name: "omit-jsonrpc",
        ty: ParamType::Bool,
        flag: Some("--jsonrpc-omit-jsonrpc"),
        help: "leave out the `\"jsonrpc\":\"2.0\",` member",
    }],
    summary: "turn `method params` lines read into JSON-RPC requests",
    help: "Each message read (each read, over a byte stream) is `METHOD PARAMS`: the first \
           word is the method, the rest the parameters (one trailing newline and carriage \
           return dropped), wrapped in `[...]` unless they already start with `[` or `{`. It \
           becomes `{\"jsonrpc\":\"2.0\",\"id\":N, \"method\":\"METHOD\", \"params\":PARAMS}` \
           plus a newline, ids counting from 1. Writes pass unchanged. `--jsonrpc` puts it \
           over the stdio side.",
    examples: &["websocat --jsonrpc ws://127.0.0.1:8080/"],
    build: Build::Layer(build_jsonrpc),
};

/// Registry entry for `typeprefix:`.
pub const TYPE_PREFIX: KindDef = KindDef {
    name: "typeprefix",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::Preserve,
    traits: &[],
    arg: ArgType::None,
    params: &[
        ParamDef {
            name: "text-prefix",
            ty: ParamType::Text,
            flag: Some("--text-prefix"),
            help: "put before text messages read; written data starting with it is sent as text",
        },
        ParamDef {
            name: "binary-prefix",
            ty: ParamType::Text,
            flag: Some("--binary-prefix"),
            help:
                "put before binary messages read; written data starting with it is sent as binary",
        },
        ParamDef {
            name: "base64",
            ty: ParamType::Bool,
            flag: Some("--base64"),
            help: "binary messages read become base64 lines; binary messages written are decoded",
        },
        ParamDef {
            name: "base64-text",
            ty: ParamType::Bool,
            flag: Some("--base64-text"),
            help: "the same for text messages",
        },
    ],
    summary: "mark message types with prefixes and carry binary data as base64",
    help: "Over a message connection (a WebSocket). Reading: a binary message gets \
           `binary-prefix` in front (and with `base64` its payload becomes base64 plus a \
           newline); a text message likewise with `text-prefix` and `base64-text`. Writing: \
           data starting with `text-prefix` is stripped of it and sent as text; data starting \
           with `binary-prefix` (checked second) as binary; then, when base64 applies to the \
           resulting type, one trailing newline and carriage return are dropped and the rest \
           is base64-decoded (sent unchanged, with an error logged, when that fails). The \
           planner puts it over the WebSocket when any of the flags is given.",
    examples: &["websocat --binary-prefix=B: --text-prefix=T: --base64 ws://127.0.0.1:8080/"],
    build: Build::Layer(build_prefix),
};

// ---------------------------------------------------------------- jsonrpc

/// Turns one `method params` text into a JSON-RPC request line.
pub fn jsonrpc_request(data: &[u8], id: u64, omit_version: bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(data);
    let (method, params) = match text.find([' ', '\t', '\n']) {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (&text[..], ""),
    };
    let params = params.strip_suffix('\n').unwrap_or(params);
    let params = params.strip_suffix('\r').unwrap_or(params);
    let params = if params.starts_with('[') || params.starts_with('{') {
        params.to_string()
    } else {
        format!("[{params}]")
    };
    let method = serde_json::Value::String(method.to_string()).to_string();
    let version = if omit_version {
        ""
    } else {
        "\"jsonrpc\":\"2.0\","
    };
    format!("{{{version}\"id\":{id}, \"method\":{method}, \"params\":{params}}}\n").into_bytes()
}

struct JsonRpc {
    omit: bool,
}

fn build_jsonrpc(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    Ok(Arc::new(JsonRpc {
        omit: node.param_bool("omit-jsonrpc"),
    }))
}

impl ConnLayer for JsonRpc {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let omit = self.omit;
        Box::pin(async move {
            let mut id = 0u64;
            let conn = match inner {
                Conn::Bytes(b) => Conn::Bytes(Box::new(Tap {
                    inner: b,
                    on_read: Box::new(move |d: &[u8]| {
                        id += 1;
                        (jsonrpc_request(d, id, omit), false)
                    }),
                    pending: Bytes::new(),
                    eof: false,
                    on_write: None,
                })),
                Conn::Messages(m) => Conn::Messages(Box::new(MapMessages {
                    inner: m,
                    on_read: Box::new(move |m: Message| {
                        id += 1;
                        Message::Text(Bytes::from(jsonrpc_request(m.payload(), id, omit)))
                    }),
                    on_write: Box::new(|m| m),
                })),
            };
            Ok((conn, info))
        })
    }
}

// ---------------------------------------------------------------- typeprefix

/// The settings of `typeprefix:`.
#[derive(Debug, Clone, Default)]
pub struct TypePrefix {
    /// Prefix of text messages.
    pub text_prefix: Option<Bytes>,
    /// Prefix of binary messages.
    pub binary_prefix: Option<Bytes>,
    /// Base64 for binary messages.
    pub base64: bool,
    /// Base64 for text messages.
    pub base64_text: bool,
}

impl TypePrefix {
    /// Rewrites a message read from the WebSocket.
    pub fn incoming(&self, m: Message) -> Message {
        let (prefix, b64, text) = match &m {
            Message::Text(_) => (&self.text_prefix, self.base64_text, true),
            Message::Binary(_) => (&self.binary_prefix, self.base64, false),
        };
        if prefix.is_none() && !b64 {
            return m;
        }
        let mut out = prefix.as_ref().map(|p| p.to_vec()).unwrap_or_default();
        if b64 {
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(m.payload())
                    .as_bytes(),
            );
            out.push(b'\n');
        } else {
            out.extend_from_slice(m.payload());
        }
        let out = Bytes::from(out);
        if text {
            Message::Text(out)
        } else {
            Message::Binary(out)
        }
    }

    /// Rewrites a message about to be written to the WebSocket.
    pub fn outgoing(&self, m: Message) -> Message {
        let mut text = matches!(m, Message::Text(_));
        let mut data = m.into_payload();
        if let Some(p) = self.text_prefix.as_ref().filter(|p| data.starts_with(p)) {
            data = data.slice(p.len()..);
            text = true;
        }
        if let Some(p) = self.binary_prefix.as_ref().filter(|p| data.starts_with(p)) {
            data = data.slice(p.len()..);
            text = false;
        }
        let b64 = if text { self.base64_text } else { self.base64 };
        if b64 {
            let mut trimmed: &[u8] = &data;
            trimmed = trimmed.strip_suffix(b"\n").unwrap_or(trimmed);
            trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
            match base64::engine::general_purpose::STANDARD.decode(trimmed) {
                Ok(d) => data = Bytes::from(d),
                Err(e) => tracing::error!("typeprefix: not valid base64, sending as is: {e}"),
            }
        }
        if text {
            Message::Text(data)
        } else {
            Message::Binary(data)
        }
    }
}

fn build_prefix(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    let bytes = |k: &str| {
        node.param(k)
            .filter(|v| !v.is_empty())
            .map(|v| Bytes::copy_from_slice(v.as_bytes()))
    };
    Ok(Arc::new(PrefixLayer(TypePrefix {
        text_prefix: bytes("text-prefix"),
        binary_prefix: bytes("binary-prefix"),
        base64: node.param_bool("base64"),
        base64_text: node.param_bool("base64-text"),
    })))
}

struct PrefixLayer(TypePrefix);

impl ConnLayer for PrefixLayer {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let cfg = self.0.clone();
        Box::pin(async move {
            let m = inner.into_messages_for(TYPE_PREFIX.name)?;
            let (a, b) = (cfg.clone(), cfg);
            Ok((
                Conn::Messages(Box::new(MapMessages {
                    inner: m,
                    on_read: Box::new(move |m| a.incoming(m)),
                    on_write: Box::new(move |m| b.outgoing(m)),
                })),
                info,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonrpc_format_matches_1x() {
        assert_eq!(
            jsonrpc_request(b"add 1, 2\n", 1, false),
            b"{\"jsonrpc\":\"2.0\",\"id\":1, \"method\":\"add\", \"params\":[1, 2]}\n"
        );
        assert_eq!(
            jsonrpc_request(b"ping\r\n", 7, true),
            b"{\"id\":7, \"method\":\"ping\\r\", \"params\":[]}\n"
        );
        assert_eq!(
            jsonrpc_request(b"set {\"a\":1}\r\n", 2, false),
            b"{\"jsonrpc\":\"2.0\",\"id\":2, \"method\":\"set\", \"params\":{\"a\":1}}\n"
        );
    }

    fn b(s: &'static [u8]) -> Bytes {
        Bytes::from_static(s)
    }

    #[test]
    fn prefixes_and_base64_as_in_1x() {
        let p = TypePrefix {
            text_prefix: Some(b(b"T:")),
            binary_prefix: Some(b(b"B:")),
            base64: true,
            base64_text: false,
        };
        assert_eq!(
            p.incoming(Message::Binary(b(b"xyz"))),
            Message::Binary(b(b"B:eHl6\n"))
        );
        assert_eq!(
            p.incoming(Message::Text(b(b"abc"))),
            Message::Text(b(b"T:abc"))
        );
        assert_eq!(
            p.outgoing(Message::Text(b(b"B:aGVsbG8=\n"))),
            Message::Binary(b(b"hello"))
        );
        assert_eq!(
            p.outgoing(Message::Text(b(b"T:hi\n"))),
            Message::Text(b(b"hi\n"))
        );
        // Not base64: sent unchanged.
        assert_eq!(
            p.outgoing(Message::Binary(b(b"B:%%%"))),
            Message::Binary(b(b"%%%"))
        );
    }
}
