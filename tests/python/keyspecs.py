"""Key specs compared with redis-server (tests/keyspecs.rs runs this).

1. COMMAND INFO of every command and subcommand both servers have: the legacy (first, last,
   step) triple, the movablekeys flag, and every key spec field for field (flags, begin_search,
   find_keys; Redis's free-text `notes` are left out).
2. COMMAND GETKEYS and COMMAND GETKEYSANDFLAGS over a generated corpus: for every command with
   keys, argument lists of each length its arity allows (up to a few more), filled with words,
   with numbers (so numkeys arguments parse), and with the keywords its key specs search for
   (STORE, STREAMS, ...) at each position, plus hand-written forms; the replies (errors
   included) must be the same.

Usage: keyspecs.py <redis port> <ferrocache port>. Prints the differences and exits 1 on any.
"""
import sys

import redis

ref = redis.Redis(port=int(sys.argv[1]), protocol=2)
ours = redis.Redis(port=int(sys.argv[2]), protocol=2)
for r in (ref, ours):
    # The raw replies, not redis-py's reshaping of them.
    r.response_callbacks.pop("COMMAND", None)
    for k in list(r.response_callbacks):
        if k.startswith("COMMAND"):
            r.response_callbacks.pop(k)


def as_map(pairs):
    it = iter(pairs)
    return {k.decode(): v for k, v in zip(it, it)}


def key_spec(spec):
    m = as_map(spec)
    m.pop("notes", None)
    bs, fk = as_map(m["begin_search"]), as_map(m["find_keys"])
    return (
        sorted(f.decode() for f in m["flags"]),
        bs["type"].decode(),
        sorted(as_map(bs["spec"]).items()) if bs["spec"] else [],
        fk["type"].decode(),
        sorted(as_map(fk["spec"]).items()) if fk["spec"] else [],
    )


def infos(r):
    """name -> (first, last, step, movable, [key specs]) for commands and subcommands."""
    out = {}

    def walk(c):
        name = c[0].decode()
        flags = [f.decode() for f in c[2]]
        specs = [key_spec(s) for s in c[8]] if len(c) > 8 else []
        out[name] = (c[3], c[4], c[5], "movablekeys" in flags, specs)
        if len(c) > 9:
            for sub in c[9]:
                walk(sub)

    for c in r.execute_command("COMMAND"):
        walk(c)
    return out


diffs = []
mine, theirs = infos(ours), infos(ref)
shared = sorted(set(mine) & set(theirs))
assert len(shared) > 200, len(shared)
for name in shared:
    if mine[name] != theirs[name]:
        diffs.append(f"COMMAND INFO {name}:\n  redis:      {theirs[name]}\n  ferrocache: {mine[name]}")

# COMMAND DOCS: the key arguments name their key spec (key_spec_index), in argument order.
def key_arg_specs(r, name):
    docs = r.execute_command("COMMAND", "DOCS", name)
    if not docs:
        return None
    d = as_map(docs[1])
    out = []

    def walk(args):
        for a in args:
            m = as_map(a)
            if m.get("type") == b"key":
                out.append(m.get("key_spec_index"))
            if "arguments" in m:
                walk(m["arguments"])

    walk(d.get("arguments", []))
    return out


for name in shared:
    if "|" in name or not mine[name][4]:
        continue
    a, b = key_arg_specs(ref, name), key_arg_specs(ours, name)
    if a != b:
        diffs.append(f"COMMAND DOCS {name} key_spec_index:\n  redis:      {a}\n  ferrocache: {b}")

# The corpus.
arity = {}
for c in ref.execute_command("COMMAND"):
    arity[c[0].decode()] = c[1]
    if len(c) > 9:
        for sub in c[9]:
            arity[sub[0].decode()] = sub[1]
KEYWORDS = ["STORE", "STOREDIST", "STREAMS", "GET", "BY", "LIMIT", "KEYS", "GROUP", "BLOCK",
            "COUNT", "NOACK", "SET", "INCRBY", "OVERFLOW"]
