#!/usr/bin/env python3
"""Persistence under load, ferrocache against Debian's redis-server in the same run.

    bench/persistence.py [--keys 1000000] [--value 1000] [--only bgsave,replica,load]

- bgsave: with KEYS keys of VALUE bytes (1 GB by default) and a 50/50 GET/SET load
  (examples/mixload, in batches), the p99 of the batches that ran while a BGSAVE was writing,
  against the p99 of batches without one; and what the save cost in memory: ferrocache's
  growth of RSS over the dataset (and its own count, rdb_last_cow_size), Redis's copy-on-write
  as it reports it (rdb_last_cow_size).
- replica: the same dataset; a redis-server replica attaches while a probe (examples/pingprobe)
  PINGs every millisecond: the longest wait the probe saw, and how long the sync took; a second
  probe PINGs an idle redis-server meanwhile, to show the machine's own scheduling noise.
- load: time from start to serving of 1M keys, from an RDB and from an AOF (the same files for
  both servers, written by ferrocache).

Ratios are what to read (the machine is shared and noisy), never lone times.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FC = os.path.join(ROOT, "target/release/ferrocache")
MIX = os.path.join(ROOT, "target/release/examples/mixload")
PROBE = os.path.join(ROOT, "target/release/examples/pingprobe")
REDIS = shutil.which("redis-server") or "redis-server"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args, timeout=600):
    r = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=timeout)
    return r.stdout.strip()


def info(port, field):
    for line in cli(port, "INFO", "all").splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Server:
    def __init__(self, name, extra=(), dir=None, wait=True):
        self.name = name
        self.port = free_port()
        self.dir = dir or tempfile.mkdtemp(prefix=f"pbench-{name}-")
        binary = FC if name == "ferrocache" else REDIS
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", self.dir, "--repl-diskless-sync-delay", "0", "--enable-debug-command", "yes", *extra]
        self.started = time.time()
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait:
            self.wait_ready()

    def wait_ready(self, limit=600):
        deadline = time.time() + limit
        while time.time() < deadline:
            if cli(self.port, "PING") == "PONG":
                return time.time() - self.started
            time.sleep(0.01)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def mix_batch(port, requests, value):
    out = subprocess.run([MIX, "--port", str(port), "--clients", "50", "--requests", str(requests),
                          "--keys", "1000000", "--get-ratio", "0.5", "--value-size", str(value)],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    _, ops, p50, p99, _ = out.split(",")
    return float(ops), float(p99)


def populate(s, keys, value):
    cli(s.port, "DEBUG", "POPULATE", str(keys), "key", str(value))


def bgsave(s, keys, value, batch):
    """p99 of load batches with and without a BGSAVE running, and the save's memory cost."""
    base = [mix_batch(s.port, batch, value)[1] for _ in range(3)]
    before = rss(s.proc.pid)
    during, peak = [], before
    started = time.time()
    cli(s.port, "BGSAVE")
    while info(s.port, "rdb_bgsave_in_progress") == "1":
        p99 = mix_batch(s.port, batch, value)[1]
        if info(s.port, "rdb_bgsave_in_progress") == "1":
            during.append(p99)
        peak = max(peak, rss(s.proc.pid))
    took = time.time() - started
    cow = int(info(s.port, "rdb_last_cow_size") or 0)
    dataset = int(info(s.port, "used_memory_dataset") or info(s.port, "used_memory"))
    return {
        "p99_base": statistics.median(base),
        "p99_during": statistics.median(during) if during else float("nan"),
        "p99_during_max": max(during) if during else float("nan"),
        "during": during,
        "batches_during": len(during),
        "save_s": took,
        "rss_growth": peak - before,
        "cow": cow,
        "dataset": dataset,
    }


