//! MULTI/EXEC under failure: concurrent transfers between two counters
//! commit whole or not at all, on every replica.
//!
//! - `transfers_stay_whole_while_a_participant_is_killed`: six clients each
//!   loop `MULTI; DECRBY a 1; INCRBY b 1; MGET a b; EXEC` through the
//!   coordinator while a seventh reads `MGET a b`, and participant 1 is
//!   SIGKILLed and restarted twice. Every EXEC's own MGET, every concurrent
//!   MGET, and afterwards the values read through the coordinator and
//!   directly at every participant must sum to the starting total, `b` must
//!   count exactly the EXECs that succeeded (give or take those whose reply
//!   was lost), and the replicas' digests must be equal.
//! - `watch_makes_read_modify_write_safe`: four clients each increment a
//!   counter 50 times by `WATCH c; GET c; MULTI; SET c v+1; EXEC`, retrying
//!   on a nil EXEC: no increment is lost.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use common::{Cluster, Opts, REPLY_TIMEOUT, Raw, encode, show, wait_until};

const TOTAL: i64 = 1_000_000;

/// The two integers of an `MGET a b` reply (`*2 $n A $m B`).
fn pair(lines: &[&str]) -> Option<(i64, i64)> {
    match lines {
        ["*2", _, a, _, b, ..] => Some((a.parse().ok()?, b.parse().ok()?)),
        _ => None,
    }
}

/// `MGET a b` on `raw`, as two integers.
fn read_pair(raw: &mut Raw) -> Result<(i64, i64), String> {
    raw.try_send(&encode(&[b"MGET", b"a", b"b"]))?;
    let reply = raw.try_read_reply(REPLY_TIMEOUT)?;
    let text = String::from_utf8_lossy(&reply).into_owned();
    let lines: Vec<&str> = text.split("\r\n").collect();
    pair(&lines).ok_or_else(|| format!("MGET a b answered {}", show(&reply)))
}

