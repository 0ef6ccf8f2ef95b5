#!/usr/bin/env bash
# meshbench vs wrk (and hey when present) against the same nginx on loopback.
#
# nginx: one worker, a tiny fixed response, access log off. Rounds are interleaved with a
# rotating order so drift on the box (thermal, noisy neighbours) hits every tool alike.
# Per tool and shape it prints median throughput, the ratio to wrk, CPU-seconds per 100k
# requests (user + system of the generator process, from GNU time), user-space µs per
# request and peak RSS. Then it checks the open model: achieved vs requested rate, and a
# 1 s SIGSTOP of the nginx worker in a 6 s run at 2,000 req/s (expected p90 400 ± 20 ms,
# p99 940 ± 20 ms).
#
# Usage: bench/vs-wrk.sh [ROUNDS] [SECONDS]      (defaults: 5 rounds of 10 s)
# Differences under ±5 % are noise on a 2-core box.
set -euo pipefail

ROUNDS=${1:-5}
SECS=${2:-10}
PORT=${BENCH_PORT:-18080}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/meshbench-bench.XXXXXX)
URL="http://127.0.0.1:${PORT}/"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx || [ ! -x /usr/bin/time ]; then
  echo "installing wrk, nginx-light and time from Debian…" >&2
  apt-get update -qq && apt-get install -y -qq wrk nginx-light time >/dev/null
fi

echo "building meshbench (release)…" >&2
(cd "$ROOT" && cargo build --release -q -p meshbench)
MB="${CARGO_TARGET_DIR:-$ROOT/target}/release/meshbench"

NGINX_PID=
cleanup() { [ -n "$NGINX_PID" ] && { kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; }; rm -rf "$WORK"; }
trap cleanup EXIT
# shellcheck source=bench/nginx.sh
. "$ROOT/bench/nginx.sh"
start_nginx "$WORK" "$PORT"
worker_pid() { pgrep -P "$NGINX_PID" | head -1; }

# run TOOL THREADS CONNS -> "rps requests user_s sys_s maxrss_kb"
run_one() {
  local tool=$1 t=$2 c=$3 out="$WORK/out" tm="$WORK/time"
  case $tool in
    wrk) /usr/bin/time -f "%U %S %M" -o "$tm" wrk -t"$t" -c"$c" -d"${SECS}s" "$URL" >"$out" 2>&1
         python3 - "$out" "$tm" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
n = int(re.search(r"(\d+) requests in", text).group(1))
u, s, m = open(sys.argv[2]).read().split()[-3:]
print(rps, n, u, s, m)
PY
         ;;
    meshbench) /usr/bin/time -f "%U %S %M" -o "$tm" "$MB" run "$URL" -t "$t" -c "$c" -d "${SECS}s" --json --no-progress >"$out"
         python3 - "$out" "$tm" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
u, s, m = open(sys.argv[2]).read().split()[-3:]
print(r["rps"], r["requests"], u, s, m)
PY
         ;;
    hey) /usr/bin/time -f "%U %S %M" -o "$tm" hey -z "${SECS}s" -c "$c" -cpus "$t" "$URL" >"$out" 2>&1
         python3 - "$out" "$tm" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
n = sum(int(x) for x in re.findall(r"\[\d+\]\s+(\d+) responses", text))
u, s, m = open(sys.argv[2]).read().split()[-3:]
print(rps, n, u, s, m)
PY
         ;;
  esac
}

TOOLS=(wrk meshbench)
need hey && TOOLS+=(hey)
declare -A RESULTS
for shape in "1 50" "2 200"; do
  read -r t c <<<"$shape"
  for round in $(seq "$ROUNDS"); do
    n=${#TOOLS[@]}
    for i in $(seq 0 $((n - 1))); do
      tool=${TOOLS[$(( (i + round) % n ))]}
      line=$(run_one "$tool" "$t" "$c")
      RESULTS["$t×$c $tool"]+="$line;"
      echo "round $round  $t×$c  $tool: $line" >&2
      sleep 1
    done
  done
done

echo
echo "== closed model: $ROUNDS interleaved rounds of ${SECS}s, nginx 1 worker on 127.0.0.1 =="
printf '%-8s %-10s %12s %8s %16s %14s %10s\n' shape tool "req/s(med)" "×wrk" "CPU-s/100k req" "user µs/req" "peak RSS"
for shape in "1×50" "2×200"; do
  for tool in "${TOOLS[@]}"; do
    python3 - "$shape" "$tool" "${RESULTS["$shape $tool"]}" "${RESULTS["$shape wrk"]}" <<'PY'
import statistics, sys
shape, tool, mine, wrk = sys.argv[1:5]
def rows(s): return [list(map(float, r.split())) for r in s.split(";") if r.strip()]
m, w = rows(mine), rows(wrk)
med = lambda xs: statistics.median(xs)
rps = med([r[0] for r in m]); wrps = med([r[0] for r in w])
cpu = med([(r[2] + r[3]) / r[1] * 1e5 for r in m])
user = med([r[2] / r[1] * 1e6 for r in m])
rss = max(r[4] for r in m) / 1024
print(f"{shape:<8} {tool:<10} {rps:>12.0f} {rps / wrps:>8.2f} {cpu:>16.3f} {user:>14.2f} {rss:>8.1f} MB")
PY
  done
done

echo
echo "== open model: achieved vs requested rate (meshbench, 1 thread, 50 connections, ${SECS}s) =="
for rate in 1000 10000 50000 100000; do
  "$MB" run "$URL" -t 1 -c 50 -d "${SECS}s" --warmup 1s --rate "$rate" --json --no-progress >"$WORK/open.json"
  python3 - "$WORK/open.json" "$rate" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); want = float(sys.argv[2])
print(f"requested {want:>8.0f}  achieved {r['rps']:>10.1f}  error {100 * (r['rps'] - want) / want:+.3f}%  "
      f"p99 {r['latency_us']['p99']} us  saturated={r['loadgen']['saturated']}")
PY
done

echo
echo "== stall: nginx worker SIGSTOPped for 1 s in a 6 s run at 2000 req/s =="
"$MB" run "$URL" -t 1 -c 50 -d 6s --rate 2000 --json --no-progress >"$WORK/stall.json" &
RUN=$!
W=$(worker_pid)
# Python keeps the stop exactly 1 s long (a shell's kill/sleep/kill adds a few ms of forks).
python3 -c 'import os, signal, sys, time
pid = int(sys.argv[1]); time.sleep(2.5)
os.kill(pid, signal.SIGSTOP); time.sleep(1.0); os.kill(pid, signal.SIGCONT)' "$W"
wait "$RUN"
python3 - "$WORK/stall.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l, s = r["latency_us"], r["service_time_us"]
ok = lambda v, want: "ok" if abs(v / 1000 - want) <= 20 else "OUT OF RANGE"
print(f"requests {r['requests']}  rps {r['rps']:.1f}  errors {r['errors']}")
print(f"latency p50 {l['p50']/1000:.1f} ms  p90 {l['p90']/1000:.1f} ms (expect 400±20: {ok(l['p90'], 400)})  "
      f"p99 {l['p99']/1000:.1f} ms (expect 940±20: {ok(l['p99'], 940)})  max {l['max']/1000:.1f} ms")
print(f"service time (uncorrected) p50 {s['p50']/1000:.2f} ms  p90 {s['p90']/1000:.2f} ms  p99 {s['p99']/1000:.1f} ms")
PY
