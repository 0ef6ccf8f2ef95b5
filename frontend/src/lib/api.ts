// The typed client for every endpoint of meshbench's API, under the seed's names
// (`benchmarkAPI`, `metricsAPI`, `ebpfAPI`, `kubernetesAPI`), plus reports, health, logins
// and tokens (`authAPI`), and users and the audit log (`adminAPI`).
// Answers are `{ data, status, total }` so the seed's `response.data` reads the same.

import type {
	BenchmarkJob,
	Distribution,
	GenerateReportRequest,
	Health,
	JobFilters,
	MeshStatus,
	MetricsResult,
	MetricsSummary,
	NamespaceList,
	PodList,
	ProbeCancelResponse,
	ProbeDistribution,
	ProbeJob,
	ProbeOutputFormat,
	ProbeRequest,
	ProbeStarted,
	ProbeStatus,
	Report,
	ServiceList,
	StartRequest,
	StartResponse,
	FieldError,
	CancelResponse,
	CompareRequest,
	Comparison,
	SeriesStart,
	SeriesView,
	LabCompareRequest,
	LabComparisonView,
	LabState,
	LabTopologyName,
	LabView,
	ApiToken,
	AuditEntry,
	AuditQuery,
	MadeToken,
	Me,
	NewUser,
	User,
	UserUpdate
} from './types';
import type { BenchmarkResult } from './result';

/** The API's origin: `VITE_API_URL` in development, the page's own origin when served. */
export const API_BASE_URL: string = (import.meta.env?.VITE_API_URL as string | undefined) ?? '';

/** A successful answer. */
export interface ApiResponse<T> {
	/** The decoded body. */
	data: T;
	/** The HTTP status. */
	status: number;
	/** `x-total-count`, for listings. */
	total?: number;
}

/** A failed call: an error answer from the API, or no answer at all (`status` 0). */
export class ApiError extends Error {
	/** HTTP status, 0 when the server could not be reached. */
	readonly status: number;
	/** The API's machine-readable code (`validation_error`, `job_not_found`, …). */
	readonly code: string;
	/** Per-field messages of a 422 answer. */
	readonly fields: FieldError[];

	constructor(status: number, code: string, message: string, fields: FieldError[] = []) {
		super(message);
		this.name = 'ApiError';
		this.status = status;
		this.code = code;
		this.fields = fields;
	}

	/** The message for one field (`duration`, `job_ids[1]`, …), if the API named it. */
	fieldMessage(field: string): string | undefined {
		return this.fields.find((f) => f.field === field)?.message;
	}

	/**
	 * The field messages as a form shows them: by the form's key for each field (`keyOf`;
	 * several fields of one key joined), and those of fields the form has no input for
	 * (`shown` false) as one line, `field: message; …`, so that they still reach the user.
	 */
	byField(shown: (key: string) => boolean, keyOf: (field: string) => string = (f) => f): { errors: Record<string, string>; unshown: string | null } {
		const errors: Record<string, string> = {};
		const unshown: string[] = [];
		for (const f of this.fields) {
			const key = keyOf(f.field);
			errors[key] = errors[key] ? `${errors[key]}; ${f.message}` : f.message;
			if (!shown(key)) unshown.push(`${f.field}: ${f.message}`);
		}
		return { errors, unshown: unshown.length ? unshown.join('; ') : null };
	}
}

type Query = Record<string, string | number | boolean | null | undefined>;

/** Builds a URL on the API's origin, leaving out empty query values. */
export function apiUrl(path: string, query?: Query, base = API_BASE_URL): string {
	const params = new URLSearchParams();
	for (const [key, value] of Object.entries(query ?? {})) {
		if (value === undefined || value === null || value === '') continue;
		params.set(key, String(value));
	}
	const qs = params.toString();
	return `${base}${path}${qs ? `?${qs}` : ''}`;
}

/** The fetch the client uses; tests replace it. */
let fetcher: typeof fetch = (...args) => fetch(...args);

/** Replaces the fetch implementation (tests). */
export function setFetch(f: typeof fetch): void {
	fetcher = f;
}

/** Called when a request is refused for want of a login (401); the layout sends the browser to /login. */
let unauthorized: (() => void) | null = null;

/** Sets (or with null, clears) what happens when a call answers 401. */
export function setOnUnauthorized(f: (() => void) | null): void {
	unauthorized = f;
}

// A failed login is the form's to report, and a logout goes to /login by itself: neither
// means the session ended under the page.
const NOT_A_LAPSED_SESSION = ['/auth/login', '/auth/logout'];

