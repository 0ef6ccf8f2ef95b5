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

/** Per mesh and configuration: an aggregate of `/metrics/summary` over its valid runs. */
export interface MeshGroup {
	test_type: TestType;
	mesh_type: string;
	/** The configuration's label (`c=10 closed h1 GET body=0B`): meshes are compared only within one. */
	config: string;
	/** Valid completed runs. */
	count: number;
	requests: number;
	errors: number;
	p50_us: Moments;
	p90_us: Moments;
	p99_us: Moments;
	p999_us: Moments;
	rps: Moments;
}

/** Mean and spread of a figure over repeated runs; `low`–`high` is the 95 % interval of the mean. */
export interface Moments {
	mean: number;
	stdev: number;
	min?: number;
	max?: number;
	low?: number;
	high?: number;
}

/** One mesh's latency overhead against baseline (same configuration) at one percentile, with Welch's 95 % interval. */
export interface OverheadCell {
	baseline_us: number;
	mesh_us: number;
	overhead_us: number;
	overhead_pct: number;
	spread_us: number;
	low_us?: number;
	high_us?: number;
	low_pct?: number;
	high_pct?: number;
	/** The interval excludes zero (and both sides have two runs or more). */
	significant?: boolean;
}

/** Throughput against baseline: the same figures without the `_us` suffix. */
export interface ThroughputOverhead {
	baseline: number;
	mesh: number;
	overhead: number;
	overhead_pct: number;
	spread?: number;
	low?: number;
	high?: number;
	low_pct?: number;
	high_pct?: number;
	significant?: boolean;
}

/** One mesh against baseline in one configuration. */
export interface OverheadEntry {
	test_type: TestType;
	mesh_type: string;
	config?: string;
	baseline_runs: number;
	mesh_runs: number;
	latency: Record<string, OverheadCell>;
	throughput?: ThroughputOverhead;
}

/** Invalid runs `/metrics/summary` left out, per test type and mesh. */
export interface InvalidRunCount {
	test_type: TestType;
	mesh_type: string;
	count: number;
}

/** `/metrics/summary`. */
export interface MetricsSummary {
	mesh_type: string | null;
	meshes: MeshGroup[];
	overhead: OverheadEntry[];
	invalid_runs?: InvalidRunCount[];
	/** `welch`. */
	method?: string;
	/** 0.95. */
	confidence?: number;
}

/** Where a run stands in the series started together. */
export type SeriesPlace = S['SeriesPlace'];
/** `POST /series/start`: several configurations, repeated and interleaved. */
export type SeriesStart = S['SeriesStart'];
/** `GET /series/{id}`: a series' runs and statistics. */
export type SeriesView = S['SeriesView'];
/** A series' statistics over its valid runs. */
export type SeriesStats = S['SeriesStats'];
/** One figure of a series with its interval. */
export type SeriesFigure = S['SeriesFigure'];
/** An estimate and its 95 % interval. */
export type Interval = S['Interval'];
/** What an interval was resampled over: the runs' values, or their seconds pooled. */
export type IntervalMethod = S['Method'];
/** A run left out of statistics as invalid, with its reasons. */
export type LeftOut = S['LeftOut'];
/** A run flagged as an outlier on one figure (still counted). */
export type Outlier = S['Outlier'];
/** The body of `POST /metrics/compare`. */
export type CompareRequest = S['CompareRequest'];
/** The answer of `POST /metrics/compare`. */
export type Comparison = S['Comparison'];
/** One figure of a comparison. */
export type ComparedFigure = S['ComparedFigure'];
/** A comparison's difference with its intervals. */
export type Difference = S['Difference'];
/** A gate's outcome. */
export type GateOutcome = S['GateOutcome'];
/** How a figure moved. */
export type Verdict = S['Verdict'];
/** One side of a comparison. */
export type ComparisonSide = S['Side'];

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

/** Where the mesh lab's proxies stand between client and server. */
export type LabTopologyName = S['LabTopology'];
/** Every lab topology, in the order comparisons list them. */
export const LAB_TOPOLOGIES: LabTopologyName[] = ['baseline', 'sidecar', 'sidecar-mtls', 'node-proxy', 'node-proxy-waypoint'];
/** One topology as the lab builds it: its hops, client side first. */
export type TopologyInfo = S['TopologyInfo'];
/** A hop of a topology's path: its server end and port. */
export type HopInfo = S['HopInfo'];
/** The body of `POST /lab/compare`. */
export type LabCompareRequest = Omit<S['LabCompareRequest'], 'configuration'> & { configuration?: Partial<StartRequest> | null };

/** A process the lab started. */
export interface LabProcess {
	/** What it is (`target`, `client-sidecar`, …). */
	name: string;
	pid: number;
	/** The network namespace it runs in. */
	namespace: string;
	/** Its log file. */
	log: string;
}

