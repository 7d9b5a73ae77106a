//! Unix domain sockets: `unix:` / `unix-l:` (stream sockets at a filesystem path),
//! `abstract:` / `abstract-l:` (Linux abstract namespace: a leading NUL byte, no file),
//! `unix-dgram:` / `abstract-dgram:` (datagram sockets, one message per datagram), and the
//! shorthands `l-ws-unix:` / `l-ws-abstract:` (WebSocket server over a unix listener).

use super::support::dgram::{binary_messages, datagram_conn, Datagrams, TYPE_PARAM};
use crate::exec::build::BuildCtx;
use crate::exec::conn::{BindHints, BoundAddr, Peer};
use crate::exec::{Accept, Conn, ConnInfo, Connect, Listen};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, Expansion, KindDef, ParamDef, ParamType, Role, Shape};
use futures::future::BoxFuture;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::{UnixDatagram, UnixListener, UnixStream};

/// The `unlink` parameter: remove whatever is at the path before binding (`--unlink`).
pub const UNLINK_PARAM: ParamDef = ParamDef {
    name: "unlink",
    ty: ParamType::Bool,
    flag: Some("--unlink"),
    help: "remove an existing file at the path before binding (--unlink)",
};

/// Registry entry for `unix:`.
pub const UNIX_CONNECT: KindDef = KindDef {
    name: "unix",
    synonyms: &["unix-connect", "connect-unix", "unix-c", "c-unix"],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[],
    arg: ArgType::Path,
    params: &[],
    summary: "connect to a unix stream socket at a path",
    help: "Connects to the AF_UNIX stream socket at PATH. Everything after `unix:` is the path, \
           colons included.",
    examples: &[
        "websocat - unix:/run/app.sock",
        "websocat ws-l:127.0.0.1:8080 unix:/var/run/docker.sock",
    ],
    build: Build::Connector(build_unix_connect),
};

/// Registry entry for `unix-l:`.
pub const UNIX_LISTEN: KindDef = KindDef {
    name: "unix-listen",
    synonyms: &["unix-l", "listen-unix", "l-unix"],
    role: Role::Listener,
    shape: Shape::Bytes,
    traits: &[],
    arg: ArgType::Path,
    params: &[UNLINK_PARAM, FROM_FD_PARAM],
    summary: "listen on a unix stream socket at a path",
    help: "Binds an AF_UNIX stream socket at PATH and serves every incoming connection, each with \
           its own connection on the other side. If the path already exists binding fails, \
           unless `--unlink` (parameter `unlink=true`) removes it first. The socket file is left \
           in place on exit. With `--accept-from-fd` (`from-fd=true`) the argument is the number \
           of an inherited listening socket instead, as systemd socket activation passes it.",
    examples: &[
        "websocat --unlink unix-l:/tmp/echo.sock mirror:",
        "websocat ws-l:unix-l:/run/ws.sock tcp:127.0.0.1:22",
    ],
    build: Build::Listener(build_unix_listen),
};

/// The `from-fd` parameter of `unix-l:` (systemd-style socket activation).
pub const FROM_FD_PARAM: ParamDef = ParamDef {
    name: "from-fd",
    ty: ParamType::Bool,
    flag: Some("--accept-from-fd"),
    help: "the argument is the number of an inherited, already listening socket (--accept-from-fd)",
};

/// Registry entry for `abstract:`.
pub const ABSTRACT_CONNECT: KindDef = KindDef {
    name: "abstract",
    synonyms: &[
        "abstract-connect",
        "connect-abstract",
        "abstract-c",
        "c-abstract",
    ],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[],
    arg: ArgType::Text,
    params: &[],
    summary: "connect to a Linux abstract-namespace unix socket",
    help: "Connects to the AF_UNIX stream socket named NAME in the Linux abstract namespace (the \
           address is a NUL byte followed by NAME; no file is involved). Linux only.",
    examples: &["websocat - abstract:my-service"],
    build: Build::Connector(build_abstract_connect),
};

