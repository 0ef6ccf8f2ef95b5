import { expect, test, type Page } from '@playwright/test';
import { AUTH_BASE_URL, AUTH_USERS, BASE_URL } from './servers';
import { shot, startJob } from './helpers';

// Against the server with users (e2e/serve.sh --users): nothing but the login works without
// one, each role sees the controls it may use, and tokens work until they are revoked.
test.use({ baseURL: AUTH_BASE_URL });

type Who = (typeof AUTH_USERS)[keyof typeof AUTH_USERS];

/** Fills the login form the browser was sent to and waits to be let in. */
async function logIn(page: Page, who: Who): Promise<void> {
	await expect(page).toHaveURL(/\/login(\?|$)/);
	await page.getByLabel('Username').fill(who.username);
	await page.getByLabel('Password').fill(who.password);
	await page.getByRole('button', { name: 'Log in' }).click();
	await expect(page.getByTestId('whoami')).toContainText(who.username);
}

/** What `/auth/me` answers the page with `authorization` (a bearer token) and no cookie. */
async function meWith(page: Page, authorization: string): Promise<{ status: number; username?: string }> {
	return page.evaluate(async (auth) => {
		const r = await fetch('/auth/me', { headers: { Authorization: auth }, credentials: 'omit' });
		const body = r.ok ? await r.json() : null;
		return { status: r.status, username: body?.username };
	}, authorization);
}

test('without a login the dashboard goes to /login; an operator logs in, may start benchmarks, and logs out', async ({ page, browser }) => {
	await page.goto('/');
	await page.waitForURL(/\/login$/);
	await expect(page.getByRole('heading', { level: 1, name: 'Log in' })).toBeVisible();
	// Nothing but the login is there to see: no pages to go to.
	await expect(page.getByRole('navigation', { name: 'Main' })).toHaveCount(0);

	await page.getByLabel('Username').fill(AUTH_USERS.operator.username);
	await page.getByLabel('Password').fill('not-the-password');
	await page.getByRole('button', { name: 'Log in' }).click();
	await expect(page.getByTestId('login-error')).toHaveText('wrong username or password');
	await expect(page).toHaveURL(/\/login$/);
	await shot(page, 'auth-login-refused');

	await page.getByLabel('Password').fill(AUTH_USERS.operator.password);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.waitForURL(`${AUTH_BASE_URL}/`);
	await expect(page.getByRole('heading', { level: 1, name: 'Service Mesh Benchmark Dashboard' })).toBeVisible();
	await expect(page.getByTestId('whoami')).toHaveText('operator (operator)');
	await expect(page.getByRole('link', { name: 'Tokens' })).toBeVisible();
	await expect(page.getByRole('link', { name: 'Admin' })).toHaveCount(0);
	await expect(page.getByTestId('development-mode')).toHaveCount(0);
	// The live socket was refused before the login: it is up now.
	await expect(page.getByTestId('socket-state')).toContainText('live');

	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Benchmarks' }).click();
	await expect(page.getByRole('button', { name: 'Start benchmark' })).toBeVisible();
	await expect(page.getByRole('heading', { name: 'Job history' })).toBeVisible();
	await shot(page, 'auth-operator-benchmarks');

	const session = (await page.context().cookies()).find((c) => c.name === 'meshbench_session');
	expect(session, 'the login set the session cookie').toBeTruthy();
	await page.getByRole('button', { name: 'Log out' }).click();
	await page.waitForURL(/\/login$/);
	await expect(page.getByTestId('whoami')).toHaveCount(0);
	expect(await page.evaluate(async () => (await fetch('/auth/me')).status)).toBe(401);
	// The session ended on the server too, not only the cookie in this browser.
	const other = await browser.newContext({ baseURL: AUTH_BASE_URL });
	await other.addCookies([{ ...session!, sameSite: 'Strict' }]);
	expect((await other.request.get('/auth/me')).status()).toBe(401);
	await other.close();
});

