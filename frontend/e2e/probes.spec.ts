import { expect, test } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import { NO_BPF, canvasHasInk, chartPoints, shot, startJob, targetPort, waitFor, watchErrors } from './helpers';

// The eBPF probe against the real server (root, BPF allowed). On a machine declared BPF-less
// (MESHBENCH_NO_BPF=1) the same tests check that the reason is shown instead.

test('a probe watches the built-in target live, and its report shows connects, charts and a CSV download', async ({ page, request }) => {
	const errors = watchErrors(page);
	await page.goto('/probes');
	const availability = page.getByTestId('probe-availability');
	if (NO_BPF) {
		await expect(availability).toContainText('The probe is not available.');
		await expect(page.getByTestId('probe-reason')).toContainText('MESHBENCH_NO_BPF=1');
		// Starting one anyway: the API's 503 and its reason.
		await page.getByLabel('Duration (s)').fill('4');
		await page.getByRole('button', { name: 'Start probe' }).click();
		await expect(page.getByTestId('probe-error')).toContainText('BPF-less');
		await shot(page, 'probe-unavailable');
		expect(errors.filter((e) => !e.includes('503'))).toEqual([]);
		return;
	}
	await expect(availability).toContainText('The probe is available.');
	const port = await targetPort(request);

	await page.getByLabel('Duration (s)').fill('6');
	await page.getByLabel('Ports').fill(String(port));
	await page.getByLabel('Output format').selectOption('csv');
	await page.getByRole('button', { name: 'Start probe' }).click();
	await page.waitForURL(/\/probes\?id=[0-9a-f-]{36}$/);
	const probeId = new URL(page.url()).searchParams.get('id') as string;
	const view = page.getByTestId('probe-view');
	await expect(view.getByTestId('status')).toHaveText('running');

	// Its seconds arrive over the socket: in the running list and in the run's own view. The
	// first one also says the probe is attached (a job is "running" while its programs load,
	// which takes a while on a busy machine), so traffic started now is seen.
	const row = page.getByTestId('running-probe').filter({ hasText: probeId.slice(0, 8) });
	await expect(row.getByTestId('running-probe-second')).toContainText(/^\d of 6$/);

	// Traffic for it to see: a benchmark against the same target, opening its connections now.
	const jobId = await startJob(request, { duration: 2, mesh_type: 'probe-traffic' });
	await expect(view.getByTestId('probe-live-second')).toContainText(/second \d+: \d+ connects · \d+ closes · connect p99 .+ · rtt p50/);
	await expect.poll(() => chartPoints(page, 'probe-live-chart')).toBeGreaterThan(0);
	await shot(page, 'probe-live');

	await expect(view.getByTestId('status')).toHaveText('completed', { timeout: 20_000 });
	await expect(page.getByTestId('running-probes')).toHaveCount(0);
	const connects = Number((await page.getByTestId('probe-headline-connects').textContent())?.replace(/[^\d]/g, ''));
	expect(connects).toBeGreaterThan(0);
	await expect(page.getByTestId('probe-headline-connect-p99')).toContainText(/\d.*(µs|ms)/);
	await expect(page.getByTestId('probe-latency')).toContainText('exchange time');
	await expect(page.getByTestId('probe-counts')).toContainText('retransmits');
	for (const chart of ['probe-timeline-chart', 'probe-hist-connections', 'probe-hist-rtt_us', 'probe-hist-exchange_time_us']) {
		await expect.poll(() => chartPoints(page, chart), { message: chart }).toBeGreaterThan(0);
		expect(await canvasHasInk(page, chart), chart).toBe(true);
	}
	// The run is in the history, linking back to this view.
	await expect(page.getByTestId('probe-history').getByRole('link', { name: probeId.slice(0, 8) })).toHaveAttribute('href', `/probes?id=${probeId}`);
	await shot(page, 'probe-report');

	const download = page.waitForEvent('download');
	await page.getByRole('link', { name: 'Download CSV' }).click();
	const file = await download;
	expect(file.suggestedFilename()).toBe(`meshbench-probe-${probeId}.csv`);
	const [header, values] = (await readFile((await file.path()) as string, 'utf8')).split('\n');
	expect(header).toMatch(/^started_at,duration_s,ports,.*,connects,/);
	expect(values).toContain(`,${port},`);

	// Opened afresh from its address, the view shows the same report.
	await page.goto(`/probes?id=${probeId}`);
	await expect(page.getByTestId('probe-headline-connects')).toHaveText(String(connects));
	await waitFor(request, jobId, 'completed');
	expect(errors).toEqual([]);
});

