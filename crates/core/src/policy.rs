//! Where the platform may aim load: the target allow-list (`MESHBENCH_TARGET_ALLOW`).
//!
//! A server that starts load generators for whoever can reach it must not be a way to flood,
//! or to reach, what its operator did not mean it to (other hosts, a cloud's metadata
//! address, the cluster's own services). The list is comma-separated entries, each
//! `host[:port]` (a DNS name, `*.suffix` for every name under a suffix, or an IP address,
//! IPv6 in brackets) or `CIDR[:port]` (`10.0.0.0/8`, `[fd00::]/8:8080`); an entry without a
//! port allows every port. A target is allowed when a name entry names its host, or when
//! *every* address its name resolves to lies in an address entry: a name that resolves into
//! a forbidden range is refused even if it also resolves elsewhere. The default is loopback
//! only (the built-in target lives there).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{Error, Result};

/// The environment variable the list is read from.
pub const TARGET_ALLOW_VAR: &str = "MESHBENCH_TARGET_ALLOW";

/// What an entry matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleHost {
    /// A host name, lower case (`*.suffix` matches every name under the suffix).
    Name(String),
    /// Every address whose first `prefix` bits are `network`'s.
    Range {
        /// The network address.
        network: IpAddr,
        /// Bits that must match.
        prefix: u8,
    },
}

/// One entry of the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRule {
    /// The hosts it allows.
    pub host: RuleHost,
    /// The one port it allows; `None`: every port.
    pub port: Option<u16>,
    text: String,
}

