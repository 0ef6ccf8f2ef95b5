import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { canvasHasInk, chartPoints, shot, startJob, targetPort, waitFor, watchErrors } from './helpers';

// Series, validity and comparisons with intervals, against the built-in target. The first test
// starts everything through the API and the others read it, so they run in file order:
//  - a group of two series, 3 runs each, interleaved (A B B A A B): A `baseline` against
//    `?delay=1ms`, B `istio` against `?delay=2ms`, both open-model 100 req/s over one
//    connection (one configuration label, so /metrics/summary puts an overhead on them);
//    the target is paused for 2 s while the group's first run measures, so that run cannot keep
//    its rate and the server marks it invalid: a series with an invalid run among valid ones;
//  - a run whose rate cannot be met at all (100 req/s over one connection to `?delay=20ms`);
//  - a valid run configured otherwise (2 connections, 50 req/s), to compare against.
test.describe.configure({ mode: 'serial' });

interface Setup {
	/** The series holding the paused (invalid) run, and the other one. */
	withInvalid: string;
	other: string;
	paused: string;
	unreachableRate: string;
	otherwise: string;
}
let setup: Setup;

const short = (id: string) => id.slice(0, 8);
const job = async (request: APIRequestContext, id: string) => (await request.get(`/benchmarks/jobs/${id}`)).json();

/** Client-side navigation by clicking a link: `meshbench serve` hands a browser the dashboard only at the paths it knows. */
async function followLink(page: Page, href: string): Promise<void> {
	// Inside the app, once it has started (the router handles clicks within it).
	await expect(page.getByTestId('socket-state')).toBeVisible();
	await page.evaluate((h) => {
		const a = document.createElement('a');
		a.href = h;
		(document.getElementById('main') as HTMLElement).appendChild(a);
		a.click();
		a.remove();
	}, href);
	await page.waitForURL((u) => `${u.pathname}${u.search}` === href);
}

test('a group of series runs interleaved, and invalid runs are marked with their reasons', async ({ page, request }) => {
	const errors = watchErrors(page);
	const target = `http://127.0.0.1:${await targetPort(request)}/`;
	const config = (mesh: string, delay: string) => ({
		test_type: 'http',
		mesh_type: mesh,
		service_url: `${target}?delay=${delay}`,
		duration: 2,
		warmup: 0,
		rate: 100,
		concurrent_connections: 1
	});
	const r = await request.post('/series/start', { data: { repeats: 3, configurations: [config('baseline', '1ms'), config('istio', '2ms')] } });
	expect(r.status(), await r.text()).toBe(202);
	const started = (await r.json()) as { job_ids: string[]; series_ids: string[]; series_group: string };
	expect(started.job_ids).toHaveLength(6);
	expect(started.series_ids).toHaveLength(2);
	const paused = started.job_ids[0];
	// Stall the target while the first run measures (once its first second is in, so the pause
	// cannot fall before the engine's clock starts): its backlog goes out late, so it misses its rate.
	await expect
		.poll(
			async () => {
				const j = await job(request, paused);
				return j.status === 'running' && j.progress > 0 && j.progress < 1 ? 'measuring' : j.status;
			},
			{ timeout: 60_000, intervals: [25] }
		)
		.toBe('measuring');
	const pause = await request.post(`${target}control/pause?duration=2s`);
	expect(pause.status()).toBe(200);
	const unreachableRate = await startJob(request, { mesh_type: 'istio', service_url: `${target}?delay=20ms`, rate: 100, concurrent_connections: 1, duration: 1, warmup: 0 });
	const otherwise = await startJob(request, { mesh_type: 'istio', service_url: `${target}?delay=2ms`, rate: 50, concurrent_connections: 2, duration: 1, warmup: 0 });
	for (const id of [...started.job_ids, unreachableRate, otherwise]) await waitFor(request, id, 'completed');

	const pausedJob = await job(request, paused);
	expect(pausedJob.invalid_reasons.join(' '), 'the paused run missed its rate').toContain('requested');
	const withInvalid = pausedJob.series.series_id as string;
	const other = started.series_ids.find((s) => s !== withInvalid) as string;
	expect((await job(request, unreachableRate)).invalid_reasons.length).toBeGreaterThan(0);
	expect((await job(request, otherwise)).invalid_reasons).toEqual([]);
	setup = { withInvalid, other, paused, unreachableRate, otherwise };

	// The listing: invalid runs carry a badge whose tooltip gives the reasons; series runs link to their series.
	await page.goto('/benchmarks');
	const row = (id: string) => page.getByTestId('jobs-table').locator(`tr[data-job-id="${id}"]`);
	for (const id of [unreachableRate, paused]) {
		const badge = row(id).getByTestId('invalid-badge');
		await expect(badge).toHaveText('invalid');
		await expect(badge).toHaveAttribute('title', /req\/s of the 100(\.0)? requested/);
	}
	await expect(row(otherwise).getByTestId('invalid-badge')).toHaveCount(0);
	await expect(row(paused).getByTestId('series-link')).toHaveText(`series ${short(withInvalid)}`);
	await expect(row(unreachableRate).getByTestId('series-link')).toHaveCount(0);
	await shot(page, 'series-listing');

	// The job page lists the reasons in full, and links to the series.
	await row(unreachableRate).getByRole('link', { name: short(unreachableRate) }).click();
	await expect(page.getByTestId('status').first()).toHaveText('completed');
	await expect(page.getByTestId('invalid-badge')).toBeVisible();
	await expect(page.getByTestId('invalid-reasons')).toContainText('left out of every series statistic');
	await expect(page.getByTestId('invalid-reasons')).toContainText(/achieved [\d.]+ req\/s of the 100(\.0)? requested/);
	await shot(page, 'series-invalid-job');
	await page.goBack();
	await row(paused).getByRole('link', { name: short(paused) }).click();
	await expect(page.getByTestId('job-series')).toContainText(short(withInvalid));
	expect(errors).toEqual([]);
});

