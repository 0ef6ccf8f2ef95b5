import { describe, expect, it } from 'vitest';
import {
	appendProbeSecond,
	buildProbeRequest,
	defaultProbeForm,
	describeFilter,
	kernelAlignment,
	kernelComparison,
	liveTotals,
	parsePorts,
	probeCounts,
	probeHistogramBars,
	probeLatencyRows,
	probeTimelineSeries
} from './probe';
import { kernelAlignConfig, probeTimelineConfig } from './chartConfigs';
import type { BenchmarkResult, LatencySummary, ProbeReport } from './result';
import type { ProbeTimelineEntry } from './types';

function second(s: number, over: Partial<ProbeTimelineEntry> = {}): ProbeTimelineEntry {
	return {
		second: s,
		connects: 0,
		accepts: 0,
		closes: 0,
		connect_p50_us: 0,
		connect_p99_us: 0,
		rtt_p50_us: 0,
		retransmits: 0,
		resets: 0,
		bytes_sent: 0,
		bytes_received: 0,
		...over
	};
}

function report(over: Partial<ProbeReport> = {}): ProbeReport {
	const l = (p50: number) => ({ p50, p90: p50 * 2, p99: p50 * 4, max: p50 * 8, mean: p50 * 1.5 });
	return {
		schema: 'meshbench.probe.v1',
		started_at: '2026-01-01T00:00:00Z',
		duration_s: 3,
		filter: { ports: [8080], pid: null, cgroup: null, cgroup_id: null },
		connections: { count: 5, latency_us: l(20), histogram: 'H' },
		accepts: { count: 5, latency_us: l(10), histogram: 'H' },
		lifetimes: { count: 10, active: 5, passive: 5, duration_us: l(900_000), bytes_sent: 3_000, bytes_received: 4_000, histogram: 'H' },
		rtt_us: { count: 300, ...l(90), histogram: 'H' },
		server_time_us: { count: 200, ...l(25), histogram: 'H' },
		exchange_time_us: { count: 200, ...l(140), histogram: 'H' },
		retransmits: 2,
		resets: { sent: 1, received: 3 },
		connect_failures: 0,
		events_dropped: 0,
		timeline: [second(1, { closes: 8, rtt_p50_us: 99 }), second(0, { connects: 5, accepts: 5, closes: 2, connect_p50_us: 21, connect_p99_us: 40, rtt_p50_us: 81 })],
		...over
	};
}

function summary(p50: number): LatencySummary {
	return { min: 1, mean: p50 * 1.2, stdev: 1, p50, p75: p50, p90: p50 * 2, p95: p50 * 3, p99: p50 * 5, p999: p50 * 9, p9999: p50 * 10, max: p50 * 20 };
}

function result(kernel?: ProbeReport): BenchmarkResult {
	return {
		schema: 'meshbench.result.v1',
		spec: { requests: [], protocol: 'http1', connections: 4, streams: 1, threads: 1, model: 'closed', warmup_s: 0, connect_timeout_s: 5, request_timeout_s: 30, insecure: false, mesh_type: 'baseline' },
		model: 'closed',
		started_at: '2026-01-01T00:00:00Z',
		ended_at: '2026-01-01T00:00:02Z',
		duration_s: 2,
		requests: 200,
		errors: 0,
		rps: 100,
		requested_rps: null,
		latency_us: summary(150),
		service_time_us: summary(150),
		status_codes: { '200': 200 },
		error_kinds: {},
		bytes_sent: 1,
		bytes_received: 1,
		timeline: [
			{ second: 0, requests: 100, errors: 0, p50_us: 140, p99_us: 600 },
			{ second: 1, requests: 100, errors: 0, p50_us: 150, p99_us: 2800 }
		],
		histogram: '',
		service_histogram: '',
		loadgen: { threads: 1, connections: 4, cpu_s: 1, cpu_user_s: 0.5, cpu_system_s: 0.5, max_rss_bytes: 1, saturated: false },
		...(kernel ? { kernel } : {})
	};
}

