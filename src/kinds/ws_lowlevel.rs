//! `ws-lowlevel-client:` and `ws-lowlevel-server:`: WebSocket framing over a byte stream with no
//! HTTP handshake (for streams where the handshake already happened or is not wanted).

use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, ConnLayer};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, Role, Shape};
use crate::ws::deflate::DeflateParams;
use crate::ws::frame::Role as WsRole;
use crate::ws::stream::{WsMessages, WsSettings, COMMON_PARAMS};
use bytes::BytesMut;
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;

/// Registry entry for `ws-lowlevel-client:`.
pub const WS_LL_CLIENT: KindDef = KindDef {
    name: "ws-lowlevel-client",
    synonyms: &["ws-ll-client", "ws-ll-c"],
    role: Role::Overlay,
    shape: Shape::BytesToMessages,
    traits: &[],
    arg: ArgType::None,
    params: &COMMON_PARAMS,
    summary: "WebSocket frames in the client role (masked), without a handshake",
    help: "Speaks WebSocket framing as a client (frames are masked) directly over the byte \
           stream under it, without the HTTP upgrade. Pairs with `ws-lowlevel-server:`.",
    examples: &["websocat - ws-ll-c:tcp:127.0.0.1:8080"],
    build: Build::Layer(build_client),
};

/// Registry entry for `ws-lowlevel-server:`.
pub const WS_LL_SERVER: KindDef = KindDef {
    name: "ws-lowlevel-server",
    synonyms: &["ws-ll-server", "ws-ll-s"],
    role: Role::Overlay,
    shape: Shape::BytesToMessages,
    traits: &[],
    arg: ArgType::None,
    params: &COMMON_PARAMS,
    summary: "WebSocket frames in the server role, without a handshake",
    help: "Speaks WebSocket framing as a server (expects masked frames, sends unmasked ones) \
           directly over the byte stream under it, without the HTTP upgrade.",
    examples: &["websocat ws-ll-s:tcp-l:127.0.0.1:8080 mirror:"],
    build: Build::Layer(build_server),
};

struct LowLevel {
    role: WsRole,
    settings: WsSettings,
}

fn build_client(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    Ok(Arc::new(LowLevel {
        role: WsRole::Client,
        settings: WsSettings::from_node(node)?,
    }))
}

fn build_server(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    Ok(Arc::new(LowLevel {
        role: WsRole::Server,
        settings: WsSettings::from_node(node)?,
    }))
}

impl ConnLayer for LowLevel {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let role = self.role;
        let settings = self.settings.clone();
        Box::pin(async move {
            let kind = match role {
                WsRole::Client => &WS_LL_CLIENT,
                WsRole::Server => &WS_LL_SERVER,
            };
            let stream = inner.into_bytes_for(kind.name)?;
            // No handshake: both ends must be given the same permessage-deflate settings.
            let deflate = settings.deflate.as_ref().map(DeflateParams::assumed);
            let ws = WsMessages::new(stream, BytesMut::new(), role, settings).with_deflate(deflate);
            Ok((Conn::Messages(Box::new(ws)), info))
        })
    }
}
