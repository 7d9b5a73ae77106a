//! Command-line arguments (clap derive). No logic here: [`crate::plan_options`] turns them into plan
//! options. A node flag is its clap field plus the `ParamDef::flag` of the kind parameters it
//! fills, joined by the long name; copy and accept loop options have their entry in
//! [`crate::plan::ir::SESSION_OPTIONS`]; the rest are listed in [`crate::CLI_OPTIONS`].

use clap::{ArgAction, Parser};

/// What `--help` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HelpLevel {
    /// The common options.
    Short,
    /// Every option and the list of kinds.
    Long,
    /// Every kind with its description, parameters and examples.
    Doc,
}

/// Output format of `--dump-spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DumpFormat {
    /// A command line plus one comment line per automatic change.
    Text,
    /// JSON for tools.
    Json,
}

/// websocat: connect any two endpoints; one or both may speak WebSocket.
#[derive(Debug, Parser)]
#[command(
    name = "websocat",
    disable_help_flag = true,
    disable_version_flag = true,
    override_usage = "websocat [OPTIONS] URL\n       websocat [OPTIONS] LEFT RIGHT\n       websocat -s [OPTIONS] PORT",
    after_help = "Examples:\n  websocat ws://127.0.0.1:8080/             talk to a WebSocket server from the terminal\n  websocat -s 8080                          simple server: print what clients send\n  websocat ws-l:127.0.0.1:8080 tcp:127.0.0.1:22   WebSocket server in front of SSH\n  websocat -b tcp-l:127.0.0.1:4554 ws://host/     forward a TCP port over WebSocket\n\nExit codes: 0 success, 1 a connection or session failed, 2 bad command line or specifier.\nSee `websocat --help=long` for every option and `--help=doc` for every specifier kind."
)]
pub struct Cli {
    /// The node flags given on the command line, keyed by `ParamDef::flag` (filled by
    /// [`crate::parse_args`] from clap's matches; not an option itself).
    #[arg(skip)]
    pub node_flags: std::collections::BTreeMap<&'static str, Vec<String>>,

    /// Specifiers: `LEFT RIGHT`, or one URL/address (the other side is stdio).
    #[arg(value_name = "SPEC", num_args = 0..=2, allow_hyphen_values = false)]
    pub specs: Vec<String>,

    /// Show help: `--help` (short), `--help=long`, `--help=doc`.
    #[arg(short = 'h', long = "help", value_enum, num_args = 0..=1, default_missing_value = "short", require_equals = true)]
    pub help: Option<HelpLevel>,
    /// Same as `--help=doc`.
    #[arg(long = "long-help", hide_short_help = true)]
    pub long_help: bool,
    /// Print the version.
    #[arg(short = 'V', long = "version")]
    pub version: bool,

    /// Text mode (default): lines become text messages.
    #[arg(short = 't', long = "text")]
    pub text: bool,
    /// Binary mode: each read becomes a binary message.
    #[arg(short = 'b', long = "binary", conflicts_with = "text")]
    pub binary: bool,
    /// Don't split lines into messages in text mode; send each read as a message.
    #[arg(long = "no-line")]
    pub no_line: bool,
    /// Use NUL instead of newline as the line separator.
    #[arg(short = '0', long = "null-terminated")]
    pub null_terminated: bool,
    /// Drop the trailing newline (and \r) from lines turned into messages.
    #[arg(long = "linemode-strip-newlines")]
    pub strip_newlines: bool,
    /// Accepted for compatibility; lines are always delimited strictly.
    #[arg(long = "strict", hide_short_help = true)]
    pub strict: bool,
    /// Buffer size for byte copies and largest binary-mode message [default: 65536].
    #[arg(short = 'B', long = "buffer-size", value_name = "BYTES")]
    pub buffer_size: Option<usize>,

