//! Interoperability with a real browser (headless Chromium) and a real reverse proxy (nginx).
//!
//! `.ci/run` installs both (Debian packages `chromium` and `nginx`). On a developer machine
//! without them these tests say so and pass; under CI (`CI` set) a missing program is a failure
//! (`support::external::find_program`).

use crate::support::external::{find_program, GroupGuard};
use crate::support::{exchange, exchange_until, poll, refused_port, server_limited, Proc};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Watchdog limit for our servers here: a browser run may take up to 15 s.
const BROWSER_LIMIT: Duration = Duration::from_secs(30);

/// Chromium flags for every run here; a fresh `--user-data-dir` is added per run.
const HEADLESS: [&str; 8] = crate::support::external::CHROMIUM_HEADLESS;

// ---------------------------------------------------------------------------------------------
// Chromium

/// The test page. `?port=N&mode=M` (or `?ws=URL&mode=M`) says where our server listens and
/// which exchange to run;
/// the outcome goes into `<pre id="result">`, one event per line, then the page fetches
/// `/done`. The `<img src="/hold">` stays pending until then, which holds both the load event
/// and Chromium's virtual time, so `--dump-dom` sees the final DOM.
const PAGE: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>websocat test</title></head>
<body><pre id="result">pending</pre>
<script>
const q = new URLSearchParams(location.search);
const url = q.get('ws') || 'ws://127.0.0.1:' + q.get('port') + '/echo';
const log = [];
const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
async function describe(d) {
  if (typeof d === 'string') return 'text:' + JSON.stringify(d);
  if (d instanceof ArrayBuffer) return 'arraybuffer:' + hex(d);
  if (d instanceof Blob) return 'blob:' + hex(await d.arrayBuffer());
  return 'other:' + typeof d;
}
// Opens a socket, sends `msgs` once open, collects `expect` replies in order, closes with 1000.
function session(name, protocols, binaryType, msgs, expect) {
  return new Promise((resolve) => {
    const ws = protocols === null ? new WebSocket(url) : new WebSocket(url, protocols);
    if (binaryType) ws.binaryType = binaryType;
    let chain = Promise.resolve();
    let got = 0;
    ws.onopen = () => {
      log.push(name + ' open protocol=' + JSON.stringify(ws.protocol));
      for (const m of msgs) ws.send(m);
    };
    ws.onmessage = (e) => {
      chain = chain.then(async () => {
        log.push(name + ' ' + await describe(e.data));
        if (++got === expect) ws.close(1000, 'bye');
      });
    };
    ws.onerror = () => log.push(name + ' error');
    ws.onclose = (e) => {
      chain.then(() => {
        log.push(name + ' close code=' + e.code + ' clean=' + e.wasClean);
        resolve();
      });
    };
  });
}
async function run() {
  const bin = (...b) => new Uint8Array(b);
  if (q.get('mode') === 'mirror') {
    await session('s1', ['chat'], 'arraybuffer', ['hello \u00e9', bin(0, 1, 2, 255)], 2);
    await session('s2', null, null, [bin(0xde, 0xad), 'second'], 2);
  } else {
    await session('s1', null, 'arraybuffer', ['one', 'a\nb', bin(0x78, 0x79, 0x7a)], 3);
  }
}
const timeout = new Promise((r) => setTimeout(() => { log.push('page timeout'); r(); }, 8000));
Promise.race([run(), timeout]).catch((e) => log.push('exception ' + e)).then(() => {
  document.getElementById('result').textContent = log.join('\n');
  return fetch('/done');
});
</script>
<img src="/hold" alt="">
</body></html>
"#;

/// State shared between the page server's threads: `done` is set by `/done` (or on drop) and
/// releases `/hold`.
#[derive(Default)]
struct PageState {
    done: Mutex<bool>,
    cond: Condvar,
}

impl PageState {
    fn release(&self) {
        if let Ok(mut done) = self.done.lock() {
            *done = true;
        }
        self.cond.notify_all();
    }

