//! websocat: connect any two endpoints, one or both of which may speak WebSocket.
//!
//! # Architecture
//!
//! ```text
//! argv ──clap (cli)──► Cli ──► two specifier strings + PlanOptions
//!   spec::parse   (nom, spans)  ──► Spec    overlays outermost-first, one leaf
//!   plan::plan    (passes)      ──► Plan    kinds resolved, sugar lowered, fixups, checks
//!        └── --dump-spec prints the Plan here and exits
//!   exec::serve   (executor)    ──► per connection: Conn ⇄ Conn, bidirectional copy
//! ```
//!
//! Code map:
//! - [`cli`]: clap derive, no logic; [`plan_options`] turns it into typed [`PlanOptions`] in
//!   one place (node flags by the registry's `ParamDef::flag`, copy/serve options by
//!   [`plan::ir::SESSION_OPTIONS`]).
//! - [`error`]: `SpecError` / `PlanError` / `RunError`, miette diagnostics.
//! - [`spec`]: AST, the nom grammar (`grammar/specifier.ebnf`), typed leaf arguments.
//! - [`registry`]: the types describing a kind (`KindDef`): names, synonyms, role, shape,
//!   traits the planner asks about, argument, parameters, help, build function.
//! - [`plan`]: IR, ordered passes, checks, `--dump-spec`.
//! - [`exec`]: `Conn` and the traits kinds implement, codecs, shape conversions
//!   ([`exec::share`]), the copy engine, the accept loop.
//! - [`kinds`]: one module per kind or family, and the `KINDS` table of them all (which
//!   `--help=doc`, did-you-mean and the planner's look-ups read); helpers several kinds share
//!   in [`kinds::support`].
//! - [`help`]: help texts generated from clap and the registry.
//! - [`ws`]: the whole WebSocket protocol: handshakes, the frame codec and the connection state
//!   machine (ping/pong, keep-alive, Close), permessage-deflate, with the parameters shared by
//!   the WebSocket kinds.
//!   Nothing outside it parses or builds frames; `kinds/ws_*.rs` are thin registry entries.
//! - [`interactive`]: the terminal console of `websocat ws://…` (line editing, slash
//!   commands), which stands in for stdio when both ends are terminals.
//! - [`browser_console`]: the web page `--browser-console` serves to plain HTTP GETs.
//! - [`metrics`]: `--metrics`, a server's counters in the Prometheus text format.
//! - [`summary`]: the `--summary` line printed when a single session ends.
//! - [`net`]: TCP plumbing more than one kind uses (happy-eyeballs connect, sending the last
//!   bytes with the FIN), so that no kind imports another kind's transport.
//!
//! Running and stopping ([`exec::serve`]): a connecting left side runs one session; a
//! listening one is bound, then handed to a `Listener` (after mini-redis's accept loop) that
//! takes a `--conncap` permit before each accept and runs every connection in a `Handler` task
//! (handshakes, connecting the right side, the copy), kept in a `JoinSet`. The first Ctrl-C or
//! SIGTERM cancels one shutdown token: the listener stops accepting and closes its socket,
//! connections still in their handshake are dropped, and each session finishes: a direction
//! ends once its source has been silent for [`exec::copy::SHUTDOWN_IDLE`] and closes its
//! writer, a WebSocket with 1001 "going away". What is still open after
//! [`exec::serve::SHUTDOWN_DEADLINE`], or at a second signal, is cut with a warning.
//!
//! Exit codes by stage: [`EXIT_USAGE`] for the command line, the specifiers and the plan
//! (`Error::Spec`, `Error::Plan`, `Error::Usage`), [`EXIT_RUN_FAILED`] for anything that failed
//! while running (`Error::Run`, including our own internal failures), [`EXIT_OK`] otherwise,
//! also after a shutdown by signal.
//!
//! Architecture invariants:
//! - The grammar does no I/O and never resolves names; neither does the planner.
//! - The executor never reads CLI arguments and never matches kind names: each kind is built
//!   only from its own plan node's parameters.
//! - Every automatic change the planner makes is recorded and shown by `--dump-spec`.
//! - `--dump-spec` prints a command line that plans back into the same plan. Passwords in it
//!   are shown as `***` (with a note saying so) unless `--dump-spec-secrets` is given
//!   ([`plan::dump::redact`]); [`plan::dump::dump_text`] itself always prints them.
//! - Memory per connection is bounded in bytes: every queue counts bytes and pushes back on
//!   its sender ([`exec::queue`], `mirror:`), always letting one message through; the copy
//!   engine takes a message only once the other side has room of its own
//!   ([`exec::MessageStream::room_is_private`]); a WebSocket message that only passes through
//!   (to a byte stream or an uncompressed WebSocket) is streamed in pieces
//!   ([`exec::MessageStream::deliver_parts`]), one that is held whole is limited by
//!   `--max-ws-message-length` (README, "Limits").
//!
//! Decisions that differ from the first design notes (`shared/DESIGN.md`):
//! - WebSocket framing and handshakes are ours ([`ws`]), not tokio-tungstenite's stream:
//!   tungstenite answers a peer's Close at once and then refuses to send, which loses replies
//!   still in flight (`echo hi | websocat ws://echo-server` would print nothing). Ours treats
//!   Close as a half-close; the copy engine answers it once the other direction has sent what
//!   it has ready, and, where that direction's source may still answer our half-close (a
//!   backend, a process; not stdio), once that source ends or has been silent for
//!   [`exec::copy::CLOSE_LINGER`] (giving up on a direction stuck that long). A
//!   protocol violation ends the reading side like a Close would, so accepted messages still
//!   go out before our failing Close (1002/1007/1009). tungstenite is kept for its key
//!   derivation.
//! - Connections run on one event loop by default (`--threads N` for more): on small machines
//!   it used about 40% less CPU per connection than a two-worker pool (`bench/README.md`).
//!   Blocking work (stdio, files) runs on blocking threads either way; chains (which may read
//!   certificate files) are built before the event loop starts.
//! - Two narrow channels between layers and transports, for per-connection cost
//!   (`bench/README.md`, connection rate): a listener is bound with [`exec::conn::BindHints`]
//!   from the layers above it (a WebSocket or TLS server lets TCP defer the accept until the
//!   request arrives), and a layer may find the concrete stream under it
//!   ([`exec::ByteStream::as_any_mut`]; the WebSocket layer sends its last Close with the FIN
//!   on TCP, [`net::poll_write_before_fin`]). Both are optional fast paths: other transports
//!   behave as before.
//! - A message stream may end its session with a WebSocket Close status for the other side
//!   ([`exec::conn::CloseRequest`], sent through [`exec::conn::MessageStream::set_close_status`]),
//!   also while the copy engine waits for that side to take a message
//!   ([`exec::conn::MessageStream::poll_abort`]): `broadcast:` disconnects a client that does not
//!   read with Close 1008 without waiting for its socket to drain. A byte-stream client does
//!   the same through [`exec::share::AbortableBytes`] (found with `as_any_mut`): the copy
//!   engine drops the session, closing the socket, when its signal fires.
//! - Ping, pong and Close stay inside the WebSocket connection, with one narrow side door:
//!   [`ws::control::WsControl`] (found through [`exec::MessageStream::ws_control`]) lets the
//!   interactive console send a ping on demand and choose the status of the Close we send,
//!   and lets `--summary` read the Closes and ping round-trip times. The console itself is a
//!   message connection that stands in for stdio ([`interactive`]); the copy engine does not
//!   know it is there.

