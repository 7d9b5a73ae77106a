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
//! - [`cli`]: clap derive, no logic.
//! - [`error`]: `SpecError` / `PlanError` / `RunError`, miette diagnostics.
//! - [`spec`]: AST, the nom grammar (`grammar/specifier.ebnf`), typed leaf arguments.
//! - [`registry`]: the `KINDS` table: names, synonyms, role, shape, argument, parameters, help,
//!   build function. `--help=doc` and did-you-mean read it.
//! - [`plan`]: IR, ordered passes, checks, `--dump-spec`.
//! - [`exec`]: `Conn` and the traits kinds implement, codecs, the copy engine, the accept loop.
//! - [`kinds`]: one module per kind or family.
//! - [`help`]: help texts generated from clap and the registry.
//! - [`ws`]: the WebSocket protocol: handshakes and the frame codec.
//!
//! Architecture invariants:
//! - The grammar does no I/O and never resolves names; neither does the planner.
//! - The executor never reads CLI arguments and never matches kind names: each kind is built
//!   only from its own plan node's parameters.
//! - Every automatic change the planner makes is recorded and shown by `--dump-spec`.
//! - `--dump-spec` prints a command line that plans back into the same plan.
//!
//! Decisions that differ from the first design notes (`shared/DESIGN.md`):
//! - WebSocket framing and handshakes are ours ([`ws`]), not tokio-tungstenite's stream:
//!   tungstenite answers a peer's Close at once and then refuses to send, which loses replies
//!   still in flight (`echo hi | websocat ws://echo-server` would print nothing). Ours treats
//!   Close as a half-close; the copy engine answers it when the other direction is done, or
//!   idle for [`exec::copy::CLOSE_LINGER`]. tungstenite is kept for its key derivation.
//! - Connections run on one event loop by default (`--threads N` for more): on small machines
//!   it used about 40% less CPU per connection than a two-worker pool (`bench/README.md`).
//!   Blocking work (stdio, files) runs on blocking threads either way; chains (which may read
//!   certificate files) are built before the event loop starts.
//! - Two narrow channels between layers and transports, for per-connection cost
//!   (`bench/README.md`, connection rate): a listener is bound with [`exec::conn::BindHints`]
//!   from the layers above it (a WebSocket or TLS server lets TCP defer the accept until the
//!   request arrives), and a layer may find the concrete stream under it
//!   ([`exec::ByteStream::as_any_mut`]; the WebSocket layer sends its last Close with the FIN
//!   on TCP). Both are optional fast paths: other transports behave as before.
//! - A message stream may end its session with a WebSocket Close status for the other side
//!   ([`exec::conn::CloseRequest`], sent through [`exec::conn::MessageStream::set_close_status`]),
//!   also while the copy engine waits for that side to take a message
//!   ([`exec::conn::MessageStream::poll_abort`]): `broadcast:` disconnects a client that does not
//!   read with Close 1008 without waiting for its socket to drain.

pub mod cli;
pub mod error;
pub mod exec;
pub mod help;
pub mod kinds;
pub mod plan;
pub mod registry;
pub mod spec;
pub mod ws;

use clap::Parser;
use cli::{Cli, DumpFormat};
use error::Error;
use plan::{CopyOptions, DataMode, PlanOptions, ServeOptions};

/// Exit code for success.
pub const EXIT_OK: i32 = 0;
/// Exit code when a connection or session failed.
pub const EXIT_RUN_FAILED: i32 = 1;
/// Exit code for a bad command line or specifier.
pub const EXIT_USAGE: i32 = 2;

/// Turns parsed arguments into planner options.
pub fn plan_options(cli: &Cli) -> PlanOptions {
    let mode = if cli.binary {
        Some(DataMode::Binary)
    } else if cli.text {
        Some(DataMode::Text)
    } else {
        None
    };
    let one = if cli.one_message { Some(1) } else { None };
    PlanOptions {
        mode,
        no_line: cli.no_line,
        null_terminated: cli.null_terminated,
        strip_newlines: cli.strip_newlines,
        server_mode: cli.server_mode,
        no_fixups: cli.no_fixups,
        flags: cli.node_flags().into_iter().collect(),
        jsonrpc: cli.jsonrpc,
        socks5: cli.socks5.clone(),
        proxy: cli.proxy.clone(),
        proxy_env: plan::ProxyEnv::default(),
        preamble: cli.preamble.clone(),
        preamble_reverse: cli.preamble_reverse.clone(),
        copy: CopyOptions {
            unidirectional: cli.unidirectional,
            unidirectional_reverse: cli.unidirectional_reverse,
            exit_on_eof: cli.exit_on_eof,
            no_close: cli.no_close,
            max_messages: cli.max_messages.or(one),
            max_messages_rev: cli.max_messages_rev.or(one),
            buffer_size: cli.buffer_size,
        },
        serve: ServeOptions {
            oneshot: cli.oneshot,
            conncap: cli.conncap,
            announce: cli.announce,
            server_banner: cli.server_mode,
            interactive: false,
            server_banner_tls: false,
        },
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
    let cli = Cli::try_parse_from(argv).map_err(|e| Error::Usage(e.to_string()))?;
    plan::plan(&cli.specs, &plan_options(&cli))
}

/// Test helper: the planned left and right chains of a command line, as specifier strings.
#[cfg(test)]
pub(crate) fn planned_specs(args: &[&str]) -> (String, String) {
    let plan = plan_from_args(args.iter().copied()).unwrap();
    (plan.left.to_spec_string(), plan.right.to_spec_string())
}

/// Renders an error as the binary prints it: without colour at a fixed width (for tests and
/// non-terminals), or with colour on a terminal.
pub fn render_error(err: &dyn miette::Diagnostic, color: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    if handler.render_report(&mut out, err).is_err() {
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
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
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
    let plan = match plan::plan(&cli.specs, &opts) {
        Ok(p) => p,
        Err(e) => {
            eprint!("{}", render_error(&e, color));
            return EXIT_USAGE;
        }
    };
    match cli.dump_spec {
        Some(DumpFormat::Text) => {
            print!("{}", plan::dump::dump_text(&plan));
            return EXIT_OK;
        }
        Some(DumpFormat::Json) => {
            println!("{}", plan::dump::dump_json(&plan));
            return EXIT_OK;
        }
        None => {}
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
    let code = match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprint!("{}", render_error(&e, color));
            match e {
                Error::Spec(_) | Error::Plan(_) | Error::Usage(_) => EXIT_USAGE,
                Error::Run(_) => EXIT_RUN_FAILED,
            }
        }
    };
    runtime.shutdown_background();
    code
}
