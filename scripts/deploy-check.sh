#!/usr/bin/env bash
# The deployment pieces, checked for real on a machine without a Docker engine or a registry:
#
# - docker-compose.yml: Debian's docker-compose parses and resolves it (`config`) with the
#   variables of .env.example, and every variable it reads is documented there.
# - deploy/Dockerfile: its `prebuilt` target is built with podman (chroot isolation, a base
#   made with debootstrap: deploy/build-image.sh) from this checkout's meshbench binary, and
#   the image runs it: `meshbench --version` and `meshbench target --help` through
#   `buildah run`, as the non-root user. (`podman run` is refused here; the full multi-stage
#   build needs Docker Hub's Node and Rust images.)
#
# - deploy/prometheus: `promtool check config` and `check rules` accept the scrape
#   configuration and the alert rules, `promtool test rules` runs their unit tests, and
#   every meshbench metric a rule reads is on a real `meshbench serve`'s /metrics.
# - deploy/grafana: every dashboard parses and uses the provisioned data source, every
#   query's metric is on that server's /metrics while benchmarks run, promtool parses every
#   query, and every query answers from two real Prometheus servers scraping that server
#   with deploy/prometheus's configuration and rules (which must evaluate cleanly): one
#   ingesting native histograms, one classic (deploy/grafana/check.py).
#
# The chart and manifests are checked by crates/deploy-check in `cargo test`.
# Usage: scripts/deploy-check.sh [BINARY] (default $CARGO_TARGET_DIR/debug/meshbench).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin="${1:-${CARGO_TARGET_DIR:-$root/target}/debug/meshbench}"

missing=()
for tool in docker-compose:docker-compose podman:podman buildah:buildah debootstrap:debootstrap \
  promtool:prometheus curl:curl; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deploy-check: ${missing[*]} missing and installing needs root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]} from Debian…" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== docker-compose config (with .env.example)" >&2
docker-compose --env-file .env.example -f docker-compose.yml config -q
services=$(docker-compose --env-file .env.example -f docker-compose.yml --profile monitoring config --services)
for service in postgres redis api worker probe-worker prometheus grafana; do
  grep -qx "$service" <<<"$services" ||
    { echo "deploy-check: docker-compose.yml has no service $service" >&2; exit 1; }
done
undocumented=$(grep -o '\${[A-Z_]*' docker-compose.yml | tr -d '${' | sort -u |
  while read -r var; do grep -q "^$var=" .env.example || echo "$var"; done)
if [ -n "$undocumented" ]; then
  echo "deploy-check: docker-compose.yml reads variables .env.example does not document: $undocumented" >&2
  exit 1
fi

if [ ! -x "$bin" ]; then
  echo "deploy-check: no meshbench binary at $bin; build it first (cargo build -p meshbench)" >&2
  exit 1
fi

