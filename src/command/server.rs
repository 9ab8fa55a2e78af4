//! Server introspection commands: COMMAND, CONFIG, INFO and TIME — enough
//! of each for redis-cli, redis-benchmark and client libraries to start
//! cleanly and to parse what they ask for — and WAIT's arguments
//! ([`WaitRequest`]; the node answers it, see `session::Backend`).
//!
//! INFO is laid out as Redis 7 lays it out (sections, order, separators,
//! field names clients parse), from a [`NodeInfo`] the node gathers and a
//! key count the session fetches; fields of our own start with `kvstore_`.
//! Nothing here does I/O beyond reading `/proc` once for the `os` field.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::connection::{REDIS_VERSION, ServerFacts};
use super::op::Outcome;
use super::{Command, CommandError, parse_i64};
use crate::config::Config;
use crate::resp::reply::Reply;

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

/// `DEBUG DIGEST` is the one DEBUG subcommand we have: the others would let
/// a client crash or stall a node on purpose.
pub fn parse_debug(args: &[Bytes]) -> Result<Command, CommandError> {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    match (sub.as_str(), args.len()) {
        ("digest", 2) => Ok(Command::DebugDigest),
        _ => Err(CommandError::Other(format!(
            "ERR DEBUG {} is not supported (only DEBUG DIGEST)",
            sub.to_ascii_uppercase()
        ))),
    }
}

/// `FUNCTION FLUSH [ASYNC|SYNC]`: there are no functions (scripting is not
/// supported), so there is nothing to flush and the answer is `+OK`, which
/// lets test suites and tools that clean up with it run. Every other
/// FUNCTION subcommand gets the unsupported-command error.
pub fn parse_function(args: &[Bytes]) -> Result<super::connection::SessionCommand, CommandError> {
    let sub = super::option_name(&args[1]);
    match (sub.as_str(), args.get(2..).unwrap_or_default()) {
        ("flush", []) => Ok(super::connection::SessionCommand::Fixed("OK")),
        ("flush", [mode]) if matches!(super::option_name(mode).as_str(), "async" | "sync") => {
            Ok(super::connection::SessionCommand::Fixed("OK"))
        }
        ("flush", [_]) => Err(CommandError::Other(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option".into(),
        )),
        ("flush", _) => Err(CommandError::Arity("function|flush".into())),
        _ => Err(super::unknown(args)),
    }
}

/// Redis's reply to WAIT on a replica (what a participant is to its clients).
pub const WAIT_ON_REPLICA_ERROR: &str = "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.";

/// `WAIT numreplicas timeout`, as parsed: its arguments are only checked
/// ([`WaitRequest::check`]) by a node that accepts WAIT, because Redis
/// refuses WAIT on a replica before it looks at them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitRequest {
    numreplicas: Bytes,
    timeout: Bytes,
    /// False inside MULTI: Redis answers WAIT at EXEC at once (the count
    /// it has then), without blocking.
    may_block: bool,
}

/// A WAIT whose arguments are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// Answer as soon as at least this many replicas hold the client's
    /// writes (0 or less: at once).
    pub numreplicas: i64,
    /// How long to wait for them at most; `None`: until they do (WAIT's
    /// timeout 0). `Some(ZERO)` answers at once.
    pub timeout: Option<Duration>,
}

/// WAIT's arguments (the arity is checked by the command table).
pub fn parse_wait(args: &[Bytes]) -> WaitRequest {
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    WaitRequest {
        numreplicas: arg(1),
        timeout: arg(2),
        may_block: true,
    }
}

impl WaitRequest {
    /// The same WAIT queued inside MULTI: it will not block.
    pub fn queued(self) -> WaitRequest {
        WaitRequest {
            may_block: false,
            ..self
        }
    }

