//! The node configuration: the CloudComputingLabs Lab3 file format plus our
//! extension keys.
//!
//! This module owns turning one config file into a validated [`Config`]: the
//! Lab3 grammar (`!` comment lines, `name value` parameter lines, `mode`
//! first, one `coordinator_info`, `participant_info` per participant), our
//! optional extension keys and their defaults, the `KVSTORE_DIALECT`
//! override, and error messages that name the file and line, so that a bad
//! file is refused at start with something a person can act on.
//!
//! It must never do I/O beyond reading that one file in [`Config::load`]: no
//! networking, no creating the data directory, no probing ports. Those belong
//! to the node at start-up, and keeping this module pure is what lets
//! [`Config::parse`] be tested exhaustively without a filesystem or network.
//!
//! A Raft-mode file ([`Config::parse_raft`], for `kvstoreraftsystem`) is the
//! Lab's other grammar: no `mode` line, one `follower_info IP:PORT` line per
//! node, the node's own address first and its peers after it, in any order
//! (each node's file orders them differently). Node ids derive from the
//! addresses alone ([`node_id`]), so every file agrees on them. The keys of
//! the 2PC roles (`mode`, `coordinator_info`, `participant_info`,
//! `heartbeat_interval_ms`, `lease_ms`) are refused there, and `follower_info`
//! and the `raft_*` keys in a 2PC file; every other key below means the same
//! in both, and the two Raft timing keys are:
//!
//! | key | default |
//! |-----|---------|
//! | `follower_info IP:PORT` | required; own address first, then one line per peer |
//! | `raft_heartbeat_ms N` | 150 (the leader's heartbeat to each follower) |
//! | `raft_election_timeout_ms N` | 1000 (a follower waits a random time between N and 2N without a heartbeat before it stands for election) |
//!
//! Keys, each at most once except `participant_info` (and `follower_info`):
//!
//! | key | default |
//! |-----|---------|
//! | `mode coordinator\|participant` | required, first parameter line |
//! | `coordinator_info IP:PORT` | required |
//! | `participant_info IP:PORT` | required; one per participant in a coordinator's file, exactly one (its own) in a participant's |
//! | `data_dir PATH` | `kvstore-data/{mode}-{ip}-{port}` (own address; `:` in IPv6 becomes `_`; mode `raft` for a Raft node) |
//! | `dialect redis\|lab` | `redis`; the `KVSTORE_DIALECT` variable wins |
//! | `fsync always\|everysec\|no` | `always` |
//! | `heartbeat_interval_ms N` | 100 |
//! | `lease_ms N` | 2000 |
//! | `rpc_timeout_ms N` | 8000 |
//! | `log_retention N` | 1000000 (participant: commit log entries kept; coordinator: newest indices whose decisions are kept) |
//! | `proto_max_bulk_len N[k\|kb\|m\|mb\|g\|gb]` | 512mb |
//! | `maxclients N` | 10000 |
//! | `worker_threads N` | 0 (one per CPU core) |
//! | `timeout SECONDS` | 0 (never close idle clients) |
//! | `client_query_buffer_limit N[k\|kb\|m\|mb\|g\|gb]` | 1gb |
//! | `requirepass PASSWORD` | none |
//! | `cluster_secret SECRET` | none (the same on every node when set) |
//! | `expire_interval_ms N` | 100 (coordinator: how often the background expirer runs) |

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::IntErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable whose value, when set, overrides the `dialect`
/// key, so that the Lab3 tester (which writes its own config files) can run
/// against us unmodified.
pub const DIALECT_ENV: &str = "KVSTORE_DIALECT";

/// Default `heartbeat_interval_ms`.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);
/// Default `lease_ms`.
pub const DEFAULT_LEASE: Duration = Duration::from_millis(2000);
/// Default `rpc_timeout_ms`.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_millis(8000);
/// Default `expire_interval_ms`: ten rounds a second, as Redis's `hz 10`.
pub const DEFAULT_EXPIRE_INTERVAL: Duration = Duration::from_millis(100);
/// Default `log_retention`, in committed log entries.
pub const DEFAULT_LOG_RETENTION: u64 = 1_000_000;
/// Default `proto_max_bulk_len`: 512 MB, as in Redis and the Lab3 handout.
pub const DEFAULT_PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;
/// Default `maxclients`, as in Redis.
pub const DEFAULT_MAXCLIENTS: usize = 10_000;
/// Default `client_query_buffer_limit`: 1 GB, as Redis's
/// `client-query-buffer-limit`.
pub const DEFAULT_CLIENT_QUERY_BUFFER_LIMIT: u64 = 1024 * 1024 * 1024;
/// Largest `timeout`, in seconds: Redis's bound (`INT_MAX`).
const MAX_TIMEOUT_SECS: u64 = i32::MAX as u64;
/// Directory, relative to the working directory, under which default data
/// directories are made.
pub const DEFAULT_DATA_ROOT: &str = "kvstore-data";

/// Default `raft_heartbeat_ms`: with the Lab tester's 100 ms delay a
/// heartbeat still lands well inside the election timeout.
pub const DEFAULT_RAFT_HEARTBEAT: Duration = Duration::from_millis(150);
/// Default `raft_election_timeout_ms` (the lower end; the upper is twice
/// it): several heartbeats, each delayed 100 ms or lost 10% of the time,
/// fit in it, so a live leader is not deposed by an unlucky run of losses.
pub const DEFAULT_RAFT_ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

/// Upper bound for the millisecond keys. Other modules add these durations to
/// `Instant`s, which panics on overflow; no sane deployment wants a lease or
/// timeout longer than a day, so a larger value is far more likely a typo.
const MAX_MILLIS: u64 = 24 * 60 * 60 * 1000;

/// Which role this process plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Accepts clients, drives 2PC, owns no user data.
    Coordinator,
    /// Holds a full replica and votes in 2PC.
    Participant,
    /// One peer of a Raft group (`kvstoreraftsystem`): a full replica, and
    /// the leader's client front end when elected ([`RaftConfig`]).
    Raft,
}

impl Mode {
    /// The spelling used in config files and default data directory names.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Coordinator => "coordinator",
            Mode::Participant => "participant",
            Mode::Raft => "raft",
        }
    }
}

/// How replies are spelled on the wire to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Standard RESP2/RESP3 exactly as Redis 7 replies.
    Redis,
    /// The Lab3 simplified replies.
    Lab,
}

/// When writes are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every acknowledged write is fsynced (group-committed).
    Always,
    /// fsync about once a second.
    Everysec,
    /// Leave it to the operating system.
    No,
}

impl FsyncPolicy {
    /// The policy's name, as written in the config file (and as Redis
    /// names `appendfsync` values).
    pub fn name(self) -> &'static str {
        FSYNC_POLICIES
            .iter()
            .find(|(_, policy)| *policy == self)
            .map_or("always", |(name, _)| name)
    }
}

/// One node of a Raft group: its id and the address it listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftPeer {
    /// The node's Raft id, [`node_id`] of its address.
    pub id: u64,
    /// Where it listens, for clients and peers alike.
    pub addr: SocketAddr,
}

/// What a Raft-mode file adds to the common keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    /// This node (the first `follower_info`).
    pub me: RaftPeer,
    /// The other nodes, in file order.
    pub peers: Vec<RaftPeer>,
    /// How often the leader sends a heartbeat to each follower.
    pub heartbeat: Duration,
    /// The shortest wait without a heartbeat before a follower stands for
    /// election; the longest is [`RaftConfig::election_timeout_max`].
    pub election_timeout: Duration,
}

impl RaftConfig {
    /// The longest election timeout: twice the shortest, so that two
    /// followers rarely time out together and split the vote.
    pub fn election_timeout_max(&self) -> Duration {
        self.election_timeout * 2
    }

    /// Every node of the group, this one first.
    pub fn members(&self) -> impl Iterator<Item = RaftPeer> + '_ {
        std::iter::once(self.me).chain(self.peers.iter().copied())
    }
}