impl fmt::Display for TargetRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TargetRule {
    /// Parses one entry (see the module's docs).
    pub fn parse(entry: &str) -> Result<TargetRule> {
        let text = entry.trim();
        let bad = |why: &str| Error::invalid(TARGET_ALLOW_VAR, format!("`{text}`: {why}"));
        if text.is_empty() {
            return Err(bad("an empty entry"));
        }
        let port_of = |p: &str| -> Result<u16> {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port must be 1-65535"))
        };
        // Split into (host part, optional /prefix, optional :port).
        let (host, prefix, port) = if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(|| bad("no `]`"))?;
            let (prefix, port) = match after.strip_prefix('/') {
                Some(p) => match p.split_once(':') {
                    Some((prefix, port)) => (Some(prefix), Some(port)),
                    None => (Some(p), None),
                },
                None => match after.strip_prefix(':') {
                    Some(port) => (None, Some(port)),
                    None if after.is_empty() => (None, None),
                    None => return Err(bad("unexpected text after `]`")),
                },
            };
            (inside, prefix, port)
        } else if text.parse::<Ipv6Addr>().is_ok() {
            (text, None, None)
        } else if let Some((address, rest)) = text.split_once('/') {
            if address.contains(':') && address.parse::<Ipv6Addr>().is_ok() {
                // `fd00::/8`: a bare IPv6 range takes no port (write `[fd00::]/8:80`).
                (address, Some(rest), None)
            } else {
                match rest.split_once(':') {
                    Some((prefix, port)) => (address, Some(prefix), Some(port)),
                    None => (address, Some(rest), None),
                }
            }
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, None, Some(port)),
                None => (text, None, None),
            }
        };
        let port = port.map(port_of).transpose()?;
        let host = match (host.parse::<IpAddr>(), prefix) {
            (Ok(address), prefix) => {
                let bits = if address.is_ipv4() { 32 } else { 128 };
                let prefix = match prefix {
                    Some(p) => p
                        .parse::<u8>()
                        .ok()
                        .filter(|p| *p <= bits)
                        .ok_or_else(|| bad(&format!("the prefix must be 0-{bits}")))?,
                    None => bits,
                };
                RuleHost::Range {
                    network: address,
                    prefix,
                }
            }
            (Err(_), Some(_)) => return Err(bad("a range needs an IP address before `/`")),
            (Err(_), None) => {
                let name = host.trim_end_matches('.').to_ascii_lowercase();
                let label = name.strip_prefix("*.").unwrap_or(&name);
                let valid = !label.is_empty()
                    && label.split('.').all(|part| {
                        !part.is_empty()
                            && part.len() <= 63
                            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    });
                if !valid {
                    return Err(bad("not a host name, address or range"));
                }
                RuleHost::Name(name)
            }
        };
        Ok(TargetRule {
            host,
            port,
            text: text.to_string(),
        })
    }

    fn allows_port(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }

    fn allows_name(&self, host: &str, port: u16) -> bool {
        let RuleHost::Name(name) = &self.host else {
            return false;
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let named = match name.strip_prefix("*.") {
            Some(suffix) => host
                .strip_suffix(suffix)
                .is_some_and(|head| head.ends_with('.') && head.len() > 1),
            None => host == *name,
        };
        named && self.allows_port(port)
    }

    fn allows_address(&self, address: IpAddr, port: u16) -> bool {
        let RuleHost::Range { network, prefix } = self.host else {
            return false;
        };
        self.allows_port(port) && in_range(canonical(address), canonical(network), prefix)
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as the IPv4 address it is.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn in_range(address: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The allow-list: which hosts and ports load may be aimed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPolicy {
    rules: Vec<TargetRule>,
    /// Whether the list is the default one (said in refusals, so an operator knows where to
    /// change it).
    default: bool,
}

impl Default for TargetPolicy {
    fn default() -> Self {
        TargetPolicy::loopback()
    }
}

impl TargetPolicy {
    /// The default: loopback only (`127.0.0.0/8`, `[::1]`).
    pub fn loopback() -> TargetPolicy {
        TargetPolicy {
            rules: vec![
                TargetRule {
                    host: RuleHost::Range {
                        network: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                        prefix: 8,
                    },
                    port: None,
                    text: "127.0.0.0/8".into(),
                },
                TargetRule {
                    host: RuleHost::Range {
                        network: IpAddr::V6(Ipv6Addr::LOCALHOST),
                        prefix: 128,
                    },
                    port: None,
                    text: "[::1]".into(),
                },
            ],
            default: true,
        }
    }

    /// Parses a comma-separated list (`MESHBENCH_TARGET_ALLOW`); it replaces the default.
    pub fn parse(list: &str) -> Result<TargetPolicy> {
        let rules = list
            .split(',')
            .filter(|e| !e.trim().is_empty())
            .map(TargetRule::parse)
            .collect::<Result<Vec<_>>>()?;
        if rules.is_empty() {
            return Err(Error::invalid(
                TARGET_ALLOW_VAR,
                "is empty: list at least one host, address or range",
            ));
        }
        Ok(TargetPolicy {
            rules,
            default: false,
        })
    }

    /// The entries, in order.
    pub fn rules(&self) -> &[TargetRule] {
        &self.rules
    }

    /// The list as it would be written in `MESHBENCH_TARGET_ALLOW`.
    pub fn describe(&self) -> String {
        self.rules
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether a name entry allows `host` at `port` outright (no resolution needed).
    pub fn allows_name(&self, host: &str, port: u16) -> bool {
        self.rules.iter().any(|r| r.allows_name(host, port))
    }

    /// Checks `url`'s target, resolving its host name with `resolve` (host, port → its
    /// addresses, or why not) unless a name entry allows it as written: every address it
    /// resolves to must be allowed. The caller brings the resolver: this crate does no I/O.
    pub async fn check_url<F, Fut>(
        &self,
        url: &str,
        resolve: F,
    ) -> std::result::Result<(), UrlRefusal>
    where
        F: FnOnce(String, u16) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<Vec<IpAddr>, String>>,
    {
        let (host, port) = url_host_port(url).ok_or(UrlRefusal::NoHost)?;
        if self.allows_name(&host, port) {
            return Ok(());
        }
        let addresses = match host.parse::<IpAddr>() {
            Ok(address) => vec![address],
            Err(_) => resolve(host.clone(), port)
                .await
                .map_err(UrlRefusal::Unresolved)?,
        };
        self.check(&host, port, &addresses)
            .map_err(UrlRefusal::Forbidden)
    }

    /// Checks a target: `host` as written in its URL, at `port`, whose name resolved to
    /// `addresses` (for an IP address, the address itself). The refusal says which address
    /// no entry allows, and what the list is.
    pub fn check(
        &self,
        host: &str,
        port: u16,
        addresses: &[IpAddr],
    ) -> std::result::Result<(), String> {
        if self.allows_name(host, port) {
            return Ok(());
        }
        if addresses.is_empty() {
            return Err(format!("`{host}` resolves to no address"));
        }
        for &address in addresses {
            if !self.rules.iter().any(|r| r.allows_address(address, port)) {
                let shown = match address {
                    IpAddr::V6(v6) => format!("[{v6}]:{port}"),
                    v4 => format!("{v4}:{port}"),
                };
                let via = if host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
                    String::new()
                } else {
                    format!(" (`{host}` resolves there)")
                };
                let list = if self.default {
                    format!(
                        "the default allow-list ({}; set {TARGET_ALLOW_VAR} to change it)",
                        self.describe()
                    )
                } else {
                    format!("{TARGET_ALLOW_VAR} ({})", self.describe())
                };
                return Err(format!("{shown}{via} is not allowed by {list}"));
            }
        }
        Ok(())
    }
}

/// The host (as written, brackets kept off IPv6) and port a target URL connects to; the
/// port defaults to 443 for the TLS schemes (`https`, `wss`, `grpcs`) and 80 for the rest.
pub fn url_host_port(url: &str) -> Option<(String, u16)> {
    let u = url::Url::parse(url).ok()?;
    let tls = matches!(u.scheme(), "https" | "wss" | "grpcs");
    let host = match u.host()? {
        url::Host::Domain(d) => d.to_string(),
        url::Host::Ipv4(a) => a.to_string(),
        url::Host::Ipv6(a) => a.to_string(),
    };
    Some((
        host,
        u.port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 }),
    ))
}

/// The environment variable with the namespaces runs, probes and cluster views may use.
pub const NAMESPACE_ALLOW_VAR: &str = "MESHBENCH_NAMESPACE_ALLOW";

/// Which Kubernetes namespaces load may be deployed into, probes may watch and the cluster
/// views may show: comma-separated names, each possibly ending in `*` (`bench-*`); `*` or
/// unset is every namespace (where load may be aimed is the target policy's to say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespacePolicy {
    /// `None`: every namespace.
    patterns: Option<Vec<String>>,
}

