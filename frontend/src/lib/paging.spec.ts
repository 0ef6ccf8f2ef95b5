import { describe, expect, it } from 'vitest';
import { fetchPage } from './paging';

describe('fetchPage', () => {
	it('falls back to the last page when the one asked for emptied', async () => {
		const rows = Array.from({ length: 22 }, (_, i) => i);
		const asked: number[] = [];
		const fetch = async (offset: number) => {
			asked.push(offset);
			return { data: rows.slice(offset, offset + 10), status: 200, total: rows.length };
		};
		expect(await fetchPage(fetch, 10, 10)).toEqual({ rows: rows.slice(10, 20), total: 22, offset: 10 });
		expect(await fetchPage(fetch, 40, 10)).toEqual({ rows: [20, 21], total: 22, offset: 20 });
		expect(asked).toEqual([10, 40, 20]);
	});
});
