// Pure transforms for the mesh lab's page: a topology's hop path in words, the compare form
// turned into `POST /lab/compare`'s body, a lab comparison turned into table rows, stacked
// hop segments (with cumulative offsets on one axis) and proxy-cost bars. No DOM, so they are
// unit-tested directly.

import type {
	HopBreakdown,
	LabCompareRequest,
	LabProcess,
	LabView,
	LabComparisonView,
	LabTopologyName,
	LabTopologyView,
	SeriesStats,
	StartRequest,
	TopologyInfo,
	Verdict
} from './types';
import { comparisonRows, niceAxis, toSpan, type Axis, type Span } from './intervals';
import { formatLatency } from './format';

/** What each topology is, in a sentence. */
export const TOPOLOGY_DESCRIPTIONS: Record<string, string> = {
	baseline: 'No proxy: the client sends straight to the application.',
	sidecar: "An Envoy beside the client (outbound, L7) and one beside the server (inbound, L7), as Istio's sidecar mode places them.",
	'sidecar-mtls': 'The sidecars with mutual TLS between them (certificates from a CA the lab makes, SPIFFE IDs).',
	'node-proxy': "One shared L4 proxy per host with mutual TLS between them and no HTTP processing: the shape of Istio ambient's ztunnel.",
	'node-proxy-waypoint': 'The node proxies plus an L7 Envoy waypoint on a third host in front of the server, mutual TLS on every hop.'
};

/** A topology's sentence (empty for one the dashboard does not know). */
export function describeTopology(name: string): string {
	return TOPOLOGY_DESCRIPTIONS[name] ?? '';
}

/** The steps of a topology's path: the client, then each hop's server end and port. */
export function hopSteps(t: Pick<TopologyInfo, 'hops'>): { name: string; port: number | null }[] {
	return [{ name: 'client', port: null }, ...t.hops.map((h) => ({ name: h.name, port: h.port }))];
}

/** A topology's path in one line: `client → client-sidecar :15001 → server-sidecar :15006 → application :8080`. */
export function hopPath(t: Pick<TopologyInfo, 'hops'>): string {
	return hopSteps(t)
		.map((s) => (s.port === null ? s.name : `${s.name} :${s.port}`))
		.join(' → ');
}

/** Whether a process the lab recorded is alive (`GET /lab` lists those as `name (pid N)`). */
export function processAlive(alive: string[], p: Pick<LabProcess, 'name' | 'pid'>): boolean {
	return alive.includes(`${p.name} (pid ${p.pid})`);
}

/** The lab's state in a line: what is up, or down, and what a crash left behind. */
export function labSummary(lab: Pick<LabView, 'up' | 'namespaces' | 'alive'>): { state: 'up' | 'down' | 'leftovers'; text: string } {
	if (lab.up) {
		const processes = lab.up.processes.length;
		const dead = lab.up.processes.filter((p) => !processAlive(lab.alive, p)).length;
		return {
			state: 'up',
			text: `${lab.up.topology} is up: ${processes} process${processes === 1 ? '' : 'es'}${dead ? `, ${dead} of them not running` : ''}`
		};
	}
	if (lab.namespaces.length) return { state: 'leftovers', text: `Down, but namespaces are left (${lab.namespaces.join(', ')}): take the lab down to clear them` };
	return { state: 'down', text: 'Down: no topology is up' };
}

// ---------------------------------------------------------------------------------------
// The compare form

/** What the compare form holds (numbers as typed). */
export interface LabCompareForm {
	/** The topologies ticked (any order: the request lists them in the page's order). */
	topologies: string[];
	repeats: string;
	/** The path and query every run requests, e.g. `/?delay=1ms`. */
	path: string;
	duration: string;
	warmup: string;
	connections: string;
	/** Requests per second (open model); empty for a closed model. */
	rate: string;
}

/** The form as the page first shows it. */
export function defaultLabCompareForm(): LabCompareForm {
	return { topologies: ['baseline', 'sidecar'], repeats: '3', path: '/?delay=1ms', duration: '10', warmup: '0', connections: '4', rate: '1000' };
}

/** The ticked topologies in the listed order: the first is the baseline of the others. */
export function orderTopologies(ticked: string[], order: readonly string[]): string[] {
	const known = order.filter((t) => ticked.includes(t));
	// A name the listing does not hold (none should) goes last rather than vanishing.
	return [...known, ...ticked.filter((t) => !order.includes(t))];
}

