//! Everything a node keeps on disk, in one fjall database per node.
//!
//! Keyspaces (fjall's partitions) separate the kinds of state: user keys'
//! records, the elements of collections, the versions of dead collections
//! waiting to be swept, the index of deadlines, the prepared-transaction
//! records, the retained commit log, the txid → index map of committed
//! transactions, and small metadata values. [`value`] explains the layout
//! of user data and why. All
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

use crate::command::op::{Entry, Version};
use crate::config::FsyncPolicy;
pub use reader::Reader;
pub use writer::{Batch, Computed, Submitted, Writer};

/// Block cache shared by all keyspaces.
const BLOCK_CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// Largest memtable of one keyspace before it is flushed to a table.
const MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;
/// The layout of stored values ([`value`]); written in `meta` when a node
/// first opens its store. 1: strings only, keys stored as they are. 2:
/// collections, zero-led keys escaped, log entries with typed effects. 3:
/// as 2, and a sorted set may have an index head record
/// ([`crate::command::zset`], "The index head"). Layout 2 reads as 3 does
/// (a set without a head is read from the start of its index), so opening
/// a layout-2 store only records 3; what the number buys is that a
/// version that knows only layout 2, which would write to a sorted set
/// without keeping its head true, refuses to open the store.
const DATA_FORMAT: u64 = 3;
const META_DATA_FORMAT: &str = "data_format";
/// Set in `meta` by the migration from layout 1 until the replica has
/// rewritten its log and prepared records in the new form
/// ([`Store::legacy_log`]).
const META_LEGACY_LOG: &str = "legacy_log";

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
        "the data directory holds values in layout {found}, this version reads layouts 1 to {DATA_FORMAT}: move it away to start afresh (a participant then catches up from the others)"
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
    /// User data: key → its record ([`value`]).
    pub data: Keyspace,
    /// The elements of collections: version and subkey → value.
    pub elements: Keyspace,
    /// Versions whose elements no record points at any more, to sweep.
    pub garbage: Keyspace,
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
    /// False while no key of this store has ever had a deadline or held a
    /// collection (since it was opened with an empty `expires` index and no
    /// elements): then [`Store::deadline_and_version`] answers without a
    /// lookup, which spares plain string writes a read per key. Set by
    /// [`Store::index_deadline`] and [`Store::put_record`] before the batch
    /// is submitted, so it is never late.
    records_used: Arc<AtomicBool>,
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
        let elements = db.keyspace("elements", options)?;
        let garbage = db.keyspace("garbage", options)?;
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
            elements,
            garbage,
            expires,
            prepared,
            log,
            txids,
            meta,
            writer,
            records_used: Arc::new(AtomicBool::new(false)),
        };
        if !store.expires.is_empty()? || !store.elements.is_empty()? {
            store.records_used.store(true, Ordering::SeqCst);
        }
        match store.meta_u64(META_DATA_FORMAT)? {
            DATA_FORMAT => {}
            // Applied before any later batch; durable with the first synced
            // one (an empty store loses nothing if it is not).
            0 if store.data.is_empty()? => store.record_data_format()?,
            1 => store.migrate_from_strings_only()?,
            // Nothing to rewrite (see DATA_FORMAT). Queued before any
            // later batch, so it is durable no later than the first head
            // record is.
            2 => {
                store.record_data_format()?;
                tracing::info!("data directory layout 2 is now recorded as layout 3");
            }
            found => return Err(StorageError::OldFormat { found }),
        }
        Ok(store)
    }

    /// Records this version's layout ([`DATA_FORMAT`]), in a batch queued
    /// before any later one.
    fn record_data_format(&self) -> Result<(), StorageError> {
        let mut batch = Batch::new();
        batch.put(
            &self.meta,
            META_DATA_FORMAT,
            encode_u64(DATA_FORMAT).to_vec(),
        );
        drop(self.writer.submit(batch)?);
        Ok(())
    }

    /// Moves a layout-1 store (strings only, keys as they are) to the
    /// current layout in one atomic, synced batch: keys that start with a
    /// zero byte get their escape ([`value::data_key`]); every other record
    /// already reads the same. The replica rewrites its log and prepared
    /// records afterwards ([`Store::legacy_log`]). A crash before the batch
    /// lands leaves layout 1, and the next start migrates again.
    fn migrate_from_strings_only(&self) -> Result<(), StorageError> {
        // Straight through fjall, synced, before any writer job exists: the
        // replica reads the result as soon as this returns.
        let mut batch = self.db.batch();
        let mut moved = 0u64;
        for kv in self.data.range::<&[u8], _>(&[0u8][..]..&[1u8][..]) {
            let (k, v) = kv.into_inner()?;
            batch.remove(&self.data, k.as_ref());
            batch.insert(&self.data, value::data_key(&k).as_ref(), v.as_ref());
            moved += 1;
        }
        batch.insert(&self.meta, META_LEGACY_LOG, encode_u64(1));
        batch.insert(&self.meta, META_DATA_FORMAT, encode_u64(DATA_FORMAT));
        batch.commit()?;
        self.db.persist(fjall::PersistMode::SyncAll)?;
        tracing::info!(
            moved,
            "migrated the data directory from layout 1 to layout {DATA_FORMAT}"
        );
        Ok(())
    }

    /// Whether this store was migrated from layout 1 and its log and
    /// prepared records are still in the old form.
    pub fn legacy_log(&self) -> Result<bool, StorageError> {
        Ok(self.meta_u64(META_LEGACY_LOG)? == 1)
    }

    /// Notes in `batch` that the log and prepared records are rewritten.
    pub fn clear_legacy_log(&self, batch: &mut Batch) {
        batch.remove(&self.meta, META_LEGACY_LOG);
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

    /// The stored deadline of a user key and the collection version its
    /// record points at, if it exists and has them: what a write that
    /// replaces the record must retire (its index entry, its elements).
    pub fn deadline_and_version(
        &self,
        key: &[u8],
    ) -> Result<(Option<u64>, Option<Version>), StorageError> {
        if !storable_key(key) || !self.records_used.load(Ordering::SeqCst) {
            return Ok((None, None));
        }
        match self.data.get(value::data_key(key))? {
            Some(v) => Ok((value::deadline(&v)?, value::version_of(&v)?)),
            None => Ok((None, None)),
        }
    }

    /// Adds an entry ([`value::index_key`]) to the `expires` index in
    /// `batch`. The only way index entries are written, so that
    /// [`Store::deadline_and_version`] knows deadlines are in use.
    pub fn index_deadline(&self, batch: &mut Batch, index_key: Bytes) {
        self.records_used.store(true, Ordering::SeqCst);
        batch.put(&self.expires, index_key, Bytes::new());
    }

    /// Stores a user key's record in `batch` (the only way records are
    /// written, so that [`Store::deadline_and_version`] knows collections
    /// are in use once one is).
    pub fn put_record(&self, batch: &mut Batch, key: &[u8], entry: &Entry) {
        if entry.expires_at.is_some()
            || !matches!(entry.value, crate::command::op::Value::String(_))
        {
            self.records_used.store(true, Ordering::SeqCst);
        }
        batch.put(&self.data, value::data_key(key), value::encode_entry(entry));
    }

    /// Stores a record as stored bytes (a snapshot stream's), noting what
    /// it holds as [`Store::put_record`] does.
    pub fn put_stored_record(&self, batch: &mut Batch, data_key: Bytes, stored: Bytes) {
        if stored.first().is_some_and(|h| *h != 0) {
            self.records_used.store(true, Ordering::SeqCst);
        }
        batch.put(&self.data, data_key, stored);
    }

    /// The user data as of now, frozen: see [`DataSnapshot`].
    pub fn data_snapshot(&self) -> DataSnapshot<'_> {
        DataSnapshot {
            data: &self.data,
            elements: &self.elements,
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
    elements: &'a Keyspace,
    at: fjall::Snapshot,
}

impl DataSnapshot<'_> {
    /// The stored entry of a user key (expired or not).
    pub fn entry(&self, key: &[u8]) -> Result<Option<Entry>, StorageError> {
        if !storable_key(key) {
            return Ok(None);
        }
        self.at
            .get(self.data, value::data_key(key))?
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
        for guard in self
            .at
            .range(self.data, value::data_key(start)..)
            .take(limit)
        {
            let (k, v) = guard.into_inner()?;
            keys.push((value::user_key(&k), value::deadline(&v)?));
        }
        Ok(keys)
    }

    /// One element record.
    pub fn element(&self, version: Version, sub: &[u8]) -> Result<Option<Bytes>, StorageError> {
        let key = value::element_key(version, sub);
        if key.len() > u16::MAX as usize {
            return Ok(None);
        }
        Ok(self
            .at
            .get(self.elements, key)?
            .map(|v| Bytes::copy_from_slice(&v)))
    }

    /// Up to `limit` element records of `version` from subkey `from` on.
    pub fn elements_from(
        &self,
        version: Version,
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        let start = value::element_key(version, from);
        let prefix = value::encode_version(version);
        let mut out = Vec::new();
        for guard in self.at.range(self.elements, start..).take(limit) {
            let (k, v) = guard.into_inner()?;
            let Some(sub) = k.strip_prefix(&prefix[..]) else {
                break;
            };
            out.push((Bytes::copy_from_slice(sub), Bytes::copy_from_slice(&v)));
        }
        Ok(out)
    }
}

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

