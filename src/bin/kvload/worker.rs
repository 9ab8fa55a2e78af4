//! One client connection's life: connect (TCP_NODELAY), keep up to
//! `pipeline` requests in flight, time each reply, and on any connection
//! failure count the in-flight requests as failed, back off briefly and
//! reconnect — so a benchmark run through a node failure keeps going.
//! With `--wait-replicas`, a request is a write (SET, HSET, SADD, SPOP,
//! LPUSH, RPOP, ZADD, ZPOPMIN) and
//! the `WAIT` after it, judged together when the `WAIT` answers.
//!
//! Also owns `Level`, the state the workers of one concurrency level share:
//! the request budget, the stop flag and the live counters the progress line
//! reads.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::BytesMut;
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::types::BytesFrame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::args::Workload;
use crate::stats::Histogram;
use crate::workload::{Op, Rng, encode, encode_ping, encode_wait};

const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Kept short: during an outage each retry costs a failed request, and a
/// recovered node should see load again quickly.
const BACKOFF_MAX: Duration = Duration::from_millis(200);
const READ_CHUNK: usize = 64 * 1024;

/// How a worker chooses keys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyPick {
    /// Uniformly random over `0..keys` (and the field or member over
    /// `0..SUBKEYS`), command from the workload mix.
    Random,
    /// Key = request ticket number, command the workload's fill (`Op::fill`:
    /// SET, or HSET/SADD of every field/member): the preload pass, where
    /// every key must be written exactly once however the work is split.
    Sequential,
}

/// Immutable per-run settings every worker reads.
#[derive(Debug)]
pub struct WorkerConfig {
    pub addr: String,
    pub workload: Workload,
    pub read_ratio: f64,
    pub keys: u64,
    pub value: Vec<u8>,
    pub pipeline: usize,
    pub timeout: Duration,
    pub pick: KeyPick,
    /// When non-zero, every write goes out with `WAIT wait_replicas
    /// <timeout / 2>` and the two replies count as one request.
    pub wait_replicas: u64,
}

/// State shared by the workers of one level.
#[derive(Debug)]
pub struct Level {
    /// Next request ticket; with `limit` this is the `--requests` budget.
    tickets: AtomicU64,
    limit: Option<u64>,
    /// Set when a `--duration` level's time is up: issue nothing new, drain.
    stop: AtomicBool,
    pub ok: AtomicU64,
    pub errors: AtomicU64,
    pub misses: AtomicU64,
    pub conn_errors: AtomicU64,
    /// Requests never issued because the level was abandoned (see `abandon`).
    pub abandoned: AtomicU64,
    /// When the last reply of any kind arrived, in ms since `epoch`; the
    /// stall watchdog reads it.
    epoch: Instant,
    last_reply_ms: AtomicU64,
    /// First examples, kept so a failing run says why, not just how often.
    pub first_conn_error: Mutex<Option<String>>,
    pub first_failed_reply: Mutex<Option<String>>,
}

impl Level {
    pub fn new(limit: Option<u64>) -> Self {
        Level {
            tickets: AtomicU64::new(0),
            limit,
            stop: AtomicBool::new(false),
            ok: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            conn_errors: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            epoch: Instant::now(),
            last_reply_ms: AtomicU64::new(0),
            first_conn_error: Mutex::new(None),
            first_failed_reply: Mutex::new(None),
        }
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Time since the last reply (or since the level was created).
    pub fn since_last_reply(&self) -> Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_reply_ms.load(Ordering::Relaxed)))
    }

    fn saw_reply(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.last_reply_ms.fetch_max(now, Ordering::Relaxed);
    }

    /// Ends a `--requests` level whose server has stopped answering: takes
    /// every unissued ticket at once (so no worker can claim one afterwards)
    /// and counts them as failed. Returns how many were abandoned.
    pub fn abandon(&self) -> u64 {
        self.stop();
        let Some(limit) = self.limit else { return 0 };
        // Far above any limit, far below overflow for later fetch_adds.
        let prev = self.tickets.swap(u64::MAX / 2, Ordering::Relaxed);
        let unissued = limit.saturating_sub(prev);
        self.abandoned.fetch_add(unissued, Ordering::Relaxed);
        self.errors.fetch_add(unissued, Ordering::Relaxed);
        unissued
    }

    /// Claims the right to issue one more request; `None` once the budget is
    /// spent or the level was stopped. The returned ticket is unique.
    fn claim(&self) -> Option<u64> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let t = self.tickets.fetch_add(1, Ordering::Relaxed);
        match self.limit {
            Some(limit) if t >= limit => None,
            _ => Some(t),
        }
    }

    fn note_conn_error(&self, e: &anyhow::Error) {
        self.conn_errors.fetch_add(1, Ordering::Relaxed);
        remember(&self.first_conn_error, || format!("{e:#}"));
    }

    fn note_failed_reply(&self, msg: &str) {
        remember(&self.first_failed_reply, || msg.to_string());
    }
}

