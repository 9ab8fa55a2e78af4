//! One client connection: read requests, run commands, write replies.
//!
//! Shared by the coordinator (which replicates writes) and the participants
//! (which serve reads directly and refuse writes). Requests on a connection
//! are executed in order; replies to pipelined requests are queued and
//! written together once no further complete request is buffered, so a
//! pipeline of a thousand commands costs a handful of system calls.
//! This module never touches storage or replication itself: it calls its
//! [`Backend`].
//!
//! # Limits
//!
//! What one client may cost is bounded, as in Redis: its unparsed input by
//! the protocol [`Limits`] (a breach gets Redis's error reply and the
//! connection is closed, nobody else notices), its queued output by the
//! connection's backpressure (a client that never reads its replies stalls
//! only itself: no more of its requests are read until it does), its idle
//! time by `timeout`, and the number of clients by `maxclients` (one more
//! gets `-ERR max number of clients reached` and is closed).
//!
//! # AUTH
//!
//! With `requirepass` set, a new connection is not authenticated, and, as in
//! Redis 7, only `AUTH`, `HELLO ... AUTH user pass` and `QUIT` run before it
//! is. Everything else gets `-NOAUTH Authentication required.`, except that
//! an unknown command, a wrong arity or an unknown subcommand still gets its
//! own error first (Redis checks those before authentication). The only user
//! is `default`; a failed AUTH leaves an authenticated connection
//! authenticated. Without `requirepass`, `AUTH password` is refused with
//! Redis's "called without any password configured" error and
//! `AUTH default anything` succeeds (the default user has no password).
//! `AUTH` is answered here, at once. HELLO passes the gate (it may run
//! before authenticating) and runs as any command does, queued inside
//! MULTI; [`connection::hello`] runs it with this connection's `Auth`
//! lent to it, since its AUTH option authenticates (a parsed HELLO never
//! prints the password).
//!
//! # Counters and INFO
//!
//! [`Clients`] counts what INFO's `clients` and `stats` sections report:
//! connections (open, accepted, refused), requests answered, GET/MGET key
//! hits and misses, and the request rate, which a task samples ten times a
//! second as Redis's cron does. INFO itself is answered here rather than
//! by the command layer, because its keyspace section needs the key count
//! from the [`Backend`].
//!
//! # Transactions
//!
//! After MULTI, requests are queued (`+QUEUED`) until EXEC or DISCARD. As
//! in Redis, an unknown command, a wrong arity or an unknown subcommand is
//! refused at once and dooms the transaction (EXEC answers `EXECABORT`);
//! any other error is answered in that command's place in EXEC's array. At
//! EXEC the data commands go to the backend as one [`WriteOp::Multi`], so
//! they commit together on every replica or not at all; session commands
//! (PING, ECHO, ...) are answered here, in their place. WATCH remembers the
//! watched keys' values; the transaction aborts (a nil array) if any has
//! another value when it runs. WAIT is queued like any command and, as in
//! Redis, answered at EXEC in its place without blocking: the number of
//! replicas holding the writes at that moment.
//!
//! # Blocking
//!
//! WAIT and the blocking pops (BLPOP, BLMOVE, BZPOPMIN, ...) may block for
//! long (for ever with timeout 0). While one waits the session keeps
//! reading the socket ([`Connection::closed`]): what the client pipelines
//! meanwhile runs afterwards, and a client that hangs up ends the session
//! at once instead of leaving it waiting. INFO's `blocked_clients` counts
//! the sessions waiting.
//!
//! A blocking pop first queues the client on its keys
//! ([`crate::blocked`]), then runs one attempt: the pop as an ordinary
//! replicated write, which takes nothing when every key is empty. If it
//! found nothing the session waits until a write through this node to one
//! of the keys wakes it (every successful write wakes its keys' first
//! waiters), then tries again; so an element leaves its list only in a
//! transaction whose reply goes to a connected client, and a client that
//! hangs up or times out while waiting costs nothing. An attempt that
//! finds a key of another type answers WRONGTYPE the first time; later,
//! as in Redis, the client keeps waiting until a key holds its type (a
//! destination of another type is still WRONGTYPE when it is served). CLIENT UNBLOCK ends a wait with
//! the timeout's reply or the `-UNBLOCKED` error. Inside MULTI a blocking
//! pop is its attempt alone, as Redis never blocks a transaction.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::blocked::{BlockedKeys, Unblock, Wake};
use crate::command::blocking::Blocking;
use crate::command::connection::{self, ClientState, ServerFacts, SessionCommand};
use crate::command::op::{Outcome, ReadOp, Step, WriteOp};
use crate::command::server::{self, Counters, Keyspace, WaitRequest};
use crate::command::{self, Command, CommandError, Transaction};
use crate::config::{Config, Dialect};
use crate::net::TcpStream;
use crate::resp::connection::{Connection, ConnectionError};
use crate::resp::frame::Limits;
use crate::resp::reply::{Protocol, Reply, Style};

/// Redis's reply to a connection over `maxclients`.
pub const MAX_CLIENTS_ERROR: &str = "ERR max number of clients reached";
/// Redis's reply to a command sent before AUTH.
pub const NOAUTH_ERROR: &str = "NOAUTH Authentication required.";
pub use connection::NOAUTH_HELLO_ERROR;
/// Redis's reply to wrong credentials.
pub const WRONGPASS_ERROR: &str = "WRONGPASS invalid username-password pair or user is disabled.";
/// Redis's reply to `AUTH password` when no password is configured.
pub const AUTH_WITHOUT_PASSWORD_ERROR: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";

