// The state of a paged listing, shared by the listing pages so each keeps only its query.
// Reloads may overlap (a click, a socket event, a resync): only the newest one's answer lands.

import type { ApiResponse } from './api';
import { newestOnly } from './newest';
import { fetchPage } from './paging';

export class PagedList<T> {
	rows = $state<T[]>([]);
	total = $state(0);
	offset = $state(0);
	/** True until the first answer (or failure): later reloads keep the old rows on screen. */
	loading = $state(true);
	error = $state<string | null>(null);
	readonly size: number;
	readonly #fetch: (offset: number, limit: number) => Promise<ApiResponse<T[]>>;
	readonly #take = newestOnly();

	/** `fetch` asks the server for `limit` rows from `offset` with the page's current query. */
	constructor(fetch: (offset: number, limit: number) => Promise<ApiResponse<T[]>>, size = 20) {
		this.#fetch = fetch;
		this.size = size;
	}

	/** Fetches the current page again (arrow, so it can be handed to listeners as is). */
	reload = async (): Promise<void> => {
		const current = this.#take();
		try {
			const page = await fetchPage((o) => this.#fetch(o, this.size), this.offset, this.size);
			if (!current()) return;
			({ rows: this.rows, total: this.total, offset: this.offset } = page);
			this.error = null;
		} catch (e) {
			if (current()) this.error = (e as Error).message;
		} finally {
			if (current()) this.loading = false;
		}
	};

	/** Moves to the page at `offset` (the pager shows it at once; the rows follow). */
	page(offset: number): Promise<void> {
		this.offset = offset;
		return this.reload();
	}
}
