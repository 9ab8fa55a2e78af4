//! Replicated operations: what crosses the wire from the coordinator to the
//! participants, and how a replica evaluates them against its own data.
//!
//! A client command that writes becomes a [`WriteOp`]; one that reads becomes
//! a [`ReadOp`]. Evaluation is pure: it reads through a [`ReadView`] and
//! returns the command's [`Outcome`] plus the [`Effect`]s (resolved key
//! writes) that committing it would apply. Because every replica evaluates
//! the same op against the same data, equal outcomes are how the coordinator
//! checks that replicas agree before it commits.
//!
//! Each family's file holds its evaluation ([`super::string`],
//! [`super::counter`], [`super::keyspace`]); this module holds the types and
//! dispatches.
//!
//! # What a lock must cover
//!
//! [`WriteOp::keys`] and [`ReadOp::keys`] name the keys an op touches. An op
//! whose keys cannot be known in advance (FLUSHDB, KEYS, SCAN, DBSIZE) says
//! so with [`WriteOp::locks_everything`] / [`ReadOp::reads_everything`]: such
//! a write must run alone (after every earlier write on any key has been
//! applied, before any later one), and such a read must wait until no write
//! is prepared-but-unapplied on the replica that serves it.
//!
//! # Time
//!
//! This module must never do I/O or look at a clock: time-dependent inputs
//! are fixed by the coordinator and carried inside the op. A key's deadline
//! is an absolute unix time in milliseconds ([`Entry::expires_at`]); the
//! coordinator converts relative ones (EX, PX, EXPIRE) to absolute with
//! [`WriteOp::stamp`] and wraps every op it sends in [`WriteOp::At`] /
//! [`ReadOp::At`], which carry its current time. Evaluation reads the
//! replica's stored entries ([`Stored`]) through a [`Live`] view at that
//! time, which hides every key whose deadline has passed, so each replica
//! reaches the same verdict from the same data and the same stamped time.
//! An op without a stamp is evaluated at time 0, when nothing has expired.
//! A write never stores a deadline that has already passed: it deletes the
//! key instead (as Redis does for `EXPIRE key -1` or `SET ... EXAT 1`).
//!
//! Variants are only ever appended (never reordered), because ops and
//! outcomes are encoded by position.

use std::cell::Cell;
use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{bitfield, bits, counter, expire, hash, keyspace, lcs, list, set, sort, string, zset};

/// The condition of `SET ... NX|XX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCondition {
    /// NX: only if the key does not exist.
    Absent,
    /// XX: only if the key exists.
    Present,
}

/// What a key holds and its deadline: its one record in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The value: a string, or a collection's header.
    pub value: Value,
    /// When the key expires (unix milliseconds), if it does.
    pub expires_at: Option<u64>,
}

impl Entry {
    /// A string entry.
    pub fn string(value: Bytes, expires_at: Option<u64>) -> Entry {
        Entry {
            value: Value::String(value),
            expires_at,
        }
    }

    /// The collection header, if this is a collection of `kind`.
    pub fn collection(&self, kind: Kind) -> Option<&Collection> {
        match &self.value {
            Value::Collection(c) if c.kind == kind => Some(c),
            _ => None,
        }
    }

    /// Redis's name of this value's type (`TYPE`).
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::String(_) => "string",
            Value::Collection(c) => c.kind.name(),
        }
    }
}

/// A key's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// A string, stored whole in the key's record.
    String(Bytes),
    /// A hash or set: the header; the elements are records of their own
    /// ([`crate::storage::value`]).
    Collection(Collection),
}

/// The header of a collection: which incarnation holds its elements, and
/// how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    /// Hash, set, ...
    pub kind: Kind,
    /// The incarnation whose element records are this collection's.
    pub version: Version,
    /// The number of elements (never 0: an emptied collection is deleted).
    pub len: u64,
    /// The stamp of the last transaction that wrote it, so that WATCH sees
    /// any write, even one that leaves the same elements.
    pub touched: u64,
    /// A list's first slot: its elements sit in slots `head..head + len`
    /// (slot numbers are offset by 2^63 so both ends can grow). 0 for the
    /// other kinds, and not stored for them.
    pub head: u64,
}

/// The collection types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// HSET and friends.
    Hash,
    /// SADD and friends.
    Set,
    /// LPUSH and friends.
    List,
    /// ZADD and friends.
    ZSet,
}

impl Kind {
    /// Redis's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Hash => "hash",
            Kind::Set => "set",
            Kind::List => "list",
            Kind::ZSet => "zset",
        }
    }
}

/// One incarnation of a collection: the stamp of the transaction that
/// created it (its txid, unique across coordinator restarts and the same on
/// every replica) and a sequence number among the incarnations that
/// transaction created. Never reused, so a new incarnation of a key never
/// sees an old one's elements.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Version {
    /// The creating transaction's stamp.
    pub stamp: u64,
    /// Which of that transaction's new incarnations.
    pub seq: u32,
}

/// A string key's value and deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrEntry {
    /// The value.
    pub value: Bytes,
    /// Its deadline, if it has one.
    pub expires_at: Option<u64>,
}

/// A command met a key holding another type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// Redis's error for a command on a key of another type.
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

impl From<WrongType> for Outcome {
    fn from(_: WrongType) -> Outcome {
        Outcome::Error(WRONGTYPE.to_string())
    }
}

impl From<WrongType> for (Outcome, Vec<Effect>) {
    fn from(_: WrongType) -> Evaluated {
        (Outcome::Error(WRONGTYPE.to_string()), Vec::new())
    }
}

/// The expiry a write gives a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    /// KEEPTTL: keep the key's current deadline.
    Keep,
    /// EX/PX, before the coordinator stamps the op: this many milliseconds
    /// from the stamped time (negative for EXPIRE with a negative amount).
    In(i64),
    /// EXAT/PXAT, or EX/PX once stamped: this unix time in milliseconds.
    At(i64),
    /// GETEX PERSIST: no deadline.
    Persist,
}

impl Expiry {
    /// The absolute form, relative ones counted from `now`.
    pub fn resolve(self, now: u64) -> Expiry {
        match self {
            Expiry::In(ms) => Expiry::At(i64::try_from(now).unwrap_or(i64::MAX).saturating_add(ms)),
            other => other,
        }
    }
}

/// The conditions of `EXPIRE key seconds [NX|XX|GT|LT]`, as Redis 7.0
/// combines them (XX with GT or LT is allowed; the parser refuses the rest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireFlags {
    /// NX: only if the key has no deadline.
    pub nx: bool,
    /// XX: only if the key has a deadline.
    pub xx: bool,
    /// GT: only if the new deadline is later (no deadline counts as infinite).
    pub gt: bool,
    /// LT: only if the new deadline is earlier (no deadline counts as infinite).
    pub lt: bool,
}