/// Registry entry for `abstract-l:`.
pub const ABSTRACT_LISTEN: KindDef = KindDef {
    name: "abstract-listen",
    synonyms: &["abstract-l", "listen-abstract", "l-abstract"],
    role: Role::Listener,
    shape: Shape::Bytes,
    traits: &[],
    arg: ArgType::Text,
    params: &[],
    summary: "listen on a Linux abstract-namespace unix socket",
    help: "Binds the AF_UNIX stream socket named NAME in the Linux abstract namespace and serves \
           every incoming connection. Nothing is created on the filesystem and the name goes \
           away with the process. Linux only.",
    examples: &["websocat abstract-l:my-service mirror:"],
    build: Build::Listener(build_abstract_listen),
};

/// Registry entry for `unix-dgram:`.
pub const UNIX_DGRAM: KindDef = KindDef {
    name: "unix-dgram",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Messages,
    traits: &[],
    arg: ArgType::Text,
    params: &[UNLINK_PARAM, TYPE_PARAM],
    summary: "unix datagram socket: `unix-dgram:RECV_PATH:SEND_PATH`",
    help: "Binds an AF_UNIX datagram socket at RECV_PATH and sends to the socket at SEND_PATH \
           (the two paths are separated by the only colon of the argument). Each datagram is \
           one message. The socket at SEND_PATH must exist when connecting.",
    examples: &["websocat -b - unix-dgram:/tmp/me.sock:/tmp/peer.sock"],
    build: Build::Connector(build_unix_dgram),
};

/// Registry entry for `abstract-dgram:`.
pub const ABSTRACT_DGRAM: KindDef = KindDef {
    name: "abstract-dgram",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Messages,
    traits: &[],
    arg: ArgType::Text,
    params: &[TYPE_PARAM],
    summary: "Linux abstract-namespace datagram socket: `abstract-dgram:RECV:SEND`",
    help: "Like `unix-dgram:`, with both names in the Linux abstract namespace. (websocat 1.x \
           used filesystem paths here by mistake; these are real abstract names.) Linux only.",
    examples: &["websocat -b - abstract-dgram:me:peer"],
    build: Build::Connector(build_abstract_dgram),
};

/// Registry entry for `l-ws-unix:`.
pub const L_WS_UNIX: KindDef = KindDef {
    name: "l-ws-unix",
    synonyms: &[],
    role: Role::ListenerAlias,
    shape: Shape::Expands,
    traits: &[],
    arg: ArgType::Path,
    params: super::ws_server::WS_UPGRADE.params,
    summary: "WebSocket server on a unix socket: `ws-upgrade:unix-l:PATH`",
    help: "Shorthand for `ws-upgrade:unix-l:PATH` (also written `ws-l:unix-l:PATH`), e.g. behind \
           a reverse proxy that talks to a unix socket.",
    examples: &["websocat --unlink l-ws-unix:/tmp/ws.sock mirror:"],
    build: Build::Sugar(Expansion {
        overlays: &["ws-upgrade"],
        leaf: "unix-listen",
    }),
};

/// Registry entry for `l-ws-abstract:`.
pub const L_WS_ABSTRACT: KindDef = KindDef {
    name: "l-ws-abstract",
    synonyms: &[],
    role: Role::ListenerAlias,
    shape: Shape::Expands,
    traits: &[],
    arg: ArgType::Text,
    params: super::ws_server::WS_UPGRADE.params,
    summary: "WebSocket server on an abstract socket: `ws-upgrade:abstract-l:NAME`",
    help: "Shorthand for `ws-upgrade:abstract-l:NAME`. Linux only.",
    examples: &["websocat l-ws-abstract:ws-service mirror:"],
    build: Build::Sugar(Expansion {
        overlays: &["ws-upgrade"],
        leaf: "abstract-listen",
    }),
};

/// Where a unix socket lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnixAddr {
    /// A filesystem path.
    Path(PathBuf),
    /// A Linux abstract-namespace name (without the leading NUL byte).
    Abstract(Vec<u8>),
}

impl UnixAddr {
    /// The address for messages: the path, or `@name` for abstract names.
    pub fn describe(&self) -> String {
        match self {
            UnixAddr::Path(p) => p.display().to_string(),
            UnixAddr::Abstract(n) => format!("@{}", String::from_utf8_lossy(n)),
        }
    }

