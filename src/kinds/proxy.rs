//! Proxy clients over a byte stream to the proxy: `socks5-connect:` (SOCKS5 CONNECT,
//! RFC 1928, with RFC 1929 username and password), `socks5-bind:` (SOCKS5 BIND: the proxy
//! accepts one connection for us) and `http-connect:` (HTTP `CONNECT`, RFC 9110 §9.3.6).
//! The planner puts the CONNECT kinds under `ws://` URLs for `--socks5`, `--proxy` and the
//! `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` environment variables.

use crate::exec::build::BuildCtx;
use crate::exec::conn::Peer;
use crate::exec::{Conn, ConnInfo, ConnLayer};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape};
use crate::spec::args::{parse_host_port, HostPort};
use base64::Engine;
use futures::future::BoxFuture;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Registry entry for `socks5-connect:`.
pub const SOCKS5_CONNECT: KindDef = KindDef {
    name: "socks5-connect",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::BytesToBytes,
    traits: &[],
    arg: ArgType::None,
    params: &[
        ParamDef {
            name: "dest",
            ty: ParamType::Text,
            flag: Some("--socks5-destination"),
            help: "where the proxy should connect: `host:port` (required)",
        },
        ParamDef {
            name: "auth",
            ty: ParamType::Text,
            flag: Some("--socks5-user-pass"),
            help: "`user:password` for username/password authentication",
        },
    ],
    summary: "ask a SOCKS5 proxy (the inner connection) to connect somewhere",
    help: "Speaks SOCKS5 over the inner byte stream: offers no authentication (and \
           username/password when `auth` is set), then asks for a CONNECT to `dest`. Host names \
           are sent to the proxy unresolved. Afterwards the stream carries the tunnelled \
           connection. `--socks5 HOST:PORT` routes a `ws://` URL through it automatically.",
    examples: &[
        "websocat --socks5-destination=example.com:80 --ws-c-uri=ws://example.com/ - ws-c:socks5-connect:tcp:127.0.0.1:9050",
        "websocat --socks5 127.0.0.1:9050 ws://example.com/",
    ],
    build: Build::Layer(build_socks5),
};

/// Registry entry for `socks5-bind:`.
pub const SOCKS5_BIND: KindDef = KindDef {
    name: "socks5-bind",
    synonyms: &[],
    role: Role::Overlay,
    shape: Shape::BytesToBytes,
    traits: &[],
    arg: ArgType::None,
    params: &[
        ParamDef {
            name: "dest",
            ty: ParamType::Text,
            flag: Some("--socks5-destination"),
            help: "the address the incoming connection is expected from: `host:port` (required)",
        },
        ParamDef {
            name: "auth",
            ty: ParamType::Text,
            flag: Some("--socks5-user-pass"),
            help: "`user:password` for username/password authentication",
        },
        ParamDef {
            name: "script",
            ty: ParamType::Text,
            flag: Some("--socks5-bind-script"),
            help: "program run with the bound port as its argument once the proxy reports it",
        },
    ],
    summary: "ask a SOCKS5 proxy (the inner connection) to accept one connection for us",
    help: "Speaks SOCKS5 over the inner byte stream and sends a BIND request for `dest`. The \
           proxy's first answer gives the port it listens on (logged; `--socks5-bind-script \
           PROGRAM` runs `PROGRAM PORT` then, without waiting for it); its second answer comes \
           when a peer connected there, and the stream then carries that connection.",
    examples: &[
        "websocat -t --socks5-destination 255.255.255.255:65535 --socks5-bind-script ./tell-port.sh ws-u:socks5-bind:tcp:198.51.100.7:1080 -",
    ],
    build: Build::Layer(build_socks5_bind),
};

