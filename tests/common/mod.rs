//! The integration-test harness: real `kvstore2pcsystem` processes on
//! loopback, and the clients that talk to them.
//!
//! - [`Cluster::start`] picks free ports, writes one config file per node into
//!   a fresh temporary directory, spawns the real binary once per node (each
//!   node's stdout and stderr go to `NAME.log` in that directory) and polls
//!   until the coordinator reports every participant live. A port that turns
//!   out to be taken makes it start over on fresh ports.
//! - Nodes are killed with SIGKILL ([`std::process::Child::kill`]) and
//!   restarted on the same config, ports and data directory.
//! - [`Cluster::wait_live`] is the readiness condition tests poll on: the
//!   coordinator's `INFO replication` says `connected_slaves:N`, and at
//!   least N running participants hold a lease (say so in their own
//!   `INFO`), which rules out counting a killed incarnation that the
//!   coordinator has not noticed yet.
//! - [`Raw`] sends raw bytes and reads back exactly one RESP reply's bytes
//!   (with a deadline), for asserting exact wire bytes; [`redis_connect`]
//!   gives a `redis` crate connection; [`redis_cli`] runs `redis-cli`.
//! - [`Cluster::coordinator_log`], [`Cluster::participant_digest`] and
//!   friends expose what fault tests check: logs, `INFO replication`,
//!   `DEBUG DIGEST`. [`Raw::try_connect_from`] connects from a chosen
//!   local address (so a firewall rule can spare the test's own traffic).
//! - [`RedisServer`] is a real `redis-server` to compare with.
//! - Dropping a [`Cluster`] kills every process it started, by its own
//!   `Child` handle only. If the test is panicking, it first prints the tail
//!   of every node's log and keeps the directory for inspection.
//!
//! Nothing here sleeps instead of waiting for a condition: every wait is a
//! poll with a deadline, and a missed deadline fails with what was seen.

// Each test binary uses a different subset of the harness.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test, built by Cargo for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_kvstore2pcsystem");

/// How long a cluster may take to become ready. Generous: a 2-core machine
/// running two tests at once, each with four processes, is slow to start.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Default deadline for one reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// How often conditions are polled.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// How many times [`Cluster::start`] tries fresh ports after a collision.
const START_ATTEMPTS: usize = 5;

/// Lines of each log printed when a test fails.
const LOG_TAIL_LINES: usize = 60;

/// Cluster options.
#[derive(Debug, Clone, Default)]
pub struct Opts {
    /// Start every node with `KVSTORE_DIALECT=lab` in its environment.
    pub lab: bool,
    /// Extension keys (`name value`) added to every node's config file.
    pub extra: Vec<(String, String)>,
}

impl Opts {
    /// The Redis dialect, default timings.
    pub fn redis() -> Opts {
        Opts::default()
    }

    /// The Lab3 dialect (through the environment variable, as the Lab3
    /// tester would run it), default timings.
    pub fn lab() -> Opts {
        Opts {
            lab: true,
            ..Opts::default()
        }
    }

