#!/usr/bin/env bash
# Starts PostgreSQL and Redis on 127.0.0.1 when they are down (idempotent), installing them
# from Debian first on a machine that has neither. The commands are the ones this machine
# kind uses at boot.
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then
  echo "installing postgresql and redis-server from Debian…" >&2
  apt-get update -qq && apt-get install -y -qq postgresql redis-server >/dev/null
fi
if ! pg_isready -h 127.0.0.1 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
fi
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
for _ in $(seq 50); do
  pg_isready -h 127.0.0.1 -q && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "PostgreSQL or Redis did not come up on 127.0.0.1" >&2
exit 1
