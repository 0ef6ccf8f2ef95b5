import { describe, expect, it } from 'vitest';
import {
	agreementOf,
	coverageOf,
	defaultNamespace,
	filterNamespaces,
	formatAge,
	formatLabels,
	formatPort,
	meshLabel,
	podTone,
	readyCounts
} from './kube';
import type { NamespaceInfo } from './types';

function ns(name: string, mesh: NamespaceInfo['mesh']['mesh'], pods: number, inMesh: number, mode: string | null = null): NamespaceInfo {
	return { name, labels: {}, mesh: { mesh, mode, version: null, pods, pods_in_mesh: inMesh } };
}

describe('meshLabel', () => {
	it('calls baseline none and keeps every other name', () => {
		expect(meshLabel('baseline')).toBe('none');
		expect(meshLabel('istio')).toBe('istio');
		expect(meshLabel('istio_ambient')).toBe('istio_ambient');
		expect(meshLabel(null)).toBe('—');
	});
});

describe('coverageOf', () => {
	it('reads pods in the mesh out of all pods', () => {
		expect(coverageOf(3, 4, 'istio')).toEqual({ text: '3/4', fraction: 0.75, percent: '75 %', tone: 'partial' });
		expect(coverageOf(4, 4, 'linkerd')).toEqual({ text: '4/4', fraction: 1, percent: '100 %', tone: 'full' });
	});
	it('flags a mesh with no pod in it, and has no share without pods', () => {
		expect(coverageOf(0, 2, 'istio').tone).toBe('empty');
		expect(coverageOf(0, 0, 'istio')).toEqual({ text: '0/0', fraction: null, percent: '—', tone: 'none' });
	});
	it('has no tone without a mesh', () => {
		expect(coverageOf(0, 2, 'baseline')).toEqual({ text: '0/2', fraction: 0, percent: '0 %', tone: 'none' });
	});
	it('keeps the share within 0–1 whatever the counts', () => {
		expect(coverageOf(5, 4, 'istio').fraction).toBe(1);
	});
});

describe('agreementOf', () => {
	it('says nothing when no mesh was expected', () => {
		expect(agreementOf({ namespace: 'bookinfo', mesh: 'istio', expected: null, agrees: null })).toBeNull();
		expect(agreementOf({ namespace: 'bookinfo', mesh: 'istio' })).toBeNull();
	});
	it('says whether the detected mesh is the expected one', () => {
		expect(agreementOf({ namespace: 'bookinfo', mesh: 'istio', expected: 'istio', agrees: true })).toEqual({
			state: 'agrees',
			text: 'Agrees: istio expected, and istio serves bookinfo.'
		});
		expect(agreementOf({ namespace: 'bookinfo', mesh: 'istio', expected: 'linkerd', agrees: false })).toEqual({
			state: 'disagrees',
			text: 'Disagrees: linkerd expected, but istio serves bookinfo.'
		});
	});
	it('words baseline as no mesh', () => {
		expect(agreementOf({ namespace: 'plain-app', mesh: 'baseline', expected: 'istio', agrees: false })?.text).toBe(
			'Disagrees: istio expected, but no mesh serves plain-app.'
		);
		expect(agreementOf({ namespace: 'plain-app', mesh: 'baseline', expected: 'baseline', agrees: true })?.text).toBe(
			'Agrees: no mesh expected, and no mesh serves plain-app.'
		);
	});
	it('admits when the server could not tell', () => {
		expect(agreementOf({ namespace: 'x', mesh: 'istio', expected: 'cilium', agrees: null })?.state).toBe('unknown');
	});
});

describe('pods', () => {
	it('reads ready counts', () => {
		expect(readyCounts('2/2')).toEqual({ ready: 2, total: 2 });
		expect(readyCounts(' 1/3 ')).toEqual({ ready: 1, total: 3 });
		expect(readyCounts('n/a')).toBeNull();
	});
	it('tones a pod from its phase and readiness', () => {
		expect(podTone({ phase: 'Running', ready: '2/2' })).toBe('ok');
		expect(podTone({ phase: 'Running', ready: '1/2' })).toBe('warn');
		expect(podTone({ phase: 'Running', ready: '0/0' })).toBe('warn');
		expect(podTone({ phase: 'Pending', ready: '0/1' })).toBe('warn');
		expect(podTone({ phase: null, ready: '0/1' })).toBe('warn');
		expect(podTone({ phase: 'Failed', ready: '0/1' })).toBe('bad');
		expect(podTone({ phase: 'Succeeded', ready: '0/1' })).toBe('done');
	});
});

