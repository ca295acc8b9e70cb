#!/usr/bin/env bash
# Sends real client traffic to each running server: a SQL round trip, Redis commands,
# a Kafka topic with one message produced and consumed, a CQL write and read.
# usage: smoke.sh [postgres|redis|kafka|cassandra ...]   (default: all four)
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE="$ATLAS_LIB_DIR"
services=("$@")
[ "${#services[@]}" -gt 0 ] || services=(postgres redis kafka cassandra)
passed=0
failed=0
stamp="$(date +%s)-$$"

check() {
  local name="$1" t out
  shift
  t="$(now_s)"
  if out="$("$@" 2>&1)"; then
    passed=$((passed + 1))
    log "ok   $name ($(elapsed "$t")s)"
  else
    failed=$((failed + 1))
    log "FAIL $name ($(elapsed "$t")s)"
    printf '%s\n' "$out" | tail -n 20 >&2
  fi
}

smoke_postgres() {
  local got
  got="$("$HERE/postgres.sh" psql -qAt -v ON_ERROR_STOP=1 </dev/null -c "
    CREATE TEMP TABLE smoke (id int PRIMARY KEY, v text);
    INSERT INTO smoke VALUES (1, 'pg-$stamp');
    SELECT v FROM smoke WHERE id = 1;")"
  [ "$got" = "pg-$stamp" ] || { echo "got: $got"; return 1; }
}

smoke_redis() {
  [ "$("$HERE/redis.sh" cli PING)" = PONG ] || return 1
  "$HERE/redis.sh" cli SET "smoke:$stamp" ok EX 60 >/dev/null
  [ "$("$HERE/redis.sh" cli GET "smoke:$stamp")" = ok ]
}

smoke_kafka() {
  local topic="smoke-$stamp" got
  "$HERE/kafka.sh" topics --create --topic "$topic" --partitions 1 --replication-factor 1 || return 1
  echo "kafka-$stamp" | "$HERE/kafka.sh" run org.apache.kafka.tools.ConsoleProducer \
    --bootstrap-server "127.0.0.1:$ATLAS_KAFKA_PORT" --topic "$topic" || return 1
  got="$("$HERE/kafka.sh" run org.apache.kafka.tools.consumer.ConsoleConsumer \
    --bootstrap-server "127.0.0.1:$ATLAS_KAFKA_PORT" --topic "$topic" --from-beginning \
    --max-messages 1 --timeout-ms 30000 --group "smoke-$stamp" 2>/dev/null)"
  "$HERE/kafka.sh" topics --delete --topic "$topic" || true
  [ "$got" = "kafka-$stamp" ] || { echo "got: $got"; return 1; }
}

smoke_cassandra() {
  local cql="$HERE/cassandra.sh"
  "$cql" cql "CREATE KEYSPACE IF NOT EXISTS atlas_smoke WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" || return 1
  "$cql" cql "CREATE TABLE IF NOT EXISTS atlas_smoke.messages (room text, seq bigint, body text, PRIMARY KEY (room, seq))" || return 1
  "$cql" cql "INSERT INTO atlas_smoke.messages (room, seq, body) VALUES ('$stamp', 1, 'cql-$stamp')" || return 1
  "$cql" cql "SELECT body FROM atlas_smoke.messages WHERE room = '$stamp'" | grep -qx "cql-$stamp"
}

for s in "${services[@]}"; do
  case "$s" in
    postgres | redis | kafka | cassandra) check "$s" "smoke_$s" ;;
    *)
      echo "usage: $0 [postgres|redis|kafka|cassandra ...]" >&2
      exit 2
      ;;
  esac
done
echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
