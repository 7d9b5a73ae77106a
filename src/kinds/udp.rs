//! `udp:` (a connected UDP socket) and `udp-l:` (a bound UDP socket replying to the most
//! recent sender). Both are message leaves: one datagram is one message, boundaries kept, and
//! an empty datagram is an empty message.
//!
//! As in websocat 1.x, `udp-l:` is not a multi-connection listener: the whole socket lifetime
//! is one connection, so it binds when that connection is opened.

use super::support::dgram::{binary_messages, datagram_conn, Datagrams, TYPE_PARAM};
use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, Connect};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape};
use crate::spec::args::{parse_host_port, parse_listen_addr, HostPort};
use futures::future::BoxFuture;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::watch;

const BROADCAST_PARAM: ParamDef = ParamDef {
    name: "broadcast",
    ty: ParamType::Bool,
    flag: Some("--udp-broadcast"),
    help: "allow sending to broadcast addresses (SO_BROADCAST)",
};
const TTL_PARAM: ParamDef = ParamDef {
    name: "ttl",
    ty: ParamType::Uint,
    flag: Some("--udp-ttl"),
    help: "IP time-to-live of sent datagrams (also the multicast TTL)",
};
const REUSEADDR_PARAM: ParamDef = ParamDef {
    name: "reuseaddr",
    ty: ParamType::Bool,
    flag: Some("--udp-reuseaddr"),
    help: "set SO_REUSEADDR before binding",
};
const MULTICAST_PARAM: ParamDef = ParamDef {
    name: "multicast",
    ty: ParamType::Repeated,
    flag: Some("--udp-multicast"),
    help: "join this multicast group (repeatable), on the default interface",
};
const MULTICAST_LOOP_PARAM: ParamDef = ParamDef {
    name: "multicast-loop",
    ty: ParamType::Bool,
    flag: Some("--udp-multicast-loop"),
    help: "receive our own multicast datagrams (IP_MULTICAST_LOOP)",
};
const MULTICAST_IFACE_V4_PARAM: ParamDef = ParamDef {
    name: "multicast-iface-v4",
    ty: ParamType::Repeated,
    flag: Some("--udp-multicast-iface-v4"),
    help: "IPv4 address of the interface for each IPv4 group, in order (repeatable)",
};
const MULTICAST_IFACE_V6_PARAM: ParamDef = ParamDef {
    name: "multicast-iface-v6",
    ty: ParamType::Repeated,
    flag: Some("--udp-multicast-iface-v6"),
    help: "interface index for each IPv6 group, in order (repeatable)",
};
const ONESHOT_PARAM: ParamDef = ParamDef {
    name: "oneshot",
    ty: ParamType::Bool,
    flag: Some("--udp-oneshot"),
    help: "send only one reply per received datagram, then wait for the next sender",
};
const ANNOUNCE_PARAM: ParamDef = ParamDef {
    name: "announce",
    ty: ParamType::Bool,
    flag: Some("--stdout-announce-listening-ports"),
    help: "print `LISTEN proto=udp,ip=…,port=…` on stdout once bound",
};

/// Registry entry for `udp:`.
pub const UDP_CONNECT: KindDef = KindDef {
    name: "udp",
    synonyms: &["udp-connect", "connect-udp", "udp-c", "c-udp"],
    role: Role::Leaf,
    shape: Shape::Messages,
    traits: &[],
    arg: ArgType::HostPort,
    params: &[
        TYPE_PARAM,
        BROADCAST_PARAM,
        TTL_PARAM,
        REUSEADDR_PARAM,
        MULTICAST_PARAM,
        MULTICAST_LOOP_PARAM,
        MULTICAST_IFACE_V4_PARAM,
        MULTICAST_IFACE_V6_PARAM,
    ],
    summary: "send and receive UDP datagrams to/from one address",
    help: "Binds an ephemeral port (0.0.0.0:0 or [::]:0, matching the target) and connects it to \
           HOST:PORT. Every message sent is one datagram; every datagram received from that \
           address is one message (text, or binary with -b). Datagrams have no end: use -u or \
           -E to finish a session when input ends.",
    examples: &[
        "websocat -u -b - udp:127.0.0.1:5353",
        "websocat -b ws-l:127.0.0.1:8080 udp:127.0.0.1:51820",
    ],
    build: Build::Connector(build_connect),
};

