//! A result in the Service Mesh Performance (SMP) format, the CNCF specification Meshery
//! implements, so that meshbench runs can be read next to other tools' SMP data.
//! `docs/smp.md` has the field mapping and what is left out.
//!
//! SMP has no message for a whole run: a `PerformanceTestResult` holds the figures and
//! refers by id to the `PerformanceTestConfig` (the load), the `ServiceMeshConfig` (the
//! mesh) and the `EnvironmentConfig` (the cluster). [`to_smp`] writes all four, linked, in
//! one JSON object keyed by message name. Each message follows proto3's JSON mapping with
//! the proto field names (which `protojson` reads, and which Meshery's Go structs use).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};
use time::{OffsetDateTime, UtcOffset};

use crate::cluster::{ClusterRecord, MeshStatus};
use crate::rate::RateSchedule;
use crate::result::{BenchmarkResult, LatencySummary};
use crate::spec::{BenchmarkSpec, HttpVersion, LoadModel};

/// The SMP release whose protobuf messages [`to_smp`] writes, as its `smp_version` says.
pub const SMP_VERSION: &str = "v0.6.1";

/// Label keys meshbench adds start with this, so they cannot clash with anyone else's.
const LABEL_PREFIX: &str = "meshbench/";

/// One SMP document for `result`; `mesh_label` is the run's `mesh_type` (a detected mesh wins).
pub fn to_smp(result: &BenchmarkResult, mesh_label: &str) -> Value {
    let ids = Ids::of(result);
    let mesh = Mesh::of(result, mesh_label);
    json!({
        "performance_test_config": test_config(result, &ids, &mesh),
        "performance_test_result": test_result(result, &ids),
        "service_mesh_config": mesh_config(result, &ids, &mesh),
        "environment_config": environment(result, &ids),
    })
}

/// The ids that link the four messages.
struct Ids {
    result: String,
    test: String,
    mesh_config: String,
    env: String,
}

impl Ids {
    fn of(result: &BenchmarkResult) -> Ids {
        // Derived from the start instant rather than random, so exporting a result twice
        // gives the same document; a caller that knows the job id can overwrite them.
        let base = format!("meshbench-{}", result.started_at.unix_timestamp_nanos());
        Ids {
            result: format!("{base}-result"),
            test: format!("{base}-test"),
            mesh_config: format!("{base}-mesh"),
            env: format!("{base}-env"),
        }
    }
}

/// The mesh the traffic went through, as far as the result knows it.
struct Mesh<'a> {
    /// meshbench's name for it (`istio_ambient`) or the caller's label as given.
    label: String,
    /// The `ServiceMesh.Type` name; `None` without a mesh or for a mesh SMP does not list.
    smp_type: Option<&'static str>,
    /// The record the worker read from the cluster.
    status: Option<&'a MeshStatus>,
}

impl<'a> Mesh<'a> {
    fn of(result: &'a BenchmarkResult, mesh_label: &str) -> Mesh<'a> {
        let status = result.cluster.as_ref().and_then(|c| c.mesh.as_ref());
        let label = match status {
            // What the cluster showed beats what the run was told to expect.
            Some(status) => status.mesh.as_str().to_string(),
            None if !mesh_label.trim().is_empty() => mesh_label.trim().to_string(),
            None => result.spec.mesh_type.as_str().to_string(),
        };
        Mesh {
            smp_type: smp_mesh_type(&label),
            label,
            status,
        }
    }

    /// Sidecar, ambient, node-proxy…: SMP's mesh types do not tell Istio's modes apart.
    fn mode(&self) -> Option<String> {
        match self.status.and_then(|s| s.mode.clone()) {
            Some(mode) => Some(mode),
            None if normalize(&self.label) == "istio_ambient" => Some("ambient".into()),
            None => None,
        }
    }
}

fn normalize(label: &str) -> String {
    label.trim().to_ascii_lowercase().replace(['-', ' '], "_")
}

/// The SMP `ServiceMesh.Type` for a mesh label: meshbench's names, SMP's own names and the
/// usual short forms. SMP has no value for "no mesh" (`INVALID_MESH` is proto's unset), so
/// `baseline` maps to `None`, as does a mesh SMP does not know.
fn smp_mesh_type(label: &str) -> Option<&'static str> {
    Some(match normalize(label).as_str() {
        "istio" | "istio_ambient" | "istio_sidecar" => "ISTIO",
        "linkerd" | "linkerd2" => "LINKERD",
        "cilium" | "cilium_service_mesh" => "CILIUM_SERVICE_MESH",
        "app_mesh" | "appmesh" | "aws_app_mesh" => "APP_MESH",
        "consul" | "consul_connect" => "CONSUL",
        "kuma" => "KUMA",
        "traefik_mesh" | "traefik" | "maesh" => "TRAEFIK_MESH",
        "octarine" => "OCTARINE",
        "network_service_mesh" | "nsm" => "NETWORK_SERVICE_MESH",
        "tanzu" | "tanzu_service_mesh" => "TANZU",
        "open_service_mesh" | "osm" => "OPEN_SERVICE_MESH",
        "nginx_service_mesh" | "nginx_sm" | "nginx" => "NGINX_SERVICE_MESH",
        _ => return None,
    })
}