/// A write command, already validated, as sent in a PREPARE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteOp {
    /// SET key value, unconditionally: `+OK`.
    Set {
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
    },
    /// DEL/UNLINK key [key ...]: deletes, and counts the keys that existed.
    Del {
        /// The keys to delete (duplicates count once, as in Redis).
        keys: Vec<Bytes>,
    },
    /// SET with NX/XX and/or GET, and GETSET.
    SetWith {
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
        /// NX or XX, if given.
        condition: Option<SetCondition>,
        /// GET: reply the old value (or nil) instead of `+OK`.
        get: bool,
    },
    /// SETNX key value: `:1` if set, `:0` if the key existed.
    SetNx {
        /// The key.
        key: Bytes,
        /// The value.
        value: Bytes,
    },
    /// GETDEL key: the value (or nil), and the key deleted.
    GetDel {
        /// The key.
        key: Bytes,
    },
    /// MSET key value [key value ...]: `+OK`; a repeated key takes its last
    /// value.
    MSet {
        /// The pairs in command order.
        pairs: Vec<(Bytes, Bytes)>,
    },
    /// MSETNX: sets every pair (`:1`) only if none of the keys exists,
    /// else nothing (`:0`).
    MSetNx {
        /// The pairs in command order.
        pairs: Vec<(Bytes, Bytes)>,
    },
    /// INCR, DECR, INCRBY, DECRBY: the new value.
    IncrBy {
        /// The key.
        key: Bytes,
        /// The signed increment (already negated for DECR/DECRBY).
        delta: i64,
    },
    /// INCRBYFLOAT key increment: the new value, as Redis prints it.
    IncrByFloat {
        /// The key.
        key: Bytes,
        /// The increment's text, already checked to parse as a float.
        delta: Bytes,
    },
    /// APPEND key value: the new length.
    Append {
        /// The key.
        key: Bytes,
        /// The bytes appended.
        value: Bytes,
    },
    /// SETRANGE key offset value: the new length.
    SetRange {
        /// The key.
        key: Bytes,
        /// Where to write (already checked non-negative).
        offset: u64,
        /// The bytes written there.
        value: Bytes,
    },
    /// RENAME / RENAMENX.
    Rename {
        /// The existing key.
        from: Bytes,
        /// The new name.
        to: Bytes,
        /// RENAMENX: only if `to` does not exist; replies `:1`/`:0`
        /// instead of `+OK`.
        nx: bool,
    },
    /// FLUSHDB / FLUSHALL: deletes every key. Locks everything.
    Flush,
    /// MULTI ... EXEC: the queued data commands, evaluated in order, each
    /// seeing the writes of those before it, and committed together as one
    /// transaction. The outcome is an array of each command's outcome; a
    /// command that fails (INCR on a non-integer) has an error element and
    /// writes nothing, while the others still apply, as in Redis.
    Multi {
        /// WATCHed keys with the values they had when watched: if any has
        /// another value now, nothing runs and the outcome is
        /// [`Outcome::Aborted`]. (Redis aborts on any write to a watched
        /// key, even one that leaves the same value; we compare values.)
        watched: Vec<(Bytes, Option<Bytes>)>,
        /// The queued commands, in order.
        steps: Vec<Step>,
    },
    /// SET with EX, PX, EXAT, PXAT or KEEPTTL (and maybe NX/XX/GET), SETEX
    /// and PSETEX: as [`WriteOp::SetWith`], and the key gets `expiry`.
    SetEx {
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
        /// NX or XX, if given.
        condition: Option<SetCondition>,
        /// GET: reply the old value (or nil) instead of `+OK`.
        get: bool,
        /// The new deadline ([`Expiry::Persist`] is never sent here).
        expiry: Expiry,
    },
    /// GETEX key [EX|PX|EXAT|PXAT|PERSIST]: the value, and its deadline
    /// changed.
    GetEx {
        /// The key.
        key: Bytes,
        /// The new deadline, or none given (a plain read).
        expiry: Option<Expiry>,
    },
    /// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: `:1` if the deadline was set
    /// (or the key deleted, for a deadline already past), `:0` if the key
    /// is missing or a condition failed.
    Expire {
        /// The key.
        key: Bytes,
        /// The new deadline ([`Expiry::In`] or [`Expiry::At`]).
        when: Expiry,
        /// NX, XX, GT, LT.
        flags: ExpireFlags,
    },
    /// PERSIST key: `:1` if a deadline was removed.
    Persist {
        /// The key.
        key: Bytes,
    },
    /// The background expirer's delete: each key that is still expired at
    /// the stamped time is deleted (a key whose deadline was extended or
    /// removed meanwhile is left alone). Replies how many were deleted.
    Reap {
        /// The candidate keys.
        keys: Vec<Bytes>,
    },
    /// An op stamped with the coordinator's current time (unix
    /// milliseconds), at which it is evaluated on every replica, and with
    /// its transaction's id, which names the collections it creates and
    /// seeds its random choices ([`ReadView::new_version`],
    /// [`ReadView::random`]).
    At {
        /// The coordinator's clock when it sent the op.
        now_ms: u64,
        /// The transaction's stamp (its txid).
        stamp: u64,
        /// The op.
        op: Box<WriteOp>,
    },
    /// A hash command that writes.
    Hash(hash::HashWrite),
    /// A set command that writes.
    Sets(set::SetWrite),
    /// SETBIT and BITOP.
    Bits(bits::BitWrite),
    /// BITFIELD with a SET or INCRBY.
    BitField(bitfield::BitField),
    /// COPY source destination \[REPLACE\]: `:1` if copied.
    Copy {
        /// The source key.
        from: Bytes,
        /// The destination key.
        to: Bytes,
        /// REPLACE: overwrite an existing destination.
        replace: bool,
    },
    /// A list command that writes.
    Lists(list::ListWrite),
    /// A sorted set command that writes.
    ZSets(zset::ZSetWrite),
    /// SORT ... STORE destination.
    Sort(sort::SortStore),
}

/// One data command queued inside MULTI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// A write.
    Write(WriteOp),
    /// A read, which sees the writes queued before it.
    Read(ReadOp),
}

impl WriteOp {
    /// The keys this op writes; the coordinator locks them for the whole
    /// round. An op that [`locks_everything`](Self::locks_everything) names
    /// only those it knows (none for FLUSHDB), and locks all.
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            WriteOp::Set { key, .. }
            | WriteOp::SetWith { key, .. }
            | WriteOp::SetNx { key, .. }
            | WriteOp::GetDel { key }
            | WriteOp::IncrBy { key, .. }
            | WriteOp::IncrByFloat { key, .. }
            | WriteOp::Append { key, .. }
            | WriteOp::SetRange { key, .. }
            | WriteOp::SetEx { key, .. }
            | WriteOp::GetEx { key, .. }
            | WriteOp::Expire { key, .. }
            | WriteOp::Persist { key } => vec![key],
            WriteOp::Del { keys } | WriteOp::Reap { keys } => keys.iter().collect(),
            WriteOp::At { op, .. } => op.keys(),
            WriteOp::MSet { pairs } | WriteOp::MSetNx { pairs } => {
                pairs.iter().map(|(k, _)| k).collect()
            }
            WriteOp::Rename { from, to, .. } | WriteOp::Copy { from, to, .. } => vec![from, to],
            WriteOp::Hash(op) => op.keys(),
            WriteOp::Sets(op) => op.keys(),
            WriteOp::Lists(op) => op.keys(),
            WriteOp::ZSets(op) => op.keys(),
            WriteOp::Sort(op) => op.keys(),
            WriteOp::Bits(op) => {
                let mut keys = op.sources();
                keys.push(op.target());
                keys
            }
            WriteOp::BitField(op) => vec![&op.key],
            WriteOp::Flush => Vec::new(),
            WriteOp::Multi { watched, steps } => watched
                .iter()
                .map(|(k, _)| k)
                .chain(steps.iter().flat_map(|step| match step {
                    Step::Write(w) => w.keys(),
                    Step::Read(r) => r.keys(),
                }))
                .collect(),
        }
    }

    /// Whether this op may write keys it cannot name in advance (FLUSHDB),
    /// or read them as it writes (SORT ... STORE with a BY or GET pattern),
    /// so it needs the whole keyspace to itself: no other write may be in
    /// flight on any key while it runs, on the coordinator or on a replica.
    /// A MULTI does if any of its commands writes or reads keys it cannot
    /// name (FLUSHDB, KEYS, SCAN, DBSIZE, SORT with a pattern).
    pub fn locks_everything(&self) -> bool {
        match self {
            WriteOp::Flush => true,
            WriteOp::Sort(op) => op.sort.reads_other_keys(),
            WriteOp::Multi { steps, .. } => steps.iter().any(|step| match step {
                Step::Write(w) => w.locks_everything(),
                Step::Read(r) => r.reads_everything(),
            }),
            WriteOp::At { op, .. } => op.locks_everything(),
            _ => false,
        }
    }

    /// This op as the coordinator sends it at `now_ms` in transaction
    /// `stamp`: every relative deadline made absolute, and the time and
    /// stamp attached ([`WriteOp::At`]), so that every replica evaluates it
    /// at the same moment and makes the same choices.
    pub fn stamp(self, now_ms: u64, stamp: u64) -> WriteOp {
        let op = match self {
            WriteOp::At { op, .. } => *op,
            op => op,
        };
        WriteOp::At {
            now_ms,
            stamp,
            op: Box::new(op.resolve(now_ms)),
        }
    }

    /// This op with relative deadlines made absolute at `now`.
    fn resolve(self, now: u64) -> WriteOp {
        match self {
            WriteOp::SetEx {
                key,
                value,
                condition,
                get,
                expiry,
            } => WriteOp::SetEx {
                key,
                value,
                condition,
                get,
                expiry: expiry.resolve(now),
            },
            WriteOp::GetEx { key, expiry } => WriteOp::GetEx {
                key,
                expiry: expiry.map(|e| e.resolve(now)),
            },
            WriteOp::Expire { key, when, flags } => WriteOp::Expire {
                key,
                when: when.resolve(now),
                flags,
            },
            WriteOp::Multi { watched, steps } => WriteOp::Multi {
                watched,
                steps: steps
                    .into_iter()
                    .map(|step| match step {
                        Step::Write(w) => Step::Write(w.resolve(now)),
                        read => read,
                    })
                    .collect(),
            },
            other => other,
        }
    }
}

