// One page of a listing with a known total. When the page asked for emptied under the user
// (jobs finished, filters changed), the last page is fetched instead, once.

import type { ApiResponse } from './api';

/** The rows of one page, the listing's total and the offset they were fetched at. */
export interface Page<T> {
	rows: T[];
	total: number;
	offset: number;
}

/** Fetches the page at `offset` (`fetch` takes an offset); falls back to the last page. */
export async function fetchPage<T>(
	fetch: (offset: number) => Promise<ApiResponse<T[]>>,
	offset: number,
	size: number
): Promise<Page<T>> {
	let response = await fetch(offset);
	let total = response.total ?? response.data.length;
	if (response.data.length === 0 && offset > 0 && total > 0) {
		offset = Math.floor((total - 1) / size) * size;
		response = await fetch(offset);
		total = response.total ?? response.data.length;
	}
	return { rows: response.data, total, offset };
}
