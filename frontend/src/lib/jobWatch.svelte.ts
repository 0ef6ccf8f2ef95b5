// One benchmark job as its page shows it: fetched once, then moved along by the socket (and
// polled while the socket is down), with its result and distribution fetched once it is over.

import { benchmarkAPI, ApiError } from './api';
import { jobSocket } from './ws';
import { appendLivePoint, type LivePoint } from './charts';
import { newestOnly } from './newest';
import type { BenchmarkJob, Distribution } from './types';
import type { BenchmarkResult } from './result';

const finished = (s: string) => s !== 'pending' && s !== 'running';

export class JobWatch {
	job = $state<BenchmarkJob | null>(null);
	result = $state<BenchmarkResult | null>(null);
	distribution = $state<Distribution | null>(null);
	loading = $state(true);
	/** Why the job could not be shown at all. */
	error = $state<string | null>(null);
	/** Why the latest refresh failed, once the job is on screen already. */
	refreshError = $state<string | null>(null);
	resultError = $state<string | null>(null);
	/** The seconds received over the socket while the job runs. */
	live = $state<LivePoint[]>([]);
	active = $derived(!!this.job && !finished(this.job.status));

	readonly #jobId: string;
	readonly #take = newestOnly();
	#resultLoading = false;

	constructor(jobId: string) {
		this.#jobId = jobId;
	}

	/** Fetches the job afresh (arrow, so it can be handed to buttons and listeners as is). */
	load = async (): Promise<void> => {
		const current = this.#take();
		try {
			const fresh = (await benchmarkAPI.getJob(this.#jobId)).data;
			// An older poll must not take back a status the socket already moved on from.
			if (!current()) return;
			if (this.job && finished(this.job.status) && !finished(fresh.status)) return;
			this.job = fresh;
			this.error = null;
			this.refreshError = null;
			if (!this.active && !this.result) await this.#loadResult();
		} catch (e) {
			if (!current()) return;
			const message = e instanceof ApiError && e.status === 404 ? `No job ${this.#jobId}.` : (e as Error).message;
			// Once the job is on screen, a failed refresh is a note, not a blank page.
			if (this.job) this.refreshError = message;
			else this.error = message;
		} finally {
			this.loading = false;
		}
	};

	async #loadResult(): Promise<void> {
		const job = this.job;
		if (!job || (job.status !== 'completed' && job.status !== 'cancelled') || this.result || this.#resultLoading) return;
		this.#resultLoading = true;
		try {
			const [r, d] = await Promise.all([benchmarkAPI.getResult(this.#jobId), benchmarkAPI.getDistribution(this.#jobId)]);
			this.result = r.data;
			this.distribution = d.data;
			this.resultError = null;
		} catch (e) {
			// A job cancelled before it started has no result; that is not an error to show loudly.
			this.resultError = e instanceof ApiError && e.code === 'result_not_ready' ? null : (e as Error).message;
		} finally {
			this.#resultLoading = false;
		}
	}

	/** Loads the job and follows it; returns what stops following (for onMount). */
	follow(): () => void {
		this.load();
		const unsubscribe = jobSocket().subscribe((event) => {
			if (event.job_id !== this.#jobId) return;
			const job = this.job;
			if (!job) {
				// The first fetch is still out and may predate this change: fetch again (the
				// older answer is then dropped).
				if (event.type === 'status') this.load();
				return;
			}
			if (event.type === 'progress') {
				job.progress = event.progress;
				if (job.status === 'pending') job.status = 'running';
				this.live = appendLivePoint(this.live, {
					second: event.second,
					rps: event.rps,
					errors: event.errors,
					p50_us: event.p50_us,
					p99_us: event.p99_us
				});
			} else if (event.type === 'status') {
				job.status = event.status;
				if (event.error) job.error = event.error;
				if (finished(event.status)) {
					// The result does not wait for the job's own refresh.
					this.#loadResult();
					this.load();
				}
			}
		});
		const stopResync = jobSocket().onResync(this.load);
		// While the socket is down, poll; once it is back, onResync catches up.
		const poll = setInterval(() => {
			if (this.active && jobSocket().state !== 'open') this.load();
		}, 5000);
		return () => {
			unsubscribe();
			stopResync();
			clearInterval(poll);
		};
	}
}
