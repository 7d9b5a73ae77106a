//! Running a plan: one session for a connecting left side, or an accept loop for a listener.
//!
//! The accept loop takes a permit from a semaphore before accepting (back-pressure under
//! `--conncap`), runs each connection in its own task (handshakes included), and stops on
//! Ctrl-C or SIGTERM. A failing connection is logged and never stops the others.

use super::build::{apply_layers, build_chain, into_connector, Endpoint};
use super::conn::{bind_hints, BoundAddr, ConnInfo, Connect, Peer};
use super::copy::{copy_session, error_side};
use crate::error::{Error, RunError, Side};
use crate::plan::{CopyOptions, Plan};
use std::io::{self, Write};
use std::sync::Arc;
use tokio::sync::Semaphore;

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

/// Runs a built plan to completion.
pub async fn run_plan(plan: &Plan, built: Built) -> Result<(), Error> {
    let Built { left, right } = built;
    match left {
        Endpoint::Connector(left) => {
            if plan.serve.metrics.is_some() {
                tracing::warn!("--metrics is for servers (a listener on the left); ignored");
            }
            tokio::select! {
                r = single_session(plan, left, right) => r,
                _ = shutdown_signal() => Ok(()),
            }
        }
        Endpoint::Listener { listen, layers } => {
            let hints = bind_hints(&layers);
            let (mut acceptor, addrs) = listen.bind(hints).await.map_err(|e| RunError {
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
            // Only with --conncap: without it, a permit per connection is work for nothing.
            let cap = plan.serve.conncap.map(|n| Arc::new(Semaphore::new(n)));
            let copy = Arc::new(plan.copy.clone());
            let right_src: Arc<str> = plan.right.source.clone().into();
            let layers = Arc::new(layers);
            let shutdown = shutdown_signal();
            tokio::pin!(shutdown);
            loop {
                let permit = match &cap {
                    Some(cap) => Some(tokio::select! {
                        p = cap.clone().acquire_owned() => p.map_err(|_| Error::Usage("connection limiter closed".into()))?,
                        _ = &mut shutdown => return Ok(()),
                    }),
                    None => None,
                };
                let accepted = tokio::select! {
                    a = acceptor.accept() => a,
                    _ = &mut shutdown => return Ok(()),
                };
                let (conn, info) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("accepting on {}: {e}", plan.left.source);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let task = {
                    let (right, copy, right_src, layers) = (
                        right.clone(),
                        copy.clone(),
                        right_src.clone(),
                        layers.clone(),
                    );
                    tokio::spawn(async move {
                        // Kept for messages only; the connection's info moves on.
                        let peer = info.peer.clone();
                        let r = serve_connection(
                            &layers,
                            conn,
                            info,
                            right,
                            &copy,
                            &right_src,
                            peer.as_ref(),
                        )
                        .await;
                        drop(permit);
                        if let Err(e) = &r {
                            match &peer {
                                Some(peer) => tracing::warn!("connection from {peer}: {e}"),
                                None => tracing::warn!("connection from ?: {e}"),
                            }
                        }
                        r
                    })
                };
                if plan.serve.oneshot {
                    return match task.await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(e)) => Err(e),
                        Err(e) => Err(Error::Usage(format!("connection task failed: {e}"))),
                    };
                }
            }
        }
    }
}

async fn serve_connection(
    layers: &[Arc<dyn super::conn::ConnLayer>],
    conn: super::conn::Conn,
    info: ConnInfo,
    right: Arc<dyn Connect>,
    copy: &CopyOptions,
    right_src: &str,
    peer: Option<&Peer>,
) -> Result<(), Error> {
    let peer_name = || peer.map_or("the incoming connection".into(), ToString::to_string);
    let _open = crate::metrics::connection_opened();
    let (conn, info) = match apply_layers(layers, conn, info).await {
        Ok(layered) => layered,
        // A plain GET answered with the browser console: a request served, not a failure.
        Err(e) if crate::browser_console::is_page_served(&e) => return Ok(()),
        Err(e) => {
            crate::metrics::handshake_failed(&e);
            return Err(RunError {
                what: "handshake with",
                node: peer_name(),
                side: Side::Left,
                cause: e,
            }
            .into());
        }
    };
    let other = right.connect(&info).await.map_err(|e| RunError {
        what: "connecting",
        node: right_src.to_string(),
        side: Side::Right,
        cause: e,
    })?;
    // Boxed: the session's state is most of a connection's, and the task that runs it is
    // moved several times while being spawned.
    let messages = matches!(conn, super::conn::Conn::Messages(_));
    let t = Box::pin(copy_session(conn, other, copy))
        .await
        .map_err(|e| {
            let side = error_side(&e).unwrap_or(Side::Right);
            RunError {
                what: "session with",
                node: if side == Side::Left {
                    peer_name()
                } else {
                    right_src.to_string()
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

async fn single_session(
    plan: &Plan,
    left: Arc<dyn Connect>,
    right: Arc<dyn Connect>,
) -> Result<(), Error> {
    let info = ConnInfo::default();
    let left_error = |e| RunError {
        what: "connecting",
        node: plan.left.source.clone(),
        side: Side::Left,
        cause: e,
    };
    // The interactive console stands in for stdio; it needs the WebSocket connection first.
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
    // Before the console starts: it owns the terminal's last line from then on.
    if plan.serve.interactive {
        status_line(&format!("websocat: connected to {}", plan.right.source));
    }
    let l = match (l, plan.serve.console) {
        (Some(l), _) => l,
        (None, settings) => {
            crate::interactive::open(&r, settings.unwrap_or_default()).map_err(left_error)?
        }
    };
    let watch = plan
        .serve
        .summary
        .map(|format| (crate::summary::Watch::start(&l, &r), format));
    let t = copy_session(l, r, &plan.copy).await;
    if let (Some((watch, format)), Ok(t)) = (&watch, &t) {
        watch.print(t, *format);
    }
    if plan.serve.console.is_some() {
        crate::interactive::restore_terminal();
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

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
