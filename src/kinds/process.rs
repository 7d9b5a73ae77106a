//! `exec:` (run a program with `--exec-args`, no shell) and `sh-c:` / `cmd:` (run `sh -c`).
//!
//! The child's stdin and stdout are the byte stream; its stderr is inherited. Shutting down our
//! writer closes the child's stdin (and sends SIGHUP with `--exec-sighup-on-stdin-close`).
//! When the connection is dropped the child is reaped by a background task; with
//! `--exec-exit-on-disconnect` it is killed first.

use crate::exec::build::BuildCtx;
use crate::exec::{Conn, ConnInfo, Connect};
use crate::plan::PlanNode;
use crate::registry::{ArgType, Build, KindDef, ParamDef, ParamType, Role, Shape, Trait};
use futures::future::BoxFuture;
use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const ENV_PARAM: ParamDef = ParamDef {
    name: "env",
    ty: ParamType::Bool,
    flag: Some("--set-environment"),
    help: "set WEBSOCAT_URI, WEBSOCAT_CLIENT and H_* in the child's environment (-e)",
};
const HEADER_TO_ENV_PARAM: ParamDef = ParamDef {
    name: "header-to-env",
    ty: ParamType::Repeated,
    flag: Some("--header-to-env"),
    help: "with env=true, pass this request header as H_<name> (repeatable)",
};
const SIGHUP_PARAM: ParamDef = ParamDef {
    name: "sighup-on-stdin-close",
    ty: ParamType::Bool,
    flag: Some("--exec-sighup-on-stdin-close"),
    help: "send SIGHUP to the child when its stdin is closed",
};
const SIGHUP_ZERO_PARAM: ParamDef = ParamDef {
    name: "sighup-on-zero-msg",
    ty: ParamType::Bool,
    flag: Some("--exec-sighup-on-zero-msg"),
    help: "send SIGHUP to the child when an empty message arrives for it (binary mode)",
};
const KILL_PARAM: ParamDef = ParamDef {
    name: "exit-on-disconnect",
    ty: ParamType::Bool,
    flag: Some("--exec-exit-on-disconnect"),
    help: "kill the child when the connection ends instead of letting it finish",
};
const ARGS_PARAM: ParamDef = ParamDef {
    name: "args",
    ty: ParamType::Repeated,
    flag: Some("--exec-args"),
    help: "one command-line argument for the program (repeatable, in order)",
};

/// Registry entry for `exec:`.
pub const EXEC: KindDef = KindDef {
    name: "exec",
    synonyms: &[],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[Trait::ProgramWithArgs],
    arg: ArgType::Command,
    params: &[
        ARGS_PARAM,
        ENV_PARAM,
        HEADER_TO_ENV_PARAM,
        SIGHUP_PARAM,
        SIGHUP_ZERO_PARAM,
        KILL_PARAM,
    ],
    summary: "run a program (no shell); its stdin/stdout are the connection",
    help: "Starts PROGRAM (looked up in PATH) with the arguments given by `--exec-args`, passed \
           verbatim without a shell. `--exec-args` takes every argument after it, so it goes \
           last on the command line. The child's stdin and stdout are the byte stream, stderr \
           is inherited. Each connection starts its own child. With `-e` the child gets \
           WEBSOCAT_URI, WEBSOCAT_CLIENT, for each `--header-to-env NAME`, H_NAME, and behind \
           a TLS server that verified a client certificate (`--tls-client-ca`), \
           WEBSOCAT_TLS_CLIENT_SUBJECT, WEBSOCAT_TLS_CLIENT_ISSUER and WEBSOCAT_TLS_CLIENT_SAN.",
    examples: &[
        "websocat ws-l:127.0.0.1:8080 exec:cat",
        "websocat -e tcp-l:127.0.0.1:9000 exec:printenv --exec-args WEBSOCAT_CLIENT",
    ],
    build: Build::Connector(build_exec),
};

/// Registry entry for `sh-c:` (also `cmd:`).
pub const SH_C: KindDef = KindDef {
    name: "sh-c",
    synonyms: &["cmd"],
    role: Role::Leaf,
    shape: Shape::Bytes,
    traits: &[],
    arg: ArgType::Command,
    params: &[
        ENV_PARAM,
        HEADER_TO_ENV_PARAM,
        SIGHUP_PARAM,
        SIGHUP_ZERO_PARAM,
        KILL_PARAM,
    ],
    summary: "run a shell command line (`sh -c`); its stdin/stdout are the connection",
    help: "Runs `sh -c COMMAND`; everything after `sh-c:` is the command line, colons \
           included. The child's stdin and stdout are the byte stream, stderr is inherited. \
           Each connection starts its own child. With `-e` the child gets WEBSOCAT_URI, \
           WEBSOCAT_CLIENT, H_* and WEBSOCAT_TLS_CLIENT_* variables (see `exec:`).",
    examples: &[
        "websocat tcp-l:127.0.0.1:9000 sh-c:'tr a-z A-Z'",
        "websocat -e ws-l:127.0.0.1:8080 'sh-c:echo \"you asked for $WEBSOCAT_URI\"'",
    ],
    build: Build::Connector(build_sh_c),
};

