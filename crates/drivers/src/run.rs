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

/// Runs `spec` to the end (or until `stop`), blocking the calling thread.
pub fn run_spec(
    spec: &BenchmarkSpec,
    stop: StopHandle,
    observer: &mut dyn Observer,
) -> Result<RunOutput, RunError> {
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
        let driver = Arc::new(GrpcDriver::new(&grpc_spec)?);
        let mut output = meshbench_engine::run(&grpc_spec, Arc::clone(&driver), stop, observer)?;
        output.result.grpc = Some(driver.report(&output.result.status_codes));
        output.result.status_codes.clear();
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
        return Ok(output);
    }
    if spec.ml.is_some() {
        let driver = Arc::new(MlDriver::new(spec)?);
        let mut output = meshbench_engine::run(spec, Arc::clone(&driver), stop, observer)?;
        output.result.ml = Some(driver.report(output.result.duration_s));
        return Ok(output);
    }
    let output = match spec.protocol {
        HttpVersion::Http1 => {
            let driver = Http1Driver::new(spec)?;
            if driver.is_plain() {
                meshbench_engine::run_framed(spec, Arc::new(driver), stop, observer)?
            } else {
                meshbench_engine::run(spec, Arc::new(driver), stop, observer)?
            }
        }
        HttpVersion::Websocket => {
            let driver = Arc::new(WebSocketDriver::new(spec)?);
            let mut output = meshbench_engine::run(spec, Arc::clone(&driver), stop, observer)?;
            // A WebSocket echo has no status code; the engine filed every answer under 0.
            output.result.status_codes.clear();
            output.result.websocket = Some(driver.report());
            output
        }
        HttpVersion::Grpc => {
            let driver = Arc::new(GrpcDriver::new(spec)?);
            let mut output = meshbench_engine::run(spec, Arc::clone(&driver), stop, observer)?;
            // The engine filed each call under its gRPC code; name them, apart from HTTP's.
            output.result.grpc = Some(driver.report(&output.result.status_codes));
            output.result.status_codes.clear();
            output
        }
        _ => meshbench_engine::run(spec, Arc::new(Http2Driver::new(spec)?), stop, observer)?,
    };
    Ok(output)
}
