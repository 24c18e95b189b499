#!/usr/bin/python3
"""Drives a Shoal node's Redis port with redis-py (Debian's python3-redis),
the way an application would: plain calls, a pipeline, hashes, sets, a
counter, expiry, RESP errors as exceptions, and SCAN iteration. Prints OK
and exits 0 when every check holds; otherwise the failing assertion."""
import sys

import redis

port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=10)
assert r.ping() is True
assert r.set("py:s", "hello") is True
assert r.get("py:s") == "hello"
assert r.set("py:s", "x", nx=True) is None
assert r.incr("py:n") == 1
assert r.incrby("py:n", 41) == 42
assert r.get("py:n") == "42"
assert r.hset("py:h", mapping={"a": "1", "b": "2"}) == 2
assert r.hgetall("py:h") == {"a": "1", "b": "2"}
assert r.hincrby("py:h", "a", 9) == 10
assert r.sadd("py:set", "x", "y") == 2
assert r.smembers("py:set") == {"x", "y"}
assert r.set("py:t", "v", ex=60) is True
assert 55 <= r.ttl("py:t") <= 60
try:
    r.sadd("py:s", "z")
    raise AssertionError("SADD on a string did not fail")
except redis.exceptions.ResponseError as e:
    assert str(e).startswith("WRONGTYPE"), e

# A pipeline: every reply in order, a read after a write of the same key.
p = r.pipeline(transaction=False)
for i in range(100):
    p.set(f"py:p{i}", i)
    p.get(f"py:p{i}")
replies = p.execute()
assert replies == [x for i in range(100) for x in (True, str(i))], replies[:6]

keys = set(r.scan_iter(match="py:p*", count=17))
assert keys == {f"py:p{i}" for i in range(100)}, len(keys)
assert r.delete(*[f"py:p{i}" for i in range(100)]) == 100
assert r.exists("py:p0") == 0
print("OK")
