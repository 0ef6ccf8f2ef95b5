//! The service meshes meshbench compares, as the seed's `mesh_type` names them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which mesh (if any) carries the traffic of a benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MeshKind {
    /// No mesh: the reference every overhead is measured against.
    #[default]
    Baseline,
    /// Istio with Envoy sidecars.
    Istio,
    /// Istio ambient mode (ztunnel and waypoints, no sidecars).
    IstioAmbient,
    /// Linkerd with its Rust micro-proxy sidecars.
    Linkerd,
    /// Cilium's eBPF data plane (and its per-node Envoy for L7).
    Cilium,
}

impl MeshKind {
    /// Every kind, in display order.
    pub const ALL: [MeshKind; 5] = [
        MeshKind::Baseline,
        MeshKind::Istio,
        MeshKind::IstioAmbient,
        MeshKind::Linkerd,
        MeshKind::Cilium,
    ];

    /// The snake_case name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            MeshKind::Baseline => "baseline",
            MeshKind::Istio => "istio",
            MeshKind::IstioAmbient => "istio_ambient",
            MeshKind::Linkerd => "linkerd",
            MeshKind::Cilium => "cilium",
        }
    }
}

impl fmt::Display for MeshKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MeshKind {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        MeshKind::ALL
            .into_iter()
            .find(|k| k.as_str() == wanted)
            .ok_or_else(|| {
                crate::Error::invalid(
                    "mesh_type",
                    format!("unknown mesh `{s}` (baseline, istio, istio_ambient, linkerd, cilium)"),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_rejects_unknown() {
        assert_eq!(
            "Istio-Ambient".parse::<MeshKind>().unwrap(),
            MeshKind::IstioAmbient
        );
        assert_eq!("baseline".parse::<MeshKind>().unwrap(), MeshKind::Baseline);
        assert!("consul".parse::<MeshKind>().is_err());
    }
}
