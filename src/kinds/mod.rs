//! One module per specifier kind (or small family): its registry entry, build function and
//! unit tests; and [`KINDS`], the table of them all, with the look-ups by name. Helpers several
//! kinds share, which are not kinds, are in [`support`]; the WebSocket protocol the `ws_*`
//! kinds use is in [`crate::ws`].
//!
//! Adding a kind: its module (a [`KindDef`] const, its build function, tests), its `pub mod`
//! line and its line in [`KINDS`] here, and a `grammar/cases/*.case` file.

pub mod assert;
pub mod autoreconnect;
pub mod broadcast;
pub mod codecs;
pub mod compress;
pub mod files;
pub mod http;
pub mod http_sse;
pub mod lazy;
pub mod literal;
pub mod mirror;
pub mod msgrewrite;
pub mod preamble;
#[cfg(unix)]
pub mod process;
pub mod proxy;
pub mod random;
pub mod reuse;
#[cfg(target_os = "linux")]
pub mod seqpacket;
pub mod stdio;
pub mod support;
pub mod tcp;
pub mod tls;
pub mod transforms;
pub mod udp;
#[cfg(unix)]
pub mod unix;
pub mod ws_client;
pub mod ws_lowlevel;
pub mod ws_server;

use crate::registry::KindDef;

/// Every kind the tool knows. Adding a kind = one module under `kinds/` + one line here.
pub static KINDS: &[&KindDef] = &[
    &stdio::STDIO,
    &tcp::TCP_CONNECT,
    &tcp::TCP_LISTEN,
    &ws_client::WS_CLIENT,
    &ws_server::WS_UPGRADE,
    &ws_server::WS_LISTEN,
    &ws_lowlevel::WS_LL_CLIENT,
    &ws_lowlevel::WS_LL_SERVER,
    &random::RANDOM,
    &tls::TLS_CONNECT,
    &tls::TLS_ACCEPT,
    &tls::TLS_LISTEN,
    &tls::WSS_LISTEN,
    &codecs::LINES,
    &codecs::CHUNKS,
    &mirror::MIRROR,
    &literal::LITERAL,
    &literal::LITERAL_REPLY,
    &literal::CLOGGED,
    &assert::ASSERT,
    &broadcast::BROADCAST,
    #[cfg(unix)]
    &unix::UNIX_CONNECT,
    #[cfg(unix)]
    &unix::UNIX_LISTEN,
    #[cfg(unix)]
    &unix::ABSTRACT_CONNECT,
    #[cfg(unix)]
    &unix::ABSTRACT_LISTEN,
    #[cfg(unix)]
    &unix::UNIX_DGRAM,
    #[cfg(unix)]
    &unix::ABSTRACT_DGRAM,
    #[cfg(unix)]
    &unix::L_WS_UNIX,
    #[cfg(unix)]
    &unix::L_WS_ABSTRACT,
    #[cfg(target_os = "linux")]
    &seqpacket::SEQPACKET_CONNECT,
    #[cfg(target_os = "linux")]
    &seqpacket::SEQPACKET_LISTEN,
    &udp::UDP_CONNECT,
    &udp::UDP_LISTEN,
    &files::READFILE,
    &files::WRITEFILE,
    &files::APPENDFILE,
    &files::OPEN_ASYNC,
    &files::OPEN_FD,
    &files::THREADED_STDIO,
    &files::INETD_WS,
    #[cfg(unix)]
    &process::EXEC,
    #[cfg(unix)]
    &process::SH_C,
    &reuse::REUSE_RAW,
    &autoreconnect::AUTORECONNECT,
    &preamble::PREAMBLE,
    &transforms::MSG2LINE,
    &transforms::LENGTH_PREFIXED,
    &transforms::LOG,
    &transforms::TIMESTAMP,
    &transforms::EXIT_ON_BYTE,
    &proxy::SOCKS5_CONNECT,
    &proxy::SOCKS5_BIND,
    &proxy::HTTP_CONNECT,
    &http::HTTP,
    &http::HTTP_REQUEST,
    &http_sse::HTTP_POST_SSE,
    &msgrewrite::JSONRPC,
    &msgrewrite::TYPE_PREFIX,
    &compress::COMPRESS,
    &lazy::WAITFORDATA,
    &lazy::FOREACHMSG,
];

/// Finds a kind by its canonical name or any synonym (exact match only).
pub fn lookup(name: &str) -> Option<&'static KindDef> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.name == name || k.synonyms.contains(&name))
}

/// Finds a kind by canonical name; for the planner's own insertions.
pub fn kind(name: &str) -> &'static KindDef {
    lookup(name).unwrap_or_else(|| panic!("registry has no kind `{name}` (programming error)"))
}

/// Every accepted name, canonical and synonyms.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    KINDS
        .iter()
        .flat_map(|k| std::iter::once(k.name).chain(k.synonyms.iter().copied()))
}

