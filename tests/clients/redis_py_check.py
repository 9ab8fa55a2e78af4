"""redis-py against a running kvstore2pcsystem cluster.

Usage: python3 redis_py_check.py HOST COORDINATOR_PORT PARTICIPANT_PORT

Run by tests/redis_py.rs against a fresh cluster. Each check asserts what
redis-py returns; the first failure prints "FAIL: <check>: <why>" with its
traceback and exits 1. On success it prints "ok: N checks" and exits 0.
Needs redis-py >= 5 (RESP3 support).
"""

import sys
import threading
import time
import traceback

import redis

HOST, PORT, PARTICIPANT_PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def client(**kw):
    return redis.Redis(host=HOST, port=PORT, socket_timeout=30, **kw)


def expect(got, want, what=""):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


@check
def set_get_delete():
    r = client()
    expect(r.set("py:a", "1"), True, "SET")
    expect(r.get("py:a"), b"1", "GET")
    expect(r.get("py:missing"), None, "GET missing")
    expect(r.exists("py:a", "py:missing"), 1, "EXISTS")
    expect(r.delete("py:a", "py:missing"), 1, "DEL")
    expect(r.get("py:a"), None, "GET after DEL")
    expect(r.set("py:a", "x", nx=True), True, "SET NX on a missing key")
    expect(r.set("py:a", "y", nx=True), None, "SET NX on an existing key")
    expect(r.getset("py:a", "z"), b"x", "GETSET")
    expect(r.append("py:a", "zz"), 3, "APPEND")
    expect(r.strlen("py:a"), 3, "STRLEN")


@check
def binary_values():
    r = client()
    every_byte = bytes(range(256)) * 4
    key = b"py:bin\x00\xff\r\n"
    expect(r.set(key, every_byte), True, "SET binary")
    expect(r.get(key), every_byte, "GET binary")
    big = bytes(range(256)) * 4096  # 1 MiB
    r.set("py:big", big)
    expect(r.get("py:big"), big, "GET 1 MiB")
    d = client(decode_responses=True)
    d.set("py:text", "héllo wörld")
    expect(d.get("py:text"), "héllo wörld", "GET utf-8 with decode_responses")


@check
def pipeline_without_transaction():
    r = client()
    p = r.pipeline(transaction=False)
    p.set("py:p1", "a").set("py:p2", "b").get("py:p1").mget("py:p1", "py:p2", "py:nx")
    p.incr("py:pc").incr("py:pc").delete("py:p1")
    expect(
        p.execute(),
        [True, True, b"a", [b"a", b"b", None], 1, 2, 1],
        "pipeline(transaction=False)",
    )
    # 1000 commands in one round trip.
    p = r.pipeline(transaction=False)
    for i in range(1000):
        p.set(f"py:bulk:{i}", i)
    expect(p.execute(), [True] * 1000, "1000 pipelined SETs")
    p = r.pipeline(transaction=False)
    for i in range(1000):
        p.get(f"py:bulk:{i}")
    expect(p.execute(), [str(i).encode() for i in range(1000)], "1000 pipelined GETs")


@check
def pipeline_with_transaction():
    r = client()
    p = r.pipeline(transaction=True)
    p.set("py:t1", "1").incr("py:t1").get("py:t1").set("py:t2", "x")
    expect(p.execute(), [True, 2, b"2", True], "MULTI/EXEC pipeline")
    # A runtime error inside EXEC is reported in its place; the rest commit.
    p = r.pipeline(transaction=True)
    p.set("py:t3", "abc").incr("py:t3").set("py:t4", "ok")
    results = p.execute(raise_on_error=False)
    expect(results[0], True, "EXEC item 0")
    if not isinstance(results[1], redis.ResponseError):
        raise AssertionError(f"EXEC item 1: want a ResponseError, got {results[1]!r}")
    expect(results[2], True, "EXEC item 2")
    expect(r.get("py:t4"), b"ok", "a write after the failed command committed")
    # Queuing an unknown command dooms the transaction.
    p = r.pipeline(transaction=True)
    p.set("py:t5", "no").execute_command("NOSUCHCOMMAND")
    try:
        p.execute()
        raise AssertionError("EXEC of a doomed transaction succeeded")
    except redis.ResponseError as e:
        if "EXECABORT" not in str(e) and "unknown command" not in str(e):
            raise AssertionError(f"doomed EXEC raised {e!r}")
    expect(r.get("py:t5"), None, "nothing of a doomed transaction applied")


