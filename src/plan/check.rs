//! The checks over the finished plan, after the passes. Errors stop; warnings are printed as
//! advice. Like the passes, they ask what a kind declares ([`Trait`]), not its name.

use super::ir::{Chain, Plan, PlanNode, PlanOptions};
use crate::error::{Error, PlanError, SpecProblem};
use crate::registry::{ParamType, Role, Trait};

/// Runs every check, adding warnings to the plan or failing on errors.
pub fn check(plan: &mut Plan, opts: &PlanOptions) -> Result<(), Error> {
    for chain in [&plan.left, &plan.right] {
        connector_overlay_over_listener(chain)?;
        tls_identity(chain)?;
        exclusive_params(chain)?;
        close_codes_from_flags(chain)?;
    }
    tls_client_without_domain(plan);
    tls_domain_flag_overridden(plan, opts);
    stdio_twice(plan)?;
    exec_twice(plan)?;
    if plan.right.is_listener() {
        plan.warnings.push(format!(
            "the right side `{}` listens: each connection on the left waits for one incoming connection there; usually the listener goes on the left",
            plan.right.source
        ));
    }
    if plan.copy.unidirectional && plan.copy.unidirectional_reverse {
        return Err(PlanError::new(
            "-u and -U together disable both directions",
            Some("use -u to copy only left to right, or -U for right to left".into()),
        )
        .into());
    }
    unused_flags(plan, opts);
    exec_name_with_space(plan);
    for chain in [&plan.left, &plan.right] {
        if let Some(w) = reconnect_outside_reuser(chain) {
            plan.warnings.push(w);
        }
    }
    Ok(())
}

/// Parameters that cannot be given together on one node (both are also errors in websocat
/// 1.x): the first pair member names the flag, for the message.
const EXCLUSIVE_PARAMS: &[(&str, &str, &str)] = &[
    (
        "basic-auth",
        "basic-auth-file",
        "--basic-auth and --basic-auth-file",
    ),
    (
        "nonblocking",
        "blocking",
        "--async-stdio and --no-async-stdio",
    ),
];

fn exclusive_params(chain: &Chain) -> Result<(), Error> {
    for node in &chain.nodes {
        for (a, b, flags) in EXCLUSIVE_PARAMS {
            if node.param(a).is_some_and(|v| v != "false")
                && node.param(b).is_some_and(|v| v != "false")
            {
                return Err(PlanError::new(
                    format!("`{}:` has both `{a}` and `{b}` ({flags})", node.kind.name),
                    Some(format!("give only one of {flags}")),
                )
                .into());
            }
        }
    }
    Ok(())
}

/// Close status codes given by a flag (`--close-status-code`) must be sendable, as those
/// written in brackets are (checked with their span when the specifier is lowered).
fn close_codes_from_flags(chain: &Chain) -> Result<(), Error> {
    for node in &chain.nodes {
        for def in node.kind.params {
            if def.ty != ParamType::CloseCode {
                continue;
            }
            let Some(value) = node.param(def.name) else {
                continue;
            };
            if let Some(problem) = super::passes::bad_close_code(value) {
                let by = def
                    .flag
                    .map_or_else(|| format!("parameter `{}`", def.name), |f| f.to_string());
                return Err(PlanError::new(
                    format!("{by} {value}: expected {problem}"),
                    Some(format!(
                        "use {} (RFC 6455, section 7.4)",
                        crate::ws::frame::VALID_CLOSE_CODES
                    )),
                )
                .into());
            }
        }
    }
    Ok(())
}

/// `exec:prog arg` runs a program literally named `prog arg`: probably not what was meant.
fn exec_name_with_space(plan: &mut Plan) {
    for chain in [&plan.left, &plan.right] {
        let leaf = chain.leaf();
        if leaf.kind.has(Trait::ProgramWithArgs)
            && leaf.arg.contains(' ')
            && leaf.param("args").is_none()
        {
            plan.warnings.push(format!(
                "`{}:{}` runs a program whose name contains a space; pass arguments with --exec-args (last on the command line) or use `sh-c:`",
                leaf.kind.name, leaf.arg
            ));
        }
    }
}

fn connector_overlay_over_listener(chain: &Chain) -> Result<(), Error> {
    if !chain.is_listener() {
        return Ok(());
    }
    if let Some(node) = chain
        .nodes
        .iter()
        .find(|n| n.kind.role == Role::ConnectorOverlay)
    {
        let span = chain.span_of(node);
        return Err(SpecProblem::new(
            "websocat::plan::overlay_over_listener",
            format!(
                "`{}:` manages outgoing connections and cannot wrap a listener",
                node.kind.name
            ),
            span.start,
            span.len,
        )
        .label("cannot go over a listener")
        .help("put it on the other side, which connects once per incoming connection")
        .into_error(chain.side, &chain.source)
        .into());
    }
    Ok(())
}

/// The flag that fills parameter `param` of `node`, for messages.
fn flag_of(node: &PlanNode, param: &str) -> &'static str {
    node.kind.param(param).and_then(|p| p.flag).unwrap_or("?")
}