describe('parsePorts', () => {
	it('reads commas and spaces, in order, without repeats', () => {
		expect(parsePorts('8080, 443 9090,8080')).toEqual({ ok: true, ports: [8080, 443, 9090] });
		expect(parsePorts('  ')).toEqual({ ok: true, ports: [] });
		expect(parsePorts('80,,81,')).toEqual({ ok: true, ports: [80, 81] });
	});
	it('names the first entry that is not a port', () => {
		expect(parsePorts('80, http')).toEqual({ ok: false, error: '“http” is not a port number (1–65535)' });
		expect(parsePorts('65536')).toMatchObject({ ok: false });
		expect(parsePorts('0')).toMatchObject({ ok: false });
		expect(parsePorts('-1')).toMatchObject({ ok: false });
		expect(parsePorts('80.5')).toMatchObject({ ok: false });
		expect(parsePorts('65535')).toEqual({ ok: true, ports: [65535] });
	});
});

describe('buildProbeRequest', () => {
	it('sends the defaults as the API names them, leaving out empty filters', () => {
		expect(buildProbeRequest(defaultProbeForm())).toEqual({ ok: true, request: { duration: 60, output_format: 'json' } });
	});
	it('sends ports as a list, and every filter filled in (trimmed)', () => {
		const built = buildProbeRequest({
			duration: ' 4 ',
			output_format: 'csv',
			ports: '8080, 443',
			pid: '42',
			cgroup: ' /sys/fs/cgroup/system.slice ',
			namespace: 'default',
			pod_filter: 'web-',
			max_new_connections: ' 1000 '
		});
		expect(built).toEqual({
			ok: true,
			request: { duration: 4, output_format: 'csv', ports: [8080, 443], pid: 42, cgroup: '/sys/fs/cgroup/system.slice', namespace: 'default', pod_filter: 'web-', max_new_connections: 1000 }
		});
		// Never the old singular field.
		expect(built.ok && 'port' in built.request).toBe(false);
	});
	it('names each field the form itself can tell is wrong', () => {
		expect(buildProbeRequest({ ...defaultProbeForm(), duration: 'ten', ports: '80, x', pid: '12a', max_new_connections: 'lots' })).toEqual({
			ok: false,
			errors: {
				duration: 'must be a whole number of seconds',
				ports: '“x” is not a port number (1–65535)',
				pid: 'must be a process id',
				max_new_connections: 'must be a whole number of connections'
			}
		});
	});
	it('leaves range rules to the API (too long, too many ports)', () => {
		const built = buildProbeRequest({ ...defaultProbeForm(), duration: '99999', ports: '1,2,3,4,5,6,7,8,9' });
		expect(built.ok).toBe(true);
		expect(built.ok && built.request.ports).toHaveLength(9);
	});
});

describe('live seconds', () => {
	it('replace a repeated second and stay in order', () => {
		let entries: ProbeTimelineEntry[] = [];
		entries = appendProbeSecond(entries, second(1, { connects: 1 }));
		entries = appendProbeSecond(entries, second(0, { connects: 2 }));
		entries = appendProbeSecond(entries, second(1, { connects: 3 }));
		expect(entries.map((e) => [e.second, e.connects])).toEqual([
			[0, 2],
			[1, 3]
		]);
	});
	it('add up', () => {
		expect(liveTotals([second(0, { connects: 2, closes: 1, resets: 1 }), second(1, { connects: 3, accepts: 4, retransmits: 2 })])).toEqual({
			seconds: 2,
			connects: 5,
			accepts: 4,
			closes: 1,
			retransmits: 2,
			resets: 1
		});
		expect(liveTotals([]).seconds).toBe(0);
	});
});

