//! Pass `proxy`: routes `ws://` / `wss://` URL leaves through a proxy, for `--socks5`,
//! `--proxy` and the proxy environment variables (read by the caller into
//! [`ProxyEnv`]; the planner itself does no I/O).
//!
//! `ws://h:1/` lowers to `ws-c[uri=…]:tcp:h:1`; through a proxy it becomes
//! `ws-c[uri=…]:socks5-connect[dest=h:1]:tcp:PROXY` or `…:http-connect[dest=h:1]:tcp:PROXY`.

use super::ir::{Chain, Fixup, Origin, PlanNode};
use super::proxy_env::ProxyEnv;
use crate::error::{Error, PlanError};
use crate::kinds;
use crate::registry::{ArgType, Shape, Trait};
use crate::spec::args::parse_host_port;
use std::net::IpAddr;

/// A parsed proxy address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Proxy {
    socks: bool,
    addr: String,
    auth: Option<String>,
}

/// Parses `http://[user:pass@]host[:port][/]`, `socks5://…`, `socks5h://…` or a bare
/// `host:port` (HTTP).
fn parse_proxy(text: &str, what: &str) -> Result<Proxy, Error> {
    let bad = |why: String| -> Error {
        PlanError::new(
            format!("{what} `{text}`: {why}"),
            Some("expected e.g. `http://127.0.0.1:3128`, `http://user:pass@proxy:8080` or `socks5://127.0.0.1:1080`".into()),
        )
        .into()
    };
    let (socks, rest) = match text.split_once("://") {
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "http" => (false, rest),
            "socks5" | "socks5h" => (true, rest),
            other => return Err(bad(format!("proxy scheme `{other}` is not supported"))),
        },
        None => (false, text),
    };
    let rest = rest.trim_end_matches('/');
    let (auth, hostport) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(decode_userinfo(a).map_err(bad)?), h),
        None => (None, rest),
    };
    let default_port = if socks { 1080 } else { 80 };
    let has_port = match hostport.rsplit_once(':') {
        Some((h, p)) => !h.ends_with(':') && p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty(),
        None => false,
    };
    let hostport = if has_port && !hostport.ends_with(']') {
        hostport.to_string()
    } else {
        format!("{hostport}:{default_port}")
    };
    let hp = parse_host_port(&hostport).map_err(|p| bad(p.message))?;
    Ok(Proxy {
        socks,
        addr: hp.to_addr_string(),
        auth,
    })
}

/// Turns a URL's `user:password` into plain text: each part's `%XX` escapes are decoded (so
/// `p%40ss` is the password `p@ss`), as curl and other HTTP_PROXY users do.
fn decode_userinfo(userinfo: &str) -> Result<String, String> {
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let user = percent_decode(user)?;
    if user.contains(':') {
        return Err("a proxy user name cannot contain `:`".into());
    }
    Ok(format!("{user}:{}", percent_decode(password)?))
}

/// Decodes `%XX` escapes; anything else, a `%` not followed by two hex digits included, is
/// kept as it is (so a password like `50%off` written unescaped still works).
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 3)
            .filter(|h| bytes[i] == b'%' && h.iter().all(u8::is_ascii_hexdigit));
        match escape {
            Some(h) => {
                let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(digit(h[0]) * 16 + digit(h[1]));
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| "the user name or password decodes to bytes that are not UTF-8".into())
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// True when `NO_PROXY` says `host` goes direct.
fn no_proxy_matches(no_proxy: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    no_proxy.split(',').map(str::trim).any(|entry| {
        if entry.is_empty() {
            return false;
        }
        if entry == "*" {
            return true;
        }
        let entry = entry.to_ascii_lowercase();
        // Drop a port, but keep IPv6 literals whole.
        let entry = match entry.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => {
                h.to_string()
            }
            _ => entry,
        };
        let entry = entry
            .trim_start_matches('*')
            .trim_start_matches('.')
            .trim_start_matches('[')
            .trim_end_matches(']');
        host == entry || host.ends_with(&format!(".{entry}"))
    })
}

/// Options the pass reads.
pub struct ProxyOptions<'a> {
    /// `--socks5`.
    pub socks5: Option<&'a str>,
    /// `--proxy`.
    pub proxy: Option<&'a str>,
    /// The environment; `None` when automatic changes are off.
    pub env: Option<&'a ProxyEnv>,
}