/// Registry entry for `udp-l:`.
pub const UDP_LISTEN: KindDef = KindDef {
    name: "udp-listen",
    synonyms: &["udp-l", "listen-udp", "l-udp"],
    role: Role::Leaf,
    shape: Shape::Messages,
    traits: &[],
    arg: ArgType::ListenAddr,
    params: &[
        TYPE_PARAM,
        ONESHOT_PARAM,
        BROADCAST_PARAM,
        TTL_PARAM,
        REUSEADDR_PARAM,
        MULTICAST_PARAM,
        MULTICAST_LOOP_PARAM,
        MULTICAST_IFACE_V4_PARAM,
        MULTICAST_IFACE_V6_PARAM,
        ANNOUNCE_PARAM,
    ],
    summary: "bind a UDP port; reply to whoever sent the last datagram",
    help: "Binds HOST:PORT (a bare PORT means 127.0.0.1). Every datagram received is one \
           message; messages sent go to the sender of the most recent datagram, and wait until \
           a first datagram has arrived. This is one single connection for the socket's whole \
           life, not a listener serving many clients. With --udp-oneshot each received \
           datagram allows one reply.",
    examples: &[
        "websocat -b udp-l:127.0.0.1:5000 mirror:",
        "websocat -b udp-l:127.0.0.1:5000 ws://127.0.0.1:8080/",
    ],
    build: Build::Connector(build_listen),
};

/// Socket options shared by both kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct UdpOptions {
    broadcast: bool,
    ttl: Option<u32>,
    reuseaddr: bool,
    multicast: Vec<IpAddr>,
    multicast_loop: bool,
    iface_v4: Vec<Ipv4Addr>,
    iface_v6: Vec<u32>,
}

