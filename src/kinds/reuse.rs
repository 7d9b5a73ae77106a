//! `reuse-raw:`: many connections share one inner connection, as websocat 1.x's `reuse-raw:`.
//! Whatever a client writes goes to the inner connection; whatever the inner connection
//! sends goes to whichever client reads next (exactly one of them), so nothing is copied and
//! nothing is dropped: a slow client only slows the shared connection down.

use crate::exec::build::BuildCtx;
use crate::exec::conn::BoxMessageStream;
use crate::exec::queue::{byte_channel_capped, ByteSender};
use crate::exec::share::{client_conn, into_messages, QueueSink};
use crate::exec::{Conn, ConnInfo, Connect, ConnectorLayer, Message};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape, Trait};
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Mutex;

/// Registry entry for `reuse-raw:`.
pub const REUSE_RAW: KindDef = KindDef {
    name: "reuse-raw",
    synonyms: &["raw-reuse"],
    role: Role::ConnectorOverlay,
    shape: Shape::Preserve,
    traits: &[Trait::SharesInner],
    arg: ArgType::None,
    params: &[
        ParamDef {
            name: "queue",
            ty: ParamType::Uint,
            flag: Some("--queue-len"),
            help: "most messages queued from clients to the shared connection (default 64)",
        },
        ParamDef {
            name: "client-buffer",
            ty: ParamType::Uint,
            flag: Some("--client-buffer-bytes"),
            help: "most bytes queued from clients to the shared connection before writers \
                   wait; one message is always admitted (default 1 MiB)",
        },
        ParamDef {
            name: "zero-msg-on-disconnect",
            ty: ParamType::Bool,
            flag: Some("--reuser-send-zero-msg-on-disconnect"),
            help: "send an empty message to the inner connection when a client disconnects",
        },
    ],
    summary: "share one inner connection among all clients; each reply goes to one client",
    help: "The inner connection is opened when the first client arrives and kept while clients \
           come and go (it is opened again once writing to it fails). Everything clients write goes to \
           it, in order. Each message (or read) coming from it is delivered to exactly one \
           client: whichever is reading at that moment. Nothing is duplicated or dropped: a \
           client that does not read holds the data back for everybody. What clients write \
           waits in one queue of at most `client-buffer` bytes and `queue` messages (a larger \
           message is still admitted alone); when it is full, writers wait, so a shared \
           connection that does not read holds every writer back. A client's half-close \
           is not passed on. Use `broadcast:` (`reuse:`) to copy replies to every client.",
    examples: &[
        "websocat -u ws-l:127.0.0.1:8080 reuse-raw:tcp:127.0.0.1:5000",
        "websocat ws-l:127.0.0.1:8080 reuse-raw:autoreconnect:ws://127.0.0.1:9000/",
    ],
    build: Build::ConnectorLayer(build),
};

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnectorLayer>, String> {
    Ok(Arc::new(ReuseLayer {
        queue: node.param_u64("queue").unwrap_or(64).max(1) as usize,
        buffer: node
            .param_u64("client-buffer")
            .unwrap_or(DEFAULT_CLIENT_BUFFER)
            .max(1) as usize,
        zero_msg: node.param_bool("zero-msg-on-disconnect"),
    }))
}

/// Default `client-buffer`: bytes queued from clients to the shared connection.
const DEFAULT_CLIENT_BUFFER: u64 = 1 << 20;

struct ReuseLayer {
    queue: usize,
    buffer: usize,
    zero_msg: bool,
}

impl ConnectorLayer for ReuseLayer {
    fn layer(&self, inner: Arc<dyn Connect>) -> Arc<dyn Connect> {
        Arc::new(Reuse {
            inner,
            queue: self.queue,
            buffer: self.buffer,
            zero_msg: self.zero_msg,
            shared: Mutex::new(None),
        })
    }
}

/// The reading half of the shared connection, taken in turn by clients.
struct SharedReader {
    stream: BoxMessageStream,
    /// Set once the inner stream has ended; later reads see the end at once.
    ended: bool,
}

