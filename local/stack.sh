#!/usr/bin/env bash
# The local distributed topology as native processes (no Docker):
#   HAProxy (HTTPS + WSS front door) -> NGINX gateways -> auth, users, chat instances
#                                    -> realtime nodes (WebSockets)
#   persisters (Kafka -> Cassandra), on PostgreSQL, Kafka and Cassandra from local/services and
#   a Redis of the topology's own. Ports and counts: local/topology.env.
#
# usage: local/stack.sh up | down | status | logs [NAME] [-f] | start NAME | stop NAME |
#        render-compose
#   up      install what is missing, start everything not running, wait until ready, print URLs
#   down    stop everything up started (the shared servers only if up had to start them)
#   status  every process with pid, port, readiness and memory; exit 3 if any is down
#   logs    the last lines of every log, or of NAME (-f follows it)
#   start / stop NAME   one process, e.g. realtime-2, persister-1, gateway-1, haproxy, redis
#   render-compose  write local/compose/ (HAProxy and NGINX configuration for compose.yaml)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=services/lib.sh
. "$HERE/services/lib.sh"
# shellcheck source-path=SCRIPTDIR source=gateway/addresses.sh
. "$HERE/gateway/addresses.sh"
# shellcheck source-path=SCRIPTDIR source=gateway/certs.sh
. "$HERE/gateway/certs.sh"
# shellcheck source-path=SCRIPTDIR source=gateway/nginx.sh
. "$HERE/gateway/nginx.sh"
# shellcheck source-path=SCRIPTDIR source=gateway/haproxy.sh
. "$HERE/gateway/haproxy.sh"

# Settings: the environment wins over topology.env.
while IFS='=' read -r key value; do
  [[ "$key" =~ ^ATLAS_LOCAL_[A-Z0-9_]+$ ]] || continue
  [ -n "${!key+x}" ] || export "$key=$value"
done <"$HERE/topology.env"

REPO="$ATLAS_REPO_DIR"
RUN="${ATLAS_LOCAL_DIR:-$REPO/.atlas-local}"
TLS="$RUN/tls"
WEB="$RUN/web"
PIDS="$RUN/pids"
LOGS="$RUN/logs"
# The topology's Redis runs from local/services/redis.sh with a folder and port of its own.
REDIS_ENV=(ATLAS_SERVICES_DIR="$RUN/services" ATLAS_REDIS_PORT="$ATLAS_LOCAL_REDIS_PORT")
SHARED_SERVERS=(postgres kafka cassandra)
ROLE_NAMES=(persister auth users chat realtime)

count_of() {
  local var="ATLAS_LOCAL_${1^^}"
  echo "${!var}"
}
port_of() {
  local role="${1%-*}" index="${1##*-}" var
  var="ATLAS_LOCAL_${role^^}_BASE_PORT"
  echo "$((${!var} + index - 1))"
}
role_processes() {
  local role i
  for role in "${ROLE_NAMES[@]}"; do
    for ((i = 1; i <= $(count_of "$role"); i++)); do echo "$role-$i"; done
  done
}
gateways() {
  local i
  for ((i = 1; i <= ATLAS_LOCAL_GATEWAYS; i++)); do echo "gateway-$i"; done
}

front_url() { echo "https://localhost:$ATLAS_LOCAL_FRONT_PORT"; }

# ---- install -------------------------------------------------------------------------------

do_install() {
  command -v haproxy >/dev/null 2>&1 || apt_install haproxy
  command -v nginx >/dev/null 2>&1 || apt_install nginx-light
  command -v openssl >/dev/null 2>&1 || apt_install openssl
  command -v curl >/dev/null 2>&1 || apt_install curl
  if [ ! -d "$REPO/node_modules/tsx" ]; then
    log "npm: installing dependencies"
    (cd "$REPO" && npm ci --no-audit --no-fund >/dev/null)
  fi
}

# ---- the data tier ---------------------------------------------------------------------------

# Starts the shared servers that are not running and remembers which, so that down stops those
# and only those (other people's tests may be using the ones that were already up).
ensure_shared_servers() {
  local missing=() s
  for s in "${SHARED_SERVERS[@]}"; do
    "$HERE/services/all.sh" status "$s" >/dev/null 2>&1 || missing+=("$s")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "data tier: starting ${missing[*]}"
    printf '%s\n' "${missing[@]}" >>"$RUN/started-servers"
    "$HERE/services/all.sh" up "${missing[@]}" >>"$LOGS/services.log" 2>&1 ||
      die "could not start ${missing[*]}; see $LOGS/services.log"
  else
    log "data tier: PostgreSQL, Kafka and Cassandra already running (shared, left running by down)"
  fi
  env "${REDIS_ENV[@]}" "$HERE/services/redis.sh" start >>"$LOGS/services.log" 2>&1 ||
    die "could not start the topology's Redis; see $LOGS/services.log"
  "$HERE/services/postgres.sh" psql -q -c "CREATE SCHEMA IF NOT EXISTS $ATLAS_LOCAL_PG_SCHEMA" >/dev/null
}

