#!/usr/bin/env bash
# The API against its own OpenAPI document: starts the real `meshbench serve` (embedded
# defaults, a fresh data directory) and runs schemathesis on the document the server serves
# at /openapi.json. Fails on any 5xx, any answer whose status, content type or body the
# document does not describe, and any request the document calls invalid that the server
# accepts. Installs schemathesis (pinned) into a venv of its own once; idempotent.
#
# Only loopback ever receives load. The started benchmarks go to whatever `service_url`
# schemathesis makes up, so the server and schemathesis run in a network namespace of their
# own holding only a loopback interface (`unshare -n`, root): an address elsewhere is
# unreachable, and even 127.0.0.1 is the namespace's own, not this host's PostgreSQL or
# Redis. Every run is short and small (1–2 s, at most 4 connections, 1,000 requests/s, one
# worker, eBPF declared absent), and the server is stopped when the check ends, queue and
# all. Without a network namespace (not root) POST /benchmarks/start is left out instead.
#
# The Kubernetes endpoints answer from the test kit's fake API server (fake-kube, beside
# the binary) holding the Istio, Linkerd and plain fixture clusters, so their 200s, 404s and
# 422s are checked against the document too.
#
# Users exist in the run (an admin made before the server starts), so it goes through the
# authentication layer as CI and scripts do: every request carries an admin's API token.
#
# Usage: scripts/contract.sh [extra schemathesis options]
# MESHBENCH_BIN: the binary (default $CARGO_TARGET_DIR/debug/meshbench, else target/...).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

schemathesis_version=4.32.5
venv=${MESHBENCH_SCHEMATHESIS_VENV:-/var/cache/meshbench/venv-schemathesis}
bin="${MESHBENCH_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/meshbench}"

if [ "${1:-}" != "--inside" ]; then
  if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$schemathesis_version"; then
    echo "installing schemathesis $schemathesis_version into $venv…" >&2
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    PIP_ROOT_USER_ACTION=ignore "$venv/bin/pip" install -q --disable-pip-version-check \
      "schemathesis==$schemathesis_version"
  fi
  if [ ! -x "$bin" ] || [ ! -x "$(dirname "$bin")/fake-kube" ]; then
    echo "contract: no meshbench or fake-kube binary beside $bin; build them first" \
      "(cargo build -p meshbench -p meshbench-testkit --bin meshbench --bin fake-kube)" >&2
    exit 1
  fi
  if unshare -n true 2>/dev/null; then
    exec unshare -n "$root/scripts/contract.sh" --inside "$@"
  fi
  echo "contract: cannot make a network namespace (not root?): POST /benchmarks/start is" \
    "left out, so no load goes anywhere" >&2
  export MESHBENCH_CONTRACT_EXCLUDE=1
  exec "$root/scripts/contract.sh" --inside "$@"
fi
shift

if [ -z "${MESHBENCH_CONTRACT_EXCLUDE:-}" ]; then
  ip link set lo up
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$(mktemp -d /tmp/meshbench-contract.XXXXXX)
log="$data/serve.log"
server=""
fake=""
cleanup() {
  for pid in $server $fake; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ -n "${MESHBENCH_CONTRACT_KEEP:-}" ] || rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$(dirname "$bin")/fake-kube" --cluster istio-sidecar --cluster linkerd --cluster none \
  --kubeconfig "$data/kubeconfig" >"$data/fake-kube.log" 2>&1 </dev/null &
fake=$!
for _ in $(seq 100); do
  [ -s "$data/kubeconfig" ] && break
  sleep 0.05
done

# Users exist, so every operation but the public ones needs a login or a token: the run
# sends an admin's token (made below), as CI and scripts do.
admin_password="contract-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$admin_password" | MESHBENCH_DATA_DIR="$data" DATABASE_URL= \
  "$bin" user add contract-admin --role admin >/dev/null 2>&1
