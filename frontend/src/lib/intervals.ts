// Pure transforms for the statistics views: a series' runs and figures, a comparison of two
// jobs or series, and the overhead summary, turned into table rows and error-bar rows with
// an axis. No DOM, no Chart.js, so they are unit-tested directly.

import type {
	BenchmarkJob,
	CompareRequest,
	Comparison,
	Difference,
	Interval,
	IntervalMethod,
	MetricsSummary,
	SeriesView,
	Verdict
} from './types';
import { formatLatency, formatRate } from './format';

/**
 * An estimate and its interval, any of which may be missing: the API answers `null` for a
 * change relative to a baseline of zero (the error rate of two clean runs), and an interval
 * is absent where too few runs make one.
 */
export interface Span {
	estimate: number | null;
	low: number | null;
	high: number | null;
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const orNull = (v: unknown): number | null => (finite(v) ? v : null);

/** An interval as a Span, whatever of it is missing or not a number. */
export function toSpan(i: Partial<Interval> | { estimate?: unknown; low?: unknown; high?: unknown } | null | undefined): Span {
	return { estimate: orNull(i?.estimate), low: orNull(i?.low), high: orNull(i?.high) };
}

/** Every bound times `k` (a fraction as a percentage). */
export function scaleSpan(s: Span, k: number): Span {
	const m = (v: number | null) => (v === null ? null : v * k);
	return { estimate: m(s.estimate), low: m(s.low), high: m(s.high) };
}

/** Whether both bounds are known. */
export function hasBounds(s: Span): s is Span & { low: number; high: number } {
	return s.low !== null && s.high !== null;
}

/** An interval of no width around a value that is not zero: too few samples to show any spread. */
export function zeroWidth(s: Span): boolean {
	return hasBounds(s) && s.low === s.high;
}

/** Whether the interval includes zero; an interval without bounds says nothing, so it does. */
export function spansZero(s: Span): boolean {
	if (!hasBounds(s)) return true;
	return Math.min(s.low, s.high) <= 0 && Math.max(s.low, s.high) >= 0;
}

/** Names of the figures as tables show them. */
export const FIGURE_LABELS: Record<string, string> = {
	p50: 'p50',
	p90: 'p90',
	p99: 'p99',
	p999: 'p99.9',
	mean: 'mean latency',
	rps: 'throughput',
	errors: 'errors'
};

/** A figure's name for people (`p999` → `p99.9`). */
export function figureLabel(figure: string): string {
	return FIGURE_LABELS[figure] ?? figure;
}

/** A value of a figure in its unit: latencies as µs/ms/s, throughput per second, errors in percent. */
export function formatFigure(value: number | null | undefined, unit: string): string {
	if (!finite(value)) return '—';
	if (unit === 'µs' || unit === 'us') return formatLatency(value);
	if (unit === 'req/s') return formatRate(value);
	if (unit === '%') return `${value.toFixed(Math.abs(value) < 10 ? 2 : 1)} %`;
	return `${Number(value.toPrecision(4))} ${unit}`.trim();
}

/** An interval's bounds in the figure's unit: `1.20 ms – 1.45 ms`. */
export function formatSpan(s: Span, unit: string): string {
	if (!hasBounds(s)) return '—';
	return `${formatFigure(s.low, unit)} – ${formatFigure(s.high, unit)}`;
}

/** A signed percentage with one decimal below 10: `+12.3 %`, `−0.4 %`, `0 %`. */
export function formatSignedPercent(pct: number | null | undefined): string {
	if (!finite(pct)) return '—';
	const abs = Math.abs(pct);
	const digits = abs < 10 ? 1 : 0;
	if (Number(abs.toFixed(digits)) === 0) return '0 %';
	return `${pct > 0 ? '+' : '−'}${abs.toFixed(digits)} %`;
}

/** A percentage interval: `+3.1 % … +9.8 %`. */
export function formatPercentSpan(s: Span): string {
	if (!hasBounds(s)) return '—';
	return `${formatSignedPercent(s.low)} … ${formatSignedPercent(s.high)}`;
}

/** What an interval was resampled over, in words. */
export function methodText(method: IntervalMethod | string | null | undefined): string {
	switch (method) {
		case 'runs':
			return 'over runs: one value per valid run';
		case 'seconds':
			return "over seconds: fewer than 5 valid runs, so every run's seconds are pooled (narrower than the truth when runs differ)";
		default:
			return method ? String(method) : '—';
	}
}

/** A verdict in words. */
export function verdictText(verdict: Verdict | string): string {
	switch (verdict) {
		case 'no_significant_difference':
			return 'no significant difference';
		case 'better':
			return 'better';
		case 'worse':
			return 'worse';
		default:
			return String(verdict).replace(/_/g, ' ');
	}
}

/** One figure of a comparison as the table and charts show it. */
export interface FigureRow {
	figure: string;
	label: string;
	unit: string;
	baseline: Span;
	candidate: Span;
	/** Candidate against baseline, in percent. */
	change: Span;
	/** Candidate minus baseline, in the figure's unit. */
	absolute: Span;
	verdict: Verdict;
	/** The change's interval includes zero, whatever the point estimates say. */
	noDifference: boolean;
	method: IntervalMethod;
}

/** The relative change of a difference in percent; where it is unknown (a zero baseline), none. */
export function changePercent(d: Difference): Span {
	return scaleSpan(toSpan(d.relative), 100);
}

/** Each figure of a comparison, with its change in percent and whether it is any change at all. */
export function comparisonRows(c: Comparison): FigureRow[] {
	return c.figures.map((f) => {
		const change = changePercent(f.difference);
		const absolute = toSpan(f.difference.absolute);
		// A relative change is unknown from a zero baseline; the absolute one still tells.
		const spans = hasBounds(change) ? spansZero(change) : spansZero(absolute);
		return {
			figure: f.figure,
			label: figureLabel(f.figure),
			unit: f.unit,
			baseline: toSpan(f.baseline),
			candidate: toSpan(f.candidate),
			change,
			absolute,
			verdict: f.verdict,
			noDifference: f.verdict === 'no_significant_difference' || spans || !f.difference.significant,
			method: f.difference.method
		};
	});
}

/** A row of an error-bar chart: a label, an estimate and its interval. */
export interface BarRow {
	key: string;
	label: string;
	span: Span;
	/** Colour family: a comparison's two sides, a change, an overhead. */
	tone: 'baseline' | 'candidate' | 'better' | 'worse' | 'neutral';
	/** A tooltip. */
	title: string;
}

/** A value axis: its ends and the ticks to label. */
export interface Axis {
	min: number;
	max: number;
	ticks: number[];
}

/** 1, 2 or 5 times a power of ten, at least `raw`. */
export function niceStep(raw: number): number {
	if (!(raw > 0) || !Number.isFinite(raw)) return 1;
	const power = 10 ** Math.floor(Math.log10(raw));
	for (const m of [1, 2, 5, 10]) if (m * power >= raw * (1 - 1e-9)) return m * power;
	return 10 * power;
}

/**
 * An axis over `values` (estimates and bounds) with about `count` round ticks; `includeZero`
 * keeps zero on it (a change's "no difference" line). A single value gets a little room.
 */
export function niceAxis(values: (number | null | undefined)[], opts: { includeZero?: boolean; count?: number } = {}): Axis {
	const known = values.filter(finite);
	const count = opts.count ?? 5;
	if (known.length === 0) return { min: 0, max: 1, ticks: [0, 0.5, 1] };
	let lo = Math.min(...known);
	let hi = Math.max(...known);
	if (opts.includeZero) {
		lo = Math.min(lo, 0);
		hi = Math.max(hi, 0);
	}
	if (lo === hi) {
		const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
		lo -= pad;
		hi += pad;
		if (opts.includeZero && known.every((v) => v === 0)) lo = -1;
	}
	const step = niceStep((hi - lo) / count);
	const min = Math.floor(lo / step + 1e-9) * step;
	const max = Math.ceil(hi / step - 1e-9) * step;
	const ticks: number[] = [];
	for (let i = 0; min + i * step <= max + step * 1e-9; i++) ticks.push(Number((min + i * step).toPrecision(12)));
	return { min: Number(min.toPrecision(12)), max: Number(max.toPrecision(12)), ticks };
}

/** Where `value` lies on `axis`, from 0 to `length` (clamped to the axis). */
export function axisPosition(value: number, axis: Axis, length: number): number {
	const span = axis.max - axis.min;
	if (!(span > 0)) return length / 2;
	return Math.min(1, Math.max(0, (value - axis.min) / span)) * length;
}

/** Every known number of some spans, for an axis. */
function spanValues(spans: Span[]): number[] {
	return spans.flatMap((s) => [s.estimate, s.low, s.high]).filter(finite);
}

/** One figure of a comparison as a small error-bar chart: baseline and candidate on one axis. */
export interface ComparisonPanel {
	figure: string;
	label: string;
	unit: string;
	verdict: Verdict;
	noDifference: boolean;
	rows: BarRow[];
	axis: Axis;
}

/** Per figure, baseline and candidate with their intervals as error bars. */
export function comparisonPanels(c: Comparison): ComparisonPanel[] {
	return comparisonRows(c).map((r) => {
		const rows: BarRow[] = [
			{ key: 'baseline', label: 'baseline', span: r.baseline, tone: 'baseline', title: `baseline ${r.label}: ${formatFigure(r.baseline.estimate, r.unit)} (95 % interval ${formatSpan(r.baseline, r.unit)})` },
			{ key: 'candidate', label: 'candidate', span: r.candidate, tone: 'candidate', title: `candidate ${r.label}: ${formatFigure(r.candidate.estimate, r.unit)} (95 % interval ${formatSpan(r.candidate, r.unit)})` }
		];
		return {
			figure: r.figure,
			label: r.label,
			unit: r.unit,
			verdict: r.verdict,
			noDifference: r.noDifference,
			rows,
			axis: niceAxis(spanValues([r.baseline, r.candidate]), { count: 4 })
		};
	});
}

/** Each figure's change in percent with its interval, on one axis that holds zero. */
export function changeChart(c: Comparison): { rows: BarRow[]; axis: Axis } {
	const rows: BarRow[] = comparisonRows(c)
		.filter((r) => hasBounds(r.change))
		.map((r) => ({
			key: r.figure,
			label: r.label,
			span: r.change,
			tone: r.noDifference ? 'neutral' : r.verdict === 'worse' ? 'worse' : 'better',
			title: `${r.label}: ${formatSignedPercent(r.change.estimate)} (95 % interval ${formatPercentSpan(r.change)}), ${r.noDifference ? 'no significant difference' : verdictText(r.verdict)}`
		}));
	return { rows, axis: niceAxis(spanValues(rows.map((r) => r.span)), { includeZero: true }) };
}

/** Runs a comparison left out on each side (the API lists them together; the sides' counts tell them apart). */
export function leftOutCounts(c: Comparison): { baseline: number; candidate: number; total: number } {
	const baseline = Math.max(0, c.baseline.runs - c.baseline.valid_runs);
	const candidate = Math.max(0, c.candidate.runs - c.candidate.valid_runs);
	return { baseline, candidate, total: c.left_out.length };
}

/** The figures an overhead chart can show. */
export const OVERHEAD_FIGURES = ['p50', 'p90', 'p99', 'p999', 'rps'] as const;
export type OverheadFigure = (typeof OVERHEAD_FIGURES)[number];

/** One mesh against baseline in one configuration, at one figure. */
export interface OverheadRow {
	key: string;
	test_type: string;
	mesh_type: string;
	config: string;
	baseline_runs: number;
	mesh_runs: number;
	figure: OverheadFigure;
	unit: string;
	/** The overhead in percent of the baseline, with Welch's interval. */
	pct: Span;
	/** The overhead in the figure's unit. */
	abs: Span;
	significant: boolean;
}

/** The overhead of every mesh and configuration at `figure` (latency percentiles or throughput). */
export function overheadRows(summary: MetricsSummary, figure: OverheadFigure): OverheadRow[] {
	const rows: OverheadRow[] = [];
	for (const o of summary.overhead ?? []) {
		const config = o.config ?? '';
		const base = {
			key: `${o.test_type}|${o.mesh_type}|${config}`,
			test_type: o.test_type,
			mesh_type: o.mesh_type,
			config,
			baseline_runs: o.baseline_runs,
			mesh_runs: o.mesh_runs,
			figure
		};
		if (figure === 'rps') {
			const t = o.throughput;
			if (!t) continue;
			rows.push({
				...base,
				unit: 'req/s',
				pct: toSpan({ estimate: t.overhead_pct, low: t.low_pct, high: t.high_pct }),
				abs: toSpan({ estimate: t.overhead, low: t.low, high: t.high }),
				significant: t.significant ?? false
			});
		} else {
			const cell = o.latency?.[figure];
			if (!cell) continue;
			rows.push({
				...base,
				unit: 'µs',
				pct: toSpan({ estimate: cell.overhead_pct, low: cell.low_pct, high: cell.high_pct }),
				abs: toSpan({ estimate: cell.overhead_us, low: cell.low_us, high: cell.high_us }),
				significant: cell.significant ?? false
			});
		}
	}
	return rows;
}

/** Overhead rows as error bars in percent on one axis that holds zero. */
export function overheadChart(rows: OverheadRow[]): { rows: BarRow[]; axis: Axis } {
	const bars: BarRow[] = rows.map((r) => {
		// Higher latency is worse; lower throughput is.
		const worse = r.figure === 'rps' ? (r.pct.estimate ?? 0) < 0 : (r.pct.estimate ?? 0) > 0;
		return {
			key: r.key,
			label: `${r.mesh_type} · ${r.config || r.test_type}`,
			span: r.pct,
			tone: !r.significant ? 'neutral' : worse ? 'worse' : 'better',
			title: `${r.mesh_type} (${r.test_type}, ${r.config}): ${formatSignedPercent(r.pct.estimate)} (95 % interval ${formatPercentSpan(r.pct)})${r.significant ? '' : ', not significant'}`
		};
	});
	return { rows: bars, axis: niceAxis(spanValues(bars.map((b) => b.span)), { includeZero: true }) };
}

/** How many invalid runs the summary left out, and a line saying which. */
export function invalidRunsNote(summary: MetricsSummary): { total: number; text: string } {
	const counts = (summary.invalid_runs ?? []).filter((r) => r.count > 0);
	const total = counts.reduce((n, r) => n + r.count, 0);
	if (total === 0) return { total, text: 'No invalid runs were left out.' };
	const parts = counts.map((r) => `${r.mesh_type} ${r.test_type}: ${r.count}`);
	return { total, text: `${total} invalid run${total === 1 ? '' : 's'} left out (${parts.join('; ')}).` };
}

/** Whether a job is a finished run its own checks declared unusable for statistics. */
export function isInvalid(job: Pick<BenchmarkJob, 'status' | 'invalid_reasons'>): boolean {
	return job.status === 'completed' && (job.invalid_reasons?.length ?? 0) > 0;
}

/** The figures a series chart plots, with the job summary's key for each run's value. */
export const SERIES_CHART_FIGURES = [
	{ figure: 'p50', label: 'p50', key: 'p50_us', unit: 'µs' },
	{ figure: 'p90', label: 'p90', key: 'p90_us', unit: 'µs' },
	{ figure: 'p99', label: 'p99', key: 'p99_us', unit: 'µs' },
	{ figure: 'p999', label: 'p99.9', key: 'p999_us', unit: 'µs' },
	{ figure: 'rps', label: 'throughput', key: 'rps', unit: 'req/s' }
] as const;
export type SeriesChartFigure = (typeof SERIES_CHART_FIGURES)[number]['figure'];

/** A series' runs in run order, with what the table and chart need of each. */
export interface SeriesRunRow {
	job: BenchmarkJob;
	/** 1-based position in the series. */
	index: number;
	invalid: boolean;
	reasons: string[];
	/** Figures on which the run is flagged as an outlier. */
	outliers: string[];
}

export function seriesRunRows(view: SeriesView): SeriesRunRow[] {
	const runs = [...view.runs].sort((a, b) => (a.series?.order ?? 0) - (b.series?.order ?? 0));
	return runs.map((job, i) => ({
		job,
		index: i + 1,
		invalid: isInvalid(job),
		reasons: job.invalid_reasons ?? [],
		outliers: view.stats.outliers.filter((o) => o.id === job.job_id).map((o) => figureLabel(o.figure))
	}));
}

/** Per-run values of one figure, split by validity, and the series' mean with its interval. */
export interface SeriesChartData {
	labels: string[];
	valid: (number | null)[];
	invalid: (number | null)[];
	/** Valid runs flagged as outliers on this figure. */
	outliers: (number | null)[];
	mean: Span;
	unit: string;
	label: string;
}

export function seriesChartData(view: SeriesView, figure: SeriesChartFigure): SeriesChartData {
	const def = SERIES_CHART_FIGURES.find((f) => f.figure === figure) ?? SERIES_CHART_FIGURES[0];
	const rows = seriesRunRows(view);
	const valueOf = (job: BenchmarkJob): number | null => {
		if (job.status !== 'completed' || !job.summary) return null;
		return orNull((job.summary as unknown as Record<string, unknown>)[def.key]);
	};
	const stat = view.stats.figures.find((f) => f.figure === def.figure);
	return {
		labels: rows.map((r) => `run ${r.index}`),
		valid: rows.map((r) => (r.invalid ? null : valueOf(r.job))),
		invalid: rows.map((r) => (r.invalid ? valueOf(r.job) : null)),
		outliers: rows.map((r) =>
			!r.invalid && view.stats.outliers.some((o) => o.id === r.job.job_id && o.figure === def.figure) ? valueOf(r.job) : null
		),
		mean: toSpan(stat?.interval),
		unit: def.unit,
		label: def.label
	};
}

/** A start request's settings that describe a series, as label and value pairs. */
export function describeRequest(request: unknown): [string, string][] {
	if (!request || typeof request !== 'object') return [];
	const r = request as Record<string, unknown>;
	const out: [string, string][] = [];
	if (r.test_type) out.push(['type', String(r.test_type)]);
	if (r.mesh_type) out.push(['mesh', String(r.mesh_type)]);
	out.push(['target', typeof r.service_url === 'string' && r.service_url ? r.service_url : 'built-in target']);
	if (r.concurrent_connections !== undefined) out.push(['connections', String(r.concurrent_connections)]);
	out.push(['load', finite(r.rate) ? `open model, ${r.rate}/s` : 'closed model']);
	if (r.duration !== undefined) out.push(['duration', `${r.duration} s`]);
	if (finite(r.warmup) && r.warmup > 0) out.push(['warm-up', `${r.warmup} s`]);
	if (r.http2) out.push(['protocol', 'HTTP/2']);
	return out;
}

/** What the comparison form holds (strings, as typed). */
export interface CompareParams {
	baseline: string;
	candidate: string;
	max_regression: string;
	/** k6-style thresholds, one per line or separated by commas. */
	thresholds: string;
	max_error_rate: string;
}

/** The comparison form's values from a page's query (`?baseline=…&candidate=…&max_regression=…`). */
export function compareParamsFrom(search: URLSearchParams): CompareParams {
	const thresholds = search.getAll('threshold');
	const joined = search.get('thresholds');
	return {
		baseline: search.get('baseline')?.trim() ?? '',
		candidate: search.get('candidate')?.trim() ?? '',
		max_regression: search.get('max_regression') ?? '',
		thresholds: [...(joined ? [joined] : []), ...thresholds].join(', '),
		max_error_rate: search.get('max_error_rate') ?? ''
	};
}

/** The comparison page's address for these values (empty ones left out). */
export function compareHref(p: Partial<CompareParams>): string {
	const q = new URLSearchParams();
	for (const key of ['baseline', 'candidate', 'max_regression', 'thresholds', 'max_error_rate'] as const) {
		const v = p[key]?.trim();
		if (v) q.set(key, v);
	}
	const s = q.toString();
	return `/compare${s ? `?${s}` : ''}`;
}

/** Splits typed thresholds: one per line, or separated by commas or semicolons. */
export function splitThresholds(text: string): string[] {
	return text
		.split(/[\n,;]+/)
		.map((t) => t.trim())
		.filter(Boolean);
}

/** The request the form's values make, or the message for each field that cannot be sent. */
export function buildCompareRequest(p: CompareParams): { ok: true; request: CompareRequest } | { ok: false; errors: Record<string, string> } {
	const errors: Record<string, string> = {};
	const baseline = p.baseline.trim();
	const candidate = p.candidate.trim();
	if (!baseline) errors.baseline = 'Give a job id or a series id.';
	if (!candidate) errors.candidate = 'Give a job id or a series id.';
	const request: CompareRequest = { baseline, candidate };
	if (p.max_regression.trim()) request.max_regression = p.max_regression.trim();
	const thresholds = splitThresholds(p.thresholds);
	if (thresholds.length) request.thresholds = thresholds;
	const rate = p.max_error_rate.trim().replace(/%$/, '').trim();
	if (rate) {
		const n = Number(rate);
		if (!Number.isFinite(n) || n < 0 || n > 100) errors.max_error_rate = 'A percentage from 0 to 100.';
		else request.max_error_rate = n;
	}
	return Object.keys(errors).length ? { ok: false, errors } : { ok: true, request };
}

/** The form field an API field name belongs to (`thresholds[1]` → `thresholds`). */
export function compareFieldOf(field: string): string {
	return field.replace(/\[\d+\]$/, '');
}
