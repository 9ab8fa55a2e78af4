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

pub mod reader;
pub mod value;
pub mod writer;

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions};

use crate::command::op::Entry;
use crate::config::FsyncPolicy;
pub use reader::Reader;
pub use writer::{Batch, Writer};

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
        let writer = Writer::start(db.clone(), fsync);
        let reader = Reader::start();
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
        };
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

    /// The stored entry of a user key (expired or not).
    pub fn entry(&self, key: &[u8]) -> Result<Option<Entry>, StorageError> {
        if !storable_key(key) {
            return Ok(None);
        }
        self.data.get(key)?.map(|v| value::decode(&v)).transpose()
    }

    /// The stored deadline of a user key, if it exists and has one.
    pub fn deadline(&self, key: &[u8]) -> Result<Option<u64>, StorageError> {
        if !storable_key(key) {
            return Ok(None);
        }
        match self.data.get(key)? {
            Some(v) => value::deadline(&v),
            None => Ok(None),
        }
    }
}

/// Longest key fjall stores.
pub const MAX_KEY_LEN: usize = u16::MAX as usize;

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
