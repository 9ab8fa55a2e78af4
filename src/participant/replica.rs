//! The replica: one participant's data and its part in two-phase commit.
//!
//! # Invariants
//!
//! - A vote is sent only after its prepare record is in the store (as
//!   durable as the fsync policy makes every write).
//! - A commit applies its effects, appends its log entry, records its txid
//!   and drops its prepare record in one atomic batch.
//! - Commit indices are dense. The *watermark* is the highest index such
//!   that every index at or below it is applied (or was declared a no-op by
//!   [`Replica::settle`] / a catch-up). Catch-up replays strictly above it.
//!   It is kept twice: *planned* (counting commits queued to the writer,
//!   which apply in order and can only fail by stopping the process) for
//!   what gets persisted, and *visible* (counting commits already applied)
//!   for everything reported to others — a catch-up source must never
//!   claim an index its log does not yet show.
//! - A commit does not write the watermark (or the highest txid seen) to
//!   `meta`: recovery rebuilds both from the retained log and the `txids`
//!   map, which every commit writes anyway. `meta` holds a *checkpoint* of
//!   them, written whenever the watermark jumps over indices that have no
//!   log entry (a settle, a catch-up, a snapshot install) and by every
//!   periodic [`Replica::checkpoint_and_trim`], which must write it before
//!   dropping any log entry above the stored checkpoint. So the log above
//!   the checkpoint is never missing an entry recovery needs, and recovery
//!   reads at most one checkpoint period of log keys.
//! - Keys of a prepared transaction are *locked*: reads of them wait for the
//!   outcome, so a reader never sees a value and then an older one.
//!
//! - The `expires` index ([`crate::storage::value`]) changes in the same
//!   batch as the data it indexes: a prepare notes each written key's
//!   stored deadline (its keys are locked from then on, so the note stays
//!   true until the commit), and the commit swaps the old index entry for
//!   the new one.
//!
//! The replica never decides an outcome itself; in-doubt transactions stay
//! prepared (and their keys locked) until the coordinator says.
//!
//! # Time
//!
//! The replica never judges expiry by its own clock for a replicated op:
//! the coordinator stamps every write and routed read with its time
//! ([`crate::command::op`]). Only a direct client read on the participant's
//! own port is stamped with the participant's clock (see [`super`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::command::op::{self, Effect, Entry, Outcome, ReadOp, Stored, Value, Version, WriteOp};
use crate::rpc::message::{LogEntry, ParticipantStatus};
use crate::storage::{
    Batch, DataSnapshot, StorageError, Store, Submitted, blocking, decode_u64, encode_u64, value,
};
use fjall::Readable;

const META_WATERMARK: &str = "watermark";
const META_MAX_TXID: &str = "max_txid";
const META_LOG_FLOOR: &str = "log_floor";
/// The txid of a voided index's log entry: no transaction has it (ids
/// start at epoch 1).
const VOID_TXID: u64 = 0;

/// Errors a replica operation can end with.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A commit named a transaction this replica never prepared.
    #[error("unknown transaction {0}")]
    UnknownTxn(u64),
    /// A prepare touched a key held by another (in-doubt) transaction.
    #[error("key is locked by in-doubt transaction {0}")]
    Locked(u64),
}

/// What a prepare staged.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Staged {
    outcome: Outcome,
    effects: Vec<Effect>,
    /// The `expires` index entries the commit removes and adds.
    index: IndexChanges,
}

/// Changes to the `expires` index, and the collection versions a commit
/// leaves without a record pointing at them (to note as garbage, see
/// [`crate::storage::value`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct IndexChanges {
    remove: Vec<Bytes>,
    add: Vec<Bytes>,
    garbage: Vec<Version>,
}

impl IndexChanges {
    /// Notes that `key`'s deadline goes from `old` to `new`.
    fn note(&mut self, key: &[u8], old: Option<u64>, new: Option<u64>) {
        if old == new {
            return;
        }
        if let Some(at) = old {
            self.remove.push(value::index_key(at, key));
        }
        if let Some(at) = new {
            self.add.push(value::index_key(at, key));
        }
    }

    /// Adds the changes to `batch`.
    fn write(&self, store: &Store, batch: &mut Batch) {
        for k in &self.remove {
            batch.remove(&store.expires, k.clone());
        }
        for k in &self.add {
            store.index_deadline(batch, k.clone());
        }
        for v in &self.garbage {
            batch.put(
                &store.garbage,
                value::encode_version(*v).to_vec(),
                Bytes::new(),
            );
        }
    }

    /// What applying `effects` (the last write of each record, in any
    /// order) to `store` as it is now changes in the index, and which
    /// collection versions it kills: those of the records it replaces and
    /// those it writes elements of, unless a record it writes (or, for an
    /// owner it leaves alone, the stored record) still points at them.
    fn of(store: &Store, effects: &[Effect]) -> Result<IndexChanges, StorageError> {
        let mut changes = IndexChanges::default();
        let mut candidates = BTreeSet::new();
        let mut alive = HashSet::new();
        let mut written_keys = HashSet::new();
        for e in effects {
            if let Effect::Key { key, entry } = e {
                let (old_deadline, old_version) = store.deadline_and_version(key)?;
                changes.note(key, old_deadline, entry.as_ref().and_then(|e| e.expires_at));
                candidates.extend(old_version);
                if let Some(Entry {
                    value: Value::Collection(c),
                    ..
                }) = entry
                {
                    alive.insert(c.version);
                }
                written_keys.insert(key);
            }
        }
        for e in effects {
            if let Effect::Element { key, version, .. } = e
                && !candidates.contains(version)
            {
                let still_stored = !written_keys.contains(key)
                    && store.deadline_and_version(key)?.1 == Some(*version);
                if !still_stored {
                    candidates.insert(*version);
                }
            }
        }
        changes.garbage = candidates
            .into_iter()
            .filter(|v| !alive.contains(v))
            .collect();
        Ok(changes)
    }
}

/// What a write effect addresses: two effects with the same target in one
/// store batch would share a sequence number, so only the last is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Key(Bytes),
    Element(Version, Bytes),
}

fn target(effect: &Effect) -> Target {
    match effect {
        Effect::Key { key, .. } => Target::Key(key.clone()),
        Effect::Element { version, sub, .. } => Target::Element(*version, sub.clone()),
    }
}

/// Adds one effect's write to `batch`.
fn write_effect(store: &Store, effect: &Effect, batch: &mut Batch) {
    match effect {
        Effect::Key {
            key,
            entry: Some(entry),
        } => store.put_record(batch, key, entry),
        Effect::Key { key, entry: None } => batch.remove(&store.data, value::data_key(key)),
        Effect::Element {
            version,
            sub,
            value: Some(v),
            ..
        } => batch.put(
            &store.elements,
            value::element_key(*version, sub),
            v.clone(),
        ),
        Effect::Element {
            version,
            sub,
            value: None,
            ..
        } => batch.remove(&store.elements, value::element_key(*version, sub)),
    }
}