/// What to run and how, built from one plan node.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Set WEBSOCAT_* variables from the connection info.
    pub env: bool,
    /// Request headers to pass as `H_<name>`.
    pub header_to_env: Vec<String>,
    /// SIGHUP the child when its stdin is closed.
    pub sighup_on_stdin_close: bool,
    /// SIGHUP the child for each empty write (an empty message in binary mode).
    pub sighup_on_zero_msg: bool,
    /// Kill the child when the connection is dropped.
    pub kill_on_disconnect: bool,
}

impl ProcessSpec {
    fn from_node(node: &PlanNode, program: String, args: Vec<String>) -> Self {
        let header_to_env: Vec<String> = node
            .params_all("header-to-env")
            .map(str::to_string)
            .collect();
        let env = node.param_bool("env");
        if !header_to_env.is_empty() && !env {
            tracing::warn!("--header-to-env has no effect without -e / --set-environment");
        }
        ProcessSpec {
            program,
            args,
            env,
            header_to_env,
            sighup_on_stdin_close: node.param_bool("sighup-on-stdin-close"),
            sighup_on_zero_msg: node.param_bool("sighup-on-zero-msg"),
            kill_on_disconnect: node.param_bool("exit-on-disconnect"),
        }
    }

    /// The command line for messages.
    fn describe(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Starts the child for one connection.
    pub fn spawn(&self, info: &ConnInfo) -> io::Result<ChildConn> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if self.env {
            for (k, v) in child_env(info, &self.header_to_env) {
                cmd.env(k, v);
            }
        }
        #[cfg(unix)]
        if self.sighup_on_stdin_close || self.sighup_on_zero_msg {
            // A SIGHUP we were started with ignored (nohup, some service managers) would be
            // inherited and could not even be trapped by the child: give it the default.
            // SAFETY: only signal(2), which is async-signal-safe, runs between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::signal(libc::SIGHUP, libc::SIG_DFL);
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().map_err(|e| {
            io::Error::new(e.kind(), format!("starting `{}`: {e}", self.describe()))
        })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(io::Error::other("child process has no stdin/stdout pipes"));
        };
        Ok(ChildConn {
            stdin: Some(stdin),
            stdout,
            pid: child.id(),
            sighup_on_stdin_close: self.sighup_on_stdin_close,
            sighup_on_zero_msg: self.sighup_on_zero_msg,
            _guard: ChildGuard {
                child: Some(child),
                kill: self.kill_on_disconnect,
                name: self.describe(),
            },
        })
    }
}

/// The environment variables `-e` gives a child, from what is known about the connection.
pub fn child_env(info: &ConnInfo, header_to_env: &[String]) -> Vec<(String, String)> {
    let mut v = Vec::new();
    if let Some(request) = &info.request {
        v.push(("WEBSOCAT_URI".to_string(), request.uri().to_string()));
    }
    if let Some(peer) = &info.peer {
        v.push(("WEBSOCAT_CLIENT".to_string(), peer.to_string()));
    }
    if let Some(id) = &info.tls_client {
        v.push((
            "WEBSOCAT_TLS_CLIENT_SUBJECT".to_string(),
            id.subject.clone(),
        ));
        v.push(("WEBSOCAT_TLS_CLIENT_ISSUER".to_string(), id.issuer.clone()));
        v.push((
            "WEBSOCAT_TLS_CLIENT_SAN".to_string(),
            id.alt_names.join(","),
        ));
    }
    for name in header_to_env {
        let values = info
            .request
            .as_ref()
            .map(|r| r.header_values(name))
            .unwrap_or_default();
        let mut found = values.into_iter();
        match found.next() {
            Some(value) => {
                if found.next().is_some() {
                    tracing::warn!(
                        "request header {name} appears more than once; H_{name} gets the first"
                    );
                }
                v.push((format!("H_{name}"), value));
            }
            None => tracing::warn!("no request header {name}, so no environment variable H_{name}"),
        }
    }
    v
}