/// Whether the store can hold user key `key` at all (fjall asserts on keys
/// over its limit, and the expiry index puts a deadline in front of a key).
/// A key it cannot hold cannot exist, so reads of one answer "missing" and
/// writes of one are refused before they get here.
pub fn storable_key(key: &[u8]) -> bool {
    key.len() <= crate::command::op::MAX_KEY_LEN
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

    /// A store of layout 2 opens as it is and records layout 3 (nothing in
    /// it reads differently); a layout this version does not know is
    /// refused.
    #[tokio::test]
    async fn layout_2_opens_as_3_and_an_unknown_layout_is_refused() {
        for (found, opens) in [(2u64, true), (4, false)] {
            let dir = tempfile::tempdir().expect("tempdir");
            {
                let db = fjall::Database::builder(dir.path()).open().expect("fjall");
                let meta = db
                    .keyspace("meta", KeyspaceCreateOptions::default)
                    .expect("keyspace");
                meta.insert(META_DATA_FORMAT, encode_u64(found))
                    .expect("put");
                db.persist(fjall::PersistMode::SyncAll).expect("persist");
            }
            match Store::open(dir.path(), FsyncPolicy::Always) {
                Ok(store) => {
                    assert!(opens, "layout {found} opened");
                    // Any later write is applied after the format's.
                    store.writer.write(Batch::new()).await.expect("write");
                    assert_eq!(store.meta_u64(META_DATA_FORMAT).expect("meta"), DATA_FORMAT);
                }
                Err(StorageError::OldFormat { found: f }) => {
                    assert!(!opens, "layout {found} refused");
                    assert_eq!(f, found);
                }
                Err(e) => panic!("layout {found}: {e}"),
            }
        }
    }

    /// A snapshot taken before a two-key batch sees neither write, one taken
    /// after sees both: what keeps a multi-key read from seeing half a
    /// transaction that commits while it runs.
    #[tokio::test]
    async fn a_data_snapshot_sees_a_batch_whole_or_not_at_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), FsyncPolicy::No).expect("open");
        let put = |batch: &mut Batch, k: &str, v: &str| {
            store.put_record(
                batch,
                k.as_bytes(),
                &Entry::string(Bytes::copy_from_slice(v.as_bytes()), None),
            );
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

        let read = |s: &DataSnapshot<'_>, k: &str| {
            s.entry(k.as_bytes()).expect("read").map(|e| match e.value {
                crate::command::op::Value::String(v) => v,
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(read(&before, "a").as_deref(), Some(&b"1"[..]));
        assert_eq!(read(&before, "b").as_deref(), Some(&b"1"[..]));
        assert_eq!(read(&after, "a").as_deref(), Some(&b"0"[..]));
        assert_eq!(read(&after, "b").as_deref(), Some(&b"2"[..]));
        assert_eq!(before.stored_from(b"", 10).expect("keys").len(), 2);
    }
}