impl UdpOptions {
    fn from_node(node: &PlanNode) -> Result<Self, String> {
        let ttl = match node.param_u64("ttl") {
            Some(t) => Some(u32::try_from(t).map_err(|_| format!("ttl {t} is too large"))?),
            None => None,
        };
        let multicast = node
            .params_all("multicast")
            .map(|g| {
                let ip: IpAddr = g
                    .parse()
                    .map_err(|_| format!("multicast group `{g}` is not an IP address"))?;
                if !ip.is_multicast() {
                    return Err(format!("`{g}` is not a multicast address"));
                }
                Ok(ip)
            })
            .collect::<Result<Vec<_>, String>>()?;
        let multicast_loop = node.param_bool("multicast-loop");
        if multicast_loop && multicast.is_empty() {
            return Err("multicast-loop (--udp-multicast-loop) needs --udp-multicast".into());
        }
        let iface_v4 = node
            .params_all("multicast-iface-v4")
            .map(|a| {
                a.parse::<Ipv4Addr>()
                    .map_err(|_| format!("multicast interface `{a}` is not an IPv4 address"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let iface_v6 = node
            .params_all("multicast-iface-v6")
            .map(|i| {
                i.parse::<u32>()
                    .map_err(|_| format!("multicast interface `{i}` is not an interface index"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let groups_v4 = multicast.iter().filter(|g| g.is_ipv4()).count();
        let groups_v6 = multicast.len() - groups_v4;
        if !iface_v4.is_empty() && iface_v4.len() != groups_v4 {
            return Err(format!(
                "{} --udp-multicast-iface-v4 given for {groups_v4} IPv4 groups: give one per group",
                iface_v4.len()
            ));
        }
        if !iface_v6.is_empty() && iface_v6.len() != groups_v6 {
            return Err(format!(
                "{} --udp-multicast-iface-v6 given for {groups_v6} IPv6 groups: give one per group",
                iface_v6.len()
            ));
        }
        Ok(UdpOptions {
            broadcast: node.param_bool("broadcast"),
            ttl,
            reuseaddr: node.param_bool("reuseaddr"),
            multicast,
            multicast_loop,
            iface_v4,
            iface_v6,
        })
    }

    /// Binds `addr` with these options.
    fn bind(&self, addr: SocketAddr) -> io::Result<UdpSocket> {
        use socket2::{Domain, Protocol, Socket, Type};
        let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if self.reuseaddr {
            sock.set_reuse_address(true)?;
        }
        sock.bind(&addr.into())
            .map_err(|e| io::Error::new(e.kind(), format!("binding UDP {addr}: {e}")))?;
        sock.set_nonblocking(true)?;
        let sock = UdpSocket::from_std(sock.into())?;
        if self.broadcast {
            sock.set_broadcast(true)?;
        }
        if let Some(ttl) = self.ttl {
            sock.set_ttl(ttl)?;
            if addr.is_ipv4() {
                sock.set_multicast_ttl_v4(ttl)?;
            }
        }
        let (mut nth_v4, mut nth_v6) = (0, 0);
        for group in &self.multicast {
            let joined = match group {
                IpAddr::V4(g) => {
                    let iface = self
                        .iface_v4
                        .get(nth_v4)
                        .copied()
                        .unwrap_or(Ipv4Addr::UNSPECIFIED);
                    nth_v4 += 1;
                    sock.join_multicast_v4(*g, iface)
                        .and_then(|()| sock.set_multicast_loop_v4(self.multicast_loop))
                }
                IpAddr::V6(g) => {
                    let iface = self.iface_v6.get(nth_v6).copied().unwrap_or(0);
                    nth_v6 += 1;
                    sock.join_multicast_v6(g, iface)
                        .and_then(|()| sock.set_multicast_loop_v6(self.multicast_loop))
                }
            };
            joined.map_err(|e| {
                io::Error::new(e.kind(), format!("joining multicast group {group}: {e}"))
            })?;
        }
        Ok(sock)
    }
}

fn build_connect(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(UdpConnect {
        target: parse_host_port(&node.arg).map_err(|p| p.message)?,
        opts: UdpOptions::from_node(node)?,
        binary: binary_messages(node)?,
    }))
}

fn build_listen(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(UdpListen {
        addr: parse_listen_addr(&node.arg).map_err(|p| p.message)?,
        opts: UdpOptions::from_node(node)?,
        binary: binary_messages(node)?,
        oneshot: node.param_bool("oneshot"),
        announce: node.param_bool("announce"),
    }))
}

/// Resolves a host and port to its first address.
async fn resolve(target: &HostPort) -> io::Result<SocketAddr> {
    let mut addrs = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("resolving {}: {e}", target.host)))?;
    addrs.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} resolved to no addresses", target.host),
        )
    })
}

/// True for errors a UDP socket reports because of an ICMP message about an earlier
/// datagram: they say nothing about this one, and UDP is lossy anyway.
fn is_icmp_echo(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ConnectionRefused
}

struct UdpConnect {
    target: HostPort,
    opts: UdpOptions,
    binary: bool,
}

struct ConnectedUdp(UdpSocket, SocketAddr);

impl Datagrams for ConnectedUdp {
    fn recv_one<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, io::Result<usize>> {
        Box::pin(async move {
            loop {
                match self.0.recv(buf).await {
                    Err(e) if is_icmp_echo(&e) => {
                        tracing::debug!("udp {}: {e}", self.1);
                    }
                    r => return r,
                }
            }
        })
    }
    fn send_one<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            match self.0.send(data).await {
                Err(e) if is_icmp_echo(&e) => {
                    tracing::debug!("udp {}: {e}", self.1);
                    Ok(())
                }
                Err(e) => Err(io::Error::new(
                    e.kind(),
                    format!("sending to {}: {e}", self.1),
                )),
                Ok(_) => Ok(()),
            }
        })
    }
}

impl Connect for UdpConnect {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let target = resolve(&self.target).await?;
            let local: SocketAddr = if target.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let sock = self.opts.bind(local)?;
            sock.connect(target)
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("{target}: {e}")))?;
            Ok(datagram_conn(
                Arc::new(ConnectedUdp(sock, target)),
                self.binary,
            ))
        })
    }
}

