//! Connection types and the traits every kind implements.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Sink, Stream};
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// One message of a message-shaped connection. Ping, pong and close stay inside WebSocket kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message; usually valid UTF-8, but kinds must not rely on that.
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The payload bytes.
    pub fn payload(&self) -> &Bytes {
        match self {
            Message::Text(b) | Message::Binary(b) => b,
        }
    }

    /// Consumes the message, returning its payload.
    pub fn into_payload(self) -> Bytes {
        match self {
            Message::Text(b) | Message::Binary(b) => b,
        }
    }
}

/// A piece of a message that passes through without being reassembled (see
/// [`MessageStream::deliver_parts`]): its type is the whole message's, `last` marks the piece
/// that ends it. A whole message is one piece with `last` set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The bytes of this piece, typed as the whole message.
    pub data: Message,
    /// True for the piece that ends the message.
    pub last: bool,
}

impl Part {
    /// A whole message as one piece.
    pub fn whole(data: Message) -> Self {
        Part { data, last: true }
    }
}

/// A byte stream: anything readable and writable, boxed.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin + std::any::Any {
    /// The concrete stream, for a layer that has a fast path for one transport (see
    /// [`crate::net::poll_write_before_fin`]).
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> ByteStream for T {
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// A message stream: a `Stream` of incoming messages and a `Sink` for outgoing ones.
/// Closing the sink is a half-close (a WebSocket Close, a FIN under a codec).
pub trait MessageStream:
    Stream<Item = io::Result<Message>> + Sink<Message, Error = io::Error> + Send + Unpin
{
    /// Where this stream records the peer closing the connection (a WebSocket Close). The copy
    /// engine then lets the other direction finish what it is sending, ends it once it goes
    /// idle, and reports abnormal close codes.
    fn peer_close(&self) -> Option<Arc<PeerClose>> {
        None
    }

    /// The control handle of a WebSocket connection (pings on demand, the Close to send).
    fn ws_control(&self) -> Option<Arc<crate::ws::control::WsControl>> {
        None
    }

    /// True when `poll_ready` only looks for room in this stream's own buffer and reserves
    /// nothing shared with others. The copy engine then asks for room before it takes the
    /// next message from the other side, so a blocked writer holds its reader back with no
    /// message waiting in between. A sink whose readiness reserves shared capacity (a permit
    /// of a channel many clients send into) says `false`: idle clients holding permits would
    /// keep busy ones from sending.
    fn room_is_private(&self) -> bool {
        false
    }

    /// Makes closing this sink send this status, for a session ended by a [`CloseRequest`].
    /// WebSocket kinds send it in their Close frame; other kinds ignore it.
    fn set_close_status(&mut self, _code: u16, _reason: &str) {}

    /// Polled by the copy engine while the other side is not ready for the message this
    /// stream produced last, has no room for the next or is flushing: an error here ends the
    /// session at once, even though that write never completes (`broadcast:` disconnecting a
    /// client that does not read). Most streams never end that way. (A byte stream says the
    /// same through [`crate::exec::share::AbortableBytes`].)
    fn poll_abort(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Error> {
        std::task::Poll::Pending
    }

    /// The WebSocket extensions this connection negotiated, as in `Sec-WebSocket-Extensions`
    /// (for the interactive status line).
    fn extensions(&self) -> Option<String> {
        None
    }

    /// True when this sink can take a message in pieces ([`MessageStream::start_send_part`])
    /// and pass them on without holding the whole message.
    fn accepts_parts(&self) -> bool {
        false
    }

    /// Asks this stream to yield messages in pieces from [`MessageStream::poll_next_part`] as
    /// their bytes arrive, instead of reassembling them; called by the copy engine when the
    /// other side [accepts parts](MessageStream::accepts_parts). Returns false (the default)
    /// when the stream only yields whole messages.
    fn deliver_parts(&mut self) -> bool {
        false
    }

    /// The next message, or the next piece of one once [`MessageStream::deliver_parts`] was
    /// switched on. By default the next whole message.
    fn poll_next_part(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<io::Result<Part>>> {
        use futures::StreamExt;
        self.poll_next_unpin(cx)
            .map(|item| item.map(|r| r.map(Part::whole)))
    }

    /// Sends one piece of a message, after `poll_ready`; pieces of one message come in order,
    /// nothing else in between. By default only whole messages are taken: only a sink that
    /// [accepts parts](MessageStream::accepts_parts) is given others.
    fn start_send_part(&mut self, part: Part) -> io::Result<()> {
        use futures::SinkExt;
        if !part.last {
            return Err(io::Error::other(
                "internal error: a piece of a message sent to a sink that takes whole messages",
            ));
        }
        self.start_send_unpin(part.data)
    }
}

/// The error a message stream returns to end its session with a WebSocket Close of this
/// status on the other side (`broadcast:` disconnecting a slow client). The copy engine gives
/// that Close up to `grace` to go out, then ends the session with this error.
#[derive(Debug, Clone)]
pub struct CloseRequest {
    /// Close status code.
    pub code: u16,
    /// Close reason (at most 123 bytes are sent).
    pub reason: String,
    /// How long the Close may wait for the peer to take it.
    pub grace: std::time::Duration,
}

impl std::fmt::Display for CloseRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "closing with status {}: {}", self.code, self.reason)
    }
}

