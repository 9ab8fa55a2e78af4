//! The load generator against real servers: `kvload` (the binary Cargo
//! built) run against our cluster and against `redis-server`, its CSV read
//! back and checked against what the servers hold.
//!
//! What must hold: a preloaded GET run finds every key and counts every
//! request; so does every collection workload (HSET, HGET, SADD, SISMEMBER,
//! SPOP) against our cluster and against Redis, the preloaded HGET and
//! SISMEMBER finding every field and member; so do redis-benchmark's list
//! and sorted set tests (LPUSH, RPOP, LRANGE_100, ZADD, ZPOPMIN), the pops
//! and LRANGE finding what the preload wrote and leaving exactly what
//! they should; `--wait-replicas N` counts a SET only when `WAIT` reports N
//! replicas, so Redis's replicated baseline in `scripts/bench-vs-redis.sh`
//! measures acknowledged replicated writes and nothing less; and that
//! script, run small, measures our cluster and all three Redis baselines
//! and prints every ratio.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use common::{Cluster, Opts, Raw, RedisServer};

const KVLOAD: &str = env!("CARGO_BIN_EXE_kvload");

/// Runs kvload with `args` plus `--csv FILE`; returns its output and the
/// CSV's rows as column name -> value.
fn kvload(dir: &Path, args: &[&str]) -> (Output, Vec<HashMap<String, String>>) {
    let csv = dir.join("kvload.csv");
    let out = Command::new(KVLOAD)
        .args(args)
        .arg("--csv")
        .arg(&csv)
        .output()
        .expect("run kvload");
    assert!(
        out.status.success(),
        "kvload {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv).expect("kvload wrote its CSV");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("CSV header").split(',').collect();
    let rows = lines
        .map(|line| {
            header
                .iter()
                .zip(line.split(','))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect();
    (out, rows)
}

fn num(row: &HashMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} = {:?} is not a number", row[column]))
}

#[test]
fn a_preloaded_get_run_against_our_cluster_finds_every_key() {
    let cluster = Cluster::start(3, Opts::redis());
    let addr = cluster.coordinator_addr().to_string();
    let (_, rows) = kvload(
        cluster.dir(),
        &[
            "--addr",
            &addr,
            "--workload",
            "get",
            "--preload",
            "--keys",
            "300",
            "--requests",
            "600",
            "--concurrency",
            "1,4",
            "--quiet",
        ],
    );
    assert_eq!(rows.len(), 2, "one row per level: {rows:?}");
    for row in &rows {
        assert_eq!(num(row, "requests"), 600.0, "{row:?}");
        assert_eq!(num(row, "ok"), 600.0, "{row:?}");
        assert_eq!(num(row, "misses"), 0.0, "every key was preloaded: {row:?}");
        assert!(num(row, "throughput_ops") > 0.0, "{row:?}");
    }
    let mut raw = cluster.raw();
    assert_eq!(raw.cmd(&[b"DBSIZE"]), b":300\r\n");
}

/// Runs each collection workload at `addr` at tiny size, the reads after a
/// preload, and checks that every request counts and that the reads hit;
/// then that the preload left every hash with its 16 fields (and HSET/SADD
/// wrote where they should) through `raw`.
fn collection_workloads_count_every_request(dir: &Path, addr: &str, raw: &mut Raw) {
    for (workload, preload) in [
        ("hset", false),
        ("hget", true),
        ("sadd", false),
        ("sismember", true),
        ("spop", true),
    ] {
        let mut args = vec![
            "--addr",
            addr,
            "--workload",
            workload,
            // 100 sets x 16 members: the 400 SPOPs of both levels cannot
            // empty one (each set is popped about 4 times).
            "--keys",
            "100",
            "--requests",
            "200",
            "--concurrency",
            "1,4",
            "--quiet",
        ];
        if preload {
            args.push("--preload");
        }
        let (_, rows) = kvload(dir, &args);
        assert_eq!(
            rows.len(),
            2,
            "{workload} at {addr}: one row per level: {rows:?}"
        );
        for row in &rows {
            assert_eq!(row["workload"], workload, "{row:?}");
            assert_eq!(num(row, "requests"), 200.0, "{workload} at {addr}: {row:?}");
            assert_eq!(num(row, "ok"), 200.0, "{workload} at {addr}: {row:?}");
            assert_eq!(num(row, "errors"), 0.0, "{workload} at {addr}: {row:?}");
            if preload {
                assert_eq!(
                    num(row, "misses"),
                    0.0,
                    "{workload} at {addr}: every key was preloaded: {row:?}"
                );
            }
        }
    }
    // hget's preload wrote all 16 fields of every hash; sismember's (and
    // then spop's) all 16 members of every set, of which spop took some.
    for n in [0, 42, 99] {
        let key = format!("hash:{n}");
        assert_eq!(raw.cmd(&[b"HLEN", key.as_bytes()]), b":16\r\n", "{key}");
        assert_eq!(
            raw.cmd(&[b"TYPE", format!("set:{n}").as_bytes()]),
            b"+set\r\n"
        );
    }
    assert_eq!(raw.cmd(&[b"EXISTS", b"key:0"]), b":0\r\n", "no string keys");
}

#[test]
fn collection_workloads_against_our_cluster_count_every_request() {
    let cluster = Cluster::start(3, Opts::redis());
    let addr = cluster.coordinator_addr().to_string();
    collection_workloads_count_every_request(cluster.dir(), &addr, &mut cluster.raw());
}

#[test]
fn collection_workloads_against_redis_count_every_request() {
    let server = RedisServer::start(&["--save", "", "--appendonly", "no"]);
    let dir = tempfile::tempdir().expect("temporary directory");
    let addr = server.addr.to_string();
    collection_workloads_count_every_request(dir.path(), &addr, &mut Raw::connect(server.addr));
}

/// Runs the list and sorted set workloads at `addr` at tiny size (RPOP,
/// LRANGE_100 and ZPOPMIN after a preload of 1 000 elements), checks that
/// every request counts and that none found its key empty; then through
/// `raw` that `mylist` and `myzset` hold exactly what those runs leave.
fn list_and_zset_workloads_count_every_request(dir: &Path, addr: &str, raw: &mut Raw) {
    for (workload, preload) in [
        ("lpush", false),
        ("rpop", true),
        ("lrange_100", true),
        ("zadd", false),
        ("zpopmin", true),
    ] {
        let mut args = vec![
            "--addr",
            addr,
            "--workload",
            workload,
            // 1 000 elements preloaded; the 400 pops of both levels leave 600.
            "--keys",
            "1000",
            "--requests",
            "200",
            "--concurrency",
            "1,4",
            "--quiet",
        ];
        if preload {
            args.push("--preload");
        }
        let (_, rows) = kvload(dir, &args);
        assert_eq!(
            rows.len(),
            2,
            "{workload} at {addr}: one row per level: {rows:?}"
        );
        for row in &rows {
            assert_eq!(row["workload"], workload, "{row:?}");
            assert_eq!(num(row, "requests"), 200.0, "{workload} at {addr}: {row:?}");
            assert_eq!(num(row, "ok"), 200.0, "{workload} at {addr}: {row:?}");
            assert_eq!(num(row, "errors"), 0.0, "{workload} at {addr}: {row:?}");
            if preload {
                assert_eq!(
                    num(row, "misses"),
                    0.0,
                    "{workload} at {addr}: the preload filled the key: {row:?}"
                );
            }
        }
    }
    // mylist: 400 LPUSHes, two preloads of 1 000, 400 RPOPs.
    assert_eq!(raw.cmd(&[b"LLEN", b"mylist"]), b":2000\r\n");
    // myzset: ZADD's members are element:0..999, all rescored 0..999 by
    // the preload; ZPOPMIN took the 400 lowest.
    assert_eq!(raw.cmd(&[b"ZCARD", b"myzset"]), b":600\r\n");
    assert_eq!(
        raw.cmd(&[b"ZRANGE", b"myzset", b"0", b"0", b"WITHSCORES"]),
        b"*2\r\n$11\r\nelement:400\r\n$3\r\n400\r\n"
    );
    assert_eq!(raw.cmd(&[b"ZSCORE", b"myzset", b"element:399"]), b"$-1\r\n");
}

#[test]
fn list_and_zset_workloads_against_our_cluster_count_every_request() {
    let cluster = Cluster::start(3, Opts::redis());
    let addr = cluster.coordinator_addr().to_string();
    list_and_zset_workloads_count_every_request(cluster.dir(), &addr, &mut cluster.raw());
}

#[test]
fn list_and_zset_workloads_against_redis_count_every_request() {
    let server = RedisServer::start(&["--save", "", "--appendonly", "no"]);
    let dir = tempfile::tempdir().expect("temporary directory");
    let addr = server.addr.to_string();
    list_and_zset_workloads_count_every_request(dir.path(), &addr, &mut Raw::connect(server.addr));
}

#[test]
fn wait_replicas_counts_a_set_only_when_enough_replicas_acknowledge() {
    let primary = RedisServer::start(&["--save", "", "--appendonly", "no"]);
    let port = primary.addr.port().to_string();
    let replica = RedisServer::start(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--replicaof",
        "127.0.0.1",
        &port,
    ]);
    let mut raw = Raw::connect(primary.addr);
    common::wait_until("the replica is online", common::READY_TIMEOUT, || {
        String::from_utf8_lossy(&raw.cmd(&[b"INFO", b"replication"])).contains("state=online")
    });
    let dir = tempfile::tempdir().expect("temporary directory");
    let addr = primary.addr.to_string();
    let base = ["--addr", &addr, "--keys", "50", "--requests", "200"];

    // One replica, WAIT 1: every SET reaches it.
    let (_, rows) = kvload(
        dir.path(),
        &[
            &base[..],
            &["--wait-replicas", "1", "--concurrency", "2", "--quiet"],
        ]
        .concat(),
    );
    assert_eq!(num(&rows[0], "ok"), 200.0, "{rows:?}");
    assert_eq!(num(&rows[0], "errors"), 0.0, "{rows:?}");
    let mut on_replica = Raw::connect(replica.addr);
    let keys = on_replica.cmd(&[b"DBSIZE"]);
    assert!(
        keys != b":0\r\n",
        "WAIT 1 answered, so the replica must hold the keys: {keys:?}"
    );

    // One replica, WAIT 2: WAIT gives up with 1, so no SET counts.
    let (out, rows) = kvload(
        dir.path(),
        &[
            "--addr",
            &addr,
            "--requests",
            "3",
            "--concurrency",
            "1",
            "--wait-replicas",
            "2",
            "--timeout",
            "400ms",
        ],
    );
    assert_eq!(num(&rows[0], "ok"), 0.0, "{rows:?}");
    assert_eq!(num(&rows[0], "errors"), 3.0, "{rows:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WAIT: 1 of 2 replicas acknowledged"),
        "kvload should say why: {stderr}"
    );
}