database_url() {
  echo "postgres://atlas:atlas@127.0.0.1:${ATLAS_PG_PORT}/atlas?options=-c%20search_path%3D${ATLAS_LOCAL_PG_SCHEMA}"
}

# ---- processes ------------------------------------------------------------------------------

pidfile() { echo "$PIDS/$1.pid"; }
logfile() { echo "$LOGS/$1.log"; }

marker_of() {
  case "$1" in
    haproxy) echo haproxy ;;
    gateway-*) echo nginx ;;
    redis) echo redis-server ;;
    *) echo "shared/server/main.ts" ;;
  esac
}

running() {
  if [ "$1" = redis ]; then
    env "${REDIS_ENV[@]}" "$HERE/services/redis.sh" status >/dev/null 2>&1
    return
  fi
  pid_alive "$(pidfile "$1")" "$(marker_of "$1")"
}

start_role() {
  local name="$1" role="${1%-*}"
  running "$name" && return 0
  spawn "$REPO" "$(pidfile "$name")" "$(logfile "$name")" env \
    HOST="$ATLAS_LOCAL_HOST" PORT="$(port_of "$name")" \
    ATLAS_DATA_DIR="$RUN/data" ATLAS_TRUST_PROXY=1 LOG_LEVEL="${LOG_LEVEL:-info}" \
    DATABASE_URL="$(database_url)" REDIS_URL="redis://127.0.0.1:$ATLAS_LOCAL_REDIS_PORT" \
    KAFKA_BROKERS="127.0.0.1:$ATLAS_KAFKA_PORT" KAFKA_TOPIC="$ATLAS_LOCAL_KAFKA_TOPIC" \
    CASSANDRA_CONTACT_POINTS="127.0.0.1:$ATLAS_CASSANDRA_PORT" \
    CASSANDRA_KEYSPACE="$ATLAS_LOCAL_CASSANDRA_KEYSPACE" \
    ATLAS_HEARTBEAT_MS="$ATLAS_LOCAL_HEARTBEAT_MS" \
    ATLAS_DRAIN_NOT_READY_MS="$ATLAS_LOCAL_DRAIN_NOT_READY_MS" \
    ATLAS_DRAIN_BATCH_SIZE="$ATLAS_LOCAL_DRAIN_BATCH_SIZE" \
    ATLAS_DRAIN_PAUSE_MS="$ATLAS_LOCAL_DRAIN_PAUSE_MS" \
    NODE_OPTIONS="--max-old-space-size=$ATLAS_LOCAL_NODE_HEAP_MB" \
    "$(command -v node)" --import tsx shared/server/main.ts "$role"
}

role_ready() { curl -fsS -o /dev/null --max-time 2 "http://$ATLAS_LOCAL_HOST:$(port_of "$1")/readyz"; }

wait_roles() {
  local name
  for name in "$@"; do
    wait_until "$name" 180 "$(pid_of "$(pidfile "$name")")" "$(logfile "$name")" role_ready "$name" ||
      die "$name did not become ready"
  done
}

start_gateway() {
  local name="$1" index="${1##*-}" prefix
  running "$name" && return 0
  prefix="$RUN/nginx/$name"
  mkdir -p "$prefix"
  render_nginx "$index" "$prefix" "$TLS" "$WEB" "$prefix" >"$prefix/nginx.conf"
  nginx -t -q -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" 2>>"$(logfile "$name")" ||
    die "$name: invalid configuration (see $(logfile "$name"))"
  spawn "$prefix" "$(pidfile "$name")" "$(logfile "$name")" nginx -p "$prefix" -e "$prefix/error.log" \
    -c "$prefix/nginx.conf"
}

gateway_ready() {
  curl -fsS -o /dev/null --max-time 2 --cacert "$TLS/ca.pem" \
    "https://localhost:$((ATLAS_LOCAL_GATEWAY_BASE_PORT + ${1##*-} - 1))/gateway-health"
}

start_haproxy() {
  running haproxy && return 0
  render_haproxy "$TLS" >"$RUN/haproxy.cfg"
  haproxy -c -q -f "$RUN/haproxy.cfg" 2>>"$(logfile haproxy)" ||
    die "haproxy: invalid configuration (see $(logfile haproxy))"
  spawn "$RUN" "$(pidfile haproxy)" "$(logfile haproxy)" haproxy -W -f "$RUN/haproxy.cfg"
}

