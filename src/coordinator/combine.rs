//! Write and read combining: the client writes that arrive while a round
//! is collecting its votes go out together, as one round, when it has
//! them; client reads that arrive while read batches are out go together
//! as one read.
//!
//! Every round costs the same whatever it carries: a PREPARE and a vote per
//! participant, a prepare record and an fsync on each of them, a decision
//! record and its fsync here, a COMMIT, a log entry and a txid on each
//! replica. On a busy node those fixed costs are most of the CPU a write
//! takes. So client writes queue here, and one *driver* task at a time
//! starts a round with everything queued ([`WriteOp::Multi`]: the commands
//! run in arrival order, each seeing the ones before it, and each client
//! gets its own command's outcome, an error included, exactly as it would
//! alone), waits only until that round has its votes, then starts the next
//! with what arrived meanwhile. A lone write goes out at once as itself, so
//! combining adds no wait at low load; under load, one round's commit
//! (and, if its record's fsync outlasted the prepares, the rest of that)
//! overlaps the next round's prepare.
//!
//! Combined writes are one transaction: if the round fails (a participant
//! refuses, the replicas disagree, the cluster is down), every client in it
//! gets that error, and none of the writes happened — as for any failed
//! write, the client cannot assume either way only when it got no answer.
//!
//! What is never combined: MULTI/EXEC (its WATCH check and its reply are
//! its own), writes that lock the whole keyspace (FLUSHDB) and the
//! expirer's deletes. They run as their own rounds, ordered against the
//! combined ones by the key locks, and prepare in the same one-at-a-time
//! line ([`super::txn`]).
//!
//! Reads are combined the same way, for the same reason (a routed read's
//! fixed cost — a message each way, a task and a read-thread job on the
//! participant — is most of what it costs): reads that arrive while a
//! batch of them is out go together as one [`ReadOp::Batch`] to one
//! participant, evaluated on one snapshot, each client getting its own
//! outcome. Up to three read batches are out at once, so a few clients'
//! reads still run side by side. A batch is one read, linearizable as any:
//! it waits for the keys of any of its reads that are locked. Not
//! combined: KEYS, SCAN and DBSIZE, which wait for every lock.
//!
//! This module only groups and distributes; the round and the read
//! themselves are [`super::txn`]'s.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::command::op::{Outcome, ReadOp, Step, WriteOp};

use super::Coordinator;
use super::txn::TxnError;

/// Most client commands one round or read batch carries.
const MAX_BATCH: usize = 512;
/// Read batches out at once: with one, a few clients' reads would queue
/// behind each other's round trips; three (one per participant in the
/// usual layout) keep low concurrency as parallel as without combining.
const READ_DRIVERS: usize = 3;

/// The client writes waiting for the next round, and the reads waiting for
/// the next batch.
#[derive(Default)]
pub struct Combiner {
    writes: Queue<WriteOp>,
    reads: Queue<ReadOp>,
}

/// Commands waiting, and whether a driver task is taking them.
struct Queue<Op>(std::sync::Mutex<Waiting<Op>>);

struct Waiting<Op> {
    ops: Vec<Op>,
    replies: Vec<Reply>,
    /// Driver tasks running: each takes whatever is queued when it is free.
    drivers: usize,
}

type Reply = oneshot::Sender<Result<Outcome, TxnError>>;

impl<Op> Default for Queue<Op> {
    fn default() -> Self {
        Queue(std::sync::Mutex::new(Waiting {
            ops: Vec::new(),
            replies: Vec::new(),
            drivers: 0,
        }))
    }
}

impl<Op> Queue<Op> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting<Op>> {
        // Pushes and takes only: a poisoned lock still holds a usable queue.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `op`; returns where its outcome will come and whether the
    /// caller must start a driver (fewer than `max_drivers` are running).
    fn push(
        &self,
        op: Op,
        max_drivers: usize,
    ) -> (oneshot::Receiver<Result<Outcome, TxnError>>, bool) {
        let (reply, answer) = oneshot::channel();
        let mut q = self.lock();
        q.ops.push(op);
        q.replies.push(reply);
        let start = q.drivers < max_drivers;
        if start {
            q.drivers += 1;
        }
        (answer, start)
    }