fn remember(slot: &Mutex<Option<String>>, f: impl FnOnce() -> String) {
    // A poisoned lock only means another worker panicked mid-write of a
    // diagnostic string; the diagnostic is not worth propagating that panic.
    let mut g = slot.lock().unwrap_or_else(|p| p.into_inner());
    if g.is_none() {
        *g = Some(f());
    }
}

pub async fn connect(addr: &str, limit: Duration) -> Result<TcpStream> {
    let stream = timeout(limit, TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow!("connect to {addr} timed out after {limit:?}"))?
        .with_context(|| format!("connect to {addr}"))?;
    // Small requests must go out immediately; Nagle would add up to 40 ms of
    // latency per request at pipeline depth 1.
    stream.set_nodelay(true).context("set TCP_NODELAY")?;
    Ok(stream)
}

/// Checks that `addr` accepts connections and answers RESP at all. Any reply
/// counts, even an error: a server without PING is still reachable.
pub async fn probe(addr: &str, limit: Duration) -> Result<String> {
    let mut s = connect(addr, limit).await?;
    let mut req = Vec::new();
    encode_ping(&mut req);
    timeout(limit, s.write_all(&req))
        .await
        .map_err(|_| anyhow!("write timed out"))??;
    let mut buf = BytesMut::with_capacity(512);
    loop {
        let n = timeout(limit, s.read_buf(&mut buf))
            .await
            .map_err(|_| anyhow!("no reply to PING within {limit:?}"))??;
        if n == 0 {
            bail!("server closed the connection without replying to PING");
        }
        if let Some((frame, _, _)) =
            decode_bytes_mut(&mut buf).map_err(|e| anyhow!("bad RESP: {e:?}"))?
        {
            return Ok(match frame {
                BytesFrame::Error(msg) => format!("-{msg}"),
                BytesFrame::SimpleString(s) => String::from_utf8_lossy(&s).into_owned(),
                other => format!("{other:?}"),
            });
        }
    }
}

/// One request on the wire, waiting for its reply (or replies).
struct Pending {
    sent: Instant,
    op: Op,
    /// A `WAIT` was sent after this write; its reply, not the write's, ends
    /// the request.
    waits: bool,
    /// The write's own reply (before its `WAIT`) was an error or of the
    /// wrong kind: the request has failed whatever the `WAIT` says.
    failed: bool,
    /// The write's own reply (before its `WAIT`) was a miss: an SPOP of an
    /// empty set.
    missed: bool,
}

/// Per-connection buffers, kept across reconnects to avoid reallocating.
struct Session {
    inflight: VecDeque<Pending>,
    wbuf: Vec<u8>,
    rbuf: BytesMut,
}

