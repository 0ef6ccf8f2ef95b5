import { expect, test, type Page } from '@playwright/test';
import { shot, watchErrors } from './helpers';
import { KUBE_BASE_URL } from './servers';

// The Kubernetes page against a server whose cluster is the test kit's fake API server,
// serving the fixture clusters istio-sidecar (bookinfo: 3 of 4 pods with istio-proxy 1.24.2,
// istiod, a STRICT PeerAuthentication), linkerd (emojivoto: linkerd-proxy pods and an
// uninjected vote-bot) and none (plain-app, no mesh), layered into one cluster.
test.use({ baseURL: KUBE_BASE_URL });

/** The namespaces table's row of `name`. */
const nsRow = (page: Page, name: string) => page.locator(`[data-testid="k8s-namespace"][data-namespace="${name}"]`);
/** The pods table's row of the pod whose name starts with `prefix`. */
const podRow = (page: Page, prefix: string) => page.locator(`[data-testid="k8s-pod"][data-pod^="${prefix}"]`);

test('the cluster and its namespaces are listed, each with the mesh serving it', async ({ page }) => {
	const errors = watchErrors(page);
	await page.goto('/kubernetes');
	await expect(page.getByRole('heading', { level: 1, name: 'Kubernetes' })).toBeVisible();
	await expect(page.getByTestId('k8s-not-configured')).toHaveCount(0);
	// What /health says of the cluster.
	await expect(page.getByTestId('k8s-server')).toContainText('http://127.0.0.1:');
	await expect(page.getByTestId('k8s-server-version')).toHaveText('v1.31.2');
	await expect(page.getByTestId('k8s-connection')).toHaveText('connected');

	const bookinfo = nsRow(page, 'bookinfo');
	await expect(bookinfo.getByTestId('k8s-ns-mesh')).toHaveText('istio');
	await expect(bookinfo.getByTestId('k8s-ns-mode')).toHaveText('sidecar');
	await expect(bookinfo.getByTestId('k8s-ns-version')).toHaveText('1.24.2');
	await expect(bookinfo.getByTestId('k8s-ns-coverage')).toHaveText('3/4');
	await expect(bookinfo.getByTestId('k8s-ns-coverage')).toHaveAttribute('data-tone', 'partial');
	await expect(bookinfo.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '75');

	const emojivoto = nsRow(page, 'emojivoto');
	await expect(emojivoto.getByTestId('k8s-ns-mesh')).toHaveText('linkerd');
	await expect(emojivoto.getByTestId('k8s-ns-mode')).toHaveText('sidecar');
	await expect(emojivoto.getByTestId('k8s-ns-version')).toHaveText(/^stable-2\./);
	await expect(emojivoto.getByTestId('k8s-ns-coverage')).toHaveText('3/4');

	const plain = nsRow(page, 'plain-app');
	await expect(plain.getByTestId('k8s-ns-mesh')).toHaveText('none');
	await expect(plain.getByTestId('k8s-ns-mode')).toHaveText('—');
	await expect(plain.getByTestId('k8s-ns-coverage')).toHaveText('0/2');
	await expect(plain.getByTestId('k8s-ns-coverage')).toHaveAttribute('data-tone', 'none');

	// With none named in the address, the first meshed namespace is shown.
	await expect(page.getByTestId('k8s-mesh-status')).toHaveAttribute('data-namespace', 'bookinfo');
	await expect(bookinfo.getByRole('link')).toHaveAttribute('aria-current', 'true');

	// The filter narrows by mesh (`none` included) as well as by name.
	await page.getByTestId('k8s-ns-filter').fill('linkerd');
	await expect(page.getByTestId('k8s-namespace')).toHaveText([/emojivoto/, /linkerd/]);
	await page.getByTestId('k8s-ns-filter').fill('none');
	await expect(nsRow(page, 'plain-app')).toBeVisible();
	await expect(nsRow(page, 'bookinfo')).toHaveCount(0);
	await page.getByTestId('k8s-ns-filter').fill('');
	await expect(nsRow(page, 'bookinfo')).toBeVisible();
	expect(errors).toEqual([]);
});