test('a viewer sees the jobs but no control that starts or changes one, and comes back where they were sent from', async ({ page, request }) => {
	// A finished job for the viewer to look at, started by the operator.
	const login = await request.post('/auth/login', { data: AUTH_USERS.operator });
	expect(login.status(), await login.text()).toBe(200);
	const jobId = await startJob(request, { duration: 1, concurrent_connections: 1, mesh_type: 'viewer-sees' });
	// A viewer may not start one.
	const viewer = await request.post('/auth/login', { data: AUTH_USERS.viewer });
	expect(viewer.status()).toBe(200);
	const refused = await request.post('/benchmarks/start', { data: { test_type: 'http', duration: 1 } });
	expect(refused.status()).toBe(403);
	expect((await refused.json()).code).toBe('forbidden_role');

	await page.goto('/benchmarks');
	await page.waitForURL(/\/login\?next=%2Fbenchmarks$/);
	await logIn(page, AUTH_USERS.viewer);
	await page.waitForURL(`${AUTH_BASE_URL}/benchmarks`);
	await expect(page.getByTestId('whoami')).toHaveText('viewer (viewer)');
	await expect(page.getByTestId('jobs-table').locator(`tr[data-job-id="${jobId}"]`)).toBeVisible();
	await expect(page.getByRole('heading', { name: 'Start a benchmark' })).toHaveCount(0);
	await expect(page.getByRole('button', { name: 'Start benchmark' })).toHaveCount(0);
	await expect(page.getByTestId('read-only')).toContainText('needs the operator role');
	await shot(page, 'auth-viewer-benchmarks');

	await page.getByTestId('jobs-table').getByRole('link', { name: jobId.slice(0, 8) }).click();
	await expect(page.getByRole('heading', { level: 1, name: /^Job / })).toBeVisible();
	await expect(page.getByRole('button', { name: 'Cancel job' })).toHaveCount(0);

	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
	await expect(page.getByRole('heading', { level: 1, name: 'Service Mesh Benchmark Dashboard' })).toBeVisible();
	await expect(page.getByRole('link', { name: 'Start a benchmark' })).toHaveCount(0);
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Reports' }).click();
	await expect(page.getByRole('heading', { level: 2, name: 'Reports' })).toBeVisible();
	await expect(page.getByRole('button', { name: 'Generate report' })).toHaveCount(0);
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'eBPF Probes' }).click();
	await expect(page.getByRole('heading', { level: 2, name: 'Probe runs' })).toBeVisible();
	await expect(page.getByRole('button', { name: 'Start probe' })).toHaveCount(0);
});

test('a token made on the tokens page is shown once, works as a bearer token, and stops working when revoked', async ({ page }) => {
	await page.goto('/');
	await logIn(page, AUTH_USERS.operator);
	await page.getByRole('link', { name: 'Tokens' }).click();
	await expect(page.getByRole('heading', { level: 1, name: 'API tokens' })).toBeVisible();

	const name = `ci-${Date.now()}`;
	await page.getByLabel('Name').fill(name);
	await page.getByLabel('Expires in (days)').fill('0');
	await page.getByRole('button', { name: 'Create token' }).click();
	await expect(page.getByText('must be a whole number of days from 1 to 3650')).toBeVisible();
	await page.getByLabel('Expires in (days)').fill('30');
	await page.getByRole('button', { name: 'Create token' }).click();

	const secretField = page.getByLabel('Secret');
	await expect(secretField).toHaveValue(/^mbt_[0-9a-f]+_[0-9a-f]+$/);
	await expect(page.getByTestId('new-token')).toContainText('it will not be shown again');
	const secret = await secretField.inputValue();
	const tokenId = secret.split('_')[1];
	const row = page.getByTestId('tokens-table').locator(`tr[data-token-id="${tokenId}"]`);
	await expect(row).toContainText(name);
	await expect(row).toHaveAttribute('data-state', 'active');
	await shot(page, 'auth-token-made');

	expect(await meWith(page, `Bearer ${secret}`)).toEqual({ status: 200, username: AUTH_USERS.operator.username });

	// Shown once: after leaving the page, only its listing is left.
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
	await page.getByRole('link', { name: 'Tokens' }).click();
	await expect(row).toContainText(name);
	await expect(page.getByTestId('new-token')).toHaveCount(0);
	expect(await page.content()).not.toContain(secret);
	// Its use was noted.
	await expect(row.locator('td').nth(4)).not.toHaveText('never');

	await row.getByRole('button', { name: /^Revoke token/ }).click();
	await expect(row).toHaveAttribute('data-state', 'revoked');
	await expect(row.getByRole('button')).toHaveCount(0);
	expect((await meWith(page, `Bearer ${secret}`)).status).toBe(401);
});