/** The host part the server ignores: only `service_url`'s path and query reach the lab. */
export const LAB_URL_HOST = 'http://lab';

function wholeNumber(text: string, min: number): number | null {
	const t = text.trim();
	if (!/^\d+$/.test(t)) return null;
	const n = Number(t);
	return n >= min ? n : null;
}

/** The request the form makes (topologies in `order`), or the message for each field that cannot be sent. */
export function buildLabCompareRequest(
	form: LabCompareForm,
	order: readonly string[]
): { ok: true; request: LabCompareRequest } | { ok: false; errors: Record<string, string> } {
	const errors: Record<string, string> = {};
	const topologies = orderTopologies(form.topologies, order);
	if (topologies.length < 2) errors.topologies = 'Tick at least two topologies: the first is the baseline.';
	const repeats = wholeNumber(form.repeats, 1);
	if (repeats === null) errors.repeats = 'A whole number, 1 or more.';
	let path = form.path.trim() || '/';
	if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
		// A whole URL pasted: keep its path and query, as the server would.
		try {
			const u = new URL(path);
			path = `${u.pathname}${u.search}`;
		} catch {
			errors.path = 'A path and query, e.g. /?delay=1ms.';
		}
	} else if (!path.startsWith('/')) path = `/${path}`;
	if (/\s/.test(path)) errors.path = 'No spaces: a path and query, e.g. /?delay=1ms.';
	const duration = wholeNumber(form.duration, 1);
	if (duration === null) errors.duration = 'Whole seconds, 1 or more.';
	const warmup = form.warmup.trim() === '' ? 0 : wholeNumber(form.warmup, 0);
	if (warmup === null) errors.warmup = 'Whole seconds, 0 or more.';
	const connections = wholeNumber(form.connections, 1);
	if (connections === null) errors.connections = 'A whole number, 1 or more.';
	let rate: number | null = null;
	if (form.rate.trim() !== '') {
		const n = Number(form.rate.trim());
		if (!Number.isFinite(n) || n <= 0) errors.rate = 'Requests per second above 0, or empty for a closed model.';
		else rate = n;
	}
	if (Object.keys(errors).length) return { ok: false, errors };
	const configuration: Partial<StartRequest> = {
		test_type: 'http',
		service_url: `${LAB_URL_HOST}${path}`,
		duration: duration as number,
		warmup: warmup as number,
		concurrent_connections: connections as number
	};
	if (rate !== null) configuration.rate = rate;
	return { ok: true, request: { topologies: topologies as LabTopologyName[], repeats: repeats as number, configuration } };
}

/** The form field an API field name belongs to (`configuration.concurrent_connections` → `connections`, `topologies[1]` → `topologies`). */
export function labFieldOf(field: string): string {
	const f = field.replace(/\[\d+\]$/, '');
	const inner = f.startsWith('configuration.') ? f.slice('configuration.'.length) : f;
	switch (inner) {
		case 'service_url':
			return 'path';
		case 'concurrent_connections':
			return 'connections';
		case 'topologies':
		case 'repeats':
		case 'duration':
		case 'warmup':
		case 'rate':
			return inner;
		default:
			return field;
	}
}

/** The lab page showing a comparison. */
export function labCompareHref(group: string): string {
	return `/lab?group=${encodeURIComponent(group)}`;
}

// ---------------------------------------------------------------------------------------
// A comparison

/** Runs finished and in all, over every topology. */
export function comparisonProgress(view: LabComparisonView): { finished: number; total: number; done: boolean } {
	let total = 0;
	let unfinished = 0;
	for (const t of view.topologies) {
		total += t.runs.length;
		unfinished += t.unfinished;
	}
	return { finished: total - unfinished, total, done: unfinished === 0 };
}

/** A topology's name as shown (its series id, shortened, when a run of the group is not a lab run). */
export function topologyName(t: Pick<LabTopologyView, 'topology' | 'series_id'>): string {
	return t.topology ?? t.series_id.slice(0, 8);
}

/** A figure's mean over the valid runs with its interval, from a series' statistics. */
export function statMean(stats: SeriesStats, figure: string): Span {
	return toSpan(stats.figures.find((f) => f.figure === figure)?.interval);
}

/** One figure of a topology: its mean, and (except for the baseline) its change against the baseline. */
export interface LabFigureRow {
	figure: string;
	label: string;
	mean: Span;
	/** Relative change in percent (null parts when unknown). */
	change: Span;
	/** Absolute change, µs. */
	absolute: Span;
	verdict: Verdict | null;
	noDifference: boolean;
}