struct UdpListen {
    addr: HostPort,
    opts: UdpOptions,
    binary: bool,
    oneshot: bool,
    announce: bool,
}

/// A bound socket that replies to the most recent sender.
struct ReplyingUdp {
    sock: UdpSocket,
    peer: watch::Sender<Option<SocketAddr>>,
    oneshot: bool,
}

impl Datagrams for ReplyingUdp {
    fn recv_one<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, io::Result<usize>> {
        Box::pin(async move {
            loop {
                match self.sock.recv_from(buf).await {
                    Ok((n, from)) => {
                        self.peer.send_replace(Some(from));
                        return Ok(n);
                    }
                    Err(e) if is_icmp_echo(&e) => tracing::debug!("udp-l: {e}"),
                    Err(e) => return Err(e),
                }
            }
        })
    }
    fn send_one<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let mut rx = self.peer.subscribe();
            let to = match rx.wait_for(Option::is_some).await {
                Ok(p) => *p,
                Err(_) => None,
            };
            let Some(to) = to else {
                return Err(io::Error::other("udp-l: no sender to reply to"));
            };
            if self.oneshot {
                self.peer.send_replace(None);
            }
            match self.sock.send_to(data, to).await {
                Err(e) if is_icmp_echo(&e) => {
                    tracing::debug!("udp-l: sending to {to}: {e}");
                    Ok(())
                }
                Err(e) => Err(io::Error::new(e.kind(), format!("sending to {to}: {e}"))),
                Ok(_) => Ok(()),
            }
        })
    }
}

impl Connect for UdpListen {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let addr = resolve(&self.addr).await?;
            let sock = self.opts.bind(addr)?;
            let local = sock.local_addr()?;
            if self.announce {
                let mut out = io::stdout().lock();
                let _ = writeln!(
                    out,
                    "LISTEN proto=udp,ip={},port={}",
                    local.ip(),
                    local.port()
                );
                let _ = out.flush();
            }
            tracing::info!("listening on udp {local}");
            let (peer, _) = watch::channel(None);
            let sock = ReplyingUdp {
                sock,
                peer,
                oneshot: self.oneshot,
            };
            Ok(datagram_conn(Arc::new(sock), self.binary))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Message;
    use futures::{SinkExt, StreamExt};
    use std::time::Duration;

    fn listen(oneshot: bool) -> UdpListen {
        UdpListen {
            addr: HostPort {
                host: "127.0.0.1".into(),
                port: 0,
            },
            opts: UdpOptions::default(),
            binary: true,
            oneshot,
            announce: false,
        }
    }

    async fn bound_port() -> (UdpSocket, u16) {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let p = s.local_addr().unwrap().port();
        (s, p)
    }

    #[tokio::test]
    async fn connect_keeps_boundaries_and_empty_datagrams() {
        let (peer, port) = bound_port().await;
        let k = UdpConnect {
            target: HostPort {
                host: "127.0.0.1".into(),
                port,
            },
            opts: UdpOptions::default(),
            binary: false,
        };
        let Conn::Messages(mut m) = k.connect(&ConnInfo::default()).await.unwrap() else {
            panic!("expected messages");
        };
        m.send(Message::Text("ab".into())).await.unwrap();
        m.send(Message::Text("".into())).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = peer.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ab");
        let (n, _) = peer.recv_from(&mut buf).await.unwrap();
        assert_eq!(n, 0);
        peer.send_to(b"xyz", from).await.unwrap();
        peer.send_to(b"", from).await.unwrap();
        assert_eq!(
            m.next().await.unwrap().unwrap(),
            Message::Text("xyz".into())
        );
        assert_eq!(m.next().await.unwrap().unwrap(), Message::Text("".into()));
    }

