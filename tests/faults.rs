//! Failure tests: real clusters under write load while nodes are killed,
//! partitioned, or run on a lossy network, checking the README's failure
//! model from the outside.
//!
//! - `kills_under_concurrent_load_lose_no_acknowledged_write`: eight
//!   writers SET unique keys through the coordinator while, in turn,
//!   participant 0, participant 1, the coordinator and participant 2 are
//!   SIGKILLed and restarted (twice round). Writes must go on while a participant is down;
//!   afterwards every write that got `+OK` reads back through the
//!   coordinator and directly at every participant, and the replicas'
//!   digests are equal.
//! - `partitioned_participant_is_evicted_and_rejoins` (root and iptables;
//!   skipped with a notice otherwise): iptables cuts the traffic between
//!   the coordinator and one participant (the test's own probe connects
//!   from 127.0.0.2 and is spared). Writes resume within about
//!   `rpc_timeout + lease`; the cut-off participant never answers a direct
//!   read with a value older than an acknowledged write, and refuses direct
//!   reads once its lease lapsed; after healing it rejoins, catches up and
//!   its digest equals the others'.
//! - `survives_ten_percent_packet_loss` (root and `ip netns`; skipped with a
//!   notice otherwise): the test binary re-runs itself inside a fresh
//!   network namespace whose INPUT chain drops 10% of packets at random; the
//!   whole cluster (default timeouts) and its clients run on that
//!   namespace's loopback. Twenty seconds of writes: every acknowledged
//!   write reads back, digests are equal, and no participant is ever
//!   evicted.
//!
//! Everything a test creates — processes, firewall rules, namespaces — is
//! removed by a guard's `Drop`, also when the test fails.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{Cluster, Opts, Raw, bulk_value, encode, have_program, run, show, wait_until};

/// Fast failure detection for tests that kill or cut off nodes.
fn fast_opts() -> Opts {
    Opts::redis()
        .with("heartbeat_interval_ms", "50")
        .with("lease_ms", "600")
        .with("rpc_timeout_ms", "500")
}

const LEASE: Duration = Duration::from_millis(600);
const RPC_TIMEOUT: Duration = Duration::from_millis(500);

const OK: &[u8] = b"+OK\r\n";

/// The RESP2 bulk-string reply for `value`.
fn bulk(value: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", value.len()).into_bytes();
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    out
}

// ---------------------------------------------------------------------------
// A client that survives its server dying.
// ---------------------------------------------------------------------------

/// A connection that reconnects on demand: any I/O error or timeout drops
/// it, and the next request connects again.
struct Conn {
    addr: SocketAddr,
    /// Connect from this local address (see [`Raw::try_connect_from`]).
    from: Option<IpAddr>,
    raw: Option<Raw>,
    timeout: Duration,
    reconnects: u64,
}

impl Conn {
    fn new(addr: SocketAddr, timeout: Duration) -> Conn {
        Conn {
            addr,
            from: None,
            raw: None,
            timeout,
            reconnects: 0,
        }
    }

    /// Sends one command and reads its reply. `Err` means the outcome is
    /// unknown (no connection, broken connection, or no reply in time).
    fn request(&mut self, args: &[&[u8]]) -> Result<Vec<u8>, String> {
        if self.raw.is_none() {
            let connect_timeout = self.timeout.min(Duration::from_secs(2));
            let raw = match self.from {
                Some(local) => Raw::try_connect_from(local, self.addr, connect_timeout),
                None => Raw::try_connect(self.addr, connect_timeout),
            }
            .map_err(|e| format!("connect to {}: {e}", self.addr))?;
            self.reconnects += 1;
            self.raw = Some(raw);
        }
        let raw = self.raw.as_mut().expect("connected just above");
        let result = raw
            .try_send(&encode(args))
            .and_then(|()| raw.try_read_reply(self.timeout));
        if result.is_err() {
            self.raw = None;
        }
        result
    }
}

// ---------------------------------------------------------------------------
// Concurrent writers of unique keys.
// ---------------------------------------------------------------------------

/// What one writer saw.
#[derive(Default)]
struct WriterReport {
    /// Sequence numbers whose SET got `+OK`.
    acked: Vec<u64>,
    /// Error replies, by text.
    errors: BTreeMap<String, u64>,
    /// Requests whose outcome is unknown (connection lost, timed out).
    unknown: u64,
    /// First few unknown-outcome reasons.
    unknown_reasons: Vec<String>,
    /// Replies that a SET may never give.
    unexpected: Vec<String>,
    /// Longest time one request took to get `+OK`.
    slowest_ok: Duration,
}