/// The fields every SMP message starts with.
fn message(id: &str, labels: Map<String, Value>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("smp_version".into(), SMP_VERSION.into());
    m.insert("id".into(), id.into());
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    m
}

fn labels<'k>(pairs: impl IntoIterator<Item = (&'k str, Option<String>)>) -> Map<String, Value> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((format!("{LABEL_PREFIX}{k}"), Value::String(v?))))
        .collect()
}

fn test_config(result: &BenchmarkResult, ids: &Ids, mesh: &Mesh) -> Value {
    let spec = &result.spec;
    let mut config = message(&ids.test, labels([("mesh", Some(mesh.label.clone()))]));
    config.insert("clients".into(), Value::Array(clients(result)));
    if let Some(d) = spec.measured_duration_s().and_then(duration) {
        config.insert("duration".into(), d.into());
    }
    Value::Object(config)
}

/// The rate of an open run at a constant rate; SMP's single `rps` cannot describe a
/// staircase or a ramp (those are in `additional_options`).
fn constant_rate(spec: &BenchmarkSpec) -> Option<f64> {
    match &spec.model {
        LoadModel::Open {
            schedule: RateSchedule::Constant { rps },
            ..
        } => Some(*rps),
        _ => None,
    }
}

/// One client per generator that contributed to the result, with its share of the load.
fn clients(result: &BenchmarkResult) -> Vec<Value> {
    let spec = &result.spec;
    let rate = constant_rate(spec);
    let shares: Vec<(u32, Option<f64>)> = match &result.generators {
        Some(g) if g.count > 1 => {
            let failed: BTreeSet<u32> = g.failed.iter().map(|f| f.index).collect();
            (0..g.count)
                .filter(|i| !failed.contains(i))
                .map(|i| {
                    // Divided as `split::split_request` divides: the first take the remainder.
                    let extra = u32::from(i < spec.connections % g.count);
                    let connections = (spec.connections / g.count + extra).max(1);
                    (connections, rate.map(|r| r / f64::from(g.count)))
                })
                .collect()
        }
        _ => vec![(spec.connections, rate)],
    };
    let template = client_template(result);
    shares
        .into_iter()
        .map(|(connections, rate)| {
            let mut client = template.clone();
            client.insert("connections".into(), int32(f64::from(connections)).into());
            // proto's int64; 0 would read as "unset", which is what a rate under 0.5 is
            // closest to anyway.
            if let Some(rate) = rate.filter(|r| r.is_finite()) {
                client.insert("rps".into(), (rate.round() as i64).into());
            }
            Value::Object(client)
        })
        .collect()
}

fn client_template(result: &BenchmarkResult) -> Map<String, Value> {
    let spec = &result.spec;
    let mut client = Map::new();
    client.insert("load_generator".into(), "meshbench".into());
    client.insert("protocol".into(), smp_protocol(spec.protocol).into());
    if let Some(first) = spec.requests.first() {
        // SMP has one set of headers and one body per client, so they are only carried
        // over when every request of the mix has the same.
        if spec.requests.iter().all(|r| r.headers == first.headers) {
            insert_headers(&mut client, &first.headers);
        }
        if let Some(body) = &first.body {
            if spec.requests.iter().all(|r| r.body == first.body) {
                client.insert("body".into(), body.clone().into());
            }
        }
    }
    // Not deduplicated: the list is the round-robin mix, repeats included.
    let urls: Vec<Value> = spec.requests.iter().map(|r| r.url.clone().into()).collect();
    client.insert("endpoint_urls".into(), Value::Array(urls));
    client.insert(
        "additional_options".into(),
        additional_options(spec).to_string().into(),
    );
    client
}

fn smp_protocol(protocol: HttpVersion) -> &'static str {
    match protocol {
        // A WebSocket starts as an HTTP request; SMP has nothing closer.
        HttpVersion::Http1 | HttpVersion::Http2 | HttpVersion::Websocket => "PROTOCOL_HTTP",
        HttpVersion::Grpc => "PROTOCOL_GRPC",
    }
}

fn protocol_name(protocol: HttpVersion) -> &'static str {
    match protocol {
        HttpVersion::Http1 => "http1",
        HttpVersion::Http2 => "http2",
        HttpVersion::Websocket => "websocket",
        HttpVersion::Grpc => "grpc",
    }
}

