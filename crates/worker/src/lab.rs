//! A benchmark through the mesh lab: the topology comes up on this machine (unless it is up
//! already), `meshbench run --spec` carries the load from the lab's client host with the
//! eBPF probe on each hop, the proxies' CPU and memory are read from /proc around it, and
//! the result is stored like any run's, with its lab record.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meshbench_core::lab::LabTopology;
use meshbench_core::{BenchmarkResult, StartRequest};
use meshbench_lab::Lab;

use crate::{Ended, Result, Running, Verdict};

/// Runs `request` through `topology`, from claimed job to stored result.
pub(crate) async fn run(
    job: &Running<'_>,
    request: &StartRequest,
    topology: LabTopology,
) -> Result<Ended> {
    let Some(meshbench) = job.config().lab_client.clone() else {
        return Ok(Ended::Failed(
            "lab_topology: this worker does not run the lab (it needs root, and Envoy from \
             scripts/lab.sh)"
                .into(),
        ));
    };
    let planned = f64::from(request.duration) + f64::from(request.warmup);
    let stop = Arc::new(AtomicBool::new(false));
    let (request_copy, stop_copy, id) = (request.clone(), Arc::clone(&stop), job.id().to_string());
    let mut blocking = tokio::task::spawn_blocking(move || {
        run_blocking(&meshbench, &request_copy, topology, &stop_copy, &id)
    });
    let began = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut cancelled = false;
    let outcome = loop {
        tokio::select! {
            outcome = &mut blocking => break outcome,
            _ = ticker.tick() => {
                let fraction = (began.elapsed().as_secs_f64() / planned.max(1.0)).clamp(0.0, 0.99);
                job.progress(fraction).await;
                match job.check().await {
                    Verdict::Continue => {}
                    Verdict::Stop => {
                        cancelled = true;
                        stop.store(true, Ordering::Relaxed);
                    }
                    Verdict::Lost => {
                        stop.store(true, Ordering::Relaxed);
                        let _ = blocking.await;
                        return Ok(Ended::Lost);
                    }
                }
            }
        }
    };
    let (result, note) = match outcome {
        Ok(Ok(done)) => done,
        Ok(Err(reason)) => return Ok(Ended::Failed(format!("lab: {reason}"))),
        Err(e) => {
            return Ok(Ended::Failed(format!(
                "lab: the run stopped abnormally: {e}"
            )))
        }
    };
    if let Some(failed) = crate::benchmark::store_result(job, &result).await? {
        return Ok(failed);
    }
    Ok(Ended::Finished { cancelled, note })
}

/// The lab's entry for a run: spoken as the request's protocol (http, ws, grpc), with its
/// `service_url`'s path and query, else the protocol's default path.
fn entry_url(state: &meshbench_lab::LabState, request: &StartRequest) -> String {
    let default = request
        .to_spec(&state.url)
        .requests
        .first()
        .and_then(|r| url::Url::parse(&r.url).ok());
    let scheme = default.as_ref().map_or("http", |u| u.scheme()).to_string();
    let path = request
        .service_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .or(default)
        .map_or_else(
            || "/".to_string(),
            |u| {
                let mut p = u.path().to_string();
                if let Some(q) = u.query() {
                    p.push('?');
                    p.push_str(q);
                }
                p
            },
        );
    state.url_with(&scheme, &path)
}

/// Brings the lab up (when it is not), runs the load in its client host, reads the
/// proxies' cost, takes the lab down (when this run brought it up).
fn run_blocking(
    meshbench: &Path,
    request: &StartRequest,
    topology: LabTopology,
    stop: &AtomicBool,
    id: &str,
) -> std::result::Result<(BenchmarkResult, Option<String>), String> {
    let lab = Lab::from_env();
    let (state, ours) = match lab.state().map_err(|e| e.to_string())? {
        Some(state) if state.topology == topology => (state, false),
        Some(state) => {
            return Err(format!(
                "the lab is up with topology `{}`; take it down (meshbench lab down, or \
                 POST /lab/down) to run through `{topology}`",
                state.topology
            ))
        }
        None => (
            lab.up(topology, meshbench).map_err(|e| e.to_string())?,
            true,
        ),
    };
    let ran = run_in_lab(meshbench, request, &state, stop, id);
    if ours {
        if let Err(e) = lab.down() {
            tracing::warn!("cannot take the lab down after run {id}: {e}");
        }
    }
    ran
}

