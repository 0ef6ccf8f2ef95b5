// Who is using the dashboard: `/auth/me` read once at start, and again after a login. A
// server without users runs in development mode, where nobody logs in and everyone may do
// everything; once a user exists, the API answers 401 until the browser logs in.

import { ApiError, authAPI } from './api';
import type { Me } from './types';

/** Whether `me` may start and change things (operator or admin, or nobody needs a login). */
export function mayOperate(me: Me | null): boolean {
	return !!me && (me.mode === 'development' || me.role === 'operator' || me.role === 'admin');
}

/** Whether `me` may manage users and read the audit log (development mode's caller is an admin). */
export function mayAdminister(me: Me | null): boolean {
	return !!me && me.role === 'admin';
}

/**
 * Where to go after a login: `next` if it is a path on this site, else the dashboard. Only a
 * path will do (`/…`, not `//host` or `/\host`, which browsers read as another site), so a
 * link to /login cannot send someone elsewhere once they have logged in.
 */
export function safeNext(next: string | null | undefined): string {
	if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
	let url: URL;
	try {
		// The URL parser drops tabs and newlines ("/\t/evil.example"): judge what it makes of it.
		url = new URL(next, 'http://same.invalid');
	} catch {
		return '/';
	}
	if (url.origin !== 'http://same.invalid' || url.pathname === '/login') return '/';
	return url.pathname + url.search + url.hash;
}

/** The login page, coming back to `url` afterwards (the dashboard itself needs no `next`). */
export function loginHref(url: { pathname: string; search: string }): string {
	const back = url.pathname + url.search;
	return back === '/' || url.pathname === '/login' ? '/login' : `/login?next=${encodeURIComponent(back)}`;
}

export class Session {
	/** Who is logged in; null before the first answer, and when nobody is. */
	me = $state<Me | null>(null);
	/** True until `/auth/me` has answered (or failed) once. */
	loading = $state(true);
	/** The API wants a login (`/auth/me`, or any call since, answered 401). */
	unauthenticated = $state(false);
	/** Why `/auth/me` failed, other than for want of a login (the server is down…). */
	error = $state<string | null>(null);

	/** May start and change things. */
	canOperate = $derived(mayOperate(this.me));
	/** May manage users and read the audit log. */
	isAdmin = $derived(mayAdminister(this.me));
	/** A user is logged in (not development mode). */
	loggedIn = $derived(this.me?.mode === 'login' && !!this.me.username);
	/** The server has no users: nobody logs in. */
	development = $derived(this.me?.mode === 'development');

	#started: Promise<void> | null = null;

	/** Reads `/auth/me` the first time it is called; later calls wait for that answer. */
	load(): Promise<void> {
		this.#started ??= this.reload();
		return this.#started;
	}

	/** Reads `/auth/me` again (after a login). */
	async reload(): Promise<void> {
		try {
			this.me = (await authAPI.me()).data;
			this.unauthenticated = false;
			this.error = null;
		} catch (e) {
			this.me = null;
			if (e instanceof ApiError && e.status === 401) {
				this.unauthenticated = true;
				this.error = null;
			} else {
				// No word on the login either way: the pages show the failure themselves.
				this.unauthenticated = false;
				this.error = (e as Error).message;
			}
		} finally {
			this.loading = false;
		}
	}

	/** The API refused a request for want of a login: the session ended (or never was). */
	lapsed(): void {
		this.me = null;
		this.unauthenticated = true;
		this.loading = false;
	}

	/**
	 * Ends the session on the server. A 401 means it had ended already; any other failure is
	 * thrown, as the cookie may still work and the person must not think they are logged out.
	 */
	async logout(): Promise<void> {
		try {
			await authAPI.logout();
		} catch (e) {
			if (!(e instanceof ApiError && e.status === 401)) throw e;
		}
		this.lapsed();
	}
}

/** The page's session. */
export const session = new Session();
