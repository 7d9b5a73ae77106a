//! `--hold N`: the scale measurement. Opens N WebSocket connections to a fan-out server
//! (`websocat -b ws-l:… broadcast:mirror:`) and keeps them open, then measures with all of them
//! held:
//!
//! - the server's RSS growth per held connection (`/proc/PID/status` VmRSS, before and after);
//! - the server's CPU use while every connection is idle (`/proc/PID/stat`, over `--idle-secs`);
//! - the handshake latency of fresh clients (connect → `101`), p50 and p99 of `--fresh` cycles;
//! - fan-out latency: held connection 0 sends one small message, time until every held
//!   connection has it (median of 5);
//! - sustained fan-out: `--fanout-messages` small messages back to back, deliveries per second.
//!
//! It prints one line of `key=value` pairs on stdout.

use crate::{check_head, head_end, read_until, whole_frame, CLOSE_FRAME, KEY};
use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Settings of a hold run.
pub struct Hold {
    pub port: u16,
    pub count: usize,
    pub server_pid: u32,
    pub fresh: usize,
    pub fanout_messages: u64,
    pub idle_secs: u64,
}

/// Messages received by all held connections together, and a wake-up at a target.
struct Received {
    total: Cell<u64>,
    target: Cell<u64>,
    reached: Notify,
}

impl Received {
    fn add(&self, n: u64) {
        self.total.set(self.total.get() + n);
        if self.total.get() >= self.target.get() {
            self.reached.notify_one();
        }
    }

    /// Waits until `more` further messages have arrived in total (at most 60 s).
    async fn wait_for(&self, more: u64) -> Result<(), String> {
        self.target.set(self.total.get() + more);
        let deadline = tokio::time::sleep(Duration::from_secs(60));
        tokio::pin!(deadline);
        while self.total.get() < self.target.get() {
            tokio::select! {
                _ = self.reached.notified() => {}
                _ = &mut deadline => {
                    return Err(format!(
                        "fan-out incomplete after 60 s: {} of {} messages",
                        self.total.get(),
                        self.target.get()
                    ))
                }
            }
        }
        Ok(())
    }
}

/// VmRSS of a process in KiB.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| "no VmRSS".to_string())
}

/// User + system CPU ticks of a process (all its threads).
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("reading /proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    match (num(11), num(12)) {
        (Some(u), Some(s)) => Ok(u + s),
        _ => Err("unexpected /proc/PID/stat".into()),
    }
}

fn upgrade_request(port: u16) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Connects and completes the handshake; returns the socket and bytes read past the head.
async fn open(addr: SocketAddr, request: &[u8]) -> Result<(TcpStream, Vec<u8>), String> {
    let mut sock = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    sock.set_nodelay(true).map_err(|e| e.to_string())?;
    sock.write_all(request).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(256);
    let end = read_until(
        &mut sock,
        &mut buf,
        "the end of the response head",
        head_end,
    )
    .await
    .map_err(|e| e.to_string())?;
    check_head(&buf[..end]).map_err(|e| e.to_string())?;
    buf.drain(..end);
    Ok((sock, buf))
}

