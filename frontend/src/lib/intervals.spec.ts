import { describe, expect, it } from 'vitest';
import {
	axisPosition,
	buildCompareRequest,
	changeChart,
	compareFieldOf,
	compareHref,
	compareParamsFrom,
	comparisonPanels,
	comparisonRows,
	describeRequest,
	formatFigure,
	formatPercentSpan,
	formatSignedPercent,
	formatSpan,
	invalidRunsNote,
	isInvalid,
	leftOutCounts,
	methodText,
	niceAxis,
	niceStep,
	overheadChart,
	overheadRows,
	seriesChartData,
	seriesRunRows,
	spansZero,
	splitThresholds,
	toSpan,
	verdictText,
	zeroWidth
} from './intervals';
import type { BenchmarkJob, Comparison, ComparedFigure, MetricsSummary, SeriesView } from './types';

const iv = (estimate: number, low: number, high: number) => ({ estimate, low, high });

function figure(name: string, unit: string, base: number, cand: number, rel: [number, number, number] | null, verdict: ComparedFigure['verdict']): ComparedFigure {
	return {
		figure: name,
		unit,
		baseline: iv(base, base * 0.9, base * 1.1),
		candidate: iv(cand, cand * 0.9, cand * 1.1),
		difference: {
			absolute: iv(cand - base, cand - base - 10, cand - base + 10),
			// The API answers null for a change from a zero baseline.
			relative: (rel ? iv(...rel) : { estimate: null, low: null, high: null }) as unknown as ComparedFigure['difference']['relative'],
			significant: verdict !== 'no_significant_difference',
			method: 'seconds'
		},
		verdict
	};
}

const comparison: Comparison = {
	schema: 'meshbench.comparison.v1',
	baseline: { label: 'sa', runs: 3, valid_runs: 2 },
	candidate: { label: 'sb', runs: 3, valid_runs: 3 },
	left_out: [{ id: 'j1', reasons: ['achieved 46.9 req/s of the 100.0 requested'] }],
	outliers: [],
	warnings: ['connections differs: baseline 1, candidate 2'],
	figures: [
		figure('p50', 'µs', 1000, 2000, [1, 0.8, 1.2], 'worse'),
		figure('p99', 'µs', 5000, 4800, [-0.04, -0.2, 0.1], 'no_significant_difference'),
		figure('rps', 'req/s', 100, 120, [0.2, 0.1, 0.3], 'better'),
		figure('errors', '%', 0, 0, null, 'no_significant_difference')
	],
	gates: [{ gate: 'p50=20%', passed: false, detail: 'p50 worse by 100.0 %' }],
	passed: false
};

function job(id: string, order: number, over: Partial<BenchmarkJob> = {}): BenchmarkJob {
	return {
		job_id: id,
		status: 'completed',
		test_type: 'http',
		mesh_type: 'baseline',
		namespace: 'default',
		created_at: '2026-01-01T00:00:00Z',
		progress: 1,
		attempts: 1,
		request: { test_type: 'http', mesh_type: 'baseline', rate: 100, concurrent_connections: 1, duration: 2, warmup: 0 },
		summary: { requests: 200, errors: 0, rps: 100, p50_us: 1000 + order, p90_us: 1500, p99_us: 3000, p999_us: 4000, max_us: 5000 },
		series: { series_id: 's', group: 'g', order },
		invalid_reasons: [],
		...over
	};
}

const view: SeriesView = {
	series_id: 's',
	group: 'g',
	siblings: ['t'],
	// Out of order on purpose: the page shows run order.
	runs: [job('b', 3), job('a', 0, { invalid_reasons: ['rate missed'], summary: { requests: 90, errors: 0, rps: 45, p50_us: 9000, p90_us: 1, p99_us: 1, p999_us: 1, max_us: 1 } }), job('c', 4), job('d', 6, { status: 'running', summary: null })],
	unfinished: 1,
	stats: {
		runs: 3,
		valid_runs: 2,
		left_out: [{ id: 'a', reasons: ['rate missed'] }],
		outliers: [{ id: 'c', figure: 'p50', value: 1004 }],
		figures: [{ figure: 'p50', unit: 'µs', interval: iv(1003.5, 1001, 1006), method: 'seconds' }],
		warnings: []
	}
};