struct Shared {
    to_inner: ByteSender<Message>,
    reader: Arc<Mutex<SharedReader>>,
    /// Set when writing to the inner connection failed or ended; the next client opens a new one.
    dead: Arc<AtomicBool>,
    bytes: bool,
}

struct Reuse {
    inner: Arc<dyn Connect>,
    queue: usize,
    buffer: usize,
    zero_msg: bool,
    shared: Mutex<Option<Shared>>,
}

impl Reuse {
    async fn start(&self, info: &ConnInfo) -> io::Result<Shared> {
        let conn = self.inner.connect(info).await?;
        let (bytes, msgs) = into_messages(conn);
        let (mut sink, stream) = msgs.split();
        let dead = Arc::new(AtomicBool::new(false));
        let (to_inner, mut rx) = byte_channel_capped::<Message>(self.buffer, self.queue);
        let writer_dead = dead.clone();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if let Err(e) = sink.send(m).await {
                    tracing::warn!("reuse-raw: writing to the shared connection: {e}");
                    break;
                }
            }
            writer_dead.store(true, Ordering::SeqCst);
            let _ = sink.close().await;
        });
        Ok(Shared {
            to_inner,
            reader: Arc::new(Mutex::new(SharedReader {
                stream: Box::pin(stream),
                ended: false,
            })),
            dead,
            bytes,
        })
    }
}

impl Connect for Reuse {
    fn connect<'a>(&'a self, info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let mut guard = self.shared.lock().await;
            let alive = guard
                .as_ref()
                .is_some_and(|s| !s.dead.load(Ordering::SeqCst) && !s.to_inner.is_closed());
            if !alive {
                *guard = Some(self.start(info).await?);
            }
            let Some(shared) = guard.as_ref() else {
                return Err(io::Error::other("reuse-raw: no shared connection"));
            };
            let stream = futures::stream::unfold(shared.reader.clone(), |reader| async move {
                let mut r = reader.lock().await;
                if r.ended {
                    return None;
                }
                match r.stream.next().await {
                    Some(item) => {
                        drop(r);
                        Some((item, reader))
                    }
                    None => {
                        // Only the reading half ended: a write-only inner connection
                        // (`writefile:`) reads EOF at once and must stay shared. It is replaced
                        // once writing to it fails.
                        r.ended = true;
                        None
                    }
                }
            });
            let mut sink = QueueSink::new(shared.to_inner.clone());
            if self.zero_msg {
                sink = sink.with_goodbye(Message::Binary(bytes::Bytes::new()));
            }
            Ok(client_conn(shared.bytes, stream, sink))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::conn::MessagePair;
    use futures::SinkExt;

    /// A connector that hands out one end of an in-memory message channel pair per connect
    /// and counts connects.
    struct Pipe {
        ends: std::sync::Mutex<Vec<Conn>>,
        count: std::sync::atomic::AtomicUsize,
    }

