// Chart.js configurations built from the transforms in charts.ts, shared by the job page and
// the comparison page.

import type { ChartConfiguration } from 'chart.js';
import { SPECTRUM_TICKS, percentileAt, seriesColor, type SpectrumXY } from './charts';
import { formatLatency, formatCount } from './format';
import { formatFigure as formatClusterFigure } from './cluster';
import { formatFigure, type SeriesChartData } from './intervals';

const latencyTick = (v: number | string) => formatLatency(Number(v));

/** Whether a value is 1, 2 or 5 times a power of ten. */
function oneTwoFive(n: number): boolean {
	if (!(n > 0)) return false;
	const mantissa = n / 10 ** Math.floor(Math.log10(n) + 1e-9);
	return [1, 2, 5].some((k) => Math.abs(mantissa - k) < 1e-6);
}

/**
 * Log-axis labels at 1, 2 and 5 of each decade, so they never crowd; on a narrow range
 * with fewer than two such ticks, every tick is labelled instead.
 */
const logLatencyTick = (v: number | string, _index: number, ticks: { value: number }[]) => {
	const n = Number(v);
	if (!(n > 0)) return '';
	const round = ticks.filter((t) => oneTwoFive(t.value)).length;
	return round >= 2 ? (oneTwoFive(n) ? formatLatency(n) : '') : formatLatency(n);
};

/** Overlaid percentile spectra on a log axis from 50 % to 99.999 %. */
export function spectrumConfig(series: { label: string; points: SpectrumXY[] }[]): ChartConfiguration {
	const maxX = Math.max(100_000, ...series.flatMap((s) => s.points.map((p) => p.x)).filter(Number.isFinite));
	return {
		type: 'line',
		data: {
			datasets: series.map((s, i) => ({
				label: s.label,
				data: s.points.map((p) => ({ x: p.x, y: p.y })),
				borderColor: seriesColor(i),
				backgroundColor: seriesColor(i),
				pointRadius: 0,
				borderWidth: 2,
				stepped: 'before' as const
			}))
		},
		options: {
			animation: false,
			parsing: false,
			interaction: { mode: 'nearest', intersect: false },
			scales: {
				x: {
					type: 'logarithmic',
					min: 2,
					max: maxX,
					title: { display: true, text: 'percentile' },
					afterBuildTicks: (axis) => {
						axis.ticks = SPECTRUM_TICKS.filter((t) => t.x <= maxX).map((t) => ({ value: t.x }));
					},
					ticks: {
						callback: (v) => SPECTRUM_TICKS.find((t) => t.x === Number(v))?.label ?? ''
					}
				},
				y: {
					type: 'logarithmic',
					title: { display: true, text: 'latency' },
					ticks: { callback: logLatencyTick, autoSkip: false }
				}
			},
			plugins: {
				tooltip: {
					callbacks: {
						title: (items) => (items.length ? `p${Number(percentileAt(items[0].parsed.x ?? 2).toFixed(3))}` : ''),
						label: (item) => `${item.dataset.label}: ${formatLatency(item.parsed.y)}`
					}
				}
			}
		}
	};
}

/** A latency histogram as bars (counts per latency bucket); `unit` names what is counted. */
export function histogramConfig(labels: string[], counts: number[], ranges: [number, number][], unit = 'requests', axis = 'latency (bucket upper bound)'): ChartConfiguration {
	return {
		type: 'bar',
		data: {
			labels,
			datasets: [{ label: unit, data: counts, backgroundColor: seriesColor(0), barPercentage: 1, categoryPercentage: 1 }]
		},
		options: {
			animation: false,
			plugins: {
				legend: { display: false },
				tooltip: {
					callbacks: {
						title: (items) => {
							const r = ranges[items[0]?.dataIndex ?? 0];
							return r ? `${formatLatency(r[0])} – ${formatLatency(r[1])}` : '';
						},
						label: (item) => `${formatCount(Number(item.raw))} ${unit}`
					}
				}
			},
			scales: {
				x: { title: { display: true, text: axis }, ticks: { callback: (_v, i) => formatLatency(Number(labels[i])), maxRotation: 0, autoSkipPadding: 12 } },
				y: { title: { display: true, text: unit }, beginAtZero: true }
			}
		}
	};
}

