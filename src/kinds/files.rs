//! Files and file descriptors: `readfile:`, `writefile:`, `appendfile:` (regular files, with
//! the blocking work on tokio's blocking pool), `open-async:` and `open-fd:` (pollable files
//! such as FIFOs, character devices and sockets, driven by epoll), `threadedstdio:` (stdin and
//! stdout on dedicated threads) and the shorthand `inetd-ws:` (WebSocket server on stdio).

use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, Connect};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, Expansion, KindDef, Role, Shape, Sharing, Trait};
use futures::future::BoxFuture;
use std::future::Future;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::PollSender;

/// Registry entry for `readfile:`.
pub const READFILE: KindDef = KindDef {
    name: "readfile",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[],
    arg: ArgType::Path,
    params: &[],
    summary: "read a file; what is written is discarded",
    help: "Opens PATH for reading when a connection is made and reads it to the end; data \
           written to it is discarded. Each connection reads the file anew.",
    examples: &[
        "websocat -U ws-l:127.0.0.1:8080 readfile:/etc/motd",
        "websocat -b - readfile:data.bin",
    ],
    build: Build::Connector(build_readfile),
};

/// Registry entry for `writefile:`.
pub const WRITEFILE: KindDef = KindDef {
    name: "writefile",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[Trait::SharedBehindListener(Sharing::OpenOnce)],
    arg: ArgType::Path,
    params: &[],
    summary: "write a file (created or truncated); reading gives end of file",
    help: "Creates PATH, or truncates it, when a connection is made, and writes everything it \
           receives into it. Reading from it ends at once. Each connection truncates the file \
           again; use `appendfile:` to keep earlier data.",
    examples: &["websocat -u ws://127.0.0.1:8080/ writefile:log.txt"],
    build: Build::Connector(build_writefile),
};

/// Registry entry for `appendfile:`.
pub const APPENDFILE: KindDef = KindDef {
    name: "appendfile",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[Trait::SharedBehindListener(Sharing::OpenOnce)],
    arg: ArgType::Path,
    params: &[],
    summary: "append to a file (created if missing); reading gives end of file",
    help: "Opens PATH for appending (creating it if needed) when a connection is made and \
           writes everything it receives at its end. Reading from it ends at once.",
    examples: &["websocat -u ws-l:127.0.0.1:8080 appendfile:all-messages.txt"],
    build: Build::Connector(build_appendfile),
};

/// Registry entry for `open-async:`.
pub const OPEN_ASYNC: KindDef = KindDef {
    name: "open-async",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[],
    arg: ArgType::Path,
    params: &[],
    summary: "open a FIFO, device or socket file read-write, non-blocking",
    help: "Opens PATH for reading and writing in non-blocking mode and drives it with the \
           event loop: named pipes, character devices (serial ports, ttys), sockets. What the \
           event loop cannot poll (regular files, `/dev/urandom`) is read and written with \
           blocking calls on two dedicated threads instead, as `threadedstdio:` does.",
    examples: &["websocat -b ws-l:127.0.0.1:8080 open-async:/dev/ttyUSB0"],
    build: Build::Connector(build_open_async),
};

/// Registry entry for `open-fd:`.
pub const OPEN_FD: KindDef = KindDef {
    name: "open-fd",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[],
    arg: ArgType::Number,
    params: &[],
    summary: "use an inherited file descriptor, non-blocking",
    help: "Uses file descriptor N, inherited from the parent process, for reading and writing \
           (a copy of it, put in non-blocking mode and driven by the event loop). A descriptor \
           the event loop cannot poll (a regular file, `/dev/urandom`) is read and written with \
           blocking calls on two dedicated threads instead.",
    examples: &["websocat -b ws-l:127.0.0.1:8080 open-fd:3 3<>/tmp/fifo"],
    build: Build::Connector(build_open_fd),
};

/// Registry entry for `threadedstdio:`.
pub const THREADED_STDIO: KindDef = KindDef {
    name: "threadedstdio",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[
        Trait::Stdio,
        Trait::SharedBehindListener(Sharing::Broadcast),
    ],
    arg: ArgType::None,
    params: &[],
    summary: "standard input and output, each served by its own thread",
    help: "Like `-`, but stdin is read and stdout written by two dedicated threads doing \
           blocking I/O. Useful when stdin or stdout is something odd (a file, a terminal in a \
           strange mode) that the default stdio handling does not cope with.",
    examples: &["websocat threadedstdio: ws://127.0.0.1:8080/"],
    build: Build::Connector(build_threaded_stdio),
};

