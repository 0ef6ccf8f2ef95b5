// The eBPF probe's form and the transforms from its report, live seconds and distributions
// to chart series and tables; pure (no DOM, no Chart.js), so they are unit-tested directly.

import type { BenchmarkResult, KernelLatency, ProbeReport } from './result';
import type { DistributionSide, ProbeHistogramName, ProbeOutputFormat, ProbeRequest, ProbeTimelineEntry } from './types';
import { histogramBars } from './charts';

/** The most ports one probe filters on (the API refuses more). */
export const MAX_PROBE_PORTS = 8;

/** The probe start form as the user fills it (every input is text until sent). */
export interface ProbeForm {
	duration: string;
	output_format: ProbeOutputFormat;
	/** Comma- (or space-) separated port numbers. */
	ports: string;
	pid: string;
	cgroup: string;
	namespace: string;
	pod_filter: string;
	/** Room for new connections in the kernel's table; empty: the API's default. */
	max_new_connections: string;
}

/** The form's starting values: the API's defaults. */
export function defaultProbeForm(): ProbeForm {
	return { duration: '60', output_format: 'json', ports: '', pid: '', cgroup: '', namespace: '', pod_filter: '', max_new_connections: '' };
}

/** The ports of a list like `8080, 443 9090`, in order without repeats, or what is wrong with it. */
export function parsePorts(text: string): { ok: true; ports: number[] } | { ok: false; error: string } {
	const ports: number[] = [];
	for (const token of text.split(/[\s,;]+/).filter((t) => t !== '')) {
		if (!/^\d+$/.test(token) || Number(token) < 1 || Number(token) > 65_535) {
			return { ok: false, error: `“${token}” is not a port number (1–65535)` };
		}
		const port = Number(token);
		if (!ports.includes(port)) ports.push(port);
	}
	return { ok: true, ports };
}

/** A probe request, or the fields the form itself can tell are wrong. */
export type BuiltProbe = { ok: true; request: ProbeRequest } | { ok: false; errors: Record<string, string> };

/**
 * Turns the form into a probe request. Only what the form alone can know is checked here (a
 * number that is not a number, a port out of range); the rules about durations, how many
 * ports, cgroup paths and Kubernetes filters are the API's, and its 422 answer names the field.
 */
export function buildProbeRequest(form: ProbeForm): BuiltProbe {
	const errors: Record<string, string> = {};
	const request: ProbeRequest = { output_format: form.output_format };
	const duration = form.duration.trim();
	if (!/^\d+$/.test(duration)) errors.duration = 'must be a whole number of seconds';
	else request.duration = Number(duration);
	const ports = parsePorts(form.ports);
	if (!ports.ok) errors.ports = ports.error;
	else if (ports.ports.length) request.ports = ports.ports;
	const pid = form.pid.trim();
	if (pid !== '') {
		if (!/^\d+$/.test(pid)) errors.pid = 'must be a process id';
		else request.pid = Number(pid);
	}
	const room = form.max_new_connections.trim();
	if (room !== '') {
		if (!/^\d+$/.test(room)) errors.max_new_connections = 'must be a whole number of connections';
		else request.max_new_connections = Number(room);
	}
	for (const field of ['cgroup', 'namespace', 'pod_filter'] as const) {
		const value = form[field].trim();
		if (value !== '') request[field] = value;
	}
	return Object.keys(errors).length ? { ok: false, errors } : { ok: true, request };
}

/** What each histogram of a report measures, how to title it and what its counts are. */
export const PROBE_HISTOGRAM_INFO: Record<ProbeHistogramName, { title: string; unit: string; help: string }> = {
	connections: { title: 'Connect', unit: 'connects', help: 'Active opens: SYN sent → SYN-ACK processed.' },
	accepts: { title: 'Accept', unit: 'accepts', help: 'Passive opens: SYN-ACK sent → final ACK received.' },
	lifetimes: { title: 'Connection lifetime', unit: 'connections', help: 'First state change → CLOSE, for connections that closed.' },
	rtt_us: { title: 'Smoothed RTT', unit: 'samples', help: 'The kernel’s smoothed round-trip time, sampled once per request or response read.' },
	server_time_us: { title: 'Server time', unit: 'requests', help: 'This host’s time per request: request read → answer sent, on the server’s socket.' },
	exchange_time_us: { title: 'Exchange time', unit: 'requests', help: 'The client’s view per request: request sent → answer read, on its socket.' }
};

