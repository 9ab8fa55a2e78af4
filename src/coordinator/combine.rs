//! Write combining: the client writes that arrive while a round is
//! collecting its votes go out together, as one round, when it has them.
//!
//! Every round costs the same whatever it carries: a PREPARE and a vote per
//! participant, a prepare record and an fsync on each of them, a decision
//! record and an fsync here, a COMMIT, a log entry and a txid on each
//! replica. On a busy node those fixed costs are most of the CPU a write
//! takes. So client writes queue here, and one *driver* task at a time
//! starts a round with everything queued ([`WriteOp::Multi`]: the commands
//! run in arrival order, each seeing the ones before it, and each client
//! gets its own command's outcome, an error included, exactly as it would
//! alone), waits only until that round has its votes, then starts the next
//! with what arrived meanwhile. A lone write goes out at once as itself, so
//! combining adds no wait at low load; under load, one round's decision
//! fsync and commit overlap the next round's prepare, as they always did.
//!
//! Combined writes are one transaction: if the round fails (a participant
//! refuses, the replicas disagree, the cluster is down), every client in it
//! gets that error, and none of the writes happened — as for any failed
//! write, the client cannot assume either way only when it got no answer.
//!
//! What is never combined: MULTI/EXEC (its WATCH check and its reply are
//! its own), writes that lock the whole keyspace (FLUSHDB) and the
//! expirer's deletes. They run as their own rounds, ordered against the
//! combined ones by the key locks as before.
//!
//! This module only groups and distributes; the round itself is
//! [`super::txn`]'s.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::command::op::{Outcome, Step, WriteOp};

use super::Coordinator;
use super::txn::TxnError;

/// Most client writes one round carries.
const MAX_BATCH: usize = 512;

/// The queue of client writes waiting for the next round.
#[derive(Default)]
pub struct Combiner {
    state: std::sync::Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    /// A driver task is running: it takes whatever is queued.
    driving: bool,
}

struct Waiting {
    op: WriteOp,
    reply: oneshot::Sender<Result<Outcome, TxnError>>,
}

/// Whether `op` may share a round with other clients' writes.
pub fn combinable(op: &WriteOp) -> bool {
    !matches!(
        op,
        WriteOp::Multi { .. } | WriteOp::Reap { .. } | WriteOp::At { .. }
    ) && !op.locks_everything()
}

impl Combiner {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Pushes and takes only: a poisoned lock still holds a usable queue.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Coordinator {
    /// Runs a combinable client write in the next round (see the module
    /// docs) and returns its own outcome.
    pub async fn combined_write(self: &Arc<Self>, op: WriteOp) -> Result<Outcome, TxnError> {
        let (reply, answer) = oneshot::channel();
        let start_driver = {
            let mut queue = self.combiner.queue();
            queue.waiting.push(Waiting { op, reply });
            !std::mem::replace(&mut queue.driving, true)
        };
        if start_driver {
            tokio::spawn(self.clone().drive());
        }
        answer.await.unwrap_or(Err(TxnError::ClusterDown))
    }

    /// Starts rounds with what is queued, one at a time until each has its
    /// votes, until the queue is empty.
    async fn drive(self: Arc<Self>) {
        loop {
            let batch: Vec<Waiting> = {
                let mut queue = self.combiner.queue();
                if queue.waiting.is_empty() {
                    queue.driving = false;
                    return;
                }
                let take = queue.waiting.len().min(MAX_BATCH);
                queue.waiting.drain(..take).collect()
            };
            let (voted, votes_in) = oneshot::channel();
            tokio::spawn(self.clone().run_batch(batch, voted));
            // Fired once the round has its votes, or dropped if it ended
            // before: either way the next round may prepare.
            let _ = votes_in.await;
        }
    }

    /// Runs `batch` as one round and answers each of its clients.
    async fn run_batch(self: Arc<Self>, mut batch: Vec<Waiting>, voted: oneshot::Sender<()>) {
        if batch.len() == 1 {
            let Waiting { op, reply } = batch.remove(0);
            let _ = reply.send(self.run_round(op, Some(voted)).await);
            return;
        }
        let (steps, replies): (Vec<Step>, Vec<_>) = batch
            .into_iter()
            .map(|w| (Step::Write(w.op), w.reply))
            .unzip();
        let op = WriteOp::Multi {
            watched: Vec::new(),
            steps,
        };
        match self.run_round(op, Some(voted)).await {
            Ok(Outcome::Array(outcomes)) if outcomes.len() == replies.len() => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Ok(other) => {
                // A MULTI without WATCH always answers one outcome per
                // command; anything else is a bug, reported to each client.
                tracing::error!("combined round answered {other:?}");
                let e = TxnError::Refused(format!("internal: combined round answered {other:?}"));
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