describe('spans', () => {
	it('reads missing or non-numeric bounds as unknown', () => {
		expect(toSpan({ estimate: 1, low: null as unknown as number, high: NaN })).toEqual({ estimate: 1, low: null, high: null });
		expect(toSpan(undefined)).toEqual({ estimate: null, low: null, high: null });
	});
	it('tells whether an interval includes zero', () => {
		expect(spansZero(toSpan(iv(1, 0.5, 2)))).toBe(false);
		expect(spansZero(toSpan(iv(-1, -2, -0.5)))).toBe(false);
		expect(spansZero(toSpan(iv(0.1, -0.2, 0.3)))).toBe(true);
		expect(spansZero(toSpan(iv(0, 0, 0)))).toBe(true);
		expect(spansZero({ estimate: 1, low: null, high: null })).toBe(true);
	});
	it('tells an interval of no width', () => {
		expect(zeroWidth(toSpan(iv(5, 5, 5)))).toBe(true);
		expect(zeroWidth(toSpan(iv(5, 4, 6)))).toBe(false);
		expect(zeroWidth({ estimate: 5, low: null, high: null })).toBe(false);
	});
});

describe('formatting', () => {
	it('formats each unit', () => {
		expect(formatFigure(1500, 'µs')).toBe('1.50 ms');
		expect(formatFigure(120, 'req/s')).toBe('120/s');
		expect(formatFigure(0.5, '%')).toBe('0.50 %');
		expect(formatFigure(null, '%')).toBe('—');
		expect(formatSpan(toSpan(iv(1500, 1000, 2000)), 'µs')).toBe('1.00 ms – 2.00 ms');
		expect(formatSignedPercent(12.34)).toBe('+12 %');
		expect(formatSignedPercent(-3.21)).toBe('−3.2 %');
		expect(formatSignedPercent(0.01)).toBe('0 %');
		expect(formatPercentSpan(toSpan(iv(5, -2, 12)))).toBe('−2.0 % … +12 %');
	});
	it('says methods and verdicts in words', () => {
		expect(methodText('runs')).toContain('one value per valid run');
		expect(methodText('seconds')).toContain('seconds are pooled');
		expect(verdictText('no_significant_difference')).toBe('no significant difference');
		expect(verdictText('worse')).toBe('worse');
	});
});

describe('axes', () => {
	it('picks round steps', () => {
		expect(niceStep(0.13)).toBe(0.2);
		expect(niceStep(3)).toBe(5);
		expect(niceStep(70)).toBe(100);
		expect(niceStep(0)).toBe(1);
	});
	it('covers every value with round ticks, zero included when asked', () => {
		const a = niceAxis([12, 37, 55]);
		expect(a.min).toBeLessThanOrEqual(12);
		expect(a.max).toBeGreaterThanOrEqual(55);
		expect(a.ticks[0]).toBe(a.min);
		expect(a.ticks[a.ticks.length - 1]).toBe(a.max);
		const z = niceAxis([12, 37], { includeZero: true });
		expect(z.min).toBe(0);
		expect(z.ticks).toContain(0);
		const neg = niceAxis([-30, -5], { includeZero: true });
		expect(neg.max).toBe(0);
	});
	it('gives a single value or no value some room', () => {
		const one = niceAxis([100]);
		expect(one.min).toBeLessThan(100);
		expect(one.max).toBeGreaterThan(100);
		expect(niceAxis([0], { includeZero: true })).toMatchObject({ min: -1, max: 1 });
		expect(niceAxis([null, undefined])).toEqual({ min: 0, max: 1, ticks: [0, 0.5, 1] });
	});
	it('keeps float noise out of ticks', () => {
		expect(niceAxis([0.1, 0.7]).ticks.every((t) => String(t).length < 8)).toBe(true);
	});
	it('maps values onto a length, clamped', () => {
		const a = { min: 0, max: 100, ticks: [] };
		expect(axisPosition(25, a, 200)).toBe(50);
		expect(axisPosition(-10, a, 200)).toBe(0);
		expect(axisPosition(1000, a, 200)).toBe(200);
		expect(axisPosition(5, { min: 5, max: 5, ticks: [] }, 200)).toBe(100);
	});
});

