//! The Raft mode's consensus plumbing: openraft's storage in the node's
//! fjall database (issue 16). Networking, the `kvstoreraftsystem` binary
//! and the client front end over it come later.
//!
//! This module owns the Raft type configuration ([`TypeConfig`]), opening
//! the Raft keyspaces next to the replica's ([`open`]), and the mapping of
//! our storage errors onto openraft's. [`log_store`] keeps the log, the
//! vote and the committed position; [`state_machine`] applies committed
//! entries to the user data and builds and installs snapshots.
//!
//! It must never decide anything Raft decides (terms, votes, what is
//! committed): openraft does, and these types only make its decisions
//! durable and apply them. Nor does it write any keyspace of the 2PC mode
//! other than the user data a participant's commit also writes, in the
//! same records.
//!
//! # Why openraft
//!
//! The two serious Rust Raft libraries are openraft and raft-rs (TiKV's).
//! openraft fits this server better: it is async and runs on tokio, as
//! every other part of the node does; its seams are storage and network
//! traits we implement (log store, state machine, snapshot transfer),
//! where raft-rs hands back a `Ready` struct that the application must
//! drive by hand (persist, send, apply, advance) in a loop of its own; it
//! ships a storage test suite ([`openraft::testing::Suite`]) that our
//! fjall store runs; and it runs in production under Databend's meta
//! service. The version is pinned exactly (`=0.9.25`, the newest 0.9
//! release): its storage API is the `storage-v2` one, and 0.10 is still in
//! alpha.
//!
//! # Layout on disk
//!
//! Two keyspaces of the node's one fjall database, besides the replica's
//! (whose formats are untouched):
//!
//! - `raft_log`: log index (8 bytes, big-endian) → the entry, postcard.
//! - `raft_meta`: the vote, the committed log id and the last purged log id
//!   (the log store's); the last applied log id and membership, and the
//!   current snapshot (the state machine's). Each value postcard.
//!
//! User data lives in the replica's keyspaces (`data`, `elements`,
//! `garbage`, `expires`), written exactly as a 2PC participant's commit
//! writes them, so `DEBUG DIGEST` is computed the same in both modes.

pub mod log_store;
pub mod state_machine;

#[cfg(test)]
mod tests;

use std::io::Cursor;

use fjall::{Keyspace, KeyspaceCreateOptions};
use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageIOError};

use crate::command::op::{Outcome, WriteOp};
use crate::storage::{StorageError, Store};

pub use log_store::LogStore;
pub use state_machine::StateMachine;

openraft::declare_raft_types!(
    /// The types the Raft mode runs openraft with: a node is named by a
    /// `u64` derived from its address ([`crate::config::node_id`]) and
    /// carries that address ([`openraft::BasicNode`]); an entry carries one
    /// write op, stamped by the leader with its clock ([`WriteOp::At`]),
    /// and applying it yields the op's outcome.
    pub TypeConfig:
        D = WriteOp,
        R = Outcome,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// Largest memtable of a Raft keyspace before it is flushed.
const MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;

/// A Raft node id.
pub type NodeId = u64;
/// openraft's storage error, for our node ids.
pub type RaftStorageError = openraft::StorageError<NodeId>;
/// A log id (term, leader, index).
pub type LogId = openraft::LogId<NodeId>;
/// One log entry.
pub type Entry = openraft::Entry<TypeConfig>;

/// Why the Raft storage could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// fjall could not open a keyspace.
    #[error("opening the Raft keyspaces: {0}")]
    Storage(#[from] StorageError),
}

/// The Raft keyspaces of one node's database ([`open`]).
#[derive(Clone)]
pub(crate) struct Keyspaces {
    /// Log index → entry.
    pub(crate) log: Keyspace,
    /// Vote, positions, membership, the current snapshot.
    pub(crate) meta: Keyspace,
}

/// Opens (creating them if new) the Raft keyspaces of `store`'s database
/// and returns its log store and state machine. They share the store's
/// writer, so all their writes, the user data's included, are ordered and
/// group-committed together.
pub fn open(store: &Store) -> Result<(LogStore, StateMachine), OpenError> {
    // Small memtables, as the replica's keyspaces have (see storage).
    let options = || KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES);
    let keyspaces = Keyspaces {
        log: store
            .db
            .keyspace("raft_log", options)
            .map_err(StorageError::from)?,
        meta: store
            .db
            .keyspace("raft_meta", options)
            .map_err(StorageError::from)?,
    };
    Ok((
        LogStore::new(store.clone(), keyspaces.clone()),
        StateMachine::new(store.clone(), keyspaces),
    ))
}

/// Our storage error as openraft's, saying what was being done to what.
pub(crate) fn storage_error(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    e: &(impl std::error::Error + 'static),
) -> RaftStorageError {
    StorageIOError::new(subject, verb, AnyError::new(e)).into()
}

/// Encodes a value stored in a Raft keyspace.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StorageError> {
    postcard::to_allocvec(value).map_err(|e| StorageError::Corrupt {
        keyspace: "raft",
        reason: format!("cannot encode: {e}"),
    })
}

/// Decodes a value stored in Raft keyspace `keyspace`.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    keyspace: &'static str,
    bytes: &[u8],
) -> Result<T, StorageError> {
    postcard::from_bytes(bytes).map_err(|e| StorageError::Corrupt {
        keyspace,
        reason: e.to_string(),
    })
}