/// SMP keeps `Content-Type` and cookies apart from the other headers.
fn insert_headers(client: &mut Map<String, Value>, request_headers: &[(String, String)]) {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in request_headers {
        if name.eq_ignore_ascii_case("content-type") {
            client.insert("content_type".into(), value.clone().into());
            continue;
        }
        if name.eq_ignore_ascii_case("cookie") {
            let pairs: Option<Vec<(&str, &str)>> = value
                .split(';')
                .filter(|p| !p.trim().is_empty())
                .map(|p| p.split_once('=').map(|(k, v)| (k.trim(), v.trim())))
                .collect();
            if let Some(pairs) = pairs {
                for (k, v) in pairs {
                    cookies.insert(k.to_string(), v.to_string());
                }
                continue;
            }
            // A cookie header that is not name=value pairs stays a plain header.
        }
        // A map holds one value per name; repeated headers fold as HTTP allows.
        headers
            .entry(name.clone())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    for (key, map) in [("headers", headers), ("cookies", cookies)] {
        if !map.is_empty() {
            let map = map
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            client.insert(key.into(), Value::Object(map));
        }
    }
}

/// What shaped the load but has no SMP field, as the JSON text SMP's free-form
/// `additional_options` takes.
fn additional_options(spec: &BenchmarkSpec) -> Value {
    let mut o = Map::new();
    o.insert("protocol".into(), protocol_name(spec.protocol).into());
    let methods: Vec<&str> = spec.requests.iter().map(|r| r.method.as_str()).collect();
    match methods.as_slice() {
        [first, rest @ ..] if rest.iter().all(|m| m == first) => {
            o.insert("method".into(), (*first).into());
        }
        // By index, as `endpoint_urls`.
        _ => {
            o.insert("methods".into(), methods.into());
        }
    }
    match &spec.model {
        LoadModel::Closed => {
            o.insert("model".into(), "closed".into());
        }
        LoadModel::Open {
            schedule,
            jitter,
            send_window_us,
        } => {
            o.insert("model".into(), "open".into());
            o.insert("schedule".into(), schedule_json(schedule));
            if *jitter > 0.0 {
                o.insert("jitter".into(), double(*jitter));
            }
            if *send_window_us != crate::spec::DEFAULT_SEND_WINDOW_US {
                o.insert("send_window_us".into(), double(*send_window_us));
            }
        }
    }
    o.insert("threads".into(), spec.threads.into());
    o.insert("streams".into(), spec.streams.into());
    o.insert("warmup_s".into(), double(spec.warmup_s));
    o.insert("connect_timeout_s".into(), double(spec.connect_timeout_s));
    o.insert("request_timeout_s".into(), double(spec.request_timeout_s));
    if let Some(n) = spec.max_requests {
        o.insert("max_requests".into(), n.into());
    }
    if spec.insecure {
        o.insert("insecure".into(), true.into());
    }
    if let Some(grpc) = &spec.grpc {
        o.insert("grpc_call".into(), grpc.call.clone().into());
    }
    if let Some(ws) = &spec.websocket {
        o.insert("websocket_message_size".into(), ws.message_size.into());
        o.insert("websocket_hold".into(), ws.hold.into());
    }
    if let Some(ml) = &spec.ml {
        o.insert("ml_model".into(), ml.model.clone().into());
    }
    Value::Object(o)
}

fn schedule_json(schedule: &RateSchedule) -> Value {
    match *schedule {
        RateSchedule::Constant { rps } => json!({"kind": "constant", "rps": double(rps)}),
        RateSchedule::Steps {
            from,
            to,
            step,
            step_duration_s,
        } => json!({
            "kind": "steps", "from": double(from), "to": double(to), "step": double(step),
            "step_duration_s": double(step_duration_s),
        }),
        RateSchedule::Ramp { from, to, over_s } => json!({
            "kind": "ramp", "from": double(from), "to": double(to), "over_s": double(over_s),
        }),
    }
}

fn test_result(result: &BenchmarkResult, ids: &Ids) -> Value {
    let mut m = message(
        &ids.result,
        labels([
            // SMP has no error count, and without it the latencies can mislead.
            ("requests", Some(result.requests.to_string())),
            ("errors", Some(result.errors.to_string())),
            // An open run's latency counts from the intended send time, a closed run's
            // does not: the same numbers mean different things.
            ("model", Some(result.model.clone())),
            // A saturated generator measured itself more than the mesh.
            (
                "loadgen_saturated",
                Some(result.loadgen.saturated.to_string()),
            ),
        ]),
    );
    if let Some(t) = timestamp(result.started_at) {
        m.insert("start_time".into(), t.into());
    }
    if let Some(t) = timestamp(result.ended_at) {
        m.insert("end_time".into(), t.into());
    }
    m.insert("latencies_ms".into(), latencies_ms(&result.latency_us));
    m.insert("actual_qps".into(), double(result.rps));
    m.insert("test_id".into(), ids.test.clone().into());
    m.insert("mesh_config_id".into(), ids.mesh_config.clone().into());
    m.insert("env_id".into(), ids.env.clone().into());
    Value::Object(m)
}

fn latencies_ms(l: &LatencySummary) -> Value {
    let ms = |us: u64| double(us as f64 / 1000.0);
    json!({
        "min": ms(l.min),
        "average": double(l.mean / 1000.0),
        "p50": ms(l.p50),
        "p90": ms(l.p90),
        "p99": ms(l.p99),
        "max": ms(l.max),
    })
}

fn mesh_config(result: &BenchmarkResult, ids: &Ids, mesh: &Mesh) -> Value {
    let cluster = result.cluster.as_ref();
    let mtls_mode = mesh.status.and_then(|s| s.mtls.as_ref()).map(|m| &m.mode);
    let mut m = message(
        &ids.mesh_config,
        labels([
            ("mesh", Some(mesh.label.clone())),
            ("namespace", cluster.map(|c| c.namespace.clone())),
            ("mtls_mode", mtls_mode.cloned()),
        ]),
    );
    if let Some(sidecar) = cluster.and_then(sidecar) {
        m.insert("sidecar".into(), sidecar);
    }
    if let Some(enabled) = mtls_mode.map(String::as_str).and_then(mtls_enabled) {
        m.insert("mtls_enabled".into(), enabled.into());
    }
    let control_plane_version = mesh.status.and_then(|s| s.control_plane_version.clone());
    let proxy_version = mesh.status.and_then(|s| s.version.clone());
    if let Some(v) = &control_plane_version {
        m.insert("mesh_build".into(), v.clone().into());
    }
    if let Some(v) = &proxy_version {
        m.insert("proxy_build".into(), v.clone().into());
    }
    if let Some(smp_type) = mesh.smp_type {
        let mut service_mesh = Map::new();
        service_mesh.insert("type".into(), smp_type.into());
        if let Some(v) = control_plane_version.or(proxy_version) {
            service_mesh.insert("version".into(), v.into());
        }
        let mesh_labels = labels([("mode", mesh.mode())]);
        if !mesh_labels.is_empty() {
            service_mesh.insert("labels".into(), Value::Object(mesh_labels));
        }
        m.insert("mesh_type".into(), Value::Object(service_mesh));
    }
    Value::Object(m)
}

/// SMP's data-plane bucket is `sidecar`; meshbench's proxy figures (sidecars, ztunnel,
/// waypoints, cilium-envoy alike) go there, since SMP has no other.
fn sidecar(cluster: &ClusterRecord) -> Option<Value> {
    let cost = cluster.resources.as_ref()?;
    if cost.proxies.is_empty() {
        return None;
    }
    Some(json!({
        "count": count(cost.proxies.len()),
        "cpu_mcores": int32(cost.proxy_cpu_millicores),
        "mem_mb": int32(cost.proxy_memory_bytes / 1e6),
    }))
}

/// Whether every request between meshed pods is mutual TLS; `None` when the mode leaves
/// it open (Istio's PERMISSIVE) or is encryption of another kind (Cilium's WireGuard).
fn mtls_enabled(mode: &str) -> Option<bool> {
    match mode.trim().to_ascii_uppercase().as_str() {
        "STRICT" | "AUTOMATIC" => Some(true),
        "DISABLE" | "DISABLED" => Some(false),
        _ => None,
    }
}

fn environment(result: &BenchmarkResult, ids: &Ids) -> Value {
    let mut m = message(&ids.env, Map::new());
    if let Some(workload) = result.cluster.as_ref().and_then(workload) {
        m.insert("individual_workloads".into(), json!([workload]));
    }
    let mut traffic = Map::new();
    if let Some(host) = result.spec.requests.first().and_then(|r| origin(&r.url)) {
        traffic.insert("host_endpoint".into(), host.into());
    }
    let user_agent = result.spec.requests.first().and_then(|r| {
        r.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
    });
    if let Some((_, ua)) = user_agent {
        traffic.insert("user_agent".into(), ua.clone().into());
    }
    if !traffic.is_empty() {
        m.insert("traffic_metadata".into(), Value::Object(traffic));
    }
    Value::Object(m)
}

/// The application's containers in the benchmarked namespace, as one workload.
fn workload(cluster: &ClusterRecord) -> Option<Value> {
    let cost = cluster.resources.as_ref()?;
    let pods: BTreeSet<(&str, &str)> = cost
        .samples
        .iter()
        .flat_map(|s| &s.containers)
        .filter(|c| c.role == "app")
        .map(|c| (c.namespace.as_str(), c.pod.as_str()))
        .collect();
    if pods.is_empty() {
        return None;
    }
    Some(json!({
        "name": cluster.namespace,
        "count": count(pods.len()),
        "cpu_mcores": int32(cost.app_cpu_millicores),
        "mem_mb": int32(cost.app_memory_bytes / 1e6),
    }))
}

fn origin(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// A proto `Timestamp` in JSON: UTC, `Z`, and 0, 3, 6 or 9 fractional digits.
fn timestamp(at: OffsetDateTime) -> Option<String> {
    let utc = at.checked_to_offset(UtcOffset::UTC)?;
    // The range a proto Timestamp can hold.
    if !(1..=9999).contains(&utc.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        fraction(utc.nanosecond())
    ))
}

/// A proto `Duration` in JSON (`30s`, `1.500s`); SMP's `duration` is a plain string, and
/// this form is also one Go's `time.ParseDuration` (Meshery's reader) accepts.
fn duration(seconds: f64) -> Option<String> {
    // Proto's limit: about 10,000 years.
    const MAX_SECONDS: f64 = 315_576_000_000.0;
    if !seconds.is_finite() || !(0.0..=MAX_SECONDS).contains(&seconds) {
        return None;
    }
    let nanos = (seconds * 1e9).round() as u128;
    let whole = nanos / 1_000_000_000;
    let frac = (nanos % 1_000_000_000) as u32;
    Some(format!("{whole}{}s", fraction(frac)))
}

fn fraction(nanos: u32) -> String {
    if nanos == 0 {
        String::new()
    } else if nanos.is_multiple_of(1_000_000) {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    }
}

/// A proto `double`: proto3 JSON spells the non-finite values as strings, where
/// `serde_json` would write `null`.
fn double(v: f64) -> Value {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "Infinity".into()
    } else if v == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        v.into()
    }
}

