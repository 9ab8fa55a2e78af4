//! The CloudComputingLabs Lab3 tester's items, one test each, against a
//! real coordinator and three participants started with
//! `KVSTORE_DIALECT=lab`, asserting the Lab3 dialect's exact bytes:
//! `+OK\r\n`, `*1\r\n$N\r\nVALUE\r\n`, `*1\r\n$3\r\nnil\r\n`, `:N\r\n` and
//! `-ERROR\r\n`.
//!
//! Items: 1 start all; 2 SET; 3 GET after the coordinator is killed and
//! restarted; 4 GET of a missing key; 5 DEL of two keys after a coordinator
//! restart; 6 overwrite; 7 SET, DEL, GET; 8 SET and GET with one participant
//! killed; 9 GET with every participant killed (an error, promptly); 10 two
//! participants killed and restarted, then GET and DEL of two keys. Also the
//! older tester's item 10 (a participant killed, the coordinator restarted,
//! the participant restarted, the other two killed: reads still answered by
//! the restarted one), and a GET sent straight to a participant right after
//! the coordinator is killed.
//!
//! Where the tester sleeps a fixed time after a restart, these tests poll
//! until the cluster reports the participants live.

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, Opts, Raw, assert_reply, encode, show};

const OK: &[u8] = b"+OK\r\n";
const NIL: &[u8] = b"*1\r\n$3\r\nnil\r\n";
const ERROR: &[u8] = b"-ERROR\r\n";

/// A three-participant cluster in the Lab3 dialect.
fn cluster() -> Cluster {
    Cluster::start(3, Opts::lab())
}

