//! The 2PC driver: how one client write becomes a transaction on every live
//! participant, and how a read is routed.
//!
//! # A write
//!
//! 1. Take the shared side of the join gate (a joining participant takes
//!    the exclusive side only for its last few log entries) and the key
//!    locks, so conflicting transactions run one after another.
//! 2. Begin the round in the decision log: it takes its commit index, and
//!    its record ("commits at this index unless an ABORT follows", see
//!    [`super::decisions`]) is synced while the participants prepare.
//!    Rounds do this one at a time, from here until their votes are in
//!    (or their ABORT is durable): so when a participant applies an
//!    index, every live member already holds each lower index's round
//!    prepared, or that round has a durable ABORT. A crash then never
//!    leaves a participant past an index whose round a restarted
//!    coordinator commits but that participant lacks — which founding
//!    would settle there as a no-op while other replicas apply it.
//! 3. PREPARE to every live member in parallel. Each evaluates the command
//!    on its own data, stages the effects durably and votes with the
//!    result. A member that fails to answer is evicted; the round goes on
//!    with the rest.
//! 4. All votes equal: release the key locks (every voter now holds the
//!    keys itself until the outcome arrives, so the next transaction on
//!    them already orders after this one) and wait for the round's record
//!    to be durable. A command error (the same on every replica) staged
//!    nothing and commits as a no-op, its index taken; the error is the
//!    client's reply. Unequal votes mean the replicas diverged; they, a
//!    refusal, or recovery refusing the round (a voter restarted) abort
//!    it: ABORT is made durable first, then the voters drop what they
//!    staged and take the index as a no-op.
//! 5. Send COMMIT (one-way, but written to every socket before going on),
//!    wait out the lease fence (see
//!    [`super::membership`]) and reply — without waiting for the commits to
//!    apply. That is safe because every live member holds the
//!    prepare durably with the keys locked: a read there (routed or direct)
//!    and the next prepare on those keys wait until the commit applies, so
//!    nobody can read the old value after the client was told OK, and
//!    recovery redoes the commit from the durable record. A joining
//!    participant cannot miss a commit either: its final copy waits until
//!    the source has applied every decided index.
//!
//! # Time
//!
//! Every op is stamped with this coordinator's clock as it is sent
//! ([`WriteOp::stamp`], [`ReadOp::stamp`]): relative deadlines become
//! absolute ones, and every replica judges which keys have expired at that
//! same moment, so their votes agree.

use std::future::Future;
use std::time::Duration;

use crate::command::op::{Outcome, ReadOp, WriteOp};
use crate::rpc::message::{Request, Response};

use tokio::sync::oneshot;

use super::Coordinator;
use super::combine::{combinable, combinable_read};
use super::membership::{Eviction, Member, Membership, eviction_for};

/// Why a transaction or read failed; `Display` is the client's error reply.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TxnError {
    /// No participant is live.
    #[error("CLUSTERDOWN no live participant can serve this request")]
    ClusterDown,
    /// Replicas returned different results: aborted.
    #[error("ERR transaction aborted: replicas disagree ({0})")]
    Diverged(String),
    /// A participant refused the prepare.
    #[error("ERR transaction aborted: {0}")]
    Refused(String),
    /// The decision log could not be written.
    #[error("ERR coordinator storage failure: {0}")]
    Storage(String),
}

impl From<crate::storage::StorageError> for TxnError {
    fn from(e: crate::storage::StorageError) -> Self {
        TxnError::Storage(e.to_string())
    }
}

/// Sends `request` to every member in parallel, evicts those that fail to
/// answer, and returns the answers of the rest.
async fn fan_out(
    membership: &Membership,
    members: &[Member],
    request: &Request,
    timeout: Duration,
) -> Vec<(Member, Response)> {
    let calls = members.iter().map(|m| async move {
        let result = m.client.call(request, timeout).await;
        (m, result)
    });
    let mut answered = Vec::with_capacity(members.len());
    for (member, result) in join_all(calls).await {
        match result {
            Ok(response) => answered.push((member.clone(), response)),
            Err(e) => membership.evict(
                member.slot,
                &member.client,
                eviction_for(&e),
                &e.to_string(),
            ),
        }
    }
    answered
}

