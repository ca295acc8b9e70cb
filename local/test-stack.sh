#!/usr/bin/env bash
# Starts the real servers (PostgreSQL, Redis, Kafka, Cassandra), runs the integration tests
# against them, and stops them again, whatever the tests did.
set -euo pipefail
cd "$(dirname "$0")/.."
services=local/services/all.sh
trap '"$services" down >/dev/null 2>&1 || true' EXIT
"$services" up
node --import tsx --test --test-concurrency=1 test/stack/*.test.ts
