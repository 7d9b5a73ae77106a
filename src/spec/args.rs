//! Typed leaf arguments: host and port pairs, listen addresses, paths.
//!
//! Each parser reports problems with offsets relative to the argument; callers shift them to
//! the argument's position in the specifier.

use crate::error::SpecProblem;

/// A host (name, IPv4 or IPv6 without brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Hostname or IP literal, IPv6 without brackets.
    pub host: String,
    /// TCP or UDP port.
    pub port: u16,
}

impl HostPort {
    /// Formats as `host:port`, bracketing IPv6 literals.
    pub fn to_addr_string(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Where an `http:` leaf connects and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// TCP address of the server.
    pub addr: HostPort,
    /// The `Host` header: the authority as written.
    pub host_header: String,
    /// Path and query, never empty.
    pub path: String,
}

/// Parses the argument of `http:`: `//host[:port][/path][?query]`. Problems are relative to
/// the argument's first byte.
pub fn parse_http_arg(arg: &str) -> Result<HttpTarget, SpecProblem> {
    let Some(rest) = arg.strip_prefix("//") else {
        return Err(SpecProblem::new(
            "websocat::arg::http_url",
            "expected `//host[:port]/path` after `http:`",
            0,
            arg.len().min(2),
        )
        .label("expected `//` here")
        .help(format!(
            "write e.g. `http://{}`",
            arg.trim_start_matches('/')
        )));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() {
        return Err(
            SpecProblem::new("websocat::arg::http_url", "the URL has no host", 2, 0)
                .label("expected a host here"),
        );
    }
    if let Some(at) = authority.find('@') {
        return Err(SpecProblem::new(
            "websocat::arg::http_url",
            "user names and passwords in `http:` URLs are not supported",
            2,
            at + 1,
        )
        .label("credentials here")
        .help("use --basic-auth USER:PASSWORD or --request-header instead"));
    }
    let has_port = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').is_some_and(|(_, r)| r.starts_with(':')),
        None => authority.contains(':'),
    };
    let addr = if has_port {
        parse_host_port(authority)
    } else {
        parse_host_port(&format!("{authority}:80"))
    }
    .map_err(|p| p.shifted(2))?;
    let mut path = rest[end..].split('#').next().unwrap_or("").to_string();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    Ok(HttpTarget {
        addr,
        host_header: authority.to_string(),
        path,
    })
}

/// Parses `host:port` or `[v6]:port`, as used by connecting kinds.
pub fn parse_host_port(arg: &str) -> Result<HostPort, SpecProblem> {
    parse_host_port_inner(arg, false)
}

/// Parses a listen address: like [`parse_host_port`], but a bare port means `127.0.0.1:PORT`.
pub fn parse_listen_addr(arg: &str) -> Result<HostPort, SpecProblem> {
    parse_host_port_inner(arg, true)
}

fn parse_host_port_inner(arg: &str, port_alone_ok: bool) -> Result<HostPort, SpecProblem> {
    if arg.is_empty() {
        return Err(
            SpecProblem::new("websocat::arg::missing_address", "missing address", 0, 0)
                .label("expected host:port here")
                .help("e.g. `127.0.0.1:8080` or `[::1]:8080`"),
        );
    }
    if port_alone_ok && arg.chars().all(|c| c.is_ascii_digit()) {
        let port = parse_port(arg, 0)?;
        return Ok(HostPort {
            host: "127.0.0.1".to_string(),
            port,
        });
    }
    if let Some(inner) = arg.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(SpecProblem::new(
                "websocat::arg::unclosed_bracket",
                "unclosed `[` in IPv6 address",
                0,
                arg.len(),
            )
            .label("no matching `]`")
            .help("write IPv6 addresses as `[::1]:8080`"));
        };
        let host = &inner[..close];
        let after = &inner[close + 1..];
        let port_start = close + 2;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(SpecProblem::new(
                "websocat::arg::bad_ipv6",
                format!("`{host}` is not an IPv6 address"),
                1,
                host.len(),
            )
            .label("not IPv6")
            .help("brackets are only for IPv6 literals, e.g. `[::1]:8080`"));
        }
        let Some(port) = after.strip_prefix(':') else {
            return Err(missing_port(arg, arg.len()));
        };
        let port = parse_port(port, port_start + 1)?;
        return Ok(HostPort {
            host: host.to_string(),
            port,
        });
    }
    let colons = arg.matches(':').count();
    if colons > 1 {
        let (host, port) = arg.rsplit_once(':').unwrap_or((arg, ""));
        let help = if port.parse::<u16>().is_ok() && host.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("IPv6 addresses need brackets: `[{host}]:{port}`")
        } else if arg.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("IPv6 addresses need brackets and a port: `[{arg}]:8080`")
        } else {
            "write `host:port`, with IPv6 addresses in brackets: `[::1]:8080`".to_string()
        };
        return Err(SpecProblem::new(
            "websocat::arg::unbracketed_ipv6",
            "IPv6 address without brackets",
            0,
            arg.len(),
        )
        .label("ambiguous: which colon starts the port?")
        .help(help));
    }
    let Some((host, port)) = arg.split_once(':') else {
        return Err(missing_port(arg, arg.len()));
    };
    if host.is_empty() {
        return Err(SpecProblem::new(
            "websocat::arg::missing_host",
            "missing host before the port",
            0,
            1,
        )
        .label("expected a host here")
        .help(format!("e.g. `127.0.0.1:{port}` or `0.0.0.0:{port}`")));
    }
    if let Some(bad) = host.find(|c: char| c.is_whitespace() || c == '/' || c == '@') {
        return Err(SpecProblem::new(
            "websocat::arg::bad_host",
            format!("`{host}` is not a valid host"),
            bad,
            1,
        )
        .label("unexpected character"));
    }
    let port = parse_port(port, host.len() + 1)?;
    Ok(HostPort {
        host: host.to_string(),
        port,
    })
}

