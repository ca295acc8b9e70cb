#!/usr/bin/env bash
# Installs, starts and waits for the local test servers (PostgreSQL, Redis, Kafka, Cassandra).
# usage: all.sh up|down|status|install|clean [SERVICE...]
#   SERVICE: postgres redis kafka cassandra (default: all four)
# Ports: ATLAS_PG_PORT=55432 ATLAS_REDIS_PORT=56379 ATLAS_KAFKA_PORT=59092
#        ATLAS_KAFKA_CONTROLLER_PORT=59093 ATLAS_CASSANDRA_PORT=59042 ATLAS_CASSANDRA_STORAGE_PORT=57000
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE="$ATLAS_LIB_DIR"
ALL=(postgres redis kafka cassandra)

usage() {
  echo "usage: $0 up|down|status|install|clean [postgres|redis|kafka|cassandra ...]" >&2
  exit 2
}

cmd="${1:-}"
[ -n "$cmd" ] || usage
shift
services=("$@")
[ "${#services[@]}" -gt 0 ] || services=("${ALL[@]}")
for s in "${services[@]}"; do
  case "$s" in
    postgres | redis | kafka | cassandra) ;;
    *) usage ;;
  esac
done

want() {
  local s
  for s in "${services[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

# Runs SERVICE:ACTION pairs of the selected services in parallel; fails if any failed.
parallel() {
  local pids=() names=() spec i rc=0
  for spec in "$@"; do
    want "${spec%%:*}" || continue
    "$HERE/${spec%%:*}.sh" "${spec#*:}" </dev/null &
    pids+=("$!")
    names+=("$spec")
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      log "${names[$i]} failed"
      rc=1
    fi
  done
  return "$rc"
}

# Debian packages first (one apt run at a time), Maven downloads alongside.
do_install() {
  local t
  t="$(now_s)"
  services_init
  (
    for s in postgres redis; do
      if want "$s"; then "$HERE/$s.sh" install </dev/null; fi
    done
  ) &
  local apt_job=$!
  (
    for s in kafka cassandra; do
      if want "$s"; then "$HERE/$s.sh" install </dev/null; fi
    done
  ) &
  local mvn_job=$!
  local rc=0
  wait "$apt_job" || rc=1
  wait "$mvn_job" || rc=1
  [ "$rc" = 0 ] || die "install failed"
  log "install done in $(elapsed "$t")s"
}

do_up() {
  local t0
  t0="$(now_s)"
  do_install
  local t
  t="$(now_s)"
  # The JVMs are launched in the background while the quick servers start.
  parallel cassandra:launch kafka:launch postgres:start redis:start || die "start failed"
  parallel kafka:wait cassandra:wait || die "start failed"
  log "all ready: start $(elapsed "$t")s, total $(elapsed "$t0")s"
  do_status || true
}

do_down() {
  local t
  t="$(now_s)"
  parallel postgres:stop redis:stop kafka:stop cassandra:stop || die "stop failed"
  log "all stopped in $(elapsed "$t")s"
}

do_status() {
  local s rc=0
  for s in "${ALL[@]}"; do
    want "$s" || continue
    "$HERE/$s.sh" status || rc=3
  done
  return "$rc"
}

do_clean() {
  parallel postgres:clean redis:clean kafka:clean cassandra:clean || die "clean failed"
}

case "$cmd" in
  up) do_up ;;
  down) do_down ;;
  status) do_status ;;
  install) do_install ;;
  clean) do_clean ;;
  *) usage ;;
esac
