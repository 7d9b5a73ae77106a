//! A pollable file descriptor as an async byte stream (`open-async:`, `open-fd:`, and stdio
//! when it is pollable).

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An owned, non-blocking, pollable file descriptor.
pub struct FdStream {
    inner: AsyncFd<std::fs::File>,
}

fn set_nonblocking(fd: i32) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Clears `O_NONBLOCK` again (for a descriptor read and written by blocking threads).
pub fn set_blocking(fd: i32) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl FdStream {
    /// Registers `file` with the event loop after making it non-blocking.
    pub fn new(file: std::fs::File, what: &str) -> io::Result<Self> {
        match Self::try_new(file, what)? {
            Ok(s) => Ok(s),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{what} cannot be polled (a regular file?); use readfile:/writefile: for regular files"),
            )),
        }
    }

    /// Like [`FdStream::new`], but hands `file` back when epoll refuses it (`EPERM`:
    /// regular files, and some character devices such as `/dev/urandom`).
    pub fn try_new(file: std::fs::File, what: &str) -> io::Result<Result<Self, std::fs::File>> {
        set_nonblocking(file.as_raw_fd())?;
        // SAFETY: the `File` owns its descriptor, keeps it open until the `AsyncFd` drops
        // it, and always returns the same one from `as_raw_fd`.
        match unsafe { AsyncFd::register(file) } {
            Ok(inner) => Ok(Ok(FdStream { inner })),
            Err(e) => {
                let (file, e) = e.into_parts();
                if e.raw_os_error() == Some(libc::EPERM) {
                    Ok(Err(file))
                } else {
                    Err(io::Error::new(e.kind(), format!("{what}: {e}")))
                }
            }
        }
    }

    /// Uses a duplicate of an inherited descriptor.
    pub fn from_inherited(fd: i32) -> io::Result<Self> {
        let owned = duplicate(fd)
            .map_err(|e| io::Error::new(e.kind(), format!("file descriptor {fd}: {e}")))?;
        Self::new(std::fs::File::from(owned), &format!("file descriptor {fd}"))
    }
}

/// A duplicate of an inherited descriptor (such as stdin or stdout) that we own and may
/// close without closing the original. A descriptor that is not open gives `EBADF`.
pub fn duplicate(fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: dup takes an integer; on success we own the new descriptor.
    let new = unsafe { libc::dup(fd) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a freshly duplicated descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

impl AsyncRead for FdStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.inner.poll_read_ready(cx))?;
            // Read straight into the unfilled part: zeroing it first, as a `&mut [u8]`
            // would need, cost a memset of the whole buffer on every read.
            // SAFETY: read(2) only writes into the memory it is given and reports how
            // much; nothing here reads the uninitialised bytes.
            let unfilled = unsafe { buf.unfilled_mut() };
            let read = guard.try_io(|f| {
                let n = unsafe {
                    libc::read(
                        f.get_ref().as_raw_fd(),
                        unfilled.as_mut_ptr().cast(),
                        unfilled.len(),
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match read {
                Ok(Ok(n)) => {
                    // SAFETY: read(2) initialised the first `n` bytes of `unfilled`.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for FdStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.inner.poll_write_ready(cx))?;
            match guard.try_io(|f| f.get_ref().write(data)) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Sockets get a real half-close; other descriptors have none.
        // SAFETY: shutdown(2) on our own descriptor; ENOTSOCK is expected and ignored.
        unsafe {
            libc::shutdown(self.inner.get_ref().as_raw_fd(), libc::SHUT_WR);
        }
        Poll::Ready(Ok(()))
    }
}
