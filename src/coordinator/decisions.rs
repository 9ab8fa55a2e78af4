//! The coordinator's durable state: the decision log and the counters.
//!
//! The coordinator owns no user data. What it must not forget across a
//! crash is (a) which transactions committed, and at which index — so an
//! in-doubt participant is told COMMIT, never ABORT, for a transaction a
//! client was told succeeded or another participant already applied — and
//! (b) enough to number new transactions above every old one. Transaction
//! ids are `epoch << 40 | counter`, where the epoch is bumped durably at
//! each start (and raised above anything a participant reports, in case
//! this data directory was lost), so ids never repeat without any
//! per-transaction counter write.
//!
//! # Deciding early
//!
//! A round's record is written when the round *begins*
//! ([`Decisions::begin`]): its index, meaning "commits at this index unless
//! an ABORT follows". Its fsync runs while the participants make their
//! prepares durable, instead of after the votes, so a write waits for one
//! fsync on its critical path, not two. The round may answer its client
//! once every vote is YES and the record is durable ([`Decisions::commit`]).
//! A round that aborts after it began makes ABORT durable *before* anyone
//! is told ([`Decisions::abort`]): after a crash, a record without an
//! ABORT is a commit, whichever way its votes went — its client either was
//! told OK or was told nothing, and participants that did not prepare it
//! copy its effects when they catch up. That needs rounds to take their
//! indices and prepare one at a time ([`super::txn`]): otherwise a later
//! round could commit on a participant that never got this one's PREPARE,
//! and founding there would settle this index as a no-op while the
//! replicas that hold it commit it. Every round takes its index, so an
//! aborted one leaves its index to be filled with a no-op on the
//! participants (the coordinator voids it, see [`super::txn`]).
//!
//! # Recovery racing a round
//!
//! A participant that restarts while one of our rounds is still running
//! reports that round's prepare as in doubt. Recovery must not tell it
//! ABORT and then let the round answer OK: the client would be told OK for
//! a write that a replica dropped. So recovery decides through
//! [`Decisions::resolve`], which, under the same lock that finishes rounds,
//! either finds the round finished (its record is the answer) or *refuses*
//! it — logs its ABORT durably — and [`Decisions::commit`] of a refused
//! transaction fails, so its round aborts.
//!
//! # Trimming
//!
//! The log keeps the records of the last `log_retention` indices, as a
//! participant keeps its commit log ([`Decisions::trim`] drops older ones
//! periodically). An older record can only matter to a participant that
//! was away for more than that many commits and comes back with it in
//! doubt: recovery then tells it ABORT, and its catch-up, which must reach
//! back further than any source's retained log, installs a snapshot that
//! replaces whatever that resolution left. So the decision log no longer
//! grows with every write ever made.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::storage::{Batch, StorageError, Store, Submitted, blocking, decode_u64, encode_u64};

const META_EPOCH: &str = "epoch";
const META_MAX_INDEX: &str = "max_index";
const COUNTER_BITS: u32 = 40;
/// Appended to a record's index when its round aborted.
const ABORTED: u8 = b'A';
/// How many of the newest records a restart reads for aborted rounds.
const RECENT_RECORDS: usize = 1000;

/// What the log says of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Committed (or will be: its round answers only once this is durable)
    /// at this index.
    Commit(u64),
    /// Aborted; its index, if it had taken one, is a no-op.
    Abort,
}

/// The decision log and counters.
pub struct Decisions {
    store: Store,
    epoch: AtomicU64,
    counter: AtomicU64,
    next_index: AtomicU64,
    /// Held while an index is taken and its record queued, so records
    /// reach the writer in index order and `max_index` on disk only grows;
    /// and while a round finishes or recovery resolves one.
    ordering: std::sync::Mutex<Pending>,
}

/// Rounds that have begun and not finished, and which of them recovery
/// refused.
#[derive(Default)]
struct Pending {
    /// txid → index of rounds whose outcome is not settled yet. Recovery
    /// must not read their record as a decision.
    running: HashMap<u64, u64>,
    /// Running rounds recovery resolved as aborted (their ABORT is logged
    /// or being logged): they may no longer commit.
    refused: HashSet<u64>,
    /// Indices of recent rounds that aborted: no participant need have
    /// applied them for founding (see [`Decisions::founding_bound`]).
    aborted: BTreeSet<u64>,
}

/// A record's value: the index, and a mark if its round aborted.
fn record(index: u64, decision: Decision) -> Vec<u8> {
    let mut value = encode_u64(index).to_vec();
    if decision == Decision::Abort {
        value.push(ABORTED);
    }
    value
}

