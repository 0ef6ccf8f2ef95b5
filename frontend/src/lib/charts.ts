// Pure transforms from API data to chart series and comparison tables; no DOM, no Chart.js,
// so they are unit-tested directly.

import type { BenchmarkResult, BenchmarkSpec, LatencySummary, TimelineEntry } from './result';
import { SUMMARY_PERCENTILES } from './result';
import type { DistributionSide, SpectrumPoint } from './types';
import { describeMeshRecord, meshMismatchText } from './cluster';

/** A point of a percentile spectrum: x = 1 / (1 − p), as HdrHistogram plots it. */
export interface SpectrumXY {
	x: number;
	y: number;
	percentile: number;
}

/** The x position of a percentile (0–100) on the spectrum's log axis. */
export function spectrumX(percentile: number): number {
	const tail = 1 - percentile / 100;
	return tail <= 0 ? Infinity : 1 / tail;
}

/** The percentile a spectrum x position stands for. */
export function percentileAt(x: number): number {
	return (1 - 1 / x) * 100;
}

/** Labelled ticks of the spectrum axis from 50 % to 99.999 %. */
export const SPECTRUM_TICKS: { x: number; label: string }[] = [
	{ x: 2, label: '50%' },
	{ x: 10, label: '90%' },
	{ x: 100, label: '99%' },
	{ x: 1_000, label: '99.9%' },
	{ x: 10_000, label: '99.99%' },
	{ x: 100_000, label: '99.999%' }
];

/**
 * The spectrum from `from` % to `to` %: the API's quantile iteration (HdrHistogram's
 * outputPercentileDistribution), with the 100 % (max) point drawn at `to` so the tail's end
 * is visible on a finite axis.
 */
export function spectrumSeries(points: SpectrumPoint[], from = 50, to = 99.999): SpectrumXY[] {
	const maxX = spectrumX(to);
	const out: SpectrumXY[] = [];
	for (const p of points) {
		if (p.percentile < from) continue;
		if (out.length === 0 && p.percentile > from) {
			// Start the line exactly at `from` with the value in force there.
			out.push({ x: spectrumX(from), y: p.value_us, percentile: from });
		}
		const x = Math.min(spectrumX(p.percentile), maxX);
		if (out.length && x <= out[out.length - 1].x && p.percentile < 100) {
			out[out.length - 1] = { x: out[out.length - 1].x, y: Math.max(out[out.length - 1].y, p.value_us), percentile: p.percentile };
			continue;
		}
		if (x === maxX && out.length && out[out.length - 1].x === maxX) {
			out[out.length - 1] = { x, y: Math.max(out[out.length - 1].y, p.value_us), percentile: p.percentile };
			continue;
		}
		out.push({ x, y: p.value_us, percentile: p.percentile });
	}
	if (out.length === 0 && points.length) {
		const last = points[points.length - 1];
		out.push({ x: spectrumX(from), y: last.value_us, percentile: from });
	}
	if (out.length === 1) {
		// Every value the same: a flat line across the axis, not an invisible dot.
		out.push({ x: maxX, y: out[0].y, percentile: 100 });
	}
	return out;
}

/** Labels and values of a latency histogram as bars. */
export function histogramBars(side: DistributionSide): { labels: string[]; counts: number[]; ranges: [number, number][] } {
	const buckets = side.buckets.filter((b) => b.count > 0 || side.buckets.length <= 60);
	return {
		labels: buckets.map((b) => String(b.high_us)),
		counts: buckets.map((b) => b.count),
		ranges: buckets.map((b) => [b.low_us, b.high_us])
	};
}

/** Per-second series of a finished run: throughput, p50 and p99, and the requested rate. */
export function timelineSeries(timeline: TimelineEntry[]): {
	seconds: number[];
	rps: number[];
	errors: number[];
	p50: number[];
	p99: number[];
	requested: (number | null)[];
} {
	const sorted = [...timeline].sort((a, b) => a.second - b.second);
	return {
		seconds: sorted.map((t) => t.second),
		rps: sorted.map((t) => t.requests),
		errors: sorted.map((t) => t.errors),
		p50: sorted.map((t) => t.p50_us),
		p99: sorted.map((t) => t.p99_us),
		requested: sorted.map((t) => (t.requested === undefined ? null : t.requested))
	};
}

/** One second of a running job, as its progress events bring it. */
export interface LivePoint {
	second: number;
	rps: number;
	errors: number;
	p50_us: number;
	p99_us: number;
}

/** Adds a progress point, replacing one for the same second and keeping seconds in order. */
export function appendLivePoint(points: LivePoint[], point: LivePoint): LivePoint[] {
	const next = points.filter((p) => p.second !== point.second);
	next.push(point);
	next.sort((a, b) => a.second - b.second);
	return next;
}

