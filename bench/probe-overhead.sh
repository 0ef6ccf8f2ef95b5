#!/usr/bin/env bash
# What the eBPF probe costs: `meshbench run` throughput against nginx on loopback with and
# without the probe attached (filtered on nginx's port, so every request and every response
# passes its read program). The goal: at most 3 % lost.
#
# On a small VM, throughput swings by ±10 % from one second to the next (wrk shows the same),
# so separate runs with and without the probe cannot resolve 3 %. Instead each shape is ONE
# long run, during which the probe is attached and detached again and again (PERIOD seconds
# on, PERIOD off, a fresh `meshbench probe` each time). Every second of the run's timeline is
# then classed: "with" when it lies wholly inside an attached span, "without" when it lies
# wholly outside any probe process's life (loading and verifying the programs costs CPU of
# its own; those seconds count for neither). Neighbouring on/off spans are paired, so drift
# over minutes cancels; the loss is the mean "with" over the mean "without", with a bootstrap
# 95 % interval over the pairs.
#
# Two shapes: keep-alive (100 connections: the per-request programs are the cost) and a
# connection per request (`Connection: close`: the state-change and lifetime programs run on
# every request too). nginx (one worker) runs on CPU 0 and the load generator on CPU 1, which
# halves the noise on a 2-core box.
#
# Then, per shape, the probe's in-kernel cost without the noise: a 10 s run with the probe
# attached under `perf record -a -g` (cpu-clock sampling; this VM has no hardware counters),
# counting every sample whose call chain passes through bpf_trace_run* (the tracepoints'
# dispatch, the programs and the helpers they call) plus the tracepoint stubs themselves:
# their share of all CPU time and nanoseconds per request. The kernel's own BPF statistics
# (kernel.bpf_stats_enabled) are not used: they add two clock reads per program run, which
# on this VM cost about as much as the programs.
#
# Usage (as root): bench/probe-overhead.sh [SECONDS] [PERIOD]   (defaults: 240 s runs, 4 s
# on / 4 s off; SHAPES="close" runs one shape only)
set -euo pipefail

SECS=${1:-240}
PERIOD=${2:-4}
PORT=${BENCH_PORT:-18090}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/meshbench-probe-bench.XXXXXX)
URL="http://127.0.0.1:${PORT}/"

if [ "$(id -u)" -ne 0 ]; then
  echo "the probe needs root" >&2
  exit 1
fi
"$ROOT/scripts/bpf.sh"
if ! command -v perf >/dev/null 2>&1; then
  echo "installing linux-perf from Debian…" >&2
  apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null
fi
if ! command -v nginx >/dev/null 2>&1; then
  echo "installing nginx-light from Debian…" >&2
  apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null
fi

echo "building meshbench (release)…" >&2
(cd "$ROOT" && cargo build --release -q -p meshbench)
MB="${CARGO_TARGET_DIR:-$ROOT/target}/release/meshbench"

