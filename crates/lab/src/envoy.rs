//! Envoy bootstrap configurations for the lab's proxies, written as JSON (Envoy reads a
//! bootstrap in JSON as readily as YAML, and serde_json needs no YAML library).

use std::path::Path;

use serde_json::{json, Value};

pub use meshbench_core::lab::{INBOUND_PORT, NODE_PORT, OUTBOUND_PORT, WAYPOINT_PORT};

/// One end of a mutual-TLS link: this proxy's certificate and key, the CA it trusts, and
/// the SPIFFE ID the peer must present.
#[derive(Debug, Clone, Copy)]
pub struct MutualTls<'a> {
    /// This proxy's certificate (PEM file).
    pub cert: &'a Path,
    /// Its key (PEM file).
    pub key: &'a Path,
    /// The CA (PEM file).
    pub ca: &'a Path,
    /// The SPIFFE ID the other end must present.
    pub peer: &'a str,
}

/// The TLS of a hop's two sides: `downstream` on its listener, `upstream` towards its
/// cluster; `None` is plaintext.
#[derive(Debug, Clone, Copy, Default)]
pub struct HopTls<'a> {
    /// Terminate mutual TLS on the listener.
    pub downstream: Option<MutualTls<'a>>,
    /// Originate mutual TLS to the upstream.
    pub upstream: Option<MutualTls<'a>>,
}

/// Envoy's `common_tls_context` for one end: present `cert`, trust `ca`, accept only
/// `peer`'s SPIFFE ID. No ALPN: the listener's codec infers HTTP/1.1 or HTTP/2 from the
/// bytes, as it does in plaintext.
fn tls_context(tls: &MutualTls<'_>) -> Value {
    json!({
        "tls_certificates": [{
            "certificate_chain": {"filename": tls.cert.display().to_string()},
            "private_key": {"filename": tls.key.display().to_string()}
        }],
        "validation_context": {
            "trusted_ca": {"filename": tls.ca.display().to_string()},
            "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"exact": tls.peer}}]
        }
    })
}

/// Envoy's admin listener inside each host (its own network namespace, so every proxy can
/// use the same port, as Istio's sidecars use 15000).
pub const ADMIN_PORT: u16 = 15000;
/// An L4 hop, a node proxy's shape: a listener on `listen` passing every connection's bytes
/// to `upstream` (Envoy's tcp_proxy: no HTTP parsing, no routing), with `tls` on either side.
pub fn tcp_hop(name: &str, listen: (&str, u16), upstream: (&str, u16), tls: HopTls<'_>) -> Value {
    let mut config = http_hop(name, listen, upstream, tls);
    config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"] = json!([{
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": name,
            "cluster": "upstream"
        }
    }]);
    // Bytes, not requests: no HTTP protocol options on the cluster.
    if let Some(cluster) = config["static_resources"]["clusters"][0].as_object_mut() {
        cluster.remove("typed_extension_protocol_options");
    }
    config
}

/// An L7 HTTP hop: a listener on `listen`, every request routed to `upstream`. HTTP/1.1
/// and HTTP/2 (h2c) both accepted downstream; upstream speaks what the downstream spoke, so
/// a gRPC (HTTP/2) run stays HTTP/2 end to end, as through a mesh's sidecars.
pub fn http_hop(name: &str, listen: (&str, u16), upstream: (&str, u16), tls: HopTls<'_>) -> Value {
    let mut config = json!({
        "node": {"id": name, "cluster": "meshbench-lab"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ADMIN_PORT}}},
        "static_resources": {
            "listeners": [{
                "name": format!("{name}-listener"),
                "address": {"socket_address": {"address": listen.0, "port_value": listen.1}},
                "filter_chains": [{
                    "filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": name,
                            "codec_type": "AUTO",
                            // WebSocket upgrades pass through, as a mesh's sidecars let them.
                            "upgrade_configs": [{"upgrade_type": "websocket"}],
                            "route_config": {
                                "name": "all",
                                "virtual_hosts": [{
                                    "name": "all",
                                    "domains": ["*"],
                                    "routes": [{
                                        "match": {"prefix": "/"},
                                        "route": {"cluster": "upstream", "timeout": "0s"}
                                    }]
                                }]
                            },
                            "http_filters": [{
                                "name": "envoy.filters.http.router",
                                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
                            }]
                        }
                    }]
                }]
            }],
            "clusters": [{
                "name": "upstream",
                "type": "STATIC",
                "connect_timeout": "2s",
                "load_assignment": {
                    "cluster_name": "upstream",
                    "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                        "address": upstream.0, "port_value": upstream.1
                    }}}}]}]
                },
                "typed_extension_protocol_options": {
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                        "use_downstream_protocol_config": {"http_protocol_options": {}, "http2_protocol_options": {}}
                    }
                }
            }]
        }
    });
    if let Some(down) = &tls.downstream {
        config["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"] = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "require_client_certificate": true,
                "common_tls_context": tls_context(down)
            }
        });
    }
    if let Some(up) = &tls.upstream {
        config["static_resources"]["clusters"][0]["transport_socket"] = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "common_tls_context": tls_context(up)
            }
        });
    }
    config
}