/// The closest known name to `name` by edit distance, when close enough to be a typo.
pub fn did_you_mean(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if let Some(k) = lookup(&lower) {
        return Some(k.name);
    }
    let mut best: Option<(usize, &'static str)> = None;
    for cand in all_names() {
        let d = edit_distance(&lower, cand);
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    let limit = (name.len() / 3).clamp(1, 3);
    best.filter(|(d, _)| *d <= limit).map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Build, Role, Shape};
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_documented() {
        let mut seen = HashSet::new();
        for k in KINDS {
            assert!(!k.summary.is_empty(), "{} has no summary", k.name);
            assert!(!k.help.is_empty(), "{} has no help", k.name);
            assert!(!k.examples.is_empty(), "{} has no example", k.name);
            for n in std::iter::once(k.name).chain(k.synonyms.iter().copied()) {
                assert!(seen.insert(n), "name `{n}` is registered twice");
                assert!(
                    n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                    "name `{n}` is not a valid grammar name"
                );
            }
        }
    }

    #[test]
    fn shapes_fit_roles() {
        for k in KINDS {
            let ok = match k.role {
                Role::Leaf => matches!(k.shape, Shape::Bytes | Shape::Messages | Shape::Any),
                Role::Listener => matches!(k.shape, Shape::Bytes | Shape::Messages),
                Role::Overlay => !matches!(k.shape, Shape::Bytes | Shape::Messages | Shape::Any),
                Role::ConnectorOverlay => k.shape == Shape::Preserve,
                Role::ListenerAlias => k.shape == Shape::Expands,
            };
            assert!(
                ok,
                "{} has role {:?} but shape {:?}",
                k.name, k.role, k.shape
            );
            if let Build::Sugar(e) = k.build {
                assert!(
                    lookup(e.leaf).is_some(),
                    "{} expands to unknown {}",
                    k.name,
                    e.leaf
                );
                for o in e.overlays {
                    assert!(lookup(o).is_some(), "{} expands to unknown {o}", k.name);
                }
            }
        }
    }

    /// The traits the planner asks about fit the kinds that declare them: each comes with the
    /// role, shape and parameters the passes and checks rely on.
    #[test]
    fn traits_are_consistent() {
        use crate::registry::{ArgType, Sharing, Trait};
        for k in KINDS {
            for (i, t) in k.traits.iter().enumerate() {
                assert!(
                    !k.traits[..i].contains(t),
                    "{} declares {t:?} twice",
                    k.name
                );
                let has_param = |p: &str| k.param(p).is_some();
                let flagged = |p: &str| k.param(p).is_some_and(|d| d.flag.is_some());
                let ok = match t {
                    Trait::Stdio => {
                        k.role == Role::Leaf
                            && k.shape == Shape::Bytes
                            && k.sharing() == Some(Sharing::Broadcast)
                    }
                    Trait::SharedBehindListener(_) => k.role == Role::Leaf,
                    Trait::SharesInner | Trait::Reconnects => k.role == Role::ConnectorOverlay,
                    Trait::WebSocket => {
                        k.role == Role::Overlay && k.shape == Shape::BytesToMessages
                    }
                    Trait::ShapeFromInner => {
                        k.role != Role::Leaf
                            && k.shape == Shape::Preserve
                            && has_param(crate::registry::SHAPE_PARAM)
                    }
                    Trait::TlsIdentity { what, .. } => {
                        !what.is_empty() && flagged("pkcs12") && flagged("cert") && flagged("key")
                    }
                    Trait::ChecksServerName => has_param("domain") && has_param("insecure"),
                    Trait::ProgramWithArgs => {
                        k.role == Role::Leaf && k.arg == ArgType::Command && has_param("args")
                    }
                };
                assert!(ok, "{} declares {t:?} but does not fit it", k.name);
            }
            if k.shape == Shape::Any {
                assert!(
                    k.param(crate::registry::SHAPE_PARAM).is_some(),
                    "{} has shape Any but no `shape` parameter for the planner to fill",
                    k.name
                );
            }
        }
        assert!(
            kind(crate::plan::ir::DASH_KIND).has(Trait::Stdio),
            "`-` must stand for a stdio kind"
        );
        let stdio: Vec<&str> = KINDS
            .iter()
            .filter(|k| k.has(Trait::Stdio))
            .map(|k| k.name)
            .collect();
        assert_eq!(stdio, ["stdio", "threadedstdio"]);
    }

    #[test]
    fn typo_suggestions() {
        assert_eq!(did_you_mean("tcpp"), Some("tcp"));
        assert_eq!(did_you_mean("ws-lsten"), Some("ws-listen"));
        assert_eq!(did_you_mean("zzzzzzzz"), None);
    }
}