/// What executes commands that touch data.
pub trait Backend: ServerFacts + Send + Sync + 'static {
    /// Runs a write; `Err` carries the full error reply text.
    fn write(&self, op: WriteOp) -> impl Future<Output = Result<Outcome, String>> + Send;
    /// Runs a read; `Err` carries the full error reply text.
    fn read(&self, op: ReadOp) -> impl Future<Output = Result<Outcome, String>> + Send;
    /// `DEBUG DIGEST`: the digest of this node's data (a participant) or of
    /// every live replica (the coordinator).
    fn digest(&self) -> impl Future<Output = Reply> + Send;
    /// INFO's keyspace section: the coordinator asks a live participant
    /// (as DBSIZE does), a participant counts its own replica. `Err` says
    /// why it is unknown.
    fn keyspace(&self) -> impl Future<Output = Result<Keyspace, String>> + Send;
    /// WAIT: how many replicas hold every write this node acknowledged
    /// before, once at least `numreplicas` do or the request's timeout
    /// has passed (the coordinator); Redis's replica error (a participant,
    /// before looking at the arguments, as a Redis replica does). `Err`
    /// carries the full error reply text.
    fn replicas_with_writes(
        &self,
        request: WaitRequest,
    ) -> impl Future<Output = Result<u64, String>> + Send;
}

/// Per-node client bookkeeping: ids, the connected count and the counters
/// INFO reports. Relaxed atomics: each counter is exact on its own, and
/// nothing is ordered by them.
pub struct Clients {
    /// The last id given out: every connection accepted, refused included.
    next_id: AtomicU64,
    connected: AtomicUsize,
    rejected: AtomicU64,
    commands: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Sessions waiting in WAIT or a blocking pop.
    blocked: AtomicUsize,
    /// The clients waiting in blocking pops, by key.
    waiting: BlockedKeys,
    /// Kept up to date by the sampler ([`Clients::start`]).
    ops_per_sec: AtomicU64,
    started: std::time::Instant,
}

impl Default for Clients {
    /// Counters at zero, without the ops/sec sampler.
    fn default() -> Clients {
        Clients {
            next_id: AtomicU64::new(0),
            connected: AtomicUsize::new(0),
            rejected: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            blocked: AtomicUsize::new(0),
            waiting: BlockedKeys::default(),
            ops_per_sec: AtomicU64::new(0),
            started: std::time::Instant::now(),
        }
    }
}

/// How often the ops/sec sampler looks at the command count, and how many
/// samples it averages (Redis: 100 ms, 16 samples).
const OPS_SAMPLE_EVERY: Duration = Duration::from_millis(100);
const OPS_SAMPLES: usize = 16;

