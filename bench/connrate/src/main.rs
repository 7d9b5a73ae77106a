//! Connection-rate load generator for `bench/run.sh`.
//!
//! `websocat-connrate --port P [--count N] [--concurrency K]` runs N cycles against
//! `ws://127.0.0.1:P/`, K at a time. One cycle is: connect, send an RFC 6455 upgrade
//! request, read and check the `101` response, send a masked Close (1000), read frames until the
//! server's Close arrives, close the socket. It prints the cycles per second and the share of
//! the run's wall time this process spent on a CPU (1.00: the load generator, not the server,
//! was the limit) on stdout, e.g. `41234.5 0.97`.
//!
//! `--hold N --server-pid PID` measures instead how the server does with N connections held
//! open (see [`hold`]).
//!
//! It runs all cycles on one thread with one event loop (K cycles in flight at a time), so that
//! it costs the machine as little as possible per cycle: the Python client it replaces spent
//! more CPU per connection than the servers it measured, and blocking client threads make the
//! server pay for waking a sleeping thread on another CPU for every packet it sends.

use std::cell::Cell;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod hold;

/// The request key from RFC 6455 section 1.3, so the expected accept value is a constant.
pub(crate) const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// `base64(sha1(KEY + GUID))` for [`KEY`].
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// A masked Close frame with status 1000 (mask 1,2,3,4).
pub(crate) const CLOSE_FRAME: [u8; 8] = [0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xE8 ^ 2];
/// Give up when no cycle completes within this time.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Command-line settings.
struct Settings {
    port: u16,
    count: u64,
    concurrency: usize,
    /// Set by `--hold N`: the scale measurement instead of the connection rate.
    hold: Option<hold::Hold>,
}

fn parse_args() -> Result<Settings, String> {
    let mut port = None;
    let mut count = 20_000u64;
    let mut concurrency = 64usize;
    let (mut held, mut server_pid, mut fresh, mut fanout_messages, mut idle_secs) =
        (None, None, 200usize, 200u64, 5u64);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                port = Some(
                    value("--port")?
                        .parse()
                        .map_err(|e| format!("--port: {e}"))?,
                )
            }
            "--count" => {
                count = value("--count")?
                    .parse()
                    .map_err(|e| format!("--count: {e}"))?
            }
            "--concurrency" => {
                concurrency = value("--concurrency")?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?
            }
            "--hold" => {
                held = Some(
                    value("--hold")?
                        .parse::<usize>()
                        .map_err(|e| format!("--hold: {e}"))?,
                )
            }
            "--server-pid" => {
                server_pid = Some(
                    value("--server-pid")?
                        .parse::<u32>()
                        .map_err(|e| format!("--server-pid: {e}"))?,
                )
            }
            "--fresh" => {
                fresh = value("--fresh")?
                    .parse()
                    .map_err(|e| format!("--fresh: {e}"))?
            }
            "--fanout-messages" => {
                fanout_messages = value("--fanout-messages")?
                    .parse()
                    .map_err(|e| format!("--fanout-messages: {e}"))?
            }
            "--idle-secs" => {
                idle_secs = value("--idle-secs")?
                    .parse()
                    .map_err(|e| format!("--idle-secs: {e}"))?
            }
            "-h" | "--help" => {
                return Err(
                    "usage: websocat-connrate --port P [--count N] [--concurrency K]\n   \
                     or: websocat-connrate --port P --hold N --server-pid PID [--fresh M] \
                     [--fanout-messages K] [--idle-secs S]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    let port = port.ok_or("--port is required")?;
    if count == 0 || concurrency == 0 {
        return Err("--count and --concurrency must be positive".into());
    }
    let hold = match (held, server_pid) {
        (Some(count), Some(server_pid)) if count > 0 => Some(hold::Hold {
            port,
            count,
            server_pid,
            fresh,
            fanout_messages,
            idle_secs,
        }),
        (Some(_), _) => return Err("--hold needs a positive N and --server-pid".into()),
        (None, _) => None,
    };
    Ok(Settings {
        port,
        count,
        concurrency,
        hold,
    })
}

/// Read from `sock` into `buf` until `done(buf)` says a whole unit has arrived.
pub(crate) async fn read_until(
    sock: &mut TcpStream,
    buf: &mut Vec<u8>,
    what: &str,
    done: impl Fn(&[u8]) -> Option<usize>,
) -> io::Result<usize> {
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = done(buf) {
            return Ok(end);
        }
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("server closed the connection before {what}"),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 * 1024 {
            return Err(io::Error::other(format!("more than 64 KiB without {what}")));
        }
    }
}