async function call<T>(
	method: string,
	path: string,
	options: { query?: Query; body?: unknown; accept?: number[] } = {}
): Promise<ApiResponse<T>> {
	const init: RequestInit = { method, headers: { Accept: 'application/json' } };
	if (options.body !== undefined) {
		init.body = JSON.stringify(options.body);
		init.headers = { ...init.headers, 'Content-Type': 'application/json' };
	}
	let response: Response;
	try {
		response = await fetcher(apiUrl(path, options.query), init);
	} catch (e) {
		throw new ApiError(0, 'unreachable', `cannot reach the meshbench API: ${(e as Error).message}`);
	}
	let text: string;
	try {
		text = await response.text();
	} catch (e) {
		throw new ApiError(0, 'unreachable', `the connection to the meshbench API broke: ${(e as Error).message}`);
	}
	let body: unknown = undefined;
	if (text) {
		try {
			body = JSON.parse(text);
		} catch {
			body = text;
		}
	}
	if (!response.ok && !options.accept?.includes(response.status)) {
		if (response.status === 401 && !NOT_A_LAPSED_SESSION.includes(path)) unauthorized?.();
		throw toError(response.status, body);
	}
	const totalHeader = response.headers.get('x-total-count');
	const total = totalHeader !== null && totalHeader !== '' ? Number(totalHeader) : undefined;
	return { data: body as T, status: response.status, total };
}

/** Turns an error answer into an ApiError, whatever its shape. */
export function toError(status: number, body: unknown): ApiError {
	if (body && typeof body === 'object') {
		const b = body as { code?: unknown; message?: unknown; details?: unknown };
		const fields = Array.isArray(b.details)
			? (b.details as unknown[]).filter(
					(d): d is FieldError =>
						!!d && typeof d === 'object' && 'field' in d && 'message' in d
				)
			: [];
		return new ApiError(
			status,
			typeof b.code === 'string' ? b.code : `http_${status}`,
			typeof b.message === 'string' ? b.message : `HTTP ${status}`,
			fields
		);
	}
	const text = typeof body === 'string' && body.trim() ? body.trim().slice(0, 200) : `HTTP ${status}`;
	return new ApiError(status, `http_${status}`, text);
}

const enc = encodeURIComponent;

/** Benchmarks: start, list, get, result, distribution, cancel. */
export const benchmarkAPI = {
	start: (data: Partial<StartRequest>) => call<StartResponse>('POST', '/benchmarks/start', { body: data }),
	listJobs: (filters?: JobFilters) => call<BenchmarkJob[]>('GET', '/benchmarks/jobs', { query: filters as Query }),
	getJob: (jobId: string) => call<BenchmarkJob>('GET', `/benchmarks/jobs/${enc(jobId)}`),
	getResult: (jobId: string) => call<BenchmarkResult>('GET', `/benchmarks/jobs/${enc(jobId)}/result`),
	getDistribution: (jobId: string) =>
		call<Distribution>('GET', `/benchmarks/jobs/${enc(jobId)}/distribution`),
	cancel: (jobId: string) => call<CancelResponse>('DELETE', `/benchmarks/jobs/${enc(jobId)}`)
};

/** Completed results, per-mesh summaries, and comparisons of two jobs or series with intervals and gates. */
export const metricsAPI = {
	results: (filters?: JobFilters) => call<MetricsResult[]>('GET', '/metrics/results', { query: filters as Query }),
	summary: (meshType?: string) => call<MetricsSummary>('GET', '/metrics/summary', { query: { mesh_type: meshType } }),
	compare: (data: CompareRequest) => call<Comparison>('POST', '/metrics/compare', { body: data })
};

/** Series: several configurations started together (repeated, interleaved), and one series' runs and statistics. */
export const seriesAPI = {
	start: (data: SeriesStart) => call<StartResponse>('POST', '/series/start', { body: data }),
	get: (seriesId: string) => call<SeriesView>('GET', `/series/${enc(seriesId)}`)
};

/**
 * The mesh lab on the server's host: its state, up and down (409 when one is up, 503 when the
 * server cannot run it), a run through a topology, and comparisons of topologies (a group of
 * series, one per topology, read back with each one's overhead, proxy cost and hop breakdown).
 */
export const labAPI = {
	status: () => call<LabView>('GET', '/lab'),
	up: (topology: LabTopologyName) => call<LabState>('POST', '/lab/up', { body: { topology } }),
	down: () => call<{ down: boolean }>('POST', '/lab/down', { body: {} }),
	run: (data: Partial<StartRequest> & { lab_topology: LabTopologyName }) => call<StartResponse>('POST', '/lab/run', { body: data }),
	compare: (data: LabCompareRequest) => call<StartResponse>('POST', '/lab/compare', { body: data }),
	comparison: (group: string) => call<LabComparisonView>('GET', `/lab/compare/${enc(group)}`)
};

