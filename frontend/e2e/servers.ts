// The three `meshbench serve` the browser tests run against, started by playwright.config.ts
// through e2e/serve.sh: one without a cluster and without users (development mode: no login;
// every spec's default baseURL), one pointed at the test kit's fake Kubernetes API server
// serving fixture clusters (kubernetes.spec.ts), and one with users, so it needs a login
// (auth.spec.ts).

/** The server without a cluster (`E2E_PORT`). */
export const PORT = Number(process.env.E2E_PORT ?? 18_480);
/** The server with the fake cluster (`E2E_KUBE_PORT`, else the next port). */
export const KUBE_PORT = Number(process.env.E2E_KUBE_PORT ?? PORT + 1);
/** The fixture clusters (crates/testkit/fixtures/kube/…) the fake API server serves, layered. */
export const KUBE_CLUSTERS = ['istio-sidecar', 'linkerd', 'none'];
/** In-process workers of the server with the fake cluster: a run split over two generators needs two. */
export const KUBE_WORKERS = 3;

/** The server with users (`E2E_AUTH_PORT`, else the one after the cluster's). */
export const AUTH_PORT = Number(process.env.E2E_AUTH_PORT ?? PORT + 2);
/** The users e2e/serve.sh --users adds: one of each role, the password `<role>-password-1`. */
export const AUTH_USERS = {
	admin: { username: 'admin', password: 'admin-password-1' },
	operator: { username: 'operator', password: 'operator-password-1' },
	viewer: { username: 'viewer', password: 'viewer-password-1' }
} as const;

export const BASE_URL = `http://127.0.0.1:${PORT}`;
export const KUBE_BASE_URL = `http://127.0.0.1:${KUBE_PORT}`;
export const AUTH_BASE_URL = `http://127.0.0.1:${AUTH_PORT}`;