/// Registry entry for `http-connect:`.
pub const HTTP_CONNECT: KindDef = KindDef {
    name: "http-connect",
    synonyms: &["http-proxy"],
    role: Role::Overlay,
    shape: Shape::BytesToBytes,
    traits: &[],
    arg: ArgType::None,
    params: &[
        ParamDef {
            name: "dest",
            ty: ParamType::Text,
            flag: None,
            help: "where the proxy should connect: `host:port` (required)",
        },
        ParamDef {
            name: "auth",
            ty: ParamType::Text,
            flag: None,
            help: "`user:password` sent as Proxy-Authorization: Basic",
        },
    ],
    summary: "ask an HTTP proxy (the inner connection) to open a tunnel with CONNECT",
    help: "Sends `CONNECT dest HTTP/1.1` over the inner byte stream and waits for a 2xx \
           answer; afterwards the stream carries the tunnelled connection. `--proxy \
           http://user:pass@host:port`, or HTTP_PROXY (ws://) / HTTPS_PROXY (wss://) unless \
           NO_PROXY matches, routes URLs through it automatically; loopback hosts never use \
           a proxy from the environment.",
    examples: &[
        "websocat --proxy http://127.0.0.1:3128 ws://example.com/",
        "websocat --ws-c-uri=ws://example.com/ - 'ws-c:http-connect[dest=example.com:80]:tcp:127.0.0.1:3128'",
    ],
    build: Build::Layer(build_http),
};

fn dest_param(node: &PlanNode) -> Result<HostPort, String> {
    let Some(dest) = node.param("dest") else {
        return Err("no destination: set `dest` (or --socks5-destination)".into());
    };
    parse_host_port(dest).map_err(|p| format!("destination `{dest}`: {}", p.message))
}

fn auth_param(node: &PlanNode) -> Result<Option<(String, String)>, String> {
    node.param("auth")
        .map(|a| {
            a.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .ok_or_else(|| "`auth` must be `user:password`".to_string())
        })
        .transpose()
}

fn build_socks5(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    let auth = auth_param(node)?;
    if let Some((u, p)) = &auth {
        if u.len() > 255 || p.len() > 255 {
            return Err("SOCKS5 user name and password are limited to 255 bytes each".into());
        }
    }
    Ok(Arc::new(ProxyHop {
        proto: ProxyProto::Socks5,
        dest: dest_param(node)?,
        auth,
    }))
}

fn build_socks5_bind(node: &PlanNode, ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    // Same checks as `socks5-connect:`.
    let _ = build_socks5(node, ctx)?;
    Ok(Arc::new(Socks5Bind {
        dest: dest_param(node)?,
        auth: auth_param(node)?,
        script: node.param("script").map(str::to_string),
    }))
}

fn build_http(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn ConnLayer>, String> {
    Ok(Arc::new(ProxyHop {
        proto: ProxyProto::HttpConnect,
        dest: dest_param(node)?,
        auth: auth_param(node)?,
    }))
}

/// Which proxy protocol a [`ProxyHop`] speaks.
#[derive(Clone, Copy)]
enum ProxyProto {
    Socks5,
    HttpConnect,
}

/// One hop through a proxy: the handshake that asks it to connect to `dest`.
struct ProxyHop {
    proto: ProxyProto,
    dest: HostPort,
    auth: Option<(String, String)>,
}

impl ConnLayer for ProxyHop {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let (proto, dest, auth) = (self.proto, self.dest.clone(), self.auth.clone());
        Box::pin(async move {
            let (kind, what) = match proto {
                ProxyProto::Socks5 => (&SOCKS5_CONNECT, "SOCKS5 proxy"),
                ProxyProto::HttpConnect => (&HTTP_CONNECT, "HTTP proxy"),
            };
            let mut io = inner.into_bytes_for(kind.name)?;
            let result = match proto {
                ProxyProto::Socks5 => socks5_handshake(&mut io, &dest, auth.as_ref()).await,
                ProxyProto::HttpConnect => {
                    http_connect_handshake(&mut io, &dest, auth.as_ref()).await
                }
            };
            result.map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{what}, connecting to {}: {e}", dest.to_addr_string()),
                )
            })?;
            Ok((Conn::Bytes(io), info))
        })
    }
}

