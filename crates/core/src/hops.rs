//! Where a request's latency goes along a path of hops (client → proxy → … → application),
//! from the kernel's view of each hop's sockets: the eBPF probe, filtered to one hop's port,
//! reports the **exchange time** of the hop's client sockets (request sent → response read)
//! and the **server time** of its server sockets (request read → response sent).
//!
//! Along a path the exchange time of hop *i* holds the server time of hop *i*, which holds
//! the exchange time of hop *i + 1*, down to the application. So each hop splits into the
//! wire and kernels between its two ends (`E_i − S_i`) and the time inside its server before
//! the next hop is asked (`S_i − E_{i+1}`), the last server's time being the application's;
//! the parts add up to the first hop's exchange time, what the client's kernel saw.
//!
//! Differences of percentiles are not percentiles of differences: at p50 the parts are each
//! hop's typical share; at p99 a part can come out negative (its inner hop's tail is longer
//! than its own), and is shown as zero with the raw value kept.

use serde::{Deserialize, Serialize};

use crate::probe::{ProbeReport, SampleReport};

/// One hop of a measured path: the name of its server end and the port that end listens on
/// (the probe tells hops apart by port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopSpec {
    /// The hop's server end: `client-sidecar`, `waypoint`, `application`, ….
    pub name: String,
    /// The port the server end listens on.
    pub port: u16,
}

impl HopSpec {
    /// Parses `NAME=PORT`, as `--ebpf-hop` takes it.
    pub fn parse(text: &str) -> Result<HopSpec, String> {
        let (name, port) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}`: give NAME=PORT, e.g. client-sidecar=15001"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("`{text}`: the hop needs a name before `=`"));
        }
        let port = port
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{text}`: `{port}` is not a port (1–65535)"))?;
        Ok(HopSpec {
            name: name.to_string(),
            port,
        })
    }
}

/// What the kernel saw on one hop's sockets during a run's measured period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelHop {
    /// The hop's server end.
    pub name: String,
    /// Its port.
    pub port: u16,
    /// The probe's report, filtered to this port.
    pub kernel: ProbeReport,
}

/// Which figure a breakdown splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HopPercentile {
    /// The median.
    P50,
    /// The 99th percentile.
    P99,
}

impl HopPercentile {
    fn of(self, s: &SampleReport) -> u64 {
        match self {
            HopPercentile::P50 => s.summary.p50,
            HopPercentile::P99 => s.summary.p99,
        }
    }
}

/// One part of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HopPart {
    /// `→ NAME` for the wire and kernels between a hop's ends, `NAME` for time inside it.
    pub part: String,
    /// Its share, µs, never below zero.
    pub us: f64,
    /// The difference as computed, which a tail can make negative.
    pub raw_us: f64,
}

/// A path's latency at one percentile, split into its hops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HopBreakdown {
    /// The percentile split.
    pub percentile: HopPercentile,
    /// From the client towards the application.
    pub parts: Vec<HopPart>,
    /// The parts' sum, µs.
    pub total_us: f64,
    /// The first hop's exchange time at this percentile: what the client's kernel saw, µs.
    pub client_kernel_us: f64,
}

impl HopBreakdown {
    /// One line for a terminal: `→ a 40 · a 180 · … = 1600 µs`.
    pub fn line(&self) -> String {
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|p| format!("{} {:.0}", p.part, p.us))
            .collect();
        format!("{} = {:.0} µs", parts.join(" · "), self.total_us)
    }
}

/// Why a path cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HopError {
    /// No hops.
    #[error("no hops were probed")]
    NoHops,
    /// A hop saw no exchange or no server time: nothing went through it, or the probe could
    /// not tell its sockets apart.
    #[error("hop `{0}` saw no requests (exchange or server time missing)")]
    Empty(String),
}

/// Splits the path `hops` (client side first) at `percentile`.
pub fn breakdown(hops: &[KernelHop], percentile: HopPercentile) -> Result<HopBreakdown, HopError> {
    if hops.is_empty() {
        return Err(HopError::NoHops);
    }
    for hop in hops {
        if hop.kernel.exchange_time_us.count == 0 || hop.kernel.server_time_us.count == 0 {
            return Err(HopError::Empty(hop.name.clone()));
        }
    }
    let exchange = |i: usize| percentile.of(&hops[i].kernel.exchange_time_us) as f64;
    let server = |i: usize| percentile.of(&hops[i].kernel.server_time_us) as f64;
    let mut parts = Vec::with_capacity(hops.len() * 2);
    for (i, hop) in hops.iter().enumerate() {
        let wire = exchange(i) - server(i);
        parts.push(HopPart {
            part: format!("→ {}", hop.name),
            us: wire.max(0.0),
            raw_us: wire,
        });
        let inside = server(i)
            - if i + 1 < hops.len() {
                exchange(i + 1)
            } else {
                0.0
            };
        parts.push(HopPart {
            part: hop.name.clone(),
            us: inside.max(0.0),
            raw_us: inside,
        });
    }
    Ok(HopBreakdown {
        percentile,
        total_us: parts.iter().map(|p| p.us).sum(),
        parts,
        client_kernel_us: exchange(0),
    })
}