    /// Waits until released, at most `limit`.
    fn wait(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let Ok(mut done) = self.done.lock() else {
            return;
        };
        while !*done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.cond.wait_timeout(done, left) {
                Ok((d, _)) => done = d,
                Err(_) => return,
            }
        }
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1:0 for [`PAGE`], `/hold` and `/done`; stopped and
/// joined on drop.
struct PageServer {
    port: u16,
    stop: Arc<AtomicBool>,
    state: Arc<PageState>,
    thread: Option<JoinHandle<()>>,
}

impl PageServer {
    fn start() -> PageServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind page server");
        let port = listener.local_addr().expect("page server address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(PageState::default());
        let (stop2, state2) = (stop.clone(), state.clone());
        let thread = std::thread::spawn(move || {
            let mut handlers = Vec::new();
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let state = state2.clone();
                handlers.push(std::thread::spawn(move || serve_http(conn, &state)));
            }
            for h in handlers {
                let _ = h.join();
            }
        });
        PageServer {
            port,
            stop,
            state,
            thread: Some(thread),
        }
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.state.release();
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers the requests of one connection (keep-alive) until the peer closes it.
fn serve_http(mut conn: TcpStream, state: &PageState) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(15)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let (status, ctype, body): (&str, &str, &[u8]) = match path.split('?').next() {
            Some("/page.html") => ("200 OK", "text/html; charset=utf-8", PAGE.as_bytes()),
            Some("/done") => {
                state.release();
                ("200 OK", "text/plain", b"ok")
            }
            Some("/hold") => {
                state.wait(Duration::from_secs(12));
                ("404 Not Found", "text/plain", b"")
            }
            _ => ("404 Not Found", "text/plain", b""),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\r\n",
            body.len()
        );
        if conn.write_all(head.as_bytes()).is_err() || conn.write_all(body).is_err() {
            return;
        }
    }
}

/// Runs headless Chromium on `url` with `--dump-dom` (fresh profile, no sandbox, no network
/// side traffic) and returns the text of `<pre id="result">`.
fn chromium_result(chromium: &Path, url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut guard = GroupGuard::spawn(
        Command::new(chromium)
            .args(HEADLESS)
            .arg("--disable-quic")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--virtual-time-budget=5000", "--dump-dom", url])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "chromium",
    );
    let mut stdout = guard.child().stdout.take().expect("chromium stdout");
    let mut stderr = guard.child().stderr.take().expect("chromium stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = guard.child().try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            drop(guard);
            panic!(
                "chromium did not finish in 15 s; stderr:\n{}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Helper processes still holding the pipes die with the group.
    drop(guard);
    let dom = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}):\n{err}");
    let start = dom
        .find("<pre id=\"result\">")
        .map(|i| i + "<pre id=\"result\">".len());
    let end = dom.find("</pre>");
    match (start, end) {
        (Some(s), Some(e)) if s <= e => dom[s..e]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
        _ => panic!("no result in the DOM:\n{dom}\nstderr:\n{err}"),
    }
}

/// What the page reports in `mode=mirror` against a mirror server.
const MIRROR_RESULT: &str = "s1 open protocol=\"chat\"\n\
     s1 text:\"hello é\"\n\
     s1 arraybuffer:000102ff\n\
     s1 close code=1000 clean=true\n\
     s2 open protocol=\"\"\n\
     s2 blob:dead\n\
     s2 text:\"second\"\n\
     s2 close code=1000 clean=true";

/// Headless Chromium talks to `websocat ws-l:127.0.0.1:0 mirror:`: text stays text (UTF-8
/// intact), binary stays binary (as ArrayBuffer and as Blob), an offered subprotocol is echoed
/// back, and both sides close cleanly with 1000.
#[test]
fn chromium_to_our_mirror_server() {
    let Some(chromium) = find_program("chromium") else {
        return;
    };
    let started = Instant::now();
    let (_server, port) = server_limited(&["ws-l:127.0.0.1:0", "mirror:"], BROWSER_LIMIT);
    let page = PageServer::start();
    let url = format!(
        "http://127.0.0.1:{}/page.html?port={port}&mode=mirror",
        page.port
    );
    let got = chromium_result(&chromium, &url);
    assert_eq!(got, MIRROR_RESULT);
    eprintln!("chromium_to_our_mirror_server took {:?}", started.elapsed());
}

/// Headless Chromium (which always offers permessage-deflate) talks to `websocat
/// --permessage-deflate ws-l:127.0.0.1:0 mirror:`: both connections negotiate compression and
/// every message comes back exactly as with the uncompressed server.
#[test]
fn chromium_to_our_compressing_mirror_server() {
    let Some(chromium) = find_program("chromium") else {
        return;
    };
    let (server, port) = server_limited(
        &["-v", "--permessage-deflate", "ws-l:127.0.0.1:0", "mirror:"],
        BROWSER_LIMIT,
    );
    let page = PageServer::start();
    let url = format!(
        "http://127.0.0.1:{}/page.html?port={port}&mode=mirror",
        page.port
    );
    let got = chromium_result(&chromium, &url);
    assert_eq!(got, MIRROR_RESULT);
    let log = server.stderr_so_far();
    assert_eq!(
        log.matches("WebSocket extension negotiated: permessage-deflate")
            .count(),
        2,
        "{log}"
    );
}

