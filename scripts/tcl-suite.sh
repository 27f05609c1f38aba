#!/usr/bin/env bash
# Runs units of the upstream Redis TCL test suite against ferrocache, one fresh server per unit,
# through ../shared/tools/redis-tcl-suite.sh (see its README for the one-time setup: a Redis
# 7.0.15 source tree in $REDIS_SRC and `apt-get install tcl`).
#
#   REDIS_SRC=~/redis-src scripts/tcl-suite.sh [unit ...]
set -euo pipefail
cd "$(dirname "$0")/.."
: "${REDIS_SRC:?set REDIS_SRC to a Redis 7.0.15 source tree}"
RUNNER=${RUNNER:-../shared/tools/redis-tcl-suite.sh}
PORT=${PORT:-6399}
UNITS=("$@")
[ ${#UNITS[@]} -gt 0 ] || UNITS=(unit/type/string unit/type/incr unit/keyspace unit/expire unit/protocol unit/info-command unit/quit)
cargo build --quiet --bin ferrocache
BIN=$(mktemp -d)/ferrocache
cp target/debug/ferrocache "$BIN"
total_pass=0
total_fail=0
for unit in "${UNITS[@]}"; do
  dir=$(mktemp -d)
  (cd "$dir" && exec "$BIN" --port "$PORT" --bind 127.0.0.1 --enable-debug-command yes >server.log 2>&1) &
  pid=$!
  for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  out=$(REDIS_SRC="$REDIS_SRC" "$RUNNER" 127.0.0.1 "$PORT" "$unit" 2>&1 || true)
  echo "$out" | grep -E "^unit/" || true
  line=$(echo "$out" | grep -E "^tcl-suite: [0-9]+ passed" || echo "tcl-suite: 0 passed, 0 failed")
  total_pass=$((total_pass + $(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/')))
  total_fail=$((total_fail + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
done
echo "tcl-suite total: $total_pass passed, $total_fail failed"
