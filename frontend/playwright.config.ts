import { defineConfig } from '@playwright/test';

// End-to-end tests in Debian's Chromium (no browser is downloaded) against a real
// `meshbench serve` on embedded defaults, started by e2e/serve.sh.
const port = Number(process.env.E2E_PORT ?? 18_480);

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
		baseURL: `http://127.0.0.1:${port}`,
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
	webServer: {
		command: `sh e2e/serve.sh ${port}`,
		url: `http://127.0.0.1:${port}/health`,
		timeout: 120_000,
		reuseExistingServer: false,
		stdout: 'pipe',
		stderr: 'pipe'
	}
});
