//! The blocking pops with real clients over TCP against a real cluster
//! (coordinator and three participants): BLPOP and friends wait, are woken
//! by other clients' writes through the coordinator, are served first come
//! first served, time out, are unblocked by CLIENT UNBLOCK, and never
//! lose an element, whether the waiting client hangs up or the coordinator
//! is killed under it.
//!
//! Replies and errors that need no waiting are compared with redis-server
//! in `tests/differential/blocking.txt`. Here a test knows a client is
//! waiting when INFO's `blocked_clients` says so (polled with a deadline),
//! never by sleeping.

mod common;

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use common::{Cluster, Opts, Raw, assert_reply, bulk_array, encode, wait_until};

const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Polls until the node behind `probe` counts `n` blocked clients.
fn await_blocked(probe: &mut Raw, n: u64) {
    wait_until(&format!("{n} clients are blocked"), WAIT_LIMIT, || {
        probe.info_u64("clients", "blocked_clients") == n
    });
}

/// Sends a blocking command on `raw` without reading its reply, then waits
/// until the node counts `blocked_after` blocked clients.
fn block(raw: &mut Raw, probe: &mut Raw, args: &[&[u8]], blocked_after: u64) {
    raw.send(&encode(args));
    await_blocked(probe, blocked_after);
}

/// Asserts that `raw` has no reply for a while: its client still waits.
fn assert_still_waiting(raw: &mut Raw) {
    if let Ok(reply) = raw.try_read_reply(Duration::from_millis(300)) {
        panic!(
            "expected the client to keep waiting, got {}",
            common::show(&reply)
        );
    }
}

#[test]
fn a_blocked_client_gets_what_another_client_writes() {
    let cluster = Cluster::start(3, Opts::redis());
    let mut probe = cluster.raw();
    let mut producer = cluster.raw();
    let mut consumer = cluster.raw();

    // BLPOP woken by an RPUSH. The reply of a command pipelined before
    // it comes at once, not when the wait ends.
    let mut pipeline = b"PING\r\n".to_vec();
    pipeline.extend(encode(&[b"BLPOP", b"q", b"0"]));
    consumer.send(&pipeline);
    await_blocked(&mut probe, 1);
    assert_reply(&consumer.read_reply(), b"+PONG\r\n");
    assert_reply(&producer.cmd(&[b"RPUSH", b"q", b"job1"]), b":1\r\n");
    assert_reply(&consumer.read_reply(), b"*2\r\n$1\r\nq\r\n$4\r\njob1\r\n");
    await_blocked(&mut probe, 0);
    assert_reply(&producer.cmd(&[b"EXISTS", b"q"]), b":0\r\n");

    // BRPOP on two keys, woken by a push to the second.
    block(&mut consumer, &mut probe, &[b"BRPOP", b"a", b"b", b"0"], 1);
    assert_reply(&producer.cmd(&[b"LPUSH", b"b", b"x", b"y"]), b":2\r\n");
    assert_reply(&consumer.read_reply(), b"*2\r\n$1\r\nb\r\n$1\r\nx\r\n");
    assert_reply(
        &producer.cmd(&[b"LRANGE", b"b", b"0", b"-1"]),
        b"*1\r\n$1\r\ny\r\n",
    );

    // BZPOPMIN woken by a ZADD.
    block(&mut consumer, &mut probe, &[b"BZPOPMIN", b"z", b"0"], 1);
    assert_reply(&producer.cmd(&[b"ZADD", b"z", b"2.5", b"m"]), b":1\r\n");
    assert_reply(
        &consumer.read_reply(),
        b"*3\r\n$1\r\nz\r\n$1\r\nm\r\n$3\r\n2.5\r\n",
    );

    // BLMOVE woken by a MULTI/EXEC push: the element lands in the
    // destination.
    block(
        &mut consumer,
        &mut probe,
        &[b"BLMOVE", b"src", b"dst", b"LEFT", b"RIGHT", b"0"],
        1,
    );
    producer.send(b"MULTI\r\nRPUSH src e1 e2\r\nEXEC\r\n");
    assert_reply(&producer.read_reply(), b"+OK\r\n");
    assert_reply(&producer.read_reply(), b"+QUEUED\r\n");
    assert_reply(&producer.read_reply(), b"*1\r\n:2\r\n");
    assert_reply(&consumer.read_reply(), b"$2\r\ne1\r\n");
    assert_reply(
        &producer.cmd(&[b"LRANGE", b"dst", b"0", b"-1"]),
        b"*1\r\n$2\r\ne1\r\n",
    );

    // BLMPOP woken by a RENAME of a list onto its key.
    block(
        &mut consumer,
        &mut probe,
        &[b"BLMPOP", b"0", b"1", b"renamed", b"RIGHT", b"COUNT", b"5"],
        1,
    );
    assert_reply(&producer.cmd(&[b"RENAME", b"src", b"renamed"]), b"+OK\r\n");
    assert_reply(
        &consumer.read_reply(),
        b"*2\r\n$7\r\nrenamed\r\n*1\r\n$2\r\ne2\r\n",
    );

    // A blocked client served by BLMOVE pushes onto a key another client
    // waits on: that one is woken too.
    let mut second = cluster.raw();
    block(&mut second, &mut probe, &[b"BLPOP", b"stage2", b"0"], 1);
    block(
        &mut consumer,
        &mut probe,
        &[b"BLMOVE", b"stage1", b"stage2", b"LEFT", b"LEFT", b"0"],
        2,
    );
    assert_reply(&producer.cmd(&[b"RPUSH", b"stage1", b"hop"]), b":1\r\n");
    assert_reply(&consumer.read_reply(), b"$3\r\nhop\r\n");
    assert_reply(&second.read_reply(), b"*2\r\n$6\r\nstage2\r\n$3\r\nhop\r\n");
    await_blocked(&mut probe, 0);

    // `ip:port <digest> keys=N watermark=W` per replica.
    let digests = cluster.coordinator_digests().expect("digests");
    let of = |line: &String| line.split(' ').nth(1).map(str::to_owned);
    assert_eq!(digests.len(), 3);
    assert!(
        digests.iter().all(|d| of(d) == of(&digests[0])),
        "{digests:?}"
    );
}

