import { afterEach, describe, expect, it } from 'vitest';
import {
	axisFromZero,
	buildLabCompareRequest,
	comparisonProgress,
	defaultLabCompareForm,
	formatMegabytes,
	formatMillicores,
	hopAxis,
	hopLegend,
	hopPath,
	hopSegments,
	hopStackRows,
	hopSteps,
	labCompareHref,
	labFieldOf,
	labFigureRows,
	labSummary,
	orderTopologies,
	partColour,
	partOf,
	partText,
	processAlive,
	proxyCostAxes,
	proxyCostRows,
	topologyName
} from './lab';
import { ApiError, labAPI, setFetch } from './api';
import type { BenchmarkJob, Comparison, HopBreakdown, LabComparisonView, LabHops, LabTopologyView, LabView, SeriesStats, TopologyInfo } from './types';

const ORDER = ['baseline', 'sidecar', 'sidecar-mtls', 'node-proxy', 'node-proxy-waypoint'];

const sidecar: TopologyInfo = {
	name: 'sidecar',
	proxies: true,
	hops: [
		{ name: 'client-sidecar', port: 15001 },
		{ name: 'server-sidecar', port: 15006 },
		{ name: 'application', port: 8080 }
	]
};

const iv = (estimate: number, low: number, high: number) => ({ estimate, low, high });

function stats(p50: number, p99: number, runs = 2): SeriesStats {
	return {
		runs,
		valid_runs: runs,
		left_out: [],
		outliers: [],
		warnings: [],
		figures: [
			{ figure: 'p50', unit: 'µs', interval: iv(p50, p50 - 10, p50 + 10), method: 'seconds' },
			{ figure: 'p99', unit: 'µs', interval: iv(p99, p99 - 50, p99 + 50), method: 'seconds' }
		]
	};
}

function job(id: string, status: BenchmarkJob['status'] = 'completed'): BenchmarkJob {
	return { job_id: id, status, attempts: 1, created_at: '2026-01-01T00:00:00Z', mesh_type: 'baseline', namespace: 'default', progress: 1, request: {}, test_type: 'http' };
}

const comparison = (p50: [number, number, number], verdict: 'worse' | 'no_significant_difference'): Comparison => ({
	schema: 'meshbench.comparison.v1',
	baseline: { label: 'baseline', runs: 2, valid_runs: 2 },
	candidate: { label: 'sidecar', runs: 2, valid_runs: 2 },
	left_out: [],
	outliers: [],
	warnings: [],
	gates: [],
	passed: true,
	figures: [
		{
			figure: 'p50',
			unit: 'µs',
			baseline: iv(1000, 990, 1010),
			candidate: iv(1300, 1280, 1320),
			difference: { absolute: iv(300, 270, 330), relative: iv(...p50), significant: verdict !== 'no_significant_difference', method: 'seconds' },
			verdict
		}
	]
});

const breakdown = (parts: [string, number, number?][], client_kernel_us = 0): HopBreakdown => ({
	percentile: 'p50',
	parts: parts.map(([part, us, raw]) => ({ part, us, raw_us: raw ?? us })),
	total_us: parts.reduce((s, [, us]) => s + us, 0),
	client_kernel_us
});

const sidecarHops: LabHops = {
	p50: breakdown(
		[
			['→ client-sidecar', 20],
			['client-sidecar', 150],
			['→ server-sidecar', 40],
			['server-sidecar', 120],
			['→ application', 10],
			['application', 1060]
		],
		1400
	),
	p99: { ...breakdown([['→ client-sidecar', 80], ['client-sidecar', 600], ['→ server-sidecar', 0, -15], ['server-sidecar', 400], ['→ application', 30], ['application', 1500]], 2700), percentile: 'p99' },
	client_p50_us: 1450,
	client_p99_us: 2900
};

const view: LabComparisonView = {
	group: 'g1',
	topologies: [
		{
			topology: 'baseline',
			series_id: 's-base',
			runs: [job('a'), job('b')],
			unfinished: 0,
			stats: stats(1000, 1800),
			proxies: [],
			hops: {
				p50: breakdown([['→ application', 30], ['application', 1040]], 1070),
				p99: { ...breakdown([['→ application', 60], ['application', 1700]], 1760), percentile: 'p99' },
				client_p50_us: 1100,
				client_p99_us: 1850
			}
		},
		{
			topology: 'sidecar',
			series_id: 's-side',
			runs: [job('c'), job('d', 'running')],
			unfinished: 1,
			stats: stats(1300, 2600, 1),
			comparison: comparison([0.3, 0.28, 0.32], 'worse'),
			proxies: [
				{ name: 'client-sidecar', cpu_s: 0.4, millicores_per_1k_rps: 200, peak_rss_bytes: 42_000_000 },
				{ name: 'server-sidecar', cpu_s: 0.3, millicores_per_1k_rps: 150, peak_rss_bytes: 40_500_000 }
			],
			hops: sidecarHops,
			envoy_version: '1.31.2'
		}
	]
};

