#!/usr/bin/env bash
# Starts the local services jetsync's demo and tests use, on loopback:
# Redis 6379, MariaDB 3306 (root, no password, database test) and
# PostgreSQL 5432 (trust; databases test and root). Installs them from
# Debian's packages when they are missing (needs root), gcc for
# `go test -race` and promtool (package prometheus) for the alert rules'
# tests. Safe to run again: running services are left alone.
# NATS is not started here: tests and the demo embed a current nats-server.
set -euo pipefail

log() { printf 'up.sh: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; return 1; fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local name=$1 port=$2
  for _ in $(seq 1 60); do
    port_open "$port" && return 0
    sleep 0.5
  done
  log "$name did not open port $port in 30 s"; return 1
}

apt_updated=
install() {
  if ! command -v apt-get >/dev/null; then
    log "missing $*; install it with your package manager"; return 1
  fi
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# gcc: the race detector needs cgo.
command -v gcc >/dev/null || install gcc libc6-dev
# promtool (Debian's prometheus package): the alert rules' unit tests.
command -v promtool >/dev/null || install --no-install-recommends prometheus

# Redis
if ! port_open 6379; then
  command -v redis-server >/dev/null || install redis-server
  as_root mkdir -p /var/lib/redis /var/log/redis
  log "starting redis"
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port redis 6379
fi

# MariaDB
if ! port_open 3306; then
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || install mariadb-server
  as_root mkdir -p /run/mysqld
  as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
  log "starting mariadb"
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_port mariadb 3306
fi
# A fresh install lets root in only through the socket: allow root with no
# password over TCP, as the tests expect, and make the test database.
if ! mariadb -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null 2>&1; then
  log "allowing root over TCP in mariadb"
  as_root mariadb -u root -e "ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;"
fi
mariadb -h 127.0.0.1 -u root -e 'CREATE DATABASE IF NOT EXISTS test' >/dev/null

# PostgreSQL
if ! port_open 5432; then
  command -v pg_ctlcluster >/dev/null || install postgresql
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting postgresql $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port postgresql 5432
fi
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  log "trusting loopback connections in $hba"
  as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  sleep 1
fi
for db in test root; do
  if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db" >/dev/null
  fi
done
if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'root'")" != 1 ]; then
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE ROLE root SUPERUSER LOGIN" >/dev/null
fi

log "redis, mariadb and postgresql are up"
