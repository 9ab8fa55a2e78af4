//! Hardening, against real clusters on loopback: what a hostile or broken
//! client or peer can do, and that it hurts nobody else.
//!
//! - RESP input limits: a bulk length over `proto_max_bulk_len`, a
//!   multibulk count over the limit, an inline request or a header line
//!   over 64 KB, malformed headers and quotes, and a request bigger than
//!   `client_query_buffer_limit` each get Redis's error reply and that
//!   connection is closed; a client connected throughout is unaffected and
//!   the data is intact. Lengths that clients announce but do not send
//!   reserve no memory (the coordinator's RSS, from `/proc/PID/status`,
//!   stays put while 512 MB bulks and million-argument requests are
//!   announced on many connections).
//! - Connection limits: `maxclients` (Redis's exact refusal), the idle
//!   `timeout`, and clients that pipeline big GETs without ever reading the
//!   replies: the server stops reading from them, its RSS stays bounded and
//!   other clients keep working.
//! - AUTH with `requirepass`: Redis 7's exact NOAUTH / WRONGPASS texts, what
//!   runs before AUTH, HELLO AUTH, on the coordinator and on a participant's
//!   own port, and with the `redis` crate and `redis-cli`.
//! - The internal protocol: with a `cluster_secret`, a participant with a
//!   different secret or none is refused in the handshake (the coordinator
//!   never counts it live and both sides log why) and is taken in once
//!   fixed; a peer speaking another protocol version, or failing the
//!   challenge, gets the refusal bytes; oversized and corrupt frames close
//!   only their own connection.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{Cluster, Opts, READY_TIMEOUT, Raw, assert_reply, encode, rss_kib, show, wait_until};
use kvstore2pcsystem::rpc::codec;
use kvstore2pcsystem::rpc::message::{Request, Response};

/// Sends `bytes` on a fresh connection to `addr` and checks that the reply
/// is exactly `want` and that the server then closes the connection.
fn refused(addr: SocketAddr, bytes: &[u8], want: &[u8]) {
    let mut raw = Raw::connect(addr);
    // The server may stop reading before it has everything: a failed
    // write is fine, the reply is what counts.
    let _ = raw.try_send(bytes);
    let got = raw
        .try_read_reply(Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("no reply to \"{}\": {e}", show(bytes)));
    assert_reply(&got, want);
    raw.expect_closed();
}

fn protocol_error(text: &str) -> Vec<u8> {
    format!("-ERR Protocol error: {text}\r\n").into_bytes()
}

fn rss(pid: Option<u32>) -> u64 {
    pid.and_then(rss_kib)
        .expect("the node runs and /proc tells its RSS")
}

/// `connected_clients` from INFO at `addr` (this connection included).
fn connected_clients(addr: SocketAddr) -> u64 {
    Raw::connect(addr).info_u64("clients", "connected_clients")
}

