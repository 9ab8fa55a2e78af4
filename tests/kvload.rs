//! The load generator against real servers: `kvload` (the binary Cargo
//! built) run against our cluster and against `redis-server`, its CSV read
//! back and checked against what the servers hold.
//!
//! What must hold: a preloaded GET run finds every key and counts every
//! request; `--wait-replicas N` counts a SET only when `WAIT` reports N
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

#[test]
fn bench_vs_redis_compares_our_cluster_with_every_redis_baseline() {
    let cluster = Cluster::start(3, Opts::redis());
    let ours = cluster.coordinator_addr().to_string();
    let results = tempfile::tempdir().expect("temporary directory");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench-vs-redis.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("OURS", &ours)
        .env("KVLOAD", KVLOAD)
        .env("BENCH_TMP", results.path())
        .env("ROUNDS", "1")
        .env("REQUESTS", "200")
        .env("LEVELS", "1,4")
        .env("KEYS", "100")
        .output()
        .expect("run scripts/bench-vs-redis.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench-vs-redis failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("ours: {ours}\n")),
        "our cluster must have been measured, not skipped:\n{stdout}\n{stderr}"
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
    // Each ratio table has a numeric ratio (not "-") for every level.
    for heading in [
        "== ratios set: ours / redis-wait2",
        "== ratios set: ours / redis (",
        "== ratios get: ours / redis (",
    ] {
        let at = stdout
            .find(heading)
            .unwrap_or_else(|| panic!("no {heading:?} in:\n{stdout}"));
        let rows: Vec<&str> = stdout[at..].lines().skip(2).take(2).collect();
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