    /// The standard library's socket address.
    pub fn to_std(&self) -> io::Result<std::os::unix::net::SocketAddr> {
        match self {
            UnixAddr::Path(p) => std::os::unix::net::SocketAddr::from_pathname(p),
            UnixAddr::Abstract(n) => abstract_addr(n),
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &[u8]) -> io::Result<std::os::unix::net::SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_name: &[u8]) -> io::Result<std::os::unix::net::SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract unix socket names exist only on Linux",
    ))
}

fn abstract_name(arg: &str) -> Result<UnixAddr, String> {
    if arg.is_empty() {
        return Err("missing the abstract socket name".into());
    }
    let addr = UnixAddr::Abstract(arg.as_bytes().to_vec());
    addr.to_std()
        .map_err(|e| format!("abstract name `{arg}`: {e}"))?;
    Ok(addr)
}

/// Adds the address to an I/O error, keeping its kind.
fn with_addr(addr: &UnixAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", addr.describe()))
}

fn build_unix_connect(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(UnixConnect {
        addr: UnixAddr::Path(PathBuf::from(&node.arg)),
    }))
}

fn build_abstract_connect(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(UnixConnect {
        addr: abstract_name(&node.arg)?,
    }))
}

fn build_unix_listen(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Listen>, String> {
    if node.param_bool("from-fd") {
        let fd: i32 = node.arg.trim().parse().map_err(|_| {
            format!(
                "with --accept-from-fd the argument must be a file descriptor number, not `{}`",
                node.arg
            )
        })?;
        return Ok(Arc::new(InheritedUnixListen {
            fd: std::sync::Mutex::new(Some(fd)),
        }));
    }
    Ok(Arc::new(UnixListen {
        addr: UnixAddr::Path(PathBuf::from(&node.arg)),
        unlink: node.param_bool("unlink"),
    }))
}

/// A unix listener inherited as a file descriptor (`--accept-from-fd`); usable once.
struct InheritedUnixListen {
    fd: std::sync::Mutex<Option<i32>>,
}

/// Takes ownership of an inherited descriptor after checking that it is a listening socket.
fn adopt_listening_fd(fd: i32) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::fd::FromRawFd;
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt only writes `len` bytes into `kind`; a bad fd gives an error.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut kind as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("file descriptor {fd} is not a socket (--accept-from-fd): {e}"),
        ));
    }
    if kind == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("file descriptor {fd} is a socket that is not listening (--accept-from-fd)"),
        ));
    }
    // SAFETY: the descriptor was checked to be an open listening socket, and `fd` is taken out
    // of the Mutex so it is adopted at most once.
    let listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
    listener.set_nonblocking(true)?;
    Ok(listener)
}

impl Listen for InheritedUnixListen {
    fn bind(
        &self,
        _hints: BindHints,
    ) -> BoxFuture<'_, io::Result<(Box<dyn Accept>, Vec<BoundAddr>)>> {
        Box::pin(async move {
            let fd = self
                .fd
                .lock()
                .ok()
                .and_then(|mut f| f.take())
                .ok_or_else(|| {
                    io::Error::other("the inherited listening socket was already used")
                })?;
            let std_listener = adopt_listening_fd(fd)?;
            let name = std_listener
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                .unwrap_or_else(|| format!("fd {fd}"));
            let listener = UnixListener::from_std(std_listener)?;
            Ok((
                Box::new(UnixAccept { listener }) as Box<dyn Accept>,
                vec![BoundAddr {
                    proto: "unix",
                    addr: name,
                    ip_port: None,
                }],
            ))
        })
    }
}

fn build_abstract_listen(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Listen>, String> {
    Ok(Arc::new(UnixListen {
        addr: abstract_name(&node.arg)?,
        unlink: false,
    }))
}

/// Splits `RECV:SEND` at its only colon.
fn split_pair(arg: &str) -> Result<(&str, &str), String> {
    let mut parts = arg.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => Ok((a, b)),
        _ => Err(format!(
            "expected `RECV:SEND` (two non-empty addresses separated by exactly one colon), got `{arg}`"
        )),
    }
}

