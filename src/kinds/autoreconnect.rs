//! `autoreconnect:`: a connection that survives the end of its inner connection. When the
//! inner connection fails or ends, a new one is opened after a delay that grows
//! exponentially (with jitter) while attempts keep failing, and data written in between
//! waits in a bounded queue instead of being lost.

use crate::exec::build::BuildCtx;
use crate::exec::queue::{byte_channel, ByteReceiver, ByteSender, Weigh};
use crate::exec::share::{client_conn, into_messages};
use crate::exec::{Conn, ConnInfo, Connect, ConnectorLayer, Message};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape, Trait};
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Registry entry for `autoreconnect:`.
pub const AUTORECONNECT: KindDef = KindDef {
    name: "autoreconnect",
    synonyms: &[],
    role: Role::ConnectorOverlay,
    shape: Shape::Preserve,
    traits: &[Trait::Reconnects],
    arg: ArgType::None,
    params: &[
        ParamDef {
            name: "delay",
            ty: ParamType::Uint,
            flag: Some("--autoreconnect-delay-millis"),
            help: "first delay before reconnecting, in milliseconds (default 20); doubles on each failure",
        },
        ParamDef {
            name: "max-delay",
            ty: ParamType::Uint,
            flag: None,
            help: "longest delay between attempts, in milliseconds (default 5000)",
        },
        ParamDef {
            name: "max-attempts",
            ty: ParamType::Uint,
            flag: None,
            help: "give up after this many failed attempts in a row (default: never)",
        },
        ParamDef {
            name: "queue",
            ty: ParamType::Uint,
            flag: None,
            help: "bytes kept in each direction while disconnected before writers wait \
                   (default 1 MiB; one message is always let through)",
        },
    ],
    summary: "reopen the inner connection whenever it fails or ends",
    help: "Opens the inner connection and, whenever it fails or reaches end of stream, opens a \
           new one. Attempts are spaced by `delay` milliseconds, doubled after each failure up \
           to `max-delay`, with up to 25% random jitter; a connection that carried data resets \
           the delay. What is written while disconnected waits (up to `queue` bytes, then \
           the writer waits) and is sent on the next connection. A half-close from our side \
           ends reconnecting: the inner connection is closed and read to its end. Put it under \
           `reuse:` (`reuse:autoreconnect:…`) to share one self-healing connection among \
           clients.",
    examples: &[
        "websocat -u ws-l:127.0.0.1:8080 reuse:autoreconnect:tcp:127.0.0.1:5000",
        "websocat - autoreconnect[max-attempts=10]:ws://127.0.0.1:9000/",
    ],
    build: Build::ConnectorLayer(build),
};

/// Reconnect timing and limits.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// The largest delay.
    pub cap: Duration,
    /// Failed attempts in a row before giving up.
    pub max_attempts: Option<u64>,
}

impl Backoff {
    /// The delay before attempt number `failures + 1`, jitter included.
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.min(16);
        let d = self.base.saturating_mul(factor).min(self.cap);
        let jitter = d.as_millis() as u64 / 4;
        let extra = if jitter > 0 {
            cheap_random() % (jitter + 1)
        } else {
            0
        };
        (d + Duration::from_millis(extra))
            .min(self.cap)
            .max(Duration::from_millis(1))
    }
}

fn cheap_random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnectorLayer>, String> {
    let base = Duration::from_millis(node.param_u64("delay").unwrap_or(20));
    let cap = Duration::from_millis(node.param_u64("max-delay").unwrap_or(5000)).max(base);
    Ok(Arc::new(ReconnectLayer {
        backoff: Backoff {
            base,
            cap,
            max_attempts: node.param_u64("max-attempts"),
        },
        queue: node
            .param_u64("queue")
            .map_or(DEFAULT_QUEUE_BYTES, |q| q as usize),
    }))
}

/// Default `queue`: bytes waiting in each direction while the inner connection is down.
pub const DEFAULT_QUEUE_BYTES: usize = 1 << 20;

struct ReconnectLayer {
    backoff: Backoff,
    queue: usize,
}

impl ConnectorLayer for ReconnectLayer {
    fn layer(&self, inner: Arc<dyn Connect>) -> Arc<dyn Connect> {
        Arc::new(Reconnect {
            inner,
            backoff: self.backoff,
            queue: self.queue,
        })
    }
}

struct Reconnect {
    inner: Arc<dyn Connect>,
    backoff: Backoff,
    queue: usize,
}