fn run_in_lab(
    meshbench: &Path,
    request: &StartRequest,
    state: &meshbench_lab::LabState,
    stop: &AtomicBool,
    id: &str,
) -> std::result::Result<(BenchmarkResult, Option<String>), String> {
    let url = entry_url(state, request);
    let mut spec = request.to_spec(&state.url);
    for r in &mut spec.requests {
        r.url = url.clone();
    }
    let spec_file = SpecFile::write(id, &spec)?;
    let mut args = vec![
        "run".to_string(),
        "--spec".to_string(),
        spec_file.0.display().to_string(),
        "--json".to_string(),
        "--no-progress".to_string(),
    ];
    let mut note = None;
    match meshbench_probe::availability() {
        Ok(()) => args.extend(meshbench_lab::hop_args(state.topology)),
        Err(e) => note = Some(format!("no hop breakdown: the eBPF probe cannot run: {e}")),
    }
    let meter = meshbench_lab::ProxyMeter::start(state);
    let child = Lab::client_command(meshbench, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run meshbench in the client host: {e}"))?;
    let output = wait(child, stop)?;
    let parsed: Option<BenchmarkResult> = serde_json::from_slice(&output.stdout).ok();
    let proxies = meter.finish(parsed.as_ref().map_or(0.0, |r| r.rps));
    let Some(mut result) = parsed else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(format!(
            "the run in the client host left no result ({}): {}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    };
    let (record, why) = state.record(proxies, &result);
    if let Some(e) = why {
        note = Some(format!("no hop breakdown: {e}"));
    }
    result.lab = Some(record);
    Ok((result, note))
}

/// Waits for `child`; on `stop`, interrupts it (SIGINT: `meshbench run` then reports what it
/// measured so far, as on Ctrl-C).
fn wait(mut child: Child, stop: &AtomicBool) -> std::result::Result<std::process::Output, String> {
    let mut interrupted = false;
    // Read the pipes on threads of their own, so a full pipe never stalls the child.
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = read(stdout.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let err = read(stderr.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for the run: {e}")),
        }
        if stop.load(Ordering::Relaxed) && !interrupted {
            interrupted = true;
            // The child is `ip netns exec`, which execs sh, which execs meshbench: one pid.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// The run's spec, written where the client host's meshbench reads it; removed when dropped.
struct SpecFile(PathBuf);

impl SpecFile {
    fn write(id: &str, spec: &meshbench_core::BenchmarkSpec) -> std::result::Result<Self, String> {
        let safe: String = id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let path = std::env::temp_dir().join(format!("meshbench-lab-{safe}.json"));
        let text = serde_json::to_vec(spec).map_err(|e| format!("cannot encode the spec: {e}"))?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(SpecFile(path))
    }
}

impl Drop for SpecFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> StartRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_entry_keeps_the_path_and_the_protocols_scheme() {
        let entry = &meshbench_lab::LabState {
            topology: LabTopology::Sidecar,
            url: "http://127.0.0.1:15001/".into(),
            envoy_version: None,
            processes: Vec::new(),
        };
        assert_eq!(
            entry_url(entry, &request(serde_json::json!({}))),
            "http://127.0.0.1:15001/"
        );
        assert_eq!(
            entry_url(
                entry,
                &request(serde_json::json!({"service_url": "http://target/?delay=1ms"}))
            ),
            "http://127.0.0.1:15001/?delay=1ms"
        );
        assert_eq!(
            entry_url(
                entry,
                &request(serde_json::json!({"test_type": "websocket"}))
            ),
            "ws://127.0.0.1:15001/ws"
        );
    }
}
