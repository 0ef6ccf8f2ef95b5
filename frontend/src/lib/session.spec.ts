import { afterEach, describe, expect, it } from 'vitest';
import { setFetch } from './api';
import { Session, loginHref, mayAdminister, mayOperate, safeNext } from './session.svelte';
import type { Me } from './types';

type Answer = { status: number; body?: unknown };

/** A fetch that gives `answers` in turn and records what was asked. */
function answering(...answers: Answer[]) {
	const seen: { url: string; method: string }[] = [];
	setFetch((async (url: string, init: RequestInit) => {
		seen.push({ url, method: init.method ?? 'GET' });
		const a = answers.shift() ?? { status: 500, body: { code: 'unexpected', message: 'no answer left' } };
		return new Response(a.body === undefined ? null : JSON.stringify(a.body), { status: a.status });
	}) as typeof fetch);
	return seen;
}

afterEach(() => setFetch((...a) => fetch(...a)));

const viewer: Me = { username: 'vera', role: 'viewer', mode: 'login' };
const operator: Me = { username: 'otto', role: 'operator', mode: 'login' };
const admin: Me = { username: 'ada', role: 'admin', mode: 'login' };
const development: Me = { username: null, role: 'admin', mode: 'development' };
const unauthenticated = { status: 401, body: { code: 'unauthenticated', message: 'log in' } };

describe('roles', () => {
	it('lets operators, admins and development mode operate, and only admins administer', () => {
		expect([null, viewer, operator, admin, development].map(mayOperate)).toEqual([false, false, true, true, true]);
		expect([null, viewer, operator, admin, development].map(mayAdminister)).toEqual([false, false, false, true, true]);
	});
});

describe('safeNext', () => {
	it('keeps a path on this site, with its query', () => {
		expect(safeNext('/benchmarks')).toBe('/benchmarks');
		expect(safeNext('/probes?id=abc#x')).toBe('/probes?id=abc#x');
		expect(safeNext('/series/a%2Fb')).toBe('/series/a%2Fb');
	});

	it('sends anything else to the dashboard', () => {
		for (const bad of [null, undefined, '', 'benchmarks', 'https://evil.example/', '//evil.example', '/\\evil.example', '/\t/evil.example', '/\n/evil.example', 'javascript:alert(1)', '/login', '/login?next=/x']) {
			expect(safeNext(bad), String(bad)).toBe('/');
		}
	});
});

describe('loginHref', () => {
	it('names where to come back to, unless that is the dashboard or the login page', () => {
		expect(loginHref({ pathname: '/probes', search: '?id=a b' })).toBe('/login?next=%2Fprobes%3Fid%3Da%20b');
		expect(loginHref({ pathname: '/', search: '' })).toBe('/login');
		expect(loginHref({ pathname: '/login', search: '?next=%2Fx' })).toBe('/login');
		expect(safeNext(decodeURIComponent(loginHref({ pathname: '/tokens', search: '' }).split('=')[1]))).toBe('/tokens');
	});
});

describe('Session', () => {
	it('is loading until /auth/me answers, then knows who is there', async () => {
		const seen = answering({ status: 200, body: operator });
		const s = new Session();
		expect([s.loading, s.me, s.canOperate]).toEqual([true, null, false]);
		await s.load();
		expect(seen).toEqual([{ url: '/auth/me', method: 'GET' }]);
		expect([s.loading, s.loggedIn, s.canOperate, s.isAdmin, s.development, s.unauthenticated]).toEqual([false, true, true, false, false, false]);
	});

	it('asks once however many times it is loaded', async () => {
		const seen = answering({ status: 200, body: viewer }, { status: 200, body: admin });
		const s = new Session();
		await Promise.all([s.load(), s.load()]);
		await s.load();
		expect(seen).toHaveLength(1);
		expect([s.loggedIn, s.canOperate]).toEqual([true, false]);
	});

	it('knows development mode: nobody logged in, everyone operates and administers', async () => {
		answering({ status: 200, body: development });
		const s = new Session();
		await s.load();
		expect([s.development, s.loggedIn, s.canOperate, s.isAdmin]).toEqual([true, false, true, true]);
	});

	it('tells a missing login (401) from a failure, and forgets both once logged in', async () => {
		answering(unauthenticated, { status: 503, body: { code: 'store_unavailable', message: 'the store is down' } }, { status: 200, body: admin });
		const s = new Session();
		await s.load();
		expect([s.unauthenticated, s.error, s.me, s.loading]).toEqual([true, null, null, false]);
		await s.reload();
		expect([s.unauthenticated, s.error]).toEqual([false, 'the store is down']);
		await s.reload();
		expect([s.unauthenticated, s.error, s.isAdmin]).toEqual([false, null, true]);
	});

	it('logs out on the server, and counts a session that had already ended as logged out', async () => {
		const seen = answering({ status: 200, body: operator }, { status: 204 }, { status: 200, body: operator }, unauthenticated);
		const s = new Session();
		await s.load();
		await s.logout();
		expect(seen[1]).toEqual({ url: '/auth/logout', method: 'POST' });
		expect([s.me, s.unauthenticated, s.canOperate]).toEqual([null, true, false]);
		await s.reload();
		await s.logout();
		expect([s.me, s.unauthenticated]).toEqual([null, true]);
	});

	it('stays logged in when the logout itself failed', async () => {
		answering({ status: 200, body: operator }, { status: 503, body: { code: 'store_unavailable', message: 'the store is down' } });
		const s = new Session();
		await s.load();
		await expect(s.logout()).rejects.toThrow('the store is down');
		expect(s.me).toEqual(operator);
	});

	it('forgets the user when the API says the session lapsed', async () => {
		answering({ status: 200, body: operator });
		const s = new Session();
		await s.load();
		s.lapsed();
		expect([s.me, s.unauthenticated, s.canOperate]).toEqual([null, true, false]);
	});
});
