import { describe, expect, it } from 'vitest';
import { ApiError } from './api';
import { Fetched } from './fetched.svelte';

/** A fetch the test answers by hand. */
function manual<T>() {
	let resolve!: (data: T) => void;
	let reject!: (e: Error) => void;
	const promise = new Promise<{ data: T; status: number }>((res, rej) => {
		resolve = (data) => res({ data, status: 200 });
		reject = rej;
	});
	return { fetch: () => promise, resolve, reject };
}

describe('Fetched', () => {
	it('is loading until the answer lands, then holds it', async () => {
		const f = new Fetched<string>();
		const a = manual<string>();
		const done = f.load(a.fetch);
		expect(f.loading).toBe(true);
		a.resolve('pods');
		await done;
		expect([f.data, f.loading, f.error]).toEqual(['pods', false, null]);
	});

	it('keeps the newest answer when loads overlap', async () => {
		const f = new Fetched<string>();
		const older = manual<string>();
		const newer = manual<string>();
		const first = f.load(older.fetch);
		const second = f.load(newer.fetch);
		newer.resolve('istio');
		await second;
		older.resolve('linkerd');
		await first;
		expect(f.data).toBe('istio');
		expect(f.loading).toBe(false);
	});

	it('shows a failure as its message and code, keeping the data it had', async () => {
		const f = new Fetched<string>();
		await f.load(async () => ({ data: 'old', status: 200 }));
		await f.load(async () => {
			throw new ApiError(502, 'kubernetes_forbidden', 'Kubernetes RBAC does not allow meshbench to list pods in namespace x: forbidden');
		});
		expect(f.error).toContain('list pods');
		expect(f.code).toBe('kubernetes_forbidden');
		expect(f.data).toBe('old');
		await f.load(async () => ({ data: 'new', status: 200 }));
		expect([f.data, f.error, f.code]).toEqual(['new', null, null]);
	});

	it('drops an answer still on its way when reset', async () => {
		const f = new Fetched<string>();
		const a = manual<string>();
		const done = f.load(a.fetch);
		f.reset();
		expect(f.loading).toBe(false);
		a.resolve('bookinfo');
		await done;
		expect(f.data).toBeNull();
		expect(f.loading).toBe(false);
	});
});