/// Where the response head ends (just past the blank line), if it has arrived.
pub(crate) fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Check the `101` status line and the accept header of a response head.
pub(crate) fn check_head(head: &[u8]) -> io::Result<()> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("101") {
        return Err(io::Error::other(format!("expected 101, got {status:?}")));
    }
    let accept = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-accept")
            .then(|| value.trim())
    });
    if accept != Some(ACCEPT) {
        return Err(io::Error::other(format!(
            "bad Sec-WebSocket-Accept {accept:?}"
        )));
    }
    Ok(())
}

/// If `buf` starts with a whole frame, its (opcode, length in bytes).
pub(crate) fn whole_frame(buf: &[u8]) -> Option<(u8, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, mut at) = match b1 & 0x7F {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as u64, 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?), 10),
        n => (n as u64, 2),
    };
    if b1 & 0x80 != 0 {
        at += 4;
    }
    let end = at + usize::try_from(len).ok()?;
    (buf.len() >= end).then_some((b0 & 0x0F, end))
}

/// One handshake + Close exchange.
pub(crate) async fn cycle(addr: SocketAddr, request: &[u8], buf: &mut Vec<u8>) -> io::Result<()> {
    let mut sock = TcpStream::connect(addr).await?;
    sock.set_nodelay(true)?;
    sock.write_all(request).await?;
    buf.clear();
    let end = read_until(&mut sock, buf, "the end of the response head", head_end).await?;
    check_head(&buf[..end])?;
    buf.drain(..end);
    close_exchange(&mut sock, buf).await
}

/// Sends our Close and reads frames until the server's Close; `buf` holds bytes already read.
pub(crate) async fn close_exchange(sock: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    sock.write_all(&CLOSE_FRAME).await?;
    loop {
        let end = read_until(sock, buf, "the Close frame", |b| {
            whole_frame(b).map(|f| f.1)
        })
        .await?;
        let opcode = buf[0] & 0x0F;
        buf.drain(..end);
        if opcode == 0x8 {
            return Ok(());
        }
    }
}

fn main() -> ExitCode {
    let settings = match parse_args() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("websocat-connrate: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("websocat-connrate: starting the event loop: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(h) = &settings.hold {
        return match runtime.block_on(tokio::task::LocalSet::new().run_until(hold::run(h))) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("websocat-connrate: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let cpu_before = cpu_time();
    let start = Instant::now();
    match runtime.block_on(tokio::task::LocalSet::new().run_until(run(&settings))) {
        Ok(rate) => {
            let wall = start.elapsed().as_secs_f64();
            match (cpu_before, cpu_time()) {
                (Some(a), Some(b)) => println!("{rate:.1} {:.2}", (b - a) / wall),
                _ => println!("{rate:.1}"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("websocat-connrate: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Seconds this process's (single) thread has spent on a CPU, from /proc (Linux).
fn cpu_time() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

/// Runs all cycles, K at a time; returns cycles per second.
async fn run(settings: &Settings) -> Result<f64, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, settings.port));
    let request: Rc<[u8]> = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        settings.port
    )
    .into_bytes()
    .into();
    let next = Rc::new(Cell::new(0u64));
    let done = Rc::new(Cell::new(0u64));
    let start = Instant::now();
    let workers: Vec<_> = (0..settings.concurrency)
        .map(|_| {
            let (next, done) = (Rc::clone(&next), Rc::clone(&done));
            let (request, count) = (Rc::clone(&request), settings.count);
            tokio::task::spawn_local(async move {
                let mut buf = Vec::with_capacity(1024);
                loop {
                    let n = next.get();
                    if n >= count {
                        return Ok::<(), String>(());
                    }
                    next.set(n + 1);
                    cycle(addr, &request, &mut buf)
                        .await
                        .map_err(|e| format!("cycle {}: {e}", n + 1))?;
                    done.set(done.get() + 1);
                }
            })
        })
        .collect();
    // A watchdog instead of a timer per cycle: timers would add to the client's cost.
    let watchdog = async {
        let mut seen = done.get();
        loop {
            tokio::time::sleep(IO_TIMEOUT).await;
            if done.get() == seen {
                return Err::<(), _>(format!(
                    "no cycle completed in {} s ({seen} of {} done)",
                    IO_TIMEOUT.as_secs(),
                    settings.count
                ));
            }
            seen = done.get();
        }
    };
    let all = async {
        for worker in workers {
            worker
                .await
                .map_err(|e| format!("a worker failed: {e}"))??;
        }
        Ok::<(), String>(())
    };
    tokio::select! {
        r = all => r?,
        r = watchdog => r?,
    }
    Ok(settings.count as f64 / start.elapsed().as_secs_f64())
}