fn key(writer: usize, seq: u64) -> String {
    format!("k-{writer}-{seq}")
}

fn value(writer: usize, seq: u64) -> String {
    format!("v-{writer}-{seq}-{}", "x".repeat((seq % 23) as usize))
}

/// `writers` threads, each SETting `k-{writer}-{seq}` for seq = 0, 1, ...
/// through `addr` until stopped. Dropping it stops and joins them.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    handles: Vec<JoinHandle<WriterReport>>,
    started: Instant,
}

impl Load {
    fn start(addr: SocketAddr, writers: usize, reply_timeout: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let handles = (0..writers)
            .map(|w| {
                let stop = Arc::clone(&stop);
                let acked = Arc::clone(&acked);
                thread::Builder::new()
                    .name(format!("writer-{w}"))
                    .spawn(move || writer(w, addr, reply_timeout, &stop, &acked))
                    .expect("spawn a writer thread")
            })
            .collect();
        Load {
            stop,
            acked,
            handles,
            started: Instant::now(),
        }
    }

    /// Writes acknowledged so far, over all writers.
    fn acked(&self) -> u64 {
        self.acked.load(Ordering::SeqCst)
    }

    /// Waits until `more` further writes are acknowledged; panics with
    /// `what` after `timeout`.
    #[track_caller]
    fn wait_progress(&self, more: u64, timeout: Duration, what: &str) {
        let target = self.acked() + more;
        wait_until(
            &format!(
                "{what}: {more} more writes acknowledged (at {})",
                self.acked()
            ),
            timeout,
            || self.acked() >= target,
        );
    }