#[test]
fn protocol_limits_refuse_and_close_only_the_offender() {
    let c = Cluster::start(2, Opts::redis().with("client_query_buffer_limit", "1mb"));
    let addr = c.coordinator_addr();
    // Connected before, idle throughout (no `timeout` is configured, so it
    // is never closed), and checked after.
    let mut bystander = c.raw();
    assert_reply(&bystander.cmd(&[b"SET", b"kept", b"value"]), b"+OK\r\n");

    let long = |prefix: &[u8], n: usize, fill: u8| {
        let mut v = prefix.to_vec();
        v.resize(prefix.len() + n, fill);
        v
    };
    let mut query_buffer_breach = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n".to_vec();
    query_buffer_breach.resize(query_buffer_breach.len() + 2_000_000, b'x');
    query_buffer_breach.extend_from_slice(b"\r\n");
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        // Over proto_max_bulk_len (512 MB), refused on the header alone.
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870913\r\n".to_vec(),
            protocol_error("invalid bulk length"),
        ),
        (
            b"*1\r\n$99999999999999999999\r\n".to_vec(),
            protocol_error("invalid bulk length"),
        ),
        (
            b"*1\r\n$-1\r\n".to_vec(),
            protocol_error("invalid bulk length"),
        ),
        // Over the multibulk count limit.
        (
            b"*1048577\r\n".to_vec(),
            protocol_error("invalid multibulk length"),
        ),
        (
            b"*x\r\n".to_vec(),
            protocol_error("invalid multibulk length"),
        ),
        (
            b"*1\r\n:1\r\n".to_vec(),
            protocol_error("expected '$', got ':'"),
        ),
        // Inline requests and header lines over 64 KB.
        (
            long(b"PING ", 70_000, b'x'),
            protocol_error("too big inline request"),
        ),
        (
            long(b"*", 70_000, b'1'),
            protocol_error("too big mbulk count string"),
        ),
        (
            long(b"*1\r\n$", 70_000, b'1'),
            protocol_error("too big bulk count string"),
        ),
        (
            b"ECHO \"unterminated\r\n".to_vec(),
            protocol_error("unbalanced quotes in request"),
        ),
        // One request bigger than client_query_buffer_limit.
        (
            query_buffer_breach,
            protocol_error("query buffer limit exceeded"),
        ),
    ];
    for (bytes, want) in &cases {
        refused(addr, bytes, want);
    }
    // Requests before the bad one are answered first.
    let mut raw = Raw::connect(addr);
    raw.send(b"PING\r\n*1\r\n$-1\r\n");
    assert_reply(&raw.read_reply(), b"+PONG\r\n");
    assert_reply(&raw.read_reply(), &protocol_error("invalid bulk length"));
    raw.expect_closed();

    // A participant's own port applies the same limits.
    refused(
        c.participant_addr(0),
        b"*1\r\n$536870913\r\n",
        &protocol_error("invalid bulk length"),
    );

    // AUTH without a password configured, as Redis 7 answers it.
    let mut raw = c.raw();
    assert_reply(
        &raw.cmd(&[b"AUTH", b"x"]),
        b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n",
    );
    assert_reply(&raw.cmd(&[b"AUTH", b"default", b"x"]), b"+OK\r\n");
    assert_reply(
        &raw.cmd(&[b"AUTH", b"bob", b"x"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );

    // Nobody else noticed, and the data is intact.
    assert_reply(&bystander.cmd(&[b"GET", b"kept"]), b"$5\r\nvalue\r\n");
    assert_reply(&c.raw().cmd(&[b"GET", b"k"]), b"$-1\r\n");
    assert_eq!(c.live_count(), Ok(2));
}

#[test]
fn announced_lengths_reserve_no_memory() {
    let c = Cluster::start(1, Opts::redis());
    let pid = c.coordinator_pid();
    let mut bystander = c.raw();
    assert_reply(&bystander.cmd(&[b"SET", b"kept", b"value"]), b"+OK\r\n");
    let before = rss(pid);

    // 64 connections each announce a 512 MB bulk (the largest allowed) or
    // a million arguments, send a few bytes of it, and stay. Reserving what
    // they announce would take 16 GB.
    let mut hanging = Vec::new();
    for i in 0..64 {
        let mut raw = c.raw();
        if i % 2 == 0 {
            raw.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\nabc");
        } else {
            raw.send(b"*1048576\r\n$3\r\nSET\r\n$1\r\nk\r\n");
        }
        hanging.push(raw);
    }
    // Each is read and parsed as far as it goes.
    thread::sleep(Duration::from_millis(500));
    let during = rss(pid);
    eprintln!("coordinator RSS {before} KiB before, {during} KiB with 64 announcements hanging");
    assert!(
        during < before + 32 * 1024,
        "coordinator RSS grew from {before} KiB to {during} KiB for announced lengths"
    );
    assert_reply(&bystander.cmd(&[b"GET", b"kept"]), b"$5\r\nvalue\r\n");
    drop(hanging);
    assert_reply(&c.raw().cmd(&[b"GET", b"k"]), b"$-1\r\n");
}

#[test]
fn maxclients_refuses_the_one_too_many_with_redis_error() {
    let c = Cluster::start(1, Opts::redis().with("maxclients", "4"));
    let addr = c.coordinator_addr();
    // The harness's readiness polls may still be closing on the server side.
    wait_until("only the poll itself is connected", READY_TIMEOUT, || {
        connected_clients(addr) == 1
    });
    let mut held: Vec<Raw> = (0..4)
        .map(|_| {
            let mut raw = c.raw();
            assert_reply(&raw.cmd(&[b"PING"]), b"+PONG\r\n");
            raw
        })
        .collect();

    let mut extra = c.raw();
    assert_reply(
        &extra.read_reply(),
        b"-ERR max number of clients reached\r\n",
    );
    extra.expect_closed();
    // Also when the client speaks first.
    refused(addr, b"PING\r\n", b"-ERR max number of clients reached\r\n");

    // The others are unaffected; once one leaves, there is room again.
    for raw in &mut held {
        assert_reply(&raw.cmd(&[b"PING"]), b"+PONG\r\n");
    }
    drop(held.pop());
    wait_until("a slot is free again", READY_TIMEOUT, || {
        let mut raw = c.raw();
        raw.send(&encode(&[b"PING"]));
        raw.try_read_reply(Duration::from_secs(5)).as_deref() == Ok(b"+PONG\r\n")
    });
}

#[test]
fn idle_timeout_closes_idle_clients_only() {
    let c = Cluster::start(1, Opts::redis().with("timeout", "1"));
    let started = Instant::now();
    let mut idle = c.raw();
    assert_reply(&idle.cmd(&[b"PING"]), b"+PONG\r\n");
    // Stopped in the middle of a request.
    let mut half = c.raw();
    half.send(b"*2\r\n$4\r\nECHO\r\n$5\r\nhel");
    let mut busy = c.raw();
    while started.elapsed() < Duration::from_millis(2500) {
        assert_reply(&busy.cmd(&[b"PING"]), b"+PONG\r\n");
        thread::sleep(Duration::from_millis(250));
    }
    // Redis closes idle clients without a word.
    idle.expect_closed();
    half.expect_closed();
    assert_reply(
        &busy.cmd(&[b"ECHO", b"still here"]),
        b"$10\r\nstill here\r\n",
    );

    // Not before the timeout.
    let mut fresh = c.raw();
    thread::sleep(Duration::from_millis(400));
    assert_reply(&fresh.cmd(&[b"PING"]), b"+PONG\r\n");
    let quiet_since = Instant::now();
    fresh.expect_closed();
    assert!(
        quiet_since.elapsed() >= Duration::from_millis(900),
        "closed after {:?}",
        quiet_since.elapsed()
    );
}

/// Connects to `addr` and pipelines GETs of `key` without ever reading a
/// reply, until the server stops taking them (a write makes no progress
/// for 300 ms) or `limit` were sent. Returns how many were sent, and the
/// still open connection.
fn pipeline_without_reading(
    addr: SocketAddr,
    key: &'static [u8],
    limit: usize,
) -> (usize, TcpStream) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_write_timeout(Some(Duration::from_millis(300)))
        .expect("write timeout");
    let one = encode(&[b"GET", key]);
    let batch = one.repeat(100);
    let mut sent_bytes = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while sent_bytes / one.len() < limit && Instant::now() < deadline {
        match stream.write(&batch) {
            Ok(n) => sent_bytes += n,
            Err(_) => break,
        }
    }
    (sent_bytes / one.len(), stream)
}

