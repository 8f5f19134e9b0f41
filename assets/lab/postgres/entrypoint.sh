#!/bin/bash
# Entrypoint of runbook-lab/postgres:15.
#
# On first start (no cluster in $PGDATA) it creates one: superuser postgres
# with the password from POSTGRES_PASSWORD_FILE or POSTGRES_PASSWORD, the
# database POSTGRES_DB, listening on every address, scram-sha-256 for host
# connections, trust on the local socket, logs on stderr (so `docker logs`
# shows pgaudit's lines). Then it runs the server as user postgres with the
# arguments it was given, so a compose `command:` can add settings:
#
#   command: -c shared_preload_libraries=pgaudit -c pgaudit.log=ddl,write
#
# The password file is read as root before privileges are dropped: compose
# mounts file secrets with the host file's owner and mode (often 0600 root).
set -euo pipefail

if [ "${1:-}" = postgres ]; then
  shift # `command: postgres -c ...` works as well as `command: -c ...`
fi
PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA

as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}

log() { printf 'lab-postgres: %s\n' "$*" >&2; }

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql
  chown postgres:postgres /run/postgresql
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
  fi
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password=
  if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    if [ ! -r "$POSTGRES_PASSWORD_FILE" ]; then
      log "cannot read POSTGRES_PASSWORD_FILE=$POSTGRES_PASSWORD_FILE: is the secret mounted?"
      exit 1
    fi
    password=$(cat -- "$POSTGRES_PASSWORD_FILE")
  else
    password=${POSTGRES_PASSWORD:-}
  fi
  if [ -z "$password" ]; then
    log "no password for the new cluster: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE"
    exit 1
  fi
  pwfile=$(mktemp)
  trap 'rm -f "$pwfile"' EXIT
  printf '%s\n' "$password" >"$pwfile"
  unset password
  if [ "$(id -u)" = 0 ]; then chown postgres "$pwfile"; fi

  log "creating the cluster in $PGDATA"
  as_postgres initdb -D "$PGDATA" -U postgres --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  cat >>"$PGDATA/postgresql.conf" <<'CONF'

# runbook lab
listen_addresses = '*'
log_destination = 'stderr'
logging_collector = off
CONF
  echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"

  db=${POSTGRES_DB:-postgres}
  if [ "$db" != postgres ]; then
    # Single-user mode: no server listens while the cluster is set up, so
    # a healthcheck cannot see it ready too early.
    if ! out=$(printf 'CREATE DATABASE "%s"\n' "${db//\"/\"\"}" |
      as_postgres postgres --single -D "$PGDATA" postgres 2>&1) || grep -q 'ERROR' <<<"$out"; then
      log "CREATE DATABASE $db failed: $out"
      exit 1
    fi
  fi
  log "cluster ready"
fi

exec_pg() {
  if [ "$(id -u)" = 0 ]; then
    exec setpriv --reuid=postgres --regid=postgres --init-groups -- postgres -D "$PGDATA" "$@"
  fi
  exec postgres -D "$PGDATA" "$@"
}
exec_pg "$@"