struct Socks5Bind {
    dest: HostPort,
    auth: Option<(String, String)>,
    script: Option<String>,
}

/// Runs `script PORT` in the background, reaping it when it exits.
fn run_bind_script(script: &str, port: u16) {
    match tokio::process::Command::new(script)
        .arg(port.to_string())
        .stdin(std::process::Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
        }
        Err(e) => tracing::warn!("cannot run the --socks5-bind-script `{script}`: {e}"),
    }
}

impl ConnLayer for Socks5Bind {
    fn wrap(
        &self,
        inner: Conn,
        info: ConnInfo,
    ) -> BoxFuture<'static, io::Result<(Conn, ConnInfo)>> {
        let dest = self.dest.clone();
        let auth = self.auth.clone();
        let script = self.script.clone();
        Box::pin(async move {
            let mut io = inner.into_bytes_for(SOCKS5_BIND.name)?;
            let ctx = |e: io::Error| {
                io::Error::new(
                    e.kind(),
                    format!("SOCKS5 proxy, binding for {}: {e}", dest.to_addr_string()),
                )
            };
            let bound = socks5_command(&mut io, SOCKS5_BIND_CMD, &dest, auth.as_ref())
                .await
                .map_err(ctx)?;
            tracing::info!("SOCKS5 proxy listens for us on {}", bound.to_addr_string());
            if let Some(s) = &script {
                run_bind_script(s, bound.port);
            }
            let peer = socks5_reply(&mut io).await.map_err(ctx)?;
            tracing::info!("SOCKS5 proxy: {} connected", peer.to_addr_string());
            let info = ConnInfo {
                peer: Some(Peer::Text(peer.to_addr_string())),
                ..info
            };
            Ok((Conn::Bytes(io), info))
        })
    }
}

fn proto_err(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Runs the client side of a SOCKS5 CONNECT on `io`.
pub async fn socks5_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    dest: &HostPort,
    auth: Option<&(String, String)>,
) -> io::Result<()> {
    socks5_command(io, SOCKS5_CONNECT_CMD, dest, auth)
        .await
        .map(|_| ())
}

/// The SOCKS5 CONNECT command code.
pub const SOCKS5_CONNECT_CMD: u8 = 1;
/// The SOCKS5 BIND command code.
pub const SOCKS5_BIND_CMD: u8 = 2;

/// Negotiates authentication, sends command `cmd` for `dest` and reads the proxy's first
/// reply, returning the address in it (the bound address for BIND).
pub async fn socks5_command<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    cmd: u8,
    dest: &HostPort,
    auth: Option<&(String, String)>,
) -> io::Result<HostPort> {
    let greeting: &[u8] = if auth.is_some() {
        &[5, 2, 0, 2]
    } else {
        &[5, 1, 0]
    };
    io.write_all(greeting).await?;
    io.flush().await?;
    let mut choice = [0u8; 2];
    io.read_exact(&mut choice).await?;
    if choice[0] != 5 {
        return Err(proto_err(format!(
            "not a SOCKS5 proxy (version byte {})",
            choice[0]
        )));
    }
    match (choice[1], auth) {
        (0, _) => {}
        (2, Some((user, pass))) => {
            let mut req = vec![1, user.len() as u8];
            req.extend_from_slice(user.as_bytes());
            req.push(pass.len() as u8);
            req.extend_from_slice(pass.as_bytes());
            io.write_all(&req).await?;
            io.flush().await?;
            let mut status = [0u8; 2];
            io.read_exact(&mut status).await?;
            if status[1] != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "the proxy rejected the user name or password",
                ));
            }
        }
        (0xff, _) => {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                if auth.is_some() {
                    "the proxy accepts none of our authentication methods"
                } else {
                    "the proxy requires authentication (--socks5-user-pass)"
                },
            ))
        }
        (m, _) => {
            return Err(proto_err(format!(
                "the proxy chose an authentication method we did not offer ({m})"
            )))
        }
    }
    let mut req = vec![5, cmd, 0];
    match dest.host.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => {
            req.push(1);
            req.extend_from_slice(&a.octets());
        }
        Ok(IpAddr::V6(a)) => {
            req.push(4);
            req.extend_from_slice(&a.octets());
        }
        Err(_) => {
            if dest.host.len() > 255 {
                return Err(proto_err("host name longer than 255 bytes"));
            }
            req.push(3);
            req.push(dest.host.len() as u8);
            req.extend_from_slice(dest.host.as_bytes());
        }
    }
    req.extend_from_slice(&dest.port.to_be_bytes());
    io.write_all(&req).await?;
    io.flush().await?;
    socks5_reply(io).await
}

