//! The mesh lab's vocabulary: its topologies, the ports their hops listen on, and what a run
//! through the lab records beside its result (the topology, the Envoy version, what each
//! proxy cost, where the latency went). The lab itself (namespaces, processes) is
//! `meshbench-lab`; these are the types the API, the store and the worker share.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::hops::{breakdown, mean_breakdown, HopBreakdown, HopError, HopPercentile};
use crate::BenchmarkResult;

/// The application's (built-in target's) port in the server host.
pub const APP_PORT: u16 = 8080;
/// The outbound listener of a client sidecar or node proxy (Istio's outbound capture port).
pub const OUTBOUND_PORT: u16 = 15001;
/// The inbound listener of a server sidecar (Istio's inbound capture port).
pub const INBOUND_PORT: u16 = 15006;
/// The port a node proxy accepts mutual TLS on from other hosts' node proxies (ambient's
/// ztunnel listens for HBONE on 15008; the lab's node proxies speak plain TLS there).
pub const NODE_PORT: u16 = 15008;
/// The port the lab's waypoint accepts mutual TLS on (ambient's waypoints take HBONE on
/// 15008 too; the lab gives the waypoint a port of its own so that the eBPF probe, which
/// tells hops apart by port, sees its sockets alone).
pub const WAYPOINT_PORT: u16 = 15009;

/// Where the proxies stand between client and server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum LabTopology {
    /// No proxy: the client sends straight to the application.
    Baseline,
    /// An Envoy beside the client (outbound, L7) and one beside the server (inbound, L7), as
    /// Istio's sidecar mode places them.
    Sidecar,
    /// The same, with mutual TLS between the two proxies: certificates from a CA the lab
    /// makes, each with its host's SPIFFE ID, each proxy accepting only the other's.
    SidecarMtls,
    /// One shared L4 proxy per host, mutual TLS between them, no HTTP processing: the shape
    /// of Istio ambient's ztunnel (which tunnels over HBONE; the lab's proxies speak TLS).
    NodeProxy,
    /// The node proxies plus an L7 Envoy waypoint on a third host in front of the server,
    /// as ambient adds a waypoint for L7 policy: client node proxy → waypoint → server node
    /// proxy → application, mutual TLS on every hop between hosts.
    NodeProxyWaypoint,
}

/// A topology name meshbench does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown topology `{0}` (baseline, sidecar, sidecar-mtls, node-proxy, node-proxy-waypoint)"
)]
pub struct UnknownTopology(pub String);

impl LabTopology {
    /// Every topology, in the order comparisons list them.
    pub const ALL: [LabTopology; 5] = [
        LabTopology::Baseline,
        LabTopology::Sidecar,
        LabTopology::SidecarMtls,
        LabTopology::NodeProxy,
        LabTopology::NodeProxyWaypoint,
    ];

    /// The name on the command line, in requests and in results.
    pub fn as_str(self) -> &'static str {
        match self {
            LabTopology::Baseline => "baseline",
            LabTopology::Sidecar => "sidecar",
            LabTopology::SidecarMtls => "sidecar-mtls",
            LabTopology::NodeProxy => "node-proxy",
            LabTopology::NodeProxyWaypoint => "node-proxy-waypoint",
        }
    }

    /// Whether the topology has proxies (and so needs Envoy).
    pub fn has_proxies(self) -> bool {
        self != LabTopology::Baseline
    }

    /// The path's hops, client side first: each hop's server end (named as its process is,
    /// `application` for the target) and the port it listens on. Every hop has a port of its
    /// own, so a probe filtered by port sees that hop's sockets alone.
    pub fn hops(self) -> Vec<(&'static str, u16)> {
        match self {
            LabTopology::Baseline => vec![("application", APP_PORT)],
            LabTopology::Sidecar | LabTopology::SidecarMtls => vec![
                ("client-sidecar", OUTBOUND_PORT),
                ("server-sidecar", INBOUND_PORT),
                ("application", APP_PORT),
            ],
            LabTopology::NodeProxy => vec![
                ("client-node", OUTBOUND_PORT),
                ("server-node", NODE_PORT),
                ("application", APP_PORT),
            ],
            LabTopology::NodeProxyWaypoint => vec![
                ("client-node", OUTBOUND_PORT),
                ("waypoint", WAYPOINT_PORT),
                ("server-node", NODE_PORT),
                ("application", APP_PORT),
            ],
        }
    }
}