fn build_unix_dgram(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    let (a, b) = split_pair(&node.arg)?;
    Ok(Arc::new(UnixDgramConnect {
        bind: UnixAddr::Path(a.into()),
        peer: UnixAddr::Path(b.into()),
        unlink: node.param_bool("unlink"),
        binary: binary_messages(node)?,
    }))
}

fn build_abstract_dgram(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    let (a, b) = split_pair(&node.arg)?;
    Ok(Arc::new(UnixDgramConnect {
        bind: abstract_name(a)?,
        peer: abstract_name(b)?,
        unlink: false,
        binary: binary_messages(node)?,
    }))
}

/// Opens a stream connection to a unix socket.
pub async fn connect_unix(addr: &UnixAddr) -> io::Result<UnixStream> {
    match addr {
        UnixAddr::Path(p) => UnixStream::connect(p).await.map_err(|e| with_addr(addr, e)),
        UnixAddr::Abstract(_) => {
            let sa = addr.to_std()?;
            // A unix connect can block when the listener's backlog is full: keep it off the
            // runtime threads.
            let std = tokio::task::spawn_blocking(move || {
                let s = std::os::unix::net::UnixStream::connect_addr(&sa)?;
                s.set_nonblocking(true)?;
                Ok::<_, io::Error>(s)
            })
            .await
            .map_err(io::Error::other)?
            .map_err(|e| with_addr(addr, e))?;
            UnixStream::from_std(std)
        }
    }
}

struct UnixConnect {
    addr: UnixAddr,
}

impl Connect for UnixConnect {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let s = connect_unix(&self.addr).await?;
            Ok(Conn::Bytes(Box::new(s)))
        })
    }
}

struct UnixListen {
    addr: UnixAddr,
    unlink: bool,
}

/// `--unlink`: removes whatever is at a socket path before binding; nothing there is fine.
pub fn remove_stale_socket(p: &std::path::Path) -> io::Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("removing {} before binding (--unlink): {e}", p.display()),
        )),
    }
}

/// Binds a unix stream listener; with `unlink`, a file already at the path is removed first.
pub fn bind_unix_listener(addr: &UnixAddr, unlink: bool) -> io::Result<UnixListener> {
    match addr {
        UnixAddr::Path(p) => {
            if unlink {
                remove_stale_socket(p)?;
            }
            UnixListener::bind(p).map_err(|e| {
                if e.kind() == io::ErrorKind::AddrInUse {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "{}: the path already exists (perhaps a socket left by an earlier run); \
                             remove it, or pass --unlink to remove it before binding",
                            p.display()
                        ),
                    )
                } else {
                    with_addr(addr, e)
                }
            })
        }
        UnixAddr::Abstract(_) => {
            let sa = addr.to_std()?;
            let l =
                std::os::unix::net::UnixListener::bind_addr(&sa).map_err(|e| with_addr(addr, e))?;
            l.set_nonblocking(true)?;
            UnixListener::from_std(l)
        }
    }
}

/// The bound address for announcing: `proto=unix,path="…"` (the path quoted as websocat 1.x
/// does) or `proto=abstract` with the name (printed as hex).
fn bound_addr(addr: &UnixAddr) -> BoundAddr {
    match addr {
        UnixAddr::Path(p) => BoundAddr {
            proto: "unix",
            addr: format!("{p:?}"),
            ip_port: None,
        },
        UnixAddr::Abstract(n) => BoundAddr {
            proto: "abstract",
            addr: String::from_utf8_lossy(n).into_owned(),
            ip_port: None,
        },
    }
}

impl Listen for UnixListen {
    fn bind(
        &self,
        _hints: BindHints,
    ) -> BoxFuture<'_, io::Result<(Box<dyn Accept>, Vec<BoundAddr>)>> {
        Box::pin(async move {
            let listener = bind_unix_listener(&self.addr, self.unlink)?;
            Ok((
                Box::new(UnixAccept { listener }) as Box<dyn Accept>,
                vec![bound_addr(&self.addr)],
            ))
        })
    }
}

