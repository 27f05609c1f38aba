"""Reads ferrocache's /metrics with Prometheus's own text parser, and its last EMF document as
JSON, and checks them against the traffic tests/metrics.rs drove (70 hits, 30 misses, ...)."""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

port, emf_path, evicted = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])

body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
families = {f.name: f for f in text_string_to_metric_families(body)}


def value(family, **labels):
    for s in families[family].samples:
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise KeyError(f"{family} {labels}")


# redis_exporter's names, cumulative since CONFIG RESETSTAT (the parser drops `_total`).
assert families["redis_keyspace_hits"].type == "counter"
assert value("redis_keyspace_hits") == 70, value("redis_keyspace_hits")
assert value("redis_keyspace_misses") == 30
assert value("redis_expired_keys") == 3
assert value("redis_evicted_keys") == evicted
assert value("redis_rejected_connections") == 2
assert value("redis_acl_access_denied_auth") == 1
assert value("redis_commands", cmd="get") == 100
assert value("redis_commands_duration_seconds", cmd="get") > 0
assert value("redis_connected_clients") == 1
assert families["redis_connected_clients"].type == "gauge"
assert value("redis_instance_info", role="master") == 1
assert value("redis_memory_used_bytes") > 0
assert value("redis_db_keys", db="db0") > 0
assert value("redis_errors", err="WRONGPASS") == 1
# CloudWatch names for what the exporter does not name.
assert families["GetTypeCmds"].type == "counter"
assert value("GetTypeCmds") >= 101
assert value("StringBasedCmds") >= 213
assert value("CacheHitRate") == 70
assert families["CacheHitRate"].type == "gauge"
assert value("IsMaster") == 1
assert value("FreeableMemory") > 0

# The EMF document of the period that held the traffic: the last one written.
with open(emf_path) as f:
    docs = [json.loads(line) for line in f if line.strip()]
doc = docs[-1]
aws = doc["_aws"]
assert isinstance(aws["Timestamp"], int)
directive = aws["CloudWatchMetrics"][0]
assert directive["Namespace"] == "Ferrocache/ElastiCache"
assert directive["Dimensions"] == [["CacheClusterId", "CacheNodeId"], ["CacheClusterId"]]
assert doc["CacheClusterId"] == "cache-0001-001" and doc["CacheNodeId"] == "0001"
units = {"Count", "Percent", "Bytes", "Seconds", "Milliseconds", "Microseconds", "None"}
assert 0 < len(directive["Metrics"]) <= 100
for m in directive["Metrics"]:
    assert m["Unit"] in units, m
    v = doc[m["Name"]]
    # A distribution is an array of at most 100 values (EMF's limit), else one number.
    if isinstance(v, list):
        assert 0 < len(v) <= 100 and all(isinstance(x, (int, float)) for x in v), m
    else:
        assert isinstance(v, (int, float)), m
assert doc["CacheHits"] == 70 and doc["CacheMisses"] == 30 and doc["CacheHitRate"] == 70
assert doc["Reclaimed"] == 3 and doc["RejectedConnections"] == 2
assert doc["Evictions"] == evicted
# The request latencies as distributions: 101 reads and 115 writes (the failed INCR is in the
# histogram) become 100 samples each, in order.
for name in ("SuccessfulReadRequestLatency", "SuccessfulWriteRequestLatency"):
    samples = doc[name]
    assert isinstance(samples, list) and len(samples) == 100, (name, samples)
    # (Whole microseconds: a fast machine serves most GETs in less than one.)
    assert samples == sorted(samples) and samples[0] >= 0 and samples[-1] > 0, (name, samples)
print("ok", len(families), "families,", len(directive["Metrics"]), "EMF metrics")
