#!/usr/bin/env bash
# Installs the dashboard's npm packages (exactly as package-lock.json pins them) and builds it
# into frontend/build, which `meshbench serve` serves (release builds embed it).
# Needs Node.js 20+ and npm; npm's cache may live outside the clone (NPM_CONFIG_CACHE).
set -euo pipefail
cd "$(dirname "$0")/../frontend"
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is missing: install Node.js 20 or later (this machine kind ships it)" >&2
  exit 1
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build >/dev/null
echo "dashboard built into frontend/build" >&2