front_ready() {
  curl -fsS -o /dev/null --max-time 2 --cacert "$TLS/ca.pem" "$(front_url)/gateway-health"
}

start_one() {
  case "$1" in
    haproxy) start_haproxy && wait_until haproxy 30 "$(pid_of "$(pidfile haproxy)")" "$(logfile haproxy)" front_ready ;;
    gateway-*) start_gateway "$1" && wait_until "$1" 30 "$(pid_of "$(pidfile "$1")")" "$(logfile "$1")" gateway_ready "$1" ;;
    redis) env "${REDIS_ENV[@]}" "$HERE/services/redis.sh" start ;;
    persister-* | auth-* | users-* | chat-* | realtime-*) start_role "$1" && wait_roles "$1" ;;
    *) die "unknown process $1" ;;
  esac
}

stop_one() {
  if [ "$1" = redis ]; then
    env "${REDIS_ENV[@]}" "$HERE/services/redis.sh" stop
    return
  fi
  if running "$1"; then
    # Realtime nodes drain first (not ready, then their sockets in batches).
    stop_pid "$(pid_of "$(pidfile "$1")")" "$1" 30
  fi
  rm -f "$(pidfile "$1")"
}

# ---- commands -------------------------------------------------------------------------------

do_up() {
  local t0 t name roles=()
  t0="$(now_s)"
  mkdir -p "$RUN" "$PIDS" "$LOGS"
  [ -f "$RUN/.gitignore" ] || echo '*' >"$RUN/.gitignore"
  do_install
  t="$(now_s)"
  ensure_shared_servers
  log "data tier ready in $(elapsed "$t")s"
  ensure_certs "$TLS"
  (cd "$REPO" && node --import tsx local/build-web.ts "$WEB" >>"$LOGS/build-web.log" 2>&1) ||
    die "web client build failed; see $LOGS/build-web.log"
  # One process first: it creates the schema, the topic and the keyspace and the signing key
  # that every other process then shares, without racing the others for them.
  t="$(now_s)"
  start_role persister-1
  wait_roles persister-1
  log "persister-1 ready (schema, topic, keyspace, signing key) in $(elapsed "$t")s"
  t="$(now_s)"
  mapfile -t roles < <(role_processes)
  for name in "${roles[@]}"; do start_role "$name"; done
  log "starting ${#roles[@]} role processes: ${roles[*]}"
  wait_roles "${roles[@]}"
  log "role processes ready in $(elapsed "$t")s"
  for name in $(gateways); do start_gateway "$name"; done
  for name in $(gateways); do
    wait_until "$name" 30 "$(pid_of "$(pidfile "$name")")" "$(logfile "$name")" gateway_ready "$name" ||
      die "$name did not become ready"
  done
  start_haproxy
  wait_until haproxy 30 "$(pid_of "$(pidfile haproxy)")" "$(logfile haproxy)" front_ready ||
    die "haproxy did not become ready"
  write_topology_json
  log "topology up in $(elapsed "$t0")s"
  cat <<EOF

  ATLAS (web client and API)  $(front_url)/
  WebSocket                   wss://localhost:$ATLAS_LOCAL_FRONT_PORT/ws
  trust this CA               $TLS/ca.pem   (curl --cacert, NODE_EXTRA_CA_CERTS, or import it in a browser)
  HAProxy stats / metrics     http://$ATLAS_LOCAL_HOST:$ATLAS_LOCAL_HAPROXY_STATS_PORT/  and /metrics
  status / logs / down        npm run local:status | npm run local:logs [-- NAME] | npm run local:down
EOF
}

# What the end-to-end tests need to find the front door and the processes behind it.
write_topology_json() {
  local name first=1
  {
    printf '{\n  "frontUrl": "%s",\n  "caFile": "%s",\n  "runDir": "%s",\n' "$(front_url)" "$TLS/ca.pem" "$RUN"
    printf '  "haproxyStatsPort": %d,\n  "redisPort": %d,\n  "processes": {\n' \
      "$ATLAS_LOCAL_HAPROXY_STATS_PORT" "$ATLAS_LOCAL_REDIS_PORT"
    for name in $(role_processes) $(gateways); do
      [ "$first" = 1 ] || printf ',\n'
      first=0
      case "$name" in
        gateway-*) printf '    "%s": { "port": %d, "pidFile": "%s", "logFile": "%s" }' "$name" \
          "$((ATLAS_LOCAL_GATEWAY_BASE_PORT + ${name##*-} - 1))" "$(pidfile "$name")" "$RUN/nginx/$name/access.log" ;;
        *) printf '    "%s": { "port": %d, "pidFile": "%s", "logFile": "%s" }' "$name" \
          "$(port_of "$name")" "$(pidfile "$name")" "$(logfile "$name")" ;;
      esac
    done
    printf '\n  }\n}\n'
  } >"$RUN/topology.json"
}