    /// Adds an extension key to every node's config.
    pub fn with(mut self, key: &str, value: &str) -> Opts {
        self.extra.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// One node process, possibly not running.
struct Node {
    name: String,
    addr: SocketAddr,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn running(&self) -> bool {
        self.child.is_some()
    }
}

/// Why a cluster did not become ready.
enum NotReady {
    /// A node could not bind its port: try again on fresh ports.
    PortTaken(String),
    /// Anything else; the text says what was seen.
    Failed(String),
}

/// A running cluster: one coordinator and N participants, each a real
/// process of the binary under test.
pub struct Cluster {
    dir: tempfile::TempDir,
    lab: bool,
    coordinator: Node,
    participants: Vec<Node>,
}

impl Cluster {
    /// Starts a coordinator and `n` participants and waits until all `n`
    /// are live. Panics (printing the logs) if that does not happen within
    /// [`READY_TIMEOUT`].
    pub fn start(n: usize, opts: Opts) -> Cluster {
        assert!(n > 0, "a cluster needs at least one participant");
        for attempt in 1..=START_ATTEMPTS {
            let mut cluster = Cluster::spawn(n, &opts);
            match cluster.poll_live(n, READY_TIMEOUT) {
                Ok(()) => return cluster,
                Err(NotReady::PortTaken(what)) if attempt < START_ATTEMPTS => {
                    eprintln!("harness: {what}; starting over on fresh ports");
                    // Dropping it (not panicking) kills its processes and
                    // removes its directory.
                }
                Err(NotReady::PortTaken(what) | NotReady::Failed(what)) => {
                    panic!("cluster of {n} did not start: {what}");
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Writes the configs and spawns every node, without waiting.
    fn spawn(n: usize, opts: &Opts) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("kvstore-it-")
            .tempdir()
            .expect("create a temporary directory for the cluster");
        let ports = free_ports(n + 1);
        let addr = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let coordinator_addr = addr(ports[0]);
        let participant_addrs: Vec<SocketAddr> = ports[1..].iter().map(|&p| addr(p)).collect();

        let extra: String = opts
            .extra
            .iter()
            .map(|(key, value)| format!("{key} {value}\n"))
            .collect();
        let data = |name: &str| dir.path().join("data").join(name);
        let node = |name: String, addr: SocketAddr, text: String| {
            let config = dir.path().join(format!("{name}.conf"));
            fs::write(&config, text).expect("write a node config file");
            Node {
                log: dir.path().join(format!("{name}.log")),
                name,
                addr,
                config,
                child: None,
            }
        };

        let mut text = format!(
            "! written by the integration-test harness\nmode coordinator\ncoordinator_info {coordinator_addr}\n"
        );
        for p in &participant_addrs {
            let _ = writeln!(text, "participant_info {p}");
        }
        let _ = writeln!(text, "data_dir {}", data("coordinator").display());
        text.push_str(&extra);
        let coordinator = node("coordinator".to_owned(), coordinator_addr, text);

        let participants = participant_addrs
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let name = format!("participant{i}");
                let text = format!(
                    "! written by the integration-test harness\nmode participant\nparticipant_info {p}\ncoordinator_info {coordinator_addr}\ndata_dir {}\n{extra}",
                    data(&name).display()
                );
                node(name, p, text)
            })
            .collect();

        let mut cluster = Cluster {
            dir,
            lab: opts.lab,
            coordinator,
            participants,
        };
        for i in 0..n {
            cluster.restart_participant(i);
        }
        cluster.restart_coordinator();
        cluster
    }

    fn spawn_node(dir: &Path, lab: bool, node: &mut Node) {
        assert!(node.child.is_none(), "{} is already running", node.name);
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&node.log)
            .expect("open the node's log file");
        let _ = writeln!(
            log,
            "==== harness: starting {} on {} ====",
            node.name, node.addr
        );
        let mut command = Command::new(BIN);
        command
            .arg("--config_path")
            .arg(&node.config)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log file handle"))
            .stderr(log);
        if lab {
            command.env("KVSTORE_DIALECT", "lab");
        } else {
            command.env_remove("KVSTORE_DIALECT");
        }
        node.child = Some(command.spawn().expect("spawn the kvstore2pcsystem binary"));
    }

    fn kill_node(node: &mut Node) {
        let mut child = node
            .child
            .take()
            .unwrap_or_else(|| panic!("{} is not running", node.name));
        // Child::kill sends SIGKILL; wait reaps it, so the port is free.
        child.kill().expect("SIGKILL a node");
        child.wait().expect("reap a killed node");
    }

    /// The temporary directory holding configs, logs and data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the cluster runs the Lab3 dialect.
    pub fn is_lab(&self) -> bool {
        self.lab
    }

    /// Number of configured participants.
    pub fn len(&self) -> usize {
        self.participants.len()
    }

    /// Whether the cluster has no participants (never, but clippy asks).
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// The coordinator's client address.
    pub fn coordinator_addr(&self) -> SocketAddr {
        self.coordinator.addr
    }

    /// Participant `i`'s address.
    pub fn participant_addr(&self, i: usize) -> SocketAddr {
        self.participants[i].addr
    }

    /// SIGKILLs the coordinator and reaps it.
    pub fn kill_coordinator(&mut self) {
        Cluster::kill_node(&mut self.coordinator);
    }

    /// Starts the coordinator again on its config, port and data. Does not
    /// wait: call [`Cluster::wait_live`].
    pub fn restart_coordinator(&mut self) {
        Cluster::spawn_node(self.dir.path(), self.lab, &mut self.coordinator);
    }

    /// SIGKILLs participant `i` and reaps it.
    pub fn kill_participant(&mut self, i: usize) {
        Cluster::kill_node(&mut self.participants[i]);
    }

    /// Starts participant `i` again on its config, port and data. Does not
    /// wait: call [`Cluster::wait_live`].
    pub fn restart_participant(&mut self, i: usize) {
        Cluster::spawn_node(self.dir.path(), self.lab, &mut self.participants[i]);
    }

    /// Waits until the coordinator reports exactly `n` live participants and
    /// at least `n` running participants hold a lease. Panics after
    /// [`READY_TIMEOUT`], showing what was last seen.
    pub fn wait_live(&mut self, n: usize) {
        match self.poll_live(n, READY_TIMEOUT) {
            Ok(()) => {}
            Err(NotReady::PortTaken(what) | NotReady::Failed(what)) => {
                panic!("waiting for {n} live participants: {what}")
            }
        }
    }

    fn poll_live(&mut self, n: usize, timeout: Duration) -> Result<(), NotReady> {
        let running = self.participants.iter().filter(|p| p.running()).count();
        if n > running {
            return Err(NotReady::Failed(format!(
                "only {running} participants are running"
            )));
        }
        if !self.coordinator.running() {
            return Err(NotReady::Failed("the coordinator is not running".into()));
        }
        let deadline = Instant::now() + timeout;
        let mut last_seen;
        loop {
            self.check_processes()?;
            match self.live_count() {
                Ok(live) if live == n => {
                    let leased = (0..self.participants.len())
                        .filter(|&i| self.participants[i].running() && self.holds_lease(i))
                        .count();
                    if leased >= n {
                        return Ok(());
                    }
                    last_seen = format!(
                        "coordinator reports {live} live, but only {leased} running participants hold a lease"
                    );
                }
                Ok(live) => last_seen = format!("coordinator reports connected_slaves:{live}"),
                Err(e) => last_seen = format!("coordinator INFO failed: {e}"),
            }
            if Instant::now() >= deadline {
                return Err(NotReady::Failed(format!(
                    "not ready after {timeout:?}; last seen: {last_seen}"
                )));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Fails if a node we started has exited on its own.
    fn check_processes(&mut self) -> Result<(), NotReady> {
        for node in std::iter::once(&mut self.coordinator).chain(self.participants.iter_mut()) {
            let Some(child) = node.child.as_mut() else {
                continue;
            };
            let status: Option<ExitStatus> = child.try_wait().expect("poll a node process");
            if let Some(status) = status {
                node.child = None;
                let log = fs::read_to_string(&node.log).unwrap_or_default();
                let what = format!("{} ({}) exited on its own: {status}", node.name, node.addr);
                if log.contains("Address already in use") {
                    return Err(NotReady::PortTaken(what));
                }
                return Err(NotReady::Failed(what));
            }
        }
        Ok(())
    }

    /// `connected_slaves` from the coordinator's `INFO replication`.
    pub fn live_count(&self) -> Result<usize, String> {
        let info = info_replication(self.coordinator.addr)?;
        field(&info, "connected_slaves")
            .ok_or_else(|| format!("no connected_slaves in {info:?}"))?
            .parse()
            .map_err(|e| format!("bad connected_slaves in {info:?}: {e}"))
    }

    /// Whether participant `i` says it holds a lease (may serve direct reads).
    pub fn holds_lease(&self, i: usize) -> bool {
        info_replication(self.participants[i].addr)
            .is_ok_and(|info| field(&info, "kvstore_lease_valid") == Some("1"))
    }

    /// The coordinator's `INFO replication` text, or why not.
    pub fn coordinator_info(&self) -> Result<String, String> {
        info_replication(self.coordinator.addr)
    }

    /// Participant `i`'s `INFO replication` text, or why not.
    pub fn participant_info(&self, i: usize) -> Result<String, String> {
        info_replication(self.participants[i].addr)
    }

    /// Everything the coordinator has logged so far (all incarnations).
    pub fn coordinator_log(&self) -> String {
        fs::read_to_string(&self.coordinator.log).unwrap_or_default()
    }

    /// Everything participant `i` has logged so far (all incarnations).
    pub fn participant_log(&self, i: usize) -> String {
        fs::read_to_string(&self.participants[i].log).unwrap_or_default()
    }

    /// Participant `i`'s `DEBUG DIGEST` (the hex digest of its data), read
    /// directly at its port; it answers only while it holds a lease.
    pub fn participant_digest(&self, i: usize) -> Result<String, String> {
        let mut raw = Raw::try_connect(self.participants[i].addr, Duration::from_secs(1))
            .map_err(|e| e.to_string())?;
        raw.try_send(&encode(&[b"DEBUG", b"DIGEST"]))?;
        let reply = raw.try_read_reply(REPLY_TIMEOUT)?;
        match bulk_value(&reply) {
            Some(hex) => Ok(String::from_utf8_lossy(hex).into_owned()),
            None => Err(format!("DEBUG DIGEST answered \"{}\"", show(&reply))),
        }
    }

    /// The coordinator's `DEBUG DIGEST` lines, one per live participant:
    /// `ip:port <hex16> keys=N watermark=W`.
    pub fn coordinator_digests(&self) -> Result<Vec<String>, String> {
        let mut raw = Raw::try_connect(self.coordinator.addr, Duration::from_secs(1))
            .map_err(|e| e.to_string())?;
        raw.try_send(&encode(&[b"DEBUG", b"DIGEST"]))?;
        let reply = raw.try_read_reply(REPLY_TIMEOUT)?;
        bulk_array(&reply).ok_or_else(|| format!("DEBUG DIGEST answered \"{}\"", show(&reply)))
    }

    /// A raw connection to the coordinator.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.coordinator.addr)
    }

    /// A raw connection to participant `i`.
    pub fn raw_participant(&self, i: usize) -> Raw {
        Raw::connect(self.participants[i].addr)
    }

    /// A `redis` crate connection to the coordinator.
    pub fn redis(&self) -> redis::Connection {
        redis_connect(self.coordinator.addr)
    }

    /// A `redis` crate connection to participant `i`.
    pub fn redis_participant(&self, i: usize) -> redis::Connection {
        redis_connect(self.participants[i].addr)
    }

    /// Runs `redis-cli` against the coordinator.
    pub fn redis_cli(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        redis_cli(self.coordinator.addr, args, stdin)
    }

    /// The last `lines` lines of every node's log.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for node in std::iter::once(&self.coordinator).chain(self.participants.iter()) {
            let text = fs::read_to_string(&node.log).unwrap_or_else(|e| format!("<{e}>\n"));
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            let _ = writeln!(
                out,
                "===== {} ({}) — last {} lines of {} =====",
                node.name,
                node.addr,
                tail.len(),
                node.log.display()
            );
            for line in tail {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in std::iter::once(&mut self.coordinator).chain(self.participants.iter_mut()) {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if thread::panicking() {
            eprintln!("{}", self.log_tails(LOG_TAIL_LINES));
            self.dir.disable_cleanup(true);
            eprintln!(
                "harness: kept the cluster directory {} for inspection",
                self.dir.path().display()
            );
        }
    }
}

/// A `redis-server` of our own (the Debian package's binary), in a temporary
/// directory on a free loopback port, killed by its own handle when dropped:
/// the reference server tests compare against.
pub struct RedisServer {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts `redis-server` with `args` after its port, address and
    /// directory (e.g. `--save ""`, `--replicaof`), retrying on a port
    /// collision, and waits until it answers PING.
    pub fn start(args: &[&str]) -> RedisServer {
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("kvstore-redis-")
                .tempdir()
                .expect("create a temporary directory for redis-server");
            let port = free_ports(1)[0];
            let spawned = Command::new("redis-server")
                .args(["--port", &port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .arg("--dir")
                .arg(dir.path())
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(e) => panic!(
                    "cannot run redis-server ({e}); install the redis-server package (CI does)"
                ),
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut server = RedisServer {
                child,
                addr,
                _dir: dir,
            };
            if server.wait_ready() {
                return server;
            }
            eprintln!("redis-server did not start on port {port}; trying another");
        }
        panic!("redis-server did not start");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false; // exited: most likely the port was taken
            }
            if let Ok(mut raw) = Raw::try_connect(self.addr, Duration::from_millis(200))
                && raw.try_send(&encode(&[b"PING"])).is_ok()
                && raw.try_read_reply(Duration::from_secs(1)).as_deref() == Ok(b"+PONG\r\n")
            {
                return true;
            }
            thread::sleep(POLL_INTERVAL);
        }
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `count` distinct free loopback ports: all are bound at once (so the
/// kernel hands out distinct ones), then released for the nodes to take.
pub fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .expect("local address of a bound socket")
                .port()
        })
        .collect()
}

/// The text of `INFO replication` at `addr` (either dialect), or why not.
fn info_replication(addr: SocketAddr) -> Result<String, String> {
    let mut raw = Raw::try_connect(addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    raw.send(&encode(&[b"INFO", b"replication"]));
    let reply = raw.try_read_reply(Duration::from_secs(3))?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// The value of `name:value` in an INFO text.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.split("\r\n")
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
}

/// The payload of a RESP2 bulk-string reply (`$N\r\n...\r\n`), or `None`
/// for anything else (including the nil bulk `$-1`).
pub fn bulk_value(reply: &[u8]) -> Option<&[u8]> {
    let rest = reply.strip_prefix(b"$")?;
    let eol = rest.windows(2).position(|w| w == b"\r\n")?;
    let len: usize = std::str::from_utf8(&rest[..eol]).ok()?.parse().ok()?;
    let body = rest.get(eol + 2..eol + 2 + len)?;
    (rest.len() == eol + 2 + len + 2).then_some(body)
}

/// The items of a RESP2 array of bulk strings, as text, or `None` if the
/// reply is not one.
pub fn bulk_array(reply: &[u8]) -> Option<Vec<String>> {
    let rest = reply.strip_prefix(b"*")?;
    let eol = rest.windows(2).position(|w| w == b"\r\n")?;
    let n: usize = std::str::from_utf8(&rest[..eol]).ok()?.parse().ok()?;
    let mut at = 1 + eol + 2;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        let end = value_end(reply, at)?;
        items.push(String::from_utf8_lossy(bulk_value(&reply[at..end])?).into_owned());
        at = end;
    }
    (at == reply.len()).then_some(items)
}

/// Encodes a request as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Bytes as readable text for assertion messages (long ones shortened).
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 300;
    if bytes.len() <= MAX {
        bytes.escape_ascii().to_string()
    } else {
        format!(
            "{}… ({} bytes in all)",
            bytes[..MAX].escape_ascii(),
            bytes.len()
        )
    }
}

/// Asserts exact reply bytes, showing both sides readably.
#[track_caller]
pub fn assert_reply(got: &[u8], want: &[u8]) {
    assert!(
        got == want,
        "reply bytes differ\n  got:  \"{}\"\n  want: \"{}\"",
        show(got),
        show(want)
    );
}

/// The byte length of the first complete RESP2/RESP3 value in `buf`, or
/// `None` if more bytes are needed. Panics on bytes that are not RESP.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    value_end(buf, 0)
}

fn value_end(buf: &[u8], at: usize) -> Option<usize> {
    let kind = *buf.get(at)?;
    let eol = at + 1 + buf.get(at + 1..)?.windows(2).position(|w| w == b"\r\n")?;
    let after = eol + 2;
    let header = || -> i64 {
        std::str::from_utf8(&buf[at + 1..eol])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad RESP length header in \"{}\"", show(buf)))
    };
    match kind {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => Some(after),
        b'$' | b'=' | b'!' => match usize::try_from(header()) {
            Err(_) => Some(after), // $-1: nil
            Ok(len) => {
                let end = after + len + 2;
                (buf.len() >= end).then_some(end)
            }
        },
        b'*' | b'~' | b'>' | b'%' | b'|' => match usize::try_from(header()) {
            Err(_) => Some(after), // *-1: nil array
            Ok(n) => {
                let items = if matches!(kind, b'%' | b'|') {
                    2 * n
                } else {
                    n
                };
                let mut pos = after;
                for _ in 0..items {
                    pos = value_end(buf, pos)?;
                }
                if kind == b'|' {
                    // An attribute precedes the value it describes.
                    pos = value_end(buf, pos)?;
                }
                Some(pos)
            }
        },
        _ => panic!("not a RESP reply at byte {at}: \"{}\"", show(&buf[at..])),
    }
}

