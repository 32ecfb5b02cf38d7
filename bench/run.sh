#!/usr/bin/env bash
# Raises the open-files limit as far as this machine allows (hard limit 20,000 here), then runs the
# bench coordinator; the servers and load workers it starts inherit the limit.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n)"
exec node --import tsx bench/run.ts "$@"