pub mod browser_console;
pub mod cli;
pub mod error;
pub mod exec;
pub mod help;
pub mod interactive;
pub mod kinds;
pub mod metrics;
pub mod net;
pub mod plan;
pub mod registry;
pub mod spec;
pub mod summary;
pub mod ws;

use cli::{Cli, DumpFormat};
use error::Error;
use plan::{CopyOptions, DataMode, PlanOptions, ServeOptions};
use std::collections::BTreeMap;

/// Exit code for success.
pub const EXIT_OK: i32 = 0;
/// Exit code when a connection or session failed.
pub const EXIT_RUN_FAILED: i32 = 1;
/// Exit code for a bad command line or specifier.
pub const EXIT_USAGE: i32 = 2;

/// Options that [`plan_options`] and [`main_with_args`] read from [`Cli`] themselves (not
/// through [`plan::ir::SESSION_OPTIONS`]). Together with the registry's `ParamDef::flag`s and
/// the session options, this list accounts for every clap option (a test checks it). A node
/// flag listed here has a meaning of its own, so it is never reported as having no effect.
pub const CLI_OPTIONS: &[&str] = &[
    "help",
    "long-help",
    "version",
    "text",
    // Also a node flag: `-b` fills `type=binary` of datagram kinds.
    "binary",
    "no-line",
    "null-terminated",
    "linemode-strip-newlines",
    // Accepted for compatibility and ignored.
    "strict",
    "jsonrpc",
    "socks5",
    "proxy",
    "preamble",
    "preamble-reverse",
    "dump-spec",
    "dump-spec-secrets",
    "no-fixups",
    "threads",
    "verbose",
    "quiet",
    "no-interactive",
    "completions",
    "man",
    "just-generate-key",
    "just-generate-accept",
    // Accepted for compatibility: an empty message never ends a session here.
    "no-exit-on-zeromsg",
];

