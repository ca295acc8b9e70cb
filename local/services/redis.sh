#!/usr/bin/env bash
# Redis 7 test server on 127.0.0.1:$ATLAS_REDIS_PORT (default 56379), no persistence.
# usage: redis.sh install|start|stop|status|clean|cli [ARGS...]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REDIS_DIR="$ATLAS_SERVICES_DIR/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"
REDIS_CONF="$REDIS_DIR/redis.conf"

cmd_install() {
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
  apt_install redis-server redis-tools
}

running() { pid_alive "$REDIS_PID" "redis-server"; }

ready() { [ "$(redis-cli -h 127.0.0.1 -p "$ATLAS_REDIS_PORT" PING 2>/dev/null)" = PONG ]; }

cmd_start() {
  services_init
  if running; then
    log "redis: already running (pid $(pid_of "$REDIS_PID"))"
    return 0
  fi
  cmd_install
  local start
  start="$(now_s)"
  mkdir -p "$REDIS_DIR"
  rm -f "$REDIS_PID"
  cat >"$REDIS_CONF" <<EOF
# Test server settings (rewritten on every start).
bind 127.0.0.1
port $ATLAS_REDIS_PORT
dir $REDIS_DIR
daemonize yes
pidfile $REDIS_PID
logfile $REDIS_LOG
save ""
appendonly no
maxclients 10000
EOF
  ensure_port_free "$ATLAS_REDIS_PORT" redis
  redis-server "$REDIS_CONF" </dev/null
  wait_until redis 30 "" "$REDIS_LOG" ready || die "redis: not ready"
  log "redis: ready on 127.0.0.1:$ATLAS_REDIS_PORT in $(elapsed "$start")s (pid $(pid_of "$REDIS_PID"))"
}

cmd_stop() {
  if ! running; then
    log "redis: not running"
    rm -f "$REDIS_PID"
    return 0
  fi
  stop_pid "$(pid_of "$REDIS_PID")" redis 20
  rm -f "$REDIS_PID"
  log "redis: stopped"
}

cmd_status() { print_status redis "$REDIS_PID" redis-server "$ATLAS_REDIS_PORT"; }

cmd_clean() {
  cmd_stop
  rm -rf "$REDIS_DIR"
  log "redis: data removed"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  clean) cmd_clean ;;
  cli)
    shift
    exec redis-cli -h 127.0.0.1 -p "$ATLAS_REDIS_PORT" "$@"
    ;;
  *)
    echo "usage: $0 install|start|stop|status|clean|cli [ARGS...]" >&2
    exit 2
    ;;
esac
