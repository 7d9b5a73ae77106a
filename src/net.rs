//! TCP plumbing that more than one kind uses, kept outside `kinds/` so that no kind (and not the
//! WebSocket protocol in [`crate::ws`]) imports another kind's transport:
//! - [`connect_tcp`]: resolve and connect with happy eyeballs (`tcp:`, `http:`);
//! - [`poll_write_before_fin`]: a fast path a layer may take for the last bytes it writes: it
//!   finds the concrete stream under it through [`ByteStream::as_any_mut`] and falls back to
//!   the ordinary `AsyncWrite` path for any other stream.

use crate::exec::ByteStream;
use crate::spec::args::HostPort;
use bytes::BytesMut;
use futures::stream::{FuturesUnordered, StreamExt};
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

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
    if let Some(tcp) = stream.as_any_mut().downcast_mut::<TcpStream>() {
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

/// Resolves and connects with staggered parallel attempts (RFC 8305, simplified).
pub async fn connect_tcp(target: &HostPort) -> io::Result<TcpStream> {
    let name = target.to_addr_string();
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("resolving {}: {e}", target.host)))?
        .collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} resolved to no addresses", target.host),
        ));
    }
    let tried = if addrs.len() > 1 {
        format!(" ({} addresses tried)", addrs.len())
    } else {
        String::new()
    };
    let ordered = interleave_families(addrs);
    let mut attempts = FuturesUnordered::new();
    let mut next = ordered.into_iter();
    let mut last_err: Option<io::Error> = None;
    if let Some(a) = next.next() {
        attempts.push(attempt(a));
    }
    loop {
        let stagger = tokio::time::sleep(Duration::from_millis(250));
        tokio::pin!(stagger);
        tokio::select! {
            r = attempts.next(), if !attempts.is_empty() => match r {
                Some(Ok(s)) => return Ok(s),
                Some(Err(e)) => {
                    last_err = Some(e);
                    if let Some(a) = next.next() { attempts.push(attempt(a)); }
                    else if attempts.is_empty() { break; }
                }
                None => break,
            },
            _ = &mut stagger, if next.len() > 0 => {
                if let Some(a) = next.next() { attempts.push(attempt(a)); }
            }
        }
        if attempts.is_empty() && next.len() == 0 {
            break;
        }
    }
    let e = last_err.unwrap_or_else(|| io::Error::other("no address worked"));
    Err(io::Error::new(e.kind(), format!("{name}{tried}: {e}")))
}

async fn attempt(a: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect(a).await?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

fn interleave_families(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_v6 = addrs.first().is_some_and(SocketAddr::is_ipv6);
    let (mut a, mut b): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|x| x.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(a.len() + b.len());
    a.reverse();
    b.reverse();
    while !a.is_empty() || !b.is_empty() {
        if let Some(x) = a.pop() {
            out.push(x);
        }
        if let Some(x) = b.pop() {
            out.push(x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_alternate_starting_with_the_first() {
        let v4: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let v6: SocketAddr = "[::1]:1".parse().unwrap();
        let v4b: SocketAddr = "127.0.0.2:1".parse().unwrap();
        assert_eq!(interleave_families(vec![v6, v4, v4b]), vec![v6, v4, v4b]);
        assert_eq!(interleave_families(vec![v4, v4b, v6]), vec![v4, v6, v4b]);
    }

    #[tokio::test]
    async fn refused_connection_names_the_address() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let e = connect_tcp(&HostPort {
            host: "127.0.0.1".into(),
            port,
        })
        .await
        .unwrap_err();
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    }
}