/// Parses arguments (with the program name) into the typed [`Cli`] and clap's matches, which
/// [`plan_options`] reads node flags from by name.
pub fn parse_args<I, S>(argv: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches};
    // One command for parsing and for reading the node flags: building it is most of the
    // start-up time.
    let mut command = Cli::command();
    let matches = command.try_get_matches_from_mut(argv)?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
    cli.node_flags = node_flag_values(&command, &matches);
    Ok(cli)
}

/// The value a switch gives the node parameters it fills: `true`, except `-b`, which fills
/// the `type` of datagram kinds with `binary`.
fn switch_value(flag: &str) -> &'static str {
    if flag == "--binary" {
        "binary"
    } else {
        "true"
    }
}

/// The values given on the command line for one clap option, as the strings node parameters
/// hold (numbers as parsed, so `--queue-len=007` gives `7`).
fn given_values(matches: &clap::ArgMatches, arg: &clap::Arg, flag: &str) -> Option<Vec<String>> {
    let id = arg.get_id().as_str();
    if matches.value_source(id) != Some(clap::parser::ValueSource::CommandLine) {
        return None;
    }
    if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
        return Some(vec![switch_value(flag).to_string()]);
    }
    macro_rules! typed {
        ($($t:ty),*) => {$(
            if let Ok(Some(values)) = matches.try_get_many::<$t>(id) {
                return Some(values.map(ToString::to_string).collect());
            }
        )*};
    }
    typed!(String, u64, u32, u16, u8, usize);
    None
}

/// The values of the node flags given on the command line, keyed by `ParamDef::flag`: each
/// option given on the command line whose long name a registry parameter names as its flag.
fn node_flag_values(
    command: &clap::Command,
    matches: &clap::ArgMatches,
) -> BTreeMap<&'static str, Vec<String>> {
    let registry_flag = |long: &str| {
        kinds::KINDS
            .iter()
            .flat_map(|k| k.params.iter())
            .filter_map(|p| p.flag)
            .find(|f| f.strip_prefix("--") == Some(long))
    };
    let mut values = BTreeMap::new();
    // Only the few options actually given are looked at: start-up time matters.
    let given = matches.ids().filter(|id| {
        matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
    });
    for id in given {
        let Some(arg) = command.get_arguments().find(|a| a.get_id() == id) else {
            continue;
        };
        let Some(flag) = arg.get_long().and_then(registry_flag) else {
            continue;
        };
        if let Some(v) = given_values(matches, arg, flag) {
            values.insert(flag, v);
        }
    }
    values
}