impl NamespacePolicy {
    /// Every namespace.
    pub fn any() -> NamespacePolicy {
        NamespacePolicy::default()
    }

    /// Reads `team-a,bench-*` (`*` alone: every namespace).
    pub fn parse(text: &str) -> Result<NamespacePolicy> {
        let mut patterns = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                return Ok(NamespacePolicy::any());
            }
            let name = entry.strip_suffix('*').unwrap_or(entry);
            let ok = !name.is_empty()
                && name.len() <= 63
                && !name.contains('*')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Err(Error::invalid(
                    "namespaces",
                    format!("`{entry}` is not a namespace name or a name prefix ending in `*`"),
                ));
            }
            patterns.push(entry.to_string());
        }
        if patterns.is_empty() {
            return Err(Error::invalid(
                "namespaces",
                "give at least one namespace (or `*` for every one)",
            ));
        }
        Ok(NamespacePolicy {
            patterns: Some(patterns),
        })
    }

    /// Whether `namespace` is allowed.
    pub fn allows(&self, namespace: &str) -> bool {
        match &self.patterns {
            None => true,
            Some(patterns) => patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => namespace.starts_with(prefix),
                None => namespace == p,
            }),
        }
    }

    /// `Ok`, or why `namespace` is refused (naming the variable and the list).
    pub fn check(&self, namespace: &str) -> std::result::Result<(), String> {
        if self.allows(namespace) {
            Ok(())
        } else {
            Err(format!(
                "namespace `{namespace}` is not in {NAMESPACE_ALLOW_VAR} ({})",
                self.describe()
            ))
        }
    }

    /// The list as configured.
    pub fn describe(&self) -> String {
        match &self.patterns {
            None => "*".to_string(),
            Some(p) => p.join(","),
        }
    }
}

