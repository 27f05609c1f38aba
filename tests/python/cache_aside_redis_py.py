"""A cache-aside application with redis-py (RESP3, its default): GET, and on a miss SETEX."""
import sys

import redis

port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port, protocol=3, decode_responses=True)
assert r.ping() is True

backend_calls = 0


def load_user(uid):
    global backend_calls
    key = f"user:{uid}"
    cached = r.get(key)
    if cached is not None:
        return cached
    backend_calls += 1
    value = f"name-{uid}"
    r.setex(key, 300, value)
    return value


for round_ in range(3):
    for uid in range(50):
        assert load_user(uid) == f"name-{uid}"
assert backend_calls == 50, backend_calls
assert 295 <= r.ttl("user:1") <= 300
info = r.info("stats")
assert info["keyspace_hits"] >= 100, info["keyspace_hits"]
assert info["keyspace_misses"] >= 50
assert r.info("server")["redis_version"].startswith("7.2")

# RESP2 as well, with a selected database and a client name.
r2 = redis.Redis(host="127.0.0.1", port=port, protocol=2, db=5, client_name="app2")
r2.set("x", 1)
assert r2.incr("x") == 2
assert r2.client_getname() in (b"app2", "app2"), r2.client_getname()
assert r.dbsize() == 50
pipe = r.pipeline(transaction=False)
for i in range(100):
    pipe.set(f"p{i}", i)
    pipe.get(f"p{i}")
res = pipe.execute()
assert res[1::2] == [str(i) for i in range(100)]
print("redis-py ok")
