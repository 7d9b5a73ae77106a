//! `--metrics ADDR`: a server's counters in the Prometheus text format (OpenMetrics, encoded by
//! the `prometheus-client` crate), served over plain HTTP on a separate address.
//!
//! Metrics (all prefixed `websocat_`): `connections_open`, `connections_total`,
//! `handshake_failures_total{reason}`, `messages_total{direction}` and `bytes_total{direction}`
//! (`direction` is `from_client` or `to_client`), and `closes_total{code}` (the status of the
//! client's Close, `empty` for a Close without one).
//!
//! The counters are process-wide ([`enabled`] is `None` until [`start`] ran), so the accept
//! loop's hooks cost nothing without `--metrics`.

use crate::exec::copy::Transferred;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::io;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest scrape request head we read.
const MAX_REQUEST: usize = 8 * 1024;
/// How long a scraper may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most scrapes answered at once; further ones wait to be accepted.
const MAX_SCRAPES: usize = 16;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Direction {
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Code {
    code: String,
}

/// The counters of one server process.
pub struct Metrics {
    registry: Registry,
    open: Gauge,
    total: Counter,
    handshake_failures: Family<Reason, Counter>,
    messages: Family<Direction, Counter>,
    bytes: Family<Direction, Counter>,
    closes: Family<Code, Counter>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("websocat");
        let m = Metrics {
            registry: Registry::default(),
            open: Gauge::default(),
            total: Counter::default(),
            handshake_failures: Family::default(),
            messages: Family::default(),
            bytes: Family::default(),
            closes: Family::default(),
        };
        registry.register(
            "connections_open",
            "Connections accepted and not yet ended",
            m.open.clone(),
        );
        registry.register("connections", "Connections accepted", m.total.clone());
        registry.register(
            "handshake_failures",
            "Connections whose handshake failed, by reason",
            m.handshake_failures.clone(),
        );
        registry.register(
            "messages",
            "Messages moved, by direction",
            m.messages.clone(),
        );
        registry.register(
            "bytes",
            "Payload bytes moved, by direction",
            m.bytes.clone(),
        );
        registry.register(
            "closes",
            "WebSocket Closes received from clients, by status code",
            m.closes.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The metrics in the text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The process's metrics, once [`start`] enabled them.
pub fn enabled() -> Option<&'static Metrics> {
    METRICS.get()
}

/// Binds `addr` and serves the metrics there (on any path) until the process ends; returns
/// the bound address.
pub async fn start(addr: &str) -> io::Result<SocketAddr> {
    let addr: SocketAddr = addr.parse().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{addr}` is not an IP address and port (e.g. 127.0.0.1:9100): {e}"),
        )
    })?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let metrics = METRICS.get_or_init(Metrics::new);
    let scrapes = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPES));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = scrapes.clone().acquire_owned().await else {
                return;
            };
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(async move {
                        answer(stream, metrics).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!("accepting a metrics scrape: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    Ok(bound)
}

async fn answer(mut stream: tokio::net::TcpStream, metrics: &'static Metrics) {
    let mut head = Vec::with_capacity(512);
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&chunk[..n]);
        }
        io::Result::Ok(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return;
    }
    let response = if head.starts_with(b"GET ") {
        let body = metrics.encode();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; \
             charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
            .to_string()
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Counts an accepted connection as open until the returned guard is dropped.
pub fn connection_opened() -> Option<OpenGuard> {
    let m = enabled()?;
    m.total.inc();
    m.open.inc();
    Some(OpenGuard(m))
}

/// Keeps a connection counted in `connections_open`.
pub struct OpenGuard(&'static Metrics);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.dec();
    }
}

/// Counts a failed handshake under a reason named from the error's kind.
pub fn handshake_failed(e: &io::Error) {
    let Some(m) = enabled() else { return };
    let reason = match e.kind() {
        io::ErrorKind::InvalidData => "bad_request",
        io::ErrorKind::PermissionDenied => "forbidden",
        io::ErrorKind::UnexpectedEof => "eof",
        io::ErrorKind::TimedOut => "timeout",
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => "reset",
        _ => "other",
    };
    m.handshake_failures
        .get_or_create(&Reason {
            reason: reason.into(),
        })
        .inc();
}

/// Counts what a finished session moved (`messages`: it moved messages, not bytes), and the
/// client's Close.
pub fn session_ended(t: &Transferred, messages: bool) {
    let Some(m) = enabled() else { return };
    let from = Direction {
        direction: "from_client",
    };
    let to = Direction {
        direction: "to_client",
    };
    if messages {
        m.messages.get_or_create(&from).inc_by(t.forward);
        m.messages.get_or_create(&to).inc_by(t.backward);
    }
    m.bytes.get_or_create(&from).inc_by(t.forward_bytes);
    m.bytes.get_or_create(&to).inc_by(t.backward_bytes);
    if let Some((code, _)) = &t.peer_close {
        let code = code.map_or("empty".to_string(), |c| c.to_string());
        m.closes.get_or_create(&Code { code }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_names_every_metric_with_the_prefix() {
        let m = Metrics::new();
        m.total.inc();
        m.messages
            .get_or_create(&Direction {
                direction: "from_client",
            })
            .inc_by(3);
        let text = m.encode();
        assert!(text.contains("websocat_connections_total 1\n"), "{text}");
        assert!(text.contains("websocat_connections_open 0\n"), "{text}");
        assert!(
            text.contains("websocat_messages_total{direction=\"from_client\"} 3\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