describe('hop paths', () => {
	it('starts at the client and names each hop with its port', () => {
		expect(hopPath(sidecar)).toBe('client → client-sidecar :15001 → server-sidecar :15006 → application :8080');
		expect(hopPath({ hops: [{ name: 'application', port: 8080 }] })).toBe('client → application :8080');
		expect(hopSteps(sidecar)[0]).toEqual({ name: 'client', port: null });
		expect(hopSteps(sidecar)).toHaveLength(4);
	});
});

describe('the lab state', () => {
	const up: LabView = {
		available: true,
		topologies: [sidecar],
		namespaces: ['mb-lab-client', 'mb-lab-server'],
		alive: ['target (pid 10)', 'client-sidecar (pid 11)'],
		up: {
			topology: 'sidecar',
			url: 'http://10.0.0.2:15001',
			envoy_version: '1.31.2',
			processes: [
				{ name: 'target', pid: 10, namespace: 'mb-lab-server', log: '/tmp/lab/target.log' },
				{ name: 'client-sidecar', pid: 11, namespace: 'mb-lab-client', log: '/tmp/lab/cs.log' },
				{ name: 'server-sidecar', pid: 12, namespace: 'mb-lab-server', log: '/tmp/lab/ss.log' }
			]
		}
	};

	it('tells which recorded processes are alive', () => {
		expect(processAlive(up.alive, { name: 'target', pid: 10 })).toBe(true);
		expect(processAlive(up.alive, { name: 'server-sidecar', pid: 12 })).toBe(false);
		// The same name under another pid is another process.
		expect(processAlive(up.alive, { name: 'target', pid: 99 })).toBe(false);
	});

	it('says what is up, and what a crash left', () => {
		expect(labSummary(up)).toEqual({ state: 'up', text: 'sidecar is up: 3 processes, 1 of them not running' });
		expect(labSummary({ up: null, namespaces: [], alive: [] })).toEqual({ state: 'down', text: 'Down: no topology is up' });
		const left = labSummary({ up: null, namespaces: ['mb-lab-client'], alive: [] });
		expect(left.state).toBe('leftovers');
		expect(left.text).toContain('mb-lab-client');
	});
});

describe('the compare request', () => {
	it('lists the ticked topologies in the page order, the first being the baseline', () => {
		expect(orderTopologies(['sidecar', 'node-proxy', 'baseline'], ORDER)).toEqual(['baseline', 'sidecar', 'node-proxy']);
		expect(orderTopologies(['other', 'sidecar'], ORDER)).toEqual(['sidecar', 'other']);
	});

	it('builds the body from the form', () => {
		const form = { ...defaultLabCompareForm(), topologies: ['sidecar', 'baseline'], repeats: '1', duration: '1', connections: '2', rate: '200' };
		const built = buildLabCompareRequest(form, ORDER);
		expect(built).toEqual({
			ok: true,
			request: {
				topologies: ['baseline', 'sidecar'],
				repeats: 1,
				configuration: { test_type: 'http', service_url: 'http://lab/?delay=1ms', duration: 1, warmup: 0, concurrent_connections: 2, rate: 200 }
			}
		});
	});

	it('leaves the rate out for a closed model and keeps only a pasted URL’s path and query', () => {
		const built = buildLabCompareRequest({ ...defaultLabCompareForm(), rate: ' ', path: 'http://target:8080/echo?delay=2ms' }, ORDER);
		expect(built.ok).toBe(true);
		if (!built.ok) return;
		expect(built.request.configuration).not.toHaveProperty('rate');
		expect(built.request.configuration?.service_url).toBe('http://lab/echo?delay=2ms');
		const bare = buildLabCompareRequest({ ...defaultLabCompareForm(), path: '?delay=1ms' }, ORDER);
		expect(bare.ok && bare.request.configuration?.service_url).toBe('http://lab/?delay=1ms');
	});

	it('names every field that cannot be sent', () => {
		const built = buildLabCompareRequest({ topologies: ['sidecar'], repeats: '0', path: '/a b', duration: '1.5', warmup: '-1', connections: 'x', rate: '-3' }, ORDER);
		expect(built.ok).toBe(false);
		if (built.ok) return;
		expect(Object.keys(built.errors).sort()).toEqual(['connections', 'duration', 'path', 'rate', 'repeats', 'topologies', 'warmup']);
	});

	it('maps the API’s field names onto the form’s', () => {
		expect(labFieldOf('topologies[1]')).toBe('topologies');
		expect(labFieldOf('configuration.concurrent_connections')).toBe('connections');
		expect(labFieldOf('configuration.service_url')).toBe('path');
		expect(labFieldOf('configuration.duration')).toBe('duration');
		expect(labFieldOf('repeats')).toBe('repeats');
		expect(labFieldOf('configuration.lab_topology')).toBe('configuration.lab_topology');
	});

	it('links to the comparison on the lab page', () => {
		expect(labCompareHref('a b')).toBe('/lab?group=a%20b');
	});
});

