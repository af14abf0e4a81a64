#!/usr/bin/env bash
# Set up (with the test tools), start what the tests need, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# Redis: the machine usually runs one; start it if it is not answering (no persistence).
if command -v redis-server >/dev/null 2>&1; then
  if ! (command -v redis-cli >/dev/null 2>&1 && redis-cli -p 6379 ping >/dev/null 2>&1); then
    redis-server --daemonize yes --port 6379 --save "" --appendonly no >/dev/null
  fi
fi
exec .venv/bin/python -m pytest "$@"
