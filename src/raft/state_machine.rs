//! openraft's state machine in fjall: applying committed entries to the
//! user data, and building and installing snapshots of it.
//!
//! This module owns the state machine's names in `raft_meta` ([`super`]):
//! the last applied log id, the last applied membership and the current
//! snapshot. It writes the user data (`data`, `elements`, `garbage`,
//! `expires`) only as a 2PC participant's commit does
//! ([`crate::participant::replica::apply_committed`]), and must never
//! write the log store's names or the `raft_log` keyspace.
//!
//! # Applying an entry
//!
//! A normal entry carries a write op stamped by the leader with its clock
//! ([`WriteOp::At`]). It is evaluated on the writer thread, against the
//! data as every earlier entry left it, and its records, the new last
//! applied log id (and for a membership entry the membership) go in one
//! atomic batch: after a crash the data and the applied position agree.
//! The op's stamp, which names the collections it creates and seeds its
//! random choices, is replaced by the entry's log index: the same on every
//! replica, and never reused. The time stays the leader's, so every
//! replica judges expiry alike and `DEBUG DIGEST` agrees.
//!
//! Applied batches are not fsynced on their own account: the entries are
//! (by the log store) before they can be committed, openraft applies again
//! from the last applied id after a restart, and the log is purged only
//! behind a snapshot whose own write is ordered after them in the journal.
//!
//! # Snapshots
//!
//! A snapshot is every user record and every live element record, read
//! from one fjall snapshot together with the applied id and membership (so
//! they agree), as the replica's catch-up stream positions them, encoded
//! whole with postcard. Installing one replaces the user data and the
//! applied state in one atomic batch, and keeps the snapshot as the
//! current one. A snapshot is
//! held in memory whole: fine for the data sets of the Lab; a chunked
//! stream is for later.

use std::collections::HashSet;
use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use fjall::Readable;
use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    BasicNode, EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, StoredMembership,
};
use serde::{Deserialize, Serialize};

use super::{Entry, Keyspaces, LogId, NodeId, RaftStorageError, TypeConfig};
use super::{decode, encode, storage_error};
use crate::command::op::{Outcome, WriteOp};
use crate::participant::replica::{apply_committed, stream};
use crate::storage::{Batch, StorageError, Store, blocking, value};

/// `raft_meta` name of the last applied log id.
const APPLIED: &str = "applied";
/// `raft_meta` name of the last applied membership.
const MEMBERSHIP: &str = "membership";
/// `raft_meta` name of the current snapshot.
const SNAPSHOT: &str = "snapshot";

/// The version of [`SnapshotData`]'s encoding.
const SNAPSHOT_FORMAT: u32 = 1;

/// Membership as stored.
type Membership = StoredMembership<NodeId, BasicNode>;
/// Snapshot metadata as stored.
type Meta = SnapshotMeta<NodeId, BasicNode>;

/// The bytes of a snapshot.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotData {
    /// [`SNAPSHOT_FORMAT`].
    format: u32,
    /// Catch-up stream items: position, stored record.
    pairs: Vec<(Bytes, Bytes)>,
}

/// The current snapshot, as kept in `raft_meta`.
#[derive(Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: Meta,
    data: Vec<u8>,
}

/// The state machine of one node. Cheap to clone; a clone is its snapshot
/// builder.
#[derive(Clone)]
pub struct StateMachine {
    store: Store,
    keyspaces: Keyspaces,
}

/// The op an entry's `op` is evaluated as: stamped with the entry's
/// `index`, at the leader's time (time 0 for an op the leader did not
/// stamp, which only a test sends).
fn stamped(op: WriteOp, index: u64) -> WriteOp {
    match op {
        WriteOp::At { now_ms, op, .. } => WriteOp::At {
            now_ms,
            stamp: index,
            op,
        },
        op => WriteOp::At {
            now_ms: 0,
            stamp: index,
            op: Box::new(op),
        },
    }
}

/// The batch applying `entry` and its outcome. Runs on the writer thread.
fn apply_entry(
    store: &Store,
    meta: &fjall::Keyspace,
    entry: Entry,
) -> Result<(Batch, Outcome), StorageError> {
    let mut batch = Batch::new();
    let log_id = entry.log_id;
    let outcome = match entry.payload {
        EntryPayload::Blank => Outcome::Ok,
        EntryPayload::Normal(op) => apply_committed(store, &stamped(op, log_id.index), &mut batch)?,
        EntryPayload::Membership(membership) => {
            let stored = Membership::new(Some(log_id), membership);
            batch.put(meta, MEMBERSHIP, encode(&stored)?);
            Outcome::Ok
        }
    };
    batch.put(meta, APPLIED, encode(&Some(log_id))?);
    Ok((batch, outcome))
}