/** Throughput (left axis) and p50 / p99 latency (right axis) per second. */
export function timelineConfig(
	seconds: number[],
	rps: number[],
	p50: number[],
	p99: number[],
	requested?: (number | null)[]
): ChartConfiguration {
	const datasets: any[] = [
		{ label: 'requests/s', data: rps, borderColor: seriesColor(0), backgroundColor: seriesColor(0), yAxisID: 'y', pointRadius: 0, borderWidth: 2 },
		{ label: 'p50', data: p50, borderColor: seriesColor(2), backgroundColor: seriesColor(2), yAxisID: 'y1', pointRadius: 0, borderWidth: 2 },
		{ label: 'p99', data: p99, borderColor: seriesColor(1), backgroundColor: seriesColor(1), yAxisID: 'y1', pointRadius: 0, borderWidth: 2 }
	];
	if (requested && requested.some((r) => r !== null)) {
		datasets.push({ label: 'requested/s', data: requested, borderColor: seriesColor(3), borderDash: [4, 4], yAxisID: 'y', pointRadius: 0, borderWidth: 1 });
	}
	return {
		type: 'line',
		data: { labels: seconds.map((s) => `${s}s`), datasets },
		options: countsAndLatencyOptions('requests/s')
	};
}

/**
 * Options of a line chart with counts on the left axis (`y`, titled `countTitle`) and
 * latencies on the right (`y1`); a latency with no samples that second shows as such.
 */
function countsAndLatencyOptions(countTitle: string): ChartConfiguration['options'] {
	return {
		animation: false,
		interaction: { mode: 'index', intersect: false },
		scales: {
			y: { position: 'left', beginAtZero: true, title: { display: true, text: countTitle }, ticks: { callback: (v) => formatCount(Number(v)) } },
			y1: { position: 'right', beginAtZero: true, title: { display: true, text: 'latency' }, grid: { drawOnChartArea: false }, ticks: { callback: latencyTick } }
		},
		plugins: {
			tooltip: {
				callbacks: {
					label: (item) =>
						item.dataset.yAxisID === 'y1'
							? `${item.dataset.label}: ${item.raw === null ? 'no samples' : formatLatency(Number(item.raw))}`
							: `${item.dataset.label}: ${formatCount(Number(item.raw))}`
				}
			}
		}
	};
}

const latencyLine = (label: string, data: (number | null)[], colour: number, yAxisID: string, dash?: number[]) => ({
	label,
	data,
	borderColor: seriesColor(colour),
	backgroundColor: seriesColor(colour),
	yAxisID,
	pointRadius: 2,
	borderWidth: 2,
	spanGaps: false,
	...(dash ? { borderDash: dash } : {})
});

/** A probe run per second: connects and closes (left axis), connect p99 and rtt p50 (right axis). */
export function probeTimelineConfig(
	seconds: number[],
	connects: number[],
	closes: number[],
	connectP99: (number | null)[],
	rttP50: (number | null)[]
): ChartConfiguration {
	const datasets: any[] = [
		{ label: 'connects/s', data: connects, borderColor: seriesColor(0), backgroundColor: seriesColor(0), yAxisID: 'y', pointRadius: 2, borderWidth: 2 },
		{ label: 'closes/s', data: closes, borderColor: seriesColor(5), backgroundColor: seriesColor(5), yAxisID: 'y', pointRadius: 2, borderWidth: 2, borderDash: [4, 3] },
		latencyLine('connect p99', connectP99, 1, 'y1'),
		latencyLine('rtt p50', rttP50, 2, 'y1')
	];
	return {
		type: 'line',
		data: { labels: seconds.map((s) => `${s}s`), datasets },
		options: countsAndLatencyOptions('per second')
	};
}

/** The application's p99 beside the kernel's rtt p50 and connect p99, per second of one run (log axis). */
export function kernelAlignConfig(
	seconds: number[],
	appP99: (number | null)[],
	rttP50: (number | null)[],
	connectP99: (number | null)[]
): ChartConfiguration {
	return {
		type: 'line',
		data: {
			labels: seconds.map((s) => `${s}s`),
			datasets: [
				latencyLine('application p99', appP99, 1, 'y'),
				latencyLine('kernel rtt p50', rttP50, 2, 'y'),
				latencyLine('kernel connect p99', connectP99, 0, 'y', [4, 3])
			] as any[]
		},
		options: {
			animation: false,
			interaction: { mode: 'index', intersect: false },
			scales: {
				x: { title: { display: true, text: 'second of the run' } },
				y: { type: 'logarithmic', title: { display: true, text: 'latency' }, ticks: { callback: logLatencyTick, autoSkip: false } }
			},
			plugins: {
				tooltip: {
					callbacks: {
						label: (item) => `${item.dataset.label}: ${item.raw === null ? '—' : formatLatency(Number(item.raw))}`
					}
				}
			}
		}
	};
}