/// Opens a connection, retrying with backoff; `Err` once `max_attempts` failures in a row.
/// `gone` resolving means nobody wants the connection any more (returns `Ok(None)`).
async fn connect_with_retry(
    inner: &Arc<dyn Connect>,
    info: &ConnInfo,
    backoff: &Backoff,
    mut failures: u32,
    gone: impl std::future::Future<Output = ()>,
) -> io::Result<Option<Conn>> {
    tokio::pin!(gone);
    loop {
        if failures > 0 {
            tokio::select! {
                _ = tokio::time::sleep(backoff.delay(failures - 1)) => {}
                _ = &mut gone => return Ok(None),
            }
        }
        let attempt = tokio::select! {
            r = inner.connect(info) => r,
            _ = &mut gone => return Ok(None),
        };
        match attempt {
            Ok(c) => return Ok(Some(c)),
            Err(e) => {
                failures += 1;
                if backoff
                    .max_attempts
                    .is_some_and(|m| u64::from(failures) >= m)
                {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("autoreconnect: giving up after {failures} attempts: {e}"),
                    ));
                }
                tracing::info!("autoreconnect: connecting failed (attempt {failures}): {e}");
            }
        }
    }
}

impl Connect for Reconnect {
    fn connect<'a>(&'a self, info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let first =
                connect_with_retry(&self.inner, info, &self.backoff, 0, std::future::pending())
                    .await?;
            let Some(first) = first else {
                return Err(io::Error::other("autoreconnect: cancelled"));
            };
            let (bytes, msgs) = into_messages(first);
            let (to_inner, from_client) = byte_channel::<Message>(self.queue);
            let (to_client, from_inner) = byte_channel::<io::Result<Message>>(self.queue);
            let sup = Supervisor {
                inner: self.inner.clone(),
                info: info.clone(),
                backoff: self.backoff,
                from_client,
                to_client,
            };
            tokio::spawn(sup.run(msgs));
            let stream = futures::stream::unfold(from_inner, |mut rx| async move {
                rx.recv().await.map(|m| (m, rx))
            });
            let sink = futures::sink::unfold(to_inner, |tx, m: Message| async move {
                tx.send(m).await.map_err(|_| {
                    io::Error::new(io::ErrorKind::BrokenPipe, "autoreconnect: connection ended")
                })?;
                Ok::<_, io::Error>(tx)
            });
            Ok(client_conn(bytes, stream, sink))
        })
    }
}

/// The task that owns the inner connection and replaces it when it ends.
struct Supervisor {
    inner: Arc<dyn Connect>,
    info: ConnInfo,
    backoff: Backoff,
    from_client: ByteReceiver<Message>,
    to_client: ByteSender<io::Result<Message>>,
}

/// Why one inner connection stopped being used.
enum Ended {
    /// It failed or ended: open another.
    Reconnect,
    /// Our side closed its writer and the inner connection was read to its end: stop.
    Finished,
    /// The client is gone: stop.
    ClientGone,
}

