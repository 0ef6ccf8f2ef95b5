import { expect, test, type APIRequest, type Page } from '@playwright/test';
import { NO_BPF, shot, watchErrors } from './helpers';
import { BASE_URL } from './servers';

// The mesh lab through the dashboard, against the real server running as root with Envoy:
// real network namespaces and proxies on this machine (serve.sh keeps the lab's state in the
// server's temporary data directory). The first test brings `baseline` up and down from the
// page; the second compares baseline with sidecar (one 1-second run each, one after the other,
// each bringing its topology up and down) and reads the comparison: figures, hop stacks, the
// proxies' cost. They run in file order, and the lab is taken down before and after.
test.describe.configure({ mode: 'serial' });

const TOPOLOGIES = ['baseline', 'sidecar', 'sidecar-mtls', 'node-proxy', 'node-proxy-waypoint'];

async function labDown(playwright: APIRequest): Promise<void> {
	const ctx = await playwright.newContext({ baseURL: BASE_URL });
	try {
		await ctx.post('/lab/down', { data: {} });
	} finally {
		await ctx.dispose();
	}
}

test.beforeAll(async ({ playwright }) => labDown(playwright.request));
test.afterAll(async ({ playwright }) => labDown(playwright.request));

/** Opens the lab page: straight by its address (the server hands a browser the dashboard at `/lab`), then checks the navigation leads there too. */
async function openLab(page: Page): Promise<void> {
	await page.goto('/lab');
	await expect(page.getByRole('heading', { level: 1, name: 'Mesh lab' })).toBeVisible();
	await expect(page.getByTestId('socket-state')).toBeVisible();
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Lab', exact: true }).click();
	await page.waitForURL((u) => u.pathname === '/lab');
	await expect(page.getByRole('heading', { level: 1, name: 'Mesh lab' })).toBeVisible();
}

test('the lab page lists the topologies with their paths, and brings one up and down', async ({ page }) => {
	const errors = watchErrors(page);
	await openLab(page);

	const items = page.getByTestId('lab-topology');
	await expect(items).toHaveCount(5);
	for (const [i, name] of TOPOLOGIES.entries()) await expect(items.nth(i)).toHaveAttribute('data-topology', name);
	const path = (name: string) => page.locator(`[data-testid="lab-topology"][data-topology="${name}"] [data-testid="hop-path"]`);
	await expect(path('sidecar')).toHaveAttribute('aria-label', 'path: client → client-sidecar :15001 → server-sidecar :15006 → application :8080');
	await expect(path('baseline')).toHaveAttribute('aria-label', 'path: client → application :8080');
	await expect(path('node-proxy-waypoint')).toContainText('waypoint :15009');

	const status = page.getByTestId('lab-status');
	await expect(page.getByTestId('lab-available')).toHaveText('available');
	await expect(page.getByTestId('lab-envoy')).toHaveText(/^Envoy \d+\.\d+/);
	await expect(status).toHaveAttribute('data-state', 'down');
	await expect(page.getByTestId('lab-state')).toHaveText('Down: no topology is up');

	// Up: the state says which, with its processes running.
	await page.locator('#lab-topology').selectOption('baseline');
	await page.getByRole('button', { name: 'Bring up' }).click();
	await expect(status).toHaveAttribute('data-state', 'up', { timeout: 30_000 });
	await expect(status).toHaveAttribute('data-topology', 'baseline');
	await expect(page.getByTestId('lab-state')).toContainText('baseline is up');
	const processes = page.getByTestId('lab-processes').locator('tbody tr');
	await expect(processes.first()).toBeVisible();
	await expect(page.getByTestId('lab-processes').locator('tr[data-process="target"]')).toContainText('✓ running');
	await expect(page.locator('[data-testid="lab-topology"][data-topology="baseline"] [data-testid="topology-up"]')).toHaveText('up');
	await shot(page, 'lab-up');

	// Up again: the API's 409 and its message.
	await page.getByRole('button', { name: 'Bring up' }).click();
	await expect(page.getByTestId('lab-action-error')).toContainText('already up with topology `baseline`');

	// Down.
	await page.getByRole('button', { name: 'Take down' }).click();
	await expect(status).toHaveAttribute('data-state', 'down', { timeout: 30_000 });
	await expect(page.getByTestId('lab-state')).toHaveText('Down: no topology is up');
	await expect(page.getByTestId('lab-processes')).toHaveCount(0);
	await expect(page.getByTestId('topology-up')).toHaveCount(0);
	await expect(page.getByTestId('lab-action-error')).toHaveCount(0);
	expect(errors.filter((e) => !e.includes('409'))).toEqual([]);
});

