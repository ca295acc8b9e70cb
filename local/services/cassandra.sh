#!/usr/bin/env bash
# Apache Cassandra 5.0 single node from Maven Central (cassandra-all), Java 17.
# CQL on 127.0.0.1:$ATLAS_CASSANDRA_PORT (59042), storage port $ATLAS_CASSANDRA_STORAGE_PORT (57000).
# usage: cassandra.sh install|start|launch|wait|stop|status|clean
#        cassandra.sh cql [QUERY]   run one CQL statement (default: release_version)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CASSANDRA_VERSION="${ATLAS_CASSANDRA_VERSION:-5.0.9}"
CASSANDRA_HEAP="${ATLAS_CASSANDRA_HEAP:-1G}"
CASSANDRA_READY_TIMEOUT="${ATLAS_CASSANDRA_READY_TIMEOUT:-180}"
# Extra JVM options for the node, split on spaces.
read -r -a CASSANDRA_EXTRA_OPTS <<<"${ATLAS_CASSANDRA_JAVA_OPTS:-}"

CASSANDRA_LIB="$ATLAS_CACHE_DIR/cassandra-$CASSANDRA_VERSION"
CASSANDRA_DIR="$ATLAS_SERVICES_DIR/cassandra"
CASSANDRA_YAML="$CASSANDRA_DIR/cassandra.yaml"
CASSANDRA_PID="$CASSANDRA_DIR/cassandra.pid"
CASSANDRA_OUT="$CASSANDRA_DIR/cassandra.out"
CASSANDRA_LOG="$CASSANDRA_DIR/logs/system.log"

CASSANDRA_DEPS="
    <dependency><groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId><version>$CASSANDRA_VERSION</version></dependency>"

# From Cassandra's conf/jvm17-server.options (JPMS and Netty settings).
JVM17_OPTS=(
  -Djdk.attach.allowAttachSelf=true
  --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
  --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
  --add-exports java.sql/java.sql=ALL-UNNAMED
  --add-exports java.base/java.lang.ref=ALL-UNNAMED
  --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
  --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
  --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
  --add-opens java.base/java.lang.module=ALL-UNNAMED
  --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
  --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
  --add-opens java.base/jdk.internal.math=ALL-UNNAMED
  --add-opens java.base/jdk.internal.module=ALL-UNNAMED
  --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
  --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
  --add-opens java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens java.base/java.io=ALL-UNNAMED
  --add-opens java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED
  --add-opens java.base/java.util=ALL-UNNAMED
  --add-opens java.base/java.nio=ALL-UNNAMED
  -Dio.netty.tryReflectionSetAccessible=true
  -Dio.netty.allocator.useCacheForAllThreads=true
  -Dio.netty.allocator.maxOrder=11
)

cmd_install() {
  need_java
  need_python
  maven_fetch "$CASSANDRA_LIB" "$CASSANDRA_DEPS"
}

running() { pid_alive "$CASSANDRA_PID" "$CASSANDRA_YAML"; }

ready() { python3 "$ATLAS_LIB_DIR/probe.py" cql "127.0.0.1:$ATLAS_CASSANDRA_PORT"; }

write_config() {
  local d="$CASSANDRA_DIR"
  mkdir -p "$d/data" "$d/commitlog" "$d/saved_caches" "$d/hints" "$d/cdc_raw" "$d/logs" "$d/triggers"
  cat >"$CASSANDRA_YAML" <<EOF
# Test node settings (rewritten on every start).
cluster_name: atlas-test
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$ATLAS_CASSANDRA_STORAGE_PORT"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $ATLAS_CASSANDRA_STORAGE_PORT
native_transport_port: $ATLAS_CASSANDRA_PORT
start_native_transport: true
data_file_directories:
  - $d/data
commitlog_directory: $d/commitlog
saved_caches_directory: $d/saved_caches
hints_directory: $d/hints
cdc_raw_directory: $d/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
auto_snapshot: false
EOF
  cat >"$d/logback.xml" <<EOF
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$CASSANDRA_LOG</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
EOF
}