/// A read command, routed to one live participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadOp {
    /// GET key.
    Get {
        /// The key.
        key: Bytes,
    },
    /// MGET key [key ...]: an array of values or nils.
    MGet {
        /// The keys, in reply order.
        keys: Vec<Bytes>,
    },
    /// STRLEN key: the value's length, 0 if missing.
    StrLen {
        /// The key.
        key: Bytes,
    },
    /// GETRANGE (SUBSTR) key start end: a substring, by inclusive and
    /// possibly negative indices.
    GetRange {
        /// The key.
        key: Bytes,
        /// First index.
        start: i64,
        /// Last index (inclusive).
        end: i64,
    },
    /// EXISTS key [key ...]: how many of the arguments exist (a repeated
    /// key counts each time).
    Exists {
        /// The keys.
        keys: Vec<Bytes>,
    },
    /// TYPE key: `+string` or `+none`.
    Type {
        /// The key.
        key: Bytes,
    },
    /// KEYS pattern: every key matching a glob pattern.
    Keys {
        /// The glob pattern (Redis's `stringmatchlen`).
        pattern: Bytes,
    },
    /// One SCAN step, from a key bound (the cursor is decoded by the
    /// session, see [`super::cursor`]).
    Scan {
        /// Resume at the first key `>=` this (empty: from the start).
        from: Bytes,
        /// How many keys to examine (COUNT).
        count: u64,
        /// MATCH pattern, if any.
        pattern: Option<Bytes>,
        /// TYPE filter, if any.
        type_name: Option<Bytes>,
    },
    /// DBSIZE: the number of keys.
    DbSize,
    /// INFO's keyspace line: the number of keys, how many of them have a
    /// deadline, and their average time to live in milliseconds (0 when
    /// none has one), answered as an array of three integers.
    KeyspaceStats,
    /// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 for
    /// one without a deadline, else the time left (or the deadline).
    Ttl {
        /// The key.
        key: Bytes,
        /// PTTL, PEXPIRETIME: in milliseconds rather than seconds.
        millis: bool,
        /// EXPIRETIME, PEXPIRETIME: the deadline rather than the time left.
        absolute: bool,
    },
    /// Several clients' reads, combined by the coordinator
    /// ([`crate::coordinator::combine`]): each evaluated on the same
    /// snapshot, the outcome an array of theirs in order.
    Batch {
        /// The reads.
        ops: Vec<ReadOp>,
    },
    /// A read stamped with the time (unix milliseconds) at which keys are
    /// judged expired: the coordinator's for a routed read, the
    /// participant's own for a direct one.
    At {
        /// The time of the read.
        now_ms: u64,
        /// The read.
        op: Box<ReadOp>,
    },
    /// What WATCH remembers of a key ([`fingerprint`]).
    Fingerprint {
        /// The key.
        key: Bytes,
    },
    /// A hash command that only reads.
    Hash(hash::HashRead),
    /// A set command that only reads.
    Sets(set::SetRead),
    /// OBJECT ENCODING|REFCOUNT|IDLETIME|FREQ key.
    Object {
        /// Which subcommand.
        sub: keyspace::ObjectField,
        /// The key.
        key: Bytes,
    },
    /// RANDOMKEY: a random live key, or nil.
    RandomKey,
    /// GETBIT, BITCOUNT, BITPOS.
    Bits(bits::BitRead),
    /// BITFIELD_RO, and BITFIELD with only GETs.
    BitField(bitfield::BitField),
    /// LCS key1 key2 \[options\].
    Lcs(lcs::Lcs),
    /// A list command that only reads.
    Lists(list::ListRead),
    /// A sorted set command that only reads.
    ZSets(zset::ZSetRead),
    /// SORT without STORE, and SORT_RO.
    Sort(sort::Sort),
}

impl ReadOp {
    /// The keys this op reads; a read waits while any of them is prepared.
    /// An op that [`reads_everything`](Self::reads_everything) names only
    /// those it knows (none for KEYS; SORT's source), and waits for all.
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            ReadOp::Get { key }
            | ReadOp::StrLen { key }
            | ReadOp::GetRange { key, .. }
            | ReadOp::Type { key }
            | ReadOp::Fingerprint { key }
            | ReadOp::Object { key, .. }
            | ReadOp::Ttl { key, .. } => vec![key],
            ReadOp::Hash(op) => op.keys(),
            ReadOp::Sets(op) => op.keys(),
            ReadOp::Lists(op) => op.keys(),
            ReadOp::ZSets(op) => op.keys(),
            ReadOp::Sort(op) => vec![&op.key],
            ReadOp::Bits(op) => vec![op.key()],
            ReadOp::BitField(op) => vec![&op.key],
            ReadOp::Lcs(op) => vec![&op.a, &op.b],
            ReadOp::RandomKey => Vec::new(),
            ReadOp::MGet { keys } | ReadOp::Exists { keys } => keys.iter().collect(),
            ReadOp::Keys { .. } | ReadOp::Scan { .. } | ReadOp::DbSize | ReadOp::KeyspaceStats => {
                Vec::new()
            }
            ReadOp::Batch { ops } => ops.iter().flat_map(ReadOp::keys).collect(),
            ReadOp::At { op, .. } => op.keys(),
        }
    }

    /// This read judged at `now_ms` ([`ReadOp::At`]).
    pub fn stamp(self, now_ms: u64) -> ReadOp {
        let op = match self {
            ReadOp::At { op, .. } => *op,
            op => op,
        };
        ReadOp::At {
            now_ms,
            op: Box::new(op),
        }
    }

    /// Whether this read may take long (it walks a whole collection, the
    /// keyspace, or a long string): a replica runs it on the blocking pool
    /// rather than the read thread, so it never holds up other clients'
    /// point reads.
    pub fn is_heavy(&self) -> bool {
        match self {
            ReadOp::Hash(op) => op.is_heavy(),
            ReadOp::Sets(op) => op.is_heavy(),
            ReadOp::Lists(op) => op.is_heavy(),
            ReadOp::ZSets(op) => op.is_heavy(),
            ReadOp::Keys { .. }
            | ReadOp::Scan { .. }
            | ReadOp::DbSize
            | ReadOp::KeyspaceStats
            | ReadOp::RandomKey
            | ReadOp::Object { .. }
            | ReadOp::Lcs(_)
            | ReadOp::Sort(_)
            | ReadOp::Bits(_) => true,
            ReadOp::Batch { ops } => ops.iter().any(ReadOp::is_heavy),
            ReadOp::At { op, .. } => op.is_heavy(),
            _ => false,
        }
    }

    /// Whether this op reads keys it cannot name in advance (KEYS, SCAN,
    /// DBSIZE, INFO's counts, SORT with a BY or GET pattern): to stay
    /// linearizable it must wait until no transaction is
    /// prepared-but-unapplied on the replica serving it.
    pub fn reads_everything(&self) -> bool {
        match self {
            ReadOp::Sort(op) => op.reads_other_keys(),
            ReadOp::Keys { .. }
            | ReadOp::Scan { .. }
            | ReadOp::DbSize
            | ReadOp::KeyspaceStats
            | ReadOp::RandomKey => true,
            ReadOp::Batch { ops } => ops.iter().any(ReadOp::reads_everything),
            ReadOp::At { op, .. } => op.reads_everything(),
            _ => false,
        }
    }
}

/// The result of evaluating an op on a replica, independent of reply dialect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// `+OK`.
    Ok,
    /// An integer reply.
    Integer(i64),
    /// A bulk string, or nil.
    Value(Option<Bytes>),
    /// A command error (Redis text, e.g. `WRONGTYPE ...`); nothing is written.
    Error(String),
    /// A status reply other than OK (TYPE's `+string`).
    Status(String),
    /// An array of outcomes (MGET's values and nils, KEYS's keys).
    Array(Vec<Outcome>),
    /// One SCAN step: the bound to resume from (`None`: the iteration is
    /// complete) and the keys found. The session turns the bound into a
    /// numeric cursor ([`super::cursor`]).
    Scan {
        /// Where the next step starts, or `None` at the end.
        next: Option<Bytes>,
        /// The keys of this step that passed MATCH and TYPE.
        keys: Vec<Bytes>,
    },
    /// EXEC of a transaction whose WATCHed keys changed: nothing ran
    /// (a nil array).
    Aborted,
    /// Field/value pairs (HGETALL): a map in RESP3, a flat array in RESP2.
    Map(Vec<(Outcome, Outcome)>),
    /// An unordered collection (SMEMBERS): a set in RESP3, an array in
    /// RESP2.
    Set(Vec<Outcome>),
    /// Pairs (HRANDFIELD WITHVALUES): a flat array in RESP2, an array of
    /// two-element arrays in RESP3.
    Pairs(Vec<(Outcome, Outcome)>),
    /// A nil array (LPOP with a count, LMPOP, on nothing): `*-1` in RESP2,
    /// `_` in RESP3.
    NilArray,
    /// A double (a sorted set's score): a `%.17g` bulk string in RESP2, a
    /// `,` double in RESP3. Never NaN (no command yields one).
    Double(f64),
}

impl Outcome {
    /// How many items this outcome holds in its first two levels (0 for a
    /// scalar): a cheap measure of how long encoding it takes.
    pub fn items(&self) -> usize {
        match self {
            // A combined read's outcome is an array of its reads' ones.
            Outcome::Array(items) | Outcome::Set(items) => {
                items.iter().fold(items.len(), |n, item| {
                    n.saturating_add(item.shallow_items())
                })
            }
            other => other.shallow_items(),
        }
    }

    fn shallow_items(&self) -> usize {
        match self {
            Outcome::Array(items) | Outcome::Set(items) => items.len(),
            Outcome::Map(pairs) | Outcome::Pairs(pairs) => pairs.len().saturating_mul(2),
            Outcome::Scan { keys, .. } => keys.len(),
            _ => 0,
        }
    }
}

// Equality is total: no outcome holds a NaN ([`Outcome::Double`]).
impl Eq for Outcome {}

