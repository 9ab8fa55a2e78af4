//! Redis's own tools against a real cluster (Redis dialect): `redis-cli`
//! one-shot commands (default, `--raw` and `--no-raw` output, `-x` for a
//! binary value from stdin), `redis-cli` reading commands line by line from
//! stdin, `redis-cli --pipe` mass insertion, and `redis-benchmark -t
//! ping,set,get,incr,mset`, `-t sadd,hset,spop`, `-t
//! lpush,rpush,lpop,rpop,lrange` and a plain run of every default test
//! (with and without `-r`) finishing without an error reply.
//!
//! CI installs redis-tools, so these run there; `redis-benchmark` alone is
//! skipped, with a printed notice, where it is not installed.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::{Cluster, Opts, encode, have_program, run};
use redis::Commands;

fn cluster() -> Cluster {
    Cluster::start(3, Opts::redis())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs redis-cli against the coordinator and returns its stdout, failing
/// on a non-zero exit.
#[track_caller]
fn cli(c: &Cluster, args: &[&str]) -> String {
    let out = c.redis_cli(args, None);
    check_success(&format!("redis-cli {args:?}"), &out);
    text(&out.stdout)
}

#[track_caller]
fn check_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} exited with {}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn redis_cli_one_shot_commands() {
    let c = cluster();
    assert_eq!(cli(&c, &["ping"]), "PONG\n");
    assert_eq!(cli(&c, &["set", "k", "v"]), "OK\n");
    assert_eq!(cli(&c, &["get", "k"]), "v\n");
    assert_eq!(cli(&c, &["--raw", "get", "k"]), "v\n");
    assert_eq!(cli(&c, &["--no-raw", "get", "k"]), "\"v\"\n");
    assert_eq!(cli(&c, &["get", "missing"]), "\n");
    assert_eq!(cli(&c, &["--no-raw", "get", "missing"]), "(nil)\n");
    // One argument with a space in it, as a shell would pass "hello world".
    assert_eq!(cli(&c, &["set", "s", "hello world"]), "OK\n");
    assert_eq!(cli(&c, &["--raw", "get", "s"]), "hello world\n");
    assert_eq!(cli(&c, &["del", "k", "s", "missing"]), "2\n");
    assert_eq!(cli(&c, &["--no-raw", "del", "k"]), "(integer) 0\n");
    // An error reply is printed as its text (redis-cli 7 adds a blank line
    // after it and still exits 0, so neither is asserted).
    let out = c.redis_cli(&["foo", "a"], None);
    assert_eq!(
        text(&out.stdout).trim_end_matches('\n'),
        "ERR unknown command 'foo', with args beginning with: 'a' "
    );
    // Hashes and sets print as redis-cli prints them for Redis.
    assert_eq!(cli(&c, &["hset", "h", "f", "v", "g", "w"]), "2\n");
    assert_eq!(
        cli(&c, &["--no-raw", "hgetall", "h"]),
        "1) \"f\"\n2) \"v\"\n3) \"g\"\n4) \"w\"\n"
    );
    assert_eq!(cli(&c, &["sadd", "s", "a", "b"]), "2\n");
    assert_eq!(
        cli(&c, &["--no-raw", "smembers", "s"]),
        "1) \"a\"\n2) \"b\"\n"
    );
    assert_eq!(cli(&c, &["--no-raw", "hget", "h", "none"]), "(nil)\n");
    assert_eq!(cli(&c, &["--no-raw", "type", "s"]), "set\n");
    // redis-cli -h/-p at a participant reads there directly.
    assert_eq!(cli(&c, &["set", "r", "replica"]), "OK\n");
    let out = common::redis_cli(c.participant_addr(1), &["get", "r"], None);
    check_success("redis-cli get at a participant", &out);
    assert_eq!(text(&out.stdout), "replica\n");
}

#[test]
fn redis_cli_x_sends_a_binary_value_from_stdin() {
    let c = cluster();
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let out = c.redis_cli(&["-x", "set", "blob"], Some(&every_byte));
    check_success("redis-cli -x set blob", &out);
    assert_eq!(text(&out.stdout), "OK\n");
    let mut con = c.redis();
    assert_eq!(con.get::<_, Vec<u8>>("blob").unwrap(), every_byte);
}

