import { describe, expect, it } from 'vitest';
import {
	appendLivePoint,
	breakdown,
	compareRuns,
	comparisonCsv,
	comparisonJson,
	comparedFields,
	configDifferences,
	describeSchedule,
	histogramBars,
	percentileAt,
	spectrumSeries,
	spectrumX,
	timelineSeries
} from './charts';
import type { BenchmarkResult, ClusterRecord, LatencySummary } from './result';
import { istioRecord } from './cluster.fixtures';

function summary(scale: number): LatencySummary {
	return { min: 100 * scale, mean: 1000 * scale, stdev: 10, p50: 900 * scale, p75: 1100 * scale, p90: 1500 * scale, p95: 2000 * scale, p99: 4000 * scale, p999: 8000 * scale, p9999: 9000 * scale, max: 10_000 * scale };
}

function result(overrides: Partial<BenchmarkResult> = {}, scale = 1): BenchmarkResult {
	return {
		schema: 'meshbench.result.v1',
		spec: {
			requests: [{ method: 'GET', url: 'http://127.0.0.1:8080/', headers: [] }],
			protocol: 'http1',
			connections: 50,
			streams: 1,
			threads: 1,
			model: 'closed',
			duration_s: 30,
			warmup_s: 0,
			connect_timeout_s: 5,
			request_timeout_s: 30,
			insecure: false,
			mesh_type: 'baseline'
		},
		model: 'closed',
		started_at: '2026-01-01T00:00:00Z',
		ended_at: '2026-01-01T00:00:30Z',
		duration_s: 30,
		requests: 30_000,
		errors: 30,
		rps: 1000,
		requested_rps: null,
		latency_us: summary(scale),
		service_time_us: summary(scale),
		status_codes: { '200': 29_970 },
		error_kinds: { timeout: 30 },
		bytes_sent: 1,
		bytes_received: 1,
		timeline: [],
		histogram: '',
		service_histogram: '',
		loadgen: { threads: 1, connections: 50, cpu_s: 1, cpu_user_s: 0.5, cpu_system_s: 0.5, max_rss_bytes: 1, saturated: false },
		...overrides
	};
}

describe('spectrum', () => {
	it('maps percentiles to 1/(1-p) and back', () => {
		expect(spectrumX(50)).toBeCloseTo(2);
		expect(spectrumX(99)).toBeCloseTo(100);
		expect(spectrumX(99.999)).toBeCloseTo(100_000);
		expect(spectrumX(100)).toBe(Infinity);
		expect(percentileAt(1000)).toBeCloseTo(99.9);
	});

	it('keeps 50 % and up, starts exactly at 50 % and draws the max at the axis end', () => {
		const points = [
			{ percentile: 0, value_us: 100, count: 1 },
			{ percentile: 40, value_us: 800, count: 40 },
			{ percentile: 55, value_us: 950, count: 55 },
			{ percentile: 90, value_us: 1500, count: 90 },
			{ percentile: 99, value_us: 4000, count: 99 },
			{ percentile: 100, value_us: 10_000, count: 100 }
		];
		const s = spectrumSeries(points);
		expect(s[0]).toEqual({ x: 2, y: 950, percentile: 50 });
		expect(s.map((p) => p.y)).toEqual([950, 950, 1500, 4000, 10_000]);
		expect(s[s.length - 1].x).toBeCloseTo(100_000);
		for (let i = 1; i < s.length; i++) expect(s[i].x).toBeGreaterThan(s[i - 1].x);
	});

	it('folds points beyond the axis end into one, keeping the largest value', () => {
		const points = [
			{ percentile: 50, value_us: 1, count: 1 },
			{ percentile: 99.9995, value_us: 5, count: 2 },
			{ percentile: 100, value_us: 7, count: 3 }
		];
		const s = spectrumSeries(points);
		expect(s).toHaveLength(2);
		expect(s[1].y).toBe(7);
	});
});

describe('timeline and live points', () => {
	it('sorts seconds and keeps the requested rate only for the open model', () => {
		const t = timelineSeries([
			{ second: 1, requests: 20, errors: 1, p50_us: 5, p99_us: 9, requested: 20 },
			{ second: 0, requests: 10, errors: 0, p50_us: 4, p99_us: 8, requested: 20 }
		]);
		expect(t.seconds).toEqual([0, 1]);
		expect(t.rps).toEqual([10, 20]);
		expect(t.requested).toEqual([20, 20]);
		expect(timelineSeries([{ second: 0, requests: 1, errors: 0, p50_us: 1, p99_us: 1 }]).requested).toEqual([null]);
	});
	it('replaces a repeated second instead of drawing it twice', () => {
		let pts = appendLivePoint([], { second: 0, rps: 1, errors: 0, p50_us: 1, p99_us: 1 });
		pts = appendLivePoint(pts, { second: 2, rps: 3, errors: 0, p50_us: 1, p99_us: 1 });
		pts = appendLivePoint(pts, { second: 1, rps: 2, errors: 0, p50_us: 1, p99_us: 1 });
		pts = appendLivePoint(pts, { second: 2, rps: 4, errors: 0, p50_us: 1, p99_us: 1 });
		expect(pts.map((p) => [p.second, p.rps])).toEqual([[0, 1], [1, 2], [2, 4]]);
	});
});