test('a probe filter the API refuses is shown beside its field', async ({ page }) => {
	const errors = watchErrors(page);
	await page.goto('/probes');
	// What the form can tell by itself, it says without asking the API.
	await page.getByLabel('Ports').fill('8080, http');
	await page.getByRole('button', { name: 'Start probe' }).click();
	await expect(page.getByTestId('probe-error-ports')).toContainText('“http” is not a port number');
	await expect(page.getByLabel('Ports')).toHaveAttribute('aria-invalid', 'true');
	// Pods need a cluster, and there is none: the API's 422 names the field.
	await page.getByLabel('Ports').fill('');
	await page.getByLabel('Duration (s)').fill('4');
	await page.getByLabel('Pod filter').fill('web-');
	await page.getByRole('button', { name: 'Start probe' }).click();
	await expect(page.getByTestId('probe-error-pod_filter')).toContainText('needs a Kubernetes cluster');
	const pod = page.getByLabel('Pod filter');
	await expect(pod).toHaveAttribute('aria-invalid', 'true');
	await expect(pod).toHaveAttribute('aria-describedby', 'probe-pod_filter-error');
	await expect(page.getByTestId('probe-error-ports')).toHaveCount(0);
	await expect(page).toHaveURL(/\/probes$/);
	await shot(page, 'probe-form-errors');
	expect(errors.filter((e) => !e.includes('422'))).toEqual([]);
});

test('a benchmark started with the eBPF probe shows the kernel’s figures beside the application’s', async ({ page }) => {
	const errors = watchErrors(page);
	await page.goto('/benchmarks');
	await page.getByLabel('Duration (s)').fill('2');
	await page.getByLabel('Connections', { exact: true }).fill('4');
	await page.getByLabel('eBPF probe').check();
	await page.getByRole('button', { name: 'Start benchmark' }).click();
	if (NO_BPF) {
		await expect(page.getByTestId('error-ebpf')).toContainText('BPF-less');
		await expect(page.getByLabel('eBPF probe')).toHaveAttribute('aria-invalid', 'true');
		await expect(page).toHaveURL(/\/benchmarks$/);
		expect(errors.filter((e) => !e.includes('503'))).toEqual([]);
		return;
	}
	await page.waitForURL(/\/benchmarks\/[0-9a-f-]{36}$/);
	await expect(page.getByTestId('status').first()).toHaveText('completed', { timeout: 30_000 });
	const kernel = page.getByTestId('kernel-figures');
	await expect(kernel).toContainText('Kernel (eBPF)');
	const table = page.getByTestId('kernel-comparison');
	await expect(table).toContainText('kernel exchange');
	// p50: the application's latency and the kernel's exchange, server, connect and rtt times, all measured.
	const p50 = table.locator('tbody tr').first().locator('td');
	await expect(p50.first()).toHaveText('p50');
	for (const i of [1, 2, 3, 4, 5]) await expect(p50.nth(i)).toHaveText(/^[\d.,]+ (µs|ms|s)$/);
	await expect(page.getByTestId('kernel-counts')).toContainText('connects');
	await expect.poll(() => chartPoints(page, 'kernel-chart')).toBeGreaterThan(2);
	expect(await canvasHasInk(page, 'kernel-chart')).toBe(true);
	await shot(page, 'kernel-result');
	expect(errors).toEqual([]);
});

test('a running probe stops early from its view and keeps what it measured', async ({ page, request }) => {
	const errors = watchErrors(page);
	if (NO_BPF) {
		await page.goto('/probes');
		await expect(page.getByTestId('probe-reason')).toContainText('BPF-less');
		await expect(page.getByTestId('running-probes')).toHaveCount(0);
		expect(errors).toEqual([]);
		return;
	}
	const started = await request.post('/ebpf/probe/start', { data: { duration: 60, ports: [await targetPort(request)] } });
	expect(started.status(), await started.text()).toBe(202);
	const probeId = (await started.json()).probe_id as string;
	await page.goto(`/probes?id=${probeId}`);
	const view = page.getByTestId('probe-view');
	await expect(view.getByTestId('probe-live-second')).toContainText(/second \d+:/);
	await expect(page.getByTestId('running-probe').filter({ hasText: probeId.slice(0, 8) })).toBeVisible();
	await view.getByRole('button', { name: 'Stop probe' }).click();
	await expect(view.getByTestId('status')).toHaveText('cancelled', { timeout: 15_000 });
	await expect(page.getByTestId('probe-headline')).toContainText('Duration');
	await expect(page.getByTestId('probe-downloads').getByRole('link')).toHaveCount(3);
	await expect(page.getByTestId('running-probes')).toHaveCount(0);
	expect(errors).toEqual([]);
});
