//! Turns a planned chain into a runnable endpoint by calling each node's build function.

use super::conn::{bind_hints, Bound, Conn, ConnInfo, ConnLayer, Connect, Listen};
use crate::plan::Chain;
use crate::registry::Build;
pub use crate::registry::BuildCtx;
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;
use tokio::sync::Mutex;

/// A runnable side: either opens connections or accepts them.
pub enum Endpoint {
    /// Opens one connection per call.
    Connector(Arc<dyn Connect>),
    /// Binds, then accepts; `layers` wrap each accepted connection, innermost first.
    Listener {
        /// The listening leaf.
        listen: Arc<dyn Listen>,
        /// Per-connection overlays, innermost first.
        layers: Vec<Arc<dyn ConnLayer>>,
    },
}

/// Builds a chain, innermost node first.
pub fn build_chain(chain: &Chain) -> Result<Endpoint, String> {
    let ctx = BuildCtx { side: chain.side };
    let mut endpoint: Option<Endpoint> = None;
    for node in chain.nodes.iter().rev() {
        let ctx_err = |e: String| format!("`{}:`: {e}", node.kind.name);
        endpoint = Some(match (node.kind.build, endpoint) {
            (Build::Connector(f), None) => Endpoint::Connector(f(node, &ctx).map_err(ctx_err)?),
            (Build::Listener(f), None) => Endpoint::Listener {
                listen: f(node, &ctx).map_err(ctx_err)?,
                layers: Vec::new(),
            },
            (Build::Layer(f), Some(Endpoint::Connector(inner))) => {
                let layer = f(node, &ctx).map_err(ctx_err)?;
                Endpoint::Connector(Arc::new(Layered { inner, layer }))
            }
            (Build::Layer(f), Some(Endpoint::Listener { listen, mut layers })) => {
                layers.push(f(node, &ctx).map_err(ctx_err)?);
                Endpoint::Listener { listen, layers }
            }
            (Build::ConnectorLayer(f), Some(Endpoint::Connector(inner))) => {
                Endpoint::Connector(f(node, &ctx).map_err(ctx_err)?.layer(inner))
            }
            _ => {
                return Err(format!(
                    "internal error: `{}:` cannot stand at this place of the chain",
                    node.kind.name
                ))
            }
        });
    }
    endpoint.ok_or_else(|| "internal error: empty chain".to_string())
}

/// Turns any endpoint into a connector; a listener accepts one connection per connect.
pub fn into_connector(endpoint: Endpoint) -> Arc<dyn Connect> {
    match endpoint {
        Endpoint::Connector(c) => c,
        Endpoint::Listener { listen, layers } => Arc::new(AcceptOnce {
            listen,
            layers,
            bound: Mutex::new(None),
        }),
    }
}

/// Applies the per-connection layers to a freshly accepted connection.
pub async fn apply_layers(
    layers: &[Arc<dyn ConnLayer>],
    mut conn: Conn,
    mut info: ConnInfo,
) -> io::Result<(Conn, ConnInfo)> {
    for layer in layers {
        (conn, info) = super::conn::within_time_limit(
            layer.connect_timeout(),
            || "the WebSocket handshake".to_string(),
            "--connect-timeout",
            layer.wrap(conn, info),
        )
        .await?;
    }
    Ok((conn, info))
}

struct Layered {
    inner: Arc<dyn Connect>,
    layer: Arc<dyn ConnLayer>,
}

impl Connect for Layered {
    fn connect<'a>(&'a self, info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        let connect = async move {
            let conn = self.inner.connect(info).await?;
            let (conn, _) = self.layer.wrap(conn, info.clone()).await?;
            Ok(conn)
        };
        Box::pin(super::conn::within_time_limit(
            self.layer.connect_timeout(),
            || "the connection and WebSocket handshake".to_string(),
            "--connect-timeout",
            connect,
        ))
    }
}

/// A listener used where a connector is expected: binds on first use, then each connect
/// waits for the next incoming connection.
struct AcceptOnce {
    listen: Arc<dyn Listen>,
    layers: Vec<Arc<dyn ConnLayer>>,
    bound: Mutex<Option<Bound>>,
}

impl Connect for AcceptOnce {
    fn connect<'a>(&'a self, _info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let mut guard = self.bound.lock().await;
            if guard.is_none() {
                *guard = Some(self.listen.bind(bind_hints(&self.layers)).await?);
            }
            let Some((acceptor, _)) = guard.as_mut() else {
                return Err(io::Error::other("listener not bound"));
            };
            let (conn, info) = acceptor.accept().await?;
            drop(guard);
            let (conn, _) = apply_layers(&self.layers, conn, info).await?;
            Ok(conn)
        })
    }
}