/// Registry entry for `inetd-ws:`.
pub const INETD_WS: KindDef = KindDef {
    name: "inetd-ws",
    synonyms: &["ws-inetd"],
    role: Role::ListenerAlias,
    shape: Shape::Expands,
    traits: &[],
    arg: ArgType::None,
    params: super::ws_server::WS_UPGRADE.params,
    summary: "WebSocket server on stdin/stdout: `ws-upgrade:stdio:`",
    help: "Shorthand for `ws-upgrade:stdio:`: answers the WebSocket handshake of a client whose \
           connection is our stdin and stdout, as under inetd or systemd socket activation \
           (Accept=yes).",
    examples: &["websocat inetd-ws: tcp:127.0.0.1:22"],
    build: Build::Sugar(Expansion {
        overlays: &["ws-upgrade"],
        leaf: "stdio",
    }),
};

fn path_of(node: &PlanNode) -> PathBuf {
    PathBuf::from(&node.arg)
}

fn with_path(verb: &str, path: &std::path::Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{verb} {}: {e}", path.display()))
}

/// How a file kind opens its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileMode {
    Read,
    Write,
    Append,
}

struct FileConnect {
    path: PathBuf,
    mode: FileMode,
}

fn build_readfile(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(FileConnect {
        path: path_of(node),
        mode: FileMode::Read,
    }))
}

fn build_writefile(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(FileConnect {
        path: path_of(node),
        mode: FileMode::Write,
    }))
}

fn build_appendfile(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(FileConnect {
        path: path_of(node),
        mode: FileMode::Append,
    }))
}

impl Connect for FileConnect {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let p = &self.path;
            let conn: Conn = match self.mode {
                FileMode::Read => {
                    let f = tokio::fs::File::open(p)
                        .await
                        .map_err(|e| with_path("opening", p, e))?;
                    Conn::Bytes(Box::new(tokio::io::join(f, tokio::io::sink())))
                }
                FileMode::Write | FileMode::Append => {
                    let mut o = tokio::fs::OpenOptions::new();
                    o.create(true);
                    if self.mode == FileMode::Append {
                        o.append(true);
                    } else {
                        o.write(true).truncate(true);
                    }
                    let f = o.open(p).await.map_err(|e| with_path("opening", p, e))?;
                    Conn::Bytes(Box::new(tokio::io::join(tokio::io::empty(), f)))
                }
            };
            Ok(conn)
        })
    }
}

/// `file` as a byte stream: driven by the event loop when it can be polled; otherwise
/// (epoll refuses regular files and devices such as `/dev/urandom`) read and written with
/// blocking calls on two dedicated threads, as `threadedstdio:` does, with the same meaning:
/// reads in order until end of file, writes in order, flushed on flush.
#[cfg(unix)]
fn fd_stream(file: std::fs::File, what: &str) -> io::Result<Box<dyn crate::exec::ByteStream>> {
    use std::os::fd::AsRawFd;
    let file = match super::support::fd::FdStream::try_new(file, what)? {
        Ok(polled) => return Ok(Box::new(polled)),
        Err(file) => file,
    };
    tracing::debug!("{what} cannot be polled; using blocking reads and writes on threads");
    super::support::fd::set_blocking(file.as_raw_fd())
        .map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))?;
    let for_reading = file
        .try_clone()
        .map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))?;
    let reader = ThreadReader::new(move || for_reading, "fd");
    let writer = ThreadWriter::spawn(move || file, "fd")?;
    Ok(Box::new(tokio::io::join(reader, writer)))
}

/// A duplicate of an inherited descriptor, as a byte stream (see [`fd_stream`]).
#[cfg(unix)]
fn fd_stream_inherited(fd: i32) -> io::Result<Box<dyn crate::exec::ByteStream>> {
    let owned = super::support::fd::duplicate(fd)
        .map_err(|e| io::Error::new(e.kind(), format!("file descriptor {fd}: {e}")))?;
    fd_stream(std::fs::File::from(owned), &format!("file descriptor {fd}"))
}

struct OpenAsync {
    path: PathBuf,
}

fn build_open_async(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(OpenAsync {
        path: path_of(node),
    }))
}

impl Connect for OpenAsync {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            #[cfg(unix)]
            {
                let path = self.path.clone();
                // Opening a FIFO or a device may block: do it off the runtime threads.
                let s = tokio::task::spawn_blocking(move || {
                    use std::os::unix::fs::OpenOptionsExt;
                    std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .custom_flags(libc::O_NONBLOCK)
                        .open(&path)
                        .map_err(|e| with_path("opening", &path, e))
                })
                .await
                .map_err(io::Error::other)??;
                let s = fd_stream(s, &self.path.display().to_string())?;
                Ok(Conn::Bytes(s))
            }
            #[cfg(not(unix))]
            {
                Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("open-async:{}: only on unix", self.path.display()),
                ))
            }
        })
    }
}

struct OpenFd {
    fd: i32,
}

