import { expect, test } from '@playwright/test';
import { NO_BPF, canvasHasInk, chartPoints, shot, startJob, waitFor, watchErrors } from './helpers';

// Runs in file order (one worker): the report test uses the runs the earlier tests made.

test('every page loads with no console errors', async ({ page }) => {
	const errors = watchErrors(page);
	const pages: [string, string][] = [
		['/', 'Service Mesh Benchmark Dashboard'],
		['/benchmarks', 'Benchmarks'],
		['/metrics', 'Metrics'],
		['/probes', 'eBPF Probes'],
		['/reports', 'Reports'],
		['/kubernetes', 'Kubernetes']
	];
	for (const [path, heading] of pages) {
		await page.goto(path);
		await expect(page.getByRole('heading', { level: 1, name: heading })).toBeVisible();
		await expect(page.getByText('Loading…')).toHaveCount(0);
		await shot(page, `page${path === '/' ? '-dashboard' : path.replace(/\//g, '-')}`);
	}
	// The states the server reports without a cluster (or a probe, on a BPF-less machine) are shown, not hidden.
	await page.goto('/kubernetes');
	await expect(page.getByTestId('k8s-not-configured')).toContainText('KUBECONFIG');
	await page.goto('/probes');
	await expect(page.getByTestId('probe-availability')).toContainText(NO_BPF ? 'not available' : 'The probe is available.');
	await page.goto('/');
	await expect(page.getByTestId('health')).toContainText('ok');
	expect(errors).toEqual([]);
});

test('a benchmark started from the form goes pending → running → completed without a reload', async ({ page, request }) => {
	const errors = watchErrors(page);
	// Keep the one in-process worker busy, so the new job is seen waiting first; the blocker
	// is cancelled once the new job has been seen pending, however slow the machine.
	const blocker = await startJob(request, { duration: 30, mesh_type: 'blocker' });
	let blockerCancelled = false;
	await waitFor(request, blocker, 'running');
	await page.goto('/benchmarks');
	await expect(page.getByTestId('socket-state')).toContainText('live');
	await page.getByLabel('Duration (s)').fill('4');
	await page.getByLabel('Connections').fill('4');
	await page.locator('#mesh_type').fill('baseline');
	await page.getByRole('button', { name: 'Start benchmark' }).click();
	await page.waitForURL(/\/benchmarks\/[0-9a-f-]{36}$/);
	const jobPath = new URL(page.url()).pathname;
	// Count the page's own fetches of the job: only the WebSocket may move it along.
	let jobFetches = 0;
	page.on('request', (r) => {
		if (new URL(r.url()).pathname === `${jobPath.replace('/benchmarks/', '/benchmarks/jobs/')}`) jobFetches++;
	});
	// A marker that a full reload would wipe out.
	await page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));
	const status = page.getByTestId('status').first();
	const seen: string[] = [];
	let fetchesWhenRunning = -1;
	await expect
		.poll(
			async () => {
				const now = (await status.textContent())?.trim() ?? '';
				if (seen[seen.length - 1] !== now) seen.push(now);
				if (now === 'pending' && !blockerCancelled) {
					blockerCancelled = true;
					expect((await request.delete(`/benchmarks/jobs/${blocker}`)).status()).toBe(200);
				}
				if (now === 'running' && fetchesWhenRunning < 0) fetchesWhenRunning = jobFetches;
				return now;
			},
			{ timeout: 60_000, intervals: [100] }
		)
		.toBe('completed');
	expect(seen, `statuses seen: ${seen.join(' → ')}`).toEqual(['pending', 'running', 'completed']);
	// No fetch moved it to running (at most the page's first load had happened by then).
	expect(fetchesWhenRunning).toBeGreaterThanOrEqual(0);
	expect(fetchesWhenRunning).toBeLessThanOrEqual(1);
	expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);

	// The result renders: numbers and charts that hold data.
	await expect(page.getByTestId('percentiles')).toContainText('p99.9');
	await expect(page.getByTestId('status-codes')).toContainText('HTTP 200');
	for (const chart of ['spectrum-chart', 'histogram-chart', 'timeline-chart']) {
		await expect.poll(() => chartPoints(page, chart), { message: chart }).toBeGreaterThan(2);
		expect(await canvasHasInk(page, chart)).toBe(true);
	}
	await shot(page, 'result');
	expect(errors).toEqual([]);
});