    impl Connect for Pipe {
        fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
            Box::pin(async move {
                self.count.fetch_add(1, Ordering::SeqCst);
                self.ends
                    .lock()
                    .map_err(|_| io::Error::other("poisoned"))?
                    .pop()
                    .ok_or_else(|| io::Error::other("no more connections"))
            })
        }
    }

    fn pair() -> (Conn, crate::exec::conn::BoxMessageSink, BoxMessageStream) {
        let (to_us, from_test) = crate::exec::conn::message_channel(8);
        let (to_test, from_us) = crate::exec::conn::message_channel(8);
        (
            Conn::Messages(Box::new(MessagePair {
                stream: from_test,
                sink: to_test,
            })),
            to_us,
            from_us,
        )
    }

    fn text(s: &'static str) -> Message {
        Message::Text(bytes::Bytes::from_static(s.as_bytes()))
    }

    #[tokio::test]
    async fn each_inner_message_goes_to_exactly_one_client() {
        let (conn, mut inner_tx, mut inner_rx) = pair();
        let pipe = Arc::new(Pipe {
            ends: std::sync::Mutex::new(vec![conn]),
            count: Default::default(),
        });
        let layer = ReuseLayer {
            queue: 4,
            buffer: 1 << 20,
            zero_msg: true,
        };
        let reuse = layer.layer(pipe.clone());
        let info = ConnInfo::default();
        let Conn::Messages(mut a) = reuse.connect(&info).await.unwrap() else {
            panic!("shape")
        };
        let Conn::Messages(mut b) = reuse.connect(&info).await.unwrap() else {
            panic!("shape")
        };
        assert_eq!(
            pipe.count.load(Ordering::SeqCst),
            1,
            "one shared connection"
        );
        a.send(text("from-a")).await.unwrap();
        b.send(text("from-b")).await.unwrap();
        assert_eq!(inner_rx.next().await.unwrap().unwrap(), text("from-a"));
        assert_eq!(inner_rx.next().await.unwrap().unwrap(), text("from-b"));
        inner_tx.send(text("one")).await.unwrap();
        inner_tx.send(text("two")).await.unwrap();
        // `a` reads first and gets the first message only; `b` gets the second.
        assert_eq!(a.next().await.unwrap().unwrap(), text("one"));
        assert_eq!(b.next().await.unwrap().unwrap(), text("two"));
        // A client's close is not passed on; dropping it sends the empty goodbye message.
        a.close().await.unwrap();
        drop(a);
        assert_eq!(
            inner_rx.next().await.unwrap().unwrap(),
            Message::Binary(bytes::Bytes::new())
        );
        b.send(text("still")).await.unwrap();
        assert_eq!(inner_rx.next().await.unwrap().unwrap(), text("still"));
    }

    #[tokio::test]
    async fn clients_wait_once_their_queue_holds_its_bytes_and_lose_nothing() {
        use futures::FutureExt;
        let (conn, _inner_tx, mut inner_rx) = pair();
        let pipe = Arc::new(Pipe {
            ends: std::sync::Mutex::new(vec![conn]),
            count: Default::default(),
        });
        // Room for 64 messages but only 4000 bytes: the bytes bound it.
        let reuse = ReuseLayer {
            queue: 64,
            buffer: 4000,
            zero_msg: false,
        }
        .layer(pipe);
        let Conn::Messages(mut a) = reuse.connect(&ConnInfo::default()).await.unwrap() else {
            panic!("shape")
        };
        let big = |i: u8| Message::Binary(bytes::Bytes::from(vec![i; 3000]));
        let mut sent = 0u8;
        while sent < 40 {
            // Room for the next one (the previous one is queued), with time for the writer
            // task to move what it can to the inner connection.
            let ready = futures::future::poll_fn(|cx| a.poll_ready_unpin(cx));
            match tokio::time::timeout(std::time::Duration::from_millis(100), ready).await {
                Ok(r) => r.unwrap(),
                Err(_) => break,
            }
            a.start_send_unpin(big(sent)).unwrap();
            sent += 1;
        }
        // The inner channel holds 8 (+1), the writer task 1, the queue 1 (larger than its
        // budget, alone), the client's sink 1: nowhere near 64 messages.
        assert!(
            sent < 16,
            "{sent} messages of 3000 bytes taken with 4000 bytes of room"
        );
        assert!(a.flush().now_or_never().is_none(), "the last one waits");
        // Once the inner connection reads, everything arrives in order.
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            while got.len() < 40 {
                got.push(inner_rx.next().await.unwrap().unwrap());
            }
            got
        });
        a.flush().await.unwrap();
        while sent < 40 {
            a.send(big(sent)).await.unwrap();
            sent += 1;
        }
        let got: Vec<(u8, usize)> = reading
            .await
            .unwrap()
            .iter()
            .map(|m| (m.payload()[0], m.payload().len()))
            .collect();
        assert_eq!(got, (0..40).map(|i| (i, 3000)).collect::<Vec<_>>());
    }
}
