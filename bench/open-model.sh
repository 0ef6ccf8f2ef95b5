#!/usr/bin/env bash
# The open model's own cost: meshbench at fixed rates against nginx on loopback, beside wrk2
# (the fixed-rate fork of wrk) when a `wrk2` binary is on PATH (it is not in Debian; build it
# from github.com/giltene/wrk2 to compare). Per rate it prints the median over interleaved
# rounds of: achieved rate and its error, the generator's CPU per request (user + system,
# GNU time), and meshbench's send lag behind its schedule (p50/p99, from the result's
# loadgen.send_lag_us); and meshbench's closed-model CPU per request in the same shape, the
# floor a fixed rate is judged against. meshbench runs once per send window (WINDOWS, default
# "50us 1ms": its default, and wrk2's timer resolution), since the window is what trades the
# generator's CPU against its timing error.
#
# Shape (issue 17): HTTP/1.1, 50 connections, one thread, nginx with one worker; the
# generator pinned to CPU 0 and nginx to CPU 1 for the pinned rates; the last rate unpinned.
#
# Usage: bench/open-model.sh [ROUNDS] [SECONDS] [RATES…]   (defaults: 3 rounds of 8 s at
#        10000 30000, then 60000 unpinned)
set -euo pipefail

ROUNDS=${1:-3}
SECS=${2:-8}
shift $(( $# > 2 ? 2 : $# ))
RATES=("${@:-10000 30000}")
read -r -a RATES <<<"${RATES[*]}"
UNPINNED_RATE=${BENCH_UNPINNED_RATE:-60000}
PORT=${BENCH_PORT:-18081}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/meshbench-open.XXXXXX)
URL="http://127.0.0.1:${PORT}/"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || [ ! -x /usr/bin/time ] || ! need taskset; then
  echo "installing nginx-light, time and util-linux from Debian…" >&2
  apt-get update -qq && apt-get install -y -qq nginx-light time util-linux >/dev/null
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
for pid in $NGINX_PID $(pgrep -P "$NGINX_PID"); do taskset -pc 1 "$pid" >/dev/null; done

read -r -a WINDOWS <<<"${WINDOWS:-50us 1ms}"
TOOLS=()
for w in "${WINDOWS[@]}"; do TOOLS+=("meshbench@$w"); done
need wrk2 && TOOLS+=(wrk2)

# run TOOL RATE PIN -> "rps requests user_s sys_s lag_p50_us lag_p99_us"
run_one() {
  local tool=$1 rate=$2 pin=$3 out="$WORK/out" tm="$WORK/time"
  local prefix=()
  [ "$pin" = pinned ] && prefix=(taskset -c 0)
  case $tool in
    meshbench@*)
      if [ "$rate" = closed ]; then
        "${prefix[@]}" /usr/bin/time -f "%U %S" -o "$tm" "$MB" run "$URL" -t 1 -c 50 -d "${SECS}s" \
          --json --no-progress >"$out"
      else
        "${prefix[@]}" /usr/bin/time -f "%U %S" -o "$tm" "$MB" run "$URL" -t 1 -c 50 -d "${SECS}s" \
          --rate "$rate" --send-window "${tool#meshbench@}" --json --no-progress >"$out"
      fi
      python3 - "$out" "$tm" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
u, s = open(sys.argv[2]).read().split()[-2:]
lag = r["loadgen"].get("send_lag_us") or {}
print(r["rps"], r["requests"], u, s, lag.get("p50", 0), lag.get("p99", 0))
PY
      ;;
    wrk2)
      "${prefix[@]}" /usr/bin/time -f "%U %S" -o "$tm" wrk2 -t1 -c50 -d"${SECS}s" -R"$rate" "$URL" >"$out" 2>&1
      python3 - "$out" "$tm" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
n = int(re.search(r"(\d+) requests in", text).group(1))
u, s = open(sys.argv[2]).read().split()[-2:]
print(rps, n, u, s, 0, 0)
PY
      ;;
  esac
}

declare -A RESULTS
CASES=()
for rate in "${RATES[@]}"; do CASES+=("$rate pinned"); done
CASES+=("$UNPINNED_RATE unpinned" "closed pinned")
for round in $(seq "$ROUNDS"); do
  for case in "${CASES[@]}"; do
    read -r rate pin <<<"$case"
    n=${#TOOLS[@]}
    for i in $(seq 0 $((n - 1))); do
      tool=${TOOLS[$(( (i + round) % n ))]}
      [ "$rate" = closed ] && [ "$tool" != "${TOOLS[0]}" ] && continue
      line=$(run_one "$tool" "$rate" "$pin")
      RESULTS["$rate $pin $tool"]+="$line;"
      echo "round $round  $rate $pin  $tool: $line" >&2
      sleep 1
    done
  done
done

echo
echo "== open model: $ROUNDS interleaved rounds of ${SECS}s, HTTP/1.1, 1 thread × 50 connections, nginx 1 worker =="
printf '%-18s %-16s %12s %9s %14s %16s\n' rate tool "req/s(med)" "error" "CPU µs/req" "send lag p50/p99"
for case in "${CASES[@]}"; do
  read -r rate pin <<<"$case"
  for tool in "${TOOLS[@]}"; do
    [ -n "${RESULTS["$rate $pin $tool"]:-}" ] || continue
    python3 - "$rate" "$pin" "$tool" "${RESULTS["$rate $pin $tool"]}" <<'PY'
import statistics, sys
rate, pin, tool, rows = sys.argv[1:5]
rs = [list(map(float, r.split())) for r in rows.split(";") if r.strip()]
med = statistics.median
rps = med([r[0] for r in rs])
cpu = med([(r[2] + r[3]) / r[1] * 1e6 for r in rs])
err = "—" if rate == "closed" else f"{100 * (rps - float(rate)) / float(rate):+.3f}%"
lag = "—" if rate == "closed" or not tool.startswith("meshbench") else f"{med([r[4] for r in rs]):.0f}/{med([r[5] for r in rs]):.0f} µs"
label = f"{rate} ({pin})"
print(f"{label:<18} {tool:<16} {rps:>12.0f} {err:>9} {cpu:>14.2f} {lag:>16}")
PY
  done
done
