// Formatters: units chosen so numbers read well (µs / ms / s, k / M), times in the user's locale.

/** A latency in microseconds as µs, ms or s with about three significant digits. */
export function formatLatency(us: number | null | undefined): string {
	if (us === null || us === undefined || !Number.isFinite(us)) return '—';
	const abs = Math.abs(us);
	if (abs < 1000) return `${trim(us, abs < 10 ? 2 : abs < 100 ? 1 : 0)} µs`;
	if (abs < 1_000_000) return `${trim(us / 1000, abs < 10_000 ? 2 : abs < 100_000 ? 1 : 0)} ms`;
	return `${trim(us / 1_000_000, abs < 10_000_000 ? 2 : 1)} s`;
}

/** A signed latency difference, e.g. `+1.20 ms` or `−350 µs`. */
export function formatLatencyDelta(us: number | null | undefined): string {
	if (us === null || us === undefined || !Number.isFinite(us)) return '—';
	if (us === 0) return '0 µs';
	return `${us > 0 ? '+' : '−'}${formatLatency(Math.abs(us))}`;
}

/** A signed percentage, e.g. `+12.3 %`. */
export function formatPercentDelta(pct: number | null | undefined): string {
	if (pct === null || pct === undefined || !Number.isFinite(pct)) return '—';
	const abs = Math.abs(pct);
	const digits = abs < 10 ? 1 : 0;
	if (Number(abs.toFixed(digits)) === 0) return '0 %';
	return `${pct > 0 ? '+' : '−'}${abs.toFixed(digits)} %`;
}

/** A count with k / M suffixes once it is large. */
export function formatCount(n: number | null | undefined): string {
	if (n === null || n === undefined || !Number.isFinite(n)) return '—';
	const abs = Math.abs(n);
	if (abs < 10_000) return Math.round(n).toLocaleString();
	if (abs < 1_000_000) return `${trim(n / 1000, abs < 100_000 ? 1 : 0)}k`;
	if (abs < 1_000_000_000) return `${trim(n / 1_000_000, abs < 10_000_000 ? 2 : 1)}M`;
	return `${trim(n / 1_000_000_000, 2)}G`;
}

/** Requests (or messages) per second. */
export function formatRate(rps: number | null | undefined): string {
	if (rps === null || rps === undefined || !Number.isFinite(rps)) return '—';
	if (Math.abs(rps) < 100) return `${trim(rps, 1)}/s`;
	return `${formatCount(rps)}/s`;
}

/** Bytes in B, KiB, MiB or GiB. */
export function formatBytes(n: number | null | undefined): string {
	if (n === null || n === undefined || !Number.isFinite(n)) return '—';
	const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let value = n;
	let unit = 0;
	while (Math.abs(value) >= 1024 && unit < units.length - 1) {
		value /= 1024;
		unit++;
	}
	return `${trim(value, unit === 0 ? 0 : value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** A fraction 0–1 as a whole percentage. */
export function formatProgress(fraction: number | null | undefined): string {
	if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '—';
	return `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)} %`;
}

/** A number of seconds as `45 s`, `2 min 5 s` or `1 h 3 min`. */
export function formatSeconds(s: number | null | undefined): string {
	if (s === null || s === undefined || !Number.isFinite(s)) return '—';
	if (s < 59.5) return `${trim(s, s < 10 && s % 1 !== 0 ? 1 : 0)} s`;
	// Round first, so 119.6 s reads "2 min", not "1 min 60 s".
	s = Math.round(s);
	const minutes = Math.floor(s / 60);
	if (minutes < 60) {
		const rest = s - minutes * 60;
		return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
	}
	const hours = Math.floor(minutes / 60);
	const restMin = minutes - hours * 60;
	return restMin ? `${hours} h ${restMin} min` : `${hours} h`;
}

/** A percentile label: 50 → `p50`, 99.9 → `p99.9`. */
export function percentileLabel(p: number): string {
	return `p${Number(p.toFixed(4))}`;
}

/** A timestamp in the user's locale (date and time), or — when absent. */
export function formatDateTime(iso: string | null | undefined, locale?: string): string {
	if (!iso) return '—';
	const d = new Date(iso);
	if (Number.isNaN(d.getTime())) return '—';
	return d.toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** How long ago a timestamp was, in the user's language (`3 minutes ago`). */
export function formatRelative(iso: string | null | undefined, now = Date.now(), locale?: string): string {
	if (!iso) return '—';
	const t = new Date(iso).getTime();
	if (Number.isNaN(t)) return '—';
	const seconds = Math.round((t - now) / 1000);
	const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
	const abs = Math.abs(seconds);
	if (abs < 60) return rtf.format(seconds, 'second');
	if (abs < 3600) return rtf.format(Math.round(seconds / 60), 'minute');
	if (abs < 86400) return rtf.format(Math.round(seconds / 3600), 'hour');
	return rtf.format(Math.round(seconds / 86400), 'day');
}

/** Local midnight of the day `now` falls in, as RFC 3339 (UTC), for "today" filters. */
export function startOfLocalDay(now = new Date()): string {
	const d = new Date(now);
	d.setHours(0, 0, 0, 0);
	return d.toISOString();
}

/** The start of a local calendar day (`2026-01-31` from a date input), `addDays` later, as RFC 3339. */
export function localDayStart(day: string, addDays = 0): string {
	const [y, m, d] = day.split('-').map(Number);
	return new Date(y, m - 1, d + addDays, 0, 0, 0, 0).toISOString();
}

/** The first eight characters of an id, as shown in tables. */
export function shortId(id: string): string {
	return id.slice(0, 8);
}

function trim(value: number, digits: number): string {
	return value.toLocaleString(undefined, {
		minimumFractionDigits: digits,
		maximumFractionDigits: digits
	});
}
