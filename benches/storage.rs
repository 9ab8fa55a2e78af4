//! Durable writes on a participant: the replica's 2PC steps and the
//! group-committing log writer underneath them, with and without fsync.
//!
//! A client SET is acknowledged only after every live participant has
//! prepared it and the decision is durable, so the participant's prepare is
//! on every write's critical path, and with `fsync always` it costs an
//! fdatasync. These benches show that cost and how group commit amortises
//! it: the writer thread takes every batch queued while the previous fsync
//! ran and makes the whole group durable with one more.
//!
//! - `replica_prepare_commit`: [`Replica::prepare`] then [`Replica::commit`]
//!   of one `SET` with a 16-byte value, unique keys, dense commit indices.
//!   Prepare evaluates and stages on the writer thread and is synced under
//!   `always`; commit is a relaxed batch (reaches the OS, not the disk).
//! - `log_append`: `store.writer.write(batch)` of a [`Batch`] holding one
//!   small put: the storage layer alone, for comparison.
//!
//! Each runs `single` (one at a time, so every write pays its own fsync) and
//! `concurrent_64` (64 tasks at once, joined, so one fsync covers many).
//! Throughput is in writes, so the two read as writes per second.
//!
//! The stores live in a temporary directory under Cargo's `target/tmp`, not
//! `/tmp`, which is often a tmpfs where fsync costs nothing. Numbers under
//! `always` depend entirely on the disk.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kvstore2pcsystem::command::op::{Outcome, WriteOp};
use kvstore2pcsystem::config::FsyncPolicy;
use kvstore2pcsystem::participant::replica::Replica;
use kvstore2pcsystem::storage::{Batch, Store};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

mod bench_config;

/// Tasks in flight in the concurrent variants.
const CONCURRENCY: u64 = 64;
/// Length of every value, in bytes.
const VALUE_LEN: usize = 16;
/// The fsync policies compared.
const POLICIES: [(&str, FsyncPolicy); 2] = [
    ("fsync_no", FsyncPolicy::No),
    ("fsync_always", FsyncPolicy::Always),
];
/// How long a prepare waits for a lock; keys are unique, so never.
const PREPARE_WAIT: Duration = Duration::from_secs(5);
/// Log entries kept; trimming is not part of these benches.
const LOG_RETENTION: u64 = 1_000_000;

/// A multi-threaded runtime like the server's (`Runtime::new`).
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the bench can start a tokio runtime")
}

/// A fresh, empty data directory on the build's disk.
fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("kvstore2pc-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("target/tmp is writable")
}

fn open(dir: &Path, policy: FsyncPolicy) -> Store {
    Store::open(dir, policy).expect("a fresh data directory opens")
}

/// Lets the writer thread and fjall's workers, which hold the last database
/// handles, see that the store is gone before its directory is deleted.
fn close(dir: tempfile::TempDir) {
    std::thread::sleep(Duration::from_millis(100));
    drop(dir);
}

fn value() -> Bytes {
    Bytes::from_static(&[b'v'; VALUE_LEN])
}

/// Transaction `n` end to end on one replica: txid `n`, commit index `n`,
/// key `key:n`.
async fn prepare_commit(replica: &Replica, n: u64) {
    let op = WriteOp::Set {
        key: Bytes::from(format!("key:{n}")),
        value: value(),
    };
    let vote = replica
        .prepare(n, op, PREPARE_WAIT)
        .await
        .expect("a prepare on a free key succeeds");
    assert_eq!(vote, Outcome::Ok);
    replica
        .commit(n, n)
        .expect("a prepared transaction commits")
        .expect("a first commit, not a retried one")
        .wait()
        .await
        .expect("the commit applies");
}

/// One small put through the log writer.
async fn append(store: &Store, n: u64) {
    let mut batch = Batch::new();
    batch.put(&store.data, format!("key:{n}"), value());
    store
        .writer
        .write(batch)
        .await
        .expect("the writer is running");
}

/// Benches `op` one at a time (`single`) and `CONCURRENCY` at once (group
/// commit), numbering the operations densely from 1 across both.
fn single_and_concurrent<T, F, Fut>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    policy_name: &str,
    target: &T,
    op: F,
) where
    T: Clone + Send + 'static,
    F: Fn(T, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut last = 0u64;
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("{policy_name}/single"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    last += 1;
                    op(target.clone(), last).await;
                }
                start.elapsed()
            })
        });
    });

    group.throughput(Throughput::Elements(CONCURRENCY));
    group.bench_function(format!("{policy_name}/concurrent_{CONCURRENCY}"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut tasks = JoinSet::new();
                    for _ in 0..CONCURRENCY {
                        last += 1;
                        tasks.spawn(op(target.clone(), last));
                    }
                    while let Some(done) = tasks.join_next().await {
                        done.expect("a bench task does not panic");
                    }
                }
                start.elapsed()
            })
        });
    });
}

fn replica(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("replica_prepare_commit");
    for (policy_name, policy) in POLICIES {
        let dir = data_dir();
        let replica = Replica::recover(open(dir.path(), policy), LOG_RETENTION)
            .expect("an empty store recovers");
        single_and_concurrent(&mut group, &rt, policy_name, &replica, |r, n| async move {
            prepare_commit(&r, n).await;
        });
        drop(replica);
        close(dir);
    }
    group.finish();
}

fn log_append(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("log_append");
    for (policy_name, policy) in POLICIES {
        let dir = data_dir();
        let store = open(dir.path(), policy);
        single_and_concurrent(&mut group, &rt, policy_name, &store, |s, n| async move {
            append(&s, n).await;
        });
        drop(store);
        close(dir);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = bench_config::config(Duration::from_secs(2), 10);
    targets = replica, log_append
}
criterion_main!(benches);
