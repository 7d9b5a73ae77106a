//! `-` / `stdio:`: standard input and output as one byte stream.

use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, Connect};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape, Sharing, Trait};
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;

/// Registry entry for stdio.
pub const STDIO: KindDef = KindDef {
    name: "stdio",
    synonyms: &["inetd", "asyncstdio"],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[
        Trait::Stdio,
        Trait::SharedBehindListener(Sharing::Broadcast),
    ],
    arg: ArgType::None,
    params: &[
        ParamDef {
            name: "nonblocking",
            ty: ParamType::Bool,
            flag: Some("--async-stdio"),
            help:
                "drive a terminal by the event loop too (non-blocking), not only pipes and sockets",
        },
        ParamDef {
            name: "blocking",
            ty: ParamType::Bool,
            flag: Some("--no-async-stdio"),
            help: "never make stdin/stdout non-blocking: use threads",
        },
    ],
    summary: "standard input and output (also written `-`)",
    help: "Reads standard input and writes standard output. `-` is the short form. In text mode \
           each line of input becomes one message. When placed behind a listener, all clients \
           share it (the planner adds `broadcast:`).",
    examples: &[
        "websocat - ws://127.0.0.1:8080/",
        "websocat ws-l:127.0.0.1:8080 -",
    ],
    build: Build::Connector(build),
};

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    let mode = match (node.param_bool("nonblocking"), node.param_bool("blocking")) {
        (true, true) => return Err("nonblocking and blocking contradict each other".into()),
        (true, false) => Polling::AlsoTerminals,
        (false, true) => Polling::Never,
        (false, false) => Polling::PipesAndSockets,
    };
    Ok(Arc::new(Stdio { mode }))
}

/// Which stdin/stdout the event loop drives (made non-blocking); the others use threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Polling {
    /// Pipes and sockets (the default, as websocat 1.x when neither is a terminal).
    PipesAndSockets,
    /// Terminals too (`--async-stdio`).
    AlsoTerminals,
    /// None (`--no-async-stdio`).
    Never,
}

struct Stdio {
    mode: Polling,
}

impl Connect for Stdio {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        let mode = self.mode;
        let polled = move |fd| {
            if mode == Polling::Never {
                None
            } else {
                polled(fd, mode)
            }
        };
        Box::pin(async move {
            let input: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match polled(0) {
                Some(s) => Box::new(s),
                None => Box::new(tokio::io::stdin()),
            };
            let output: Box<dyn tokio::io::AsyncWrite + Send + Unpin> = match polled(1) {
                Some(s) => Box::new(s),
                None => match unbuffered_stdout() {
                    Some(f) => Box::new(f),
                    None => Box::new(tokio::io::stdout()),
                },
            };
            Ok(Conn::Bytes(Box::new(tokio::io::join(input, output))))
        })
    }
}

/// Flags of stdin/stdout before we made them non-blocking, restored at exit.
static SAVED_FLAGS: std::sync::Mutex<Vec<(i32, i32)>> = std::sync::Mutex::new(Vec::new());

/// Stdin or stdout driven by the event loop when it is a pipe or socket (not a terminal and not
/// a regular file), as websocat 1.x does: no hand-off to a blocking thread per read or write.
/// `None` means: use tokio's thread-backed stdio.
#[cfg(unix)]
fn polled(fd: i32, mode: Polling) -> Option<super::support::fd::FdStream> {
    use std::io::IsTerminal;
    use std::os::fd::BorrowedFd;
    // SAFETY: 0 and 1 stay open for the life of the process.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let terminal = borrowed.is_terminal();
    if terminal && mode != Polling::AlsoTerminals {
        return None;
    }
    // SAFETY: fstat writes into the struct we pass; a bad descriptor gives an error.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    let kind = st.st_mode & libc::S_IFMT;
    if kind != libc::S_IFIFO && kind != libc::S_IFSOCK && !terminal {
        return None;
    }
    // SAFETY: fcntl with integer arguments on a descriptor that is open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return None;
    }
    let stream = super::support::fd::FdStream::from_inherited(fd).ok()?;
    if let Ok(mut saved) = SAVED_FLAGS.lock() {
        if !saved.iter().any(|(f, _)| *f == fd) {
            saved.push((fd, flags));
        }
    }
    Some(stream)
}

#[cfg(not(unix))]
fn polled(_fd: i32, _mode: Polling) -> Option<tokio::io::Stdin> {
    None
}

/// Standard output that is a regular file or a device other than a terminal (`> out.bin`,
/// `> /dev/null`), written on tokio's blocking threads through a duplicate of the descriptor.
/// Unlike `tokio::io::stdout()` this bypasses the standard library's line buffering, which
/// searched every chunk for a newline. `None` (a terminal, or `dup` failing): use
/// `tokio::io::stdout()`.
#[cfg(unix)]
fn unbuffered_stdout() -> Option<tokio::fs::File> {
    use std::io::IsTerminal;
    if io::stdout().is_terminal() {
        return None;
    }
    let owned = super::support::fd::duplicate(1).ok()?;
    Some(tokio::fs::File::from_std(std::fs::File::from(owned)))
}

#[cfg(not(unix))]
fn unbuffered_stdout() -> Option<tokio::fs::File> {
    None
}

/// Puts stdin/stdout back into the mode they had before (they may be shared with the shell
/// or other processes). Called once the session is over.
pub fn restore_stdio_flags() {
    if let Ok(saved) = SAVED_FLAGS.lock() {
        for (fd, flags) in saved.iter() {
            // SAFETY: fcntl with integer arguments; restoring flags we read earlier.
            unsafe {
                libc::fcntl(*fd, libc::F_SETFL, *flags);
            }
        }
    }
}