do_down() {
  local t name pids=() started=()
  t="$(now_s)"
  [ -d "$RUN" ] || {
    log "nothing to stop"
    return 0
  }
  for name in haproxy $(gateways); do stop_one "$name" & pids+=("$!"); done
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
  for name in $(role_processes); do stop_one "$name" & pids+=("$!"); done
  wait "${pids[@]}" 2>/dev/null || true
  stop_one redis >/dev/null 2>&1 || true
  if [ -s "$RUN/started-servers" ]; then
    mapfile -t started < <(sort -u "$RUN/started-servers")
    log "stopping the servers up started: ${started[*]}"
    "$HERE/services/all.sh" down "${started[@]}" >>"$LOGS/services.log" 2>&1 || true
    rm -f "$RUN/started-servers"
  fi
  log "topology stopped in $(elapsed "$t")s"
}

do_status() {
  local name rc=0 pid port ready
  printf '%-13s %-8s %-8s %-6s %-9s %s\n' NAME STATE PID PORT READY RSS
  for name in haproxy $(gateways) $(role_processes); do
    case "$name" in
      haproxy) port="$ATLAS_LOCAL_FRONT_PORT" ;;
      gateway-*) port="$((ATLAS_LOCAL_GATEWAY_BASE_PORT + ${name##*-} - 1))" ;;
      *) port="$(port_of "$name")" ;;
    esac
    if running "$name"; then
      pid="$(pid_of "$(pidfile "$name")")"
      case "$name" in
        haproxy) front_ready && ready=yes || ready=no ;;
        gateway-*) gateway_ready "$name" && ready=yes || ready=no ;;
        *) role_ready "$name" && ready=yes || ready=no ;;
      esac
      printf '%-13s %-8s %-8s %-6s %-9s %sMB\n' "$name" running "$pid" "$port" "$ready" "$(rss_mb "$pid")"
      [ "$ready" = yes ] || rc=3
    else
      printf '%-13s %-8s %-8s %-6s\n' "$name" stopped - "$port"
      rc=3
    fi
  done
  env "${REDIS_ENV[@]}" "$HERE/services/redis.sh" status || rc=3
  "$HERE/services/all.sh" status "${SHARED_SERVERS[@]}" || rc=3
  return "$rc"
}

do_logs() {
  local name="${1:-}" follow="${2:-}" file
  if [ -z "$name" ]; then
    for file in "$LOGS"/*.log "$RUN"/nginx/*/access.log; do
      [ -f "$file" ] || continue
      printf '\n==> %s <==\n' "$file"
      tail -n 15 "$file"
    done
    return 0
  fi
  case "$name" in
    gateway-*) file="$RUN/nginx/$name/access.log" ;;
    redis) file="$RUN/services/redis/redis.log" ;;
    *) file="$(logfile "$name")" ;;
  esac
  [ -f "$file" ] || die "no log for $name ($file)"
  if [ "$follow" = -f ]; then exec tail -n 50 -F "$file"; fi
  tail -n 100 "$file"
}

# The same HAProxy and NGINX configuration for the containers of local/compose.yaml.
do_render_compose() {
  local out="$HERE/compose" name
  mkdir -p "$out"
  export ATLAS_RENDER_FOR=compose
  render_haproxy /etc/atlas/tls >"$out/haproxy.cfg"
  for name in $(gateways); do
    render_nginx "${name##*-}" /var/cache/nginx /etc/atlas/tls /usr/share/nginx/atlas /var/log/nginx \
      >"$out/$name.conf"
  done
  log "wrote $out/haproxy.cfg and the gateway configurations"
}

case "${1:-}" in
  up) do_up ;;
  render-compose) do_render_compose ;;
  down) do_down ;;
  status) do_status ;;
  logs) do_logs "${2:-}" "${3:-}" ;;
  start)
    [ -n "${2:-}" ] || die "usage: $0 start NAME"
    start_one "$2"
    ;;
  stop)
    [ -n "${2:-}" ] || die "usage: $0 stop NAME"
    stop_one "$2"
    ;;
  *)
    sed -n '2,16p' "$0" >&2
    exit 2
    ;;
esac