/// Headless Chromium talks to `websocat -t ws-l:127.0.0.1:0 exec:cat`: in text mode each
/// message becomes one line for `cat` (a trailing newline added, inner newlines turned into
/// spaces), and each line `cat` prints comes back as one text message, newline kept — also
/// for a message the browser sent as binary.
#[test]
fn chromium_to_our_line_mode_server() {
    let Some(chromium) = find_program("chromium") else {
        return;
    };
    let started = Instant::now();
    let (_server, port) = server_limited(&["-t", "ws-l:127.0.0.1:0", "exec:cat"], BROWSER_LIMIT);
    let page = PageServer::start();
    let url = format!(
        "http://127.0.0.1:{}/page.html?port={port}&mode=lines",
        page.port
    );
    let got = chromium_result(&chromium, &url);
    assert_eq!(
        got,
        "s1 open protocol=\"\"\n\
         s1 text:\"one\\n\"\n\
         s1 text:\"a b\\n\"\n\
         s1 text:\"xyz\\n\"\n\
         s1 close code=1000 clean=true"
    );
    eprintln!(
        "chromium_to_our_line_mode_server took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// nginx

/// Waits until `path`'s content satisfies `ok`, at most `limit`; returns the last content.
fn wait_for_file(path: &Path, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    poll(limit, || {
        text = std::fs::read_to_string(path).unwrap_or_default();
        ok(&text).then_some(())
    });
    text
}

/// The README's reverse-proxy setup in a temp dir: nginx on 127.0.0.1:`port` forwards
/// `location /ws` with the Upgrade headers to `websocat --unlink ws-l:unix-l:DIR/ws.sock mirror:`.
/// Dropping it kills nginx, then our server, then removes the dir.
struct NginxProxy {
    nginx: GroupGuard,
    _server: Proc,
    port: u16,
    dir: tempfile::TempDir,
}

impl NginxProxy {
    fn start(nginx: &Path) -> NginxProxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let sock = d.join("ws.sock");
        let sock_str = sock.to_str().expect("UTF-8 temp path");

        let server = Proc::spawn_limited(
            &[
                "--stdout-announce-listening-ports",
                "--unlink",
                &format!("ws-l:unix-l:{sock_str}"),
                "mirror:",
            ],
            BROWSER_LIMIT,
        );
        let line = server.first_line();
        assert!(line.starts_with("LISTEN proto=unix"), "{line:?}");

        // A free port: bound by us, then released for nginx.
        let port = refused_port();
        // Workers run as "nobody" when the master is root, and could not open the socket in
        // our 0700 temp dir.
        // SAFETY: geteuid(2) has no preconditions.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root;\n"
        } else {
            ""
        };
        let p = d.display();
        let conf = format!(
            "{user}worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {p}/access.log;
    client_body_temp_path {p}/client_body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /ws {{
            proxy_pass http://unix:{sock_str};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection \"upgrade\";
        }}
    }}
}}
"
        );
        let conf_path = d.join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let mut nginx = GroupGuard::spawn(
            Command::new(nginx)
                .arg("-p")
                .arg(d)
                .arg("-e")
                .arg(d.join("error.log"))
                .arg("-c")
                .arg(&conf_path)
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit()),
            "nginx",
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = nginx.child().try_wait().expect("wait for nginx");
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "nginx did not start listening on {port} ({exited:?}):\n{}",
                    std::fs::read_to_string(d.join("error.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        NginxProxy {
            nginx,
            _server: server,
            port,
            dir,
        }
    }

    /// Waits (at most 3 s) until nginx logged `n` WebSocket upgrades of `/ws`, which it does
    /// when each proxied connection ends, and asserts that count.
    fn assert_upgrades_logged(&self, n: usize) {
        let upgraded = "\"GET /ws HTTP/1.1\" 101 ";
        let log = wait_for_file(
            &self.dir.path().join("access.log"),
            Duration::from_secs(3),
            |t| t.matches(upgraded).count() >= n,
        );
        assert_eq!(log.matches(upgraded).count(), n, "access.log:\n{log}");
        assert!(
            self.nginx.group_alive(),
            "nginx exited:\n{}",
            std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
        );
    }
}