/** A histogram of the distribution endpoint as bars, or null when it recorded nothing. */
export function probeHistogramBars(side: DistributionSide | undefined): ReturnType<typeof histogramBars> | null {
	if (!side || side.total_count === 0) return null;
	const bars = histogramBars(side);
	return bars.counts.length ? bars : null;
}

/** A latency of a second with nothing measured is 0 in the report; charts show a gap instead. */
function gap(us: number): number | null {
	return us > 0 ? us : null;
}

/** Per-second series of a probe run: counts, and connect p99 / rtt p50 (null: no samples that second). */
export function probeTimelineSeries(timeline: ProbeTimelineEntry[]): {
	seconds: number[];
	connects: number[];
	accepts: number[];
	closes: number[];
	connectP99: (number | null)[];
	rttP50: (number | null)[];
	retransmits: number[];
	resets: number[];
} {
	const sorted = [...timeline].sort((a, b) => a.second - b.second);
	return {
		seconds: sorted.map((t) => t.second),
		connects: sorted.map((t) => t.connects),
		accepts: sorted.map((t) => t.accepts),
		closes: sorted.map((t) => t.closes),
		connectP99: sorted.map((t) => gap(t.connect_p99_us)),
		rttP50: sorted.map((t) => gap(t.rtt_p50_us)),
		retransmits: sorted.map((t) => t.retransmits),
		resets: sorted.map((t) => t.resets)
	};
}

/** Adds a live second, replacing one for the same second and keeping seconds in order. */
export function appendProbeSecond(entries: ProbeTimelineEntry[], entry: ProbeTimelineEntry): ProbeTimelineEntry[] {
	const next = entries.filter((e) => e.second !== entry.second);
	next.push(entry);
	next.sort((a, b) => a.second - b.second);
	return next;
}

/** Running totals of the seconds seen so far. */
export function liveTotals(entries: ProbeTimelineEntry[]): { seconds: number; connects: number; accepts: number; closes: number; retransmits: number; resets: number } {
	return entries.reduce(
		(t, e) => ({
			seconds: t.seconds + 1,
			connects: t.connects + e.connects,
			accepts: t.accepts + e.accepts,
			closes: t.closes + e.closes,
			retransmits: t.retransmits + e.retransmits,
			resets: t.resets + e.resets
		}),
		{ seconds: 0, connects: 0, accepts: 0, closes: 0, retransmits: 0, resets: 0 }
	);
}

/** The totals a report counts: what the counts table shows. */
export function probeCounts(report: ProbeReport): { label: string; value: number; kind: 'count' | 'bytes' }[] {
	return [
		{ label: 'connects', value: report.connections.count, kind: 'count' },
		{ label: 'accepts', value: report.accepts.count, kind: 'count' },
		{ label: 'closes', value: report.lifetimes.count, kind: 'count' },
		{ label: 'connect failures', value: report.connect_failures, kind: 'count' },
		{ label: 'retransmits', value: report.retransmits, kind: 'count' },
		{ label: 'resets sent', value: report.resets.sent, kind: 'count' },
		{ label: 'resets received', value: report.resets.received, kind: 'count' },
		{ label: 'bytes sent', value: report.lifetimes.bytes_sent, kind: 'bytes' },
		{ label: 'bytes received', value: report.lifetimes.bytes_received, kind: 'bytes' },
		{ label: 'events dropped', value: report.events_dropped, kind: 'count' },
		{ label: 'sockets not measured', value: report.sockets_untracked ?? 0, kind: 'count' }
	];
}