/// The part-by-part mean of several runs' breakdowns of the same path (parts matched by
/// name, in the first's order); `None` when there are none.
pub fn mean_breakdown(all: &[HopBreakdown]) -> Option<HopBreakdown> {
    let first = all.first()?;
    let n = all.len() as f64;
    let mean_of = |f: &dyn Fn(&HopBreakdown) -> f64| all.iter().map(f).sum::<f64>() / n;
    let parts = first
        .parts
        .iter()
        .map(|p| {
            let find = |b: &HopBreakdown| {
                b.parts
                    .iter()
                    .find(|q| q.part == p.part)
                    .map_or((0.0, 0.0), |q| (q.us, q.raw_us))
            };
            HopPart {
                part: p.part.clone(),
                us: mean_of(&|b| find(b).0),
                raw_us: mean_of(&|b| find(b).1),
            }
        })
        .collect();
    Some(HopBreakdown {
        percentile: first.percentile,
        parts,
        total_us: mean_of(&|b| b.total_us),
        client_kernel_us: mean_of(&|b| b.client_kernel_us),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(name: &str, port: u16, exchange: (u64, u64), server: (u64, u64)) -> KernelHop {
        let sample = |(p50, p99): (u64, u64)| SampleReport {
            count: 100,
            summary: crate::probe::Percentiles {
                p50,
                p90: p50,
                p99,
                max: p99,
                mean: p50 as f64,
            },
            histogram: String::new(),
        };
        let kernel = ProbeReport {
            schema: crate::probe::PROBE_SCHEMA.into(),
            started_at: time::OffsetDateTime::UNIX_EPOCH,
            duration_s: 1.0,
            filter: Default::default(),
            connections: Default::default(),
            accepts: Default::default(),
            lifetimes: Default::default(),
            rtt_us: Default::default(),
            server_time_us: sample(server),
            exchange_time_us: sample(exchange),
            retransmits: 0,
            resets: Default::default(),
            connect_failures: 0,
            events_dropped: 0,
            sockets_untracked: 0,
            timeline: Vec::new(),
        };
        KernelHop {
            name: name.into(),
            port,
            kernel,
        }
    }

    #[test]
    fn hop_specs_parse_and_bad_ones_say_why() {
        assert_eq!(
            HopSpec::parse("client-sidecar=15001").unwrap(),
            HopSpec {
                name: "client-sidecar".into(),
                port: 15001
            }
        );
        assert!(HopSpec::parse("15001").unwrap_err().contains("NAME=PORT"));
        assert!(HopSpec::parse("=15001").unwrap_err().contains("name"));
        assert!(HopSpec::parse("a=0").unwrap_err().contains("not a port"));
        assert!(HopSpec::parse("a=70000")
            .unwrap_err()
            .contains("not a port"));
    }

    #[test]
    fn parts_telescope_to_the_client_kernel_time() {
        // client → sidecar (1600 / 1500), sidecar → sidecar (1400 / 1300), → app (1100 / 1000).
        let path = [
            hop("client-sidecar", 15001, (1600, 3000), (1500, 2500)),
            hop("server-sidecar", 15006, (1400, 2000), (1300, 2600)),
            hop("application", 8080, (1100, 1500), (1000, 1400)),
        ];
        let b = breakdown(&path, HopPercentile::P50).unwrap();
        let names: Vec<&str> = b.parts.iter().map(|p| p.part.as_str()).collect();
        assert_eq!(
            names,
            [
                "→ client-sidecar",
                "client-sidecar",
                "→ server-sidecar",
                "server-sidecar",
                "→ application",
                "application"
            ]
        );
        let us: Vec<f64> = b.parts.iter().map(|p| p.us).collect();
        assert_eq!(us, [100.0, 100.0, 100.0, 200.0, 100.0, 1000.0]);
        assert_eq!(b.total_us, 1600.0);
        assert_eq!(b.client_kernel_us, 1600.0);
        // At p99 the server-sidecar's server time (2600) exceeds its exchange (2000): shown as
        // zero, kept raw.
        let tail = breakdown(&path, HopPercentile::P99).unwrap();
        let wire = &tail.parts[2];
        assert_eq!((wire.us, wire.raw_us), (0.0, -600.0));
        let mean = mean_breakdown(&[b.clone(), b]).unwrap();
        assert_eq!(mean.total_us, 1600.0);
    }

    #[test]
    fn an_empty_hop_is_named() {
        let mut path = vec![hop("application", 8080, (1100, 1500), (1000, 1400))];
        path[0].kernel.server_time_us.count = 0;
        assert_eq!(
            breakdown(&path, HopPercentile::P50),
            Err(HopError::Empty("application".into()))
        );
        assert_eq!(breakdown(&[], HopPercentile::P50), Err(HopError::NoHops));
    }
}