/// Reads one SOCKS5 reply; returns its address, or the proxy's refusal as an error.
pub async fn socks5_reply<S: AsyncRead + Unpin>(io: &mut S) -> io::Result<HostPort> {
    let mut head = [0u8; 4];
    io.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Err(proto_err(format!(
            "not a SOCKS5 reply (version byte {})",
            head[0]
        )));
    }
    if head[1] != 0 {
        let why = match head[1] {
            1 => "general failure",
            2 => "connection not allowed by ruleset",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unknown error",
        };
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("the proxy answered: {why} (code {})", head[1]),
        ));
    }
    let host = match head[3] {
        1 => {
            let mut a = [0u8; 4];
            io.read_exact(&mut a).await?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        4 => {
            let mut a = [0u8; 16];
            io.read_exact(&mut a).await?;
            std::net::Ipv6Addr::from(a).to_string()
        }
        3 => {
            let mut l = [0u8; 1];
            io.read_exact(&mut l).await?;
            let mut name = vec![0u8; usize::from(l[0])];
            io.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        t => {
            return Err(proto_err(format!(
                "bad address type {t} in the proxy's answer"
            )))
        }
    };
    let mut port = [0u8; 2];
    io.read_exact(&mut port).await?;
    Ok(HostPort {
        host,
        port: u16::from_be_bytes(port),
    })
}

/// Longest proxy response head we read.
const MAX_HEAD: usize = 16 * 1024;

/// Runs the client side of an HTTP CONNECT on `io`; reads exactly the response head.
pub async fn http_connect_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    dest: &HostPort,
    auth: Option<&(String, String)>,
) -> io::Result<()> {
    let target = dest.to_addr_string();
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some((u, p)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    req.push_str("\r\n");
    io.write_all(req.as_bytes()).await?;
    io.flush().await?;
    // Byte by byte: whatever follows the head belongs to the tunnel.
    let mut head = Vec::with_capacity(256);
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(proto_err("the proxy's response head is too long"));
        }
        if io.read(&mut b).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the proxy closed the connection before answering",
            ));
        }
        head.push(b[0]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    resp.parse(&head)
        .map_err(|e| proto_err(format!("bad response from the proxy: {e}")))?;
    let code = resp.code.unwrap_or(0);
    if !(200..300).contains(&code) {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "the proxy answered {code} {}",
                resp.reason.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn socks5_sends_domain_and_credentials() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        let dest = HostPort {
            host: "example.org".into(),
            port: 8080,
        };
        let auth = ("u".to_string(), "pw".to_string());
        let proxy = tokio::spawn(async move {
            let mut g = [0u8; 4];
            server.read_exact(&mut g).await.unwrap();
            assert_eq!(g, [5, 2, 0, 2]);
            server.write_all(&[5, 2]).await.unwrap();
            let mut a = [0u8; 6];
            server.read_exact(&mut a).await.unwrap();
            assert_eq!(&a, b"\x01\x01u\x02pw");
            server.write_all(&[1, 0]).await.unwrap();
            let mut r = [0u8; 5 + 11 + 2];
            server.read_exact(&mut r).await.unwrap();
            assert_eq!(&r, b"\x05\x01\x00\x03\x0bexample.org\x1f\x90");
            server
                .write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
                .await
                .unwrap();
            server.write_all(b"tunnel").await.unwrap();
        });
        socks5_handshake(&mut client, &dest, Some(&auth))
            .await
            .unwrap();
        let mut t = [0u8; 6];
        client.read_exact(&mut t).await.unwrap();
        assert_eq!(&t, b"tunnel");
        proxy.await.unwrap();
    }

    #[tokio::test]
    async fn socks5_refusal_is_reported() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut g = [0u8; 3];
            server.read_exact(&mut g).await.unwrap();
            server.write_all(&[5, 0]).await.unwrap();
            let mut r = [0u8; 10];
            server.read_exact(&mut r).await.unwrap();
            server
                .write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0])
                .await
                .unwrap();
        });
        let dest = HostPort {
            host: "10.0.0.1".into(),
            port: 1,
        };
        let err = socks5_handshake(&mut client, &dest, None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("connection refused"), "{err}");
    }

    #[tokio::test]
    async fn socks5_bind_reports_the_port_then_waits_for_the_peer() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("port");
        let script = dir.path().join("tell.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$1\" > {}\n", out.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let (client, mut server) = tokio::io::duplex(1024);
        let proxy = tokio::spawn(async move {
            let mut g = [0u8; 3];
            server.read_exact(&mut g).await.unwrap();
            assert_eq!(g, [5, 1, 0]);
            server.write_all(&[5, 0]).await.unwrap();
            let mut r = [0u8; 10];
            server.read_exact(&mut r).await.unwrap();
            assert_eq!(r, [5, 2, 0, 1, 10, 0, 0, 9, 0x1f, 0x90]);
            server
                .write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0x30, 0x39])
                .await
                .unwrap();
            server
                .write_all(&[5, 0, 0, 1, 10, 0, 0, 9, 0, 80])
                .await
                .unwrap();
            server.write_all(b"tunnel").await.unwrap();
            server
        });
        let layer = Socks5Bind {
            dest: HostPort {
                host: "10.0.0.9".into(),
                port: 8080,
            },
            auth: None,
            script: Some(script.display().to_string()),
        };
        let (conn, info) = layer
            .wrap(Conn::Bytes(Box::new(client)), ConnInfo::default())
            .await
            .unwrap();
        assert_eq!(info.peer, Some(Peer::Text("10.0.0.9:80".into())));
        let Conn::Bytes(mut io) = conn else {
            panic!("bytes expected")
        };
        let mut t = [0u8; 6];
        io.read_exact(&mut t).await.unwrap();
        assert_eq!(&t, b"tunnel");
        let _server = proxy.await.unwrap();
        let port = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                if let Ok(s) = std::fs::read_to_string(&out) {
                    if s.ends_with('\n') {
                        return s;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(port, "12345\n");
    }

    #[tokio::test]
    async fn http_connect_keeps_bytes_after_the_head() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 1024];
            let n = server.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            assert!(req.starts_with("CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n"));
            assert!(req.contains("Proxy-Authorization: Basic dTpw\r\n"));
            server
                .write_all(b"HTTP/1.1 200 OK\r\nX: y\r\n\r\nearly")
                .await
                .unwrap();
        });
        let dest = HostPort {
            host: "h".into(),
            port: 1,
        };
        let auth = ("u".to_string(), "p".to_string());
        http_connect_handshake(&mut client, &dest, Some(&auth))
            .await
            .unwrap();
        let mut t = [0u8; 5];
        client.read_exact(&mut t).await.unwrap();
        assert_eq!(&t, b"early");
    }

    #[tokio::test]
    async fn http_connect_error_status_fails() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 1024];
            let _ = server.read(&mut buf).await.unwrap();
            server
                .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                .await
                .unwrap();
        });
        let dest = HostPort {
            host: "h".into(),
            port: 1,
        };
        let err = http_connect_handshake(&mut client, &dest, None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("407"), "{err}");
    }
}
