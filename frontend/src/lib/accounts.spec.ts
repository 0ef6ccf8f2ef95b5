import { describe, expect, it } from 'vitest';
import { MAX_TOKEN_DAYS, buildNewUser, buildTokenRequest, passwordProblem, tokenState, validUsername } from './accounts';
import type { ApiToken } from './types';

describe('buildTokenRequest', () => {
	it('trims the name and reads an optional number of days', () => {
		expect(buildTokenRequest({ name: '  ci  ', expires: '' })).toEqual({ ok: true, value: { name: 'ci', expiresInDays: null } });
		expect(buildTokenRequest({ name: 'ci', expires: ' 30 ' })).toEqual({ ok: true, value: { name: 'ci', expiresInDays: 30 } });
		expect(buildTokenRequest({ name: 'ci', expires: String(MAX_TOKEN_DAYS) })).toMatchObject({ ok: true });
	});

	it('names each field it refuses', () => {
		for (const expires of ['0', '3651', '1.5', '-1', 'soon']) {
			const r = buildTokenRequest({ name: 'ci', expires });
			expect(r.ok, expires).toBe(false);
			if (!r.ok) expect(Object.keys(r.errors)).toEqual(['expires_in_days']);
		}
		for (const name of ['', '   ', 'a\nb', 'x'.repeat(101)]) {
			const r = buildTokenRequest({ name, expires: '' });
			expect(r.ok, JSON.stringify(name)).toBe(false);
			if (!r.ok) expect(Object.keys(r.errors)).toEqual(['name']);
		}
		expect(buildTokenRequest({ name: 'é'.repeat(100), expires: '' }).ok).toBe(true);
	});
});

describe('tokenState', () => {
	const token: ApiToken = { token_id: 'abc', username: 'otto', name: 'ci', created_at: '2026-01-01T00:00:00Z' };
	const now = Date.parse('2026-06-01T00:00:00Z');

	it('tells active, expired and revoked tokens apart', () => {
		expect(tokenState(token, now)).toBe('active');
		expect(tokenState({ ...token, expires_at: null, revoked_at: null }, now)).toBe('active');
		expect(tokenState({ ...token, expires_at: '2026-07-01T00:00:00Z' }, now)).toBe('active');
		expect(tokenState({ ...token, expires_at: '2026-05-01T00:00:00Z' }, now)).toBe('expired');
		expect(tokenState({ ...token, expires_at: '2026-05-01T00:00:00Z', revoked_at: '2026-04-01T00:00:00Z' }, now)).toBe('revoked');
	});
});

describe('users', () => {
	it('accepts the names the server accepts', () => {
		for (const ok of ['ada', 'ci-bot', 'a.b_c', '0x', 'a'.repeat(64)]) expect(validUsername(ok), ok).toBe(true);
		for (const bad of ['', 'Ada', '-x', '.x', 'a b', 'ä', 'a'.repeat(65)]) expect(validUsername(bad), bad).toBe(false);
	});

	it('wants passwords of 10 to 1,024 characters', () => {
		expect(passwordProblem('123456789')).toBe('must be at least 10 characters');
		expect(passwordProblem('1234567890')).toBeNull();
		expect(passwordProblem('x'.repeat(1025))).toBe('must be at most 1,024 characters');
	});

	it('builds a new user, keeping the password as typed', () => {
		expect(buildNewUser({ username: ' vera ', password: ' a password ', role: 'viewer' })).toEqual({
			ok: true,
			value: { username: 'vera', password: ' a password ', role: 'viewer' }
		});
		const r = buildNewUser({ username: 'Vera', password: 'short', role: 'admin' });
		expect(r.ok).toBe(false);
		if (!r.ok) expect(Object.keys(r.errors).sort()).toEqual(['password', 'username']);
	});
});
