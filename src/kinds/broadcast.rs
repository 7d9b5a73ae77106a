//! `broadcast:`: many connections share one inner connection. Whatever the inner connection
//! sends goes to every current client; whatever any client sends goes to the inner one.
//!
//! The fan-out is a [`Hub`]: one bounded queue per client (messages and bytes), filled by one
//! task that reads the inner connection. Each message's payload is one `Bytes` shared by all
//! queues. Under the default `slow=block` the task reads the next message only once no queue
//! is full, so the slowest client paces the source and nothing is lost. The other way, all
//! clients send into one queue bounded in bytes ([`byte_channel_capped`]) that one task
//! writes to the inner connection, so a shared connection that does not read holds the
//! clients back.

use crate::exec::build::BuildCtx;
use crate::exec::conn::{BoxMessageSink, CloseRequest, MessageStream};
use crate::exec::queue::{byte_channel_capped, ByteSender};
use crate::exec::share::{client_conn, into_messages, AbortableBytes, QueueSink};
use crate::exec::{Conn, ConnInfo, Connect, ConnectorLayer, Message};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape, Trait};
use futures::future::BoxFuture;
use futures::{Sink, SinkExt, Stream, StreamExt};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;

/// Registry entry for `broadcast:`.
pub const BROADCAST: KindDef = KindDef {
    name: "broadcast",
    synonyms: &["reuse", "reuse-broadcast", "broadcast-reuse"],
    role: Role::ConnectorOverlay,
    shape: Shape::Preserve,
    traits: &[Trait::SharesInner],
    arg: ArgType::None,
    params: &[
        ParamDef {
            name: "queue",
            ty: ParamType::Uint,
            flag: Some("--queue-len"),
            help: "most messages queued per client, and from all clients to the shared \
                   connection (default 64; as websocat 1.x's `--queue-len`)",
        },
        ParamDef {
            name: "client-buffer",
            ty: ParamType::Uint,
            flag: Some("--client-buffer-bytes"),
            help: "most bytes queued per client, and from all clients to the shared connection; \
                   one message is always admitted (default 1 MiB)",
        },
        ParamDef {
            name: "slow",
            ty: ParamType::Text,
            flag: Some("--slow-client-policy"),
            help: "what happens when a client's queue is full: `block` (default), `drop` or \
                   `disconnect`",
        },
        ParamDef {
            name: "slow-timeout",
            ty: ParamType::Uint,
            flag: Some("--slow-client-timeout-ms"),
            help: "with `slow=disconnect`: ms a full queue may last before its client is \
                   disconnected (default 10000)",
        },
    ],
    summary: "share one inner connection among all clients; replies go to every client",
    help: "The inner connection is opened when the first client arrives and kept while clients \
           come and go. Every message from it goes to every client connected at that moment \
           (one shared buffer, queued per client); data from any client is sent to it. A client \
           joins once its session starts reading. Each client has a queue of at most `queue` \
           messages and `client-buffer` bytes (a larger message is still admitted into an empty \
           queue). What clients send waits in one queue towards the shared connection, bounded \
           the same way (`client-buffer` bytes and `queue` messages, a larger message alone): \
           when the shared connection does not read, clients' writes wait and memory stays \
           bounded; nothing they sent is dropped. What happens when a client's queue is full is \
           the `slow` policy: `block` (default, as websocat 1.x): the inner connection is read \
           only as fast as the slowest client takes messages; nothing is lost, but one client \
           that stops reading stops everybody. `drop`: the oldest queued messages of that \
           client are dropped to make room (logged with counts); the others never wait, the \
           slow client sees gaps. `disconnect`: like `block`, but a client whose queue stays \
           full for `slow-timeout` ms is disconnected (logged) and the others go on; a \
           WebSocket client gets Close 1008 (policy violation) with a reason if it takes it \
           within another `slow-timeout` (at least 1 s), and its connection is closed either \
           way; a byte-stream client (such as one behind `tcp-l:`) has its connection closed at \
           once, even if it never reads again. The others wait up to that limit, and no client \
           sees gaps. The planner adds this kind when stdio stands behind a listener. As in \
           websocat 1.x, `reuse:` is this kind; `reuse-raw:` is the variant that hands each \
           incoming message to one client only.",
    examples: &[
        "websocat ws-l:127.0.0.1:8080 broadcast:-",
        "websocat -b ws-l:127.0.0.1:8080 broadcast[slow=drop,client-buffer=65536]:mirror:",
        "websocat --slow-client-policy=disconnect --slow-client-timeout-ms=2000 ws-l:127.0.0.1:8080 -",
        "websocat -u ws-l:127.0.0.1:8080 reuse:autoreconnect:tcp:127.0.0.1:5000",
    ],
    build: Build::ConnectorLayer(build),
};

