//! Connector overlays that open inner connections on demand: `waitfordata:` (the inner
//! connection is opened on the first write) and `foreachmsg:` (one inner connection per
//! message written).
//!
//! Both hand out a connection before any inner one exists, so they need to know its shape:
//! the planner records it in their `shape` parameter (pass `bridge`).

use crate::exec::build::BuildCtx;
use crate::exec::share::{client_conn, into_messages};
use crate::exec::{Conn, ConnInfo, Connect, ConnectorLayer, Message, MessageStream};
use crate::plan::PlanNode;
use crate::registry::{
    ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape, Trait, SHAPE_PARAM,
};
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use std::io;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

/// The `shape` parameter ([`SHAPE_PARAM`]) the planner fills in.
pub const INNER_SHAPE: ParamDef = ParamDef {
    name: SHAPE_PARAM,
    ty: ParamType::Text,
    flag: None,
    help: "`bytes` or `messages`: what the inner connections produce (set by the planner)",
};

/// Registry entry for `waitfordata:`.
pub const WAITFORDATA: KindDef = KindDef {
    name: "waitfordata",
    synonyms: &["wait-for-data"],
    role: Role::ConnectorOverlay,
    shape: Shape::Preserve,
    traits: &[Trait::ShapeFromInner],
    arg: ArgType::None,
    params: &[INNER_SHAPE],
    summary: "open the inner connection only when the first data is written",
    help: "Gives a connection at once, but opens the inner one only when the first message \
           (or bytes) is written to it; reading waits until then. Useful when connecting is \
           costly or has side effects.",
    examples: &["websocat -u ws-l:127.0.0.1:8080 waitfordata:tcp:127.0.0.1:5000"],
    build: Build::ConnectorLayer(build_wait),
};

/// Registry entry for `foreachmsg:`.
pub const FOREACHMSG: KindDef = KindDef {
    name: "foreachmsg",
    synonyms: &[],
    role: Role::ConnectorOverlay,
    shape: Shape::Preserve,
    traits: &[Trait::ShapeFromInner],
    arg: ArgType::None,
    params: &[
        INNER_SHAPE,
        ParamDef {
            name: "wait-read",
            ty: ParamType::Bool,
            flag: Some("--foreachmsg-wait-read"),
            help: "read each inner connection to its end before handling the next message",
        },
    ],
    summary: "open a new inner connection for every message written",
    help: "For each message (or write) it opens a new inner connection, writes the message, \
           and half-closes it. What that connection answers is read until the next message \
           arrives (with `wait-read`, until it ends, before the next message is handled).",
    examples: &["websocat -u ws-l:127.0.0.1:8080 foreachmsg:tcp:127.0.0.1:5000"],
    build: Build::ConnectorLayer(build_each),
};

fn shape_is_bytes(node: &PlanNode) -> Result<bool, String> {
    match node.param(SHAPE_PARAM).unwrap_or("bytes") {
        "bytes" => Ok(true),
        "messages" => Ok(false),
        other => Err(format!("shape `{other}` is not `bytes` or `messages`")),
    }
}

fn build_wait(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnectorLayer>, String> {
    Ok(Arc::new(LazyLayer {
        bytes: shape_is_bytes(node)?,
        mode: Mode::WaitForData,
    }))
}

fn build_each(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnectorLayer>, String> {
    Ok(Arc::new(LazyLayer {
        bytes: shape_is_bytes(node)?,
        mode: Mode::EachMessage {
            wait_read: node.param_bool("wait-read"),
        },
    }))
}

#[derive(Clone, Copy)]
enum Mode {
    WaitForData,
    EachMessage { wait_read: bool },
}

struct LazyLayer {
    bytes: bool,
    mode: Mode,
}

impl ConnectorLayer for LazyLayer {
    fn layer(&self, inner: Arc<dyn Connect>) -> Arc<dyn Connect> {
        Arc::new(Lazy {
            inner,
            bytes: self.bytes,
            mode: self.mode,
        })
    }
}

struct Lazy {
    inner: Arc<dyn Connect>,
    bytes: bool,
    mode: Mode,
}

const QUEUE: usize = 16;

impl Connect for Lazy {
    fn connect<'a>(&'a self, info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move {
            let (to_task, from_client) = mpsc::channel::<Message>(QUEUE);
            let (to_client, from_task) = mpsc::channel::<io::Result<Message>>(QUEUE);
            let (inner, info) = (self.inner.clone(), info.clone());
            match self.mode {
                Mode::WaitForData => {
                    tokio::spawn(wait_for_data(inner, info, from_client, to_client));
                }
                Mode::EachMessage { wait_read } => {
                    tokio::spawn(each_message(inner, info, from_client, to_client, wait_read));
                }
            }
            let stream = futures::stream::unfold(from_task, |mut rx| async move {
                rx.recv().await.map(|m| (m, rx))
            });
            let sink = PollSender::new(to_task)
                .sink_map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "connection ended"));
            Ok(client_conn(self.bytes, stream, sink))
        })
    }
}