test('the live chart grows while a job runs, and a running job can be cancelled', async ({ page, request }) => {
	const errors = watchErrors(page);
	const jobId = await startJob(request, { duration: 60, mesh_type: 'cancel-me' });
	await page.goto(`/benchmarks/${jobId}`);
	await expect(page.getByTestId('status').first()).toHaveText('running', { timeout: 30_000 });
	await expect(page.getByTestId('live')).toContainText(/second -?\d+:/, { timeout: 15_000 });
	// The chart grows by one second at a time, over the socket.
	const first = await chartPoints(page, 'live-chart');
	expect(first).toBeGreaterThan(0);
	await expect.poll(() => chartPoints(page, 'live-chart'), { timeout: 10_000 }).toBeGreaterThan(first);
	expect(await canvasHasInk(page, 'live-chart')).toBe(true);
	await shot(page, 'live');
	await page.getByRole('button', { name: 'Cancel job' }).click();
	await expect(page.getByTestId('status').first()).toHaveText('cancelled', { timeout: 30_000 });
	await shot(page, 'cancelled');
	expect(errors).toEqual([]);
});

test('a bad form value shows the API’s message beside its field', async ({ page }) => {
	const errors = watchErrors(page);
	await page.goto('/benchmarks');
	await page.getByLabel('Duration (s)').fill('0');
	await page.getByLabel('Connections').fill('999999999');
	await page.getByRole('button', { name: 'Start benchmark' }).click();
	await expect(page.getByTestId('error-duration')).toContainText('must be between');
	await expect(page.getByTestId('error-concurrent_connections')).toContainText('must be between 1 and');
	await expect(page.getByLabel('Duration (s)')).toHaveAttribute('aria-invalid', 'true');
	await expect(page).toHaveURL(/\/benchmarks$/);
	await shot(page, 'form-errors');
	// The browser logs the 422 answer as a failed resource load; nothing else may appear.
	expect(errors.filter((e) => !e.includes('422'))).toEqual([]);
});

test('two runs compare side by side, and the comparison exports', async ({ page, request }) => {
	const errors = watchErrors(page);
	// Open-model runs at a rate the generator holds on a busy host: valid, so the summary
	// (valid runs only) has both meshes.
	const base = await startJob(request, { duration: 3, mesh_type: 'baseline', rate: 200 });
	const mesh = await startJob(request, { duration: 3, mesh_type: 'istio', concurrent_connections: 8, rate: 200 });
	await waitFor(request, base, 'completed');
	await waitFor(request, mesh, 'completed');
	await page.goto('/metrics');
	await page.getByLabel(`Compare baseline run ${base.slice(0, 8)}`).check();
	await page.getByLabel(`Compare istio run ${mesh.slice(0, 8)}`).check();
	await expect(page.getByTestId('delta-table')).toContainText('(reference)');
	await expect(page.getByTestId('delta-table')).toContainText('p99.99');
	await expect(page.getByTestId('config-warning')).toContainText('connections');
	await expect.poll(() => chartPoints(page, 'compare-chart')).toBeGreaterThan(4);
	expect(await canvasHasInk(page, 'compare-chart')).toBe(true);
	await expect(page).toHaveURL(new RegExp(`jobs=${base}%2C${mesh}|jobs=${base},${mesh}`));

	const csvDownload = page.waitForEvent('download');
	await page.getByRole('button', { name: 'Export CSV' }).click();
	const csv = await csvDownload;
	expect(csv.suggestedFilename()).toBe('meshbench-comparison.csv');
	const jsonDownload = page.waitForEvent('download');
	await page.getByRole('button', { name: 'Export JSON' }).click();
	const json = await jsonDownload;
	const { readFile } = await import('node:fs/promises');
	const doc = JSON.parse(await readFile((await json.path()) as string, 'utf8'));
	expect(doc.schema).toBe('meshbench.comparison.v1');
	expect(doc.runs.map((r: { job_id: string }) => r.job_id)).toEqual([base, mesh]);
	const csvText = await readFile((await csv.path()) as string, 'utf8');
	expect(csvText.split('\n')[0]).toBe('metric,unit,job_id,run,value,delta,delta_pct');

	await shot(page, 'comparison');
	// Mesh-vs-baseline mode, from a page with nothing picked, finds the latest run of each.
	await page.goto('/metrics');
	await expect(page.getByTestId('delta-table')).toHaveCount(0);
	await page.getByRole('button', { name: 'Mesh vs baseline' }).click();
	await page.getByLabel('Mesh', { exact: true }).fill('baseline');
	await page.getByRole('button', { name: 'Compare latest runs' }).click();
	await expect(page.getByTestId('mesh-message')).toContainText('other than baseline');
	await page.getByLabel('Mesh', { exact: true }).fill('istio');
	await page.getByRole('button', { name: 'Compare latest runs' }).click();
	await expect(page).toHaveURL(/jobs=/);
	await expect(page.getByTestId('delta-table')).toContainText(`istio · ${mesh.slice(0, 8)}`);
	await expect(page.getByTestId('mesh-summary')).toContainText('istio');
	expect(errors).toEqual([]);
});