struct UnixAccept {
    listener: UnixListener,
}

impl Accept for UnixAccept {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Conn, ConnInfo)>> {
        Box::pin(async move {
            let (s, peer) = self.listener.accept().await?;
            let info = ConnInfo {
                peer: peer
                    .as_pathname()
                    .map(|p| Peer::Text(p.display().to_string())),
                ..Default::default()
            };
            Ok((Conn::Bytes(Box::new(s)), info))
        })
    }
}

struct UnixDgramConnect {
    bind: UnixAddr,
    peer: UnixAddr,
    unlink: bool,
    binary: bool,
}

struct UnixDgramSocket(UnixDatagram);

impl Datagrams for UnixDgramSocket {
    fn recv_one<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, io::Result<usize>> {
        Box::pin(self.0.recv(buf))
    }
    fn send_one<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move { self.0.send(data).await.map(|_| ()) })
    }
}

impl Connect for UnixDgramConnect {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            if let (true, UnixAddr::Path(p)) = (self.unlink, &self.bind) {
                remove_stale_socket(p)?;
            }
            let bind = self.bind.to_std()?;
            let sock = std::os::unix::net::UnixDatagram::bind_addr(&bind).map_err(|e| {
                if e.kind() == io::ErrorKind::AddrInUse && matches!(self.bind, UnixAddr::Path(_)) {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "{}: the path already exists; remove it, or pass --unlink",
                            self.bind.describe()
                        ),
                    )
                } else {
                    with_addr(&self.bind, e)
                }
            })?;
            let peer = self.peer.to_std()?;
            sock.connect_addr(&peer)
                .map_err(|e| with_addr(&self.peer, e))?;
            sock.set_nonblocking(true)?;
            let sock = UnixDatagram::from_std(sock)?;
            Ok(datagram_conn(Arc::new(UnixDgramSocket(sock)), self.binary))
        })
    }
}

