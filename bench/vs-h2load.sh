#!/usr/bin/env bash
# meshbench vs h2load (nghttp2's HTTP/2 load generator) on loopback, for HTTP/2 and gRPC.
#
# Two servers: nghttpd (nghttp2's own HTTP/2 server, h2c, one small static file) for plain
# HTTP/2, and meshbench's built-in target for gRPC unary calls (h2load posts a framed empty
# meshbench.echo.v1.EchoRequest with the gRPC headers, which the target's echo answers).
# Each shape runs ROUNDS interleaved rounds of three tools: h2load, meshbench (its lean
# HTTP/2 client, the default) and hyper (meshbench with MESHBENCH_H2_CLIENT=hyper); per tool
# it prints the median throughput, the ratio to h2load, CPU-seconds per 100k requests of the generator (user + system, GNU time)
# and peak RSS. The servers get one thread each, pinned to CPU 1 (the generators run on CPU 0,
# so a server never shares its core with the tool it is measuring); expect noise of
# ±5 %.
#
# Usage: bench/vs-h2load.sh [ROUNDS] [SECONDS]     (defaults: 5 rounds of 10 s)
set -euo pipefail

ROUNDS=${1:-5}
SECS=${2:-10}
H2_PORT=${BENCH_H2_PORT:-18443}
TARGET_PORT=${BENCH_TARGET_PORT:-18444}
CONNS=${BENCH_CONNECTIONS:-4}
STREAMS=${BENCH_STREAMS:-16}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/meshbench-h2bench.XXXXXX)

need() { command -v "$1" >/dev/null 2>&1; }
if ! need h2load || ! need nghttpd || ! need bc || [ ! -x /usr/bin/time ]; then
  echo "installing nghttp2-client, nghttp2-server, bc and time from Debian…" >&2
  apt-get update -qq && apt-get install -y -qq nghttp2-client nghttp2-server bc time >/dev/null
fi

echo "building meshbench (release)…" >&2
(cd "$ROOT" && cargo build --release -q -p meshbench)
MB="${CARGO_TARGET_DIR:-$ROOT/target}/release/meshbench"

mkdir -p "$WORK/www"
printf 'hello\n' >"$WORK/www/index.html"
printf '\0\0\0\0\0' >"$WORK/empty-echo-request.bin"
taskset -c 1 nghttpd --no-tls -n 1 -d "$WORK/www" "$H2_PORT" >/dev/null 2>&1 &
NGHTTPD=$!
taskset -c 1 "$MB" target --http "127.0.0.1:$TARGET_PORT" --threads 1 >/dev/null 2>&1 &
TARGET=$!
cleanup() {
  kill "$NGHTTPD" "$TARGET" 2>/dev/null || true
  wait "$NGHTTPD" "$TARGET" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 50); do
  curl -fs --http2-prior-knowledge "http://127.0.0.1:$H2_PORT/" >/dev/null 2>&1 &&
    curl -fs "http://127.0.0.1:$TARGET_PORT/health" >/dev/null 2>&1 && break
  sleep 0.1
done

# Runs one command under GNU time, output in $WORK/out; prints "cpu_seconds max_rss_kb".
measure() {
  /usr/bin/time -f '%U %S %M' -o "$WORK/time" "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; return 1; }
  read -r user sys rss <"$WORK/time"
  echo "$(echo "$user + $sys" | bc -l) $rss"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

run_shape() {
  local name="$1" h2url="$2" mburl="$3"; shift 3
  local extra_h2=("${H2LOAD_EXTRA[@]}") extra_mb=("${MB_EXTRA[@]}")
  : >"$WORK/h2load.txt"; : >"$WORK/meshbench.txt"; : >"$WORK/hyper.txt"
  local tools=(h2load meshbench hyper)
  for round in $(seq "$ROUNDS"); do
    # Rotate the order each round, so no tool always runs first (or after the same one).
    for i in 0 1 2; do
      local tool=${tools[$(( (i + round) % 3 ))]}
      if [ "$tool" = h2load ]; then
        read -r cpu rss < <(measure taskset -c 0 h2load -c "$CONNS" -m "$STREAMS" -D "$SECS" "${extra_h2[@]}" "$h2url")
        req=$(awk '/^requests:/ {print $8}' "$WORK/out")  # "N succeeded"
      else
        # meshbench: the lean client (the default); hyper: the same run on hyper's client.
        local client=lean
        [ "$tool" = hyper ] && client=hyper
        read -r cpu rss < <(measure env MESHBENCH_H2_CLIENT=$client taskset -c 0 "$MB" run "$mburl" -c "$CONNS" --streams "$STREAMS" -t 1 -d "${SECS}s" --json "${extra_mb[@]}")
        req=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$WORK/out")
      fi
      echo "$req $cpu $rss" >>"$WORK/$tool.txt"
    done
  done
  local base
  base=$(awk -v s="$SECS" '{print $1/s}' "$WORK/h2load.txt" | median)
  printf '\n%s (%s connections × %s streams, %s s, %s rounds, medians)\n' "$name" "$CONNS" "$STREAMS" "$SECS" "$ROUNDS"
  local base_cpu
  base_cpu=$(awk '{ if ($1 > 0) print $2 / $1 * 100000 }' "$WORK/h2load.txt" | median)
  printf '  %-10s %12s %8s %16s %9s %10s\n' tool req/s ratio 'CPU-s/100k req' 'CPU ratio' 'RSS MB'
  for tool in h2load meshbench hyper; do
    local rps cpu rss
    rps=$(awk -v s="$SECS" '{print $1/s}' "$WORK/$tool.txt" | median)
    cpu=$(awk '{ if ($1 > 0) print $2 / $1 * 100000 }' "$WORK/$tool.txt" | median)
    rss=$(awk '{print $3/1024}' "$WORK/$tool.txt" | median)
    printf '  %-10s %12.0f %7.2fx %16.3f %8.2fx %10.1f\n' "$tool" "$rps" "$(echo "$rps / $base" | bc -l)" "$cpu" "$(echo "$cpu / $base_cpu" | bc -l)" "$rss"
  done
}

H2LOAD_EXTRA=()
MB_EXTRA=(--http2)
run_shape "HTTP/2 GET (nghttpd, h2c)" "http://127.0.0.1:$H2_PORT/" "http://127.0.0.1:$H2_PORT/"

H2LOAD_EXTRA=(-d "$WORK/empty-echo-request.bin" -H 'content-type: application/grpc' -H 'te: trailers')
MB_EXTRA=()
run_shape "gRPC unary (built-in echo)" \
  "http://127.0.0.1:$TARGET_PORT/meshbench.echo.v1.Echo/Unary" "grpc://127.0.0.1:$TARGET_PORT"