    /// Copy only from the left to the right side.
    #[arg(short = 'u', long = "unidirectional")]
    pub unidirectional: bool,
    /// Copy only from the right to the left side.
    #[arg(short = 'U', long = "unidirectional-reverse")]
    pub unidirectional_reverse: bool,
    /// End the session when either direction reaches EOF.
    #[arg(short = 'E', long = "exit-on-eof")]
    pub exit_on_eof: bool,
    /// Don't send a WebSocket Close (or half-close) when input ends.
    #[arg(short = 'n', long = "no-close")]
    pub no_close: bool,
    /// Send and/or receive only one message (`--max-messages=1 --max-messages-rev=1`).
    #[arg(short = '1', long = "one-message")]
    pub one_message: bool,
    /// Serve only one connection, then exit.
    #[arg(long = "oneshot")]
    pub oneshot: bool,
    /// Stop copying left to right after this many messages.
    #[arg(long = "max-messages", value_name = "N")]
    pub max_messages: Option<u64>,
    /// Stop copying right to left after this many messages.
    #[arg(long = "max-messages-rev", value_name = "N")]
    pub max_messages_rev: Option<u64>,
    /// Simple server mode: the argument is a port or address; clients are connected to stdio.
    #[arg(short = 's', long = "server-mode")]
    pub server_mode: bool,
    /// Serve at most this many connections at once; more wait to be accepted.
    #[arg(long = "conncap", value_name = "N")]
    pub conncap: Option<usize>,
    /// Print `LISTEN proto=tcp,ip=…,port=…` on stdout once each listener is bound.
    #[arg(long = "stdout-announce-listening-ports")]
    pub announce: bool,

