#!/usr/bin/env bash
# The AOF crash loop (tests/aof.rs, crash_loop_loses_no_acknowledged_write) with many cycles:
# writers (several connections, pipelined MULTI/INCR/RPUSH/EXEC) run while ferrocache is killed
# with SIGKILL at a random moment and restarted; with appendfsync always every acknowledged
# write must be there after each restart and nothing that was never sent. CI runs 25 cycles.
#
#   bench/crashloop.sh [cycles]      (default 500)
set -euo pipefail
cd "$(dirname "$0")/.."
cycles="${1:-500}"
start=$(date +%s)
FERROCACHE_CRASH_CYCLES="$cycles" cargo test --release --quiet --test aof crash_loop_loses_no_acknowledged_write -- --nocapture
echo "crash loop: $cycles SIGKILL cycles with appendfsync always, no acknowledged write lost, none invented ($(( $(date +%s) - start )) s)"
