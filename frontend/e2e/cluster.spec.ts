import { expect, test } from '@playwright/test';
import { canvasHasInk, chartPoints, shot, startJob, waitFor, watchErrors } from './helpers';
import { KUBE_BASE_URL } from './servers';

// Benchmark results that carry a cluster record, against the server whose cluster is the test
// kit's fake API server: bookinfo is served by Istio 1.24.2 sidecars (3 of 4 pods, STRICT
// mTLS) and its pods have PodMetrics, so a run there records the mesh and the proxies' cost
// (sampled every second, see serve.sh); emojivoto is served by Linkerd.
test.use({ baseURL: KUBE_BASE_URL });

/** The figure shown in a cost cell, as a number. */
const shown = (text: string | null) => Number((text ?? '').replace(/,/g, ''));

test('a run labelled linkerd in bookinfo warns that Istio serves it, and shows what the proxies cost', async ({ page, request }) => {
	const errors = watchErrors(page);
	const jobId = await startJob(request, { duration: 2, namespace: 'bookinfo', mesh_type: 'linkerd' });
	await waitFor(request, jobId, 'completed');
	const result = await (await request.get(`/benchmarks/jobs/${jobId}/result`)).json();
	const resources = result.cluster.resources;
	expect(result.cluster.mesh_mismatch).toBe(true);
	expect(resources.samples.length).toBeGreaterThan(1);

	await page.goto(`/benchmarks/${jobId}`);
	const panel = page.getByTestId('cluster-panel');
	await expect(panel).toContainText('bookinfo');
	await expect(page.getByTestId('cluster-mismatch')).toContainText('started as linkerd but istio serves bookinfo');
	await expect(page.getByTestId('cluster-mesh-name')).toHaveText('istio');
	await expect(page.getByTestId('cluster-mesh-mode')).toHaveText('sidecar');
	await expect(page.getByTestId('cluster-mesh-version')).toHaveText('1.24.2');
	await expect(page.getByTestId('cluster-mtls')).toContainText('STRICT');
	await expect(page.getByTestId('cluster-coverage')).toHaveText('3/4');
	await expect(page.getByTestId('cluster-mesh-error')).toHaveCount(0);

	// The proxies' means, per 1,000 req/s and the application's, as the result has them (CPU in
	// millicores, memory in MiB, about three significant digits).
	const MiB = 1024 * 1024;
	const cells: [string, number][] = [
		['cost-proxy-cpu', resources.proxy_cpu_millicores],
		['cost-proxy-memory', resources.proxy_memory_bytes / MiB],
		['cost-proxy-per-1k-cpu', resources.proxy_cpu_millicores_per_1k_rps],
		['cost-proxy-per-1k-memory', resources.proxy_memory_bytes_per_1k_rps / MiB],
		['cost-app-cpu', resources.app_cpu_millicores],
		['cost-app-memory', resources.app_memory_bytes / MiB]
	];
	for (const [testid, expected] of cells) {
		expect(expected, testid).toBeGreaterThan(0);
		const value = shown(await page.getByTestId(testid).textContent());
		expect(Math.abs(value - expected), `${testid}: ${value} for ${expected}`).toBeLessThanOrEqual(Math.max(0.5, expected * 0.005));
	}
	await expect(page.getByTestId('cluster-proxies').getByRole('listitem')).toHaveText([
		/^bookinfo\/details-v1-.*\/istio-proxy$/,
		/^bookinfo\/productpage-v1-.*\/istio-proxy$/,
		/^bookinfo\/reviews-v1-.*\/istio-proxy$/
	]);
	await expect(page.getByTestId('cluster-resources-error')).toHaveCount(0);
	// Proxy and application CPU, one point of each per sample.
	await expect.poll(() => chartPoints(page, 'cluster-cpu-chart')).toBe(2 * resources.samples.length);
	expect(await canvasHasInk(page, 'cluster-cpu-chart')).toBe(true);
	await panel.scrollIntoViewIfNeeded();
	await shot(page, 'cluster-result');
	await panel.screenshot({ path: 'e2e/screenshots/cluster-panel.png' });
	expect(errors).toEqual([]);
});