cmd_launch() {
  services_init
  if running; then
    log "cassandra: already running (pid $(pid_of "$CASSANDRA_PID"))"
    return 0
  fi
  cmd_install
  write_config
  ensure_port_free "$ATLAS_CASSANDRA_PORT" cassandra
  ensure_port_free "$ATLAS_CASSANDRA_STORAGE_PORT" cassandra-storage
  local jamm nolock=()
  jamm="$(find "$CASSANDRA_LIB" -maxdepth 1 -name 'jamm-*.jar' | head -n1)"
  # Cassandra mlockall()s its memory at start; as root that pins the whole heap (about
  # 1 GB RSS at once). Without CAP_IPC_LOCK the call fails under the 8 MB memlock limit
  # and Cassandra carries on with a warning.
  if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
    nolock=(setpriv --bounding-set -ipc_lock --)
  fi
  echo "---- start $(date -Is)" >>"$CASSANDRA_OUT"
  echo "---- start $(date -Is)" >>"$CASSANDRA_LOG"
  cds_opts "$CASSANDRA_LIB"
  spawn "$CASSANDRA_DIR" "$CASSANDRA_PID" "$CASSANDRA_OUT" "${nolock[@]}" java \
    "-Xms$CASSANDRA_HEAP" "-Xmx$CASSANDRA_HEAP" -Xss256k ${CDS_OPTS[@]+"${CDS_OPTS[@]}"} \
    -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 -XX:G1HeapRegionSize=16m \
    -XX:G1RSetUpdatingPauseTimePercent=5 -XX:MaxGCPauseMillis=300 -XX:InitiatingHeapOccupancyPercent=70 \
    -XX:+PerfDisableSharedMem -XX:+ExitOnOutOfMemoryError -XX:ErrorFile="$CASSANDRA_DIR/hs_err_%p.log" \
    "${JVM17_OPTS[@]}" \
    ${jamm:+"-javaagent:$jamm"} \
    -Djava.net.preferIPv4Stack=true \
    -Dcassandra-foreground=yes \
    -Dcassandra.config="file://$CASSANDRA_YAML" \
    -Dcassandra.storagedir="$CASSANDRA_DIR" \
    -Dcassandra.logdir="$CASSANDRA_DIR/logs" \
    -Dcassandra.triggers_dir="$CASSANDRA_DIR/triggers" \
    -Dlogback.configurationFile="$CASSANDRA_DIR/logback.xml" \
    -Dcassandra.unsafesystem=true \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -Dcassandra.initial_token=0 \
    -Dcassandra.superuser_setup_delay_ms=0 \
    -Dcassandra.shutdown_announce_in_ms=0 \
    -Dcassandra.test.messagingService.nonGracefulShutdown=true \
    ${CASSANDRA_EXTRA_OPTS[@]+"${CASSANDRA_EXTRA_OPTS[@]}"} \
    -cp "$CASSANDRA_LIB/*" org.apache.cassandra.service.CassandraDaemon
  log "cassandra: launched (pid $(pid_of "$CASSANDRA_PID"))"
}

show_out() {
  log "cassandra: last lines of $CASSANDRA_OUT:"
  tail -n 15 "$CASSANDRA_OUT" >&2 || true
}

cmd_wait() {
  local start
  start="$(now_s)"
  running || { show_out; die "cassandra: not running"; }
  wait_until cassandra "$CASSANDRA_READY_TIMEOUT" "$(pid_of "$CASSANDRA_PID")" "$CASSANDRA_LOG" ready ||
    { show_out; die "cassandra: not ready"; }
  log "cassandra: ready on 127.0.0.1:$ATLAS_CASSANDRA_PORT (waited $(elapsed "$start")s, pid $(pid_of "$CASSANDRA_PID"))"
}

cmd_start() {
  if running && ready >/dev/null 2>&1; then
    log "cassandra: already running (pid $(pid_of "$CASSANDRA_PID"))"
    return 0
  fi
  cmd_launch
  cmd_wait
}

cmd_stop() {
  if ! running; then
    log "cassandra: not running"
    rm -f "$CASSANDRA_PID"
    return 0
  fi
  stop_pid "$(pid_of "$CASSANDRA_PID")" cassandra 60
  cds_finish "$CASSANDRA_LIB"
  rm -f "$CASSANDRA_PID"
  log "cassandra: stopped"
}

cmd_status() { print_status cassandra "$CASSANDRA_PID" "$CASSANDRA_YAML" "$ATLAS_CASSANDRA_PORT"; }

cmd_clean() {
  cmd_stop
  rm -rf "$CASSANDRA_DIR"
  log "cassandra: data removed"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  launch) cmd_launch ;;
  wait) cmd_wait ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  clean) cmd_clean ;;
  cql)
    shift
    need_python
    exec python3 "$ATLAS_LIB_DIR/probe.py" cql "127.0.0.1:$ATLAS_CASSANDRA_PORT" "$@"
    ;;
  *)
    echo "usage: $0 install|start|launch|wait|stop|status|clean|cql [QUERY]" >&2
    exit 2
    ;;
esac