impl Supervisor {
    async fn run(mut self, first: Box<dyn crate::exec::conn::MessageStream>) {
        let mut conn = first;
        // A message taken from the client whose write failed; sent first on the next one.
        let mut unsent: Option<Message> = None;
        let mut failures = 0u32;
        loop {
            let (ended, productive) = self.pump(conn, &mut unsent).await;
            match ended {
                Ended::Finished | Ended::ClientGone => return,
                Ended::Reconnect => {}
            }
            failures = if productive { 0 } else { failures + 1 };
            // Even a connection that ends at once waits before the next attempt (no spin).
            let to_client = self.to_client.clone();
            let gone = async move { to_client.closed().await };
            let delay = self.backoff.delay(failures);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.to_client.closed() => return,
            }
            match connect_with_retry(&self.inner, &self.info, &self.backoff, failures, gone).await {
                Ok(Some(c)) => {
                    tracing::info!("autoreconnect: connected again");
                    conn = into_messages(c).1;
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = self.to_client.send(Err(e)).await;
                    return;
                }
            }
        }
    }

    /// Copies between the client channels and one inner connection until it ends. Returns
    /// how it ended and whether it carried any data.
    async fn pump(
        &mut self,
        conn: Box<dyn crate::exec::conn::MessageStream>,
        unsent: &mut Option<Message>,
    ) -> (Ended, bool) {
        let (mut sink, mut stream) = conn.split();
        let mut productive = false;
        let mut writing = true;
        if let Some(m) = unsent.take() {
            if let Err(e) = sink.send(m.clone()).await {
                tracing::info!("autoreconnect: writing: {e}");
                *unsent = Some(m);
                return (Ended::Reconnect, false);
            }
        }
        // A message read from the inner connection that the client has not taken yet.
        let mut held: Option<Message> = None;
        loop {
            tokio::select! {
                biased;
                item = stream.next(), if held.is_none() => match item {
                    Some(Ok(m)) => {
                        productive = true;
                        held = Some(m);
                    }
                    Some(Err(e)) => {
                        tracing::info!("autoreconnect: reading: {e}");
                        if writing { return (Ended::Reconnect, productive) }
                        let _ = self.to_client.send(Err(e)).await;
                        return (Ended::Finished, productive);
                    }
                    None => {
                        tracing::info!("autoreconnect: the inner connection ended");
                        if writing { return (Ended::Reconnect, productive) }
                        return (Ended::Finished, productive);
                    }
                },
                permit = self.to_client.reserve(held.as_ref().map_or(0, Weigh::weight)), if held.is_some() => match permit {
                    Some(p) => {
                        if let Some(m) = held.take() {
                            if p.send(Ok(m)).is_err() {
                                return (Ended::ClientGone, productive);
                            }
                        }
                    }
                    None => return (Ended::ClientGone, productive),
                },
                m = self.from_client.recv(), if writing => match m {
                    Some(m) => {
                        if let Err(e) = sink.send(m.clone()).await {
                            tracing::info!("autoreconnect: writing: {e}");
                            *unsent = Some(m);
                            return (Ended::Reconnect, productive);
                        }
                        productive = true;
                    }
                    None => {
                        // Our side is done writing: pass the half-close on, stop reconnecting.
                        writing = false;
                        let _ = sink.close().await;
                    }
                },
                _ = self.to_client.closed(), if !writing => return (Ended::ClientGone, productive),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Backoff {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(1000),
            max_attempts: None,
        };
        let d0 = b.delay(0);
        assert!(d0 >= Duration::from_millis(20) && d0 <= Duration::from_millis(25));
        let d3 = b.delay(3);
        assert!(d3 >= Duration::from_millis(160) && d3 <= Duration::from_millis(200));
        assert_eq!(b.delay(30), Duration::from_millis(1000));
    }

    /// An inner connection that never reads what is written to it and never sends.
    struct Stuck;

    impl futures::Stream for Stuck {
        type Item = io::Result<Message>;
        fn poll_next(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Pending
        }
    }

    impl futures::Sink<Message> for Stuck {
        type Error = io::Error;
        fn poll_ready(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Pending
        }
        fn start_send(self: std::pin::Pin<&mut Self>, _: Message) -> io::Result<()> {
            Ok(())
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Pending
        }
        fn poll_close(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Pending
        }
    }

    impl crate::exec::conn::MessageStream for Stuck {}

    struct ConnectStuck;

    impl Connect for ConnectStuck {
        fn connect<'a>(&'a self, _: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
            Box::pin(async { Ok(Conn::Messages(Box::new(Stuck))) })
        }
    }

    #[tokio::test]
    async fn a_writer_waits_once_the_queue_holds_its_bytes() {
        let layer = ReconnectLayer {
            backoff: Backoff {
                base: Duration::from_millis(10),
                cap: Duration::from_millis(10),
                max_attempts: None,
            },
            queue: 1 << 20,
        };
        let conn = layer
            .layer(Arc::new(ConnectStuck))
            .connect(&ConnInfo::default())
            .await
            .unwrap();
        let Conn::Messages(mut conn) = conn else {
            panic!("autoreconnect over messages must stay messages")
        };
        let big = Message::Binary(bytes::Bytes::from(vec![0u8; 600 << 10]));
        let mut accepted = 0;
        while accepted < 64 {
            let send = conn.send(big.clone());
            match tokio::time::timeout(Duration::from_millis(300), send).await {
                Ok(r) => r.unwrap(),
                Err(_) => break,
            }
            accepted += 1;
        }
        // One message is stuck in the inner connection's write and one waits in the 1 MiB
        // queue; the third does not fit.
        assert_eq!(accepted, 2);
    }

    #[tokio::test]
    async fn survives_a_server_restart_on_the_same_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tcp = Arc::new(crate::kinds::tcp::TcpConnect {
            target: crate::spec::args::parse_host_port(&addr.to_string()).unwrap(),
        });
        let layer = ReconnectLayer {
            backoff: Backoff {
                base: Duration::from_millis(10),
                cap: Duration::from_millis(200),
                max_attempts: None,
            },
            queue: 8,
        };
        let conn = layer
            .layer(tcp)
            .connect(&ConnInfo::default())
            .await
            .unwrap();
        let Conn::Bytes(mut conn) = conn else {
            panic!("autoreconnect over tcp must stay a byte stream")
        };
        let (mut s1, _) = listener.accept().await.unwrap();
        conn.write_all(b"first").await.unwrap();
        conn.flush().await.unwrap();
        let mut buf = [0u8; 5];
        s1.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"first");
        drop(listener);
        drop(s1);
        // Written while the server is down: must arrive at the new server.
        tokio::time::sleep(Duration::from_millis(50)).await;
        conn.write_all(b"second").await.unwrap();
        conn.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let (mut s2, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
            .await
            .unwrap()
            .unwrap();
        let mut buf = [0u8; 6];
        tokio::time::timeout(Duration::from_secs(5), s2.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"second");
        s2.write_all(b"back").await.unwrap();
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"back");
    }
}