/** The eBPF latency probe: start, status, runs (paged), one run, stop, its distributions, downloads. */
export const ebpfAPI = {
	start: (data: ProbeRequest) => call<ProbeStarted>('POST', '/ebpf/probe/start', { body: data }),
	status: () => call<ProbeStatus>('GET', '/ebpf/probe/status'),
	listJobs: (page?: { limit?: number; offset?: number }) => call<ProbeJob[]>('GET', '/ebpf/probe/jobs', { query: page }),
	getJob: (probeId: string) => call<ProbeJob>('GET', `/ebpf/probe/jobs/${enc(probeId)}`),
	cancel: (probeId: string) => call<ProbeCancelResponse>('DELETE', `/ebpf/probe/jobs/${enc(probeId)}`),
	getDistribution: (probeId: string) =>
		call<ProbeDistribution>('GET', `/ebpf/probe/jobs/${enc(probeId)}/distribution`),
	downloadUrl: (probeId: string, format: ProbeOutputFormat) =>
		apiUrl(`/ebpf/probe/jobs/${enc(probeId)}/download`, { format })
};

/**
 * The Kubernetes view (503 `kubernetes_not_configured` without a cluster; 502/504 with the
 * cluster's refusal or silence named in the message). `meshStatus` compares the detected mesh
 * with `meshType` when one is given.
 */
export const kubernetesAPI = {
	namespaces: () => call<NamespaceList>('GET', '/kubernetes/namespaces'),
	services: (namespace: string) => call<ServiceList>('GET', `/kubernetes/services/${enc(namespace)}`),
	pods: (namespace: string) => call<PodList>('GET', `/kubernetes/pods/${enc(namespace)}`),
	meshStatus: (namespace: string, meshType?: string | null) =>
		call<MeshStatus>('GET', `/kubernetes/mesh-status/${enc(namespace)}`, { query: { mesh_type: meshType } })
};

/** Reports: generate, list, get; download and share links are plain URLs. */
export const reportsAPI = {
	generate: (data: GenerateReportRequest) => call<Report>('POST', '/reports/generate', { body: data }),
	list: (page?: { limit?: number; offset?: number }) => call<Report[]>('GET', '/reports', { query: page }),
	get: (reportId: string) => call<Report>('GET', `/reports/${enc(reportId)}`),
	/** Ends a report's share link: the link then answers 404. */
	revokeShare: (reportId: string) => call<Report>('DELETE', `/reports/${enc(reportId)}/share`),
	downloadUrl: (report: Report) => `${API_BASE_URL}${report.download_url}`,
	shareUrl: (report: Report, origin: string) =>
		report.share_url ? (API_BASE_URL ? `${API_BASE_URL}${report.share_url}` : new URL(report.share_url, origin).toString()) : null
};

/** Server health (a degraded server answers 503 with the same body). */
export const healthAPI = {
	get: () => call<Health>('GET', '/health', { accept: [503] })
};

/**
 * Logins and API tokens. The session is an HttpOnly cookie the browser keeps; `me` says who it
 * is, or that the server has no users yet (development mode). Tokens act as their owner; an
 * admin's list holds everyone's. Making one in development mode answers 409 `development_mode`.
 */
export const authAPI = {
	login: (username: string, password: string) => call<Me>('POST', '/auth/login', { body: { username, password } }),
	logout: () => call<void>('POST', '/auth/logout'),
	me: () => call<Me>('GET', '/auth/me'),
	tokens: () => call<ApiToken[]>('GET', '/auth/tokens'),
	createToken: (name: string, expiresInDays?: number | null) =>
		call<MadeToken>('POST', '/auth/tokens', { body: expiresInDays == null ? { name } : { name, expires_in_days: expiresInDays } }),
	revokeToken: (tokenId: string) => call<ApiToken>('DELETE', `/auth/tokens/${enc(tokenId)}`)
};

/** Users and the audit log (the admin role). */
export const adminAPI = {
	users: () => call<User[]>('GET', '/users'),
	addUser: (user: NewUser) => call<User>('POST', '/users', { body: user }),
	updateUser: (username: string, change: UserUpdate) => call<User>('PATCH', `/users/${enc(username)}`, { body: change }),
	audit: (query: AuditQuery) => call<AuditEntry[]>('GET', '/audit', { query: query as Query })
};
