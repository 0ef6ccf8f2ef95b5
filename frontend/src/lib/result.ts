// The `meshbench.result.v1` document (docs/result-schema.md). The API serves it as an untyped
// object, so its shape is written out here; fields are only ever added within v1.

import type { MeshStatus } from './types';

/** Latency summary in µs (all 11 keys always present). */
export interface LatencySummary {
	min: number;
	mean: number;
	stdev: number;
	p50: number;
	p75: number;
	p90: number;
	p95: number;
	p99: number;
	p999: number;
	p9999: number;
	max: number;
}

/** One second of measurement. */
export interface TimelineEntry {
	second: number;
	requests: number;
	errors: number;
	p50_us: number;
	p99_us: number;
	requested?: number;
}

/** What the load generator cost and whether it kept up. */
export interface LoadgenInfo {
	threads: number;
	connections: number;
	cpu_s: number;
	cpu_user_s: number;
	cpu_system_s: number;
	max_rss_bytes: number;
	saturated: boolean;
	saturation_reasons?: string[];
	send_lag_us?: LatencySummary;
	/** The client that carried the load: `event-loop`, `hyper` or `async`. */
	client?: string;
}

/** The open model's rate over time. */
export type Schedule =
	| { kind: 'constant'; rps: number }
	| { kind: 'steps'; from: number; to: number; step: number; step_duration_s: number }
	| { kind: 'ramp'; from: number; to: number; over_s: number };

/** One request the run sent, round-robin. */
export interface RequestSpec {
	method: string;
	url: string;
	headers: [string, string][];
	body?: string;
}

/** The benchmark that was run, defaults applied. */
export interface BenchmarkSpec {
	requests: RequestSpec[];
	protocol: string;
	connections: number;
	streams: number;
	threads: number;
	model: 'closed' | 'open';
	schedule?: Schedule;
	jitter?: number;
	send_window_us?: number;
	duration_s?: number;
	max_requests?: number;
	warmup_s: number;
	connect_timeout_s: number;
	request_timeout_s: number;
	insecure: boolean;
	mesh_type: string;
	[extra: string]: unknown;
}

/** What a WebSocket run adds. */
export interface WebSocketResult {
	connections_opened: number;
	connections_failed: number;
	connections_alive: number;
	connections_closed: number;
	connect_us: LatencySummary;
	connect_histogram: string;
	messages_sent: number;
	messages_received: number;
	message_size: number;
	binary: boolean;
	hold: boolean;
}

/** What a gRPC run adds. */
export interface GrpcResult {
	call: string;
	kind: string;
	status_codes: Record<string, number>;
	messages_sent: number;
	messages_received: number;
	first_message_us?: LatencySummary;
	message_gap_us?: LatencySummary;
	message_rtt_us?: LatencySummary;
}

/** What an ML-inference run adds. */
export interface MlResult {
	api: string;
	model: string;
	stream: boolean;
	ttft_us?: LatencySummary;
	itl_us?: LatencySummary;
	tpot_us?: LatencySummary;
	output_tokens: number;
	output_tokens_per_s: number;
}

/** Percentiles and mean of a kernel measurement, µs. */
export interface KernelLatency {
	p50: number;
	p90: number;
	p99: number;
	max: number;
	mean: number;
}

/** Handshakes (connections: SYN sent → SYN-ACK; accepts: SYN-ACK sent → final ACK). */
export interface KernelHandshakes {
	count: number;
	latency_us: KernelLatency;
	/** Base64 HdrHistogram, µs. */
	histogram: string;
}

/** Samples of a per-request or per-segment time (rtt, server time, exchange time), µs. */
export interface KernelSamples extends KernelLatency {
	count: number;
	histogram: string;
}

/** One second of the kernel's view (`second` as in the result's own timeline). */
export interface KernelTimelineEntry {
	second: number;
	connects: number;
	accepts: number;
	closes: number;
	connect_p50_us: number;
	connect_p99_us: number;
	rtt_p50_us: number;
	retransmits: number;
	resets: number;
	bytes_sent: number;
	bytes_received: number;
}

/**
 * The eBPF probe's report (`meshbench.probe.v1`, docs/result-schema.md "`kernel`"): what
 * `POST /ebpf/probe/start` stores, and a benchmark result's `kernel` with `ebpf: true`.
 */