/** The latency figures a topology's table shows. */
export const LAB_FIGURES = [
	{ figure: 'p50', label: 'p50' },
	{ figure: 'p99', label: 'p99' }
] as const;

const none: Span = { estimate: null, low: null, high: null };

/** A topology's p50 and p99: means from its statistics, the change from its comparison against the first. */
export function labFigureRows(t: LabTopologyView): LabFigureRow[] {
	const compared = t.comparison ? comparisonRows(t.comparison) : [];
	return LAB_FIGURES.map(({ figure, label }) => {
		const c = compared.find((r) => r.figure === figure);
		return {
			figure,
			label,
			mean: statMean(t.stats, figure),
			change: c?.change ?? none,
			absolute: c?.absolute ?? none,
			verdict: c?.verdict ?? null,
			noDifference: c ? c.noDifference : true
		};
	});
}

// ---------------------------------------------------------------------------------------
// The hop breakdown as stacked bars

/** What a part of a breakdown is: the wire and kernels to a hop, time inside a proxy, or the application. */
export type PartKind = 'wire' | 'inside' | 'application';

/** A part's hop (`→ waypoint` → `waypoint`) and kind. */
export function partOf(part: string): { hop: string; kind: PartKind } {
	const wire = part.startsWith('→');
	const hop = wire ? part.replace(/^→\s*/, '') : part;
	return { hop, kind: wire ? 'wire' : hop === 'application' ? 'application' : 'inside' };
}

/** A part in words, for tooltips and the legend. */
export function partText(part: string): string {
	const { hop, kind } = partOf(part);
	if (kind === 'wire') return `wire and kernels to ${hop}`;
	if (kind === 'application') return 'inside the application';
	return `inside ${hop}`;
}

/** Colours per hop: the strong one for time inside it, a tint for the wire to it. */
const HOP_COLOURS: Record<string, { inside: string; wire: string }> = {
	application: { inside: '#16a34a', wire: '#86efac' },
	'client-sidecar': { inside: '#2563eb', wire: '#93c5fd' },
	'server-sidecar': { inside: '#7c3aed', wire: '#c4b5fd' },
	'client-node': { inside: '#0891b2', wire: '#67e8f9' },
	'server-node': { inside: '#db2777', wire: '#f9a8d4' },
	waypoint: { inside: '#ea580c', wire: '#fdba74' }
};
const SPARE_COLOURS = [
	{ inside: '#ca8a04', wire: '#fde047' },
	{ inside: '#4f46e5', wire: '#a5b4fc' },
	{ inside: '#0d9488', wire: '#5eead4' },
	{ inside: '#be123c', wire: '#fda4af' }
];

/** A part's fill: the same for the same part in every topology. */
export function partColour(part: string): string {
	const { hop, kind } = partOf(part);
	let pair = HOP_COLOURS[hop];
	if (!pair) {
		let h = 0;
		for (const ch of hop) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
		pair = SPARE_COLOURS[h % SPARE_COLOURS.length];
	}
	return kind === 'wire' ? pair.wire : pair.inside;
}

/** Text on a part's fill: dark on the tints, white on the strong colours. */
export function partTextColour(part: string): string {
	return partOf(part).kind === 'wire' ? '#0f172a' : '#ffffff';
}

/** One segment of a stacked bar: a part and where it lies (µs from the client's start). */
export interface HopSegment {
	part: string;
	hop: string;
	kind: PartKind;
	us: number;
	raw_us: number;
	/** Cumulative offset of its start, µs. */
	start: number;
	end: number;
	/** Its share of the stack (0–1). */
	share: number;
	colour: string;
	textColour: string;
	/** The computed value was negative (a tail's difference) and is shown as zero. */
	clamped: boolean;
	title: string;
}

/** A breakdown's parts as stack segments, client → application, with cumulative offsets. */
export function hopSegments(b: Pick<HopBreakdown, 'parts'>): HopSegment[] {
	const total = b.parts.reduce((s, p) => s + Math.max(0, p.us), 0);
	let at = 0;
	return b.parts.map((p) => {
		const us = Math.max(0, Number.isFinite(p.us) ? p.us : 0);
		const { hop, kind } = partOf(p.part);
		const clamped = p.raw_us < 0;
		const seg: HopSegment = {
			part: p.part,
			hop,
			kind,
			us,
			raw_us: p.raw_us,
			start: at,
			end: at + us,
			share: total > 0 ? us / total : 0,
			colour: partColour(p.part),
			textColour: partTextColour(p.part),
			clamped,
			title: `${p.part} (${partText(p.part)}): ${formatLatency(us)}${clamped ? ` (computed ${formatLatency(p.raw_us)}, shown as 0)` : ''}`
		};
		at += us;
		return seg;
	});
}