fn build_open_fd(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    let fd = node
        .arg
        .parse::<i32>()
        .map_err(|_| format!("`{}` is not a file descriptor number", node.arg))?;
    Ok(Arc::new(OpenFd { fd }))
}

impl Connect for OpenFd {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            #[cfg(unix)]
            {
                let s = fd_stream_inherited(self.fd)?;
                Ok(Conn::Bytes(s))
            }
            #[cfg(not(unix))]
            {
                Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("open-fd:{}: only on unix", self.fd),
                ))
            }
        })
    }
}

fn build_threaded_stdio(_node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    Ok(Arc::new(ThreadedStdio))
}

struct ThreadedStdio;

impl Connect for ThreadedStdio {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let r = ThreadReader::new(io::stdin, "stdin");
            let w = ThreadWriter::spawn(io::stdout, "stdout")?;
            Ok(Conn::Bytes(Box::new(tokio::io::join(r, w))))
        })
    }
}

/// Buffer size of the reading thread.
const THREAD_BUF: usize = 64 * 1024;

type Chunks = mpsc::Receiver<io::Result<Vec<u8>>>;

/// Bytes read by a dedicated thread doing blocking reads. The thread starts on the first
/// read, so a direction that is never copied (`-u`) never takes input away from anyone.
pub struct ThreadReader {
    start: Option<Box<dyn FnOnce() -> io::Result<Chunks> + Send>>,
    rx: Option<Chunks>,
    pending: Vec<u8>,
    at: usize,
    eof: bool,
}

impl ThreadReader {
    /// A reader whose thread reads from what `open` returns until end of file or error.
    pub fn new<R, F>(open: F, name: &str) -> Self
    where
        R: Read,
        F: FnOnce() -> R + Send + 'static,
    {
        let name = format!("websocat-{name}-reader");
        let start = move || {
            let (tx, rx) = mpsc::channel::<io::Result<Vec<u8>>>(4);
            std::thread::Builder::new().name(name).spawn(move || {
                let mut src = open();
                let mut buf = vec![0u8; THREAD_BUF];
                loop {
                    let item = match src.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => Ok(buf[..n].to_vec()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => Err(e),
                    };
                    let stop = item.is_err();
                    if tx.blocking_send(item).is_err() || stop {
                        break;
                    }
                }
            })?;
            Ok(rx)
        };
        ThreadReader {
            start: Some(Box::new(start)),
            rx: None,
            pending: Vec::new(),
            at: 0,
            eof: false,
        }
    }
}

