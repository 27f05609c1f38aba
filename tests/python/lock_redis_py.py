"""redis-py's Lock (its release, extend and reacquire are Lua scripts run by EVALSHA) against
the servers on the given ports: the same outcomes on each, and mutual exclusion between
processes that contend for one lock."""

import multiprocessing
import sys
import time

import redis


def contend(port, rounds, name):
    r = redis.Redis(port=port)
    lock = r.lock(name, timeout=5, blocking_timeout=20)
    for _ in range(rounds):
        with lock:
            # Read-modify-write without the lock would lose increments.
            v = int(r.get("counter") or 0)
            time.sleep(0.001)
            r.set("counter", v + 1)


def scenario(port):
    r = redis.Redis(port=port, decode_responses=True)
    r.flushall()
    r.script_flush()
    out = []
    a = r.lock("res", timeout=10)
    b = r.lock("res", timeout=10, blocking=False)
    out.append(("a acquires", a.acquire()))
    out.append(("b acquires while a holds", b.acquire()))
    out.append(("a owned", a.owned()))
    out.append(("b owned", b.owned()))
    out.append(("a extends", a.extend(5)))
    ttl = r.pttl("res")
    out.append(("ttl after extend in range", 10000 < ttl <= 15000))
    out.append(("a reacquires", a.reacquire()))
    ttl = r.pttl("res")
    out.append(("ttl after reacquire in range", 9000 < ttl <= 10000))
    a.release()
    out.append(("locked after release", r.exists("res")))
    try:
        a.release()
        out.append(("second release", "no error"))
    except redis.exceptions.LockError as e:
        out.append(("second release", type(e).__name__))
    try:
        a.extend(1)
        out.append(("extend unowned", "no error"))
    except redis.exceptions.LockError as e:
        out.append(("extend unowned", type(e).__name__))
    out.append(("b acquires after release", b.acquire()))
    # A lock whose timeout passed is free again; its old owner can no longer release it.
    c = r.lock("short", timeout=0.05)
    out.append(("c acquires", c.acquire()))
    time.sleep(0.15)
    d = r.lock("short", timeout=5, blocking=False)
    out.append(("d acquires after expiry", d.acquire()))
    try:
        c.release()
        out.append(("c releases expired", "no error"))
    except redis.exceptions.LockNotOwnedError:
        out.append(("c releases expired", "LockNotOwnedError"))
    out.append(("scripts cached", r.script_exists(a.lua_release.sha)[0]))
    # After SCRIPT FLUSH the scripts are loaded again on use (NOSCRIPT then EVAL).
    r.script_flush()
    out.append(("d releases after flush", d.release() is None))

    # Contention: processes increment a counter under the lock.
    procs = [
        multiprocessing.Process(target=contend, args=(port, 25, "shared"))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0, f"a contender failed: {p.exitcode}"
    out.append(("counter", r.get("counter")))
    out.append(("lock left", r.exists("shared")))
    return out


def main():
    results = [scenario(int(port)) for port in sys.argv[1:]]
    for other in results[1:]:
        assert other == results[0], f"outcomes differ:\n{results[0]}\n{other}"
    outcome = dict(results[0])
    assert outcome["a acquires"] and not outcome["b acquires while a holds"]
    assert outcome["counter"] == "100", outcome
    assert outcome["c releases expired"] == "LockNotOwnedError"
    print("ok", results[0])


if __name__ == "__main__":
    main()