    /// Checks the arguments in Redis 7.0's order and with its error texts.
    pub fn check(&self) -> Result<Wait, CommandError> {
        let numreplicas = parse_i64(&self.numreplicas)?;
        let timeout = parse_i64(&self.timeout).map_err(|_| {
            CommandError::Other("ERR timeout is not an integer or out of range".into())
        })?;
        let timeout = u64::try_from(timeout)
            .map_err(|_| CommandError::Other("ERR timeout is negative".into()))?;
        let timeout = match (self.may_block, timeout) {
            (false, _) => Some(Duration::ZERO),
            (true, 0) => None,
            (true, ms) => Some(Duration::from_millis(ms)),
        };
        Ok(Wait {
            numreplicas,
            timeout,
        })
    }
}

/// `COMMAND [COUNT|INFO ...]`; DOCS is refused (see below).
pub fn command_command(args: &[Bytes]) -> Reply {
    let sub = args
        .first()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase());
    match sub.as_deref() {
        None => Reply::Map(Vec::new()),
        Some("count") => Reply::Integer(i64::try_from(super::TABLE.len()).unwrap_or(0)),
        Some("info") => Reply::Array(args.iter().skip(1).map(|_| Reply::NilArray).collect()),
        // DOCS included: we keep no per-command docs, and redis-cli 7 falls
        // back to its built-in help (argument hints as you type) only when
        // COMMAND DOCS is refused; an empty reply would leave it none.
        Some(_) => Reply::error(format!(
            "ERR unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(args.first().map_or(&b""[..], |b| b))
        )),
    }
}

/// `CONFIG GET pattern [pattern ...]` (glob patterns); other subcommands
/// are refused because configuration comes from the file.
pub fn config_command(args: &[Bytes], facts: &dyn ServerFacts) -> Reply {
    let sub = args
        .first()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    match sub.as_str() {
        "get" if args.len() >= 2 => {
            let mut values = facts.config_values();
            values.extend(facts.runtime_config().values());
            let mut out = Vec::new();
            for (name, value) in &values {
                if args[1..].iter().any(|p| glob_match(p, name.as_bytes())) {
                    out.push((bulk(name), bulk(value)));
                }
            }
            Reply::Map(out)
        }
        "get" => Reply::error("ERR wrong number of arguments for 'config|get' command"),
        "set" if args.len() >= 3 && args.len() % 2 == 1 => match facts
            .runtime_config()
            .set(&args[1..], &facts.config_values())
        {
            Ok(()) => Reply::ok(),
            Err(e) => Reply::Error(e),
        },
        "set" => Reply::error("ERR wrong number of arguments for 'config|set' command"),
        "resetstat" | "rewrite" => Reply::error(format!(
            "ERR CONFIG {} is not supported: configuration comes from the config file",
            sub.to_ascii_uppercase()
        )),
        _ => Reply::error(format!(
            "ERR unknown subcommand '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(args.first().map_or(&b""[..], |b| b))
        )),
    }
}

/// How CONFIG SET checks a parameter's value.
#[derive(Debug, Clone, Copy)]
enum Knob {
    /// An integer.
    Int,
    /// `yes` or `no`.
    Bool,
    /// Anything.
    Text,
}