/// Rewrites a URL-lowered chain to go through a proxy, when one applies.
pub fn route_through_proxy(
    chain: &mut Chain,
    opts: &ProxyOptions<'_>,
    fixups: &mut Vec<Fixup>,
) -> Result<(), Error> {
    let Some(uri) = chain
        .nodes
        .iter()
        .find(|n| n.kind.has(Trait::WebSocket) && matches!(n.origin, Origin::Expanded(_)))
        .and_then(|n| n.param("uri"))
        .map(str::to_string)
    else {
        return Ok(());
    };
    let leaf_idx = chain.nodes.len() - 1;
    let leaf = &chain.nodes[leaf_idx];
    // A proxy tunnels a byte stream to a `host:port`: the leaf a URL lowered to.
    let tunnelable = leaf.kind.arg == ArgType::HostPort && leaf.kind.shape == Shape::Bytes;
    if !tunnelable || !matches!(leaf.origin, Origin::Expanded(_)) {
        return Ok(());
    }
    let dest = leaf.arg.clone();
    let host = parse_host_port(&dest).map(|h| h.host).unwrap_or_default();
    let secure = uri.to_ascii_lowercase().starts_with("wss:");
    let (proxy, source) = if let Some(s) = opts.socks5 {
        let p = parse_proxy(s, "--socks5")?;
        (Proxy { socks: true, ..p }, "--socks5".to_string())
    } else if let Some(p) = opts.proxy {
        (parse_proxy(p, "--proxy")?, "--proxy".to_string())
    } else if let Some(env) = opts.env {
        let (var, value) = if secure {
            ("HTTPS_PROXY", env.https.as_deref())
        } else {
            ("HTTP_PROXY", env.http.as_deref())
        };
        let Some(value) = value else { return Ok(()) };
        if is_loopback(&host)
            || env
                .no_proxy
                .as_deref()
                .is_some_and(|np| no_proxy_matches(np, &host))
        {
            return Ok(());
        }
        (
            parse_proxy(value, var)?,
            format!("{var} from the environment"),
        )
    } else {
        return Ok(());
    };
    let kind = if proxy.socks {
        "socks5-connect"
    } else {
        "http-connect"
    };
    let mut node = PlanNode::new(kinds::kind(kind), "", Origin::Inserted).with_param("dest", &dest);
    if let Some(a) = &proxy.auth {
        node = node.with_param("auth", a.clone());
    }
    fixups.push(Fixup {
        pass: "proxy",
        message: format!(
            "{}: `{uri}` goes through the {} proxy {} ({source})",
            chain.side,
            if proxy.socks { "SOCKS5" } else { "HTTP" },
            proxy.addr
        ),
    });
    chain.nodes[leaf_idx].arg = proxy.addr;
    chain.nodes.insert(leaf_idx, node);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls() {
        let p = parse_proxy("http://u:p@127.0.0.1:3128/", "x").unwrap();
        assert_eq!(
            p,
            Proxy {
                socks: false,
                addr: "127.0.0.1:3128".into(),
                auth: Some("u:p".into())
            }
        );
        let escaped = parse_proxy("http://us%65r:p%40ss%3aw@127.0.0.1:3128", "x").unwrap();
        assert_eq!(escaped.auth.as_deref(), Some("user:p@ss:w"));
        assert_eq!(
            parse_proxy("http://u:p@ss@127.0.0.1:3128", "x")
                .unwrap()
                .auth
                .as_deref(),
            Some("u:p@ss"),
            "the last @ ends the user part"
        );
        assert_eq!(
            parse_proxy("http://u:50%off%+A@h:1", "x")
                .unwrap()
                .auth
                .as_deref(),
            Some("u:50%off%+A"),
            "a % that starts no escape is kept"
        );
        assert!(parse_proxy("http://a%3Ab:p@h:1", "x").is_err());
        assert_eq!(parse_proxy("proxy", "x").unwrap().addr, "proxy:80");
        assert_eq!(parse_proxy("[::1]", "x").unwrap().addr, "[::1]:80");
        let s = parse_proxy("socks5://h:9050", "x").unwrap();
        assert!(s.socks);
        assert!(parse_proxy("ftp://h:1", "x").is_err());
    }

    #[test]
    fn environment_proxy_respects_no_proxy_and_loopback() {
        let opts = crate::plan::PlanOptions {
            proxy_env: ProxyEnv {
                http: Some("http://proxy:3128".into()),
                https: None,
                no_proxy: Some("skip.example".into()),
            },
            ..Default::default()
        };
        let right = |url: &str| {
            crate::plan::plan(&[url.to_string()], &opts)
                .unwrap()
                .right
                .to_spec_string()
        };
        assert_eq!(
            right("ws://a.example/"),
            "ws-c[uri=ws://a.example/]:http-connect[dest=a.example:80]:tcp:proxy:3128"
        );
        assert_eq!(
            right("ws://x.skip.example/"),
            "ws-c[uri=ws://x.skip.example/]:tcp:x.skip.example:80"
        );
        assert_eq!(
            right("ws://127.0.0.1:9/"),
            "ws-c[uri=ws://127.0.0.1:9/]:tcp:127.0.0.1:9"
        );
        // With --no-fixups the environment is ignored.
        let off = crate::plan::PlanOptions {
            no_fixups: true,
            ..opts.clone()
        };
        let plan = crate::plan::plan(&["mirror:".into(), "ws://a.example/".into()], &off).unwrap();
        assert_eq!(
            plan.right.to_spec_string(),
            "ws-c[uri=ws://a.example/]:tcp:a.example:80"
        );
    }

    #[test]
    fn no_proxy_rules() {
        assert!(no_proxy_matches("example.com", "example.com"));
        assert!(no_proxy_matches(".example.com", "a.example.com"));
        assert!(no_proxy_matches("example.com", "a.example.com"));
        assert!(!no_proxy_matches("example.com", "notexample.com"));
        assert!(no_proxy_matches("foo, *", "anything"));
        assert!(no_proxy_matches("h:8080", "h"));
        assert!(is_loopback("127.0.0.2") && is_loopback("::1") && is_loopback("localhost"));
        assert!(!is_loopback("10.0.0.1"));
    }
}