describe('services', () => {
	it('formats a port with its target only when it differs', () => {
		expect(formatPort({ name: 'http', port: 9080, target_port: '9080', protocol: 'TCP', app_protocol: null })).toBe('http 9080/TCP');
		expect(formatPort({ name: null, port: 80, target_port: 'http', protocol: 'TCP' })).toBe('80→http/TCP');
		expect(formatPort({ name: 'grpc', port: 8080, target_port: '50051', protocol: null, app_protocol: 'grpc' })).toBe('grpc 8080→50051/TCP (grpc)');
	});
	it('formats labels and selectors', () => {
		expect(formatLabels({ app: 'details', version: 'v1' })).toBe('app=details, version=v1');
		expect(formatLabels({})).toBe('—');
		expect(formatLabels(undefined)).toBe('—');
	});
});

describe('namespaces', () => {
	const list = [ns('bookinfo', 'istio', 4, 3, 'sidecar'), ns('default', 'baseline', 0, 0), ns('emojivoto', 'linkerd', 4, 3, 'sidecar'), ns('plain-app', 'baseline', 2, 0)];
	it('filters by name, mesh (none for baseline) or mode', () => {
		expect(filterNamespaces(list, '').map((n) => n.name)).toEqual(['bookinfo', 'default', 'emojivoto', 'plain-app']);
		expect(filterNamespaces(list, ' Emoji ').map((n) => n.name)).toEqual(['emojivoto']);
		expect(filterNamespaces(list, 'istio').map((n) => n.name)).toEqual(['bookinfo']);
		expect(filterNamespaces(list, 'none').map((n) => n.name)).toEqual(['default', 'plain-app']);
		expect(filterNamespaces(list, 'sidecar').map((n) => n.name)).toEqual(['bookinfo', 'emojivoto']);
	});
	it('shows a meshed namespace first, else one with pods, else the first', () => {
		expect(defaultNamespace(list)).toBe('bookinfo');
		expect(defaultNamespace([ns('default', 'baseline', 0, 0), ns('plain-app', 'baseline', 2, 0)])).toBe('plain-app');
		expect(defaultNamespace([ns('a', 'baseline', 0, 0), ns('b', 'baseline', 0, 0)])).toBe('a');
		expect(defaultNamespace([])).toBeNull();
	});
});

describe('formatAge', () => {
	const now = Date.parse('2026-01-10T12:00:00Z');
	const ago = (seconds: number) => new Date(now - seconds * 1000).toISOString();
	it('prints ages the way kubectl does', () => {
		expect(formatAge(ago(45), now)).toBe('45s');
		expect(formatAge(ago(119), now)).toBe('119s');
		expect(formatAge(ago(5 * 60 + 30), now)).toBe('5m30s');
		expect(formatAge(ago(5 * 60), now)).toBe('5m');
		expect(formatAge(ago(95 * 60), now)).toBe('95m');
		expect(formatAge(ago(5 * 3600 + 30 * 60), now)).toBe('5h30m');
		expect(formatAge(ago(30 * 3600), now)).toBe('30h');
		expect(formatAge(ago(3 * 86400 + 5 * 3600), now)).toBe('3d5h');
		expect(formatAge(ago(300 * 86400), now)).toBe('300d');
		expect(formatAge(ago(740 * 86400), now)).toBe('2y10d');
	});
	it('shows a dash for missing or unreadable times, and no negative age', () => {
		expect(formatAge(null, now)).toBe('—');
		expect(formatAge('yesterday', now)).toBe('—');
		expect(formatAge(ago(-30), now)).toBe('0s');
	});
});
