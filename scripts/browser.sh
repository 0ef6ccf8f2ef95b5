#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser tests when it is missing
# (Playwright drives it; no browser is downloaded from elsewhere).
set -euo pipefail
if [ -x /usr/lib/chromium/chromium ]; then
  exit 0
fi
echo "installing chromium from Debian…" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "Chromium is missing and installing it needs root: apt-get install -y chromium" >&2
  exit 1
fi
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