#[test]
fn redis_cli_reads_commands_from_stdin() {
    let c = cluster();
    let script = b"set a 1\nset b \"x y\"\nget a\nget b\ndel a b\nget a\nping\n";
    let out = c.redis_cli(&[], Some(script));
    check_success("redis-cli < script", &out);
    assert_eq!(text(&out.stdout), "OK\nOK\n1\nx y\n2\n\nPONG\n");
}

#[test]
fn redis_cli_pipe_mode_mass_insert() {
    let c = cluster();
    let n = 1000;
    let mut protocol = Vec::new();
    for i in 0..n {
        protocol.extend(encode(&[
            b"SET",
            format!("mass:{i}").as_bytes(),
            format!("v{i}").as_bytes(),
        ]));
    }
    let out = c.redis_cli(&["--pipe"], Some(&protocol));
    check_success("redis-cli --pipe", &out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("errors: 0, replies: {n}")),
        "redis-cli --pipe output: {stdout}\nstderr: {}",
        text(&out.stderr)
    );
    let mut con = c.redis();
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.get(format!("mass:{i}"));
    }
    let values: Vec<String> = pipe.query(&mut con).unwrap();
    let want: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    assert_eq!(values, want);
}

/// The key space (`-r`) of the benchmarks that measure throughput: ten
/// million random keys. Without `-r` every write hits one key, which 2PC
/// serialises (slow, and not what they check); with a small key space,
/// MSETs of 10 keys at 50 clients often wait on each other's commits,
/// which on an overloaded machine can outlast a participant's prepare
/// wait and abort: a load problem, not a protocol one.
const SPREAD: Option<u32> = Some(10_000_000);

/// Runs redis-benchmark's `tests` (all its default tests when empty)
/// against the coordinator with `requests` requests from `clients`
/// clients, over `random_keys` random keys (`-r`; `None`: its fixed key
/// names, `key:__rand_int__` and the like), and checks it ran to the end
/// with no error and a result line for each of `results`. `None` when
/// redis-benchmark is not installed.
fn benchmark(
    c: &Cluster,
    tests: &str,
    requests: u32,
    clients: u32,
    random_keys: Option<u32>,
    results: &[&str],
) -> Option<()> {
    if !have_program("redis-benchmark") {
        eprintln!("NOTICE: redis-benchmark is not installed; skipping -t {tests:?}");
        return None;
    }
    let addr = c.coordinator_addr();
    let mut command = Command::new("redis-benchmark");
    // redis-benchmark 7 stops at the first error reply, printing it.
    command.args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()]);
    if !tests.is_empty() {
        command.args(["-t", tests]);
    }
    command.args([
        "-n",
        &requests.to_string(),
        "-c",
        &clients.to_string(),
        "-q",
    ]);
    if let Some(keys) = random_keys {
        command.args(["-r", &keys.to_string()]);
    }
    let shown = format!("{command:?}");
    let out = run(command, None, Duration::from_secs(120));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    check_success(&shown, &out);
    for bad in ["ERR", "WRONGTYPE", "WARNING", "Error", "error"] {
        assert!(
            !stdout.contains(bad) && !stderr.contains(bad),
            "{shown} printed {bad}\nstdout: {stdout}\nstderr: {stderr}"
        );
    }
    // Its final lines (after the \r-overwritten progress) name every test.
    for test in results {
        assert!(
            stdout
                .split(['\r', '\n'])
                .any(|line| line.trim_start().starts_with(test)
                    && line.contains("requests per second")),
            "{shown}: no {test:?} result in: {stdout}"
        );
    }
    Some(())
}

#[test]
fn redis_benchmark_ping_set_get_incr_mset() {
    let c = cluster();
    let results = [
        "PING_INLINE: ",
        "PING_MBULK: ",
        "SET: ",
        "GET: ",
        "INCR: ",
        "MSET (10 keys): ",
    ];
    if benchmark(&c, "ping,set,get,incr,mset", 20_000, 50, SPREAD, &results).is_none() {
        return;
    }
    // What it wrote is there: its default 3-byte payload under keys of its
    // pattern, and counters that INCR moved.
    let mut con = c.redis();
    let keys: Vec<String> = con.keys("key:*").unwrap();
    assert!(keys.len() > 1000, "only {} key:* keys", keys.len());
    let value: Vec<u8> = con.get(&keys[0]).unwrap();
    assert_eq!(value.len(), 3, "{value:?}");
    let counters: Vec<String> = con.keys("counter:*").unwrap();
    let total: i64 = counters.iter().map(|k| con.get::<_, i64>(k).unwrap()).sum();
    assert_eq!(
        total,
        20000,
        "INCRs counted over {} counters",
        counters.len()
    );
}

