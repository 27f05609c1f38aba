#!/usr/bin/env bash
# Runs units of the upstream Redis TCL test suite against ferrocache (one-time setup: a Redis
# 7.0.15 source tree in $REDIS_SRC and `apt-get install tcl`; ../shared/tools/README-tcl-suite.md).
#
#   REDIS_SRC=~/redis-src scripts/tcl-suite.sh [unit ...]            external mode
#   REDIS_SRC=~/redis-src scripts/tcl-suite.sh --spawn [unit ...]    spawn mode
#   REDIS_SRC=~/redis-src scripts/tcl-suite.sh --spawn --reference [unit ...]
#   ... --skip 'pattern' ...   (repeatable) skips the tests whose names match (runtest --skiptest):
#   the ones that kill the server's forked child (ferrocache has none; see docs/architecture.md).
#
# External mode starts one ferrocache per unit and runs the unit against it through
# ../shared/tools/redis-tcl-suite.sh. Spawn mode is for the units that start their own servers
# (persistence, shutdown, ...): in a copy of the source tree, ferrocache stands in as
# src/redis-server and the suite starts it with the config files and flags it writes;
# --reference runs the same with Debian's redis-server instead, for the baseline. Prints one
# line per unit (tests passed and failed) and a total.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${REDIS_SRC:?set REDIS_SRC to a Redis 7.0.15 source tree}"
SPAWN=0
REFERENCE=0
SKIP=()
while [ $# -gt 0 ]; do
  case "$1" in
    --spawn) SPAWN=1; shift ;;
    --reference) REFERENCE=1; shift ;;
    --skip) SKIP+=(--skiptest "$2"); shift 2 ;;
    *) break ;;
  esac
done
UNITS=("$@")

cargo build --quiet --bin ferrocache
BIN=$(mktemp -d)/ferrocache
cp target/debug/ferrocache "$BIN"

if [ "$SPAWN" = 1 ]; then
  [ ${#UNITS[@]} -gt 0 ] || UNITS=(integration/rdb integration/aof integration/aof-multi-part
    integration/convert-zipmap-hash-on-load unit/shutdown)
  TREE=$(mktemp -d)/redis
  cp -a "$REDIS_SRC" "$TREE"
  rm -rf "$TREE/tests/tmp"/*
  for b in redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
    rm -f "$TREE/src/$b"
    ln -s "/usr/bin/$b" "$TREE/src/$b"
  done
  if [ "$REFERENCE" = 1 ]; then
    rm -f "$TREE/src/redis-server"
    ln -s /usr/bin/redis-server "$TREE/src/redis-server"
  else
    # The suite's config files name a few settings ferrocache does not have yet (the Lua,
    # ACL/hardening and unix-socket issues will bring them): those lines are left out. The
    # server is exec'd, so the PID the suite started is the server's.
    rm -f "$TREE/src/redis-server"
    cat > "$TREE/src/redis-server" <<WRAP
#!/usr/bin/env bash
args=("\$@")
if [ \$# -ge 1 ] && [ -f "\$1" ]; then
  grep -Ev '^[[:space:]]*(unixsocket|unixsocketperm|enable-protected-configs|enable-module-command|propagation-error-behavior|lua-time-limit|busy-reply-threshold)([[:space:]]|\$)' "\$1" > "\$1.ferrocache" || true
  args[0]="\$1.ferrocache"
fi
exec "$BIN" "\${args[@]}"
WRAP
    chmod +x "$TREE/src/redis-server"
  fi
  total_pass=0
  total_fail=0
  for unit in "${UNITS[@]}"; do
    log=$(mktemp)
    (cd "$TREE" && timeout 600 ./runtest --single "$unit" --clients 1 --timeout 150 --tags -slow --durable "${SKIP[@]}" >"$log" 2>&1) || true
    plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
    pass=$(echo "$plain" | grep -c '^\[ok\]' || true)
    fail=$(echo "$plain" | grep -cE '^\[(err|exception)\]' || true)
    status=done
    echo "$plain" | grep -q 'Timed out\|TIMEOUT' && status=timeout
    echo "$unit passed=$pass failed=$fail status=$status log=$log"
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
  done
  echo "tcl-suite (spawn$( [ "$REFERENCE" = 1 ] && echo ', redis-server')) total: $total_pass passed, $total_fail failed"
  exit 0
fi

RUNNER=${RUNNER:-../shared/tools/redis-tcl-suite.sh}
PORT=${PORT:-6399}
[ ${#UNITS[@]} -gt 0 ] || UNITS=(unit/type/string unit/type/incr unit/keyspace unit/expire unit/protocol unit/info-command unit/quit)
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
