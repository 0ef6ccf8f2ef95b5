import { describe, expect, it } from 'vitest';
import { newestOnly } from './newest';

describe('newestOnly', () => {
	it('lets only the newest of overlapping calls apply its answer', async () => {
		const take = newestOnly();
		let shown = '';
		const load = async (value: string, ms: number) => {
			const current = take();
			await new Promise((r) => setTimeout(r, ms));
			if (current()) shown = value;
		};
		await Promise.all([load('old (slow)', 30), load('new (fast)', 5)]);
		expect(shown).toBe('new (fast)');
	});
});