/// The client's first message; `None` when the client ends or goes away before sending one.
async fn first_message(
    from_client: &mut mpsc::Receiver<Message>,
    to_client: &mpsc::Sender<io::Result<Message>>,
) -> Option<Message> {
    tokio::select! {
        m = from_client.recv() => m,
        _ = to_client.closed() => None,
    }
}

/// Opens the inner connection as messages; a failure is handed to the client instead.
async fn connect_or_report(
    inner: &Arc<dyn Connect>,
    info: &ConnInfo,
    to_client: &mpsc::Sender<io::Result<Message>>,
) -> Option<Box<dyn MessageStream>> {
    match inner.connect(info).await {
        Ok(c) => Some(into_messages(c).1),
        Err(e) => {
            let _ = to_client.send(Err(e)).await;
            None
        }
    }
}

async fn wait_for_data(
    inner: Arc<dyn Connect>,
    info: ConnInfo,
    mut from_client: mpsc::Receiver<Message>,
    to_client: mpsc::Sender<io::Result<Message>>,
) {
    let Some(first) = first_message(&mut from_client, &to_client).await else {
        return;
    };
    let Some(conn) = connect_or_report(&inner, &info, &to_client).await else {
        return;
    };
    let (mut sink, mut stream) = conn.split();
    let writer = async move {
        let mut next = Some(first);
        while let Some(m) = next {
            sink.send(m).await?;
            next = from_client.recv().await;
        }
        sink.close().await
    };
    let reader = async {
        while let Some(item) = stream.next().await {
            let failed = item.is_err();
            if to_client.send(item).await.is_err() || failed {
                break;
            }
        }
    };
    let (w, ()) = tokio::join!(writer, reader);
    if let Err(e) = w {
        tracing::warn!("waitfordata: writing: {e}");
    }
}

async fn each_message(
    inner: Arc<dyn Connect>,
    info: ConnInfo,
    mut from_client: mpsc::Receiver<Message>,
    to_client: mpsc::Sender<io::Result<Message>>,
    wait_read: bool,
) {
    let mut next = first_message(&mut from_client, &to_client).await;
    while let Some(m) = next.take() {
        let Some(conn) = connect_or_report(&inner, &info, &to_client).await else {
            return;
        };
        let (mut sink, mut stream) = conn.split();
        if let Err(e) = async {
            sink.send(m).await?;
            sink.close().await
        }
        .await
        {
            tracing::warn!("foreachmsg: writing: {e}");
        }
        // Forward what this connection answers until it ends or (without wait-read) the
        // next message arrives.
        let mut reading = true;
        while next.is_none() {
            tokio::select! {
                item = stream.next(), if reading => match item {
                    Some(Ok(m)) => {
                        if to_client.send(Ok(m)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!("foreachmsg: reading: {e}");
                        reading = false;
                    }
                    None => reading = false,
                },
                m = from_client.recv(), if !wait_read || !reading => match m {
                    Some(m) => next = Some(m),
                    None => {
                        if !reading {
                            return;
                        }
                        // No more messages: finish reading this answer, then stop.
                        while let Some(Ok(m)) = stream.next().await {
                            if to_client.send(Ok(m)).await.is_err() {
                                return;
                            }
                        }
                        return;
                    }
                },
                _ = to_client.closed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn tcp(addr: std::net::SocketAddr) -> Arc<dyn Connect> {
        Arc::new(crate::kinds::tcp::TcpConnect {
            target: crate::spec::args::parse_host_port(&addr.to_string()).unwrap(),
        })
    }

    #[tokio::test]
    async fn waitfordata_connects_on_first_write_only() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let layer = LazyLayer {
            bytes: true,
            mode: Mode::WaitForData,
        };
        let c = layer.layer(tcp(listener.local_addr().unwrap()));
        let Conn::Bytes(mut conn) = c.connect(&ConnInfo::default()).await.unwrap() else {
            panic!("shape")
        };
        let early =
            tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept()).await;
        assert!(early.is_err(), "connected before any data was written");
        conn.write_all(b"go").await.unwrap();
        conn.flush().await.unwrap();
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"go");
        s.write_all(b"ok").await.unwrap();
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ok");
    }

    #[tokio::test]
    async fn foreachmsg_opens_one_connection_per_message() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let layer = LazyLayer {
            bytes: true,
            mode: Mode::EachMessage { wait_read: true },
        };
        let c = layer.layer(tcp(listener.local_addr().unwrap()));
        let Conn::Bytes(mut conn) = c.connect(&ConnInfo::default()).await.unwrap() else {
            panic!("shape")
        };
        for word in [&b"one"[..], b"two"] {
            conn.write_all(word).await.unwrap();
            conn.flush().await.unwrap();
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            // The message is followed by a half-close.
            s.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, word);
            s.write_all(b"ack").await.unwrap();
            drop(s);
            let mut buf = [0u8; 3];
            conn.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ack");
        }
    }
}