/// The index and decision a record holds (`None`: not a record).
fn parse_record(value: &[u8]) -> Option<(u64, Decision)> {
    let index = decode_u64(value.get(..8)?)?;
    match value.get(8..) {
        Some([]) => Some((index, Decision::Commit(index))),
        Some([ABORTED]) => Some((index, Decision::Abort)),
        _ => None,
    }
}

impl Decisions {
    /// Opens the log and starts a new epoch.
    pub async fn open(store: Store) -> Result<Decisions, StorageError> {
        let epoch = store.meta_u64(META_EPOCH)? + 1;
        let max_index = store.meta_u64(META_MAX_INDEX)?;
        // The newest records (txids grow with indices): which of the last
        // rounds before a restart aborted.
        let mut aborted = BTreeSet::new();
        for kv in store.log.iter().rev().take(RECENT_RECORDS) {
            let (_, value) = kv.into_inner()?;
            if let Some((index, Decision::Abort)) = parse_record(&value) {
                aborted.insert(index);
            }
        }
        let d = Decisions {
            store,
            epoch: AtomicU64::new(epoch),
            counter: AtomicU64::new(0),
            next_index: AtomicU64::new(max_index + 1),
            ordering: std::sync::Mutex::new(Pending {
                aborted,
                ..Pending::default()
            }),
        };
        d.persist_epoch(epoch).await?;
        tracing::info!(epoch, max_index, "decision log opened");
        Ok(d)
    }

    async fn persist_epoch(&self, epoch: u64) -> Result<(), StorageError> {
        let mut batch = Batch::new();
        batch.put(&self.store.meta, META_EPOCH, encode_u64(epoch).to_vec());
        batch.force_sync();
        self.store.writer.write(batch).await
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        // Map inserts and removals only: a poisoned lock still holds usable
        // maps.
        self.ordering.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Raises the epoch and index counter above what a participant has seen
    /// (a participant may know more than us if our directory was lost).
    pub async fn observe(&self, max_txid: u64, max_applied: u64) -> Result<(), StorageError> {
        self.next_index.fetch_max(max_applied + 1, Ordering::SeqCst);
        let seen_epoch = max_txid >> COUNTER_BITS;
        let epoch = self.epoch.load(Ordering::SeqCst);
        // Our own epoch seen before we issued any id in it can only come
        // from an earlier incarnation that lost its directory.
        let unused = self.counter.load(Ordering::SeqCst) == 0;
        if seen_epoch > epoch || (seen_epoch == epoch && unused) {
            let epoch = seen_epoch + 1;
            self.epoch.store(epoch, Ordering::SeqCst);
            self.counter.store(0, Ordering::SeqCst);
            self.persist_epoch(epoch).await?;
            tracing::warn!(
                epoch,
                "a participant has seen a newer epoch; moved above it"
            );
        }
        Ok(())
    }

    /// A fresh transaction id.
    pub fn next_txid(&self) -> u64 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        (self.epoch.load(Ordering::SeqCst) << COUNTER_BITS) | (n & ((1 << COUNTER_BITS) - 1))
    }

    /// The highest index handed out so far.
    pub fn last_index(&self) -> u64 {
        self.next_index.load(Ordering::SeqCst) - 1
    }

    /// The highest index that may hold an acknowledged write: the last
    /// index handed out, below any run of aborted rounds at the top. A
    /// participant founding the membership must have applied this far (see
    /// [`super::recovery`]); a round that aborted because its voters all
    /// failed reached nobody, and must not make founding wait for them.
    pub fn founding_bound(&self) -> u64 {
        let pending = self.pending();
        let mut index = self.last_index();
        while index > 0 && pending.aborted.contains(&index) {
            index -= 1;
        }
        index
    }

    /// Begins `txid`'s round, before its PREPAREs go out: takes its index
    /// and queues its record ("commits at this index unless an ABORT
    /// follows"), whose fsync runs while the participants prepare. Finish
    /// with [`Decisions::commit`] or [`Decisions::abort`].
    pub fn begin(&self, txid: u64) -> Result<(u64, Submitted), StorageError> {
        let mut pending = self.pending();
        let index = self.next_index.fetch_add(1, Ordering::SeqCst);
        pending.running.insert(txid, index);
        let mut batch = Batch::new();
        batch.put(
            &self.store.log,
            encode_u64(txid).to_vec(),
            record(index, Decision::Commit(index)),
        );
        batch.put(&self.store.meta, META_MAX_INDEX, encode_u64(index).to_vec());
        Ok((index, self.store.writer.submit(batch)?))
    }

    /// Every vote was YES: waits until the round's record (`logged`) is
    /// durable and returns its index, from when the round may send COMMIT
    /// and answer OK. `None`: recovery refused the round meanwhile (see the
    /// module docs; its ABORT is logged), so it must abort.
    pub async fn commit(&self, txid: u64, logged: Submitted) -> Result<Option<u64>, StorageError> {
        logged.wait().await?;
        let mut pending = self.pending();
        let index = pending.running.remove(&txid);
        if pending.refused.remove(&txid) {
            return Ok(None);
        }
        Ok(index)
    }

