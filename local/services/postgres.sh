#!/usr/bin/env bash
# PostgreSQL 15 test server on 127.0.0.1:$ATLAS_PG_PORT (default 55432).
# usage: postgres.sh install|start|stop|status|clean|psql [ARGS...]
# Database and user: atlas / atlas, password atlas (ATLAS_PG_DB, ATLAS_PG_USER, ATLAS_PG_PASSWORD).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_BIN="${ATLAS_PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_DB="${ATLAS_PG_DB:-atlas}"
PG_USER="${ATLAS_PG_USER:-atlas}"
PG_PASSWORD="${ATLAS_PG_PASSWORD:-atlas}"
PG_DIR="$ATLAS_SERVICES_DIR/postgres"
# initdb and postgres refuse to run as root: as root, run them as this OS user.
PG_OS_USER="${ATLAS_PG_OS_USER:-postgres}"

is_root() { [ "$(id -u)" -eq 0 ]; }

as_pg() {
  if is_root; then
    (cd / && runuser -u "$PG_OS_USER" -- "$@")
  else
    "$@"
  fi
}

# Where the cluster lives. As root the OS user must be able to reach the folder; when a
# parent folder is closed to it (e.g. a checkout under a 0700 temp folder), use a folder
# under that user's home and remember it.
pg_home() {
  if [ -f "$PG_DIR/location" ]; then
    cat "$PG_DIR/location"
    return
  fi
  echo "$PG_DIR"
}

choose_pg_home() {
  mkdir -p "$PG_DIR"
  [ -f "$PG_DIR/location" ] && return 0
  is_root || return 0
  chown "$PG_OS_USER:" "$PG_DIR"
  if ! (cd / && runuser -u "$PG_OS_USER" -- test -w "$PG_DIR"); then
    local home sum
    home="$(getent passwd "$PG_OS_USER" | cut -d: -f6)"
    sum="$(printf '%s' "$PG_DIR" | cksum | cut -d' ' -f1)"
    local alt="$home/atlas-$sum"
    mkdir -p "$alt"
    chown "$PG_OS_USER:" "$alt"
    echo "$alt" >"$PG_DIR/location"
    log "postgres: $PG_DIR is not reachable by user $PG_OS_USER; using $alt"
  fi
}

pgdata() { echo "$(pg_home)/data"; }
pglog() { echo "$(pg_home)/postgres.log"; }

cmd_install() {
  if [ ! -x "$PG_BIN/postgres" ] || [ ! -x "$PG_BIN/psql" ]; then
    apt_install postgresql-15 postgresql-client-15
  fi
  [ -x "$PG_BIN/postgres" ] || die "postgres: $PG_BIN/postgres not found after install"
  if is_root && ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    die "postgres: OS user $PG_OS_USER does not exist (set ATLAS_PG_OS_USER)"
  fi
}

running() {
  local data
  data="$(pgdata)"
  pid_alive "$data/postmaster.pid" "$data"
}

psql_admin() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$ATLAS_PG_PORT" -U postgres -d postgres "$@"
}

ready() {
  PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$ATLAS_PG_PORT" \
    -U "$PG_USER" -d "$PG_DB" -c 'SELECT 1' >/dev/null 2>&1
}

write_config() {
  local data="$1"
  cat >"$data/atlas.conf" <<EOF
# Test server settings (rewritten on every start).
listen_addresses = '127.0.0.1'
port = $ATLAS_PG_PORT
unix_socket_directories = ''
max_connections = 200
shared_buffers = 128MB
# Test data only: trade durability for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
EOF
  cat >"$data/pg_hba.conf" <<EOF
# TYPE  DATABASE  USER      ADDRESS        METHOD
host    all       postgres  127.0.0.1/32   trust
host    all       all       127.0.0.1/32   scram-sha-256
EOF
  grep -q "^include_if_exists = 'atlas.conf'" "$data/postgresql.conf" ||
    echo "include_if_exists = 'atlas.conf'" >>"$data/postgresql.conf"
  if is_root; then chown "$PG_OS_USER:" "$data/atlas.conf" "$data/pg_hba.conf"; fi
}

cmd_start() {
  services_init
  if running; then
    log "postgres: already running (pid $(pid_of "$(pgdata)/postmaster.pid"))"
    return 0
  fi
  cmd_install
  choose_pg_home
  local data start
  data="$(pgdata)"
  start="$(now_s)"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "postgres: initdb $data"
    rm -rf "$data"
    as_pg mkdir -p "$data"
    as_pg "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-instructions >/dev/null
  fi
  write_config "$data"
  ensure_port_free "$ATLAS_PG_PORT" postgres
  # pg_ctl detaches the server (own session) and waits until it accepts connections.
  if ! as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$(pglog)" -w -t 60 start >/dev/null; then
    tail -n 30 "$(pglog)" >&2 || true
    die "postgres: failed to start"
  fi
  psql_admin -v u="$PG_USER" -v p="$PG_PASSWORD" -v d="$PG_DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'u', :'p')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'u') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'u', :'p') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'d', :'u')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'d') \gexec
SQL
  wait_until postgres 30 "" "$(pglog)" ready || die "postgres: not ready"
  log "postgres: ready on 127.0.0.1:$ATLAS_PG_PORT in $(elapsed "$start")s (pid $(pid_of "$data/postmaster.pid"))"
}

cmd_stop() {
  local data pid
  data="$(pgdata)"
  if ! running; then
    log "postgres: not running"
    return 0
  fi
  pid="$(pid_of "$data/postmaster.pid")"
  if ! as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1; then
    stop_pid "$pid" postgres 10
  fi
  log "postgres: stopped"
}

cmd_status() {
  print_status postgres "$(pgdata)/postmaster.pid" "$(pgdata)" "$ATLAS_PG_PORT"
}

cmd_clean() {
  cmd_stop
  local home
  home="$(pg_home)"
  [ "$home" != "$PG_DIR" ] && rm -rf "$home"
  rm -rf "$PG_DIR"
  log "postgres: data removed"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  clean) cmd_clean ;;
  psql)
    shift
    PGPASSWORD="$PG_PASSWORD" exec "$PG_BIN/psql" -X -h 127.0.0.1 -p "$ATLAS_PG_PORT" -U "$PG_USER" -d "$PG_DB" "$@"
    ;;
  *)
    echo "usage: $0 install|start|stop|status|clean|psql [ARGS...]" >&2
    exit 2
    ;;
esac