/// Each line of a connect log: the upstream connection's id, its TCP connect time and the
/// time to the end of its TLS handshake (µs; `-` without TLS).
const CONNECT_LOG_FORMAT: &str =
    "%UPSTREAM_CONNECTION_ID% %COMMON_DURATION(US_CX_BEG:US_CX_END:us)% \
     %COMMON_DURATION(US_CX_BEG:US_HS_END:us)%\n";

/// Makes an L7 hop log its upstream connections' connect and TLS handshake times to `path`,
/// a line per request (the connection's times repeated). Envoy's own histogram of connect
/// times counts whole milliseconds; a handshake on the lab's links takes less than one.
pub fn log_upstream_connects(config: &mut Value, path: &Path) {
    let log = json!([{
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": path.display().to_string(),
            "log_format": {"text_format_source": {"inline_string": CONNECT_LOG_FORMAT}}
        }
    }]);
    config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ["access_log"] = log;
}

/// The connect times of the connections in a connect log's `text`, one per connection id
/// (µs: to the end of the TLS handshake when there was one, else the TCP connect), and
/// whether they had TLS.
pub fn parse_connect_log(text: &str) -> (Vec<f64>, bool) {
    let mut seen: Vec<&str> = Vec::new();
    let mut times = Vec::new();
    let mut tls = false;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(id), Some(connect), Some(handshake)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if id == "-" || seen.contains(&id) {
            continue;
        }
        let time = match handshake.parse::<f64>() {
            Ok(h) => {
                tls = true;
                h
            }
            Err(_) => match connect.parse::<f64>() {
                Ok(c) => c,
                // A request that found no connection ready (or none at all) says nothing of
                // connecting.
                Err(_) => continue,
            },
        };
        seen.push(id);
        times.push(time);
    }
    (times, tls)
}

#[cfg(test)]
mod tests {
    #[test]
    fn connect_logs_count_each_connection_once() {
        let (times, tls) = parse_connect_log("1 25 868\n1 25 868\n5 5 493\n- - -\n7 76 -\n");
        assert_eq!(times, [868.0, 493.0, 76.0]);
        assert!(tls);
        let (times, tls) = parse_connect_log("3 40 -\n3 40 -\n");
        assert_eq!(times, [40.0]);
        assert!(!tls);
    }

    use super::*;

    #[test]
    fn a_node_proxy_passes_bytes_without_parsing_http() {
        let c = tcp_hop(
            "client-node",
            ("127.0.0.1", OUTBOUND_PORT),
            ("10.77.0.2", NODE_PORT),
            HopTls::default(),
        );
        let filter = &c["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0];
        assert_eq!(filter["name"], "envoy.filters.network.tcp_proxy");
        assert!(c["static_resources"]["clusters"][0]["typed_extension_protocol_options"].is_null());
    }

    #[test]
    fn a_hop_listens_and_routes_where_it_is_told() {
        let c = http_hop(
            "client-sidecar",
            ("127.0.0.1", OUTBOUND_PORT),
            ("10.77.0.2", INBOUND_PORT),
            HopTls::default(),
        );
        assert!(c["static_resources"]["clusters"][0]["transport_socket"].is_null());
        let listener = &c["static_resources"]["listeners"][0]["address"]["socket_address"];
        assert_eq!(listener["port_value"], OUTBOUND_PORT);
        let endpoint = &c["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]
            ["lb_endpoints"][0]["endpoint"]["address"]["socket_address"];
        assert_eq!(endpoint["address"], "10.77.0.2");
        assert_eq!(endpoint["port_value"], INBOUND_PORT);
    }
}