fn build(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnectorLayer>, String> {
    let policy = match node.param("slow").unwrap_or("block") {
        "block" => SlowPolicy::Block,
        "drop" => SlowPolicy::Drop,
        "disconnect" => SlowPolicy::Disconnect,
        other => {
            return Err(format!(
                "unknown slow-client policy `{other}` (use block, drop or disconnect)"
            ))
        }
    };
    let limits = Limits {
        messages: node.param_u64("queue").unwrap_or(64).max(1) as usize,
        bytes: node
            .param_u64("client-buffer")
            .unwrap_or(DEFAULT_CLIENT_BUFFER)
            .max(1) as usize,
        policy,
        timeout: Duration::from_millis(node.param_u64("slow-timeout").unwrap_or(10_000)),
    };
    Ok(Arc::new(BroadcastLayer { limits }))
}

/// Default `client-buffer`: bytes queued per client before its queue counts as full.
const DEFAULT_CLIENT_BUFFER: u64 = 1 << 20;

/// WebSocket status sent to a client disconnected for being too slow: 1008, policy violation
/// (the client broke the server's rule on how far behind it may fall; trying again at once,
/// as 1013 would suggest, does not help a client that does not read).
pub const SLOW_CLIENT_CLOSE_CODE: u16 = 1008;

/// What `broadcast:` does when a client's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlowPolicy {
    /// Stop reading the shared connection until the client makes room (lossless).
    Block,
    /// Drop the client's oldest queued messages to make room.
    Drop,
    /// Block, but disconnect a client whose queue stays full for longer than the timeout.
    Disconnect,
}

/// Bounds of each client's queue and the policy applied when one is full.
#[derive(Debug, Clone, Copy)]
struct Limits {
    messages: usize,
    bytes: usize,
    policy: SlowPolicy,
    timeout: Duration,
}

struct BroadcastLayer {
    limits: Limits,
}

impl ConnectorLayer for BroadcastLayer {
    fn layer(&self, inner: Arc<dyn Connect>) -> Arc<dyn Connect> {
        Arc::new(Broadcast {
            inner,
            limits: self.limits,
            shared: Mutex::new(None),
        })
    }
}

/// The shared connection as the clients see it.
struct Shared {
    to_inner: ByteSender<Message>,
    hub: Arc<Hub>,
    bytes: bool,
}

struct Broadcast {
    inner: Arc<dyn Connect>,
    limits: Limits,
    shared: Mutex<Option<Shared>>,
}

/// The fan-out point: one queue per client, filled by the task reading the shared connection.
struct Hub {
    limits: Limits,
    state: std::sync::Mutex<HubState>,
    /// Wakes the fan-out task when a full queue gets room or its client leaves.
    room: Notify,
}

#[derive(Default)]
struct HubState {
    clients: Slots<ClientQueue>,
    /// How many queues are full (counted for `block` and `disconnect` only).
    full: usize,
    /// The shared connection's reading half ended; clients end once their queue is empty.
    ended: bool,
}

/// Values under small reused numbers, iterated in slot order (clients that joined close in
/// time sit close in memory, which a fan-out to thousands of them walks through).
struct Slots<T> {
    slots: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slots<T> {
    fn insert(&mut self, value: T) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(value);
                i
            }
            None => {
                self.slots.push(Some(value));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, id: &usize) -> Option<T> {
        let v = self.slots.get_mut(*id)?.take();
        if v.is_some() {
            self.free.push(*id);
        }
        v
    }

    fn get_mut(&mut self, id: &usize) -> Option<&mut T> {
        self.slots.get_mut(*id)?.as_mut()
    }

    #[cfg(test)]
    fn get(&self, id: &usize) -> Option<&T> {
        self.slots.get(*id)?.as_ref()
    }

    fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().flatten()
    }
}

/// One client's queue. Messages share their payload (`Bytes`) with every other client.
struct ClientQueue {
    peer: String,
    queue: VecDeque<Message>,
    bytes: usize,
    /// When the queue became full (it counts in `HubState::full` while this is set).
    full_since: Option<Instant>,
    waker: Option<Waker>,
    /// Set when the client was disconnected for being too slow: the reason.
    evicted: Option<String>,
    /// Tells a byte-stream client's session that it was disconnected.
    kick: Arc<Kick>,
    lost_messages: u64,
    lost_bytes: u64,
    /// When the last loss report was logged.
    reported_at: Option<Instant>,
}