impl std::error::Error for CloseRequest {}

/// How a codec of a [`tokio_util::codec::Framed`] message stream writes a message that
/// arrives in pieces ([`MessageStream::accepts_parts`]). By default it takes whole messages
/// only.
pub trait EncodeParts: tokio_util::codec::Encoder<Message, Error = io::Error> {
    /// True when [`EncodeParts::encode_part`] writes pieces as they come.
    fn accepts_parts(&self) -> bool {
        false
    }

    /// Writes one piece of a message; the output of all pieces of a message is what encoding
    /// the whole message would give.
    fn encode_part(&mut self, part: Part, dst: &mut bytes::BytesMut) -> io::Result<()> {
        if !part.last {
            return Err(io::Error::other(
                "internal error: a piece of a message sent to a codec that takes whole messages",
            ));
        }
        self.encode(part.data, dst)
    }
}

impl<T, C> MessageStream for tokio_util::codec::Framed<T, C>
where
    T: AsyncRead + AsyncWrite + Send + Unpin,
    C: tokio_util::codec::Decoder<Item = Message, Error = io::Error> + EncodeParts + Send + Unpin,
{
    fn room_is_private(&self) -> bool {
        true
    }

    fn accepts_parts(&self) -> bool {
        self.codec().accepts_parts()
    }

    fn start_send_part(&mut self, part: Part) -> io::Result<()> {
        // The codec and the write buffer are borrowed one at a time; moving the buffer out
        // and back costs nothing.
        let mut buf = std::mem::take(self.write_buffer_mut());
        let r = self.codec_mut().encode_part(part, &mut buf);
        *self.write_buffer_mut() = buf;
        r
    }
}

/// An established connection of either shape.
pub enum Conn {
    /// Produces and consumes bytes.
    Bytes(Box<dyn ByteStream>),
    /// Produces and consumes messages.
    Messages(Box<dyn MessageStream>),
}

impl Conn {
    /// Short name of the shape, for error messages.
    pub fn shape_name(&self) -> &'static str {
        match self {
            Conn::Bytes(_) => "bytes",
            Conn::Messages(_) => "messages",
        }
    }

    /// The byte stream an overlay wraps; `kind` is its registry name (`KIND.name`). Anything
    /// else is a planner bug (the registry declares what the kind takes), reported so.
    pub fn into_bytes_for(self, kind: &str) -> io::Result<Box<dyn ByteStream>> {
        match self {
            Conn::Bytes(b) => Ok(b),
            other => Err(shape_error(kind, "a byte stream", &other)),
        }
    }

    /// The message stream an overlay of `kind` wraps; see [`Conn::into_bytes_for`].
    pub fn into_messages_for(self, kind: &str) -> io::Result<Box<dyn MessageStream>> {
        match self {
            Conn::Messages(m) => Ok(m),
            other => Err(shape_error(kind, "messages", &other)),
        }
    }
}

/// The close state a message stream shares with the copy engine: the stream records the
/// peer's Close (set once, read by the engine); the engine records a session that ends
/// because the process shuts down, so that the stream's own Close says "going away".
#[derive(Debug, Default)]
pub struct PeerClose {
    closed: std::sync::atomic::AtomicBool,
    echo: std::sync::atomic::AtomicBool,
    going_away: std::sync::atomic::AtomicBool,
    frame: std::sync::Mutex<Option<(Option<u16>, String)>>,
    failure: std::sync::Mutex<Option<String>>,
}

