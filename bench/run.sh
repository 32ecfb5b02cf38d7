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
# They belong to the default (fan-out) run: a --workload= run (issue 14: storm, per-user, publish)
# measures one thing and stops.
workload_given=0
for arg in "$@"; do case "$arg" in --workload=*) workload_given=1 ;; esac; done
if [ "${SSEHUB_BENCH_DURABLE:-1}" != 0 ] && [ "$workload_given" = 0 ]; then
  npm run build --silent
  node --import tsx bench/deploy-storm.ts
  node --import tsx bench/replay-memory.ts
fi