#[test]
fn clients_that_never_read_stall_only_themselves() {
    let c = Cluster::start(2, Opts::redis());
    let addr = c.coordinator_addr();
    let value = vec![b'v'; 1 << 20];
    let mut con = c.redis();
    let () = redis::cmd("SET")
        .arg("big")
        .arg(&value)
        .query(&mut con)
        .expect("SET big");
    let got: Vec<u8> = redis::cmd("GET")
        .arg("big")
        .query(&mut con)
        .expect("GET big");
    assert_eq!(got.len(), value.len());
    let before = rss(c.coordinator_pid());
    let before_participant = rss(c.participant_pid(0));

    // Eight clients each pipeline up to a million GETs of the 1 MB value
    // and read nothing: a server that kept reading and queueing replies
    // would need terabytes.
    let stalled: Vec<_> = (0..8)
        .map(|_| thread::spawn(move || pipeline_without_reading(addr, b"big", 1_000_000)))
        .collect();
    // Meanwhile another client keeps working, promptly.
    let started = Instant::now();
    for i in 0..100 {
        let key = format!("key{i}");
        let () = redis::cmd("SET")
            .arg(&key)
            .arg(i)
            .query(&mut con)
            .expect("SET while others stall");
        let v: i64 = redis::cmd("GET").arg(&key).query(&mut con).expect("GET");
        assert_eq!(v, i);
    }
    let got: Vec<u8> = redis::cmd("GET")
        .arg("big")
        .query(&mut con)
        .expect("GET big");
    assert_eq!(got, value);
    let streams: Vec<(usize, TcpStream)> = stalled
        .into_iter()
        .map(|t| t.join().expect("pipelining thread"))
        .collect();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the working client took {:?}",
        started.elapsed()
    );
    for (sent, _) in &streams {
        // The server stopped reading long before a million requests.
        assert!(*sent < 1_000_000, "the server took {sent} GETs unread");
    }

    // Memory stays bounded while they hang there.
    let mut peak = 0;
    for _ in 0..10 {
        peak = peak.max(rss(c.coordinator_pid()));
        thread::sleep(Duration::from_millis(100));
    }
    let sent: Vec<usize> = streams.iter().map(|(n, _)| *n).collect();
    eprintln!(
        "stalled clients sent {sent:?} GETs; coordinator RSS {before} KiB before, {peak} KiB at most while they hang"
    );
    assert!(
        peak < before + 128 * 1024,
        "coordinator RSS grew from {before} KiB to {peak} KiB"
    );
    let participant = rss(c.participant_pid(0));
    assert!(
        participant < before_participant + 128 * 1024,
        "participant RSS grew from {before_participant} KiB to {participant} KiB"
    );

    // Once they go, their sessions end and everything is as before.
    drop(streams);
    wait_until("the stalled sessions ended", READY_TIMEOUT, || {
        connected_clients(addr) <= 2
    });
    let got: Vec<u8> = redis::cmd("GET")
        .arg("big")
        .query(&mut con)
        .expect("GET big");
    assert_eq!(got, value);
}

