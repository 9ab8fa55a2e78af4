//! openraft's log store in fjall: the log entries, the vote, the committed
//! log id and the last purged log id.
//!
//! This module owns the `raft_log` keyspace and the log store's names in
//! `raft_meta` ([`super`]). It must never write user data or the state
//! machine's names, and never touch a keyspace of the 2PC mode.
//!
//! # Invariants
//!
//! - Every write goes through the node's writer ([`crate::storage::Writer`])
//!   and is awaited before the call returns, so writes apply in the order
//!   openraft makes them and a read that follows sees them all (openraft
//!   requires appended entries to be readable when `append` returns).
//! - The vote and appended entries are fsynced before they are reported
//!   done, whatever the `fsync` policy: a node must never forget a vote it
//!   cast or an entry it acknowledged, or two leaders could commit
//!   different entries at one index.
//! - The log has no holes: `truncate` removes a suffix, `purge` a prefix,
//!   and `purge` records the last purged id in the same batch as the
//!   removal, so [`RaftLogStorage::get_log_state`] is right after a crash
//!   at any point.
//! - Reads run on the blocking pool ([`crate::storage::blocking`]), never on
//!   an async worker.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, RaftLogReader, Vote};

use super::{Entry, Keyspaces, LogId, NodeId, RaftStorageError, TypeConfig};
use super::{decode, encode, storage_error};
use crate::storage::{Batch, StorageError, Store, blocking, encode_u64};

/// `raft_meta` name of the vote.
const VOTE: &str = "vote";
/// `raft_meta` name of the committed log id.
const COMMITTED: &str = "committed";
/// `raft_meta` name of the last purged log id.
const PURGED: &str = "purged";

/// The log store of one node. Cheap to clone: clones share the database,
/// and one serves as the log reader of the replication tasks.
#[derive(Clone)]
pub struct LogStore {
    store: Store,
    keyspaces: Keyspaces,
}

impl LogStore {
    pub(crate) fn new(store: Store, keyspaces: Keyspaces) -> LogStore {
        LogStore { store, keyspaces }
    }

    /// Reads `name` from `raft_meta`, off the async workers.
    async fn read_meta<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        name: &'static str,
    ) -> Result<Option<T>, StorageError> {
        let meta = self.keyspaces.meta.clone();
        blocking(move || meta.get(name)?.map(|v| decode("raft_meta", &v)).transpose()).await
    }

    /// The entries with indices in `[start, end)` (`end` `None`: to the
    /// last), off the async workers.
    async fn read_range(&self, start: u64, end: Option<u64>) -> Result<Vec<Entry>, StorageError> {
        let log = self.keyspaces.log.clone();
        blocking(move || {
            let from = encode_u64(start);
            let iter = match end {
                Some(end) => log.range(from..encode_u64(end)),
                None => log.range(from..),
            };
            let mut entries = Vec::new();
            for kv in iter {
                let (_, v) = kv.into_inner()?;
                entries.push(decode::<Entry>("raft_log", &v)?);
            }
            Ok(entries)
        })
        .await
    }

    /// The keys of the entries with indices in `[start, end]`.
    async fn keys_between(&self, start: u64, end: u64) -> Result<Vec<[u8; 8]>, StorageError> {
        let log = self.keyspaces.log.clone();
        blocking(move || {
            let mut keys = Vec::new();
            for kv in log.range(encode_u64(start)..=encode_u64(end)) {
                let k = kv.key()?;
                let key: [u8; 8] = k.as_ref().try_into().map_err(|_| StorageError::Corrupt {
                    keyspace: "raft_log",
                    reason: format!("a key of {} bytes, not 8", k.len()),
                })?;
                keys.push(key);
            }
            Ok(keys)
        })
        .await
    }

    /// Commits `batch`, fsynced whatever the policy.
    async fn write_synced(&self, mut batch: Batch) -> Result<(), StorageError> {
        batch.force_sync();
        self.store.writer.write(batch).await
    }
}