#[derive(Default)]
struct State {
    prepared: HashMap<u64, Staged>,
    /// Locked keys → (owning txid, wakes readers when released).
    locked: HashMap<Bytes, (u64, Arc<Notify>)>,
    /// Planned watermark: counts every commit queued to the writer.
    watermark: u64,
    /// Visible watermark: counts only commits already applied to the store.
    /// What others are told and what catch-up copies are measured against.
    visible: u64,
    applied_above: BTreeSet<u64>,
    max_txid: u64,
    log_floor: u64,
    lease_until: Option<Instant>,
    /// Counts lease periods: a grant after the lease had lapsed or been
    /// dropped starts a new one ([`Replica::lease`]).
    lease_period: u64,
}

impl State {
    fn max_applied(&self) -> u64 {
        self.applied_above
            .last()
            .copied()
            .unwrap_or(self.watermark)
            .max(self.watermark)
    }

    /// Whether `index` is applied (or queued to apply) already.
    fn has_applied(&self, index: u64) -> bool {
        index <= self.watermark || self.applied_above.contains(&index)
    }

    /// Records `index` as applied and advances the watermark over any run.
    fn mark_applied(&mut self, index: u64) {
        if index <= self.watermark {
            return;
        }
        self.applied_above.insert(index);
        while self.applied_above.remove(&(self.watermark + 1)) {
            self.watermark += 1;
        }
    }

    fn raise_watermark(&mut self, to: u64) {
        if to > self.watermark {
            self.watermark = to;
            self.applied_above = self.applied_above.split_off(&(to + 1));
        }
        while self.applied_above.remove(&(self.watermark + 1)) {
            self.watermark += 1;
        }
    }

    fn unlock(&mut self, txid: u64, effects: &[Effect]) {
        for e in effects {
            if let Some((owner, notify)) = self.locked.get(e.key())
                && *owner == txid
            {
                notify.notify_waiters();
                self.locked.remove(e.key());
            }
        }
    }
}

/// A participant's replica. Cheap to clone.
#[derive(Clone)]
pub struct Replica {
    store: Store,
    state: Arc<Mutex<State>>,
    log_retention: u64,
    /// The coordinator connection whose transactions we accept (see
    /// [`Replica::claim`]).
    current_connection: Arc<std::sync::atomic::AtomicU64>,
    /// Seeds the random choices of reads (each read takes the next).
    read_seed: Arc<std::sync::atomic::AtomicU64>,
    /// Where the garbage sweep goes on ([`Replica::sweep_garbage`]).
    sweep_resume: Arc<Mutex<Option<Bytes>>>,
}

/// Evaluation's view of the stored data: one snapshot per evaluation, so a
/// read of several keys never sees half of a commit that applies meanwhile.
struct DataView<'a>(DataSnapshot<'a>);
impl Stored for DataView<'_> {
    type Error = StorageError;
    fn stored(&self, key: &[u8]) -> Result<Option<Entry>, StorageError> {
        self.0.entry(key)
    }
    fn stored_from(
        &self,
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Option<u64>)>, StorageError> {
        self.0.stored_from(start, limit)
    }
    fn stored_element(&self, version: Version, sub: &[u8]) -> Result<Option<Bytes>, StorageError> {
        self.0.element(version, sub)
    }
    fn stored_elements(
        &self,
        version: Version,
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        self.0.elements_from(version, from, limit)
    }
}

fn corrupt(keyspace: &'static str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt {
        keyspace,
        reason: e.to_string(),
    }
}

/// Keeps only the last effect on each key and element (`MSET k 1 k 2`
/// writes `k` once): writes in one store batch share a sequence number, so
/// a target must appear in it once.
fn last_write_per_target(effects: Vec<Effect>) -> Vec<Effect> {
    let mut seen = HashSet::new();
    let mut kept: Vec<Effect> = effects
        .into_iter()
        .rev()
        .filter(|e| seen.insert(target(e)))
        .collect();
    kept.reverse();
    kept
}

/// Evaluates `op` against `store` as it is now: its outcome, the last write
/// of each record it makes, and what those change in the `expires` index
/// and the garbage notes. What a prepare stages and a commit applies.
fn evaluate(
    store: &Store,
    op: &WriteOp,
) -> Result<(Outcome, Vec<Effect>, IndexChanges), StorageError> {
    let (outcome, effects) = op::eval_write(op, &DataView(store.data_snapshot()))?;
    let effects = last_write_per_target(effects);
    let index = IndexChanges::of(store, &effects)?;
    Ok((outcome, effects, index))
}

/// Evaluates a committed write `op` against `store` as it is now and adds
/// to `batch` every record that applying it writes (data, elements, the
/// `expires` index, garbage notes): exactly what a participant's prepare
/// and commit of `op` write together, so a replica fed the same ops ends
/// with the same records and the same [`data_digest`]. An error outcome, or
/// an op that changes nothing, adds nothing. Must run where no other write
/// can land between the evaluation and `batch` (on the writer thread,
/// [`crate::storage::Writer::compute`]). Used by the Raft state machine.
pub fn apply_committed(
    store: &Store,
    op: &WriteOp,
    batch: &mut Batch,
) -> Result<Outcome, StorageError> {
    let (outcome, effects, index) = evaluate(store, op)?;
    if matches!(outcome, Outcome::Error(_)) {
        return Ok(outcome);
    }
    for e in &effects {
        write_effect(store, e, batch);
    }
    index.write(store, batch);
    Ok(outcome)
}

/// Evaluates `op` and stages its effects into `batch`, locking its keys.
/// Runs on the writer thread.
fn stage(
    store: &Store,
    state: &Mutex<State>,
    txid: u64,
    op: &WriteOp,
    batch: &mut Batch,
) -> Result<Outcome, ReplicaError> {
    let (outcome, effects, index) = evaluate(store, op)?;
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(staged) = s.prepared.get(&txid) {
        return Ok(staged.outcome.clone());
    }
    for e in &effects {
        if let Some((owner, _)) = s.locked.get(e.key()) {
            return Err(ReplicaError::Locked(*owner));
        }
    }
    s.max_txid = s.max_txid.max(txid);
    if matches!(outcome, Outcome::Error(_)) || effects.is_empty() {
        // Nothing to apply: the vote is the answer, and a later commit of
        // this txid is a no-op that still takes its index. Not persisted: if
        // we crash, the coordinator's commit finds it unknown and we rejoin.
        s.prepared.insert(
            txid,
            Staged {
                outcome: outcome.clone(),
                effects: Vec::new(),
                index: IndexChanges::default(),
            },
        );
        return Ok(outcome);
    }
    let staged = Staged {
        outcome: outcome.clone(),
        effects,
        index,
    };
    let record = postcard::to_allocvec(&staged).map_err(|e| corrupt("prepared", e))?;
    batch.put(&store.prepared, encode_u64(txid).to_vec(), record);
    for e in &staged.effects {
        s.locked
            .insert(e.key().clone(), (txid, Arc::new(Notify::new())));
    }
    s.prepared.insert(txid, staged);
    Ok(outcome)
}

