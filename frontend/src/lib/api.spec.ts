import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, adminAPI, apiUrl, authAPI, benchmarkAPI, ebpfAPI, healthAPI, kubernetesAPI, metricsAPI, reportsAPI, seriesAPI, setFetch, setOnUnauthorized, toError } from './api';

type Seen = { url: string; init: RequestInit };

function fakeFetch(status: number, body: unknown, headers: Record<string, string> = {}) {
	const seen: Seen[] = [];
	setFetch((async (url: string, init: RequestInit) => {
		seen.push({ url, init });
		return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers });
	}) as typeof fetch);
	return seen;
}

afterEach(() => {
	setFetch((...a) => fetch(...a));
	setOnUnauthorized(null);
});

describe('apiUrl', () => {
	it('leaves out empty query values', () => {
		expect(apiUrl('/benchmarks/jobs', { status: 'running', mesh_type: '', limit: 20, x: undefined })).toBe(
			'/benchmarks/jobs?status=running&limit=20'
		);
		expect(apiUrl('/health', {}, 'http://localhost:8000')).toBe('http://localhost:8000/health');
	});
});

describe('benchmarkAPI', () => {
	it('posts a start request as JSON', async () => {
		const seen = fakeFetch(202, { job_id: 'a', job_ids: ['a'], status: 'pending', message: 'ok', started_at: '2026-01-01T00:00:00Z' });
		const r = await benchmarkAPI.start({ test_type: 'http', mesh_type: 'istio', duration: 60 });
		expect(r.status).toBe(202);
		expect(r.data.job_id).toBe('a');
		expect(seen[0].url).toBe('/benchmarks/start');
		expect(seen[0].init.method).toBe('POST');
		expect(JSON.parse(String(seen[0].init.body))).toEqual({ test_type: 'http', mesh_type: 'istio', duration: 60 });
		expect((seen[0].init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
	});

	it('reads the total of a listing from x-total-count', async () => {
		const seen = fakeFetch(200, [], { 'x-total-count': '42' });
		const r = await benchmarkAPI.listJobs({ status: 'completed', sort: 'mesh_type', order: 'asc', limit: 20, offset: 40 });
		expect(r.total).toBe(42);
		expect(seen[0].url).toBe('/benchmarks/jobs?status=completed&sort=mesh_type&order=asc&limit=20&offset=40');
	});

	it('escapes ids in paths and uses DELETE to cancel', async () => {
		const seen = fakeFetch(200, { job_id: 'a/b', status: 'running', message: 'cancellation requested' });
		await benchmarkAPI.cancel('a/b');
		expect(seen[0].url).toBe('/benchmarks/jobs/a%2Fb');
		expect(seen[0].init.method).toBe('DELETE');
	});

	it('turns a 422 into an ApiError naming each field', async () => {
		fakeFetch(422, {
			code: 'validation_error',
			message: 'duration: must be between 10 and 3600 seconds',
			details: [{ field: 'duration', message: 'must be between 10 and 3600 seconds' }]
		});
		const error = await benchmarkAPI.start({ duration: 1 }).catch((e) => e);
		expect(error).toBeInstanceOf(ApiError);
		expect(error.status).toBe(422);
		expect(error.code).toBe('validation_error');
		expect(error.fieldMessage('duration')).toBe('must be between 10 and 3600 seconds');
		expect(error.fieldMessage('mesh_type')).toBeUndefined();
	});

	it('reports an unreachable server as status 0', async () => {
		setFetch((async () => {
			throw new TypeError('Failed to fetch');
		}) as typeof fetch);
		const error = await benchmarkAPI.getJob('x').catch((e) => e);
		expect(error).toBeInstanceOf(ApiError);
		expect(error.status).toBe(0);
		expect(error.message).toContain('Failed to fetch');
	});
});

describe('other endpoints', () => {
	it('passes the mesh to the summary', async () => {
		const seen = fakeFetch(200, { mesh_type: 'istio', meshes: [], overhead: [] });
		await metricsAPI.summary('istio');
		expect(seen[0].url).toBe('/metrics/summary?mesh_type=istio');
	});
	it('accepts a degraded health answer (503) as data', async () => {
		fakeFetch(503, { status: 'degraded', store: 'unreachable' });
		const r = await healthAPI.get();
		expect(r.status).toBe(503);
		expect(r.data.store).toBe('unreachable');
	});
	it('surfaces "not configured" from Kubernetes endpoints', async () => {
		const seen = fakeFetch(503, { code: 'kubernetes_not_configured', message: 'no Kubernetes cluster is configured (set KUBECONFIG)', details: null });
		const error = await kubernetesAPI.meshStatus('default', 'istio').catch((e) => e);
		expect(error.code).toBe('kubernetes_not_configured');
		expect(seen[0].url).toBe('/kubernetes/mesh-status/default?mesh_type=istio');
	});
	it('asks for a mesh record without an expected mesh, and names namespaces safely', async () => {
		const seen = fakeFetch(200, { namespace: 'bookinfo', mesh: 'istio' });
		await kubernetesAPI.meshStatus('bookinfo');
		await kubernetesAPI.meshStatus('bookinfo', null);
		await kubernetesAPI.pods('a/b');
		expect(seen.map((s) => s.url)).toEqual(['/kubernetes/mesh-status/bookinfo', '/kubernetes/mesh-status/bookinfo', '/kubernetes/pods/a%2Fb']);
	});
	it('generates reports and builds absolute share links', async () => {
		const report = {
			report_id: 'r1',
			title: 't',
			job_ids: ['a'],
			format: 'html',
			created_at: '2026-01-01T00:00:00Z',
			download_url: '/reports/r1/download',
			share_url: '/reports/shared/tok'
		};
		const seen = fakeFetch(201, report);
		const r = await reportsAPI.generate({ job_ids: ['a'], format: 'html' });
		expect(seen[0].url).toBe('/reports/generate');
		expect(reportsAPI.shareUrl(r.data, 'http://host:8000')).toBe('http://host:8000/reports/shared/tok');
		expect(reportsAPI.downloadUrl(r.data)).toBe('/reports/r1/download');
		const revoked = fakeFetch(200, { ...report, share_url: null });
		const after = await reportsAPI.revokeShare('r/1');
		expect([revoked[0].init.method, revoked[0].url]).toEqual(['DELETE', '/reports/r%2F1/share']);
		expect(reportsAPI.shareUrl(after.data, 'http://host:8000')).toBeNull();
	});
});

describe('series and comparisons', () => {
	it('starts series of several configurations and reads one by its escaped id', async () => {
		const seen = fakeFetch(202, { job_id: 'a', job_ids: ['a', 'b'], series_ids: ['s1', 's2'], series_group: 'g', status: 'pending', message: 'ok', started_at: '2026-01-01T00:00:00Z' });
		const r = await seriesAPI.start({ configurations: [{ mesh_type: 'baseline' }, { mesh_type: 'istio' }], repeats: 3 });
		expect(r.data.series_ids).toEqual(['s1', 's2']);
		await seriesAPI.get('s/1');
		expect(seen.map((s) => [s.init.method, s.url])).toEqual([
			['POST', '/series/start'],
			['GET', '/series/s%2F1']
		]);
		expect(JSON.parse(String(seen[0].init.body)).repeats).toBe(3);
	});

	it('posts a comparison with its gates, and names the gate a 422 refuses', async () => {
		const seen = fakeFetch(200, { schema: 'meshbench.comparison.v1', figures: [], gates: [], passed: true });
		await metricsAPI.compare({ baseline: 'a', candidate: 'b', max_regression: 'p99=10%', thresholds: ['p99<5ms'] });
		expect(seen[0].url).toBe('/metrics/compare');
		expect(seen[0].init.method).toBe('POST');
		expect(JSON.parse(String(seen[0].init.body))).toEqual({ baseline: 'a', candidate: 'b', max_regression: 'p99=10%', thresholds: ['p99<5ms'] });
		fakeFetch(422, { code: 'validation_error', message: 'thresholds[0]: empty duration', details: [{ field: 'thresholds[0]', message: 'empty duration' }] });
		const error = await metricsAPI.compare({ baseline: 'a', candidate: 'b', thresholds: ['p99<'] }).catch((e) => e);
		expect(error.fieldMessage('thresholds[0]')).toBe('empty duration');
	});
});

describe('ebpfAPI', () => {
	it('starts a probe with a list of ports', async () => {
		const seen = fakeFetch(202, { probe_id: 'p1', status: 'pending', message: 'probe started for 4 s', created_at: '2026-01-01T00:00:00Z' });
		const r = await ebpfAPI.start({ duration: 4, output_format: 'csv', ports: [8080, 443] });
		expect(r.status).toBe(202);
		expect(r.data.probe_id).toBe('p1');
		expect(seen[0].url).toBe('/ebpf/probe/start');
		expect(seen[0].init.method).toBe('POST');
		expect(JSON.parse(String(seen[0].init.body))).toEqual({ duration: 4, output_format: 'csv', ports: [8080, 443] });
	});

	it('names the field of a 422 and keeps the reason of a 503', async () => {
		fakeFetch(422, {
			code: 'validation_error',
			message: 'pod_filter: filtering by pod needs a Kubernetes cluster',
			details: [{ field: 'pod_filter', message: 'filtering by pod needs a Kubernetes cluster, and none is configured; filter by ports, pid or cgroup' }]
		});
		const invalid = await ebpfAPI.start({ duration: 4, pod_filter: 'web' }).catch((e) => e);
		expect(invalid).toBeInstanceOf(ApiError);
		expect(invalid.fieldMessage('pod_filter')).toContain('Kubernetes cluster');
		fakeFetch(503, { code: 'probe_unavailable', message: 'this machine is declared BPF-less (MESHBENCH_NO_BPF=1)', details: null });
		const unavailable = await ebpfAPI.start({ duration: 4 }).catch((e) => e);
		expect(unavailable.status).toBe(503);
		expect(unavailable.code).toBe('probe_unavailable');
		expect(unavailable.message).toBe('this machine is declared BPF-less (MESHBENCH_NO_BPF=1)');
		expect(unavailable.fields).toEqual([]);
	});

	it('reads the status with its running runs', async () => {
		const seen = fakeFetch(200, { available: false, reason: 'no BTF', running: [] });
		const r = await ebpfAPI.status();
		expect(seen[0].url).toBe('/ebpf/probe/status');
		expect(r.data).toEqual({ available: false, reason: 'no BTF', running: [] });
	});

	it('pages the runs, reading the total from x-total-count', async () => {
		const seen = fakeFetch(200, [{ probe_id: 'p1' }], { 'x-total-count': '41' });
		const r = await ebpfAPI.listJobs({ limit: 20, offset: 40 });
		expect(seen[0].url).toBe('/ebpf/probe/jobs?limit=20&offset=40');
		expect(r.total).toBe(41);
		expect(r.data).toHaveLength(1);
	});

	it('gets, stops and reads the distribution of one run by its escaped id', async () => {
		const seen = fakeFetch(200, { probe_id: 'a/b', histograms: {} });
		await ebpfAPI.getJob('a/b');
		await ebpfAPI.getDistribution('a/b');
		expect(seen.map((s) => [s.init.method, s.url])).toEqual([
			['GET', '/ebpf/probe/jobs/a%2Fb'],
			['GET', '/ebpf/probe/jobs/a%2Fb/distribution']
		]);
		const stopSeen = fakeFetch(202, { probe_id: 'p1', status: 'stopping' });
		const stopped = await ebpfAPI.cancel('p1');
		expect(stopSeen[0].init.method).toBe('DELETE');
		expect(stopSeen[0].url).toBe('/ebpf/probe/jobs/p1');
		expect(stopped.status).toBe(202);
		expect(stopped.data.status).toBe('stopping');
	});

	it('turns a stop of a finished run and a distribution before the end into errors', async () => {
		fakeFetch(409, { code: 'probe_finished', message: 'probe `p1` is completed and cannot be stopped', details: null });
		expect((await ebpfAPI.cancel('p1').catch((e) => e)).code).toBe('probe_finished');
		fakeFetch(409, { code: 'probe_not_finished', message: 'no report yet', details: null });
		expect((await ebpfAPI.getDistribution('p1').catch((e) => e)).code).toBe('probe_not_finished');
	});

	it('builds download links per format', () => {
		expect(ebpfAPI.downloadUrl('p 1', 'csv')).toBe('/ebpf/probe/jobs/p%201/download?format=csv');
		expect(ebpfAPI.downloadUrl('p1', 'table')).toBe('/ebpf/probe/jobs/p1/download?format=table');
	});
});

describe('authAPI', () => {
	it('logs in with a JSON body, logs out, and asks who is there', async () => {
		const seen = fakeFetch(200, { username: 'otto', role: 'operator', mode: 'login' });
		const me = await authAPI.login('otto', 'operator-password-1');
		expect(me.data.role).toBe('operator');
		await authAPI.me();
		expect(seen.map((s) => [s.init.method, s.url])).toEqual([
			['POST', '/auth/login'],
			['GET', '/auth/me']
		]);
		expect(JSON.parse(String(seen[0].init.body))).toEqual({ username: 'otto', password: 'operator-password-1' });
		const out: Seen[] = [];
		setFetch((async (url: string, init: RequestInit) => {
			out.push({ url, init });
			return new Response(null, { status: 204 });
		}) as typeof fetch);
		const r = await authAPI.logout();
		expect([out[0].init.method, out[0].url, r.status]).toEqual(['POST', '/auth/logout', 204]);
	});

	it('makes a token with or without an expiry, lists them, and revokes one by its escaped id', async () => {
		const seen = fakeFetch(201, { token: 'mbt_abc_123', token_id: 'abc', username: 'otto', name: 'ci', created_at: '2026-01-01T00:00:00Z' });
		const made = await authAPI.createToken('ci', 30);
		expect(made.data.token).toBe('mbt_abc_123');
		await authAPI.createToken('forever');
		await authAPI.tokens();
		await authAPI.revokeToken('a/b');
		expect(seen.map((s) => [s.init.method, s.url])).toEqual([
			['POST', '/auth/tokens'],
			['POST', '/auth/tokens'],
			['GET', '/auth/tokens'],
			['DELETE', '/auth/tokens/a%2Fb']
		]);
		expect(JSON.parse(String(seen[0].init.body))).toEqual({ name: 'ci', expires_in_days: 30 });
		expect(JSON.parse(String(seen[1].init.body))).toEqual({ name: 'forever' });
	});

	it('calls the unauthorized hook on a 401, but not for a failed login or a logout', async () => {
		let calls = 0;
		setOnUnauthorized(() => calls++);
		fakeFetch(401, { code: 'unauthenticated', message: 'wrong username or password' });
		const refused = await authAPI.login('otto', 'nope').catch((e) => e);
		expect([refused.status, refused.message]).toEqual([401, 'wrong username or password']);
		await authAPI.logout().catch(() => undefined);
		expect(calls).toBe(0);
		fakeFetch(401, { code: 'unauthenticated', message: 'the session ended: log in again' });
		expect((await benchmarkAPI.listJobs().catch((e) => e)).code).toBe('unauthenticated');
		await authAPI.me().catch(() => undefined);
		expect(calls).toBe(2);
		// A refusal for the role is not a lapsed session.
		fakeFetch(403, { code: 'forbidden_role', message: 'POST /benchmarks/start needs the operator role' });
		expect((await benchmarkAPI.start({}).catch((e) => e)).code).toBe('forbidden_role');
		expect(calls).toBe(2);
	});
});

describe('adminAPI', () => {
	it('lists, adds and changes users', async () => {
		const user = { username: 'vera', role: 'viewer', disabled: false, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z' };
		const seen = fakeFetch(200, user);
		await adminAPI.users();
		await adminAPI.addUser({ username: 'vera', password: 'viewer-password-1', role: 'viewer' });
		await adminAPI.updateUser('ve ra', { disabled: true });
		expect(seen.map((s) => [s.init.method, s.url])).toEqual([
			['GET', '/users'],
			['POST', '/users'],
			['PATCH', '/users/ve%20ra']
		]);
		expect(JSON.parse(String(seen[1].init.body))).toEqual({ username: 'vera', password: 'viewer-password-1', role: 'viewer' });
		expect(JSON.parse(String(seen[2].init.body))).toEqual({ disabled: true });
	});

	it('pages the audit log with its filters, reading the total', async () => {
		const seen = fakeFetch(200, [], { 'x-total-count': '7' });
		const r = await adminAPI.audit({ limit: 20, offset: 0, username: 'otto', action: '' });
		expect(seen[0].url).toBe('/audit?limit=20&offset=0&username=otto');
		expect(r.total).toBe(7);
	});
});

describe('toError', () => {
	it('copes with bodies that are not the API error shape', () => {
		expect(toError(502, 'Bad Gateway').message).toBe('Bad Gateway');
		expect(toError(500, undefined).code).toBe('http_500');
	});
});

describe('ApiError.byField', () => {
	const error = new ApiError(422, 'validation_error', 'invalid', [
		{ field: 'filter.ports[0]', message: 'not a port' },
		{ field: 'filter.ports[2]', message: 'out of range' },
		{ field: 'duration', message: 'too long' },
		{ field: 'role_limit', message: 'over the limit' }
	]);

	it('joins the messages of fields one input shows, and lines up those no input shows', () => {
		const form = { filter: '', duration: '' };
		const { errors, unshown } = error.byField((key) => key in form, (field) => field.split(/[.[]/)[0]);
		expect(errors.filter).toBe('not a port; out of range');
		expect(errors.duration).toBe('too long');
		expect(unshown).toBe('role_limit: over the limit');
	});

	it('keys by the field itself by default, and has nothing unshown when every field has an input', () => {
		const { errors, unshown } = error.byField(() => true);
		expect(Object.keys(errors)).toEqual(['filter.ports[0]', 'filter.ports[2]', 'duration', 'role_limit']);
		expect(unshown).toBeNull();
	});
});