    /// Up to [`MAX_BATCH`] queued commands, oldest first; `None` (and the
    /// driver stops) when nothing is queued.
    fn take(&self) -> Option<(Vec<Op>, Vec<Reply>)> {
        let mut q = self.lock();
        if q.ops.is_empty() {
            q.drivers -= 1;
            return None;
        }
        let n = q.ops.len().min(MAX_BATCH);
        Some((q.ops.drain(..n).collect(), q.replies.drain(..n).collect()))
    }
}

/// The one command queued, run as itself, or several combined into one
/// by `combine`; and whether they were combined.
fn one_or_combined<Op>(mut ops: Vec<Op>, combine: impl FnOnce(Vec<Op>) -> Op) -> (Op, bool) {
    if ops.len() == 1 {
        (ops.remove(0), false)
    } else {
        (combine(ops), true)
    }
}

/// Answers the clients of a command run by [`one_or_combined`]: a lone
/// command's client gets `result` itself; each client of a combined one
/// its own outcome from `result`, an array of one outcome per command (or
/// everyone the error).
fn answer(replies: Vec<Reply>, result: Result<Outcome, TxnError>, combined: bool) {
    if !combined {
        if let Some(reply) = replies.into_iter().next() {
            let _ = reply.send(result);
        }
        return;
    }
    match result {
        Ok(Outcome::Array(outcomes)) if outcomes.len() == replies.len() => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        other => {
            let e = match other {
                Err(e) => e,
                // A MULTI without WATCH and a read batch always answer one
                // outcome per command; anything else is a bug, reported to
                // each client.
                Ok(outcome) => {
                    tracing::error!("combined command answered {outcome:?}");
                    TxnError::Refused(format!("internal: combined command answered {outcome:?}"))
                }
            };
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Whether `op` may share a round with other clients' writes.
pub fn combinable(op: &WriteOp) -> bool {
    !matches!(
        op,
        WriteOp::Multi { .. } | WriteOp::Reap { .. } | WriteOp::At { .. }
    ) && !op.locks_everything()
}

/// Whether `op` may share a batch with other clients' reads.
pub fn combinable_read(op: &ReadOp) -> bool {
    !matches!(op, ReadOp::Batch { .. } | ReadOp::At { .. }) && !op.reads_everything()
}

impl Coordinator {
    /// Runs a combinable client write in the next round (see the module
    /// docs) and returns its own outcome.
    pub async fn combined_write(self: &Arc<Self>, op: WriteOp) -> Result<Outcome, TxnError> {
        let (answer, start_driver) = self.combiner.writes.push(op, 1);
        if start_driver {
            tokio::spawn(self.clone().drive_writes());
        }
        answer.await.unwrap_or(Err(TxnError::ClusterDown))
    }

    /// Starts rounds with what is queued, one at a time until each has its
    /// votes, until the queue is empty.
    async fn drive_writes(self: Arc<Self>) {
        while let Some((ops, replies)) = self.combiner.writes.take() {
            let (voted, votes_in) = oneshot::channel();
            let me = self.clone();
            tokio::spawn(async move {
                let (op, combined) = one_or_combined(ops, |ops| WriteOp::Multi {
                    watched: Vec::new(),
                    steps: ops.into_iter().map(Step::Write).collect(),
                });
                answer(replies, me.run_round(op, Some(voted)).await, combined);
            });
            // Fired once the round has its votes, or dropped if it ended
            // before: either way the next round may prepare.
            let _ = votes_in.await;
        }
    }

    /// Serves a combinable client read in the next read batch (see the
    /// module docs) and returns its own outcome.
    pub async fn combined_read(self: &Arc<Self>, op: ReadOp) -> Result<Outcome, TxnError> {
        let (answer, start_driver) = self.combiner.reads.push(op, READ_DRIVERS);
        if start_driver {
            tokio::spawn(self.clone().drive_reads());
        }
        answer.await.unwrap_or(Err(TxnError::ClusterDown))
    }

    /// Serves what is queued, one batch at a time (other drivers run beside
    /// it), until the queue is empty.
    async fn drive_reads(self: Arc<Self>) {
        while let Some((ops, replies)) = self.combiner.reads.take() {
            let (op, combined) = one_or_combined(ops, |ops| ReadOp::Batch { ops });
            answer(replies, self.run_read(op).await, combined);
        }
    }
}