@check
def watch_with_the_transaction_helper():
    r = client()
    r.set("py:w", "10")
    attempts = []

    def double(pipe):
        attempts.append(1)
        value = int(pipe.get("py:w"))
        if len(attempts) == 1:
            # Another client changes the watched key: EXEC must abort and
            # the helper must retry.
            client().set("py:w", "20")
        pipe.multi()
        pipe.set("py:w", value * 2)

    r.transaction(double, "py:w")
    expect(len(attempts), 2, "attempts (the first EXEC aborts)")
    expect(r.get("py:w"), b"40", "value after the retried transaction")

    # Concurrent increments through WATCH never lose an update.
    r.set("py:wc", "0")

    def incr_many():
        c = client()

        def step(pipe):
            v = int(pipe.get("py:wc"))
            pipe.multi()
            pipe.set("py:wc", v + 1)

        for _ in range(20):
            c.transaction(step, "py:wc")

    threads = [threading.Thread(target=incr_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expect(r.get("py:wc"), b"80", "4 x 20 optimistic increments")


@check
def counters():
    r = client()
    expect(r.incr("py:n"), 1, "INCR")
    expect(r.incrby("py:n", 10), 11, "INCRBY")
    expect(r.decr("py:n"), 10, "DECR")
    expect(r.decrby("py:n", 3), 7, "DECRBY")
    expect(r.incrbyfloat("py:f", 1.5), 1.5, "INCRBYFLOAT")
    expect(r.incrbyfloat("py:f", 2), 3.5, "INCRBYFLOAT again")
    expect(r.get("py:f"), b"3.5", "INCRBYFLOAT's stored text")


@check
def mset_mget():
    r = client()
    expect(r.mset({"py:m1": "a", "py:m2": "b", "py:m3": b"\x00"}), True, "MSET")
    expect(r.mget("py:m1", "py:missing", "py:m2", "py:m3"), [b"a", None, b"b", b"\x00"], "MGET")
    expect(r.msetnx({"py:m1": "x", "py:m9": "y"}), False, "MSETNX with an existing key")
    expect(r.get("py:m9"), None, "MSETNX set nothing")


@check
def scan_iter():
    r = client()
    want = {f"py:scan:{i}".encode() for i in range(250)}
    r.mset({k: "v" for k in want})
    expect(set(r.scan_iter(match="py:scan:*", count=17)), want, "scan_iter MATCH COUNT")
    expect(set(r.scan_iter(match="py:scan:1?")), {f"py:scan:1{i}".encode() for i in range(10)}, "scan_iter ?")
    expect(set(r.keys("py:scan:24*")), {f"py:scan:24{i}".encode() for i in range(10)} | {b"py:scan:24"}, "KEYS")


@check
def info_parses():
    r = client()
    info = r.info()
    for field in ["redis_version", "redis_mode", "os", "arch_bits", "process_id", "tcp_port",
                  "uptime_in_seconds", "uptime_in_days", "executable", "config_file",
                  "connected_clients", "maxclients", "blocked_clients", "loading", "aof_enabled",
                  "total_connections_received", "total_commands_processed",
                  "instantaneous_ops_per_sec", "rejected_connections", "expired_keys",
                  "keyspace_hits", "keyspace_misses", "role", "connected_slaves",
                  "cluster_enabled", "kvstore_role", "kvstore_fsync"]:
        if field not in info:
            raise AssertionError(f"INFO has no {field}: {sorted(info)}")
    expect(info["redis_version"], "7.0.15", "redis_version")
    expect(info["tcp_port"], PORT, "tcp_port (parsed as an int)")
    expect(info["arch_bits"], 64, "arch_bits")
    expect(info["role"], "master", "role")
    expect(info["connected_slaves"], 3, "connected_slaves")
    expect(info["kvstore_role"], "coordinator", "kvstore_role")
    expect(info["cluster_enabled"], 0, "cluster_enabled")
    expect(info["loading"], 0, "loading")
    if info["total_commands_processed"] < 1000:
        raise AssertionError(f"total_commands_processed: {info['total_commands_processed']}")
    # redis-py parses "db0:keys=N,expires=0,avg_ttl=0" into a dict.
    expect(info["db0"], {"keys": r.dbsize(), "expires": 0, "avg_ttl": 0}, "db0")
    # The participants' lines parse into dicts too.
    p0 = info["participant0"]
    expect(p0["state"], "live", "participant0 state")
    server = r.info("server")
    expect("redis_version" in server and "connected_clients" not in server, True, "INFO server")
    expect(set(r.info("keyspace")), {"db0"}, "INFO keyspace")
    expect(r.info("nosuchsection"), {}, "INFO of an unknown section")
    both = r.info("clients", "cluster")
    expect("connected_clients" in both and "cluster_enabled" in both, True, "INFO clients cluster")
    expect("redis_version" in both, False, "INFO clients cluster has no server fields")
    # Hits and misses move with GETs.
    r.set("py:hit", "1")
    before = r.info("stats")
    r.get("py:hit")
    r.get("py:nope")
    after = r.info("stats")
    expect(after["keyspace_hits"] - before["keyspace_hits"], 1, "keyspace_hits")
    expect(after["keyspace_misses"] - before["keyspace_misses"], 1, "keyspace_misses")


@check
def info_at_a_participant():
    p = redis.Redis(host=HOST, port=PARTICIPANT_PORT, socket_timeout=30)
    info = p.info()
    expect(info["role"], "slave", "participant role")
    expect(info["kvstore_role"], "participant", "participant kvstore_role")
    expect(info["master_port"], PORT, "participant master_port")
    expect(info["master_link_status"], "up", "participant master_link_status")
    expect(info["tcp_port"], PARTICIPANT_PORT, "participant tcp_port")
    expect(info["db0"]["keys"], p.dbsize(), "participant db0 keys")
    expect(p.get("py:m1"), b"a", "GET at a participant")
    try:
        p.set("py:x", "1")
        raise AssertionError("a write at a participant succeeded")
    except redis.ReadOnlyError:
        pass


@check
def client_name_and_time():
    r = client()
    expect(r.client_setname("checker"), True, "CLIENT SETNAME")
    # redis-py decodes the name itself.
    expect(r.client_getname(), "checker", "CLIENT GETNAME")
    expect(isinstance(r.client_id(), int), True, "CLIENT ID")
    secs, usecs = r.time()
    if not (1_600_000_000 < secs and 0 <= usecs < 1_000_000):
        raise AssertionError(f"TIME: {secs}, {usecs}")
    expect(r.ping(), True, "PING")
    expect(r.echo("hi"), b"hi", "ECHO")


@check
def resp3():
    r = client(protocol=3)
    expect(r.set("py:r3", "v"), True, "RESP3 SET")
    expect(r.get("py:r3"), b"v", "RESP3 GET")
    expect(r.get("py:r3:missing"), None, "RESP3 GET missing")
    expect(r.mget("py:r3", "py:r3:missing"), [b"v", None], "RESP3 MGET")
    expect(r.incrbyfloat("py:r3f", "0.25"), 0.25, "RESP3 INCRBYFLOAT")
    p = r.pipeline(transaction=True)
    p.incr("py:r3n").get("py:r3n")
    expect(p.execute(), [1, b"1"], "RESP3 MULTI/EXEC")
    info = r.info()
    expect(info["redis_version"], "7.0.15", "RESP3 INFO (a verbatim string)")
    hello = r.execute_command("HELLO", "3")
    expect(hello[b"proto"], 3, "HELLO 3 proto")
    d = client(protocol=3, decode_responses=True)
    expect(d.set("py:r3d", "ü"), True, "RESP3 decoded SET")
    expect(d.get("py:r3d"), "ü", "RESP3 decoded GET")
    expect(d.client_setname("r3"), True, "RESP3 CLIENT SETNAME")
    expect(d.client_getname(), "r3", "RESP3 CLIENT GETNAME")


@check
def errors_map_to_exceptions():
    r = client()
    r.set("py:s", "abc")
    cases = [
        (lambda: r.incr("py:s"), "value is not an integer or out of range"),
        (lambda: r.incrbyfloat("py:s", 1), "value is not a valid float"),
        (lambda: r.execute_command("FOO", "a"), "unknown command 'FOO', with args beginning with: 'a' "),
        (lambda: r.execute_command("GET"), "wrong number of arguments for 'get' command"),
        (lambda: r.execute_command("SET", "k", "v", "BAD"), "syntax error"),
        (lambda: r.execute_command("HELLO", "3", "FOO"), "Syntax error in HELLO option 'FOO'"),
    ]
    for call, text in cases:
        try:
            call()
        except redis.ResponseError as e:
            expect(str(e), text, "error text")
        else:
            raise AssertionError(f"no error, wanted {text!r}")
    try:
        r.execute_command("HELLO", "4")
    except redis.ResponseError as e:
        # redis-py maps NOPROTO onto its own text.
        if "unsupported protocol" not in str(e) and "NOPROTO" not in str(e):
            raise AssertionError(f"HELLO 4 raised {e!r}")
    else:
        raise AssertionError("HELLO 4 succeeded")
    expect(r.get("py:s"), b"abc", "a failed INCR changed nothing")


@check
def hashes_and_sets():
    r = client()
    r.delete("py:h", "py:h2", "py:hbig", "py:s1", "py:s2", "py:s3", "py:sbig", "py:sd", "py:sdst")
    # Hashes
    expect(r.hset("py:h", mapping={"a": "1", "b": "2", "c": b"\x00\xff"}), 3, "HSET mapping")
    expect(r.hset("py:h", "a", "10"), 0, "HSET an existing field")
    expect(r.hset("py:h", items=["d", "4", "e", "5"]), 2, "HSET items")
    expect(r.hsetnx("py:h", "a", "x"), False, "HSETNX on an existing field")
    expect(r.hgetall("py:h"), {b"a": b"10", b"b": b"2", b"c": b"\x00\xff", b"d": b"4", b"e": b"5"}, "HGETALL")
    expect(r.hgetall("py:missing"), {}, "HGETALL missing")
    expect(r.hget("py:h", "a"), b"10", "HGET")
    expect(r.hget("py:h", "zz"), None, "HGET missing field")
    expect(r.hmget("py:h", ["a", "zz", "c"]), [b"10", None, b"\x00\xff"], "HMGET")
    expect(r.hincrby("py:h", "a", 5), 15, "HINCRBY")
    expect(r.hincrby("py:h", "n", -3), -3, "HINCRBY a new field")
    expect(r.hincrbyfloat("py:h", "f", 10.5), 10.5, "HINCRBYFLOAT")
    expect(r.hincrbyfloat("py:h", "f", "0.25"), 10.75, "HINCRBYFLOAT again")
    expect(r.hget("py:h", "f"), b"10.75", "HINCRBYFLOAT's stored text")
    expect(r.hlen("py:h"), 7, "HLEN")
    expect(r.hexists("py:h", "b"), True, "HEXISTS")
    expect(r.hexists("py:h", "zz"), False, "HEXISTS missing")
    expect(r.hstrlen("py:h", "c"), 2, "HSTRLEN")
    expect(sorted(r.hkeys("py:h")), [b"a", b"b", b"c", b"d", b"e", b"f", b"n"], "HKEYS")
    expect(sorted(r.hvals("py:h")), sorted([b"15", b"2", b"\x00\xff", b"4", b"5", b"10.75", b"-3"]), "HVALS")
    expect(r.hdel("py:h", "d", "e", "zz"), 2, "HDEL")
    expect(r.hlen("py:h"), 5, "HLEN after HDEL")
    expect(r.hrandfield("py:missing"), None, "HRANDFIELD missing")
    expect(sorted(r.hrandfield("py:h", 10)), [b"a", b"b", b"c", b"f", b"n"], "HRANDFIELD count >= size")
    r.hset("py:h2", "only", "v")
    expect(r.hrandfield("py:h2", -3), [b"only"] * 3, "HRANDFIELD negative count")
    expect(r.hrandfield("py:h2", 1, withvalues=True), [b"only", b"v"], "HRANDFIELD WITHVALUES")
    big = {f"field:{i}".encode(): str(i).encode() for i in range(300)}
    r.hset("py:hbig", mapping=big)
    expect(dict(r.hscan_iter("py:hbig", count=7)), big, "hscan_iter over 300 fields")
    expect(dict(r.hscan_iter("py:hbig", match="field:1?")),
           {f"field:1{i}".encode(): f"1{i}".encode() for i in range(10)}, "hscan_iter MATCH")
    expect(r.hdel("py:h2", "only"), 1, "HDEL the last field")
    expect(r.exists("py:h2"), 0, "a hash without fields is gone")
    r.set("py:str", "v")
    for call in [lambda: r.hset("py:str", "f", "v"), lambda: r.hgetall("py:str"),
                 lambda: r.sadd("py:str", "m"), lambda: r.smembers("py:str"),
                 lambda: r.get("py:h")]:
        try:
            call()
        except redis.ResponseError as e:
            expect(str(e), "WRONGTYPE Operation against a key holding the wrong kind of value", "WRONGTYPE")
        else:
            raise AssertionError("no WRONGTYPE error")
    try:
        r.hincrby("py:h", "c", 1)
        raise AssertionError("HINCRBY of a binary value succeeded")
    except redis.ResponseError as e:
        expect(str(e), "hash value is not an integer", "HINCRBY error")
    try:
        r.hincrbyfloat("py:h", "c", 1)
        raise AssertionError("HINCRBYFLOAT of a binary value succeeded")
    except redis.ResponseError as e:
        expect(str(e), "hash value is not a float", "HINCRBYFLOAT error")
    expect(r.type("py:h"), b"hash", "TYPE hash")

    # Sets
    expect(r.sadd("py:s1", "a", "b", "c", "a"), 3, "SADD with a repeat")
    expect(r.sadd("py:s1", "a"), 0, "SADD an existing member")
    expect(r.smembers("py:s1"), {b"a", b"b", b"c"}, "SMEMBERS as a set")
    expect(r.smembers("py:missing"), set(), "SMEMBERS missing")
    expect(r.sismember("py:s1", "a"), True, "SISMEMBER")
    expect(r.sismember("py:s1", "z"), False, "SISMEMBER missing member")
    expect(r.smismember("py:s1", ["a", "z", "c"]), [True, False, True], "SMISMEMBER")
    expect(r.scard("py:s1"), 3, "SCARD")
    expect(r.srem("py:s1", "c", "z"), 1, "SREM")
    r.sadd("py:s2", "b", "c", "d")
    r.sadd("py:s3", "b", "x")
    expect(r.sinter("py:s1", "py:s2"), {b"b"}, "SINTER")
    expect(r.sunion("py:s1", "py:s2", "py:s3"), {b"a", b"b", b"c", b"d", b"x"}, "SUNION")
    expect(r.sdiff("py:s2", "py:s1"), {b"c", b"d"}, "SDIFF")
    expect(r.sinter("py:s1", "py:missing"), set(), "SINTER with a missing key")
    expect(r.sinterstore("py:sd", ["py:s1", "py:s2", "py:s3"]), 1, "SINTERSTORE")
    expect(r.smembers("py:sd"), {b"b"}, "SINTERSTORE result")
    expect(r.sunionstore("py:sd", ["py:s1", "py:s3"]), 3, "SUNIONSTORE")
    expect(r.smembers("py:sd"), {b"a", b"b", b"x"}, "SUNIONSTORE result")
    expect(r.sdiffstore("py:sd", ["py:s2", "py:s1"]), 2, "SDIFFSTORE")
    expect(r.smembers("py:sd"), {b"c", b"d"}, "SDIFFSTORE result")
    expect(r.sdiffstore("py:sd", ["py:s1", "py:s1"]), 0, "SDIFFSTORE empty")
    expect(r.exists("py:sd"), 0, "an empty STORE result deletes the destination")
    expect(r.sintercard(2, ["py:s2", "py:s3"]), 1, "SINTERCARD")
    expect(r.sintercard(1, ["py:s2"], limit=2), 2, "SINTERCARD LIMIT")
    expect(r.sintercard(1, ["py:s2"], limit=0), 3, "SINTERCARD LIMIT 0")
    expect(r.smove("py:s3", "py:sdst", "x"), True, "SMOVE")
    expect(r.smove("py:s3", "py:sdst", "x"), False, "SMOVE of a missing member")
    expect(r.smove("py:s3", "py:sdst", "b"), True, "SMOVE the last member")
    expect(r.exists("py:s3"), 0, "SMOVE emptied the source")
    expect(r.smembers("py:sdst"), {b"b", b"x"}, "SMOVE destination")
    expect(r.srandmember("py:missing"), None, "SRANDMEMBER missing")
    picked = r.srandmember("py:sdst", -5)
    expect((len(picked), set(picked) <= {b"b", b"x"}), (5, True), "SRANDMEMBER -5 (repeats allowed)")
    expect(sorted(r.srandmember("py:sdst", 10)), [b"b", b"x"], "SRANDMEMBER count >= size")
    expect(r.spop("py:missing"), None, "SPOP missing")
    popped = r.spop("py:sdst")
    if popped not in (b"b", b"x"):
        raise AssertionError(f"SPOP: {popped!r}")
    expect(r.scard("py:sdst"), 1, "SCARD after SPOP")
    expect(len(r.spop("py:sdst", 5)), 1, "SPOP count >= size")
    expect(r.exists("py:sdst"), 0, "SPOP emptied the set")
    want = {f"m:{i}".encode() for i in range(300)}
    r.sadd("py:sbig", *want)
    expect(set(r.sscan_iter("py:sbig", count=9)), want, "sscan_iter over 300 members")
    expect(set(r.sscan_iter("py:sbig", match="m:2?")), {f"m:2{i}".encode() for i in range(10)}, "sscan_iter MATCH")
    ints = {str(i).encode() for i in range(100)}
    r.sadd("py:sints", *ints)
    expect(set(r.sscan_iter("py:sints", count=5)), ints, "sscan_iter over an integer set")
    expect(r.type("py:s1"), b"set", "TYPE set")

    # A pipeline mixing them
    p = r.pipeline(transaction=False)
    p.hset("py:ph", mapping={"x": "1"}).sadd("py:ps", "a", "b").hincrby("py:ph", "x", 2)
    p.hgetall("py:ph").scard("py:ps").sismember("py:ps", "a").srem("py:ps", "a", "b")
    p.exists("py:ps").hdel("py:ph", "x").exists("py:ph")
    expect(p.execute(), [1, 2, 3, {b"x": b"3"}, 2, True, 2, 0, 1, 0], "mixed pipeline")
    p = r.pipeline(transaction=True)
    p.sadd("py:ps", "m").hset("py:ph", "f", "v").smembers("py:ps").hget("py:ph", "f")
    p.sadd("py:ph", "oops").hlen("py:ph")
    results = p.execute(raise_on_error=False)
    expect(results[:4], [1, 1, {b"m"}, b"v"], "MULTI/EXEC with hashes and sets")
    if not isinstance(results[4], redis.ResponseError):
        raise AssertionError(f"EXEC item 4: want WRONGTYPE, got {results[4]!r}")
    expect(results[5], 1, "EXEC item 5")

    # WATCH on a hash that another connection changes: EXEC aborts
    r.delete("py:hw")
    r.hset("py:hw", "n", "1")
    with r.pipeline() as pipe:
        pipe.watch("py:hw")
        n = int(pipe.hget("py:hw", "n"))
        client().hincrby("py:hw", "n", 10)
        pipe.multi()
        pipe.hset("py:hw", "n", n + 1)
        try:
            pipe.execute()
            raise AssertionError("EXEC after the watched hash changed succeeded")
        except redis.WatchError:
            pass
    expect(r.hget("py:hw", "n"), b"11", "the aborted transaction wrote nothing")
    # Unchanged, the same transaction commits.
    with r.pipeline() as pipe:
        pipe.watch("py:hw")
        n = int(pipe.hget("py:hw", "n"))
        pipe.multi()
        pipe.hset("py:hw", "n", n + 1)
        expect(pipe.execute(), [0], "EXEC with the watched hash unchanged")
    expect(r.hget("py:hw", "n"), b"12", "the transaction committed")
    # Deleting the watched hash's last field (the key goes) aborts too.
    with r.pipeline() as pipe:
        pipe.watch("py:hw")
        client().hdel("py:hw", "n")
        pipe.multi()
        pipe.hset("py:hw", "late", "1")
        try:
            pipe.execute()
            raise AssertionError("EXEC after the watched hash was deleted succeeded")
        except redis.WatchError:
            pass
    expect(r.exists("py:hw"), 0, "the watched hash stays deleted")
    # A watched set changed by SREM aborts; the transaction helper retries.
    r.sadd("py:sw", "a", "b")
    attempts = []

    def move(pipe):
        attempts.append(1)
        members = pipe.smembers("py:sw")
        if len(attempts) == 1:
            client().srem("py:sw", "b")
        pipe.multi()
        pipe.sadd("py:sw2", *sorted(members))

    r.transaction(move, "py:sw")
    expect(len(attempts), 2, "attempts (the first EXEC aborts)")
    expect(r.smembers("py:sw2"), {b"a"}, "the retried transaction saw the SREM")
    r.delete("py:h", "py:hbig", "py:s1", "py:s2", "py:sbig", "py:sints", "py:sw", "py:sw2", "py:str",
             "py:ph", "py:ps")


@check
def hashes_and_sets_resp3():
    r = client(protocol=3)
    r.delete("py:r3h", "py:r3s")
    expect(r.hset("py:r3h", mapping={"a": "1", "b": "2"}), 2, "RESP3 HSET")
    expect(r.hgetall("py:r3h"), {b"a": b"1", b"b": b"2"}, "RESP3 HGETALL (a map)")
    expect(r.hincrbyfloat("py:r3h", "f", 1.5), 1.5, "RESP3 HINCRBYFLOAT")
    expect(r.sadd("py:r3s", "x", "y"), 2, "RESP3 SADD")
    expect(r.smembers("py:r3s"), {b"x", b"y"}, "RESP3 SMEMBERS (a set)")
    expect(r.sunion("py:r3s", "py:missing"), {b"x", b"y"}, "RESP3 SUNION")
    expect(r.smismember("py:r3s", ["x", "z"]), [True, False], "RESP3 SMISMEMBER")
    r.delete("py:r3h", "py:r3s")


@check
def lists():
    r = client()
    keys = ("py:l", "py:l2", "py:l3", "py:lp", "py:lt", "py:lstr", "py:lm1", "py:lm2")
    r.delete(*keys)
    # Pushes and pops at both ends, with and without a count.
    expect(r.lpush("py:l", "b", "a"), 2, "LPUSH")
    expect(r.rpush("py:l", "c", "d", b"\x00\xff"), 5, "RPUSH")
    expect(r.lrange("py:l", 0, -1), [b"a", b"b", b"c", b"d", b"\x00\xff"], "LRANGE 0 -1")
    expect(r.lrange("py:l", 1, 2), [b"b", b"c"], "LRANGE 1 2")
    expect(r.lrange("py:l", -2, 100), [b"d", b"\x00\xff"], "LRANGE -2 100")
    expect(r.lrange("py:l", 3, 1), [], "LRANGE of an empty range")
    expect(r.lrange("py:missing", 0, -1), [], "LRANGE missing")
    expect(r.llen("py:l"), 5, "LLEN")
    expect(r.llen("py:missing"), 0, "LLEN missing")
    expect(r.lpushx("py:missing", "x"), 0, "LPUSHX missing")
    expect(r.rpushx("py:l", "e"), 6, "RPUSHX")
    expect(r.lpop("py:l"), b"a", "LPOP")
    expect(r.rpop("py:l"), b"e", "RPOP")
    expect(r.lpop("py:l", 2), [b"b", b"c"], "LPOP 2")
    expect(r.rpop("py:l", 5), [b"\x00\xff", b"d"], "RPOP 5 (more than there are)")
    expect(r.exists("py:l"), 0, "popping the last element deletes the list")
    expect(r.lpop("py:l"), None, "LPOP missing")
    expect(r.rpop("py:l", 2), None, "RPOP 2 missing")
    # LINDEX, LSET, LINSERT, LREM, LTRIM.
    r.rpush("py:l", *"abcabca")
    expect(r.lindex("py:l", 0), b"a", "LINDEX 0")
    expect(r.lindex("py:l", -1), b"a", "LINDEX -1")
    expect(r.lindex("py:l", 7), None, "LINDEX out of range")
    expect(r.lset("py:l", 1, "B"), True, "LSET")
    expect(r.lset("py:l", -1, "z"), True, "LSET -1")
    expect(r.lrange("py:l", 0, -1), [b"a", b"B", b"c", b"a", b"b", b"c", b"z"], "after LSET")
    for index, why in ((7, "index out of range"), (0, "no such key")):
        try:
            r.lset("py:l" if index else "py:missing", index, "x")
        except redis.ResponseError as e:
            expect(str(e), why, "LSET error")
        else:
            raise AssertionError(f"LSET gave no error, wanted {why!r}")
    expect(r.linsert("py:l", "BEFORE", "c", "C0"), 8, "LINSERT BEFORE")
    expect(r.linsert("py:l", "after", "z", "end"), 9, "LINSERT AFTER the last")
    expect(r.linsert("py:l", "BEFORE", "nope", "x"), -1, "LINSERT, no pivot")
    expect(r.linsert("py:missing", "BEFORE", "a", "x"), 0, "LINSERT missing")
    expect(
        r.lrange("py:l", 0, -1),
        [b"a", b"B", b"C0", b"c", b"a", b"b", b"c", b"z", b"end"],
        "after LINSERT",
    )
    expect(r.lrem("py:l", -1, "c"), 1, "LREM -1 (from the tail)")
    expect(r.lrem("py:l", 0, "a"), 2, "LREM 0 (all)")
    expect(r.lrem("py:l", 1, "nope"), 0, "LREM, none")
    expect(r.lrange("py:l", 0, -1), [b"B", b"C0", b"c", b"b", b"z", b"end"], "after LREM")
    expect(r.ltrim("py:l", 1, -2), True, "LTRIM")
    expect(r.lrange("py:l", 0, -1), [b"C0", b"c", b"b", b"z"], "after LTRIM")
    expect(r.ltrim("py:l", 5, 10), True, "LTRIM to nothing")
    expect(r.exists("py:l"), 0, "LTRIM to nothing deletes the list")
    # LPOS with RANK, COUNT and MAXLEN.
    r.rpush("py:lp", *"abcabcab")
    expect(r.lpos("py:lp", "c"), 2, "LPOS")
    expect(r.lpos("py:lp", "x"), None, "LPOS absent")
    expect(r.lpos("py:lp", "b", rank=2), 4, "LPOS RANK 2")
    expect(r.lpos("py:lp", "b", rank=-1), 7, "LPOS RANK -1")
    expect(r.lpos("py:lp", "a", count=0), [0, 3, 6], "LPOS COUNT 0 (all)")
    expect(r.lpos("py:lp", "a", count=2), [0, 3], "LPOS COUNT 2")
    expect(r.lpos("py:lp", "a", rank=-1, count=2), [6, 3], "LPOS RANK -1 COUNT 2")
    expect(r.lpos("py:lp", "x", count=2), [], "LPOS COUNT, absent")
    expect(r.lpos("py:lp", "c", maxlen=2), None, "LPOS MAXLEN 2")
    expect(r.lpos("py:lp", "c", count=0, maxlen=6), [2, 5], "LPOS COUNT 0 MAXLEN 6")
    expect(r.lpos("py:lp", "a", rank=-2, maxlen=5), 3, "LPOS RANK -2 MAXLEN 5")
    expect(r.lpos("py:lp", "a", rank=-2, maxlen=4), None, "LPOS RANK -2 MAXLEN 4")
    try:
        r.lpos("py:lp", "a", rank=0)
    except redis.ResponseError as e:
        if "RANK can't be zero" not in str(e):
            raise AssertionError(f"LPOS RANK 0 raised {e!r}")
    else:
        raise AssertionError("LPOS RANK 0 gave no error")
    # LMOVE, RPOPLPUSH, LMPOP.
    r.rpush("py:l2", "1", "2", "3")
    expect(r.lmove("py:l2", "py:l3", "LEFT", "RIGHT"), b"1", "LMOVE LEFT RIGHT")
    expect(r.lmove("py:l2", "py:l3", "RIGHT", "LEFT"), b"3", "LMOVE RIGHT LEFT")
    expect(r.rpoplpush("py:l2", "py:l3"), b"2", "RPOPLPUSH")
    expect(r.exists("py:l2"), 0, "LMOVE of the last element deletes the source")
    expect(r.lrange("py:l3", 0, -1), [b"2", b"3", b"1"], "the destination")
    expect(r.lmove("py:l2", "py:l3"), None, "LMOVE from a missing list")
    expect(r.lmove("py:l3", "py:l3", "LEFT", "RIGHT"), b"2", "LMOVE onto itself (a rotation)")
    expect(r.lrange("py:l3", 0, -1), [b"3", b"1", b"2"], "after the rotation")
    r.rpush("py:lm2", "x", "y", "z")
    expect(r.lmpop(2, "py:lm1", "py:lm2", direction="LEFT"), [b"py:lm2", [b"x"]], "LMPOP LEFT")
    expect(
        r.lmpop(2, "py:lm1", "py:lm2", direction="RIGHT", count=5),
        [b"py:lm2", [b"z", b"y"]],
        "LMPOP RIGHT COUNT 5",
    )
    expect(r.lmpop(2, "py:lm1", "py:lm2", direction="LEFT"), None, "LMPOP, every list empty")
    # A list command on a string, and a string command on a list.
    r.set("py:lstr", "v")
    for call in (lambda: r.lpush("py:lstr", "x"), lambda: r.lrange("py:lstr", 0, -1),
                 lambda: r.get("py:l3")):
        try:
            call()
        except redis.ResponseError as e:
            if not str(e).startswith("WRONGTYPE"):
                raise AssertionError(f"wanted WRONGTYPE, got {e!r}")
        else:
            raise AssertionError("no WRONGTYPE error")
    # In a pipeline, and in MULTI/EXEC.
    p = r.pipeline(transaction=False)
    p.rpush("py:lt", "a", "b", "c").lpush("py:lt", "z").lrange("py:lt", 0, -1)
    p.lpop("py:lt", 2).rpop("py:lt").llen("py:lt").lindex("py:lt", 0)
    expect(
        p.execute(),
        [3, 4, [b"z", b"a", b"b", b"c"], [b"z", b"a"], b"c", 1, b"b"],
        "lists in a pipeline",
    )
    p = r.pipeline(transaction=True)
    p.rpush("py:lt", "c", "d").linsert("py:lt", "AFTER", "b", "b2").lset("py:lt", 0, "B")
    p.lrem("py:lt", 0, "d").lmove("py:lt", "py:l3", "RIGHT", "LEFT").ltrim("py:lt", 0, 1)
    p.lpos("py:lt", "b2").lrange("py:lt", 0, -1).lmpop(1, "py:lt", direction="RIGHT", count=1)
    p.llen("py:lt").lrange("py:l3", 0, 0)
    expect(
        p.execute(),
        [3, 4, True, 1, b"c", True, 1, [b"B", b"b2"], [b"py:lt", [b"b2"]], 1, [b"c"]],
        "lists in MULTI/EXEC",
    )
    # RESP3: the same replies, as redis-py reads them.
    r3 = client(protocol=3)
    expect(r3.rpush("py:lt", "x", "y"), 3, "RESP3 RPUSH")
    expect(r3.lrange("py:lt", 0, -1), [b"B", b"x", b"y"], "RESP3 LRANGE")
    expect(r3.lpop("py:lt", 2), [b"B", b"x"], "RESP3 LPOP 2")
    expect(r3.lpos("py:lt", "y", count=0), [0], "RESP3 LPOS COUNT")
    expect(r3.lmpop(1, "py:lt", direction="LEFT", count=3), [b"py:lt", [b"y"]], "RESP3 LMPOP")
    expect(r3.lpop("py:lt", 2), None, "RESP3 LPOP 2 missing")
    r.delete(*keys)



def expect_error(call, text, what):
    try:
        call()
    except redis.ResponseError as e:
        expect(str(e), text, what)
    else:
        raise AssertionError(f"{what}: no error, wanted {text!r}")


@check
def sorted_sets():
    r = client()
    keys = ("py:z", "py:z2", "py:z3", "py:zl", "py:za", "py:zb", "py:zd", "py:zbig", "py:zstr", "py:zt")
    r.delete(*keys)
    # ZADD with a mapping and every flag.
    expect(r.zadd("py:z", {"a": 1, "b": 2, "c": 3}), 3, "ZADD mapping")
    expect(r.zadd("py:z", {"a": 10, "d": 4}, nx=True), 1, "ZADD NX")
    expect(r.zscore("py:z", "a"), 1.0, "NX left an existing member alone")
    expect(r.zadd("py:z", {"a": 5, "e": 5}, xx=True), 0, "ZADD XX")
    expect(r.zscore("py:z", "a"), 5.0, "XX updated")
    expect(r.zscore("py:z", "e"), None, "XX added nothing")
    expect(r.zadd("py:z", {"a": 4, "b": 3}, gt=True, ch=True), 1, "ZADD GT CH (b rises, a does not fall)")
    expect(r.zadd("py:z", {"a": 4, "c": 9}, lt=True, ch=True), 1, "ZADD LT CH (a falls, c does not rise)")
    expect(r.zadd("py:z", {"a": 2.5}, incr=True), 6.5, "ZADD INCR")
    expect(r.zadd("py:z", {"a": 1}, nx=True, incr=True), None, "ZADD NX INCR of an existing member")
    expect(r.zadd("py:z", {"a": -1}, gt=True, incr=True), None, "ZADD GT INCR that would lower")
    expect(r.zadd("py:z", {"new": 2}, xx=True, incr=True), None, "ZADD XX INCR of a missing member")
    expect(r.zadd("py:z", {"a": 1, "b": 3}, ch=True), 1, "ZADD CH (one score changed)")
    expect(r.zadd("py:z", {"a": 1, "b": 3}), 0, "ZADD of the same scores")
    expect_error(lambda: r.execute_command("ZADD", "py:z", "NX", "XX", "1", "a"),
                 "XX and NX options at the same time are not compatible", "ZADD NX XX")
    expect_error(lambda: r.execute_command("ZADD", "py:z", "GT", "LT", "1", "a"),
                 "GT, LT, and/or NX options at the same time are not compatible", "ZADD GT LT")
    expect_error(lambda: r.execute_command("ZADD", "py:z", "INCR", "1", "a", "2", "b"),
                 "INCR option supports a single increment-element pair", "ZADD INCR with two pairs")
    expect_error(lambda: r.execute_command("ZADD", "py:z", "x", "a"), "value is not a valid float", "ZADD x")
    # ZINCRBY, ZSCORE (floats), ZMSCORE, ZCARD.
    expect(r.zincrby("py:z", 0.5, "b"), 3.5, "ZINCRBY")
    expect(r.zincrby("py:z", 0.1, "t"), 0.1, "ZINCRBY of a new member")
    expect(r.zincrby("py:z", 0.2, "t"), 0.30000000000000004, "ZINCRBY 0.1 + 0.2")
    expect(r.zrem("py:z", "t"), 1, "ZREM")
    expect(r.zscore("py:z", "b"), 3.5, "ZSCORE (a float)")
    expect(r.zscore("py:z", "nope"), None, "ZSCORE of a missing member")
    expect(r.zscore("py:missing", "a"), None, "ZSCORE of a missing key")
    expect(r.zmscore("py:z", ["a", "nope", "d"]), [1.0, None, 4.0], "ZMSCORE")
    expect(r.zcard("py:z"), 4, "ZCARD")
    expect(r.zcard("py:missing"), 0, "ZCARD missing")
    # Now a=1 c=3 b=3.5 d=4. ZRANGE in every form.
    expect(r.zrange("py:z", 0, -1), [b"a", b"c", b"b", b"d"], "ZRANGE 0 -1")
    expect(r.zrange("py:z", 0, -1, withscores=True),
           [(b"a", 1.0), (b"c", 3.0), (b"b", 3.5), (b"d", 4.0)], "ZRANGE WITHSCORES")
    expect(r.zrange("py:z", 0, 1, desc=True), [b"d", b"b"], "ZRANGE REV")
    expect(r.zrange("py:z", -2, -1, withscores=True, score_cast_func=bytes),
           [(b"b", b"3.5"), (b"d", b"4")], "ZRANGE -2 -1 with the scores' text")
    expect(r.zrange("py:z", 2, 4, byscore=True), [b"c", b"b", b"d"], "ZRANGE BYSCORE")
    expect(r.zrange("py:z", "(3", "+inf", byscore=True, withscores=True),
           [(b"b", 3.5), (b"d", 4.0)], "ZRANGE BYSCORE ( +inf WITHSCORES")
    expect(r.zrange("py:z", "-inf", "+inf", byscore=True, offset=1, num=2), [b"c", b"b"], "ZRANGE BYSCORE LIMIT")
    expect(r.zrange("py:z", "-inf", "+inf", byscore=True, offset=1, num=-1), [b"c", b"b", b"d"],
           "ZRANGE BYSCORE LIMIT with a negative count")
    expect(r.zrange("py:z", 4, 2, byscore=True, desc=True), [b"d", b"b", b"c"], "ZRANGE BYSCORE REV")
    expect(r.zrange("py:missing", 0, -1), [], "ZRANGE missing")
    expect(r.zrangebyscore("py:z", "-inf", "+inf"), [b"a", b"c", b"b", b"d"], "ZRANGEBYSCORE -inf +inf")
    expect(r.zrangebyscore("py:z", "(1", "(4"), [b"c", b"b"], "ZRANGEBYSCORE ( (")
    expect(r.zrangebyscore("py:z", "-inf", 3, withscores=True), [(b"a", 1.0), (b"c", 3.0)],
           "ZRANGEBYSCORE WITHSCORES")
    expect(r.zrangebyscore("py:z", "-inf", "+inf", start=1, num=2), [b"c", b"b"], "ZRANGEBYSCORE LIMIT")
    expect(r.zrevrangebyscore("py:z", "+inf", "(3"), [b"d", b"b"], "ZREVRANGEBYSCORE")
    expect(r.zrevrange("py:z", 0, 0, withscores=True), [(b"d", 4.0)], "ZREVRANGE WITHSCORES")
    expect_error(lambda: r.zrangebyscore("py:z", "x", 1), "min or max is not a float", "ZRANGEBYSCORE x")
    # ZRANK, ZREVRANK, ZCOUNT.
    expect(r.zrank("py:z", "b"), 2, "ZRANK")
    expect(r.zrevrank("py:z", "b"), 1, "ZREVRANK")
    expect(r.zrank("py:z", "nope"), None, "ZRANK of a missing member")
    expect(r.zcount("py:z", "(1", 4), 3, "ZCOUNT ( 4")
    expect(r.zcount("py:z", "-inf", "+inf"), 4, "ZCOUNT -inf +inf")
    expect(r.zcount("py:z", "(3", "(4"), 1, "ZCOUNT ( (")
    # By lex: every member scores 0.
    r.zadd("py:zl", {m: 0 for m in "abcde"})
    expect(r.zrange("py:zl", "[b", "(d", bylex=True), [b"b", b"c"], "ZRANGE BYLEX")
    expect(r.zrange("py:zl", "+", "-", bylex=True, desc=True, offset=1, num=2), [b"d", b"c"],
           "ZRANGE BYLEX REV LIMIT")
    expect(r.zrangebylex("py:zl", "-", "[c"), [b"a", b"b", b"c"], "ZRANGEBYLEX")
    expect(r.zrevrangebylex("py:zl", "(c", "-"), [b"b", b"a"], "ZREVRANGEBYLEX")
    expect(r.zlexcount("py:zl", "[b", "+"), 4, "ZLEXCOUNT [b +")
    expect(r.zlexcount("py:zl", "-", "+"), 5, "ZLEXCOUNT - +")
    expect_error(lambda: r.zlexcount("py:zl", "b", "+"), "min or max not valid string range item",
                 "ZLEXCOUNT without [ or (")
    # Pops.
    expect(r.zpopmin("py:z"), [(b"a", 1.0)], "ZPOPMIN")
    expect(r.zpopmax("py:z", 2), [(b"d", 4.0), (b"b", 3.5)], "ZPOPMAX 2")
    expect(r.zpopmin("py:z", 5), [(b"c", 3.0)], "ZPOPMIN 5 (more than there are)")
    expect(r.exists("py:z"), 0, "popping the last member deletes the key")
    expect(r.zpopmin("py:z"), [], "ZPOPMIN missing")
    expect(r.zpopmax("py:z", 2), [], "ZPOPMAX 2 missing")
    # ZREM and the ZREMRANGEBY family.
    r.zadd("py:z2", {"x": 1, "y": 2})
    expect(r.zrem("py:z2", "x", "nope"), 1, "ZREM one of two")
    expect(r.zrem("py:z2", "y"), 1, "ZREM the last")
    expect(r.exists("py:z2"), 0, "ZREM of the last member deletes the key")
    r.zadd("py:z3", {m: i + 1 for i, m in enumerate("abcdef")})
    expect(r.zremrangebyscore("py:z3", "(1", 2), 1, "ZREMRANGEBYSCORE ( 2")
    expect(r.zremrangebyrank("py:z3", 0, 0), 1, "ZREMRANGEBYRANK 0 0")
    expect(r.zremrangebyrank("py:z3", -1, -1), 1, "ZREMRANGEBYRANK -1 -1")
    expect(r.zrange("py:z3", 0, -1), [b"c", b"d", b"e"], "after ZREMRANGEBY*")
    expect(r.zremrangebyscore("py:z3", "-inf", "+inf"), 3, "ZREMRANGEBYSCORE -inf +inf")
    expect(r.exists("py:z3"), 0, "ZREMRANGEBYSCORE of everything deletes the key")
    expect(r.zremrangebylex("py:zl", "[a", "(c"), 2, "ZREMRANGEBYLEX")
    expect(r.zrange("py:zl", 0, -1), [b"c", b"d", b"e"], "after ZREMRANGEBYLEX")
    # ZUNIONSTORE / ZINTERSTORE with weights and aggregates, ZUNION / ZINTER / ZDIFF.
    r.zadd("py:za", {"x": 1, "y": 2})
    r.zadd("py:zb", {"y": 3, "z": 4})
    expect(r.zunionstore("py:zd", ["py:za", "py:zb"]), 3, "ZUNIONSTORE")
    expect(r.zrange("py:zd", 0, -1, withscores=True), [(b"x", 1.0), (b"z", 4.0), (b"y", 5.0)], "ZUNIONSTORE result")
    expect(r.zunionstore("py:zd", {"py:za": 2, "py:zb": 3}), 3, "ZUNIONSTORE WEIGHTS")
    expect(r.zrange("py:zd", 0, -1, withscores=True), [(b"x", 2.0), (b"z", 12.0), (b"y", 13.0)],
           "ZUNIONSTORE WEIGHTS result")
    expect(r.zunionstore("py:zd", ["py:za", "py:zb"], aggregate="MAX"), 3, "ZUNIONSTORE AGGREGATE MAX")
    expect(r.zrange("py:zd", 0, -1, withscores=True), [(b"x", 1.0), (b"y", 3.0), (b"z", 4.0)],
           "ZUNIONSTORE AGGREGATE MAX result")
    expect(r.zinterstore("py:zd", {"py:za": 2, "py:zb": 3}, aggregate="MIN"), 1, "ZINTERSTORE WEIGHTS MIN")
    expect(r.zrange("py:zd", 0, -1, withscores=True), [(b"y", 4.0)], "ZINTERSTORE WEIGHTS MIN result")
    expect(r.zinterstore("py:zd", ["py:za", "py:zb"], aggregate="SUM"), 1, "ZINTERSTORE SUM")
    expect(r.zscore("py:zd", "y"), 5.0, "ZINTERSTORE SUM result")
    expect(r.zinterstore("py:zd", ["py:za", "py:missing"]), 0, "ZINTERSTORE with a missing key")
    expect(r.exists("py:zd"), 0, "an empty ZINTERSTORE result deletes the destination")
    expect(r.zunion(["py:za", "py:zb"]), [b"x", b"z", b"y"], "ZUNION")
    expect(r.zunion(["py:za", "py:zb"], withscores=True), [(b"x", 1.0), (b"z", 4.0), (b"y", 5.0)],
           "ZUNION WITHSCORES")
    expect(r.zunion(["py:za", "py:zb"], aggregate="MIN", withscores=True),
           [(b"x", 1.0), (b"y", 2.0), (b"z", 4.0)], "ZUNION AGGREGATE MIN")
    expect(r.zinter(["py:za", "py:zb"], withscores=True), [(b"y", 5.0)], "ZINTER WITHSCORES")
    expect(r.zinter({"py:za": 1, "py:zb": 0.5}, aggregate="MAX", withscores=True), [(b"y", 2.0)],
           "ZINTER WEIGHTS AGGREGATE MAX")
    # redis-py leaves ZDIFF's RESP2 WITHSCORES reply flat, as it came.
    expect(r.zdiff(["py:za", "py:zb"], withscores=True), [b"x", b"1"], "ZDIFF WITHSCORES")
    expect(r.zdiff(["py:zb", "py:za"]), [b"z"], "ZDIFF")
    expect(r.zdiffstore("py:zd", ["py:zb", "py:za"]), 1, "ZDIFFSTORE")
    expect(r.zrange("py:zd", 0, -1, withscores=True), [(b"z", 4.0)], "ZDIFFSTORE result")
    expect_error(lambda: r.execute_command("ZUNIONSTORE", "py:zd", "2", "py:za", "py:zb", "WEIGHTS", "1"),
                 "syntax error", "ZUNIONSTORE with too few weights")
    # ZRANDMEMBER (only what is certain).
    if r.zrandmember("py:za") not in (b"x", b"y"):
        raise AssertionError("ZRANDMEMBER returned a stranger")
    expect(sorted(r.zrandmember("py:za", 5)), [b"x", b"y"], "ZRANDMEMBER count >= size")
    picked = r.zrandmember("py:za", -5)
    expect((len(picked), set(picked) <= {b"x", b"y"}), (5, True), "ZRANDMEMBER -5 (repeats allowed)")
    pairs = r.zrandmember("py:za", 2, withscores=True)
    expect(sorted(zip(pairs[::2], pairs[1::2])), [(b"x", b"1"), (b"y", b"2")], "ZRANDMEMBER WITHSCORES")
    expect(r.zrandmember("py:missing"), None, "ZRANDMEMBER missing")
    # ZSCAN over a set big enough to be walked in steps.
    want = {f"m:{i}".encode(): float(i) for i in range(300)}
    r.zadd("py:zbig", want)
    expect(dict(r.zscan_iter("py:zbig", count=10)), want, "zscan_iter over 300 members")
    expect(dict(r.zscan_iter("py:zbig", match="m:2?")), {f"m:2{i}".encode(): float(20 + i) for i in range(10)},
           "zscan_iter MATCH")
    expect(r.zcard("py:zbig"), 300, "ZCARD of 300")
    expect(r.type("py:zbig"), b"zset", "TYPE zset")
    # WRONGTYPE both ways.
    r.set("py:zstr", "v")
    for call in (lambda: r.zadd("py:zstr", {"a": 1}), lambda: r.zscore("py:zstr", "a"),
                 lambda: r.zrange("py:zstr", 0, -1), lambda: r.get("py:za")):
        try:
            call()
        except redis.ResponseError as e:
            if not str(e).startswith("WRONGTYPE"):
                raise AssertionError(f"wanted WRONGTYPE, got {e!r}")
        else:
            raise AssertionError("no WRONGTYPE error")
    # In a pipeline and in MULTI/EXEC.
    p = r.pipeline(transaction=True)
    p.zadd("py:zt", {"a": 1, "b": 2}).zincrby("py:zt", 2, "a").zrange("py:zt", 0, -1, withscores=True)
    p.zpopmax("py:zt").zcard("py:zt").zscore("py:zt", "b")
    expect(p.execute(), [2, 3.0, [(b"b", 2.0), (b"a", 3.0)], [(b"a", 3.0)], 1, 2.0], "sorted sets in MULTI/EXEC")
    r.delete(*keys)


@check
def sorted_sets_resp3():
    r = client(protocol=3)
    keys = ("py:r3z", "py:r3a", "py:r3b", "py:r3m")
    r.delete(*keys)
    expect(r.zadd("py:r3z", {"a": 1, "b": 2.5, "c": 3}), 3, "RESP3 ZADD")
    expect(r.zscore("py:r3z", "b"), 2.5, "RESP3 ZSCORE (a double)")
    expect(r.zscore("py:r3z", "nope"), None, "RESP3 ZSCORE missing")
    expect(r.zmscore("py:r3z", ["a", "nope"]), [1.0, None], "RESP3 ZMSCORE")
    expect(r.zincrby("py:r3z", 0.5, "a"), 1.5, "RESP3 ZINCRBY")
    expect(r.zadd("py:r3z", {"a": 1}, incr=True), 2.5, "RESP3 ZADD INCR")
    expect(r.zadd("py:r3z", {"a": 1}, nx=True, incr=True), None, "RESP3 ZADD NX INCR, nothing done")
    # Now a=2.5 b=2.5 c=3: WITHSCORES replies are [member, score] pairs of a float.
    expect(r.zrange("py:r3z", 0, -1, withscores=True), [[b"a", 2.5], [b"b", 2.5], [b"c", 3.0]],
           "RESP3 ZRANGE WITHSCORES")
    expect(r.zrange("py:r3z", 0, -1), [b"a", b"b", b"c"], "RESP3 ZRANGE")
    expect(r.zrangebyscore("py:r3z", "(2.5", "+inf", withscores=True), [[b"c", 3.0]],
           "RESP3 ZRANGEBYSCORE WITHSCORES")
    expect(r.zrevrange("py:r3z", 0, 0, withscores=True), [[b"c", 3.0]], "RESP3 ZREVRANGE WITHSCORES")
    r.zadd("py:r3a", {"x": 1, "y": 2})
    r.zadd("py:r3b", {"y": 3, "z": 4})
    expect(r.zunion(["py:r3a", "py:r3b"], withscores=True), [[b"x", 1.0], [b"z", 4.0], [b"y", 5.0]],
           "RESP3 ZUNION WITHSCORES")
    expect(r.zinter(["py:r3a", "py:r3b"], withscores=True), [[b"y", 5.0]], "RESP3 ZINTER WITHSCORES")
    expect(r.zdiff(["py:r3b", "py:r3a"], withscores=True), [[b"z", 4.0]], "RESP3 ZDIFF WITHSCORES")
    pairs = r.zrandmember("py:r3a", 2, withscores=True)
    expect(sorted(pairs), [[b"x", 1.0], [b"y", 2.0]], "RESP3 ZRANDMEMBER WITHSCORES")
    expect(r.zpopmin("py:r3z"), [b"a", 2.5], "RESP3 ZPOPMIN (one pair)")
    expect(r.zpopmax("py:r3z", 2), [[b"c", 3.0], [b"b", 2.5]], "RESP3 ZPOPMAX 2 (pairs)")
    expect(r.zpopmin("py:r3z"), [], "RESP3 ZPOPMIN missing")
    r.zadd("py:r3m", {"p": 1, "q": 2})
    expect(r.zmpop(2, ["py:missing", "py:r3m"], max=True, count=5), [b"py:r3m", [[b"q", 2.0], [b"p", 1.0]]],
           "RESP3 ZMPOP")
    expect(r.zmpop(1, ["py:r3m"], min=True), None, "RESP3 ZMPOP, every set empty")
    expect(dict((m, s) for m, s in r.zscan_iter("py:r3a")), {b"x": 1.0, b"y": 2.0}, "RESP3 zscan_iter")
    r.delete(*keys)


def wait_blocked(probe, n):
    """Polls INFO until the node counts n blocked clients (10 s at most)."""
    deadline = time.monotonic() + 10
    while probe.info("clients")["blocked_clients"] != n:
        if time.monotonic() > deadline:
            raise AssertionError(f"{n} clients never blocked")
        time.sleep(0.01)


@check
def blocking_pops():
    r = client()
    keys = ("py:bq", "py:bq2", "py:bdst", "py:bz", "py:bempty", "py:bstr")
    r.delete(*keys)
    # Data present: served at once, in redis-py's shapes.
    r.rpush("py:bq", "a", "b", "c")
    expect(r.blpop(["py:bempty", "py:bq"], timeout=0), (b"py:bq", b"a"), "BLPOP")
    expect(r.brpop("py:bq", timeout=1), (b"py:bq", b"c"), "BRPOP")
    expect(r.blmove("py:bq", "py:bdst", 0, "LEFT", "RIGHT"), b"b", "BLMOVE")
    expect(r.brpoplpush("py:bdst", "py:bq", 0), b"b", "BRPOPLPUSH")
    expect(r.blmpop(0, 1, "py:bq", direction="LEFT", count=5), [b"py:bq", [b"b"]], "BLMPOP")
    r.zadd("py:bz", {"m1": 1, "m2": 2.5, "m3": 3})
    expect(r.bzpopmin("py:bz", timeout=0), (b"py:bz", b"m1", 1.0), "BZPOPMIN")
    expect(r.bzpopmax(["py:bempty", "py:bz"], timeout=0), (b"py:bz", b"m3", 3.0), "BZPOPMAX")
    expect(r.bzmpop(0, 1, ["py:bz"], min=True, count=2), [b"py:bz", [[b"m2", b"2.5"]]], "BZMPOP")
    # Timeouts: None after about the time.
    expect(r.blpop("py:bempty", timeout=0.05), None, "BLPOP timeout")
    expect(r.blmove("py:bempty", "py:bdst", 0.05), None, "BLMOVE timeout")
    expect(r.bzpopmin("py:bempty", timeout=0.05), None, "BZPOPMIN timeout")
    r.set("py:bstr", "x")
    expect_error(
        lambda: r.blpop("py:bstr", timeout=0),
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "BLPOP on a string",
    )
    expect_error(lambda: r.blpop("py:bq", timeout=-1), "timeout is negative", "negative timeout")
    # A consumer thread blocked in BLPOP gets what this client pushes.
    got = []
    consumer = threading.Thread(target=lambda: got.append(client().blpop("py:bq2", timeout=0)))
    consumer.start()
    wait_blocked(r, 1)
    expect(r.lpush("py:bq2", "job"), 1, "LPUSH to a waiting consumer")
    consumer.join(10)
    expect(got, [(b"py:bq2", b"job")], "the consumer's BLPOP")
    expect(r.exists("py:bq2"), 0, "the element went to the consumer")
    # CLIENT UNBLOCK ends another client's wait.
    waiter = client()
    waiter_id = waiter.client_id()
    got = []
    blocked = threading.Thread(target=lambda: got.append(waiter.brpop("py:bq2", timeout=0)))
    blocked.start()
    wait_blocked(r, 1)
    expect(r.client_unblock(waiter_id), True, "CLIENT UNBLOCK")
    blocked.join(10)
    expect(got, [None], "an unblocked BRPOP")
    expect(r.client_unblock(waiter_id), False, "CLIENT UNBLOCK of a client not blocked")
    # Inside a transaction nothing blocks.
    pipe = r.pipeline(transaction=True)
    pipe.blpop("py:bempty", timeout=0).rpush("py:bq2", "x").brpop("py:bq2", timeout=0)
    expect(pipe.execute(), [None, 1, (b"py:bq2", b"x")], "blocking pops in MULTI")
    r.delete(*keys)


def main():
    print(f"redis-py {redis.__version__}, python {sys.version.split()[0]}")
    for fn in CHECKS:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - report every kind of failure
            traceback.print_exc()
            print(f"FAIL: {fn.__name__}: {e}")
            return 1
        print(f"passed: {fn.__name__}")
    print(f"ok: {len(CHECKS)} checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
