//! The coordinator's durable state: the decision log and the counters.
//!
//! The coordinator owns no user data. What it must not forget across a
//! crash is (a) which transactions it decided to commit, and at which index
//! — so an in-doubt participant is told COMMIT, never ABORT, for a
//! transaction another participant already applied — and (b) enough to
//! number new transactions above every old one. Transaction ids are
//! `epoch << 40 | counter`, where the epoch is bumped durably at each start
//! (and raised above anything a participant reports, in case this data
//! directory was lost), so ids never repeat without any per-transaction
//! counter write.
//!
//! # Recovery racing a round
//!
//! A participant that restarts while one of our rounds is still collecting
//! votes (waiting out another participant's timeout) reports that round's
//! prepare as in doubt. Recovery must not tell it ABORT and then let the
//! round decide COMMIT: the client would be told OK for a write that the
//! only replica holding it dropped. So recovery decides through
//! [`Decisions::resolve`], which, under the same lock that orders
//! decisions, either finds the COMMIT (logged, or being logged) or marks
//! the transaction refused — and [`Decisions::decide_commit`] of a refused
//! transaction fails, so its round aborts.
//!
//! # Trimming
//!
//! The log keeps the decisions of the last `log_retention` indices, as a
//! participant keeps its commit log ([`Decisions::trim`] drops older ones
//! periodically). An older decision can only matter to a participant that
//! was away for more than that many commits and comes back with it in
//! doubt: recovery then tells it ABORT, and its catch-up, which must reach
//! back further than any source's retained log, installs a snapshot that
//! replaces whatever that resolution left. So the decision log no longer
//! grows with every write ever made.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::storage::{Batch, StorageError, Store, blocking, decode_u64, encode_u64};

const META_EPOCH: &str = "epoch";
const META_MAX_INDEX: &str = "max_index";
const COUNTER_BITS: u32 = 40;

/// The decision log and counters.
pub struct Decisions {
    store: Store,
    epoch: AtomicU64,
    counter: AtomicU64,
    next_index: AtomicU64,
    /// Held while an index is taken and its decision queued, so decisions
    /// reach the writer in index order and `max_index` on disk only grows.
    ordering: std::sync::Mutex<Pending>,
}

/// Decisions not yet readable from the store, and transactions recovery
/// aborted that a round of ours may still try to commit.
#[derive(Default)]
struct Pending {
    /// txid → index of COMMITs queued to the writer, until durable.
    committing: HashMap<u64, u64>,
    /// Transactions that recovery resolved as aborted.
    refused: HashSet<u64>,
}