/// The Lab3 reply for a found value: an array of its space-separated
/// words, so `*1\r\n$N\r\nVALUE\r\n` for a one-word value.
fn found(value: &[u8]) -> Vec<u8> {
    let words: Vec<&[u8]> = value.split(|&b| b == b' ').collect();
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        out.extend_from_slice(format!("${}\r\n", word.len()).as_bytes());
        out.extend_from_slice(word);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn set(raw: &mut Raw, key: &str, value: &str) {
    assert_reply(&raw.cmd(&[b"SET", key.as_bytes(), value.as_bytes()]), OK);
}

fn get(raw: &mut Raw, key: &str) -> Vec<u8> {
    raw.cmd(&[b"GET", key.as_bytes()])
}

#[test]
fn item01_start_all() {
    let c = cluster();
    assert_eq!(c.live_count(), Ok(3));
    let mut raw = c.raw();
    assert_reply(&raw.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn item02_set() {
    let c = cluster();
    let mut raw = c.raw();
    assert_reply(&raw.cmd(&[b"SET", b"item2_key", b"item2_value"]), OK);
    assert_reply(&get(&mut raw, "item2_key"), b"*1\r\n$11\r\nitem2_value\r\n");
    // The Lab3 protocol sends a multi-word value as several arguments, and
    // GET answers it word by word.
    assert_reply(&raw.cmd(&[b"SET", b"CS06142", b"Cloud", b"Computing"]), OK);
    assert_reply(
        &get(&mut raw, "CS06142"),
        b"*2\r\n$5\r\nCloud\r\n$9\r\nComputing\r\n",
    );
}

#[test]
fn item03_get_after_coordinator_restart() {
    let mut c = cluster();
    let mut raw = c.raw();
    set(&mut raw, "item3_key", "item3_value");
    drop(raw);
    c.kill_coordinator();
    c.restart_coordinator();
    c.wait_live(3);
    let mut raw = c.raw();
    assert_reply(&get(&mut raw, "item3_key"), &found(b"item3_value"));
}

#[test]
fn item04_get_missing_key() {
    let c = cluster();
    let mut raw = c.raw();
    assert_reply(&get(&mut raw, "item4_key"), NIL);
}

#[test]
fn item05_del_two_keys_after_coordinator_restart() {
    let mut c = cluster();
    let mut raw = c.raw();
    set(&mut raw, "item5_key1", "item5_value1");
    set(&mut raw, "item5_key2", "item5_value2");
    drop(raw);
    c.kill_coordinator();
    c.restart_coordinator();
    c.wait_live(3);
    let mut raw = c.raw();
    assert_reply(&raw.cmd(&[b"DEL", b"item5_key1", b"item5_key2"]), b":2\r\n");
    assert_reply(&get(&mut raw, "item5_key1"), NIL);
    assert_reply(&get(&mut raw, "item5_key2"), NIL);
}

#[test]
fn item06_overwrite() {
    let c = cluster();
    let mut raw = c.raw();
    set(&mut raw, "item6_key", "item6_value");
    set(&mut raw, "item6_key", "item6_new_value");
    assert_reply(&get(&mut raw, "item6_key"), &found(b"item6_new_value"));
}

#[test]
fn item07_set_del_get() {
    let c = cluster();
    let mut raw = c.raw();
    set(&mut raw, "item7_key", "item7_value");
    assert_reply(&raw.cmd(&[b"DEL", b"item7_key"]), b":1\r\n");
    assert_reply(&get(&mut raw, "item7_key"), NIL);
}

#[test]
fn item08_one_participant_killed() {
    let mut c = cluster();
    let mut raw = c.raw();
    set(&mut raw, "item8_key", "item8_value");
    c.kill_participant(0);
    set(&mut raw, "item8_key", "item8_new_value");
    assert_reply(&get(&mut raw, "item8_key"), &found(b"item8_new_value"));
    // A new key too, read on a fresh connection.
    set(&mut raw, "item8_other", "item8_other_value");
    let mut fresh = c.raw();
    assert_reply(
        &get(&mut fresh, "item8_other"),
        &found(b"item8_other_value"),
    );
    assert_reply(&get(&mut fresh, "item8_key"), &found(b"item8_new_value"));
}

#[test]
fn item09_all_participants_killed() {
    let mut c = cluster();
    let mut raw = c.raw();
    set(&mut raw, "item9_key", "item9_value");
    for i in 0..c.len() {
        c.kill_participant(i);
    }
    // The connection opened before the kill, and a new one.
    let fresh = c.raw();
    let mut conns = [raw, fresh];
    for (which, request) in [
        (0, encode(&[b"GET", b"item9_key"])),
        (1, encode(&[b"GET", b"item9_key"])),
        (1, encode(&[b"SET", b"item9_key", b"x"])),
        (1, encode(&[b"DEL", b"item9_key"])),
    ] {
        let started = Instant::now();
        let reply = conns[which].call(&request);
        let took = started.elapsed();
        assert_reply(&reply, ERROR);
        assert!(
            took < Duration::from_secs(2),
            "{}: -ERROR took {took:?}",
            show(&request)
        );
    }
}

#[test]
fn item10_two_participants_killed_and_restarted() {
    let mut c = cluster();
    let mut raw = c.raw();
    set(&mut raw, "item10_key1", "item10_value1");
    set(&mut raw, "item10_key2", "item10_value2");
    c.kill_participant(0);
    c.kill_participant(1);
    c.restart_participant(0);
    c.restart_participant(1);
    c.wait_live(3);
    let mut raw = c.raw();
    assert_reply(&get(&mut raw, "item10_key1"), &found(b"item10_value1"));
    assert_reply(
        &raw.cmd(&[b"DEL", b"item10_key1", b"item10_key2"]),
        b":2\r\n",
    );
    assert_reply(&get(&mut raw, "item10_key2"), NIL);
    // The restarted participants saw the DEL too.
    for i in 0..c.len() {
        assert_reply(&get(&mut c.raw_participant(i), "item10_key1"), NIL);
    }
}

#[test]
fn older_item10_restarted_participant_serves_when_the_others_die() {
    let mut c = cluster();
    let mut raw = c.raw();
    set(&mut raw, "old10_key", "old10_value");
    drop(raw);
    c.kill_participant(0);
    c.kill_coordinator();
    c.restart_coordinator();
    c.wait_live(2);
    // Written while participant 0 is down: it must catch up on rejoining.
    let mut raw = c.raw();
    set(&mut raw, "old10_late", "written_while_p0_was_down");
    c.restart_participant(0);
    c.wait_live(3);
    c.kill_participant(1);
    c.kill_participant(2);
    assert_reply(&get(&mut raw, "old10_key"), &found(b"old10_value"));
    assert_reply(
        &get(&mut raw, "old10_late"),
        &found(b"written_while_p0_was_down"),
    );
    assert_reply(&get(&mut c.raw(), "old10_key"), &found(b"old10_value"));
    assert_reply(
        &get(&mut c.raw_participant(0), "old10_late"),
        &found(b"written_while_p0_was_down"),
    );
}

#[test]
fn direct_get_at_a_participant_right_after_the_coordinator_is_killed() {
    let mut c = cluster();
    let mut raw = c.raw();
    set(&mut raw, "direct_key", "direct_value");
    // Connect first so that only the GET itself races the lease.
    let mut direct: Vec<Raw> = (0..c.len()).map(|i| c.raw_participant(i)).collect();
    c.kill_coordinator();
    for (i, conn) in direct.iter_mut().enumerate() {
        let started = Instant::now();
        let reply = get(conn, "direct_key");
        assert!(
            reply == found(b"direct_value"),
            "participant {i}: got \"{}\" after {:?}",
            show(&reply),
            started.elapsed()
        );
        assert_reply(&get(conn, "no_such_key"), NIL);
    }
}
