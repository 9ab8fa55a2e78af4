//! Key expiry across the cluster, with real processes.
//!
//! - `keys_expire_on_every_replica`: keys set with `PX` vanish from direct
//!   reads at every participant (each judging by its own clock), and the
//!   coordinator's background expirer then deletes them from every replica
//!   through 2PC: the replicas' digests agree and count only the keys
//!   without a deadline.
//! - `a_deadline_extended_in_time_is_not_reaped`: of keys about to expire,
//!   half get a new deadline shortly before the old one; the expirer
//!   removes the other half and leaves these, on every replica.
//! - `a_returning_participant_catches_up_deadlines`: a participant that was
//!   down while keys got deadlines (and some expired) catches up from the
//!   log with the same deadlines and ends with the same digest.
//! - `info_keyspace_counts_keys_with_a_deadline`: INFO keyspace reports
//!   `expires` and `avg_ttl` as Redis does, on the coordinator and on a
//!   participant, and follows PERSIST.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Cluster, Opts, Raw, encode, show, wait_until};

/// Sends every command at once, then reads every reply.
fn pipeline(raw: &mut Raw, commands: &[Vec<String>]) -> Vec<Vec<u8>> {
    let mut bytes = Vec::new();
    for command in commands {
        let args: Vec<&[u8]> = command.iter().map(|a| a.as_bytes()).collect();
        bytes.extend_from_slice(&encode(&args));
    }
    raw.send(&bytes);
    commands.iter().map(|_| raw.read_reply()).collect()
}

fn words(s: &str) -> Vec<String> {
    s.split(' ').map(str::to_owned).collect()
}

/// The integer of an integer reply.
fn integer(reply: &[u8]) -> i64 {
    std::str::from_utf8(reply)
        .ok()
        .and_then(|s| s.strip_prefix(':'))
        .and_then(|s| s.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("not an integer reply: \"{}\"", show(reply)))
}

/// Whether the coordinator's DEBUG DIGEST shows `n` live replicas that all
/// hold exactly `keys` stored keys with one digest.
fn replicas_agree_on(cluster: &Cluster, n: usize, keys: u64) -> bool {
    cluster.coordinator_digests().is_ok_and(|lines| {
        let digests: BTreeSet<&str> = lines
            .iter()
            .filter_map(|l| l.split_whitespace().nth(1))
            .collect();
        let want = format!("keys={keys}");
        // A whole word: `keys=1` must not match `keys=11`.
        let has_count = |l: &String| l.split_whitespace().any(|w| w == want);
        lines.len() == n && digests.len() == 1 && lines.iter().all(has_count)
    })
}

#[test]
fn keys_expire_on_every_replica() {
    let cluster = Cluster::start(3, Opts::redis());
    let mut raw = cluster.raw();
    let mut commands: Vec<Vec<String>> =
        (0..50).map(|i| words(&format!("SET keep:{i} v"))).collect();
    commands.extend((0..100).map(|i| words(&format!("SET gone:{i} v PX 300"))));
    for reply in pipeline(&mut raw, &commands) {
        assert_eq!(reply, b"+OK\r\n", "{}", show(&reply));
    }
    // Every participant sees them at first, and each then stops seeing
    // them by its own clock: EXISTS, DBSIZE and KEYS hide them at once,
    // whether or not the expirer has deleted them yet.
    for i in 0..3 {
        let mut direct = cluster.raw_participant(i);
        let exists = direct.cmd(&[b"EXISTS", b"gone:7", b"keep:7"]);
        assert!(
            matches!(integer(&exists), 1 | 2),
            "participant {i}: {}",
            show(&exists)
        );
    }
    for i in 0..3 {
        let mut direct = cluster.raw_participant(i);
        wait_until(
            &format!("participant {i} no longer shows the expired keys"),
            Duration::from_secs(10),
            || {
                integer(&direct.cmd(&[b"DBSIZE"])) == 50
                    && integer(&direct.cmd(&[b"EXISTS", b"gone:0", b"gone:99"])) == 0
            },
        );
        let keys = direct.cmd(&[b"KEYS", b"gone:*"]);
        assert_eq!(keys, b"*0\r\n", "participant {i}");
        assert_eq!(direct.cmd(&[b"TTL", b"gone:5"]), b":-2\r\n");
        assert_eq!(direct.cmd(&[b"TTL", b"keep:5"]), b":-1\r\n");
    }
    // The digest counts stored keys: only the background expirer's deletes
    // bring every replica down to the 50 without a deadline.
    wait_until(
        "every replica has deleted the expired keys, with equal digests",
        Duration::from_secs(10),
        || replicas_agree_on(&cluster, 3, 50),
    );
    let digests: BTreeSet<String> = (0..3)
        .map(|i| cluster.participant_digest(i).expect("a participant digest"))
        .collect();
    assert_eq!(digests.len(), 1, "{digests:?}");
    // The counter moves once the expirer's round returns, just after its
    // commits apply.
    wait_until(
        "the coordinator's INFO counts the expirer's 100 deletes",
        Duration::from_secs(10),
        || {
            let stats = raw.cmd(&[b"INFO", b"stats"]);
            String::from_utf8_lossy(&stats).contains("\r\nexpired_keys:100\r\n")
        },
    );
}