/// Parameters CONFIG SET accepts and CONFIG GET reports back, with their
/// Redis 7.0 defaults. None changes what this server does: they tune
/// Redis's memory encodings, eviction, lazy freeing, snapshots and
/// diagnostics, which have no counterpart here (every write is already
/// durable, nothing is evicted). Test suites and clients set them as a
/// matter of course, so they are taken, not refused. What the config file
/// fixes (`appendfsync`, `maxclients`, `timeout`, limits, the port) stays
/// fixed: CONFIG SET of it is refused, as Redis refuses an immutable one.
const KNOBS: &[(&str, Knob, &str)] = &[
    ("hash-max-listpack-entries", Knob::Int, "128"),
    ("hash-max-listpack-value", Knob::Int, "64"),
    ("hash-max-ziplist-entries", Knob::Int, "128"),
    ("hash-max-ziplist-value", Knob::Int, "64"),
    ("set-max-intset-entries", Knob::Int, "512"),
    ("list-max-listpack-size", Knob::Int, "-2"),
    ("list-max-ziplist-size", Knob::Int, "-2"),
    ("list-compress-depth", Knob::Int, "0"),
    ("zset-max-listpack-entries", Knob::Int, "128"),
    ("zset-max-listpack-value", Knob::Int, "64"),
    ("zset-max-ziplist-entries", Knob::Int, "128"),
    ("zset-max-ziplist-value", Knob::Int, "64"),
    ("maxmemory", Knob::Text, "0"),
    ("maxmemory-policy", Knob::Text, "noeviction"),
    ("maxmemory-samples", Knob::Int, "5"),
    ("lazyfree-lazy-eviction", Knob::Bool, "no"),
    ("lazyfree-lazy-expire", Knob::Bool, "no"),
    ("lazyfree-lazy-server-del", Knob::Bool, "no"),
    ("lazyfree-lazy-user-del", Knob::Bool, "no"),
    ("lazyfree-lazy-user-flush", Knob::Bool, "no"),
    ("latency-tracking", Knob::Bool, "yes"),
    ("latency-monitor-threshold", Knob::Int, "0"),
    ("slowlog-log-slower-than", Knob::Int, "10000"),
    ("slowlog-max-len", Knob::Int, "128"),
    ("notify-keyspace-events", Knob::Text, ""),
    ("hz", Knob::Int, "10"),
    ("dynamic-hz", Knob::Bool, "yes"),
    ("activedefrag", Knob::Bool, "no"),
    ("lua-time-limit", Knob::Int, "5000"),
    ("busy-reply-threshold", Knob::Int, "5000"),
    ("save", Knob::Text, ""),
];

/// What the config file fixes: CONFIG SET refuses to change them.
const FIXED: &[&str] = &[
    "appendonly",
    "appendfsync",
    "databases",
    "maxclients",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "timeout",
    "port",
];

/// The values CONFIG SET gave this node's tuning knobs (per node, not
/// replicated, not kept across restarts: as Redis without CONFIG REWRITE).
#[derive(Debug, Default)]
pub struct RuntimeConfig {
    set: std::sync::Mutex<std::collections::BTreeMap<&'static str, String>>,
}

impl RuntimeConfig {
    /// A process-wide instance, for stand-ins of a node (tests, fuzzers).
    pub fn process_wide() -> &'static RuntimeConfig {
        static RUNTIME: std::sync::OnceLock<RuntimeConfig> = std::sync::OnceLock::new();
        RUNTIME.get_or_init(RuntimeConfig::default)
    }

    /// Every knob with its current value.
    pub fn values(&self) -> Vec<(&'static str, String)> {
        let set = self.set.lock().unwrap_or_else(|e| e.into_inner());
        KNOBS
            .iter()
            .filter(|(name, _, _)| *name != "save")
            .map(|(name, _, default)| {
                let value = set
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| (*default).to_string());
                (*name, value)
            })
            .collect()
    }

    /// CONFIG SET name value \[name value ...\]: all or nothing, with Redis
    /// 7.0's error texts. A parameter the config file fixes (`fixed`, with
    /// its value) may be "set" to the value it has (`appendonly no`).
    pub fn set(&self, pairs: &[Bytes], fixed: &[(&'static str, String)]) -> Result<(), String> {
        let failed = |name: &str, why: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
        };
        let mut staged: Vec<(&'static str, String)> = Vec::new();
        for pair in pairs.chunks(2) {
            let [name, value] = pair else {
                return Err("ERR wrong number of arguments for 'config|set' command".into());
            };
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            let value = String::from_utf8_lossy(value).into_owned();
            if staged.iter().any(|(n, _)| *n == name) {
                return Err(failed(&name, "duplicate parameter"));
            }
            let Some((known, knob, _)) = KNOBS.iter().find(|(n, _, _)| *n == name) else {
                if fixed
                    .iter()
                    .any(|(n, v)| *n == name && v.eq_ignore_ascii_case(&value))
                {
                    continue;
                }
                if FIXED.contains(&name.as_str()) {
                    return Err(failed(
                        &name,
                        "can't set immutable config (this server takes it from its config file)",
                    ));
                }
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            };
            match knob {
                Knob::Int if parse_i64(value.as_bytes()).is_err() => {
                    return Err(failed(&name, "argument couldn't be parsed into an integer"));
                }
                Knob::Bool if !matches!(value.to_ascii_lowercase().as_str(), "yes" | "no") => {
                    return Err(failed(&name, "argument must be 'yes' or 'no'"));
                }
                Knob::Bool => staged.push((known, value.to_ascii_lowercase())),
                _ => staged.push((known, value)),
            }
        }
        let mut set = self.set.lock().unwrap_or_else(|e| e.into_inner());
        set.extend(staged);
        Ok(())
    }
}

/// The INFO sections we produce, in Redis 7's order. All of them are in
/// Redis's default set (Redis's `memory`, `cpu`, `modules` and
/// `errorstats` have no counterpart here and are left out).
pub const INFO_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "persistence",
    "stats",
    "replication",
    "cluster",
    "keyspace",
];