/** A run taking part in a comparison. */
export interface ComparedRun {
	jobId: string;
	label: string;
	result: BenchmarkResult;
}

/** One percentile row of a comparison: each run's value and its delta from the reference. */
export interface DeltaRow {
	label: string;
	values: number[];
	deltas: (number | null)[];
	percents: (number | null)[];
}

/** The numbers of a comparison; the first run is the reference every delta is taken from. */
export interface Comparison {
	runs: { jobId: string; label: string }[];
	latency: DeltaRow[];
	throughput: DeltaRow;
	errorRate: DeltaRow;
	httpErrorRate: DeltaRow;
	differences: ConfigDifference[];
	/** Runs whose mesh label is not the mesh detected in their namespace, in run order. */
	mismatches: MeshMismatch[];
}

/** A compared run started under a mesh label that is not the mesh serving its namespace. */
export interface MeshMismatch {
	jobId: string;
	label: string;
	/** `started as linkerd but istio serves bookinfo`. */
	text: string;
}

/** Share of requests (percent) answered with an HTTP status of 400 or above. */
export function httpErrorPercent(result: BenchmarkResult): number {
	if (!result.requests) return 0;
	const bad = Object.entries(result.status_codes)
		.filter(([code]) => Number(code) >= 400)
		.reduce((sum, [, n]) => sum + n, 0);
	return (bad / result.requests) * 100;
}

function deltaRow(label: string, values: number[]): DeltaRow {
	const ref = values[0];
	return {
		label,
		values,
		deltas: values.map((v, i) => (i === 0 ? null : v - ref)),
		percents: values.map((v, i) => (i === 0 || ref === 0 ? null : ((v - ref) / ref) * 100))
	};
}

/** Side-by-side numbers for runs (at least one); deltas are against the first. */
export function compareRuns(runs: ComparedRun[]): Comparison {
	const latency = SUMMARY_PERCENTILES.map(({ key, label }) =>
		deltaRow(label, runs.map((r) => (r.result.latency_us as LatencySummary)[key] as number))
	);
	latency.push(deltaRow('mean', runs.map((r) => r.result.latency_us.mean)));
	return {
		runs: runs.map(({ jobId, label }) => ({ jobId, label })),
		latency,
		throughput: deltaRow('requests/s', runs.map((r) => r.result.rps)),
		errorRate: deltaRow(
			'error rate %',
			runs.map((r) => (r.result.requests ? (r.result.errors / r.result.requests) * 100 : 0))
		),
		httpErrorRate: deltaRow('HTTP ≥400 %', runs.map((r) => httpErrorPercent(r.result))),
		differences: configDifferences(runs.map((r) => r.result)),
		mismatches: runs.flatMap(({ jobId, label, result }) => {
			const text = meshMismatchText(result.cluster, result.spec.mesh_type);
			return text ? [{ jobId, label, text }] : [];
		})
	};
}

/** A setting that is not the same in every compared run. */
export interface ConfigDifference {
	field: string;
	values: string[];
}

/** The settings that shape a result; the mesh label is what is being compared, so it is left out. */
export function configFields(spec: BenchmarkSpec): Record<string, string> {
	const first = spec.requests?.[0];
	return {
		url: first ? `${first.method} ${first.url}` : '—',
		requests: String(spec.requests?.length ?? 0),
		body: first?.body ? `${first.body.length} bytes` : 'none',
		protocol: spec.protocol,
		connections: String(spec.connections),
		streams: String(spec.streams),
		threads: String(spec.threads),
		model: spec.model,
		schedule: spec.schedule ? describeSchedule(spec.schedule) : '—',
		duration_s: spec.duration_s === undefined ? '—' : String(spec.duration_s),
		max_requests: spec.max_requests === undefined ? '—' : String(spec.max_requests),
		warmup_s: String(spec.warmup_s),
		request_timeout_s: String(spec.request_timeout_s)
	};
}

/** A schedule in a few words: `1000/s`, `1000→5000/s in steps of 1000 every 10 s`. */
export function describeSchedule(s: NonNullable<BenchmarkSpec['schedule']>): string {
	switch (s.kind) {
		case 'constant':
			return `${s.rps}/s`;
		case 'steps':
			return `${s.from}→${s.to}/s, steps of ${s.step} every ${s.step_duration_s} s`;
		case 'ramp':
			return `${s.from}→${s.to}/s over ${s.over_s} s`;
	}
}

/**
 * What configDifferences compares of a run: its spec, or its whole result (spec and cluster
 * record). A bare spec has no cluster record, like a result from a worker without a cluster.
 */
