//! The messages of the internal protocol.
//!
//! Requests flow from the coordinator to a participant; every request gets
//! exactly one response with the same id. The types here are plain data with
//! serde derives; changing their shape is a protocol change and must bump
//! [`super::codec::PROTOCOL_VERSION`].

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::command::op::{Effect, Outcome, ReadOp, WriteOp};

/// A request from the coordinator to a participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Renews the participant's read lease; `member` says whether it is in
    /// the write set (only members may serve direct reads). Answered with
    /// [`Response::Status`].
    Heartbeat {
        /// How long the lease lasts from the moment the participant gets this.
        lease_ms: u64,
        /// Whether the participant is a live, caught-up member.
        member: bool,
    },
    /// Asks for the participant's positions and in-doubt transactions.
    Status,
    /// Phase one: evaluate, stage durably, vote with the result.
    Prepare {
        /// Transaction id (unique across coordinator restarts).
        txid: u64,
        /// The operation to evaluate.
        op: WriteOp,
    },
    /// Phase two: apply the staged effects as log entry `index`.
    Commit {
        /// Transaction id.
        txid: u64,
        /// The commit index (dense, taken when the round began).
        index: u64,
    },
    /// Phase two: discard the staged effects.
    Abort {
        /// Transaction id.
        txid: u64,
        /// The commit index the aborted round had taken, to apply as a
        /// no-op (an empty log entry). `None` when resolving an in-doubt
        /// transaction: the index reaches a rejoining participant with its
        /// catch-up.
        void: Option<u64>,
    },
    /// Asks whether this participant committed `txid`, and at which index.
    Lookup {
        /// Transaction id.
        txid: u64,
    },
    /// A read routed by the coordinator.
    Read {
        /// The read.
        op: ReadOp,
    },
    /// Catch-up source: committed entries with index above `after`.
    FetchLog {
        /// Return entries with index strictly greater than this.
        after: u64,
        /// At most this many.
        limit: u32,
    },
    /// Catch-up target: apply these entries in order, then raise the
    /// watermark to at least `up_to` (indices the source never had are
    /// transactions that committed nowhere; they count as no-ops).
    ApplyLog {
        /// Entries in index order.
        entries: Vec<LogEntry>,
        /// The source's watermark when the entries were fetched.
        up_to: u64,
    },
    /// Catch-up source: a chunk of the data set in key order.
    ScanData {
        /// Start strictly after this key (`None`: from the start).
        after: Option<Bytes>,
        /// At most this many pairs.
        limit: u32,
    },
    /// Catch-up target: install a chunk of a snapshot stream.
    InstallData {
        /// First chunk: wipe data and log first.
        reset: bool,
        /// Key/value pairs to store.
        pairs: Vec<(Bytes, Bytes)>,
        /// Last chunk: the source's watermark taken before the stream began,
        /// which becomes this replica's watermark (the log replay that
        /// follows starts above it).
        finish: Option<u64>,
    },
    /// Closes every gap in the log up to `max(up_to, highest applied)`:
    /// sent to a founding member when it is declared the truth. Indices it
    /// lacks there were decided but survive nowhere (every participant was
    /// consulted first), so they count as no-ops.
    Settle {
        /// The highest index the coordinator ever decided.
        up_to: u64,
    },
    /// Digest of the data set and the applied position.
    Digest,
    /// Keys whose deadline is before `now_ms`, for the background expirer.
    /// Answered with [`Response::Keys`].
    ExpiredKeys {
        /// The coordinator's clock (unix milliseconds).
        now_ms: u64,
        /// At most this many keys.
        limit: u32,
    },
}

/// A participant's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Done.
    Ack,
    /// Answer to [`Request::Status`].
    Status(ParticipantStatus),
    /// Answer to [`Request::Prepare`]: the staged result.
    Vote(Outcome),
    /// Answer to [`Request::Read`].
    Read(Outcome),
    /// Answer to [`Request::Lookup`].
    Committed(Option<u64>),
    /// Answer to [`Request::FetchLog`].
    Log {
        /// Entries above `after`, in index order.
        entries: Vec<LogEntry>,
        /// False when the retained log no longer reaches back to `after + 1`:
        /// the target needs a snapshot instead.
        complete: bool,
        /// The source's watermark.
        watermark: u64,
    },
    /// Answer to [`Request::ScanData`].
    Data {
        /// Pairs in key order.
        pairs: Vec<(Bytes, Bytes)>,
        /// The source's watermark before this chunk was read.
        watermark: u64,
    },
    /// Answer to [`Request::Digest`].
    Digest {
        /// FNV-1a over every key and value in key order.
        digest: u64,
        /// Number of keys.
        keys: u64,
        /// The applied position.
        watermark: u64,
    },
    /// The request failed on the participant.
    Error(String),
    /// Answer to [`Request::ExpiredKeys`]: the keys, earliest deadline first.
    Keys(Vec<Bytes>),
}

impl Response {
    /// Whether encoding this answer may take long (a read of thousands of
    /// elements), so that it is better done off the async workers.
    pub fn is_large(&self) -> bool {
        match self {
            Response::Read(outcome) => outcome.items() > 1024,
            _ => false,
        }
    }
}

/// Where a participant stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantStatus {
    /// Every commit index at or below this is applied.
    pub watermark: u64,
    /// The highest commit index applied.
    pub max_applied: u64,
    /// The highest txid this participant ever saw.
    pub max_txid: u64,
    /// Prepared transactions without an outcome yet.
    pub prepared: Vec<u64>,
}

/// One committed transaction in a participant's retained log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The commit index.
    pub index: u64,
    /// The transaction id.
    pub txid: u64,
    /// What the commit wrote.
    pub effects: Vec<Effect>,
}
