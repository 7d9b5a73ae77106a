//! Running a plan: one session for a connecting left side, or an accept loop for a listener.
//!
//! The accept loop ([`Listener`], shaped after mini-redis's server) takes a permit from a
//! semaphore before accepting (back-pressure under `--conncap`) and runs each connection in its
//! own task, kept in a `JoinSet`: a `Handler` does the handshakes, connects the right side and
//! runs the session. A failing connection is logged and never stops the others.
//!
//! The first Ctrl-C or SIGTERM starts a graceful shutdown: the listener stops accepting, a
//! connection still in its handshake is dropped, and every session finishes (each direction
//! ends once its source has been silent for [`SHUTDOWN_IDLE`](super::copy::SHUTDOWN_IDLE); a
//! WebSocket peer gets a Close 1001 "going away"). What still runs after [`SHUTDOWN_DEADLINE`],
//! or when a second signal arrives, is cut, with a warning. A single session finishes the same
//! way.

use super::build::{apply_layers, build_chain, into_connector, Endpoint};
use super::conn::{bind_hints, Accept, BoundAddr, Conn, ConnInfo, ConnLayer, Connect};
use super::copy::{copy_session, error_side};
use crate::error::{Error, RunError, Side};
use crate::plan::{CopyOptions, Plan};
use crate::registry::Trait;
use std::future::Future;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

/// How long connections may take to finish after the first shutdown signal before they are
/// cut.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// Both sides of a plan, built and ready to run.
pub struct Built {
    left: Endpoint,
    right: Arc<dyn Connect>,
}

/// Builds both chains. Build functions may read files (certificates, keys, CA bundles), so
/// this is synchronous: call it before the event loop runs (inside `Runtime::enter` when a
/// kind needs the runtime's context), never from async code.
pub fn build_plan(plan: &Plan) -> Result<Built, Error> {
    let left =
        build_chain(&plan.left).map_err(|e| build_error(Side::Left, &plan.left.source, e))?;
    let right =
        build_chain(&plan.right).map_err(|e| build_error(Side::Right, &plan.right.source, e))?;
    Ok(Built {
        left,
        right: into_connector(right),
    })
}

/// Runs a built plan until it is done or a signal ends it (see the module documentation).
pub async fn run_plan(plan: &Plan, built: Built) -> Result<(), Error> {
    let Built { left, right } = built;
    let mut signals = Signals::new();
    let shutdown = CancellationToken::new();
    let work = async {
        match left {
            Endpoint::Connector(left) => {
                if plan.serve.metrics.is_some() {
                    tracing::warn!("--metrics is for servers (a listener on the left); ignored");
                }
                single_session(plan, left, right, &shutdown).await
            }
            Endpoint::Listener { listen, layers } => {
                let (acceptor, addrs) =
                    listen
                        .bind(bind_hints(&layers))
                        .await
                        .map_err(|e| RunError {
                            what: "listening on",
                            node: plan.left.source.clone(),
                            side: Side::Left,
                            cause: e,
                        })?;
                announce(plan, &addrs);
                if let Some(addr) = &plan.serve.metrics {
                    let bound = crate::metrics::start(addr).await.map_err(|e| RunError {
                        what: "serving metrics on",
                        node: addr.clone(),
                        side: Side::Left,
                        cause: e,
                    })?;
                    announce_metrics(plan, bound);
                }
                Listener::new(plan, acceptor, layers, right)
                    .run(&shutdown)
                    .await
            }
        }
    };
    tokio::pin!(work);
    tokio::select! {
        r = &mut work => return r,
        () = signals.recv() => {}
    }
    tracing::info!(
        "shutting down: letting open connections finish (a second Ctrl-C exits at once)"
    );
    shutdown.cancel();
    let reason = tokio::select! {
        r = &mut work => return r,
        () = tokio::time::sleep(SHUTDOWN_DEADLINE) => {
            format!("still open {}s after the signal", SHUTDOWN_DEADLINE.as_secs())
        }
        () = signals.recv() => "still open at a second signal".to_string(),
    };
    // Dropping the work aborts every connection task.
    tracing::warn!("shutting down: closing the connections {reason}");
    Ok(())
}

/// The accept loop of a listening left side: the bound acceptor and what each accepted
/// connection needs.
pub struct Listener {
    acceptor: Box<dyn Accept>,
    /// The listening node as written, for messages.
    source: String,
    /// What every connection's handler shares.
    service: Arc<Service>,
    /// `--conncap`: a permit per connection, taken before accepting. Only with the option:
    /// without it, a permit per connection is work for nothing.
    cap: Option<Arc<Semaphore>>,
    /// `--oneshot`: serve one connection, then end with its result.
    oneshot: bool,
}

