//! `broadcast:`: many connections share one inner connection. Whatever the inner connection
//! sends goes to every current client; whatever any client sends goes to the inner one.

use crate::exec::build::BuildCtx;
use crate::exec::share::{client_conn, into_messages};
use crate::exec::{Conn, ConnInfo, Connect, ConnectorLayer, Message};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape, Trait};
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use std::io;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, Mutex};
use tokio_util::sync::PollSender;

/// Registry entry for `broadcast:`.
pub const BROADCAST: KindDef = KindDef {
    name: "broadcast",
    synonyms: &["reuse", "reuse-broadcast", "broadcast-reuse"],
    role: Role::ConnectorOverlay,
    shape: Shape::Preserve,
    traits: &[Trait::SharesInner],
    arg: ArgType::None,
    params: &[ParamDef {
        name: "queue",
        ty: ParamType::Uint,
        flag: Some("--queue-len"),
        help: "messages buffered per client before a slow client starts losing them (default 64)",
    }],
    summary: "share one inner connection among all clients; replies go to every client",
    help: "The inner connection is opened when the first client arrives and kept while clients \
           come and go. Data from it is copied to every client connected at that moment; data \
           from any client is sent to it. A client that falls more than `queue` messages behind \
           loses the oldest ones, and the loss is logged. The planner adds it when stdio stands \
           behind a listener. As in websocat 1.x, `reuse:` is this kind; `reuse-raw:` is the \
           variant that hands each incoming message to one client only.",
    examples: &[
        "websocat ws-l:127.0.0.1:8080 broadcast:-",
        "websocat -u ws-l:127.0.0.1:8080 reuse:autoreconnect:tcp:127.0.0.1:5000",
    ],
    build: Build::ConnectorLayer(build),
};

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnectorLayer>, String> {
    let queue = node.param_u64("queue").unwrap_or(64).max(1) as usize;
    Ok(Arc::new(BroadcastLayer { queue }))
}

struct BroadcastLayer {
    queue: usize,
}

impl ConnectorLayer for BroadcastLayer {
    fn layer(&self, inner: Arc<dyn Connect>) -> Arc<dyn Connect> {
        Arc::new(Broadcast {
            inner,
            queue: self.queue,
            shared: Mutex::new(None),
        })
    }
}

struct Shared {
    to_inner: mpsc::Sender<Message>,
    /// Set when the shared connection's reading half has ended; the next client opens a new one.
    ended: Arc<std::sync::atomic::AtomicBool>,
    /// A receiver kept only to subscribe new clients; it never keeps the channel open.
    template: broadcast::Receiver<Message>,
    bytes: bool,
}

struct Broadcast {
    inner: Arc<dyn Connect>,
    queue: usize,
    shared: Mutex<Option<Shared>>,
}

impl Broadcast {
    async fn start(&self, info: &ConnInfo) -> io::Result<Shared> {
        let conn = self.inner.connect(info).await?;
        let (bytes, msgs) = into_messages(conn);
        let (mut sink, mut stream) = msgs.split();
        let (to_inner, mut rx) = mpsc::channel::<Message>(self.queue);
        let (fanout, template) = broadcast::channel::<Message>(self.queue);
        let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader_ended = ended.clone();
        tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                match item {
                    Ok(m) => {
                        // No receivers is fine: nobody is connected right now.
                        let _ = fanout.send(m);
                    }
                    Err(e) => {
                        tracing::warn!("broadcast: reading the shared connection: {e}");
                        break;
                    }
                }
            }
            reader_ended.store(true, std::sync::atomic::Ordering::SeqCst);
            // Dropping `fanout`, the only sender, ends every client's stream.
        });
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if let Err(e) = sink.send(m).await {
                    tracing::warn!("broadcast: writing to the shared connection: {e}");
                    break;
                }
            }
            let _ = sink.close().await;
        });
        Ok(Shared {
            to_inner,
            ended,
            template,
            bytes,
        })
    }
}

impl Connect for Broadcast {
    fn connect<'a>(&'a self, info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let mut guard = self.shared.lock().await;
            let alive = guard.as_ref().is_some_and(|s| {
                !s.to_inner.is_closed() && !s.ended.load(std::sync::atomic::Ordering::SeqCst)
            });
            if !alive {
                *guard = Some(self.start(info).await?);
            }
            let Some(shared) = guard.as_ref() else {
                return Err(io::Error::other("broadcast: no shared connection"));
            };
            let rx = shared.template.resubscribe();
            let stream = futures::stream::unfold(rx, |mut rx| async move {
                loop {
                    match rx.recv().await {
                        Ok(m) => return Some((Ok(m), rx)),
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!("broadcast: a slow client lost {n} messages");
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            });
            let sink = PollSender::new(shared.to_inner.clone()).sink_map_err(|_| {
                io::Error::new(io::ErrorKind::BrokenPipe, "shared connection closed")
            });
            Ok(client_conn(shared.bytes, stream, sink))
        })
    }
}