describe('comparisons', () => {
	it('turns each figure into a row with its change in percent', () => {
		const rows = comparisonRows(comparison);
		expect(rows.map((r) => r.label)).toEqual(['p50', 'p99', 'throughput', 'errors']);
		expect(rows[0].change).toEqual({ estimate: 100, low: 80, high: 120 });
		expect(rows[0].noDifference).toBe(false);
		expect(rows[1].noDifference).toBe(true);
		// A zero baseline has no relative change; the absolute one decides.
		expect(rows[3].change).toEqual({ estimate: null, low: null, high: null });
		expect(rows[3].noDifference).toBe(true);
	});
	it('makes one error-bar panel per figure, both sides on one axis', () => {
		const panels = comparisonPanels(comparison);
		expect(panels).toHaveLength(4);
		const p50 = panels[0];
		expect(p50.rows.map((r) => [r.key, r.span.low, r.span.high])).toEqual([
			['baseline', 900, 1100],
			['candidate', 1800, 2200]
		]);
		expect(p50.axis.min).toBeLessThanOrEqual(900);
		expect(p50.axis.max).toBeGreaterThanOrEqual(2200);
		expect(p50.rows[1].title).toContain('95 % interval');
	});
	it('charts the changes around zero, coloured by verdict, leaving out unknown ones', () => {
		const { rows, axis } = changeChart(comparison);
		expect(rows.map((r) => [r.key, r.tone])).toEqual([
			['p50', 'worse'],
			['p99', 'neutral'],
			['rps', 'better']
		]);
		expect(axis.min).toBeLessThanOrEqual(-20);
		expect(axis.max).toBeGreaterThanOrEqual(120);
		expect(axis.ticks).toContain(0);
		expect(rows[1].title).toContain('no significant difference');
	});
	it('counts left-out runs per side', () => {
		expect(leftOutCounts(comparison)).toEqual({ baseline: 1, candidate: 0, total: 1 });
	});
});

describe('the comparison form', () => {
	it('reads and writes the page query', () => {
		const p = compareParamsFrom(new URLSearchParams('baseline=a&candidate=b&max_regression=p50%3D20%25&thresholds=p99<5ms&threshold=errors<1%25'));
		expect(p).toEqual({ baseline: 'a', candidate: 'b', max_regression: 'p50=20%', thresholds: 'p99<5ms, errors<1%', max_error_rate: '' });
		expect(compareHref({ baseline: 'a', candidate: ' b ', max_regression: '' })).toBe('/compare?baseline=a&candidate=b');
		expect(compareHref({})).toBe('/compare');
		expect(compareParamsFrom(new URLSearchParams(compareHref(p).split('?')[1]))).toEqual(p);
	});
	it('builds the request, or says what is missing', () => {
		expect(splitThresholds('p99<5ms\nerrors<1%, rps>100;')).toEqual(['p99<5ms', 'errors<1%', 'rps>100']);
		expect(buildCompareRequest({ baseline: ' a ', candidate: 'b', max_regression: 'p99=10%', thresholds: 'p99<5ms', max_error_rate: '2 %' })).toEqual({
			ok: true,
			request: { baseline: 'a', candidate: 'b', max_regression: 'p99=10%', thresholds: ['p99<5ms'], max_error_rate: 2 }
		});
		expect(buildCompareRequest({ baseline: 'a', candidate: 'b', max_regression: '', thresholds: '', max_error_rate: '' })).toEqual({
			ok: true,
			request: { baseline: 'a', candidate: 'b' }
		});
		const bad = buildCompareRequest({ baseline: '', candidate: 'b', max_regression: '', thresholds: '', max_error_rate: '200' });
		expect(bad.ok).toBe(false);
		if (!bad.ok) expect(Object.keys(bad.errors).sort()).toEqual(['baseline', 'max_error_rate']);
		expect(compareFieldOf('thresholds[2]')).toBe('thresholds');
		expect(compareFieldOf('baseline')).toBe('baseline');
	});
});

