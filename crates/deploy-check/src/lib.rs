//! Checks of meshbench's deployment files under `deploy/`: the plain Kubernetes manifests
//! (`deploy/kubernetes/*.yaml`) and the Helm chart (`deploy/helm/meshbench`).
//!
//! - [`yaml`] reads (multi-document) YAML into JSON values;
//! - [`objects`] turns each document into the matching k8s-openapi type *strictly*: the
//!   typed object is serialized back and compared with the document, so a field the type
//!   does not know (a typo, a misplaced key) is an error naming its path, where k8s-openapi
//!   alone would drop it silently;
//! - [`chart`] renders the chart's templates with `gtmpl` (Go templates), after checking
//!   they keep to the subset of Helm's template language the chart documents, and
//!   validates values against the chart's `values.schema.json`;
//! - [`monitoring`] types the Prometheus Operator's ServiceMonitor, the one custom resource
//!   the chart can render;
//! - [`checks`] holds meshbench's invariants: labels, least-privilege RBAC, the probe
//!   DaemonSet as the only privileged workload, images, ports and environment variables
//!   agreeing with `.env.example`.
//!
//! The tests in `tests/` apply all of it to the repository's files.

pub mod chart;
pub mod checks;
pub mod monitoring;
pub mod objects;
pub mod yaml;

use std::path::{Path, PathBuf};

/// meshbench's version: the workspace's package version, which this crate shares.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The repository's `deploy/` directory.
pub fn deploy_dir() -> PathBuf {
    repo_root().join("deploy")
}

/// The variables `.env.example` documents (every variable meshbench reads), in file order.
pub fn env_example_names(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(name, _)| name.trim())
        .filter(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_string)
        .collect()
}

/// The default value `.env.example` gives `name` (empty when it leaves it unset).
pub fn env_example_value(text: &str, name: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim().to_string())
}

/// The YAML files of a directory (`*.yaml`, `*.yml`), sorted by name: the order
/// `kubectl apply -f DIR` applies them in.
pub fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_example_is_read_as_the_server_reads_it() {
        let text = "# comment\nDATABASE_URL=\n# X=1\nAPI_PORT=8000\n\nnot a var\nlower=1\n";
        assert_eq!(env_example_names(text), ["DATABASE_URL", "API_PORT"]);
        assert_eq!(env_example_value(text, "API_PORT").as_deref(), Some("8000"));
        assert_eq!(env_example_value(text, "DATABASE_URL").as_deref(), Some(""));
        assert_eq!(env_example_value(text, "X"), None);
    }
}