impl fmt::Display for LabTopology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LabTopology {
    type Err = UnknownTopology;

    fn from_str(s: &str) -> Result<LabTopology, UnknownTopology> {
        LabTopology::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTopology(s.to_string()))
    }
}

/// One proxy's cost over a run: CPU (user + system, all threads) and peak memory, read from
/// /proc around the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyCost {
    /// The proxy (`client-sidecar`, `waypoint`, …).
    pub name: String,
    /// CPU seconds it used during the run.
    pub cpu_s: f64,
    /// CPU per 1,000 requests per second of the run's throughput, millicores.
    pub millicores_per_1k_rps: f64,
    /// Its peak resident memory (VmHWM), bytes.
    pub peak_rss_bytes: u64,
    /// The connections it opened to the next host during the run and how long each took to
    /// be ready (TCP connect, and the TLS handshake when the hop has mutual TLS): for the
    /// proxies whose upstream is on another host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_connects: Option<UpstreamConnects>,
}

/// A proxy's new connections to the next host, from its own timings (Envoy's
/// `US_CX_BEG` → `US_HS_END`, or → `US_CX_END` without TLS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamConnects {
    /// Connections opened.
    pub connections: u64,
    /// Whether they had a TLS handshake.
    pub tls: bool,
    /// Median time to ready, µs.
    pub p50_us: f64,
    /// Longest, µs.
    pub max_us: f64,
}

impl UpstreamConnects {
    /// The summary of `times` (µs); `None` when there are none.
    pub fn of(times: &[f64], tls: bool) -> Option<UpstreamConnects> {
        if times.is_empty() {
            return None;
        }
        let mut sorted = times.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let p50 = if sorted.len().is_multiple_of(2) {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        } else {
            sorted[mid]
        };
        Some(UpstreamConnects {
            connections: sorted.len() as u64,
            tls,
            p50_us: p50,
            max_us: sorted[sorted.len() - 1],
        })
    }
}

impl ProxyCost {
    /// The cost of a proxy that used `cpu_ns` over `wall_s` seconds of a run of `rps`.
    pub fn of(name: &str, cpu_ns: u64, wall_s: f64, rps: f64, peak_rss_bytes: u64) -> ProxyCost {
        let cpu_s = cpu_ns as f64 / 1e9;
        let krps = (rps / 1000.0).max(f64::MIN_POSITIVE);
        ProxyCost {
            name: name.to_string(),
            cpu_s,
            millicores_per_1k_rps: cpu_s / wall_s.max(f64::MIN_POSITIVE) * 1000.0 / krps,
            peak_rss_bytes,
            upstream_connects: None,
        }
    }

    /// Each proxy's mean CPU and largest peak memory over several runs (proxies matched by
    /// name, in order of first appearance).
    pub fn mean(runs: &[&[ProxyCost]]) -> Vec<ProxyCost> {
        let mut names: Vec<&str> = Vec::new();
        for run in runs {
            for p in run.iter() {
                if !names.contains(&p.name.as_str()) {
                    names.push(&p.name);
                }
            }
        }
        names
            .into_iter()
            .map(|name| {
                let all: Vec<&ProxyCost> = runs
                    .iter()
                    .flat_map(|r| r.iter().filter(|p| p.name == name))
                    .collect();
                let n = all.len().max(1) as f64;
                ProxyCost {
                    name: name.to_string(),
                    cpu_s: all.iter().map(|p| p.cpu_s).sum::<f64>() / n,
                    millicores_per_1k_rps: all.iter().map(|p| p.millicores_per_1k_rps).sum::<f64>()
                        / n,
                    peak_rss_bytes: all.iter().map(|p| p.peak_rss_bytes).max().unwrap_or(0),
                    upstream_connects: mean_connects(&all),
                }
            })
            .collect()
    }
}

