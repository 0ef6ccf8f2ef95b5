#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser tests and the PDF reports, and
# poppler's pdftoppm, which turns a PDF report's page into an image for its test, when
# either is missing (Playwright drives Chromium; no browser is downloaded from elsewhere).
set -euo pipefail
if [ -x /usr/lib/chromium/chromium ] && command -v pdftoppm >/dev/null 2>&1; then
  exit 0
fi
echo "installing chromium and poppler-utils from Debian…" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "Chromium or pdftoppm is missing and installing needs root: apt-get install -y chromium poppler-utils" >&2
  exit 1
fi
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null