impl Decisions {
    /// Opens the log and starts a new epoch.
    pub async fn open(store: Store) -> Result<Decisions, StorageError> {
        let epoch = store.meta_u64(META_EPOCH)? + 1;
        let max_index = store.meta_u64(META_MAX_INDEX)?;
        let d = Decisions {
            store,
            epoch: AtomicU64::new(epoch),
            counter: AtomicU64::new(0),
            next_index: AtomicU64::new(max_index + 1),
            ordering: std::sync::Mutex::default(),
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

    /// Decides COMMIT for `txid`: assigns its index and makes the decision
    /// durable before returning it. `None`: recovery already resolved
    /// `txid` as aborted (see the module docs), so it must abort.
    pub async fn decide_commit(&self, txid: u64) -> Result<Option<u64>, StorageError> {
        let (index, submitted) = {
            let mut pending = self.ordering.lock().unwrap_or_else(|e| e.into_inner());
            if pending.refused.remove(&txid) {
                return Ok(None);
            }
            let index = self.next_index.fetch_add(1, Ordering::SeqCst);
            pending.committing.insert(txid, index);
            let mut batch = Batch::new();
            batch.put(
                &self.store.log,
                encode_u64(txid).to_vec(),
                encode_u64(index).to_vec(),
            );
            batch.put(&self.store.meta, META_MAX_INDEX, encode_u64(index).to_vec());
            (index, self.store.writer.submit(batch)?)
        };
        let durable = submitted.wait().await;
        // Readable from the store now (or the writer is gone and so are we).
        let mut pending = self.ordering.lock().unwrap_or_else(|e| e.into_inner());
        pending.committing.remove(&txid);
        durable?;
        Ok(Some(index))
    }

    /// The COMMIT decision for `txid` (its index), if it is logged or being
    /// logged.
    pub fn decided(&self, txid: u64) -> Result<Option<u64>, StorageError> {
        let pending = self.ordering.lock().unwrap_or_else(|e| e.into_inner());
        self.decided_locked(&pending, txid)
    }

    fn decided_locked(&self, pending: &Pending, txid: u64) -> Result<Option<u64>, StorageError> {
        match pending.committing.get(&txid) {
            Some(index) => Ok(Some(*index)),
            None => self.lookup(txid),
        }
    }

    /// Recovery's last word on an in-doubt `txid` nobody reports committed:
    /// its index if COMMIT was decided meanwhile; otherwise `None`, and a
    /// round of ours still holding it can no longer commit it.
    pub fn resolve(&self, txid: u64) -> Result<Option<u64>, StorageError> {
        let mut pending = self.ordering.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = self.decided_locked(&pending, txid)? {
            return Ok(Some(index));
        }
        // Remembered whichever incarnation issued it (a txid of an earlier
        // one simply stays here): resolutions to abort are rare and small.
        pending.refused.insert(txid);
        Ok(None)
    }

    /// Drops logged decisions whose index is more than `retention` below
    /// the newest, returning how many went. Scans from the oldest txid and
    /// stops at the first decision still retained: txids and indices grow
    /// together except across overlapping rounds, so the few decisions
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
                let (txid, index) = kv.into_inner()?;
                if decode_u64(&index).is_some_and(|index| index > below) {
                    break;
                }
                batch.remove(&store.log, Bytes::copy_from_slice(&txid));
                dropped += 1;
            }
            Ok((batch, dropped))
        })
        .await?;
        if dropped > 0 {
            // Losing a trim to a crash only keeps a few decisions longer.
            batch.relaxed();
            self.store.writer.write(batch).await?;
        }
        Ok(dropped)
    }

    /// The logged decision for `txid`, if it was decided COMMIT.
    pub fn lookup(&self, txid: u64) -> Result<Option<u64>, StorageError> {
        Ok(self
            .store
            .log
            .get(encode_u64(txid))?
            .and_then(|v| decode_u64(&v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FsyncPolicy;

    #[tokio::test]
    async fn recovery_and_a_round_agree_on_an_in_doubt_transaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), FsyncPolicy::No).expect("open");
        let decisions = Decisions::open(store).await.expect("decisions");

        // Recovery gets there first: the round may no longer commit.
        let aborted = decisions.next_txid();
        assert_eq!(decisions.resolve(aborted).expect("resolve"), None);
        assert_eq!(
            decisions.decide_commit(aborted).await.expect("decide"),
            None
        );

        // The round gets there first: recovery is told to commit.
        let committed = decisions.next_txid();
        let index = decisions.decide_commit(committed).await.expect("decide");
        assert_eq!(index, Some(1));
        assert_eq!(decisions.resolve(committed).expect("resolve"), index);
        assert_eq!(decisions.decided(committed).expect("decided"), index);
        assert_eq!(decisions.decided(aborted).expect("decided"), None);
    }

    /// Trimming drops decisions more than `retention` indices old, and a
    /// decision whose txid is older than its index (a round that waited)
    /// holds the scan back only until it is old enough itself.
    #[tokio::test]
    async fn trimming_drops_decisions_older_than_the_retention() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), FsyncPolicy::No).expect("open");
        let decisions = Decisions::open(store).await.expect("decisions");
        let decide = |n: usize| {
            let decisions = &decisions;
            async move {
                let mut txids = Vec::new();
                for _ in 0..n {
                    let txid = decisions.next_txid();
                    decisions.decide_commit(txid).await.expect("decide");
                    txids.push(txid);
                }
                txids
            }
        };
        let waited = decisions.next_txid();
        let first = decide(9).await; // indices 1..=9
        assert_eq!(
            decisions.decide_commit(waited).await.expect("decide"),
            Some(10)
        );
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
        assert_eq!(
            kept(&last),
            vec![None, None, Some(13), Some(14), Some(15), Some(16)]
        );
        assert_eq!(decisions.last_index(), 16);
    }
}