/// One resolved write: a user key's record put or deleted, or one element
/// record of a collection's incarnation put or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// The record of `key`: `Some` to store, `None` to delete.
    Key {
        /// The user key.
        key: Bytes,
        /// Its new record.
        entry: Option<Entry>,
    },
    /// An element record of `key`'s incarnation `version`.
    Element {
        /// The user key that owns it (what a lock covers).
        key: Bytes,
        /// The incarnation.
        version: Version,
        /// The subkey: a tag byte, then the field or member.
        sub: Bytes,
        /// The element's value (empty for a set member), `None` to delete.
        value: Option<Bytes>,
    },
}

impl Effect {
    /// Stores the string `value` under `key`, without a deadline.
    pub fn put(key: &Bytes, value: Bytes) -> Effect {
        Effect::put_expiring(key, value, None)
    }

    /// Stores the string `value` under `key` with deadline `expires_at`.
    pub fn put_expiring(key: &Bytes, value: Bytes, expires_at: Option<u64>) -> Effect {
        Effect::record(key, Some(Entry::string(value, expires_at)))
    }

    /// Deletes `key`.
    pub fn delete(key: &Bytes) -> Effect {
        Effect::record(key, None)
    }

    /// Stores (or deletes) `key`'s record.
    pub fn record(key: &Bytes, entry: Option<Entry>) -> Effect {
        Effect::Key {
            key: key.clone(),
            entry,
        }
    }

    /// The user key this effect writes (for an element, its owner).
    pub fn key(&self) -> &Bytes {
        match self {
            Effect::Key { key, .. } | Effect::Element { key, .. } => key,
        }
    }

    /// The key's record this effect leaves, if it writes one (`Some(None)`
    /// for a delete).
    pub fn entry(&self) -> Option<Option<&Entry>> {
        match self {
            Effect::Key { entry, .. } => Some(entry.as_ref()),
            Effect::Element { .. } => None,
        }
    }

    /// Whether this effect stores something under an unstorable name.
    fn unstorable(&self) -> Option<&'static str> {
        match self {
            Effect::Key {
                key,
                entry: Some(_),
            } => unstorable_key(key),
            Effect::Element {
                sub,
                value: Some(_),
                ..
            } => unstorable_subkey(sub),
            _ => None,
        }
    }
}

/// What evaluating a write produces: the outcome, and the effects a commit
/// applies (none for an error).
pub type Evaluated = (Outcome, Vec<Effect>);

/// A replica's stored data as it is, expired keys included: what a store
/// provides to evaluation, which reads it through a [`Live`] view.
pub trait Stored {
    /// The error a read can fail with (storage errors).
    type Error;

    /// The stored entry of `key`, expired or not.
    fn stored(&self, key: &[u8]) -> Result<Option<Entry>, Self::Error>;

    /// Up to `limit` keys `>= start` with their deadlines, in ascending
    /// bytewise order, expired ones included. Must not allocate in
    /// proportion to `limit` (SCAN's COUNT comes from clients).
    fn stored_from(
        &self,
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Option<u64>)>, Self::Error>;

    /// The element record `sub` of incarnation `version`.
    fn stored_element(&self, version: Version, sub: &[u8]) -> Result<Option<Bytes>, Self::Error>;

    /// Up to `limit` element records of `version` with subkey `>= from`, in
    /// ascending subkey order. Must not allocate in proportion to `limit`.
    fn stored_elements(
        &self,
        version: Version,
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, Self::Error>;
}

/// Read access to a replica's live data at one moment, as the command
/// families see it: a key whose deadline has passed does not exist.
///
/// Keys and subkeys are ordered bytewise (as fjall orders them). The
/// methods without a body are required; the rest are built on them.
pub trait ReadView {
    /// The error a read can fail with (storage errors).
    type Error;

    /// The moment of the evaluation (unix milliseconds).
    fn now(&self) -> u64;

    /// The live entry of `key`.
    fn entry(&self, key: &[u8]) -> Result<Option<Entry>, Self::Error>;

    /// Up to `limit` live keys `>= start`, in ascending bytewise order. Must
    /// not allocate in proportion to `limit`.
    fn keys_from(&self, start: &[u8], limit: usize) -> Result<Vec<Bytes>, Self::Error>;

    /// As [`keys_from`](Self::keys_from), expired keys included (FLUSHDB
    /// deletes those too).
    fn stored_keys_from(&self, start: &[u8], limit: usize) -> Result<Vec<Bytes>, Self::Error>;

    /// The element record `sub` of incarnation `version`.
    fn element(&self, version: Version, sub: &[u8]) -> Result<Option<Bytes>, Self::Error>;

    /// Up to `limit` element records of `version` with subkey `>= from`.
    fn elements(
        &self,
        version: Version,
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, Self::Error>;

    /// A fresh incarnation for a collection this evaluation creates: the
    /// same on every replica that evaluates the same op, never one in use.
    fn new_version(&self) -> Version;

    /// The stamp of the evaluating transaction (0 for a plain read).
    fn stamp(&self) -> u64;

    /// The next number of this evaluation's pseudo-random sequence: seeded
    /// by the stamp for a write, so every replica makes the same random
    /// choices (SPOP); by the replica for a plain read.
    fn random(&self) -> u64;

    /// The live string at `key`, `Ok(None)` if missing, `Err(WrongType)` if
    /// the key holds another type.
    fn string(&self, key: &[u8]) -> Result<Result<Option<StrEntry>, WrongType>, Self::Error> {
        Ok(match self.entry(key)? {
            None => Ok(None),
            Some(Entry {
                value: Value::String(value),
                expires_at,
            }) => Ok(Some(StrEntry { value, expires_at })),
            Some(_) => Err(WrongType),
        })
    }

    /// Whether `key` exists.
    fn contains(&self, key: &[u8]) -> Result<bool, Self::Error> {
        Ok(self.entry(key)?.is_some())
    }

    /// Up to `limit` live keys `>= start` with their deadlines, in
    /// ascending bytewise order. The default looks each key up; a view
    /// that keeps deadlines with its keys answers from one scan.
    fn deadlines_from(
        &self,
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Option<u64>)>, Self::Error> {
        let mut keys = Vec::new();
        for key in self.keys_from(start, limit)? {
            let deadline = self.entry(&key)?.and_then(|e| e.expires_at);
            keys.push((key, deadline));
        }
        Ok(keys)
    }

    /// The number of keys.
    fn count(&self) -> Result<u64, Self::Error> {
        let mut total = 0u64;
        every_page(
            |start, limit| self.keys_from(start, limit),
            |k| k,
            |_| total += 1,
        )?;
        Ok(total)
    }

    /// The number of keys, how many have a deadline, and their average
    /// time to live in milliseconds (0 when none has one): INFO's
    /// `keys`, `expires` and `avg_ttl`.
    fn keyspace_stats(&self) -> Result<(u64, u64, u64), Self::Error> {
        let now = self.now();
        let (mut keys, mut expires, mut ttl_sum) = (0u64, 0u64, 0u128);
        every_page(
            |start, limit| self.deadlines_from(start, limit),
            |(k, _)| k,
            |(_, deadline)| {
                keys += 1;
                if let Some(at) = deadline {
                    expires += 1;
                    ttl_sum += u128::from(at.saturating_sub(now));
                }
            },
        )?;
        let avg_ttl = ttl_sum.checked_div(u128::from(expires)).unwrap_or(0);
        Ok((keys, expires, u64::try_from(avg_ttl).unwrap_or(u64::MAX)))
    }

    /// Every element record of `version` whose subkey starts with `prefix`
    /// (a tag), in order, visited a page at a time; `visit` returns false
    /// to stop early.
    fn each_element(
        &self,
        version: Version,
        prefix: &[u8],
        visit: impl FnMut(&Bytes, &Bytes) -> bool,
    ) -> Result<(), Self::Error> {
        self.each_element_from(version, prefix, prefix, visit)
    }

    /// As [`each_element`](Self::each_element), starting at subkey `from`
    /// (`>= prefix`) rather than at the first.
    ///
    /// Pages start small and double: a walk that stops after a record or
    /// two (ZPOPMIN, `ZRANGE key 0 0`) reads a handful, not a thousand,
    /// while a whole-collection read soon reads a thousand at a time.
    fn each_element_from(
        &self,
        version: Version,
        prefix: &[u8],
        from: &[u8],
        mut visit: impl FnMut(&Bytes, &Bytes) -> bool,
    ) -> Result<(), Self::Error> {
        const FIRST_PAGE: usize = 16;
        const MAX_PAGE: usize = 1024;
        let mut page_len = FIRST_PAGE;
        let mut from = Bytes::copy_from_slice(from.max(prefix));
        loop {
            let page = self.elements(version, &from, page_len)?;
            for (sub, value) in &page {
                if !sub.starts_with(prefix) || !visit(sub, value) {
                    return Ok(());
                }
            }
            match page.last() {
                Some((last, _)) if page.len() == page_len => from = successor(last),
                _ => return Ok(()),
            }
            page_len = (page_len * 2).min(MAX_PAGE);
        }
    }
}

/// Visits every item `fetch` lists from the first key on, a page at a
/// time (`key` names an item's key, where the next page starts after).
fn every_page<T, E>(
    fetch: impl Fn(&[u8], usize) -> Result<Vec<T>, E>,
    key: impl Fn(&T) -> &Bytes,
    mut visit: impl FnMut(&T),
) -> Result<(), E> {
    const PAGE: usize = 4096;
    let mut start = Bytes::new();
    loop {
        let page = fetch(&start, PAGE)?;
        page.iter().for_each(&mut visit);
        match page.last() {
            Some(last) if page.len() == PAGE => start = successor(key(last)),
            _ => return Ok(()),
        }
    }
}

/// Whether a key with deadline `expires_at` is gone at `now`. As in Redis,
/// a key lives through the millisecond of its deadline.
pub fn is_expired(expires_at: Option<u64>, now: u64) -> bool {
    expires_at.is_some_and(|at| at < now)
}

/// The live view of stored data at one moment: keys whose deadline has
/// passed are hidden. It also hands out the evaluation's fresh versions
/// and random numbers.
pub struct Live<'a, S> {
    /// The stored data.
    pub base: &'a S,
    /// The moment (unix milliseconds).
    pub now: u64,
    stamp: u64,
    next_seq: Cell<u32>,
    rng: Cell<u64>,
}

impl<'a, S> Live<'a, S> {
    /// The view of `base` at `now`, for a transaction stamped `stamp`, its
    /// random sequence seeded with `seed`.
    pub fn new(base: &'a S, now: u64, stamp: u64, seed: u64) -> Live<'a, S> {
        Live {
            base,
            now,
            stamp,
            next_seq: Cell::new(0),
            rng: Cell::new(seed),
        }
    }
}

/// How many stored keys [`Live`] reads at a time while skipping expired ones.
const LIVE_PAGE: usize = 1024;

impl<S: Stored> ReadView for Live<'_, S> {
    type Error = S::Error;