/// Reads frames of one held connection for ever, counting the messages.
async fn count_messages(
    mut read: tokio::net::tcp::OwnedReadHalf,
    mut buf: Vec<u8>,
    received: Rc<Received>,
) {
    let mut chunk = vec![0u8; 4096];
    loop {
        let mut n = 0;
        while let Some((_, end)) = whole_frame(&buf) {
            buf.drain(..end);
            n += 1;
        }
        if n > 0 {
            received.add(n);
        }
        match read.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

/// Reads a fresh connection's remaining frames until the server's Close or the end.
async fn close_exchange_rest(mut sock: TcpStream, mut buf: Vec<u8>) {
    let mut chunk = [0u8; 1024];
    loop {
        while let Some((opcode, end)) = whole_frame(&buf) {
            if opcode == 0x8 {
                return;
            }
            buf.drain(..end);
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A masked binary frame with this payload (shorter than 126 bytes).
fn binary_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [9u8, 8, 7, 6];
    let mut f = vec![0x82, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the hold measurement; returns the `key=value` line.
pub async fn run(h: &Hold) -> Result<String, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, h.port));
    let request: Rc<[u8]> = upgrade_request(h.port).into();
    let rss_before = rss_kib(h.server_pid)?;
    let received = Rc::new(Received {
        total: Cell::new(0),
        target: Cell::new(u64::MAX),
        reached: Notify::new(),
    });
    // Open the connections 64 at a time; keep the writing halves, count on the reading ones.
    let next = Rc::new(Cell::new(0usize));
    let writers: Rc<std::cell::RefCell<Vec<(usize, OwnedWriteHalf)>>> = Rc::default();
    let openers: Vec<_> = (0..64)
        .map(|_| {
            let (next, writers, received, request) = (
                next.clone(),
                writers.clone(),
                received.clone(),
                request.clone(),
            );
            let count = h.count;
            tokio::task::spawn_local(async move {
                loop {
                    let i = next.get();
                    if i >= count {
                        return Ok::<(), String>(());
                    }
                    next.set(i + 1);
                    let (sock, rest) = open(addr, &request)
                        .await
                        .map_err(|e| format!("holding connection {}: {e}", i + 1))?;
                    let (read, write) = sock.into_split();
                    tokio::task::spawn_local(count_messages(read, rest, received.clone()));
                    writers.borrow_mut().push((i, write));
                }
            })
        })
        .collect();
    for o in openers {
        o.await.map_err(|e| format!("an opener failed: {e}"))??;
    }
    let mut writers = std::mem::take(&mut *writers.borrow_mut());
    writers.sort_by_key(|w| w.0);
    let Some((_, sender)) = writers.first_mut() else {
        return Err("no connection held".into());
    };
    // Every connection joins the fan-out when its session starts; one message through all of
    // them shows they have (this first message is not timed).
    sender
        .write_all(&binary_frame(b"warm-up"))
        .await
        .map_err(|e| e.to_string())?;
    received.wait_for(h.count as u64).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss_kib(h.server_pid)?;

    let ticks_before = cpu_ticks(h.server_pid)?;
    let idle_start = Instant::now();
    tokio::time::sleep(Duration::from_secs(h.idle_secs)).await;
    let ticks = cpu_ticks(h.server_pid)? - ticks_before;
    let idle_wall = idle_start.elapsed().as_secs_f64();
    // USER_HZ is 100 on Linux.
    let idle_cpu_pct = ticks as f64 / 100.0 / idle_wall * 100.0;

    let mut handshakes = Vec::with_capacity(h.fresh);
    for _ in 0..h.fresh {
        let t = Instant::now();
        let (mut sock, rest) = open(addr, &request).await?;
        handshakes.push(t.elapsed().as_secs_f64() * 1e3);
        // Send our Close without waiting for the answer: websocat 1.x keeps a session whose
        // client closed open while its shared side may still send (no Close comes back).
        sock.write_all(&CLOSE_FRAME)
            .await
            .map_err(|e| format!("closing a fresh connection: {e}"))?;
        tokio::task::spawn_local(async move {
            let _ =
                tokio::time::timeout(Duration::from_secs(2), close_exchange_rest(sock, rest)).await;
        });
    }
    handshakes.sort_by(f64::total_cmp);

    let mut fanout_ms = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        sender
            .write_all(&binary_frame(b"tick"))
            .await
            .map_err(|e| e.to_string())?;
        received.wait_for(h.count as u64).await?;
        fanout_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    fanout_ms.sort_by(f64::total_cmp);

    let burst: Vec<u8> = (0..h.fanout_messages)
        .flat_map(|_| binary_frame(&[0x55; 64]))
        .collect();
    let t = Instant::now();
    let before = received.total.get();
    sender.write_all(&burst).await.map_err(|e| e.to_string())?;
    // A server too slow to finish the burst in time still gets its rate (marked incomplete).
    let complete = received
        .wait_for(h.fanout_messages * h.count as u64)
        .await
        .is_ok();
    let burst_secs = t.elapsed().as_secs_f64();
    let delivered = received.total.get() - before;

    Ok(format!(
        "held={} rss_kib_per_conn={:.2} idle_cpu_pct={:.2} hs_p50_ms={:.2} hs_p99_ms={:.2} \
         fanout_ms={:.2} fanout_deliveries_per_s={:.0} fanout_complete={}",
        h.count,
        (rss_after.saturating_sub(rss_before)) as f64 / h.count as f64,
        idle_cpu_pct,
        percentile(&handshakes, 0.5),
        percentile(&handshakes, 0.99),
        percentile(&fanout_ms, 0.5),
        delivered as f64 / burst_secs,
        u8::from(complete),
    ))
}
