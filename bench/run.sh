#!/usr/bin/env bash
# Raises the open-files limit as far as this machine allows (hard limit 20,000 here), then runs the
# bench coordinator; the servers and load workers it starts inherit the limit.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n)"
node --import tsx bench/run.ts "$@"

# Durable store (issue 13), separate scripts with their own options and defaults (a few minutes):
# the deploy storm at 10,000 subscribers and the replay of 1,000,000 events. SSEHUB_BENCH_DURABLE=0 skips them.
if [ "${SSEHUB_BENCH_DURABLE:-1}" != 0 ]; then
  npm run build --silent
  node --import tsx bench/deploy-storm.ts
  node --import tsx bench/replay-memory.ts
fi