/// Hashes and sets expire as strings do: hidden at once on every replica,
/// then deleted by the coordinator's expirer (one record each, whatever
/// their size), so the replicas end with equal digests holding only what
/// has no deadline.
#[test]
fn collections_expire_on_every_replica() {
    let cluster = Cluster::start(3, Opts::redis());
    let mut raw = cluster.raw();
    let mut commands: Vec<Vec<String>> = Vec::new();
    for i in 0..5 {
        let fields: Vec<String> = (0..200)
            .flat_map(|f| [format!("f{f}"), "v".into()])
            .collect();
        commands.push([vec!["HSET".into(), format!("h:{i}")], fields].concat());
        commands.push(words(&format!("SADD s:{i} a b c")));
        commands.push(words(&format!("PEXPIRE h:{i} 300")));
        commands.push(words(&format!("PEXPIRE s:{i} 300")));
    }
    commands.push(words("HSET keep f v"));
    let replies = pipeline(&mut raw, &commands);
    assert!(
        replies.iter().all(|r| r.starts_with(b":")),
        "{:?}",
        replies.iter().map(|r| show(r)).collect::<Vec<_>>()
    );
    wait_until(
        "every replica has deleted the expired collections, with equal digests",
        Duration::from_secs(10),
        || replicas_agree_on(&cluster, 3, 1),
    );
    for i in 0..3 {
        let mut direct = cluster.raw_participant(i);
        assert_eq!(direct.cmd(&[b"TYPE", b"h:0"]), b"+none\r\n");
        assert_eq!(direct.cmd(&[b"HGETALL", b"h:0"]), b"*0\r\n");
        assert_eq!(direct.cmd(&[b"SCARD", b"s:4"]), b":0\r\n");
        assert_eq!(direct.cmd(&[b"HLEN", b"keep"]), b":1\r\n");
    }
    // A new hash under an expired name starts empty.
    assert_eq!(raw.cmd(&[b"HSET", b"h:1", b"new", b"1"]), b":1\r\n");
    assert_eq!(raw.cmd(&[b"HLEN", b"h:1"]), b":1\r\n");
}

#[test]
fn a_deadline_extended_in_time_is_not_reaped() {
    let cluster = Cluster::start(3, Opts::redis());
    let mut raw = cluster.raw();
    // Few keys, so that the extensions (one 2PC round each) all land well
    // before the deadline even on a loaded machine.
    let commands: Vec<Vec<String>> = (0..40)
        .map(|i| words(&format!("SET k:{i} v PX 2000")))
        .collect();
    for reply in pipeline(&mut raw, &commands) {
        assert_eq!(reply, b"+OK\r\n", "{}", show(&reply));
    }
    // Shortly before the deadline, give the even keys a new one.
    wait_until(
        "the keys are close to their deadline",
        Duration::from_secs(5),
        || integer(&raw.cmd(&[b"PTTL", b"k:0"])) < 800,
    );
    let extend: Vec<Vec<String>> = (0..40)
        .step_by(2)
        .map(|i| words(&format!("PEXPIRE k:{i} 60000")))
        .collect();
    for reply in pipeline(&mut raw, &extend) {
        assert_eq!(reply, b":1\r\n", "{}", show(&reply));
    }
    wait_until(
        "every replica has reaped the odd keys and kept the even ones",
        Duration::from_secs(15),
        || replicas_agree_on(&cluster, 3, 20),
    );
    for i in 0..3 {
        let mut direct = cluster.raw_participant(i);
        for k in 0..40 {
            let key = format!("k:{k}");
            let ttl = integer(&direct.cmd(&[b"TTL", key.as_bytes()]));
            if k % 2 == 0 {
                assert!((55..=60).contains(&ttl), "participant {i}: {key} TTL {ttl}");
            } else {
                assert_eq!(ttl, -2, "participant {i}: {key}");
            }
        }
    }
}