    fn now(&self) -> u64 {
        self.now
    }

    fn entry(&self, key: &[u8]) -> Result<Option<Entry>, S::Error> {
        Ok(self
            .base
            .stored(key)?
            .filter(|e| !is_expired(e.expires_at, self.now)))
    }

    fn keys_from(&self, start: &[u8], limit: usize) -> Result<Vec<Bytes>, S::Error> {
        let live = self.deadlines_from(start, limit)?;
        Ok(live.into_iter().map(|(key, _)| key).collect())
    }

    fn deadlines_from(
        &self,
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Option<u64>)>, S::Error> {
        // Pages of the stored keys until `limit` live ones are found or the
        // keys run out, so expired keys never end a listing early.
        let mut keys = Vec::new();
        let mut from = Bytes::copy_from_slice(start);
        let page_len = limit.clamp(1, LIVE_PAGE);
        loop {
            let page = self.base.stored_from(&from, page_len)?;
            let full = page.len() == page_len;
            if let Some((last, _)) = page.last() {
                from = successor(last);
            }
            for (key, expires_at) in page {
                if !is_expired(expires_at, self.now) {
                    keys.push((key, expires_at));
                    if keys.len() >= limit {
                        return Ok(keys);
                    }
                }
            }
            if !full {
                return Ok(keys);
            }
        }
    }

    fn stored_keys_from(&self, start: &[u8], limit: usize) -> Result<Vec<Bytes>, S::Error> {
        Ok(self
            .base
            .stored_from(start, limit)?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    fn element(&self, version: Version, sub: &[u8]) -> Result<Option<Bytes>, S::Error> {
        self.base.stored_element(version, sub)
    }

    fn elements(
        &self,
        version: Version,
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, S::Error> {
        self.base.stored_elements(version, from, limit)
    }

    fn new_version(&self) -> Version {
        let seq = self.next_seq.get();
        self.next_seq.set(seq.wrapping_add(1));
        Version {
            stamp: self.stamp,
            seq,
        }
    }

    fn stamp(&self) -> u64 {
        self.stamp
    }

    fn random(&self) -> u64 {
        // splitmix64: small, fast, and the same everywhere.
        let state = self.rng.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.rng.set(state);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The smallest key greater than `key`: `key` followed by a zero byte.
pub fn successor(key: &[u8]) -> Bytes {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    Bytes::from(next)
}

/// The longest key the store holds: fjall's limit (65535 bytes) less the
/// deadline that prefixes a key in the expiry index.
pub const MAX_KEY_LEN: usize = 65535 - 8;

/// The longest subkey (tag and field or member) the store holds: fjall's
/// limit less the version that prefixes it.
pub const MAX_SUBKEY_LEN: usize = 65535 - 12;

/// Why a key cannot be stored, if it cannot: fjall holds no key longer than
/// [`MAX_KEY_LEN`] (and would bring the replica down trying), where Redis
/// takes keys up to 512 MB.
pub fn unstorable_key(key: &[u8]) -> Option<&'static str> {
    (key.len() > MAX_KEY_LEN).then_some("ERR keys longer than 65527 bytes are not supported")
}

/// Why a field or member cannot be stored, if it cannot.
pub fn unstorable_subkey(sub: &[u8]) -> Option<&'static str> {
    (sub.len() > MAX_SUBKEY_LEN)
        .then_some("ERR fields and members longer than 65522 bytes are not supported")
}

/// The error of an op that only the coordinator's own machinery sends
/// (a stamp or a reap inside a transaction, a stamp inside a stamp).
const MISPLACED: &str = "ERR this operation cannot be nested";

/// Evaluates a write op against stored data: its outcome and the effects
/// committing it applies. A stamped op ([`WriteOp::At`]) is evaluated at
/// its time, with its stamp; any other at time 0 with stamp 0. An op that
/// would store a key the storage engine cannot hold ([`unstorable_key`])
/// fails as a whole, writing nothing.
pub fn eval_write<S: Stored>(op: &WriteOp, store: &S) -> Result<Evaluated, S::Error> {
    let (now, stamp, op) = match op {
        WriteOp::At { now_ms, stamp, op } => (*now_ms, *stamp, op.as_ref()),
        op => (0, 0, op),
    };
    let view = Live::new(store, now, stamp, stamp);
    match op {
        WriteOp::Multi { watched, steps } => {
            for (key, value) in watched {
                if fingerprint(view.entry(key)?.as_ref()) != *value {
                    return Ok((Outcome::Aborted, Vec::new()));
                }
            }
            eval_multi(steps, &view)
        }
        WriteOp::Reap { keys } => expire::reap(store, keys, now),
        single => eval_single(single, &view),
    }
}

/// What WATCH remembers of a key: its whole record (value or collection
/// header, and deadline), `None` for a missing key. A collection's header
/// changes with every write to it ([`Collection::touched`]).
pub fn fingerprint(entry: Option<&Entry>) -> Option<Bytes> {
    entry.map(crate::storage::value::encode_entry)
}

/// The error of a MULTI inside a MULTI (the session never sends one).
const NESTED_MULTI: &str = "ERR MULTI calls can not be nested";

/// Evaluates MULTI's steps in order against `view` plus the writes of the
/// steps before, and returns every step's outcome and the combined effects
/// (the last write of each key and element).
fn eval_multi<V: ReadView>(steps: &[Step], view: &V) -> Result<Evaluated, V::Error> {
    let mut pending = Overlay {
        base: view,
        writes: BTreeMap::new(),
        elements: BTreeMap::new(),
    };
    let mut outcomes = Vec::with_capacity(steps.len());
    for step in steps {
        let outcome = match step {
            Step::Write(w) => {
                let (outcome, effects) = eval_single(w, &pending)?;
                for e in effects {
                    pending.lay(e);
                }
                outcome
            }
            Step::Read(r) => eval_live_read(r, &pending)?,
        };
        outcomes.push(outcome);
    }
    Ok((Outcome::Array(outcomes), pending.into_effects()))
}

/// A view with a transaction's earlier writes laid over it. (A write never
/// leaves an entry that is already expired, and the time does not move
/// within a transaction, so pending entries are all live.)
struct Overlay<'a, V> {
    base: &'a V,
    /// Key to its pending entry (`None`: deleted).
    writes: BTreeMap<Bytes, Option<Entry>>,
    /// (Version, subkey) to the owning key and the pending value.
    elements: BTreeMap<(Version, Bytes), (Bytes, Option<Bytes>)>,
}

impl<V: ReadView> Overlay<'_, V> {
    /// Lays one more effect over the view.
    fn lay(&mut self, effect: Effect) {
        match effect {
            Effect::Key { key, entry } => {
                self.writes.insert(key, entry);
            }
            Effect::Element {
                key,
                version,
                sub,
                value,
            } => {
                self.elements.insert((version, sub), (key, value));
            }
        }
    }

    /// The pending writes as effects, one per key and per element.
    fn into_effects(self) -> Vec<Effect> {
        let keys = self
            .writes
            .into_iter()
            .map(|(key, entry)| Effect::Key { key, entry });
        let elements = self
            .elements
            .into_iter()
            .map(|((version, sub), (key, value))| Effect::Element {
                key,
                version,
                sub,
                value,
            });
        keys.chain(elements).collect()
    }

    /// Merges the base's keys from `start` (fetched by `fetch`) with the
    /// pending writes.
    fn merged(
        &self,
        start: &[u8],
        limit: usize,
        fetch: impl FnOnce(usize) -> Result<Vec<Bytes>, V::Error>,
    ) -> Result<Vec<Bytes>, V::Error> {
        // At most `deleted` of the base's keys are hidden, so its first
        // `limit + deleted` keys from `start` hold every base key among the
        // first `limit` that survive.
        let deleted = self.writes.values().filter(|v| v.is_none()).count();
        let base = fetch(limit.saturating_add(deleted))?;
        let mut keys: Vec<Bytes> = base
            .into_iter()
            .filter(|k| !self.writes.contains_key(k))
            .collect();
        let from = (std::ops::Bound::Included(start), std::ops::Bound::Unbounded);
        keys.extend(
            self.writes
                .range::<[u8], _>(from)
                .filter(|(_, v)| v.is_some())
                .map(|(k, _)| k.clone()),
        );
        keys.sort_unstable();
        keys.truncate(limit);
        Ok(keys)
    }
}

impl<V: ReadView> ReadView for Overlay<'_, V> {
    type Error = V::Error;