/// Turns parsed arguments into planner options: the one place where command-line arguments
/// become typed decisions (the planner never looks an option up by its spelling).
pub fn plan_options(cli: &Cli) -> PlanOptions {
    let mode = if cli.binary {
        Some(DataMode::Binary)
    } else if cli.text {
        Some(DataMode::Text)
    } else {
        None
    };
    let mut copy = CopyOptions::default();
    let mut serve = ServeOptions::default();
    for option in plan::ir::SESSION_OPTIONS {
        (option.apply)(cli, &mut copy, &mut serve);
    }
    let flags = cli.node_flags.clone();
    // A flag with a meaning of its own (`-b`, `--stdout-announce-listening-ports`) does
    // something even when no node takes it.
    let has_own_meaning = |flag: &str| {
        let long = flag.trim_start_matches('-');
        CLI_OPTIONS.contains(&long) || plan::ir::SESSION_OPTIONS.iter().any(|o| o.long == long)
    };
    let flags_warned_if_unused = flags
        .keys()
        .copied()
        .filter(|f| !has_own_meaning(f))
        .collect();
    PlanOptions {
        mode,
        no_line: cli.no_line,
        null_terminated: cli.null_terminated,
        strip_newlines: cli.strip_newlines,
        server_mode: cli.server_mode,
        no_fixups: cli.no_fixups,
        flags,
        flags_warned_if_unused,
        exec_args_given: !cli.exec_args.is_empty(),
        tls_server_identity_given: cli.pkcs12_der.is_some() || cli.tls_cert.is_some(),
        tls_domain: cli.tls_domain.clone(),
        type_prefix_given: cli.text_prefix.is_some()
            || cli.binary_prefix.is_some()
            || cli.base64
            || cli.base64_text,
        compression_given: cli.compress_deflate
            || cli.compress_zlib
            || cli.compress_gzip
            || cli.uncompress_deflate
            || cli.uncompress_zlib
            || cli.uncompress_gzip,
        jsonrpc: cli.jsonrpc,
        socks5: cli.socks5.clone(),
        proxy: cli.proxy.clone(),
        proxy_env: plan::ProxyEnv::default(),
        preamble: cli.preamble.clone(),
        preamble_reverse: cli.preamble_reverse.clone(),
        copy,
        serve,
    }
}

/// Parses arguments (without the program name) and plans, as the binary does.
pub fn plan_from_args<I, S>(args: I) -> Result<plan::Plan, Error>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let argv = std::iter::once(std::ffi::OsString::from("websocat"))
        .chain(args.into_iter().map(Into::into));
    let cli = parse_args(argv).map_err(|e| Error::Usage(e.to_string()))?;
    plan::plan(&cli.specs, &plan_options(&cli))
}

/// Test helper: the planned left and right chains of a command line, as specifier strings.
#[cfg(test)]
pub(crate) fn planned_specs(args: &[&str]) -> (String, String) {
    let plan = plan_from_args(args.iter().copied()).unwrap();
    (plan.left.to_spec_string(), plan.right.to_spec_string())
}

/// A diagnostic shown without its code: the first line of the report is then the message a
/// person needs (`× connecting tcp:…: Connection refused`), not `websocat::run`. The codes
/// stay on the error types for tools.
struct WithoutCode<'a>(&'a dyn miette::Diagnostic);

impl std::fmt::Debug for WithoutCode<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.0, f)
    }
}

impl std::fmt::Display for WithoutCode<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.0, f)
    }
}

impl std::error::Error for WithoutCode<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl miette::Diagnostic for WithoutCode<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        self.0.severity()
    }
    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.0.help()
    }
    fn url<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.0.url()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0.source_code()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.0.labels()
    }
    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        self.0.related()
    }
    fn diagnostic_source(&self) -> Option<&dyn miette::Diagnostic> {
        self.0.diagnostic_source()
    }
}

/// Renders an error as the binary prints it: without colour at a fixed width (for tests and
/// non-terminals), or with colour on a terminal. The first line is the message (the
/// diagnostic code is left out).
pub fn render_error(err: &dyn miette::Diagnostic, color: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    if handler.render_report(&mut out, &WithoutCode(err)).is_err() {
        out = err.to_string();
    }
    out
}

fn init_logging(cli: &Cli) {
    let level = if cli.quiet {
        "error"
    } else {
        match cli.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEBSOCAT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("websocat={level}")));
    let color = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .without_time()
        .with_target(false)
        .try_init();
}

