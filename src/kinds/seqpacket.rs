//! `seqpacket:` / `seqpacket-l:`: Linux `SOCK_SEQPACKET` unix sockets. Each packet is one
//! message with its boundaries kept; an empty packet is an empty message, and only the peer's
//! shutdown is end of stream. The argument is a filesystem path, or `@name` for a name in the
//! Linux abstract namespace.
//!
//! A zero-length `recv` is ambiguous on these sockets (an empty packet, or the peer's
//! shutdown). Sockets are switched to `SO_PASSCRED`: the kernel then attaches credentials to
//! every packet it really delivers, and none at end of stream, which tells the two apart.

use super::support::dgram::{binary_messages, TYPE_PARAM};
use super::unix::UNLINK_PARAM;
use crate::exec::build::BuildCtx;
use crate::exec::conn::{BindHints, BoundAddr, MessagePair, Peer};
use crate::exec::{Accept, Conn, ConnInfo, Connect, Listen, Message};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, Role, Shape};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, Sink, StreamExt};
use socket2::{Domain, SockAddr, Socket, Type};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::unix::AsyncFd;

/// Listen backlog, as websocat 1.x.
const BACKLOG: i32 = 50;

/// Registry entry for `seqpacket:`.
pub const SEQPACKET_CONNECT: KindDef = KindDef {
    name: "seqpacket",
    synonyms: &[
        "seqpacket-connect",
        "connect-seqpacket",
        "seqpacket-c",
        "c-seqpacket",
    ],
    role: Role::Leaf,
    shape: Shape::Messages,
    traits: &[],
    arg: ArgType::Path,
    params: &[TYPE_PARAM],
    summary: "connect to a unix SOCK_SEQPACKET socket (Linux); one packet = one message",
    help: "Connects to the AF_UNIX SOCK_SEQPACKET socket at PATH (`@NAME` means NAME in the \
           Linux abstract namespace). Every packet is one message, boundaries kept; an empty \
           packet is an empty message, and the peer's shutdown ends the stream. Received \
           packets become text messages, or binary ones with -b (parameter `type`). Linux only.",
    examples: &[
        "websocat - seqpacket:/run/app.seqpacket",
        "websocat -b ws-l:127.0.0.1:8080 seqpacket:@my-service",
    ],
    build: Build::Connector(build_connect),
};

/// Registry entry for `seqpacket-l:`.
pub const SEQPACKET_LISTEN: KindDef = KindDef {
    name: "seqpacket-listen",
    synonyms: &["listen-seqpacket", "seqpacket-l", "l-seqpacket"],
    role: Role::Listener,
    shape: Shape::Messages,
    traits: &[],
    arg: ArgType::Path,
    params: &[UNLINK_PARAM, TYPE_PARAM],
    summary: "listen on a unix SOCK_SEQPACKET socket (Linux); one packet = one message",
    help: "Binds an AF_UNIX SOCK_SEQPACKET socket at PATH (`@NAME`: abstract namespace) and \
           serves every incoming connection, each with its own connection on the other side. \
           Every packet is one message, boundaries kept. If the path already exists binding \
           fails, unless `--unlink` (parameter `unlink=true`) removes it first. Received \
           packets become text messages, or binary ones with -b (parameter `type`). Linux only.",
    examples: &[
        "websocat --unlink seqpacket-l:/tmp/echo.seqpacket mirror:",
        "websocat -b seqpacket-l:@relay ws://127.0.0.1:8080/",
    ],
    build: Build::Listener(build_listen),
};

/// Where a seqpacket socket lives, and how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeqAddr {
    /// The argument as written (`/path` or `@name`).
    written: String,
    /// The socket address.
    addr: SockAddrBytes,
}

/// A path, or an abstract name (without the leading NUL).
#[derive(Debug, Clone, PartialEq, Eq)]
enum SockAddrBytes {
    Path(std::path::PathBuf),
    Abstract(Vec<u8>),
}

impl SeqAddr {
    fn parse(arg: &str) -> Result<SeqAddr, String> {
        let addr = match arg.strip_prefix('@') {
            Some("") => return Err("`@` must be followed by an abstract socket name".into()),
            Some(name) => SockAddrBytes::Abstract(name.as_bytes().to_vec()),
            None if arg.is_empty() => return Err("missing the socket path".into()),
            None => SockAddrBytes::Path(arg.into()),
        };
        let a = SeqAddr {
            written: arg.to_string(),
            addr,
        };
        a.sockaddr()?;
        Ok(a)
    }