/// The applied id, membership and snapshot data, all as of one instant.
fn dump(
    store: &Store,
    keyspaces: &Keyspaces,
) -> Result<(Option<LogId>, Membership, Vec<u8>), StorageError> {
    let at = store.db.snapshot();
    let applied: Option<LogId> = match at.get(&keyspaces.meta, APPLIED)? {
        Some(v) => decode("raft_meta", &v)?,
        None => None,
    };
    let membership: Membership = match at.get(&keyspaces.meta, MEMBERSHIP)? {
        Some(v) => decode("raft_meta", &v)?,
        None => Membership::default(),
    };
    let mut pairs = Vec::new();
    for kv in at.iter(&store.data) {
        let (k, v) = kv.into_inner()?;
        pairs.push((
            stream::position(stream::RECORD, &k),
            Bytes::copy_from_slice(&v),
        ));
    }
    // Elements of versions noted as garbage are dead: no record points at
    // them, and each node sweeps them in its own time.
    let mut known: Option<(Vec<u8>, bool)> = None;
    for kv in at.iter(&store.elements) {
        let (k, v) = kv.into_inner()?;
        let version = k.get(..value::VERSION_LEN).unwrap_or(&k);
        let dead = match &known {
            Some((seen, dead)) if seen.as_slice() == version => *dead,
            _ => {
                let dead = at.contains_key(&store.garbage, version)?;
                known = Some((version.to_vec(), dead));
                dead
            }
        };
        if !dead {
            pairs.push((
                stream::position(stream::ELEMENT, &k),
                Bytes::copy_from_slice(&v),
            ));
        }
    }
    let data = encode(&SnapshotData {
        format: SNAPSHOT_FORMAT,
        pairs,
    })?;
    Ok((applied, membership, data))
}

/// A batch that makes the user data exactly the snapshot's `pairs`: puts
/// them (with the `expires` index entries of their deadlines) and removes
/// every other stored record, index entry and garbage note. Reads the
/// store: run off the async workers, while nothing else writes user data.
fn replace_data(store: &Store, pairs: Vec<(Bytes, Bytes)>) -> Result<Batch, StorageError> {
    let mut data_keys = HashSet::new();
    let mut element_keys = HashSet::new();
    let mut index_keys = HashSet::new();
    for (position, stored) in &pairs {
        match position.split_first() {
            Some((&stream::RECORD, key)) => {
                if let Some(at) = value::deadline(stored)? {
                    index_keys.insert(value::index_key(at, &value::user_key(key)));
                }
                data_keys.insert(Bytes::copy_from_slice(key));
            }
            Some((&stream::ELEMENT, key)) => {
                element_keys.insert(Bytes::copy_from_slice(key));
            }
            _ => {
                return Err(StorageError::Corrupt {
                    keyspace: "snapshot",
                    reason: "unknown stream position".to_owned(),
                });
            }
        }
    }
    let mut batch = Batch::new();
    let stale = [
        (&store.data, &data_keys),
        (&store.elements, &element_keys),
        (&store.expires, &index_keys),
        (&store.garbage, &HashSet::new()),
    ];
    for (keyspace, kept) in stale {
        for kv in keyspace.iter() {
            let k = kv.key()?;
            if !kept.contains(k.as_ref()) {
                batch.remove(keyspace, Bytes::copy_from_slice(&k));
            }
        }
    }
    for (position, stored) in pairs {
        stream::install(store, &position, stored, &mut batch)?;
    }
    Ok(batch)
}

/// A snapshot's id: its last log id names its content.
fn snapshot_id(last: Option<LogId>) -> String {
    match last {
        Some(id) => format!(
            "{}-{}-{}",
            id.leader_id.term, id.leader_id.node_id, id.index
        ),
        None => "empty".to_owned(),
    }
}

impl StateMachine {
    pub(crate) fn new(store: Store, keyspaces: Keyspaces) -> StateMachine {
        StateMachine { store, keyspaces }
    }

    /// The current snapshot as stored, off the async workers.
    async fn current(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        let meta = self.keyspaces.meta.clone();
        blocking(move || {
            meta.get(SNAPSHOT)?
                .map(|v| decode("raft_meta", &v))
                .transpose()
        })
        .await
    }