def probe_start(port):
    """A pingprobe (examples/pingprobe.rs) on PORT; stop it with probe_stop."""
    return subprocess.Popen([PROBE, "--port", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def probe_stop(p):
    out, _ = p.communicate()
    n, worst, p999, p99, over = out.strip().split(",")
    return {"n": int(n), "worst": float(worst), "p999": float(p999), "p99": float(p99), "over10": int(over)}


def replica_attach(s, control, light=False):
    """The longest PING while a replica attaches and syncs (`light`: redis-cli --rdb, which only
    stores the snapshot, instead of a redis-server that loads it on the same cores). A second
    probe PINGs an idle redis-server (`control`) at the same time: what it sees is the
    machine's scheduling noise (two cores, four busy processes), not any server's pause."""
    time.sleep(0.5)
    probes = probe_start(s.port), probe_start(control.port)
    time.sleep(0.5)
    started = time.time()
    if light:
        out = os.path.join(s.dir, "replica-copy.rdb")
        subprocess.run(["redis-cli", "-p", str(s.port), "--rdb", out], capture_output=True, check=True)
        os.remove(out)
    else:
        r = Server("replica", ["--replicaof", "127.0.0.1", str(s.port)], wait=False)
        while "master_link_status:up" not in cli(r.port, "INFO", "replication"):
            time.sleep(0.05)
            if time.time() - started > 600:
                raise RuntimeError("replica did not sync")
        r.stop()
    took = time.time() - started
    probe, idle = (probe_stop(p) for p in probes)
    return {"probe": probe, "idle": idle, "sync_s": took}


def make_aof_dir(keys):
    """An AOF directory with an empty base and KEYS SET commands, written by ferrocache."""
    d = tempfile.mkdtemp(prefix="pbench-aof-")
    s = Server("ferrocache", ["--appendonly", "yes"], dir=d)
    subprocess.run(["redis-benchmark", "-p", str(s.port), "-t", "set", "-n", str(keys), "-r", str(keys * 10),
                    "-d", "64", "-P", "64", "-q"], capture_output=True, check=True)
    cli(s.port, "SHUTDOWN", "NOSAVE")
    s.proc.wait()
    return d


def make_rdb_dir(keys):
    d = tempfile.mkdtemp(prefix="pbench-rdb-")
    s = Server("ferrocache", dir=d)
    cli(s.port, "DEBUG", "POPULATE", str(keys), "key", "64")
    cli(s.port, "SAVE")
    s.stop()
    return d


def load_times(keys):
    out = {}
    for kind, make, extra in [("rdb", make_rdb_dir, []), ("aof", make_aof_dir, ["--appendonly", "yes"])]:
        d = make(keys)
        for name in ["ferrocache", "redis"]:
            times = []
            for _ in range(3):
                s = Server(name, extra, dir=d, wait=False)
                times.append(s.wait_ready())
                n = int(cli(s.port, "DBSIZE"))
                s.stop()
            out[(kind, name)] = (statistics.median(times), n)
        shutil.rmtree(d, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--value", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=40_000, help="requests per load batch")
    ap.add_argument("--only", default="bgsave,replica,load")
    a = ap.parse_args()
    only = set(a.only.split(","))
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "ferrocache", "--example", "mixload", "--example", "pingprobe"],
                   cwd=ROOT, check=True)
    if only & {"bgsave", "replica"}:
        res = {}
        control = Server("control")
        for name in ["ferrocache", "redis"]:
            s = Server(name)
            try:
                populate(s, a.keys, a.value)
                if "bgsave" in only:
                    res[("bgsave", name)] = bgsave(s, a.keys, a.value, a.batch)
                if "replica" in only:
                    res[("replica", name)] = replica_attach(s, control)
                    res[("rdb", name)] = replica_attach(s, control, light=True)
            finally:
                s.stop()
                shutil.rmtree(s.dir, ignore_errors=True)
        control.stop()
        if "bgsave" in only:
            print(f"BGSAVE of {a.keys} keys x {a.value} B under a 50/50 GET/SET load ({a.batch}-request batches):")
            for name in ["ferrocache", "redis"]:
                r = res[("bgsave", name)]
                print(f"  {name:10} p99 {r['p99_base']:.2f} ms without a save, {r['p99_during']:.2f} ms during it "
                      f"(x{r['p99_during'] / r['p99_base']:.2f}; median of {r['batches_during']} batches, worst "
                      f"{r['p99_during_max']:.2f} ms: {' '.join(f'{x:.1f}' for x in r['during'])}); save {r['save_s']:.1f} s; "
                      f"RSS growth {r['rss_growth'] / r['dataset'] * 100:.1f}% of the dataset; "
                      f"rdb_last_cow_size {r['cow'] / r['dataset'] * 100:.1f}% of the dataset")
            f, r = res[("bgsave", "ferrocache")], res[("bgsave", "redis")]
            print(f"  ferrocache/redis: save time {f['save_s'] / r['save_s']:.2f}, p99 during {f['p99_during'] / r['p99_during']:.2f}")
        if "replica" in only:
            def show(r):
                p, i = r["probe"], r["idle"]
                return (f"longest PING {p['worst']:.1f} ms (p99.9 {p['p999']:.1f}, {p['over10']} of {p['n']} over 10 ms); "
                        f"an idle redis-server at the same time: longest {i['worst']:.1f} ms (p99.9 {i['p999']:.1f}, "
                        f"{i['over10']} over 10 ms); sync {r['sync_s']:.1f} s")
            print("A redis-server replica attaching (diskless, no delay), a probe PINGing every ms:")
            for name in ["ferrocache", "redis"]:
                print(f"  {name:10} {show(res[('replica', name)])}")
            print("The same with redis-cli --rdb as the replica (it loads nothing: no third busy process):")
            for name in ["ferrocache", "redis"]:
                print(f"  {name:10} {show(res[('rdb', name)])}")
    if "load" in only:
        lt = load_times(a.keys)
        print(f"Start to serving, {a.keys} keys (median of 3):")
        for kind in ["rdb", "aof"]:
            (f, nf), (r, nr) = lt[(kind, "ferrocache")], lt[(kind, "redis")]
            print(f"  {kind}: ferrocache {f:.2f} s ({nf} keys), redis {r:.2f} s ({nr} keys): ferrocache/redis {f / r:.2f}")


if __name__ == "__main__":
    sys.exit(main())