impl ClientQueue {
    fn is_full(&self, limits: &Limits) -> bool {
        self.queue.len() >= limits.messages || self.bytes >= limits.bytes
    }

    fn report_losses(&self) {
        if self.lost_messages > 0 {
            tracing::warn!(
                "broadcast: slow client {} lost {} messages ({} bytes) in total (slow=drop)",
                self.peer,
                self.lost_messages,
                self.lost_bytes
            );
        }
    }
}

impl Hub {
    fn new(limits: Limits) -> Self {
        Hub {
            limits,
            state: std::sync::Mutex::new(HubState::default()),
            room: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        // The state stays consistent between statements; a panic elsewhere does not break it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a client; returns its id.
    fn join(&self, peer: String, kick: Arc<Kick>) -> usize {
        let mut st = self.lock();
        st.clients.insert(ClientQueue {
            peer,
            kick,
            queue: VecDeque::new(),
            bytes: 0,
            full_since: None,
            waker: None,
            evicted: None,
            lost_messages: 0,
            lost_bytes: 0,
            reported_at: None,
        })
    }

    /// Removes a client that went away; the others no longer wait for it.
    fn leave(&self, id: usize) {
        let mut st = self.lock();
        if let Some(c) = st.clients.remove(&id) {
            if c.full_since.is_some() {
                st.full -= 1;
                self.room.notify_one();
            }
            c.report_losses();
        }
    }

    /// Queues one message for every client (a queue entry each, the payload is shared).
    fn publish(&self, msg: Message) {
        let limits = self.limits;
        let len = msg.payload().len();
        let now = Instant::now();
        let mut st = self.lock();
        let mut newly_full = 0;
        for c in st.clients.values_mut() {
            if c.evicted.is_some() {
                continue;
            }
            if limits.policy == SlowPolicy::Drop {
                let mut dropped = 0u64;
                while !c.queue.is_empty()
                    && (c.queue.len() >= limits.messages || c.bytes + len > limits.bytes)
                {
                    if let Some(old) = c.queue.pop_front() {
                        c.bytes -= old.payload().len();
                        c.lost_bytes += old.payload().len() as u64;
                        dropped += 1;
                    }
                }
                if dropped > 0 {
                    c.lost_messages += dropped;
                    if c.reported_at
                        .is_none_or(|t| now.duration_since(t) >= REPORT_EVERY)
                    {
                        c.reported_at = Some(now);
                        tracing::warn!(
                            "broadcast: client {} is more than {} bytes or {} messages behind; \
                             dropped its oldest messages: {} so far ({} bytes) (slow=drop)",
                            c.peer,
                            limits.bytes,
                            limits.messages,
                            c.lost_messages,
                            c.lost_bytes
                        );
                    }
                }
            }
            c.queue.push_back(msg.clone());
            c.bytes += len;
            if limits.policy != SlowPolicy::Drop && c.full_since.is_none() && c.is_full(&limits) {
                c.full_since = Some(now);
                newly_full += 1;
            }
            if let Some(w) = c.waker.take() {
                w.wake();
            }
        }
        st.full += newly_full;
    }

    /// Waits until no client's queue is full (never under `drop`). Under `disconnect`, first
    /// disconnects the clients whose queue has been full for longer than the timeout.
    async fn wait_for_room(&self) {
        loop {
            let deadline = {
                let mut st = self.lock();
                if st.full == 0 {
                    return;
                }
                if self.limits.policy != SlowPolicy::Disconnect {
                    None
                } else {
                    self.evict_expired(&mut st);
                    if st.full == 0 {
                        return;
                    }
                    st.clients
                        .values()
                        .filter_map(|c| c.full_since)
                        .min()
                        .map(|t| t + self.limits.timeout)
                }
            };
            match deadline {
                Some(d) => {
                    tokio::select! {
                        _ = self.room.notified() => {}
                        _ = tokio::time::sleep_until(d.into()) => {}
                    }
                }
                None => self.room.notified().await,
            }
        }
    }

    fn evict_expired(&self, st: &mut HubState) {
        let now = Instant::now();
        let limits = self.limits;
        let mut evicted = 0;
        for c in st.clients.values_mut() {
            let Some(since) = c.full_since else { continue };
            if now.duration_since(since) < limits.timeout {
                continue;
            }
            let reason = format!(
                "too slow: {} bytes queued for more than {} ms",
                c.bytes,
                limits.timeout.as_millis()
            );
            tracing::warn!(
                "broadcast: disconnecting slow client {}: its queue of {} messages ({} bytes) \
                 stayed full for {} ms (slow=disconnect)",
                c.peer,
                c.queue.len(),
                c.bytes,
                limits.timeout.as_millis()
            );
            c.kick.kick(&reason);
            c.evicted = Some(reason);
            c.queue = VecDeque::new();
            c.bytes = 0;
            c.full_since = None;
            evicted += 1;
            if let Some(w) = c.waker.take() {
                w.wake();
            }
        }
        st.full -= evicted;
    }

    /// Marks the end of the shared connection's reading half.
    fn end(&self) {
        let mut st = self.lock();
        st.ended = true;
        for c in st.clients.values_mut() {
            if let Some(w) = c.waker.take() {
                w.wake();
            }
        }
    }

    fn is_ended(&self) -> bool {
        self.lock().ended
    }
}

/// Least time between two loss reports for one client under `slow=drop`.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// A client's view of the hub: its own queue, joined on the first read.
struct ClientStream {
    hub: Arc<Hub>,
    peer: String,
    id: Option<usize>,
    done: bool,
    kick: Arc<Kick>,
}

/// The disconnection of a slow client, for a session that is not reading from the hub (a
/// byte-stream client waiting to write to its socket; see [`AbortableBytes`]).
#[derive(Default)]
struct Kick {
    token: CancellationToken,
    reason: std::sync::OnceLock<String>,
}

impl Kick {
    fn kick(&self, reason: &str) {
        let _ = self.reason.set(reason.to_string());
        self.token.cancel();
    }

    /// Resolves with the error that ends the client's session once it was disconnected.
    async fn kicked(self: Arc<Self>) -> io::Error {
        self.token.cancelled().await;
        let reason = self.reason.get().map_or("too slow", String::as_str);
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("broadcast: disconnected the client: {reason} (slow=disconnect)"),
        )
    }
}

impl Stream for ClientStream {
    type Item = io::Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let id = match self.id {
            Some(id) => id,
            None => {
                let peer = std::mem::take(&mut self.peer);
                let id = self.hub.join(peer, self.kick.clone());
                self.id = Some(id);
                id
            }
        };
        let hub = self.hub.clone();
        let limits = hub.limits;
        let mut st = hub.lock();
        let ended = st.ended;
        let mut now_has_room = false;
        let Some(c) = st.clients.get_mut(&id) else {
            drop(st);
            self.done = true;
            return Poll::Ready(None);
        };
        if let Some(reason) = c.evicted.take() {
            drop(st);
            self.done = true;
            return Poll::Ready(Some(Err(eviction_error(reason, &limits))));
        }
        let item = match c.queue.pop_front() {
            Some(m) => {
                c.bytes -= m.payload().len();
                if c.full_since.is_some() && !c.is_full(&limits) {
                    c.full_since = None;
                    now_has_room = true;
                }
                Poll::Ready(Some(Ok(m)))
            }
            None if ended => {
                self.done = true;
                Poll::Ready(None)
            }
            None => {
                c.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        };
        if now_has_room {
            st.full -= 1;
            if st.full == 0 {
                hub.room.notify_one();
            }
        }
        item
    }
}

impl ClientStream {
    /// Ready with the error that ends the session once the client has been disconnected.
    fn poll_evicted(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(id) = self.id else {
            return Poll::Pending;
        };
        let hub = self.hub.clone();
        let mut st = hub.lock();
        let Some(c) = st.clients.get_mut(&id) else {
            return Poll::Pending;
        };
        match c.evicted.take() {
            Some(reason) => {
                drop(st);
                self.done = true;
                Poll::Ready(eviction_error(reason, &hub.limits))
            }
            None => {
                c.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The error that ends a disconnected client's session: a WebSocket client gets a Close with
/// [`SLOW_CLIENT_CLOSE_CODE`] if it takes it within the timeout (at least a second).
fn eviction_error(reason: String, limits: &Limits) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        CloseRequest {
            code: SLOW_CLIENT_CLOSE_CODE,
            reason,
            grace: limits.timeout.max(Duration::from_secs(1)),
        },
    )
}

/// A client's connection when the shared one carries messages: its queue, and a sink to the
/// shared connection. Unlike a plain stream it can end its session while the client's socket
/// is full (see [`MessageStream::poll_abort`]).
struct ClientMessages {
    stream: ClientStream,
    sink: BoxMessageSink,
}

impl Stream for ClientMessages {
    type Item = io::Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.stream).poll_next(cx)
    }
}

impl Sink<Message> for ClientMessages {
    type Error = io::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sink.as_mut().poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> io::Result<()> {
        self.sink.as_mut().start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sink.as_mut().poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sink.as_mut().poll_close(cx)
    }
}

impl MessageStream for ClientMessages {
    fn poll_abort(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        self.stream.poll_evicted(cx)
    }
}

impl Drop for ClientStream {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.hub.leave(id);
        }
    }
}