    /// Request URI for `ws-c:` [default: ws://0.0.0.0/].
    #[arg(long = "ws-c-uri", value_name = "URI")]
    pub ws_c_uri: Option<String>,
    /// Sec-WebSocket-Protocol to request (client).
    #[arg(long = "protocol", value_name = "PROTO")]
    pub protocol: Option<String>,
    /// Extra request header `Name: value` (client; repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER", action = ArgAction::Append)]
    pub header: Vec<String>,
    /// Origin header (client).
    #[arg(long = "origin", value_name = "URL")]
    pub origin: Option<String>,
    /// User-Agent header (client).
    #[arg(long = "ua", alias = "user-agent", value_name = "UA")]
    pub ua: Option<String>,
    /// HTTP basic authentication `user:password` (client).
    #[arg(long = "basic-auth", value_name = "USER:PASS")]
    pub basic_auth: Option<String>,
    /// Sec-WebSocket-Protocol to answer with (server).
    #[arg(long = "server-protocol", value_name = "PROTO")]
    pub server_protocol: Option<String>,
    /// Extra response header `Name: value` (server; repeatable).
    #[arg(long = "server-header", value_name = "HEADER", action = ArgAction::Append)]
    pub server_header: Vec<String>,
    /// Answer 400 to requests for any other path and query (server).
    #[arg(long = "restrict-uri", value_name = "PATH")]
    pub restrict_uri: Option<String>,
    /// Seconds a client may take to send its WebSocket request head (server) [default: 15;
    /// 0: no limit].
    #[arg(long = "handshake-timeout", value_name = "SECONDS")]
    pub handshake_timeout: Option<u64>,
    /// Seconds connecting and the WebSocket handshake may take (client) [default: 30; 0: no
    /// limit].
    #[arg(long = "connect-timeout", value_name = "SECONDS")]
    pub connect_timeout: Option<u64>,
    /// WebSocket server: answer a plain HTTP GET with a small web page that connects back and
    /// lets you send and see messages from a browser.
    #[arg(long = "browser-console")]
    pub browser_console: bool,
    /// Serve Prometheus metrics of a server (connections, handshake failures, messages and
    /// bytes each way, Close codes) over HTTP on this address, e.g. 127.0.0.1:9100.
    #[arg(long = "metrics", value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Send a WebSocket ping every N seconds.
    #[arg(long = "ping-interval", value_name = "SECONDS")]
    pub ping_interval: Option<u64>,
    /// Fail when no pong arrives within N seconds of a ping.
    #[arg(long = "ping-timeout", value_name = "SECONDS")]
    pub ping_timeout: Option<u64>,
    /// Status code of the Close sent when input ends [default: none, an empty Close].
    #[arg(long = "close-status-code", value_name = "CODE")]
    pub close_status_code: Option<u16>,
    /// Reason text of the Close sent when input ends.
    #[arg(long = "close-reason", value_name = "TEXT")]
    pub close_reason: Option<String>,
    /// Largest incoming WebSocket frame of a message that is held whole, in bytes (messages
    /// streamed through to a byte stream or an uncompressed WebSocket are not limited)
    /// [default: 16777216].
    #[arg(long = "max-ws-frame-length", value_name = "BYTES")]
    pub max_ws_frame_length: Option<u64>,
    /// Largest incoming WebSocket message that is held whole (reassembled), in bytes; with it,
    /// memory per connection stays under about three times this plus 1 MiB. Messages streamed
    /// through to a byte stream or an uncompressed WebSocket are not limited
    /// [default: 16777216].
    #[arg(long = "max-ws-message-length", value_name = "BYTES")]
    pub max_ws_message_length: Option<u64>,
    /// Compress WebSocket messages with permessage-deflate (RFC 7692): a client offers it, a
    /// server accepts it.
    #[arg(long = "permessage-deflate")]
    pub permessage_deflate: bool,
    /// permessage-deflate compression level, 0-9 [default: 6]; implies --permessage-deflate.
    #[arg(
        long = "permessage-deflate-level",
        value_name = "LEVEL",
        hide_short_help = true
    )]
    pub permessage_deflate_level: Option<u64>,
    /// Largest permessage-deflate window in both directions, 8-15 (2^N bytes) [default: 15];
    /// implies --permessage-deflate.
    #[arg(
        long = "permessage-deflate-window-bits",
        value_name = "BITS",
        hide_short_help = true
    )]
    pub permessage_deflate_window_bits: Option<u64>,
    /// Compress each message on its own in both directions (less memory per connection, less
    /// compression); implies --permessage-deflate.
    #[arg(
        long = "permessage-deflate-no-context-takeover",
        hide_short_help = true
    )]
    pub permessage_deflate_no_context_takeover: bool,
    /// Messages buffered per client by `broadcast:`, and from clients to the shared
    /// connection of `broadcast:`/`reuse-raw:` [default: 64].
    #[arg(long = "queue-len", value_name = "N")]
    pub queue_len: Option<u64>,
    /// Bytes buffered per client by `broadcast:`, and from clients to the shared connection of
    /// `broadcast:`/`reuse-raw:` [default: 1048576].
    #[arg(long = "client-buffer-bytes", value_name = "BYTES")]
    pub client_buffer_bytes: Option<u64>,
    /// `broadcast:` with a client whose queue is full: block, drop or disconnect [default: block].
    #[arg(long = "slow-client-policy", value_name = "POLICY")]
    pub slow_client_policy: Option<String>,
    /// `broadcast:` disconnects a client whose queue stays full this long (ms) [default: 10000].
    #[arg(long = "slow-client-timeout-ms", value_name = "MS")]
    pub slow_client_timeout_ms: Option<u64>,
    /// `reuse-raw:` sends an empty message to the shared connection when a client leaves.
    #[arg(long = "reuser-send-zero-msg-on-disconnect", hide_short_help = true)]
    pub reuser_send_zero_msg_on_disconnect: bool,
    /// First delay of `autoreconnect:` before reconnecting, in ms; doubles on failures [default: 20].
    #[arg(long = "autoreconnect-delay-millis", value_name = "MS")]
    pub autoreconnect_delay_millis: Option<u64>,
    /// Connect to `ws://`/`wss://` URLs through this SOCKS5 proxy (`host:port`).
    #[arg(long = "socks5", value_name = "HOST:PORT")]
    pub socks5: Option<String>,
    /// Destination `host:port` for `socks5-connect:`.
    #[arg(
        long = "socks5-destination",
        value_name = "HOST:PORT",
        hide_short_help = true
    )]
    pub socks5_destination: Option<String>,
    /// Program run as `PROGRAM PORT` once `socks5-bind:` learns the port the proxy listens on.
    #[arg(
        long = "socks5-bind-script",
        value_name = "PROGRAM",
        hide_short_help = true
    )]
    pub socks5_bind_script: Option<String>,
    /// `user:password` for the SOCKS5 proxy.
    #[arg(long = "socks5-user-pass", value_name = "USER:PASS")]
    pub socks5_user_pass: Option<String>,
    /// Connect to `ws://`/`wss://` URLs through this proxy: `http://[user:pass@]host:port` or
    /// `socks5://host:port` [default: HTTP_PROXY / HTTPS_PROXY unless NO_PROXY matches].
    #[arg(long = "proxy", value_name = "URL")]
    pub proxy: Option<String>,
    /// Request target for `http-request:` [default: /].
    #[arg(long = "request-uri", value_name = "URI", hide_short_help = true)]
    pub request_uri: Option<String>,
    /// Request method for `http:` / `http-request:` [default: GET].
    #[arg(
        short = 'X',
        long = "request-method",
        value_name = "METHOD",
        hide_short_help = true
    )]
    pub request_method: Option<String>,
    /// Request header `Name: value` for `http:` / `http-request:` (repeatable).
    #[arg(long = "request-header", value_name = "HEADER", action = ArgAction::Append, hide_short_help = true)]
    pub request_header: Vec<String>,
    /// `foreachmsg:` reads each answer to its end before the next message.
    #[arg(long = "foreachmsg-wait-read", hide_short_help = true)]
    pub foreachmsg_wait_read: bool,
    /// Turn `method params` lines from stdio into JSON-RPC requests (`jsonrpc:`).
    #[arg(long = "jsonrpc")]
    pub jsonrpc: bool,
    /// Leave `"jsonrpc":"2.0",` out of `--jsonrpc` requests.
    #[arg(long = "jsonrpc-omit-jsonrpc", hide_short_help = true)]
    pub jsonrpc_omit_jsonrpc: bool,
    /// Prefix for incoming text messages; outgoing data starting with it is sent as text.
    #[arg(long = "text-prefix", value_name = "PREFIX", hide_short_help = true)]
    pub text_prefix: Option<String>,
    /// Prefix for incoming binary messages; outgoing data starting with it is sent as binary.
    #[arg(long = "binary-prefix", value_name = "PREFIX", hide_short_help = true)]
    pub binary_prefix: Option<String>,
    /// Incoming binary messages become base64 lines; outgoing binary data is base64-decoded.
    #[arg(long = "base64")]
    pub base64: bool,
    /// The same as --base64 for text messages.
    #[arg(long = "base64-text", hide_short_help = true)]
    pub base64_text: bool,
    /// Header size of `lengthprefixed:` in bytes, 1 to 8 [default: 4].
    #[arg(
        long = "lengthprefixed-nbytes",
        value_name = "N",
        hide_short_help = true
    )]
    pub lengthprefixed_nbytes: Option<u64>,
    /// Little-endian header for `lengthprefixed:`.
    #[arg(long = "lengthprefixed-little-endian", hide_short_help = true)]
    pub lengthprefixed_little_endian: bool,
    /// Byte value that ends input for `exit_on_specific_byte:` [default: 28].
    #[arg(long = "byte-to-exit-on", value_name = "BYTE", hide_short_help = true)]
    pub byte_to_exit_on: Option<u8>,
    /// `timestamp:` counts seconds from the start of the connection.
    #[arg(long = "timestamp-monotonic", hide_short_help = true)]
    pub timestamp_monotonic: bool,
    /// Text sent first on every new right-side connection (repeatable; one message each).
    #[arg(short = 'p', long = "preamble", value_name = "TEXT", action = ArgAction::Append)]
    pub preamble: Vec<String>,
    /// Text sent first on every new left-side connection (repeatable; one message each).
    #[arg(short = 'P', long = "preamble-reverse", value_name = "TEXT", action = ArgAction::Append)]
    pub preamble_reverse: Vec<String>,

    /// TLS client: server name for SNI and certificate verification (`tls-c:`).
    #[arg(
        long = "tls-domain",
        alias = "ssl-domain",
        value_name = "NAME",
        help_heading = "TLS"
    )]
    pub tls_domain: Option<String>,
    /// TLS client: accept any server certificate (expired, self-signed, other name).
    #[arg(short = 'k', long = "insecure", help_heading = "TLS")]
    pub insecure: bool,
    /// TLS client: trust only the CA certificates in this PEM file instead of the system roots.
    #[arg(long = "cacert", value_name = "FILE", help_heading = "TLS")]
    pub cacert: Option<String>,
    /// TLS client: present this client certificate and key (PKCS#12 file).
    #[arg(long = "client-pkcs12-der", value_name = "FILE", help_heading = "TLS")]
    pub client_pkcs12_der: Option<String>,
    /// TLS client: password of the --client-pkcs12-der file.
    #[arg(
        long = "client-pkcs12-passwd",
        value_name = "PASS",
        help_heading = "TLS"
    )]
    pub client_pkcs12_passwd: Option<String>,
    /// TLS client: present this client certificate chain (PEM; with --client-key).
    #[arg(long = "client-cert", value_name = "FILE", help_heading = "TLS")]
    pub client_cert: Option<String>,
    /// TLS client: private key for --client-cert (PKCS#8 PEM).
    #[arg(long = "client-key", value_name = "FILE", help_heading = "TLS")]
    pub client_key: Option<String>,
    /// TLS server: certificate and key as a PKCS#12 file (`tls-l:`, `wss-l:`).
    #[arg(long = "pkcs12-der", value_name = "FILE", help_heading = "TLS")]
    pub pkcs12_der: Option<String>,
    /// TLS server: password of the --pkcs12-der file.
    #[arg(long = "pkcs12-passwd", value_name = "PASS", help_heading = "TLS")]
    pub pkcs12_passwd: Option<String>,
    /// TLS server: certificate chain as a PEM file (with --tls-key).
    #[arg(long = "tls-cert", value_name = "FILE", help_heading = "TLS")]
    pub tls_cert: Option<String>,
    /// TLS server: private key for --tls-cert (PKCS#8 PEM, `BEGIN PRIVATE KEY`).
    #[arg(long = "tls-key", value_name = "FILE", help_heading = "TLS")]
    pub tls_key: Option<String>,
    /// TLS server: require client certificates signed by a CA in this PEM file.
    #[arg(long = "tls-client-ca", value_name = "FILE", help_heading = "TLS")]
    pub tls_client_ca: Option<String>,
    /// TLS server: with --tls-client-ca, let clients without a certificate in too.
    #[arg(long = "tls-client-cert-optional", help_heading = "TLS")]
    pub tls_client_cert_optional: bool,
    /// Remove an existing file at a `unix-l:` / `unix-dgram:` path before binding.
    #[arg(long = "unlink")]
    pub unlink: bool,
    /// `unix-l:` takes the number of an inherited listening socket (socket activation).
    #[arg(long = "accept-from-fd")]
    pub accept_from_fd: bool,

    /// Give `exec:` / `sh-c:` children WEBSOCAT_URI, WEBSOCAT_CLIENT and H_* variables.
    #[arg(short = 'e', long = "set-environment")]
    pub set_environment: bool,
    /// With -e, pass this request header to `exec:` / `sh-c:` children as H_NAME (repeatable).
    #[arg(long = "header-to-env", value_name = "NAME", action = ArgAction::Append)]
    pub header_to_env: Vec<String>,
    /// Send SIGHUP to an `exec:` / `sh-c:` child when its stdin is closed.
    #[arg(long = "exec-sighup-on-stdin-close")]
    pub exec_sighup_on_stdin_close: bool,
    /// Send SIGHUP to an `exec:` / `sh-c:` child for each empty message sent to it (with -b).
    #[arg(long = "exec-sighup-on-zero-msg")]
    pub exec_sighup_on_zero_msg: bool,
    /// Kill an `exec:` / `sh-c:` child when its connection ends instead of letting it finish.
    #[arg(long = "exec-exit-on-disconnect")]
    pub exec_exit_on_disconnect: bool,
    /// Arguments for `exec:`, passed verbatim. Takes every argument after it: put it last.
    #[arg(long = "exec-args", value_name = "ARG", num_args = 1.., allow_hyphen_values = true)]
    pub exec_args: Vec<String>,

    /// `udp-l:` sends one reply per received datagram, then waits for the next sender.
    #[arg(long = "udp-oneshot")]
    pub udp_oneshot: bool,
    /// Allow UDP sockets to send to broadcast addresses (SO_BROADCAST).
    #[arg(long = "udp-broadcast")]
    pub udp_broadcast: bool,
    /// IP time-to-live of UDP datagrams (also the multicast TTL).
    #[arg(long = "udp-ttl", value_name = "TTL")]
    pub udp_ttl: Option<u32>,
    /// Set SO_REUSEADDR on UDP sockets before binding.
    #[arg(long = "udp-reuseaddr")]
    pub udp_reuseaddr: bool,
    /// Join this multicast group on UDP sockets (repeatable).
    #[arg(long = "udp-multicast", value_name = "ADDR", action = ArgAction::Append)]
    pub udp_multicast: Vec<String>,
    /// Receive our own multicast datagrams (needs --udp-multicast).
    #[arg(long = "udp-multicast-loop")]
    pub udp_multicast_loop: bool,
    /// Interface (IPv4 address) for each IPv4 `--udp-multicast` group, in order (repeatable).
    #[arg(long = "udp-multicast-iface-v4", value_name = "ADDR", action = ArgAction::Append)]
    pub udp_multicast_iface_v4: Vec<String>,
    /// Interface index for each IPv6 `--udp-multicast` group, in order (repeatable).
    #[arg(long = "udp-multicast-iface-v6", value_name = "INDEX", action = ArgAction::Append)]
    pub udp_multicast_iface_v6: Vec<String>,

    /// Print a random Sec-WebSocket-Key value and exit.
    #[arg(long = "just-generate-key", hide_short_help = true)]
    pub just_generate_key: bool,
    /// Print the Sec-WebSocket-Accept value that answers this Sec-WebSocket-Key and exit.
    #[arg(
        long = "just-generate-accept",
        value_name = "KEY",
        hide_short_help = true
    )]
    pub just_generate_accept: Option<String>,
    /// Make stdin and stdout non-blocking and drive them by the event loop even when they are
    /// terminals (by default only pipes and sockets are; others use threads).
    #[arg(long = "async-stdio", hide_short_help = true)]
    pub async_stdio: bool,
    /// Never make stdin and stdout non-blocking: read and write them on threads.
    #[arg(long = "no-async-stdio", hide_short_help = true)]
    pub no_async_stdio: bool,
    /// Accepted for compatibility: an empty message never ends a session here (websocat 1.x
    /// took one as end of input unless given this option).
    #[arg(long = "no-exit-on-zeromsg", hide_short_help = true)]
    pub no_exit_on_zeromsg: bool,
    /// Drop empty WebSocket messages that arrive instead of passing them on.
    #[arg(long = "websocket-ignore-zeromsg", hide_short_help = true)]
    pub websocket_ignore_zeromsg: bool,
    /// Sec-WebSocket-Version the client sends [default: 13].
    #[arg(
        long = "websocket-version",
        value_name = "VERSION",
        hide_short_help = true
    )]
    pub websocket_version: Option<String>,
    /// `lengthprefixed:` passes what it reads through as it comes, without headers.
    #[arg(long = "lengthprefixed-skip-read-direction", hide_short_help = true)]
    pub lengthprefixed_skip_read_direction: bool,
    /// `lengthprefixed:` writes messages as they are, without headers.
    #[arg(long = "lengthprefixed-skip-write-direction", hide_short_help = true)]
    pub lengthprefixed_skip_write_direction: bool,
    /// Compress each binary message sent to a WebSocket with raw deflate.
    #[arg(long = "compress-deflate", hide_short_help = true)]
    pub compress_deflate: bool,
    /// Compress each binary message sent to a WebSocket with zlib.
    #[arg(long = "compress-zlib", hide_short_help = true)]
    pub compress_zlib: bool,
    /// Compress each binary message sent to a WebSocket with gzip.
    #[arg(long = "compress-gzip", hide_short_help = true)]
    pub compress_gzip: bool,
    /// Decompress each binary message received from a WebSocket with raw deflate.
    #[arg(long = "uncompress-deflate", hide_short_help = true)]
    pub uncompress_deflate: bool,
    /// Decompress each binary message received from a WebSocket with zlib.
    #[arg(long = "uncompress-zlib", hide_short_help = true)]
    pub uncompress_zlib: bool,
    /// Decompress each binary message received from a WebSocket with gzip.
    #[arg(long = "uncompress-gzip", hide_short_help = true)]
    pub uncompress_gzip: bool,
    /// Print the round-trip time of each of our pings to stderr when its pong arrives.
    #[arg(long = "print-ping-rtts", hide_short_help = true)]
    pub print_ping_rtts: bool,
    /// Stop answering WebSocket pings after this many pongs.
    #[arg(long = "inhibit-pongs", value_name = "N", hide_short_help = true)]
    pub inhibit_pongs: Option<u64>,
    /// Stop sending WebSocket pings after this many.
    #[arg(long = "max-sent-pings", value_name = "N", hide_short_help = true)]
    pub max_sent_pings: Option<u64>,
    /// Read `user:password` for HTTP basic authentication (client) from this file.
    #[arg(long = "basic-auth-file", value_name = "FILE")]
    pub basic_auth_file: Option<String>,
    /// WebSocket server: answer plain HTTP GETs for URI with the file at PATH, as
    /// `URI:CONTENT-TYPE:PATH`, e.g. `/index.html:text/html:index.html` (repeatable).
    #[arg(short = 'F', long = "static-file", value_name = "URI:TYPE:PATH", action = ArgAction::Append)]
    pub static_file: Vec<String>,

    /// Print the resolved plan (`--dump-spec` or `--dump-spec=json`) and exit.
    #[arg(long = "dump-spec", value_enum, num_args = 0..=1, default_missing_value = "text", require_equals = true)]
    pub dump_spec: Option<DumpFormat>,
    /// With --dump-spec: print passwords and credentials as given instead of `***`, so the
    /// printed command line plans back into exactly the same plan.
    #[arg(long = "dump-spec-secrets", hide_short_help = true)]
    pub dump_spec_secrets: bool,
    /// Don't let the planner change the specifiers (no codecs, no broadcast, no cat mode).
    #[arg(long = "no-fixups")]
    pub no_fixups: bool,
    /// Threads that run connections (1: one event loop, as websocat 1.x; more spread busy
    /// connections over cores).
    #[arg(
        long = "threads",
        value_name = "N",
        default_value_t = 1,
        hide_short_help = true
    )]
    pub threads: usize,
    /// More logging on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// On a terminal, `websocat ws://…` opens an interactive console (line editing, history,
    /// slash commands); this keeps plain line-by-line stdio instead.
    #[arg(long = "no-interactive")]
    pub no_interactive: bool,
    /// When a single session ends, print one line on stderr: messages and bytes each way,
    /// duration, the Closes of each WebSocket side, ping round-trip times. `--summary=json`
    /// prints it as JSON.
    #[arg(
        long = "summary",
        value_name = "FORMAT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "text"
    )]
    pub summary: Option<crate::summary::SummaryFormat>,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long = "completions", value_name = "SHELL", hide_short_help = true)]
    pub completions: Option<clap_complete::Shell>,
    /// Print the man page (roff) and exit.
    #[arg(long = "man", hide_short_help = true)]
    pub man: bool,
}