/// Runs one worker until the level's budget is spent (or it is stopped) and
/// every request it issued got a reply or was failed. Returns the latencies
/// of its successful requests.
///
/// `ready` is awaited after the first connect so connection setup is not
/// part of the measured time.
pub async fn run(
    cfg: std::sync::Arc<WorkerConfig>,
    level: std::sync::Arc<Level>,
    seed: u64,
    ready: std::sync::Arc<tokio::sync::Barrier>,
) -> Histogram {
    let mut hist = Histogram::new();
    let mut rng = Rng::new(seed);
    let mut sess = Session {
        inflight: VecDeque::with_capacity(cfg.pipeline),
        // Sized for a typical batch; it grows if a batch of large values
        // needs more, rather than reserving pipeline x value up front.
        wbuf: Vec::with_capacity((cfg.pipeline * (cfg.value.len() + 48)).min(1 << 20)),
        rbuf: BytesMut::with_capacity(READ_CHUNK),
    };
    // A failed first connect is not counted here; the loop below retries it
    // and counts the retries like any other failed attempt.
    let mut conn = connect(&cfg.addr, cfg.timeout).await.ok();
    ready.wait().await;
    let mut backoff = BACKOFF_MIN;

    loop {
        let mut stream = match conn.take() {
            Some(s) => s,
            None => match connect(&cfg.addr, cfg.timeout).await {
                Ok(s) => {
                    backoff = BACKOFF_MIN;
                    s
                }
                Err(e) => {
                    // Charge the attempt as one failed request: the budget of
                    // a --requests level is then consumed even while the
                    // server is down, so the level still ends.
                    if level.claim().is_none() {
                        break;
                    }
                    level.errors.fetch_add(1, Ordering::Relaxed);
                    level.note_conn_error(&e);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            },
        };
        match drive(&mut stream, &cfg, &level, &mut rng, &mut hist, &mut sess).await {
            Ok(()) => break,
            Err(e) => {
                // Whatever was in flight on the dead connection is lost.
                let lost = sess.inflight.len() as u64;
                level.errors.fetch_add(lost, Ordering::Relaxed);
                level.note_conn_error(&e);
                sess.inflight.clear();
                sess.wbuf.clear();
                sess.rbuf.clear();
                drop(stream);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    hist
}

/// The request/reply loop on one live connection. `Ok` means the budget is
/// spent and nothing is in flight; `Err` means the connection is unusable.
async fn drive(
    stream: &mut TcpStream,
    cfg: &WorkerConfig,
    level: &Level,
    rng: &mut Rng,
    hist: &mut Histogram,
    sess: &mut Session,
) -> Result<()> {
    loop {
        // Top the pipeline back up to `pipeline` requests in flight.
        let before = sess.inflight.len();
        while sess.inflight.len() < cfg.pipeline {
            let Some(ticket) = level.claim() else { break };
            let (op, key, sub) = match cfg.pick {
                KeyPick::Random => {
                    let op = Op::pick(cfg.workload, cfg.read_ratio, rng);
                    // Drawn after the key, and only when used, so the string
                    // workloads' key sequences are what they always were.
                    let key = rng.below(cfg.keys);
                    let sub = op.sub_range(cfg.keys).map_or(0, |n| rng.below(n));
                    (op, key, sub)
                }
                KeyPick::Sequential => (Op::fill(cfg.workload), ticket, 0),
            };
            encode(&mut sess.wbuf, op, key, sub, &cfg.value);
            let waits = op.writes() && cfg.wait_replicas > 0;
            if waits {
                // Half the reply timeout, so a WAIT that gives up still
                // answers (with its count) before the connection is judged
                // stalled.
                encode_wait(&mut sess.wbuf, cfg.wait_replicas, cfg.timeout / 2);
            }
            sess.inflight.push_back(Pending {
                sent: Instant::now(),
                op,
                waits,
                failed: false,
                missed: false,
            });
        }
        if sess.inflight.is_empty() {
            return Ok(());
        }
        if !sess.wbuf.is_empty() {
            // Stamp the new requests just before they hit the socket, so
            // encoding time is not charged to the server.
            let sent = Instant::now();
            for entry in sess.inflight.iter_mut().skip(before) {
                entry.sent = sent;
            }
            timeout(cfg.timeout, stream.write_all(&sess.wbuf))
                .await
                .map_err(|_| anyhow!("write timed out after {:?}", cfg.timeout))?
                .context("write")?;
            sess.wbuf.clear();
        }

        if sess.rbuf.capacity() - sess.rbuf.len() < READ_CHUNK / 4 {
            sess.rbuf.reserve(READ_CHUNK);
        }
        // The timeout restarts whenever bytes arrive, so it bounds a stall,
        // not a long pipelined batch.
        let n = timeout(cfg.timeout, stream.read_buf(&mut sess.rbuf))
            .await
            .map_err(|_| anyhow!("no reply within {:?}", cfg.timeout))?
            .context("read")?;
        if n == 0 {
            bail!("server closed the connection");
        }
        let now = Instant::now();
        level.saw_reply();
        let (mut ok, mut errors, mut misses) = (0u64, 0u64, 0u64);
        let outcome = loop {
            let frame = match decode_bytes_mut(&mut sess.rbuf) {
                Ok(Some((frame, _, _))) => frame,
                Ok(None) => break Ok(()),
                Err(e) => break Err(anyhow!("undecodable reply: {e:?}")),
            };
            let Some(mut done) = sess.inflight.pop_front() else {
                break Err(anyhow!("server sent a reply nobody asked for"));
            };
            if done.waits {
                // The write's reply; the request ends with its WAIT's.
                done.waits = false;
                match command_outcome(done.op, &frame) {
                    Ok(miss) => done.missed = miss,
                    Err(msg) => {
                        done.failed = true;
                        level.note_failed_reply(&msg);
                    }
                }
                sess.inflight.push_front(done);
                continue;
            }
            match reply_outcome(&done, &frame, cfg.wait_replicas) {
                Err(msg) => {
                    errors += 1;
                    level.note_failed_reply(&msg);
                }
                Ok(miss) => {
                    ok += 1;
                    misses += u64::from(miss);
                    hist.record(now.duration_since(done.sent).as_nanos() as u64);
                }
            }
        };
        // Publish what was decoded even if the batch ended in a protocol
        // error, so those replies are not double-counted as lost.
        level.ok.fetch_add(ok, Ordering::Relaxed);
        level.errors.fetch_add(errors, Ordering::Relaxed);
        level.misses.fetch_add(misses, Ordering::Relaxed);
        outcome?;
    }
}

/// Judges the reply that ends `done`: `Ok(miss)` for a success, `Err` with
/// the reason for a failure (a server's error reply as it came, `-`
/// included). A write that waited for replicas is ended by its `WAIT`'s
/// reply: it succeeds only if its own reply was not a failure and `WAIT`
/// counted at least `wait_replicas` replicas.
fn reply_outcome(done: &Pending, frame: &BytesFrame, wait_replicas: u64) -> Result<bool, String> {
    if !(done.op.writes() && wait_replicas > 0) {
        return command_outcome(done.op, frame);
    }
    match frame {
        BytesFrame::Error(msg) => Err(format!("-{msg}")),
        _ if done.failed => Err(format!("{} failed before its WAIT", done.op.name())),
        BytesFrame::Integer(n) => {
            if u64::try_from(*n).is_ok_and(|n| n >= wait_replicas) {
                Ok(done.missed)
            } else {
                Err(format!(
                    "WAIT: {n} of {wait_replicas} replicas acknowledged"
                ))
            }
        }
        other => Err(format!("WAIT: unexpected reply {other:?}")),
    }
}

/// Judges a command's own reply: `Ok(miss)` for a success, where a miss is
/// a GET's, HGET's, SPOP's or RPOP's nil, a SISMEMBER's `:0`, and an empty
/// array from ZPOPMIN or LRANGE; `Err` for an error reply, or a reply of a
/// kind the command never sends (SET and GET accept any non-error reply, as
/// they always did).
fn command_outcome(op: Op, frame: &BytesFrame) -> Result<bool, String> {
    match (op, frame) {
        (_, BytesFrame::Error(msg)) => Err(format!("-{msg}")),
        (Op::Set, _) => Ok(false),
        (Op::Get, other) => Ok(matches!(other, BytesFrame::Null)),
        (
            Op::HSet
            | Op::SAdd
            | Op::LPush
            | Op::ZAdd
            | Op::FillHash
            | Op::FillSet
            | Op::FillList
            | Op::FillZSet,
            BytesFrame::Integer(_),
        ) => Ok(false),
        (Op::SIsMember, BytesFrame::Integer(n @ (0 | 1))) => Ok(*n == 0),
        (Op::HGet | Op::SPop | Op::RPop, BytesFrame::BulkString(_)) => Ok(false),
        (Op::HGet | Op::SPop | Op::RPop, BytesFrame::Null) => Ok(true),
        // ZPOPMIN without a count: [member, score], or [] on an empty set.
        (Op::ZPopMin, BytesFrame::Array(items)) if matches!(items.len(), 0 | 2) => {
            Ok(items.is_empty())
        }
        (Op::LRange100, BytesFrame::Array(items)) => Ok(items.is_empty()),
        (op, other) => Err(format!("{}: unexpected reply {other:?}", op.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(op: Op, failed: bool) -> Pending {
        Pending {
            sent: Instant::now(),
            op,
            waits: false,
            failed,
            missed: false,
        }
    }

    #[test]
    fn a_waited_set_succeeds_only_with_enough_replicas() {
        let set = pending(Op::Set, false);
        assert_eq!(reply_outcome(&set, &BytesFrame::Integer(2), 2), Ok(false));
        assert_eq!(reply_outcome(&set, &BytesFrame::Integer(3), 2), Ok(false));
        assert!(reply_outcome(&set, &BytesFrame::Integer(1), 2).is_err());
        assert!(reply_outcome(&pending(Op::Set, true), &BytesFrame::Integer(2), 2).is_err());
    }

    #[test]
    fn plain_replies_are_judged_by_kind() {
        let get = pending(Op::Get, false);
        assert_eq!(reply_outcome(&get, &BytesFrame::Null, 0), Ok(true));
        let err = BytesFrame::Error("ERR x".into());
        assert!(reply_outcome(&get, &err, 0).is_err());
        let ok = BytesFrame::SimpleString("OK".into());
        assert_eq!(reply_outcome(&pending(Op::Set, false), &ok, 0), Ok(false));
    }

    #[test]
    fn collection_replies_are_judged_per_command() {
        let bulk = BytesFrame::BulkString("v".into());
        let judge = |op, frame: &BytesFrame| reply_outcome(&pending(op, false), frame, 0);
        for op in [Op::HSet, Op::SAdd, Op::FillHash, Op::FillSet] {
            assert_eq!(judge(op, &BytesFrame::Integer(0)), Ok(false), "{op:?}");
            assert_eq!(judge(op, &BytesFrame::Integer(16)), Ok(false), "{op:?}");
            assert!(judge(op, &bulk).is_err(), "{op:?}");
        }
        for op in [Op::LPush, Op::ZAdd, Op::FillList, Op::FillZSet] {
            assert_eq!(judge(op, &BytesFrame::Integer(100)), Ok(false), "{op:?}");
            assert!(judge(op, &bulk).is_err(), "{op:?}");
        }
        let pair = BytesFrame::Array(vec![bulk.clone(), BytesFrame::BulkString("1".into())]);
        let empty = BytesFrame::Array(Vec::new());
        assert_eq!(judge(Op::ZPopMin, &pair), Ok(false));
        assert_eq!(judge(Op::ZPopMin, &empty), Ok(true));
        assert!(judge(Op::ZPopMin, &BytesFrame::Array(vec![bulk.clone()])).is_err());
        assert!(judge(Op::ZPopMin, &BytesFrame::Null).is_err());
        assert_eq!(judge(Op::LRange100, &pair), Ok(false));
        assert_eq!(judge(Op::LRange100, &empty), Ok(true));
        assert!(judge(Op::LRange100, &bulk).is_err());
        for op in [Op::HGet, Op::SPop, Op::RPop] {
            assert_eq!(judge(op, &bulk), Ok(false), "{op:?}");
            assert_eq!(judge(op, &BytesFrame::Null), Ok(true), "{op:?}");
            assert!(judge(op, &BytesFrame::Integer(1)).is_err(), "{op:?}");
        }
        assert_eq!(judge(Op::SIsMember, &BytesFrame::Integer(1)), Ok(false));
        assert_eq!(judge(Op::SIsMember, &BytesFrame::Integer(0)), Ok(true));
        assert!(judge(Op::SIsMember, &BytesFrame::Integer(2)).is_err());
        assert!(judge(Op::SIsMember, &BytesFrame::Null).is_err());
        let wrongtype = BytesFrame::Error("WRONGTYPE x".into());
        for op in [Op::HSet, Op::HGet, Op::SAdd, Op::SIsMember, Op::SPop] {
            assert_eq!(judge(op, &wrongtype), Err("-WRONGTYPE x".into()));
        }
    }

    #[test]
    fn a_waited_spop_keeps_its_miss_and_its_failure() {
        let mut spop = pending(Op::SPop, false);
        spop.missed = true;
        assert_eq!(reply_outcome(&spop, &BytesFrame::Integer(2), 2), Ok(true));
        assert!(reply_outcome(&pending(Op::SPop, true), &BytesFrame::Integer(2), 2).is_err());
        // A read is never followed by WAIT: its reply ends it.
        let hget = pending(Op::HGet, false);
        assert_eq!(reply_outcome(&hget, &BytesFrame::Null, 2), Ok(true));
    }
}