impl AsyncRead for ThreadReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(start) = this.start.take() {
            this.rx = Some(start()?);
        }
        while this.at >= this.pending.len() {
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let Some(rx) = this.rx.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            match ready!(rx.poll_recv(cx)) {
                Some(Ok(v)) => {
                    this.pending = v;
                    this.at = 0;
                }
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => this.eof = true,
            }
        }
        let n = (this.pending.len() - this.at).min(buf.remaining());
        buf.put_slice(&this.pending[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

enum WriteCmd {
    Data(Vec<u8>),
    Flush(oneshot::Sender<io::Result<()>>),
}

/// Bytes written by a dedicated thread doing blocking writes. Flushing waits until the thread
/// has written and flushed everything before it.
pub struct ThreadWriter {
    tx: Option<PollSender<WriteCmd>>,
    flush_ack: Option<oneshot::Receiver<io::Result<()>>>,
}

impl ThreadWriter {
    /// Starts a thread writing to what `open` returns.
    pub fn spawn<W, F>(open: F, name: &str) -> io::Result<Self>
    where
        W: Write,
        F: FnOnce() -> W + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<WriteCmd>(4);
        std::thread::Builder::new()
            .name(format!("websocat-{name}-writer"))
            .spawn(move || {
                let mut dst = open();
                let mut err: Option<io::Error> = None;
                while let Some(cmd) = rx.blocking_recv() {
                    match cmd {
                        WriteCmd::Data(d) => {
                            if err.is_none() {
                                err = dst.write_all(&d).err();
                            }
                        }
                        WriteCmd::Flush(ack) => {
                            // A failed write is reported by the next flush.
                            let r = match err.take() {
                                Some(e) => Err(e),
                                None => dst.flush(),
                            };
                            let _ = ack.send(r);
                        }
                    }
                }
                let _ = dst.flush();
            })?;
        Ok(ThreadWriter {
            tx: Some(PollSender::new(tx)),
            flush_ack: None,
        })
    }

    fn gone() -> io::Error {
        io::Error::new(io::ErrorKind::BrokenPipe, "the writer thread has stopped")
    }
}

impl AsyncWrite for ThreadWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Some(tx) = self.tx.as_mut() else {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        };
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(tx.poll_reserve(cx)).map_err(|_| Self::gone())?;
        tx.send_item(WriteCmd::Data(data.to_vec()))
            .map_err(|_| Self::gone())?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.flush_ack.is_none() {
            let Some(tx) = self.tx.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            ready!(tx.poll_reserve(cx)).map_err(|_| Self::gone())?;
            let (ack, rx) = oneshot::channel();
            tx.send_item(WriteCmd::Flush(ack))
                .map_err(|_| Self::gone())?;
            self.flush_ack = Some(rx);
        }
        let Some(rx) = self.flush_ack.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let r = ready!(Pin::new(rx).poll(cx));
        self.flush_ack = None;
        Poll::Ready(r.unwrap_or_else(|_| Err(Self::gone())))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        // Dropping the sender lets the thread finish; stdout itself stays open.
        self.tx = None;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn connect(k: &dyn Connect) -> Box<dyn crate::exec::ByteStream> {
        match k.connect(&ConnInfo::default()).await.unwrap() {
            Conn::Bytes(b) => b,
            Conn::Messages(_) => panic!("expected bytes"),
        }
    }

    #[tokio::test]
    async fn readfile_reads_and_discards_writes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"content\x00\xff").unwrap();
        let k = FileConnect {
            path: p.clone(),
            mode: FileMode::Read,
        };
        let mut s = connect(&k).await;
        s.write_all(b"ignored").await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"content\x00\xff");
        assert_eq!(std::fs::read(&p).unwrap(), b"content\x00\xff");
    }

    #[tokio::test]
    async fn writefile_truncates_and_appendfile_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"old old old").unwrap();
        for (mode, data) in [
            (FileMode::Write, &b"new"[..]),
            (FileMode::Append, b"+more"),
            (FileMode::Append, b"+again"),
        ] {
            let k = FileConnect {
                path: p.clone(),
                mode,
            };
            let mut s = connect(&k).await;
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.unwrap();
            assert!(out.is_empty());
            s.write_all(data).await.unwrap();
            s.shutdown().await.unwrap();
        }
        assert_eq!(std::fs::read(&p).unwrap(), b"new+more+again");
    }

    #[tokio::test]
    async fn missing_file_names_the_path() {
        let k = FileConnect {
            path: "/nonexistent/dir/file".into(),
            mode: FileMode::Read,
        };
        let Err(e) = k.connect(&ConnInfo::default()).await else {
            panic!("opened a missing file");
        };
        assert!(e.to_string().contains("/nonexistent/dir/file"), "{e}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn open_async_reads_and_writes_regular_files_on_threads() {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b"abc").unwrap();
        let k = OpenAsync {
            path: f.path().to_path_buf(),
        };
        let mut s = connect(&k).await;
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"abc");
        s.write_all(b"def").await.unwrap();
        s.flush().await.unwrap();
        assert_eq!(std::fs::read(f.path()).unwrap(), b"abcdef");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn polled_stream_refuses_regular_files_clearly() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let file = std::fs::File::open(f.path()).unwrap();
        let Err(e) = super::super::support::fd::FdStream::new(file, "the file") else {
            panic!("polled a regular file");
        };
        assert!(e.to_string().contains("readfile:"), "{e}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn open_fd_uses_a_copy_of_the_descriptor() {
        use std::os::fd::AsRawFd;
        let (mine, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let k = OpenFd {
            fd: theirs.as_raw_fd(),
        };
        let mut s = connect(&k).await;
        // Our copy works even after the original is closed.
        drop(theirs);
        s.write_all(b"via fd").await.unwrap();
        s.shutdown().await.unwrap();
        let mut mine = tokio::net::UnixStream::from_std({
            mine.set_nonblocking(true).unwrap();
            mine
        })
        .unwrap();
        let mut out = Vec::new();
        mine.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"via fd");
        mine.write_all(b"back").await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"back");
    }

    #[tokio::test]
    async fn thread_reader_and_writer_move_bytes() {
        let mut r = ThreadReader::new(|| io::Cursor::new(b"from a thread".to_vec()), "test");
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"from a thread");

        #[derive(Clone, Default)]
        struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let sink = Shared::default();
        let sink2 = sink.clone();
        let mut w = ThreadWriter::spawn(move || sink2, "test").unwrap();
        w.write_all(b"one ").await.unwrap();
        w.write_all(b"two").await.unwrap();
        w.flush().await.unwrap();
        // Flush returns only once the thread has written everything before it.
        assert_eq!(*sink.0.lock().unwrap(), b"one two");
        w.shutdown().await.unwrap();
        assert!(w.write_all(b"x").await.is_err());
    }

    #[tokio::test]
    async fn thread_writer_reports_write_errors() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "nope"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = ThreadWriter::spawn(|| Broken, "test").unwrap();
        w.write_all(b"x").await.unwrap();
        let e = w.flush().await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