/// The README's reverse-proxy setup ([`NginxProxy`]): our client gets its lines, and in `-b`
/// mode its bytes, back exactly, and nginx logged both upgrades (101).
#[test]
fn our_client_through_nginx_to_our_unix_server() {
    let Some(nginx) = find_program("nginx") else {
        return;
    };
    let started = Instant::now();
    let proxy = NginxProxy::start(&nginx);
    let url = format!("ws://127.0.0.1:{}/ws", proxy.port);

    let o = exchange(&[url.as_str()], b"hello\nworld\n", 12);
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert_eq!(o.stdout, b"hello\nworld\n", "{}", o.stderr);

    let o = exchange(&["-b", url.as_str()], b"\x00\x01\xfe\xff", 4);
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert_eq!(o.stdout, b"\x00\x01\xfe\xff", "{}", o.stderr);

    proxy.assert_upgrades_logged(2);
    eprintln!(
        "our_client_through_nginx_to_our_unix_server took {:?}",
        started.elapsed()
    );
}

/// Browser, proxy and server together: headless Chromium's WebSocket goes through nginx to
/// our unix-socket mirror, with the same results as talking to it directly.
#[test]
fn chromium_through_nginx_to_our_unix_server() {
    let (Some(chromium), Some(nginx)) = (find_program("chromium"), find_program("nginx")) else {
        return;
    };
    let started = Instant::now();
    let proxy = NginxProxy::start(&nginx);
    let page = PageServer::start();
    let url = format!(
        "http://127.0.0.1:{}/page.html?ws=ws://127.0.0.1:{}/ws&mode=mirror",
        page.port, proxy.port
    );
    assert_eq!(chromium_result(&chromium, &url), MIRROR_RESULT);
    proxy.assert_upgrades_logged(2);
    eprintln!(
        "chromium_through_nginx_to_our_unix_server took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Chromium's DevTools WebSocket server

/// Starts headless Chromium with `--remote-debugging-port=0` and returns it with the browser
/// target's WebSocket URL from its `DevTools listening on ws://…` line.
fn start_devtools(chromium: &Path, profile: &Path) -> (GroupGuard, String) {
    let mut guard = GroupGuard::spawn(
        Command::new(chromium)
            .args(HEADLESS)
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        "chromium",
    );
    let stderr = guard.child().stderr.take().expect("chromium stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    // Keeps draining stderr so that Chromium never blocks on it; ends when the group dies.
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                let _ = tx.send(Ok(url.trim().to_owned()));
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        let _ = tx.send(Err(seen));
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(url)) => (guard, url),
        Ok(Err(stderr)) => panic!("chromium exited without a DevTools URL:\n{stderr}"),
        Err(e) => panic!("no DevTools URL from chromium within 10 s: {e}"),
    }
}

/// Our client against a third-party WebSocket server: Chromium's DevTools endpoint answers
/// two CDP requests sent as lines (text messages) on one connection, each reply arriving as
/// one line; and with `--origin` set to a foreign origin Chromium refuses the handshake with
/// 403, which our client reports.
#[test]
fn our_client_to_chromium_devtools() {
    let Some(chromium) = find_program("chromium") else {
        return;
    };
    let started = Instant::now();
    let profile = tempfile::tempdir().expect("profile dir");
    let (_chromium, url) = start_devtools(&chromium, profile.path());
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");

    let o = exchange_until(
        &[url.as_str()],
        b"{\"id\":1,\"method\":\"Browser.getVersion\"}\n{\"id\":2,\"method\":\"Target.getTargets\"}\n",
        |got| got.iter().filter(|&&b| b == b'\n').count() >= 2,
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let text = String::from_utf8(o.stdout).expect("UTF-8 replies");
    let replies: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert_eq!(replies.len(), 2, "{text}");
    assert_eq!(replies[0]["id"], 1, "{text}");
    assert_eq!(replies[0]["result"]["protocolVersion"], "1.3", "{text}");
    let product = replies[0]["result"]["product"].as_str().unwrap_or_default();
    assert!(product.contains("Chrome/"), "{text}");
    assert_eq!(replies[1]["id"], 2, "{text}");
    let targets = replies[1]["result"]["targetInfos"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        targets
            .iter()
            .any(|t| t["type"] == "page" && t["url"] == "about:blank"),
        "{text}"
    );

    let o = exchange_until(
        &["--origin", "http://evil.example", url.as_str()],
        b"",
        // Keeps stdin open until our client exits on its own (stdout closes).
        |_| false,
    );
    let (code, out, err) = (o.code(), o.stdout, o.stderr);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out:?}");
    assert!(err.contains("403 Forbidden"), "{err}");
    eprintln!(
        "our_client_to_chromium_devtools took {:?}",
        started.elapsed()
    );
}