test('selecting bookinfo shows its mesh record, its pods with their proxy, and its services', async ({ page }) => {
	const errors = watchErrors(page);
	await page.goto('/kubernetes?ns=plain-app');
	const status = page.getByTestId('k8s-mesh-status');
	await expect(status).toHaveAttribute('data-namespace', 'plain-app');
	await expect(page.getByTestId('k8s-mesh')).toHaveText('none');
	await expect(page.getByTestId('k8s-control-plane')).toContainText('no mesh serves this namespace');
	await expect(page.getByTestId('k8s-mtls')).toHaveText('not declared');
	await expect(page.getByTestId('k8s-pods-outside')).toHaveCount(0);
	await expect(page.getByTestId('k8s-evidence')).toContainText('no pod of plain-app has a mesh proxy');

	await nsRow(page, 'bookinfo').getByRole('link', { name: 'bookinfo' }).click();
	await expect(page).toHaveURL(/\/kubernetes\?ns=bookinfo$/);
	await expect(status).toHaveAttribute('data-namespace', 'bookinfo');
	await expect(page.getByTestId('k8s-mesh')).toHaveText('istio');
	await expect(page.getByTestId('k8s-mode')).toHaveText('sidecar');
	await expect(page.getByTestId('k8s-version')).toHaveText('1.24.2');
	await expect(page.getByTestId('k8s-cp-version')).toHaveText('1.24.2');
	await expect(page.getByTestId('k8s-enabled-by')).toHaveText('istio-injection=enabled');
	await expect(page.getByTestId('k8s-mtls-mode')).toHaveText('STRICT');
	await expect(page.getByTestId('k8s-mtls-source')).toHaveText('PeerAuthentication istio-system/default');
	await expect(page.getByTestId('k8s-cp-health')).toHaveText('healthy');
	await expect(page.getByTestId('k8s-control-plane')).toContainText('istio-system');
	const istiod = page.locator('[data-testid="k8s-component"][data-component="istiod"]');
	await expect(istiod.getByTestId('k8s-component-ready')).toHaveText('1/1');
	await expect(istiod).toContainText('docker.io/istio/pilot:1.24.2');
	await expect(page.getByTestId('k8s-coverage')).toContainText('3/4');
	await expect(page.getByTestId('k8s-coverage')).toContainText('75 %');
	// The one pod without a sidecar is named, and only it.
	await expect(page.getByTestId('k8s-pods-outside').getByRole('listitem')).toHaveText([/^legacy-batch-/]);
	await expect(page.getByTestId('k8s-other-meshes')).toHaveText('linkerd');
	await expect(page.getByTestId('k8s-waypoints')).toHaveText('none');
	await expect(page.getByTestId('k8s-evidence').getByRole('listitem')).toContainText([
		'namespace bookinfo has istio-injection=enabled',
		'3 pod(s) carry an istio-proxy sidecar'
	]);
	// No mesh expected: nothing to agree or disagree with.
	await expect(page.getByTestId('k8s-agreement')).toHaveCount(0);

	await expect(page.getByTestId('k8s-pod')).toHaveCount(4);
	for (const pod of ['details-v1-', 'productpage-v1-', 'reviews-v1-']) {
		await expect(podRow(page, pod).getByTestId('k8s-pod-proxy')).toHaveText('istio-proxy');
		await expect(podRow(page, pod).getByTestId('k8s-pod-ready')).toHaveText('2/2');
	}
	await expect(podRow(page, 'legacy-batch-').getByTestId('k8s-pod-proxy')).toHaveText('none');
	await expect(podRow(page, 'legacy-batch-').getByTestId('k8s-pod-status')).toHaveText('Running');

	await expect(page.getByTestId('k8s-service')).toHaveCount(3);
	const productpage = page.locator('[data-testid="k8s-service"][data-service="productpage"]');
	await expect(productpage).toContainText('ClusterIP');
	await expect(productpage).toContainText('http 9080/TCP');
	await expect(productpage).toContainText('app=productpage');
	await shot(page, 'kubernetes-bookinfo');
	expect(errors).toEqual([]);
});

test('an expected mesh re-asks the mesh status and shows whether it agrees', async ({ page }) => {
	const errors = watchErrors(page);
	await page.goto('/kubernetes?ns=bookinfo');
	await expect(page.getByTestId('k8s-mesh')).toHaveText('istio');
	const expected = page.getByTestId('k8s-expected-mesh');
	const agreement = page.getByTestId('k8s-agreement');

	const asked = page.waitForRequest((r) => r.url().endsWith('/kubernetes/mesh-status/bookinfo?mesh_type=linkerd'));
	await expected.selectOption('linkerd');
	await asked;
	await expect(agreement).toHaveAttribute('data-state', 'disagrees');
	await expect(agreement).toContainText('linkerd expected, but istio serves bookinfo');
	await expect(page).toHaveURL(/[?&]expect=linkerd/);
	await shot(page, 'kubernetes-disagrees');

	await expected.selectOption('istio');
	await expect(agreement).toHaveAttribute('data-state', 'agrees');
	await expect(agreement).toContainText('istio expected, and istio serves bookinfo');

	// The expectation is in the address, so a reload keeps it.
	await page.reload();
	await expect(expected).toHaveValue('istio');
	await expect(agreement).toHaveAttribute('data-state', 'agrees');

	await expected.selectOption('');
	await expect(agreement).toHaveCount(0);
	await expect(page).not.toHaveURL(/expect=/);

	// No mesh is an expectation too: plain-app agrees with it, bookinfo does not.
	await page.goto('/kubernetes?ns=plain-app&expect=baseline');
	await expect(agreement).toHaveAttribute('data-state', 'agrees');
	await expect(agreement).toContainText('no mesh expected, and no mesh serves plain-app');
	expect(errors).toEqual([]);
});