impl Broadcast {
    async fn start(&self, info: &ConnInfo) -> io::Result<Shared> {
        let conn = self.inner.connect(info).await?;
        let (bytes, msgs) = into_messages(conn);
        let (mut sink, mut stream) = msgs.split();
        let (to_inner, mut rx) =
            byte_channel_capped::<Message>(self.limits.bytes, self.limits.messages);
        let hub = Arc::new(Hub::new(self.limits));
        let fanout = hub.clone();
        tokio::spawn(async move {
            loop {
                // Read the shared connection only when every client can take a message.
                fanout.wait_for_room().await;
                match stream.next().await {
                    Some(Ok(m)) => fanout.publish(m),
                    Some(Err(e)) => {
                        tracing::warn!("broadcast: reading the shared connection: {e}");
                        break;
                    }
                    None => break,
                }
            }
            fanout.end();
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
            hub,
            bytes,
        })
    }
}

impl Connect for Broadcast {
    fn connect<'a>(&'a self, info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let mut guard = self.shared.lock().await;
            let alive = guard
                .as_ref()
                .is_some_and(|s| !s.to_inner.is_closed() && !s.hub.is_ended());
            if !alive {
                *guard = Some(self.start(info).await?);
            }
            let Some(shared) = guard.as_ref() else {
                return Err(io::Error::other("broadcast: no shared connection"));
            };
            let kick = Arc::new(Kick::default());
            let stream = ClientStream {
                hub: shared.hub.clone(),
                peer: info
                    .peer
                    .as_ref()
                    .map_or_else(|| "(unknown peer)".to_string(), |p| p.to_string()),
                id: None,
                done: false,
                kick: kick.clone(),
            };
            let sink = QueueSink::new(shared.to_inner.clone());
            if shared.bytes {
                let Conn::Bytes(io) = client_conn(true, stream, sink) else {
                    return Err(io::Error::other(
                        "broadcast: a byte client made of messages",
                    ));
                };
                return Ok(Conn::Bytes(Box::new(AbortableBytes::new(
                    io,
                    Box::pin(kick.kicked()),
                ))));
            }
            Ok(Conn::Messages(Box::new(ClientMessages {
                stream,
                sink: Box::pin(sink),
            })))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::FutureExt;