#[test]
fn clients_are_served_in_the_order_they_blocked() {
    let cluster = Cluster::start(3, Opts::redis());
    let mut probe = cluster.raw();
    let mut producer = cluster.raw();
    let mut consumers: Vec<Raw> = (0..3).map(|_| cluster.raw()).collect();

    // One push of three elements serves all three, in blocking order.
    for (i, consumer) in consumers.iter_mut().enumerate() {
        block(consumer, &mut probe, &[b"BLPOP", b"q", b"0"], i as u64 + 1);
    }
    assert_reply(
        &producer.cmd(&[b"RPUSH", b"q", b"1", b"2", b"3"]),
        b":3\r\n",
    );
    for (consumer, want) in consumers.iter_mut().zip(["1", "2", "3"]) {
        let got = bulk_array(&consumer.read_reply()).expect("an array");
        assert_eq!(got, vec!["q".to_string(), want.to_string()]);
    }

    // One element at a time: the first gets it, the second keeps waiting
    // until the next push.
    let [first, second, _] = &mut consumers[..] else {
        unreachable!("three consumers")
    };
    block(first, &mut probe, &[b"BRPOP", b"q", b"0"], 1);
    block(second, &mut probe, &[b"BRPOP", b"q", b"0"], 2);
    assert_reply(&producer.cmd(&[b"RPUSH", b"q", b"x"]), b":1\r\n");
    assert_reply(&first.read_reply(), b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
    await_blocked(&mut probe, 1);
    assert_still_waiting(second);
    assert_reply(&producer.cmd(&[b"RPUSH", b"q", b"y"]), b":1\r\n");
    assert_reply(&second.read_reply(), b"*2\r\n$1\r\nq\r\n$1\r\ny\r\n");
}

#[test]
fn a_client_that_hangs_up_or_times_out_takes_nothing() {
    let cluster = Cluster::start(3, Opts::redis());
    let mut probe = cluster.raw();
    let mut producer = cluster.raw();

    for args in [
        &[&b"BLPOP"[..], b"q", b"0"][..],
        &[b"BLMOVE", b"q", b"dst", b"LEFT", b"LEFT", b"0"],
        &[b"BZPOPMAX", b"q", b"0"],
    ] {
        let mut gone = cluster.raw();
        block(&mut gone, &mut probe, args, 1);
        drop(gone);
        await_blocked(&mut probe, 0);
    }
    assert_reply(&producer.cmd(&[b"RPUSH", b"q", b"kept"]), b":1\r\n");
    assert_reply(
        &producer.cmd(&[b"LRANGE", b"q", b"0", b"-1"]),
        b"*1\r\n$4\r\nkept\r\n",
    );
    assert_reply(&producer.cmd(&[b"EXISTS", b"dst"]), b":0\r\n");

    // A timeout answers a nil array (BLMOVE too) at about the right time.
    let mut waiter = cluster.raw();
    for (args, nil) in [
        (&[&b"BLPOP"[..], b"empty", b"0.5"][..], &b"*-1\r\n"[..]),
        (
            &[b"BLMOVE", b"empty", b"d", b"LEFT", b"LEFT", b"0.5"],
            b"*-1\r\n",
        ),
        (&[b"BZMPOP", b"0.5", b"1", b"empty", b"MIN"], b"*-1\r\n"),
    ] {
        let started = Instant::now();
        assert_reply(&waiter.cmd(args), nil);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(480) && took < Duration::from_secs(3),
            "a 0.5 s timeout answered after {took:?}"
        );
    }
    // RESP3's null.
    waiter.cmd(&[b"HELLO", b"3"]);
    assert_reply(&waiter.cmd(&[b"BLPOP", b"empty", b"0.05"]), b"_\r\n");
    assert_reply(&producer.cmd(&[b"LLEN", b"q"]), b":1\r\n");
}