impl PeerClose {
    /// Records the peer's Close: its status code (none for an empty Close), its reason, and
    /// whether it merely echoes the status of a Close we sent.
    pub fn mark(&self, code: Option<u16>, reason: String, echo_of_ours: bool) {
        if let Ok(mut f) = self.frame.lock() {
            *f = Some((code, reason));
        }
        self.echo
            .store(echo_of_ours, std::sync::atomic::Ordering::SeqCst);
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Records that the peer broke the protocol and we failed the connection (our Close
    /// answers it); counts as closed by the peer. `what` says what was wrong.
    pub fn fail(&self, what: String) {
        if let Ok(mut f) = self.failure.lock() {
            *f = Some(what);
        }
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// What the peer did wrong, when we failed the connection because of it.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// True once the peer's Close arrived (or the peer broke the protocol).
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The status code and reason of the peer's Close, if it arrived.
    pub fn frame(&self) -> Option<(Option<u16>, String)> {
        self.frame.lock().ok().and_then(|f| f.clone())
    }

    /// Records that the session ends because the process shuts down (set by the copy
    /// engine): a WebSocket then closes with 1001 "going away".
    pub fn mark_going_away(&self) {
        self.going_away
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// True once [`PeerClose::mark_going_away`] was called.
    pub fn is_going_away(&self) -> bool {
        self.going_away.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The code and reason when the peer closed with a failure status (not 1000, 1001 or
    /// empty). An echo of the status we sent ourselves is never abnormal.
    pub fn abnormal(&self) -> Option<(u16, String)> {
        if self.echo.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        match self.frame()? {
            (Some(code), reason) if code != 1000 && code != 1001 => Some((code, reason)),
            _ => None,
        }
    }
}

/// The remote end of a connection. An IP address is kept as it is and only turned into text
/// when a message or a child's environment shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// An IP address and port, e.g. `127.0.0.1:50312`.
    Ip(std::net::SocketAddr),
    /// Any other address, already as text (a UNIX socket path, a proxy's report).
    Text(String),
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Ip(a) => a.fmt(f),
            Peer::Text(t) => f.write_str(t),
        }
    }
}

/// What is known about a connection; flows from the left side to the right side.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// The remote end, when known.
    pub peer: Option<Peer>,
    /// The request head of an accepted WebSocket (its target and headers).
    pub request: Option<crate::ws::handshake::RequestHead>,
    /// The client certificate a TLS server verified, when the client presented one.
    pub tls_client: Option<std::sync::Arc<TlsPeerIdentity>>,
}

/// Who a verified TLS client certificate names, as text (independent of the TLS library).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPeerIdentity {
    /// The subject, e.g. `CN=alice,O=Team` (`\` and `,` in values escaped with `\`).
    pub subject: String,
    /// The issuer, in the same form.
    pub issuer: String,
    /// The subject alternative names: `DNS:name`, `IP:addr`, `email:addr`, `URI:uri`.
    pub alt_names: Vec<String>,
}

/// Something that can open connections on demand (a client endpoint).
pub trait Connect: Send + Sync {
    /// Opens one connection; `info` describes the peer on the other side.
    fn connect<'a>(&'a self, info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>>;
}

/// An accept loop's source of connections (a bound listener).
pub trait Accept: Send {
    /// Waits for the next incoming connection.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Conn, ConnInfo)>>;
}

/// A bound listener: its accept source and the addresses it listens on.
pub type Bound = (Box<dyn Accept>, Vec<BoundAddr>);

/// A listener description that binds when the session starts.
pub trait Listen: Send + Sync {
    /// Binds and returns the accept source plus the addresses actually bound (for announcing).
    fn bind(&self, hints: BindHints) -> BoxFuture<'_, io::Result<Bound>>;
}

/// What the layers above a listener tell it before it binds.
#[derive(Debug, Clone, Copy, Default)]
pub struct BindHints {
    /// Every accepted connection starts with bytes from the peer (an HTTP request, a TLS
    /// ClientHello), so a TCP listener may hand out connections only once data has arrived
    /// (`TCP_DEFER_ACCEPT`, as nginx's `deferred`): one wake-up less per connection.
    pub peer_speaks_first: bool,
}

/// One bound listening address, for `--stdout-announce-listening-ports` and logs.
#[derive(Debug, Clone)]
pub struct BoundAddr {
    /// `tcp`, `unix`, `udp`, …
    pub proto: &'static str,
    /// The address as text.
    pub addr: String,
    /// IP address and port when the protocol has them.
    pub ip_port: Option<std::net::SocketAddr>,
}

/// A per-connection overlay: wraps one connection into another (handshakes, codecs, TLS).
pub trait ConnLayer: Send + Sync {
    /// Wraps `inner`; may perform a handshake and enrich `info`.
    fn wrap(&self, inner: Conn, info: ConnInfo)
        -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>>;

    /// True when this layer's protocol always begins with the peer's bytes (see
    /// [`BindHints::peer_speaks_first`]).
    fn peer_speaks_first(&self) -> bool {
        false
    }