#[test]
fn transfers_stay_whole_while_a_participant_is_killed() {
    let mut cluster = Cluster::start(3, Opts::redis());
    let mut setup = cluster.raw();
    let ok = setup.cmd(&[b"MSET", b"a", TOTAL.to_string().as_bytes(), b"b", b"0"]);
    assert_eq!(ok, b"+OK\r\n");

    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicU64::new(0));
    let unsure = Arc::new(AtomicU64::new(0));
    let addr = cluster.coordinator_addr();
    let mut workers = Vec::new();
    for _ in 0..6 {
        let (stop, committed, unsure) = (stop.clone(), committed.clone(), unsure.clone());
        workers.push(thread::spawn(move || -> Result<(), String> {
            let mut raw = Raw::connect(addr);
            let mut request = Vec::new();
            request.extend(encode(&[b"MULTI"]));
            request.extend(encode(&[b"DECRBY", b"a", b"1"]));
            request.extend(encode(&[b"INCRBY", b"b", b"1"]));
            request.extend(encode(&[b"MGET", b"a", b"b"]));
            request.extend(encode(&[b"EXEC"]));
            while !stop.load(Ordering::Relaxed) {
                if raw.try_send(&request).is_err() {
                    unsure.fetch_add(1, Ordering::Relaxed);
                    raw = Raw::connect(addr);
                    continue;
                }
                let mut replies = Vec::new();
                for _ in 0..5 {
                    match raw.try_read_reply(REPLY_TIMEOUT) {
                        Ok(r) => replies.push(r),
                        Err(_) => break,
                    }
                }
                if replies.len() < 5 {
                    unsure.fetch_add(1, Ordering::Relaxed);
                    raw = Raw::connect(addr);
                    continue;
                }
                for queued in &replies[1..4] {
                    if queued.as_slice() != b"+QUEUED\r\n" {
                        return Err(format!("queuing answered {}", show(queued)));
                    }
                }
                let exec = &replies[4];
                if exec.starts_with(b"-") {
                    // Refused as a whole (a replica was lost mid-round):
                    // nothing applied.
                    continue;
                }
                let text = String::from_utf8_lossy(exec).into_owned();
                let lines: Vec<&str> = text.split("\r\n").collect();
                let (a, b) = match lines.as_slice() {
                    ["*3", _, _, rest @ ..] => pair(rest),
                    _ => None,
                }
                .ok_or_else(|| format!("EXEC answered {}", show(exec)))?;
                if a + b != TOTAL {
                    return Err(format!("inside EXEC a={a} b={b}: a partial transfer"));
                }
                committed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    let reader = {
        let stop = stop.clone();
        thread::spawn(move || -> Result<u64, String> {
            let mut raw = Raw::connect(addr);
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                match read_pair(&mut raw) {
                    Ok((a, b)) if a + b != TOTAL => {
                        return Err(format!("MGET saw a={a} b={b}: a partial transfer"));
                    }
                    Ok(_) => reads += 1,
                    // A read may fail while a replica is being evicted.
                    Err(_) => raw = Raw::connect(addr),
                }
                thread::sleep(Duration::from_millis(2));
            }
            Ok(reads)
        })
    };

    for _ in 0..2 {
        thread::sleep(Duration::from_millis(700));
        cluster.kill_participant(1);
        thread::sleep(Duration::from_millis(700));
        cluster.restart_participant(1);
        cluster.wait_live(3);
    }
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let result = w.join().expect("a transfer thread panicked");
        if let Err(e) = result {
            panic!("{e}\n{}", cluster.log_tails(30));
        }
    }
    let reads = reader.join().expect("the reader panicked");
    let reads = reads.unwrap_or_else(|e| panic!("{e}\n{}", cluster.log_tails(30)));
    assert!(reads > 0, "the reader never got an answer");

    let committed = committed.load(Ordering::Relaxed) as i64;
    let unsure = unsure.load(Ordering::Relaxed) as i64;
    eprintln!("{committed} transfers committed, {unsure} unanswered, {reads} concurrent reads");
    assert!(committed > 0, "no transfer committed");
    let (a, b) = read_pair(&mut cluster.raw()).expect("MGET through the coordinator");
    assert_eq!(a + b, TOTAL, "through the coordinator a={a} b={b}");
    assert!(
        (committed..=committed + unsure).contains(&b),
        "b={b} but {committed} EXECs succeeded and {unsure} went unanswered"
    );
    for i in 0..cluster.len() {
        let mut raw = cluster.raw_participant(i);
        let mut last = Err(String::new());
        wait_until(
            &format!("participant {i} answers MGET a b"),
            Duration::from_secs(20),
            || {
                last = read_pair(&mut raw);
                if last.is_err() {
                    raw = cluster.raw_participant(i);
                }
                last.is_ok()
            },
        );
        let (pa, pb) = last.unwrap_or_default();
        assert_eq!(pa + pb, TOTAL, "participant {i}: a={pa} b={pb}");
    }
    let mut digests = Vec::new();
    wait_until("equal digests", Duration::from_secs(20), || {
        digests = (0..cluster.len())
            .map(|i| cluster.participant_digest(i))
            .collect::<Vec<_>>();
        digests.iter().all(|d| d.is_ok() && *d == digests[0])
    });
}

#[test]
fn watch_makes_read_modify_write_safe() {
    let cluster = Cluster::start(2, Opts::redis());
    let addr = cluster.coordinator_addr();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || -> Result<u64, String> {
                let mut raw = Raw::connect(addr);
                let mut retries = 0;
                for _ in 0..50 {
                    loop {
                        raw.cmd(&[b"WATCH", b"c"]);
                        let got = raw.cmd(&[b"GET", b"c"]);
                        let text = String::from_utf8_lossy(&got).into_owned();
                        let v: i64 = match text.split("\r\n").nth(1) {
                            Some(n) if text.starts_with('$') && !n.is_empty() => {
                                n.parse().map_err(|e| format!("{e}"))?
                            }
                            _ => 0,
                        };
                        raw.cmd(&[b"MULTI"]);
                        raw.cmd(&[b"SET", b"c", (v + 1).to_string().as_bytes()]);
                        match raw.cmd(&[b"EXEC"]).as_slice() {
                            b"*1\r\n+OK\r\n" => break,
                            b"*-1\r\n" => retries += 1,
                            other => return Err(format!("EXEC answered {}", show(other))),
                        }
                    }
                }
                Ok(retries)
            })
        })
        .collect();
    let mut retries = 0;
    for c in clients {
        retries += c
            .join()
            .expect("a client panicked")
            .unwrap_or_else(|e| panic!("{e}"));
    }
    eprintln!("{retries} EXECs aborted by WATCH and retried");
    assert_eq!(cluster.raw().cmd(&[b"GET", b"c"]), b"$3\r\n200\r\n");
}
