//! The proxy environment variables, read by the caller so that the planner does no I/O; the
//! `proxy` pass ([`super::proxy`]) reads them from [`super::PlanOptions`].

/// Proxy settings from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    /// `HTTP_PROXY` / `http_proxy`: for `ws://` URLs.
    pub http: Option<String>,
    /// `HTTPS_PROXY` / `https_proxy`: for `wss://` URLs.
    pub https: Option<String>,
    /// `NO_PROXY` / `no_proxy`: comma-separated hosts or domains that go direct.
    pub no_proxy: Option<String>,
}

impl ProxyEnv {
    /// Reads the variables (upper case first, then lower case); empty values count as unset.
    pub fn from_env() -> ProxyEnv {
        let get = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        ProxyEnv {
            http: get(["HTTP_PROXY", "http_proxy"]),
            https: get(["HTTPS_PROXY", "https_proxy"]),
            no_proxy: get(["NO_PROXY", "no_proxy"]),
        }
    }
}