/// The Raft node id of the node at `addr`: the same on every node whatever
/// order its file lists the group in, since it depends on the address
/// alone. An IPv4 address packs into the low 48 bits (`ip << 16 | port`),
/// so ids read back as addresses; an IPv6 one is an FNV-1a hash of address
/// and port with the top bit set, so it never equals an IPv4 id (a clash
/// between two IPv6 addresses is refused when the file is read).
pub fn node_id(addr: SocketAddr) -> u64 {
    match addr {
        SocketAddr::V4(v4) => (u64::from(u32::from(*v4.ip())) << 16) | u64::from(v4.port()),
        SocketAddr::V6(v6) => {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for b in v6.ip().octets().iter().chain(&v6.port().to_be_bytes()) {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
            hash | (1 << 63)
        }
    }
}

/// A parsed and validated configuration.
// Debug is written by hand below so that logging a Config never prints the
// password.
#[derive(Clone)]
pub struct Config {
    /// The role of this node.
    pub mode: Mode,
    /// The coordinator's address (`coordinator_info`); in Raft mode the
    /// node's own address.
    pub coordinator: SocketAddr,
    /// Participant addresses (`participant_info`); one, its own, for a
    /// participant; none in Raft mode.
    pub participants: Vec<SocketAddr>,
    /// The Raft group and timing, in Raft mode only.
    pub raft: Option<RaftConfig>,
    /// Where fjall keeps this node's state.
    pub data_dir: PathBuf,
    /// Reply dialect for clients.
    pub dialect: Dialect,
    /// fsync policy.
    pub fsync: FsyncPolicy,
    /// How often the coordinator heartbeats each participant.
    pub heartbeat_interval: Duration,
    /// How long a participant's read lease lasts after a heartbeat.
    pub lease: Duration,
    /// How long a request to a participant may take before it is suspected.
    pub rpc_timeout: Duration,
    /// How many committed log entries a participant keeps for catch-up.
    pub log_retention: u64,
    /// Largest bulk string a client may send.
    pub proto_max_bulk_len: u64,
    /// Maximum simultaneous client connections.
    pub maxclients: usize,
    /// Async worker threads; 0 means one per CPU core. 1 runs every socket
    /// on one thread, which is fastest when several nodes share few cores.
    pub worker_threads: usize,
    /// Close a client connection after this long without traffic either
    /// way (`timeout`, in seconds); `None` (`timeout 0`) never does.
    pub idle_timeout: Option<Duration>,
    /// Most unparsed input buffered for one client, in bytes.
    pub client_query_buffer_limit: u64,
    /// Password clients must give with AUTH, if set.
    pub requirepass: Option<String>,
    /// Shared secret every node proves in the internal handshake, if set.
    pub cluster_secret: Option<String>,
    /// The file this config was read from ([`Config::load`]), as INFO
    /// reports it; `None` for a config parsed from text.
    pub config_file: Option<PathBuf>,
    /// How often the coordinator's background expirer looks for expired
    /// keys to delete.
    pub expire_interval: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("mode", &self.mode)
            .field("coordinator", &self.coordinator)
            .field("participants", &self.participants)
            .field("raft", &self.raft)
            .field("data_dir", &self.data_dir)
            .field("dialect", &self.dialect)
            .field("fsync", &self.fsync)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("lease", &self.lease)
            .field("rpc_timeout", &self.rpc_timeout)
            .field("log_retention", &self.log_retention)
            .field("proto_max_bulk_len", &self.proto_max_bulk_len)
            .field("maxclients", &self.maxclients)
            .field("worker_threads", &self.worker_threads)
            .field("idle_timeout", &self.idle_timeout)
            .field("client_query_buffer_limit", &self.client_query_buffer_limit)
            .field(
                "requirepass",
                &self.requirepass.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "cluster_secret",
                &self.cluster_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("config_file", &self.config_file)
            .field("expire_interval", &self.expire_interval)
            .finish()
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    // The io::Error is part of the message rather than a `source`, so that
    // printers that walk the source chain do not repeat it.
    #[error("{file}: cannot read the config file: {io}")]
    Read {
        /// The path as given.
        file: String,
        /// What the operating system said.
        io: std::io::Error,
    },
    /// One line is wrong.
    #[error("{file}:{line}: {reason}")]
    Line {
        /// The file name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong, in plain English.
        reason: String,
    },
    /// The file as a whole is wrong (a required line is missing), or the
    /// environment is.
    #[error("{file}: {reason}")]
    File {
        /// The file name.
        file: String,
        /// What is wrong, in plain English.
        reason: String,
    },
}

impl ConfigError {
    /// The 1-based line the error is about, if it is about one line.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Line { line, .. } => Some(*line),
            ConfigError::Read { .. } | ConfigError::File { .. } => None,
        }
    }
}

impl Config {
    /// Reads and validates the config file at `path`, honouring
    /// `KVSTORE_DIALECT` from the environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_as(path, Flavor::TwoPc)
    }

    /// Reads and validates the Raft-mode config file at `path`
    /// (`follower_info` lines), honouring `KVSTORE_DIALECT`.
    pub fn load_raft(path: &Path) -> Result<Config, ConfigError> {
        Config::load_as(path, Flavor::Raft)
    }

    fn load_as(path: &Path, flavor: Flavor) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|io| ConfigError::Read {
            file: origin.clone(),
            io,
        })?;
        // var_os rather than var: a value that is not UTF-8 must be refused
        // as a bad dialect, not silently treated as unset.
        let env_dialect = std::env::var_os(DIALECT_ENV).map(|v| v.to_string_lossy().into_owned());
        let mut config = Config::parse_as(&text, &origin, env_dialect.as_deref(), flavor)?;
        // Absolute, as Redis shows it; the path as given if that fails.
        config.config_file = Some(std::path::absolute(path).unwrap_or_else(|_| path.to_owned()));
        Ok(config)
    }

    /// Parses and validates config `text`. `origin` names the file in error
    /// messages; `env_dialect` is the value of `KVSTORE_DIALECT` if set, and
    /// wins over the file's `dialect` key.
    pub fn parse(
        text: &str,
        origin: &str,
        env_dialect: Option<&str>,
    ) -> Result<Config, ConfigError> {
        Config::parse_as(text, origin, env_dialect, Flavor::TwoPc)
    }

    /// Parses and validates a Raft-mode config `text` (see the module
    /// docs): `mode` is [`Mode::Raft`] and `raft` is set.
    pub fn parse_raft(
        text: &str,
        origin: &str,
        env_dialect: Option<&str>,
    ) -> Result<Config, ConfigError> {
        Config::parse_as(text, origin, env_dialect, Flavor::Raft)
    }

    fn parse_as(
        text: &str,
        origin: &str,
        env_dialect: Option<&str>,
        flavor: Flavor,
    ) -> Result<Config, ConfigError> {
        let mut parser = Parser::new(origin, flavor);
        // Editors on Windows may prepend a byte-order mark, which would
        // otherwise turn the first key into an unknown one.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.lines().enumerate() {
            // `lines` already drops "\r\n"; trimming also absorbs stray CRs,
            // trailing blanks (the Lab3 samples have some) and indentation.
            let line = raw.trim();
            if line.is_empty() || line.starts_with('!') {
                continue;
            }
            let (name, value) = match line.split_once(char::is_whitespace) {
                Some((name, rest)) => (name, rest.trim_start()),
                None => (line, ""),
            };
            parser.line(index + 1, name, value)?;
        }
        parser.finish(env_dialect)
    }

    /// The address this node listens on.
    ///
    /// A `Config` from [`Config::parse`] always has a participant address;
    /// one built by hand for a participant without any panics here.
    pub fn listen_addr(&self) -> SocketAddr {
        match self.mode {
            Mode::Coordinator | Mode::Raft => self.coordinator,
            Mode::Participant => self.participants[0],
        }
    }
}

/// Every key the file may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Mode,
    CoordinatorInfo,
    ParticipantInfo,
    DataDir,
    Dialect,
    Fsync,
    HeartbeatIntervalMs,
    LeaseMs,
    RpcTimeoutMs,
    LogRetention,
    ProtoMaxBulkLen,
    Maxclients,
    WorkerThreads,
    Timeout,
    ClientQueryBufferLimit,
    Requirepass,
    ClusterSecret,
    ExpireIntervalMs,
    FollowerInfo,
    RaftHeartbeatMs,
    RaftElectionTimeoutMs,
}

/// Which grammar a file is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// `kvstore2pcsystem`: `mode` first, `coordinator_info`, `participant_info`.
    TwoPc,
    /// `kvstoreraftsystem`: `follower_info` lines, own address first.
    Raft,
}

impl Key {
    const ALL: [Key; 21] = [
        Key::Mode,
        Key::CoordinatorInfo,
        Key::ParticipantInfo,
        Key::DataDir,
        Key::Dialect,
        Key::Fsync,
        Key::HeartbeatIntervalMs,
        Key::LeaseMs,
        Key::RpcTimeoutMs,
        Key::LogRetention,
        Key::ProtoMaxBulkLen,
        Key::Maxclients,
        Key::WorkerThreads,
        Key::Timeout,
        Key::ClientQueryBufferLimit,
        Key::Requirepass,
        Key::ClusterSecret,
        Key::ExpireIntervalMs,
        Key::FollowerInfo,
        Key::RaftHeartbeatMs,
        Key::RaftElectionTimeoutMs,
    ];