test('a report is generated from runs, listed and downloadable, and its share link revoked', async ({ page, request }) => {
	const errors = watchErrors(page);
	const jobs = await (await request.get('/metrics/results?limit=2')).json();
	expect(jobs.length).toBeGreaterThan(0);
	await page.goto('/reports');
	await page.getByLabel('Title').fill('Nightly mesh check');
	await page.getByLabel('Format').selectOption('markdown');
	await page.locator(`input[value="${jobs[0].job_id}"]`).check();
	await page.getByRole('button', { name: 'Generate report' }).click();
	await expect(page.getByTestId('reports-table')).toContainText('Nightly mesh check');
	const download = page.waitForEvent('download');
	await page.getByRole('link', { name: 'Download' }).first().click();
	const file = await download;
	expect(file.suggestedFilename()).toMatch(/^meshbench-report-[0-9a-f]{8}\.md$/);
	await shot(page, 'reports');
	// Its share link works until it is revoked.
	const reports = (await (await request.get('/reports?limit=100')).json()) as { title: string; share_url?: string | null; created_at: string }[];
	const shared = reports.filter((r) => r.title === 'Nightly mesh check').sort((x, y) => y.created_at.localeCompare(x.created_at))[0];
	expect(shared?.share_url).toBeTruthy();
	expect((await request.get(shared.share_url!)).status()).toBe(200);
	const row = page.getByTestId('reports-table').locator('tr', { hasText: 'Nightly mesh check' }).first();
	await row.getByRole('button', { name: 'Revoke the share link of Nightly mesh check' }).click();
	await expect(row).toContainText('link revoked');
	await expect(row.getByRole('button', { name: 'Copy share link' })).toHaveCount(0);
	expect((await request.get(shared.share_url!)).status()).toBe(404);
	// No runs picked: the API's message appears beside the list.
	await page.getByRole('button', { name: 'Generate report' }).click();
	await expect(page.getByTestId('error-job_ids')).toBeVisible();
	expect(errors.filter((e) => !e.includes('422'))).toEqual([]);
});

test('the theme switches between light and dark and is remembered', async ({ page }) => {
	await page.goto('/');
	const dark = await page.evaluate(() => document.documentElement.classList.contains('dark'));
	await page.getByRole('button', { name: /Switch to (dark|light) theme/ }).click();
	expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(!dark);
	await page.reload();
	expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(!dark);
	await shot(page, 'theme');
});

test('job history filters, sorts and pages', async ({ page, request }) => {
	const errors = watchErrors(page);
	// 22 jobs of one mesh, cancelled at once: a history longer than a page.
	const ids: string[] = [];
	for (let i = 0; i < 22; i++) ids.push(await startJob(request, { duration: 1, mesh_type: 'paging' }));
	for (const id of ids) await request.delete(`/benchmarks/jobs/${id}`);
	for (const id of ids) {
		await expect
			.poll(async () => (await (await request.get(`/benchmarks/jobs/${id}`)).json()).status, { timeout: 30_000 })
			.toMatch(/cancelled|completed/);
	}
	await page.goto('/benchmarks');
	await page.getByLabel('Mesh').nth(1).fill('paging');
	await page.getByRole('button', { name: 'Apply' }).click();
	await expect(page.getByText('1–20 of 22')).toBeVisible();
	await expect(page.getByTestId('jobs-table').locator('tbody tr')).toHaveCount(20);
	await page.getByRole('button', { name: 'Next →' }).click();
	await expect(page.getByText('21–22 of 22')).toBeVisible();
	await expect(page.getByTestId('jobs-table').locator('tbody tr')).toHaveCount(2);

	// Sorting by a column says so to assistive technology too.
	await page.getByRole('button', { name: 'Status' }).click();
	await expect(page.getByRole('columnheader', { name: /Status/ })).toHaveAttribute('aria-sort', 'ascending');
	await expect(page.getByText('1–20 of 22')).toBeVisible();

	// Dates are local days: nothing was created tomorrow.
	const tomorrow = new Date(Date.now() + 86_400_000);
	const day = `${tomorrow.getFullYear()}-${String(tomorrow.getMonth() + 1).padStart(2, '0')}-${String(tomorrow.getDate()).padStart(2, '0')}`;
	await page.getByLabel('Created from').fill(day);
	await page.getByRole('button', { name: 'Apply' }).click();
	await expect(page.getByText('No jobs match')).toBeVisible();
	await page.getByRole('button', { name: 'Reset' }).click();
	await expect(page.getByTestId('jobs-table')).toBeVisible();
	await shot(page, 'history');
	expect(errors).toEqual([]);
});