/// Runs the command line (without the program name); returns the process exit code.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> i32 {
    let argv = std::iter::once(std::ffi::OsString::from("websocat")).chain(args);
    let cli = match parse_args(argv) {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    if cli.version {
        println!("websocat {}", env!("CARGO_PKG_VERSION"));
        return EXIT_OK;
    }
    if let Some(shell) = cli.completions {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut cmd, "websocat", &mut std::io::stdout());
        return EXIT_OK;
    }
    if cli.man {
        let cmd = <Cli as clap::CommandFactory>::command();
        let mut out = Vec::new();
        if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
            eprintln!("websocat: cannot render the man page: {e}");
            return EXIT_RUN_FAILED;
        }
        use std::io::Write;
        let _ = std::io::stdout().write_all(&out);
        return EXIT_OK;
    }
    if cli.just_generate_key {
        println!("{}", ws::handshake::generate_key());
        return EXIT_OK;
    }
    if let Some(key) = &cli.just_generate_accept {
        return match ws::handshake::accept_for_key(key) {
            Ok(accept) => {
                println!("{accept}");
                EXIT_OK
            }
            Err(e) => {
                eprintln!("websocat: --just-generate-accept: {e}");
                EXIT_USAGE
            }
        };
    }
    if cli.long_help {
        print!("{}", help::help_text(cli::HelpLevel::Doc));
        return EXIT_OK;
    }
    if let Some(level) = cli.help {
        print!("{}", help::help_text(level));
        return EXIT_OK;
    }
    init_logging(&cli);
    let color = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let mut opts = plan_options(&cli);
    // The planner does no I/O: the proxy environment is read here.
    opts.proxy_env = plan::ProxyEnv::from_env();
    opts.serve.interactive = !cli.quiet
        && std::io::IsTerminal::is_terminal(&std::io::stdin())
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut plan = match plan::plan(&cli.specs, &opts) {
        Ok(p) => p,
        Err(e) => {
            eprint!("{}", render_error(&e, color));
            return EXIT_USAGE;
        }
    };
    let terminals = std::io::IsTerminal::is_terminal(&std::io::stdin())
        && std::io::IsTerminal::is_terminal(&std::io::stdout());
    if terminals && !cli.no_interactive && cli.dump_spec.is_none() {
        plan.serve.console = interactive::console_settings(&plan);
    }
    if let Some(format) = cli.dump_spec {
        let (shown, redacted) = if cli.dump_spec_secrets {
            (plan, false)
        } else {
            plan::dump::redact(&plan)
        };
        match format {
            DumpFormat::Text => {
                print!("{}", plan::dump::dump_text(&shown));
                if redacted {
                    println!("{}", plan::dump::REDACTED_NOTE);
                }
            }
            DumpFormat::Json => println!("{}", plan::dump::dump_json(&shown)),
        }
        return EXIT_OK;
    }
    for w in &plan.warnings {
        tracing::warn!("{w}");
    }
    // One thread by default, like websocat 1.x: on small machines it moves connections and
    // data with fewer context switches than a work-stealing pool (see bench/README.md);
    // `--threads N` spreads busy connections over N threads. Blocking work (stdio, files)
    // has its own threads either way.
    let mut builder = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(cli.threads);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("websocat: cannot start the async runtime: {e}");
            return EXIT_RUN_FAILED;
        }
    };
    // Built before the event loop runs: building may read certificate files.
    let built = {
        let _context = runtime.enter();
        exec::serve::build_plan(&plan)
    };
    let result = match built {
        Ok(built) => runtime.block_on(exec::serve::run_plan(&plan, built)),
        Err(e) => Err(e),
    };
    // Before printing anything: stderr may share its pipe with stdout.
    kinds::stdio::restore_stdio_flags();
    interactive::restore_terminal();
    let code = match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprint!("{}", render_error(&e, color));
            exit_code(&e)
        }
    };
    // `run_plan` has joined every connection task, or cut and reported those still open at
    // the shutdown deadline. What may remain are helpers of shared connections (`reuse-raw:`,
    // `broadcast:`), which end with their sockets, and blocking reads of a terminal or file,
    // which nothing can interrupt: waiting for the runtime could only delay the exit.
    let left = runtime.metrics().num_alive_tasks();
    if left > 0 {
        tracing::debug!("{left} background tasks end with the process");
    }
    runtime.shutdown_background();
    code
}

/// The exit code for an error, by the stage that found it: [`EXIT_USAGE`] for the command
/// line and the specifiers, [`EXIT_RUN_FAILED`] for everything that failed while running.
pub fn exit_code(e: &Error) -> i32 {
    match e {
        Error::Spec(_) | Error::Plan(_) | Error::Usage(_) => EXIT_USAGE,
        Error::Run(_) => EXIT_RUN_FAILED,
    }
}

#[cfg(test)]
mod option_tests {
    use super::*;
    use clap::CommandFactory;
    use plan::ir::SESSION_OPTIONS;

    /// Every (kind, parameter, flag) of the registry.
    fn registry_flags() -> Vec<(&'static str, &'static str, &'static str)> {
        kinds::KINDS
            .iter()
            .flat_map(|k| {
                k.params
                    .iter()
                    .filter_map(move |p| p.flag.map(|f| (k.name, p.name, f)))
            })
            .collect()
    }

    fn clap_option(command: &clap::Command, long: &str) -> Option<clap::Arg> {
        command
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .cloned()
    }