    fn hub(policy: SlowPolicy, messages: usize, bytes: usize) -> Arc<Hub> {
        Arc::new(Hub::new(Limits {
            messages,
            bytes,
            policy,
            timeout: Duration::from_millis(50),
        }))
    }

    /// A client that has joined (its first read found nothing yet).
    fn client(hub: &Arc<Hub>) -> ClientStream {
        let mut c = ClientStream {
            hub: hub.clone(),
            peer: "test".into(),
            id: None,
            done: false,
            kick: Arc::default(),
        };
        assert!(c.next().now_or_never().is_none(), "nothing queued yet");
        c
    }

    fn msg(len: usize, fill: u8) -> Message {
        Message::Binary(Bytes::from(vec![fill; len]))
    }

    fn read_now(c: &mut ClientStream) -> Message {
        match c.next().now_or_never() {
            Some(Some(Ok(m))) => m,
            other => panic!("expected a queued message, got {other:?}"),
        }
    }

    fn has_room(hub: &Hub) -> bool {
        hub.wait_for_room().now_or_never().is_some()
    }

    #[tokio::test]
    async fn block_waits_for_the_slowest_client_and_shares_each_payload() {
        let hub = hub(SlowPolicy::Block, 64, 100);
        let (mut a, mut b) = (client(&hub), client(&hub));
        hub.publish(msg(60, 1));
        assert!(has_room(&hub), "60 of 100 bytes queued");
        hub.publish(msg(60, 2));
        assert!(!has_room(&hub), "both queues are over their budget");
        let first_a = read_now(&mut a);
        assert!(!has_room(&hub), "b is still full");
        let first_b = read_now(&mut b);
        assert!(has_room(&hub), "every queue has room again");
        assert_eq!(first_a, msg(60, 1));
        // One buffer for every client: the payloads are the same bytes in memory.
        assert_eq!(first_a.payload().as_ptr(), first_b.payload().as_ptr());
        assert_eq!(read_now(&mut a), msg(60, 2));
        assert_eq!(read_now(&mut b), msg(60, 2));
    }