/// Why [`TargetPolicy::check_url`] refused a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlRefusal {
    /// The URL names no host.
    NoHost,
    /// Its host name did not resolve (why), so it cannot be checked.
    Unresolved(String),
    /// The policy does not allow it (why, naming the address and the list).
    Forbidden(String),
}

impl std::fmt::Display for UrlRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlRefusal::NoHost => f.write_str("the URL has no host"),
            UrlRefusal::Unresolved(why) | UrlRefusal::Forbidden(why) => f.write_str(why),
        }
    }
}

/// What a redacted secret reads as.
pub const REDACTED: &str = "<redacted>";

/// Whether a header (or gRPC metadata key) named `name` carries a credential.
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || [
        "token",
        "secret",
        "password",
        "api-key",
        "apikey",
        "x-api-key",
    ]
    .iter()
    .any(|part| name.contains(part))
}

/// A start request (as stored) with the values of its secret `headers` and `metadata`
/// replaced by [`REDACTED`]: what listings, results and reports show.
pub fn redact_secrets(request: &serde_json::Value) -> serde_json::Value {
    let mut shown = request.clone();
    for field in ["headers", "metadata"] {
        if let Some(map) = shown.get_mut(field).and_then(|v| v.as_object_mut()) {
            for (name, value) in map.iter_mut() {
                if is_secret_header(name) {
                    *value = serde_json::Value::String(REDACTED.to_string());
                }
            }
        }
    }
    shown
}