describe('a comparison', () => {
	it('counts the runs finished over every topology', () => {
		expect(comparisonProgress(view)).toEqual({ finished: 3, total: 4, done: false });
		expect(comparisonProgress({ ...view, topologies: view.topologies.map((t) => ({ ...t, unfinished: 0 })) }).done).toBe(true);
	});

	it('names a topology, or its series when it is not a lab run', () => {
		expect(topologyName(view.topologies[1])).toBe('sidecar');
		expect(topologyName({ topology: null, series_id: '0123456789' })).toBe('01234567');
	});

	it('gives each topology its means and its change against the baseline', () => {
		const [base, side] = [labFigureRows(view.topologies[0]), labFigureRows(view.topologies[1])];
		expect(base.map((r) => r.figure)).toEqual(['p50', 'p99']);
		expect(base[0].mean).toEqual({ estimate: 1000, low: 990, high: 1010 });
		expect(base[0].verdict).toBeNull();
		expect(base[0].change.estimate).toBeNull();
		expect(side[0].mean.estimate).toBe(1300);
		expect(side[0].change.estimate).toBeCloseTo(30);
		expect(side[0].change.low).toBeCloseTo(28);
		expect(side[0].absolute.estimate).toBe(300);
		expect(side[0].verdict).toBe('worse');
		expect(side[0].noDifference).toBe(false);
		// A figure the comparison lacks has a mean and no verdict.
		expect(side[1].mean.estimate).toBe(2600);
		expect(side[1].verdict).toBeNull();
	});

	it('takes an interval spanning zero as no difference', () => {
		const t: LabTopologyView = { ...view.topologies[1], comparison: comparison([0.01, -0.02, 0.04], 'no_significant_difference') };
		expect(labFigureRows(t)[0].noDifference).toBe(true);
	});
});