/// FNV-1a digest of every key and stored record (header with the deadline
/// included, so replicas agree only if their deadlines do) and, after a
/// collection's record, every element of its version, in key order; and
/// the key count. Expired keys not yet removed count: they are still
/// stored. Elements of dead versions do not: each node sweeps those in its
/// own time. A long scan: call it off the async workers.
pub fn data_digest(store: &Store) -> Result<(u64, u64), StorageError> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut keys = 0u64;
    let mut feed = |bytes: &[u8]| {
        for chunk in [&(bytes.len() as u64).to_be_bytes()[..], bytes] {
            for b in chunk {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    };
    let snapshot = store.db.snapshot();
    for kv in snapshot.iter(&store.data) {
        let (k, v) = kv.into_inner().map_err(StorageError::from)?;
        feed(&k);
        feed(&v);
        keys += 1;
        if let Some(version) = value::version_of(&v)? {
            let prefix = value::encode_version(version);
            for kv in snapshot.prefix(&store.elements, prefix) {
                let (ek, ev) = kv.into_inner().map_err(StorageError::from)?;
                feed(&ek[prefix.len()..]);
                feed(&ev);
            }
        }
    }
    Ok((hash, keys))
}

impl Replica {
    /// Opens the replica's state from `store`: positions (the checkpoint in
    /// `meta`, advanced over the retained log above it and the highest
    /// committed txid), and in-doubt prepared transactions.
    pub fn recover(store: Store, log_retention: u64) -> Result<Replica, ReplicaError> {
        if store.legacy_log()? {
            legacy::rewrite(&store)?;
        }
        let mut state = State {
            watermark: store.meta_u64(META_WATERMARK)?,
            max_txid: store.meta_u64(META_MAX_TXID)?,
            log_floor: store.meta_u64(META_LOG_FLOOR)?.max(1),
            ..State::default()
        };
        if let Some(kv) = store.txids.last_key_value() {
            let key = kv.key().map_err(StorageError::from)?;
            let txid = decode_u64(&key).ok_or_else(|| corrupt("txids", "bad txid key"))?;
            state.max_txid = state.max_txid.max(txid);
        }
        let start = encode_u64(state.watermark + 1);
        for kv in store.log.range(start..) {
            let key = kv.key().map_err(StorageError::from)?;
            let index = decode_u64(&key).ok_or_else(|| corrupt("log", "bad index key"))?;
            state.mark_applied(index);
        }
        for kv in store.prepared.iter() {
            let (key, value) = kv.into_inner().map_err(StorageError::from)?;
            let txid = decode_u64(&key).ok_or_else(|| corrupt("prepared", "bad txid key"))?;
            let staged: Staged =
                postcard::from_bytes(&value).map_err(|e| corrupt("prepared", e))?;
            for e in &staged.effects {
                state
                    .locked
                    .insert(e.key().clone(), (txid, Arc::new(Notify::new())));
            }
            state.max_txid = state.max_txid.max(txid);
            state.prepared.insert(txid, staged);
        }
        state.visible = state.watermark;
        tracing::info!(
            watermark = state.watermark,
            max_applied = state.max_applied(),
            in_doubt = state.prepared.len(),
            "replica recovered"
        );
        Ok(Replica {
            store,
            state: Arc::new(Mutex::new(state)),
            log_retention,
            current_connection: Arc::default(),
            read_seed: Arc::new(std::sync::atomic::AtomicU64::new(
                crate::command::unix_time_ms(),
            )),
            sweep_resume: Arc::default(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug; the state itself is
        // still consistent because every mutation is a few plain stores.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `connection` the one coordinator connection whose PREPARE,
    /// COMMIT and ABORT are accepted. A coordinator claims a connection
    /// first thing (its revoking heartbeat), so a PREPARE still in flight on
    /// an older connection (from a coordinator that evicted us, or died)
    /// cannot arrive after in-doubt resolution and lock a key for good.
    pub fn claim(&self, connection: u64) {
        self.current_connection
            .store(connection, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether transactions from `connection` are accepted.
    pub fn is_current(&self, connection: u64) -> bool {
        self.current_connection
            .load(std::sync::atomic::Ordering::SeqCst)
            == connection
    }

    /// Positions and in-doubt transactions.
    pub fn status(&self) -> ParticipantStatus {
        let s = self.state();
        let mut prepared: Vec<u64> = s.prepared.keys().copied().collect();
        prepared.sort_unstable();
        ParticipantStatus {
            watermark: s.visible,
            max_applied: s.max_applied(),
            max_txid: s.max_txid,
            prepared,
        }
    }

    /// Renews (member) or drops (not a member) the direct-read lease.
    ///
    /// The lease runs from `anchor`, a moment known to be no later than when
    /// the coordinator sent this heartbeat (see [`super`]'s docs), so it
    /// ends before the coordinator's own bound however long the heartbeat
    /// spent in the network. `None` grants nothing (yet).
    pub fn heartbeat(&self, lease: Duration, member: bool, anchor: Option<Instant>) {
        let mut s = self.state();
        let held = s.lease_until.is_some_and(|until| Instant::now() < until);
        s.lease_until = match (member, anchor) {
            (true, Some(anchor)) => Some(anchor + lease),
            _ => None,
        };
        if s.lease_until.is_some() && !held {
            s.lease_period += 1;
        }
    }

    /// The current lease period, if direct client reads may be served now.
    /// A direct read must hold the same period from before it starts until
    /// it has read: it may wait on a locked key for longer than the lease
    /// lasts, and a replica whose lease lapsed meanwhile may have missed
    /// writes acknowledged since (it was evicted; a new period begins only
    /// once it has caught up and is live again).
    pub fn lease(&self) -> Option<u64> {
        let s = self.state();
        s.lease_until
            .is_some_and(|until| Instant::now() < until)
            .then_some(s.lease_period)
    }

    /// Whether direct client reads may be served now.
    pub fn holds_lease(&self) -> bool {
        self.lease().is_some()
    }

    /// Phase one. Evaluates `op`, stages its effects durably, returns the vote.
    /// If a key is still held by the previous transaction on it (whose
    /// COMMIT may be in flight behind this PREPARE), it waits up to
    /// `wait_limit` for that outcome.
    pub async fn prepare(
        &self,
        txid: u64,
        op: WriteOp,
        wait_limit: Duration,
    ) -> Result<Outcome, ReplicaError> {
        if let Some(staged) = self.state().prepared.get(&txid) {
            return Ok(staged.outcome.clone());
        }
        if op.locks_everything() {
            self.wait_all_unlocked(wait_limit).await?;
        } else {
            self.wait_unlocked(&op.keys(), wait_limit).await?;
        }
        let store = self.store.clone();
        let state = self.state.clone();
        // Evaluated on the writer thread: it sees every earlier commit, and
        // the staged record is queued in the same step.
        self.store
            .writer
            .compute(move || {
                let mut batch = Batch::new();
                let vote = stage(&store, &state, txid, &op, &mut batch);
                (batch, vote)
            })
            .await?
    }

    /// Phase two, commit: queues the staged effects to apply as log entry
    /// `index`, ahead of anything submitted later, and returns a handle
    /// that resolves once they are applied (`None`: a retried commit).
    /// Its keys unlock as soon as the batch is applied, not when it is
    /// synced: the commit is not synced on its own account (the prepare
    /// record was, and so was the coordinator's decision, so a commit lost
    /// to a power cut is redone by recovery). The coordinator's COMMIT is
    /// one-way, so its handler drops the handle: nobody is woken for it.
    pub fn commit(&self, txid: u64, index: u64) -> Result<Option<Submitted>, ReplicaError> {
        let submitted = {
            let mut s = self.state();
            let Some(staged) = s.prepared.remove(&txid) else {
                if s.has_applied(index) {
                    return Ok(None); // a retried commit
                }
                return Err(ReplicaError::UnknownTxn(txid));
            };
            let entry = LogEntry {
                index,
                txid,
                effects: staged.effects,
            };
            let mut batch = self.entry_batch(&entry)?;
            staged.index.write(&self.store, &mut batch);
            batch.remove(&self.store.prepared, encode_u64(txid).to_vec());
            self.queue_entry(&mut s, batch, index, txid, entry.effects)?
        };
        Ok(Some(submitted))
    }

    /// Queues `batch`, which applies log entry `index`, under the state
    /// lock `s`: batches apply in submission order, so the stored
    /// watermark only ever grows. The entry is what records the new
    /// position (see the module docs on checkpoints); once the batch is
    /// applied, `txid`'s keys in `held` unlock and the watermark is
    /// revealed.
    fn queue_entry(
        &self,
        s: &mut State,
        mut batch: Batch,
        index: u64,
        txid: u64,
        held: Vec<Effect>,
    ) -> Result<Submitted, ReplicaError> {
        s.mark_applied(index);
        batch.relaxed();
        let state = self.state.clone();
        let watermark = s.watermark;
        batch.on_applied(move || {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            s.unlock(txid, &held);
            s.visible = s.visible.max(watermark);
        });
        Ok(self.store.writer.submit(batch)?)
    }

    /// Takes `index` as a no-op: the round that held it aborted after it
    /// had taken it (see the coordinator's decisions). It is logged as an
    /// empty entry, with no txid, so the log stays dense for catch-up and a
    /// lookup of the aborted transaction still finds nothing. Queued like a
    /// commit (`None`: already applied).
    pub fn void(&self, index: u64) -> Result<Option<Submitted>, ReplicaError> {
        let mut s = self.state();
        if s.has_applied(index) {
            return Ok(None);
        }
        let entry = LogEntry {
            index,
            txid: VOID_TXID,
            effects: Vec::new(),
        };
        let batch = self.entry_batch(&entry)?;
        Ok(Some(self.queue_entry(
            &mut s,
            batch,
            index,
            VOID_TXID,
            Vec::new(),
        )?))
    }

    /// Phase two, abort: drops the staged effects.
    pub async fn abort(&self, txid: u64) -> Result<(), ReplicaError> {
        let staged = self.state().prepared.remove(&txid);
        if let Some(staged) = staged {
            if !staged.effects.is_empty() {
                let mut batch = Batch::new();
                batch.remove(&self.store.prepared, encode_u64(txid).to_vec());
                self.store.writer.write(batch).await?;
            }
            self.state().unlock(txid, &staged.effects);
        }
        Ok(())
    }

    /// The writes that apply one log entry (data, log, txid map; the
    /// caller adds the index changes).
    fn entry_batch(&self, entry: &LogEntry) -> Result<Batch, ReplicaError> {
        let mut batch = Batch::new();
        for e in &entry.effects {
            write_effect(&self.store, e, &mut batch);
        }
        self.log_entry_writes(entry, &mut batch)?;
        Ok(batch)
    }

    /// The log and txid-map writes recording one entry (a voided index has
    /// no txid to map).
    fn log_entry_writes(&self, entry: &LogEntry, batch: &mut Batch) -> Result<(), ReplicaError> {
        let record = postcard::to_allocvec(entry).map_err(|e| corrupt("log", e))?;
        batch.put(&self.store.log, encode_u64(entry.index).to_vec(), record);
        if entry.txid != VOID_TXID {
            batch.put(
                &self.store.txids,
                encode_u64(entry.txid).to_vec(),
                encode_u64(entry.index).to_vec(),
            );
        }
        Ok(())
    }

    /// At which index this replica committed `txid`, if it did.
    pub async fn lookup(&self, txid: u64) -> Result<Option<u64>, ReplicaError> {
        let store = self.store.clone();
        blocking(move || {
            Ok(store
                .txids
                .get(encode_u64(txid))
                .map_err(StorageError::from)?
                .and_then(|v| decode_u64(&v)))
        })
        .await
        .map_err(ReplicaError::from)
    }

    /// Waits until no prepared transaction holds any of `keys`.
    async fn wait_unlocked(
        &self,
        keys: &[&Bytes],
        wait_limit: Duration,
    ) -> Result<(), ReplicaError> {
        let deadline = tokio::time::Instant::now() + wait_limit;
        loop {
            let held = {
                let s = self.state();
                keys.iter()
                    .find_map(|k| s.locked.get(*k).map(|(owner, n)| (*k, *owner, n.clone())))
            };
            let Some((key, owner, notify)) = held else {
                return Ok(());
            };
            let wait = notify.notified();
            tokio::pin!(wait);
            wait.as_mut().enable();
            // Re-check the same lock: it may have gone between the lookup
            // and enable, and then nothing would wake this wait (another
            // key still being locked is the next round's business).
            let still_held = self
                .state()
                .locked
                .get(key)
                .is_some_and(|(o, _)| *o == owner);
            if still_held && tokio::time::timeout_at(deadline, wait).await.is_err() {
                return Err(ReplicaError::Locked(owner));
            }
        }
    }

    /// Waits until no key locked now is locked any more (for ops on the
    /// whole keyspace: FLUSHDB, KEYS, SCAN, DBSIZE).
    async fn wait_all_unlocked(&self, wait_limit: Duration) -> Result<(), ReplicaError> {
        let locked: Vec<Bytes> = self.state().locked.keys().cloned().collect();
        self.wait_unlocked(&locked.iter().collect::<Vec<_>>(), wait_limit)
            .await
    }

    /// Evaluates a read, first waiting out any prepared transaction on its
    /// keys (on any key, for a read of the whole keyspace).
    pub async fn read(&self, op: ReadOp, wait_limit: Duration) -> Result<Outcome, ReplicaError> {
        if op.reads_everything() {
            self.wait_all_unlocked(wait_limit).await?;
        } else {
            self.wait_unlocked(&op.keys(), wait_limit).await?;
        }
        let store = self.store.clone();
        // The random choices of a read (SRANDMEMBER) are this replica's own.
        let seed = self
            .read_seed
            .fetch_add(0x9e37_79b9_7f4a_7c15, std::sync::atomic::Ordering::Relaxed);
        if op.is_heavy() {
            let view = move || op::eval_read(&op, &DataView(store.data_snapshot()), seed);
            return Ok(blocking(view).await?);
        }
        Ok(self
            .store
            .reader
            .run(move || op::eval_read(&op, &DataView(store.data_snapshot()), seed))
            .await??)
    }

    /// Catch-up source: committed entries above `after`.
    pub async fn fetch_log(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<(Vec<LogEntry>, bool, u64), ReplicaError> {
        let (floor, watermark) = {
            let s = self.state();
            (s.log_floor, s.visible)
        };
        if after + 1 < floor {
            return Ok((Vec::new(), false, watermark));
        }
        let store = self.store.clone();
        let entries = blocking(move || {
            let mut out = Vec::new();
            for kv in store.log.range(encode_u64(after + 1)..) {
                if out.len() >= limit as usize {
                    break;
                }
                let (_, value) = kv.into_inner().map_err(StorageError::from)?;
                out.push(postcard::from_bytes::<LogEntry>(&value).map_err(|e| corrupt("log", e))?);
            }
            Ok(out)
        })
        .await?;
        Ok((entries, true, watermark))
    }

    /// Catch-up target: applies `entries` in order, then raises the
    /// watermark to `up_to`.
    pub async fn apply_log(&self, entries: Vec<LogEntry>, up_to: u64) -> Result<u64, ReplicaError> {
        // One batch for the whole chunk: a catch-up must outrun the live
        // write path, which it cannot do one writer round trip per entry.
        // Within one fjall batch every write shares a sequence number, so a
        // key written by several entries must appear once, with its last
        // value.
        let all: Vec<Effect> = entries
            .iter()
            .flat_map(|e| e.effects.iter().cloned())
            .collect();
        let last = last_write_per_target(all);
        // The index entries to swap and the versions killed: a target is
        // not live while it catches up, so nothing else writes its data
        // between this read and the batch.
        let store = self.store.clone();
        let (last, index) = blocking(move || {
            let index = IndexChanges::of(&store, &last)?;
            Ok((last, index))
        })
        .await?;
        let mut batch = Batch::new();
        for e in &last {
            write_effect(&self.store, e, &mut batch);
        }
        index.write(&self.store, &mut batch);
        for entry in &entries {
            self.log_entry_writes(entry, &mut batch)?;
        }
        self.advance_watermark(batch, |s| {
            for entry in &entries {
                s.mark_applied(entry.index);
            }
            s.raise_watermark(up_to);
        })
        .await
    }

    /// Moves the watermark as `plan` says, checkpoints it with `batch`, and
    /// reveals it once that batch is applied.
    async fn advance_watermark(
        &self,
        mut batch: Batch,
        plan: impl FnOnce(&mut State),
    ) -> Result<u64, ReplicaError> {
        let (watermark, submitted) = {
            let mut s = self.state();
            plan(&mut s);
            self.checkpoint(&s, &mut batch);
            // Submitted under the state lock: batches apply in submission
            // order, so the stored watermark only ever grows.
            (s.watermark, self.store.writer.submit(batch)?)
        };
        submitted.wait().await?;
        self.reveal(watermark);
        Ok(watermark)
    }

    /// Adds the checkpoint of the positions in `s` to `batch`. Called under
    /// the state lock, with the batch submitted before the lock is released:
    /// batches apply in submission order, so the stored checkpoint only
    /// ever grows and covers every commit queued before it.
    fn checkpoint(&self, s: &State, batch: &mut Batch) {
        batch.put(
            &self.store.meta,
            META_WATERMARK,
            encode_u64(s.watermark).to_vec(),
        );
        batch.put(
            &self.store.meta,
            META_MAX_TXID,
            encode_u64(s.max_txid).to_vec(),
        );
    }

    /// Raises the visible watermark once the batch that planned it applied.
    fn reveal(&self, watermark: u64) {
        let mut s = self.state();
        s.visible = s.visible.max(watermark);
    }

    /// Catch-up source: up to `limit` records after stream position
    /// `after`, with the watermark read before the scan (so replaying above
    /// it afterwards covers every write the scan might have missed). The
    /// stream is every user key's record, then every element record of a
    /// version not known to be garbage, each under a position that says
    /// which (see the `stream` module).
    pub async fn scan(
        &self,
        after: Option<Bytes>,
        limit: u32,
    ) -> Result<(Vec<(Bytes, Bytes)>, u64), ReplicaError> {
        let watermark = self.state().visible;
        let store = self.store.clone();
        let pairs = blocking(move || stream::read(&store, after, limit as usize)).await?;
        Ok((pairs, watermark))
    }

    /// Catch-up target: installs one chunk of a snapshot stream.
    pub async fn install(
        &self,
        reset: bool,
        pairs: Vec<(Bytes, Bytes)>,
        finish: Option<u64>,
    ) -> Result<(), ReplicaError> {
        let mut batch = Batch::new();
        if reset {
            batch.clear(&self.store.data);
            batch.clear(&self.store.elements);
            batch.clear(&self.store.garbage);
            batch.clear(&self.store.expires);
            batch.clear(&self.store.log);
            batch.clear(&self.store.txids);
            let mut s = self.state();
            s.watermark = 0;
            s.visible = 0;
            s.applied_above.clear();
            self.checkpoint(&s, &mut batch);
        }
        for (position, stored) in pairs {
            stream::install(&self.store, &position, stored, &mut batch)?;
        }
        if let Some(w) = finish {
            let mut s = self.state();
            s.watermark = w;
            s.applied_above.clear();
            s.log_floor = w + 1;
            self.checkpoint(&s, &mut batch);
            batch.put(&self.store.meta, META_LOG_FLOOR, encode_u64(w + 1).to_vec());
        }
        self.store.writer.write(batch).await?;
        if let Some(w) = finish {
            self.reveal(w);
        }
        Ok(())
    }

    /// Declares every index up to `max(up_to, highest applied)` settled:
    /// gaps below it are transactions that committed nowhere that survives.
    pub async fn settle(&self, up_to: u64) -> Result<(), ReplicaError> {
        self.advance_watermark(Batch::new(), |s| {
            let top = s.max_applied().max(up_to);
            s.raise_watermark(top);
        })
        .await?;
        Ok(())
    }

    /// FNV-1a digest of every key and stored record (header with the
    /// deadline included, so replicas agree only if their deadlines do)
    /// and, after a collection's record, every element of its version, in
    /// key order; the key count and the watermark. Expired keys not yet
    /// removed count: they are still stored. Elements of dead versions do
    /// not: each node sweeps those in its own time.
    pub async fn digest(&self) -> Result<(u64, u64, u64), ReplicaError> {
        let watermark = self.state().visible;
        let store = self.store.clone();
        let (digest, keys) = blocking(move || data_digest(&store)).await?;
        Ok((digest, keys, watermark))
    }

    /// Deletes up to `budget` element records of versions noted as garbage,
    /// and each note once its version has no element left; returns how
    /// many records went. Touches only records no key points at (a version
    /// is never reused), so it runs on each node in its own time and may
    /// stop anywhere: a note stays until its version is empty. A call
    /// resumes just past the last record the previous one deleted (kept in
    /// memory: after a restart it starts at the note again), so a big
    /// version is not rescanned through its own fresh tombstones chunk
    /// after chunk.
    pub async fn sweep_garbage(&self, budget: usize) -> Result<usize, ReplicaError> {
        let store = self.store.clone();
        let resume = self
            .sweep_resume
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (batch, removed, next) = blocking(move || {
            let mut batch = Batch::new();
            let mut removed = 0usize;
            let mut next = None;
            for kv in store.garbage.iter() {
                let note = kv.key().map_err(StorageError::from)?;
                let from = match &resume {
                    Some(k) if k.starts_with(&note) => k.clone(),
                    _ => Bytes::copy_from_slice(&note),
                };
                let mut left = false;
                for element in store.elements.range(from.to_vec()..) {
                    let k = element.key().map_err(StorageError::from)?;
                    if !k.starts_with(&note) {
                        break;
                    }
                    if removed >= budget {
                        next = Some(Bytes::copy_from_slice(&k));
                        left = true;
                        break;
                    }
                    batch.remove(&store.elements, Bytes::copy_from_slice(&k));
                    removed += 1;
                }
                if left {
                    break;
                }
                batch.remove(&store.garbage, Bytes::copy_from_slice(&note));
            }
            batch.relaxed();
            Ok((batch, removed, next))
        })
        .await?;
        if !batch.is_empty() {
            self.store.writer.write(batch).await?;
        }
        *self.sweep_resume.lock().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(removed)
    }

    /// Up to `limit` stored keys whose deadline is before `now_ms` (unix
    /// milliseconds), earliest deadline first: candidates for the
    /// background expirer, read from the `expires` index.
    pub async fn expired_keys(&self, now_ms: u64, limit: u32) -> Result<Vec<Bytes>, ReplicaError> {
        let store = self.store.clone();
        blocking(move || {
            let mut keys = Vec::new();
            let end = value::index_key(now_ms, b"");
            for kv in store.expires.range(..end).take(limit as usize) {
                let k = kv.key().map_err(StorageError::from)?;
                keys.push(value::split_index_key(&k)?.1);
            }
            Ok(keys)
        })
        .await
        .map_err(ReplicaError::from)
    }

    /// Checkpoints the positions, then drops retained log entries more than
    /// `log_retention` below the watermark, moving the log floor up. Run
    /// periodically; the checkpoint bounds how much log recovery reads.
    pub async fn checkpoint_and_trim(&self) -> Result<(), ReplicaError> {
        // The checkpoint lands (in submission order) before the trim batch
        // below is even built, so no entry above it is ever dropped.
        self.advance_watermark(Batch::new(), |_| {}).await?;
        let watermark = self.state().visible;
        let Some(new_floor) = watermark.checked_sub(self.log_retention) else {
            return Ok(());
        };
        let floor = self.state().log_floor;
        if new_floor <= floor {
            return Ok(());
        }
        let store = self.store.clone();
        let batch = blocking(move || {
            let mut batch = Batch::new();
            for kv in store.log.range(encode_u64(floor)..encode_u64(new_floor)) {
                let (k, v) = kv.into_inner().map_err(StorageError::from)?;
                let entry: LogEntry = postcard::from_bytes(&v).map_err(|e| corrupt("log", e))?;
                batch.remove(&store.log, Bytes::copy_from_slice(&k));
                batch.remove(&store.txids, encode_u64(entry.txid).to_vec());
            }
            batch.put(&store.meta, META_LOG_FLOOR, encode_u64(new_floor).to_vec());
            Ok(batch)
        })
        .await?;
        self.store.writer.write(batch).await?;
        self.state().log_floor = new_floor;
        Ok(())
    }
}

/// The snapshot stream's positions: `0 ++ data key` for a user key's
/// record, `1 ++ element key` for an element record, so one ordered
/// stream carries both (records first).
pub(crate) mod stream {
    use std::ops::Bound;

    use bytes::Bytes;

    use super::corrupt;
    use crate::storage::{Batch, StorageError, Store, value};

    /// The tag of a user key's record in a stream position.
    pub(crate) const RECORD: u8 = 0;
    /// The tag of an element record in a stream position.
    pub(crate) const ELEMENT: u8 = 1;

    /// The stream position of the record stored under `key` (as stored:
    /// a `data` key or an `elements` key) in the part `tag` says.
    pub(crate) fn position(tag: u8, key: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(key.len() + 1);
        out.push(tag);
        out.extend_from_slice(key);
        Bytes::from(out)
    }

    /// Up to `limit` stream items after position `after` (`None`: from the
    /// start). Elements of versions noted as garbage are skipped.
    pub fn read(
        store: &Store,
        after: Option<Bytes>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        let after = after.unwrap_or_default();
        let (phase, from) = match after.split_first() {
            None => (RECORD, None),
            Some((tag, rest)) => (*tag, Some(rest)),
        };
        let mut out = Vec::new();
        let range = |from: Option<&[u8]>| match from {
            Some(k) => (Bound::Excluded(k.to_vec()), Bound::Unbounded),
            None => (Bound::Unbounded, Bound::Unbounded),
        };
        if phase == RECORD {
            for kv in store.data.range(range(from)) {
                if out.len() >= limit {
                    return Ok(out);
                }
                let (k, v) = kv.into_inner()?;
                out.push((position(RECORD, &k), Bytes::copy_from_slice(&v)));
            }
        }
        let from = if phase == ELEMENT { from } else { None };
        let mut known: Option<(Vec<u8>, bool)> = None;
        for kv in store.elements.range(range(from)) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv.into_inner()?;
            let version = k.get(..value::VERSION_LEN).unwrap_or(&k);
            let dead = match &known {
                Some((seen, dead)) if seen.as_slice() == version => *dead,
                _ => {
                    let dead = store.garbage.contains_key(version)?;
                    known = Some((version.to_vec(), dead));
                    dead
                }
            };
            if !dead {
                out.push((position(ELEMENT, &k), Bytes::copy_from_slice(&v)));
            }
        }
        Ok(out)
    }

    /// Adds one stream item to `batch` (a record's deadline to the index).
    pub(crate) fn install(
        store: &Store,
        position: &[u8],
        stored: Bytes,
        batch: &mut Batch,
    ) -> Result<(), StorageError> {
        match position.split_first() {
            Some((&RECORD, key)) => {
                if let Some(at) = value::deadline(&stored)? {
                    store.index_deadline(batch, value::index_key(at, &value::user_key(key)));
                }
                store.put_stored_record(batch, Bytes::copy_from_slice(key), stored);
                Ok(())
            }
            Some((&ELEMENT, key)) => {
                batch.put(&store.elements, Bytes::copy_from_slice(key), stored);
                Ok(())
            }
            _ => Err(corrupt("snapshot stream", "unknown stream position")),
        }
    }
}

/// The log and prepared records of layout 1 (strings only), rewritten in
/// the current form once, at the first start after the data directory was
/// migrated ([`Store::legacy_log`]), so nothing a peer may still need is
/// dropped.
mod legacy {
    use bytes::Bytes;
    use serde::Deserialize;

    use super::{IndexChanges, ReplicaError, Staged, corrupt};
    use crate::command::op::{Effect, Entry, Outcome};
    use crate::rpc::message::LogEntry;
    use crate::storage::{StorageError, Store};

    #[derive(Deserialize)]
    struct OldEffect {
        key: Bytes,
        value: Option<Bytes>,
        expires_at: Option<u64>,
    }

    #[derive(Deserialize)]
    struct OldEntry {
        index: u64,
        txid: u64,
        effects: Vec<OldEffect>,
    }

    #[derive(Deserialize)]
    struct OldIndex {
        remove: Vec<Bytes>,
        add: Vec<Bytes>,
    }

    #[derive(Deserialize)]
    struct OldStaged {
        outcome: Outcome,
        effects: Vec<OldEffect>,
        index: OldIndex,
    }

    fn effects(old: Vec<OldEffect>) -> Vec<Effect> {
        old.into_iter()
            .map(|e| Effect::Key {
                key: e.key,
                entry: e.value.map(|v| Entry::string(v, e.expires_at)),
            })
            .collect()
    }

    /// Rewrites every retained log entry and prepared record, and clears
    /// the flag, in one synced batch (a crash before it lands leaves the
    /// old records and the flag, and the next start does it again).
    pub fn rewrite(store: &Store) -> Result<(), ReplicaError> {
        let mut batch = store.db.batch();
        let mut entries = 0u64;
        for kv in store.log.iter() {
            let (k, v) = kv.into_inner().map_err(StorageError::from)?;
            let old: OldEntry = postcard::from_bytes(&v).map_err(|e| corrupt("log", e))?;
            let entry = LogEntry {
                index: old.index,
                txid: old.txid,
                effects: effects(old.effects),
            };
            let record = postcard::to_allocvec(&entry).map_err(|e| corrupt("log", e))?;
            batch.insert(&store.log, k.as_ref(), record);
            entries += 1;
        }
        for kv in store.prepared.iter() {
            let (k, v) = kv.into_inner().map_err(StorageError::from)?;
            let old: OldStaged = postcard::from_bytes(&v).map_err(|e| corrupt("prepared", e))?;
            let staged = Staged {
                outcome: old.outcome,
                effects: effects(old.effects),
                index: IndexChanges {
                    remove: old.index.remove,
                    add: old.index.add,
                    garbage: Vec::new(),
                },
            };
            let record = postcard::to_allocvec(&staged).map_err(|e| corrupt("prepared", e))?;
            batch.insert(&store.prepared, k.as_ref(), record);
        }
        batch.remove(&store.meta, "legacy_log");
        batch.commit().map_err(StorageError::from)?;
        store
            .db
            .persist(fjall::PersistMode::SyncAll)
            .map_err(StorageError::from)?;
        tracing::info!(entries, "rewrote the retained log in layout 2");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FsyncPolicy;

    const WAIT: Duration = Duration::from_secs(1);

    /// Prepares and commits `SET k v` as `txid` at `index`.
    async fn set(replica: &Replica, txid: u64, index: u64) {
        let op = WriteOp::Set {
            key: Bytes::from(format!("k{index}")),
            value: Bytes::from_static(b"v"),
        };
        replica.prepare(txid, op, WAIT).await.expect("prepare");
        let applied = replica.commit(txid, index).expect("commit");
        applied
            .expect("a first commit")
            .wait()
            .await
            .expect("applied");
    }

    /// Watermark, highest applied index and highest txid, as reported.
    fn positions(replica: &Replica) -> (u64, u64, u64) {
        let s = replica.status();
        (s.watermark, s.max_applied, s.max_txid)
    }

    /// Reopens the store in `dir` (the previous one must be dropped).
    fn reopen(dir: &std::path::Path, log_retention: u64) -> Replica {
        let store = Store::open(dir, FsyncPolicy::No).expect("open");
        Replica::recover(store, log_retention).expect("recover")
    }

    /// Prepares and commits `line` (a client command) as `txid` at `index`,
    /// stamped with `txid`: its outcome.
    async fn run(replica: &Replica, txid: u64, index: u64, line: &str) -> Outcome {
        let args: Vec<Bytes> = line.split(' ').map(|w| Bytes::from(w.to_owned())).collect();
        let op = match crate::command::parse(&args, crate::config::Dialect::Redis) {
            Ok(crate::command::Command::Write(op)) => op.stamp(1, txid),
            other => panic!("{other:?}"),
        };
        let outcome = replica.prepare(txid, op, WAIT).await.expect("prepare");
        if let Some(applied) = replica.commit(txid, index).expect("commit") {
            applied.wait().await.expect("applied");
        }
        outcome
    }

    fn element_count(replica: &Replica) -> usize {
        replica.store.elements.iter().count()
    }

    /// Deleting a collection writes one record and notes its version as
    /// garbage; the sweep removes its elements (in chunks), then the note,
    /// and leaves a live collection's elements alone. RENAME moves only the
    /// record: nothing becomes garbage.
    #[tokio::test]
    async fn dead_collections_are_swept_and_live_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let replica = reopen(dir.path(), 100);
        let mut fields = String::from("HSET big");
        for i in 0..2_500 {
            fields.push_str(&format!(" f{i} v"));
        }
        run(&replica, 101, 1, &fields).await;
        run(&replica, 102, 2, "SADD keep a b c").await;
        run(&replica, 103, 3, "RENAME keep kept").await;
        assert_eq!(element_count(&replica), 2_503);
        assert_eq!(replica.store.garbage.iter().count(), 0);
        run(&replica, 104, 4, "DEL big").await;
        assert_eq!(replica.store.garbage.iter().count(), 1);
        assert_eq!(replica.sweep_garbage(1_000).await.expect("sweep"), 1_000);
        assert_eq!(replica.store.garbage.iter().count(), 1, "not done yet");
        while replica.sweep_garbage(1_000).await.expect("sweep") > 0 {}
        assert_eq!(replica.store.garbage.iter().count(), 0);
        assert_eq!(element_count(&replica), 3, "the set's members stay");
        let members = replica
            .read(
                ReadOp::Sets(crate::command::set::SetRead::Card {
                    key: Bytes::from_static(b"kept"),
                }),
                WAIT,
            )
            .await
            .expect("read");
        assert_eq!(members, Outcome::Integer(3));
    }

    /// A snapshot stream carries records and live elements, and a replica
    /// that installs it answers the same and digests the same.
    #[tokio::test]
    async fn the_snapshot_stream_carries_collections() {
        let source_dir = tempfile::tempdir().expect("tempdir");
        let source = reopen(source_dir.path(), 100);
        run(&source, 101, 1, "HSET h a 1 b 2").await;
        run(&source, 102, 2, "SADD s x y").await;
        run(&source, 103, 3, "SET \x00k v").await;
        run(&source, 104, 4, "HSET dead a 1").await;
        run(&source, 105, 5, "DEL dead").await;
        let target_dir = tempfile::tempdir().expect("tempdir");
        let target = reopen(target_dir.path(), 100);
        let mut after = None;
        let mut reset = true;
        loop {
            let (pairs, watermark) = source.scan(after.clone(), 2).await.expect("scan");
            let last = pairs.len() < 2;
            after = pairs.last().map(|(k, _)| k.clone()).or(after);
            target
                .install(reset, pairs, last.then_some(watermark))
                .await
                .expect("install");
            reset = false;
            if last {
                break;
            }
        }
        assert_eq!(
            element_count(&target),
            4,
            "the dead hash's field is not sent"
        );
        let (d1, k1, _) = source.digest().await.expect("digest");
        let (d2, k2, _) = target.digest().await.expect("digest");
        assert_eq!((d1, k1), (d2, k2));
        assert_eq!(k2, 3);
    }

    /// A layout-1 directory (strings only, keys as they are, log entries
    /// with untyped effects) opens: zero-led keys are escaped, the log is
    /// rewritten and still decodes, nothing is lost.
    #[tokio::test]
    async fn a_layout_one_directory_is_migrated() {
        #[derive(Serialize)]
        struct OldEffect {
            key: Bytes,
            value: Option<Bytes>,
            expires_at: Option<u64>,
        }
        #[derive(Serialize)]
        struct OldEntry {
            index: u64,
            txid: u64,
            effects: Vec<OldEffect>,
        }
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = fjall::Database::builder(dir.path()).open().expect("fjall");
            let ks = |name: &str| {
                db.keyspace(name, fjall::KeyspaceCreateOptions::default)
                    .expect("keyspace")
            };
            let (data, log, txids, meta) = (ks("data"), ks("log"), ks("txids"), ks("meta"));
            meta.insert("data_format", encode_u64(1)).expect("put");
            data.insert("plain", b"\x00one").expect("put");
            data.insert("\x00zero", b"\x00two").expect("put");
            let entry = OldEntry {
                index: 1,
                txid: 101,
                effects: vec![OldEffect {
                    key: Bytes::from_static(b"plain"),
                    value: Some(Bytes::from_static(b"one")),
                    expires_at: None,
                }],
            };
            let record = postcard::to_allocvec(&entry).expect("encode");
            log.insert(encode_u64(1), record).expect("put");
            txids.insert(encode_u64(101), encode_u64(1)).expect("put");
            db.persist(fjall::PersistMode::SyncAll).expect("persist");
        }
        let replica = reopen(dir.path(), 100);
        assert_eq!(positions(&replica), (1, 1, 101));
        assert_eq!(
            get_string(&replica, b"plain").await,
            Some(Bytes::from_static(b"one"))
        );
        assert_eq!(
            get_string(&replica, b"\x00zero").await,
            Some(Bytes::from_static(b"two"))
        );
        let (entries, _, _) = replica.fetch_log(0, 10).await.expect("log");
        assert_eq!(
            entries[0].effects,
            vec![Effect::put(
                &Bytes::from_static(b"plain"),
                Bytes::from_static(b"one")
            )]
        );
        drop(replica);
        // Once only: the next start finds the current layout.
        let replica = reopen(dir.path(), 100);
        assert!(!replica.store.legacy_log().expect("meta"));
        assert_eq!(
            get_string(&replica, b"\x00zero").await,
            Some(Bytes::from_static(b"two"))
        );
    }

    /// GET `key` from `replica`.
    async fn get_string(replica: &Replica, key: &'static [u8]) -> Option<Bytes> {
        let op = ReadOp::Get {
            key: Bytes::from_static(key),
        };
        match replica.read(op, WAIT).await.expect("read") {
            Outcome::Value(v) => v,
            other => panic!("{other:?}"),
        }
    }

    /// An aborted round's index is applied as a no-op: the watermark moves
    /// over it (also after a restart), nothing maps the aborted txid to it,
    /// and voiding it again changes nothing.
    #[tokio::test]
    async fn a_voided_index_is_a_noop_entry_without_a_txid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let replica = reopen(dir.path(), 100);
        set(&replica, 101, 1).await;
        let op = WriteOp::Set {
            key: Bytes::from_static(b"k2"),
            value: Bytes::from_static(b"v"),
        };
        replica.prepare(102, op, WAIT).await.expect("prepare");
        replica.abort(102).await.expect("abort");
        let voided = replica.void(2).expect("void").expect("not yet applied");
        voided.wait().await.expect("applied");
        assert!(replica.void(2).expect("void again").is_none());
        set(&replica, 103, 3).await;
        assert_eq!(replica.lookup(102).await.expect("lookup"), None);
        assert_eq!(replica.status().watermark, 3);
        drop(replica);

        let replica = reopen(dir.path(), 100);
        assert_eq!(positions(&replica), (3, 3, 103));
        assert!(replica.status().prepared.is_empty());
    }

    /// Commits do not write the positions; recovery must find them from the
    /// log and the txid map, across a settled gap and a trimmed log.
    #[tokio::test]
    async fn recovery_rebuilds_positions_that_commits_do_not_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let replica = reopen(dir.path(), 1);
        set(&replica, 101, 1).await;
        set(&replica, 102, 2).await;
        replica.settle(4).await.expect("settle"); // 3 and 4 committed nowhere
        set(&replica, 105, 5).await;
        set(&replica, 107, 7).await; // 6 still in flight
        assert_eq!(positions(&replica), (5, 7, 107));
        drop(replica);

        let replica = reopen(dir.path(), 1);
        assert_eq!(positions(&replica), (5, 7, 107));
        assert_eq!(replica.lookup(105).await.expect("lookup"), Some(5));

        // The trim drops entries below 6 (entry 5 among them, above the
        // last checkpoint); its own checkpoint is what recovery starts from.
        set(&replica, 106, 6).await;
        replica.checkpoint_and_trim().await.expect("trim");
        assert_eq!(replica.lookup(105).await.expect("lookup"), None);
        set(&replica, 108, 8).await;
        drop(replica);

        let replica = reopen(dir.path(), 1);
        assert_eq!(positions(&replica), (8, 8, 108));
    }
}
