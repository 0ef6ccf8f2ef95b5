#!/usr/bin/env bash
# What the eBPF probe costs: `meshbench run` against nginx on loopback with and without the
# probe attached (filtered on nginx's port, so every request passes its send/recv programs),
# interleaved round by round so drift on the box hits both alike. Prints each round, the
# median throughput of each, and the share lost with the probe (the goal: at most 3 %).
#
# Two shapes: keep-alive (100 connections, one handshake each: the per-request programs are
# the cost) and a connection per request (`Connection: close`: the state-change and
# lifetime programs run on every request too).
#
# Throughput on a small VM swings by ±20 % from round to round, more than the effect, so the
# script also reads the probe's own cost from the kernel's BPF statistics
# (kernel.bpf_stats_enabled, which adds a little itself): its programs' nanoseconds per
# request, and that as a share of the CPU a request takes on this box.
#
# Usage (as root): bench/probe-overhead.sh [ROUNDS] [SECONDS]   (defaults: 5 rounds of 10 s;
# SHAPES="close" runs one shape only)
set -euo pipefail

ROUNDS=${1:-5}
SECS=${2:-10}
PORT=${BENCH_PORT:-18090}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/meshbench-probe-bench.XXXXXX)
URL="http://127.0.0.1:${PORT}/"

if [ "$(id -u)" -ne 0 ]; then
  echo "the probe needs root" >&2
  exit 1
fi
"$ROOT/scripts/bpf.sh"
if ! command -v nginx >/dev/null 2>&1; then
  echo "installing nginx-light from Debian…" >&2
  apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null
fi

echo "building meshbench (release)…" >&2
(cd "$ROOT" && cargo build --release -q -p meshbench)
MB="${CARGO_TARGET_DIR:-$ROOT/target}/release/meshbench"

NGINX_PID=
PROBE_PID=
STATS_WAS=
cleanup() {
  [ -n "$STATS_WAS" ] && sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
  [ -n "$PROBE_PID" ] && kill "$PROBE_PID" 2>/dev/null || true
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=bench/nginx.sh
. "$ROOT/bench/nginx.sh"
start_nginx "$WORK" "$PORT"
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1

# One run; prints its throughput (req/s) and its request count.
run() {
  "$MB" run "$URL" -d "${SECS}s" --json --no-progress "$@" 2>/dev/null |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["rps"], r["requests"])'
}

# Nanoseconds the probe's programs have run so far (kernel.bpf_stats_enabled counts them).
bpf_ns() {
  bpftool prog show -j 2>/dev/null |
    python3 -c 'import json,sys; print(sum(p.get("run_time_ns", 0) for p in json.load(sys.stdin) if p.get("name", "").startswith("handle_")))'
}

# A run with the probe attached on nginx's port; prints throughput, what the probe saw, and
# its programs' nanoseconds per request.
run_probed() {
  "$MB" probe --duration $((SECS + 30)) --port "$PORT" --output json >"$WORK/probe.json" 2>"$WORK/probe.err" &
  PROBE_PID=$!
  # Attached once its first second is reported.
  for _ in $(seq 100); do grep -q 'connects' "$WORK/probe.err" 2>/dev/null && break; sleep 0.1; done
  local rps requests before after
  before=$(bpf_ns)
  read -r rps requests < <(run "$@")
  after=$(bpf_ns)
  kill -INT "$PROBE_PID"
  wait "$PROBE_PID" || true
  PROBE_PID=
  local seen
  seen=$(python3 -c 'import json; r=json.load(open("'"$WORK"'/probe.json")); print(r["server_time_us"]["count"], r["connections"]["count"])')
  echo "$rps $seen $(( (after - before) / requests ))"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

for shape in ${SHAPES:-keepalive close}; do
  if [ "$shape" = keepalive ]; then
    args=(-c 100 -t 1)
  else
    args=(-c 20 -t 1 -H "Connection: close")
  fi
  : >"$WORK/plain" ; : >"$WORK/probed" ; : >"$WORK/cost"
  echo "== $shape: ${args[*]}, $ROUNDS rounds of ${SECS} s, alternating order"
  for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then order="plain probed"; else order="probed plain"; fi
    for which in $order; do
      if [ "$which" = plain ]; then
        read -r rps _ < <(run "${args[@]}")
        echo "$rps" >>"$WORK/plain"
        printf '  round %d  without probe  %10.0f req/s\n' "$round" "$rps"
      else
        read -r rps served connects per_request < <(run_probed "${args[@]}")
        echo "$rps" >>"$WORK/probed"
        echo "$per_request" >>"$WORK/cost"
        printf '  round %d  with probe     %10.0f req/s   (kernel: %s server turns, %s connects; programs %s ns per request)\n' \
          "$round" "$rps" "$served" "$connects" "$per_request"
      fi
    done
  done
  plain=$(median <"$WORK/plain")
  probed=$(median <"$WORK/probed")
  cost=$(median <"$WORK/cost")
  python3 -c "
p, q, c, cores = $plain, $probed, $cost, $(nproc)
print(f'  median without {p:,.0f} req/s, with probe {q:,.0f} req/s: {100 * (p - q) / p:+.1f} % lost (goal: at most 3 %)')
# The CPU one request takes on this box: every core, busy, over the throughput without probe.
per = cores * 1e9 / p
print(f'  the probe programs: {c:,.0f} ns per request = {100 * c / per:.1f} % of the {per:,.0f} ns of CPU a request takes here')"
done