    fn sockaddr(&self) -> Result<SockAddr, String> {
        let r = match &self.addr {
            SockAddrBytes::Path(p) => SockAddr::unix(p),
            SockAddrBytes::Abstract(n) => {
                use std::os::unix::ffi::OsStrExt;
                let mut raw = vec![0u8];
                raw.extend_from_slice(n);
                SockAddr::unix(std::ffi::OsStr::from_bytes(&raw))
            }
        };
        r.map_err(|e| format!("seqpacket address `{}`: {e}", self.written))
    }

    fn err(&self, what: &str, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("{what} {}: {e}", self.written))
    }
}

fn build_connect(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(SeqConnect {
        addr: SeqAddr::parse(&node.arg)?,
        binary: binary_messages(node)?,
    }))
}

fn build_listen(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Listen>, String> {
    Ok(Arc::new(SeqListen {
        addr: SeqAddr::parse(&node.arg)?,
        unlink: node.param_bool("unlink"),
        binary: binary_messages(node)?,
    }))
}

/// Registers a non-blocking socket with the runtime.
fn register(s: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: the `Socket` owns its descriptor, keeps it open until the `AsyncFd` drops it,
    // and always returns the same one from `as_raw_fd`.
    unsafe { AsyncFd::register(s) }.map_err(io::Error::from)
}

fn new_socket() -> io::Result<Socket> {
    Socket::new(Domain::UNIX, Type::from(libc::SOCK_SEQPACKET), None)
}

/// Turns on `SO_PASSCRED`, which is how an empty packet is told from end of stream.
fn set_passcred(s: &Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `on`, a live local.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A connected seqpacket socket driven by the runtime.
struct SeqSocket {
    fd: AsyncFd<Socket>,
}

impl SeqSocket {
    fn new(s: Socket) -> io::Result<SeqSocket> {
        s.set_nonblocking(true)?;
        set_passcred(&s)?;
        Ok(SeqSocket { fd: register(s)? })
    }

    /// Length of the next packet, or `None` at end of stream (without consuming anything).
    fn peek_len(s: &Socket) -> io::Result<Option<usize>> {
        let mut control = [MaybeUninit::<u8>::uninit(); 128];
        let mut msg = socket2::MsgHdrMut::new().with_control(&mut control);
        let n = s.recvmsg(&mut msg, libc::MSG_PEEK | libc::MSG_TRUNC)?;
        if n == 0 && msg.control_len() == 0 {
            return Ok(None);
        }
        Ok(Some(n))
    }

    /// Receives one packet; `None` once the peer shut down its side.
    async fn recv_packet(&self) -> io::Result<Option<Bytes>> {
        loop {
            let mut guard = self.fd.readable().await?;
            let r = guard.try_io(|s| {
                let Some(len) = Self::peek_len(s.get_ref())? else {
                    return Ok(None);
                };
                let mut buf = vec![MaybeUninit::<u8>::uninit(); len.max(1)];
                let n = s.get_ref().recv(&mut buf)?;
                if n != len {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a {len}-byte packet arrived as {n} bytes"),
                    ));
                }
                // SAFETY: recv initialised the first `n` bytes.
                let data: Vec<u8> = buf[..n]
                    .iter()
                    .map(|b| unsafe { b.assume_init() })
                    .collect();
                Ok(Some(Bytes::from(data)))
            });
            match r {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends one packet.
    async fn send_packet(&self, data: &[u8]) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|s| s.get_ref().send_with_flags(data, libc::MSG_NOSIGNAL)) {
                Ok(Ok(n)) if n == data.len() => return Ok(()),
                Ok(Ok(n)) => {
                    return Err(io::Error::other(format!(
                        "sent only {n} of {} bytes of a packet",
                        data.len()
                    )))
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    fn shutdown_write(&self) -> io::Result<()> {
        match self.fd.get_ref().shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }
}

/// The sending half: one packet in flight at a time; closing shuts the socket down for
/// writing, which the peer reads as end of stream.
struct SeqSink {
    sock: Arc<SeqSocket>,
    pending: Option<BoxFuture<'static, io::Result<()>>>,
}

impl SeqSink {
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(f) = self.pending.as_mut() {
            let r = std::task::ready!(f.poll_unpin(cx));
            self.pending = None;
            r?;
        }
        Poll::Ready(Ok(()))
    }
}

impl Sink<Message> for SeqSink {
    type Error = io::Error;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.drive(cx)
    }
    fn start_send(mut self: Pin<&mut Self>, item: Message) -> io::Result<()> {
        let sock = self.sock.clone();
        self.pending = Some(Box::pin(
            async move { sock.send_packet(item.payload()).await },
        ));
        Ok(())
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.drive(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drive(cx))?;
        Poll::Ready(self.sock.shutdown_write())
    }
}

/// Makes a message connection of a connected seqpacket socket.
fn seq_conn(s: Socket, binary: bool) -> io::Result<Conn> {
    let sock = Arc::new(SeqSocket::new(s)?);
    let stream = futures::stream::unfold(Some(sock.clone()), move |state| async move {
        let s = state?;
        match s.recv_packet().await {
            Ok(Some(b)) => {
                let m = if binary {
                    Message::Binary(b)
                } else {
                    Message::Text(b)
                };
                Some((Ok(m), Some(s)))
            }
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok(Conn::Messages(Box::new(MessagePair {
        stream: stream.boxed(),
        sink: SeqSink {
            sock,
            pending: None,
        },
    })))
}

struct SeqConnect {
    addr: SeqAddr,
    binary: bool,
}

impl Connect for SeqConnect {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let sa = self.addr.sockaddr().map_err(io::Error::other)?;
            // A unix connect blocks while the listener's backlog is full: keep it off the
            // runtime threads.
            let s = tokio::task::spawn_blocking(move || {
                let s = new_socket()?;
                s.connect(&sa)?;
                Ok::<_, io::Error>(s)
            })
            .await
            .map_err(io::Error::other)?
            .map_err(|e| self.addr.err("connecting to seqpacket socket", e))?;
            seq_conn(s, self.binary)
        })
    }
}

struct SeqListen {
    addr: SeqAddr,
    unlink: bool,
    binary: bool,
}

impl SeqListen {
    fn bind_now(&self) -> io::Result<Socket> {
        let sa = self.addr.sockaddr().map_err(io::Error::other)?;
        if let (true, SockAddrBytes::Path(p)) = (self.unlink, &self.addr.addr) {
            super::unix::remove_stale_socket(p)?;
        }
        let s = new_socket()?;
        s.bind(&sa).map_err(|e| {
            if e.kind() == io::ErrorKind::AddrInUse
                && matches!(self.addr.addr, SockAddrBytes::Path(_))
            {
                io::Error::new(
                    e.kind(),
                    format!(
                        "{}: the path already exists (perhaps a socket left by an earlier run); \
                         remove it, or pass --unlink to remove it before binding",
                        self.addr.written
                    ),
                )
            } else {
                self.addr.err("binding seqpacket socket", e)
            }
        })?;
        s.listen(BACKLOG)
            .map_err(|e| self.addr.err("listening on seqpacket socket", e))?;
        s.set_nonblocking(true)?;
        Ok(s)
    }
}

impl Listen for SeqListen {
    fn bind(
        &self,
        _hints: BindHints,
    ) -> BoxFuture<'_, io::Result<(Box<dyn Accept>, Vec<BoundAddr>)>> {
        Box::pin(async move {
            let s = self.bind_now()?;
            Ok((
                Box::new(SeqAccept {
                    fd: register(s)?,
                    binary: self.binary,
                }) as Box<dyn Accept>,
                vec![BoundAddr {
                    proto: "unix_seqpacket",
                    addr: format!("{:?}", self.addr.written),
                    ip_port: None,
                }],
            ))
        })
    }
}

struct SeqAccept {
    fd: AsyncFd<Socket>,
    binary: bool,
}

impl Accept for SeqAccept {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Conn, ConnInfo)>> {
        Box::pin(async move {
            loop {
                let mut guard = self.fd.readable().await?;
                match guard.try_io(|s| s.get_ref().accept()) {
                    Ok(Ok((s, peer))) => {
                        let info = ConnInfo {
                            peer: peer
                                .as_pathname()
                                .map(|p| Peer::Text(p.display().to_string())),
                            ..Default::default()
                        };
                        return Ok((seq_conn(s, self.binary)?, info));
                    }
                    Ok(Err(e)) => return Err(e),
                    Err(_would_block) => continue,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned_specs as planned;
    use futures::SinkExt;

    #[test]
    fn aliases_plan_as_websocat_1x() {
        for alias in [
            "seqpacket",
            "seqpacket-connect",
            "connect-seqpacket",
            "seqpacket-c",
            "c-seqpacket",
        ] {
            let (_, r) = planned(&["mirror:", &format!("{alias}:/tmp/a:b")]);
            assert_eq!(r, "seqpacket:/tmp/a:b");
        }
        for alias in [
            "seqpacket-listen",
            "listen-seqpacket",
            "seqpacket-l",
            "l-seqpacket",
        ] {
            let (l, _) = planned(&["-b", "--unlink", &format!("{alias}:@x"), "mirror:"]);
            assert_eq!(l, "seqpacket-listen[unlink=true,type=binary]:@x");
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            SeqAddr::parse("@name").unwrap().addr,
            SockAddrBytes::Abstract(b"name".to_vec())
        );
        assert_eq!(
            SeqAddr::parse("/a:b").unwrap().addr,
            SockAddrBytes::Path("/a:b".into())
        );
        assert!(SeqAddr::parse("@").is_err());
        assert!(SeqAddr::parse(&format!("/{}", "x".repeat(200))).is_err());
    }

    async fn pair(binary: bool) -> (Conn, Conn, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let addr = SeqAddr::parse(path.to_str().unwrap()).unwrap();
        let l = SeqListen {
            addr: addr.clone(),
            unlink: false,
            binary,
        };
        let (mut acc, bound) = l.bind(BindHints::default()).await.unwrap();
        assert_eq!(bound[0].proto, "unix_seqpacket");
        assert_eq!(bound[0].addr, format!("{:?}", path.to_str().unwrap()));
        let c = SeqConnect { addr, binary };
        let info = ConnInfo::default();
        let (c, a) = tokio::join!(c.connect(&info), acc.accept());
        (c.unwrap(), a.unwrap().0, dir)
    }

    #[tokio::test]
    async fn boundaries_and_empty_packets_survive_and_shutdown_is_eof() {
        let (Conn::Messages(mut c), Conn::Messages(mut s), _dir) = pair(false).await else {
            panic!("expected messages");
        };
        for m in ["one", "", "three"] {
            c.send(Message::Text(Bytes::from(m))).await.unwrap();
        }
        c.close().await.unwrap();
        let mut got = Vec::new();
        while let Some(m) = s.next().await {
            got.push(m.unwrap());
        }
        assert_eq!(
            got,
            vec![
                Message::Text("one".into()),
                Message::Text("".into()),
                Message::Text("three".into())
            ]
        );
        // The other direction still works after the half-close.
        s.send(Message::Binary(Bytes::from(vec![7u8; 100_000])))
            .await
            .unwrap();
        let big = c.next().await.unwrap().unwrap();
        assert_eq!(big, Message::Text(Bytes::from(vec![7u8; 100_000])));
    }

    #[tokio::test]
    async fn binary_type_and_abstract_names() {
        let name = format!("@websocat-seqpacket-test-{}", std::process::id());
        let addr = SeqAddr::parse(&name).unwrap();
        let l = SeqListen {
            addr: addr.clone(),
            unlink: false,
            binary: true,
        };
        let (mut acc, _) = l.bind(BindHints::default()).await.unwrap();
        assert!(!std::path::Path::new(&name).exists());
        let c = SeqConnect { addr, binary: true };
        let info = ConnInfo::default();
        let (c, a) = tokio::join!(c.connect(&info), acc.accept());
        let (Conn::Messages(mut c), Conn::Messages(mut s)) = (c.unwrap(), a.unwrap().0) else {
            panic!("expected messages");
        };
        c.send(Message::Text("x".into())).await.unwrap();
        assert_eq!(
            s.next().await.unwrap().unwrap(),
            Message::Binary("x".into())
        );
        drop(c);
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn existing_path_needs_unlink() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, b"").unwrap();
        let addr = SeqAddr::parse(path.to_str().unwrap()).unwrap();
        let l = SeqListen {
            addr: addr.clone(),
            unlink: false,
            binary: false,
        };
        let e = l
            .bind(BindHints::default())
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("--unlink") && e.contains(path.to_str().unwrap()),
            "{e}"
        );
        let l = SeqListen {
            addr,
            unlink: true,
            binary: false,
        };
        assert!(l.bind(BindHints::default()).await.is_ok());
    }

    #[tokio::test]
    async fn connecting_to_nothing_names_the_path() {
        let c = SeqConnect {
            addr: SeqAddr::parse("/nonexistent/websocat/seq").unwrap(),
            binary: false,
        };
        let e = c.connect(&ConnInfo::default()).await.err().unwrap();
        assert!(e.to_string().contains("/nonexistent/websocat/seq"), "{e}");
    }
}
