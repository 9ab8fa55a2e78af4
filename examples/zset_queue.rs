//! A sorted set used as a queue on one replica, no network: rounds of
//! `ROUND` ZADDs (random score and member in 0..1 000 000) then `ROUND`
//! ZPOPMINs, each its own prepare and commit, on a set preloaded with
//! `PRELOAD` members; printed per tenth of the run, its throughput and the
//! CPU time the process used per operation. It shows, without the noise of
//! a whole cluster on a shared machine, whether pops slow down as the
//! tombstones of popped members pile up (see "The index head" in
//! `src/command/zset.rs`); `scripts/zset-hold.sh` is the same load on a
//! real cluster.
//!
//! ```sh
//! cargo run --release --example zset_queue -- [OPS [PRELOAD [ROUND [pop|rem]]]]
//! ```
//!
//! Defaults: 400 000 operations, 20 000 members, rounds of 25, `pop`.
//! `rem` replaces each ZPOPMIN by a ZREM of a random member: the same
//! writes with no walk of the index, for comparison. The store runs with
//! fsync off, in a temporary directory.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kvstore2pcsystem::command::{Command, parse};
use kvstore2pcsystem::config::{Dialect, FsyncPolicy};
use kvstore2pcsystem::participant::replica::Replica;
use kvstore2pcsystem::storage::Store;

/// CPU time this process has used (user + system), from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name, which is in parentheses; utime and
    // stime are the 14th and 15th fields, the 12th and 13th after it.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split(' ')
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // The kernel's USER_HZ is 100 wherever this runs.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| {
        args.get(i)
            .map(|a| a.parse().expect("a number"))
            .unwrap_or(default)
    };
    let total = number(0, 400_000);
    let preload = number(1, 20_000);
    let round = number(2, 25).max(1);
    let remove = match args.get(3).map(String::as_str) {
        None | Some("pop") => false,
        Some("rem") => true,
        Some(other) => panic!("the mode is pop or rem, not {other}"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path(), FsyncPolicy::No).expect("a fresh store opens");
    let replica = Replica::recover(store, 1_000_000).expect("an empty store recovers");
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut random = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % 1_000_000
    };
    let mut txid = 0u64;
    // One write, prepared and committed as transaction `txid`.
    let mut write = |line: String| {
        txid += 1;
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        let Ok(Command::Write(op)) = parse(&args, Dialect::Redis) else {
            panic!("{line} is not a write");
        };
        let (replica, txid) = (replica.clone(), txid);
        async move {
            replica
                .prepare(txid, op.stamp(1, txid), Duration::from_secs(5))
                .await
                .expect("prepare");
            replica
                .commit(txid, txid)
                .expect("commit")
                .expect("a first commit")
                .wait()
                .await
                .expect("applied");
        }
    };
    rt.block_on(async {
        for batch in 0..preload.div_ceil(100) {
            let mut line = "ZADD q".to_string();
            for i in batch * 100..(batch + 1) * 100 {
                line.push_str(&format!(" {i} element:{i}"));
            }
            write(line).await;
        }
        println!(
            "{} ops in rounds of {round} ZADD + {round} {}, {preload} members preloaded",
            total,
            if remove { "ZREM" } else { "ZPOPMIN" }
        );
        let tenth = (total / 10).max(2 * round);
        let (mut since, mut cpu_since) = (Instant::now(), cpu_time());
        let (mut done, mut reported) = (0u64, 0u64);
        while done < total {
            for _ in 0..round {
                write(format!("ZADD q {} element:{}", random(), random())).await;
            }
            for _ in 0..round {
                if remove {
                    write(format!("ZREM q element:{}", random())).await;
                } else {
                    write("ZPOPMIN q".to_string()).await;
                }
            }
            done += 2 * round;
            if done - reported >= tenth || done >= total {
                let (now, cpu) = (Instant::now(), cpu_time());
                let ops = (done - reported) as f64;
                reported = done;
                println!(
                    "{done:>9} ops: {:>8.0} ops/s {:>7.1} us CPU/op",
                    ops / now.duration_since(since).as_secs_f64(),
                    (cpu - cpu_since).as_secs_f64() * 1e6 / ops
                );
                (since, cpu_since) = (now, cpu);
            }
        }
    });
}
