// The token and user forms and how they become requests, and a token's state; pure so they
// are unit-tested. The rules are the server's (crates/core/src/user.rs, routes/auth.rs),
// checked here first so a mistake is named before anything is sent.

import type { ApiToken, NewUser, Role } from './types';

/** The shortest password the server accepts. */
export const MIN_PASSWORD = 10;
/** The longest a token may live, days. */
export const MAX_TOKEN_DAYS = 3650;

/**
 * Audit actions suggested in the filter (any other is accepted too); a prefix such as
 * `benchmark.` matches every action of its kind. A refused `login` is a failed one; a
 * refused `request` a change tried without the login or role it needs.
 */
export const AUDIT_ACTIONS = [
	'benchmark.',
	'benchmark.start',
	'benchmark.cancel',
	'probe.',
	'probe.start',
	'probe.cancel',
	'lab.',
	'lab.up',
	'lab.down',
	'report.',
	'report.generate',
	'report.share_revoke',
	'user.',
	'user.add',
	'user.update',
	'token.',
	'token.create',
	'token.revoke',
	'login',
	'logout',
	'request'
];

export type FormResult<T> = { ok: true; value: T } | { ok: false; errors: Record<string, string> };

/** The new-token form as typed. */
export interface TokenForm {
	name: string;
	/** Days it works; empty: until revoked. */
	expires: string;
}

/** The token form's values checked: a name of 1–100 characters on one line, an optional whole number of days. */
export function buildTokenRequest(form: TokenForm): FormResult<{ name: string; expiresInDays: number | null }> {
	const errors: Record<string, string> = {};
	const name = form.name.trim();
	if (!name || [...name].length > 100 || /[\u0000-\u001f\u007f]/.test(name)) errors.name = 'must be 1-100 characters on one line';
	let expiresInDays: number | null = null;
	const days = form.expires.trim();
	if (days) {
		const n = Number(days);
		if (!/^\d+$/.test(days) || n < 1 || n > MAX_TOKEN_DAYS) errors.expires_in_days = `must be a whole number of days from 1 to ${MAX_TOKEN_DAYS}`;
		else expiresInDays = n;
	}
	return Object.keys(errors).length ? { ok: false, errors } : { ok: true, value: { name, expiresInDays } };
}

/** Whether a token still works at `now`. */
export type TokenState = 'active' | 'expired' | 'revoked';

export function tokenState(token: ApiToken, now = Date.now()): TokenState {
	if (token.revoked_at) return 'revoked';
	if (token.expires_at && Date.parse(token.expires_at) <= now) return 'expired';
	return 'active';
}

/** The new-user form as typed. */
export interface UserForm {
	username: string;
	password: string;
	role: Role;
}

/** A name the server accepts: 1–64 of a-z 0-9 . _ -, starting with a letter or digit. */
export function validUsername(name: string): boolean {
	return /^[a-z0-9][a-z0-9._-]{0,63}$/.test(name);
}

/** Why a new password would be refused, if it would. */
export function passwordProblem(password: string): string | null {
	const n = [...password].length;
	if (n < MIN_PASSWORD) return `must be at least ${MIN_PASSWORD} characters`;
	if (n > 1024) return 'must be at most 1,024 characters';
	return null;
}

/** The new-user form checked. The password is sent as typed: spaces may be part of it. */
export function buildNewUser(form: UserForm): FormResult<NewUser> {
	const errors: Record<string, string> = {};
	const username = form.username.trim();
	if (!validUsername(username)) errors.username = 'must be 1-64 of a-z 0-9 . _ - starting with a letter or digit';
	const problem = passwordProblem(form.password);
	if (problem) errors.password = problem;
	return Object.keys(errors).length ? { ok: false, errors } : { ok: true, value: { username, password: form.password, role: form.role } };
}