    /// Keeps `meta` and `data` as the current snapshot, in `batch`.
    fn keep(&self, batch: &mut Batch, meta: &Meta, data: &[u8]) -> Result<(), StorageError> {
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.to_vec(),
        };
        batch.put(&self.keyspaces.meta, SNAPSHOT, encode(&stored)?);
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, RaftStorageError> {
        let read = |e: StorageError| storage_error(ErrorSubject::StateMachine, ErrorVerb::Read, &e);
        let store = self.store.clone();
        let keyspaces = self.keyspaces.clone();
        let (last, membership, data) = blocking(move || dump(&store, &keyspaces))
            .await
            .map_err(read)?;
        let meta = Meta {
            last_log_id: last,
            last_membership: membership,
            snapshot_id: snapshot_id(last),
        };
        let write = |e: StorageError| {
            storage_error(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Write,
                &e,
            )
        };
        let mut batch = Batch::new();
        self.keep(&mut batch, &meta, &data).map_err(write)?;
        self.store.writer.write(batch).await.map_err(write)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), RaftStorageError> {
        let meta = self.keyspaces.meta.clone();
        blocking(move || {
            let applied: Option<LogId> = match meta.get(APPLIED)? {
                Some(v) => decode("raft_meta", &v)?,
                None => None,
            };
            let membership = match meta.get(MEMBERSHIP)? {
                Some(v) => decode("raft_meta", &v)?,
                None => Membership::default(),
            };
            Ok((applied, membership))
        })
        .await
        .map_err(|e| storage_error(ErrorSubject::StateMachine, ErrorVerb::Read, &e))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, RaftStorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let write =
            |e: StorageError| storage_error(ErrorSubject::StateMachine, ErrorVerb::Write, &e);
        // One writer job per entry, all queued before any is awaited: each
        // is evaluated against the data the ones before it left, and they
        // share the writer's groups. After a failure the rest write
        // nothing, so the applied id never skips an entry.
        let failed = Arc::new(AtomicBool::new(false));
        let mut queued = Vec::new();
        for entry in entries {
            let store = self.store.clone();
            let meta = self.keyspaces.meta.clone();
            let failed = failed.clone();
            let job = self.store.writer.queue_compute(move || {
                if failed.load(Ordering::SeqCst) {
                    // Never reported: the outcomes are awaited in order, so
                    // the failed entry's own error is returned first.
                    return (Batch::new(), Err(StorageError::WriterGone));
                }
                match apply_entry(&store, &meta, entry) {
                    Ok((mut batch, outcome)) => {
                        batch.relaxed();
                        (batch, Ok(outcome))
                    }
                    Err(e) => {
                        failed.store(true, Ordering::SeqCst);
                        (Batch::new(), Err(e))
                    }
                }
            });
            queued.push(job.map_err(write)?);
        }
        let mut outcomes = Vec::with_capacity(queued.len());
        for job in queued {
            outcomes.push(job.wait().await.map_err(write)?.map_err(write)?);
        }
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, RaftStorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), RaftStorageError> {
        let subject = || ErrorSubject::Snapshot(Some(meta.signature()));
        let bytes = snapshot.into_inner();
        let data: SnapshotData = decode("snapshot", &bytes)
            .map_err(|e| storage_error(subject(), ErrorVerb::Read, &e))?;
        if data.format != SNAPSHOT_FORMAT {
            let e = StorageError::Corrupt {
                keyspace: "snapshot",
                reason: format!(
                    "format {}, this version reads {SNAPSHOT_FORMAT}",
                    data.format
                ),
            };
            return Err(storage_error(subject(), ErrorVerb::Read, &e));
        }
        let write = |e: StorageError| storage_error(subject(), ErrorVerb::Write, &e);
        // One atomic batch replaces the data and the applied state, so a
        // crash leaves either the old state or the new, never the applied
        // id of one over the data of the other. It removes every record the
        // snapshot does not put (a key may appear in a batch only once).
        let store = self.store.clone();
        let pairs = data.pairs;
        let batch = blocking(move || replace_data(&store, pairs))
            .await
            .map_err(write)?;
        let mut batch = batch;
        batch.put(
            &self.keyspaces.meta,
            APPLIED,
            encode(&meta.last_log_id).map_err(write)?,
        );
        batch.put(
            &self.keyspaces.meta,
            MEMBERSHIP,
            encode(&meta.last_membership).map_err(write)?,
        );
        self.keep(&mut batch, meta, &bytes).map_err(write)?;
        batch.force_sync();
        self.store.writer.write(batch).await.map_err(write)
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, RaftStorageError> {
        let current = self
            .current()
            .await
            .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, &e))?;
        Ok(current.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
