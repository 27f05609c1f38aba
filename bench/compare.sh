#!/usr/bin/env bash
# Throughput of ferrocache against Debian's redis-server, same machine, same client, same run.
# Rounds are interleaved (ferrocache, redis, ferrocache, redis, ...) so machine drift cancels;
# the summary is the median of the per-round ratios ferrocache/redis.
#
#   bench/compare.sh [rounds] [requests]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
N=${2:-200000}
cargo build --release --quiet --bin ferrocache
FC_PORT=${FC_PORT:-7501}
RD_PORT=${RD_PORT:-7502}
WORK=$(mktemp -d)
./target/release/ferrocache --port "$FC_PORT" --bind 127.0.0.1 >"$WORK/fc.log" 2>&1 &
FC_PID=$!
(cd "$WORK" && exec redis-server --port "$RD_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$WORK/rd.log" 2>&1) &
RD_PID=$!
trap 'kill $FC_PID $RD_PID 2>/dev/null; rm -rf "$WORK"' EXIT
for p in $FC_PORT $RD_PORT; do
  for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
  # Preload the keys GET reads, so GETs hit.
  redis-benchmark -p "$p" -t set -n 100000 -r 100000 -d 64 -P 32 -q >/dev/null
done

WORKLOADS=("set,get -c 50 -P 1" "set,get -c 50 -P 16")
printf "%-22s %-5s %12s %12s %8s\n" workload test ferrocache redis ratio
declare -A ratios
for w in "${WORKLOADS[@]}"; do
  for r in $(seq "$ROUNDS"); do
    for side in fc rd; do
      port=$FC_PORT; [ $side = rd ] && port=$RD_PORT
      # shellcheck disable=SC2086
      redis-benchmark -p "$port" -t ${w%% *} ${w#* } -n "$N" -r 100000 -d 64 --csv 2>/dev/null \
        | tail -n +2 | tr -d '"' | awk -F, -v s=$side '{print s, $1, $2, $6, $8}' >>"$WORK/$r.txt"
    done
  done
  for t in SET GET; do
    list=""
    for r in $(seq "$ROUNDS"); do
      f=$(awk -v t=$t '$1=="fc" && $2==t {print $3}' "$WORK/$r.txt" | tail -1)
      d=$(awk -v t=$t '$1=="rd" && $2==t {print $3}' "$WORK/$r.txt" | tail -1)
      list="$list $f/$d"
    done
    med=$(for x in $list; do echo "$x" | awk -F/ '{printf "%.3f %s %s\n", $1/$2, $1, $2}'; done | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')
    printf "%-22s %-5s %12.0f %12.0f %8s\n" "$w" $t "$(echo "$med" | cut -d' ' -f2)" "$(echo "$med" | cut -d' ' -f3)" "$(echo "$med" | cut -d' ' -f1)"
    ratios["$w $t"]=$(echo "$med" | cut -d' ' -f1)
  done
  rm -f "$WORK"/*.txt
done
echo "summary: median ferrocache/redis ops/s ratio over $ROUNDS interleaved rounds: $(for k in "${!ratios[@]}"; do printf '%s=%s; ' "$k" "${ratios[$k]}"; done)"