test('a series page shows its runs, figures with intervals, left-out runs and a chart', async ({ page }) => {
	const errors = watchErrors(page);
	await page.goto('/benchmarks');
	await page.getByTestId('jobs-table').locator(`tr[data-job-id="${setup.paused}"]`).getByTestId('series-link').click();
	await expect(page).toHaveURL(new RegExp(`/series/${setup.withInvalid}$`));
	await expect(page.getByRole('heading', { level: 1 })).toHaveText(`Series ${short(setup.withInvalid)}`);
	await expect(page.getByTestId('series-progress')).toHaveText('all 3 runs finished');
	await expect(page.getByTestId('series-settings')).toContainText('open model, 100/s');

	const runs = page.getByTestId('series-runs');
	await expect(runs.locator('tbody tr')).toHaveCount(3);
	const pausedRow = runs.locator(`tr[data-job-id="${setup.paused}"]`);
	await expect(pausedRow.getByTestId('invalid-badge')).toBeVisible();
	await expect(pausedRow.getByTestId('run-reasons')).toContainText('requested');
	await expect(runs.getByTestId('invalid-badge')).toHaveCount(1);

	await expect(page.getByTestId('series-counts')).toContainText('2 of 3 completed runs valid');
	const figures = page.getByTestId('series-figures');
	await expect(figures.locator('tbody tr')).toHaveCount(7);
	for (const f of ['p50', 'p90', 'p99', 'p99.9', 'mean latency', 'throughput', 'errors']) await expect(figures).toContainText(f);
	await expect(figures.locator('tr[data-figure="p50"]').getByTestId('figure-interval')).toHaveText(/[\d.]+ (µs|ms|s) – [\d.]+ (µs|ms|s)/);
	// Two valid runs: p50's interval pools their seconds (fewer than 5 runs); each method is said in words.
	await expect(figures.locator('tr[data-figure="p50"]')).toContainText("fewer than 5 valid runs, so every run's seconds are pooled");
	for (const tr of await figures.locator('tbody tr').all()) await expect(tr).toContainText(/over (seconds: fewer than 5 valid runs|runs: one value per valid run)/);
	await expect(page.getByTestId('series-left-out')).toContainText(`${short(setup.paused)}: `);

	await expect.poll(() => chartPoints(page, 'series-chart')).toBeGreaterThan(3);
	expect(await canvasHasInk(page, 'series-chart')).toBe(true);
	await expect(page.getByTestId('series-band')).toContainText('shaded band: its 95 % interval');
	await page.getByLabel('Figure').selectOption('p99');
	await expect(page.getByTestId('series-band')).toContainText('95 % interval');
	await shot(page, 'series-page');

	// Its sibling is linked, and compared in place.
	await expect(page.getByTestId('sibling-link')).toHaveText(short(setup.other));
	await page.getByRole('button', { name: `Compare with ${short(setup.other)}` }).click();
	const inPlace = page.getByTestId('sibling-comparison');
	await expect(inPlace.getByTestId('compare-table').locator('tbody tr')).toHaveCount(7);
	await expect(inPlace.getByTestId('compare-chart-p50').getByTestId('error-bar')).toHaveCount(2);
	await expect(inPlace.getByTestId('compare-left-out')).toContainText(short(setup.paused));
	expect(errors).toEqual([]);
});

