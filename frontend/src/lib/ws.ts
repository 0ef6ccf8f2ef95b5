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
	private attempt = 0;
	private timer: ReturnType<typeof setTimeout> | null = null;
	private stopped = true;
	/** Current state. */
	state: SocketState = 'closed';

	constructor(
		private readonly url: () => string,
		private readonly open: (url: string) => SocketLike = (u) => new WebSocket(u) as unknown as SocketLike,
		private readonly schedule: (f: () => void, ms: number) => ReturnType<typeof setTimeout> = setTimeout
	) {}

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
			this.attempt = 0;
			this.setState('open');
			socket.send(JSON.stringify({ subscribe: 'all' }));
		};
		socket.onmessage = (ev) => {
			if (typeof ev.data !== 'string') return;
			let parsed: unknown;
			try {
				parsed = JSON.parse(ev.data);
			} catch {
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

	private setState(state: SocketState): void {
		this.state = state;
		for (const l of this.stateListeners) l(state);
	}
}

/** Whether a parsed message is a job event the pages understand. */
export function isJobEvent(value: unknown): value is JobEvent {
	if (!value || typeof value !== 'object') return false;
	const v = value as { job_id?: unknown; type?: unknown };
	return typeof v.job_id === 'string' && (v.type === 'status' || v.type === 'progress' || v.type === 'summary');
}

let shared: JobSocket | null = null;

/** The page's one socket. */
export function jobSocket(): JobSocket {
	if (!shared) {
		shared = new JobSocket(() => socketUrl(API_BASE_URL, window.location));
	}
	return shared;
}