test('emojivoto is served by Linkerd, with vote-bot outside the mesh', async ({ page }) => {
	const errors = watchErrors(page);
	await page.goto('/kubernetes');
	await nsRow(page, 'emojivoto').getByRole('link', { name: 'emojivoto' }).click();
	await expect(page.getByTestId('k8s-mesh-status')).toHaveAttribute('data-namespace', 'emojivoto');
	await expect(page.getByTestId('k8s-mesh')).toHaveText('linkerd');
	await expect(page.getByTestId('k8s-mtls-mode')).toHaveText('automatic');
	await expect(page.getByTestId('k8s-cp-health')).toHaveText('healthy');
	await expect(page.getByTestId('k8s-control-plane')).toContainText('linkerd-destination');
	await expect(page.getByTestId('k8s-pods-outside').getByRole('listitem')).toHaveText([/^vote-bot-/]);
	await expect(page.getByTestId('k8s-other-meshes')).toHaveText('istio');
	await expect(podRow(page, 'web-').getByTestId('k8s-pod-proxy')).toHaveText('linkerd-proxy');
	await expect(podRow(page, 'vote-bot-').getByTestId('k8s-pod-proxy')).toHaveText('none');
	await page.getByTestId('k8s-expected-mesh').selectOption('linkerd');
	await expect(page.getByTestId('k8s-agreement')).toHaveAttribute('data-state', 'agrees');
	expect(errors).toEqual([]);
});

test('a failure of the cluster shows the server’s message, and the rest of the page still works', async ({ page }) => {
	// The fake server grants everything, so RBAC refusals and timeouts are answered here, in
	// the API's error shape, as the server words them.
	const forbidden =
		'Kubernetes RBAC does not allow meshbench to list pods in namespace emojivoto: pods is forbidden: User "system:serviceaccount:meshbench:meshbench" cannot list resource "pods" in API group "" in the namespace "emojivoto"';
	await page.route('**/kubernetes/pods/emojivoto', (route) =>
		route.fulfill({ status: 502, json: { code: 'kubernetes_forbidden', message: forbidden, details: null } })
	);
	await page.goto('/kubernetes?ns=emojivoto');
	const podsPanel = page.getByTestId('k8s-pods-panel');
	await expect(podsPanel.getByRole('alert')).toContainText('does not allow meshbench to list pods in namespace emojivoto');
	await expect(page.getByTestId('k8s-pod')).toHaveCount(0);
	// The mesh record and the services came from the cluster as usual.
	await expect(page.getByTestId('k8s-mesh')).toHaveText('linkerd');
	await expect(page.getByTestId('k8s-service')).toHaveCount(3);
	// Allowed again: Retry shows the pods.
	await page.unroute('**/kubernetes/pods/emojivoto');
	await podsPanel.getByRole('button', { name: 'Retry' }).click();
	await expect(page.getByTestId('k8s-pod')).toHaveCount(4);

	// A cluster that does not answer the namespaces list: its message, then Retry.
	await page.route('**/kubernetes/namespaces', (route) =>
		route.fulfill({
			status: 504,
			json: { code: 'kubernetes_timeout', message: 'the Kubernetes API at https://10.0.0.1:6443 did not answer `list namespaces` within 10 s', details: null }
		})
	);
	await page.goto('/kubernetes');
	await expect(page.getByRole('alert')).toContainText('did not answer `list namespaces` within 10 s');
	await expect(page.getByTestId('k8s-mesh-status')).toHaveCount(0);
	await page.unroute('**/kubernetes/namespaces');
	await page.getByRole('button', { name: 'Retry' }).click();
	await expect(nsRow(page, 'bookinfo')).toBeVisible();
	await expect(page.getByTestId('k8s-mesh-status')).toHaveAttribute('data-namespace', 'bookinfo');
});
