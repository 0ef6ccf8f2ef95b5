// The API's types. Those the server describes in its OpenAPI document are taken from the
// generated `api-schema.d.ts` (regenerate with `npm run gen:api`; a test checks it is current);
// the rest are written out here from the handlers.

import type { components } from './api-schema';
import type { ProbeReport } from './result';

type S = components['schemas'];

/** A benchmark job. */
export type BenchmarkJob = S['BenchmarkJob'];
/** Lifecycle state of a job. */
export type JobStatus = S['JobStatus'];
/** Workload kind. */
export type TestType = S['TestType'];
/** Headline numbers of a finished job. */
export type JobSummary = S['JobSummary'];
/** A live event from `/ws`. */
export type JobEvent = S['JobEvent'];
/** The start request (every field but the type has a default). */
export type StartRequest = S['StartRequest'];
/** The answer to a start request. */
export type StartResponse = S['StartResponse'];
/** One broken rule of a 422 answer. */
export type FieldError = S['FieldError'];
/** The error body of every failed call. */
export type ErrorBody = S['ErrorBody'];
/** The latency and service-time distributions of a finished job. */
export type Distribution = S['JobDistribution'];
/** One side (latency or service time) of a distribution. */
export type DistributionSide = S['Distribution'];
/** A point of a percentile spectrum. */
export type SpectrumPoint = S['SpectrumPoint'];
/** A generated report. */
export type Report = S['Report'];
/** The body of `POST /reports/generate`. */
export type GenerateReportRequest = S['GenerateReportRequest'];

/** Every status, in lifecycle order. */
export const JOB_STATUSES: JobStatus[] = ['pending', 'running', 'completed', 'failed', 'cancelled'];
/** Every test type. */
export const TEST_TYPES: TestType[] = ['http', 'grpc', 'websocket', 'ml'];
/** Mesh labels offered in forms (any other name is accepted too). */
export const MESH_TYPES = ['baseline', 'istio', 'istio_ambient', 'linkerd', 'cilium'];

/** A mesh the Kubernetes endpoints detect or expect; `baseline` is none. */
export type MeshKind = S['MeshKind'];
/** Every mesh kind, in the order offered. */
export const MESH_KINDS: MeshKind[] = ['baseline', 'istio', 'istio_ambient', 'linkerd', 'cilium'];
/** `/health`'s word on the cluster: configured, connected, which server, which version. */
export type KubernetesCapability = S['KubernetesCapability'];
/** `GET /kubernetes/namespaces`. */
export type NamespaceList = S['NamespaceList'];
/** A namespace with a summary of the mesh serving it. */
export type NamespaceInfo = S['NamespaceInfo'];
/** The short form of a namespace's mesh record. */
export type MeshSummary = S['MeshSummary'];
/** `GET /kubernetes/pods/{namespace}`. */
export type PodList = S['PodList'];
/** A pod, with the mesh proxy it carries. */
export type PodInfo = S['PodInfo'];
/** `GET /kubernetes/services/{namespace}`. */
export type ServiceList = S['ServiceList'];
/** A service. */
export type ServiceInfo = S['ServiceInfo'];
/** One port of a service. */
export type ServicePortInfo = S['ServicePortInfo'];
/** `GET /kubernetes/mesh-status/{namespace}`: a namespace's full mesh record. */
export type MeshStatus = S['MeshStatus'];
/** Which pods of a namespace have a proxy and which do not. */
export type Injection = S['Injection'];
/** Mutual TLS as the mesh's own objects declare it. */
export type MtlsInfo = S['MtlsInfo'];
/** A mesh's control plane. */
export type ControlPlane = S['ControlPlane'];
/** One Deployment or DaemonSet of a control plane. */
export type ControlPlaneComponent = S['Component'];

/** Sortable job columns. */
export type JobSortKey = 'created_at' | 'started_at' | 'completed_at' | 'status' | 'test_type' | 'mesh_type' | 'namespace';