test('a comparison of baseline and sidecar started from the page shows figures, hop stacks and the proxies’ cost', async ({ page }) => {
	test.setTimeout(150_000);
	const errors = watchErrors(page);
	await openLab(page);

	const form = page.getByTestId('lab-compare-form');
	for (const name of TOPOLOGIES) await form.locator(`input[type="checkbox"][value="${name}"]`).setChecked(name === 'baseline' || name === 'sidecar');
	await expect(form.getByTestId('compare-baseline')).toHaveCount(1);
	await expect(form.locator('label', { has: page.getByTestId('compare-baseline') })).toContainText('baseline');
	await expect(page.getByLabel('Path and query')).toHaveValue('/?delay=1ms');
	await page.getByLabel('Repeats').fill('1');
	await page.getByLabel('Duration (s)').fill('1');
	await page.getByLabel('Connections').fill('2');
	await page.getByLabel('Rate (req/s)').fill('200');
	await page.getByRole('button', { name: 'Start comparison' }).click();
	await page.waitForURL((u) => u.pathname === '/lab' && !!u.searchParams.get('group'));
	const group = new URL(page.url()).searchParams.get('group') as string;

	const result = page.getByTestId('lab-comparison');
	await expect(result).toHaveAttribute('data-group', group);
	await expect(result.getByTestId('lab-compare-progress')).toHaveAttribute('data-done', 'true', { timeout: 60_000 });
	await expect(result.getByTestId('lab-compare-progress')).toHaveText('all 2 runs finished');
	await expect(result.getByTestId('lab-run-errors')).toHaveCount(0);

	// A table per topology: p50 and p99, and sidecar's change against baseline with a verdict.
	const cards = result.getByTestId('lab-topology-result');
	await expect(cards).toHaveCount(2);
	await expect(cards.nth(0)).toHaveAttribute('data-topology', 'baseline');
	await expect(cards.nth(1)).toHaveAttribute('data-topology', 'sidecar');
	for (const card of [cards.nth(0), cards.nth(1)]) {
		await expect(card.getByTestId('lab-figures').locator('tbody tr')).toHaveCount(2);
		await expect(card.getByTestId('lab-figures').locator('tr[data-figure="p50"] td').first()).toHaveText(/\d+(\.\d+)? (µs|ms)/);
	}
	const sidecarP50 = cards.nth(1).getByTestId('lab-figures').locator('tr[data-figure="p50"]');
	await expect(sidecarP50.getByTestId('lab-change')).toHaveText(/[+−]?\d+(\.\d+)? %/);
	await expect(sidecarP50.getByTestId('verdict')).toHaveText(/^(worse|better|no significant difference)$/);
	await expect(cards.nth(1).getByTestId('lab-proxies').locator('tbody tr')).toHaveCount(2);

	// Where the latency goes: a stack per topology at p50 and at p99, each part a segment, the client's latency marked.
	if (NO_BPF) {
		await expect(result.getByTestId('hop-breakdown-none')).toBeVisible();
	} else {
		for (const q of ['p50', 'p99']) {
			const stack = result.getByTestId(`hop-stack-${q}`);
			await expect(stack.getByTestId('hop-bar')).toHaveCount(2);
			const bar = (t: string) => stack.locator(`[data-testid="hop-bar"][data-topology="${t}"]`);
			await expect(bar('baseline').getByTestId('hop-segment')).toHaveCount(2);
			await expect(bar('sidecar').getByTestId('hop-segment')).toHaveCount(6);
			await expect(bar('sidecar').getByTestId('hop-segment').first()).toHaveAttribute('data-part', '→ client-sidecar');
			await expect(bar('sidecar').getByTestId('hop-segment').last()).toHaveAttribute('data-part', 'application');
			for (const t of ['baseline', 'sidecar']) {
				await expect(bar(t).getByTestId('client-marker')).toHaveCount(1);
				expect(Number(await bar(t).getAttribute('data-total'))).toBeGreaterThan(0);
				expect(Number(await bar(t).getAttribute('data-client'))).toBeGreaterThan(0);
				// The segments are drawn: some have width.
				const widths = await bar(t).locator('[data-testid="hop-segment"] rect').evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('width'))));
				expect(widths.some((w) => w > 0)).toBe(true);
			}
			await expect(result.getByTestId(`hop-stack-${q}-legend`).locator('li[data-part="server-sidecar"]')).toHaveCount(1);
		}
	}

	// The proxies' cost: sidecar's two proxies, CPU per 1k req/s and peak memory.
	const cost = result.getByTestId('proxy-cost-chart');
	for (const chart of ['proxy-cpu-chart', 'proxy-rss-chart']) {
		const bars = cost.getByTestId(chart).getByTestId('proxy-bar');
		await expect(bars).toHaveCount(2);
		for (const proxy of ['client-sidecar', 'server-sidecar']) {
			const b = cost.getByTestId(chart).locator(`[data-testid="proxy-bar"][data-topology="sidecar"][data-proxy="${proxy}"]`);
			expect(Number(await b.getAttribute('data-value'))).toBeGreaterThan(0);
		}
	}
	// The client's sidecar timed its connections to the server's (plain TCP: no TLS here).
	const connects = result.locator('[data-testid="upstream-connects"][data-proxy="client-sidecar"]');
	await expect(connects).toHaveAttribute('data-tls', 'false');
	await expect(connects).toContainText(/\d+ × p50 \d+ µs/);
	await shot(page, 'lab-comparison');
	// Each run took its topology down again.
	await expect(page.getByTestId('lab-status')).toHaveAttribute('data-state', 'down');
	expect(errors).toEqual([]);
});