    /// The round aborts: makes its ABORT durable before returning, so that
    /// nobody is told ABORT (or the client an error) for a transaction a
    /// crash could then resolve as committed.
    pub async fn abort(&self, txid: u64) -> Result<(), StorageError> {
        let submitted = {
            let mut pending = self.pending();
            let Some(&index) = pending.running.get(&txid) else {
                return Ok(());
            };
            // Recovery reading the record before the ABORT lands must not
            // take it for a commit: the round stays running, refused.
            self.refuse(&mut pending, txid, index)?
        };
        let durable = submitted.wait().await;
        let mut pending = self.pending();
        pending.running.remove(&txid);
        pending.refused.remove(&txid);
        durable
    }

    /// Marks the running round `txid` (at `index`) refused — it may no
    /// longer commit, and founding need not wait for its index — and
    /// queues its ABORT record, under the `pending` lock.
    fn refuse(
        &self,
        pending: &mut Pending,
        txid: u64,
        index: u64,
    ) -> Result<Submitted, StorageError> {
        pending.refused.insert(txid);
        pending.aborted.insert(index);
        let mut batch = Batch::new();
        batch.put(
            &self.store.log,
            encode_u64(txid).to_vec(),
            record(index, Decision::Abort),
        );
        self.store.writer.submit(batch)
    }

    /// The decision on `txid` if it is settled: its round finished (or ran
    /// in an earlier incarnation) and left a record. `None` while its round
    /// runs, or when there is no record.
    pub fn decided(&self, txid: u64) -> Result<Option<Decision>, StorageError> {
        if self.pending().running.contains_key(&txid) {
            return Ok(None);
        }
        self.lookup(txid)
    }

    /// Recovery's last word on an in-doubt `txid`: the logged decision if
    /// its round finished; if it is still running, it is refused (its ABORT
    /// made durable before this returns) and can no longer commit; with no
    /// record at all, ABORT — its round never got as far as a durable
    /// record, so nobody was told it succeeded (or the record was trimmed;
    /// see the module docs).
    pub async fn resolve(&self, txid: u64) -> Result<Decision, StorageError> {
        let submitted = {
            let mut pending = self.pending();
            match pending.running.get(&txid) {
                Some(&index) => self.refuse(&mut pending, txid, index)?,
                None => return Ok(self.lookup(txid)?.unwrap_or(Decision::Abort)),
            }
        };
        submitted.wait().await?;
        Ok(Decision::Abort)
    }

    /// Drops logged records whose index is more than `retention` below
    /// the newest, returning how many went. Scans from the oldest txid and
    /// stops at the first record still retained: txids and indices grow
    /// together except across overlapping rounds, so the few records
    /// left behind that point go in a later trim.
    pub async fn trim(&self, retention: u64) -> Result<usize, StorageError> {
        let Some(below) = self.last_index().checked_sub(retention) else {
            return Ok(0);
        };
        let store = self.store.clone();
        let (mut batch, dropped) = blocking(move || {
            let mut batch = Batch::new();
            let mut dropped = 0;
            for kv in store.log.iter() {
                let (txid, value) = kv.into_inner()?;
                if parse_record(&value).is_some_and(|(index, _)| index > below) {
                    break;
                }
                batch.remove(&store.log, Bytes::copy_from_slice(&txid));
                dropped += 1;
            }
            Ok((batch, dropped))
        })
        .await?;
        {
            let mut pending = self.pending();
            pending.aborted = pending.aborted.split_off(&(below + 1));
        }
        if dropped > 0 {
            // Losing a trim to a crash only keeps a few records longer.
            batch.relaxed();
            self.store.writer.write(batch).await?;
        }
        Ok(dropped)
    }

