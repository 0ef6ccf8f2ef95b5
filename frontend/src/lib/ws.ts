// The live event stream (`/ws`): one socket for the whole page, reconnecting with
// exponential back-off and jitter, re-subscribing after every reconnect.

import { API_BASE_URL } from './api';
import type { JobEvent } from './types';

/** Connection state, for the indicator in the header. */
export type SocketState = 'connecting' | 'open' | 'closed';

/** The delay before reconnect attempt `attempt` (0-based): doubling from 500 ms to 15 s, ±20 %. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
	const base = Math.min(15_000, 500 * 2 ** Math.max(0, attempt));
	return Math.round(base * (0.8 + 0.4 * random()));
}

/** The WebSocket URL for the API at `base` (empty: the page's own origin). */
export function socketUrl(base: string, location: { protocol: string; host: string }): string {
	const origin = base || `${location.protocol}//${location.host}`;
	return origin.replace(/^http/, 'ws') + '/ws';
}

type Listener = (event: JobEvent) => void;

/** How long a connection must have stayed open for the back-off to start over. */
export const STABLE_MS = 10_000;

/** Minimal WebSocket surface, so tests can supply their own. */
export interface SocketLike {
	onopen: ((ev: unknown) => void) | null;
	onclose: ((ev: unknown) => void) | null;
	onerror: ((ev: unknown) => void) | null;
	onmessage: ((ev: { data: unknown }) => void) | null;
	close(): void;
	send(data: string): void;
}

/** One shared event stream; listeners see every job event (they filter by `job_id`). */
export class JobSocket {
	private socket: SocketLike | null = null;
	private listeners = new Set<Listener>();
	private stateListeners = new Set<(s: SocketState) => void>();
	private resyncListeners = new Set<() => void>();
	private attempt = 0;
	private openedAt: number | null = null;
	private everOpened = false;
	private timer: ReturnType<typeof setTimeout> | null = null;
	private stopped = true;
	/** Current state. */
	state: SocketState = 'closed';

	constructor(
		private readonly url: () => string,
		private readonly open: (url: string) => SocketLike = (u) => new WebSocket(u) as unknown as SocketLike,
		private readonly schedule: (f: () => void, ms: number) => ReturnType<typeof setTimeout> = setTimeout,
		private readonly now: () => number = Date.now
	) {}

	/**
	 * Called when events may have been missed (a reconnect, or the server saying this client
	 * lagged): pages reload what they show.
	 */
	onResync(listener: () => void): () => void {
		this.resyncListeners.add(listener);
		return () => {
			this.resyncListeners.delete(listener);
		};
	}

	/** Receives every event until the returned function is called; connects on first use. */
	subscribe(listener: Listener): () => void {
		this.listeners.add(listener);
		if (this.stopped) this.start();
		return () => {
			this.listeners.delete(listener);
		};
	}

	/** Follows the connection state (called at once with the current one). */
	onState(listener: (s: SocketState) => void): () => void {
		this.stateListeners.add(listener);
		listener(this.state);
		return () => {
			this.stateListeners.delete(listener);
		};
	}

	/** Connects (idempotent). */
	start(): void {
		if (!this.stopped) return;
		this.stopped = false;
		this.connect();
	}

	/**
	 * Connects again now, with the back-off started over: after a login, when the attempts
	 * refused without one may have pushed the next try many seconds away.
	 */
	restart(): void {
		this.stop();
		this.attempt = 0;
		this.start();
	}

	/** Disconnects and stops reconnecting. */
	stop(): void {
		this.stopped = true;
		if (this.timer) clearTimeout(this.timer);
		this.timer = null;
		this.socket?.close();
		this.socket = null;
		this.setState('closed');
	}

	private connect(): void {
		this.setState('connecting');
		let socket: SocketLike;
		try {
			socket = this.open(this.url());
		} catch {
			this.retry();
			return;
		}
		this.socket = socket;
		socket.onopen = () => {
			this.openedAt = this.now();
			this.setState('open');
			socket.send(JSON.stringify({ subscribe: 'all' }));
			if (this.everOpened) this.resync();
			this.everOpened = true;
		};
		socket.onmessage = (ev) => {
			if (typeof ev.data !== 'string') return;
			let parsed: unknown;
			try {
				parsed = JSON.parse(ev.data);
			} catch {
				return;
			}
			if (isLagged(parsed)) {
				this.resync();
				return;
			}
			if (!isJobEvent(parsed)) return;
			for (const l of this.listeners) l(parsed);
		};
		socket.onerror = () => {
			// onclose follows and does the retrying.
		};
		socket.onclose = () => {
			if (this.socket !== socket) return;
			this.socket = null;
			// Only a connection that lasted counts as recovered: a server (or proxy) that
			// accepts and drops at once must not be hammered every half second.
			if (this.openedAt !== null && this.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
			this.openedAt = null;
			this.retry();
		};
	}

	private retry(): void {
		if (this.stopped) return;
		this.setState('closed');
		const delay = backoffDelay(this.attempt++);
		this.timer = this.schedule(() => {
			this.timer = null;
			if (!this.stopped) this.connect();
		}, delay);
	}

	private resync(): void {
		for (const l of this.resyncListeners) l();
	}

	private setState(state: SocketState): void {
		this.state = state;
		for (const l of this.stateListeners) l(state);
	}
}

/** Whether a parsed message is a job event the pages understand (probe runs too: their `job_id` is the probe's id). */
export function isJobEvent(value: unknown): value is JobEvent {
	if (!value || typeof value !== 'object') return false;
	const v = value as { job_id?: unknown; type?: unknown };
	return (
		typeof v.job_id === 'string' &&
		(v.type === 'status' || v.type === 'progress' || v.type === 'summary' || v.type === 'probe_progress')
	);
}

/** Whether a message is the server's note that this client fell behind and missed events. */
export function isLagged(value: unknown): boolean {
	return !!value && typeof value === 'object' && (value as { type?: unknown }).type === 'lagged';
}

let shared: JobSocket | null = null;

/** The page's one socket. */
export function jobSocket(): JobSocket {
	if (!shared) {
		shared = new JobSocket(() => socketUrl(API_BASE_URL, window.location));
	}
	return shared;
}