/// What all connections of a listener share: the layers over each accepted connection, the
/// right side, and the copy options.
struct Service {
    layers: Vec<Arc<dyn ConnLayer>>,
    right: Arc<dyn Connect>,
    /// The right node as written, for messages.
    right_source: String,
    copy: CopyOptions,
}

/// What a connection task ends with; failures are logged by the task itself.
type Connections = JoinSet<Result<(), Error>>;

impl Listener {
    /// An accept loop over `acceptor`, bound from `plan`'s left side, whose accepted
    /// connections go through `layers` (innermost first) to `right`.
    pub fn new(
        plan: &Plan,
        acceptor: Box<dyn Accept>,
        layers: Vec<Arc<dyn ConnLayer>>,
        right: Arc<dyn Connect>,
    ) -> Self {
        Listener {
            acceptor,
            source: plan.left.source.clone(),
            service: Arc::new(Service {
                layers,
                right,
                right_source: plan.right.source.clone(),
                copy: session_copy_options(plan),
            }),
            cap: plan.serve.conncap.map(|n| Arc::new(Semaphore::new(n))),
            oneshot: plan.serve.oneshot,
        }
    }

    /// Accepts and serves connections until `shutdown` is cancelled (with `--oneshot`: one
    /// connection), then waits for the connections still running, which finish on their own
    /// or because of `shutdown`. Dropping the returned future aborts them.
    pub async fn run(mut self, shutdown: &CancellationToken) -> Result<(), Error> {
        let mut connections = Connections::new();
        loop {
            let permit = match self.cap.clone() {
                Some(cap) => {
                    let acquired = cap.acquire_owned();
                    match reaping(&mut connections, shutdown, &self.source, acquired).await {
                        Some(Ok(permit)) => Some(permit),
                        Some(Err(closed)) => {
                            return Err(RunError::internal(
                                "waiting for a connection slot on",
                                self.source,
                                Side::Left,
                                closed,
                            )
                            .into())
                        }
                        None => break,
                    }
                }
                None => None,
            };
            let accept = self.acceptor.accept();
            let (conn, info) = match reaping(&mut connections, shutdown, &self.source, accept).await
            {
                Some(Ok(accepted)) => accepted,
                Some(Err(e)) => {
                    tracing::warn!("accepting on {}: {e}", self.source);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                None => break,
            };
            let handler = Handler {
                service: self.service.clone(),
                info,
                shutdown: shutdown.clone(),
                _permit: permit,
            };
            connections.spawn(handler.run(conn));
            if self.oneshot {
                break;
            }
        }
        // Stop listening before waiting: new clients are refused rather than left waiting.
        drop(self.acceptor);
        let mut result = Ok(());
        while let Some(done) = connections.join_next().await {
            let ended = joined(done, &self.source);
            if self.oneshot {
                result = ended;
            }
        }
        result
    }
}

/// Waits for `step` while collecting the connections that end meanwhile; `None` once
/// `shutdown` is cancelled.
async fn reaping<T>(
    connections: &mut Connections,
    shutdown: &CancellationToken,
    source: &str,
    step: impl Future<Output = T>,
) -> Option<T> {
    tokio::pin!(step);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return None,
            r = &mut step => return Some(r),
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                // A connection's own failure was logged by its task; see `joined`.
                let _ = joined(done, source);
            }
        }
    }
}

/// The result of a finished connection task; a task that panicked is logged here.
fn joined(done: Result<Result<(), Error>, JoinError>, source: &str) -> Result<(), Error> {
    done.unwrap_or_else(|e| {
        let e = RunError::internal(
            "serving a connection on",
            source,
            Side::Left,
            format!("the connection's task failed: {e}"),
        );
        tracing::warn!("{e}");
        Err(e.into())
    })
}

/// One accepted connection, from its handshakes to the end of its session.
struct Handler {
    service: Arc<Service>,
    /// What the listener knows of the connection; the layers complete a copy of it.
    info: ConnInfo,
    /// Cancelled at the first shutdown signal.
    shutdown: CancellationToken,
    /// Given back to `--conncap`'s semaphore when the connection ends.
    _permit: Option<OwnedSemaphorePermit>,
}

impl Handler {
    /// Serves the connection; logs a failure, naming the peer, and returns it.
    ///
    /// The handler is lent, not moved, to `serve`: an `async fn` keeps the arguments it
    /// takes by value for its whole life, so each move into another would store the handler
    /// again in every connection's task.
    async fn run(self, conn: Conn) -> Result<(), Error> {
        let r = self.serve(conn).await;
        if let Err(e) = &r {
            match &self.info.peer {
                Some(peer) => tracing::warn!("connection from {peer}: {e}"),
                None => tracing::warn!("connection from ?: {e}"),
            }
        }
        r
    }