/// A raw TCP client: writes exactly the bytes given and reads back whole
/// RESP replies as bytes.
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects or panics.
    pub fn connect(addr: SocketAddr) -> Raw {
        Raw::try_connect(addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    /// Connects within `timeout`.
    pub fn try_connect(addr: SocketAddr, timeout: Duration) -> io::Result<Raw> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(Raw {
            stream,
            buf: Vec::new(),
        })
    }

    /// Connects to `addr` from the local address `local` (port chosen by
    /// the kernel) within `timeout`. Lets a test tell its own traffic
    /// apart from the nodes' (say, to firewall only the nodes), which std's
    /// `TcpStream` cannot do as it does not bind before connecting.
    pub fn try_connect_from(
        local: std::net::IpAddr,
        addr: SocketAddr,
        timeout: Duration,
    ) -> io::Result<Raw> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let stream = runtime.block_on(async {
            let socket = match local {
                std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
                std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
            };
            socket.bind(SocketAddr::new(local, 0))?;
            tokio::time::timeout(timeout, socket.connect(addr))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
        })?;
        let stream = stream.into_std()?;
        stream.set_nonblocking(false)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(Raw {
            stream,
            buf: Vec::new(),
        })
    }

    /// Writes all of `bytes`, or says why not.
    pub fn try_send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("send failed: {e}"))
    }

    /// Writes all of `bytes` in one call.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("send \"{}\": {e}", show(bytes)));
    }

    /// Reads one complete reply, or panics after [`REPLY_TIMEOUT`].
    pub fn read_reply(&mut self) -> Vec<u8> {
        self.try_read_reply(REPLY_TIMEOUT)
            .unwrap_or_else(|e| panic!("reading a reply: {e}"))
    }

    /// Reads one complete reply within `timeout`.
    pub fn try_read_reply(&mut self, timeout: Duration) -> Result<Vec<u8>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(len) = frame_len(&self.buf) {
                return Ok(self.buf.drain(..len).collect());
            }
            self.fill(deadline)?;
        }
    }

    /// Reads exactly `n` bytes, whatever they are.
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        while self.buf.len() < n {
            self.fill(deadline)
                .unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
        }
        self.buf.drain(..n).collect()
    }

    /// Sends `bytes` and reads one reply.
    pub fn call(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.send(bytes);
        self.read_reply()
    }

    /// Sends a command as a RESP array and reads one reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.call(&encode(args))
    }

    /// The number `name` in `INFO section` on this connection; panics if
    /// it is missing.
    pub fn info_u64(&mut self, section: &str, name: &str) -> u64 {
        let reply = self.cmd(&[b"INFO", section.as_bytes()]);
        let text = String::from_utf8_lossy(&reply);
        field(&text, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text:?}"))
    }

    /// Waits until the server closes the connection, with nothing more
    /// sent; panics on extra bytes or after [`REPLY_TIMEOUT`].
    pub fn expect_closed(&mut self) {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            assert!(
                self.buf.is_empty(),
                "expected the connection to close, got \"{}\"",
                show(&self.buf)
            );
            match self.fill(deadline) {
                Ok(()) => {}
                Err(e) if e == "connection closed" || e.contains("reset") => return,
                Err(e) => panic!("waiting for the connection to close: {e}"),
            }
        }
    }

    /// Reads what is available into the buffer, waiting until `deadline`.
    fn fill(&mut self, deadline: Instant) -> Result<(), String> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(format!("timed out; buffered \"{}\"", show(&self.buf)));
        }
        self.stream
            .set_read_timeout(Some(remaining))
            .map_err(|e| e.to_string())?;
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err("connection closed".into()),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(format!("timed out; buffered \"{}\"", show(&self.buf)))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(format!("read failed: {e}")),
        }
    }
}