impl Clients {
    /// Fresh bookkeeping for a node, with a task that samples the command
    /// rate ten times a second for INFO's `instantaneous_ops_per_sec`, as
    /// Redis's cron does. The task ends when the bookkeeping is dropped.
    /// Must run inside the node's runtime.
    pub fn start() -> Arc<Clients> {
        let clients = Arc::new(Clients::default());
        let weak = Arc::downgrade(&clients);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(OPS_SAMPLE_EVERY);
            let mut samples = [0u64; OPS_SAMPLES];
            let (mut at, mut last, mut next) = (tokio::time::Instant::now(), 0u64, 0usize);
            loop {
                tick.tick().await;
                let Some(clients) = weak.upgrade() else {
                    return;
                };
                let now = tokio::time::Instant::now();
                let count = clients.commands.load(Ordering::Relaxed);
                let ms = u64::try_from(now.duration_since(at).as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1);
                samples[next % OPS_SAMPLES] = count.saturating_sub(last).saturating_mul(1000) / ms;
                next += 1;
                (at, last) = (now, count);
                let average = samples.iter().sum::<u64>() / OPS_SAMPLES as u64;
                clients.ops_per_sec.store(average, Ordering::Relaxed);
            }
        });
        clients
    }

    /// Number of connected clients.
    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    /// The counters as they are now, for INFO.
    pub fn counters(&self) -> Counters {
        let rejected = self.rejected.load(Ordering::Relaxed);
        Counters {
            uptime: self.started.elapsed(),
            connected: self.connected(),
            blocked: self.blocked.load(Ordering::Relaxed),
            connections_received: self
                .next_id
                .load(Ordering::Relaxed)
                .saturating_sub(rejected),
            rejected,
            commands: self.commands.load(Ordering::Relaxed),
            ops_per_sec: self.ops_per_sec.load(Ordering::Relaxed),
            keyspace_hits: self.hits.load(Ordering::Relaxed),
            keyspace_misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Counts the outcome of a GET (a value) or an MGET (an array of
    /// values) outside a transaction as key hits and misses, as Redis's
    /// `keyspace_hits`/`keyspace_misses` do.
    fn count_lookups(&self, outcome: &Outcome) {
        let items = match outcome {
            Outcome::Array(items) => items.as_slice(),
            one => std::slice::from_ref(one),
        };
        for item in items {
            let counter = match item {
                Outcome::Value(Some(_)) => &self.hits,
                _ => &self.misses,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Counts a session as blocked for as long as it lives.
struct Blocked<'a>(&'a Clients);

impl<'a> Blocked<'a> {
    fn new(clients: &'a Clients) -> Blocked<'a> {
        clients.blocked.fetch_add(1, Ordering::Relaxed);
        Blocked(clients)
    }
}

impl Drop for Blocked<'_> {
    fn drop(&mut self) {
        self.0.blocked.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a connection for as long as it lives.
struct Counted(Arc<Clients>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How a node serves its clients: the config keys that concern a session.
#[derive(Clone)]
pub struct Settings {
    /// Reply dialect.
    pub dialect: Dialect,
    /// Protocol limits on client input.
    pub limits: Limits,
    /// Most simultaneous clients.
    pub maxclients: usize,
    /// Close a client idle this long; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// The password of the default user, if AUTH is required.
    pub requirepass: Option<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("dialect", &self.dialect)
            .field("limits", &self.limits)
            .field("maxclients", &self.maxclients)
            .field("idle_timeout", &self.idle_timeout)
            .field(
                "requirepass",
                &self.requirepass.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Settings {
    /// The session settings of the node `config` describes.
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            dialect: config.dialect,
            limits: Limits {
                max_bulk_len: config.proto_max_bulk_len,
                max_query_buffer: usize::try_from(config.client_query_buffer_limit)
                    .unwrap_or(usize::MAX),
                ..Limits::default()
            },
            maxclients: config.maxclients,
            idle_timeout: config.idle_timeout,
            requirepass: config.requirepass.clone(),
        }
    }
}

impl Default for Settings {
    /// Redis's defaults: RESP, no password, no idle timeout.
    fn default() -> Settings {
        Settings {
            dialect: Dialect::Redis,
            limits: Limits::default(),
            maxclients: crate::config::DEFAULT_MAXCLIENTS,
            idle_timeout: None,
            requirepass: None,
        }
    }
}

/// Turns a replica's outcome into a reply. The Lab dialect answers a
/// multi-word value word by word (`*2\r\n$5\r\nCloud\r\n$9\r\nComputing\r\n`).
pub fn outcome_reply(outcome: Outcome, dialect: Dialect) -> Reply {
    match outcome {
        Outcome::Ok => Reply::ok(),
        Outcome::Integer(n) => Reply::Integer(n),
        Outcome::Value(Some(v)) if dialect == Dialect::Lab && v.contains(&b' ') => Reply::Array(
            v.split(|b| *b == b' ')
                .map(|word| Reply::Bulk(v.slice_ref(word)))
                .collect(),
        ),
        Outcome::Value(Some(v)) => Reply::Bulk(v),
        Outcome::Value(None) => Reply::Nil,
        Outcome::Error(e) => Reply::Error(e),
        Outcome::Status(s) => Reply::Simple(s.into()),
        Outcome::Array(items) => Reply::Array(
            items
                .into_iter()
                .map(|o| outcome_reply(o, Dialect::Redis))
                .collect(),
        ),
        Outcome::Scan { next, keys } => command::keyspace::scan_reply(next, keys),
        Outcome::Aborted | Outcome::NilArray => Reply::NilArray,
        Outcome::Double(d) => Reply::Double(d),
        Outcome::Map(pairs) => Reply::Map(pair_replies(pairs)),
        Outcome::Set(items) => Reply::Set(
            items
                .into_iter()
                .map(|o| outcome_reply(o, Dialect::Redis))
                .collect(),
        ),
        Outcome::Pairs(pairs) => Reply::Pairs(pair_replies(pairs)),
    }
}

/// The reply of a read's outcome; one of thousands of items (HGETALL of a
/// big hash) is built on the blocking pool, so that other clients' requests
/// on this node's async workers do not wait for it (inline in the
/// simulation).
async fn large_reply(outcome: Outcome, dialect: Dialect) -> Reply {
    #[cfg(not(feature = "sim"))]
    if outcome.items() > 1024 {
        return tokio::task::spawn_blocking(move || outcome_reply(outcome, dialect))
            .await
            .unwrap_or_else(|e| {
                Reply::Error(format!("ERR internal: building a reply failed: {e}"))
            });
    }
    outcome_reply(outcome, dialect)
}

/// The replies of pairs of outcomes (a map's or HRANDFIELD's).
fn pair_replies(pairs: Vec<(Outcome, Outcome)>) -> Vec<(Reply, Reply)> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            (
                outcome_reply(k, Dialect::Redis),
                outcome_reply(v, Dialect::Redis),
            )
        })
        .collect()
}

/// Serves one client until it disconnects, sends QUIT, breaks the protocol
/// or stays idle past the timeout.
pub async fn serve_client<B: Backend>(
    stream: TcpStream,
    backend: Arc<B>,
    clients: Arc<Clients>,
    settings: Arc<Settings>,
) {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let id = clients.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    let count = clients.connected.fetch_add(1, Ordering::Relaxed) + 1;
    let counted = Counted(clients);
    let mut conn = Connection::new(stream, settings.limits);
    conn.set_idle_timeout(settings.idle_timeout);
    let mut client = ClientState::new(id);
    let dialect = settings.dialect;
    let style = |c: &ClientState| match dialect {
        Dialect::Lab => Style::Lab,
        Dialect::Redis => Style::Redis(c.protocol),
    };
    if count > settings.maxclients {
        tracing::debug!(?peer, "refused a client: maxclients reached");
        counted.0.rejected.fetch_add(1, Ordering::Relaxed);
        conn.queue(&Reply::error(MAX_CLIENTS_ERROR), style(&client));
        // Never a client: its slot is free again while the refusal lingers.
        drop(counted);
        conn.close().await;
        return;
    }
    let mut auth = Auth::new(settings.requirepass.as_deref());
    let mut multi: Option<Queue> = None;
    let mut watched = Watched::new();
    loop {
        let args = match conn.read_request().await {
            Ok(Some(args)) => args,
            Ok(None) => break,
            Err(ConnectionError::Protocol(text)) => {
                tracing::debug!(?peer, "closing a client: {text}");
                conn.queue(&Reply::Error(text), style(&client));
                conn.close().await;
                return;
            }
            Err(e) => {
                tracing::debug!(?peer, "closing a client: {e}");
                break;
            }
        };
        let is_reset = args
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"reset"));
        let reply = match auth.gate(&args, dialect, &mut client, backend.as_ref()) {
            // RESET runs at once, even inside MULTI or before AUTH, as in Redis.
            _ if is_reset && args.len() != 1 => {
                Reply::error("ERR wrong number of arguments for 'reset' command")
            }
            _ if is_reset => {
                multi = None;
                watched.clear();
                auth = Auth::new(settings.requirepass.as_deref());
                client.name = None;
                client.protocol = Protocol::Resp2;
                Reply::Simple("RESET".into())
            }
            Gate::Reply(reply) => reply,
            Gate::Run(args) if refused_exec(args).is_some() => {
                multi = None;
                watched.clear();
                refused_exec(args).unwrap_or_else(Reply::ok)
            }
            Gate::Run(args) => match multi.take() {
                Some(mut queue) => {
                    match queue_or_end(args, dialect, &client, backend.as_ref(), &mut queue) {
                        Some(reply) => {
                            multi = Some(queue);
                            reply
                        }
                        None => {
                            let watched = std::mem::take(&mut watched);
                            let backend = backend.as_ref();
                            let exec = (&mut client, &mut auth, watched);
                            queue.end(args, dialect, backend, exec, &counted.0).await
                        }
                    }
                }
                None => {
                    let txn = (&mut multi, &mut watched);
                    let who = (&*counted.0, &mut auth);
                    let backend = backend.as_ref();
                    match run(args, dialect, &mut client, backend, who, txn, &mut conn).await {
                        Some(reply) => reply,
                        // The client hung up while its command blocked.
                        None => break,
                    }
                }
            },
        };
        counted.0.commands.fetch_add(1, Ordering::Relaxed);
        conn.queue(&reply, style(&client));
        if client.closing || !conn.has_buffered_request() {
            if conn.flush().await.is_err() {
                break;
            }
            if client.closing {
                break;
            }
        }
    }
}

/// Parses and runs one request outside a transaction; MULTI opens one.
/// `None`: the client hung up while the command blocked (WAIT), so there
/// is no one to answer.
async fn run<B: Backend>(
    args: &[Bytes],
    dialect: Dialect,
    client: &mut ClientState,
    backend: &B,
    (clients, auth): (&Clients, &mut Auth),
    (multi, watched): (&mut Option<Queue>, &mut Watched),
    conn: &mut Connection,
) -> Option<Reply> {
    let to_reply = |o| outcome_reply(o, dialect);
    Some(match command::parse(args, dialect) {
        Err(e) => Reply::Error(e.to_string()),
        Ok(Command::Write(op)) => write(backend, clients, op)
            .await
            .map_or_else(Reply::Error, to_reply),
        Ok(Command::Block(blocking)) => {
            return block(blocking, dialect, client.id, backend, clients, conn).await;
        }
        Ok(Command::Read(op)) => {
            let lookup = matches!(op, ReadOp::Get { .. } | ReadOp::MGet { .. });
            match backend.read(op).await {
                Ok(outcome) => {
                    if lookup {
                        clients.count_lookups(&outcome);
                    }
                    large_reply(outcome, dialect).await
                }
                Err(e) => Reply::Error(e),
            }
        }
        Ok(Command::DebugDigest) => backend.digest().await,
        Ok(Command::Hello(hello)) => connection::hello(hello, client, auth, backend),
        Ok(Command::Session(cmd)) => session_command(cmd, client, backend, clients).await,
        Ok(Command::Wait(request)) => {
            // The replies of the requests pipelined before it go out now.
            conn.flush().await.ok()?;
            let _blocked = Blocked::new(clients);
            tokio::select! {
                answer = backend.replicas_with_writes(request) => wait_reply(answer),
                () = conn.closed() => return None,
            }
        }
        Ok(Command::Transaction(Transaction::Multi)) => {
            *multi = Some(Queue::default());
            Reply::ok()
        }
        Ok(Command::Transaction(Transaction::Exec)) => Reply::error(EXEC_WITHOUT_MULTI),
        Ok(Command::Transaction(Transaction::Discard)) => Reply::error(DISCARD_WITHOUT_MULTI),
        Ok(Command::Transaction(Transaction::Watch(keys))) => {
            for key in keys {
                if watched.iter().any(|(k, _)| *k == key) {
                    continue;
                }
                let value = match backend.read(ReadOp::Fingerprint { key: key.clone() }).await {
                    Ok(Outcome::Value(value)) => value,
                    Ok(other) => return Some(outcome_reply(other, dialect)),
                    Err(e) => return Some(Reply::Error(e)),
                };
                watched.push((key, value));
            }
            Reply::ok()
        }
        Ok(Command::Transaction(Transaction::Unwatch)) => {
            watched.clear();
            Reply::ok()
        }
    })
}

/// Runs a write, then wakes the clients blocked on the keys it wrote
/// (`crate::blocked`): whatever it did to them, they look again.
async fn write<B: Backend>(backend: &B, clients: &Clients, op: WriteOp) -> Result<Outcome, String> {
    // Taken before the write, which consumes the op; cheap (shared bytes).
    let keys: Vec<Bytes> = op.keys().into_iter().cloned().collect();
    let written = backend.write(op).await;
    if written.is_ok() {
        clients.waiting.wake(&keys);
    }
    written
}

/// Runs a blocking pop outside MULTI (see the module's "Blocking"):
/// attempts until one pops something, the timeout passes or CLIENT
/// UNBLOCK ends the wait. `None`: the client hung up while waiting.
async fn block<B: Backend>(
    blocking: Blocking,
    dialect: Dialect,
    client: u64,
    backend: &B,
    clients: &Clients,
    conn: &mut Connection,
) -> Option<Reply> {
    // A deadline past what the clock can count is for ever.
    let deadline = blocking
        .timeout
        .and_then(|t| tokio::time::Instant::now().checked_add(t));
    let timed_out = || Some(outcome_reply(Outcome::NilArray, dialect));
    // Queued before the first attempt, so a push that commits between the
    // attempt and the wait still wakes this client.
    let ticket = clients.waiting.queue(client, &blocking.keys);
    let mut first = true;
    loop {
        // The first attempt answers WRONGTYPE for a key of another type, as
        // Redis does when the command starts. After a wake-up, a look
        // (reads) comes first: only a key holding the right type is worth
        // a replicated attempt. The wake-up may have been a DEL, or a SET
        // that made the key a string, which Redis too waits through; an
        // attempt's WRONGTYPE is then the destination's (BLMOVE), which
        // Redis answers.
        if first || any_ready(&blocking, backend).await {
            match write(backend, clients, blocking.op.clone()).await {
                Ok(outcome) if Blocking::found_nothing(&outcome) => {}
                Ok(outcome) => return Some(outcome_reply(outcome, dialect)),
                Err(e) => return Some(Reply::Error(e)),
            }
        }
        if first {
            // The replies of the requests pipelined before it go out now,
            // not when the wait ends.
            conn.flush().await.ok()?;
        }
        first = false;
        let _blocked = Blocked::new(clients);
        let until_deadline = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            wake = ticket.woken() => match wake {
                Wake::Look => {}
                Wake::Unblocked(Unblock::Timeout) => return timed_out(),
                Wake::Unblocked(Unblock::Error) => {
                    return Some(Reply::error(UNBLOCKED));
                }
            },
            () = until_deadline => return timed_out(),
            () = conn.closed() => return None,
        }
    }
}

/// Whether any of a blocking pop's keys holds the type it pops (a failed
/// read counts as yes: the attempt then says what is wrong).
async fn any_ready<B: Backend>(blocking: &Blocking, backend: &B) -> bool {
    let kind = blocking.kind().name();
    for key in &blocking.keys {
        match backend.read(ReadOp::Type { key: key.clone() }).await {
            Ok(Outcome::Status(name)) if name != kind => {}
            _ => return true,
        }
    }
    false
}

/// The reply of a client whose wait CLIENT UNBLOCK ended with ERROR.
pub const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// WAIT's reply: the number of replicas, or the backend's error.
fn wait_reply(answer: Result<u64, String>) -> Reply {
    match answer {
        Ok(n) => Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
        Err(e) => Reply::Error(e),
    }
}

/// Runs a session command. INFO is answered here rather than by
/// [`connection::apply`] because its keyspace section needs the key count,
/// which only the backend can fetch (and only then is it fetched).
async fn session_command<B: Backend>(
    cmd: SessionCommand,
    client: &mut ClientState,
    backend: &B,
    clients: &Clients,
) -> Reply {
    let request = match cmd {
        SessionCommand::Info(request) => request,
        SessionCommand::ClientUnblock { client, error } => {
            let how = if error {
                Unblock::Error
            } else {
                Unblock::Timeout
            };
            return Reply::Integer(i64::from(clients.waiting.unblock(client, how)));
        }
        cmd => return connection::apply(cmd, client, backend),
    };
    let mut keyspace = None;
    if request.wants("keyspace") {
        match backend.keyspace().await {
            Ok(stats) => keyspace = Some(stats),
            Err(e) => tracing::debug!("INFO without a key count: {e}"),
        }
    }
    server::info_reply(&request, &backend.node_info(), keyspace)
}

/// Redis's reply to EXEC outside a transaction.
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
/// Redis's reply to DISCARD outside a transaction.
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
/// Redis's reply to MULTI inside a transaction.
pub const NESTED_MULTI: &str = "ERR MULTI calls can not be nested";
/// Redis's reply to WATCH inside a transaction.
pub const WATCH_INSIDE_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
/// Redis's reply to EXEC after a command was refused while queuing.
pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
/// The keys a connection WATCHes, with the values they had then.
type Watched = Vec<(Bytes, Option<Bytes>)>;

/// A malformed EXEC's reply. Redis discards the transaction, if one is
/// open, and says why.
fn refused_exec(args: &[Bytes]) -> Option<Reply> {
    let exec = args.first()?.eq_ignore_ascii_case(b"exec");
    let e = command::check_known(args)
        .err()
        .filter(|_| exec)?
        .to_string();
    let why = e.strip_prefix("ERR ").unwrap_or(&e);
    Some(Reply::Error(format!(
        "EXECABORT Transaction discarded because of: {why}"
    )))
}

/// The commands queued since MULTI.
#[derive(Debug, Default)]
struct Queue {
    commands: Vec<Queued>,
    /// A command was refused while queuing: EXEC will discard everything.
    doomed: bool,
}

/// One queued command.
#[derive(Debug)]
enum Queued {
    /// Runs in the replicated transaction.
    Data(Step),
    /// Answered by the session when EXEC runs.
    Session(SessionCommand),
    /// `DEBUG DIGEST`, answered when EXEC runs.
    Digest,
    /// HELLO, run when EXEC runs.
    Hello(connection::Hello),
    /// WAIT, answered when EXEC runs, without blocking.
    Wait(WaitRequest),
    /// An error EXEC answers in this command's place (one Redis finds only
    /// when it runs the command, such as a syntax error).
    Error(String),
    /// A fixed reply (UNWATCH's `+OK`).
    Reply(Reply),
}

/// Queues a request inside MULTI and returns its reply, or returns `None`
/// for EXEC and DISCARD, which end the transaction ([`Queue::end`]).
fn queue_or_end(
    args: &[Bytes],
    dialect: Dialect,
    client: &ClientState,
    facts: &dyn ServerFacts,
    queue: &mut Queue,
) -> Option<Reply> {
    if let Err(e) = command::check_known(args) {
        queue.doomed = true;
        return Some(Reply::Error(e.to_string()));
    }
    let queued = match command::parse(args, dialect) {
        Ok(Command::Transaction(Transaction::Exec | Transaction::Discard)) => return None,
        Ok(Command::Transaction(Transaction::Multi)) => return Some(Reply::error(NESTED_MULTI)),
        Ok(Command::Transaction(Transaction::Watch(_))) => {
            return Some(Reply::error(WATCH_INSIDE_MULTI));
        }
        Ok(Command::Transaction(Transaction::Unwatch)) => Queued::Reply(Reply::ok()),
        Ok(Command::Write(op)) => Queued::Data(Step::Write(op)),
        Ok(Command::Block(blocking)) => Queued::Data(Step::Write(blocking.op)),
        Ok(Command::Read(op)) => Queued::Data(Step::Read(op)),
        Ok(Command::DebugDigest) => Queued::Digest,
        Ok(Command::Hello(hello)) => Queued::Hello(hello),
        Ok(Command::Wait(request)) => Queued::Wait(request.queued()),
        Ok(Command::Session(cmd)) => {
            if let Some(refused) = refused_subcommand(&cmd, client, facts) {
                queue.doomed = true;
                return Some(refused);
            }
            Queued::Session(cmd)
        }
        Err(e) => Queued::Error(e.to_string()),
    };
    queue.commands.push(queued);
    Some(Reply::Simple("QUEUED".into()))
}

/// A container command's (CLIENT, CONFIG, COMMAND) unknown subcommand or
/// wrong arity, which Redis refuses before running (or queuing) it. Learnt
/// by running the command on a copy of the client's state, which such
/// commands only read or change.
fn refused_subcommand(
    cmd: &SessionCommand,
    client: &ClientState,
    facts: &dyn ServerFacts,
) -> Option<Reply> {
    if !matches!(
        cmd,
        SessionCommand::Client(_) | SessionCommand::Config(_) | SessionCommand::Command(_)
    ) {
        return None;
    }
    let mut scratch = client.clone();
    match connection::apply(cmd.clone(), &mut scratch, facts) {
        Reply::Error(e)
            if e.starts_with("ERR unknown subcommand")
                || e.starts_with("ERR wrong number of arguments") =>
        {
            Some(Reply::Error(e))
        }
        _ => None,
    }
}

impl Queue {
    /// EXEC or DISCARD (`args`), ending the transaction.
    async fn end<B: Backend>(
        self,
        args: &[Bytes],
        dialect: Dialect,
        backend: &B,
        (client, auth, watched): (&mut ClientState, &mut Auth, Watched),
        clients: &Clients,
    ) -> Reply {
        let exec = args
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"exec"));
        if !exec {
            return Reply::ok();
        }
        if self.doomed {
            return Reply::error(EXECABORT);
        }
        let steps: Vec<Step> = self
            .commands
            .iter()
            .filter_map(|q| match q {
                Queued::Data(step) => Some(step.clone()),
                _ => None,
            })
            .collect();
        let mut outcomes = Vec::new().into_iter();
        if !steps.is_empty() || !watched.is_empty() {
            match write(backend, clients, WriteOp::Multi { watched, steps }).await {
                Ok(Outcome::Array(items)) => outcomes = items.into_iter(),
                Ok(other) => return outcome_reply(other, dialect),
                Err(e) => return Reply::Error(e),
            }
        }
        let mut replies = Vec::with_capacity(self.commands.len());
        for queued in self.commands {
            replies.push(match queued {
                Queued::Data(_) => match outcomes.next() {
                    Some(o) => outcome_reply(o, Dialect::Redis),
                    None => Reply::error("ERR transaction result missing"),
                },
                Queued::Session(cmd) => session_command(cmd, client, backend, clients).await,
                Queued::Digest => backend.digest().await,
                Queued::Hello(hello) => connection::hello(hello, client, auth, backend),
                Queued::Wait(request) => wait_reply(backend.replicas_with_writes(request).await),
                Queued::Error(e) => Reply::Error(e),
                Queued::Reply(r) => r,
            });
        }
        Reply::Array(replies)
    }
}