test('a comparison flags the mislabelled run and runs through different meshes', async ({ page, request }) => {
	const errors = watchErrors(page);
	const mislabelled = await startJob(request, { duration: 1, namespace: 'bookinfo', mesh_type: 'linkerd' });
	await waitFor(request, mislabelled, 'completed');
	const istio = await startJob(request, { duration: 1, namespace: 'bookinfo', mesh_type: 'istio' });
	await waitFor(request, istio, 'completed');
	const linkerd = await startJob(request, { duration: 1, namespace: 'emojivoto', mesh_type: 'linkerd' });
	await waitFor(request, linkerd, 'completed');

	// Both through bookinfo's Istio: alike, but the one labelled linkerd is flagged.
	await page.goto(`/metrics?jobs=${istio},${mislabelled}`);
	await expect(page.getByTestId('delta-table')).toContainText('(reference)');
	await expect(page.getByTestId('mesh-mismatch-run')).toHaveText([`linkerd · ${mislabelled.slice(0, 8)}: started as linkerd but istio serves bookinfo`]);
	await expect(page.getByTestId('mesh-mismatch-flag')).toHaveCount(1);
	await expect(page.getByTestId('config-warning')).toHaveCount(0);

	// Istio against Linkerd: the meshes the runs' namespaces had are named as a difference.
	await page.goto(`/metrics?jobs=${istio},${linkerd}`);
	await expect(page.getByTestId('delta-table')).toContainText('(reference)');
	const warning = page.getByTestId('config-warning');
	await expect(warning).toContainText('istio sidecar 1.24.2, mTLS STRICT · linkerd sidecar stable-2.');
	await expect(warning).toContainText('mesh');
	await expect(page.getByTestId('mesh-mismatch-warning')).toHaveCount(0);
	await shot(page, 'comparison-meshes');
	expect(errors).toEqual([]);
});

test('generators: the form checks the split, and a run over two generators shows its parts', async ({ page }) => {
	const errors = watchErrors(page);
	await page.goto('/benchmarks');
	const generators = page.locator('#generators');
	await expect(generators).toHaveValue('1');
	// The server's rules, checked before anything is sent.
	let starts = 0;
	page.on('request', (r) => {
		if (r.method() === 'POST' && new URL(r.url()).pathname === '/benchmarks/start') starts++;
	});
	await page.getByLabel('Duration (s)').fill('1');
	await page.getByLabel('Connections').fill('2');
	await generators.fill('4');
	await page.getByRole('button', { name: 'Start benchmark' }).click();
	await expect(page.getByTestId('error-generators')).toHaveText('must not exceed concurrent_connections: each generator needs a connection');
	await expect(generators).toHaveAttribute('aria-invalid', 'true');
	await generators.fill('65');
	await page.getByRole('button', { name: 'Start benchmark' }).click();
	await expect(page.getByTestId('error-generators')).toHaveText('must be between 1 and 64');
	await page.locator('#test_type').selectOption('websocket');
	await generators.fill('2');
	await page.getByRole('button', { name: 'Start benchmark' }).click();
	await expect(page.getByTestId('error-generators')).toHaveText('only http runs can be split over generators yet');
	expect(starts).toBe(0);

	await page.locator('#test_type').selectOption('http');
	await page.locator('#namespace').fill('bookinfo');
	await page.locator('#mesh_type').fill('istio');
	await page.getByLabel('Connections').fill('4');
	const sent = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/benchmarks/start');
	await page.getByRole('button', { name: 'Start benchmark' }).click();
	expect((await sent).postDataJSON()).toMatchObject({ test_type: 'http', generators: 2, concurrent_connections: 4 });
	await page.waitForURL(/\/benchmarks\/[0-9a-f-]{36}$/);
	await expect(page.getByTestId('status').first()).toHaveText('completed', { timeout: 60_000 });

	const panel = page.getByTestId('generators-panel');
	await expect(page.getByTestId('generators-count')).toHaveText('2');
	await expect(page.getByTestId('generators-completed')).toHaveText('2 of 2');
	await expect(page.getByTestId('generators-spread')).toHaveText(/^\d[\d.,]* (µs|ms|s)$/);
	await expect(page.getByTestId('generator-part')).toHaveCount(2);
	await expect(page.getByTestId('generators-failed')).toHaveCount(0);
	// The correctly labelled run: a cluster panel without a warning.
	await expect(page.getByTestId('cluster-panel')).toBeVisible();
	await expect(page.getByTestId('cluster-mismatch')).toHaveCount(0);
	await panel.scrollIntoViewIfNeeded();
	await shot(page, 'generators-result');

	// Each part is a job of its own, with a page that leads back to the run.
	const runPath = new URL(page.url()).pathname;
	const part = page.locator('[data-testid="generator-part"][data-index="1"]');
	const partLink = part.getByRole('link');
	const partId = (await partLink.getAttribute('href'))!.split('/').pop()!;
	await partLink.click();
	await expect(page).toHaveURL(new RegExp(`/benchmarks/${partId}$`));
	await expect(page.getByTestId('job-parent')).toContainText('part of run');
	await expect(page.getByTestId('headline')).toBeVisible();
	await page.getByTestId('job-parent').getByRole('link').click();
	await expect(page).toHaveURL(new RegExp(`${runPath}$`));
	await expect(page.getByTestId('generators-panel')).toBeVisible();
	expect(errors).toEqual([]);
});
