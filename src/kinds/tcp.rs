//! `tcp:` (connect, with happy eyeballs over every resolved address) and `tcp-l:` (listen).

use crate::exec::build::BuildCtx;
use crate::exec::conn::{BindHints, BoundAddr, Peer};
use crate::exec::{Accept, Conn, ConnInfo, Connect, Listen};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, Role, Shape};
use crate::spec::args::{parse_host_port, parse_listen_addr, HostPort};
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Registry entry for `tcp:`.
pub const TCP_CONNECT: KindDef = KindDef {
    name: "tcp",
    synonyms: &["tcp-connect", "connect-tcp", "tcp-c", "c-tcp"],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[],
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
    traits: &[],
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
            let s = crate::net::connect_tcp(&self.target).await?;
            Ok(Conn::Bytes(Box::new(s)))
        })
    }
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