test('a WebSocket benchmark runs from the form and shows its own figures', async ({ page }) => {
	const errors = watchErrors(page);
	await page.goto('/benchmarks');
	await page.getByLabel('Test type').selectOption('websocket');
	await expect(page.getByTestId('websocket-options')).toBeVisible();
	await page.getByLabel('Duration (s)').fill('2');
	await page.getByLabel('Connections', { exact: true }).fill('5');
	await page.getByLabel('Message size (bytes)').fill('512');
	await page.getByLabel('Messages/s per connection').fill('20');
	await page.getByRole('button', { name: 'Start benchmark' }).click();
	await page.waitForURL(/\/benchmarks\/[0-9a-f-]{36}$/);
	await expect(page.getByTestId('status').first()).toHaveText('completed', { timeout: 30_000 });
	const figures = page.getByTestId('websocket-figures');
	await expect(figures).toContainText('connections opened');
	await expect(figures).toContainText('512 B text');
	await expect(page.getByTestId('status-codes')).toContainText('carry no status code');
	await expect.poll(() => chartPoints(page, 'spectrum-chart')).toBeGreaterThan(2);
	await shot(page, 'websocket-result');
	expect(errors).toEqual([]);
});

test('a gRPC benchmark runs from the form and shows its statuses', async ({ page }) => {
	const errors = watchErrors(page);
	await page.goto('/benchmarks');
	await page.getByLabel('Test type').selectOption('grpc');
	await expect(page.getByTestId('grpc-options')).toBeVisible();
	await page.getByLabel('Duration (s)').fill('2');
	await page.getByLabel('Connections', { exact: true }).fill('2');
	await page.getByLabel('Streams per connection').fill('4');
	await page.getByLabel('Method (package.Service/Method)').fill('meshbench.echo.v1.Echo/ServerStream');
	await page.getByLabel('Request message(s), JSON').fill('{"responses": 3}');
	await page.getByRole('button', { name: 'Start benchmark' }).click();
	await page.waitForURL(/\/benchmarks\/[0-9a-f-]{36}$/);
	await expect(page.getByTestId('status').first()).toHaveText('completed', { timeout: 30_000 });
	const figures = page.getByTestId('grpc-figures');
	await expect(figures).toContainText('server streaming');
	await expect(figures).toContainText('OK');
	await expect(page.getByTestId('grpc-stream-timing')).toContainText('first message');
	await shot(page, 'grpc-result');

	// A message that does not fit is refused before anything runs, beside its field.
	await page.goto('/benchmarks');
	await page.getByLabel('Test type').selectOption('grpc');
	await page.getByLabel('Request message(s), JSON').fill('{oops');
	await page.getByRole('button', { name: 'Start benchmark' }).click();
	await expect(page.getByTestId('error-data')).toContainText('JSON');
	expect(errors).toEqual([]);
});

test('an LLM streaming benchmark shows time to first token and inter-token latency', async ({ page }) => {
	const errors = watchErrors(page);
	await page.goto('/benchmarks');
	await page.getByLabel('Test type').selectOption('ml');
	await expect(page.getByTestId('ml-options')).toBeVisible();
	await page.getByLabel('Duration (s)').fill('2');
	await page.getByLabel('Connections', { exact: true }).fill('4');
	await page.getByLabel('Max tokens').fill('12');
	await page.getByRole('button', { name: 'Start benchmark' }).click();
	await page.waitForURL(/\/benchmarks\/[0-9a-f-]{36}$/);
	await expect(page.getByTestId('status').first()).toHaveText('completed', { timeout: 30_000 });
	const figures = page.getByTestId('ml-figures');
	await expect(figures).toContainText('time to first token');
	await expect(figures).toContainText('inter-token latency');
	await expect(figures).toContainText('output tokens');
	await shot(page, 'ml-result');

	// A model the server lacks fails the job, and the page says why.
	await page.goto('/benchmarks');
	await page.getByLabel('Test type').selectOption('ml');
	await page.getByLabel('Model', { exact: true }).fill('gpt-nope');
	await page.getByLabel('Duration (s)').fill('1');
	await page.getByRole('button', { name: 'Start benchmark' }).click();
	await page.waitForURL(/\/benchmarks\/[0-9a-f-]{36}$/);
	await expect(page.getByTestId('status').first()).toHaveText('failed', { timeout: 30_000 });
	await expect(page.getByRole('note')).toContainText('does not exist');
	expect(errors).toEqual([]);
});