    /// The name of the peer for messages.
    fn peer_name(&self) -> String {
        self.info
            .peer
            .as_ref()
            .map_or("the incoming connection".into(), ToString::to_string)
    }

    async fn serve(&self, conn: Conn) -> Result<(), Error> {
        let service = &self.service;
        let _open = crate::metrics::connection_opened();
        // Boxed: the handshakes' state is freed once the session starts, so an idle
        // connection keeps only the session's.
        let start = Box::pin(async {
            let (conn, info) = match apply_layers(&service.layers, conn, self.info.clone()).await {
                Ok(layered) => layered,
                // A layer answered the request itself (a static file): no session.
                Err(e) if super::conn::AnsweredWithoutSession::is(&e) => {
                    tracing::info!("{}: {e}", self.peer_name());
                    return Ok(None);
                }
                // A plain GET answered with the browser console: a request served.
                Err(e) if crate::browser_console::is_page_served(&e) => return Ok(None),
                Err(e) => {
                    crate::metrics::handshake_failed(&e);
                    return Err(RunError {
                        what: "handshake with",
                        node: self.peer_name(),
                        side: Side::Left,
                        cause: e,
                    }
                    .into());
                }
            };
            let other = service.right.connect(&info).await.map_err(|e| RunError {
                what: "connecting",
                node: service.right_source.clone(),
                side: Side::Right,
                cause: e,
            })?;
            Ok::<_, Error>(Some((conn, other)))
        });
        // Before its session starts a connection has relayed nothing: a shutdown drops it.
        let (conn, other) = tokio::select! {
            r = start => match r? {
                Some(started) => started,
                None => return Ok(()),
            },
            () = self.shutdown.cancelled() => return Ok(()),
        };
        let messages = matches!(conn, Conn::Messages(_));
        // Boxed: the session's state is most of a connection's, and the task that runs it is
        // moved several times while being spawned.
        let t = Box::pin(copy_session(conn, other, &service.copy, &self.shutdown))
            .await
            .map_err(|e| {
                let side = error_side(&e).unwrap_or(Side::Right);
                RunError {
                    what: "session with",
                    node: if side == Side::Left {
                        self.peer_name()
                    } else {
                        service.right_source.clone()
                    },
                    side,
                    cause: e,
                }
            })?;
        crate::metrics::session_ended(&t, messages);
        if let Some((code, reason)) = t.abnormal_close {
            tracing::warn!("a WebSocket peer closed {}", close_text(code, &reason));
        }
        Ok(())
    }
}

async fn single_session(
    plan: &Plan,
    left: Arc<dyn Connect>,
    right: Arc<dyn Connect>,
    shutdown: &CancellationToken,
) -> Result<(), Error> {
    let info = ConnInfo::default();
    let left_error = |e| RunError {
        what: "connecting",
        node: plan.left.source.clone(),
        side: Side::Left,
        cause: e,
    };
    let connect = async {
        // The interactive console stands in for stdio; it needs the WebSocket connection.
        let l = match plan.serve.console {
            Some(_) => None,
            None => Some(left.connect(&info).await.map_err(left_error)?),
        };
        let r = right.connect(&info).await.map_err(|e| RunError {
            what: "connecting",
            node: plan.right.source.clone(),
            side: Side::Right,
            cause: e,
        })?;
        Ok::<_, Error>((l, r))
    };
    let (l, r) = tokio::select! {
        r = connect => r?,
        () = shutdown.cancelled() => return Ok(()),
    };
    // Before the console starts: it owns the terminal's last line from then on.
    if plan.serve.interactive {
        let extensions = match &r {
            Conn::Messages(m) => m.extensions().map(|e| format!(" ({e})")),
            Conn::Bytes(_) => None,
        };
        status_line(&format!(
            "websocat: connected to {}{}",
            plan.right.source,
            extensions.unwrap_or_default()
        ));
    }
    let l = match (l, plan.serve.console) {
        (Some(l), _) => l,
        (None, settings) => match crate::interactive::open(&r, settings.unwrap_or_default()) {
            Ok(console) => console,
            // A terminal the line editor does not support (`TERM=dumb`): plain stdio.
            Err(e) => {
                tracing::info!("{e}; using plain standard input and output");
                left.connect(&info).await.map_err(left_error)?
            }
        },
    };
    let watch = plan
        .serve
        .summary
        .map(|format| (crate::summary::Watch::start(&l, &r), format));
    let t = copy_session(l, r, &session_copy_options(plan), shutdown).await;
    if plan.serve.console.is_some() {
        crate::interactive::restore_terminal();
    }
    if let (Some((watch, format)), Ok(t)) = (&watch, &t) {
        watch.print(t, *format);
    }
    let t = t.map_err(|e| {
        let side = error_side(&e).unwrap_or(Side::Left);
        let chain = if side == Side::Left {
            &plan.left
        } else {
            &plan.right
        };
        RunError {
            what: "session with",
            node: chain.source.clone(),
            side,
            cause: e,
        }
    })?;
    if let Some((code, reason)) = t.abnormal_close {
        return Err(RunError {
            what: "session with",
            node: plan.right.source.clone(),
            side: Side::Right,
            cause: io::Error::other(format!(
                "the peer closed the WebSocket {}",
                close_text(code, &reason)
            )),
        }
        .into());
    }
    if plan.serve.interactive {
        match t.peer_close {
            Some((Some(code), reason)) if reason.is_empty() => {
                status_line(&format!("websocat: closed: {code}"))
            }
            Some((Some(code), reason)) => {
                status_line(&format!("websocat: closed: {code} {reason}"))
            }
            _ => status_line("websocat: closed"),
        }
    }
    Ok(())
}