#[test]
fn a_returning_participant_catches_up_deadlines() {
    let mut cluster = Cluster::start(3, Opts::redis());
    cluster.kill_participant(2);
    cluster.wait_live(2);
    let mut raw = cluster.raw();
    let commands: Vec<Vec<String>> = (0..100)
        .flat_map(|i| {
            [
                words(&format!("SET long:{i} v EX 1000")),
                words(&format!("SET short:{i} v PX 200")),
                words(&format!("SET plain:{i} v")),
            ]
        })
        .chain([words("EXPIREAT plain:0 4000000000")])
        .collect();
    for reply in pipeline(&mut raw, &commands) {
        assert!(
            reply == b"+OK\r\n" || reply == b":1\r\n",
            "{}",
            show(&reply)
        );
    }
    wait_until(
        "the live replicas have reaped the short keys",
        Duration::from_secs(10),
        || replicas_agree_on(&cluster, 2, 200),
    );
    cluster.restart_participant(2);
    cluster.wait_live(3);
    wait_until(
        "the returning participant agrees with the others",
        Duration::from_secs(10),
        || replicas_agree_on(&cluster, 3, 200),
    );
    let mut direct = cluster.raw_participant(2);
    assert_eq!(direct.cmd(&[b"EXPIRETIME", b"plain:0"]), b":4000000000\r\n");
    assert_eq!(direct.cmd(&[b"TTL", b"plain:1"]), b":-1\r\n");
    let ttl = integer(&direct.cmd(&[b"TTL", b"long:1"]));
    assert!((990..=1000).contains(&ttl), "TTL {ttl}");
    assert_eq!(direct.cmd(&[b"EXISTS", b"short:1"]), b":0\r\n");
}

/// INFO's keyspace line counts the keys with a deadline and their mean
/// time left, on the coordinator (from a participant) and on a
/// participant directly, and follows PERSIST.
#[test]
fn info_keyspace_counts_keys_with_a_deadline() {
    let cluster = Cluster::start(3, Opts::redis());
    let mut raw = cluster.raw();
    for command in [
        &[&b"SET"[..], b"plain", b"v"][..],
        &[b"SET", b"ten", b"v", b"EX", b"100"],
        &[b"SET", b"five", b"v", b"PX", b"50000"],
    ] {
        assert_eq!(raw.cmd(command), b"+OK\r\n");
    }
    // (100 000 + 50 000) / 2 ms, less the little time since the SETs.
    let line = |reply: &[u8]| -> (String, u64) {
        let text = String::from_utf8_lossy(reply).into_owned();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("db0:"))
            .unwrap_or_else(|| panic!("no db0 line in {text:?}"))
            .to_owned();
        let (counts, avg) = line
            .rsplit_once(",avg_ttl=")
            .unwrap_or_else(|| panic!("no avg_ttl in {line:?}"));
        (counts.to_owned(), avg.parse().expect("avg_ttl"))
    };
    let (counts, avg_ttl) = line(&raw.cmd(&[b"INFO", b"keyspace"]));
    assert_eq!(counts, "keys=3,expires=2");
    assert!((65_000..=75_000).contains(&avg_ttl), "avg_ttl={avg_ttl}");
    let mut direct = cluster.raw_participant(1);
    let (counts, avg_ttl) = line(&direct.cmd(&[b"INFO", b"keyspace"]));
    assert_eq!(counts, "keys=3,expires=2");
    assert!((65_000..=75_000).contains(&avg_ttl), "avg_ttl={avg_ttl}");

    assert_eq!(raw.cmd(&[b"PERSIST", b"ten"]), b":1\r\n");
    let (counts, avg_ttl) = line(&raw.cmd(&[b"INFO", b"keyspace"]));
    assert_eq!(counts, "keys=3,expires=1");
    assert!((45_000..=50_000).contains(&avg_ttl), "avg_ttl={avg_ttl}");
}
