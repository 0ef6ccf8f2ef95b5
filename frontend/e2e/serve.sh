#!/bin/sh
# Starts the real server for the browser tests: embedded defaults (a fresh SQLite file, the
# in-process queue and worker, the built-in target), the dashboard from frontend/build, and a
# low minimum duration so runs finish in seconds; a run naming a namespace of a cluster samples
# its pods' metrics every second (MESHBENCH_METRICS_INTERVAL), so even a short run has several.
#
#   serve.sh PORT                                  no cluster (KUBECONFIG unset)
#   serve.sh PORT --fake-kube NAME [--fake-kube NAME…]
#       first starts the test kit's fake Kubernetes API server (`fake-kube`) serving those
#       fixture clusters (crates/testkit/fixtures/kube/NAME), and points the server at it
#       through a kubeconfig in the temporary data directory; fake-kube goes when serve does.
#   --workers N                                    N in-process workers (1 unless given), so a
#       run split over generators (one worker per part) can complete
#   --users                                        first adds the users of e2e/servers.ts
#       (admin, operator, viewer) to the data directory's store, so the server needs a login
set -eu
port="$1"
shift
clusters=""
workers=1
users=false
while [ $# -gt 0 ]; do
	case "$1" in
	--workers)
		[ $# -ge 2 ] || { echo "e2e: --workers needs a number" >&2; exit 2; }
		workers="$2"
		shift 2
		;;
	--users)
		users=true
		shift
		;;
	--fake-kube)
		[ $# -ge 2 ] || { echo "e2e: --fake-kube needs a cluster name" >&2; exit 2; }
		clusters="$clusters --cluster $2"
		shift 2
		;;
	*)
		echo "usage: serve.sh PORT [--workers N] [--users] [--fake-kube CLUSTER]…" >&2
		exit 2
		;;
	esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
bin="${MESHBENCH_BIN:-$target/debug/meshbench}"
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
# The mesh lab (run as root) keeps its state, configurations and logs in the data directory,
# not in /run/meshbench-lab; its network namespaces are the host's, named as always.
export API_HOST=127.0.0.1 API_PORT="$port" MESHBENCH_DATA_DIR="$data" RESULTS_DIR="$data/results" \
	MESHBENCH_DASHBOARD_DIR="$here/build" MESHBENCH_MIN_DURATION=1 MESHBENCH_WORKERS="$workers" MESHBENCH_METRICS_INTERVAL=1 \
	MESHBENCH_LAB_DIR="$data/lab" RUST_LOG="${RUST_LOG:-warn}"
if [ "$users" = true ]; then
	# Names and passwords as e2e/servers.ts has them (AUTH_USERS); a password is read from a
	# line of standard input when that is not a terminal.
	for role in admin operator viewer; do
		printf '%s\n' "$role-password-1" | "$bin" user add "$role" --role "$role"
	done
fi
if [ -z "$clusters" ]; then
	exec "$bin" serve
fi

fake="${FAKE_KUBE_BIN:-$target/debug/fake-kube}"
if [ ! -x "$fake" ]; then
	echo "e2e: no fake-kube binary at $fake; build it first (cargo build -p meshbench-testkit --bin fake-kube)" >&2
	exit 1
fi
# Both run in the background of this shell, so it can stop the one when the other ends
# (Playwright kills the whole process group; the traps cover a TERM or Ctrl+C by hand).
# fake-kube's stdin is /dev/null: it then runs until it is killed.
fake_pid=""
serve_pid=""
stop() {
	for pid in $serve_pid $fake_pid; do kill "$pid" 2>/dev/null || true; done
}
trap stop EXIT
trap 'stop; exit 143' TERM
trap 'stop; exit 130' INT
# shellcheck disable=SC2086 # $clusters is a list of words
"$fake" $clusters --kubeconfig "$data/kubeconfig" >"$data/fake-kube.out" </dev/null &
fake_pid=$!
# It writes the kubeconfig, then prints its address.
tries=0
until grep -q '^fake-kube: http' "$data/fake-kube.out" 2>/dev/null; do
	if ! kill -0 "$fake_pid" 2>/dev/null; then
		echo "e2e: fake-kube exited before it was ready" >&2
		exit 1
	fi
	tries=$((tries + 1))
	if [ "$tries" -gt 300 ]; then
		echo "e2e: fake-kube did not start within 30 s" >&2
		exit 1
	fi
	sleep 0.1
done
cat "$data/fake-kube.out"
export KUBECONFIG="$data/kubeconfig"
"$bin" serve </dev/null &
serve_pid=$!
status=0
wait "$serve_pid" || status=$?
serve_pid=""
exit "$status"