    #[tokio::test]
    async fn refused_datagrams_do_not_end_the_connection() {
        let (peer, port) = bound_port().await;
        drop(peer);
        let k = UdpConnect {
            target: HostPort {
                host: "127.0.0.1".into(),
                port,
            },
            opts: UdpOptions::default(),
            binary: true,
        };
        let Conn::Messages(mut m) = k.connect(&ConnInfo::default()).await.unwrap() else {
            panic!("expected messages");
        };
        for _ in 0..3 {
            m.send(Message::Binary("x".into())).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let r = tokio::time::timeout(Duration::from_millis(100), m.next()).await;
        assert!(r.is_err(), "got {r:?}");
    }

    #[tokio::test]
    async fn listen_replies_to_the_latest_sender() {
        let k = listen(false);
        let addr = resolve(&k.addr).await.unwrap();
        assert_eq!(addr.port(), 0);
        // Bind by hand to learn the port: connect() binds, so use a known free port.
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let k = UdpListen {
            addr: HostPort {
                host: "127.0.0.1".into(),
                port,
            },
            ..k
        };
        let Conn::Messages(mut m) = k.connect(&ConnInfo::default()).await.unwrap() else {
            panic!("expected messages");
        };
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // A reply before any datagram waits.
        let early = tokio::time::timeout(
            Duration::from_millis(50),
            m.send(Message::Binary("r0".into())),
        )
        .await;
        assert!(early.is_err());
        a.send_to(b"from a", ("127.0.0.1", port)).await.unwrap();
        assert_eq!(
            m.next().await.unwrap().unwrap(),
            Message::Binary("from a".into())
        );
        m.send(Message::Binary("r1".into())).await.unwrap();
        let mut buf = [0u8; 16];
        let n = a.recv(&mut buf).await.unwrap();
        // The waiting "r0" went out first, then "r1".
        assert_eq!(&buf[..n], b"r0");
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"r1");
        b.send_to(b"from b", ("127.0.0.1", port)).await.unwrap();
        assert_eq!(
            m.next().await.unwrap().unwrap(),
            Message::Binary("from b".into())
        );
        m.send(Message::Binary("r2".into())).await.unwrap();
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"r2");
    }

    #[tokio::test]
    async fn oneshot_allows_one_reply_per_datagram() {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let k = UdpListen {
            addr: HostPort {
                host: "127.0.0.1".into(),
                port,
            },
            ..listen(true)
        };
        let Conn::Messages(mut m) = k.connect(&ConnInfo::default()).await.unwrap() else {
            panic!("expected messages");
        };
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.send_to(b"q", ("127.0.0.1", port)).await.unwrap();
        assert_eq!(
            m.next().await.unwrap().unwrap(),
            Message::Binary("q".into())
        );
        m.send(Message::Binary("r1".into())).await.unwrap();
        let mut buf = [0u8; 16];
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"r1");
        // A second reply waits for the next datagram.
        let second = tokio::time::timeout(
            Duration::from_millis(100),
            m.send(Message::Binary("r2".into())),
        )
        .await;
        assert!(second.is_err(), "a second reply went out");
    }

    #[test]
    fn options_are_checked() {
        let n = PlanNode::new(&UDP_CONNECT, "127.0.0.1:1", crate::plan::Origin::Inserted)
            .with_param("multicast", "10.0.0.1");
        assert!(UdpOptions::from_node(&n)
            .unwrap_err()
            .contains("not a multicast"));
        let n = PlanNode::new(&UDP_CONNECT, "127.0.0.1:1", crate::plan::Origin::Inserted)
            .with_param("multicast", "239.1.2.3")
            .with_param("ttl", "4");
        let o = UdpOptions::from_node(&n).unwrap();
        assert_eq!(o.ttl, Some(4));
        assert_eq!(o.multicast, vec!["239.1.2.3".parse::<IpAddr>().unwrap()]);
        let with_iface = PlanNode::new(&UDP_CONNECT, "127.0.0.1:1", crate::plan::Origin::Inserted)
            .with_param("multicast", "239.1.2.3")
            .with_param("multicast-iface-v4", "127.0.0.1");
        assert_eq!(
            UdpOptions::from_node(&with_iface).unwrap().iface_v4,
            vec![Ipv4Addr::LOCALHOST]
        );
        let mismatched = with_iface.with_param("multicast-iface-v4", "127.0.0.2");
        assert!(UdpOptions::from_node(&mismatched)
            .unwrap_err()
            .contains("one per group"));
    }
}