/** The kernel latencies of a report as rows of a table (p50, p90, p99, max, mean per measure). */
export function probeLatencyRows(report: ProbeReport): { label: string; count: number; latency: KernelLatency }[] {
	return [
		{ label: 'connect', count: report.connections.count, latency: report.connections.latency_us },
		{ label: 'accept', count: report.accepts.count, latency: report.accepts.latency_us },
		{ label: 'connection lifetime', count: report.lifetimes.count, latency: report.lifetimes.duration_us },
		{ label: 'smoothed RTT', count: report.rtt_us.count, latency: report.rtt_us },
		{ label: 'server time', count: report.server_time_us.count, latency: report.server_time_us },
		{ label: 'exchange time', count: report.exchange_time_us.count, latency: report.exchange_time_us }
	];
}

/** The percentiles both the application and the kernel report, with their labels. */
export const KERNEL_PERCENTILES: { key: keyof KernelLatency; label: string }[] = [
	{ key: 'p50', label: 'p50' },
	{ key: 'p90', label: 'p90' },
	{ key: 'p99', label: 'p99' },
	{ key: 'max', label: 'max' },
	{ key: 'mean', label: 'mean' }
];

/** One row of the application-vs-kernel table; null where the kernel saw no samples. */
export interface KernelComparisonRow {
	label: string;
	app: number;
	service: number;
	exchange: number | null;
	server: number | null;
	connect: number | null;
	rtt: number | null;
}

/**
 * The application's latency percentiles beside the kernel's at the same percentiles: the
 * exchange time (the client's view at the syscall boundary), the server time, connect and RTT.
 */
export function kernelComparison(result: BenchmarkResult): KernelComparisonRow[] {
	const k = result.kernel;
	if (!k) return [];
	const pick = (count: number, l: KernelLatency, key: keyof KernelLatency) => (count > 0 ? l[key] : null);
	return KERNEL_PERCENTILES.map(({ key, label }) => ({
		label,
		app: result.latency_us[key],
		service: result.service_time_us[key],
		exchange: pick(k.exchange_time_us.count, k.exchange_time_us, key),
		server: pick(k.server_time_us.count, k.server_time_us, key),
		connect: pick(k.connections.count, k.connections.latency_us, key),
		rtt: pick(k.rtt_us.count, k.rtt_us, key)
	}));
}

/**
 * The application's p99 and the kernel's rtt p50 and connect p99 per second, on the same
 * seconds (the union of both timelines; null where one side has no figure that second).
 */
export function kernelAlignment(result: BenchmarkResult): {
	seconds: number[];
	appP99: (number | null)[];
	rttP50: (number | null)[];
	connectP99: (number | null)[];
} {
	const app = new Map(result.timeline.map((t) => [t.second, t]));
	const kernel = new Map((result.kernel?.timeline ?? []).map((t) => [t.second, t]));
	const seconds = [...new Set([...app.keys(), ...kernel.keys()])].sort((a, b) => a - b);
	return {
		seconds,
		appP99: seconds.map((s) => (app.has(s) ? gap(app.get(s)!.p99_us) : null)),
		rttP50: seconds.map((s) => (kernel.has(s) ? gap(kernel.get(s)!.rtt_p50_us) : null)),
		connectP99: seconds.map((s) => (kernel.has(s) ? gap(kernel.get(s)!.connect_p99_us) : null))
	};
}

/** The filter a run used, in a few words: `ports 8080, 443 · pid 42`, or `all TCP`. */
export function describeFilter(request: Partial<ProbeRequest> | null | undefined): string {
	if (!request) return '—';
	const parts: string[] = [];
	if (request.ports?.length) parts.push(`port${request.ports.length > 1 ? 's' : ''} ${request.ports.join(', ')}`);
	if (request.pid) parts.push(`pid ${request.pid}`);
	if (request.cgroup) parts.push(`cgroup ${request.cgroup}`);
	if (request.namespace) parts.push(`namespace ${request.namespace}`);
	if (request.pod_filter) parts.push(`pods ${request.pod_filter}*`);
	return parts.length ? parts.join(' · ') : 'all TCP';
}
