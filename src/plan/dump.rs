//! `--dump-spec`: the plan as a command line that plans back to the same plan, and as JSON;
//! [`redact`] hides the passwords in it for the default output.

use super::ir::{session_args, Chain, Plan};
use serde_json::json;

/// Quotes an argument for a POSIX shell when needed.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '@' | '%' | '+' | ',' | '=')
        });
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Node parameters that hold a password: `--dump-spec` shows them redacted unless asked not to.
pub const SECRET_PARAMS: &[&str] = &["basic-auth", "auth", "pkcs12-passwd"];

/// Node parameters that hold HTTP headers; `Authorization` and `Proxy-Authorization` values
/// among them are credentials too.
const HEADER_PARAMS: &[&str] = &["header", "server-header", "request-header"];

/// What a redacted secret is shown as.
pub const REDACTED: &str = "***";

/// The value of a parameter with its credentials hidden, or `None` when it holds none: the
/// password of `user:password` (the user name stays, it helps to see which account is used),
/// a whole password, or the value of an authorization header.
fn redacted_value(name: &str, value: &str) -> Option<String> {
    if SECRET_PARAMS.contains(&name) {
        return Some(match value.split_once(':') {
            Some((user, _)) if name != "pkcs12-passwd" => format!("{user}:{REDACTED}"),
            _ => REDACTED.to_string(),
        });
    }
    if name == "uri" {
        // `ws://user:password@host/`: the password part of the authority.
        let (scheme, rest) = value.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (userinfo, host_and_path) = rest[..end]
            .rsplit_once('@')
            .map(|(u, h)| (u, format!("{h}{}", &rest[end..])))?;
        let (user, _) = userinfo.split_once(':')?;
        return Some(format!("{scheme}://{user}:{REDACTED}@{host_and_path}"));
    }
    if HEADER_PARAMS.contains(&name) {
        let (header, _) = value.split_once(':')?;
        let header = header.trim();
        if header.eq_ignore_ascii_case("authorization")
            || header.eq_ignore_ascii_case("proxy-authorization")
        {
            return Some(format!("{header}: {REDACTED}"));
        }
    }
    None
}

/// A copy of the plan with passwords and credentials (of `--basic-auth`, `--socks5-user-pass`,
/// proxy URLs, PKCS#12 passwords, authorization headers) replaced by [`REDACTED`], and whether
/// anything was replaced. `--dump-spec` prints this unless `--dump-spec-secrets` is given.
pub fn redact(plan: &Plan) -> (Plan, bool) {
    let mut plan = plan.clone();
    let mut replaced = Vec::new();
    for chain in [&mut plan.left, &mut plan.right] {
        for node in &mut chain.nodes {
            for (name, value) in &mut node.params {
                if let Some(hidden) = redacted_value(name, value) {
                    replaced.push((std::mem::replace(value, hidden.clone()), hidden));
                }
            }
        }
    }
    // The notes on automatic changes may quote what was written (a URL, say).
    for text in plan
        .fixups
        .iter_mut()
        .map(|f| &mut f.message)
        .chain(plan.warnings.iter_mut())
    {
        for (secret, hidden) in &replaced {
            if text.contains(secret.as_str()) {
                *text = text.replace(secret.as_str(), hidden);
            }
        }
    }
    let any = !replaced.is_empty();
    (plan, any)
}

/// The note `--dump-spec` adds when it redacted something.
pub const REDACTED_NOTE: &str =
    "# credentials shown as *** (--dump-spec-secrets prints them, for an exact round trip)";

/// The options of the plan that are not inside the chains, as CLI arguments.
pub fn global_args(plan: &Plan) -> Vec<String> {
    session_args(&plan.copy, &plan.serve)
}

/// The canonical argument vector (without the program name) for this plan.
pub fn canonical_args(plan: &Plan) -> Vec<String> {
    let mut a = global_args(plan);
    a.push(plan.left.to_spec_string());
    a.push(plan.right.to_spec_string());
    a
}

/// Human-readable dump: the command line, then one line per automatic change and warning.
pub fn dump_text(plan: &Plan) -> String {
    let mut out = String::from("websocat");
    for arg in canonical_args(plan) {
        out.push(' ');
        out.push_str(&shell_quote(&arg));
    }
    out.push('\n');
    for f in &plan.fixups {
        out.push_str(&format!("# {}: {}\n", f.pass, f.message));
    }
    for w in &plan.warnings {
        out.push_str(&format!("# warning: {w}\n"));
    }
    out
}

fn chain_json(chain: &Chain) -> serde_json::Value {
    json!({
        "spec": chain.to_spec_string(),
        "nodes": chain.nodes.iter().map(|n| json!({
            "kind": n.kind.name,
            "role": n.kind.role,
            "params": n.params.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "arg": n.arg,
            "inserted": matches!(n.origin, super::ir::Origin::Inserted),
        })).collect::<Vec<_>>(),
    })
}

/// Machine-readable dump for tools.
pub fn dump_json(plan: &Plan) -> String {
    let v = json!({
        "args": canonical_args(plan),
        "left": chain_json(&plan.left),
        "right": chain_json(&plan.right),
        "fixups": plan.fixups,
        "warnings": plan.warnings,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

#[cfg(test)]
mod redaction_tests {
    use super::redacted_value;

    #[test]
    fn passwords_are_hidden_and_user_names_kept() {
        assert_eq!(
            redacted_value("basic-auth", "u:p").as_deref(),
            Some("u:***")
        );
        assert_eq!(redacted_value("auth", "u:p:q").as_deref(), Some("u:***"));
        assert_eq!(
            redacted_value("pkcs12-passwd", "a:b").as_deref(),
            Some("***")
        );
        assert_eq!(
            redacted_value("header", "authorization: Bearer x").as_deref(),
            Some("authorization: ***")
        );
        assert_eq!(redacted_value("header", "X-A: b"), None);
        assert_eq!(redacted_value("protocol", "u:p"), None);
    }

    #[test]
    fn only_the_password_of_a_url_is_hidden() {
        assert_eq!(
            redacted_value("uri", "ws://u:p@[::1]:80/x?y=1").as_deref(),
            Some("ws://u:***@[::1]:80/x?y=1")
        );
        assert_eq!(redacted_value("uri", "ws://u@h/"), None);
        assert_eq!(redacted_value("uri", "ws://h/?mail=a@b:c"), None);
        assert_eq!(redacted_value("uri", "/path"), None);
    }
}
