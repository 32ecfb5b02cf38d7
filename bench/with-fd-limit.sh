#!/usr/bin/env bash
# Runs a bench script (through tsx) with the open-files limit raised as far as this machine allows,
# as bench/run.sh does: the hubs and load workers it starts inherit the limit.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"
exec node --import tsx "$@"
