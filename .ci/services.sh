#!/usr/bin/env bash
# Installs (when missing) and starts what the integration tests need: a Docker
# engine and a throwaway PostgreSQL 15 cluster on loopback with pgcrypto and
# pgaudit available. Prints `export ...` lines for the test environment.
#
#   eval "$(bash .ci/services.sh)"
#
# Safe to run twice: a service that already answers is left alone.
set -euo pipefail
log() { printf '%s\n' "$*" >&2; }

PGPORT_TEST=${RUNBOOK_TEST_PGPORT:-55432}
PGDATA_TEST=${RUNBOOK_TEST_PGDATA:-/tmp/runbook-test-pg}

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
[ -f /usr/lib/postgresql/15/lib/pgaudit.so ] || need_pkgs+=(postgresql-15-pgaudit)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || need_pkgs+=(docker-compose)
command -v tmux >/dev/null 2>&1 || need_pkgs+=(tmux)
# The latency probe's accuracy benchmark compares its percentiles with hey's.
command -v hey >/dev/null 2>&1 || need_pkgs+=(hey)
# The process benchmarks read a program's peak memory with GNU time.
[ -x /usr/bin/time ] || need_pkgs+=(time)
# The rehearsal lab: debootstrap makes its base image; the lab workspace's
# tests run with Debian's pytest.
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need_pkgs+=(debootstrap)
/usr/bin/python3 -c 'import pytest' >/dev/null 2>&1 || need_pkgs+=(python3-pytest)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" >&2
fi

# Docker engine.
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  (dockerd >/tmp/runbook-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /tmp/runbook-dockerd.log"; tail -20 /tmp/runbook-dockerd.log >&2; exit 1; }
fi

# PostgreSQL: the server binaries on PATH, run as the postgres user (it
# refuses to run as root). pgaudit's library comes from Debian's package.
PGBIN=$(dirname "$(readlink -f "$(command -v postgres || echo /usr/lib/postgresql/15/bin/postgres)")")
id postgres >/dev/null 2>&1 || useradd -r -M -d /nonexistent postgres
asuser() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$PGPORT_TEST") 2>/dev/null; }
if port_busy; then
  # Something already listens there: never touch its data directory.
  "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT_TEST" || { log "port $PGPORT_TEST is taken by something that is not PostgreSQL; set RUNBOOK_TEST_PGPORT"; exit 1; }
else
  log "starting PostgreSQL on 127.0.0.1:$PGPORT_TEST ($PGDATA_TEST)"
  rm -rf "$PGDATA_TEST"
  mkdir -p "$PGDATA_TEST"
  chown postgres "$PGDATA_TEST" 2>/dev/null || true
  chmod 700 "$PGDATA_TEST"
  asuser "$PGBIN/initdb" -D "$PGDATA_TEST" -U postgres --auth=trust -E UTF8 >/dev/null
  # pgaudit must be preloaded for CREATE EXTENSION to work; extension files
  # live where Debian's package put them, so point the server there when the
  # binaries on PATH are another build.
  sharedir=$("$PGBIN/pg_config" --sharedir 2>/dev/null || echo /usr/share/postgresql/15)
  pkglib=$("$PGBIN/pg_config" --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)
  if [ ! -f "$pkglib/pgaudit.so" ] && [ -f /usr/lib/postgresql/15/lib/pgaudit.so ]; then
    cp /usr/lib/postgresql/15/lib/pgaudit.so "$pkglib/" 2>/dev/null || true
  fi
  if [ ! -f "$sharedir/extension/pgaudit.control" ] && [ -d /usr/share/postgresql/15/extension ]; then
    cp /usr/share/postgresql/15/extension/pgaudit* "$sharedir/extension/" 2>/dev/null || true
  fi
  cat >>"$PGDATA_TEST/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT_TEST
unix_socket_directories = '$PGDATA_TEST'
shared_preload_libraries = 'pgaudit'
fsync = off
CONF
  asuser "$PGBIN/pg_ctl" -D "$PGDATA_TEST" -l "$PGDATA_TEST/server.log" -w start >/dev/null
fi
echo "export RUNBOOK_TEST_PGDSN='postgres://postgres@127.0.0.1:$PGPORT_TEST/postgres?sslmode=disable'"
echo "export RUNBOOK_REQUIRE_SERVICES=1"

# The shared-run store (steps/store): a second throwaway PostgreSQL cluster
# of its own, so store tests (LISTEN/NOTIFY, role grants, killed backends)
# never touch the cluster the runbook's database steps change. Same rules as
# above: a port that already answers is left alone and its data directory is
# never touched. fsync stays on: the store benchmarks measure a durable commit.
STOREPORT_TEST=${RUNBOOK_TEST_STOREPORT:-55434}
STOREDATA_TEST=${RUNBOOK_TEST_STOREDATA:-/tmp/runbook-test-store-pg}
store_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$STOREPORT_TEST") 2>/dev/null; }
if store_port_busy; then
  "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$STOREPORT_TEST" || { log "port $STOREPORT_TEST is taken by something that is not PostgreSQL; set RUNBOOK_TEST_STOREPORT"; exit 1; }
else
  # A data directory is only ever replaced when this script made it (its
  # configuration names the directory as its socket directory).
  if [ -e "$STOREDATA_TEST" ] && ! grep -qs "^unix_socket_directories = '$STOREDATA_TEST'" "$STOREDATA_TEST/postgresql.conf"; then
    log "$STOREDATA_TEST exists and was not made by this script; set RUNBOOK_TEST_STOREDATA to another directory"
    exit 1
  fi
  log "starting the store's PostgreSQL on 127.0.0.1:$STOREPORT_TEST ($STOREDATA_TEST)"
  rm -rf "$STOREDATA_TEST"
  mkdir -p "$STOREDATA_TEST"
  chown postgres "$STOREDATA_TEST" 2>/dev/null || true
  chmod 700 "$STOREDATA_TEST"
  asuser "$PGBIN/initdb" -D "$STOREDATA_TEST" -U postgres --auth=trust -E UTF8 >/dev/null
  cat >>"$STOREDATA_TEST/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $STOREPORT_TEST
unix_socket_directories = '$STOREDATA_TEST'
max_connections = 200
CONF
  asuser "$PGBIN/pg_ctl" -D "$STOREDATA_TEST" -l "$STOREDATA_TEST/server.log" -w start >/dev/null
fi
echo "export RUNBOOK_TEST_STOREDSN='postgres://postgres@127.0.0.1:$STOREPORT_TEST/postgres?sslmode=disable'"