#[test]
fn client_unblock_ends_a_wait_and_a_changed_type_does_not() {
    let cluster = Cluster::start(3, Opts::redis());
    let mut probe = cluster.raw();
    let mut other = cluster.raw();
    let mut waiter = cluster.raw();
    let id = waiter.cmd(&[b"CLIENT", b"ID"]);
    let id = std::str::from_utf8(&id[1..id.len() - 2])
        .expect("an integer")
        .to_string();

    assert_reply(
        &other.cmd(&[b"CLIENT", b"UNBLOCK", id.as_bytes()]),
        b":0\r\n",
    );
    block(&mut waiter, &mut probe, &[b"BLPOP", b"q", b"0"], 1);
    assert_reply(
        &other.cmd(&[b"CLIENT", b"UNBLOCK", id.as_bytes()]),
        b":1\r\n",
    );
    assert_reply(&waiter.read_reply(), b"*-1\r\n");
    block(&mut waiter, &mut probe, &[b"BZPOPMIN", b"q", b"0"], 1);
    assert_reply(
        &other.cmd(&[b"CLIENT", b"UNBLOCK", id.as_bytes(), b"ERROR"]),
        b":1\r\n",
    );
    assert_reply(
        &waiter.read_reply(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n",
    );
    await_blocked(&mut probe, 0);

    // As in Redis: a push undone in the same transaction, and the key
    // made a string, wake the client but it keeps waiting; a list later
    // serves it.
    block(&mut waiter, &mut probe, &[b"BLPOP", b"q", b"0"], 1);
    other.send(b"MULTI\r\nLPUSH q a\r\nDEL q\r\nSET q text\r\nEXEC\r\n");
    for _ in 0..4 {
        other.read_reply();
    }
    assert_reply(&other.read_reply(), b"*3\r\n:1\r\n:1\r\n+OK\r\n");
    assert_still_waiting(&mut waiter);
    assert_reply(&other.cmd(&[b"DEL", b"q"]), b":1\r\n");
    assert_reply(&other.cmd(&[b"LPUSH", b"q", b"b"]), b":1\r\n");
    assert_reply(&waiter.read_reply(), b"*2\r\n$1\r\nq\r\n$1\r\nb\r\n");
    // A destination of another type found when served is an error, and
    // the element stays (Redis's "BRPOPLPUSH with wrong destination type").
    assert_reply(&other.cmd(&[b"SET", b"target", b"text"]), b"+OK\r\n");
    block(
        &mut waiter,
        &mut probe,
        &[b"BRPOPLPUSH", b"blist", b"target", b"0"],
        1,
    );
    assert_reply(&other.cmd(&[b"RPUSH", b"blist", b"foo"]), b":1\r\n");
    assert_reply(
        &waiter.read_reply(),
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    assert_reply(
        &other.cmd(&[b"LRANGE", b"blist", b"0", b"-1"]),
        b"*1\r\n$3\r\nfoo\r\n",
    );
    // And a key of another type when the command starts is an error.
    assert_reply(&other.cmd(&[b"SET", b"s", b"v"]), b"+OK\r\n");
    assert_reply(
        &waiter.cmd(&[b"BLPOP", b"empty", b"s", b"0"]),
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
}

#[test]
fn a_coordinator_killed_under_blocked_clients_loses_no_element() {
    let mut cluster = Cluster::start(3, Opts::redis());
    let mut probe = cluster.raw();
    let mut waiter = cluster.raw();
    block(&mut waiter, &mut probe, &[b"BLPOP", b"q", b"0"], 1);
    cluster.kill_coordinator();
    waiter.expect_closed();
    cluster.restart_coordinator();
    cluster.wait_live(3);
    let mut client = cluster.raw();
    assert_reply(&client.cmd(&[b"RPUSH", b"q", b"after"]), b":1\r\n");
    assert_reply(
        &client.cmd(&[b"LRANGE", b"q", b"0", b"-1"]),
        b"*1\r\n$5\r\nafter\r\n",
    );
    // A new waiter after the restart is served as before.
    let mut probe = cluster.raw();
    let mut waiter = cluster.raw();
    assert_reply(
        &waiter.cmd(&[b"BLPOP", b"q", b"0"]),
        b"*2\r\n$1\r\nq\r\n$5\r\nafter\r\n",
    );
    block(&mut waiter, &mut probe, &[b"BLPOP", b"q", b"0"], 1);
    assert_reply(&client.cmd(&[b"RPUSH", b"q", b"again"]), b":1\r\n");
    assert_reply(&waiter.read_reply(), b"*2\r\n$1\r\nq\r\n$5\r\nagain\r\n");
}

/// Producers push distinct elements while consumers loop on BLPOP with a
/// short timeout: every element is received exactly once.
#[test]
fn concurrent_producers_and_consumers_deliver_each_element_once() {
    const PRODUCERS: usize = 3;
    const CONSUMERS: usize = 3;
    const EACH: usize = 150;
    let cluster = Cluster::start(3, Opts::redis());
    let addr = cluster.coordinator_addr();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            thread::spawn(move || {
                let mut raw = Raw::connect(addr);
                let mut got = Vec::new();
                // Stops after a second with nothing to take.
                loop {
                    let reply = raw.cmd(&[b"BLPOP", b"jobs", b"other", b"1"]);
                    match bulk_array(&reply) {
                        Some(pair) => got.push(pair[1].clone()),
                        None => {
                            assert_eq!(reply, b"*-1\r\n", "BLPOP answered {reply:?}");
                            return got;
                        }
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            thread::spawn(move || {
                let mut raw = Raw::connect(addr);
                for i in 0..EACH {
                    let item = format!("{p}-{i}");
                    let key: &[u8] = if i % 2 == 0 { b"jobs" } else { b"other" };
                    let reply = raw.cmd(&[b"RPUSH", key, item.as_bytes()]);
                    assert!(reply.starts_with(b":"), "RPUSH answered {reply:?}");
                }
            })
        })
        .collect();
    for producer in producers {
        producer.join().expect("producer");
    }
    let mut received = Vec::new();
    for consumer in consumers {
        received.extend(consumer.join().expect("consumer"));
    }
    let unique: BTreeSet<&String> = received.iter().collect();
    assert_eq!(
        unique.len(),
        received.len(),
        "an element was delivered twice"
    );
    let mut client = cluster.raw();
    let left = client.cmd(&[b"LLEN", b"jobs"]);
    let left_other = client.cmd(&[b"LLEN", b"other"]);
    assert_eq!((left, left_other), (b":0\r\n".to_vec(), b":0\r\n".to_vec()));
    assert_eq!(received.len(), PRODUCERS * EACH, "an element was lost");
}