test('the comparison page shows intervals as error bars, verdicts, left-out runs, differing settings and gates', async ({ page }) => {
	const errors = watchErrors(page);
	await page.goto('/benchmarks');
	await expect(page.getByTestId('jobs-table')).toBeVisible();
	// The way a person gets there from a series: its page's "Open on the comparison page".
	await followLink(page, `/series/${setup.withInvalid}`);
	await page.getByRole('button', { name: `Compare with ${short(setup.other)}` }).click();
	await page.getByRole('link', { name: 'Open on the comparison page' }).click();
	await expect(page).toHaveURL(new RegExp(`/compare\\?baseline=${setup.withInvalid}&candidate=${setup.other}$`));
	await expect(page.getByRole('heading', { level: 1, name: 'Compare' })).toBeVisible();
	await expect(page.getByLabel('Baseline', { exact: true })).toHaveValue(setup.withInvalid);

	const result = page.getByTestId('comparison-result');
	const table = result.getByTestId('compare-table');
	await expect(table.locator('tbody tr')).toHaveCount(7);
	// 1 ms against 2 ms of delay: the candidate's median is worse; neither side had an error, so no difference there.
	await expect(table.locator('tr[data-figure="p50"]').getByTestId('verdict')).toHaveText('worse');
	await expect(table.locator('tr[data-figure="errors"]').getByTestId('verdict')).toHaveText('no significant difference');
	await expect(table.locator('tr[data-figure="p50"]')).toContainText(/\+\d+ %/);
	// Every figure is a panel with two error bars (baseline, candidate), each bar with its bounds in order.
	for (const f of ['p50', 'p90', 'p99', 'p999', 'mean', 'rps', 'errors']) {
		const bars = result.getByTestId(`compare-chart-${f}`).getByTestId('error-bar');
		await expect(bars).toHaveCount(2);
		await expect(bars.first()).toHaveAttribute('data-tone', 'baseline');
		await expect(bars.last()).toHaveAttribute('data-tone', 'candidate');
	}
	const p50 = result.getByTestId('compare-chart-p50').getByTestId('error-bar').last();
	expect(Number(await p50.getAttribute('data-low'))).toBeLessThan(Number(await p50.getAttribute('data-high')));
	const change = result.getByTestId('change-chart');
	await expect(change.getByTestId('zero-line')).toHaveCount(1);
	expect(await change.getByTestId('error-bar').count()).toBeGreaterThanOrEqual(6);
	await expect(change.locator('g[data-row="p50"] [data-testid="error-bar"]')).toHaveAttribute('data-tone', 'worse');
	// The invalid run is left out and named, with its reasons, on the side it came from.
	await expect(result.getByTestId('side-baseline')).toContainText('2 of 3 runs compared, 1 left out as invalid');
	await expect(result.getByTestId('compare-left-out')).toContainText('1 invalid run left out (1 baseline, 0 candidate)');
	await expect(result.getByTestId('left-out-run')).toContainText(`${short(setup.paused)}: `);
	await expect(result.getByTestId('left-out-run')).toContainText('requested');
	await expect(result.getByTestId('compare-warnings')).toHaveCount(0);

	// Gates: the median got worse by far more than 20 %, and p99 stayed under a second.
	await page.getByLabel('Most regression allowed').fill('p50=20%');
	await page.getByLabel('Thresholds for the candidate').fill('p99<1s');
	await page.getByRole('button', { name: 'Compare', exact: true }).click();
	await expect(page).toHaveURL(/max_regression=p50%3D20%25/);
	const gates = result.getByTestId('gates-table');
	await expect(gates.locator('tr', { hasText: 'p50=20%' }).getByTestId('gate-outcome')).toHaveText('✗ failed');
	await expect(gates.locator('tr', { hasText: 'p99<1s' }).getByTestId('gate-outcome')).toHaveText('✓ passed');
	await expect(result.getByTestId('gates-verdict')).toHaveText('✗ a gate failed');
	await shot(page, 'series-compare');

	// Against a run configured otherwise: every differing setting is listed.
	await page.getByLabel('Candidate', { exact: true }).fill(setup.otherwise);
	await page.getByLabel('Most regression allowed').fill('');
	await page.getByLabel('Thresholds for the candidate').fill('');
	await page.getByRole('button', { name: 'Compare', exact: true }).click();
	const warnings = result.getByTestId('compare-warnings');
	await expect(warnings).toContainText('connections differs: baseline 1, candidate 2');
	await expect(warnings).toContainText('rate differs');
	await expect(result.getByTestId('side-candidate')).toContainText('1 of 1 run compared');

	// A gate the server cannot read is named beside its field; a side with no valid run beside its own.
	await page.getByLabel('Most regression allowed').fill('p50=lots');
	await page.getByRole('button', { name: 'Compare', exact: true }).click();
	await expect(page.getByTestId('error-max_regression')).toContainText('not a percentage');
	await page.getByLabel('Most regression allowed').fill('');
	await page.getByLabel('Candidate', { exact: true }).fill(setup.unreachableRate);
	await page.getByRole('button', { name: 'Compare', exact: true }).click();
	await expect(page.getByTestId('error-candidate')).toContainText('no valid run on the candidate side');
	expect(errors.filter((e) => !e.includes('422'))).toEqual([]);
});

