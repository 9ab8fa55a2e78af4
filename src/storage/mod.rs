//! Everything a node keeps on disk, in one fjall database per node.
//!
//! Keyspaces (fjall's partitions) separate the kinds of state: user data,
//! the index of deadlines, the prepared-transaction records, the retained
//! commit log, the txid → index map of committed transactions, and small
//! metadata values. A user value is stored with a header that carries its
//! deadline, if it has one ([`value`] explains the layout and why). All
//! writes go through the [`writer::Writer`], a dedicated thread that commits
//! each submitted batch atomically and then makes a whole group of them
//! durable with one fsync. Reads go straight to fjall, from blocking
//! threads, never from an async worker.
//!
//! A failed write or fsync is fatal to the process: fjall poisons itself,
//! and a node that cannot persist must not keep answering as if it could.

pub mod completer;
pub mod reader;
pub mod value;
pub mod writer;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, Readable};

use crate::command::op::Entry;
use crate::config::FsyncPolicy;
pub use reader::Reader;
pub use writer::{Batch, Submitted, Writer};

/// Block cache shared by all keyspaces.
const BLOCK_CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// Largest memtable of one keyspace before it is flushed to a table.
const MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;
/// The layout of stored values ([`value`]); written in `meta` when a node
/// first opens its store.
const DATA_FORMAT: u64 = 1;
const META_DATA_FORMAT: &str = "data_format";

/// Journal kept before memtables are forced to flush.
const MAX_JOURNAL_BYTES: u64 = 128 * 1024 * 1024;

/// Errors from the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// fjall failed (I/O, corruption, poisoned after a failed write).
    #[error("storage: {0}")]
    Fjall(#[from] fjall::Error),
    /// A stored record did not decode: the data directory is corrupt.
    #[error("corrupt record in {keyspace}: {reason}")]
    Corrupt {
        /// Which keyspace.
        keyspace: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The writer thread is gone (the process is shutting down or failed).
    #[error("the storage writer has stopped")]
    WriterGone,
    /// A task running storage work on the blocking pool panicked.
    #[error("internal: storage task failed: {0}")]
    TaskFailed(String),
    /// The data directory was written by a version with another layout.
    #[error(
        "the data directory holds values in layout {found}, this version reads layout {DATA_FORMAT} (values with expiry headers): move it away to start afresh"
    )]
    OldFormat {
        /// The layout found (0: from before layouts were recorded).
        found: u64,
    },
}

/// The open database of one node and its keyspaces.
#[derive(Clone)]
pub struct Store {
    /// The fjall database.
    pub db: Database,
    /// User data: key → header and value ([`value`]).
    pub data: Keyspace,
    /// Participant: `deadline ++ key` → empty, for every key with a
    /// deadline ([`value`]).
    pub expires: Keyspace,
    /// Participant: prepared transactions, txid → staged record.
    pub prepared: Keyspace,
    /// Participant: committed log, index → entry. Coordinator: decisions,
    /// txid → index.
    pub log: Keyspace,
    /// Participant: txid → commit index of retained committed transactions.
    pub txids: Keyspace,
    /// Small named values (positions, epochs).
    pub meta: Keyspace,
    /// The group-committing writer.
    pub writer: Writer,
    /// The read thread.
    pub reader: Reader,
    /// False while no key of this store has ever had a deadline (since it
    /// was opened with an empty `expires` index): then [`Store::deadline`]
    /// answers without a lookup, which spares writes a read per key when
    /// nobody uses expiry. Set by [`Store::index_deadline`] before the
    /// batch that writes a deadline is submitted, so it is never late.
    deadlines_used: Arc<AtomicBool>,
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path, fsync: FsyncPolicy) -> Result<Store, StorageError> {
        std::fs::create_dir_all(path).map_err(fjall::Error::from)?;
        // Memory: fjall's defaults (64 MiB memtables per keyspace, five
        // keyspaces) would let one node hold over 300 MiB of memtables alone.
        let db = Database::builder(path)
            .manual_journal_persist(true)
            .worker_threads(1)
            .cache_size(BLOCK_CACHE_BYTES)
            .max_journaling_size(MAX_JOURNAL_BYTES)
            .open()?;
        let options = || KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES);
        let data = db.keyspace("data", options)?;
        let expires = db.keyspace("expires", options)?;
        let prepared = db.keyspace("prepared", options)?;
        let log = db.keyspace("log", options)?;
        let txids = db.keyspace("txids", options)?;
        let meta = db.keyspace("meta", options)?;
        #[cfg(not(feature = "sim"))]
        let (writer, reader) = {
            let completer = completer::Completer::start();
            (
                Writer::start(db.clone(), fsync, completer.clone()),
                Reader::start(completer),
            )
        };
        #[cfg(feature = "sim")]
        let (writer, reader) = (Writer::start(db.clone(), fsync), Reader::start());
        let store = Store {
            reader,
            db,
            data,
            expires,
            prepared,
            log,
            txids,
            meta,
            writer,
            deadlines_used: Arc::new(AtomicBool::new(false)),
        };
        if !store.expires.is_empty()? {
            store.deadlines_used.store(true, Ordering::SeqCst);
        }
        match store.meta_u64(META_DATA_FORMAT)? {
            DATA_FORMAT => {}
            0 if store.data.is_empty()? => {
                let mut batch = Batch::new();
                batch.put(
                    &store.meta,
                    META_DATA_FORMAT,
                    encode_u64(DATA_FORMAT).to_vec(),
                );
                // Applied before any later batch; durable with the first
                // synced one (an empty store loses nothing if it is not).
                drop(store.writer.submit(batch)?);
            }
            found => return Err(StorageError::OldFormat { found }),
        }
        Ok(store)
    }

    /// Reads a u64 stored under `name` in the meta keyspace (0 if absent).
    pub fn meta_u64(&self, name: &str) -> Result<u64, StorageError> {
        match self.meta.get(name)? {
            None => Ok(0),
            Some(v) => decode_u64(&v).ok_or_else(|| StorageError::Corrupt {
                keyspace: "meta",
                reason: format!("{name} is {} bytes, not 8", v.len()),
            }),
        }
    }

    /// The stored deadline of a user key, if it exists and has one.
    pub fn deadline(&self, key: &[u8]) -> Result<Option<u64>, StorageError> {
        if !storable_key(key) || !self.deadlines_used.load(Ordering::SeqCst) {
            return Ok(None);
        }
        match self.data.get(key)? {
            Some(v) => value::deadline(&v),
            None => Ok(None),
        }
    }

    /// Adds an entry ([`value::index_key`]) to the `expires` index in
    /// `batch`. The only way index entries are written, so that
    /// [`Store::deadline`] knows deadlines are in use.
    pub fn index_deadline(&self, batch: &mut Batch, index_key: Bytes) {
        self.deadlines_used.store(true, Ordering::SeqCst);
        batch.put(&self.expires, index_key, Bytes::new());
    }

    /// The user data as of now, frozen: see [`DataSnapshot`].
    pub fn data_snapshot(&self) -> DataSnapshot<'_> {
        DataSnapshot {
            data: &self.data,
            at: self.db.snapshot(),
        }
    }
}

