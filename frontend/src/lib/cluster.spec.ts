import { describe, expect, it } from 'vitest';
import {
	describeMeshRecord,
	formatFigure,
	generatorParts,
	meshMismatchText,
	perThousandRps,
	resourceFigures,
	resourceSeries,
	toMiB
} from './cluster';
import type { ClusterRecord, ResourceCost } from './result';
import { istioRecord } from './cluster.fixtures';

function cluster(overrides: Partial<ClusterRecord> = {}): ClusterRecord {
	return { namespace: 'bookinfo', mesh: istioRecord(), mesh_error: null, mesh_mismatch: true, resources: null, resources_error: null, ...overrides };
}

const MiB = 1024 * 1024;

function resources(overrides: Partial<ResourceCost> = {}): ResourceCost {
	return {
		proxy_cpu_millicores: 30,
		proxy_memory_bytes: 150 * MiB,
		app_cpu_millicores: 12,
		app_memory_bytes: 300 * MiB,
		proxy_cpu_millicores_per_1k_rps: 1.5,
		proxy_memory_bytes_per_1k_rps: 7.5 * MiB,
		proxies: ['bookinfo/a/istio-proxy'],
		samples: [],
		...overrides
	};
}

describe('describeMeshRecord', () => {
	it('names mesh, mode, version and the mTLS mode', () => {
		expect(describeMeshRecord(istioRecord())).toBe('istio sidecar 1.24.2, mTLS STRICT');
	});
	it('leaves out what is unknown, and says none for no mesh and — for no record', () => {
		expect(describeMeshRecord(istioRecord({ mtls: null }))).toBe('istio sidecar 1.24.2');
		expect(describeMeshRecord(istioRecord({ version: null, mode: null }))).toBe('istio, mTLS STRICT');
		expect(describeMeshRecord(istioRecord({ mesh: 'istio_ambient', mode: 'ambient+waypoint', mtls: { mode: 'STRICT', source: 'ztunnel' } }))).toBe(
			'istio_ambient ambient+waypoint 1.24.2, mTLS STRICT'
		);
		expect(describeMeshRecord(istioRecord({ mesh: 'baseline', mode: null, version: null, mtls: null }))).toBe('none');
		expect(describeMeshRecord(null)).toBe('—');
		expect(describeMeshRecord(undefined)).toBe('—');
	});
});

describe('meshMismatchText', () => {
	it('says what the run was started as and what serves the namespace', () => {
		expect(meshMismatchText(cluster(), 'linkerd')).toBe('started as linkerd but istio serves bookinfo');
		expect(meshMismatchText(cluster({ mesh: istioRecord({ mesh: 'baseline' }) }), 'istio')).toBe('started as istio but no mesh serves bookinfo');
	});
	it('is null when the record does not flag a mismatch, or there is no record', () => {
		expect(meshMismatchText(cluster({ mesh_mismatch: false }), 'istio')).toBeNull();
		expect(meshMismatchText(undefined, 'istio')).toBeNull();
	});
});

describe('cost figures', () => {
	it('formats millicores and MiB with about three significant digits', () => {
		expect(formatFigure(21.916411)).toBe('21.9');
		expect(formatFigure(0.7055)).toBe('0.706');
		expect(formatFigure(4.29)).toBe('4.29');
		expect(formatFigure(133.28)).toBe('133');
		expect(formatFigure(0)).toBe('0');
		expect(formatFigure(null)).toBe('—');
		expect(toMiB(139_755_520)).toBeCloseTo(133.28, 2);
		expect(toMiB(null)).toBeNull();
	});
	it('works out the cost per 1,000 req/s, and none for a run that achieved nothing', () => {
		expect(perThousandRps(30, 20_000)).toBeCloseTo(1.5);
		expect(perThousandRps(150 * MiB, 500)).toBe(300 * MiB);
		expect(perThousandRps(30, 0)).toBeNull();
		expect(perThousandRps(30, Number.NaN)).toBeNull();
	});
	it('takes the result’s own per-1k figures, null included, and works them out only when absent', () => {
		const given = resourceFigures(resources(), 99_999);
		expect(given.proxy).toEqual({ cpu_millicores: 30, memory_bytes: 150 * MiB });
		expect(given.proxyPer1k).toEqual({ cpu_millicores: 1.5, memory_bytes: 7.5 * MiB });
		expect(given.app).toEqual({ cpu_millicores: 12, memory_bytes: 300 * MiB });
		const nothing = resourceFigures(resources({ proxy_cpu_millicores_per_1k_rps: null, proxy_memory_bytes_per_1k_rps: null }), 20_000);
		expect(nothing.proxyPer1k).toEqual({ cpu_millicores: null, memory_bytes: null });
		const older = resources();
		delete (older as Partial<ResourceCost>).proxy_cpu_millicores_per_1k_rps;
		delete (older as Partial<ResourceCost>).proxy_memory_bytes_per_1k_rps;
		const worked = resourceFigures(older, 20_000);
		expect(worked.proxyPer1k.cpu_millicores).toBeCloseTo(1.5);
		expect(worked.proxyPer1k.memory_bytes).toBeCloseTo(7.5 * MiB);
	});
	it('sums proxies and the application per sample, in time order', () => {
		const c = (pod: string, container: string, role: 'proxy' | 'app', cpu: number, mem: number) => ({ namespace: 'bookinfo', pod, container, role, cpu_millicores: cpu, memory_bytes: mem });
		const s = resourceSeries([
			{ t_s: 1.02, containers: [c('a', 'istio-proxy', 'proxy', 7, 10), c('b', 'istio-proxy', 'proxy', 8, 20), c('a', 'app', 'app', 3, 100)] },
			{ t_s: 0.02, containers: [c('a', 'istio-proxy', 'proxy', 5, 10), c('a', 'app', 'app', 2, 90)] }
		]);
		expect(s).toEqual({ seconds: [0.02, 1.02], proxyCpu: [5, 15], appCpu: [2, 3], proxyMemory: [10, 30], appMemory: [90, 100] });
		expect(resourceSeries([])).toEqual({ seconds: [], proxyCpu: [], appCpu: [], proxyMemory: [], appMemory: [] });
	});
});

describe('generatorParts', () => {
	it('lists every part with its job, and flags the failed and the saturated', () => {
		const parts = generatorParts(
			{ count: 3, completed: 2, parts: ['j0', 'j1', 'j2'], failed: [{ index: 2, job_id: 'j2', error: 'worker died' }], saturated: [1], start_spread_ms: 0.4 },
			['generator 1: CPU at 100 %', 'generator 10: unrelated']
		);
		expect(parts).toEqual([
			{ index: 0, jobId: 'j0', state: 'ok', error: null, reasons: [] },
			{ index: 1, jobId: 'j1', state: 'saturated', error: null, reasons: ['CPU at 100 %'] },
			{ index: 2, jobId: 'j2', state: 'failed', error: 'worker died', reasons: [] }
		]);
	});
	it('takes a failed part’s job id from its failure when the parts list lacks it', () => {
		const parts = generatorParts({ count: 2, completed: 1, parts: ['j0'], failed: [{ index: 1, job_id: 'j1', error: 'no worker' }], saturated: [], start_spread_ms: 0 });
		expect(parts.map((p) => [p.jobId, p.state])).toEqual([
			['j0', 'ok'],
			['j1', 'failed']
		]);
	});
});
