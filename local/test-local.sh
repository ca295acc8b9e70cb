#!/usr/bin/env bash
# Starts the local topology, runs the end-to-end tests through its front door, and stops it
# again whatever the tests did (the shared servers only if it had to start them).
set -euo pipefail
cd "$(dirname "$0")/.."
trap 'bash local/stack.sh down >/dev/null 2>&1 || true' EXIT
bash local/stack.sh up
node --import tsx --test --test-concurrency=1 --test-timeout=180000 test/local/*.test.ts
