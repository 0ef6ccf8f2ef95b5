#!/usr/bin/env bash
# How far under wrk's CPU per request an HTTP/1.1 closed-model generator can go on this
# kernel: meshbench and wrk beside the smallest clients that can be written
# (bench/syscall-floor: epoll with one recv and one send per request; io_uring with every
# submission of a loop turn in one io_uring_enter; io_uring with multishot receives into a
# provided-buffer ring, so no syscall is made per request at all). They do nothing but send
# `GET /` again when a response completes — no clock, no histogram — so what they cost is
# the kernel's own work per request (TCP over loopback, wake-ups), which any generator pays.
#
# Shape: 1 thread × 50 keep-alive connections against nginx (one worker) on loopback, the
# generator pinned to CPU 0 and nginx to CPU 1; ROUNDS interleaved rounds of SECONDS each.
# Per tool: median CPU µs per request (user + system, GNU time), the system share, and the
# ratio to wrk's.
#
# Usage: bench/syscall-floor.sh [ROUNDS] [SECONDS]   (defaults: 3 rounds of 5 s)
set -euo pipefail

ROUNDS=${1:-3}
SECS=${2:-5}
PORT=${BENCH_PORT:-18082}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/meshbench-floor.XXXXXX)
URL="http://127.0.0.1:${PORT}/"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx || [ ! -x /usr/bin/time ] || ! need taskset; then
  echo "installing wrk, nginx-light, time and util-linux from Debian…" >&2
  apt-get update -qq && apt-get install -y -qq wrk nginx-light time util-linux >/dev/null
fi

echo "building meshbench and the floor clients (release)…" >&2
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && cargo build --release -q -p meshbench &&
  cargo build --release -q --manifest-path bench/syscall-floor/Cargo.toml --target-dir "$TARGET_DIR/syscall-floor")
MB="$TARGET_DIR/release/meshbench"
FLOOR="$TARGET_DIR/syscall-floor/release/syscall-floor"

NGINX_PID=
cleanup() { [ -n "$NGINX_PID" ] && { kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; }; rm -rf "$WORK"; }
trap cleanup EXIT
# shellcheck source=bench/nginx.sh
. "$ROOT/bench/nginx.sh"
start_nginx "$WORK" "$PORT"
for pid in $NGINX_PID $(pgrep -P "$NGINX_PID"); do taskset -pc 1 "$pid" >/dev/null; done

TOOLS=(wrk meshbench epoll uring uring-multishot)

# run TOOL -> "requests user_s sys_s"
run_one() {
  local tool=$1 tm="$WORK/time" n
  case $tool in
    wrk) n=$(taskset -c 0 /usr/bin/time -f "%U %S" -o "$tm" wrk -t1 -c50 -d"${SECS}s" "$URL" |
               grep -oE '[0-9]+ requests in' | cut -d' ' -f1) ;;
    meshbench) n=$(taskset -c 0 /usr/bin/time -f "%U %S" -o "$tm" "$MB" run "$URL" -t 1 -c 50 \
               -d "${SECS}s" --json --no-progress | python3 -c 'import json, sys; print(json.load(sys.stdin)["requests"])') ;;
    *) n=$(taskset -c 0 /usr/bin/time -f "%U %S" -o "$tm" "$FLOOR" "$tool" "127.0.0.1:${PORT}" 50 "$SECS") ;;
  esac
  echo "$n $(tail -1 "$tm")"
}

declare -A RESULTS
for round in $(seq "$ROUNDS"); do
  n=${#TOOLS[@]}
  for i in $(seq 0 $((n - 1))); do
    tool=${TOOLS[$(( (i + round) % n ))]}
    line=$(run_one "$tool")
    RESULTS[$tool]+="$line;"
    echo "round $round  $tool: $line" >&2
    sleep 1
  done
done

echo
echo "== closed model, 1 thread × 50 connections, nginx 1 worker: $ROUNDS interleaved rounds of ${SECS}s =="
printf '%-16s %12s %14s %10s %8s\n' tool "req/s(med)" "CPU µs/req" "system" "×wrk"
for tool in "${TOOLS[@]}"; do
  python3 - "$tool" "$SECS" "${RESULTS[$tool]}" "${RESULTS[wrk]}" <<'PY'
import statistics, sys
tool, secs, mine, wrk = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = lambda s: [list(map(float, r.split())) for r in s.split(";") if r.strip()]
med = statistics.median
cpu = lambda rs: med([(r[1] + r[2]) / r[0] * 1e6 for r in rs])
m = rows(mine)
share = med([r[2] / (r[1] + r[2]) for r in m])
print(f"{tool:<16} {med([r[0] for r in m]) / secs:>12.0f} {cpu(m):>14.2f} {100 * share:>9.0f}% {cpu(m) / cpu(rows(wrk)):>8.2f}")
PY
done