/// A `redis` crate connection to `addr`, with timeouts.
pub fn redis_connect(addr: SocketAddr) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{addr}/")).expect("a valid redis:// address");
    let con = client
        .get_connection_with_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("redis crate connect to {addr}: {e}"));
    con.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set the read timeout");
    con.set_write_timeout(Some(Duration::from_secs(30)))
        .expect("set the write timeout");
    con
}

/// Runs `redis-cli -h IP -p PORT ARGS...` with `stdin`, within 60 s.
pub fn redis_cli(addr: SocketAddr, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new("redis-cli");
    command
        .arg("-h")
        .arg(addr.ip().to_string())
        .arg("-p")
        .arg(addr.port().to_string())
        .args(args);
    run(command, stdin, Duration::from_secs(60))
}

/// Whether `program` can be run (it is on the PATH).
pub fn have_program(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Runs `command` to completion, feeding it `stdin`, and collects its output.
/// Kills it and panics if it takes longer than `timeout`.
pub fn run(mut command: Command, stdin: Option<&[u8]>, timeout: Duration) -> Output {
    let shown = format!("{command:?}");
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {shown}: {e}"));
    let writer = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let bytes = bytes.to_vec();
        // A program that exits without reading all of its input makes this
        // fail with a broken pipe; its exit status tells the real story.
        thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        })
    });
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        let mut pipe = pipe.expect("piped output");
        thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            out
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll a child process") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = stdout.join().unwrap_or_default();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "{shown} did not finish within {timeout:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Output {
        status,
        stdout: stdout.join().expect("stdout reader thread"),
        stderr: stderr.join().expect("stderr reader thread"),
    }
}

