import { defineConfig } from '@playwright/test';
import { AUTH_BASE_URL, AUTH_PORT, BASE_URL, KUBE_BASE_URL, KUBE_CLUSTERS, KUBE_PORT, KUBE_WORKERS, PORT } from './e2e/servers';

// End-to-end tests in Debian's Chromium (no browser is downloaded) against a real
// `meshbench serve` on embedded defaults, started by e2e/serve.sh: one without a cluster,
// one whose cluster is the test kit's fake Kubernetes API server (`fake-kube`), and one with
// users (a login needed; auth.spec.ts).
const server = {
	timeout: 120_000,
	reuseExistingServer: false,
	stdout: 'pipe',
	stderr: 'pipe'
} as const;

export default defineConfig({
	testDir: 'e2e',
	outputDir: 'test-results',
	workers: 1,
	fullyParallel: false,
	retries: 0,
	timeout: 90_000,
	expect: { timeout: 20_000 },
	reporter: [['list']],
	use: {
		baseURL: BASE_URL,
		trace: 'retain-on-failure',
		screenshot: 'only-on-failure',
		launchOptions: {
			executablePath: process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium',
			args: [
				'--headless',
				'--no-sandbox',
				'--disable-gpu',
				'--disable-quic',
				'--no-first-run',
				'--disable-background-networking',
				'--disable-component-update',
				'--disable-sync'
			]
		}
	},
	webServer: [
		{ ...server, command: `sh e2e/serve.sh ${PORT}`, url: `${BASE_URL}/health` },
		{
			...server,
			command: `sh e2e/serve.sh ${KUBE_PORT} --workers ${KUBE_WORKERS} ${KUBE_CLUSTERS.map((c) => `--fake-kube ${c}`).join(' ')}`,
			url: `${KUBE_BASE_URL}/health`
		},
		{ ...server, command: `sh e2e/serve.sh ${AUTH_PORT} --users`, url: `${AUTH_BASE_URL}/health` }
	]
});