    fn name(self) -> &'static str {
        match self {
            Key::Mode => "mode",
            Key::CoordinatorInfo => "coordinator_info",
            Key::ParticipantInfo => "participant_info",
            Key::DataDir => "data_dir",
            Key::Dialect => "dialect",
            Key::Fsync => "fsync",
            Key::HeartbeatIntervalMs => "heartbeat_interval_ms",
            Key::LeaseMs => "lease_ms",
            Key::RpcTimeoutMs => "rpc_timeout_ms",
            Key::LogRetention => "log_retention",
            Key::ProtoMaxBulkLen => "proto_max_bulk_len",
            Key::Maxclients => "maxclients",
            Key::WorkerThreads => "worker_threads",
            Key::Timeout => "timeout",
            Key::ClientQueryBufferLimit => "client_query_buffer_limit",
            Key::Requirepass => "requirepass",
            Key::ClusterSecret => "cluster_secret",
            Key::ExpireIntervalMs => "expire_interval_ms",
            Key::FollowerInfo => "follower_info",
            Key::RaftHeartbeatMs => "raft_heartbeat_ms",
            Key::RaftElectionTimeoutMs => "raft_election_timeout_ms",
        }
    }

    /// The grammar the key belongs to, if only one.
    fn only_in(self) -> Option<Flavor> {
        match self {
            Key::Mode
            | Key::CoordinatorInfo
            | Key::ParticipantInfo
            | Key::HeartbeatIntervalMs
            | Key::LeaseMs => Some(Flavor::TwoPc),
            Key::FollowerInfo | Key::RaftHeartbeatMs | Key::RaftElectionTimeoutMs => {
                Some(Flavor::Raft)
            }
            _ => None,
        }
    }

    fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|key| key.name() == name)
    }

    /// Paths, passwords and secrets may legitimately contain spaces; every
    /// other value is one token, so a second token is a mistake worth
    /// reporting (e.g. two addresses on one `participant_info` line).
    fn takes_rest_of_line(self) -> bool {
        matches!(self, Key::DataDir | Key::Requirepass | Key::ClusterSecret)
    }
}

const MODES: &[(&str, Mode)] = &[
    ("coordinator", Mode::Coordinator),
    ("participant", Mode::Participant),
];
const DIALECTS: &[(&str, Dialect)] = &[("redis", Dialect::Redis), ("lab", Dialect::Lab)];
const FSYNC_POLICIES: &[(&str, FsyncPolicy)] = &[
    ("always", FsyncPolicy::Always),
    ("everysec", FsyncPolicy::Everysec),
    ("no", FsyncPolicy::No),
];

/// The state accumulated while reading lines; validated as a whole in
/// [`Parser::finish`].
struct Parser<'a> {
    origin: &'a str,
    flavor: Flavor,
    /// Line on which each single-valued key was first given.
    seen: HashMap<Key, usize>,
    mode: Option<Mode>,
    coordinator: Option<SocketAddr>,
    /// With their lines, to point at the offending one later.
    participants: Vec<(SocketAddr, usize)>,
    data_dir: Option<PathBuf>,
    dialect: Option<Dialect>,
    fsync: Option<FsyncPolicy>,
    heartbeat_interval_ms: Option<u64>,
    lease_ms: Option<u64>,
    rpc_timeout_ms: Option<u64>,
    log_retention: Option<u64>,
    proto_max_bulk_len: Option<u64>,
    maxclients: Option<usize>,
    worker_threads: Option<usize>,
    timeout_secs: Option<u64>,
    client_query_buffer_limit: Option<u64>,
    requirepass: Option<String>,
    cluster_secret: Option<String>,
    expire_interval_ms: Option<u64>,
    /// `follower_info` addresses with their lines, own first.
    followers: Vec<(SocketAddr, usize)>,
    raft_heartbeat_ms: Option<u64>,
    raft_election_timeout_ms: Option<u64>,
}

impl<'a> Parser<'a> {
    fn new(origin: &'a str, flavor: Flavor) -> Self {
        Parser {
            origin,
            flavor,
            seen: HashMap::new(),
            // A Raft file has no `mode` line: its binary says what it is.
            mode: (flavor == Flavor::Raft).then_some(Mode::Raft),
            coordinator: None,
            participants: Vec::new(),
            data_dir: None,
            dialect: None,
            fsync: None,
            heartbeat_interval_ms: None,
            lease_ms: None,
            rpc_timeout_ms: None,
            log_retention: None,
            proto_max_bulk_len: None,
            maxclients: None,
            worker_threads: None,
            timeout_secs: None,
            client_query_buffer_limit: None,
            requirepass: None,
            cluster_secret: None,
            expire_interval_ms: None,
            followers: Vec::new(),
            raft_heartbeat_ms: None,
            raft_election_timeout_ms: None,
        }
    }

    fn at(&self, line: usize, reason: impl Into<String>) -> ConfigError {
        ConfigError::Line {
            file: self.origin.to_owned(),
            line,
            reason: reason.into(),
        }
    }

    /// An error about a pair (or more) of keys that disagree: at the last
    /// line of them the file gave, which made the set inconsistent, or
    /// about the whole file if all came from defaults.
    fn at_last_of(&self, keys: &[Key], reason: String) -> ConfigError {
        let line = keys
            .iter()
            .filter_map(|key| self.seen.get(key).copied())
            .max();
        match line {
            Some(line) => self.at(line, reason),
            None => self.whole(reason),
        }
    }

    fn whole(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::File {
            file: self.origin.to_owned(),
            reason: reason.into(),
        }
    }

