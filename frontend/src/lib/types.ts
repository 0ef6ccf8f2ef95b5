// The API's types. Those the server describes in its OpenAPI document are taken from the
// generated `api-schema.d.ts` (regenerate with `npm run gen:api`; a test checks it is current);
// the rest are written out here from the handlers.

import type { components } from './api-schema';

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

/** `/ebpf/probe/status`. */
export interface ProbeStatus {
	available: boolean;
	reason?: string;
	running: boolean | unknown[];
	[extra: string]: unknown;
}

/** `POST /ebpf/probe/start`. */
export interface ProbeRequest {
	duration: number;
	output_format?: 'json' | 'csv' | 'table';
	namespace?: string;
	pod_filter?: string;
	port?: number;
	pid?: number;
	cgroup?: string;
}

/** The answer to a cancel. */
export interface CancelResponse {
	job_id: string;
	status: JobStatus;
	message: string;
}