    /// How long opening a connection through this layer may take in all, the connects under
    /// it included (`--connect-timeout` of `ws-c:`); over an accepted connection it bounds
    /// [`ConnLayer::wrap`] alone. `None` = no limit of its own.
    fn connect_timeout(&self) -> Option<std::time::Duration> {
        None
    }
}

/// Runs `fut` under an optional time limit; on expiry the error says which `step` took
/// longer than the limit and which option sets it.
pub async fn within_time_limit<T>(
    limit: Option<std::time::Duration>,
    step: impl FnOnce() -> String,
    option: &str,
    fut: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match limit {
        None => fut.await,
        Some(d) => tokio::time::timeout(d, fut).await.unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} did not complete within {} s ({option})",
                    step(),
                    d.as_secs_f64()
                ),
            ))
        }),
    }
}

/// The hints a listener gets from the layers over it, innermost first.
pub fn bind_hints(layers: &[std::sync::Arc<dyn ConnLayer>]) -> BindHints {
    BindHints {
        peer_speaks_first: layers.first().is_some_and(|l| l.peer_speaks_first()),
    }
}

/// An overlay over a connector: decides when inner connections are made (reuse, reconnect).
pub trait ConnectorLayer: Send + Sync {
    /// Returns a connector that uses `inner` as it sees fit.
    fn layer(&self, inner: Arc<dyn Connect>) -> Arc<dyn Connect>;
}

/// An error for a connection of the wrong shape reaching a kind (a planner bug).
fn shape_error(kind: &str, expected: &str, got: &Conn) -> io::Error {
    io::Error::other(format!(
        "internal error: `{kind}:` expects {expected} but got {}",
        got.shape_name()
    ))
}

/// What a layer returns when it answered the connection itself (a WebSocket server sending a
/// `--static-file` to a plain HTTP GET): there is no session to run, and nothing failed.
#[derive(Debug)]
pub struct AnsweredWithoutSession(pub String);

impl std::fmt::Display for AnsweredWithoutSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AnsweredWithoutSession {}

impl AnsweredWithoutSession {
    /// The error a layer returns for it; `what` says what was answered.
    pub fn error(what: String) -> io::Error {
        io::Error::other(AnsweredWithoutSession(what))
    }

    /// True when `e` is such an answer rather than a failure.
    pub fn is(e: &io::Error) -> bool {
        e.get_ref()
            .is_some_and(|inner| inner.is::<AnsweredWithoutSession>())
    }
}

/// Joins a message `Stream` and a message `Sink` into one [`MessageStream`].
pub struct MessagePair<St, Si> {
    /// Incoming messages.
    pub stream: St,
    /// Outgoing messages.
    pub sink: Si,
}

impl<St, Si> Stream for MessagePair<St, Si>
where
    St: Stream<Item = io::Result<Message>> + Unpin,
    Si: Unpin,
{
    type Item = io::Result<Message>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.stream).poll_next(cx)
    }
}

impl<St, Si> Sink<Message> for MessagePair<St, Si>
where
    St: Unpin,
    Si: Sink<Message, Error = io::Error> + Unpin,
{
    type Error = io::Error;
    fn poll_ready(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.sink).poll_ready(cx)
    }
    fn start_send(mut self: std::pin::Pin<&mut Self>, item: Message) -> io::Result<()> {
        std::pin::Pin::new(&mut self.sink).start_send(item)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.sink).poll_flush(cx)
    }
    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.sink).poll_close(cx)
    }
}

impl<St, Si> MessageStream for MessagePair<St, Si>
where
    St: Stream<Item = io::Result<Message>> + Send + Unpin,
    Si: Sink<Message, Error = io::Error> + Send + Unpin,
{
}

/// A boxed stream of messages, for building [`MessagePair`]s.
pub type BoxMessageStream = std::pin::Pin<Box<dyn Stream<Item = io::Result<Message>> + Send>>;
/// A boxed sink of messages, for building [`MessagePair`]s.
pub type BoxMessageSink = std::pin::Pin<Box<dyn Sink<Message, Error = io::Error> + Send>>;

/// A bounded in-memory channel of messages as a (sink, stream) pair (for tests that play
/// the peer of a message connection).
#[cfg(test)]
pub(crate) fn message_channel(capacity: usize) -> (BoxMessageSink, BoxMessageStream) {
    use futures::{SinkExt, StreamExt};
    let (tx, rx) = futures::channel::mpsc::channel::<Message>(capacity);
    let sink = tx.sink_map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "channel closed"));
    (Box::pin(sink), Box::pin(rx.map(Ok)))
}
