#!/usr/bin/env bash
# What the eBPF probe costs: `meshbench run` throughput against nginx on loopback with and
# without the probe attached (filtered on nginx's port, so every request and every response
# passes its read program). The goal: at most 3 % lost.
#
# On a small VM, throughput swings by ±10 % from one second to the next (wrk shows the same),
# so separate runs with and without the probe cannot resolve 3 %. Instead each shape is ONE
# long run, during which the probe is attached and detached again and again: PERIOD seconds
# on, PERIOD off. The probe is loaded once (crates/probe/examples/probe_toggle.rs) and only
# its links are switched, which takes milliseconds; reloading would run the verifier each
# time, on the CPUs being measured. Throughput is read from nginx's own request counter
# (stub_status) at every switch, so each span's rate is exact to its edges and no second is
# split between the two states. Each span with the probe is set against the spans without it
# on either side, so the box's drift cancels to first order; the loss is the geometric mean
# of those ratios, with a bootstrap 95 % interval over the spans with the probe.
#
# Two shapes: keep-alive (100 connections: the per-request program is the cost) and a
# connection per request (`Connection: close`: the state-change and lifetime programs run on
# every request too). nginx (one worker) and the probe run on CPU 0, the load generator on
# CPU 1, which halves the noise on a 2-core box.
#
# Then, per shape, the probe's in-kernel cost without the noise: a 10 s run with the probe
# attached under `perf record -a -g` (cpu-clock sampling; this VM has no hardware counters),
# counting every sample whose call chain passes through bpf_trace_run* (the tracepoints'
# dispatch, the programs and the helpers they call) plus the tracepoint stubs themselves:
# their share of all CPU time and nanoseconds per request. The kernel's own BPF statistics
# (kernel.bpf_stats_enabled) are not used: they add two clock reads per program run, which
# on this VM cost about as much as the programs.
#
# Usage (as root): bench/probe-overhead.sh [SECONDS] [PERIOD]   (defaults: 240 s runs, 0.25 s
# on / 0.25 s off; SHAPES="close" runs one shape only; KEEP_WORK=1 keeps the spans and profiles)
set -euo pipefail

SECS=${1:-240}
PERIOD=${2:-0.25}
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

echo "building meshbench and the probe toggler (release)…" >&2
(cd "$ROOT" && cargo build --release -q -p meshbench &&
  cargo build --release -q -p meshbench-probe --example probe_toggle)
MB="${CARGO_TARGET_DIR:-$ROOT/target}/release/meshbench"
TOGGLE="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/probe_toggle"

NGINX_PID=
RUN_PID=
cleanup() {
  [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null || true
  pkill -INT -f "meshbench probe --duration [0-9]+ --port ${PORT} " 2>/dev/null || true
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
# shellcheck source=bench/nginx.sh
. "$ROOT/bench/nginx.sh"
start_nginx "$WORK" "$PORT"
PIN_SERVER=()
PIN_CLIENT=()
if [ "$(nproc)" -ge 2 ]; then
  taskset -a -p -c 0 "$NGINX_PID" >/dev/null
  for worker in $(pgrep -P "$NGINX_PID"); do taskset -a -p -c 0 "$worker" >/dev/null; done
  PIN_CLIENT=(taskset -c 1)
  PIN_SERVER=(taskset -c 0)
fi

# Runs the probe (loaded once) and switches it on and off every PERIOD s until the epoch
# time $1, reading nginx's request counter at every switch over one kept-alive connection
# (a curl per reading took 30 ms of a busy box). Logs "T0 T1 STATE REQUESTS" lines to $2:
# the state holds from that reading (taken between T0 and T1) to the next.
toggle() {
  "${PIN_SERVER[@]}" python3 - "$TOGGLE" "$PORT" "$PERIOD" "$1" "$2" <<'PY'
import http.client, subprocess, sys, time
toggle, port, period, end, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
probe = subprocess.Popen([toggle, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
if probe.stdout.readline().strip() != "ready":
    sys.exit("probe_toggle did not start")
status = http.client.HTTPConnection("127.0.0.1", port)
def served():
    status.request("GET", "/nginx_status")
    # "Active connections: N / server accepts handled requests / A H R / Reading: ..."
    return int(status.getresponse().read().decode().splitlines()[2].split()[2])
with open(out, "w") as log:
    state = "on"
    while True:
        last = time.time() >= end
        if last:
            state = "off"
        probe.stdin.write(state + "\n")
        probe.stdin.flush()
        if probe.stdout.readline().strip() != "ok":
            sys.exit(f"probe_toggle did not switch {state}")
        t0 = time.time()
        count = served()
        log.write(f"{t0} {time.time()} {state} {count}\n")
        if last:
            break
        time.sleep(period)
        state = "off" if state == "on" else "on"
probe.stdin.close()
probe.wait()
PY
}

analyse() {
  python3 - "$1" <<'PY'
import math, random, statistics, sys
log = [l.split() for l in open(sys.argv[1]) if l.strip()]
spans = []  # (state, seconds, requests)
for (a0, a1, state, c0), (b0, b1, _, c1) in zip(log, log[1:]):
    t0, t1 = (float(a0) + float(a1)) / 2, (float(b0) + float(b1)) / 2
    spans.append((state, t1 - t0, int(c1) - int(c0)))
# Each span with the probe against the two without it on either side, so a drift in the
# box's speed cancels to first order: the log of its rate over theirs.
logs = []
for before, on, after in zip(spans, spans[1:], spans[2:]):
    if on[0] == "on" and before[0] == after[0] == "off":
        off_rate = (before[2] + after[2]) / (before[1] + after[1])
        logs.append(math.log(on[2] / on[1] / off_rate))
if len(logs) < 5:
    sys.exit(f"only {len(logs)} spans with the probe: run longer")
def loss(v):
    return 100 * (1 - math.exp(statistics.mean(v)))
random.seed(1)
boots = sorted(loss([random.choice(logs) for _ in logs]) for _ in range(2000))
on = [s for s in spans if s[0] == "on"]
off = [s for s in spans if s[0] == "off"]
rate = lambda ss: sum(s[2] for s in ss) / sum(s[1] for s in ss)
print(f"  {len(logs)} spans with the probe ({sum(s[1] for s in on):.0f} s, {rate(on):,.0f} req/s) "
      f"against their neighbours without ({sum(s[1] for s in off):.0f} s, {rate(off):,.0f} req/s)")
print(f"  lost with the probe: {loss(logs):+.1f} % "
      f"(95 % interval {boots[50]:+.1f} to {boots[1949]:+.1f} %; goal: at most 3 %)")
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
  "${PIN_CLIENT[@]}" "$MB" run "$URL" -d "${SECS}s" --json --no-progress "${args[@]}" \
    >"$WORK/run.json" 2>/dev/null &
  RUN_PID=$!
  sleep 1 # the connections open
  toggle $(($(date +%s) + SECS - 3)) "$WORK/spans.$shape"
  wait "$RUN_PID"
  RUN_PID=
  analyse "$WORK/spans.$shape"

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