fn build_exec(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    let args = node.params_all("args").map(str::to_string).collect();
    Ok(Arc::new(ProcessConnect {
        spec: ProcessSpec::from_node(node, node.arg.clone(), args),
    }))
}

fn build_sh_c(node: &PlanNode, _ctx: &BuildCtx) -> Result<Arc<dyn Connect>, String> {
    let args = vec!["-c".to_string(), node.arg.clone()];
    Ok(Arc::new(ProcessConnect {
        spec: ProcessSpec::from_node(node, "sh".into(), args),
    }))
}

struct ProcessConnect {
    spec: ProcessSpec,
}

impl Connect for ProcessConnect {
    fn connect<'a>(&'a self, info: &'a ConnInfo) -> BoxFuture<'a, io::Result<Conn>> {
        Box::pin(async move { Ok(Conn::Bytes(Box::new(self.spec.spawn(info)?))) })
    }
}

/// A running child as a byte stream: reads come from its stdout, writes go to its stdin.
pub struct ChildConn {
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    pid: Option<u32>,
    sighup_on_stdin_close: bool,
    sighup_on_zero_msg: bool,
    _guard: ChildGuard,
}

impl ChildConn {
    /// The child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }
}

/// Reaps (and, when asked, kills) the child when the connection goes away.
struct ChildGuard {
    child: Option<Child>,
    kill: bool,
    name: String,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.kill {
            if let Err(e) = child.start_kill() {
                tracing::debug!("killing `{}`: {e}", self.name);
            }
        }
        let name = std::mem::take(&mut self.name);
        // Outside a runtime tokio still reaps a dropped child in the background.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                match child.wait().await {
                    Ok(st) if st.success() => tracing::debug!("`{name}` exited"),
                    Ok(st) => tracing::info!("`{name}` exited unsuccessfully: {st}"),
                    Err(e) => tracing::warn!("waiting for `{name}`: {e}"),
                }
            });
        }
    }
}

#[cfg(unix)]
fn sighup(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours. The child has not
    // been waited for yet, so the pid still names it (at worst a zombie).
    let r = unsafe { libc::kill(pid, libc::SIGHUP) };
    if r != 0 {
        tracing::debug!("SIGHUP to {pid}: {}", io::Error::last_os_error());
    }
}

#[cfg(not(unix))]
fn sighup(_pid: u32) {}

impl AsyncRead for ChildConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

fn stdin_closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the child's stdin is already closed",
    )
}

