#!/usr/bin/env bash
# Installs the third-party servers the driver tests run against, so each protocol is checked
# against code no one here wrote: Python's `websockets` echo server and Python's grpcio.
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
if ! python3 -c 'import grpc' >/dev/null 2>&1; then
  echo "installing the Python grpcio package…" >&2
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q 'grpcio>=1.60,<2'
fi
