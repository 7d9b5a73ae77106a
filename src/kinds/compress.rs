//! `compress:`: whole-message compression of binary messages (deflate, zlib or gzip), which
//! `--compress-*` / `--uncompress-*` put over each WebSocket, as websocat 1.x's options do.

use crate::exec::build::BuildCtx;
use crate::exec::conn::MessageStream;
use crate::exec::{Conn, ConnInfo, ConnLayer, Message};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Sink, Stream};
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// Largest message decompression may produce (websocat's default largest WebSocket
/// message): a small compressed message cannot make us allocate without bound.
pub const MAX_UNCOMPRESSED: u64 = crate::ws::stream::DEFAULT_MAX_MESSAGE as u64;

const fn switch(name: &'static str, flag: &'static str, help: &'static str) -> ParamDef {
    ParamDef {
        name,
        ty: ParamType::Bool,
        flag: Some(flag),
        help,
    }
}

/// Registry entry for `compress:`.
pub const COMPRESS: KindDef = KindDef {
    name: "compress",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::Preserve,
    traits: &[],
    arg: ArgType::None,
    params: &[
        switch(
            "deflate",
            "--compress-deflate",
            "compress binary messages written with raw deflate",
        ),
        switch(
            "zlib",
            "--compress-zlib",
            "compress binary messages written with zlib",
        ),
        switch(
            "gzip",
            "--compress-gzip",
            "compress binary messages written with gzip",
        ),
        switch(
            "undeflate",
            "--uncompress-deflate",
            "decompress binary messages read with raw deflate",
        ),
        switch(
            "unzlib",
            "--uncompress-zlib",
            "decompress binary messages read with zlib",
        ),
        switch(
            "ungzip",
            "--uncompress-gzip",
            "decompress binary messages read with gzip",
        ),
    ],
    summary: "compress binary messages written and/or decompress binary messages read",
    help: "Over a message connection (a WebSocket): each binary message written is compressed \
           as a whole with the method chosen by `deflate`, `zlib` or `gzip`; each binary \
           message read is decompressed with `undeflate`, `unzlib` or `ungzip`. Text messages \
           pass unchanged. A message that does not decompress is an error. The planner puts it \
           over each WebSocket when a `--compress-*` or `--uncompress-*` flag is given.",
    examples: &[
        "websocat -b --compress-zlib --uncompress-zlib - ws://127.0.0.1:8080/",
        "websocat -b 'compress[ungzip=true]:ws-c:tcp:127.0.0.1:8080' -",
    ],
    build: Build::Layer(build),
};

/// A whole-message compression format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Raw deflate (RFC 1951).
    Deflate,
    /// zlib (RFC 1950).
    Zlib,
    /// gzip (RFC 1952).
    Gzip,
}

impl Method {
    /// Compresses one message.
    pub fn compress(self, data: &[u8]) -> io::Result<Vec<u8>> {
        use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
        let level = flate2::Compression::default();
        let out = Vec::with_capacity(data.len() / 2 + 16);
        match self {
            Method::Deflate => {
                let mut e = DeflateEncoder::new(out, level);
                e.write_all(data)?;
                e.finish()
            }
            Method::Zlib => {
                let mut e = ZlibEncoder::new(out, level);
                e.write_all(data)?;
                e.finish()
            }
            Method::Gzip => {
                let mut e = GzEncoder::new(out, level);
                e.write_all(data)?;
                e.finish()
            }
        }
    }

    /// Decompresses one message, refusing results over `limit` bytes.
    pub fn decompress(self, data: &[u8], limit: u64) -> io::Result<Vec<u8>> {
        use flate2::read::{DeflateDecoder, GzDecoder, ZlibDecoder};
        let reader: Box<dyn Read + '_> = match self {
            Method::Deflate => Box::new(DeflateDecoder::new(data)),
            Method::Zlib => Box::new(ZlibDecoder::new(data)),
            Method::Gzip => Box::new(GzDecoder::new(data)),
        };
        let mut out = Vec::new();
        reader.take(limit + 1).read_to_end(&mut out).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a binary message does not decompress ({self:?}): {e}"),
            )
        })?;
        if out.len() as u64 > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a binary message decompresses to more than {limit} bytes"),
            ));
        }
        Ok(out)
    }
}