/** What is up (`POST /lab/up`'s answer, `GET /lab`'s `up`). */
export interface LabState {
	topology: LabTopologyName;
	/** The URL a client in the client host sends to. */
	url: string;
	envoy_version?: string | null;
	/** Every process started, application first. */
	processes: LabProcess[];
}

/** `GET /lab`: the topologies, what is up, whether the lab can come up here. */
export type LabView = Omit<S['LabView'], 'up'> & { up?: LabState | null };

/** One proxy's cost over a run (or the mean over a topology's runs). */
export interface ProxyCost {
	name: string;
	/** CPU seconds it used. */
	cpu_s: number;
	/** CPU per 1,000 req/s of throughput, millicores. */
	millicores_per_1k_rps: number;
	/** Peak resident memory, bytes. */
	peak_rss_bytes: number;
	/** The connections it opened to the next host and their time to ready (proxies whose upstream is on another host). */
	upstream_connects?: UpstreamConnects | null;
}

/** A proxy's new connections to the next host: TCP connect, plus the TLS handshake with mutual TLS. */
export interface UpstreamConnects {
	connections: number;
	tls: boolean;
	/** Median time to ready, µs. */
	p50_us: number;
	/** Longest, µs. */
	max_us: number;
}

/** One part of a hop breakdown: `→ NAME` the wire and kernels to hop NAME, `NAME` the time inside it. */
export interface HopPart {
	part: string;
	/** Its share, µs, never below zero. */
	us: number;
	/** As computed (a tail can make it negative). */
	raw_us: number;
}

/** A path's latency at one percentile split into its parts, client → application. */
export interface HopBreakdown {
	percentile: 'p50' | 'p99';
	parts: HopPart[];
	/** The parts' sum, µs. */
	total_us: number;
	/** The first hop's exchange time: what the client's kernel saw, µs. */
	client_kernel_us: number;
}

/** Where a topology's latency goes at p50 and p99, with the client's measured latency beside it. */
export interface LabHops {
	p50: HopBreakdown;
	p99: HopBreakdown;
	client_p50_us: number;
	client_p99_us: number;
}

/** What a run through the lab records beside its result. */
export interface LabRecord {
	topology: LabTopologyName;
	envoy_version?: string | null;
	proxies: ProxyCost[];
	hops?: LabHops | null;
}

/** One topology of a lab comparison. */
export type LabTopologyView = Omit<S['LabTopologyView'], 'proxies' | 'hops'> & {
	proxies: ProxyCost[];
	hops?: LabHops | null;
};

/** `GET /lab/compare/{group}`: each topology against the first. */
export interface LabComparisonView {
	group: string;
	topologies: LabTopologyView[];
}

/** What a user may do: read (`viewer`), also start and change things (`operator`), also manage users (`admin`). */
export type Role = S['Role'];
/** Every role, least first. */
export const ROLES: Role[] = ['viewer', 'operator', 'admin'];
/** A user of the platform as `/users` lists them (never with a password). */
export type User = S['User'];

// The document leaves the other auth and admin bodies loosely typed (roles as strings, a
// token and an audit entry as open objects): these are written out from the handlers.

/**
 * `GET /auth/me`: who is calling. In `development` mode (the server has no users) nobody logs
 * in, `username` is null and the role is `admin`.
 */
export interface Me {
	username: string | null;
	role: Role;
	mode: 'login' | 'development';
}

/** An API token as listed (its secret is never shown again after it is made). */
export interface ApiToken {
	/** The id inside the secret (`mbt_<id>_…`). */
	token_id: string;
	/** Whose it is: it acts with their role. */
	username: string;
	name: string;
	created_at: string;
	/** Null: until revoked. */
	expires_at?: string | null;
	last_used_at?: string | null;
	revoked_at?: string | null;
}

/** `POST /auth/tokens`' answer: the token with its secret, shown this once. */
export type MadeToken = ApiToken & {
	/** `mbt_<id>_<hex>`, sent as `Authorization: Bearer <token>`. */
	token: string;
};


/** The body of `POST /users`. */
export interface NewUser {
	username: string;
	password: string;
	role: Role;
}

/** The body of `PATCH /users/{username}`: only what changes. */
export interface UserUpdate {
	role?: Role;
	disabled?: boolean;
	password?: string;
}

/** One line of the audit log (`/audit`), newest first. */
export interface AuditEntry {
	audit_id: number;
	at: string;
	/** Who acted; null in development mode or for a failed login of an unknown name. */
	username: string | null;
	role: Role | null;
	/** `benchmark.start`, `report.share_revoke`, `user.add`, `token.create`, `login`… */
	action: string;
	/** What it acted on (a job id, a user name…). */
	subject: string | null;
	/** Where the load went, for actions that send load. */
	target: string | null;
	/** The caller's network address. */
	address: string | null;
	/** `ok` or `refused`. */
	outcome: string;
	detail: string | null;
}

/** The filters and page of `GET /audit`. */
export interface AuditQuery {
	limit?: number;
	offset?: number;
	username?: string;
	action?: string;
}
