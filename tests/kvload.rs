//! The load generator against real servers: `kvload` (the binary Cargo
//! built) run against our cluster and against `redis-server`, its CSV read
//! back and checked against what the servers hold.
//!
//! What must hold: a preloaded GET run finds every key and counts every
//! request; `--wait-replicas N` counts a SET only when `WAIT` reports N
//! replicas, so Redis's replicated baseline in `scripts/bench-vs-redis.sh`
//! measures acknowledged replicated writes and nothing less.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

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
    let deadline = Instant::now() + common::READY_TIMEOUT;
    loop {
        let info = String::from_utf8_lossy(&raw.cmd(&[b"INFO", b"replication"])).into_owned();
        if info.contains("state=online") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never came online: {info}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
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
