// A mesh record for the unit tests of cluster.ts and charts.ts (no tests here).

import type { MeshStatus } from './types';

/** bookinfo of the istio-sidecar fixture cluster, as a result records it. */
export function istioRecord(overrides: Partial<MeshStatus> = {}): MeshStatus {
	return {
		namespace: 'bookinfo',
		mesh: 'istio',
		mode: 'sidecar',
		version: '1.24.2',
		control_plane_version: '1.24.2',
		injection: { enabled_by: 'istio-injection=enabled', pods_total: 4, pods_in_mesh: 3, coverage: 0.75, with_proxy: ['a', 'b', 'c'], without_proxy: ['d'] },
		mtls: { mode: 'STRICT', source: 'PeerAuthentication istio-system/default' },
		control_plane: { namespace: 'istio-system', healthy: true, components: [] },
		waypoints: [],
		l7_proxy: null,
		other_meshes: ['linkerd'],
		expected: 'linkerd',
		agrees: false,
		evidence: [],
		...overrides
	};
}
