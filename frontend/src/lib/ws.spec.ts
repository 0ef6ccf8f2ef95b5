import { describe, expect, it } from 'vitest';
import { JobSocket, backoffDelay, isJobEvent, socketUrl, type SocketLike } from './ws';

class FakeSocket implements SocketLike {
	onopen: ((ev: unknown) => void) | null = null;
	onclose: ((ev: unknown) => void) | null = null;
	onerror: ((ev: unknown) => void) | null = null;
	onmessage: ((ev: { data: unknown }) => void) | null = null;
	sent: string[] = [];
	closed = false;
	constructor(public url: string) {}
	close() {
		this.closed = true;
	}
	send(data: string) {
		this.sent.push(data);
	}
}

describe('backoffDelay', () => {
	it('doubles from 500 ms up to 15 s, with ±20 % jitter', () => {
		const mid = () => 0.5;
		expect([0, 1, 2, 3, 4, 5, 10].map((a) => backoffDelay(a, mid))).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000]);
		expect(backoffDelay(0, () => 0)).toBe(400);
		expect(backoffDelay(0, () => 1)).toBe(600);
	});
});

describe('socketUrl', () => {
	it('follows the page or the configured API origin', () => {
		expect(socketUrl('', { protocol: 'http:', host: 'localhost:8000' })).toBe('ws://localhost:8000/ws');
		expect(socketUrl('', { protocol: 'https:', host: 'mb.example' })).toBe('wss://mb.example/ws');
		expect(socketUrl('http://127.0.0.1:9000', { protocol: 'https:', host: 'x' })).toBe('ws://127.0.0.1:9000/ws');
	});
});

describe('JobSocket', () => {
	it('delivers job events, ignores other messages, reconnects with back-off and resubscribes', () => {
		const sockets: FakeSocket[] = [];
		const timers: { f: () => void; ms: number }[] = [];
		let clock = 0;
		let resyncs = 0;
		const js = new JobSocket(
			() => 'ws://x/ws',
			(u) => {
				const s = new FakeSocket(u);
				sockets.push(s);
				return s;
			},
			(f, ms) => {
				timers.push({ f, ms });
				return 0 as unknown as ReturnType<typeof setTimeout>;
			},
			() => clock
		);
		js.onResync(() => resyncs++);
		const states: string[] = [];
		js.onState((s) => states.push(s));
		const got: unknown[] = [];
		js.subscribe((e) => got.push(e));
		expect(sockets).toHaveLength(1);
		sockets[0].onopen?.({});
		expect(sockets[0].sent).toEqual(['{"subscribe":"all"}']);
		sockets[0].onmessage?.({ data: '{"job_id":"a","type":"status","status":"running"}' });
		sockets[0].onmessage?.({ data: '{"type":"lagged","missed":3}' });
		sockets[0].onmessage?.({ data: 'not json' });
		expect(got).toEqual([{ job_id: 'a', type: 'status', status: 'running' }]);
		// The server said events were dropped: the page must reload what it shows.
		expect(resyncs).toBe(1);

		// The server goes away twice: the waits grow.
		sockets[0].onclose?.({});
		expect(timers).toHaveLength(1);
		timers[0].f();
		expect(sockets).toHaveLength(2);
		sockets[1].onclose?.({});
		expect(timers).toHaveLength(2);
		expect(timers[1].ms).toBeGreaterThan(timers[0].ms);
		timers[1].f();
		sockets[2].onopen?.({});
		expect(sockets[2].sent).toEqual(['{"subscribe":"all"}']);
		// A reconnect may have missed events too.
		expect(resyncs).toBe(2);
		expect(states).toEqual(['closed', 'connecting', 'open', 'closed', 'connecting', 'closed', 'connecting', 'open']);

		// A connection dropped at once does not reset the back-off…
		sockets[2].onclose?.({});
		expect(timers[2].ms).toBeGreaterThan(timers[1].ms);
		timers[2].f();
		// …one that stayed up for a while does.
		sockets[3].onopen?.({});
		clock += 10_000;
		sockets[3].onclose?.({});
		expect(timers[3].ms).toBeLessThanOrEqual(600);

		js.stop();
		timers[3].f();
		expect(sockets).toHaveLength(4);
	});

	it('restarts at once with the back-off started over (after a login)', () => {
		const sockets: FakeSocket[] = [];
		const timers: { f: () => void; ms: number }[] = [];
		const js = new JobSocket(
			() => 'ws://x/ws',
			(u) => {
				const s = new FakeSocket(u);
				sockets.push(s);
				return s;
			},
			(f, ms) => {
				timers.push({ f, ms });
				return 0 as unknown as ReturnType<typeof setTimeout>;
			}
		);
		js.start();
		// Refused for want of a login, three times: the next wait has grown.
		sockets[0].onclose?.({});
		timers[0].f();
		sockets[1].onclose?.({});
		timers[1].f();
		sockets[2].onclose?.({});
		expect(timers[2].ms).toBeGreaterThan(1500);
		expect(sockets).toHaveLength(3);
		js.restart();
		expect(sockets).toHaveLength(4);
		expect(js.state).toBe('connecting');
		sockets[3].onopen?.({});
		expect(js.state).toBe('open');
		// A refusal after the restart waits the shortest time again.
		sockets[3].onclose?.({});
		expect(timers[3].ms).toBeLessThanOrEqual(600);
	});

	it('recognises job events', () => {
		expect(isJobEvent({ job_id: 'a', type: 'progress' })).toBe(true);
		expect(isJobEvent({ job_id: 'probe-1', type: 'probe_progress', entry: { second: 0 } })).toBe(true);
		expect(isJobEvent({ job_id: 'a', type: 'something_new' })).toBe(false);
		expect(isJobEvent({ type: 'lagged' })).toBe(false);
		expect(isJobEvent(null)).toBe(false);
	});
});