/// `[start, end)` of a range of log indices (`end` `None`: unbounded);
/// `None` if it is empty.
fn bounds(range: &impl RangeBounds<u64>) -> Option<(u64, Option<u64>)> {
    let start = match range.start_bound() {
        Bound::Included(&n) => n,
        Bound::Excluded(&n) => n.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&n) => n.checked_add(1),
        Bound::Excluded(&n) => Some(n),
        Bound::Unbounded => None,
    };
    match end {
        Some(end) if end <= start => None,
        end => Some((start, end)),
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, RaftStorageError> {
        let Some((start, end)) = bounds(&range) else {
            return Ok(Vec::new());
        };
        self.read_range(start, end)
            .await
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, &e))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, RaftStorageError> {
        let read = |e: StorageError| storage_error(ErrorSubject::Logs, ErrorVerb::Read, &e);
        let purged: Option<LogId> = self.read_meta(PURGED).await.map_err(read)?;
        let log = self.keyspaces.log.clone();
        let last: Option<LogId> = blocking(move || {
            log.last_key_value()
                .map(|kv| -> Result<LogId, StorageError> {
                    let (_, v) = kv.into_inner()?;
                    Ok(decode::<Entry>("raft_log", &v)?.log_id)
                })
                .transpose()
        })
        .await
        .map_err(read)?;
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last.or(purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), RaftStorageError> {
        let write = |e: StorageError| storage_error(ErrorSubject::Vote, ErrorVerb::Write, &e);
        let mut batch = Batch::new();
        batch.put(&self.keyspaces.meta, VOTE, encode(vote).map_err(write)?);
        self.write_synced(batch).await.map_err(write)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, RaftStorageError> {
        self.read_meta(VOTE)
            .await
            .map_err(|e| storage_error(ErrorSubject::Vote, ErrorVerb::Read, &e))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), RaftStorageError> {
        let write = |e: StorageError| storage_error(ErrorSubject::Store, ErrorVerb::Write, &e);
        let mut batch = Batch::new();
        // Not fsynced on its own account: a committed id lost to a power
        // cut only means re-learning it from the leader.
        batch.put(
            &self.keyspaces.meta,
            COMMITTED,
            encode(&committed).map_err(write)?,
        );
        self.store.writer.write(batch).await.map_err(write)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, RaftStorageError> {
        let committed: Option<Option<LogId>> = self
            .read_meta(COMMITTED)
            .await
            .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Read, &e))?;
        Ok(committed.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), RaftStorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let write = |e: StorageError| storage_error(ErrorSubject::Logs, ErrorVerb::Write, &e);
        let mut batch = Batch::new();
        for entry in entries {
            batch.put(
                &self.keyspaces.log,
                encode_u64(entry.log_id.index).to_vec(),
                encode(&entry).map_err(write)?,
            );
        }
        // Awaited here rather than in the background: the entries must be
        // readable when this returns, and the writer makes a batch visible
        // and durable in one step.
        match self.write_synced(batch).await {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(write(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), RaftStorageError> {
        let write = |e: StorageError| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, &e);
        let keys = self
            .keys_between(log_id.index, u64::MAX)
            .await
            .map_err(write)?;
        let mut batch = Batch::new();
        for key in keys {
            batch.remove(&self.keyspaces.log, key.to_vec());
        }
        self.write_synced(batch).await.map_err(write)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), RaftStorageError> {
        let write = |e: StorageError| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, &e);
        let keys = self.keys_between(0, log_id.index).await.map_err(write)?;
        let mut batch = Batch::new();
        batch.put(
            &self.keyspaces.meta,
            PURGED,
            encode(&log_id).map_err(write)?,
        );
        for key in keys {
            batch.remove(&self.keyspaces.log, key.to_vec());
        }
        self.store.writer.write(batch).await.map_err(write)
    }
}
