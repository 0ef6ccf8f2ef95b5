import { expect, type APIRequestContext, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';

/** Where every test leaves its screenshot. */
export const SHOTS = 'e2e/screenshots';

/** Saves a full-page screenshot named after the test. */
export async function shot(page: Page, name: string): Promise<void> {
	mkdirSync(SHOTS, { recursive: true });
	await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

/** Collects console errors and uncaught exceptions of a page. */
export function watchErrors(page: Page): string[] {
	const errors: string[] = [];
	page.on('console', (m) => {
		if (m.type() === 'error') errors.push(m.text());
	});
	page.on('pageerror', (e) => errors.push(e.message));
	// Chrome's console line for a failed load has no URL; record which one it was.
	page.on('response', (r) => {
		if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${new URL(r.url()).pathname}`);
	});
	return errors;
}

/** Starts a benchmark through the API and returns its job id. */
export async function startJob(request: APIRequestContext, body: Record<string, unknown>): Promise<string> {
	const r = await request.post('/benchmarks/start', { data: { test_type: 'http', concurrent_connections: 4, ...body } });
	expect(r.status(), await r.text()).toBe(202);
	return (await r.json()).job_id as string;
}

/** Waits until a job reaches `status` (through the API). */
export async function waitFor(request: APIRequestContext, jobId: string, status: string): Promise<void> {
	await expect
		.poll(async () => (await (await request.get(`/benchmarks/jobs/${jobId}`)).json()).status, { timeout: 60_000 })
		.toBe(status);
}

/** Whether a canvas has any drawn (non-transparent) pixel. */
export async function canvasHasInk(page: Page, testid: string): Promise<boolean> {
	return page.getByTestId(testid).evaluate((c: HTMLCanvasElement) => {
		if (c.width === 0 || c.height === 0) return false;
		const ctx = c.getContext('2d');
		if (!ctx) return false;
		const data = ctx.getImageData(0, 0, c.width, c.height).data;
		for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
		return false;
	});
}

/** How many data points a chart holds (bare axes and legend hold none). */
export async function chartPoints(page: Page, testid: string): Promise<number> {
	return Number(await page.getByTestId(testid).getAttribute('data-points'));
}

/** Whether this machine is declared BPF-less (the server then reports the probe unavailable). */
export const NO_BPF = process.env.MESHBENCH_NO_BPF === '1';

/**
 * The built-in target's port: read from the URL a finished HTTP run hit (the result's
 * `spec.requests[0].url`), running a one-second benchmark first when there is none yet.
 */
export async function targetPort(request: APIRequestContext): Promise<number> {
	// A recent run against the built-in target tells its port; runs through the mesh lab went
	// to the lab's own target (its sidecar's port), so they do not count.
	const runs = (await (await request.get('/metrics/results?test_type=http&limit=20')).json()) as { job_id: string }[];
	for (const { job_id } of runs) {
		const result = await (await request.get(`/benchmarks/jobs/${job_id}/result`)).json();
		if (!result.lab && result.spec?.requests?.[0]?.url) {
			const port = Number(new URL(result.spec.requests[0].url).port);
			if (port > 0) return port;
		}
	}
	const jobId = await startJob(request, { duration: 1, concurrent_connections: 1, mesh_type: 'port-finder' });
	await waitFor(request, jobId, 'completed');
	const result = await (await request.get(`/benchmarks/jobs/${jobId}/result`)).json();
	const port = Number(new URL(result.spec.requests[0].url).port);
	expect(port).toBeGreaterThan(0);
	return port;
}