#[cfg(test)]
mod accept_from_fd_tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    #[tokio::test]
    async fn inherited_listening_socket_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let fd = std_listener.into_raw_fd();
        let l = InheritedUnixListen {
            fd: std::sync::Mutex::new(Some(fd)),
        };
        let (mut acceptor, bound) = l.bind(BindHints::default()).await.unwrap();
        assert_eq!(bound[0].addr, path.display().to_string());
        let client = tokio::net::UnixStream::connect(&path).await.unwrap();
        let (conn, _) = acceptor.accept().await.unwrap();
        assert!(matches!(conn, Conn::Bytes(_)));
        drop(client);
        assert!(
            l.bind(BindHints::default()).await.is_err(),
            "the descriptor is adopted only once"
        );
    }

    #[test]
    fn a_descriptor_that_is_not_a_listening_socket_is_refused() {
        let f = tempfile::tempfile().unwrap();
        let e = adopt_listening_fd(f.into_raw_fd()).unwrap_err();
        assert!(e.to_string().contains("not a socket"), "{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned_specs as planned;
    use futures::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn aliases_and_shorthands_plan_as_websocat_1x() {
        for alias in ["unix", "unix-connect", "connect-unix", "unix-c", "c-unix"] {
            let (_, r) = planned(&["-b", "-", &format!("{alias}:/tmp/a:b")]);
            assert_eq!(r, "unix:/tmp/a:b");
        }
        for alias in ["unix-listen", "unix-l", "listen-unix", "l-unix"] {
            let (l, _) = planned(&["-b", &format!("{alias}:/tmp/s"), "mirror:"]);
            assert_eq!(l, "unix-listen:/tmp/s");
        }
        let (l, _) = planned(&["--unlink", "l-ws-unix:/tmp/s", "mirror:"]);
        assert_eq!(l, "ws-upgrade:unix-listen[unlink=true]:/tmp/s");
        let (l, _) = planned(&["ws-l:unix-l:/tmp/s", "mirror:"]);
        assert_eq!(l, "ws-upgrade:unix-listen:/tmp/s");
        let (l, _) = planned(&["l-ws-abstract:name", "mirror:"]);
        assert_eq!(l, "ws-upgrade:abstract-listen:name");
        let (l, r) = planned(&["-b", "abstract-l:x", "c-abstract:y"]);
        assert_eq!(
            (l.as_str(), r.as_str()),
            ("abstract-listen:x", "abstract:y")
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn abstract_dgram_uses_abstract_names() {
        let me = format!("websocat-dg-me-{}", std::process::id());
        let peer = format!("websocat-dg-peer-{}", std::process::id());
        let peer_sock = std::os::unix::net::UnixDatagram::bind_addr(
            &abstract_name(&peer).unwrap().to_std().unwrap(),
        )
        .unwrap();
        let k = UnixDgramConnect {
            bind: abstract_name(&me).unwrap(),
            peer: abstract_name(&peer).unwrap(),
            unlink: false,
            binary: false,
        };
        let Conn::Messages(mut m) = k.connect(&ConnInfo::default()).await.unwrap() else {
            panic!("expected messages");
        };
        assert!(!std::path::Path::new(&me).exists());
        m.send(crate::exec::Message::Text("abs".into()))
            .await
            .unwrap();
        let mut buf = [0u8; 8];
        let n = peer_sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"abs");
        peer_sock
            .send_to_addr(b"back", &abstract_name(&me).unwrap().to_std().unwrap())
            .unwrap();
        let got = m.next().await.unwrap().unwrap();
        assert_eq!(got, crate::exec::Message::Text("back".into()));
    }

    #[test]
    fn dgram_argument_needs_exactly_one_colon() {
        assert_eq!(split_pair("/a:/b"), Ok(("/a", "/b")));
        assert!(split_pair("/a").is_err());
        assert!(split_pair("/a:/b:/c").is_err());
        assert!(split_pair(":/b").is_err());
    }

    #[tokio::test]
    async fn existing_path_without_unlink_names_the_path_and_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let addr = UnixAddr::Path(path.clone());
        let first = bind_unix_listener(&addr, false).unwrap();
        drop(first);
        let e = bind_unix_listener(&addr, false).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("--unlink"), "{msg}");
        // With unlink the stale file is replaced.
        let l = bind_unix_listener(&addr, true).unwrap();
        let (mut c, s) = tokio::join!(connect_unix(&addr), l.accept());
        let (mut s, _) = s.unwrap();
        c.as_mut().unwrap().write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn abstract_names_create_no_file() {
        let name = format!("websocat-test-{}", std::process::id());
        let addr = abstract_name(&name).unwrap();
        let l = bind_unix_listener(&addr, false).unwrap();
        assert!(!std::path::Path::new(&name).exists());
        let local = l.local_addr().unwrap();
        assert!(local.as_pathname().is_none());
        let (c, s) = tokio::join!(connect_unix(&addr), l.accept());
        let mut c = c.unwrap();
        let (mut s, _) = s.unwrap();
        s.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
    }

    #[tokio::test]
    async fn unix_dgram_keeps_message_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let peer_path = dir.path().join("peer");
        let me_path = dir.path().join("me");
        let peer = UnixDatagram::bind(&peer_path).unwrap();
        let k = UnixDgramConnect {
            bind: UnixAddr::Path(me_path.clone()),
            peer: UnixAddr::Path(peer_path.clone()),
            unlink: false,
            binary: true,
        };
        let Conn::Messages(mut m) = k.connect(&ConnInfo::default()).await.unwrap() else {
            panic!("expected messages");
        };
        m.send(crate::exec::Message::Binary("ab".into()))
            .await
            .unwrap();
        m.send(crate::exec::Message::Binary("".into()))
            .await
            .unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(peer.recv(&mut buf).await.unwrap(), 2);
        assert_eq!(&buf[..2], b"ab");
        assert_eq!(peer.recv(&mut buf).await.unwrap(), 0);
        peer.send_to(b"xyz", &me_path).await.unwrap();
        let got = m.next().await.unwrap().unwrap();
        assert_eq!(got, crate::exec::Message::Binary("xyz".into()));
    }
}