/// The one method chosen among three switches (`None` when none is on).
fn chosen(node: &PlanNode, names: [&str; 3]) -> Result<Option<Method>, String> {
    let on: Vec<Method> = names
        .iter()
        .zip([Method::Deflate, Method::Zlib, Method::Gzip])
        .filter(|(n, _)| node.param_bool(n))
        .map(|(_, m)| m)
        .collect();
    match on.as_slice() {
        [] => Ok(None),
        [m] => Ok(Some(*m)),
        _ => Err(format!("choose one of {} only", names.join(", "))),
    }
}

#[derive(Debug, Clone, Copy)]
struct CompressLayer {
    outgoing: Option<Method>,
    incoming: Option<Method>,
}

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    Ok(Arc::new(CompressLayer {
        outgoing: chosen(node, ["deflate", "zlib", "gzip"])?,
        incoming: chosen(node, ["undeflate", "unzlib", "ungzip"])?,
    }))
}

impl ConnLayer for CompressLayer {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let cfg = *self;
        Box::pin(async move {
            let inner = inner.into_messages_for(COMPRESS.name)?;
            Ok((Conn::Messages(Box::new(Compressed { inner, cfg })), info))
        })
    }
}

/// A message stream whose binary messages are compressed on the way in and decompressed
/// on the way out.
struct Compressed {
    inner: Box<dyn MessageStream>,
    cfg: CompressLayer,
}

impl Stream for Compressed {
    type Item = io::Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = ready!(Pin::new(&mut self.inner).poll_next(cx));
        Poll::Ready(match (item, self.cfg.incoming) {
            (Some(Ok(Message::Binary(b))), Some(m)) => Some(
                m.decompress(&b, MAX_UNCOMPRESSED)
                    .map(|v| Message::Binary(Bytes::from(v))),
            ),
            (other, _) => other,
        })
    }
}

impl Sink<Message> for Compressed {
    type Error = io::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> io::Result<()> {
        let item = match (item, self.cfg.outgoing) {
            (Message::Binary(b), Some(m)) => Message::Binary(Bytes::from(m.compress(&b)?)),
            (other, _) => other,
        };
        Pin::new(&mut self.inner).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl MessageStream for Compressed {
    fn peer_close(&self) -> Option<Arc<crate::exec::conn::PeerClose>> {
        self.inner.peer_close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_round_trips_and_differs() {
        let data: Vec<u8> = b"hello hello hello hello ".repeat(50);
        let mut outputs = Vec::new();
        for m in [Method::Deflate, Method::Zlib, Method::Gzip] {
            let c = m.compress(&data).unwrap();
            assert!(c.len() < data.len(), "{m:?} did not compress");
            assert_eq!(m.decompress(&c, 1 << 20).unwrap(), data, "{m:?}");
            outputs.push(c);
        }
        assert_ne!(outputs[0], outputs[1]);
        assert_ne!(outputs[1], outputs[2]);
        // zlib starts with 0x78, gzip with 1f 8b.
        assert_eq!(outputs[1][0], 0x78);
        assert_eq!(&outputs[2][..2], &[0x1f, 0x8b]);
    }

    #[test]
    fn decompression_is_bounded_and_checked() {
        let big = vec![0u8; 100_000];
        let c = Method::Zlib.compress(&big).unwrap();
        let e = Method::Zlib.decompress(&c, 1000).unwrap_err();
        assert!(e.to_string().contains("more than 1000"), "{e}");
        let e = Method::Gzip.decompress(b"not gzip", 1000).unwrap_err();
        assert!(e.to_string().contains("does not decompress"), "{e}");
    }
}
