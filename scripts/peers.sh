#!/usr/bin/env bash
# Installs the third-party servers the driver tests run against, so each protocol is checked
# against code no one here wrote: Python's `websockets` echo server, Python's grpcio, and
# nghttpd (Debian's nghttp2-server) for HTTP/2.
# Idempotent; fails loudly when it cannot install.
set -euo pipefail
if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 is missing: the third-party protocol peers need it" >&2
  exit 1
fi
if ! python3 -c 'import websockets' >/dev/null 2>&1; then
  echo "installing the Python websockets package…" >&2
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q 'websockets>=13,<18'
fi
if ! python3 -c 'import grpc, grpc_reflection' >/dev/null 2>&1; then
  echo "installing the Python grpcio and grpcio-reflection packages…" >&2
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q 'grpcio>=1.60,<2' 'grpcio-reflection>=1.60,<2'
fi
if ! command -v nghttpd >/dev/null 2>&1; then
  echo "installing nghttp2-server from Debian…" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-server >/dev/null
fi