/// Sends COMMIT to every voter, one-way, and waits until each frame is in
/// the kernel: from then on it reaches the participant even if this process
/// is killed, so a participant is never left in doubt about a write its
/// client was told succeeded (it could not serve that key until a new
/// coordinator resolved it). A participant that cannot apply a commit it
/// voted for stops itself (storage failure is fatal there), which closes
/// its connection and evicts it; there is no answer to wait for.
async fn commit_everywhere(membership: &Membership, voters: &[Member], txid: u64, index: u64) {
    let commit = Request::Commit { txid, index };
    let mut sent = Vec::with_capacity(voters.len());
    for member in voters {
        match member.client.notify(&commit) {
            Ok(written) => sent.push((member, written)),
            Err(e) => membership.evict(
                member.slot,
                &member.client,
                Eviction::Closed,
                &e.to_string(),
            ),
        }
    }
    for (member, written) in sent {
        if let Err(e) = written.wait().await {
            membership.evict(
                member.slot,
                &member.client,
                Eviction::Closed,
                &e.to_string(),
            );
        }
    }
}

/// How many times `rpc_timeout_ms` a participant may take to answer a
/// request over the whole keyspace (FLUSHDB, KEYS, SCAN, DBSIZE, INFO's
/// counts, DEBUG DIGEST; and recovery's, which copy logs and snapshots).
/// Its work grows with the number of keys (FLUSHDB
/// took 4.4 s for a million keys on the development VM): held to the
/// ordinary timeout, a large keyspace would get healthy participants
/// evicted. A participant that died is still noticed at once, by its
/// connection closing or its heartbeats failing.
pub const WHOLE_KEYSPACE_TIMEOUT_FACTOR: u32 = 10;

impl Coordinator {
    /// How long a participant may take to answer a request: `rpc_timeout_ms`,
    /// or [`WHOLE_KEYSPACE_TIMEOUT_FACTOR`] times that for a request over
    /// the whole keyspace.
    pub fn answer_timeout(&self, whole_keyspace: bool) -> Duration {
        if whole_keyspace {
            self.config.rpc_timeout * WHOLE_KEYSPACE_TIMEOUT_FACTOR
        } else {
            self.config.rpc_timeout
        }
    }

    /// Runs `op` as a transaction on every live participant: combined with
    /// other clients' writes when it may be ([`super::combine`]), else as
    /// its own round.
    pub async fn execute_write(&self, op: WriteOp) -> Result<Outcome, TxnError> {
        match self.me.upgrade() {
            Some(me) if combinable(&op) => me.combined_write(op).await,
            _ => self.run_round(op, None).await,
        }
    }

