//! One entry point for running a spec with the right driver on the right engine backend:
//! plain HTTP/1.1 on the engine's own event loop, TLS and HTTP/2 on the async backend. The
//! CLI and the platform's workers both start runs here.

use std::sync::Arc;

use meshbench_core::{BenchmarkSpec, HttpVersion};
use meshbench_engine::{Observer, RunOutput, StopHandle};

use crate::{GrpcDriver, Http1Driver, Http2Driver, MlDriver, WebSocketDriver};

/// Why a run could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The driver could not be built (bad spec, DNS, TLS setup).
    #[error(transparent)]
    Driver(#[from] crate::Error),
    /// The engine refused or failed the run (unreachable target, threads).
    #[error(transparent)]
    Engine(#[from] meshbench_engine::Error),
}

/// Which client carries HTTP/2 and gRPC runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum H2Client {
    /// The engine's own event loop ([`crate::lean_h2`]): h2c or TLS, every gRPC kind.
    #[default]
    Lean,
    /// hyper for every HTTP/2 and gRPC run.
    Hyper,
}

impl H2Client {
    /// `MESHBENCH_H2_CLIENT=hyper` picks hyper; anything else, or nothing, the default.
    pub fn from_env() -> Self {
        match std::env::var("MESHBENCH_H2_CLIENT") {
            Ok(v) if v.eq_ignore_ascii_case("hyper") => H2Client::Hyper,
            _ => H2Client::Lean,
        }
    }
}

/// Runs `spec` to the end (or until `stop`), blocking the calling thread. HTTP/2 and gRPC
/// go through the client [`H2Client::from_env`] names.
pub fn run_spec(
    spec: &BenchmarkSpec,
    stop: StopHandle,
    observer: &mut dyn Observer,
) -> Result<RunOutput, RunError> {
    run_spec_with(spec, H2Client::from_env(), stop, observer)
}

/// [`run_spec`] with the HTTP/2 client chosen by the caller.
pub fn run_spec_with(
    spec: &BenchmarkSpec,
    h2: H2Client,
    stop: StopHandle,
    observer: &mut dyn Observer,
) -> Result<RunOutput, RunError> {
    let (mut output, client) = run_on(spec, h2, stop, observer)?;
    output.result.loadgen.client = Some(client.to_string());
    Ok(output)
}

/// The engine's own event loop carries the run.
const EVENT_LOOP: &str = "event-loop";
/// tokio runtimes per load thread carry it (TLS HTTP/1.1, WebSocket, LLM streaming).
const ASYNC: &str = "async";
/// hyper's HTTP/2 client carries it.
const HYPER: &str = "hyper";

fn run_on(
    spec: &BenchmarkSpec,
    h2: H2Client,
    stop: StopHandle,
    observer: &mut dyn Observer,
) -> Result<(RunOutput, &'static str), RunError> {
    if let Some(ml) = spec
        .ml
        .as_ref()
        .filter(|_| spec.protocol == HttpVersion::Grpc)
    {
        // The Open Inference Protocol over gRPC: readiness and the model's inputs first,
        // then ModelInfer calls.
        let metadata = crate::grpc::oip_model(spec, &ml.model)?;
        let inputs = crate::ml::oip_inputs(ml, metadata.as_ref())?;
        let mut grpc_spec = spec.clone();
        grpc_spec.grpc = Some(crate::grpc::oip_grpc_spec(ml, &inputs));
        let (mut output, client) = run_grpc(&grpc_spec, h2, stop, observer)?;
        output.result.ml = Some(meshbench_core::MlResult {
            api: "oip".into(),
            model: ml.model.clone(),
            stream: false,
            ttft_us: None,
            itl_us: None,
            tpot_us: None,
            ttft_histogram: None,
            itl_histogram: None,
            output_tokens: 0,
            output_tokens_per_s: 0.0,
        });
        return Ok((output, client));
    }
    if spec.ml.is_some() {
        let driver = Arc::new(MlDriver::new(spec)?);
        let mut output = meshbench_engine::run(spec, Arc::clone(&driver), stop, observer)?;
        output.result.ml = Some(driver.report(output.result.duration_s));
        return Ok((output, ASYNC));
    }
    Ok(match spec.protocol {
        HttpVersion::Http1 => {
            let driver = Http1Driver::new(spec)?;
            if driver.is_plain() {
                let output = meshbench_engine::run_framed(spec, Arc::new(driver), stop, observer)?;
                (output, EVENT_LOOP)
            } else {
                (
                    meshbench_engine::run(spec, Arc::new(driver), stop, observer)?,
                    ASYNC,
                )
            }
        }
        HttpVersion::Websocket => {
            let driver = Arc::new(WebSocketDriver::new(spec)?);
            let mut output = meshbench_engine::run(spec, Arc::clone(&driver), stop, observer)?;
            // A WebSocket echo has no status code; the engine filed every answer under 0.
            output.result.status_codes.clear();
            output.result.websocket = Some(driver.report());
            (output, ASYNC)
        }
        HttpVersion::Grpc => run_grpc(spec, h2, stop, observer)?,
        _ => {
            let driver = Arc::new(Http2Driver::new(spec)?);
            match h2 {
                H2Client::Lean => {
                    let lean = Arc::new(driver.lean());
                    let output = meshbench_engine::run_multiplexed(spec, lean, stop, observer)?;
                    (output, EVENT_LOOP)
                }
                H2Client::Hyper => (meshbench_engine::run(spec, driver, stop, observer)?, HYPER),
            }
        }
    })
}

/// A gRPC run, on the lean path where it covers the call; the engine filed each call under
/// its gRPC code, which the gRPC section names apart from HTTP's.
fn run_grpc(
    spec: &BenchmarkSpec,
    h2: H2Client,
    stop: StopHandle,
    observer: &mut dyn Observer,
) -> Result<(RunOutput, &'static str), RunError> {
    let driver = Arc::new(GrpcDriver::new(spec)?);
    let (mut output, client) = match h2 {
        H2Client::Lean => {
            let lean = Arc::new(driver.lean());
            let output = meshbench_engine::run_multiplexed(spec, lean, stop, observer)?;
            (output, EVENT_LOOP)
        }
        H2Client::Hyper => (
            meshbench_engine::run(spec, Arc::clone(&driver), stop, observer)?,
            HYPER,
        ),
    };
    output.result.grpc = Some(driver.report(&output.result.status_codes));
    output.result.status_codes.clear();
    Ok((output, client))
}
