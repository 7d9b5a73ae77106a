//! `lines:` and `chunks:`: the codecs the planner inserts where a byte stream meets messages
//! (text mode: one message per line; binary mode: one message per read).

use crate::exec::build::BuildCtx;
use crate::exec::codec::{framed, ChunkCodec, ChunkStream, LineCodec, MessageType};
use crate::exec::copy::DEFAULT_BUFFER;
use crate::exec::{Conn, ConnInfo, ConnLayer};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape};
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;

/// Longest line kept in one message by default; longer lines are split.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// Registry entry for `lines:`.
pub const LINES: KindDef = KindDef {
    name: "lines",
    synonyms: &["line2msg"],
    role: Role::Overlay,
    shape: Shape::BytesToMessages,
    traits: &[],
    arg: ArgType::None,
    params: &[
        ParamDef {
            name: "separator",
            ty: ParamType::Text,
            flag: None,
            help: "`newline` (default) or `nul` (what -0 sets)",
        },
        ParamDef {
            name: "strip",
            ty: ParamType::Bool,
            flag: None,
            help: "drop the newline (and a \\r before it) from messages (--linemode-strip-newlines); a NUL separator is always dropped",
        },
        ParamDef {
            name: "max",
            ty: ParamType::Uint,
            flag: None,
            help: "longest line in one message; longer lines are split (default 1 MiB)",
        },
    ],
    summary: "text mode codec: each line of the byte stream is one text message",
    help: "Reading: every line (up to and including its newline) becomes a text message; a last \
           line without newline is sent at EOF. Writing: each message becomes exactly one line: \
           a trailing newline (or CRLF) is dropped, inner newlines and carriage returns become \
           spaces, and one newline is appended. Inserted automatically in text mode, the \
           default, where a byte stream meets messages.",
    examples: &["websocat -b ws-l:127.0.0.1:8080 lines:tcp:127.0.0.1:5000"],
    build: Build::Layer(build_lines),
};

/// Registry entry for `chunks:`.
pub const CHUNKS: KindDef = KindDef {
    name: "chunks",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::BytesToMessages,
    traits: &[],
    arg: ArgType::None,
    params: &[
        ParamDef {
            name: "max",
            ty: ParamType::Uint,
            flag: None,
            help: "largest message in bytes (what -B sets; default 65536)",
        },
        ParamDef {
            name: "type",
            ty: ParamType::Text,
            flag: None,
            help: "`binary` (default) or `text`",
        },
        ParamDef {
            name: "empty-writes",
            ty: ParamType::Bool,
            flag: None,
            help: "write an empty message as an empty write instead of nothing (set by the \
                   planner over `exec:` with --exec-sighup-on-zero-msg)",
        },
    ],
    summary: "binary mode codec: each read of the byte stream is one message",
    help: "Reading: whatever one read returns (at most `max` bytes) becomes one message. Writing: \
           message payloads are written back to back. Inserted automatically with -b (binary \
           mode) or --no-line where a byte stream meets messages.",
    examples: &["websocat -b tcp-l:127.0.0.1:4554 ws://127.0.0.1:8080/"],
    build: Build::Layer(build_chunks),
};

#[derive(Clone)]
enum Codec {
    Lines(LineCodec),
    /// The codec, and whether empty messages become empty writes.
    Chunks(ChunkCodec, bool),
}

struct CodecLayer(Codec);

fn build_lines(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    let separator = match node.param("separator").unwrap_or("newline") {
        "newline" | "lf" => b'\n',
        "nul" | "zero" => 0,
        other => return Err(format!("separator `{other}` is not `newline` or `nul`")),
    };
    let max = node
        .param_u64("max")
        .map_or(DEFAULT_MAX_LINE, |v| v as usize);
    Ok(Arc::new(CodecLayer(Codec::Lines(LineCodec::new(
        separator,
        node.param_bool("strip"),
        max,
    )))))
}

fn build_chunks(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    let ty = match node.param("type").unwrap_or("binary") {
        "binary" => MessageType::Binary,
        "text" => MessageType::Text,
        other => return Err(format!("type `{other}` is not `binary` or `text`")),
    };
    let max = node.param_u64("max").map_or(DEFAULT_BUFFER, |v| v as usize);
    Ok(Arc::new(CodecLayer(Codec::Chunks(
        ChunkCodec {
            ty,
            max_length: max.max(1),
        },
        node.param_bool("empty-writes"),
    ))))
}

impl ConnLayer for CodecLayer {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let codec = self.0.clone();
        Box::pin(async move {
            let kind = match codec {
                Codec::Lines(_) => &LINES,
                Codec::Chunks(..) => &CHUNKS,
            };
            let io = inner.into_bytes_for(kind.name)?;
            let conn = match codec {
                Codec::Lines(c) => framed(io, c, 16 * 1024),
                Codec::Chunks(c, empty_writes) => Box::new(
                    ChunkStream::new(io, c.ty, c.max_length).with_empty_writes(empty_writes),
                ),
            };
            Ok((Conn::Messages(conn), info))
        })
    }
}
