#!/usr/bin/env bash
# Benchmarks the API itself: GET /benchmarks/jobs and GET /metrics/summary with 100,000
# completed jobs stored, on SQLite and on PostgreSQL, driven by `meshbench run` on loopback.
# Usage: bench/api.sh [SECONDS] [JOBS]     (defaults: 10 s per endpoint, 100000 jobs)
set -euo pipefail
SECS=${1:-10}
JOBS=${2:-100000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/meshbench-api-bench.XXXXXX)
PORT=${BENCH_API_PORT:-18400}

"$ROOT/scripts/services.sh"
(cd "$ROOT" && cargo build --release -q -p meshbench)
MB="${CARGO_TARGET_DIR:-$ROOT/target}/release/meshbench"
PGDB="mb_bench_$$"
SERVE_PID=
cleanup() {
  [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $PGDB" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for backend in sqlite postgres; do
  export MESHBENCH_DATA_DIR="$WORK/data-$backend" RESULTS_DIR="$WORK/results" MESHBENCH_WORKERS=0 \
    API_HOST=127.0.0.1 API_PORT=$PORT MESHBENCH_LOG=warn
  if [ "$backend" = postgres ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $PGDB" >/dev/null
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$PGDB"
  else
    unset DATABASE_URL
  fi
  "$MB" db init
  echo "seeding $JOBS completed jobs into $backend…" >&2
  if [ "$backend" = postgres ]; then
    python3 "$ROOT/bench/seed_jobs.py" postgres - "$JOBS" | psql -h 127.0.0.1 -U postgres -d "$PGDB" -q >/dev/null
  else
    python3 "$ROOT/bench/seed_jobs.py" sqlite "$MESHBENCH_DATA_DIR/meshbench.db" "$JOBS"
  fi
  "$MB" serve >"$WORK/serve.log" 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
  for path in "/benchmarks/jobs" "/benchmarks/jobs?mesh_type=istio&limit=50" "/metrics/summary"; do
    "$MB" run "http://127.0.0.1:$PORT$path" -c 10 -t 1 -d "${SECS}s" --warmup 1s --json --no-progress >"$WORK/r.json"
    python3 - "$WORK/r.json" "$backend" "$path" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
codes = r["status_codes"]
print(f"{sys.argv[2]:<9} GET {sys.argv[3]:<42} {r['rps']:>9.0f} req/s  p50 {r['latency_us']['p50']/1000:7.2f} ms  "
      f"p99 {r['latency_us']['p99']/1000:7.2f} ms  statuses {codes}")
PY
  done
  kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true; SERVE_PID=
done