export type ConfigSource = BenchmarkSpec | Pick<BenchmarkResult, 'spec' | 'cluster'>;

function isResult(source: ConfigSource): source is Pick<BenchmarkResult, 'spec' | 'cluster'> {
	const spec = (source as { spec?: unknown }).spec;
	return typeof spec === 'object' && spec !== null && Array.isArray((spec as BenchmarkSpec).requests);
}

/**
 * The settings configDifferences compares: configFields of the spec, and `mesh`, the mesh the
 * cluster record found serving the run's namespace (`istio sidecar 1.24.2, mTLS STRICT`, or
 * — without a record), so runs through different mesh versions or mTLS modes are not
 * compared unawares.
 */
export function comparedFields(source: ConfigSource): Record<string, string> {
	const spec = isResult(source) ? source.spec : source;
	const mesh = isResult(source) ? source.cluster?.mesh : null;
	return { ...configFields(spec), mesh: describeMeshRecord(mesh) };
}

/** The settings that differ between runs, given as specs or results (empty when the runs are comparable). */
export function configDifferences(runs: ConfigSource[]): ConfigDifference[] {
	if (runs.length < 2) return [];
	const fields = runs.map(comparedFields);
	return Object.keys(fields[0])
		.filter((k) => fields.some((f) => f[k] !== fields[0][k]))
		.map((field) => ({ field, values: fields.map((f) => f[field]) }));
}

function csvCell(value: string | number | null): string {
	if (value === null) return '';
	let s = String(value);
	// A label a user chose (the mesh name) must not become a spreadsheet formula.
	if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
	return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The comparison as CSV: one row per metric and run, with deltas against the reference. */
export function comparisonCsv(c: Comparison): string {
	const lines = [['metric', 'unit', 'job_id', 'run', 'value', 'delta', 'delta_pct'].join(',')];
	const rows: [DeltaRow, string][] = [
		...c.latency.map((r) => [r, 'us'] as [DeltaRow, string]),
		[c.throughput, 'req/s'],
		[c.errorRate, '%'],
		[c.httpErrorRate, '%']
	];
	for (const [row, unit] of rows) {
		c.runs.forEach((run, i) => {
			lines.push(
				[
					csvCell(row.label),
					unit,
					csvCell(run.jobId),
					csvCell(run.label),
					csvCell(round(row.values[i])),
					csvCell(row.deltas[i] === null ? null : round(row.deltas[i] as number)),
					csvCell(row.percents[i] === null ? null : round(row.percents[i] as number))
				].join(',')
			);
		});
	}
	return lines.join('\n') + '\n';
}

/** The comparison as a JSON document (`meshbench.comparison.v1`). */
export function comparisonJson(c: Comparison, now = new Date()): string {
	const doc = {
		schema: 'meshbench.comparison.v1',
		generated_at: now.toISOString(),
		reference: c.runs[0]?.jobId ?? null,
		runs: c.runs.map((r, i) => ({
			job_id: r.jobId,
			label: r.label,
			latency_us: Object.fromEntries(c.latency.map((row) => [row.label, round(row.values[i])])),
			latency_delta_us: i === 0 ? null : Object.fromEntries(c.latency.map((row) => [row.label, round(row.deltas[i] as number)])),
			latency_delta_pct:
				i === 0 ? null : Object.fromEntries(c.latency.map((row) => [row.label, row.percents[i] === null ? null : round(row.percents[i] as number)])),
			rps: round(c.throughput.values[i]),
			rps_delta_pct: c.throughput.percents[i] === null ? null : round(c.throughput.percents[i] as number),
			error_rate_pct: round(c.errorRate.values[i]),
			http_error_rate_pct: round(c.httpErrorRate.values[i]),
			mesh_mismatch: c.mismatches.find((m) => m.jobId === r.jobId)?.text ?? null
		})),
		config_differences: c.differences
	};
	return JSON.stringify(doc, null, 2) + '\n';
}

function round(v: number): number {
	return Math.round(v * 1000) / 1000;
}

/**
 * Status codes or error kinds as sorted rows with their share of `base` (all requests, so
 * codes and errors shown together add up to 100 %); the counts' own sum when not given.
 */
export function breakdown(counts: Record<string, number>, base?: number): { key: string; count: number; share: number }[] {
	const total = base ?? Object.values(counts).reduce((a, b) => a + b, 0);
	return Object.entries(counts)
		.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
		.map(([key, count]) => ({ key, count, share: total ? count / total : 0 }));
}

/** The colour of the n-th series, stable across charts. */
export function seriesColor(n: number): string {
	const palette = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];
	return palette[n % palette.length];
}