    /// Stops the writers and collects what they saw.
    fn finish(mut self) -> (Vec<WriterReport>, Duration) {
        self.stop.store(true, Ordering::SeqCst);
        let reports = self
            .handles
            .drain(..)
            .map(|h| h.join().expect("a writer thread panicked"))
            .collect();
        (reports, self.started.elapsed())
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

fn writer(
    w: usize,
    addr: SocketAddr,
    reply_timeout: Duration,
    stop: &AtomicBool,
    acked: &AtomicU64,
) -> WriterReport {
    let mut report = WriterReport::default();
    let mut conn = Conn::new(addr, reply_timeout);
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let (k, v) = (key(w, seq), value(w, seq));
        let sent = Instant::now();
        match conn.request(&[b"SET", k.as_bytes(), v.as_bytes()]) {
            Ok(reply) if reply == OK => {
                report.acked.push(seq);
                report.slowest_ok = report.slowest_ok.max(sent.elapsed());
                acked.fetch_add(1, Ordering::SeqCst);
            }
            Ok(reply) if reply.starts_with(b"-") => {
                let text = String::from_utf8_lossy(&reply).trim_end().to_owned();
                *report.errors.entry(text).or_default() += 1;
                // The cluster is refusing (say, no participant live yet):
                // do not spin.
                thread::sleep(Duration::from_millis(5));
            }
            Ok(reply) => report
                .unexpected
                .push(format!("SET {k}: \"{}\"", show(&reply))),
            Err(e) => {
                report.unknown += 1;
                if report.unknown_reasons.len() < 3 {
                    report.unknown_reasons.push(format!("SET {k}: {e}"));
                }
                // The server is gone or restarting: reconnect, not spin.
                thread::sleep(Duration::from_millis(10));
            }
        }
        seq += 1;
    }
    report
}

/// Every acknowledged (key, value), and a printable summary.
fn summarize(reports: &[WriterReport], elapsed: Duration) -> (Vec<(String, String)>, String) {
    let mut pairs = Vec::new();
    let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
    let mut unknown = 0;
    let mut reasons = Vec::new();
    let mut slowest = Duration::ZERO;
    for (w, r) in reports.iter().enumerate() {
        pairs.extend(r.acked.iter().map(|&s| (key(w, s), value(w, s))));
        for (text, n) in &r.errors {
            *errors.entry(text).or_default() += n;
        }
        unknown += r.unknown;
        reasons.extend(r.unknown_reasons.iter().take(1).cloned());
        slowest = slowest.max(r.slowest_ok);
    }
    let mut text = format!(
        "{} writes acknowledged in {elapsed:.1?} ({:.0}/s), {} unknown outcomes, slowest +OK {slowest:?}",
        pairs.len(),
        pairs.len() as f64 / elapsed.as_secs_f64(),
        unknown
    );
    for (e, n) in &errors {
        let _ = write!(text, "\n  {n} x {e}");
    }
    for r in reasons {
        let _ = write!(text, "\n  unknown: {r}");
    }
    (pairs, text)
}

// ---------------------------------------------------------------------------
// Checks after the fact.
// ---------------------------------------------------------------------------

/// GETs every key at `addr` (pipelined, over several connections at once)
/// and returns a description of the keys whose reply is not their value
/// (a few, and how many), or `None` if all are right.
fn unreadable(addr: SocketAddr, pairs: &[(String, String)], timeout: Duration) -> Option<String> {
    const CONNECTIONS: usize = 8;
    let per = pairs.len().div_ceil(CONNECTIONS).max(1);
    let results: Vec<(usize, Vec<String>)> = thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .chunks(per)
            .map(|part| scope.spawn(move || unreadable_on_one(addr, part, timeout)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a read-back thread panicked"))
            .collect()
    });
    let count: usize = results.iter().map(|(n, _)| n).sum();
    let bad: Vec<String> = results.into_iter().flat_map(|(_, b)| b).take(10).collect();
    (count > 0).then(|| {
        format!(
            "{count} of {} acknowledged keys wrong at {addr}:\n    {}",
            pairs.len(),
            bad.join("\n    ")
        )
    })
}

/// [`unreadable`] on one connection: how many are wrong, and a few of them.
fn unreadable_on_one(
    addr: SocketAddr,
    pairs: &[(String, String)],
    timeout: Duration,
) -> (usize, Vec<String>) {
    let mut raw = Raw::try_connect(addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to {addr} to read back: {e}"));
    let mut bad = Vec::new();
    let mut count = 0usize;
    for chunk in pairs.chunks(500) {
        let mut request = Vec::new();
        for (k, _) in chunk {
            request.extend(encode(&[b"GET", k.as_bytes()]));
        }
        raw.try_send(&request)
            .unwrap_or_else(|e| panic!("reading back at {addr}: {e}"));
        for (k, v) in chunk {
            let reply = raw
                .try_read_reply(timeout)
                .unwrap_or_else(|e| panic!("reading back {k} at {addr}: {e}"));
            if reply != bulk(v.as_bytes()) {
                count += 1;
                if bad.len() < 10 {
                    bad.push(format!("{k}: want {v:?}, got \"{}\"", show(&reply)));
                }
            }
        }
    }
    (count, bad)
}

/// Asserts every acknowledged write reads back through the coordinator
/// and directly at every participant.
#[track_caller]
fn assert_all_readable(c: &Cluster, pairs: &[(String, String)], timeout: Duration) {
    let mut failures = Vec::new();
    failures.extend(
        unreadable(c.coordinator_addr(), pairs, timeout).map(|f| format!("coordinator: {f}")),
    );
    for i in 0..c.len() {
        failures.extend(
            unreadable(c.participant_addr(i), pairs, timeout)
                .map(|f| format!("participant {i} (direct): {f}")),
        );
    }
    assert!(
        failures.is_empty(),
        "acknowledged writes lost or wrong:\n{}",
        failures.join("\n")
    );
}

/// Polls until every participant's `DEBUG DIGEST` is the same; panics with
/// every digest and the coordinator's view after `timeout`. Returns the
/// digest and how many polls it took.
#[track_caller]
fn assert_digests_converge(c: &Cluster, timeout: Duration) -> (String, usize) {
    let deadline = Instant::now() + timeout;
    let mut polls = 0;
    loop {
        polls += 1;
        let digests: Vec<Result<String, String>> =
            (0..c.len()).map(|i| c.participant_digest(i)).collect();
        if let Ok(first) = &digests[0]
            && digests.iter().all(|d| d.as_ref() == Ok(first))
        {
            return (first.clone(), polls);
        }
        if Instant::now() >= deadline {
            panic!(
                "participant digests differ after {timeout:?}: {digests:?}\ncoordinator DEBUG DIGEST: {:?}\ncoordinator INFO: {:?}",
                c.coordinator_digests(),
                c.coordinator_info()
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Log lines of the coordinator that mention `needle`.
fn log_lines(log: &str, needle: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------
// 1. kill -9 under load.
// ---------------------------------------------------------------------------

#[test]
fn kills_under_concurrent_load_lose_no_acknowledged_write() {
    let mut c = Cluster::start(3, fast_opts());
    let load = Load::start(c.coordinator_addr(), 8, Duration::from_secs(10));
    load.wait_progress(200, Duration::from_secs(10), "warm-up");

    #[derive(Debug, Clone, Copy)]
    enum Victim {
        Participant(usize),
        Coordinator,
    }
    // Twice round: each kill and rejoin under load is one more chance for a
    // join to miss a commit.
    let round = [
        Victim::Participant(0),
        Victim::Participant(1),
        Victim::Coordinator,
        Victim::Participant(2),
    ];
    let steps = round.iter().chain(&round).copied();
    let mut timeline = Vec::new();
    let t0 = Instant::now();
    for victim in steps {
        load.wait_progress(
            300,
            Duration::from_secs(10),
            &format!("before killing {victim:?}"),
        );
        let at = load.acked();
        let killed = t0.elapsed();
        match victim {
            Victim::Participant(i) => {
                c.kill_participant(i);
                // The README: a dead participant leaves the write set at
                // once and writes go on with the others.
                load.wait_progress(
                    200,
                    Duration::from_secs(10),
                    &format!("while participant {i} is down"),
                );
                c.restart_participant(i);
            }
            Victim::Coordinator => {
                c.kill_coordinator();
                c.restart_coordinator();
            }
        }
        let restarted = Instant::now();
        // Printed at once, so a failed wait below shows the steps so far.
        println!("{victim:?}: killed at {killed:.1?} (acked {at}), restarted");
        c.wait_live(3);
        timeline.push(format!(
            "{victim:?}: killed at {killed:.1?} (acked {at}), live again {:.1?} after restart",
            restarted.elapsed()
        ));
    }
    load.wait_progress(300, Duration::from_secs(10), "after the last restart");
    let (reports, elapsed) = load.finish();
    let unexpected: Vec<&String> = reports.iter().flat_map(|r| &r.unexpected).collect();
    assert!(
        unexpected.is_empty(),
        "impossible SET replies: {unexpected:?}"
    );
    let (pairs, summary) = summarize(&reports, elapsed);
    println!("{summary}\n{}", timeline.join("\n"));

    c.wait_live(3);
    assert_all_readable(&c, &pairs, Duration::from_secs(15));
    let (digest, polls) = assert_digests_converge(&c, Duration::from_secs(10));
    println!("digest {digest} on every participant (after {polls} polls)");
}

// ---------------------------------------------------------------------------
// 2. A partitioned participant.
// ---------------------------------------------------------------------------

/// Whether this process may change the firewall and namespaces: root, and
/// the programs are there. Prints a notice and returns false otherwise.
fn may_use_netfilter(test: &str, programs: &[&str]) -> bool {
    let uid = Command::new("id").arg("-u").output();
    let root = uid.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let missing: Vec<&&str> = programs.iter().filter(|p| !have_program(p)).collect();
    if !root || !missing.is_empty() {
        println!(
            "NOTICE: {test} skipped: it needs root (have root: {root}) and {programs:?} (missing: {missing:?})"
        );
        return false;
    }
    true
}

/// Runs a command that must succeed; returns its stdout.
fn must(program: &str, args: &[&str]) -> String {
    let mut command = Command::new(program);
    command.args(args);
    let out = run(command, None, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// iptables rules that drop TCP between the nodes (all on 127.0.0.1) and
/// one port, both ways; removed on drop. Traffic from other loopback
/// addresses (the test's probe on 127.0.0.2) passes.
struct Partition {
    rules: Vec<Vec<String>>,
}

impl Partition {
    fn cut(port: u16) -> Partition {
        let tag = format!("kvstore-faults-{}-{port}", std::process::id());
        let mut partition = Partition { rules: Vec::new() };
        for chain in ["INPUT", "OUTPUT"] {
            for direction in ["--dport", "--sport"] {
                let rule: Vec<String> = [
                    chain,
                    "-p",
                    "tcp",
                    "-s",
                    "127.0.0.1",
                    "-d",
                    "127.0.0.1",
                    direction,
                    &port.to_string(),
                    "-m",
                    "comment",
                    "--comment",
                    &tag,
                    "-j",
                    "DROP",
                ]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
                let mut args = vec!["-w", "-I"];
                args.extend(rule.iter().map(String::as_str));
                must("iptables", &args);
                partition.rules.push(rule);
            }
        }
        partition
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        for rule in self.rules.drain(..) {
            let mut args = vec!["-w", "-D"];
            args.extend(rule.iter().map(String::as_str));
            match Command::new("iptables").args(&args).output() {
                Ok(o) if o.status.success() => {}
                other => eprintln!("FAILED to remove iptables rule {args:?}: {other:?}"),
            }
        }
    }
}

/// What a direct GET at the cut-off participant answered.
enum Probe {
    Value(u64),
    Nil,
    Refused(String),
    Other(String),
    NoAnswer(String),
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Value(v) => write!(f, "value {v}"),
            Probe::Nil => write!(f, "nil"),
            Probe::Refused(r) => write!(f, "refused \"{r}\""),
            Probe::Other(r) => write!(f, "unexpected reply \"{r}\""),
            Probe::NoAnswer(e) => write!(f, "no answer ({e})"),
        }
    }
}

fn probe(conn: &mut Conn, key: &[u8]) -> Probe {
    match conn.request(&[b"GET", key]) {
        Ok(reply) => {
            if let Some(v) = bulk_value(&reply) {
                match std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()) {
                    Some(n) => Probe::Value(n),
                    None => Probe::Other(show(&reply)),
                }
            } else if reply == b"$-1\r\n" {
                Probe::Nil
            } else if reply.starts_with(b"-CLUSTERDOWN") {
                Probe::Refused(show(&reply))
            } else {
                Probe::Other(show(&reply))
            }
        }
        Err(e) => Probe::NoAnswer(e),
    }
}

#[test]
fn partitioned_participant_is_evicted_and_rejoins() {
    const TEST: &str = "partitioned_participant_is_evicted_and_rejoins";
    if !may_use_netfilter(TEST, &["iptables"]) {
        return;
    }
    let mut c = Cluster::start(3, fast_opts());
    const VICTIM: usize = 2;
    let victim = c.participant_addr(VICTIM);
    let probe_from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    // One writer: SET pk-{seq} (kept for the final check), then SET
    // part {seq}; `newest` is the highest seq whose `part` got +OK, and
    // `acks` logs when each +OK came.
    let stop = Arc::new(AtomicBool::new(false));
    let newest = Arc::new(AtomicU64::new(0));
    let acks: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::new()));
    struct StopOnDrop(Arc<AtomicBool>, Option<JoinHandle<WriterReport>>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
            if let Some(h) = self.1.take() {
                let _ = h.join();
            }
        }
    }
    let mut writer_guard = StopOnDrop(Arc::clone(&stop), None);
    {
        let (stop, newest, acks) = (Arc::clone(&stop), Arc::clone(&newest), Arc::clone(&acks));
        let addr = c.coordinator_addr();
        writer_guard.1 = Some(thread::spawn(move || {
            let mut report = WriterReport::default();
            let mut conn = Conn::new(addr, Duration::from_secs(10));
            let mut seq = 1u64;
            while !stop.load(Ordering::SeqCst) {
                let s = seq.to_string();
                let k = format!("pk-{seq}");
                let sent = Instant::now();
                let mut all_ok = true;
                for (key, val) in [(k.as_bytes(), s.as_bytes()), (b"part", s.as_bytes())] {
                    match conn.request(&[b"SET", key, val]) {
                        Ok(r) if r == OK => {
                            if key == b"part" {
                                newest.fetch_max(seq, Ordering::SeqCst);
                            } else {
                                report.acked.push(seq);
                            }
                            report.slowest_ok = report.slowest_ok.max(sent.elapsed());
                            acks.lock().expect("acks lock").push(Instant::now());
                        }
                        Ok(r) => {
                            all_ok = false;
                            *report
                                .errors
                                .entry(String::from_utf8_lossy(&r).trim_end().to_owned())
                                .or_default() += 1;
                        }
                        Err(e) => {
                            all_ok = false;
                            report.unknown += 1;
                            report.unknown_reasons.push(e);
                        }
                    }
                }
                if !all_ok {
                    thread::sleep(Duration::from_millis(10));
                }
                seq += 1;
            }
            report
        }));
    }
    let acked_count = || acks.lock().expect("acks lock").len();
    let at_least = acked_count() + 20;
    wait_until("20 writes before the cut", Duration::from_secs(10), || {
        acked_count() >= at_least
    });

    // The probe (from 127.0.0.2, so the cut spares it) sees the newest
    // value before the cut.
    let mut probe_conn = Conn::new(victim, Duration::from_secs(10));
    probe_conn.from = Some(probe_from);
    let before = newest.load(Ordering::SeqCst);
    match probe(&mut probe_conn, b"part") {
        Probe::Value(v) if v >= before => {}
        other => panic!("direct GET before the cut: want >= {before}, got {other:?}"),
    }
    match probe(&mut probe_conn, b"pk-1") {
        Probe::Value(1) => {}
        other => panic!("direct GET pk-1 before the cut: got {other:?}"),
    }

    // Cut.
    let partition = Partition::cut(victim.port());
    let cut_at = Instant::now();
    let acks_at_cut = acked_count();

    // Two probes from 127.0.0.1's neighbour 127.0.0.2 until the lease has
    // surely lapsed, and a little beyond:
    // - `part`, the key being written, on its own thread: a read of it may
    //   wait for an in-doubt prepare, and whatever it answers must be at
    //   least as new as what was acknowledged before it was asked;
    // - `pk-1`, written once long ago: shows when the participant stops
    //   answering (refuses) direct reads.
    let probe_until = cut_at + LEASE + RPC_TIMEOUT + Duration::from_secs(2);
    let part_prober = {
        let newest = Arc::clone(&newest);
        thread::spawn(move || {
            let mut conn = Conn::new(victim, Duration::from_secs(10));
            conn.from = Some(probe_from);
            let mut seen = Vec::new();
            while Instant::now() < probe_until {
                let floor = newest.load(Ordering::SeqCst);
                let asked = cut_at.elapsed();
                let got = probe(&mut conn, b"part");
                seen.push((asked, cut_at.elapsed(), floor, got));
                thread::sleep(Duration::from_millis(20));
            }
            seen
        })
    };
    let mut lease_probes = Vec::new();
    while Instant::now() < probe_until {
        let asked = cut_at.elapsed();
        let got = probe(&mut probe_conn, b"pk-1");
        let done = matches!(got, Probe::Refused(_)) && asked >= LEASE + RPC_TIMEOUT;
        lease_probes.push((asked, got));
        if done {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let part_probes = part_prober.join().expect("the part prober panicked");
    let probing_done = cut_at.elapsed();

    let first_refusal = lease_probes
        .iter()
        .find(|(_, got)| matches!(got, Probe::Refused(_)))
        .map(|(asked, _)| *asked);
    // Served a value although its lease had surely lapsed (the last
    // heartbeat it heard came before the cut; 100 ms for clock drift).
    let overran: Vec<String> = lease_probes
        .iter()
        .filter(|(asked, got)| {
            *asked > LEASE + Duration::from_millis(100) && matches!(got, Probe::Value(_))
        })
        .map(|(asked, got)| format!("pk-1 asked {asked:?} after the cut: {got:?}"))
        .chain(
            part_probes
                .iter()
                .filter(|(asked, _, _, got)| {
                    *asked > LEASE + Duration::from_millis(100) && matches!(got, Probe::Value(_))
                })
                .map(|(asked, _, _, got)| format!("part asked {asked:?} after the cut: {got:?}")),
        )
        .collect();
    let stale: Vec<String> = part_probes
        .iter()
        .filter(|(_, _, floor, got)| matches!(got, Probe::Value(v) if v < floor))
        .map(|(asked, answered, floor, got)| {
            format!("part asked {asked:?} after the cut, answered at {answered:?}: {got:?}, but {floor} was acknowledged before it was asked")
        })
        .collect();
    let odd: Vec<String> = lease_probes
        .iter()
        .filter(|(_, got)| !matches!(got, Probe::Value(1) | Probe::Refused(_)))
        .map(|(asked, got)| format!("pk-1 asked {asked:?}: {got:?}"))
        .chain(
            part_probes
                .iter()
                .filter(|(_, _, _, got)| !matches!(got, Probe::Value(_) | Probe::Refused(_)))
                .map(|(asked, answered, _, got)| {
                    format!("part asked {asked:?}, answered at {answered:?}: {got:?}")
                }),
        )
        .collect();

    // Writes resumed within about rpc_timeout + lease.
    let resume_deadline = RPC_TIMEOUT + LEASE + Duration::from_millis(1500);
    let wait_left = resume_deadline.saturating_sub(cut_at.elapsed());
    let resumed = {
        let deadline = Instant::now() + wait_left;
        loop {
            let acks = acks.lock().expect("acks lock").clone();
            if acks.len() >= acks_at_cut + 10 {
                break Some(acks[acks_at_cut + 9].duration_since(cut_at));
            }
            if Instant::now() >= deadline {
                break None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    };
    let stall = {
        let acks = acks.lock().expect("acks lock");
        let from = acks_at_cut.saturating_sub(1);
        acks[from..]
            .windows(2)
            .map(|w| w[1].duration_since(w[0]))
            .max()
            .unwrap_or_default()
    };
    wait_until(
        "the coordinator reports 2 live participants during the cut",
        Duration::from_secs(5),
        || c.live_count() == Ok(2),
    );
    let info_cut = c.coordinator_info().unwrap_or_default();

    println!(
        "cut at acked {acks_at_cut}; first refusal of pk-1 asked {first_refusal:?} after the cut; probing ended {probing_done:?}; 10th write after the cut acked {resumed:?} after it; longest gap between acks {stall:?}"
    );
    println!(
        "probes of part: {} ({} answered a value); other answers: {odd:#?}",
        part_probes.len(),
        part_probes
            .iter()
            .filter(|p| matches!(p.3, Probe::Value(_)))
            .count()
    );
    assert!(
        stale.is_empty(),
        "stale direct reads at the cut-off participant:\n{}",
        stale.join("\n")
    );
    assert!(
        overran.is_empty(),
        "the cut-off participant served direct reads after its lease ({LEASE:?}) must have lapsed:\n{}",
        overran.join("\n")
    );
    let refused = first_refusal.unwrap_or_else(|| {
        panic!(
            "the cut-off participant never refused a direct read of pk-1 within {probing_done:?}: {lease_probes:?}"
        )
    });
    assert!(
        refused <= LEASE + Duration::from_millis(800),
        "the cut-off participant first refused a direct read asked {refused:?} after the cut (lease {LEASE:?}): {lease_probes:?}"
    );
    let resumed = resumed.unwrap_or_else(|| {
        panic!(
            "writes did not resume within {resume_deadline:?} of the cut ({} acked since); coordinator INFO:\n{info_cut}",
            acked_count() - acks_at_cut
        )
    });
    assert!(
        info_cut.contains("state=down") || info_cut.contains("state=joining"),
        "coordinator INFO during the cut:\n{info_cut}"
    );

    // Heal: the participant rejoins and catches up.
    drop(partition);
    let healed = Instant::now();
    c.wait_live(3);
    let rejoined = healed.elapsed();
    let floor = newest.load(Ordering::SeqCst);
    let mut direct = Conn::new(victim, Duration::from_secs(10));
    match probe(&mut direct, b"part") {
        Probe::Value(v) if v >= floor => {}
        other => panic!("direct GET at the rejoined participant: want >= {floor}, got {other:?}"),
    }
    let more = acked_count() + 20;
    wait_until(
        "20 writes after the rejoin",
        Duration::from_secs(10),
        || acked_count() >= more,
    );
    stop.store(true, Ordering::SeqCst);
    let report = writer_guard
        .1
        .take()
        .expect("writer running")
        .join()
        .expect("the writer thread panicked");
    println!(
        "rejoined {rejoined:?} after healing; writer: {} pk keys acked, errors {:?}, {} unknown ({:?}), slowest +OK {:?}",
        report.acked.len(),
        report.errors,
        report.unknown,
        report.unknown_reasons.iter().take(3).collect::<Vec<_>>(),
        report.slowest_ok
    );
    let _ = resumed;

    c.wait_live(3);
    let mut pairs: Vec<(String, String)> = report
        .acked
        .iter()
        .map(|s| (format!("pk-{s}"), s.to_string()))
        .collect();
    let last = newest.load(Ordering::SeqCst);
    // `part` may hold a newer value whose +OK was lost; it is at least `last`.
    let mut check = Conn::new(c.coordinator_addr(), Duration::from_secs(10));
    let part_now = match probe(&mut check, b"part") {
        Probe::Value(v) if v >= last => v,
        other => panic!("GET part through the coordinator: want >= {last}, got {other:?}"),
    };
    pairs.push(("part".to_owned(), part_now.to_string()));
    assert_all_readable(&c, &pairs, Duration::from_secs(15));
    let (digest, _) = assert_digests_converge(&c, Duration::from_secs(10));
    println!("digest {digest} on every participant");
    let evictions = log_lines(&c.coordinator_log(), "participant evicted");
    println!("coordinator evictions: {evictions:#?}");
}

// ---------------------------------------------------------------------------
// 3. 10% packet loss.
// ---------------------------------------------------------------------------

/// Set in the environment of the copy of this test binary that runs inside
/// the lossy namespace, to that namespace's name.
const NETNS_ENV: &str = "KVSTORE_FAULTS_NETNS";

/// A network namespace of our own; on drop, kills whatever still runs in it
/// (only processes this test started can be there) and deletes it.
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Netns {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!("kvf-{}-{nanos}", std::process::id());
        must("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        must("ip", &all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                eprintln!("killing process {pid} left in namespace {}", self.name);
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        match Command::new("ip")
            .args(["netns", "del", &self.name])
            .output()
        {
            Ok(o) if o.status.success() => {}
            other => eprintln!("FAILED to delete namespace {}: {other:?}", self.name),
        }
    }
}

#[test]
fn survives_ten_percent_packet_loss() {
    const TEST: &str = "survives_ten_percent_packet_loss";
    if let Ok(ns) = std::env::var(NETNS_ENV) {
        return lossy_body(&ns);
    }
    if !may_use_netfilter(TEST, &["ip", "iptables"]) {
        return;
    }
    let ns = Netns::create();
    ns.exec(&[
        "iptables",
        "-w",
        "-A",
        "INPUT",
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        "0.1",
        "-j",
        "DROP",
    ]);
    // Run this very test again, inside the namespace: the cluster and its
    // clients then all live on the lossy loopback.
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", &ns.name])
        .arg(exe)
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(NETNS_ENV, &ns.name);
    let out = run(command, None, Duration::from_secs(300));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("---- inside namespace {} ----\n{stdout}\n{stderr}", ns.name);
    assert!(
        out.status.success(),
        "the run inside the lossy namespace failed ({}); its output is above",
        out.status
    );
    assert!(
        stdout.contains("LOSSY-RUN-COMPLETE"),
        "the run inside the namespace did not run the test body; its output is above"
    );
}

/// The packet-loss test proper, run inside namespace `ns`.
fn lossy_body(ns: &str) {
    let here = Command::new("ip")
        .args(["netns", "identify", &std::process::id().to_string()])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert_eq!(
        here, ns,
        "{NETNS_ENV} is set but this is not that namespace"
    );

    let began = Instant::now();
    let mut c = Cluster::start(3, Opts::redis());
    println!("cluster live after {:.1?}", began.elapsed());
    let load = Load::start(c.coordinator_addr(), 8, Duration::from_secs(30));
    let run_for = Duration::from_secs(20);
    let deadline = Instant::now() + run_for;
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        // Watch the membership while the load runs: nobody should leave.
        if let Ok(info) = c.coordinator_info()
            && !info.contains("connected_slaves:3")
        {
            samples.push(info);
        }
        thread::sleep(Duration::from_millis(500));
    }
    let (reports, elapsed) = load.finish();
    let unexpected: Vec<&String> = reports.iter().flat_map(|r| &r.unexpected).collect();
    assert!(
        unexpected.is_empty(),
        "impossible SET replies: {unexpected:?}"
    );
    let (pairs, summary) = summarize(&reports, elapsed);
    let evictions = log_lines(&c.coordinator_log(), "participant evicted");
    println!("10% loss, default timeouts, 8 writers: {summary}");
    println!("evictions: {}", evictions.len());
    for line in &evictions {
        println!("  {line}");
    }

    let checking = Instant::now();
    c.wait_live(3);
    assert_all_readable(&c, &pairs, Duration::from_secs(30));
    println!("all read back in {:.1?}", checking.elapsed());
    let (digest, polls) = assert_digests_converge(&c, Duration::from_secs(20));
    println!(
        "digest {digest} on every participant (after {polls} polls); body took {:.1?}",
        began.elapsed()
    );
    assert!(
        evictions.is_empty() && samples.is_empty(),
        "participants were evicted under 10% loss with default timeouts:\n{}\nINFO samples without 3 live: {samples:#?}",
        evictions.join("\n")
    );
    assert!(
        !pairs.is_empty(),
        "no write was acknowledged in {run_for:?}"
    );
    println!("LOSSY-RUN-COMPLETE");
}