    fn now(&self) -> u64 {
        self.base.now()
    }

    fn entry(&self, key: &[u8]) -> Result<Option<Entry>, V::Error> {
        match self.writes.get(key) {
            Some(pending) => Ok(pending.clone()),
            None => self.base.entry(key),
        }
    }

    fn keys_from(&self, start: &[u8], limit: usize) -> Result<Vec<Bytes>, V::Error> {
        self.merged(start, limit, |n| self.base.keys_from(start, n))
    }

    fn stored_keys_from(&self, start: &[u8], limit: usize) -> Result<Vec<Bytes>, V::Error> {
        self.merged(start, limit, |n| self.base.stored_keys_from(start, n))
    }

    fn element(&self, version: Version, sub: &[u8]) -> Result<Option<Bytes>, V::Error> {
        match self.elements.get(&(version, Bytes::copy_from_slice(sub))) {
            Some((_, pending)) => Ok(pending.clone()),
            None => self.base.element(version, sub),
        }
    }

    fn elements(
        &self,
        version: Version,
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, V::Error> {
        let lo = (version, Bytes::copy_from_slice(from));
        let hi = (
            Version {
                stamp: version.stamp,
                seq: version.seq.wrapping_add(1),
            },
            Bytes::new(),
        );
        let pending: Vec<(&Bytes, &Option<Bytes>)> = if version.seq == u32::MAX {
            self.elements
                .range(lo..)
                .take_while(|((v, _), _)| *v == version)
                .map(|((_, sub), (_, value))| (sub, value))
                .collect()
        } else {
            self.elements
                .range(lo..hi)
                .map(|((_, sub), (_, value))| (sub, value))
                .collect()
        };
        let deleted = pending.iter().filter(|(_, v)| v.is_none()).count();
        let base = self
            .base
            .elements(version, from, limit.saturating_add(deleted))?;
        let mut merged: BTreeMap<Bytes, Bytes> = base
            .into_iter()
            .filter(|(sub, _)| !self.elements.contains_key(&(version, sub.clone())))
            .collect();
        for (sub, value) in pending {
            if let Some(value) = value {
                merged.insert(sub.clone(), value.clone());
            }
        }
        Ok(merged.into_iter().take(limit).collect())
    }

    fn new_version(&self) -> Version {
        self.base.new_version()
    }

    fn stamp(&self) -> u64 {
        self.base.stamp()
    }

    fn random(&self) -> u64 {
        self.base.random()
    }
}

/// Evaluates one command (a MULTI inside a MULTI is an error).
fn eval_single<V: ReadView>(op: &WriteOp, view: &V) -> Result<Evaluated, V::Error> {
    let (outcome, effects) = eval_write_unchecked(op, view)?;
    match effects.iter().find_map(Effect::unstorable) {
        Some(problem) => Ok((Outcome::Error(problem.to_string()), Vec::new())),
        None => Ok((outcome, effects)),
    }
}

fn eval_write_unchecked<V: ReadView>(op: &WriteOp, view: &V) -> Result<Evaluated, V::Error> {
    match op {
        WriteOp::Set { key, value } => Ok((Outcome::Ok, vec![Effect::put(key, value.clone())])),
        WriteOp::SetWith {
            key,
            value,
            condition,
            get,
        } => string::set_with(view, key, value, *condition, *get, None),
        WriteOp::SetEx {
            key,
            value,
            condition,
            get,
            expiry,
        } => string::set_with(view, key, value, *condition, *get, Some(*expiry)),
        WriteOp::GetEx { key, expiry } => string::getex(view, key, *expiry),
        WriteOp::SetNx { key, value } => string::setnx(view, key, value),
        WriteOp::GetDel { key } => string::getdel(view, key),
        WriteOp::MSet { pairs } => Ok((Outcome::Ok, string::mset_effects(pairs))),
        WriteOp::MSetNx { pairs } => string::msetnx(view, pairs),
        WriteOp::Append { key, value } => string::append(view, key, value),
        WriteOp::SetRange { key, offset, value } => string::setrange(view, key, *offset, value),
        WriteOp::IncrBy { key, delta } => counter::incrby(view, key, *delta),
        WriteOp::IncrByFloat { key, delta } => counter::incrbyfloat(view, key, delta),
        WriteOp::Del { keys } => keyspace::del(view, keys),
        WriteOp::Rename { from, to, nx } => keyspace::rename(view, from, to, *nx),
        WriteOp::Flush => keyspace::flush(view),
        WriteOp::Expire { key, when, flags } => expire::expire(view, key, *when, *flags),
        WriteOp::Persist { key } => expire::persist(view, key),
        WriteOp::Hash(op) => hash::eval_write(op, view),
        WriteOp::Sets(op) => set::eval_write(op, view),
        WriteOp::Lists(op) => list::eval_write(op, view),
        WriteOp::ZSets(op) => zset::eval_write(op, view),
        WriteOp::Copy { from, to, replace } => keyspace::copy(view, from, to, *replace),
        WriteOp::Sort(op) => sort::eval_store(op, view),
        WriteOp::Bits(op) => string::bit_write(view, op),
        WriteOp::BitField(op) => string::bitfield(view, op),
        WriteOp::Multi { .. } => Ok((Outcome::Error(NESTED_MULTI.to_string()), Vec::new())),
        WriteOp::Reap { .. } | WriteOp::At { .. } => {
            Ok((Outcome::Error(MISPLACED.to_string()), Vec::new()))
        }
    }
}

/// Evaluates a read op against stored data: a stamped read
/// ([`ReadOp::At`]) at its time, any other at time 0. `seed` seeds the
/// random choices of SRANDMEMBER and friends (a read is served by one
/// replica, which picks it).
pub fn eval_read<S: Stored>(op: &ReadOp, store: &S, seed: u64) -> Result<Outcome, S::Error> {
    let (now, op) = match op {
        ReadOp::At { now_ms, op } => (*now_ms, op.as_ref()),
        op => (0, op),
    };
    eval_live_read(op, &Live::new(store, now, 0, seed))
}

/// Evaluates a read op against a live view.
fn eval_live_read<V: ReadView>(op: &ReadOp, view: &V) -> Result<Outcome, V::Error> {
    match op {
        ReadOp::Get { key } => string::get(view, key),
        ReadOp::MGet { keys } => string::mget(view, keys),
        ReadOp::StrLen { key } => string::strlen(view, key),
        ReadOp::GetRange { key, start, end } => string::getrange(view, key, *start, *end),
        ReadOp::Exists { keys } => keyspace::exists(view, keys),
        ReadOp::Type { key } => keyspace::type_of(view, key),
        ReadOp::Keys { pattern } => keyspace::keys(view, pattern),
        ReadOp::Scan {
            from,
            count,
            pattern,
            type_name,
        } => keyspace::scan(view, from, *count, pattern.as_deref(), type_name.as_deref()),
        ReadOp::DbSize => Ok(Outcome::Integer(
            i64::try_from(view.count()?).unwrap_or(i64::MAX),
        )),
        ReadOp::KeyspaceStats => {
            let (keys, expires, avg_ttl) = view.keyspace_stats()?;
            let int = |n: u64| Outcome::Integer(i64::try_from(n).unwrap_or(i64::MAX));
            Ok(Outcome::Array(vec![int(keys), int(expires), int(avg_ttl)]))
        }
        ReadOp::Ttl {
            key,
            millis,
            absolute,
        } => expire::ttl(view, key, *millis, *absolute),
        ReadOp::Batch { ops } => Ok(Outcome::Array(
            ops.iter()
                .map(|op| eval_live_read(op, view))
                .collect::<Result<_, _>>()?,
        )),
        ReadOp::Fingerprint { key } => Ok(Outcome::Value(fingerprint(view.entry(key)?.as_ref()))),
        ReadOp::Hash(op) => hash::eval_read(op, view),
        ReadOp::Sets(op) => set::eval_read(op, view),
        ReadOp::Lists(op) => list::eval_read(op, view),
        ReadOp::ZSets(op) => zset::eval_read(op, view),
        ReadOp::Object { sub, key } => keyspace::object(view, *sub, key),
        ReadOp::RandomKey => keyspace::random_key(view),
        ReadOp::Bits(op) => string::bit_read(view, op),
        ReadOp::BitField(op) => Ok(string::bitfield(view, op)?.0),
        ReadOp::Lcs(op) => string::lcs(view, op),
        ReadOp::Sort(op) => sort::eval_read(op, view),
        ReadOp::At { .. } => Ok(Outcome::Error(MISPLACED.to_string())),
    }
}

/// An in-memory [`Stored`] for the unit tests of every family.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;
    use std::convert::Infallible;