/// Which sections an `INFO [section ...]` request asks for, chosen as
/// Redis 7 chooses them: none named means `default`; `default`, `all` and
/// `everything` stand for every section we have; other names are
/// compared lowercased (up to a NUL byte, as Redis compares C strings),
/// and a name we do not know selects nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoRequest {
    every: bool,
    names: Vec<String>,
}

impl InfoRequest {
    /// The request for INFO's arguments (the command name excluded).
    pub fn parse(args: &[Bytes]) -> InfoRequest {
        let names: Vec<String> = args.iter().map(|a| super::option_name(a)).collect();
        let every = names.is_empty()
            || names
                .iter()
                .any(|n| matches!(n.as_str(), "default" | "all" | "everything"));
        InfoRequest { every, names }
    }

    /// Whether `section` (lowercase, one of [`INFO_SECTIONS`]) is asked for.
    pub fn wants(&self, section: &str) -> bool {
        self.every || self.names.iter().any(|n| n == section)
    }
}

/// Counters a node keeps about its clients, as read for one INFO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Since the node started.
    pub uptime: Duration,
    /// Clients connected now.
    pub connected: usize,
    /// Clients blocked in a command (WAIT) now.
    pub blocked: usize,
    /// Connections accepted since start (refused ones not counted).
    pub connections_received: u64,
    /// Connections refused because `maxclients` were connected.
    pub rejected: u64,
    /// Requests answered since start.
    pub commands: u64,
    /// Requests per second over the last couple of seconds.
    pub ops_per_sec: u64,
    /// GET/MGET lookups that found their key.
    pub keyspace_hits: u64,
    /// GET/MGET lookups that did not.
    pub keyspace_misses: u64,
}

/// What INFO says about a node, gathered by the node ([`NodeInfo::new`]
/// for what every node has, then the role's own fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// `coordinator` or `participant` (INFO's `kvstore_role`).
    pub kind: &'static str,
    /// The port this node serves on.
    pub tcp_port: u16,
    /// The config file's path, as given at start (empty if none).
    pub config_file: String,
    /// The config's `maxclients`.
    pub maxclients: usize,
    /// The config's fsync policy (`always`, `everysec`, `no`).
    pub fsync: &'static str,
    /// The node's data directory.
    pub data_dir: String,
    /// Client counters.
    pub counters: Counters,
    /// Keys removed because they expired.
    pub expired_keys: u64,
    /// The `replication` section's fields, in order: the role, the
    /// membership and the replication positions.
    pub replication: Vec<(String, String)>,
}

impl NodeInfo {
    /// What every node reports, from its config and counters; the role's
    /// own fields (`replication`) are left for the node to fill in.
    pub fn new(kind: &'static str, config: &Config, counters: Counters) -> NodeInfo {
        NodeInfo {
            kind,
            tcp_port: config.listen_addr().port(),
            config_file: config
                .config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            maxclients: config.maxclients,
            fsync: config.fsync.name(),
            data_dir: config.data_dir.display().to_string(),
            counters,
            // Counted by the coordinator's expirer, which sets it after.
            expired_keys: 0,
            replication: Vec::new(),
        }
    }
}