(
  unset DATABASE_URL REDIS_URL
  export KUBECONFIG="$data/kubeconfig"
  export API_HOST=127.0.0.1 API_PORT="$port" MESHBENCH_DATA_DIR="$data" RESULTS_DIR="$data/results" \
    MESHBENCH_MIN_DURATION=1 MESHBENCH_MAX_DURATION=2 MESHBENCH_MAX_CONNECTIONS=4 \
    MESHBENCH_MAX_RATE=1000 MESHBENCH_WORKERS=1 MESHBENCH_NO_BPF=1 MESHBENCH_NO_LAB=1 RUST_LOG="${RUST_LOG:-warn}"
  exec "$bin" serve
) >"$log" 2>&1 &
server=$!

base="http://127.0.0.1:$port"
for _ in $(seq 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('$base/health', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "contract: the server exited:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done

# A finished job, a report over it and its share link, for the operations on one resource
# (scripts/contract.toml names them); the job runs 1 s against the built-in target.
ids=$(BASE="$base" PASSWORD="$admin_password" python3 - <<'PY'
import json, os, time, urllib.request

base = os.environ["BASE"]
headers = {}

def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)

# Log in, and make the token the run sends.
login = urllib.request.Request(base + "/auth/login", method="POST",
    data=json.dumps({"username": "contract-admin", "password": os.environ["PASSWORD"]}).encode())
with urllib.request.urlopen(login, timeout=10) as response:
    headers["Cookie"] = response.headers["Set-Cookie"].split(";")[0]
token = call("POST", "/auth/tokens", {"name": "contract", "expires_in_days": 1})["token"]
# What the per-resource operations act on instead of the run's own token and admin (the
# fuzzer reuses ids it reads in answers, and would revoke or disable them).
spare_token = call("POST", "/auth/tokens", {"name": "spare"})["token_id"]
call("POST", "/users", {"username": "contract-spare", "password": "a spare user's password",
                        "role": "viewer"})
headers.pop("Cookie")
headers["Authorization"] = f"Bearer {token}"

job = call("POST", "/benchmarks/start", {"test_type": "http", "duration": 1, "concurrent_connections": 2})["job_id"]
deadline = time.monotonic() + 30
while call("GET", f"/benchmarks/jobs/{job}")["status"] != "completed":
    if time.monotonic() > deadline:
        raise SystemExit(f"contract: job {job} did not complete in 30 s")
    time.sleep(0.2)
report = call("POST", "/reports/generate", {"job_ids": [job]})
series = call("POST", "/benchmarks/start", {"test_type": "http", "duration": 1, "concurrent_connections": 2,
                                            "repeats": 2})["series_ids"][0]
print(job, report["report_id"], report["share_url"].rsplit("/", 1)[-1], series, spare_token, token)
PY
)
read -r MESHBENCH_CONTRACT_JOB_ID MESHBENCH_CONTRACT_REPORT_ID MESHBENCH_CONTRACT_SHARE_TOKEN \
  MESHBENCH_CONTRACT_SERIES_ID MESHBENCH_CONTRACT_TOKEN_ID token <<<"$ids"
export MESHBENCH_CONTRACT_JOB_ID MESHBENCH_CONTRACT_REPORT_ID MESHBENCH_CONTRACT_SHARE_TOKEN \
  MESHBENCH_CONTRACT_SERIES_ID MESHBENCH_CONTRACT_TOKEN_ID

exclude=()
if [ -n "${MESHBENCH_CONTRACT_EXCLUDE:-}" ]; then
  exclude=(--exclude-path /benchmarks/start --exclude-path /series/start)
fi

status=0
# From the scratch directory: schemathesis leaves a .schemathesis cache where it runs. One
# worker: a run with two once ended in an error inside Hypothesis ("AST constructor recursion
# depth mismatch"), the tool's, not the API's; one takes about 20 s anyway.
cd "$data"
"$venv/bin/schemathesis" --config-file "$root/scripts/contract.toml" run "$base/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
  --phases examples,coverage,fuzzing \
  --max-examples "${MESHBENCH_CONTRACT_EXAMPLES:-30}" \
  --seed "${MESHBENCH_CONTRACT_SEED:-1}" \
  --request-timeout 10 \
  --workers 1 \
  --suppress-health-check too_slow,filter_too_much \
  --no-color \
  --header "Authorization: Bearer $token" \
  "${exclude[@]}" "$@" || status=$?

if grep -q "panicked" "$log"; then
  echo "contract: the server panicked:" >&2
  grep -A5 "panicked" "$log" >&2
  status=1
fi
exit "$status"