test('an admin sees everyone’s tokens with their owners', async ({ page, request }) => {
	const login = await request.post('/auth/login', { data: AUTH_USERS.viewer });
	expect(login.status()).toBe(200);
	const made = await request.post('/auth/tokens', { data: { name: 'viewer-script' } });
	expect(made.status()).toBe(201);
	const { token_id: tokenId } = await made.json();

	await page.goto('/');
	await logIn(page, AUTH_USERS.admin);
	await expect(page.getByTestId('whoami')).toHaveText('admin (admin)');
	await page.getByRole('link', { name: 'Tokens' }).click();
	await expect(page.getByRole('heading', { level: 2, name: 'Everyone’s tokens' })).toBeVisible();
	await expect(page.getByTestId('tokens-table').getByRole('columnheader', { name: 'Owner' })).toBeVisible();
	await expect(page.getByTestId('tokens-table').locator(`tr[data-token-id="${tokenId}"]`)).toContainText('viewer');
});

test('an admin adds a user, changes their role, disables them, and reads it all in the audit log', async ({ page, request }) => {
	const name = `e2e-${Date.now()}`;
	const password = 'a-new-password-1';
	await page.goto('/');
	await logIn(page, AUTH_USERS.admin);
	await page.getByRole('link', { name: 'Admin' }).click();
	await expect(page.getByRole('heading', { level: 1, name: 'Admin' })).toBeVisible();
	const users = page.getByTestId('users-table');
	await expect(users.locator('tr[data-username="operator"]')).toBeVisible();

	// The form names what the server would refuse before anything is sent.
	await page.getByLabel('Username', { exact: true }).fill(name);
	await page.getByLabel('Password', { exact: true }).fill('short');
	await page.getByRole('button', { name: 'Add user' }).click();
	await expect(page.getByText('must be at least 10 characters')).toBeVisible();
	await page.getByLabel('Password', { exact: true }).fill(password);
	await page.getByLabel('Role', { exact: true }).selectOption('viewer');
	await page.getByRole('button', { name: 'Add user' }).click();
	const row = users.locator(`tr[data-username="${name}"]`);
	await expect(row).toContainText('enabled');
	await expect(row.getByLabel(`Role of ${name}`)).toHaveValue('viewer');

	await row.getByLabel(`Role of ${name}`).selectOption('operator');
	await expect(page.getByRole('status').filter({ hasText: `${name} is now operator` })).toBeVisible();
	const asThem = await request.post('/auth/login', { data: { username: name, password } });
	expect(await asThem.json()).toMatchObject({ username: name, role: 'operator' });

	await row.getByRole('button', { name: `Disable ${name}` }).click();
	await expect(row).toContainText('disabled');
	await expect(row.getByRole('button', { name: `Enable ${name}` })).toBeVisible();
	// Their session stopped working at once, and they cannot log in again.
	expect((await request.get('/auth/me')).status()).toBe(401);
	expect((await request.post('/auth/login', { data: { username: name, password } })).status()).toBe(401);
	await shot(page, 'auth-admin');

	const audit = page.getByTestId('audit-table');
	await page.getByLabel('Action').fill('user.');
	await page.getByRole('button', { name: 'Apply' }).click();
	for (const action of ['user.add', 'user.update']) {
		await expect(audit.locator('tr', { hasText: action }).filter({ hasText: name }).first()).toBeVisible();
	}
	await expect(audit.locator('tbody tr', { hasText: 'login' })).toHaveCount(0);
	await page.getByLabel('Action').fill('login');
	await page.getByLabel('User', { exact: true }).fill(name);
	await page.getByRole('button', { name: 'Apply' }).click();
	await expect(audit.locator('tr[data-outcome="ok"]', { hasText: 'login' })).toHaveCount(1);
	await expect(audit.locator('tr[data-outcome="refused"]', { hasText: 'login' })).toHaveCount(1);
});

test('the admin page tells anyone else it needs the admin role', async ({ page }) => {
	await page.goto('/');
	await logIn(page, AUTH_USERS.operator);
	await expect(page.getByRole('link', { name: 'Admin' })).toHaveCount(0);
	await page.goto('/admin');
	await expect(page.getByTestId('admin-forbidden')).toHaveText('This page needs the admin role; operator is operator.');
});

test('the server without users says it is in development mode and needs no login', async ({ page }) => {
	await page.goto(`${BASE_URL}/`);
	await expect(page.getByTestId('development-mode')).toBeVisible();
	await expect(page.getByRole('button', { name: 'Log out' })).toHaveCount(0);
	await expect(page.getByRole('link', { name: 'Start a benchmark' })).toBeVisible();
	await page.goto(`${BASE_URL}/login`);
	await expect(page.getByTestId('no-login-needed')).toContainText('no login is needed');
	await shot(page, 'auth-login-development');
	await page.getByRole('link', { name: 'Go to the dashboard' }).click();
	await expect(page.getByRole('heading', { level: 1, name: 'Service Mesh Benchmark Dashboard' })).toBeVisible();
});