echo "== promtool: the scrape configuration, the alert rules and their tests" >&2
scratch=$(mktemp -d)
server=""
urls=()
prometheis=()
cleanup() {
  for pid in "${prometheis[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$scratch"
  buildah rm "${container:-}" >/dev/null 2>&1 || true
  # The image holds a debug binary of a few hundred MB: not kept (the debootstrap base is).
  podman rmi -f "${tag:-}" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cp deploy/prometheus/prometheus.yml deploy/prometheus/alerts.yml "$scratch/"
echo "mbt_placeholder" >"$scratch/meshbench-token"
promtool check config "$scratch/prometheus.yml" >/dev/null
promtool check rules deploy/prometheus/alerts.yml >/dev/null
(cd deploy/prometheus && promtool test rules alerts_test.yml >/dev/null)
# A real server (development mode, two in-process workers) for the metrics the rules and
# dashboards read.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
(
  unset DATABASE_URL REDIS_URL KUBECONFIG
  export API_HOST=127.0.0.1 API_PORT="$port" MESHBENCH_DATA_DIR="$scratch/data" RESULTS_DIR="$scratch/results" \
    MESHBENCH_WORKERS=2 MESHBENCH_MIN_DURATION=1 MESHBENCH_NO_BPF=1 MESHBENCH_NO_LAB=1 RUST_LOG=warn
  exec "$bin" serve
) >"$scratch/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.1
done
# Two real Prometheus servers scrape it each second with deploy/prometheus's configuration
# and rules: one ingesting native histograms (it asks /metrics for protobuf), one classic
# (text); the dashboards must answer on both.
for mode in native classic; do
  mkdir -p "$scratch/$mode"
  sed -e "s/\"api:8000\"/\"127.0.0.1:$port\"/" -e 's/^\(  [a-z_]*_interval:\) .*/\1 1s/' \
    deploy/prometheus/prometheus.yml >"$scratch/$mode/prometheus.yml"
  grep -q "127.0.0.1:$port" "$scratch/$mode/prometheus.yml" ||
    { echo "deploy-check: prometheus.yml no longer names the target api:8000" >&2; exit 1; }
  cp deploy/prometheus/alerts.yml "$scratch/meshbench-token" "$scratch/$mode/"
  prom_port=$(free_port)
  features=()
  [ "$mode" = native ] && features=(--enable-feature=native-histograms)
  prometheus --config.file="$scratch/$mode/prometheus.yml" --storage.tsdb.path="$scratch/$mode/data" \
    --web.listen-address="127.0.0.1:$prom_port" "${features[@]}" >"$scratch/$mode/log" 2>&1 &
  prometheis+=("$!")
  urls+=("http://127.0.0.1:$prom_port")
done
for url in "${urls[@]}"; do
  for _ in $(seq 100); do
    curl -fsS "$url/-/ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
echo "== the rules' and dashboards' metrics on /metrics and in Prometheus while benchmarks (open model, baseline and a mesh) run" >&2
for mesh in baseline istio; do
  curl -fsS -X POST "http://127.0.0.1:$port/benchmarks/start" \
    -d "{\"test_type\": \"http\", \"mesh_type\": \"$mesh\", \"duration\": 12, \"concurrent_connections\": 2, \"rate\": 200}" >/dev/null
done
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/metrics" >"$scratch/metrics"
  [ "$(grep -c '^meshbench_run_active{.*} 1$' "$scratch/metrics")" = 2 ] && break
  sleep 0.1
done
[ "$(grep -c '^meshbench_run_active{.*} 1$' "$scratch/metrics")" = 2 ] ||
  { echo "deploy-check: not two running jobs on /metrics after 10 s" >&2; cat "$scratch/metrics" >&2; exit 1; }
for metric in $(grep -o 'meshbench_[a-z_]*' deploy/prometheus/alerts.yml | sort -u); do
  grep -q "^$metric[{ ]" "$scratch/metrics" ||
    { echo "deploy-check: alerts.yml reads $metric, which /metrics does not export" >&2; exit 1; }
done
python3 deploy/grafana/check.py "$scratch/metrics" "$scratch/dashboard-queries.yml" "${urls[@]}" ||
  { tail -n 20 "$scratch"/*/log >&2; exit 1; }
promtool check rules "$scratch/dashboard-queries.yml" >/dev/null

echo "== the image from deploy/Dockerfile (target prebuilt), and its binary in it" >&2
tag=localhost/meshbench:deploy-check
deploy/build-image.sh "$bin" "$tag" >/dev/null
container=$(buildah from "$tag")
run() { buildah run --isolation chroot "$container" -- "$@"; }
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
got=$(run /usr/local/bin/meshbench --version)
[ "$got" = "meshbench $version" ] || { echo "deploy-check: the image's binary says '$got', not 'meshbench $version'" >&2; exit 1; }
run /usr/local/bin/meshbench target --help | grep -q "Usage: meshbench target" ||
  { echo "deploy-check: meshbench target --help failed in the image" >&2; exit 1; }
uid=$(run id -u)
[ "$uid" = 65532 ] || { echo "deploy-check: the image runs as uid $uid, not the non-root 65532" >&2; exit 1; }
echo "deploy-check: compose file valid; prometheus config, rules and rule tests pass; dashboards match /metrics; image $tag runs $got as uid $uid" >&2
