//! Part of `lower`: a `ws://` or `wss://` URL leaf becomes `ws-c:` over `tcp:`, with `tls-c:`
//! between them for `wss://`.

use super::ir::{Origin, PlanNode};
use crate::error::SpecProblem;
use crate::kinds;

/// Lowers a `ws://` or `wss://` URL into `ws-c:` over `tcp:` (with TLS for `wss://`).
/// Problems are reported relative to the URL's first byte.
pub fn lower_url(url: &str, origin: Origin) -> Result<Vec<PlanNode>, SpecProblem> {
    let bad = |msg: String| {
        SpecProblem::new("websocat::spec::bad_url", msg, 0, url.len())
            .label("not a valid WebSocket URL")
            .help("URLs look like `ws://127.0.0.1:8080/path` or `wss://example.com/`")
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(format!("bad URL `{url}`: {e}")))?;
    let secure = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err(bad(format!("`{url}` is not a ws:// or wss:// URL"))),
    };
    let scheme_len = if secure { 6 } else { 5 };
    let Some(authority) = uri.authority() else {
        return Err(
            SpecProblem::new("websocat::spec::bad_url", "URL has no host", scheme_len, 0)
                .label("expected a host here")
                .help("e.g. `ws://127.0.0.1:8080/`"),
        );
    };
    let host = authority.host();
    if host.is_empty() {
        return Err(SpecProblem::new(
            "websocat::spec::bad_url",
            "URL has no host",
            scheme_len,
            authority.as_str().len(),
        )
        .label("expected a host here"));
    }
    let hostport = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, h)| h);
    if !hostport.ends_with(']') {
        if let Some((_, port_text)) = hostport.rsplit_once(':') {
            if !port_text.is_empty() && port_text.parse::<u16>().is_err() {
                let start = scheme_len + authority.as_str().len() - port_text.len();
                return Err(SpecProblem::new(
                    "websocat::spec::bad_url",
                    format!("port `{port_text}` is not a number from 0 to 65535"),
                    start,
                    port_text.len(),
                )
                .label("invalid port"));
            }
        }
    }
    let port = authority
        .port_u16()
        .unwrap_or(if secure { 443 } else { 80 });
    if authority.as_str().ends_with(':') {
        return Err(SpecProblem::new(
            "websocat::spec::bad_url",
            "URL has an empty port",
            scheme_len + authority.as_str().len() - 1,
            1,
        )
        .label("port missing after `:`"));
    }
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp_arg = if bare_host.contains(':') {
        format!("[{bare_host}]:{port}")
    } else {
        format!("{bare_host}:{port}")
    };
    // The host must also be valid for `tcp:` (brackets hold only IPv6 literals), so that the
    // lowered chain plans again as written.
    if let Err(p) = crate::spec::args::parse_host_port(&tcp_arg) {
        return Err(SpecProblem::new(
            "websocat::spec::bad_url",
            format!("URL host `{host}` is not valid: {}", p.message),
            scheme_len,
            host.len(),
        )
        .label("invalid host"));
    }
    let mut nodes = vec![PlanNode::new(kinds::kind("ws-c"), "", origin).with_param("uri", url)];
    if secure {
        nodes.push(PlanNode::new(kinds::kind("tls-c"), "", origin).with_param("domain", bare_host));
    }
    nodes.push(PlanNode::new(kinds::kind("tcp"), tcp_arg, origin));
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lowered(url: &str) -> Vec<String> {
        lower_url(url, Origin::Inserted)
            .map(|v| {
                v.iter()
                    .map(|n| {
                        format!(
                            "{}{}",
                            n.display_element(),
                            if n.arg.is_empty() {
                                String::new()
                            } else {
                                format!(":{}", n.arg)
                            }
                        )
                    })
                    .collect()
            })
            .unwrap_or_else(|e| vec![e.message])
    }

    #[test]
    fn url_default_port_and_ipv6() {
        assert_eq!(
            lowered("ws://example.com/x"),
            vec!["ws-c[uri=ws://example.com/x]", "tcp:example.com:80"]
        );
        assert_eq!(
            lowered("ws://[::1]:8080/"),
            vec!["ws-c[uri=\"ws://[::1]:8080/\"]", "tcp:[::1]:8080"]
        );
    }

    #[test]
    fn url_port_out_of_range_is_an_error() {
        assert_eq!(
            lowered("ws://h:99999/x"),
            vec!["port `99999` is not a number from 0 to 65535"]
        );
        assert_eq!(
            lowered("ws://[::1]/x"),
            vec!["ws-c[uri=\"ws://[::1]/x\"]", "tcp:[::1]:80"]
        );
    }

    #[test]
    fn url_without_host_is_an_error() {
        assert_eq!(
            lowered("ws:///x"),
            vec!["bad URL `ws:///x`: invalid format"]
        );
    }
}