test('the metrics overview shows each configuration’s overhead with its interval and the invalid runs left out', async ({ page, request }) => {
	const errors = watchErrors(page);
	await page.goto('/metrics');
	await expect(page.getByTestId('invalid-runs-note')).toContainText(/\d+ invalid runs? left out/);
	await expect(page.getByTestId('invalid-runs-note')).toContainText('istio http');
	const config = 'c=1 100/s h1 GET body=0B';
	await expect(page.getByTestId('mesh-summary').locator('tr', { hasText: config })).toHaveCount(2);

	const chart = page.getByTestId('overhead-chart');
	await page.getByLabel('Figure').selectOption('p50');
	const bar = chart.locator(`g[data-row="http|istio|${config}"] [data-testid="error-bar"]`);
	await expect(bar).toHaveCount(1);
	expect(Number(await bar.getAttribute('data-low'))).toBeLessThan(Number(await bar.getAttribute('data-high')));
	await expect(chart.getByTestId('zero-line')).toHaveCount(1);
	const row = page.getByTestId('overhead-table').locator('tr', { hasText: config });
	await expect(row).toContainText('3 / 2');
	await shot(page, 'series-overhead');
	// Both sides kept their 100 req/s: the throughput overhead is marked when it is not significant.
	const summary = await (await request.get('/metrics/summary')).json();
	const throughput = summary.overhead.find((o: { mesh_type: string; config: string }) => o.mesh_type === 'istio' && o.config === config).throughput;
	await page.getByLabel('Figure').selectOption('rps');
	await expect(row.getByTestId('not-significant')).toHaveCount(throughput.significant ? 0 : 1);
	await expect(chart.locator(`g[data-row="http|istio|${config}"] [data-testid="error-bar"]`)).toHaveAttribute('data-tone', throughput.significant ? /better|worse/ : 'neutral');
	expect(errors).toEqual([]);
});

test('a start with repeats from the form links to its series, which follows the runs until done', async ({ page, request }) => {
	const errors = watchErrors(page);
	const target = `http://127.0.0.1:${await targetPort(request)}/`;
	await page.goto('/benchmarks');
	await page.locator('#mesh_type').fill('form-series');
	await page.getByLabel('Target URL').fill(`${target}?delay=1ms`);
	await page.getByLabel('Duration (s)').fill('1');
	await page.getByLabel('Connections').fill('1');
	await page.locator('#rate').fill('50');
	await page.getByText('Request options').click();
	await page.getByLabel('Repeats').fill('2');
	await page.getByRole('button', { name: 'Start benchmark' }).click();
	const link = page.getByTestId('started-series').getByRole('link');
	await expect(link).toHaveCount(1);
	await link.click();
	await expect(page).toHaveURL(/\/series\/[0-9a-f-]{36}$/);
	await expect(page.getByTestId('series-progress')).toContainText('updating');
	await expect(page.getByTestId('series-progress')).toHaveText('all 2 runs finished', { timeout: 30_000 });
	await expect(page.getByTestId('series-figures').locator('tbody tr')).toHaveCount(7);
	await expect(page.getByTestId('siblings')).toHaveCount(0);
	expect(errors).toEqual([]);
});