describe('spectrum edge cases', () => {
	it('starts at 50 % even when the first point is above it', () => {
		const s = spectrumSeries([
			{ percentile: 60, value_us: 5, count: 6 },
			{ percentile: 100, value_us: 9, count: 10 }
		]);
		expect(s[0]).toEqual({ x: 2, y: 5, percentile: 50 });
	});
	it('draws a flat line when every value is the same', () => {
		const s = spectrumSeries([{ percentile: 100, value_us: 42, count: 3 }]);
		expect(s.map((p) => p.y)).toEqual([42, 42]);
		expect(s[0].x).toBe(2);
		expect(s[1].x).toBeCloseTo(100_000);
	});
});

describe('histogram bars', () => {
	it('labels buckets by their upper bound', () => {
		const bars = histogramBars({
			total_count: 3,
			min_us: 1,
			max_us: 30,
			mean_us: 10,
			spectrum: [],
			buckets: [
				{ low_us: 1, high_us: 10, count: 2 },
				{ low_us: 10, high_us: 30, count: 1 }
			]
		});
		expect(bars.labels).toEqual(['10', '30']);
		expect(bars.counts).toEqual([2, 1]);
		expect(bars.ranges).toEqual([[1, 10], [10, 30]]);
	});
});

describe('compareRuns', () => {
	const base = result();
	const mesh = result({ rps: 800, errors: 300, spec: { ...result().spec, mesh_type: 'istio' } }, 1.5);

	it('takes deltas against the first run, absolute and in percent', () => {
		const c = compareRuns([
			{ jobId: 'a', label: 'baseline', result: base },
			{ jobId: 'b', label: 'istio', result: mesh }
		]);
		const p99 = c.latency.find((r) => r.label === 'p99')!;
		expect(p99.values).toEqual([4000, 6000]);
		expect(p99.deltas).toEqual([null, 2000]);
		expect(p99.percents[1]).toBeCloseTo(50);
		expect(c.latency.map((r) => r.label)).toEqual(['p50', 'p75', 'p90', 'p95', 'p99', 'p99.9', 'p99.99', 'max', 'mean']);
		expect(c.throughput.percents[1]).toBeCloseTo(-20);
		expect(c.errorRate.values[0]).toBeCloseTo(0.1);
		expect(c.errorRate.deltas[1]).toBeCloseTo(0.9);
		expect(c.httpErrorRate.values).toEqual([0, 0]);
		// The mesh label differs by design; nothing else does.
		expect(c.differences).toEqual([]);
	});

	it('warns about settings that differ', () => {
		const other = result({ spec: { ...result().spec, connections: 100, model: 'open', schedule: { kind: 'constant', rps: 500 } } });
		const d = configDifferences([base.spec, other.spec]);
		expect(d.map((x) => x.field)).toEqual(['connections', 'model', 'schedule']);
		expect(d[0].values).toEqual(['50', '100']);
	});

	it('compares the mesh each run’s namespace had, as recorded in its result', () => {
		const onCluster = (mesh: ClusterRecord['mesh'], mesh_mismatch = false): ClusterRecord => ({
			namespace: 'bookinfo',
			mesh,
			mesh_error: null,
			mesh_mismatch,
			resources: null,
			resources_error: null
		});
		const a = result({ cluster: onCluster(istioRecord()) });
		// The same record: nothing to warn about, whatever else the records hold.
		expect(configDifferences([a, result({ cluster: onCluster(istioRecord({ evidence: ['other'], agrees: true })) })])).toEqual([]);
		// Another version, mode, mTLS mode or mesh: warned about like any setting.
		for (const other of [
			istioRecord({ version: '1.22.0' }),
			istioRecord({ mode: 'ambient' }),
			istioRecord({ mtls: { mode: 'PERMISSIVE', source: 'PeerAuthentication bookinfo/default' } }),
			istioRecord({ mtls: null }),
			istioRecord({ mesh: 'linkerd', version: 'stable-2.14.10', mtls: { mode: 'automatic', source: 'linkerd' } })
		]) {
			const d = configDifferences([a, result({ cluster: onCluster(other) })]);
			expect(d.map((x) => x.field)).toEqual(['mesh']);
			expect(d[0].values[0]).toBe('istio sidecar 1.24.2, mTLS STRICT');
		}
		// A record against none (no cluster, or the record could not be read).
		expect(configDifferences([a, result()])).toEqual([{ field: 'mesh', values: ['istio sidecar 1.24.2, mTLS STRICT', '—'] }]);
		expect(configDifferences([result({ cluster: onCluster(null) }), a])[0].values).toEqual(['—', 'istio sidecar 1.24.2, mTLS STRICT']);
		// Specs alone, as before, carry no record: only their settings are compared.
		expect(comparedFields(a.spec).mesh).toBe('—');
		expect(comparedFields(a).mesh).toBe('istio sidecar 1.24.2, mTLS STRICT');
		expect(configDifferences([a.spec, result().spec])).toEqual([]);
		// Settings and mesh together, in configFields' order with the mesh last.
		const both = result({ spec: { ...result().spec, connections: 100 }, cluster: onCluster(istioRecord({ version: '1.23.1' })) });
		expect(configDifferences([a, both]).map((x) => x.field)).toEqual(['connections', 'mesh']);
	});

	it('flags runs whose mesh label is not the mesh detected', () => {
		const wrong = result({
			spec: { ...result().spec, mesh_type: 'linkerd' },
			cluster: { namespace: 'bookinfo', mesh: istioRecord(), mesh_error: null, mesh_mismatch: true, resources: null, resources_error: null }
		});
		const c = compareRuns([
			{ jobId: 'a', label: 'baseline', result: base },
			{ jobId: 'b', label: 'linkerd', result: wrong }
		]);
		expect(c.mismatches).toEqual([{ jobId: 'b', label: 'linkerd', text: 'started as linkerd but istio serves bookinfo' }]);
		expect(c.differences.map((d) => d.field)).toEqual(['mesh']);
		const doc = JSON.parse(comparisonJson(c));
		expect(doc.runs.map((r: { mesh_mismatch: string | null }) => r.mesh_mismatch)).toEqual([null, 'started as linkerd but istio serves bookinfo']);
		expect(compareRuns([{ jobId: 'a', label: 'baseline', result: base }, { jobId: 'c', label: 'istio', result: mesh }]).mismatches).toEqual([]);
	});

	it('exports CSV with one row per metric and run, and JSON with the deltas', () => {
		const c = compareRuns([
			{ jobId: 'a', label: 'baseline, "quoted"', result: base },
			{ jobId: 'b', label: 'istio', result: mesh }
		]);
		const csv = comparisonCsv(c).trim().split('\n');
		expect(csv[0]).toBe('metric,unit,job_id,run,value,delta,delta_pct');
		expect(csv).toHaveLength(1 + (9 + 3) * 2);
		expect(csv[1]).toBe('p50,us,a,"baseline, ""quoted""",900,,');
		expect(csv[2]).toBe('p50,us,b,istio,1350,450,50');
		const doc = JSON.parse(comparisonJson(c, new Date('2026-01-01T00:00:00Z')));
		expect(doc.schema).toBe('meshbench.comparison.v1');
		expect(doc.reference).toBe('a');
		expect(doc.runs[1].latency_delta_us.p99).toBe(2000);
		expect(doc.runs[1].latency_delta_pct.p99).toBe(50);
		expect(doc.runs[0].latency_delta_us).toBeNull();
		expect(doc.runs[1].rps_delta_pct).toBe(-20);
	});

	it('counts HTTP error statuses apart from transport errors', () => {
		const failing = result({ requests: 1000, errors: 0, status_codes: { '200': 900, '503': 80, '404': 20 } });
		const c = compareRuns([
			{ jobId: 'a', label: 'baseline', result: base },
			{ jobId: 'b', label: 'istio', result: failing }
		]);
		expect(c.httpErrorRate.values[1]).toBeCloseTo(10);
		expect(c.errorRate.values[1]).toBe(0);
	});

	it('keeps user-chosen labels from becoming spreadsheet formulas', () => {
		const c = compareRuns([
			{ jobId: 'a', label: '=HYPERLINK("x")', result: base },
			{ jobId: 'b', label: 'istio', result: mesh }
		]);
		expect(comparisonCsv(c).split('\n')[1]).toContain(`"'=HYPERLINK(""x"")"`);
	});
});

describe('small helpers', () => {
	it('shares codes and errors out of all requests when given the total', () => {
		expect(breakdown({ timeout: 5 }, 100)).toEqual([{ key: 'timeout', count: 5, share: 0.05 }]);
	});
	it('orders status codes by count with shares', () => {
		expect(breakdown({ '200': 90, '503': 10 })).toEqual([
			{ key: '200', count: 90, share: 0.9 },
			{ key: '503', count: 10, share: 0.1 }
		]);
		expect(breakdown({})).toEqual([]);
	});
	it('describes schedules', () => {
		expect(describeSchedule({ kind: 'constant', rps: 1000 })).toBe('1000/s');
		expect(describeSchedule({ kind: 'ramp', from: 0, to: 5000, over_s: 30 })).toBe('0→5000/s over 30 s');
	});
});