describe('hop stacks', () => {
	it('reads a part’s hop and kind', () => {
		expect(partOf('→ server-sidecar')).toEqual({ hop: 'server-sidecar', kind: 'wire' });
		expect(partOf('server-sidecar')).toEqual({ hop: 'server-sidecar', kind: 'inside' });
		expect(partOf('application')).toEqual({ hop: 'application', kind: 'application' });
		expect(partText('→ waypoint')).toBe('wire and kernels to waypoint');
		expect(partText('waypoint')).toBe('inside waypoint');
	});

	it('stacks the parts with cumulative offsets, client side first', () => {
		const segs = hopSegments(sidecarHops.p50);
		expect(segs.map((s) => s.part)).toEqual(['→ client-sidecar', 'client-sidecar', '→ server-sidecar', 'server-sidecar', '→ application', 'application']);
		expect(segs.map((s) => [s.start, s.end])).toEqual([
			[0, 20],
			[20, 170],
			[170, 210],
			[210, 330],
			[330, 340],
			[340, 1400]
		]);
		expect(segs.reduce((s, x) => s + x.share, 0)).toBeCloseTo(1);
		expect(segs[5].share).toBeCloseTo(1060 / 1400);
		expect(segs[0].title).toContain('wire and kernels to client-sidecar');
	});

	it('keeps a part computed negative at zero width and says so', () => {
		const segs = hopSegments(sidecarHops.p99);
		const wire = segs.find((s) => s.part === '→ server-sidecar')!;
		expect(wire.us).toBe(0);
		expect(wire.start).toBe(wire.end);
		expect(wire.clamped).toBe(true);
		expect(wire.title).toContain('shown as 0');
		expect(segs.at(-1)!.end).toBe(80 + 600 + 400 + 30 + 1500);
		expect(hopSegments({ parts: [] })).toEqual([]);
		expect(hopSegments({ parts: [{ part: 'application', us: 0, raw_us: 0 }] })[0].share).toBe(0);
	});

	it('colours a part the same in every topology, the wire to a hop a tint of it', () => {
		expect(partColour('application')).toBe(partColour('application'));
		expect(partColour('→ client-sidecar')).not.toBe(partColour('client-sidecar'));
		expect(partColour('unknown-proxy')).toMatch(/^#[0-9a-f]{6}$/);
		expect(partColour('unknown-proxy')).toBe(partColour('unknown-proxy'));
	});

	it('makes one row per topology with a breakdown, with the client’s latency at that percentile', () => {
		const p50 = hopStackRows(view, 'p50');
		expect(p50.map((r) => r.topology)).toEqual(['baseline', 'sidecar']);
		expect(p50[1]).toMatchObject({ total_us: 1400, client_us: 1450, client_kernel_us: 1400 });
		const p99 = hopStackRows(view, 'p99');
		expect(p99[1].client_us).toBe(2900);
		const without = hopStackRows({ ...view, topologies: [{ ...view.topologies[0], hops: null }, view.topologies[1]] }, 'p50');
		expect(without.map((r) => r.topology)).toEqual(['sidecar']);
	});

	it('builds one legend over every stack, in order of first appearance', () => {
		const legend = hopLegend(hopStackRows(view, 'p50'));
		expect(legend.map((l) => l.part)).toEqual(['→ application', 'application', '→ client-sidecar', 'client-sidecar', '→ server-sidecar', 'server-sidecar']);
	});

	it('puts every stack and client mark on one axis from zero', () => {
		const axis = hopAxis(hopStackRows(view, 'p99'));
		expect(axis.min).toBe(0);
		expect(axis.max).toBeGreaterThanOrEqual(2900);
		expect(axisFromZero([])).toEqual({ min: 0, max: 1, ticks: [0, 0.5, 1] });
		expect(axisFromZero([0, 0]).min).toBe(0);
	});
});

describe('proxy cost', () => {
	it('lists each topology’s proxies with millicores per 1k req/s and megabytes', () => {
		const rows = proxyCostRows(view);
		expect(rows).toEqual([
			{ key: 'sidecar|client-sidecar', topology: 'sidecar', proxy: 'client-sidecar', cpu_s: 0.4, millicores: 200, rss_mb: 42 },
			{ key: 'sidecar|server-sidecar', topology: 'sidecar', proxy: 'server-sidecar', cpu_s: 0.3, millicores: 150, rss_mb: 40.5 }
		]);
		const axes = proxyCostAxes(rows);
		expect(axes.cpu.min).toBe(0);
		expect(axes.cpu.max).toBeGreaterThanOrEqual(200);
		expect(axes.rss.max).toBeGreaterThanOrEqual(42);
	});

	it('formats millicores and megabytes', () => {
		expect(formatMillicores(200)).toBe('200 m');
		expect(formatMillicores(12.34)).toBe('12.3 m');
		expect(formatMillicores(NaN)).toBe('—');
		expect(formatMegabytes(40.5)).toBe('40.5 MB');
		expect(formatMegabytes(4.2)).toBe('4.20 MB');
		expect(formatMegabytes(undefined)).toBe('—');
	});
});

describe('labAPI', () => {
	type Seen = { url: string; init: RequestInit };
	function fakeFetch(status: number, body: unknown) {
		const seen: Seen[] = [];
		setFetch((async (url: string, init: RequestInit) => {
			seen.push({ url, init });
			return new Response(JSON.stringify(body), { status });
		}) as typeof fetch);
		return seen;
	}
	afterEach(() => setFetch((...a) => fetch(...a)));

	it('posts up, down and compare bodies, and reads a comparison by its group', async () => {
		let seen = fakeFetch(200, { topology: 'sidecar', url: 'http://x', processes: [] });
		await labAPI.up('sidecar');
		expect(seen[0].url).toBe('/lab/up');
		expect(JSON.parse(String(seen[0].init.body))).toEqual({ topology: 'sidecar' });
		seen = fakeFetch(200, { down: true });
		await labAPI.down();
		expect([seen[0].url, seen[0].init.method, seen[0].init.body]).toEqual(['/lab/down', 'POST', '{}']);
		seen = fakeFetch(202, { job_id: 'j', job_ids: ['j'], series_group: 'g', series_ids: ['s1', 's2'], status: 'pending', message: '', started_at: '' });
		const started = await labAPI.compare({ topologies: ['baseline', 'sidecar'], repeats: 1 });
		expect(started.data.series_group).toBe('g');
		expect(seen[0].url).toBe('/lab/compare');
		seen = fakeFetch(200, { group: 'g/1', topologies: [] });
		await labAPI.comparison('g/1');
		expect(seen[0].url).toBe('/lab/compare/g%2F1');
	});

	it('gives the API’s message when a topology is up already', async () => {
		fakeFetch(409, { code: 'lab_busy', message: 'the lab is up already (sidecar): take it down first' });
		const error = await labAPI.up('baseline').catch((e) => e);
		expect(error).toBeInstanceOf(ApiError);
		expect(error.status).toBe(409);
		expect(error.message).toBe('the lab is up already (sidecar): take it down first');
	});
});
