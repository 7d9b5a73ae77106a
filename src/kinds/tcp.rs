//! `tcp:` (connect, with happy eyeballs over every resolved address) and `tcp-l:` (listen).

use crate::exec::build::BuildCtx;
use crate::exec::conn::{BindHints, BoundAddr, Peer};
use crate::exec::{Accept, Conn, ConnInfo, Connect, Listen};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, Role, Shape};
use crate::spec::args::{parse_host_port, parse_listen_addr, HostPort};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Registry entry for `tcp:`.
pub const TCP_CONNECT: KindDef = KindDef {
    name: "tcp",
    synonyms: &["tcp-connect", "connect-tcp", "tcp-c", "c-tcp"],
    role: Role::Leaf,
    shape: Shape::Bytes,
    arg: ArgType::HostPort,
    params: &[],
    summary: "connect to a TCP address",
    help: "Connects to HOST:PORT. Hostnames are resolved when connecting and every address is \
           tried, IPv6 and IPv4 interleaved, a new attempt starting every 250 ms until one \
           succeeds (happy eyeballs). IPv6 literals go in brackets: `tcp:[::1]:22`.",
    examples: &[
        "websocat ws-l:127.0.0.1:8080 tcp:127.0.0.1:22",
        "websocat - tcp:[::1]:5000",
    ],
    build: Build::Connector(build_connect),
};

/// Registry entry for `tcp-l:`.
pub const TCP_LISTEN: KindDef = KindDef {
    name: "tcp-listen",
    synonyms: &["tcp-l", "listen-tcp", "l-tcp"],
    role: Role::Listener,
    shape: Shape::Bytes,
    arg: ArgType::ListenAddr,
    params: &[],
    summary: "listen for TCP connections",
    help: "Listens on HOST:PORT (a bare PORT means 127.0.0.1) and serves every incoming \
           connection, each with its own connection on the other side. Hostnames are resolved \
           when binding.",
    examples: &[
        "websocat tcp-l:127.0.0.1:9000 mirror:",
        "websocat -b tcp-l:127.0.0.1:4554 ws://127.0.0.1:8080/",
    ],
    build: Build::Listener(build_listen),
};

fn build_connect(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    let target = parse_host_port(&node.arg).map_err(|p| p.message)?;
    Ok(Arc::new(TcpConnect { target }))
}

fn build_listen(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Listen>, String> {
    let addr = parse_listen_addr(&node.arg).map_err(|p| p.message)?;
    Ok(Arc::new(TcpListen { addr }))
}

/// Connects to one host and port.
pub struct TcpConnect {
    /// Where to connect.
    pub target: HostPort,
}

impl Connect for TcpConnect {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let s = connect_tcp(&self.target).await?;
            Ok(Conn::Bytes(Box::new(s)))
        })
    }
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

/// Linux copies TCP_NODELAY from a listening socket to the sockets it accepts, so setting it
/// once on the listener saves a system call per connection.
const NODELAY_INHERITED: bool = cfg!(target_os = "linux");

struct TcpListen {
    addr: HostPort,
}

impl Listen for TcpListen {
    fn bind(&self, hints: BindHints) -> BoxFuture<'_, io::Result<crate::exec::conn::Bound>> {
        Box::pin(async move {
            let name = self.addr.to_addr_string();
            let listener = TcpListener::bind((self.addr.host.as_str(), self.addr.port))
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("{name}: {e}")))?;
            let local = listener.local_addr()?;
            if NODELAY_INHERITED {
                socket2::SockRef::from(&listener).set_tcp_nodelay(true)?;
            }
            if hints.peer_speaks_first {
                defer_accept(&listener);
            }
            let bound = vec![BoundAddr {
                proto: "tcp",
                addr: local.to_string(),
                ip_port: Some(local),
            }];
            Ok((Box::new(TcpAccept { listener }) as Box<dyn Accept>, bound))
        })
    }
}

/// Lets the kernel queue a connection for `accept` only once its first data has arrived (the
/// peer is known to speak first). A connection that stays silent is still accepted after about
/// a second, so nothing is lost; only the early wake-up is saved. Best effort: Linux only.
fn defer_accept(listener: &TcpListener) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let seconds: libc::c_int = 1;
        // SAFETY: a valid descriptor, and a pointer to a c_int with its exact size.
        let rc = unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                std::ptr::addr_of!(seconds).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            tracing::debug!("TCP_DEFER_ACCEPT: {}", io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = listener;
}

struct TcpAccept {
    listener: TcpListener,
}

impl Accept for TcpAccept {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Conn, ConnInfo)>> {
        Box::pin(async move {
            let (s, peer) = self.listener.accept().await?;
            if !NODELAY_INHERITED {
                let _ = s.set_nodelay(true);
            }
            let info = ConnInfo {
                peer: Some(Peer::Ip(peer)),
                ..Default::default()
            };
            Ok((Conn::Bytes(Box::new(s)), info))
        })
    }
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
