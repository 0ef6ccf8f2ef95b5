import { describe, expect, it } from 'vitest';
import {
	formatBytes,
	formatCount,
	formatLatency,
	formatLatencyDelta,
	formatPercentDelta,
	formatProgress,
	formatRate,
	formatRelative,
	formatSeconds,
	localDayStart,
	percentileLabel,
	startOfLocalDay
} from './format';

describe('formatLatency', () => {
	it('picks µs, ms or s so the number reads well', () => {
		expect(formatLatency(0)).toBe('0.00 µs');
		expect(formatLatency(7)).toBe('7.00 µs');
		expect(formatLatency(85)).toBe('85.0 µs');
		expect(formatLatency(812)).toBe('812 µs');
		expect(formatLatency(1240)).toBe('1.24 ms');
		expect(formatLatency(12_400)).toBe('12.4 ms');
		expect(formatLatency(944_000)).toBe('944 ms');
		expect(formatLatency(2_300_000)).toBe('2.30 s');
		expect(formatLatency(45_000_000)).toBe('45.0 s');
	});
	it('shows a dash for missing values', () => {
		expect(formatLatency(null)).toBe('—');
		expect(formatLatency(undefined)).toBe('—');
		expect(formatLatency(NaN)).toBe('—');
	});
	it('signs deltas', () => {
		expect(formatLatencyDelta(1200)).toBe('+1.20 ms');
		expect(formatLatencyDelta(-350)).toBe('−350 µs');
		expect(formatLatencyDelta(0)).toBe('0 µs');
		expect(formatPercentDelta(12.34)).toBe('+12 %');
		expect(formatPercentDelta(-3.21)).toBe('−3.2 %');
		expect(formatPercentDelta(0.01)).toBe('0 %');
		expect(formatPercentDelta(null)).toBe('—');
	});
});

describe('counts, rates, bytes, durations', () => {
	it('abbreviates large counts', () => {
		expect(formatCount(950)).toBe('950');
		expect(formatCount(12_345)).toBe('12.3k');
		expect(formatCount(117_457)).toBe('117k');
		expect(formatCount(5_700_000)).toBe('5.70M');
	});
	it('formats rates', () => {
		expect(formatRate(2.5)).toBe('2.5/s');
		expect(formatRate(117_457)).toBe('117k/s');
	});
	it('formats bytes in binary units', () => {
		expect(formatBytes(512)).toBe('512 B');
		expect(formatBytes(8_283_750)).toBe('7.90 MiB');
		expect(formatBytes(2048)).toBe('2.00 KiB');
	});
	it('formats seconds and progress', () => {
		expect(formatSeconds(45)).toBe('45 s');
		expect(formatSeconds(2.5)).toBe('2.5 s');
		expect(formatSeconds(125)).toBe('2 min 5 s');
		expect(formatSeconds(119.6)).toBe('2 min');
		expect(formatSeconds(59.7)).toBe('1 min');
		expect(formatSeconds(3780)).toBe('1 h 3 min');
		expect(formatProgress(0.456)).toBe('46 %');
		expect(formatProgress(1.5)).toBe('100 %');
	});
	it('labels percentiles', () => {
		expect(percentileLabel(50)).toBe('p50');
		expect(percentileLabel(99.9)).toBe('p99.9');
		expect(percentileLabel(99.999)).toBe('p99.999');
	});
});

describe('times', () => {
	it('says how long ago in words', () => {
		const now = Date.parse('2026-01-01T12:00:00Z');
		expect(formatRelative('2026-01-01T11:57:00Z', now, 'en')).toBe('3 minutes ago');
		expect(formatRelative('2026-01-01T12:00:00Z', now, 'en')).toBe('now');
		expect(formatRelative(null, now)).toBe('—');
	});
	it('turns a date input into the bounds of local days', () => {
		const start = new Date(localDayStart('2026-01-31'));
		expect([start.getFullYear(), start.getMonth(), start.getDate(), start.getHours()]).toEqual([2026, 0, 31, 0]);
		const next = new Date(localDayStart('2026-01-31', 1));
		expect([next.getMonth(), next.getDate()]).toEqual([1, 1]);
	});
	it('finds local midnight', () => {
		const d = new Date(2026, 0, 31, 15, 30);
		const midnight = new Date(startOfLocalDay(d));
		expect(midnight.getHours()).toBe(0);
		expect(midnight.getDate()).toBe(31);
	});
});
