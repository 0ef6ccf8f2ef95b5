#!/usr/bin/env bash
# Prepares this machine for the eBPF latency probe (crates/probe): clang compiles the BPF
# programs at build time; libelf-dev, bpftool and bpftrace (the probe tests' independent
# cross-check) are for running them; tracefs is where the classic tracepoints the probe attaches
# to live, and bpffs is mounted for pinning.
# With MESHBENCH_NO_BPF=1 (a machine declared BPF-less) only clang is installed, so the
# workspace still builds, and nothing is mounted.
# Idempotent; fails loudly when it cannot install or mount.
set -euo pipefail

install() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]} from Debian…" >&2
  # Try without refreshing the package lists first; refresh only when that fails.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

if [ "${MESHBENCH_NO_BPF:-}" = "1" ]; then
  install clang
  exit 0
fi

install clang libelf-dev bpftool bpftrace

if [ "$(id -u)" -ne 0 ]; then
  echo "mounting tracefs and bpffs needs root; run scripts/bpf.sh as root (or set MESHBENCH_NO_BPF=1)" >&2
  exit 1
fi
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
