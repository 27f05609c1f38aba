#!/usr/bin/env python3
"""Issue 5's numbers: ferrocache against Debian's redis-server, same machine, same run.

1. Memory per key: 1M string keys with 100-byte values (DEBUG POPULATE), 1M small hashes
   (5 fields) and a 1M-member sorted set: used_memory and RSS per element, and the ratios.
2. Bounded: maxmemory 100mb (allkeys-lru) while a writer pushes 1 GB of SETs: the highest RSS
   seen, and whether the server answered PING throughout.
3. Hit ratio: a cache-aside workload (GET; on a miss SET) over Zipf(0.99) keys whose working
   set is 10x maxmemory, one client, the same seeded sequence for both servers; allkeys-lru
   and allkeys-lfu.
4. Latency under eviction: p99 of SET with constant eviction against p99 with none.

    bench/memory.py [--quick] [--only keys,bounded,hits,latency]
"""

import argparse
import statistics
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import FC, MIX, ROOT, Server, cli, run_benchmark  # noqa: E402

REDIS = shutil.which("redis-server") or "redis-server"
SPECS = [("ferrocache", [FC]), ("redis", [REDIS])]


def info(port, field):
    for line in cli(port, "INFO", "all").splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    raise KeyError(field)


def rss(server):
    with open(f"/proc/{server.proc.pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def pipe(port, commands):
    """Sends an iterable of commands through `redis-cli --pipe`."""
    def enc(args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        return b"".join(out)
    data = b"".join(enc(c) for c in commands)
    r = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=data, capture_output=True, timeout=600)
    if b"errors: 0" not in r.stdout:
        sys.exit(f"loading failed: {r.stdout[-300:]!r}")


def settle(s, decay=False):
    """used_memory and RSS. After a load, `decay` waits out jemalloc's dirty-page decay (10 s
    by default, in both servers): until then RSS still counts pages the load freed (a growing
    table's old arrays), which both allocators return to the system on their own."""
    time.sleep(11 if decay else 1.2)  # memory figures are sampled every second
    return int(info(s.port, "used_memory")), rss(s)


def memory_per_key(n):
    loads = {
        f"{n} strings (100 B)": lambda p: cli(p, "DEBUG", "POPULATE", str(n), "key", "100"),
        f"{n} hashes (5 fields)": lambda p: pipe(p, (["HSET", f"h:{i}", "a", i, "b", "xyz", "c", i * 7, "d", "some text", "e", "1"] for i in range(n))),
        f"zset of {n}": lambda p: pipe(p, (["ZADD", "z", *sum(([i * 0.5, f"member:{i}"] for i in range(j, j + 1000)), [])] for j in range(0, n, 1000))),
    }
    print(f"{'data':<24} {'ferrocache B/elem':>18} {'redis B/elem':>14} {'used ratio':>11} {'rss ratio':>10}")
    for label, load in loads.items():
        per = {}
        for name, argv in SPECS:
            s = Server(name, argv + (["--enable-debug-command", "yes"]))
            try:
                u0, r0 = settle(s)
                load(s.port)
                u1, r1 = settle(s, decay=True)
                per[name] = ((u1 - u0) / n, (r1 - r0) / n)
            finally:
                s.stop()
        f, r = per["ferrocache"], per["redis"]
        print(f"{label:<24} {f[0]:>10.1f} / {f[1]:<6.0f} {r[0]:>7.1f} / {r[1]:<6.0f} {f[0] / r[0]:>10.2f} {f[1] / r[1]:>10.2f}")


def bounded(total_bytes):
    print("\nmaxmemory 100mb, allkeys-lru, %d MB of 1 KB SETs pushed through:" % (total_bytes >> 20))
    for name, argv in SPECS:
        s = Server(name, argv + ["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"])
        peak, missed, stop = [0], [0], threading.Event()

        def watch():
            while not stop.is_set():
                peak[0] = max(peak[0], rss(s))
                if cli(s.port, "PING") != "PONG":
                    missed[0] += 1
                time.sleep(0.1)
        t = threading.Thread(target=watch)
        t.start()
        try:
            n = total_bytes // 1024
            rows = run_benchmark(s.port, f"-t set -d 1024 -r 100000000 -c 50 -P 16", n)
            stop.set()
            t.join()
            used = int(info(s.port, "used_memory"))
            print(f"  {name:<11} peak RSS {peak[0] / 2**20:7.1f} MB, used_memory at end {used / 2**20:6.1f} MB, "
                  f"evicted {info(s.port, 'evicted_keys')}, {rows['SET'][0]:.0f} SET/s, unanswered PINGs {missed[0]}")
        finally:
            stop.set()
            s.stop()


def hit_ratio(keys, requests):
    print(f"\ncache-aside, Zipf(0.99) over {keys} keys of 100 B, working set 10x maxmemory, {requests} GETs:")
    # The working set of one server, measured: used_memory for all the keys, divided by 10.
    s = Server("ferrocache", [FC, "--enable-debug-command", "yes"])
    try:
        u0, _ = settle(s)
        cli(s.port, "DEBUG", "POPULATE", str(keys), "key", "100")
        u1, _ = settle(s)
    finally:
        s.stop()
    limit = (u1 - u0) // 10
    for policy in ["allkeys-lru", "allkeys-lfu"]:
        ratios, keys_held = {}, {}
        for name, argv in SPECS:
            s = Server(name, argv)
            try:
                base = int(info(s.port, "used_memory"))
                cli(s.port, "CONFIG", "SET", "maxmemory", str(base + limit))
                cli(s.port, "CONFIG", "SET", "maxmemory-policy", policy)
                out = subprocess.run([MIX, "--port", str(s.port), "--clients", "1", "--requests", str(requests),
                                      "--keys", str(keys), "--value-size", "100", "--zipf", "0.99", "--seed", "7",
                                      "--cache-aside"], capture_output=True, text=True, timeout=900).stdout.strip()
                ratios[name] = float(out.split(",")[4])
                keys_held[name] = int(cli(s.port, "DBSIZE"))
            finally:
                s.stop()
        f, r = ratios["ferrocache"], ratios["redis"]
        print(f"  {policy:<12} hit ratio ferrocache {f:.4f}, redis {r:.4f}, ferrocache/redis {f / r:.3f} "
              f"(keys held at the end: {keys_held['ferrocache']} and {keys_held['redis']})")


def latency(n, rounds=5):
    print(f"\np99 of SET (-c 50 -P 1, 256 B values) with constant eviction against none, "
          f"medians of {rounds} interleaved rounds:")
    configs = [("none", []), ("evicting", ["--maxmemory", "30mb", "--maxmemory-policy", "allkeys-lru"])]
    servers = {}
    try:
        for name, argv in SPECS:
            for label, extra in configs:
                s = Server(name, argv + extra)
                servers[(name, label)] = s
                run_benchmark(s.port, "-t set -d 256 -r 100000000 -c 50 -P 16", n)  # fill (and start evicting)
        p99 = {k: [] for k in servers}
        for r in range(rounds):
            order = list(servers)
            order = order[r % len(order):] + order[:r % len(order)]
            for k in order:
                p99[k].append(run_benchmark(servers[k].port, "-t set -d 256 -r 100000000 -c 50 -P 1", n)["SET"][2])
        for name, _ in SPECS:
            none, ev = p99[(name, "none")], p99[(name, "evicting")]
            ratio = statistics.median(e / x for e, x in zip(ev, none))
            print(f"  {name:<11} p99 {statistics.median(none):.3f} ms without eviction, "
                  f"{statistics.median(ev):.3f} ms evicting: ratio {ratio:.2f} (median of same-round ratios)")
    finally:
        for s in servers.values():
            s.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--only", help="comma-separated parts: keys,bounded,hits,latency")
    a = ap.parse_args()
    parts = set((a.only or "keys,bounded,hits,latency").split(","))
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "ferrocache", "--example", "mixload"], cwd=ROOT, check=True)
    scale = 10 if a.quick else 1
    if "keys" in parts:
        memory_per_key(1_000_000 // scale)
    if "bounded" in parts:
        bounded((1 << 30) // scale)
    if "hits" in parts:
        hit_ratio(1_000_000 // scale, 1_000_000 // scale)
    if "latency" in parts:
        latency(200_000 // scale)


if __name__ == "__main__":
    main()