/** The filters of `/benchmarks/jobs` and `/metrics/results`. */
export interface JobFilters {
	status?: JobStatus;
	test_type?: TestType;
	mesh_type?: string;
	namespace?: string;
	since?: string;
	until?: string;
	limit?: number;
	offset?: number;
	sort?: JobSortKey;
	order?: 'asc' | 'desc';
}

/** One row of `/metrics/results`. */
export interface MetricsResult {
	job_id: string;
	test_type: TestType;
	mesh_type: string;
	namespace: string;
	status: JobStatus;
	completed_at: string | null;
	summary: JobSummary | null;
}

/** Per-mesh aggregate of `/metrics/summary`. */
export interface MeshGroup {
	test_type: TestType;
	mesh_type: string;
	count: number;
	requests: number;
	errors: number;
	p50_us: Moments;
	p90_us: Moments;
	p99_us: Moments;
	p999_us: Moments;
	rps: Moments;
}

/** Mean and spread of a figure over repeated runs. */
export interface Moments {
	mean: number;
	stdev: number;
	min?: number;
	max?: number;
}

/** One mesh's overhead against baseline at one percentile. */
export interface OverheadCell {
	baseline_us: number;
	mesh_us: number;
	overhead_us: number;
	overhead_pct: number;
	spread_us: number;
}

/** `/metrics/summary`. */
export interface MetricsSummary {
	mesh_type: string | null;
	meshes: MeshGroup[];
	overhead: {
		test_type: TestType;
		mesh_type: string;
		baseline_runs: number;
		mesh_runs: number;
		latency: Record<string, OverheadCell>;
	}[];
}

/** `/health` (a degraded server answers 503 with the same body). */
export type Health = S['Health'];

/** `POST /ebpf/probe/start` (unknown fields are refused). */
export type ProbeRequest = S['ProbeRequest'];
/** The answer to a probe start request (202). */
export type ProbeStarted = S['ProbeStarted'];
/** One second of a probe run: in its report's `timeline`, and live in `probe_progress` events. */
export type ProbeTimelineEntry = S['ProbeTimelineEntry'];
/** The download forms of a probe report. */
export type ProbeOutputFormat = 'json' | 'csv' | 'table';
/** Every download form, in the order offered. */
export const PROBE_OUTPUT_FORMATS: ProbeOutputFormat[] = ['json', 'csv', 'table'];

/** One probe run (`/ebpf/probe/jobs`; listings leave `result` null). */
export interface ProbeJob {
	probe_id: string;
	status: JobStatus;
	duration: number;
	output_format: string;
	created_at: string;
	started_at: string | null;
	completed_at: string | null;
	error: string | null;
	/** The `meshbench.probe.v1` report, once the run has one (only from `/ebpf/probe/jobs/{id}`). */
	result: ProbeReport | null;
	/** The request as stored. */
	request: ProbeRequest | null;
}

/** `/ebpf/probe/status`: whether probes can run here (and exactly why not), and the runs in progress. */
export type ProbeStatus = Omit<S['ProbeStatus'], 'running'> & { running: ProbeJob[] };

/** The histograms a probe report carries, by their names in it. */
export type ProbeHistogramName = 'connections' | 'accepts' | 'lifetimes' | 'rtt_us' | 'server_time_us' | 'exchange_time_us';
/** Every probe histogram, in the order shown. */
export const PROBE_HISTOGRAMS: ProbeHistogramName[] = ['connections', 'accepts', 'lifetimes', 'rtt_us', 'server_time_us', 'exchange_time_us'];

/** `/ebpf/probe/jobs/{id}/distribution`: each histogram as a distribution (empty ones may be absent). */
export type ProbeDistribution = Omit<S['ProbeDistribution'], 'histograms'> & {
	histograms: Partial<Record<ProbeHistogramName, DistributionSide>>;
};

/** The answer to stopping a probe (202). */
export interface ProbeCancelResponse {
	probe_id: string;
	status: string;
}

/** The answer to a cancel. */
export interface CancelResponse {
	job_id: string;
	status: JobStatus;
	message: string;
}