/** One topology's stacked bar at one percentile. */
export interface HopStackRow {
	topology: string;
	segments: HopSegment[];
	/** The parts' sum, µs. */
	total_us: number;
	/** The client's measured latency at this percentile, µs. */
	client_us: number;
	/** What the client's kernel saw at the first hop, µs. */
	client_kernel_us: number;
}

/** Every topology that has a hop breakdown, as a stacked bar at `percentile`. */
export function hopStackRows(view: LabComparisonView, percentile: 'p50' | 'p99'): HopStackRow[] {
	const rows: HopStackRow[] = [];
	for (const t of view.topologies) {
		const b = t.hops?.[percentile];
		if (!b) continue;
		const segments = hopSegments(b);
		rows.push({
			topology: topologyName(t),
			segments,
			total_us: segments.length ? segments[segments.length - 1].end : 0,
			client_us: percentile === 'p50' ? (t.hops?.client_p50_us ?? 0) : (t.hops?.client_p99_us ?? 0),
			client_kernel_us: b.client_kernel_us
		});
	}
	return rows;
}

/** The distinct parts of some stacks, in order of first appearance (the legend). */
export function hopLegend(rows: HopStackRow[]): { part: string; kind: PartKind; colour: string; text: string }[] {
	const seen = new Map<string, { part: string; kind: PartKind; colour: string; text: string }>();
	for (const r of rows)
		for (const s of r.segments) if (!seen.has(s.part)) seen.set(s.part, { part: s.part, kind: s.kind, colour: s.colour, text: partText(s.part) });
	return [...seen.values()];
}

/** An axis from zero over values that cannot be negative (all zero: zero to one). */
export function axisFromZero(values: number[], count = 5): Axis {
	const known = values.filter((v) => Number.isFinite(v) && v > 0);
	if (known.length === 0) return { min: 0, max: 1, ticks: [0, 0.5, 1] };
	return niceAxis([0, ...known], { count });
}

/** One axis from zero for every stack and client marker. */
export function hopAxis(rows: HopStackRow[]): Axis {
	return axisFromZero(rows.flatMap((r) => [r.total_us, r.client_us]));
}

// ---------------------------------------------------------------------------------------
// The proxies' cost

/** Bytes as decimal megabytes. */
export function toMegabytes(bytes: number): number {
	return bytes / 1_000_000;
}

/** Megabytes for a label: `42.3 MB`. */
export function formatMegabytes(mb: number | null | undefined): string {
	if (mb === null || mb === undefined || !Number.isFinite(mb)) return '—';
	return `${mb.toFixed(mb < 10 ? 2 : 1)} MB`;
}

/** Millicores for a label: `12.3 m`. */
export function formatMillicores(m: number | null | undefined): string {
	if (m === null || m === undefined || !Number.isFinite(m)) return '—';
	return `${m.toFixed(m < 10 ? 2 : m < 100 ? 1 : 0)} m`;
}

/** One proxy of one topology. */
export interface ProxyCostRow {
	key: string;
	topology: string;
	proxy: string;
	cpu_s: number;
	millicores: number;
	rss_mb: number;
}

/** Every topology's proxies, in topology order (baseline has none). */
export function proxyCostRows(view: LabComparisonView): ProxyCostRow[] {
	return view.topologies.flatMap((t) =>
		t.proxies.map((p) => ({
			key: `${topologyName(t)}|${p.name}`,
			topology: topologyName(t),
			proxy: p.name,
			cpu_s: p.cpu_s,
			millicores: p.millicores_per_1k_rps,
			rss_mb: toMegabytes(p.peak_rss_bytes)
		}))
	);
}

/** Axes from zero for the two cost charts. */
export function proxyCostAxes(rows: ProxyCostRow[]): { cpu: Axis; rss: Axis } {
	return {
		cpu: axisFromZero(rows.map((r) => r.millicores), 4),
		rss: axisFromZero(rows.map((r) => r.rss_mb), 4)
	};
}