/// Runs scripts/bench-vs-redis.sh at tiny size (one round, levels 1 and
/// 4, 100 keys) against `cluster` and the Redis baselines, with `env` on
/// top; returns its stdout once it succeeded.
fn bench_vs_redis(cluster: &Cluster, requests: &str, env: &[(&str, &str)]) -> String {
    let results = tempfile::tempdir().expect("temporary directory");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench-vs-redis.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("OURS", cluster.coordinator_addr().to_string())
        .env("KVLOAD", KVLOAD)
        .env("BENCH_TMP", results.path())
        .env("ROUNDS", "1")
        .env("REQUESTS", requests)
        .env("LEVELS", "1,4")
        .env("KEYS", "100")
        .envs(env.iter().copied())
        .output()
        .expect("run scripts/bench-vs-redis.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench-vs-redis failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// Each ratio table under `headings` has a numeric ratio (not "-") for
/// levels 1 and 4.
fn assert_ratios(text: &str, headings: &[&str]) {
    for heading in headings {
        let at = text
            .find(heading)
            .unwrap_or_else(|| panic!("no {heading:?} in:\n{text}"));
        let rows: Vec<&str> = text[at..].lines().skip(2).take(2).collect();
        for (row, level) in rows.iter().zip(["1", "4"]) {
            let cells: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(cells.first(), Some(&level), "{heading}: {row:?}");
            assert!(
                cells[1].parse::<f64>().is_ok_and(|r| r > 0.0),
                "{heading}: no ratio in {row:?}"
            );
        }
    }
}

#[test]
fn bench_vs_redis_compares_our_cluster_with_every_redis_baseline() {
    let cluster = Cluster::start(3, Opts::redis());
    let ours = cluster.coordinator_addr().to_string();
    let stdout = bench_vs_redis(&cluster, "200", &[]);
    assert!(
        stdout.contains(&format!("ours: {ours}\n")),
        "our cluster must have been measured, not skipped:\n{stdout}"
    );
    for table in [
        "== redis-always set ==",
        "== redis-nopersist set ==",
        "== redis-wait2 set ==",
        "== ours set ==",
        "== ours get ==",
    ] {
        assert!(stdout.contains(table), "no {table:?} in:\n{stdout}");
    }
    assert_ratios(
        &stdout,
        &[
            "== ratios set: ours / redis-wait2",
            "== ratios set: ours / redis (",
            "== ratios get: ours / redis (",
        ],
    );
}

#[test]
fn bench_vs_redis_runs_the_collection_workloads_it_is_given() {
    let cluster = Cluster::start(3, Opts::redis());
    let stdout = bench_vs_redis(
        &cluster,
        "100",
        &[
            ("WORKLOADS", "hget spop zpopmin lrange_100"),
            ("NOPERSIST", "0"),
        ],
    );
    let summary = &stdout[stdout.find("#### summary").expect("a summary")..];
    for table in [
        "== redis-always hget ==",
        "== ours hget ==",
        "== redis-always spop ==",
        "== redis-wait2 spop ==",
        "== ours spop ==",
        "== ratios spop: ours / redis-wait2",
        "== paired by round, hget:",
        "== redis-wait2 zpopmin ==",
        "== ours zpopmin ==",
        "== ours lrange_100 ==",
        "== paired by round, lrange_100:",
        // 100 requests at each of 2 levels: the preload covers both.
        "zpopmin: each run preloads 200 elements",
    ] {
        assert!(summary.contains(table), "no {table:?} in:\n{summary}");
    }
    // A read has no replicated baseline; NOPERSIST=0 skips that one.
    for absent in [
        "redis-wait2 hget",
        "redis-wait2 lrange_100",
        "redis-nopersist",
        " set ==",
        " get ==",
    ] {
        assert!(!summary.contains(absent), "{absent:?} in:\n{summary}");
    }
    assert_ratios(
        summary,
        &[
            "== ratios hget: ours / redis (",
            "== ratios spop: ours / redis (",
            "== ratios zpopmin: ours / redis-wait2",
            "== ratios lrange_100: ours / redis (",
        ],
    );
    // The paired table's rows name ours/always ratios, not "-" (its label
    // parsing must cope with lrange_100's digits and underscore).
    let paired = &summary[summary
        .find("== paired by round, lrange_100:")
        .expect("paired table")..];
    let row = paired.lines().nth(2).expect("a level row");
    assert!(
        row.split_whitespace()
            .nth(1)
            .is_some_and(|r| r.parse::<f64>().is_ok()),
        "no paired ratio in {row:?}"
    );
}