/// A proto `int32` from a measured quantity: rounded, saturating at the type's range.
fn int32(v: f64) -> i32 {
    // `as` saturates and maps NaN to 0, which is what a missing figure should read as.
    v.round() as i32
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{ContainerUsage, Injection, MtlsInfo, ResourceCost, ResourceSample};
    use crate::split::{GeneratorFailure, GeneratorsInfo};
    use crate::{GrpcSpec, MeshKind};

    /// An open run at 1,000 requests per second for 30 s, through the given spec.
    fn result(spec: BenchmarkSpec) -> BenchmarkResult {
        serde_json::from_value(json!({
            "schema": crate::RESULT_SCHEMA,
            "spec": spec,
            "model": "open",
            "started_at": "2026-12-06T12:00:00.25Z",
            "ended_at": "2026-12-06T13:00:30.25+01:00",
            "duration_s": 30.0, "requests": 29_400, "errors": 12, "rps": 980.0,
            "requested_rps": 1000.0,
            "latency_us": {"min": 250, "mean": 812.5, "stdev": 90.0, "p50": 700, "p75": 900,
                "p90": 1200, "p95": 2000, "p99": 4500, "p999": 9000, "p9999": 15000, "max": 20000},
            "service_time_us": {"min": 1, "mean": 1.0, "stdev": 0.0, "p50": 1, "p75": 1,
                "p90": 1, "p95": 1, "p99": 1, "p999": 1, "p9999": 1, "max": 1},
            "status_codes": {"200": 29_388}, "error_kinds": {"timeout": 12},
            "bytes_sent": 0, "bytes_received": 0, "timeline": [],
            "histogram": "", "service_histogram": "", "loadgen": crate::LoadgenInfo::default()
        }))
        .unwrap()
    }

    fn open_spec() -> BenchmarkSpec {
        let mut spec = BenchmarkSpec::closed_get("http://echo.bench.svc:8080/echo?size=64");
        spec.connections = 64;
        spec.duration_s = Some(30.0);
        spec.model = LoadModel::Open {
            schedule: RateSchedule::Constant { rps: 1000.0 },
            jitter: 0.0,
            send_window_us: crate::spec::DEFAULT_SEND_WINDOW_US,
        };
        spec.requests[0].method = "POST".into();
        spec.requests[0].headers = vec![
            ("Content-Type".into(), "application/json".into()),
            ("Cookie".into(), "session=abc; theme=dark".into()),
            ("X-Trace".into(), "on".into()),
            ("x-trace".into(), "twice".into()),
            ("User-Agent".into(), "meshbench-test".into()),
        ];
        spec.requests[0].body = Some("{}".into());
        spec
    }

    fn cluster(mesh: MeshKind, mode: Option<&str>, mtls: Option<&str>) -> ClusterRecord {
        let usage = |pod: &str, role: &str, cpu: f64| ContainerUsage {
            namespace: "bench".into(),
            pod: pod.into(),
            container: role.into(),
            role: role.into(),
            cpu_millicores: cpu,
            memory_bytes: 1e6,
        };
        ClusterRecord {
            namespace: "bench".into(),
            mesh: Some(MeshStatus {
                namespace: "bench".into(),
                mesh,
                mode: mode.map(Into::into),
                version: Some("2.16.1".into()),
                control_plane_version: Some("2.16.0".into()),
                injection: Injection::default(),
                mtls: mtls.map(|m| MtlsInfo {
                    mode: m.into(),
                    source: "test".into(),
                }),
                control_plane: None,
                waypoints: Vec::new(),
                l7_proxy: None,
                other_meshes: Vec::new(),
                expected: None,
                agrees: None,
                evidence: Vec::new(),
            }),
            mesh_error: None,
            mesh_mismatch: false,
            resources: Some(ResourceCost {
                proxy_cpu_millicores: 20.4,
                proxy_memory_bytes: 52_428_800.0,
                app_cpu_millicores: 150.6,
                app_memory_bytes: 2.0e8,
                proxy_cpu_millicores_per_1k_rps: Some(20.8),
                proxy_memory_bytes_per_1k_rps: Some(53_000_000.0),
                proxies: vec!["bench/echo-1/proxy".into(), "bench/echo-2/proxy".into()],
                samples: vec![ResourceSample {
                    t_s: 0.0,
                    containers: vec![
                        usage("echo-1", "app", 75.0),
                        usage("echo-2", "app", 75.6),
                        usage("echo-1", "proxy", 10.0),
                    ],
                }],
            }),
            resources_error: None,
        }
    }

    #[test]
    fn latencies_are_milliseconds_of_the_corrected_latency() {
        let doc = to_smp(&result(open_spec()), "istio");
        let r = &doc["performance_test_result"];
        assert_eq!(
            r["latencies_ms"],
            json!({"min": 0.25, "average": 0.8125, "p50": 0.7, "p90": 1.2, "p99": 4.5,
                "max": 20.0})
        );
        assert_eq!(r["actual_qps"], json!(980.0));
        assert_eq!(r["labels"]["meshbench/errors"], "12");
        assert_eq!(r["labels"]["meshbench/requests"], "29400");
        assert_eq!(r["labels"]["meshbench/model"], "open");
    }

    #[test]
    fn times_are_utc_timestamps_and_the_duration_a_proto_duration() {
        let doc = to_smp(&result(open_spec()), "istio");
        let r = &doc["performance_test_result"];
        assert_eq!(r["start_time"], "2026-12-06T12:00:00.250Z");
        assert_eq!(r["end_time"], "2026-12-06T12:00:30.250Z");
        assert_eq!(doc["performance_test_config"]["duration"], "30s");
        // Proto writes 0, 3, 6 or 9 fractional digits.
        assert_eq!(duration(1.5).as_deref(), Some("1.500s"));
        assert_eq!(duration(0.000_002).as_deref(), Some("0.000002s"));
        assert_eq!(duration(-1.0), None);
        assert_eq!(duration(f64::NAN), None);
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_000_000_000_123_456_789).unwrap();
        assert_eq!(
            timestamp(t).as_deref(),
            Some("2001-09-09T01:46:40.123456789Z")
        );
        assert_eq!(double(f64::NAN), json!("NaN"));
    }

    #[test]
    fn the_load_is_one_client_with_connections_rate_and_request() {
        let doc = to_smp(&result(open_spec()), "istio");
        let config = &doc["performance_test_config"];
        assert_eq!(config["smp_version"], SMP_VERSION);
        let clients = config["clients"].as_array().unwrap();
        assert_eq!(clients.len(), 1);
        let c = &clients[0];
        assert_eq!(c["load_generator"], "meshbench");
        assert_eq!(c["protocol"], "PROTOCOL_HTTP");
        assert_eq!(c["connections"], 64);
        assert_eq!(c["rps"], 1000);
        assert_eq!(
            c["endpoint_urls"],
            json!(["http://echo.bench.svc:8080/echo?size=64"])
        );
        assert_eq!(c["content_type"], "application/json");
        assert_eq!(c["cookies"], json!({"session": "abc", "theme": "dark"}));
        assert_eq!(
            c["headers"],
            json!({"X-Trace": "on", "x-trace": "twice", "User-Agent": "meshbench-test"})
        );
        assert_eq!(c["body"], "{}");
        let options: Value =
            serde_json::from_str(c["additional_options"].as_str().unwrap()).unwrap();
        assert_eq!(options["model"], "open");
        assert_eq!(options["method"], "POST");
        assert_eq!(
            options["schedule"],
            json!({"kind": "constant", "rps": 1000.0})
        );
        assert_eq!(options["protocol"], "http1");
        let env = &doc["environment_config"]["traffic_metadata"];
        assert_eq!(env["host_endpoint"], "http://echo.bench.svc:8080");
        assert_eq!(env["user_agent"], "meshbench-test");
    }

    #[test]
    fn only_a_constant_rate_has_an_rps() {
        let closed = BenchmarkSpec::closed_get("http://echo/");
        let doc = to_smp(&result(closed), "baseline");
        let c = &doc["performance_test_config"]["clients"][0];
        assert_eq!(c["connections"], 50);
        assert!(c.get("rps").is_none(), "{c}");
        let mut steps = BenchmarkSpec::closed_get("http://echo/");
        steps.duration_s = None;
        steps.model = LoadModel::Open {
            schedule: RateSchedule::Steps {
                from: 100.0,
                to: 300.0,
                step: 100.0,
                step_duration_s: 10.0,
            },
            jitter: 0.0,
            send_window_us: crate::spec::DEFAULT_SEND_WINDOW_US,
        };
        let doc = to_smp(&result(steps), "baseline");
        let config = &doc["performance_test_config"];
        assert!(config["clients"][0].get("rps").is_none());
        assert_eq!(config["duration"], "30s", "the schedule's own length");
    }

    #[test]
    fn grpc_and_websocket_map_to_smp_protocols() {
        let mut grpc = BenchmarkSpec::closed_get("grpc://echo:9000");
        grpc.protocol = HttpVersion::Grpc;
        grpc.grpc = Some(GrpcSpec::default());
        let doc = to_smp(&result(grpc), "baseline");
        let c = &doc["performance_test_config"]["clients"][0];
        assert_eq!(c["protocol"], "PROTOCOL_GRPC");
        assert!(c["additional_options"]
            .as_str()
            .unwrap()
            .contains("meshbench.echo.v1.Echo/Unary"));
        let mut ws = BenchmarkSpec::closed_get("ws://echo/ws");
        ws.protocol = HttpVersion::Websocket;
        let doc = to_smp(&result(ws), "baseline");
        assert_eq!(
            doc["performance_test_config"]["clients"][0]["protocol"],
            "PROTOCOL_HTTP"
        );
    }

    #[test]
    fn a_split_run_has_one_client_per_completed_generator() {
        let mut r = result(open_spec());
        r.generators = Some(GeneratorsInfo {
            count: 3,
            completed: 2,
            parts: vec!["a".into(), "b".into(), "c".into()],
            failed: vec![GeneratorFailure {
                index: 1,
                job_id: "b".into(),
                error: "lost".into(),
            }],
            ..GeneratorsInfo::default()
        });
        let doc = to_smp(&r, "istio");
        let clients = doc["performance_test_config"]["clients"]
            .as_array()
            .unwrap();
        let load: Vec<(i64, i64)> = clients
            .iter()
            .map(|c| {
                (
                    c["connections"].as_i64().unwrap(),
                    c["rps"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(load, [(22, 333), (21, 333)]);
    }

    #[test]
    fn mesh_labels_map_to_smp_mesh_types() {
        for (label, want) in [
            ("baseline", None),
            ("istio", Some("ISTIO")),
            ("istio_ambient", Some("ISTIO")),
            ("Istio-Ambient", Some("ISTIO")),
            ("linkerd", Some("LINKERD")),
            ("cilium", Some("CILIUM_SERVICE_MESH")),
            ("CONSUL", Some("CONSUL")),
            ("open_service_mesh", Some("OPEN_SERVICE_MESH")),
            ("mymesh", None),
            ("", None),
        ] {
            assert_eq!(smp_mesh_type(label), want, "{label}");
        }
        let doc = to_smp(&result(open_spec()), "baseline");
        let mesh = &doc["service_mesh_config"];
        assert!(mesh.get("mesh_type").is_none(), "{mesh}");
        assert_eq!(mesh["labels"]["meshbench/mesh"], "baseline");
        let doc = to_smp(&result(open_spec()), "mymesh");
        let mesh = &doc["service_mesh_config"];
        assert!(mesh.get("mesh_type").is_none(), "{mesh}");
        assert_eq!(mesh["labels"]["meshbench/mesh"], "mymesh");
        let doc = to_smp(&result(open_spec()), "istio_ambient");
        assert_eq!(
            doc["service_mesh_config"]["mesh_type"],
            json!({"type": "ISTIO", "labels": {"meshbench/mode": "ambient"}})
        );
        // No label at all: the spec's own mesh_type.
        let mut spec = open_spec();
        spec.mesh_type = MeshKind::Cilium;
        let doc = to_smp(&result(spec), " ");
        assert_eq!(
            doc["service_mesh_config"]["mesh_type"]["type"],
            "CILIUM_SERVICE_MESH"
        );
    }

    #[test]
    fn the_detected_mesh_and_its_cost_win_over_the_label() {
        let mut r = result(open_spec());
        r.cluster = Some(cluster(
            MeshKind::Linkerd,
            Some("sidecar"),
            Some("automatic"),
        ));
        let doc = to_smp(&r, "istio");
        let mesh = &doc["service_mesh_config"];
        assert_eq!(
            mesh["mesh_type"],
            json!({"type": "LINKERD", "version": "2.16.0",
                "labels": {"meshbench/mode": "sidecar"}})
        );
        assert_eq!(mesh["mesh_build"], "2.16.0");
        assert_eq!(mesh["proxy_build"], "2.16.1");
        assert_eq!(mesh["mtls_enabled"], true);
        assert_eq!(mesh["labels"]["meshbench/mtls_mode"], "automatic");
        assert_eq!(mesh["labels"]["meshbench/namespace"], "bench");
        assert_eq!(
            mesh["sidecar"],
            json!({"count": 2, "cpu_mcores": 20, "mem_mb": 52})
        );
        assert_eq!(
            doc["environment_config"]["individual_workloads"],
            json!([{"name": "bench", "count": 2, "cpu_mcores": 151, "mem_mb": 200}])
        );
        let mut r = result(open_spec());
        r.cluster = Some(cluster(MeshKind::Istio, None, Some("PERMISSIVE")));
        let mesh = &to_smp(&r, "istio")["service_mesh_config"];
        assert!(mesh.get("mtls_enabled").is_none(), "{mesh}");
        assert_eq!(mtls_enabled("STRICT"), Some(true));
        assert_eq!(mtls_enabled("DISABLE"), Some(false));
        assert_eq!(mtls_enabled("wireguard"), None);
    }

    #[test]
    fn the_ids_link_the_messages_and_are_stable() {
        let r = result(open_spec());
        let doc = to_smp(&r, "istio");
        let res = &doc["performance_test_result"];
        assert_eq!(res["test_id"], doc["performance_test_config"]["id"]);
        assert_eq!(res["mesh_config_id"], doc["service_mesh_config"]["id"]);
        assert_eq!(res["env_id"], doc["environment_config"]["id"]);
        assert_eq!(doc, to_smp(&r, "istio"));
    }

    /// The fields of each message and the values of each enum of the SMP protos.
    #[derive(Default)]
    struct Proto {
        /// Message path (`PerformanceTestConfig.Client`) → field name → type as written.
        messages: BTreeMap<String, BTreeMap<String, String>>,
        /// Enum path → value names.
        enums: BTreeMap<String, BTreeSet<String>>,
    }

    enum Kind {
        Message(String),
        Enum(String),
    }

    impl Proto {
        /// Enough of the proto grammar for SMP's files: one declaration a line.
        fn parse(sources: &[&str]) -> Proto {
            let mut proto = Proto::default();
            for source in sources {
                let mut scope: Vec<(bool, String)> = Vec::new();
                for line in source.lines() {
                    let line = line.split("//").next().unwrap().trim();
                    let words: Vec<&str> = line.split_whitespace().collect();
                    match words.as_slice() {
                        ["message", name, "{"] => scope.push((false, name.to_string())),
                        ["enum", name, "{"] => scope.push((true, name.to_string())),
                        ["}"] => {
                            scope.pop();
                        }
                        _ if line.ends_with(';') && line.contains('=') && !scope.is_empty() => {
                            let path: Vec<&str> = scope.iter().map(|(_, n)| n.as_str()).collect();
                            let path = path.join(".");
                            let left: Vec<&str> =
                                line.split('=').next().unwrap().split_whitespace().collect();
                            if scope.last().unwrap().0 {
                                proto
                                    .enums
                                    .entry(path)
                                    .or_default()
                                    .insert(left[0].to_string());
                            } else {
                                let name = left[left.len() - 1].to_string();
                                let ty = left[left.len() - 2].to_string();
                                proto.messages.entry(path).or_default().insert(name, ty);
                            }
                        }
                        _ => {}
                    }
                }
            }
            proto
        }

        /// A type name as proto resolves it: innermost scope first.
        fn resolve(&self, scope: &str, ty: &str) -> Option<Kind> {
            let mut prefix = Some(scope);
            loop {
                let candidate = match prefix {
                    Some(p) => format!("{p}.{ty}"),
                    None => ty.to_string(),
                };
                if self.messages.contains_key(&candidate) {
                    return Some(Kind::Message(candidate));
                }
                if self.enums.contains_key(&candidate) {
                    return Some(Kind::Enum(candidate));
                }
                prefix = match prefix {
                    Some(p) => p.rsplit_once('.').map(|(parent, _)| parent),
                    None => return None,
                };
            }
        }

        fn check(&self, message: &str, value: &Value, at: &str, errors: &mut Vec<String>) {
            let Some(object) = value.as_object() else {
                errors.push(format!("{at}: not an object"));
                return;
            };
            let fields = &self.messages[message];
            for (key, v) in object {
                let at = format!("{at}.{key}");
                let Some(ty) = fields.get(key) else {
                    errors.push(format!("{at}: {message} has no such field"));
                    continue;
                };
                if ty.ends_with('>') {
                    // map<string, string>
                    if !v
                        .as_object()
                        .is_some_and(|m| m.values().all(Value::is_string))
                    {
                        errors.push(format!("{at}: not a map of strings"));
                    }
                    continue;
                }
                let items = match v {
                    Value::Array(items) => items.iter().collect(),
                    v => vec![v],
                };
                for item in items {
                    match self.resolve(message, ty) {
                        Some(Kind::Message(m)) => self.check(&m, item, &at, errors),
                        Some(Kind::Enum(e)) => {
                            let name = item.as_str().unwrap_or_default();
                            if !self.enums[&e].contains(name) {
                                errors.push(format!("{at}: {item} is not a value of {e}"));
                            }
                        }
                        None => {}
                    }
                }
            }
        }
    }

    #[test]
    fn every_key_and_enum_value_is_one_the_spec_defines() {
        let proto = Proto::parse(&[
            include_str!("../tests/fixtures/smp/service_mesh_performance.proto"),
            include_str!("../tests/fixtures/smp/service_mesh.proto"),
            include_str!("../tests/fixtures/smp/metadata.proto"),
        ]);
        assert!(proto.messages["PerformanceTestResult.Latency"].contains_key("p99"));
        assert!(proto.enums["ServiceMesh.Type"].contains("CILIUM_SERVICE_MESH"));
        // The check itself notices a wrong name, a wrong nesting and a wrong enum value.
        let mut errors = Vec::new();
        let wrong = json!({"latencies": {}, "mesh_type": {"type": "NONE"},
            "sidecar": {"p95": 1}, "labels": {"a": 1}});
        proto.check("ServiceMeshConfig", &wrong, "wrong", &mut errors);
        assert_eq!(errors.len(), 4, "{errors:#?}");
        let mut grpc = BenchmarkSpec::closed_get("grpc://echo:9000");
        grpc.protocol = HttpVersion::Grpc;
        let mut linkerd = result(open_spec());
        linkerd.cluster = Some(cluster(MeshKind::Linkerd, Some("sidecar"), Some("STRICT")));
        let docs = [
            to_smp(&result(open_spec()), "baseline"),
            to_smp(&result(open_spec()), "istio_ambient"),
            to_smp(&result(grpc), "cilium"),
            to_smp(&linkerd, "linkerd"),
        ];
        let messages = [
            ("performance_test_config", "PerformanceTestConfig"),
            ("performance_test_result", "PerformanceTestResult"),
            ("service_mesh_config", "ServiceMeshConfig"),
            ("environment_config", "EnvironmentConfig"),
        ];
        let mut errors = Vec::new();
        for doc in &docs {
            let keys: BTreeSet<&str> = doc
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            assert_eq!(keys, messages.iter().map(|(k, _)| *k).collect());
            for (key, message) in messages {
                assert_eq!(doc[key]["smp_version"], SMP_VERSION);
                proto.check(message, &doc[key], key, &mut errors);
            }
        }
        assert!(errors.is_empty(), "{errors:#?}");
    }
}
