//! Fast paths for one transport that a layer above it may take: a layer finds the concrete
//! stream under it through [`ByteStream::as_any_mut`] and falls back to the ordinary
//! `AsyncWrite` path for any other stream. Kept outside `kinds/` so that the WebSocket protocol
//! ([`crate::ws`]) need not import a kind.

use crate::exec::ByteStream;
use bytes::BytesMut;
use std::io;
use std::task::{Context, Poll};

/// Writes `data`, the last bytes before our FIN, so that they leave in one segment with it:
/// on a TCP stream (Linux) they are sent with `MSG_MORE`, which holds them back until the
/// shutdown that must follow. Returns `Ready(Ok(false))`, having written nothing, for any other
/// stream; the caller then writes as usual. Used for the WebSocket Close that answers the
/// peer's: one packet less per connection for both ends.
pub fn poll_write_before_fin(
    stream: &mut dyn ByteStream,
    data: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<bool>> {
    #[cfg(target_os = "linux")]
    if let Some(tcp) = stream.as_any_mut().downcast_mut::<tokio::net::TcpStream>() {
        use bytes::Buf;
        while !data.is_empty() {
            std::task::ready!(tcp.poll_write_ready(cx))?;
            let sent = tcp.try_io(tokio::io::Interest::WRITABLE, || {
                socket2::SockRef::from(&*tcp)
                    .send_with_flags(data, libc::MSG_MORE | libc::MSG_NOSIGNAL)
            });
            match sent {
                Ok(n) => data.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        return Poll::Ready(Ok(true));
    }
    let _ = (stream, data, cx);
    Poll::Ready(Ok(false))
}