describe('series', () => {
	it('lists runs in run order with validity and outlier flags', () => {
		const rows = seriesRunRows(view);
		expect(rows.map((r) => [r.job.job_id, r.index, r.invalid])).toEqual([
			['a', 1, true],
			['b', 2, false],
			['c', 3, false],
			['d', 4, false]
		]);
		expect(rows[0].reasons).toEqual(['rate missed']);
		expect(rows[2].outliers).toEqual(['p50']);
	});
	it('charts each run’s value apart by validity, with the mean and its interval', () => {
		const d = seriesChartData(view, 'p50');
		expect(d.labels).toEqual(['run 1', 'run 2', 'run 3', 'run 4']);
		expect(d.valid).toEqual([null, 1003, 1004, null]);
		expect(d.invalid).toEqual([9000, null, null, null]);
		expect(d.outliers).toEqual([null, null, 1004, null]);
		expect(d.mean).toEqual({ estimate: 1003.5, low: 1001, high: 1006 });
		const rps = seriesChartData(view, 'rps');
		expect(rps.unit).toBe('req/s');
		expect(rps.mean).toEqual({ estimate: null, low: null, high: null });
	});
	it('marks only completed runs with reasons as invalid', () => {
		expect(isInvalid({ status: 'completed', invalid_reasons: ['x'] })).toBe(true);
		expect(isInvalid({ status: 'completed', invalid_reasons: [] })).toBe(false);
		expect(isInvalid({ status: 'completed' })).toBe(false);
		expect(isInvalid({ status: 'failed', invalid_reasons: ['x'] })).toBe(false);
	});
	it('describes the configuration from the start request', () => {
		expect(describeRequest(view.runs[0].request)).toEqual([
			['type', 'http'],
			['mesh', 'baseline'],
			['target', 'built-in target'],
			['connections', '1'],
			['load', 'open model, 100/s'],
			['duration', '2 s']
		]);
		expect(describeRequest(null)).toEqual([]);
	});
});

describe('overhead', () => {
	const summary: MetricsSummary = {
		mesh_type: null,
		method: 'welch',
		confidence: 0.95,
		meshes: [],
		overhead: [
			{
				test_type: 'http',
				mesh_type: 'istio',
				config: 'c=1 100/s h1 GET body=0B',
				baseline_runs: 3,
				mesh_runs: 3,
				latency: {
					p99: { baseline_us: 1000, mesh_us: 1500, overhead_us: 500, overhead_pct: 50, spread_us: 40, low_us: 400, high_us: 600, low_pct: 40, high_pct: 60, significant: true }
				},
				throughput: { baseline: 100, mesh: 99, overhead: -1, overhead_pct: -1, low: -3, high: 1, low_pct: -3, high_pct: 1, significant: false }
			},
			{ test_type: 'http', mesh_type: 'linkerd', config: 'c=2 closed h1 GET body=0B', baseline_runs: 1, mesh_runs: 1, latency: {} }
		],
		invalid_runs: [
			{ test_type: 'http', mesh_type: 'istio', count: 2 },
			{ test_type: 'http', mesh_type: 'baseline', count: 1 }
		]
	};
	it('reads each configuration’s overhead with its interval', () => {
		const rows = overheadRows(summary, 'p99');
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ mesh_type: 'istio', config: 'c=1 100/s h1 GET body=0B', unit: 'µs', significant: true });
		expect(rows[0].pct).toEqual({ estimate: 50, low: 40, high: 60 });
		expect(rows[0].abs).toEqual({ estimate: 500, low: 400, high: 600 });
		const rps = overheadRows(summary, 'rps');
		expect(rps[0].pct).toEqual({ estimate: -1, low: -3, high: 1 });
		expect(rps[0].significant).toBe(false);
	});
	it('charts overheads around zero and marks those not significant', () => {
		const chart = overheadChart(overheadRows(summary, 'p99'));
		expect(chart.rows[0]).toMatchObject({ tone: 'worse', label: 'istio · c=1 100/s h1 GET body=0B' });
		expect(chart.axis.min).toBe(0);
		const rps = overheadChart(overheadRows(summary, 'rps'));
		expect(rps.rows[0].tone).toBe('neutral');
		expect(rps.rows[0].title).toContain('not significant');
	});
	it('counts the invalid runs left out', () => {
		expect(invalidRunsNote(summary)).toEqual({ total: 3, text: '3 invalid runs left out (istio http: 2; baseline http: 1).' });
		expect(invalidRunsNote({ ...summary, invalid_runs: [] }).total).toBe(0);
		expect(invalidRunsNote({ ...summary, invalid_runs: undefined }).text).toBe('No invalid runs were left out.');
	});
});
