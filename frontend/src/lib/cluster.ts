// What a result's `cluster` and `generators` records say, as the job page and the comparison
// show them: the detected mesh in a few words, a mesh label that was wrong, the proxies' cost
// (means, per 1,000 req/s, over time) and the parts of a split run. Pure, so unit-tested.

import type { ClusterRecord, GeneratorsInfo, ResourceCost, ResourceSample } from './result';
import type { MeshStatus } from './types';
import { meshLabel, meshPhrase } from './kube';

/** The parts of a mesh record that make two runs' meshes the same or not. */
export type MeshIdentity = Pick<MeshStatus, 'mesh' | 'mode' | 'version' | 'mtls'>;

/**
 * A mesh record in a few words: `istio sidecar 1.24.2, mTLS STRICT` (mesh, mode, data-plane
 * version, declared mTLS mode, each left out when unknown); `none` when no mesh serves the
 * namespace; `—` when there is no record.
 */
export function describeMeshRecord(mesh: MeshIdentity | null | undefined): string {
	if (!mesh) return '—';
	const head = [meshLabel(mesh.mesh), mesh.mode, mesh.version].filter((part) => !!part).join(' ');
	return mesh.mtls ? `${head}, mTLS ${mesh.mtls.mode}` : head;
}

/**
 * The sentence for a run whose mesh label is not the mesh detected in its namespace:
 * `started as linkerd but istio serves bookinfo`; null when the record does not say so.
 */
export function meshMismatchText(cluster: ClusterRecord | null | undefined, meshType: string): string | null {
	if (!cluster?.mesh_mismatch) return null;
	const detected = cluster.mesh ? meshPhrase(cluster.mesh.mesh) : 'another mesh';
	return `started as ${meshType} but ${detected} serves ${cluster.namespace}`;
}

/** A cost figure (millicores, MiB) with about three significant digits; — when absent. */
export function formatFigure(n: number | null | undefined): string {
	if (n === null || n === undefined || !Number.isFinite(n)) return '—';
	const abs = Math.abs(n);
	const digits = abs === 0 ? 0 : abs < 1 ? 3 : abs < 10 ? 2 : abs < 100 ? 1 : 0;
	return n.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Bytes as mebibytes (the unit the cluster panel uses throughout). */
export function toMiB(bytes: number | null | undefined): number | null {
	return bytes === null || bytes === undefined || !Number.isFinite(bytes) ? null : bytes / (1024 * 1024);
}

/** A mean over the run divided by its throughput in thousands of requests per second; null when the run achieved nothing. */
export function perThousandRps(mean: number, rps: number): number | null {
	if (!Number.isFinite(mean) || !Number.isFinite(rps) || rps <= 0) return null;
	return mean / (rps / 1000);
}

/** CPU in millicores and memory in bytes. */
export interface CpuMemory {
	cpu_millicores: number | null;
	memory_bytes: number | null;
}

/** What the proxies and the application cost during a run. */
export interface ResourceFigures {
	/** Means over the samples of the sum over every proxy. */
	proxy: CpuMemory;
	/** The proxies' means per 1,000 req/s (null when the run achieved nothing). */
	proxyPer1k: CpuMemory;
	/** Means over the samples of every other container of the namespace. */
	app: CpuMemory;
}

/**
 * The cost figures of a run: the result's own, with the per-1,000-req/s figures worked out
 * from the means and `rps` only where the result leaves them out.
 */
export function resourceFigures(r: ResourceCost, rps: number): ResourceFigures {
	const given = (v: number | null | undefined, mean: number) => (v === undefined ? perThousandRps(mean, rps) : v);
	return {
		proxy: { cpu_millicores: r.proxy_cpu_millicores, memory_bytes: r.proxy_memory_bytes },
		proxyPer1k: {
			cpu_millicores: given(r.proxy_cpu_millicores_per_1k_rps, r.proxy_cpu_millicores),
			memory_bytes: given(r.proxy_memory_bytes_per_1k_rps, r.proxy_memory_bytes)
		},
		app: { cpu_millicores: r.app_cpu_millicores, memory_bytes: r.app_memory_bytes }
	};
}

/** Per sample, in time order: the proxies' and the application's summed CPU (millicores) and memory (bytes). */
export function resourceSeries(samples: ResourceSample[]): {
	seconds: number[];
	proxyCpu: number[];
	appCpu: number[];
	proxyMemory: number[];
	appMemory: number[];
} {
	const sorted = [...samples].sort((a, b) => a.t_s - b.t_s);
	const sum = (s: ResourceSample, role: 'proxy' | 'app', key: 'cpu_millicores' | 'memory_bytes') =>
		s.containers.filter((c) => c.role === role).reduce((total, c) => total + c[key], 0);
	return {
		seconds: sorted.map((s) => s.t_s),
		proxyCpu: sorted.map((s) => sum(s, 'proxy', 'cpu_millicores')),
		appCpu: sorted.map((s) => sum(s, 'app', 'cpu_millicores')),
		proxyMemory: sorted.map((s) => sum(s, 'proxy', 'memory_bytes')),
		appMemory: sorted.map((s) => sum(s, 'app', 'memory_bytes'))
	};
}

/** One generator of a split run. */
export interface GeneratorPart {
	index: number;
	/** Its job (null when the result does not name it). */
	jobId: string | null;
	/** `ok`: merged; `saturated`: merged, but its generator was the bottleneck; `failed`: no result. */
	state: 'ok' | 'saturated' | 'failed';
	/** Why it failed. */
	error: string | null;
	/** Why its generator was saturated (from `loadgen.saturation_reasons`, `generator N: …`). */
	reasons: string[];
}

/**
 * Every part of a split run by index, with what became of it; `saturationReasons` (the merged
 * result's `loadgen.saturation_reasons`) gives each saturated part its own reasons.
 */
export function generatorParts(g: GeneratorsInfo, saturationReasons: string[] = []): GeneratorPart[] {
	const failedIndexes = g.failed.map((f) => f.index);
	const n = Math.max(g.count, g.parts.length, ...failedIndexes.map((i) => i + 1), ...g.saturated.map((i) => i + 1));
	return Array.from({ length: n }, (_, index) => {
		const failed = g.failed.find((f) => f.index === index);
		return {
			index,
			jobId: g.parts[index] ?? failed?.job_id ?? null,
			state: failed ? 'failed' : g.saturated.includes(index) ? 'saturated' : 'ok',
			error: failed?.error ?? null,
			reasons: saturationReasons
				.filter((why) => why.startsWith(`generator ${index}: `))
				.map((why) => why.slice(`generator ${index}: `.length))
		};
	});
}