/// Polls `condition` every few milliseconds until it holds, or panics with
/// `what` after `timeout`.
#[track_caller]
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        thread::sleep(POLL_INTERVAL);
    }
}

/// Helpers for the hardening tests: clusters whose readiness the standard
/// poll cannot see (every node requires AUTH), node processes and files.
impl Cluster {
    /// Writes the configs and spawns every node like [`Cluster::start`],
    /// but returns at once without waiting for readiness (nor retrying on
    /// a port collision): for configs such as `requirepass` that keep the
    /// standard readiness poll out. The caller polls in its own way.
    pub fn spawn_unready(n: usize, opts: Opts) -> Cluster {
        assert!(n > 0, "a cluster needs at least one participant");
        Cluster::spawn(n, &opts)
    }

    /// The coordinator's process id, while it runs.
    pub fn coordinator_pid(&self) -> Option<u32> {
        self.coordinator.child.as_ref().map(Child::id)
    }

    /// Participant `i`'s process id, while it runs.
    pub fn participant_pid(&self, i: usize) -> Option<u32> {
        self.participants[i].child.as_ref().map(Child::id)
    }

    /// Participant `i`'s config file (rewrite it between a kill and a
    /// restart to start the node on another config).
    pub fn participant_config(&self, i: usize) -> &Path {
        &self.participants[i].config
    }
}

/// The resident set size of process `pid` in KiB (`VmRSS` in
/// `/proc/PID/status`), if it can be read.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}