describe('probe report transforms', () => {
	it('sorts the timeline and leaves gaps where a second has no latency samples', () => {
		const s = probeTimelineSeries(report().timeline);
		expect(s.seconds).toEqual([0, 1]);
		expect(s.connects).toEqual([5, 0]);
		expect(s.closes).toEqual([2, 8]);
		expect(s.connectP99).toEqual([40, null]);
		expect(s.rttP50).toEqual([81, 99]);
	});
	it('lists counts and latencies for tables', () => {
		const counts = Object.fromEntries(probeCounts(report()).map((c) => [c.label, c.value]));
		expect(counts).toMatchObject({ connects: 5, accepts: 5, closes: 10, retransmits: 2, 'resets sent': 1, 'resets received': 3, 'bytes sent': 3000, 'bytes received': 4000 });
		// Reports made before untracked sockets were counted say nothing: none.
		expect(counts['sockets not measured']).toBe(0);
		expect(Object.fromEntries(probeCounts(report({ sockets_untracked: 7 })).map((c) => [c.label, c.value]))['sockets not measured']).toBe(7);
		const rows = probeLatencyRows(report());
		expect(rows.map((r) => r.label)).toEqual(['connect', 'accept', 'connection lifetime', 'smoothed RTT', 'server time', 'exchange time']);
		expect(rows[3].latency.p50).toBe(90);
		expect(rows[2].latency.p99).toBe(3_600_000);
	});
	it('turns a distribution into bars, and an empty one into nothing', () => {
		const side = {
			total_count: 5,
			min_us: 7,
			max_us: 40,
			mean_us: 22.4,
			spectrum: [],
			buckets: [
				{ low_us: 7, high_us: 7, count: 1 },
				{ low_us: 8, high_us: 9, count: 1 },
				{ low_us: 10, high_us: 40, count: 3 }
			]
		};
		expect(probeHistogramBars(side)).toEqual({ labels: ['7', '9', '40'], counts: [1, 1, 3], ranges: [[7, 7], [8, 9], [10, 40]] });
		expect(probeHistogramBars({ ...side, total_count: 0, buckets: [] })).toBeNull();
		expect(probeHistogramBars(undefined)).toBeNull();
	});
	it('describes filters', () => {
		expect(describeFilter({ ports: [8080, 443], pid: 7 })).toBe('ports 8080, 443 · pid 7');
		expect(describeFilter({ ports: [80], cgroup: '/sys/fs/cgroup/a' })).toBe('port 80 · cgroup /sys/fs/cgroup/a');
		expect(describeFilter({ duration: 60 })).toBe('all TCP');
		expect(describeFilter(null)).toBe('—');
	});
});

describe('kernel beside the application', () => {
	it('compares the application percentiles with the kernel’s at the same percentiles', () => {
		const rows = kernelComparison(result(report()));
		expect(rows.map((r) => r.label)).toEqual(['p50', 'p90', 'p99', 'max', 'mean']);
		expect(rows[0]).toEqual({ label: 'p50', app: 150, service: 150, exchange: 140, server: 25, connect: 20, rtt: 90 });
		expect(rows[2]).toMatchObject({ label: 'p99', app: 750, exchange: 560, connect: 80 });
		expect(kernelComparison(result())).toEqual([]);
	});
	it('shows no kernel figure where the kernel saw no samples', () => {
		const empty = report({ connections: { count: 0, latency_us: { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 }, histogram: '' } });
		expect(kernelComparison(result(empty))[0].connect).toBeNull();
	});
	it('aligns the application’s p99 with the kernel’s rtt p50 and connect p99 by second', () => {
		const k = report({ timeline: [...report().timeline, second(2), second(3, { rtt_p50_us: 70 })] });
		const a = kernelAlignment(result(k));
		expect(a.seconds).toEqual([0, 1, 2, 3]);
		expect(a.appP99).toEqual([600, 2800, null, null]);
		expect(a.rttP50).toEqual([81, 99, null, 70]);
		expect(a.connectP99).toEqual([40, null, null, null]);
		expect(kernelAlignment(result()).rttP50).toEqual([null, null]);
	});
});

describe('probe chart configurations', () => {
	it('put counts on the left axis and latencies on the right', () => {
		const s = probeTimelineSeries(report().timeline);
		const c = probeTimelineConfig(s.seconds, s.connects, s.closes, s.connectP99, s.rttP50);
		expect(c.data.labels).toEqual(['0s', '1s']);
		expect(c.data.datasets.map((d) => [d.label, (d as { yAxisID?: string }).yAxisID, d.data])).toEqual([
			['connects/s', 'y', [5, 0]],
			['closes/s', 'y', [2, 8]],
			['connect p99', 'y1', [40, null]],
			['rtt p50', 'y1', [81, 99]]
		]);
	});
	it('draw the aligned seconds on one log latency axis', () => {
		const a = kernelAlignment(result(report()));
		const c = kernelAlignConfig(a.seconds, a.appP99, a.rttP50, a.connectP99);
		expect(c.data.datasets.map((d) => d.label)).toEqual(['application p99', 'kernel rtt p50', 'kernel connect p99']);
		expect(c.data.datasets[0].data).toEqual([600, 2800]);
		expect((c.options?.scales as Record<string, { type?: string }>).y.type).toBe('logarithmic');
	});
});