    fn line(&mut self, line: usize, name: &str, value: &str) -> Result<(), ConfigError> {
        let Some(key) = Key::from_name(name) else {
            return Err(self.at(line, format!("unknown key {name:?}")));
        };
        match (key.only_in(), self.flavor) {
            (Some(Flavor::Raft), Flavor::TwoPc) => {
                return Err(self.at(
                    line,
                    format!(
                        "{name:?} belongs in a Raft-mode file (kvstoreraftsystem), not a 2PC one"
                    ),
                ));
            }
            (Some(Flavor::TwoPc), Flavor::Raft) => {
                return Err(self.at(
                    line,
                    format!("{name:?} is not a Raft-mode key: a kvstoreraftsystem file lists the group as \"follower_info IP:PORT\" lines, its own address first"),
                ));
            }
            _ => {}
        }
        // The Lab3 format promises `mode` first; holding to it means the
        // role is known before any role-dependent rule is checked.
        if self.mode.is_none() && key != Key::Mode {
            return Err(self.at(line, r#""mode" must be the first parameter line"#));
        }
        if value.is_empty() {
            return Err(self.at(line, format!("{name:?} needs a value")));
        }
        if !key.takes_rest_of_line() && value.contains(char::is_whitespace) {
            return Err(self.at(line, format!("{name:?} takes one value, found {value:?}")));
        }
        // participant_info and follower_info may repeat; `participant` and
        // `follower` apply their own rules.
        if key != Key::ParticipantInfo && key != Key::FollowerInfo {
            if let Some(first) = self.seen.get(&key) {
                return Err(self.at(
                    line,
                    format!("{name:?} given twice (first on line {first})"),
                ));
            }
            self.seen.insert(key, line);
        }
        self.value(key, line, value)
            .map_err(|reason| self.at(line, reason))
    }

    /// Stores the value of `key`, or says what is wrong with it.
    fn value(&mut self, key: Key, line: usize, value: &str) -> Result<(), String> {
        match key {
            Key::ParticipantInfo => self.participant(line, value)?,
            Key::FollowerInfo => self.follower(line, value)?,
            Key::RaftHeartbeatMs => self.raft_heartbeat_ms = Some(millis(key, value)?),
            Key::RaftElectionTimeoutMs => {
                self.raft_election_timeout_ms = Some(millis(key, value)?);
            }
            Key::Mode => self.mode = Some(choice(key, value, MODES)?),
            Key::CoordinatorInfo => self.coordinator = Some(address(value)?),
            Key::DataDir => self.data_dir = Some(PathBuf::from(value)),
            Key::Dialect => self.dialect = Some(choice(key, value, DIALECTS)?),
            Key::Fsync => self.fsync = Some(choice(key, value, FSYNC_POLICIES)?),
            Key::HeartbeatIntervalMs => self.heartbeat_interval_ms = Some(millis(key, value)?),
            Key::LeaseMs => self.lease_ms = Some(millis(key, value)?),
            Key::RpcTimeoutMs => self.rpc_timeout_ms = Some(millis(key, value)?),
            Key::ExpireIntervalMs => self.expire_interval_ms = Some(millis(key, value)?),
            Key::LogRetention => {
                self.log_retention = Some(positive(key, value, "log entries")?);
            }
            Key::ProtoMaxBulkLen => self.proto_max_bulk_len = Some(bytes(key, value)?),
            Key::Maxclients => {
                let n = positive(key, value, "connections")?;
                let n = usize::try_from(n).map_err(|_| too_large(key, value))?;
                self.maxclients = Some(n);
            }
            Key::WorkerThreads => self.worker_threads = Some(worker_threads(key, value)?),
            Key::Timeout => self.timeout_secs = Some(seconds(key, value)?),
            Key::ClientQueryBufferLimit => {
                self.client_query_buffer_limit = Some(bytes(key, value)?);
            }
            Key::Requirepass => self.requirepass = Some(value.to_owned()),
            Key::ClusterSecret => self.cluster_secret = Some(value.to_owned()),
        }
        Ok(())
    }

    fn participant(&mut self, line: usize, value: &str) -> Result<(), String> {
        let addr = address(value)?;
        if self.mode == Some(Mode::Participant) && !self.participants.is_empty() {
            return Err(
                r#"a participant's file needs exactly one "participant_info" (its own address)"#
                    .to_owned(),
            );
        }
        if let Some((_, first)) = self.participants.iter().find(|(a, _)| *a == addr) {
            return Err(format!(
                r#""participant_info" {addr} given twice (first on line {first})"#
            ));
        }
        self.participants.push((addr, line));
        Ok(())
    }

    fn follower(&mut self, line: usize, value: &str) -> Result<(), String> {
        let addr = address(value)?;
        if let Some((_, first)) = self.followers.iter().find(|(a, _)| *a == addr) {
            return Err(format!(
                r#""follower_info" {addr} given twice (first on line {first})"#
            ));
        }
        let id = node_id(addr);
        if let Some((other, first)) = self.followers.iter().find(|(a, _)| node_id(*a) == id) {
            return Err(format!(
                "{addr} and {other} (line {first}) map to the same node id {id}: use another address"
            ));
        }
        self.followers.push((addr, line));
        Ok(())
    }

    /// The Raft part of a Raft-mode file, checked as a whole.
    fn raft(&self) -> Result<RaftConfig, ConfigError> {
        let peer = |&(addr, _): &(SocketAddr, usize)| RaftPeer {
            id: node_id(addr),
            addr,
        };
        let Some(me) = self.followers.first().map(peer) else {
            return Err(self.whole(
                r#"no "follower_info" line (the node's own address comes first, then its peers')"#,
            ));
        };
        let heartbeat = self
            .raft_heartbeat_ms
            .map_or(DEFAULT_RAFT_HEARTBEAT, Duration::from_millis);
        let election_timeout = self
            .raft_election_timeout_ms
            .map_or(DEFAULT_RAFT_ELECTION_TIMEOUT, Duration::from_millis);
        if heartbeat >= election_timeout {
            let reason = format!(
                r#""raft_heartbeat_ms" ({}) must be less than "raft_election_timeout_ms" ({}): followers would stand for election between a live leader's heartbeats"#,
                heartbeat.as_millis(),
                election_timeout.as_millis(),
            );
            return Err(
                self.at_last_of(&[Key::RaftHeartbeatMs, Key::RaftElectionTimeoutMs], reason)
            );
        }
        Ok(RaftConfig {
            me,
            peers: self.followers.iter().skip(1).map(peer).collect(),
            heartbeat,
            election_timeout,
        })
    }

    fn finish(self, env_dialect: Option<&str>) -> Result<Config, ConfigError> {
        if self.flavor == Flavor::Raft {
            let raft = self.raft()?;
            let own = raft.me.addr;
            return self.build(Mode::Raft, own, own, Some(raft), env_dialect);
        }
        let Some(mode) = self.mode else {
            return Err(self.whole(r#"no "mode" line"#));
        };
        let Some(coordinator) = self.coordinator else {
            return Err(self.whole(r#"no "coordinator_info" line"#));
        };
        let Some(&(first_participant, _)) = self.participants.first() else {
            return Err(self.whole(r#"no "participant_info" line"#));
        };

        // Two nodes cannot listen on one address, and the default data
        // directories, derived from the address, would collide as well.
        if let Some(&(addr, participant_line)) =
            self.participants.iter().find(|(a, _)| *a == coordinator)
        {
            let coordinator_line = self.seen.get(&Key::CoordinatorInfo).copied().unwrap_or(0);
            return Err(self.at(
                participant_line.max(coordinator_line),
                format!(
                    r#"{addr} is both "coordinator_info" and "participant_info": every node needs its own address"#
                ),
            ));
        }

        let own = match mode {
            Mode::Coordinator | Mode::Raft => coordinator,
            Mode::Participant => first_participant,
        };
        self.build(mode, coordinator, own, None, env_dialect)
    }

    /// The common part of both grammars: validates the keys they share
    /// and fills in defaults. `coordinator` is the coordinator's address
    /// (in Raft mode the node's own), `own` the node's.
    fn build(
        self,
        mode: Mode,
        coordinator: SocketAddr,
        own: SocketAddr,
        raft: Option<RaftConfig>,
        env_dialect: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let heartbeat_interval = self
            .heartbeat_interval_ms
            .map_or(DEFAULT_HEARTBEAT_INTERVAL, Duration::from_millis);
        let lease = self.lease_ms.map_or(DEFAULT_LEASE, Duration::from_millis);
        if heartbeat_interval >= lease {
            let reason = format!(
                r#""heartbeat_interval_ms" ({}) must be less than "lease_ms" ({}): a lease must outlive several heartbeats, or one late heartbeat would expire it and stop the participant's reads"#,
                heartbeat_interval.as_millis(),
                lease.as_millis(),
            );
            return Err(self.at_last_of(&[Key::HeartbeatIntervalMs, Key::LeaseMs], reason));
        }

        let dialect = match env_dialect {
            Some(value) => lookup(value, DIALECTS).ok_or_else(|| {
                self.whole(format!(
                    "environment variable {DIALECT_ENV} is {value:?}: expected {}",
                    expected(DIALECTS)
                ))
            })?,
            None => self.dialect.unwrap_or(Dialect::Redis),
        };

        let data_dir = self.data_dir.unwrap_or_else(|| default_data_dir(mode, own));

        Ok(Config {
            mode,
            coordinator,
            participants: self.participants.iter().map(|&(addr, _)| addr).collect(),
            raft,
            data_dir,
            dialect,
            fsync: self.fsync.unwrap_or(FsyncPolicy::Always),
            heartbeat_interval,
            lease,
            rpc_timeout: self
                .rpc_timeout_ms
                .map_or(DEFAULT_RPC_TIMEOUT, Duration::from_millis),
            log_retention: self.log_retention.unwrap_or(DEFAULT_LOG_RETENTION),
            proto_max_bulk_len: self
                .proto_max_bulk_len
                .unwrap_or(DEFAULT_PROTO_MAX_BULK_LEN),
            maxclients: self.maxclients.unwrap_or(DEFAULT_MAXCLIENTS),
            worker_threads: self.worker_threads.unwrap_or(0),
            idle_timeout: self
                .timeout_secs
                .filter(|&secs| secs > 0)
                .map(Duration::from_secs),
            client_query_buffer_limit: self
                .client_query_buffer_limit
                .unwrap_or(DEFAULT_CLIENT_QUERY_BUFFER_LIMIT),
            requirepass: self.requirepass,
            cluster_secret: self.cluster_secret,
            config_file: None,
            expire_interval: self
                .expire_interval_ms
                .map_or(DEFAULT_EXPIRE_INTERVAL, Duration::from_millis),
        })
    }
}

/// `kvstore-data/{mode}-{ip}-{port}`: stable across restarts of one node and
/// distinct for nodes sharing a working directory, since no two nodes share
/// an address. ':' is replaced because IPv6 addresses contain it and some
/// filesystems do not allow it.
fn default_data_dir(mode: Mode, own: SocketAddr) -> PathBuf {
    let ip = own.ip().to_string().replace(':', "_");
    Path::new(DEFAULT_DATA_ROOT).join(format!("{}-{}-{}", mode.as_str(), ip, own.port()))
}

/// Enumerated values are matched case-insensitively, as Redis does for its
/// own config (`appendfsync Always` works there).
fn lookup<T: Copy>(value: &str, choices: &[(&str, T)]) -> Option<T> {
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
        .map(|&(_, v)| v)
}

fn choice<T: Copy>(key: Key, value: &str, choices: &[(&str, T)]) -> Result<T, String> {
    lookup(value, choices).ok_or_else(|| {
        format!(
            "bad value {value:?} for {:?}: expected {}",
            key.name(),
            expected(choices)
        )
    })
}

/// `"a" or "b"`, `"a", "b" or "c"`.
fn expected<T>(choices: &[(&str, T)]) -> String {
    let quoted: Vec<String> = choices
        .iter()
        .map(|(name, _)| format!("{name:?}"))
        .collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

fn address(value: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = value.parse().map_err(|_| {
        // A bare IPv6 address with a port ("::1:8001") is ambiguous; say how
        // to write it rather than just that it is wrong.
        let hint = if value.matches(':').count() > 1 && !value.starts_with('[') {
            " (write an IPv6 address as [IP]:PORT)"
        } else {
            ""
        };
        format!("bad address {value:?}: expected IP:PORT{hint}")
    })?;
    // Every address here is one other nodes dial, and the default data
    // directory is named after it; an ephemeral port fits neither.
    if addr.port() == 0 {
        return Err(format!("bad address {value:?}: port 0 is not allowed"));
    }
    Ok(addr)
}

fn too_large(key: Key, value: &str) -> String {
    format!("bad value {value:?} for {:?}: too large", key.name())
}

/// A whole number greater than zero; `unit` names what is counted.
fn positive(key: Key, value: &str, unit: &str) -> Result<u64, String> {
    let n: u64 = value.parse().map_err(|e: std::num::ParseIntError| {
        if *e.kind() == IntErrorKind::PosOverflow {
            too_large(key, value)
        } else {
            format!(
                "bad value {value:?} for {:?}: expected a whole number of {unit}",
                key.name()
            )
        }
    })?;
    if n == 0 {
        return Err(format!("{:?} must be greater than 0", key.name()));
    }
    Ok(n)
}

/// A whole number of seconds, 0 allowed (it means "never", as in Redis).
/// `worker_threads`: 0 (one per core) up to 1024.
fn worker_threads(key: Key, value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n <= 1024 => Ok(n),
        _ => Err(format!(
            "bad value {value:?} for {:?}: expected 0 (one per CPU core) to 1024 threads",
            key.name()
        )),
    }
}

fn seconds(key: Key, value: &str) -> Result<u64, String> {
    let n: u64 = value.parse().map_err(|e: std::num::ParseIntError| {
        if *e.kind() == IntErrorKind::PosOverflow {
            too_large(key, value)
        } else {
            format!(
                "bad value {value:?} for {:?}: expected a whole number of seconds (0: never)",
                key.name()
            )
        }
    })?;
    if n > MAX_TIMEOUT_SECS {
        return Err(format!(
            "{:?} must be at most {MAX_TIMEOUT_SECS}",
            key.name()
        ));
    }
    Ok(n)
}

fn millis(key: Key, value: &str) -> Result<u64, String> {
    let n = positive(key, value, "milliseconds")?;
    if n > MAX_MILLIS {
        return Err(format!(
            "{:?} must be at most {MAX_MILLIS} (one day)",
            key.name()
        ));
    }
    Ok(n)
}

/// A byte count with an optional Redis-style unit, case-insensitive:
/// `k`=1000, `kb`=1024, `m`=1000², `mb`=1024², `g`=1000³, `gb`=1024³
/// (and `b`=1), exactly as redis.conf reads memory sizes.
fn bytes(key: Key, value: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "bad value {value:?} for {:?}: expected a number of bytes, optionally followed by k, kb, m, mb, g or gb",
            key.name()
        )
    };
    let lower = value.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(bad()),
    };
    let n: u64 = digits.parse().map_err(|e: std::num::ParseIntError| {
        if *e.kind() == IntErrorKind::PosOverflow {
            too_large(key, value)
        } else {
            bad()
        }
    })?;
    // Redis caps this at LONG_MAX; so do we, so the value always fits the
    // signed lengths RESP uses.
    let total = n
        .checked_mul(multiplier)
        .filter(|&t| i64::try_from(t).is_ok())
        .ok_or_else(|| too_large(key, value))?;
    if total == 0 {
        return Err(format!("{:?} must be greater than 0", key.name()));
    }
    Ok(total)
}

/// The config file named on a node's command line (`--config_path FILE`,
/// `--config-path FILE` or `--config_path=FILE`), shared by both binaries.
/// `Err("")` asks for the usage (`-h`, `--help`); any other `Err` says what
/// is wrong with the arguments.
pub fn config_path_from_args(mut args: impl Iterator<Item = String>) -> Result<PathBuf, String> {
    let mut path = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config_path" | "--config-path" => {
                path = Some(args.next().ok_or("--config_path needs a file")?);
            }
            s if s.starts_with("--config_path=") => {
                path = Some(s["--config_path=".len()..].to_string());
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    path.map(PathBuf::from)
        .ok_or_else(|| "missing --config_path".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "t.conf";

    /// The Lab3 handout's coordinator sample, verbatim: note the trailing
    /// spaces and the missing final newline.
    const LAB_COORDINATOR: &str = "!\n! Coordinator configuration\n!      2020/05/07 11:25:33\n!\n! The argument name and value are separated by whitespace in the configuration file.\n!\n! Mode of process, coordinator OR participant\nmode coordinator\n!\n! The address and port the coordinator process is listening on.\n! Note that the address and port are separated by character ':'. \ncoordinator_info 127.0.0.1:8001\n!\n! Address and port information of all participants. \n! Three lines specifies three participants' addresses.\nparticipant_info 127.0.0.1:8002 \nparticipant_info 127.0.0.1:8003 \nparticipant_info 127.0.0.1:8004";

    /// The Lab3 handout's participant sample, verbatim.
    const LAB_PARTICIPANT: &str = "!\n! Participant configuration\n!      2020/05/07 11:25:33\n!\n! The argument name and value are separated by whitespace in the configuration file.\n!\n! Mode of process, coordinator OR participant\nmode participant\n!\n! The address and port the participant process is listening on.\nparticipant_info 127.0.0.1:8002\n!\n! The address and port the coordinator process is listening on.\ncoordinator_info 127.0.0.1:8001";

    const COORD_HEAD: &str =
        "mode coordinator\ncoordinator_info 127.0.0.1:8001\nparticipant_info 127.0.0.1:8002\n";
    const PART_HEAD: &str =
        "mode participant\ncoordinator_info 127.0.0.1:8001\nparticipant_info 127.0.0.1:8002\n";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, ORIGIN, None)
    }

    fn ok(text: &str) -> Config {
        match parse(text) {
            Ok(config) => config,
            Err(e) => panic!("expected {text:?} to parse, got: {e}"),
        }
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(config) => panic!("expected {text:?} to be refused, got {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn lab_coordinator_sample_parses() {
        let c = ok(LAB_COORDINATOR);
        assert_eq!(c.mode, Mode::Coordinator);
        assert_eq!(c.coordinator, addr("127.0.0.1:8001"));
        assert_eq!(
            c.participants,
            vec![
                addr("127.0.0.1:8002"),
                addr("127.0.0.1:8003"),
                addr("127.0.0.1:8004")
            ]
        );
        assert_eq!(c.listen_addr(), addr("127.0.0.1:8001"));
    }

    #[test]
    fn lab_participant_sample_parses() {
        let c = ok(LAB_PARTICIPANT);
        assert_eq!(c.mode, Mode::Participant);
        assert_eq!(c.coordinator, addr("127.0.0.1:8001"));
        assert_eq!(c.participants, vec![addr("127.0.0.1:8002")]);
        assert_eq!(c.listen_addr(), addr("127.0.0.1:8002"));
    }

    #[test]
    fn lab_samples_parse_with_crlf() {
        for sample in [LAB_COORDINATOR, LAB_PARTICIPANT] {
            let crlf = sample.replace('\n', "\r\n");
            assert_eq!(ok(&crlf).participants, ok(sample).participants);
        }
    }

    #[test]
    fn comments_blank_lines_and_whitespace_are_ignored() {
        let text = "\u{feff}! leading BOM is dropped\r\n\r\n   \t\r\n  ! an indented comment\r\n\
                    mode\tcoordinator \r\n!\r\n   coordinator_info    127.0.0.1:8001\t\r\n\
                    \r\nparticipant_info 127.0.0.1:8002\r\n! trailing comment\r\n\r\n";
        let c = ok(text);
        assert_eq!(c.mode, Mode::Coordinator);
        assert_eq!(c.participants, vec![addr("127.0.0.1:8002")]);
    }

    #[test]
    fn defaults() {
        let c = ok(COORD_HEAD);
        assert_eq!(
            c.data_dir,
            PathBuf::from("kvstore-data/coordinator-127.0.0.1-8001")
        );
        assert_eq!(c.dialect, Dialect::Redis);
        assert_eq!(c.fsync, FsyncPolicy::Always);
        assert_eq!(c.heartbeat_interval, Duration::from_millis(100));
        assert_eq!(c.lease, Duration::from_millis(2000));
        assert_eq!(c.rpc_timeout, Duration::from_millis(8000));
        assert_eq!(c.log_retention, 1_000_000);
        assert_eq!(c.proto_max_bulk_len, 536_870_912);
        assert_eq!(c.maxclients, 10_000);
        assert_eq!(c.idle_timeout, None);
        assert_eq!(c.client_query_buffer_limit, 1 << 30);
        assert_eq!(c.requirepass, None);
        assert_eq!(c.cluster_secret, None);
        assert_eq!(c.expire_interval, Duration::from_millis(100));
    }

    #[test]
    fn every_extension_key_is_read() {
        let text = format!(
            "{COORD_HEAD}data_dir /var/lib/kv store\ndialect lab\nfsync everysec\n\
             heartbeat_interval_ms 50\nlease_ms 500\nrpc_timeout_ms 250\nlog_retention 42\n\
             proto_max_bulk_len 64kb\nmaxclients 7\nrequirepass  open sesame \n\
             timeout 300\nclient_query_buffer_limit 2mb\ncluster_secret  s3cret with spaces\n\
             expire_interval_ms 25\n"
        );
        let c = ok(&text);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/kv store"));
        assert_eq!(c.dialect, Dialect::Lab);
        assert_eq!(c.fsync, FsyncPolicy::Everysec);
        assert_eq!(c.heartbeat_interval, Duration::from_millis(50));
        assert_eq!(c.lease, Duration::from_millis(500));
        assert_eq!(c.rpc_timeout, Duration::from_millis(250));
        assert_eq!(c.log_retention, 42);
        assert_eq!(c.proto_max_bulk_len, 64 * 1024);
        assert_eq!(c.maxclients, 7);
        assert_eq!(c.requirepass.as_deref(), Some("open sesame"));
        assert_eq!(c.idle_timeout, Some(Duration::from_secs(300)));
        assert_eq!(c.client_query_buffer_limit, 2 * 1024 * 1024);
        assert_eq!(c.cluster_secret.as_deref(), Some("s3cret with spaces"));
        assert_eq!(c.expire_interval, Duration::from_millis(25));
    }

    #[test]
    fn timeout_zero_means_never() {
        assert_eq!(ok(&format!("{COORD_HEAD}timeout 0\n")).idle_timeout, None);
        assert_eq!(
            ok(&format!("{PART_HEAD}timeout 2147483647\n")).idle_timeout,
            Some(Duration::from_secs(2_147_483_647))
        );
    }

    #[test]
    fn enumerated_values() {
        let fsyncs = [
            ("always", FsyncPolicy::Always),
            ("everysec", FsyncPolicy::Everysec),
            ("no", FsyncPolicy::No),
            ("EverySec", FsyncPolicy::Everysec),
        ];
        for (value, want) in fsyncs {
            assert_eq!(ok(&format!("{COORD_HEAD}fsync {value}\n")).fsync, want);
        }
        let dialects = [
            ("redis", Dialect::Redis),
            ("lab", Dialect::Lab),
            ("LAB", Dialect::Lab),
        ];
        for (value, want) in dialects {
            assert_eq!(ok(&format!("{COORD_HEAD}dialect {value}\n")).dialect, want);
        }
        let modes = [
            ("coordinator", Mode::Coordinator),
            ("Coordinator", Mode::Coordinator),
            ("participant", Mode::Participant),
        ];
        for (value, want) in modes {
            let text = PART_HEAD.replace("participant\n", &format!("{value}\n"));
            assert_eq!(ok(&text).mode, want);
        }
    }

    #[test]
    fn env_dialect_wins_over_file() {
        let cases = [
            ("", Some("lab"), Dialect::Lab),
            ("", Some("redis"), Dialect::Redis),
            ("dialect redis\n", Some("lab"), Dialect::Lab),
            ("dialect lab\n", Some("redis"), Dialect::Redis),
            ("dialect lab\n", Some("Lab"), Dialect::Lab),
            ("dialect lab\n", None, Dialect::Lab),
        ];
        for (extra, env, want) in cases {
            let text = format!("{COORD_HEAD}{extra}");
            let c = Config::parse(&text, ORIGIN, env).expect("valid");
            assert_eq!(c.dialect, want, "file {extra:?}, env {env:?}");
        }
    }

    #[test]
    fn bad_env_dialect_names_the_variable() {
        for (env, shown) in [("resp", r#""resp""#), ("", r#""""#)] {
            let e = Config::parse(COORD_HEAD, ORIGIN, Some(env)).expect_err("refused");
            assert_eq!(
                e.to_string(),
                format!(
                    r#"t.conf: environment variable KVSTORE_DIALECT is {shown}: expected "redis" or "lab""#
                )
            );
            assert_eq!(e.line(), None);
        }
    }

    #[test]
    fn default_data_dir_is_per_node() {
        let coordinator = ok(LAB_COORDINATOR).data_dir;
        let participant = ok(LAB_PARTICIPANT).data_dir;
        let other_participant = ok(&LAB_PARTICIPANT.replace(":8002", ":8003")).data_dir;
        assert_eq!(
            coordinator,
            PathBuf::from("kvstore-data/coordinator-127.0.0.1-8001")
        );
        assert_eq!(
            participant,
            PathBuf::from("kvstore-data/participant-127.0.0.1-8002")
        );
        assert_eq!(
            other_participant,
            PathBuf::from("kvstore-data/participant-127.0.0.1-8003")
        );
        // Stable: the same file always gives the same directory.
        assert_eq!(ok(LAB_PARTICIPANT).data_dir, participant);

        let v6 = ok("mode participant\ncoordinator_info [::1]:8001\nparticipant_info [::1]:8002\n");
        assert_eq!(
            v6.data_dir,
            PathBuf::from("kvstore-data/participant-__1-8002")
        );
        assert_eq!(v6.listen_addr(), addr("[::1]:8002"));
    }

    #[test]
    fn explicit_data_dir_overrides_default() {
        let c = ok(&format!("{PART_HEAD}data_dir ./here\n"));
        assert_eq!(c.data_dir, PathBuf::from("./here"));
    }

    #[test]
    fn bulk_len_suffixes() {
        let cases = [
            ("1", 1),
            ("1024", 1024),
            ("10b", 10),
            ("1k", 1000),
            ("1kb", 1024),
            ("64KB", 64 * 1024),
            ("2m", 2_000_000),
            ("512mb", 536_870_912),
            ("512Mb", 536_870_912),
            ("1g", 1_000_000_000),
            ("1gb", 1 << 30),
            ("1GB", 1 << 30),
        ];
        for (value, want) in cases {
            let c = ok(&format!("{COORD_HEAD}proto_max_bulk_len {value}\n"));
            assert_eq!(c.proto_max_bulk_len, want, "{value}");
        }
    }

    /// Each case: the file, and the exact message. Comments and blank lines
    /// precede the error in several cases so that line numbers are counted
    /// over every physical line, not only parameter lines.
    #[test]
    fn errors_name_file_line_and_reason() {
        let cases: &[(&str, &str)] = &[
            // Structure.
            ("", r#"t.conf: no "mode" line"#),
            ("! only\n! comments\n\n", r#"t.conf: no "mode" line"#),
            (
                "mode coordinator\n",
                r#"t.conf: no "coordinator_info" line"#,
            ),
            (
                "mode coordinator\ncoordinator_info 127.0.0.1:8001\n",
                r#"t.conf: no "participant_info" line"#,
            ),
            (
                "mode participant\ncoordinator_info 127.0.0.1:8001\n",
                r#"t.conf: no "participant_info" line"#,
            ),
            (
                "mode participant\nparticipant_info 127.0.0.1:8002\n",
                r#"t.conf: no "coordinator_info" line"#,
            ),
            (
                "! header\n\ncoordinator_info 127.0.0.1:8001\nmode coordinator\n",
                r#"t.conf:3: "mode" must be the first parameter line"#,
            ),
            (
                "! header\nfoo bar\nmode coordinator\n",
                r#"t.conf:2: unknown key "foo""#,
            ),
            (
                "mode coordinator\n! c\nfoo bar\n",
                r#"t.conf:3: unknown key "foo""#,
            ),
            (
                "mode coordinator\nMODE coordinator\n",
                r#"t.conf:2: unknown key "MODE""#,
            ),
            ("! x\nmode\n", r#"t.conf:2: "mode" needs a value"#),
            (
                "mode\tcoordinator\nfsync   \t\n",
                r#"t.conf:2: "fsync" needs a value"#,
            ),
            (
                "mode boss\n",
                r#"t.conf:1: bad value "boss" for "mode": expected "coordinator" or "participant""#,
            ),
            (
                "mode coordinator\n! c\nmode participant\n",
                r#"t.conf:3: "mode" given twice (first on line 1)"#,
            ),
            (
                "mode coordinator\ncoordinator_info 127.0.0.1:8001\n\ncoordinator_info 127.0.0.1:8001\n",
                r#"t.conf:4: "coordinator_info" given twice (first on line 2)"#,
            ),
            (
                "mode coordinator extra\n",
                r#"t.conf:1: "mode" takes one value, found "coordinator extra""#,
            ),
            // Addresses.
            (
                "mode coordinator\n\ncoordinator_info 1.2.3:99\n",
                r#"t.conf:3: bad address "1.2.3:99": expected IP:PORT"#,
            ),
            (
                "mode coordinator\ncoordinator_info localhost:8001\n",
                r#"t.conf:2: bad address "localhost:8001": expected IP:PORT"#,
            ),
            (
                "mode coordinator\ncoordinator_info 127.0.0.1\n",
                r#"t.conf:2: bad address "127.0.0.1": expected IP:PORT"#,
            ),
            (
                "mode coordinator\ncoordinator_info 127.0.0.1:70000\n",
                r#"t.conf:2: bad address "127.0.0.1:70000": expected IP:PORT"#,
            ),
            (
                "mode coordinator\ncoordinator_info ::1:8001\n",
                r#"t.conf:2: bad address "::1:8001": expected IP:PORT (write an IPv6 address as [IP]:PORT)"#,
            ),
            (
                "mode coordinator\ncoordinator_info 127.0.0.1:0\n",
                r#"t.conf:2: bad address "127.0.0.1:0": port 0 is not allowed"#,
            ),
            (
                "mode coordinator\ncoordinator_info 127.0.0.1:8001\nparticipant_info 127.0.0.1:8002 127.0.0.1:8003\n",
                r#"t.conf:3: "participant_info" takes one value, found "127.0.0.1:8002 127.0.0.1:8003""#,
            ),
            (
                "mode coordinator\ncoordinator_info 127.0.0.1:8001\nparticipant_info 127.0.0.1:8002\nparticipant_info 127.0.0.1:8003\n! c\nparticipant_info 127.0.0.1:8002\n",
                r#"t.conf:6: "participant_info" 127.0.0.1:8002 given twice (first on line 3)"#,
            ),
            (
                "mode participant\ncoordinator_info 127.0.0.1:8001\nparticipant_info 127.0.0.1:8002\n\nparticipant_info 127.0.0.1:8003\n",
                r#"t.conf:5: a participant's file needs exactly one "participant_info" (its own address)"#,
            ),
            (
                "mode coordinator\ncoordinator_info 127.0.0.1:8001\nparticipant_info 127.0.0.1:8002\nparticipant_info 127.0.0.1:8001\n",
                r#"t.conf:4: 127.0.0.1:8001 is both "coordinator_info" and "participant_info": every node needs its own address"#,
            ),
            (
                "mode participant\nparticipant_info 127.0.0.1:8001\n! c\ncoordinator_info 127.0.0.1:8001\n",
                r#"t.conf:4: 127.0.0.1:8001 is both "coordinator_info" and "participant_info": every node needs its own address"#,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&err(text), want, "for {text:?}");
        }
    }

    /// Errors in extension keys, appended after the three-line head, so the
    /// first extension line is line 4.
    #[test]
    fn extension_key_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "dialect resp\n",
                r#"t.conf:4: bad value "resp" for "dialect": expected "redis" or "lab""#,
            ),
            (
                "fsync sometimes\n",
                r#"t.conf:4: bad value "sometimes" for "fsync": expected "always", "everysec" or "no""#,
            ),
            (
                "! c\nlease_ms soon\n",
                r#"t.conf:5: bad value "soon" for "lease_ms": expected a whole number of milliseconds"#,
            ),
            (
                "lease_ms -5\n",
                r#"t.conf:4: bad value "-5" for "lease_ms": expected a whole number of milliseconds"#,
            ),
            (
                "rpc_timeout_ms 1.5\n",
                r#"t.conf:4: bad value "1.5" for "rpc_timeout_ms": expected a whole number of milliseconds"#,
            ),
            (
                "heartbeat_interval_ms 0\n",
                r#"t.conf:4: "heartbeat_interval_ms" must be greater than 0"#,
            ),
            (
                "lease_ms 0\n",
                r#"t.conf:4: "lease_ms" must be greater than 0"#,
            ),
            (
                "rpc_timeout_ms 0\n",
                r#"t.conf:4: "rpc_timeout_ms" must be greater than 0"#,
            ),
            (
                "rpc_timeout_ms 86400001\n",
                r#"t.conf:4: "rpc_timeout_ms" must be at most 86400000 (one day)"#,
            ),
            (
                "lease_ms 99999999999999999999999\n",
                r#"t.conf:4: bad value "99999999999999999999999" for "lease_ms": too large"#,
            ),
            (
                "log_retention 0\n",
                r#"t.conf:4: "log_retention" must be greater than 0"#,
            ),
            (
                "log_retention lots\n",
                r#"t.conf:4: bad value "lots" for "log_retention": expected a whole number of log entries"#,
            ),
            (
                "maxclients 0\n",
                r#"t.conf:4: "maxclients" must be greater than 0"#,
            ),
            (
                "maxclients many\n",
                r#"t.conf:4: bad value "many" for "maxclients": expected a whole number of connections"#,
            ),
            (
                "proto_max_bulk_len 0\n",
                r#"t.conf:4: "proto_max_bulk_len" must be greater than 0"#,
            ),
            (
                "proto_max_bulk_len 0mb\n",
                r#"t.conf:4: "proto_max_bulk_len" must be greater than 0"#,
            ),
            (
                "proto_max_bulk_len 12xb\n",
                r#"t.conf:4: bad value "12xb" for "proto_max_bulk_len": expected a number of bytes, optionally followed by k, kb, m, mb, g or gb"#,
            ),
            (
                "proto_max_bulk_len mb\n",
                r#"t.conf:4: bad value "mb" for "proto_max_bulk_len": expected a number of bytes, optionally followed by k, kb, m, mb, g or gb"#,
            ),
            (
                "proto_max_bulk_len 1.5mb\n",
                r#"t.conf:4: bad value "1.5mb" for "proto_max_bulk_len": expected a number of bytes, optionally followed by k, kb, m, mb, g or gb"#,
            ),
            (
                "proto_max_bulk_len 9000000000gb\n",
                r#"t.conf:4: bad value "9000000000gb" for "proto_max_bulk_len": too large"#,
            ),
            (
                "proto_max_bulk_len 99999999999999999999\n",
                r#"t.conf:4: bad value "99999999999999999999" for "proto_max_bulk_len": too large"#,
            ),
            ("requirepass\n", r#"t.conf:4: "requirepass" needs a value"#),
            (
                "cluster_secret \t\n",
                r#"t.conf:4: "cluster_secret" needs a value"#,
            ),
            (
                "timeout -1\n",
                r#"t.conf:4: bad value "-1" for "timeout": expected a whole number of seconds (0: never)"#,
            ),
            (
                "timeout 5s\n",
                r#"t.conf:4: bad value "5s" for "timeout": expected a whole number of seconds (0: never)"#,
            ),
            (
                "timeout 2147483648\n",
                r#"t.conf:4: "timeout" must be at most 2147483647"#,
            ),
            (
                "timeout 99999999999999999999\n",
                r#"t.conf:4: bad value "99999999999999999999" for "timeout": too large"#,
            ),
            (
                "client_query_buffer_limit 0\n",
                r#"t.conf:4: "client_query_buffer_limit" must be greater than 0"#,
            ),
            (
                "client_query_buffer_limit lots\n",
                r#"t.conf:4: bad value "lots" for "client_query_buffer_limit": expected a number of bytes, optionally followed by k, kb, m, mb, g or gb"#,
            ),
            ("data_dir \t \n", r#"t.conf:4: "data_dir" needs a value"#),
            // A lease must outlive heartbeats; the error points at the later
            // of the two lines, or at the only one given.
            (
                "heartbeat_interval_ms 2000\n",
                r#"t.conf:4: "heartbeat_interval_ms" (2000) must be less than "lease_ms" (2000): a lease must outlive several heartbeats, or one late heartbeat would expire it and stop the participant's reads"#,
            ),
            (
                "lease_ms 50\n",
                r#"t.conf:4: "heartbeat_interval_ms" (100) must be less than "lease_ms" (50): a lease must outlive several heartbeats, or one late heartbeat would expire it and stop the participant's reads"#,
            ),
            (
                "lease_ms 300\n\nheartbeat_interval_ms 500\n",
                r#"t.conf:6: "heartbeat_interval_ms" (500) must be less than "lease_ms" (300): a lease must outlive several heartbeats, or one late heartbeat would expire it and stop the participant's reads"#,
            ),
            (
                "heartbeat_interval_ms 500\nlease_ms 300\n",
                r#"t.conf:5: "heartbeat_interval_ms" (500) must be less than "lease_ms" (300): a lease must outlive several heartbeats, or one late heartbeat would expire it and stop the participant's reads"#,
            ),
        ];
        for (extra, want) in cases {
            for head in [COORD_HEAD, PART_HEAD] {
                let text = format!("{head}{extra}");
                assert_eq!(&err(&text), want, "for {text:?}");
            }
        }
    }

    #[test]
    fn every_single_valued_key_given_twice_is_refused() {
        let values = [
            ("data_dir", "d"),
            ("dialect", "lab"),
            ("fsync", "no"),
            ("heartbeat_interval_ms", "10"),
            ("lease_ms", "1000"),
            ("rpc_timeout_ms", "10"),
            ("log_retention", "10"),
            ("proto_max_bulk_len", "1mb"),
            ("maxclients", "10"),
            ("worker_threads", "1"),
            ("requirepass", "pw"),
            ("timeout", "5"),
            ("client_query_buffer_limit", "1mb"),
            ("cluster_secret", "s"),
        ];
        for (key, value) in values {
            let text = format!("{COORD_HEAD}{key} {value}\n! c\n{key} {value}\n");
            assert_eq!(
                err(&text),
                format!(r#"t.conf:6: "{key}" given twice (first on line 4)"#)
            );
        }
    }

    #[test]
    fn key_table_round_trips() {
        for key in Key::ALL {
            assert_eq!(Key::from_name(key.name()), Some(key));
        }
        assert_eq!(Key::from_name("Mode"), None);
    }

    #[test]
    fn error_line_accessor() {
        let line_error = parse("mode coordinator\nfoo 1\n").expect_err("refused");
        assert_eq!(line_error.line(), Some(2));
        let file_error = parse("mode coordinator\n").expect_err("refused");
        assert_eq!(file_error.line(), None);
    }

    #[test]
    fn debug_does_not_show_the_password() {
        let c = ok(&format!(
            "{COORD_HEAD}requirepass hunter2\ncluster_secret swordfish\n"
        ));
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("swordfish"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn load_reads_the_file_and_names_it_on_error() {
        let dir = std::env::temp_dir().join(format!("kv-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let good = dir.join("coordinator.conf");
        std::fs::write(&good, LAB_COORDINATOR).expect("write");
        // The dialect is not asserted: it depends on the caller's environment.
        let c = Config::load(&good).expect("valid file");
        assert_eq!(c.participants.len(), 3);

        let bad = dir.join("bad.conf");
        std::fs::write(&bad, "mode coordinator\nbogus 1\n").expect("write");
        let e = Config::load(&bad).expect_err("refused");
        assert_eq!(
            e.to_string(),
            format!(r#"{}:2: unknown key "bogus""#, bad.display())
        );

        let missing = dir.join("missing.conf");
        let e = Config::load(&missing).expect_err("refused");
        let message = e.to_string();
        assert!(
            message.starts_with(&format!(
                "{}: cannot read the config file: ",
                missing.display()
            )),
            "{message}"
        );
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    /// The three files the Lab3 tester writes for version 2, verbatim
    /// (each node's own address first, the peers in another order).
    const FOLLOWER_FILES: [&str; 3] = [
        "follower_info 192.168.66.201:8001\nfollower_info 192.168.66.202:8002\nfollower_info 192.168.66.203:8003\n",
        "follower_info 192.168.66.202:8002\nfollower_info 192.168.66.201:8001\nfollower_info 192.168.66.203:8003\n",
        "follower_info 192.168.66.203:8003\nfollower_info 192.168.66.201:8001\nfollower_info 192.168.66.202:8002\n",
    ];

    fn raft_ok(text: &str) -> Config {
        match Config::parse_raft(text, ORIGIN, None) {
            Ok(config) => config,
            Err(e) => panic!("expected {text:?} to parse, got: {e}"),
        }
    }

    fn raft_err(text: &str) -> String {
        match Config::parse_raft(text, ORIGIN, None) {
            Ok(config) => panic!("expected {text:?} to be refused, got {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn raft_part(c: &Config) -> &RaftConfig {
        c.raft
            .as_ref()
            .expect("a Raft-mode config has its Raft part")
    }

    #[test]
    fn lab_follower_files_agree_on_the_group() {
        let configs: Vec<Config> = FOLLOWER_FILES.iter().map(|t| raft_ok(t)).collect();
        let mut groups = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let raft = raft_part(c);
            let own = addr(&format!("192.168.66.20{}:800{}", i + 1, i + 1));
            assert_eq!(c.mode, Mode::Raft);
            assert_eq!(raft.me.addr, own);
            assert_eq!(c.listen_addr(), own);
            assert_eq!(raft.peers.len(), 2);
            assert_eq!(
                c.data_dir,
                PathBuf::from(format!(
                    "kvstore-data/raft-192.168.66.20{}-800{}",
                    i + 1,
                    i + 1
                ))
            );
            let mut group: Vec<RaftPeer> = raft.members().collect();
            group.sort_by_key(|p| p.id);
            groups.push(group);
        }
        assert_eq!(groups[0], groups[1]);
        assert_eq!(groups[0], groups[2]);
        // The ids read back as addresses: 192.168.66.201 and port 8001.
        assert_eq!(raft_part(&configs[0]).me.id, (0xc0a8_42c9 << 16) | 8001);
    }

    #[test]
    fn raft_defaults_and_keys() {
        let c = raft_ok(FOLLOWER_FILES[0]);
        let raft = raft_part(&c);
        assert_eq!(raft.heartbeat, Duration::from_millis(150));
        assert_eq!(raft.election_timeout, Duration::from_millis(1000));
        assert_eq!(raft.election_timeout_max(), Duration::from_millis(2000));
        assert_eq!(c.fsync, FsyncPolicy::Always);
        assert_eq!(c.dialect, Dialect::Redis);
        assert!(c.participants.is_empty());

        let text = format!(
            "! a Lab comment\n{}raft_heartbeat_ms 50\nraft_election_timeout_ms 400\n\
             data_dir /srv/raft one\ndialect lab\nfsync no\nrequirepass pw\n\
             cluster_secret s\nmaxclients 9\ntimeout 5\nproto_max_bulk_len 1mb\n",
            FOLLOWER_FILES[1].replace('\n', " \r\n")
        );
        let c = raft_ok(&text);
        let raft = raft_part(&c);
        assert_eq!(raft.heartbeat, Duration::from_millis(50));
        assert_eq!(raft.election_timeout, Duration::from_millis(400));
        assert_eq!(c.data_dir, PathBuf::from("/srv/raft one"));
        assert_eq!(c.dialect, Dialect::Lab);
        assert_eq!(c.fsync, FsyncPolicy::No);
        assert_eq!(c.requirepass.as_deref(), Some("pw"));
        assert_eq!(c.cluster_secret.as_deref(), Some("s"));
        assert_eq!(c.maxclients, 9);
        assert_eq!(c.idle_timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.proto_max_bulk_len, 1 << 20);
        let lab = Config::parse_raft(FOLLOWER_FILES[0], ORIGIN, Some("lab")).expect("valid");
        assert_eq!(lab.dialect, Dialect::Lab);
        // A single node is a group of one.
        assert!(
            raft_part(&raft_ok("follower_info 127.0.0.1:7000\n"))
                .peers
                .is_empty()
        );
    }

    #[test]
    fn node_ids_are_distinct_and_stable() {
        let v4 = node_id(addr("127.0.0.1:8001"));
        assert_eq!(v4, (0x7f00_0001 << 16) | 8001);
        assert_ne!(v4, node_id(addr("127.0.0.1:8002")));
        assert_ne!(v4, node_id(addr("127.0.0.2:8001")));
        let v6 = node_id(addr("[::1]:8001"));
        assert_eq!(v6, node_id(addr("[::1]:8001")));
        assert_ne!(v6, node_id(addr("[::1]:8002")));
        assert!(v6 >> 63 == 1 && v4 >> 63 == 0);
        assert!(
            raft_part(&raft_ok(
                "follower_info [::1]:8001\nfollower_info [::1]:8002\n"
            ))
            .peers
            .len()
                == 1
        );
    }

    #[test]
    fn raft_errors_name_file_line_and_reason() {
        let cases: &[(&str, &str)] = &[
            (
                "",
                r#"t.conf: no "follower_info" line (the node's own address comes first, then its peers')"#,
            ),
            (
                "! only a comment\n",
                r#"t.conf: no "follower_info" line (the node's own address comes first, then its peers')"#,
            ),
            (
                "follower_info 127.0.0.1:1\nfollower_info 127.0.0.1:2\n!\nfollower_info 127.0.0.1:1\n",
                r#"t.conf:4: "follower_info" 127.0.0.1:1 given twice (first on line 1)"#,
            ),
            (
                "follower_info 127.0.0.1\n",
                r#"t.conf:1: bad address "127.0.0.1": expected IP:PORT"#,
            ),
            (
                "follower_info 127.0.0.1:0\n",
                r#"t.conf:1: bad address "127.0.0.1:0": port 0 is not allowed"#,
            ),
            (
                "follower_info 127.0.0.1:1 127.0.0.1:2\n",
                r#"t.conf:1: "follower_info" takes one value, found "127.0.0.1:1 127.0.0.1:2""#,
            ),
            (
                "follower_info\n",
                r#"t.conf:1: "follower_info" needs a value"#,
            ),
            (
                "mode participant\nfollower_info 127.0.0.1:1\n",
                r#"t.conf:1: "mode" is not a Raft-mode key: a kvstoreraftsystem file lists the group as "follower_info IP:PORT" lines, its own address first"#,
            ),
            (
                "follower_info 127.0.0.1:1\nparticipant_info 127.0.0.1:2\n",
                r#"t.conf:2: "participant_info" is not a Raft-mode key: a kvstoreraftsystem file lists the group as "follower_info IP:PORT" lines, its own address first"#,
            ),
            (
                "follower_info 127.0.0.1:1\nlease_ms 10\n",
                r#"t.conf:2: "lease_ms" is not a Raft-mode key: a kvstoreraftsystem file lists the group as "follower_info IP:PORT" lines, its own address first"#,
            ),
            (
                "follower_info 127.0.0.1:1\nbogus 1\n",
                r#"t.conf:2: unknown key "bogus""#,
            ),
            (
                "follower_info 127.0.0.1:1\nraft_heartbeat_ms 0\n",
                r#"t.conf:2: "raft_heartbeat_ms" must be greater than 0"#,
            ),
            (
                "follower_info 127.0.0.1:1\nraft_election_timeout_ms soon\n",
                r#"t.conf:2: bad value "soon" for "raft_election_timeout_ms": expected a whole number of milliseconds"#,
            ),
            (
                "follower_info 127.0.0.1:1\nraft_heartbeat_ms 10\nraft_heartbeat_ms 20\n",
                r#"t.conf:3: "raft_heartbeat_ms" given twice (first on line 2)"#,
            ),
            (
                "follower_info 127.0.0.1:1\nraft_election_timeout_ms 100\n",
                r#"t.conf:2: "raft_heartbeat_ms" (150) must be less than "raft_election_timeout_ms" (100): followers would stand for election between a live leader's heartbeats"#,
            ),
            (
                "follower_info 127.0.0.1:1\nraft_heartbeat_ms 2000\n",
                r#"t.conf:2: "raft_heartbeat_ms" (2000) must be less than "raft_election_timeout_ms" (1000): followers would stand for election between a live leader's heartbeats"#,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(raft_err(text), *want, "{text:?}");
        }
    }

    #[test]
    fn raft_keys_are_refused_in_a_2pc_file() {
        for line in [
            "follower_info 127.0.0.1:9",
            "raft_heartbeat_ms 10",
            "raft_election_timeout_ms 10",
        ] {
            let name = line.split(' ').next().expect("a key");
            assert_eq!(
                err(&format!("{COORD_HEAD}{line}\n")),
                format!(
                    r#"t.conf:4: "{name}" belongs in a Raft-mode file (kvstoreraftsystem), not a 2PC one"#
                )
            );
        }
        // And `mode raft` is no 2PC role.
        assert!(err("mode raft\n").starts_with(r#"t.conf:1: bad value "raft" for "mode""#));
    }
}
