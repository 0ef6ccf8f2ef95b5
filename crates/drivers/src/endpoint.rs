//! Where the load goes: scheme, host, port and the address it resolved to, worked out once
//! before the run so no request pays for name resolution.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::{Error, Result};

/// A resolved target origin.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `true` for `https://` and `wss://`.
    pub tls: bool,
    /// Host as written in the URL (used for SNI and the Host header).
    pub host: String,
    /// Port, explicit or the scheme's default.
    pub port: u16,
    /// The address connections go to.
    pub addr: SocketAddr,
    /// `host[:port]` as the Host header / :authority carries it.
    pub authority: String,
}

impl Endpoint {
    /// Parses and resolves the origin of `url`.
    pub fn resolve(url: &str) -> Result<Endpoint> {
        let parsed = url::Url::parse(url)
            .map_err(|e| meshbench_core::Error::invalid("url", format!("`{url}`: {e}")))?;
        let tls = matches!(parsed.scheme(), "https" | "wss" | "grpcs");
        let host = parsed
            .host_str()
            .ok_or_else(|| meshbench_core::Error::invalid("url", format!("`{url}` has no host")))?
            .to_string();
        let port = parsed
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addr = (bare, port)
            .to_socket_addrs()
            .map_err(|source| Error::Dns {
                host: host.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| Error::NoAddress { host: host.clone() })?;
        let default_port = if tls { 443 } else { 80 };
        let authority = if port == default_port {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        Ok(Endpoint {
            tls,
            host,
            port,
            addr,
            authority,
        })
    }
}