/// What the authentication gate decided about one request.
#[derive(Debug, PartialEq)]
enum Gate<'a> {
    /// Answer this without running the request.
    Reply(Reply),
    /// Run the request.
    Run(&'a [Bytes]),
}

/// One connection's authentication state.
struct Auth {
    /// SHA-256 of `requirepass`, if one is set.
    password: Option<[u8; 32]>,
    authenticated: bool,
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

impl Auth {
    fn new(requirepass: Option<&str>) -> Auth {
        Auth {
            password: requirepass.map(|p| sha256(p.as_bytes())),
            authenticated: requirepass.is_none(),
        }
    }

    /// Whether `username`/`password` are the default user's credentials.
    /// As Redis does, both sides are hashed first and the hashes compared
    /// in time that does not depend on where they differ.
    fn check(&self, username: &[u8], password: &[u8]) -> bool {
        if username != b"default" {
            return false;
        }
        let Some(expected) = self.password else {
            // The default user has no password: any is accepted.
            return true;
        };
        let given = sha256(password);
        expected
            .iter()
            .zip(given.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// Decides what to do with a request: answer AUTH and HELLO's AUTH
    /// option, refuse what may not run before authentication, let the rest
    /// through.
    fn gate<'a>(
        &mut self,
        args: &'a [Bytes],
        dialect: Dialect,
        client: &mut ClientState,
        facts: &dyn ServerFacts,
    ) -> Gate<'a> {
        let name = args
            .first()
            .map(|n| n.to_ascii_lowercase())
            .unwrap_or_default();
        match name.as_slice() {
            b"auth" => Gate::Reply(self.auth(args)),
            // HELLO may run before authenticating: it checks for itself
            // ([`connection::hello`]).
            b"hello" => Gate::Run(args),
            _ if self.authenticated => Gate::Run(args),
            _ => Gate::Reply(before_auth(args, dialect, client, facts)),
        }
    }

