//! `random:`: an endless source of random bytes; whatever is written is discarded.

use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, Connect};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, Role, Shape};
use futures::future::BoxFuture;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Registry entry for `random:`.
pub const RANDOM: KindDef = KindDef {
    name: "random",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[],
    arg: ArgType::None,
    params: &[],
    summary: "endless random bytes; input is discarded",
    help: "Every read fills the buffer with random bytes and never reaches end of stream; \
           anything written is discarded. Useful to load-test a peer, e.g. in binary mode each \
           read becomes one random binary message.",
    examples: &["websocat -b -u random: ws://127.0.0.1:8080/"],
    build: Build::Connector(build),
};

fn build(_node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(RandomSource))
}

struct RandomSource;

impl Connect for RandomSource {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async { Ok(Conn::Bytes(Box::new(RandomBytes))) })
    }
}

struct RandomBytes;

impl AsyncRead for RandomBytes {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let dst = buf.initialize_unfilled();
        rand::fill(dst);
        let n = dst.len();
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for RandomBytes {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn reads_are_full_and_differ() {
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        let mut r = RandomBytes;
        assert_eq!(r.read(&mut a).await.unwrap(), 64);
        assert_eq!(r.read(&mut b).await.unwrap(), 64);
        assert_ne!(a, b);
    }
}
