//! `meshbench k8s …`: the cluster as the API sees it, in a terminal: tables by default, the
//! API's JSON shapes with `--json`.

use std::process::ExitCode;

use anyhow::Context;
use meshbench_core::{MeshKind, MeshStatus, NamespaceInfo, PodInfo, ServiceInfo};
use meshbench_k8s::deploy::TargetPlan;
use meshbench_k8s::Cluster;
use serde::Serialize;

use crate::args::K8sCommand;
use crate::config::{environment, Settings};

/// Exit code of `mesh-status` when the detected mesh is not the expected one.
const DISAGREES: u8 = 3;

/// Runs one `k8s` subcommand.
pub fn run(command: K8sCommand) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env(&environment()).context("configuration")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let cluster: Cluster = settings.cluster().await?;
        match command {
            K8sCommand::Namespaces(out) => {
                let namespaces = cluster.namespaces().await?;
                print(
                    out.json,
                    &serde_json::json!({ "namespaces": namespaces }),
                    || namespaces_table(&namespaces),
                )?;
            }
            K8sCommand::Pods { namespace, output } => {
                let pods = cluster.pods(&namespace).await?;
                print(
                    output.json,
                    &serde_json::json!({ "namespace": namespace, "pods": pods }),
                    || pods_table(&pods),
                )?;
            }
            K8sCommand::Services { namespace, output } => {
                let services = cluster.services(&namespace).await?;
                let body = serde_json::json!({ "namespace": namespace, "services": services });
                print(output.json, &body, || services_table(&services))?;
            }
            K8sCommand::Deploy(args) => {
                let plan = TargetPlan {
                    namespace: args.namespace.clone(),
                    mesh: args
                        .mesh
                        .parse()
                        .map_err(|e: String| anyhow::anyhow!("--mesh: {e}"))?,
                    node: args.node.clone(),
                    image: args.image.clone(),
                    replicas: args.replicas,
                };
                for applied in cluster.deploy_target(&plan).await? {
                    println!("applied {applied} in {}", plan.namespace);
                }
                println!("target: {}", plan.url());
            }
            K8sCommand::Teardown { namespace } => {
                let deleted = cluster.teardown(&namespace).await?;
                if deleted.is_empty() {
                    println!("nothing of meshbench's in {namespace}");
                }
                for d in deleted {
                    println!("deleted {d} in {namespace}");
                }
            }
            K8sCommand::MeshStatus {
                namespace,
                mesh_type,
                output,
            } => {
                let expected = mesh_type
                    .as_deref()
                    .map(str::parse::<MeshKind>)
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("--mesh-type: {e}"))?;
                let status = cluster.mesh_status(&namespace, expected).await?;
                print(output.json, &status, || mesh_status_text(&status))?;
                if status.agrees == Some(false) {
                    return Ok(ExitCode::from(DISAGREES));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print<T: Serialize>(
    json: bool,
    value: &T,
    table: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", table());
    }
    Ok(())
}

/// Rows as columns padded to their widest cell.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
    out
}

fn or_dash(v: Option<&str>) -> String {
    v.unwrap_or("-").to_string()
}

fn namespaces_table(namespaces: &[NamespaceInfo]) -> String {
    let rows = namespaces
        .iter()
        .map(|ns| {
            let mesh = if ns.mesh.mesh == MeshKind::Baseline {
                "none".to_string()
            } else {
                ns.mesh.mesh.to_string()
            };
            vec![
                ns.name.clone(),
                mesh,
                or_dash(ns.mesh.mode.as_deref()),
                or_dash(ns.mesh.version.as_deref()),
                format!("{}/{}", ns.mesh.pods_in_mesh, ns.mesh.pods),
            ]
        })
        .collect();
    table(&["NAMESPACE", "MESH", "MODE", "VERSION", "IN MESH"], rows)
}

fn pods_table(pods: &[PodInfo]) -> String {
    let rows = pods
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.ready.clone(),
                or_dash(p.phase.as_deref()),
                p.restarts.to_string(),
                or_dash(p.node.as_deref()),
                or_dash(p.proxy.as_deref()),
            ]
        })
        .collect();
    table(
        &["NAME", "READY", "STATUS", "RESTARTS", "NODE", "PROXY"],
        rows,
    )
}

fn services_table(services: &[ServiceInfo]) -> String {
    let rows = services
        .iter()
        .map(|s| {
            let ports: Vec<String> = s
                .ports
                .iter()
                .map(|p| format!("{}/{}", p.port, p.protocol.as_deref().unwrap_or("TCP")))
                .collect();
            vec![
                s.name.clone(),
                or_dash(s.service_type.as_deref()),
                or_dash(s.cluster_ip.as_deref()),
                ports.join(","),
            ]
        })
        .collect();
    table(&["NAME", "TYPE", "CLUSTER-IP", "PORTS"], rows)
}

fn mesh_status_text(s: &MeshStatus) -> String {
    let mut out = format!(
        "namespace      {}\nmesh           {}\n",
        s.namespace,
        s.describe()
    );
    let mut field = |name: &str, value: String| out.push_str(&format!("{name:<15}{value}\n"));
    if let Some(by) = &s.injection.enabled_by {
        field("enabled by", by.clone());
    }
    field(
        "coverage",
        format!(
            "{:.0}% ({} of {} pods)",
            s.injection.coverage * 100.0,
            s.injection.pods_in_mesh,
            s.injection.pods_total
        ),
    );
    if !s.injection.without_proxy.is_empty() {
        field("outside mesh", s.injection.without_proxy.join(", "));
    }
    if let Some(m) = &s.mtls {
        field("mtls", format!("{} ({})", m.mode, m.source));
    }
    if let Some(cp) = &s.control_plane {
        let parts: Vec<String> = cp
            .components
            .iter()
            .map(|c| format!("{} {}/{}", c.name, c.ready, c.desired))
            .collect();
        let health = if cp.healthy { "healthy" } else { "NOT healthy" };
        let version = s
            .control_plane_version
            .as_ref()
            .map(|v| format!(" ({v})"))
            .unwrap_or_default();
        field(
            "control plane",
            format!(
                "{health} in {}{version}: {}",
                cp.namespace,
                parts.join(", ")
            ),
        );
    }
    if !s.waypoints.is_empty() {
        field("waypoints", s.waypoints.join(", "));
    }
    if !s.other_meshes.is_empty() {
        let others: Vec<String> = s.other_meshes.iter().map(|m| m.to_string()).collect();
        field("also installed", others.join(", "));
    }
    if let (Some(expected), Some(agrees)) = (s.expected, s.agrees) {
        let verdict = if agrees {
            format!("agrees with --mesh-type {expected}")
        } else {
            format!("DISAGREES with --mesh-type {expected}")
        };
        field("expected", verdict);
    }
    for line in &s.evidence {
        field("evidence", line.clone());
    }
    out
}