/// Writes a status line to stderr in one write.
fn status_line(text: &str) {
    let line = format!("{text}\n");
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

fn close_text(code: u16, reason: &str) -> String {
    if reason.is_empty() {
        format!("with status {code}")
    } else {
        format!("with status {code}: {reason}")
    }
}

fn announce(plan: &Plan, addrs: &[BoundAddr]) {
    for a in addrs {
        if plan.serve.announce {
            let line = match a.ip_port {
                Some(sa) => format!(
                    "LISTEN proto={},ip={},port={}\n",
                    a.proto,
                    sa.ip(),
                    sa.port()
                ),
                // websocat 1.x prints abstract socket names as hex (they may hold any byte).
                None if a.proto == "abstract" => {
                    let hex: String = a.addr.bytes().map(|b| format!("{b:02x}")).collect();
                    format!("LISTEN proto={},path_hex={hex}\n", a.proto)
                }
                None => format!("LISTEN proto={},path={}\n", a.proto, a.addr),
            };
            let mut out = io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
        tracing::info!("listening on {} {}", a.proto, a.addr);
    }
    if plan.serve.server_banner {
        if let Some(sa) = addrs.iter().find_map(|a| a.ip_port) {
            let scheme = if plan.serve.server_banner_tls {
                "wss"
            } else {
                "ws"
            };
            // One write, so readers never see half a line.
            let line = format!("Listening on {scheme}://{sa}/\n");
            let _ = io::stderr().lock().write_all(line.as_bytes());
        }
    }
}

/// Says where the metrics are served: `LISTEN proto=metrics,…` with
/// `--stdout-announce-listening-ports`, and in the log.
fn announce_metrics(plan: &Plan, addr: std::net::SocketAddr) {
    if plan.serve.announce {
        let line = format!(
            "LISTEN proto=metrics,ip={},port={}\n",
            addr.ip(),
            addr.port()
        );
        let mut out = io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
    tracing::info!("metrics on http://{addr}/metrics");
}

fn build_error(side: Side, source: &str, e: String) -> Error {
    Error::Run(RunError {
        what: "setting up",
        node: source.to_string(),
        side,
        cause: io::Error::other(e),
    })
}

/// Ctrl-C (SIGINT) and SIGTERM: each signal sent is received once.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Starts watching; a signal that cannot be watched is logged and left alone.
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let watch = |kind: SignalKind, name: &str| {
                signal(kind)
                    .map_err(|e| tracing::warn!("cannot watch for {name}: {e}"))
                    .ok()
            };
            Signals {
                interrupt: watch(SignalKind::interrupt(), "Ctrl-C"),
                terminate: watch(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Completes at the next signal.
    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                () = next_signal(&mut self.interrupt) => {}
                () = next_signal(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Completes when `signal` arrives; never, when it is not watched.
#[cfg(unix)]
async fn next_signal(signal: &mut Option<tokio::signal::unix::Signal>) {
    if let Some(s) = signal {
        if s.recv().await.is_some() {
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// The plan's copy options, with what the executor derives from the leaves: whether each side's
/// source may answer our half-close (everything but stdio).
fn session_copy_options(plan: &Plan) -> CopyOptions {
    let mut copy = plan.copy.clone();
    copy.source_may_answer = [&plan.left, &plan.right].map(|c| !c.leaf().kind.has(Trait::Stdio));
    copy
}
