// What the Kubernetes page makes of the cluster's answers: mesh names as people read them,
// coverage, agreement with an expected mesh, pod health, service ports, kubectl-style ages.

import type { MeshStatus, NamespaceInfo, PodInfo, ServicePortInfo } from './types';
import { formatProgress } from './format';

/** A mesh as shown: `none` for baseline (no mesh), the API's name otherwise. */
export function meshLabel(mesh: string | null | undefined): string {
	if (!mesh) return '—';
	return mesh === 'baseline' ? 'none' : mesh;
}

/** A mesh in a sentence: `no mesh` for baseline. */
export function meshPhrase(mesh: string): string {
	return mesh === 'baseline' ? 'no mesh' : mesh;
}

/**
 * How a namespace's coverage reads: `none` without a mesh or without pods, `full` when every
 * pod is in it, `partial` when some are, `empty` when a mesh serves it but no pod is in it.
 */
export type CoverageTone = 'none' | 'full' | 'partial' | 'empty';

/** A namespace's coverage: `3/4`, the share (null without pods), `75 %` and its tone. */
export interface Coverage {
	text: string;
	fraction: number | null;
	percent: string;
	tone: CoverageTone;
}

/** The coverage of `inMesh` pods out of `total` in a namespace the mesh `mesh` serves. */
export function coverageOf(inMesh: number, total: number, mesh: string): Coverage {
	const fraction = total > 0 ? Math.min(1, Math.max(0, inMesh / total)) : null;
	let tone: CoverageTone;
	if (mesh === 'baseline' || fraction === null) tone = 'none';
	else if (fraction >= 1) tone = 'full';
	else if (fraction > 0) tone = 'partial';
	else tone = 'empty';
	return { text: `${inMesh}/${total}`, fraction, percent: fraction === null ? '—' : formatProgress(fraction), tone };
}

/** Whether the detected mesh is the one expected, as a state and a sentence (null when none was expected). */
export interface Agreement {
	state: 'agrees' | 'disagrees' | 'unknown';
	text: string;
}

/** Reads `expected` and `agrees` of a mesh record. */
export function agreementOf(status: Pick<MeshStatus, 'namespace' | 'mesh' | 'expected' | 'agrees'>): Agreement | null {
	const { namespace, mesh, expected, agrees } = status;
	if (!expected) return null;
	if (agrees === true) {
		return { state: 'agrees', text: `Agrees: ${meshPhrase(expected)} expected, and ${meshPhrase(mesh)} serves ${namespace}.` };
	}
	if (agrees === false) {
		return { state: 'disagrees', text: `Disagrees: ${meshPhrase(expected)} expected, but ${meshPhrase(mesh)} serves ${namespace}.` };
	}
	return { state: 'unknown', text: `Cannot tell whether ${namespace} is served by ${meshPhrase(expected)}.` };
}

/** `2/3` (ready containers / containers) as numbers, or null when it is not of that form. */
export function readyCounts(ready: string): { ready: number; total: number } | null {
	const m = /^(\d+)\/(\d+)$/.exec(ready.trim());
	return m ? { ready: Number(m[1]), total: Number(m[2]) } : null;
}

/** A pod's health at a glance: `ok` running and ready, `warn` starting or not ready, `bad` failed, `done` completed. */
export type PodTone = 'ok' | 'warn' | 'bad' | 'done';

/** The tone of a pod, from its phase and readiness. */
export function podTone(pod: Pick<PodInfo, 'phase' | 'ready'>): PodTone {
	switch (pod.phase) {
		case 'Failed':
			return 'bad';
		case 'Succeeded':
			return 'done';
		case 'Running': {
			const counts = readyCounts(pod.ready);
			return counts && counts.total > 0 && counts.ready === counts.total ? 'ok' : 'warn';
		}
		default:
			return 'warn';
	}
}

/** A service port as `http 9080→8080/TCP (grpc)`: name, port, target when it differs, protocol, app protocol. */
export function formatPort(p: ServicePortInfo): string {
	const target = p.target_port && p.target_port !== String(p.port) ? `→${p.target_port}` : '';
	const app = p.app_protocol ? ` (${p.app_protocol})` : '';
	return `${p.name ? `${p.name} ` : ''}${p.port}${target}/${p.protocol ?? 'TCP'}${app}`;
}

/** Labels or a selector as `key=value` pairs joined by `, `, or — when there are none. */
export function formatLabels(labels: Record<string, string> | null | undefined): string {
	const pairs = Object.entries(labels ?? {});
	return pairs.length ? pairs.map(([k, v]) => `${k}=${v}`).join(', ') : '—';
}

/** The namespaces whose name, mesh or mode contains `query` (case-insensitive; all of them for an empty query). */
export function filterNamespaces(list: NamespaceInfo[], query: string): NamespaceInfo[] {
	const q = query.trim().toLowerCase();
	if (!q) return list;
	return list.filter((ns) =>
		[ns.name, meshLabel(ns.mesh.mesh), ns.mesh.mesh, ns.mesh.mode ?? ''].some((s) => s.toLowerCase().includes(q))
	);
}

/**
 * The namespace to show first when none is chosen: the first a mesh serves with pods in it,
 * else the first with pods, else the first; null when there are none.
 */
export function defaultNamespace(list: NamespaceInfo[]): string | null {
	const meshed = list.find((ns) => ns.mesh.mesh !== 'baseline' && ns.mesh.pods_in_mesh > 0);
	const busy = list.find((ns) => ns.mesh.pods > 0);
	return (meshed ?? busy ?? list[0])?.name ?? null;
}

/**
 * How long ago `iso` was, the way kubectl prints ages: `45s`, `5m30s`, `95m`, `5h30m`, `30h`,
 * `3d5h`, `300d`, `2y10d`; — when absent or unreadable.
 */
export function formatAge(iso: string | null | undefined, now = Date.now()): string {
	if (!iso) return '—';
	const t = new Date(iso).getTime();
	if (Number.isNaN(t)) return '—';
	const s = Math.max(0, Math.floor((now - t) / 1000));
	const m = Math.floor(s / 60);
	const h = Math.floor(m / 60);
	const d = Math.floor(h / 24);
	const join = (big: number, bigUnit: string, small: number, smallUnit: string) =>
		small ? `${big}${bigUnit}${small}${smallUnit}` : `${big}${bigUnit}`;
	if (s < 120) return `${s}s`;
	if (m < 10) return join(m, 'm', s % 60, 's');
	if (h < 3) return `${m}m`;
	if (h < 8) return join(h, 'h', m % 60, 'm');
	if (h < 48) return `${h}h`;
	if (d < 8) return join(d, 'd', h % 24, 'h');
	if (d < 365 * 2) return `${d}d`;
	const y = Math.floor(d / 365);
	return join(y, 'y', d % 365, 'd');
}