/** The proxies' and the application's CPU (millicores) at each metrics sample of a run. */
export function resourceCpuConfig(seconds: number[], proxyCpu: number[], appCpu: number[]): ChartConfiguration {
	const line = (label: string, data: number[], colour: number, dash?: number[]) => ({
		label,
		data,
		borderColor: seriesColor(colour),
		backgroundColor: seriesColor(colour),
		pointRadius: 3,
		borderWidth: 2,
		...(dash ? { borderDash: dash } : {})
	});
	return {
		type: 'line',
		data: {
			labels: seconds.map((s) => `${Number(s.toFixed(1))}s`),
			datasets: [line('proxies', proxyCpu, 1), line('application', appCpu, 0, [4, 3])]
		},
		options: {
			animation: false,
			interaction: { mode: 'index', intersect: false },
			scales: {
				x: { title: { display: true, text: 'seconds since the run started' } },
				y: { beginAtZero: true, title: { display: true, text: 'CPU (millicores)' } }
			},
			plugins: {
				tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${formatClusterFigure(Number(item.raw))} millicores` } }
			}
		}
	};
}

/**
 * A series' runs: each run's value of one figure (valid runs as dots, invalid ones as red
 * crosses, outliers as triangles), the series' mean as a dashed line and its 95 % interval
 * as a shaded band.
 */
export function seriesRunsConfig(d: SeriesChartData): ChartConfiguration {
	const n = d.labels.length;
	const flat = (v: number | null) => Array.from({ length: n }, () => v);
	const format = (v: number) => formatFigure(v, d.unit);
	const band = 'rgba(37, 99, 235, 0.15)';
	// An invalid run may lie far off (a stalled target): latencies spanning decades go on a log axis.
	const values = [...d.valid, ...d.invalid, d.mean.low, d.mean.high].filter((v): v is number => v !== null && v > 0);
	const log = d.unit === 'µs' && values.length > 1 && Math.max(...values) / Math.min(...values) > 20;
	const datasets: any[] = [];
	if (d.mean.low !== null && d.mean.high !== null) {
		datasets.push(
			{ label: '95 % interval (low)', data: flat(d.mean.low), borderColor: 'transparent', backgroundColor: band, pointRadius: 0, borderWidth: 0, fill: false },
			{ label: '95 % interval of the mean', data: flat(d.mean.high), borderColor: 'transparent', backgroundColor: band, pointRadius: 0, borderWidth: 0, fill: '-1' }
		);
	}
	if (d.mean.estimate !== null) {
		datasets.push({ label: 'series mean', data: flat(d.mean.estimate), borderColor: seriesColor(0), backgroundColor: seriesColor(0), borderDash: [6, 4], pointRadius: 0, borderWidth: 2 });
	}
	datasets.push(
		{ label: `${d.label} of a valid run`, data: d.valid, borderColor: seriesColor(0), backgroundColor: seriesColor(0), showLine: false, pointRadius: 5, pointHoverRadius: 7 },
		{ label: 'invalid run (left out)', data: d.invalid, borderColor: seriesColor(1), backgroundColor: seriesColor(1), showLine: false, pointStyle: 'crossRot', pointRadius: 8, borderWidth: 3 },
		{ label: 'outlier (still counted)', data: d.outliers, borderColor: seriesColor(3), backgroundColor: seriesColor(3), showLine: false, pointStyle: 'triangle', pointRadius: 8 }
	);
	return {
		type: 'line',
		data: { labels: d.labels, datasets },
		options: {
			animation: false,
			interaction: { mode: 'index', intersect: false },
			scales: {
				x: { title: { display: true, text: 'run (in run order)' } },
				y: log
					? { type: 'logarithmic', title: { display: true, text: `${d.label} (log scale)` }, ticks: { callback: logLatencyTick, autoSkip: false } }
					: { title: { display: true, text: d.label }, ticks: { callback: (v) => format(Number(v)) } }
			},
			plugins: {
				legend: { labels: { filter: (item) => item.text !== '95 % interval (low)' } },
				tooltip: {
					filter: (item) => item.raw !== null && item.dataset.label !== '95 % interval (low)',
					callbacks: {
						label: (item) =>
							item.dataset.label === '95 % interval of the mean'
								? `95 % interval: ${format(d.mean.low as number)} – ${format(d.mean.high as number)}`
								: `${item.dataset.label}: ${format(Number(item.raw))}`
					}
				}
			}
		}
	};
}
