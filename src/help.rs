//! Help texts: clap's option list plus the registry's kinds.

use crate::cli::{Cli, HelpLevel};
use crate::kinds::KINDS;
use crate::registry::{ArgType, Build, Role};
use clap::CommandFactory;

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Leaf => "endpoint",
        Role::Listener => "listener",
        Role::Overlay => "overlay",
        Role::ConnectorOverlay => "connection-manager overlay",
        Role::ListenerAlias => "shorthand",
    }
}

/// The help text for a level.
pub fn help_text(level: HelpLevel) -> String {
    let mut cmd = Cli::command();
    let mut out = match level {
        HelpLevel::Short => cmd.render_help().to_string(),
        HelpLevel::Long | HelpLevel::Doc => cmd.render_long_help().to_string(),
    };
    match level {
        HelpLevel::Short => {}
        HelpLevel::Long => {
            out.push_str("\nSpecifier kinds (`websocat --help=doc` describes each):\n");
            for k in KINDS {
                let names = std::iter::once(k.name)
                    .chain(k.synonyms.iter().copied())
                    .map(|n| format!("{n}:"))
                    .collect::<Vec<_>>()
                    .join(" ");
                out.push_str(&format!("  {names:<44} {}\n", k.summary));
            }
            out.push_str("  ws:// wss://                                 WebSocket client URL\n");
            out.push_str("  -                                            stdio\n");
        }
        HelpLevel::Doc => {
            out.push_str("\nSPECIFIERS\n\nA specifier is `{overlay:}leaf`, e.g. `tcp:127.0.0.1:22`, `ws-l:127.0.0.1:8080`,\n`broadcast:-`, `ws://host/path`. Parameters go in brackets: `ws-c[uri=/x]:tcp:h:80`.\n");
            for k in KINDS {
                out.push_str(&format!("\n{}: ({})\n", k.name, role_name(k.role)));
                if !k.synonyms.is_empty() {
                    let syn: Vec<String> = k.synonyms.iter().map(|s| format!("{s}:")).collect();
                    out.push_str(&format!("  Also: {}\n", syn.join(" ")));
                }
                out.push_str(&format!("  {}\n", k.summary));
                out.push_str(&wrap(k.help, 4, 96));
                if let Build::Sugar(e) = k.build {
                    let (arg, alt) = match k.arg {
                        ArgType::None => ("", ""),
                        ArgType::Path => ("PATH", ""),
                        ArgType::ListenAddr | ArgType::HostPort => {
                            ("ADDR", " (or over a sub-specifier)")
                        }
                        ArgType::Text => ("NAME", ""),
                        _ => ("ARG", ""),
                    };
                    out.push_str(&format!(
                        "    Expands to: {}:{}:{arg}{alt}\n",
                        e.overlays.join(":"),
                        e.leaf
                    ));
                }
                for p in k.params {
                    let flag = p.flag.map(|f| format!(" [flag: {f}]")).unwrap_or_default();
                    out.push_str(&format!("    [{}=…] {}{flag}\n", p.name, p.help));
                }
                for ex in k.examples {
                    out.push_str(&format!("    Example: {ex}\n"));
                }
            }
        }
    }
    out
}

fn wrap(text: &str, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > width {
            out.push_str(&" ".repeat(indent));
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&" ".repeat(indent));
        out.push_str(&line);
        out.push('\n');
    }
    out
}