    #[test]
    fn registry_flags_are_clap_options() {
        let command = Cli::command();
        for (kind, param, flag) in registry_flags() {
            let long = flag.strip_prefix("--");
            assert!(
                long.and_then(|l| clap_option(&command, l)).is_some(),
                "`{kind}[{param}]` is filled by {flag}, which is no clap option"
            );
        }
    }

    #[test]
    fn every_clap_option_is_connected() {
        let command = Cli::command();
        let node_flags: Vec<&str> = registry_flags()
            .iter()
            .filter_map(|(_, _, f)| f.strip_prefix("--"))
            .collect();
        for arg in command.get_arguments().filter(|a| !a.is_positional()) {
            let Some(long) = arg.get_long() else {
                panic!("option `{}` has no long name", arg.get_id());
            };
            let connected = node_flags.contains(&long)
                || SESSION_OPTIONS.iter().any(|o| o.long == long)
                || CLI_OPTIONS.contains(&long);
            assert!(
                connected,
                "--{long} is connected to nothing: give it a ParamDef::flag, an entry in \
                 plan::ir::SESSION_OPTIONS or a line in CLI_OPTIONS"
            );
        }
    }

    #[test]
    fn option_lists_name_clap_options_once() {
        let command = Cli::command();
        for o in SESSION_OPTIONS {
            let arg = clap_option(&command, o.long)
                .unwrap_or_else(|| panic!("SESSION_OPTIONS names --{}, no clap option", o.long));
            assert_eq!(arg.get_short(), o.short, "short name of --{}", o.long);
            assert!(
                !CLI_OPTIONS.contains(&o.long),
                "--{} is in SESSION_OPTIONS and CLI_OPTIONS",
                o.long
            );
        }
        for long in CLI_OPTIONS {
            assert!(
                clap_option(&command, long).is_some(),
                "CLI_OPTIONS names --{long}, no clap option"
            );
        }
    }

    #[test]
    fn every_node_flag_gives_its_value() {
        let command = Cli::command();
        let mut flags: Vec<&str> = registry_flags().into_iter().map(|(_, _, f)| f).collect();
        flags.sort_unstable();
        flags.dedup();
        let mut argv = vec!["websocat".to_string()];
        let mut takes_rest = Vec::new();
        let mut expected = BTreeMap::new();
        for flag in flags {
            let arg = clap_option(&command, &flag[2..]).expect("a clap option");
            if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
                argv.push(flag.to_string());
                expected.insert(flag, vec![switch_value(flag).to_string()]);
            } else {
                if arg.get_num_args().is_some_and(|n| n.max_values() > 1) {
                    takes_rest.push(flag.to_string());
                    takes_rest.push("7".to_string());
                } else {
                    argv.push(format!("{flag}=7"));
                }
                expected.insert(flag, vec!["7".to_string()]);
            }
        }
        argv.extend(takes_rest);
        let cli = parse_args(&argv).unwrap();
        assert_eq!(cli.node_flags, expected);
    }

    #[test]
    fn node_flag_numbers_keep_their_parsed_form() {
        let cli = parse_args(["websocat", "--queue-len=007", "-b", "-H", "a: b"]).unwrap();
        let values = cli.node_flags;
        assert_eq!(values["--queue-len"], ["7"]);
        assert_eq!(values["--binary"], ["binary"]);
        assert_eq!(values["--header"], ["a: b"]);
        assert_eq!(values.len(), 3, "{values:?}");
    }

    #[test]
    fn session_options_are_written_back_in_order() {
        let args = [
            "websocat",
            "-1",
            "--oneshot",
            "-n",
            "-E",
            "-U",
            "-u",
            "--conncap=6",
            "-B",
            "5",
            "--stdout-announce-listening-ports",
            "--max-messages-rev=4",
            "-s",
        ];
        let cli = parse_args(args).unwrap();
        let opts = plan_options(&cli);
        assert!(opts.serve.server_banner);
        assert_eq!(
            plan::ir::session_args(&opts.copy, &opts.serve),
            [
                "-u",
                "-U",
                "-E",
                "-n",
                "--max-messages=1",
                "--max-messages-rev=4",
                "--buffer-size=5",
                "--oneshot",
                "--conncap=6",
                "--stdout-announce-listening-ports",
            ]
        );
        assert!(opts.flags_warned_if_unused.is_empty());
    }
}
