#!/bin/sh
# Starts the real server for the browser tests: embedded defaults (a fresh SQLite file, the
# in-process queue and worker, the built-in target), the dashboard from frontend/build, and a
# low minimum duration so runs finish in seconds.
set -eu
port="$1"
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
bin="${MESHBENCH_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/meshbench}"
if [ ! -x "$bin" ]; then
	echo "e2e: no meshbench binary at $bin; build it first (cargo build -p meshbench)" >&2
	exit 1
fi
if [ ! -f "$here/build/index.html" ]; then
	echo "e2e: the dashboard is not built; run npm run build first" >&2
	exit 1
fi
data=$(mktemp -d /tmp/meshbench-e2e.XXXXXX)
unset DATABASE_URL REDIS_URL KUBECONFIG
export API_HOST=127.0.0.1 API_PORT="$port" MESHBENCH_DATA_DIR="$data" RESULTS_DIR="$data/results" \
	MESHBENCH_DASHBOARD_DIR="$here/build" MESHBENCH_MIN_DURATION=1 MESHBENCH_WORKERS=1 RUST_LOG="${RUST_LOG:-warn}"
exec "$bin" serve
