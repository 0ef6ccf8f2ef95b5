// The state of one fetched answer (a namespace's pods, its mesh record…): the data, whether a
// load is in flight, and the failure's message and code. Loads may overlap (a click, a poll):
// only the newest one's answer lands, and a reload keeps the old data on screen until then.

import { ApiError, type ApiResponse } from './api';
import { newestOnly } from './newest';

export class Fetched<T> {
	data = $state<T | null>(null);
	/** A load is in flight. */
	loading = $state(false);
	/** The last load's failure, for a person to read. */
	error = $state<string | null>(null);
	/** The API's code for that failure (`kubernetes_forbidden`…), `unreachable` without an answer. */
	code = $state<string | null>(null);
	readonly #take = newestOnly();

	/** Loads with `fetch`, replacing the data (or the error) once it answers, unless a newer load began. */
	async load(fetch: () => Promise<ApiResponse<T>>): Promise<void> {
		const current = this.#take();
		this.loading = true;
		try {
			const answer = await fetch();
			if (!current()) return;
			this.data = answer.data;
			this.error = null;
			this.code = null;
		} catch (e) {
			if (!current()) return;
			this.error = (e as Error).message;
			this.code = e instanceof ApiError ? e.code : null;
		} finally {
			if (current()) this.loading = false;
		}
	}

	/** Forgets the data and any error (for another subject); an answer still on its way is dropped. */
	reset(): void {
		this.#take();
		this.data = null;
		this.error = null;
		this.code = null;
		this.loading = false;
	}
}