/// INFO's `keyspace` line for database 0, from one replica's
/// [`ReadOp::KeyspaceStats`](crate::command::op::ReadOp::KeyspaceStats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keyspace {
    /// Number of keys.
    pub keys: u64,
    /// Number of keys with a deadline (live ones: an expired key that is
    /// not yet deleted is not counted, as it is not in `keys`).
    pub expires: u64,
    /// Their average time to live, in milliseconds (Redis estimates it
    /// from samples; this is the exact mean at the moment of the read).
    pub avg_ttl: u64,
}

impl Keyspace {
    /// The keyspace a `KeyspaceStats` read answered, or why the answer is
    /// not one.
    pub fn from_outcome(outcome: Outcome) -> Result<Keyspace, String> {
        use Outcome::{Array, Integer};
        if let Array(items) = &outcome
            && let [Integer(keys), Integer(expires), Integer(avg_ttl)] = items.as_slice()
            && let (Ok(keys), Ok(expires), Ok(avg_ttl)) = (
                u64::try_from(*keys),
                u64::try_from(*expires),
                u64::try_from(*avg_ttl),
            )
        {
            return Ok(Keyspace {
                keys,
                expires,
                avg_ttl,
            });
        }
        Err(format!("keyspace statistics answered {outcome:?}"))
    }
}

/// `uname`'s system name, release and machine, as Redis's `os` field.
fn os_name() -> &'static str {
    static OS: OnceLock<String> = OnceLock::new();
    OS.get_or_init(|| {
        let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
        match (
            read("/proc/sys/kernel/ostype"),
            read("/proc/sys/kernel/osrelease"),
        ) {
            (Some(name), Some(release)) => {
                format!("{name} {release} {}", std::env::consts::ARCH)
            }
            _ => format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        }
    })
}

/// The running executable's path, as Redis's `executable` field.
fn executable() -> &'static str {
    static EXE: OnceLock<String> = OnceLock::new();
    EXE.get_or_init(|| {
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    })
}

