// The two `meshbench serve` the browser tests run against, started by playwright.config.ts
// through e2e/serve.sh: one without a cluster (every spec's default baseURL), and one pointed
// at the test kit's fake Kubernetes API server serving fixture clusters (kubernetes.spec.ts).

/** The server without a cluster (`E2E_PORT`). */
export const PORT = Number(process.env.E2E_PORT ?? 18_480);
/** The server with the fake cluster (`E2E_KUBE_PORT`, else the next port). */
export const KUBE_PORT = Number(process.env.E2E_KUBE_PORT ?? PORT + 1);
/** The fixture clusters (crates/testkit/fixtures/kube/…) the fake API server serves, layered. */
export const KUBE_CLUSTERS = ['istio-sidecar', 'linkerd', 'none'];
/** In-process workers of the server with the fake cluster: a run split over two generators needs two. */
export const KUBE_WORKERS = 3;

export const BASE_URL = `http://127.0.0.1:${PORT}`;
export const KUBE_BASE_URL = `http://127.0.0.1:${KUBE_PORT}`;