/// redis-benchmark's hash and set tests (`SADD myset element:N`, `HSET
/// myhash element:N data`, `SPOP myset`) run to the end with no error
/// reply, and leave the hash they built.
#[test]
fn redis_benchmark_sadd_hset_spop() {
    let c = cluster();
    if benchmark(
        &c,
        "sadd,hset,spop",
        5_000,
        20,
        SPREAD,
        &["SADD: ", "HSET: ", "SPOP: "],
    )
    .is_none()
    {
        return;
    }
    let mut con = c.redis();
    let fields: i64 = redis::cmd("HLEN").arg("myhash").query(&mut con).unwrap();
    assert!(fields > 1000, "HLEN myhash is {fields}");
    let kind: String = redis::cmd("TYPE").arg("myset").query(&mut con).unwrap();
    assert!(kind == "set" || kind == "none", "TYPE myset is {kind}");
}

/// redis-benchmark's list tests run to the end with no error reply:
/// `LPUSH mylist xxx`, `RPUSH`, `LPOP`, `RPOP` (each `requests` times, on
/// the one key), then the `LPUSH` that fills the list for LRANGE and
/// `LRANGE mylist 0 99` / `0 299` / `0 449` / `0 599`. Every push and pop
/// succeeded, so the pops emptied the list and the last LPUSHes left
/// exactly `requests` elements, each its 3-byte payload.
#[test]
fn redis_benchmark_lists() {
    let c = cluster();
    let requests = 5_000;
    let results = [
        "LPUSH: ",
        "RPUSH: ",
        "LPOP: ",
        "RPOP: ",
        "LPUSH (needed to benchmark LRANGE): ",
        "LRANGE_100 (first 100 elements): ",
        "LRANGE_300 (first 300 elements): ",
        "LRANGE_500 (first 500 elements): ",
        "LRANGE_600 (first 600 elements): ",
    ];
    if benchmark(
        &c,
        "lpush,rpush,lpop,rpop,lrange",
        requests,
        20,
        SPREAD,
        &results,
    )
    .is_none()
    {
        return;
    }
    let mut con = c.redis();
    let len: i64 = con.llen("mylist").unwrap();
    assert_eq!(len, i64::from(requests), "LLEN mylist");
    let head: Vec<Vec<u8>> = con.lrange("mylist", 0, 599).unwrap();
    assert_eq!(head.len(), 600);
    assert!(
        head.iter().all(|e| e.len() == 3 && *e == head[0]),
        "not all the same 3-byte payload: {:?}",
        &head[..10]
    );
}

/// A plain `redis-benchmark` (no `-t`: PING_INLINE, PING_MBULK, SET, GET,
/// INCR, LPUSH, RPUSH, LPOP, RPOP, SADD, HSET, SPOP, ZADD, ZPOPMIN,
/// LRANGE_100/300/500/600, MSET) runs to the end with no error reply, both
/// on its fixed key names (no `-r`: every write of a test on one key) and
/// over `-r 100000` random keys, one run after the other on one cluster.
#[test]
fn a_plain_redis_benchmark_runs_every_default_test() {
    let c = cluster();
    let results = [
        "PING_INLINE: ",
        "PING_MBULK: ",
        "SET: ",
        "GET: ",
        "INCR: ",
        "LPUSH: ",
        "RPUSH: ",
        "LPOP: ",
        "RPOP: ",
        "SADD: ",
        "HSET: ",
        "SPOP: ",
        "ZADD: ",
        "ZPOPMIN: ",
        "LRANGE_100 (first 100 elements): ",
        "LRANGE_300 (first 300 elements): ",
        "LRANGE_500 (first 500 elements): ",
        "LRANGE_600 (first 600 elements): ",
        "MSET (10 keys): ",
    ];
    for random_keys in [None, Some(100_000)] {
        if benchmark(&c, "", 1_000, 20, random_keys, &results).is_none() {
            return;
        }
    }
}