corpus = []
for name in shared:
    if not mine[name][4]:
        continue
    words = name.split("|")
    a = arity[name]
    lengths = [a] if a > 0 else range(-a, -a + 5)
    for n in lengths:
        extra = n - len(words)
        if extra < 0:
            continue
        corpus.append(words + [f"k{i}" for i in range(extra)])
        corpus.append(words + ["2"] * extra)
        corpus.append(words + ["1"] + [f"k{i}" for i in range(extra - 1)])
        # Keywords matter where the keys move with the arguments.
        if not mine[name][3] and all(s[1] == "index" for s in mine[name][4]):
            continue
        for kw in KEYWORDS:
            for at in range(extra):
                args = [f"k{i}" for i in range(extra)]
                args[at] = kw
                corpus.append(words + args)
# Forms the generator does not reach.
for line in [
    "ZUNIONSTORE d 2 a b WEIGHTS 1 2 AGGREGATE MAX", "ZUNIONSTORE d 0 a", "ZUNIONSTORE d -1 a",
    "ZUNIONSTORE d 3 a b", "ZUNIONSTORE d 2abc a b", "ZINTER 2 a b WITHSCORES", "ZDIFF 1 a",
    "ZINTERCARD 2 a b LIMIT 1", "SINTERCARD 3 a b c", "LMPOP 2 a b LEFT COUNT 3",
    "BLMPOP 0 2 a b RIGHT", "BZMPOP 1.5 1 z MIN COUNT 2", "ZMPOP 1 z MAX",
    "SORT k BY w_* GET # GET o_* LIMIT 0 10 STORE d", "SORT k STORE a STORE b", "SORT k LIMIT 0 1 STORE",
    "SORT_RO k BY x GET y", "GEORADIUS g 0 0 1 km STORE a STOREDIST b",
    "GEORADIUSBYMEMBER g m 1 km STOREDIST d", "GEOSEARCHSTORE d s FROMMEMBER m BYRADIUS 1 km",
    "XREAD COUNT 1 BLOCK 0 STREAMS a b 0 0", "XREAD STREAMS a 0", "XREAD STREAMS a b 0",
    "XREADGROUP GROUP g c COUNT 1 NOACK STREAMS a b > >", "XREADGROUP GROUP g c STREAMS a",
    "SET k v GET", "SET k v EX 1 get", "SET k v NX", "BITFIELD k GET u8 0", "BITFIELD k SET u8 0 1",
    "BITFIELD k OVERFLOW SAT INCRBY u8 0 1", "BITFIELD k GET u8", "BITFIELD_RO k GET u8 0",
    "MSET a 1 b 2 c 3", "MSET a 1 b", "BITOP AND d a b c", "LCS a b IDX",
    "PFMERGE d a b", "COPY a b DB 1", "OBJECT ENCODING k", "MEMORY USAGE k SAMPLES 5",
    "XGROUP CREATE s g $ MKSTREAM", "XINFO STREAM s FULL", "SPUBLISH c m", "SSUBSCRIBE a b",
    "PING", "GET", "NOSUCH k", "OBJECT NOSUCH k", "OBJECT",
]:
    corpus.append(line.split())

seen = set()
for args in corpus:
    key = tuple(args)
    if key in seen:
        continue
    seen.add(key)
    for sub in ("GETKEYS", "GETKEYSANDFLAGS"):
        got = []
        for r in (ref, ours):
            try:
                got.append(r.execute_command("COMMAND", sub, *args))
            except redis.ResponseError as e:
                got.append(f"error: {e}")
        if got[0] != got[1]:
            diffs.append(f"COMMAND {sub} {' '.join(args)}:\n  redis:      {got[0]}\n  ferrocache: {got[1]}")

print(f"{len(shared)} commands, {len(seen)} corpus lines")
if diffs:
    print(f"{len(diffs)} differences:")
    print("\n".join(diffs[:80]))
    sys.exit(1)