/// A node with a TLS identity ([`Trait::TlsIdentity`]) has at most one; PEM certificates
/// need their key and vice versa; a required identity must be there.
fn tls_identity(chain: &Chain) -> Result<(), Error> {
    for node in &chain.nodes {
        let Some((required, what)) = node.kind.tls_identity() else {
            continue;
        };
        let (p12, cert, key) = (
            flag_of(node, "pkcs12"),
            flag_of(node, "cert"),
            flag_of(node, "key"),
        );
        let has = |k: &str| node.param(k).is_some();
        let problem = match (has("pkcs12"), has("cert"), has("key")) {
            (false, false, false) if required => Some((
                format!("{what} needs a certificate and private key"),
                format!(
                    "give {cert} FILE {key} FILE (PEM files) or {p12} FILE [--pkcs12-passwd PASS]"
                ),
            )),
            (true, true, _) | (true, _, true) => Some((
                format!("{what} is given both as PKCS#12 and as PEM"),
                format!("give either {p12} or {cert} + {key}"),
            )),
            (false, true, false) => Some((
                format!("{cert} needs {key}"),
                format!("give the private key for the certificate with {key} FILE"),
            )),
            (false, false, true) => Some((
                format!("{key} needs {cert}"),
                format!("give the certificate chain for the key with {cert} FILE"),
            )),
            _ if node.param_bool("client-cert-optional") && !has("client-ca") => Some((
                format!(
                    "{} needs {}",
                    flag_of(node, "client-cert-optional"),
                    flag_of(node, "client-ca")
                ),
                "give the CAs that client certificates are checked against with \
                 --tls-client-ca FILE"
                    .to_string(),
            )),
            _ => None,
        };
        if let Some((message, help)) = problem {
            let span = chain.span_of(node);
            return Err(SpecProblem::new(
                "websocat::plan::tls_identity",
                message,
                span.start,
                span.len,
            )
            .label(format!("`{}:` here", node.kind.name))
            .help(help)
            .into_error(chain.side, &chain.source)
            .into());
        }
    }
    Ok(())
}

/// websocat 1.x semantics: `tls-c:` ([`Trait::ChecksServerName`]) without a domain checks the
/// chain but not the name.
fn tls_client_without_domain(plan: &mut Plan) {
    let mut warn = Vec::new();
    for chain in [&plan.left, &plan.right] {
        for node in &chain.nodes {
            if node.kind.has(Trait::ChecksServerName)
                && node.param("domain").is_none()
                && !node.param_bool("insecure")
            {
                warn.push(format!(
                    "{}: `{name}:` has no domain, so the server certificate's name is not checked and no SNI is sent; give --tls-domain NAME or `{name}[domain=NAME]:`",
                    chain.side,
                    name = node.kind.name,
                ));
            }
        }
    }
    plan.warnings.extend(warn);
}

/// `--tls-domain` cannot change a domain already set, e.g. by a `wss://` URL (whose host is
/// checked, as in websocat 1.x); say so instead of silently ignoring it.
fn tls_domain_flag_overridden(plan: &mut Plan, opts: &PlanOptions) {
    let Some(flag) = &opts.tls_domain else {
        return;
    };
    let domains: Vec<&str> = [&plan.left, &plan.right]
        .iter()
        .flat_map(|c| c.nodes.iter())
        .filter(|n| n.kind.has(Trait::ChecksServerName))
        .filter_map(|n| n.param("domain"))
        .collect();
    if !domains.is_empty() && !domains.contains(&flag.as_str()) {
        plan.warnings.push(format!(
            "--tls-domain {flag} has no effect: the TLS client already checks `{}` (a wss:// URL checks its own host); to connect to one address and check another name write `ws-c[uri=wss://NAME/]:tls-c[domain=NAME]:tcp:ADDRESS:PORT`",
            domains[0]
        ));
    }
}

fn uses_stdio(chain: &Chain) -> bool {
    chain.leaf().kind.has(Trait::Stdio)
}

fn stdio_twice(plan: &Plan) -> Result<(), Error> {
    if uses_stdio(&plan.left) && uses_stdio(&plan.right) && !plan.copy.unidirectional {
        return Err(PlanError::new(
            "standard input/output is used on both sides",
            Some("`- -` alone copies stdin to stdout; otherwise replace one side".into()),
        )
        .into());
    }
    Ok(())
}

/// `--exec-args` cannot say which of two `exec:` nodes ([`Trait::ProgramWithArgs`]) it is for
/// (websocat 1.x refuses too).
fn exec_twice(plan: &Plan) -> Result<(), Error> {
    let program = |c: &Chain| {
        let leaf = c.leaf().kind;
        leaf.has(Trait::ProgramWithArgs).then_some(leaf.name)
    };
    if let (Some(name), Some(_)) = (program(&plan.left), program(&plan.right)) {
        return Err(PlanError::new(
            format!("`{name}:` is used on both sides"),
            Some("replace one of them with `sh-c:` (or `cmd:`), which takes its command line in the specifier".into()),
        )
        .into());
    }
    Ok(())
}

fn unused_flags(plan: &mut Plan, opts: &PlanOptions) {
    for flag in &opts.flags_warned_if_unused {
        let used = [&plan.left, &plan.right].iter().any(|c| {
            c.nodes
                .iter()
                .any(|n| n.kind.params.iter().any(|p| p.flag == Some(flag)))
        });
        if !used {
            plan.warnings.push(format!(
                "{flag} has no effect: no node of this command line takes it"
            ));
        }
    }
}

/// `autoreconnect:reuse:…` reconnects each client's view separately; the usual order is
/// `reuse:autoreconnect:…`, one shared connection that heals itself.
fn reconnect_outside_reuser(chain: &Chain) -> Option<String> {
    let pos = |t: Trait| chain.nodes.iter().position(|n| n.kind.has(t));
    let reconnect = pos(Trait::Reconnects)?;
    let reuser = pos(Trait::SharesInner)?;
    (reconnect < reuser).then(|| {
        let (reconnect, reuser) = (chain.nodes[reconnect].kind.name, chain.nodes[reuser].kind.name);
        format!(
            "{}: `{reconnect}:` outside `{reuser}:` reconnects to the shared connection, not the real one; \
             `{reuser}:{reconnect}:…` is usually meant",
            chain.side
        )
    })
}
