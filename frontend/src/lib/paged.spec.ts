import { describe, expect, it } from 'vitest';
import { PagedList } from './paged.svelte';

/** A fetch whose answers the test releases by hand, in any order. */
function manual() {
	const pending: { offset: number; resolve: (rows: number[]) => void }[] = [];
	const fetch = (offset: number, limit: number) =>
		new Promise<{ data: number[]; status: number; total: number }>((resolve) =>
			pending.push({ offset, resolve: (rows) => resolve({ data: rows.slice(offset, offset + limit), status: 200, total: rows.length }) })
		);
	return { fetch, pending };
}

describe('PagedList', () => {
	it('keeps the newest answer when reloads overlap', async () => {
		const { fetch, pending } = manual();
		const list = new PagedList<number>(fetch, 10);
		const older = list.reload();
		const newer = list.reload();
		pending[1].resolve([1, 2, 3]);
		await newer;
		pending[0].resolve([9]);
		await older;
		expect(list.rows).toEqual([1, 2, 3]);
		expect(list.total).toBe(3);
		expect(list.loading).toBe(false);
	});

	it('moves to a page, and to the last one when the page asked for is gone', async () => {
		const rows = Array.from({ length: 22 }, (_, i) => i);
		const list = new PagedList<number>(async (offset, limit) => ({ data: rows.slice(offset, offset + limit), status: 200, total: rows.length }), 10);
		await list.page(10);
		expect([list.offset, list.rows.length]).toEqual([10, 10]);
		await list.page(40);
		expect([list.offset, list.rows]).toEqual([20, [20, 21]]);
	});

	it('shows a failure as its message and keeps the rows it had', async () => {
		let fail = false;
		const list = new PagedList<number>(async () => {
			if (fail) throw new Error('down');
			return { data: [1], status: 200, total: 1 };
		});
		await list.reload();
		fail = true;
		await list.reload();
		expect([list.error, list.rows]).toEqual(['down', [1]]);
	});
});