fn missing_port(arg: &str, _at: usize) -> SpecProblem {
    SpecProblem::new(
        "websocat::arg::missing_port",
        format!("missing port in `{arg}`"),
        0,
        arg.len(),
    )
    .label("no `:PORT` after this host")
    .help(format!("e.g. `{arg}:8080`"))
}

fn parse_port(s: &str, offset: usize) -> Result<u16, SpecProblem> {
    if s.is_empty() {
        return Err(SpecProblem::new(
            "websocat::arg::missing_port",
            "missing port number",
            offset,
            0,
        )
        .label("expected a port number here"));
    }
    s.parse::<u16>().map_err(|_| {
        let msg = if s.chars().all(|c| c.is_ascii_digit()) {
            format!("port `{s}` is out of range (0–65535)")
        } else {
            format!("port `{s}` is not a number")
        };
        SpecProblem::new("websocat::arg::bad_port", msg, offset, s.len()).label("invalid port")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_ipv6() {
        let hp = parse_host_port("[::1]:8080").unwrap();
        assert_eq!(hp.host, "::1");
        assert_eq!(hp.port, 8080);
        assert_eq!(hp.to_addr_string(), "[::1]:8080");
    }

    #[test]
    fn unbracketed_ipv6_suggests_brackets() {
        let e = parse_host_port("::1:8080").unwrap_err();
        assert_eq!(e.code, "websocat::arg::unbracketed_ipv6");
        assert_eq!(
            e.help.as_deref(),
            Some("IPv6 addresses need brackets: `[::1]:8080`")
        );
    }

    #[test]
    fn missing_port_points_past_the_host() {
        let e = parse_host_port("example.com").unwrap_err();
        assert_eq!(e.code, "websocat::arg::missing_port");
        assert_eq!(e.span, (0, 11));
    }

    #[test]
    fn port_alone_listens_on_loopback() {
        let hp = parse_listen_addr("8080").unwrap();
        assert_eq!(hp.to_addr_string(), "127.0.0.1:8080");
        assert!(parse_host_port("8080").is_err());
    }

    #[test]
    fn port_out_of_range() {
        let e = parse_host_port("h:70000").unwrap_err();
        assert_eq!(e.code, "websocat::arg::bad_port");
        assert_eq!(e.span, (2, 5));
    }
}