    #[tokio::test]
    async fn a_message_larger_than_the_budget_is_still_admitted() {
        let hub = hub(SlowPolicy::Block, 64, 10);
        let mut a = client(&hub);
        hub.publish(msg(1000, 7));
        assert!(!has_room(&hub));
        assert_eq!(read_now(&mut a), msg(1000, 7));
        assert!(has_room(&hub));
    }

    #[tokio::test]
    async fn the_message_count_bounds_a_queue_too() {
        let hub = hub(SlowPolicy::Block, 2, 1 << 20);
        let mut a = client(&hub);
        hub.publish(msg(1, 1));
        assert!(has_room(&hub));
        hub.publish(msg(1, 2));
        assert!(!has_room(&hub), "two messages fill a queue of two");
        read_now(&mut a);
        assert!(has_room(&hub));
    }

    #[tokio::test]
    async fn a_client_that_leaves_no_longer_holds_the_source_back() {
        let hub = hub(SlowPolicy::Block, 64, 10);
        let a = client(&hub);
        let mut b = client(&hub);
        hub.publish(msg(20, 1));
        read_now(&mut b);
        assert!(!has_room(&hub), "a has not read");
        drop(a);
        assert!(has_room(&hub));
    }

    #[tokio::test]
    async fn drop_policy_drops_the_oldest_and_keeps_the_newest() {
        let hub = hub(SlowPolicy::Drop, 64, 100);
        let mut slow = client(&hub);
        for i in 1..=5 {
            hub.publish(msg(40, i));
            assert!(has_room(&hub), "drop never holds the source back");
        }
        assert_eq!(read_now(&mut slow), msg(40, 4));
        assert_eq!(read_now(&mut slow), msg(40, 5));
        assert!(
            slow.next().now_or_never().is_none(),
            "messages 1-3 were dropped"
        );
        let id = slow.id.expect("joined");
        let st = hub.lock();
        let q = st.clients.get(&id).expect("still a client");
        assert_eq!((q.lost_messages, q.lost_bytes), (3, 120));
    }

    #[tokio::test]
    async fn disconnect_policy_evicts_a_client_full_for_longer_than_the_timeout() {
        let hub = hub(SlowPolicy::Disconnect, 64, 10);
        let mut slow = client(&hub);
        let mut fast = client(&hub);
        hub.publish(msg(20, 1));
        read_now(&mut fast);
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), hub.wait_for_room())
            .await
            .expect("the slow client is evicted within the timeout");
        assert!(started.elapsed() >= Duration::from_millis(50));
        // A byte-stream client's session, stuck writing to its socket, hears of it at once.
        let kicked = slow.kick.clone().kicked().now_or_never().expect("kicked");
        assert!(kicked.to_string().contains("too slow"), "{kicked}");
        assert!(!fast.kick.token.is_cancelled());
        let err = match slow.next().now_or_never() {
            Some(Some(Err(e))) => e,
            other => panic!("expected the eviction error, got {other:?}"),
        };
        let req = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<CloseRequest>())
            .expect("a CloseRequest");
        assert_eq!(req.code, 1008);
        assert!(req.reason.contains("too slow"), "{}", req.reason);
        assert!(matches!(slow.next().now_or_never(), Some(None)));
        // The others go on.
        hub.publish(msg(5, 2));
        assert_eq!(read_now(&mut fast), msg(5, 2));
    }

    #[tokio::test]
    async fn clients_drain_their_queue_before_the_end() {
        let hub = hub(SlowPolicy::Block, 64, 100);
        let mut a = client(&hub);
        hub.publish(msg(3, 1));
        hub.end();
        assert_eq!(read_now(&mut a), msg(3, 1));
        assert!(matches!(a.next().now_or_never(), Some(None)));
    }
}
