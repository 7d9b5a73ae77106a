//! Command-line arguments (clap derive). No logic here: [`crate::run`] turns them into plan
//! options.

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
    /// Largest incoming WebSocket frame in bytes [default: 104857600].
    #[arg(long = "max-ws-frame-length", value_name = "BYTES")]
    pub max_ws_frame_length: Option<u64>,
    /// Largest incoming WebSocket message in bytes [default: 209715200].
    #[arg(long = "max-ws-message-length", value_name = "BYTES")]
    pub max_ws_message_length: Option<u64>,
    /// Messages buffered per client by `broadcast:` [default: 64].
    #[arg(long = "queue-len", value_name = "N")]
    pub queue_len: Option<u64>,
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
    /// `user:password` for the SOCKS5 proxy.
    #[arg(long = "socks5-user-pass", value_name = "USER:PASS")]
    pub socks5_user_pass: Option<String>,
    /// Connect to `ws://`/`wss://` URLs through this proxy: `http://[user:pass@]host:port` or
    /// `socks5://host:port` [default: HTTP_PROXY / HTTPS_PROXY unless NO_PROXY matches].
    #[arg(long = "proxy", value_name = "URL")]
    pub proxy: Option<String>,
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

    /// Print the resolved plan (`--dump-spec` or `--dump-spec=json`) and exit.
    #[arg(long = "dump-spec", value_enum, num_args = 0..=1, default_missing_value = "text", require_equals = true)]
    pub dump_spec: Option<DumpFormat>,
    /// Don't let the planner change the specifiers (no codecs, no broadcast, no cat mode).
    #[arg(long = "no-fixups")]
    pub no_fixups: bool,
    /// More logging on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

impl Cli {
    /// CLI values that become node parameters, keyed by the flag name the registry uses.
    pub fn node_flags(&self) -> Vec<(&'static str, Vec<String>)> {
        let mut v: Vec<(&'static str, Vec<String>)> = Vec::new();
        let mut one = |name: &'static str, val: Option<String>| {
            if let Some(x) = val {
                v.push((name, vec![x]));
            }
        };
        one("--ws-c-uri", self.ws_c_uri.clone());
        one("--protocol", self.protocol.clone());
        one("--origin", self.origin.clone());
        one("--ua", self.ua.clone());
        one("--basic-auth", self.basic_auth.clone());
        one("--server-protocol", self.server_protocol.clone());
        one("--restrict-uri", self.restrict_uri.clone());
        one("--ping-interval", self.ping_interval.map(|x| x.to_string()));
        one("--ping-timeout", self.ping_timeout.map(|x| x.to_string()));
        one(
            "--close-status-code",
            self.close_status_code.map(|x| x.to_string()),
        );
        one("--close-reason", self.close_reason.clone());
        one(
            "--max-ws-frame-length",
            self.max_ws_frame_length.map(|x| x.to_string()),
        );
        one(
            "--max-ws-message-length",
            self.max_ws_message_length.map(|x| x.to_string()),
        );
        one("--queue-len", self.queue_len.map(|x| x.to_string()));
        one(
            "--reuser-send-zero-msg-on-disconnect",
            self.reuser_send_zero_msg_on_disconnect
                .then(|| "true".to_string()),
        );
        let flag = |b: bool| b.then(|| "true".to_string());
        one("--foreachmsg-wait-read", flag(self.foreachmsg_wait_read));
        one("--jsonrpc-omit-jsonrpc", flag(self.jsonrpc_omit_jsonrpc));
        one("--text-prefix", self.text_prefix.clone());
        one("--binary-prefix", self.binary_prefix.clone());
        one("--base64", flag(self.base64));
        one("--base64-text", flag(self.base64_text));
        one("--socks5-destination", self.socks5_destination.clone());
        one("--socks5-user-pass", self.socks5_user_pass.clone());
        one(
            "--lengthprefixed-nbytes",
            self.lengthprefixed_nbytes.map(|x| x.to_string()),
        );
        one(
            "--lengthprefixed-little-endian",
            self.lengthprefixed_little_endian
                .then(|| "true".to_string()),
        );
        one(
            "--byte-to-exit-on",
            self.byte_to_exit_on.map(|x| x.to_string()),
        );
        one(
            "--timestamp-monotonic",
            self.timestamp_monotonic.then(|| "true".to_string()),
        );
        one(
            "--autoreconnect-delay-millis",
            self.autoreconnect_delay_millis.map(|x| x.to_string()),
        );
        if !self.header.is_empty() {
            v.push(("--header", self.header.clone()));
        }
        if !self.server_header.is_empty() {
            v.push(("--server-header", self.server_header.clone()));
        }
        v
    }
}
