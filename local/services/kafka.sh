#!/usr/bin/env bash
# Apache Kafka 4.x (KRaft, one combined broker+controller node) from Maven Central.
# Broker PLAINTEXT://127.0.0.1:$ATLAS_KAFKA_PORT (59092), controller 127.0.0.1:$ATLAS_KAFKA_CONTROLLER_PORT (59093).
# usage: kafka.sh install|start|launch|wait|stop|status|clean
#        kafka.sh run CLASS [ARGS...]   run a Kafka tool class, e.g. org.apache.kafka.tools.TopicCommand
#        kafka.sh topics [ARGS...]      TopicCommand against this broker
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION="${ATLAS_KAFKA_VERSION:-4.4.0}"
LOG4J_VERSION="${ATLAS_LOG4J_VERSION:-2.26.1}"
SLF4J_VERSION="${ATLAS_SLF4J_VERSION:-2.0.17}"
KAFKA_HEAP="${ATLAS_KAFKA_HEAP:-512m}"
KAFKA_READY_TIMEOUT="${ATLAS_KAFKA_READY_TIMEOUT:-120}"
# Extra JVM options for the broker, split on spaces.
read -r -a KAFKA_EXTRA_OPTS <<<"${ATLAS_KAFKA_JAVA_OPTS:-}"

KAFKA_LIB="$ATLAS_CACHE_DIR/kafka-$KAFKA_VERSION-log4j-$LOG4J_VERSION"
KAFKA_DIR="$ATLAS_SERVICES_DIR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_LOG="$KAFKA_DIR/kafka.log"

# kafka_2.13 carries no logging backend and asks for slf4j-api 1.7; pin slf4j 2 with
# the log4j2 binding. kafka-tools gives the CLI classes (Connect is left out).
KAFKA_DEPS="
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
      <exclusions><exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion></exclusions>
    </dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$SLF4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$LOG4J_VERSION</version></dependency>"

cmd_install() {
  need_java
  need_python
  maven_fetch "$KAFKA_LIB" "$KAFKA_DEPS"
}

running() { pid_alive "$KAFKA_PID" "$KAFKA_PROPS"; }

ready() { python3 "$ATLAS_LIB_DIR/probe.py" kafka "127.0.0.1:$ATLAS_KAFKA_PORT"; }

write_config() {
  mkdir -p "$KAFKA_DIR" "$KAFKA_DATA"
  cat >"$KAFKA_PROPS" <<EOF
# Test server settings (rewritten on every start).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ATLAS_KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$ATLAS_KAFKA_PORT,CONTROLLER://127.0.0.1:$ATLAS_KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$ATLAS_KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
EOF
  cat >"$KAFKA_DIR/log4j2.properties" <<EOF
status = warn
# Keep logging through Kafka's own shutdown hook.
shutdownHook = disable
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
EOF
  cat >"$KAFKA_DIR/tools-log4j2.properties" <<EOF
status = warn
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
EOF
}

# Cluster ids are 16 random bytes, base64url without padding.
new_cluster_id() {
  head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

cmd_launch() {
  services_init
  if running; then
    log "kafka: already running (pid $(pid_of "$KAFKA_PID"))"
    return 0
  fi
  cmd_install
  ensure_port_free "$ATLAS_KAFKA_PORT" kafka
  ensure_port_free "$ATLAS_KAFKA_CONTROLLER_PORT" kafka-controller
  write_config
  if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
    local id
    id="$(new_cluster_id)"
    log "kafka: formatting storage (cluster $id)"
    cds_use_opts "$KAFKA_LIB"
    java ${CDS_OPTS[@]+"${CDS_OPTS[@]}"} -Dlog4j2.configurationFile="$KAFKA_DIR/tools-log4j2.properties" -cp "$KAFKA_LIB/*" \
      kafka.tools.StorageTool format -t "$id" -c "$KAFKA_PROPS" >>"$KAFKA_LOG" 2>&1 ||
      { tail -n 20 "$KAFKA_LOG" >&2; die "kafka: storage format failed"; }
  fi
  echo "---- start $(date -Is)" >>"$KAFKA_LOG"
  cds_opts "$KAFKA_LIB"
  spawn "$KAFKA_DIR" "$KAFKA_PID" "$KAFKA_LOG" java \
    "-Xms$KAFKA_HEAP" "-Xmx$KAFKA_HEAP" ${CDS_OPTS[@]+"${CDS_OPTS[@]}"} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" \
    -Dkafka.logs.dir="$KAFKA_DIR" \
    ${KAFKA_EXTRA_OPTS[@]+"${KAFKA_EXTRA_OPTS[@]}"} \
    -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_PROPS"
  log "kafka: launched (pid $(pid_of "$KAFKA_PID"))"
}

cmd_wait() {
  local start
  start="$(now_s)"
  running || { tail -n 30 "$KAFKA_LOG" >&2; die "kafka: not running"; }
  wait_until kafka "$KAFKA_READY_TIMEOUT" "$(pid_of "$KAFKA_PID")" "$KAFKA_LOG" ready || die "kafka: not ready"
  log "kafka: ready on 127.0.0.1:$ATLAS_KAFKA_PORT (waited $(elapsed "$start")s, pid $(pid_of "$KAFKA_PID"))"
}

cmd_start() {
  if running && ready >/dev/null 2>&1; then
    log "kafka: already running (pid $(pid_of "$KAFKA_PID"))"
    return 0
  fi
  cmd_launch
  cmd_wait
}

cmd_stop() {
  if ! running; then
    log "kafka: not running"
    rm -f "$KAFKA_PID"
    return 0
  fi
  stop_pid "$(pid_of "$KAFKA_PID")" kafka 60
  cds_finish "$KAFKA_LIB"
  rm -f "$KAFKA_PID"
  log "kafka: stopped"
}

cmd_status() { print_status kafka "$KAFKA_PID" "$KAFKA_PROPS" "$ATLAS_KAFKA_PORT"; }

cmd_clean() {
  cmd_stop
  rm -rf "$KAFKA_DIR"
  log "kafka: data removed"
}

cmd_run() {
  [ -f "$KAFKA_LIB/.complete" ] || cmd_install
  [ -f "$KAFKA_DIR/tools-log4j2.properties" ] || write_config
  cds_use_opts "$KAFKA_LIB"
  exec java ${CDS_OPTS[@]+"${CDS_OPTS[@]}"} -Djava.awt.headless=true -Dlog4j2.shutdownHookEnabled=false \
    -Dlog4j2.configurationFile="$KAFKA_DIR/tools-log4j2.properties" -cp "$KAFKA_LIB/*" "$@"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  launch) cmd_launch ;;
  wait) cmd_wait ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  clean) cmd_clean ;;
  run)
    shift
    cmd_run "$@"
    ;;
  topics)
    shift
    cmd_run org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$ATLAS_KAFKA_PORT" "$@"
    ;;
  *)
    echo "usage: $0 install|start|launch|wait|stop|status|clean|run CLASS [ARGS...]|topics [ARGS...]" >&2
    exit 2
    ;;
esac