/// The user data at one instant. Every writer batch is either wholly in it
/// or not at all, so a read of several keys taken while a commit applies
/// sees the transaction whole or not at all (reading the keys one by one
/// off the writer thread could see half of it). Short-lived: fjall keeps
/// the versions it needs until it is dropped.
pub struct DataSnapshot<'a> {
    data: &'a Keyspace,
    at: fjall::Snapshot,
}

impl DataSnapshot<'_> {
    /// The stored entry of a user key (expired or not).
    pub fn entry(&self, key: &[u8]) -> Result<Option<Entry>, StorageError> {
        if !storable_key(key) {
            return Ok(None);
        }
        self.at
            .get(self.data, key)?
            .map(|v| value::decode(&v))
            .transpose()
    }

    /// Up to `limit` keys from `start` on, in byte order, with their
    /// deadlines (expired keys included).
    pub fn stored_from(
        &self,
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Option<u64>)>, StorageError> {
        let mut keys = Vec::new();
        for guard in self.at.range(self.data, start..).take(limit) {
            let (k, v) = guard.into_inner()?;
            keys.push((Bytes::copy_from_slice(&k), value::deadline(&v)?));
        }
        Ok(keys)
    }
}

/// Longest key fjall stores.
pub const MAX_KEY_LEN: usize = u16::MAX as usize;

/// Runs long fjall work (scans) on the blocking pool, off the async
/// workers, and returns its result (in the calling task in the simulation,
/// where a thread would make runs differ; see [`crate::net`]).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    #[cfg(feature = "sim")]
    return f();
    #[cfg(not(feature = "sim"))]
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::TaskFailed(e.to_string()))?
}

/// Whether fjall can hold `key` at all (it asserts on empty keys and keys
/// over [`MAX_KEY_LEN`]). A key it cannot hold cannot exist, so reads of one
/// answer "missing" and writes of one are refused before they get here.
pub fn storable_key(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN
}

/// Big-endian, so that keyspace order is numeric order.
pub fn encode_u64(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Inverse of [`encode_u64`].
pub fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot taken before a two-key batch sees neither write, one taken
    /// after sees both: what keeps a multi-key read from seeing half a
    /// transaction that commits while it runs.
    #[tokio::test]
    async fn a_data_snapshot_sees_a_batch_whole_or_not_at_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), FsyncPolicy::No).expect("open");
        let put = |batch: &mut Batch, k: &str, v: &str| {
            batch.put(&store.data, k.to_owned(), value::encode(v.as_bytes(), None));
        };
        let mut first = Batch::new();
        put(&mut first, "a", "1");
        put(&mut first, "b", "1");
        store.writer.write(first).await.expect("write");

        let before = store.data_snapshot();
        let mut transfer = Batch::new();
        put(&mut transfer, "a", "0");
        put(&mut transfer, "b", "2");
        store.writer.write(transfer).await.expect("write");
        let after = store.data_snapshot();

        let read =
            |s: &DataSnapshot<'_>, k: &str| s.entry(k.as_bytes()).expect("read").map(|e| e.value);
        assert_eq!(read(&before, "a").as_deref(), Some(&b"1"[..]));
        assert_eq!(read(&before, "b").as_deref(), Some(&b"1"[..]));
        assert_eq!(read(&after, "a").as_deref(), Some(&b"0"[..]));
        assert_eq!(read(&after, "b").as_deref(), Some(&b"2"[..]));
        assert_eq!(before.stored_from(b"", 10).expect("keys").len(), 2);
    }
}