    /// `AUTH [username] password`.
    fn auth(&mut self, args: &[Bytes]) -> Reply {
        let (username, password) = match args {
            [_] | [] => return Reply::error("ERR wrong number of arguments for 'auth' command"),
            [_, password] => {
                if self.password.is_none() {
                    return Reply::error(AUTH_WITHOUT_PASSWORD_ERROR);
                }
                (&b"default"[..], password)
            }
            [_, username, password] => (&username[..], password),
            _ => return Reply::error("ERR syntax error"),
        };
        if self.check(username, password) {
            self.authenticated = true;
            Reply::ok()
        } else {
            Reply::error(WRONGPASS_ERROR)
        }
    }
}

impl connection::Credentials for Auth {
    fn authenticate(&mut self, username: &[u8], password: &[u8]) -> Result<(), Reply> {
        if !self.check(username, password) {
            return Err(Reply::error(WRONGPASS_ERROR));
        }
        self.authenticated = true;
        Ok(())
    }

    fn authenticated(&self) -> bool {
        self.authenticated
    }
}

/// The reply to a request (not AUTH or HELLO) from a client that has not
/// authenticated: QUIT runs; an unknown command, a wrong arity and an
/// unknown subcommand get their own error, as Redis checks those first;
/// anything else gets NOAUTH.
fn before_auth(
    args: &[Bytes],
    dialect: Dialect,
    client: &mut ClientState,
    facts: &dyn ServerFacts,
) -> Reply {
    match command::parse(args, dialect) {
        Err(e @ (CommandError::Unknown { .. } | CommandError::Arity(_))) => {
            Reply::Error(e.to_string())
        }
        Ok(Command::Session(SessionCommand::Quit)) => {
            connection::apply(SessionCommand::Quit, client, facts)
        }
        Ok(Command::Session(
            cmd @ (SessionCommand::Client(_)
            | SessionCommand::Config(_)
            | SessionCommand::Command(_)),
        )) => {
            // A container command: run it on a copy of the client's state
            // only to learn whether its subcommand or arity is wrong.
            // These commands read nothing but the client and the server
            // facts, and the copy is thrown away.
            let mut scratch = client.clone();
            match connection::apply(cmd, &mut scratch, facts) {
                Reply::Error(e)
                    if e.starts_with("ERR unknown subcommand")
                        || e.starts_with("ERR wrong number of arguments") =>
                {
                    Reply::Error(e)
                }
                _ => Reply::error(NOAUTH_ERROR),
            }
        }
        _ => Reply::error(NOAUTH_ERROR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Facts;

    impl ServerFacts for Facts {
        fn role(&self) -> &'static str {
            "master"
        }
        fn config_values(&self) -> Vec<(&'static str, String)> {
            vec![("maxclients", "10".into())]
        }
        fn runtime_config(&self) -> &server::RuntimeConfig {
            server::RuntimeConfig::process_wide()
        }
        fn node_info(&self) -> server::NodeInfo {
            server::NodeInfo::default()
        }
    }

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn client() -> ClientState {
        ClientState::new(1)
    }

    /// Checked against redis-server 7.0.15: which errors a command gets
    /// while queued (and whether they doom the transaction).
    #[test]
    fn queuing_answers_like_redis() {
        let queued = Some(Reply::Simple("QUEUED".into()));
        let e = |t: &str| Some(Reply::error(t));
        let cases: &[(&[&str], Option<Reply>, bool)] = &[
            (&["SET", "a", "1"], queued.clone(), false),
            (&["GET", "a"], queued.clone(), false),
            (&["PING"], queued.clone(), false),
            // Found only when EXEC runs it.
            (&["SET", "a", "b", "c"], queued.clone(), false),
            (&["INCRBY", "a", "x"], queued.clone(), false),
            (&["MULTI"], e(NESTED_MULTI), false),
            (&["WATCH", "a"], e(WATCH_INSIDE_MULTI), false),
            (&["EXEC"], None, false),
            (&["DISCARD"], None, false),
            (
                &["GET"],
                e("ERR wrong number of arguments for 'get' command"),
                true,
            ),
            (
                &["FOO"],
                e("ERR unknown command 'FOO', with args beginning with: "),
                true,
            ),
            (
                &["CLIENT", "FOO"],
                e("ERR unknown subcommand 'FOO'. Try CLIENT HELP."),
                true,
            ),
        ];
        for (words, want, doomed) in cases {
            let mut queue = Queue::default();
            let got = queue_or_end(&args(words), Dialect::Redis, &client(), &Facts, &mut queue);
            assert_eq!(&got, want, "for {words:?}");
            assert_eq!(queue.doomed, *doomed, "for {words:?}");
        }
        assert_eq!(
            refused_exec(&args(&["EXEC", "x"])),
            e(
                "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"
            )
        );
        assert_eq!(refused_exec(&args(&["EXEC"])), None);
    }

    /// What the gate did: `Ok(args)` to run, `Err(reply)` answered.
    type Gated = Result<Vec<Bytes>, Reply>;

    /// Gates `words` on a fresh client; a HELLO that passes the gate is
    /// also run (it checks credentials itself), and `Err` if it fails.
    fn gate(auth: &mut Auth, words: &[&str]) -> Gated {
        let mut c = client();
        let request = args(words);
        match auth.gate(&request, Dialect::Redis, &mut c, &Facts) {
            Gate::Run(run) => match command::parse(run, Dialect::Redis) {
                Ok(Command::Hello(hello)) => match connection::hello(hello, &mut c, auth, &Facts) {
                    Reply::Error(e) => Err(Reply::Error(e)),
                    _ => Ok(run.to_vec()),
                },
                Err(e) if words[0].eq_ignore_ascii_case("hello") => {
                    Err(Reply::Error(e.to_string()))
                }
                _ => Ok(run.to_vec()),
            },
            Gate::Reply(reply) => Err(reply),
        }
    }

    fn err(text: &str) -> Gated {
        Err(Reply::error(text))
    }

    /// Every case checked against redis-server 7.0.15 with `--requirepass
    /// secret`, in this order on one connection.
    #[test]
    fn with_requirepass_as_redis_7() {
        let mut a = Auth::new(Some("secret"));
        let cases: &[(&[&str], Gated)] = &[
            (&["PING"], err(NOAUTH_ERROR)),
            (&["GET", "k"], err(NOAUTH_ERROR)),
            (&["SET", "a", "b", "c", "d"], err(NOAUTH_ERROR)),
            (&["SELECT", "x"], err(NOAUTH_ERROR)),
            (&["CONFIG", "GET", "maxclients"], err(NOAUTH_ERROR)),
            (&["CLIENT", "ID"], err(NOAUTH_ERROR)),
            (&["DEBUG", "DIGEST"], err(NOAUTH_ERROR)),
            (
                &["GET"],
                err("ERR wrong number of arguments for 'get' command"),
            ),
            (
                &["FOO", "a"],
                err("ERR unknown command 'FOO', with args beginning with: 'a' "),
            ),
            (
                &["CLIENT", "FOO"],
                err("ERR unknown subcommand 'FOO'. Try CLIENT HELP."),
            ),
            (
                &["CLIENT", "ID", "x"],
                err("ERR wrong number of arguments for 'client|id' command"),
            ),
            (
                &["CONFIG", "FOO"],
                err("ERR unknown subcommand 'FOO'. Try CONFIG HELP."),
            ),
            (&["HELLO"], err(NOAUTH_HELLO_ERROR)),
            (&["HELLO", "3"], err(NOAUTH_HELLO_ERROR)),
            (&["HELLO", "2", "SETNAME", "x"], err(NOAUTH_HELLO_ERROR)),
            (&["HELLO", "4"], err("NOPROTO unsupported protocol version")),
            (
                &["HELLO", "x"],
                err("ERR Protocol version is not an integer or out of range"),
            ),
            (
                &["HELLO", "3", "AUTH", "default"],
                err("ERR Syntax error in HELLO option 'AUTH'"),
            ),
            (
                &["HELLO", "2", "AUTH", "default", "wrong"],
                err(WRONGPASS_ERROR),
            ),
            (
                &["HELLO", "3", "AUTH", "bob", "secret"],
                err(WRONGPASS_ERROR),
            ),
            (
                &["AUTH"],
                err("ERR wrong number of arguments for 'auth' command"),
            ),
            (&["AUTH", "a", "b", "c"], err("ERR syntax error")),
            (&["AUTH", "wrong"], err(WRONGPASS_ERROR)),
            (&["AUTH", ""], err(WRONGPASS_ERROR)),
            (&["AUTH", "bob", "secret"], err(WRONGPASS_ERROR)),
            (&["AUTH", "Default", "secret"], err(WRONGPASS_ERROR)),
            (&["AUTH", "default", "wrong"], err(WRONGPASS_ERROR)),
            (&["PING"], err(NOAUTH_ERROR)),
            (&["AUTH", "secret"], Err(Reply::ok())),
            (&["PING"], Ok(args(&["PING"]))),
            // A failed AUTH does not undo the earlier success.
            (&["AUTH", "wrong"], err(WRONGPASS_ERROR)),
            (&["GET", "k"], Ok(args(&["GET", "k"]))),
            (&["HELLO", "3"], Ok(args(&["HELLO", "3"]))),
        ];
        for (words, want) in cases {
            assert_eq!(&gate(&mut a, words), want, "for {words:?}");
        }
        // Options act in order: the first AUTH authenticates, the second
        // fails, and the connection stays authenticated.
        let mut a = Auth::new(Some("secret"));
        let hello = [
            "HELLO", "3", "auth", "default", "secret", "auth", "default", "wrong",
        ];
        assert_eq!(gate(&mut a, &hello), err(WRONGPASS_ERROR));
        assert_eq!(gate(&mut a, &["PING"]), Ok(args(&["PING"])));
    }

    #[test]
    fn hello_auth_authenticates() {
        let hello = ["HELLO", "3", "AUTH", "default", "secret", "SETNAME", "foo"];
        let mut a = Auth::new(Some("secret"));
        assert_eq!(gate(&mut a, &hello), Ok(args(&hello)));
        assert_eq!(gate(&mut a, &["GET", "k"]), Ok(args(&["GET", "k"])));

        let hello = ["hello", "2", "auth", "default", "secret"];
        let mut a = Auth::new(Some("secret"));
        assert_eq!(gate(&mut a, &hello), Ok(args(&hello)));
    }

    /// As redis-server 7.0.15 does with `--requirepass secret`: HELLO's
    /// options act in order, so a name set before HELLO fails stays set,
    /// even when the failure is NOAUTH.
    #[test]
    fn hello_sets_the_name_before_refusing() {
        let mut a = Auth::new(Some("secret"));
        let mut c = client();
        let request = args(&["HELLO", "2", "SETNAME", "early"]);
        let Ok(Command::Hello(hello)) = command::parse(&request, Dialect::Redis) else {
            panic!("HELLO did not parse");
        };
        assert_eq!(
            connection::hello(hello, &mut c, &mut a, &Facts),
            Reply::error(NOAUTH_HELLO_ERROR)
        );
        assert_eq!(c.name.as_deref(), Some(&b"early"[..]));
        assert!(!a.authenticated);
    }

    #[test]
    fn quit_runs_before_auth() {
        let mut a = Auth::new(Some("secret"));
        let mut c = client();
        assert_eq!(
            a.gate(&args(&["QUIT"]), Dialect::Redis, &mut c, &Facts),
            Gate::Reply(Reply::ok())
        );
        assert!(c.closing);
    }

    /// Checked against redis-server 7.0.15 without a password.
    #[test]
    fn without_requirepass_as_redis_7() {
        let mut a = Auth::new(None);
        assert_eq!(gate(&mut a, &["PING"]), Ok(args(&["PING"])));
        assert_eq!(
            gate(&mut a, &["AUTH", "x"]),
            err(AUTH_WITHOUT_PASSWORD_ERROR)
        );
        assert_eq!(gate(&mut a, &["AUTH", "default", "x"]), Err(Reply::ok()));
        assert_eq!(gate(&mut a, &["AUTH", "bob", "x"]), err(WRONGPASS_ERROR));
        assert_eq!(
            gate(&mut a, &["HELLO", "2", "AUTH", "default", "x"]),
            Ok(args(&["HELLO", "2", "AUTH", "default", "x"]))
        );
        assert_eq!(
            gate(&mut a, &["HELLO", "2", "AUTH", "bob", "x"]),
            err(WRONGPASS_ERROR)
        );
        assert_eq!(
            gate(&mut a, &["HELLO", "2", "FOO"]),
            err("ERR Syntax error in HELLO option 'FOO'")
        );
        assert_eq!(
            gate(&mut a, &["HELLO", "2", "SETNAME"]),
            err("ERR Syntax error in HELLO option 'SETNAME'")
        );
        // The name is checked where it stands, before later options.
        assert_eq!(
            gate(&mut a, &["HELLO", "3", "SETNAME", "a b", "FOO"]),
            err(connection::BAD_CLIENT_NAME)
        );
        assert_eq!(
            gate(
                &mut a,
                &["HELLO", "3", "AUTH", "default", "x", "SETNAME", "a b"]
            ),
            err(connection::BAD_CLIENT_NAME)
        );
    }

    #[test]
    fn settings_debug_hides_the_password() {
        let settings = Settings {
            requirepass: Some("hunter2".into()),
            ..Settings::default()
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