const PASSWORD: &str = "s3cret-pass";

/// AUTH then INFO replication at `addr`.
fn info_with_auth(addr: SocketAddr) -> Result<String, String> {
    let mut raw = Raw::try_connect(addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    raw.try_send(&encode(&[b"AUTH", PASSWORD.as_bytes()]))?;
    let ok = raw.try_read_reply(Duration::from_secs(3))?;
    if ok != b"+OK\r\n" {
        return Err(format!("AUTH answered \"{}\"", show(&ok)));
    }
    raw.try_send(&encode(&[b"INFO", b"replication"]))?;
    let info = raw.try_read_reply(Duration::from_secs(3))?;
    Ok(String::from_utf8_lossy(&info).into_owned())
}

/// A cluster of `n` whose every node requires [`PASSWORD`], once ready.
fn cluster_with_password(n: usize) -> Cluster {
    let c = Cluster::spawn_unready(n, Opts::redis().with("requirepass", PASSWORD));
    wait_until("every participant is live", READY_TIMEOUT, || {
        let live = info_with_auth(c.coordinator_addr())
            .is_ok_and(|info| info.contains(&format!("connected_slaves:{n}\r\n")));
        live && (0..n).all(|i| {
            info_with_auth(c.participant_addr(i))
                .is_ok_and(|info| info.contains("kvstore_lease_valid:1"))
        })
    });
    c
}

#[test]
fn requirepass_and_auth_as_redis_7() {
    let c = cluster_with_password(2);
    const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";
    const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    let pw = PASSWORD.as_bytes();

    let mut raw = c.raw();
    assert_reply(&raw.cmd(&[b"PING"]), NOAUTH);
    assert_reply(&raw.cmd(&[b"GET", b"k"]), NOAUTH);
    assert_reply(&raw.cmd(&[b"SET", b"k", b"v"]), NOAUTH);
    assert_reply(&raw.cmd(&[b"INFO"]), NOAUTH);
    assert_reply(&raw.cmd(&[b"CONFIG", b"GET", b"*"]), NOAUTH);
    assert_reply(&raw.call(b"PING\r\n"), NOAUTH);
    // Redis checks the command and its arity before authentication.
    assert_reply(
        &raw.cmd(&[b"GET"]),
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    assert_reply(
        &raw.cmd(&[b"FOO", b"a"]),
        b"-ERR unknown command 'FOO', with args beginning with: 'a' \r\n",
    );
    assert_reply(
        &raw.cmd(&[b"HELLO", b"3"]),
        b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n",
    );
    assert_reply(&raw.cmd(&[b"AUTH", b"wrong"]), WRONGPASS);
    assert_reply(&raw.cmd(&[b"AUTH", b"default", b"wrong"]), WRONGPASS);
    assert_reply(&raw.cmd(&[b"AUTH", b"bob", pw]), WRONGPASS);
    assert_reply(
        &raw.cmd(&[b"HELLO", b"3", b"AUTH", b"default", b"wrong"]),
        WRONGPASS,
    );
    assert_reply(
        &raw.cmd(&[b"AUTH"]),
        b"-ERR wrong number of arguments for 'auth' command\r\n",
    );
    assert_reply(
        &raw.cmd(&[b"AUTH", b"a", b"b", b"c"]),
        b"-ERR syntax error\r\n",
    );
    assert_reply(&raw.cmd(&[b"GET", b"k"]), NOAUTH);
    assert_reply(&raw.cmd(&[b"AUTH", pw]), b"+OK\r\n");
    assert_reply(&raw.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_reply(&raw.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    // A failed AUTH later does not log the client out.
    assert_reply(&raw.cmd(&[b"AUTH", b"wrong"]), WRONGPASS);
    assert_reply(&raw.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");

    // HELLO with AUTH authenticates and switches protocol in one step.
    let mut resp3 = c.raw();
    let hello = resp3.cmd(&[b"HELLO", b"3", b"AUTH", b"default", pw]);
    assert!(hello.starts_with(b"%7\r\n"), "{}", show(&hello));
    assert_reply(&resp3.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");

    // QUIT needs no password.
    let mut quitter = c.raw();
    assert_reply(&quitter.cmd(&[b"QUIT"]), b"+OK\r\n");
    quitter.expect_closed();

    // A participant's own port asks for the password too.
    let mut direct = c.raw_participant(0);
    assert_reply(&direct.cmd(&[b"GET", b"k"]), NOAUTH);
    assert_reply(&direct.cmd(&[b"AUTH", b"default", pw]), b"+OK\r\n");
    assert_reply(&direct.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");

    // Real clients.
    let url = format!("redis://:{PASSWORD}@{}/", c.coordinator_addr());
    let mut con = redis::Client::open(url)
        .expect("url")
        .get_connection_with_timeout(Duration::from_secs(10))
        .expect("the redis crate authenticates");
    let v: String = redis::cmd("GET").arg("k").query(&mut con).expect("GET");
    assert_eq!(v, "v");
    let wrong = format!("redis://:wrong@{}/", c.coordinator_addr());
    let refused = redis::Client::open(wrong)
        .expect("url")
        .get_connection_with_timeout(Duration::from_secs(10));
    let e = refused.err().expect("a wrong password is refused");
    assert_eq!(e.kind(), redis::ErrorKind::AuthenticationFailed, "{e}");

    if common::have_program("redis-cli") {
        let out = c.redis_cli(&["-a", PASSWORD, "--no-auth-warning", "GET", "k"], None);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v");
        let out = c.redis_cli(&["GET", "k"], None);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("NOAUTH"), "{text}");
    }
}

const SECRET: &str = "correct horse battery staple";

/// Rewrites participant `i`'s config with `edit` (kill it first).
fn edit_participant_config(c: &Cluster, i: usize, edit: impl FnOnce(String) -> String) {
    let path = c.participant_config(i);
    let text = fs::read_to_string(path).expect("read the config");
    fs::write(path, edit(text)).expect("write the config");
}

/// Checks for `for_how_long` that the coordinator never counts more than
/// `n` participants live and participant `i` never gets a lease.
fn stays_out(c: &Cluster, n: usize, i: usize, for_how_long: Duration) {
    let until = Instant::now() + for_how_long;
    while Instant::now() < until {
        assert_eq!(
            c.live_count(),
            Ok(n),
            "the refused participant counted live"
        );
        assert!(!c.holds_lease(i), "the refused participant got a lease");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_participant_with_another_secret_is_refused_until_fixed() {
    let mut c = Cluster::start(3, Opts::redis().with("cluster_secret", SECRET));
    let mut raw = c.raw();
    assert_reply(&raw.cmd(&[b"SET", b"k", b"1"]), b"+OK\r\n");
    let addr2 = c.participant_addr(2).to_string();

    // Participant 2 comes back with a different secret.
    c.kill_participant(2);
    c.wait_live(2);
    edit_participant_config(&c, 2, |t| {
        t.replace(
            &format!("cluster_secret {SECRET}"),
            "cluster_secret wrong guess",
        )
    });
    c.restart_participant(2);
    wait_until("both sides log the refusal", READY_TIMEOUT, || {
        c.participant_log(2).contains(
            "refused an internal-protocol connection: cluster secret: the dialer's proof is wrong",
        ) && c.coordinator_log().lines().any(|l| {
            l.contains("internal handshake refused")
                && l.contains("cluster secret differs")
                && l.contains(&addr2)
        })
    });
    stays_out(&c, 2, 2, Duration::from_secs(2));
    // Writes go on meanwhile.
    assert_reply(&raw.cmd(&[b"SET", b"k", b"2"]), b"+OK\r\n");

    // With no secret at all.
    c.kill_participant(2);
    edit_participant_config(&c, 2, |t| {
        t.lines()
            .filter(|l| !l.starts_with("cluster_secret"))
            .map(|l| format!("{l}\n"))
            .collect()
    });
    c.restart_participant(2);
    wait_until("both sides log the refusal", READY_TIMEOUT, || {
        c.participant_log(2)
            .contains("the dialer has a cluster secret but we have none configured")
            && c.coordinator_log()
                .contains("we have a cluster secret but the listener has none configured")
    });
    stays_out(&c, 2, 2, Duration::from_secs(1));
    assert_reply(&raw.cmd(&[b"SET", b"k", b"3"]), b"+OK\r\n");

    // Fixed: it is taken in and catches up.
    c.kill_participant(2);
    edit_participant_config(&c, 2, |t| format!("{t}cluster_secret {SECRET}\n"));
    c.restart_participant(2);
    c.wait_live(3);
    assert!(
        c.coordinator_log()
            .contains("internal handshake succeeds again")
    );
    let mut direct = c.raw_participant(2);
    assert_reply(&direct.cmd(&[b"GET", b"k"]), b"$1\r\n3\r\n");
    // The secret itself never appears in a log.
    for log in [
        c.coordinator_log(),
        c.participant_log(0),
        c.participant_log(2),
    ] {
        assert!(!log.contains(SECRET));
    }
}

#[test]
fn the_coordinator_without_the_secret_is_refused() {
    let mut c = Cluster::start(2, Opts::redis().with("cluster_secret", SECRET));
    // The coordinator's config loses its secret: it dials without one.
    c.kill_coordinator();
    let path = c.dir().join("coordinator.conf");
    let text = fs::read_to_string(&path).expect("read");
    fs::write(
        &path,
        text.replace(&format!("cluster_secret {SECRET}\n"), ""),
    )
    .expect("write");
    c.restart_coordinator();
    wait_until("the refusal is logged", READY_TIMEOUT, || {
        c.participant_log(0)
            .contains("the dialer has no cluster secret configured and we require one")
            && c.coordinator_log()
                .contains("the listener requires a cluster secret and we have none configured")
    });
    wait_until("the coordinator answers", READY_TIMEOUT, || {
        c.live_count().is_ok()
    });
    // The lease from the coordinator's previous life runs out...
    wait_until("the old lease has lapsed", READY_TIMEOUT, || {
        !c.holds_lease(0)
    });
    // ...and no new one comes.
    stays_out(&c, 0, 0, Duration::from_secs(1));
    let mut raw = c.raw();
    let reply = raw.cmd(&[b"SET", b"k", b"v"]);
    assert!(reply.starts_with(b"-CLUSTERDOWN"), "{}", show(&reply));
}

/// A hello of version `version` with `field` as flags.
fn hello(version: u16, field: u16) -> Vec<u8> {
    let mut out = codec::MAGIC.to_vec();
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&field.to_be_bytes());
    out
}

#[test]
fn raw_peers_are_refused_with_the_protocols_bytes() {
    let c = Cluster::start(2, Opts::redis().with("cluster_secret", SECRET));
    let p = c.participant_addr(0);

    // Another protocol version: the listener's hello with BAD_VERSION.
    let mut raw = Raw::connect(p);
    raw.send(&hello(99, 0));
    assert_eq!(
        raw.read_exact_bytes(8),
        hello(codec::PROTOCOL_VERSION, codec::STATUS_BAD_VERSION)
    );
    raw.expect_closed();
    // Version 1, the version before the secret existed.
    let mut raw = Raw::connect(p);
    raw.send(&hello(1, 0));
    assert_eq!(
        raw.read_exact_bytes(8),
        hello(codec::PROTOCOL_VERSION, codec::STATUS_BAD_VERSION)
    );
    raw.expect_closed();

    // Our version without a secret: SECRET_REQUIRED.
    let mut raw = Raw::connect(p);
    raw.send(&hello(codec::PROTOCOL_VERSION, 0));
    assert_eq!(
        raw.read_exact_bytes(8),
        hello(codec::PROTOCOL_VERSION, codec::STATUS_SECRET_REQUIRED)
    );
    raw.expect_closed();

    // Claiming a secret but failing the challenge: BAD_SECRET.
    let mut raw = Raw::connect(p);
    raw.send(&hello(codec::PROTOCOL_VERSION, codec::FLAG_SECRET));
    let challenge = raw.read_exact_bytes(8 + codec::NONCE_LEN);
    assert_eq!(
        challenge[..8],
        hello(codec::PROTOCOL_VERSION, codec::STATUS_CHALLENGE)
    );
    raw.send(&[0u8; codec::NONCE_LEN + codec::MAC_LEN]);
    assert_eq!(
        raw.read_exact_bytes(8),
        hello(codec::PROTOCOL_VERSION, codec::STATUS_BAD_SECRET)
    );
    raw.expect_closed();

    wait_until("the participant logged each refusal", READY_TIMEOUT, || {
        let log = c.participant_log(0);
        let ours = codec::PROTOCOL_VERSION;
        log.contains(&format!("peer speaks protocol version 99, we speak {ours}"))
            && log.contains(&format!("peer speaks protocol version 1, we speak {ours}"))
            && log.contains("the dialer has no cluster secret configured and we require one")
            && log.contains("the dialer's proof is wrong")
    });
    // The cluster never noticed.
    assert_eq!(c.live_count(), Ok(2));
    assert_reply(&c.raw().cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
}

/// Handshakes with `addr` proving `secret`, sends `frames`, and returns
/// what came back until the participant closed the connection.
fn after_handshake(addr: SocketAddr, secret: &str, frames: &[u8]) -> Vec<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        codec::handshake_dial(&mut s, Some(secret.as_bytes()))
            .await
            .expect("the right secret is accepted");
        s.write_all(frames).await.expect("send frames");
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut got))
            .await
            .expect("the participant closes the connection")
            .expect("read");
        got
    })
}

#[test]
fn oversized_and_corrupt_frames_close_only_their_connection() {
    let c = Cluster::start(2, Opts::redis().with("cluster_secret", SECRET));
    let p = c.participant_addr(0);
    let mut bystander = c.raw();
    assert_reply(&bystander.cmd(&[b"SET", b"k", b"before"]), b"+OK\r\n");

    // A proper request first, answered; then a frame over the limit.
    let mut frames = BytesMut::new();
    codec::encode_frame(5, &Request::Status, &mut frames).expect("encode");
    frames.extend_from_slice(&u32::MAX.to_be_bytes());
    let mut got = BytesMut::from(&after_handshake(p, SECRET, &frames)[..]);
    match codec::decode_frame::<Response>(&mut got) {
        Ok(Some((5, Response::Status(_)))) => {}
        other => panic!("expected the status answer, got {other:?}"),
    }
    assert!(got.is_empty(), "nothing after the oversized frame");

    // A frame that does not decode.
    let got = after_handshake(p, SECRET, &[0, 0, 0, 3, 0xff, 0xff, 0xff]);
    assert!(got.is_empty(), "{}", show(&got));
    // A length just over the limit, with nothing behind it.
    let got = after_handshake(p, SECRET, &(codec::MAX_FRAME_LEN + 1).to_be_bytes());
    assert!(got.is_empty(), "{}", show(&got));

    wait_until("the participant logged why", READY_TIMEOUT, || {
        let log = c.participant_log(0);
        log.contains("frame of 4294967295 bytes is over the limit") && log.contains("corrupt frame")
    });

    // The coordinator's own connection to that participant is untouched.
    assert_eq!(c.live_count(), Ok(2));
    assert!(c.holds_lease(0));
    assert_reply(&bystander.cmd(&[b"SET", b"k", b"after"]), b"+OK\r\n");
    assert_reply(
        &c.raw_participant(0).cmd(&[b"GET", b"k"]),
        b"$5\r\nafter\r\n",
    );
    let digests = c.coordinator_digests().expect("DEBUG DIGEST");
    assert_eq!(digests.len(), 2);
    let digest = |line: &str| line.split(' ').nth(1).unwrap_or_default().to_owned();
    assert_eq!(digest(&digests[0]), digest(&digests[1]), "{digests:?}");
}

/// A RESP client that connects to a participant's port by mistake is
/// served as a client, and garbage that starts like the magic is refused
/// as a peer: neither disturbs the other kind.
#[test]
fn a_participant_port_tells_clients_from_peers() {
    let c = Cluster::start(1, Opts::redis());
    let p = c.participant_addr(0);
    let mut client = c.raw_participant(0);
    assert_reply(&client.cmd(&[b"PING"]), b"+PONG\r\n");
    let mut stream = TcpStream::connect(p).expect("connect");
    stream.write_all(b"\x00KV3garbage").expect("send");
    let mut got = Vec::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let _ = stream.read_to_end(&mut got);
    assert!(got.is_empty(), "{}", show(&got));
    wait_until("the refusal is logged", READY_TIMEOUT, || {
        c.participant_log(0)
            .contains("peer did not send the protocol magic")
    });
    assert_reply(&client.cmd(&[b"PING"]), b"+PONG\r\n");
    assert_eq!(c.live_count(), Ok(1));
}

/// RESET, as in Redis 7: runs at once (inside MULTI too, discarding it),
/// clears the client's name and protocol, and logs the client out again
/// when a password is required.
#[test]
fn reset_returns_the_connection_to_its_initial_state() {
    let c = cluster_with_password(1);
    let mut raw = c.raw();
    assert_reply(&raw.cmd(&[b"RESET"]), b"+RESET\r\n");
    assert_reply(&raw.cmd(&[b"AUTH", PASSWORD.as_bytes()]), b"+OK\r\n");
    assert_reply(&raw.cmd(&[b"CLIENT", b"SETNAME", b"n1"]), b"+OK\r\n");
    assert_reply(&raw.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_reply(&raw.cmd(&[b"SET", b"r", b"v"]), b"+QUEUED\r\n");
    assert_reply(&raw.cmd(&[b"RESET"]), b"+RESET\r\n");
    assert_reply(
        &raw.cmd(&[b"PING"]),
        b"-NOAUTH Authentication required.\r\n",
    );
    assert_reply(&raw.cmd(&[b"AUTH", PASSWORD.as_bytes()]), b"+OK\r\n");
    assert_reply(&raw.cmd(&[b"EXEC"]), b"-ERR EXEC without MULTI\r\n");
    assert_reply(&raw.cmd(&[b"GET", b"r"]), b"$-1\r\n");
    assert_reply(&raw.cmd(&[b"CLIENT", b"GETNAME"]), b"$-1\r\n");
}