    /// Runs `op` as one round. `voted` is fired (or dropped) once the round
    /// no longer needs to go first: it has its votes and has released its
    /// key locks, or it ended before.
    pub async fn run_round(
        &self,
        op: WriteOp,
        voted: Option<oneshot::Sender<()>>,
    ) -> Result<Outcome, TxnError> {
        let gate = self.gate.clone().read_owned().await;
        let locks = if op.locks_everything() {
            self.locks.lock_all().await
        } else {
            self.locks.lock(&op.keys()).await
        };
        // One round at a time from here until its votes are in (see the
        // module docs): combined rounds already come one at a time, and
        // MULTI/EXEC, FLUSHDB and the expirer's deletes join that line.
        let preparing = self.preparing.lock().await;
        let members = self.membership.live();
        if members.is_empty() {
            return Err(TxnError::ClusterDown);
        }
        let txid = self.decisions.next_txid();
        let timeout = self.answer_timeout(op.locks_everything());
        // Stamped once the key locks are held, so that a later write on
        // these keys never carries an earlier time.
        let op = op.stamp(crate::command::unix_time_ms(), txid);
        // Its record is synced while the participants prepare.
        let (index, logged) = self.decisions.begin(txid)?;
        let prepare = Request::Prepare { txid, op };
        let votes = fan_out(&self.membership, &members, &prepare, timeout).await;

        let mut voters = Vec::with_capacity(votes.len());
        let mut outcome: Option<Outcome> = None;
        let mut problem: Option<TxnError> = None;
        for (member, response) in votes {
            match response {
                Response::Vote(o) => {
                    match &outcome {
                        Some(first) if *first != o => {
                            tracing::error!(
                                txid,
                                participant = %self.membership.addr(member.slot),
                                "REPLICAS DIVERGED: {first:?} vs {o:?}"
                            );
                            problem = Some(TxnError::Diverged(format!("{first:?} vs {o:?}")));
                        }
                        Some(_) => {}
                        None => outcome = Some(o),
                    }
                    voters.push(member);
                }
                Response::Error(e) => {
                    problem = Some(TxnError::Refused(e));
                    voters.push(member);
                }
                other => {
                    self.membership.evict(
                        member.slot,
                        &member.client,
                        Eviction::Refused,
                        &format!("unexpected answer to prepare: {other:?}"),
                    );
                }
            }
        }
        let Some(outcome) = outcome.filter(|_| problem.is_none()) else {
            self.abort(txid, index, &voters).await?;
            return Err(problem.unwrap_or(TxnError::ClusterDown));
        };

        // Every voter now holds these keys locked until our outcome reaches
        // it, and orders the next transaction on them after this one: the
        // next PREPARE can travel while our record is being synced.
        drop(locks);
        drop(preparing);
        drop(voted);
        if self.decisions.commit(txid, logged).await? != Some(index) {
            // A voter restarted and recovery already told it ABORT.
            tracing::warn!(
                txid,
                "in-doubt resolution aborted this transaction during its round"
            );
            self.abort(txid, index, &voters).await?;
            return Err(TxnError::Refused(
                "a participant restarted and dropped it before the decision".into(),
            ));
        }
        commit_everywhere(&self.membership, &voters, txid, index).await;
        // The commits are queued on every connection ahead of anything sent
        // later, so a joiner's final copy (which also waits for the source
        // to apply them) comes after.
        drop(gate);
        self.membership.fence().await;
        Ok(outcome)
    }

    /// Aborts a begun round: ABORT durable first (see
    /// [`super::decisions`]), then every voter drops what it staged and
    /// takes `index` as a no-op.
    async fn abort(&self, txid: u64, index: u64, voters: &[Member]) -> Result<(), TxnError> {
        self.decisions.abort(txid).await?;
        let abort = Request::Abort {
            txid,
            void: Some(index),
        };
        fan_out(&self.membership, voters, &abort, self.config.rpc_timeout).await;
        Ok(())
    }

    /// Serves a read from one live participant: combined with other
    /// clients' reads when it may be ([`super::combine`]), else alone.
    pub async fn execute_read(&self, op: ReadOp) -> Result<Outcome, TxnError> {
        match self.me.upgrade() {
            Some(me) if combinable_read(&op) => me.combined_read(op).await,
            _ => self.run_read(op).await,
        }
    }

    /// Serves one read from one live participant, failing over to the next
    /// if it dies mid-request.
    pub async fn run_read(&self, op: ReadOp) -> Result<Outcome, TxnError> {
        let timeout = self.answer_timeout(op.reads_everything());
        let op = op.stamp(crate::command::unix_time_ms());
        let request = Request::Read { op };
        for member in self.membership.readers() {
            match member.client.call(&request, timeout).await {
                Ok(Response::Read(outcome)) => return Ok(outcome),
                Ok(Response::Error(e)) => return Err(TxnError::Refused(e)),
                Ok(other) => self.membership.evict(
                    member.slot,
                    &member.client,
                    Eviction::Refused,
                    &format!("unexpected answer to read: {other:?}"),
                ),
                Err(e) => self.membership.evict(
                    member.slot,
                    &member.client,
                    eviction_for(&e),
                    &e.to_string(),
                ),
            }
        }
        Err(TxnError::ClusterDown)
    }
}

/// Polls every future concurrently and returns their outputs in order.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut outputs: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