    /// The logged record for `txid`, if any.
    pub fn lookup(&self, txid: u64) -> Result<Option<Decision>, StorageError> {
        Ok(self
            .store
            .log
            .get(encode_u64(txid))?
            .and_then(|v| parse_record(&v))
            .map(|(_, decision)| decision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FsyncPolicy;

    async fn open(dir: &std::path::Path) -> Decisions {
        let store = Store::open(dir, FsyncPolicy::No).expect("open");
        Decisions::open(store).await.expect("decisions")
    }

    /// Runs a round for a fresh txid that commits; returns (txid, index).
    async fn committed(decisions: &Decisions) -> (u64, u64) {
        let txid = decisions.next_txid();
        let (index, logged) = decisions.begin(txid).expect("begin");
        let decided = decisions.commit(txid, logged).await.expect("commit");
        assert_eq!(decided, Some(index));
        (txid, index)
    }

    #[tokio::test]
    async fn recovery_and_a_round_agree_on_an_in_doubt_transaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let decisions = open(dir.path()).await;

        // Recovery gets there while the round runs: the round may no longer
        // commit, and the refusal is what the log says from then on.
        let refused = decisions.next_txid();
        let (_, logged) = decisions.begin(refused).expect("begin");
        assert_eq!(decisions.decided(refused).expect("decided"), None);
        let resolved = decisions.resolve(refused).await.expect("resolve");
        assert_eq!(resolved, Decision::Abort);
        let decided = decisions.commit(refused, logged).await.expect("commit");
        assert_eq!(decided, None);
        let logged = decisions.decided(refused).expect("decided");
        assert_eq!(logged, Some(Decision::Abort));

        // The round finished first: recovery is told to commit.
        let (txid, index) = committed(&decisions).await;
        assert_eq!((index, decisions.last_index()), (2, 2));
        let resolved = decisions.resolve(txid).await.expect("resolve");
        assert_eq!(resolved, Decision::Commit(index));

        // A round that aborts on its own logs it before returning.
        let aborted = decisions.next_txid();
        decisions.begin(aborted).expect("begin");
        decisions.abort(aborted).await.expect("abort");
        let logged = decisions.decided(aborted).expect("decided");
        assert_eq!(logged, Some(Decision::Abort));
        // Index 3 aborted: founding need not wait for it.
        assert_eq!((decisions.last_index(), decisions.founding_bound()), (3, 2));

        // No record at all: aborted, nothing logged.
        let unknown = decisions.next_txid();
        let resolved = decisions.resolve(unknown).await.expect("resolve");
        assert_eq!(resolved, Decision::Abort);
        assert_eq!(decisions.decided(unknown).expect("decided"), None);
    }

    /// After a crash, a round's record without an ABORT is a commit however
    /// its votes went (it was durable before any client could be told OK),
    /// and an ABORT logged after it wins; numbering goes on above both.
    #[tokio::test]
    async fn a_begun_round_is_committed_after_a_restart_unless_it_logged_abort() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (in_flight, aborted, index) = {
            let decisions = open(dir.path()).await;
            let in_flight = decisions.next_txid();
            let (index, logged) = decisions.begin(in_flight).expect("begin");
            logged.wait().await.expect("durable");
            let aborted = decisions.next_txid();
            decisions.begin(aborted).expect("begin");
            decisions.abort(aborted).await.expect("abort");
            (in_flight, aborted, index)
        };
        let decisions = open(dir.path()).await;
        let resolved = decisions.resolve(in_flight).await.expect("resolve");
        assert_eq!(resolved, Decision::Commit(index));
        let resolved = decisions.resolve(aborted).await.expect("resolve");
        assert_eq!(resolved, Decision::Abort);
        assert_eq!((decisions.last_index(), decisions.founding_bound()), (2, 1));
    }

    /// Trimming drops records more than `retention` indices old, and a
    /// record whose txid is older than its index (a round that waited)
    /// holds the scan back only until it is old enough itself.
    #[tokio::test]
    async fn trimming_drops_decisions_older_than_the_retention() {
        let dir = tempfile::tempdir().expect("tempdir");
        let decisions = open(dir.path()).await;
        let decide = |n: usize| {
            let decisions = &decisions;
            async move {
                let mut txids = Vec::new();
                for _ in 0..n {
                    txids.push(committed(decisions).await.0);
                }
                txids
            }
        };
        let waited = decisions.next_txid();
        let first = decide(9).await; // indices 1..=9
        let (index, logged) = decisions.begin(waited).expect("begin");
        assert_eq!(index, 10);
        decisions.commit(waited, logged).await.expect("commit");
        assert_eq!(decisions.trim(100).await.expect("trim"), 0);
        // Below index 6, but `waited` (index 10) has the lowest txid.
        assert_eq!(decisions.trim(4).await.expect("trim"), 0);

        let last = decide(6).await; // indices 11..=16
        assert_eq!(decisions.trim(4).await.expect("trim"), 12);
        let kept = |txids: &[u64]| {
            txids
                .iter()
                .map(|t| decisions.lookup(*t).expect("lookup"))
                .collect::<Vec<_>>()
        };
        assert_eq!(kept(&first), vec![None; 9]);
        assert_eq!(kept(&[waited]), vec![None]);
        let commit = |i| Some(Decision::Commit(i));
        assert_eq!(
            kept(&last),
            vec![None, None, commit(13), commit(14), commit(15), commit(16)]
        );
        assert_eq!(decisions.last_index(), 16);
    }
}