/// INFO's text for `request`: the sections asked for, in Redis's order,
/// each `# Name\r\n` then `field:value\r\n` lines, separated by an empty
/// line, exactly as Redis 7 lays them out. `keyspace` is `None` when the
/// key count was not asked for or could not be had (no `db0` line then,
/// as Redis shows an empty database).
pub fn info_text(request: &InfoRequest, node: &NodeInfo, keyspace: Option<Keyspace>) -> String {
    let c = &node.counters;
    let mut out = String::new();
    for &section in INFO_SECTIONS {
        if !request.wants(section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let mut title = section.to_owned();
        title[..1].make_ascii_uppercase();
        let _ = write!(out, "# {title}\r\n");
        let mut field = |name: &str, value: &dyn std::fmt::Display| {
            let _ = write!(out, "{name}:{value}\r\n");
        };
        match section {
            "server" => {
                let secs = c.uptime.as_secs();
                field("redis_version", &REDIS_VERSION);
                field("redis_mode", &"standalone");
                field("os", &os_name());
                field("arch_bits", &usize::BITS);
                field("process_id", &std::process::id());
                field("tcp_port", &node.tcp_port);
                field("uptime_in_seconds", &secs);
                field("uptime_in_days", &(secs / 86_400));
                field("executable", &executable());
                field("config_file", &node.config_file);
                field("kvstore_role", &node.kind);
            }
            "clients" => {
                field("connected_clients", &c.connected);
                field("maxclients", &node.maxclients);
                field("blocked_clients", &c.blocked);
            }
            "persistence" => {
                field("loading", &0);
                // The journal (fjall) is always on; Redis's AOF is not.
                field("aof_enabled", &0);
                field("kvstore_fsync", &node.fsync);
                field("kvstore_data_dir", &node.data_dir);
            }
            "stats" => {
                field("total_connections_received", &c.connections_received);
                field("total_commands_processed", &c.commands);
                field("instantaneous_ops_per_sec", &c.ops_per_sec);
                field("rejected_connections", &c.rejected);
                field("expired_keys", &node.expired_keys);
                field("keyspace_hits", &c.keyspace_hits);
                field("keyspace_misses", &c.keyspace_misses);
            }
            "replication" => {
                for (name, value) in &node.replication {
                    field(name, value);
                }
            }
            "cluster" => field("cluster_enabled", &0),
            "keyspace" => {
                // Redis lists only databases that hold keys.
                if let Some(k) = keyspace.filter(|k| k.keys > 0) {
                    let line = format!(
                        "keys={},expires={},avg_ttl={}",
                        k.keys, k.expires, k.avg_ttl
                    );
                    field("db0", &line);
                }
            }
            _ => {}
        }
    }
    out
}

/// INFO's reply: [`info_text`] as a verbatim string (a bulk string in
/// RESP2), as Redis sends it.
pub fn info_reply(request: &InfoRequest, node: &NodeInfo, keyspace: Option<Keyspace>) -> Reply {
    Reply::Verbatim {
        format: *b"txt",
        text: Bytes::from(info_text(request, node, keyspace)),
    }
}

/// TIME's reply at `now`: seconds and microseconds since the Unix epoch,
/// as two bulk strings.
pub fn time_reply(now: SystemTime) -> Reply {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    Reply::Array(vec![
        bulk(&since.as_secs().to_string()),
        bulk(&since.subsec_micros().to_string()),
    ])
}

/// Redis-style glob matching (`*`, `?`, `[...]` without ranges' negation
/// subtleties beyond `^`), case-insensitive as CONFIG GET is.
pub fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    let lower = |b: u8| b.to_ascii_lowercase();
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some(p);
                mark = n;
                p += 1;
            }
            Some(b'?') => {
                p += 1;
                n += 1;
            }
            Some(&c) if lower(c) == lower(name[n]) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some(s) => {
                    p = s + 1;
                    mark += 1;
                    n = mark;
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(words: &[&str]) -> InfoRequest {
        let args: Vec<Bytes> = words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        InfoRequest::parse(&args)
    }

    fn node() -> NodeInfo {
        NodeInfo {
            kind: "coordinator",
            tcp_port: 6379,
            maxclients: 10,
            fsync: "always",
            counters: Counters {
                connected: 2,
                commands: 7,
                ..Counters::default()
            },
            replication: vec![("role".into(), "master".into())],
            ..NodeInfo::default()
        }
    }

    /// The section headers of an INFO text, in order.
    fn headers(text: &str) -> Vec<&str> {
        text.split("\r\n")
            .filter_map(|l| l.strip_prefix("# "))
            .collect()
    }

    #[test]
    fn info_sections_are_chosen_as_redis_7_chooses_them() {
        let every = [
            "Server",
            "Clients",
            "Persistence",
            "Stats",
            "Replication",
            "Cluster",
            "Keyspace",
        ];
        for words in [
            &[][..],
            &["default"],
            &["all"],
            &["EVERYTHING"],
            &["server", "all"],
        ] {
            let text = info_text(&request(words), &node(), None);
            assert_eq!(headers(&text), every, "INFO {words:?}");
        }
        // Redis's order, whatever the request's; names are case-blind and
        // end at a NUL byte; unknown names select nothing.
        let text = info_text(&request(&["keyspace", "foo", "SERVER\0x"]), &node(), None);
        assert_eq!(headers(&text), ["Server", "Keyspace"]);
        assert_eq!(info_text(&request(&["foo"]), &node(), None), "");
        assert_eq!(info_text(&request(&["memory"]), &node(), None), "");
    }

    /// Byte for byte as redis-server 7.0.15 lays them out: sections
    /// separated by one empty line, no empty line at the end, a database
    /// with no keys not listed.
    #[test]
    fn info_layout_matches_redis() {
        let ks = |keys| {
            Some(Keyspace {
                keys,
                ..Keyspace::default()
            })
        };
        assert_eq!(
            info_text(&request(&["keyspace"]), &node(), None),
            "# Keyspace\r\n"
        );
        assert_eq!(
            info_text(&request(&["keyspace"]), &node(), ks(0)),
            "# Keyspace\r\n"
        );
        assert_eq!(
            info_text(&request(&["cluster", "keyspace"]), &node(), ks(3)),
            "# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n"
        );
        assert_eq!(
            info_text(&request(&["clients", "replication"]), &node(), None),
            "# Clients\r\nconnected_clients:2\r\nmaxclients:10\r\nblocked_clients:0\r\n\r\n# Replication\r\nrole:master\r\n"
        );
        let server = info_text(&request(&["server"]), &node(), None);
        for field in [
            "redis_version:7.0.15\r\n",
            "redis_mode:standalone\r\n",
            "arch_bits:64\r\n",
            "tcp_port:6379\r\n",
            "uptime_in_seconds:0\r\n",
            "uptime_in_days:0\r\n",
            "kvstore_role:coordinator\r\n",
            &format!("process_id:{}\r\n", std::process::id()),
        ] {
            assert!(server.contains(field), "no {field:?} in {server:?}");
        }
        let stats = info_text(&request(&["stats"]), &node(), None);
        assert!(stats.contains("total_commands_processed:7\r\n"), "{stats}");
        assert!(stats.contains("expired_keys:0\r\n"), "{stats}");
    }

    /// Checked against redis-server 7.0.15.
    #[test]
    fn wait_arguments_are_checked_as_redis_checks_them() {
        let wait = |n: &str, t: &str| {
            let args: Vec<Bytes> = ["WAIT", n, t]
                .iter()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect();
            parse_wait(&args)
        };
        let ok = |numreplicas, timeout| {
            Ok(Wait {
                numreplicas,
                timeout,
            })
        };
        let err = |text: &str| Err(CommandError::Other(text.into()));
        let not_integer = "ERR timeout is not an integer or out of range";
        assert_eq!(wait("2", "0").check(), ok(2, None));
        assert_eq!(
            wait("3", "150").check(),
            ok(3, Some(Duration::from_millis(150)))
        );
        assert_eq!(wait("-5", "0").check(), ok(-5, None));
        assert_eq!(
            wait("1", "9223372036854775807").check(),
            ok(1, Some(Duration::from_millis(i64::MAX as u64)))
        );
        assert_eq!(wait("a", "0").check(), Err(CommandError::NotInteger));
        assert_eq!(wait("a", "-1").check(), Err(CommandError::NotInteger));
        assert_eq!(wait("+1", "0").check(), Err(CommandError::NotInteger));
        assert_eq!(
            wait("99999999999999999999", "0").check(),
            Err(CommandError::NotInteger)
        );
        assert_eq!(wait("0", "a").check(), err(not_integer));
        assert_eq!(wait("0", "1.5").check(), err(not_integer));
        assert_eq!(wait("0", "-0").check(), err(not_integer));
        assert_eq!(wait("0", "+5").check(), err(not_integer));
        assert_eq!(wait("0", "-1").check(), err("ERR timeout is negative"));
        assert_eq!(
            wait("0", "-9223372036854775808").check(),
            err("ERR timeout is negative")
        );
        // Queued in MULTI: never blocks, but the arguments are still checked.
        assert_eq!(wait("3", "0").queued().check(), ok(3, Some(Duration::ZERO)));
        assert_eq!(
            wait("0", "-1").queued().check(),
            err("ERR timeout is negative")
        );
    }

    #[test]
    fn time_is_seconds_and_microseconds() {
        let at = UNIX_EPOCH + Duration::new(1_700_000_000, 42_999);
        assert_eq!(
            time_reply(at),
            Reply::Array(vec![bulk("1700000000"), bulk("42")])
        );
    }

    #[test]
    fn glob() {
        assert!(glob_match(b"*", b"save"));
        assert!(glob_match(b"SAVE", b"save"));
        assert!(glob_match(b"app*", b"appendonly"));
        assert!(glob_match(b"a?pendonly", b"appendonly"));
        assert!(!glob_match(b"x*", b"save"));
    }
}