NGINX_PID=
TOGGLER_PID=
cleanup() {
  [ -n "$TOGGLER_PID" ] && kill "$TOGGLER_PID" 2>/dev/null || true
  pkill -INT -f "meshbench probe --duration [0-9]+ --port ${PORT} " 2>/dev/null || true
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=bench/nginx.sh
. "$ROOT/bench/nginx.sh"
start_nginx "$WORK" "$PORT"
CORES=$(nproc)
PIN_SERVER=()
PIN_CLIENT=()
if [ "$CORES" -ge 2 ]; then
  taskset -a -p -c 0 "$NGINX_PID" >/dev/null
  for worker in $(pgrep -P "$NGINX_PID"); do taskset -a -p -c 0 "$worker" >/dev/null; done
  PIN_CLIENT=(taskset -c 1)
  PIN_SERVER=(taskset -c 0)
fi
now() { date +%s.%N; }

# Attaches the probe for PERIOD seconds, then leaves it off for PERIOD, until killed. Logs
# "launch ATTACHED EXIT" per probe: ATTACHED is one second before its first per-second line.
toggle() {
  local log=$1
  while :; do
    local launch attached=
    launch=$(now)
    # The probe runs beside nginx, so its once-a-second reads do not steal the load
    # generator's core.
    "${PIN_SERVER[@]}" "$MB" probe --duration "$PERIOD" --port "$PORT" --output json \
      2> >(while read -r _; do [ -z "$attached" ] && attached=$(now) && echo "$attached" >"$WORK/first"; done) \
      >/dev/null || true
    sleep 0.2 # the stderr reader's last write
    echo "$launch $(python3 -c "print(float(open('$WORK/first').read()) - 1)" 2>/dev/null || echo 0) $(now)" >>"$log"
    rm -f "$WORK/first"
    sleep "$PERIOD"
  done
}

analyse() {
  python3 - "$1" "$2" "$SECS" <<'PY'
import json, random, sys
from datetime import datetime
result = json.load(open(sys.argv[1]))
spans = [tuple(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
whole, _, frac = result["started_at"].rstrip("Z").partition(".")
start = datetime.fromisoformat(whole + "+00:00").timestamp() + float("0." + (frac or "0"))
margin = 0.1
cycles = []  # per probe: (with seconds, without seconds after it)
for k, (launch, attached, exit_) in enumerate(spans):
    if attached <= 0:
        continue
    nxt = spans[k + 1][0] if k + 1 < len(spans) else float("inf")
    on, off = [], []
    for s in result["timeline"]:
        t0 = start + s["second"]
        t1 = t0 + 1
        if t0 >= attached + margin and t1 <= exit_ - margin:
            on.append(s["requests"])
        elif t0 >= exit_ + margin and t1 <= nxt - margin:
            off.append(s["requests"])
    if on and off:
        cycles.append((on, off))
if len(cycles) < 3:
    sys.exit(f"only {len(cycles)} on/off cycles: run longer")
def loss(cs):
    on = [x for c in cs for x in c[0]]
    off = [x for c in cs for x in c[1]]
    return 100 * (1 - (sum(on) / len(on)) / (sum(off) / len(off)))
random.seed(1)
boots = sorted(loss([random.choice(cycles) for _ in cycles]) for _ in range(2000))
on = [x for c in cycles for x in c[0]]
off = [x for c in cycles for x in c[1]]
print(f"  {len(cycles)} on/off cycles: {len(on)} s with the probe at {sum(on)/len(on):,.0f} req/s, "
      f"{len(off)} s without at {sum(off)/len(off):,.0f} req/s")
print(f"  lost with the probe: {loss(cycles):+.1f} % (95 % interval {boots[50]:+.1f} to {boots[1949]:+.1f} %; goal: at most 3 %)")
PY
}

# The probe's share of CPU time in a perf profile ($1), and ns per request ($2 requests).
kernel_cost() {
  perf report -i "$1" --stdio --children --sort sym -g none >"$1.children" 2>/dev/null
  perf report -i "$1" --stdio --no-children --sort sym -g none >"$1.self" 2>/dev/null
  python3 - "$1" "$2" <<'PY'
import re, sys
profile, requests = sys.argv[1], int(sys.argv[2])
children, selfs = open(profile + ".children").read(), open(profile + ".self").read()
total = int(re.search(r"Event count \(approx.\): (\d+)", selfs).group(1))  # cpu-clock: ns
def pct(text, pattern):
    return sum(float(line.split("%")[0].split()[-1])
               for line in text.splitlines() if "%" in line and re.search(pattern, line))
# Inclusive time under the dispatch (programs and helpers included), and the stubs' own.
share = pct(children, r"\] bpf_trace_run\d") + pct(selfs, r"\] (call_trace_|__bpf_trace_)")
print(f"  in the kernel, the probe took {share:.2f} % of all CPU time: "
      f"{share / 100 * total / requests:,.0f} ns per request")
PY
}

for shape in ${SHAPES:-keepalive close}; do
  if [ "$shape" = keepalive ]; then
    args=(-c 100 -t 1)
  else
    args=(-c 20 -t 1 -H "Connection: close")
  fi
  echo "== $shape: ${args[*]}, one ${SECS} s run, probe ${PERIOD} s on / ${PERIOD} s off"
  : >"$WORK/spans"
  toggle "$WORK/spans" &
  TOGGLER_PID=$!
  "${PIN_CLIENT[@]}" "$MB" run "$URL" -d "${SECS}s" --json --no-progress "${args[@]}" >"$WORK/run.json" 2>/dev/null
  kill "$TOGGLER_PID" 2>/dev/null || true
  wait "$TOGGLER_PID" 2>/dev/null || true
  TOGGLER_PID=
  sleep "$PERIOD"
  analyse "$WORK/run.json" "$WORK/spans"

  # The probe's in-kernel cost, from a profile of a 10 s run with it attached.
  "${PIN_SERVER[@]}" "$MB" probe --duration 60 --port "$PORT" --output json >/dev/null 2>"$WORK/probe.err" &
  probe=$!
  for _ in $(seq 100); do grep -q connects "$WORK/probe.err" 2>/dev/null && break; sleep 0.1; done
  perf record -q -a -g -F 1999 -e cpu-clock -o "$WORK/perf.data" -- \
    "${PIN_CLIENT[@]}" "$MB" run "$URL" -d 10s --json --no-progress "${args[@]}" >"$WORK/run.json" 2>/dev/null
  kill -INT "$probe"
  wait "$probe" || true
  kernel_cost "$WORK/perf.data" "$(python3 -c 'import json; print(json.load(open("'"$WORK"'/run.json"))["requests"])')"
done