/// Serializes a stored request redacted (for `#[serde(serialize_with)]`).
pub fn serialize_redacted<S: serde::Serializer>(
    request: &serde_json::Value,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&redact_secrets(request), serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_allows_loopback_only() {
        let p = TargetPolicy::default();
        assert!(p.check("127.0.0.1", 8080, &[ip("127.0.0.1")]).is_ok());
        assert!(p.check("127.1.2.3", 1, &[ip("127.1.2.3")]).is_ok());
        assert!(p
            .check("localhost", 80, &[ip("127.0.0.1"), ip("::1")])
            .is_ok());
        assert!(p
            .check("[::ffff:127.0.0.1]", 80, &[ip("::ffff:127.0.0.1")])
            .is_ok());
        let err = p
            .check("169.254.169.254", 80, &[ip("169.254.169.254")])
            .unwrap_err();
        assert!(
            err.contains("169.254.169.254:80") && err.contains(TARGET_ALLOW_VAR),
            "{err}"
        );
        let err = p
            .check("evil.example", 80, &[ip("127.0.0.1"), ip("10.0.0.1")])
            .unwrap_err();
        assert!(
            err.contains("10.0.0.1:80") && err.contains("`evil.example` resolves"),
            "{err}"
        );
        assert!(p.check("nowhere.example", 80, &[]).is_err());
    }

    #[test]
    fn entries_of_every_form() {
        let p = TargetPolicy::parse(
            " 10.0.0.0/8:8080, 192.168.1.5, [fd00::]/8, [::1]:9000, api.example.com:443, *.svc.cluster.local, 2001:db8::/32 ",
        )
        .unwrap();
        assert_eq!(p.rules().len(), 7);
        assert!(p.check("10.1.2.3", 8080, &[ip("10.1.2.3")]).is_ok());
        assert!(p.check("10.1.2.3", 80, &[ip("10.1.2.3")]).is_err());
        assert!(p.check("192.168.1.5", 1, &[ip("192.168.1.5")]).is_ok());
        assert!(p.check("192.168.1.6", 1, &[ip("192.168.1.6")]).is_err());
        assert!(p.check("x", 5, &[ip("fd12::1")]).is_ok());
        assert!(p.check("[::1]", 9000, &[ip("::1")]).is_ok());
        assert!(p.check("[::1]", 9001, &[ip("::1")]).is_err());
        assert!(p.check("2001:db8::5", 9, &[ip("2001:db8::5")]).is_ok());
        // Names: allowed as named, whatever they resolve to.
        assert!(p.check("API.example.com.", 443, &[ip("8.8.8.8")]).is_ok());
        assert!(p.check("api.example.com", 80, &[ip("8.8.8.8")]).is_err());
        assert!(p.check("echo.default.svc.cluster.local", 80, &[]).is_ok());
        assert!(p.check("svc.cluster.local", 80, &[ip("8.8.8.8")]).is_err());
        assert!(p
            .check("evilsvc.cluster.local", 80, &[ip("8.8.8.8")])
            .is_err());
        // A list replaces the default.
        assert!(p.check("127.0.0.1", 80, &[ip("127.0.0.1")]).is_err());
    }

    #[test]
    fn urls_give_their_host_and_port() {
        let hp = |u: &str| url_host_port(u).unwrap();
        assert_eq!(hp("http://Example.com/x"), ("example.com".into(), 80));
        assert_eq!(hp("grpcs://10.0.0.1"), ("10.0.0.1".into(), 443));
        assert_eq!(hp("grpc://10.0.0.1:50051"), ("10.0.0.1".into(), 50051));
        assert_eq!(hp("ws://[::1]:9/ws"), ("::1".into(), 9));
        assert!(url_host_port("not a url").is_none());
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.1:0",
            "10.0.0.1:http",
            "[::1",
            "host/8",
            "a b",
            "[::1]x",
        ] {
            let err = TargetPolicy::parse(bad).unwrap_err().to_string();
            assert!(err.contains(TARGET_ALLOW_VAR), "{bad}: {err}");
        }
        assert!(TargetRule::parse("0.0.0.0/0").is_ok());
    }

    #[test]
    fn secret_headers_are_redacted_and_others_kept() {
        let request = serde_json::json!({
            "service_url": "http://127.0.0.1:8080/",
            "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k", "Accept": "text/plain",
                        "X-Session-Token": "t"},
            "metadata": {"authorization": "Bearer grpc", "x-tenant": "blue"}
        });
        let shown = redact_secrets(&request);
        assert_eq!(shown["headers"]["Authorization"], REDACTED);
        assert_eq!(shown["headers"]["X-Api-Key"], REDACTED);
        assert_eq!(shown["headers"]["X-Session-Token"], REDACTED);
        assert_eq!(shown["headers"]["Accept"], "text/plain");
        assert_eq!(shown["metadata"]["authorization"], REDACTED);
        assert_eq!(shown["metadata"]["x-tenant"], "blue");
        assert_eq!(shown["service_url"], request["service_url"]);
        assert!(!shown.to_string().contains("Bearer"));
        // Anything else passes as it is.
        assert_eq!(redact_secrets(&serde_json::json!(3)), serde_json::json!(3));
    }

    #[test]
    fn namespaces_by_name_and_prefix() {
        let policy = NamespacePolicy::parse("team-a, bench-*").unwrap();
        assert!(policy.allows("team-a"));
        assert!(policy.allows("bench-1"));
        assert!(!policy.allows("team-ab"));
        assert!(!policy.allows("kube-system"));
        let refused = policy.check("kube-system").unwrap_err();
        assert!(
            refused.contains(NAMESPACE_ALLOW_VAR) && refused.contains("bench-*"),
            "{refused}"
        );
        assert!(NamespacePolicy::parse("*").unwrap().allows("kube-system"));
        assert!(NamespacePolicy::any().allows("anything"));
        for bad in ["", "Team", "a*b", "*x", " , "] {
            assert!(NamespacePolicy::parse(bad).is_err(), "{bad}");
        }
    }
}