/// Several runs' connects of one proxy: all connections, the mean of the medians, the
/// longest.
fn mean_connects(all: &[&ProxyCost]) -> Option<UpstreamConnects> {
    let runs: Vec<&UpstreamConnects> = all
        .iter()
        .filter_map(|p| p.upstream_connects.as_ref())
        .collect();
    if runs.is_empty() {
        return None;
    }
    Some(UpstreamConnects {
        connections: runs.iter().map(|c| c.connections).sum(),
        tls: runs.iter().any(|c| c.tls),
        p50_us: runs.iter().map(|c| c.p50_us).sum::<f64>() / runs.len() as f64,
        max_us: runs.iter().map(|c| c.max_us).fold(0.0, f64::max),
    })
}

/// Where a topology's latency goes at p50 and p99, with the client's measured latency at the
/// same percentiles beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabHops {
    /// The median split into hops.
    pub p50: HopBreakdown,
    /// The 99th percentile split into hops.
    pub p99: HopBreakdown,
    /// The client's measured p50, µs.
    pub client_p50_us: f64,
    /// The client's measured p99, µs.
    pub client_p99_us: f64,
}

impl LabHops {
    /// The mean breakdown over `results` (runs of one topology with `kernel_hops`); `None`
    /// when none of them probed its hops.
    pub fn of(results: &[&BenchmarkResult]) -> Result<Option<LabHops>, HopError> {
        let probed: Vec<&&BenchmarkResult> = results
            .iter()
            .filter(|r| !r.kernel_hops.is_empty())
            .collect();
        if probed.is_empty() {
            return Ok(None);
        }
        let split = |q: HopPercentile| -> Result<Vec<HopBreakdown>, HopError> {
            probed
                .iter()
                .map(|r| breakdown(&r.kernel_hops, q))
                .collect()
        };
        let (Some(p50), Some(p99)) = (
            mean_breakdown(&split(HopPercentile::P50)?),
            mean_breakdown(&split(HopPercentile::P99)?),
        ) else {
            return Ok(None);
        };
        let n = probed.len() as f64;
        Ok(Some(LabHops {
            p50,
            p99,
            client_p50_us: probed.iter().map(|r| r.latency_us.p50 as f64).sum::<f64>() / n,
            client_p99_us: probed.iter().map(|r| r.latency_us.p99 as f64).sum::<f64>() / n,
        }))
    }
}

/// What a run through the lab records beside its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabRecord {
    /// The topology the run went through.
    pub topology: LabTopology,
    /// The proxies' Envoy version (none for baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_version: Option<String>,
    /// What each proxy cost during the run.
    #[serde(default)]
    pub proxies: Vec<ProxyCost>,
    /// Where the latency went, when the run probed its hops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hops: Option<LabHops>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topologies_round_trip_their_names() {
        for t in LabTopology::ALL {
            assert_eq!(t.as_str().parse::<LabTopology>(), Ok(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
        }
        assert!("istio".parse::<LabTopology>().is_err());
    }

    #[test]
    fn every_hop_has_a_port_of_its_own_and_ends_at_the_application() {
        for t in LabTopology::ALL {
            let hops = t.hops();
            let mut ports: Vec<u16> = hops.iter().map(|h| h.1).collect();
            ports.sort_unstable();
            ports.dedup();
            assert_eq!(ports.len(), hops.len(), "{t}");
            assert_eq!(hops.last(), Some(&("application", APP_PORT)), "{t}");
        }
    }

    #[test]
    fn connects_summarise_their_times() {
        let c = UpstreamConnects::of(&[900.0, 500.0, 1000.0, 700.0], true).unwrap();
        assert_eq!((c.connections, c.p50_us, c.max_us), (4, 800.0, 1000.0));
        assert!(UpstreamConnects::of(&[], false).is_none());
    }

    #[test]
    fn proxy_cost_is_per_thousand_requests_per_second() {
        // Half a core for 2 s at 2,000 req/s: 500 millicores, 250 per 1k req/s.
        let c = ProxyCost::of("p", 1_000_000_000, 2.0, 2000.0, 1 << 20);
        assert!((c.millicores_per_1k_rps - 250.0).abs() < 1e-9);
        let other = ProxyCost::of("p", 3_000_000_000, 2.0, 2000.0, 2 << 20);
        let mean = ProxyCost::mean(&[&[c], &[other]]);
        assert_eq!(mean.len(), 1);
        assert!((mean[0].cpu_s - 2.0).abs() < 1e-9);
        assert_eq!(mean[0].peak_rss_bytes, 2 << 20);
    }
}