impl AsyncWrite for ChildConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        // An empty write is how an empty message reaches a byte stream (see ChunkStream).
        if data.is_empty() && self.sighup_on_zero_msg {
            if let Some(pid) = self.pid {
                sighup(pid);
            }
            return Poll::Ready(Ok(0));
        }
        match self.stdin.as_mut() {
            Some(s) => Pin::new(s).poll_write(cx, data),
            None => Poll::Ready(Err(stdin_closed())),
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stdin.as_mut() {
            Some(s) => Pin::new(s).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(s) = self.stdin.as_mut() {
            // A child that already exited makes flushing fail; closing is still what we want.
            if Pin::new(s).poll_flush(cx).is_pending() {
                return Poll::Pending;
            }
            self.stdin = None;
            if self.sighup_on_stdin_close {
                if let Some(pid) = self.pid {
                    sighup(pid);
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::conn::Peer;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn spec(program: &str, args: &[&str]) -> ProcessSpec {
        ProcessSpec {
            program: program.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: false,
            header_to_env: Vec::new(),
            sighup_on_stdin_close: false,
            sighup_on_zero_msg: false,
            kill_on_disconnect: false,
        }
    }

    async fn output(mut c: ChildConn) -> Vec<u8> {
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out))
            .await
            .expect("child output in time")
            .unwrap();
        out
    }

    #[tokio::test]
    async fn shutdown_closes_the_childs_stdin() {
        let mut c = spec("sh", &["-c", "tr a-z A-Z"])
            .spawn(&ConnInfo::default())
            .unwrap();
        c.write_all(b"abc\n").await.unwrap();
        c.shutdown().await.unwrap();
        assert!(c.write_all(b"x").await.is_err());
        assert_eq!(output(c).await, b"ABC\n");
    }

    #[tokio::test]
    async fn exec_passes_arguments_verbatim() {
        let c = spec("printf", &["%s|%s|", "-x", "a b;c"])
            .spawn(&ConnInfo::default())
            .unwrap();
        assert_eq!(output(c).await, b"-x|a b;c|");
    }

    #[tokio::test]
    async fn missing_program_names_it() {
        let Err(e) = spec("/nonexistent/prog", &[]).spawn(&ConnInfo::default()) else {
            panic!("spawned a missing program");
        };
        assert!(e.to_string().contains("/nonexistent/prog"), "{e}");
    }

    #[tokio::test]
    async fn environment_from_connection_info() {
        let mut s = spec("env", &[]);
        s.env = true;
        s.header_to_env = vec!["X-Foo".into(), "Missing".into()];
        let info = ConnInfo {
            peer: Some(Peer::Ip(([127, 0, 0, 1], 5555).into())),
            request: Some(crate::ws::handshake::RequestHead::new(
                bytes::Bytes::from_static(
                    b"GET /p?q=1 HTTP/1.1\r\nx-foo: bar\r\nX-Foo: second\r\n\r\n",
                ),
            )),
            tls_client: Some(std::sync::Arc::new(crate::exec::TlsPeerIdentity {
                subject: "CN=alice,O=Team".into(),
                issuer: "CN=ca".into(),
                alt_names: vec!["DNS:a.example".into(), "email:a@example.com".into()],
            })),
        };
        let out = String::from_utf8(output(s.spawn(&info).unwrap()).await).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.contains(&"WEBSOCAT_URI=/p?q=1"), "{out}");
        assert!(lines.contains(&"WEBSOCAT_CLIENT=127.0.0.1:5555"), "{out}");
        assert!(lines.contains(&"H_X-Foo=bar"), "{out}");
        assert!(!out.contains("H_Missing"), "{out}");
        assert!(
            lines.contains(&"WEBSOCAT_TLS_CLIENT_SUBJECT=CN=alice,O=Team"),
            "{out}"
        );
        assert!(lines.contains(&"WEBSOCAT_TLS_CLIENT_ISSUER=CN=ca"), "{out}");
        assert!(
            lines.contains(&"WEBSOCAT_TLS_CLIENT_SAN=DNS:a.example,email:a@example.com"),
            "{out}"
        );
    }

    #[tokio::test]
    async fn no_environment_without_env() {
        let info = ConnInfo {
            peer: Some(Peer::Text("127.0.0.1:5555".into())),
            ..Default::default()
        };
        let out = output(spec("env", &[]).spawn(&info).unwrap()).await;
        assert!(!String::from_utf8_lossy(&out).contains("WEBSOCAT_CLIENT"));
    }

    #[tokio::test]
    async fn sighup_for_an_empty_write_when_asked() {
        let mut s = spec(
            "sh",
            &[
                "-c",
                "trap 'echo HUP' HUP; echo ready; while :; do sleep 0.05; done",
            ],
        );
        s.sighup_on_zero_msg = true;
        s.kill_on_disconnect = true;
        let mut c = s.spawn(&ConnInfo::default()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while !got.ends_with(b"ready\n") {
            let n = c.read(&mut buf).await.unwrap();
            assert!(n > 0, "child ended early");
            got.extend_from_slice(&buf[..n]);
        }
        // Data is passed on as usual; only an empty write is the signal.
        c.write_all(b"ignored by the script\n").await.unwrap();
        assert_eq!(c.write(b"").await.unwrap(), 0);
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("the trap's output in time")
            .unwrap();
        assert_eq!(&buf[..n], b"HUP\n");
    }

    #[tokio::test]
    async fn sighup_when_stdin_closes() {
        let mut s = spec(
            "sh",
            &[
                "-c",
                "trap 'echo HUP; exit 0' HUP; echo ready; while :; do sleep 0.05; done",
            ],
        );
        s.sighup_on_stdin_close = true;
        let mut c = s.spawn(&ConnInfo::default()).unwrap();
        // Wait until the shell has installed its trap.
        let mut ready = [0u8; 6];
        c.read_exact(&mut ready).await.unwrap();
        assert_eq!(&ready, b"ready\n");
        c.shutdown().await.unwrap();
        assert_eq!(output(c).await, b"HUP\n");
    }

    fn alive(pid: u32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }

    #[tokio::test]
    async fn kill_on_disconnect_kills_and_reaps() {
        let mut s = spec("sleep", &["30"]);
        s.kill_on_disconnect = true;
        let c = s.spawn(&ConnInfo::default()).unwrap();
        let pid = c.pid().unwrap();
        assert!(alive(pid));
        drop(c);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "child {pid} still there"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn without_kill_the_child_finishes_and_is_reaped() {
        let c = spec("sh", &["-c", "sleep 1"])
            .spawn(&ConnInfo::default())
            .unwrap();
        let pid = c.pid().unwrap();
        drop(c);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(alive(pid), "killed although not asked to");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "child {pid} never reaped"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