    use bytes::Bytes;

    use super::{Collection, Effect, Entry, Stored, Value, Version};

    /// A request's arguments from a space-separated line.
    pub fn args(s: &str) -> Vec<Bytes> {
        s.split(' ').map(b).collect()
    }

    /// The error text a request line gets from the parser.
    pub fn parse_err(s: &str) -> String {
        match crate::command::parse(&args(s), crate::config::Dialect::Redis) {
            Err(e) => e.to_string(),
            Ok(cmd) => panic!("{s:?} parsed as {cmd:?}"),
        }
    }

    /// Runs a command line at time 1: a write as transaction `stamp`
    /// (which names the collections it creates and seeds its random
    /// choices), its effects applied; a read with seed 0.
    pub fn run(view: &mut MapView, stamp: u64, line: &str) -> super::Outcome {
        match crate::command::parse(&args(line), crate::config::Dialect::Redis) {
            Ok(crate::command::Command::Write(op)) => {
                let (outcome, effects) = match super::eval_write(&op.stamp(1, stamp), view) {
                    Ok(x) => x,
                    Err(e) => match e {},
                };
                view.apply(&effects);
                outcome
            }
            Ok(crate::command::Command::Read(op)) => {
                match super::eval_read(&op.stamp(1), view, 0) {
                    Ok(outcome) => outcome,
                    Err(e) => match e {},
                }
            }
            other => panic!("{line:?} is {other:?}"),
        }
    }

    /// Evaluates `op` on `view`, applies its effects, returns its outcome.
    pub fn write(view: &mut MapView, op: super::WriteOp) -> super::Outcome {
        let (outcome, effects) = match super::eval_write(&op, view) {
            Ok(x) => x,
            Err(e) => match e {},
        };
        view.apply(&effects);
        outcome
    }

    /// A replica's data as ordered maps: string values, the deadlines of
    /// the keys that have one, collection headers, and element records.
    #[derive(Debug, Default, Clone)]
    pub struct MapView(
        pub BTreeMap<Bytes, Bytes>,
        pub BTreeMap<Bytes, u64>,
        pub BTreeMap<Bytes, Collection>,
        pub BTreeMap<(Version, Bytes), Bytes>,
    );

    impl MapView {
        /// A view holding `pairs`.
        pub fn of(pairs: &[(&str, &str)]) -> MapView {
            MapView(
                pairs
                    .iter()
                    .map(|(k, v)| (b(k), b(v)))
                    .collect::<BTreeMap<_, _>>(),
                BTreeMap::new(),
                BTreeMap::new(),
                BTreeMap::new(),
            )
        }

        /// Applies committed effects.
        pub fn apply(&mut self, effects: &[Effect]) {
            for e in effects {
                match e {
                    Effect::Key { key, entry } => {
                        self.0.remove(key);
                        self.1.remove(key);
                        self.2.remove(key);
                        if let Some(entry) = entry {
                            match &entry.value {
                                Value::String(v) => self.0.insert(key.clone(), v.clone()),
                                Value::Collection(c) => {
                                    self.2.insert(key.clone(), *c);
                                    None
                                }
                            };
                            if let Some(at) = entry.expires_at {
                                self.1.insert(key.clone(), at);
                            }
                        }
                    }
                    Effect::Element {
                        version,
                        sub,
                        value,
                        ..
                    } => match value {
                        Some(v) => {
                            self.3.insert((*version, sub.clone()), v.clone());
                        }
                        None => {
                            self.3.remove(&(*version, sub.clone()));
                        }
                    },
                }
            }
        }
    }

    impl Stored for MapView {
        type Error = Infallible;
        fn stored(&self, key: &[u8]) -> Result<Option<Entry>, Infallible> {
            let value = match (self.0.get(key), self.2.get(key)) {
                (Some(v), _) => Value::String(v.clone()),
                (None, Some(c)) => Value::Collection(*c),
                (None, None) => return Ok(None),
            };
            Ok(Some(Entry {
                value,
                expires_at: self.1.get(key).copied(),
            }))
        }
        fn stored_from(
            &self,
            start: &[u8],
            limit: usize,
        ) -> Result<Vec<(Bytes, Option<u64>)>, Infallible> {
            let from = || (std::ops::Bound::Included(start), std::ops::Bound::Unbounded);
            let mut keys: Vec<&Bytes> = self
                .0
                .range::<[u8], _>(from())
                .map(|(k, _)| k)
                .chain(self.2.range::<[u8], _>(from()).map(|(k, _)| k))
                .collect();
            keys.sort();
            Ok(keys
                .into_iter()
                .take(limit)
                .map(|k| (k.clone(), self.1.get(k).copied()))
                .collect())
        }
        fn stored_element(
            &self,
            version: Version,
            sub: &[u8],
        ) -> Result<Option<Bytes>, Infallible> {
            Ok(self.3.get(&(version, Bytes::copy_from_slice(sub))).cloned())
        }
        fn stored_elements(
            &self,
            version: Version,
            from: &[u8],
            limit: usize,
        ) -> Result<Vec<(Bytes, Bytes)>, Infallible> {
            Ok(self
                .3
                .range((version, Bytes::copy_from_slice(from))..)
                .take_while(|((v, _), _)| *v == version)
                .take(limit)
                .map(|((_, sub), value)| (sub.clone(), value.clone()))
                .collect())
        }
    }

    /// Bytes from text.
    pub fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{MapView, b};
    use super::*;

    #[test]
    fn del_counts_existing_keys_once() {
        let view = MapView::of(&[("a", "1"), ("b", "2")]);
        let op = WriteOp::Del {
            keys: vec![b("a"), b("a"), b("c"), b("b")],
        };
        let (outcome, effects) = eval_write(&op, &view).unwrap();
        assert_eq!(outcome, Outcome::Integer(2));
        assert_eq!(effects.len(), 2);
        assert!(effects.iter().all(|e| e.entry() == Some(None)));
    }

    #[test]
    fn set_writes_the_value_and_get_reads_it() {
        let view = MapView::of(&[("k", "v")]);
        let (outcome, effects) = eval_write(
            &WriteOp::Set {
                key: b("k"),
                value: b("w"),
            },
            &view,
        )
        .unwrap();
        assert_eq!(outcome, Outcome::Ok);
        assert_eq!(effects[0], Effect::put(&b("k"), b("w")));
        let read = eval_read(&ReadOp::Get { key: b("k") }, &view, 0).unwrap();
        assert_eq!(read, Outcome::Value(Some(b("v"))));
        let missing = eval_read(&ReadOp::Get { key: b("x") }, &view, 0).unwrap();
        assert_eq!(missing, Outcome::Value(None));
    }

    #[test]
    fn keys_the_store_cannot_hold_are_refused() {
        let view = MapView::default();
        let long = Bytes::from(vec![b'k'; MAX_KEY_LEN + 1]);
        {
            let key = long;
            let op = WriteOp::MSet {
                pairs: vec![(b("ok"), b("1")), (key.clone(), b("2"))],
            };
            let (outcome, effects) = eval_write(&op, &view).unwrap();
            assert!(matches!(outcome, Outcome::Error(_)), "{outcome:?}");
            assert!(effects.is_empty());
            // Deleting such a key is harmless (it cannot exist).
            let (outcome, _) = eval_write(&WriteOp::Del { keys: vec![key] }, &view).unwrap();
            assert_eq!(outcome, Outcome::Integer(0));
        }
        let fits = Bytes::from(vec![b'k'; MAX_KEY_LEN]);
        let op = WriteOp::Set {
            key: fits,
            value: b("v"),
        };
        assert_eq!(eval_write(&op, &view).unwrap().0, Outcome::Ok);
        // The empty key is a key like any other, as in Redis.
        let empty = WriteOp::Set {
            key: Bytes::new(),
            value: b("v"),
        };
        assert_eq!(eval_write(&empty, &view).unwrap().0, Outcome::Ok);
    }

    #[test]
    fn default_count_pages_through_the_keys() {
        let mut view = MapView::default();
        for i in 0..10_000 {
            view.0.insert(b(&format!("k{i}")), b("v"));
        }
        let live = Live::new(&view, 0, 0, 0);
        assert_eq!(live.count().unwrap(), 10_000);
        assert_eq!(
            eval_read(&ReadOp::DbSize, &view, 0).unwrap(),
            Outcome::Integer(10_000)
        );
    }