export interface ProbeReport {
	schema: string;
	started_at: string;
	duration_s: number;
	filter: { ports: number[]; pid: number | null; cgroup: string | null; cgroup_id: number | null };
	/** Active opens, SYN sent → SYN-ACK processed. */
	connections: KernelHandshakes;
	/** Passive opens, SYN-ACK sent → final ACK received. */
	accepts: KernelHandshakes;
	/** Connection ends that closed (a loopback connection closes twice). */
	lifetimes: {
		count: number;
		active: number;
		passive: number;
		duration_us: KernelLatency;
		bytes_sent: number;
		bytes_received: number;
		histogram: string;
	};
	/** Smoothed RTT samples. */
	rtt_us: KernelSamples;
	/** Per request, this host's time inside (request read → answer sent, on the server's socket). */
	server_time_us: KernelSamples;
	/** Per request, the client's socket's view (request sent → answer read). */
	exchange_time_us: KernelSamples;
	retransmits: number;
	resets: { sent: number; received: number };
	connect_failures: number;
	events_dropped: number;
	/** Absent from reports made before it was counted. */
	sockets_untracked?: number;
	timeline: KernelTimelineEntry[];
	[extra: string]: unknown;
}

/** One container's reading in a sample of `cluster.resources`. */
export interface ContainerSample {
	namespace: string;
	pod: string;
	container: string;
	/** `proxy`: a mesh proxy serving the namespace (sidecar, waypoint, node proxy); `app`: any other container. */
	role: 'proxy' | 'app';
	cpu_millicores: number;
	memory_bytes: number;
}

/** One reading of metrics.k8s.io during the run. */
export interface ResourceSample {
	/** Seconds since the run started. */
	t_s: number;
	containers: ContainerSample[];
}

/** CPU and memory from metrics.k8s.io during the run: means over samples, and the proxies' cost per 1,000 req/s. */
export interface ResourceCost {
	proxy_cpu_millicores: number;
	proxy_memory_bytes: number;
	app_cpu_millicores: number;
	app_memory_bytes: number;
	/** Null when the run achieved nothing. */
	proxy_cpu_millicores_per_1k_rps: number | null;
	proxy_memory_bytes_per_1k_rps: number | null;
	/** Every proxy read, `namespace/pod/container`. */
	proxies: string[];
	samples: ResourceSample[];
}

/** What the worker learned of the run's namespace (runs whose worker has a cluster). */
export interface ClusterRecord {
	namespace: string;
	/** The namespace's mesh record when the run started, as `GET /kubernetes/mesh-status` answers it. */
	mesh: MeshStatus | null;
	/** Why the record could not be read. */
	mesh_error: string | null;
	/** The run's `mesh_type` names a known mesh other than the detected one. */
	mesh_mismatch: boolean;
	resources: ResourceCost | null;
	/** Why there are no figures (e.g. no metrics server). */
	resources_error: string | null;
}

/** A part of a split run that has no result. */
export interface FailedGenerator {
	index: number;
	job_id: string;
	error: string;
}

/** A run split over several load generators. */
export interface GeneratorsInfo {
	count: number;
	completed: number;
	/** The parts' job ids, by index. */
	parts: string[];
	failed: FailedGenerator[];
	/** Indexes of parts whose generator was the bottleneck. */
	saturated: number[];
	/** Latest minus earliest measurement start of the parts. */
	start_spread_ms: number;
	/** Parts that ran again after their first worker was lost (other seconds than the rest). */
	retried?: number[];
}

/** A whole result document. */
export interface BenchmarkResult {
	schema: string;
	spec: BenchmarkSpec;
	model: 'closed' | 'open';
	started_at: string;
	ended_at: string;
	duration_s: number;
	requests: number;
	errors: number;
	rps: number;
	requested_rps: number | null;
	latency_us: LatencySummary;
	service_time_us: LatencySummary;
	status_codes: Record<string, number>;
	error_kinds: Record<string, number>;
	bytes_sent: number;
	bytes_received: number;
	timeline: TimelineEntry[];
	histogram: string;
	service_histogram: string;
	loadgen: LoadgenInfo;
	websocket?: WebSocketResult;
	grpc?: GrpcResult;
	ml?: MlResult;
	/** The kernel's figures (runs started with `ebpf: true`). */
	kernel?: ProbeReport;
	/** The namespace's mesh and its proxies' cost (runs whose worker has a cluster). */
	cluster?: ClusterRecord;
	/** How the run was split (runs over several load generators). */
	generators?: GeneratorsInfo;
	[extra: string]: unknown;
}

/** The percentiles every summary carries, with their keys and labels, in order. */
export const SUMMARY_PERCENTILES: { key: keyof LatencySummary; label: string; p: number }[] = [
	{ key: 'p50', label: 'p50', p: 50 },
	{ key: 'p75', label: 'p75', p: 75 },
	{ key: 'p90', label: 'p90', p: 90 },
	{ key: 'p95', label: 'p95', p: 95 },
	{ key: 'p99', label: 'p99', p: 99 },
	{ key: 'p999', label: 'p99.9', p: 99.9 },
	{ key: 'p9999', label: 'p99.99', p: 99.99 },
	{ key: 'max', label: 'max', p: 100 }
];
