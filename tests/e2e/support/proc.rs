//! Running our binary: a child guard that kills on drop and after [`TIMEOUT`] (or a longer
//! limit), captured stdout/stderr, the `LISTEN proto=…` announcement, and client exchanges
//! that keep stdin open until the reply has arrived.

use super::TIMEOUT;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes read so far from one output pipe of a child, and whether it reached EOF.
#[derive(Default)]
struct Captured {
    data: Mutex<(Vec<u8>, bool)>,
    changed: Condvar,
}

impl Captured {
    fn pump(self: Arc<Self>, mut pipe: impl Read + Send + 'static) -> JoinHandle<()> {
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = pipe.read(&mut buf).unwrap_or(0);
                let mut g = self.data.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    g.1 = true;
                } else {
                    g.0.extend_from_slice(&buf[..n]);
                }
                self.changed.notify_all();
                if n == 0 {
                    return;
                }
            }
        })
    }

    fn snapshot(&self) -> Vec<u8> {
        self.data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// True once the pipe reached EOF.
    fn at_eof(&self) -> bool {
        self.data.lock().unwrap_or_else(|e| e.into_inner()).1
    }

    /// Waits until `pred` holds for the bytes so far (or EOF, or the deadline).
    fn wait_for(&self, deadline: Instant, pred: impl Fn(&[u8]) -> bool) -> bool {
        let mut g = self.data.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if pred(&g.0) {
                return true;
            }
            let now = Instant::now();
            if g.1 || now >= deadline {
                return false;
            }
            g = self
                .changed
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// What a finished child left behind.
#[derive(Debug)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Output {
    /// The exit code; -1 when a signal ended the child.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// stdout as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// A running `websocat` child. Killed when dropped, and by a watchdog after [`TIMEOUT`] (or
/// the limit given to [`Proc::spawn_limited`]). Its stdout and stderr are drained all the
/// time, so the child never blocks on a full pipe.
pub struct Proc {
    child: Arc<Mutex<Child>>,
    stdin: Option<ChildStdin>,
    stdout: Arc<Captured>,
    stderr: Arc<Captured>,
    pumps: Vec<JoinHandle<()>>,
    watchdog: Option<mpsc::Sender<()>>,
    args: Vec<String>,
}

impl Proc {
    /// Starts the built binary with these arguments, stdin/stdout/stderr piped.
    pub fn spawn<S: AsRef<str>>(args: &[S]) -> Proc {
        Proc::spawn_limited(args, TIMEOUT)
    }

    /// Like [`Proc::spawn`], but the watchdog allows the child `limit` instead of
    /// [`TIMEOUT`] (for long transfers, or a server that a browser talks to).
    pub fn spawn_limited<S: AsRef<str>>(args: &[S], limit: Duration) -> Proc {
        let args: Vec<String> = args.iter().map(|s| s.as_ref().to_owned()).collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_websocat"))
            .args(&args)
            .env("NO_COLOR", "1")
            .env_remove("WEBSOCAT_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start websocat {args:?}: {e}"));
        let stdin = child.stdin.take();
        let stdout = Arc::new(Captured::default());
        let stderr = Arc::new(Captured::default());
        let mut pumps = Vec::new();
        if let Some(p) = child.stdout.take() {
            pumps.push(stdout.clone().pump(p));
        }
        if let Some(p) = child.stderr.take() {
            pumps.push(stderr.clone().pump(p));
        }
        let child = Arc::new(Mutex::new(child));
        let (tx, rx) = mpsc::channel::<()>();
        let guarded = child.clone();
        std::thread::spawn(move || {
            // Any message or a dropped sender means the test is done with the child.
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                let mut c = guarded.lock().unwrap_or_else(|e| e.into_inner());
                if matches!(c.try_wait(), Ok(None)) {
                    eprintln!("watchdog: killing websocat after {limit:?}");
                    let _ = c.kill();
                }
            }
        });
        Proc {
            child,
            stdin,
            stdout,
            stderr,
            pumps,
            watchdog: Some(tx),
            args,
        }
    }

    /// Writes to the child's stdin.
    pub fn write_stdin(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin.write_all(data).expect("writing to websocat's stdin");
        stdin.flush().expect("flushing websocat's stdin");
    }

    /// Writes to the child's stdin, returning the error (a child that exited without reading
    /// its input gives `BrokenPipe`) instead of panicking.
    pub fn try_write_stdin(&mut self, data: &[u8]) -> std::io::Result<()> {
        let stdin = self.stdin.as_mut().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdin already closed")
        })?;
        stdin.write_all(data)?;
        stdin.flush()
    }

    /// Closes the child's stdin (EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.snapshot()).into_owned()
    }

    /// Waits until stdout satisfies `pred`; panics with the captured output on timeout.
    pub fn wait_stdout(&self, what: &str, pred: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        if !self.stdout.wait_for(Instant::now() + TIMEOUT, &pred) {
            panic!(
                "websocat {:?}: stdout never showed {what}\nstdout: {:?}\nstderr: {}",
                self.args,
                String::from_utf8_lossy(&self.stdout.snapshot()),
                self.stderr_so_far()
            );
        }
        self.stdout.snapshot()
    }

    /// Waits until stdout satisfies `pred` or the child closes its stdout (exits); panics
    /// with the captured output on timeout. Returns stdout so far.
    pub fn wait_stdout_or_eof(&self, what: &str, pred: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        if !self.stdout.wait_for(Instant::now() + TIMEOUT, &pred) && !self.stdout.at_eof() {
            panic!(
                "websocat {:?}: stdout never showed {what} and stayed open\nstdout: {:?}\nstderr: {}",
                self.args,
                String::from_utf8_lossy(&self.stdout.snapshot()),
                self.stderr_so_far()
            );
        }
        self.stdout.snapshot()
    }

    /// Waits for the first complete line on stdout and returns it, newline included.
    pub fn first_line(&self) -> String {
        let out = self.wait_stdout("a complete line", |b| b.contains(&b'\n'));
        let text = String::from_utf8_lossy(&out);
        let end = text.find('\n').map_or(text.len(), |i| i + 1);
        text[..end].to_owned()
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_stderr(&self, needle: &str) -> String {
        let ok = self.stderr.wait_for(Instant::now() + TIMEOUT, |b| {
            String::from_utf8_lossy(b).contains(needle)
        });
        assert!(
            ok,
            "websocat {:?}: stderr never showed {needle:?}\nstderr: {}",
            self.args,
            self.stderr_so_far()
        );
        self.stderr_so_far()
    }

    /// Reads the first `LISTEN proto=tcp,ip=IP,port=N` line from stdout; returns IP and N.
    pub fn listen_addr(&self) -> (String, u16) {
        self.listen_addr_of("tcp")
    }

    /// Reads the first `LISTEN proto=PROTO,ip=IP,port=N` line from stdout (`proto` is `tcp`
    /// or `udp`); returns IP and N.
    pub fn listen_addr_of(&self, proto: &str) -> (String, u16) {
        let prefix = format!("LISTEN proto={proto},ip=");
        let out = self.wait_stdout("a LISTEN line", |b| {
            String::from_utf8_lossy(b)
                .split_inclusive('\n')
                .any(|l| l.starts_with(&prefix) && l.ends_with('\n'))
        });
        let text = String::from_utf8_lossy(&out);
        let line = text
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_default();
        let (ip, port) = line[prefix.len()..]
            .split_once(",port=")
            .unwrap_or_else(|| panic!("bad LISTEN line {line:?}"));
        let port: u16 = port
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("bad LISTEN line {line:?}: {e}"));
        assert_ne!(port, 0, "LISTEN line must give the bound port, not 0");
        (ip.to_string(), port)
    }

    /// Reads `LISTEN proto=tcp,ip=127.0.0.1,port=N` from stdout and returns N.
    pub fn listen_port(&self) -> u16 {
        let (ip, port) = self.listen_addr();
        assert_eq!(ip, "127.0.0.1", "expected a listener on 127.0.0.1");
        port
    }

    /// The child's process id (for reading /proc/PID/status).
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap_or_else(|e| e.into_inner()).id()
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the child.
    pub fn signal(&self, signal: i32) {
        let mut c = self.child.lock().unwrap_or_else(|e| e.into_inner());
        assert!(
            matches!(c.try_wait(), Ok(None)),
            "websocat {:?} exited before the signal\nstderr: {}",
            self.args,
            self.stderr_so_far()
        );
        let pid = libc::pid_t::try_from(c.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) takes plain integers. The child runs and is not reaped while we hold
        // its lock, so the pid is still its own.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {signal}): {}",
            std::io::Error::last_os_error()
        );
    }

    /// True while the child runs.
    pub fn is_running(&self) -> bool {
        let mut c = self.child.lock().unwrap_or_else(|e| e.into_inner());
        matches!(c.try_wait(), Ok(None))
    }

    /// Waits for the child to exit within `limit` (at most [`TIMEOUT`]); `None` if it did not.
    pub fn wait_exit_within(&mut self, limit: Duration) -> Option<Output> {
        let deadline = Instant::now() + limit.min(TIMEOUT);
        loop {
            let status = {
                let mut c = self.child.lock().unwrap_or_else(|e| e.into_inner());
                c.try_wait().expect("waiting for websocat")
            };
            if let Some(status) = status {
                self.stdin = None;
                for p in self.pumps.drain(..) {
                    let _ = p.join();
                }
                return Some(Output {
                    status,
                    stdout: self.stdout.snapshot(),
                    stderr: String::from_utf8_lossy(&self.stderr.snapshot()).into_owned(),
                });
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the child to exit; panics (after killing it) if it does not within
    /// [`TIMEOUT`].
    pub fn wait(mut self) -> Output {
        match self.wait_exit_within(TIMEOUT) {
            Some(o) => o,
            None => {
                self.kill();
                panic!(
                    "websocat {:?} did not exit within {TIMEOUT:?}\nstdout: {:?}\nstderr: {}",
                    self.args,
                    String::from_utf8_lossy(&self.stdout.snapshot()),
                    self.stderr_so_far()
                );
            }
        }
    }

    /// Kills the child now.
    pub fn kill(&mut self) {
        let mut c = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        self.watchdog.take();
    }
}

/// Starts a server with `--stdout-announce-listening-ports` and returns it with its port.
/// Put the listen address as `127.0.0.1:0` in `args`.
pub fn server<S: AsRef<str>>(args: &[S]) -> (Proc, u16) {
    server_limited(args, TIMEOUT)
}

/// Like [`server`], with the watchdog limit of [`Proc::spawn_limited`].
pub fn server_limited<S: AsRef<str>>(args: &[S], limit: Duration) -> (Proc, u16) {
    let mut all = vec!["--stdout-announce-listening-ports"];
    all.extend(args.iter().map(|s| s.as_ref()));
    let p = Proc::spawn_limited(&all, limit);
    let port = p.listen_port();
    (p, port)
}

/// Runs the binary to completion with `stdin` as input.
pub fn run<S: AsRef<str>>(args: &[S], stdin: &[u8]) -> Output {
    let mut p = Proc::spawn(args);
    if !stdin.is_empty() {
        // A child that fails before reading its input is judged by its output, not by EPIPE.
        let _ = p.try_write_stdin(stdin);
    }
    p.close_stdin();
    p.wait()
}

/// Runs our client: writes `input`, waits until `expect_len` bytes came back on stdout (or
/// stdout closed), and only then closes stdin. Third-party servers answer a Close at once and
/// drop echoes still queued, so the client must not half-close before the echo is in.
pub fn exchange<S: AsRef<str>>(args: &[S], input: &[u8], expect_len: usize) -> Output {
    exchange_until(args, input, |got| got.len() >= expect_len)
}

/// Like [`exchange`], but waits until `complete` accepts the stdout received so far (or
/// stdout closed); `|_| false` keeps stdin open until the client exits on its own.
pub fn exchange_until<S: AsRef<str>>(
    args: &[S],
    input: &[u8],
    complete: impl Fn(&[u8]) -> bool,
) -> Output {
    let mut p = Proc::spawn(args);
    if !input.is_empty() {
        let _ = p.try_write_stdin(input);
    }
    p.wait_stdout_or_eof("the expected reply", complete);
    p.close_stdin();
    p.wait()
}

/// A loopback port that nothing listens on (bound, then released).
pub fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a probe port");
    l.local_addr().expect("probe port address").port()
}

/// Resident memory of process `pid` in bytes (VmRSS of /proc/PID/status).
pub fn resident_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmRSS") * 1024
}

/// Peak resident memory of process `pid` in bytes (VmHWM of /proc/PID/status).
pub fn peak_resident_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmHWM") * 1024
}

/// A `kB` field of /proc/PID/status.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}