    /// Across pages: expired keys count nowhere, the others in `keys`,
    /// those with a deadline also in `expires`, and `avg_ttl` is their
    /// mean time left; the same through a transaction's overlay (the
    /// default, per-key way).
    #[test]
    fn keyspace_stats_count_live_keys_and_their_deadlines() {
        let mut view = MapView::default();
        for i in 0..5_000 {
            let key = b(&format!("k{i:04}"));
            view.0.insert(key.clone(), b("v"));
            // Judged at 1 000: expired, 2 000 ms left, 4 000, none.
            let deadline = [Some(500), Some(3_000), Some(5_000), None][i % 4];
            if let Some(at) = deadline {
                view.1.insert(key, at);
            }
        }
        let stats = Outcome::Array(vec![
            Outcome::Integer(3_750),
            Outcome::Integer(2_500),
            Outcome::Integer(3_000),
        ]);
        let read = ReadOp::KeyspaceStats.stamp(1_000);
        assert_eq!(eval_read(&read, &view, 0).unwrap(), stats);
        let multi = WriteOp::Multi {
            watched: Vec::new(),
            steps: vec![Step::Read(ReadOp::KeyspaceStats)],
        };
        let (outcome, _) = eval_write(&multi.stamp(1_000, 1), &view).unwrap();
        assert_eq!(outcome, Outcome::Array(vec![stats]));
        let empty = eval_read(&ReadOp::KeyspaceStats, &MapView::default(), 0).unwrap();
        let zero = Outcome::Integer(0);
        assert_eq!(
            empty,
            Outcome::Array(vec![zero.clone(), zero.clone(), zero])
        );
    }

    #[test]
    fn multi_steps_see_earlier_writes_and_errors_apply_nothing() {
        let view = MapView::of(&[("a", "1"), ("s", "abc"), ("gone", "x")]);
        let op = WriteOp::Multi {
            watched: Vec::new(),
            steps: vec![
                Step::Write(WriteOp::IncrBy {
                    key: b("a"),
                    delta: 1,
                }),
                Step::Write(WriteOp::IncrBy {
                    key: b("s"),
                    delta: 1,
                }),
                Step::Read(ReadOp::Get { key: b("a") }),
                Step::Write(WriteOp::Del {
                    keys: vec![b("gone")],
                }),
                Step::Write(WriteOp::Set {
                    key: b("n"),
                    value: b("v"),
                }),
                Step::Read(ReadOp::Keys { pattern: b("*") }),
                Step::Read(ReadOp::DbSize),
                Step::Write(WriteOp::IncrBy {
                    key: b("a"),
                    delta: 10,
                }),
            ],
        };
        assert!(op.locks_everything(), "KEYS inside");
        let (outcome, effects) = eval_write(&op, &view).unwrap();
        let keys = ["a", "n", "s"].map(|k| Outcome::Value(Some(b(k)))).to_vec();
        assert_eq!(
            outcome,
            Outcome::Array(vec![
                Outcome::Integer(2),
                Outcome::Error("ERR value is not an integer or out of range".into()),
                Outcome::Value(Some(b("2"))),
                Outcome::Integer(1),
                Outcome::Ok,
                Outcome::Array(keys),
                Outcome::Integer(3),
                Outcome::Integer(12),
            ])
        );
        // One effect per key, the last write.
        assert_eq!(
            effects,
            vec![
                Effect::put(&b("a"), b("12")),
                Effect::delete(&b("gone")),
                Effect::put(&b("n"), b("v")),
            ]
        );
    }

    #[test]
    fn multi_steps_see_queued_deadlines_at_one_stamped_time() {
        let now = 1_700_000_000_000;
        let mut view = MapView::of(&[("old", "v")]);
        view.1.insert(b("old"), now - 1);
        let op = WriteOp::Multi {
            watched: vec![(b("old"), None)],
            steps: vec![
                Step::Write(WriteOp::SetEx {
                    key: b("k"),
                    value: b("v"),
                    condition: None,
                    get: false,
                    expiry: Expiry::In(100_000),
                }),
                Step::Read(ReadOp::Ttl {
                    key: b("k"),
                    millis: true,
                    absolute: false,
                }),
                Step::Write(WriteOp::Persist { key: b("k") }),
                Step::Read(ReadOp::Exists {
                    keys: vec![b("old"), b("k")],
                }),
                Step::Write(WriteOp::Reap {
                    keys: vec![b("old")],
                }),
            ],
        }
        .stamp(now, 1);
        // Stamping made the queued relative deadline absolute.
        let WriteOp::At { op: inner, .. } = &op else {
            panic!("{op:?}")
        };
        let WriteOp::Multi { steps, .. } = inner.as_ref() else {
            panic!("{inner:?}")
        };
        assert!(matches!(
            steps[0],
            Step::Write(WriteOp::SetEx {
                expiry: Expiry::At(at),
                ..
            }) if at == 1_700_000_100_000
        ));
        let (outcome, effects) = eval_write(&op, &view).unwrap();
        assert_eq!(
            outcome,
            Outcome::Array(vec![
                Outcome::Ok,
                Outcome::Integer(100_000),
                Outcome::Integer(1),
                Outcome::Integer(1),
                Outcome::Error(MISPLACED.into()),
            ])
        );
        assert_eq!(effects, vec![Effect::put(&b("k"), b("v"))]);
    }

    #[test]
    fn multi_keys_are_every_step_s_keys() {
        let op = WriteOp::Multi {
            watched: Vec::new(),
            steps: vec![
                Step::Write(WriteOp::IncrBy {
                    key: b("a"),
                    delta: -1,
                }),
                Step::Read(ReadOp::Get { key: b("c") }),
                Step::Write(WriteOp::IncrBy {
                    key: b("b"),
                    delta: 1,
                }),
            ],
        };
        assert_eq!(op.keys(), vec![&b("a"), &b("c"), &b("b")]);
        assert!(!op.locks_everything());
        let flush = WriteOp::Multi {
            watched: Vec::new(),
            steps: vec![Step::Write(WriteOp::Flush)],
        };
        assert!(flush.locks_everything());
        // Nested MULTI is an error element, never a recursion.
        let nested = WriteOp::Multi {
            watched: Vec::new(),
            steps: vec![Step::Write(flush)],
        };
        let (outcome, effects) = eval_write(&nested, &MapView::default()).unwrap();
        assert_eq!(
            outcome,
            Outcome::Array(vec![Outcome::Error(NESTED_MULTI.into())])
        );
        assert!(effects.is_empty());
    }

    #[test]
    fn multi_aborts_when_a_watched_key_changed() {
        let view = MapView::of(&[("w", "2")]);
        let incr = || {
            vec![Step::Write(WriteOp::IncrBy {
                key: b("w"),
                delta: 1,
            })]
        };
        let changed = WriteOp::Multi {
            watched: vec![(b("w"), watched("1"))],
            steps: incr(),
        };
        assert_eq!(changed.keys(), vec![&b("w"), &b("w")]);
        assert_eq!(
            eval_write(&changed, &view).unwrap(),
            (Outcome::Aborted, Vec::new())
        );
        let same = WriteOp::Multi {
            watched: vec![(b("w"), watched("2")), (b("none"), None)],
            steps: incr(),
        };
        let (outcome, effects) = eval_write(&same, &view).unwrap();
        assert_eq!(outcome, Outcome::Array(vec![Outcome::Integer(3)]));
        assert_eq!(effects, vec![Effect::put(&b("w"), b("3"))]);
    }

    /// What WATCH remembers of a string key holding `value`.
    fn watched(value: &str) -> Option<Bytes> {
        fingerprint(Some(&Entry::string(b(value), None)))
    }

    #[test]
    fn overlay_pages_keys_past_deletions() {
        let mut base = MapView::default();
        for i in 0..20 {
            base.0.insert(b(&format!("k{i:02}")), b("v"));
        }
        let mut writes = BTreeMap::new();
        for i in 0..10 {
            writes.insert(b(&format!("k{i:02}")), None);
        }
        let new = || Some(Entry::string(b("new"), None));
        writes.insert(b("k05x"), new());
        writes.insert(b("k15"), new());
        let live = Live::new(&base, 0, 0, 0);
        let overlay = Overlay {
            base: &live,
            writes,
            elements: BTreeMap::new(),
        };
        let page = overlay.keys_from(b"", 3).unwrap();
        assert_eq!(page, vec![b("k05x"), b("k10"), b("k11")]);
        assert_eq!(overlay.count().unwrap(), 11);
        let rest = overlay.keys_from(b"k14", 100).unwrap();
        assert_eq!(rest.len(), 6);
    }

    #[test]
    fn whole_keyspace_ops_say_so() {
        assert!(WriteOp::Flush.locks_everything());
        assert!(WriteOp::Flush.keys().is_empty());
        assert!(!WriteOp::Del { keys: vec![b("a")] }.locks_everything());
        assert!(ReadOp::DbSize.reads_everything());
        assert!(ReadOp::Keys { pattern: b("*") }.reads_everything());
        assert!(!ReadOp::Get { key: b("a") }.reads_everything());
        let rename = WriteOp::Rename {
            from: b("a"),
            to: b("b"),
            nx: false,
        };
        assert_eq!(rename.keys(), vec![&b("a"), &b("b")]);
    }
}
