//! The 2PC driver: how one client write becomes a transaction on every live
//! participant, and how a read is routed.
//!
//! # A write
//!
//! 1. Take the shared side of the join gate (a joining participant takes
//!    the exclusive side only for its last few log entries) and the key
//!    locks, so conflicting transactions run one after another.
//! 2. PREPARE to every live member in parallel. Each evaluates the command
//!    on its own data, stages the effects durably and votes with the
//!    result. A member that fails to answer is evicted; the round goes on
//!    with the rest.
//! 3. All votes equal and not an error: take the next commit index and make
//!    the decision durable; then COMMIT in parallel. Unequal votes mean the
//!    replicas diverged: abort and say so loudly. A command error (the same
//!    on every replica) aborts and is the client's reply.
//! 4. Wait out the lease fence (see [`super::membership`]) and reply. Every
//!    live member has applied the write by then, so any later read — here
//!    or directly at a participant — sees it.

use std::future::Future;

use crate::command::op::{Outcome, ReadOp, WriteOp};
use crate::rpc::{RpcError, message::Request, message::Response};

use super::Coordinator;
use super::membership::{Eviction, Member};

/// Why a transaction or read failed; `Display` is the client's error reply.
#[derive(Debug, thiserror::Error)]
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

impl Coordinator {
    /// Calls every member in parallel, evicting those that fail, and returns
    /// the answers of those that answered.
    async fn fan_out<F, Fut>(&self, members: &[Member], call: F) -> Vec<(Member, Response)>
    where
        F: Fn(Member) -> Fut,
        Fut: Future<Output = Result<Response, RpcError>>,
    {
        let futures = members.iter().cloned().map(|m| {
            let fut = call(m.clone());
            async move { (m, fut.await) }
        });
        let mut answered = Vec::with_capacity(members.len());
        for (member, result) in futures_join_all(futures).await {
            match result {
                Ok(response) => answered.push((member, response)),
                Err(e) => {
                    let why = match e {
                        RpcError::Timeout => Eviction::Timeout,
                        _ => Eviction::Closed,
                    };
                    self.membership
                        .evict(member.slot, &member.client, why, &e.to_string());
                }
            }
        }
        answered
    }

    /// Runs `op` as one transaction on every live participant.
    pub async fn execute_write(&self, op: WriteOp) -> Result<Outcome, TxnError> {
        let _gate = self.gate.read().await;
        let keys = op.keys();
        let _locks = self.locks.lock(&keys).await;
        let members = self.membership.live();
        if members.is_empty() {
            return Err(TxnError::ClusterDown);
        }
        let txid = self.decisions.next_txid();
        let timeout = self.config.rpc_timeout;
        let prepare = Request::Prepare { txid, op };
        let votes = self
            .fan_out(&members, |m| {
                let req = prepare.clone();
                async move { m.client.call(&req, timeout).await }
            })
            .await;

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
            self.abort(txid, &voters).await;
            return Err(problem.unwrap_or(TxnError::ClusterDown));
        };
        if let Outcome::Error(_) = outcome {
            self.abort(txid, &voters).await;
            return Ok(outcome);
        }

        let index = self
            .decisions
            .decide_commit(txid)
            .await
            .map_err(|e| TxnError::Storage(e.to_string()))?;
        let commit = Request::Commit { txid, index };
        let acks = self
            .fan_out(&voters, |m| {
                let req = commit.clone();
                async move { m.client.call(&req, timeout).await }
            })
            .await;
        let mut committed = 0;
        for (member, response) in acks {
            if response == Response::Ack {
                committed += 1;
            } else {
                // It voted yes but cannot apply: it must not stay a member.
                self.membership.evict(
                    member.slot,
                    &member.client,
                    Eviction::Refused,
                    &format!("commit {txid} failed: {response:?}"),
                );
            }
        }
        if committed == 0 {
            // Decided and durable here, but applied nowhere that survives:
            // the outcome is settled by recovery, not known to this client.
            return Err(TxnError::ClusterDown);
        }
        self.membership.fence().await;
        Ok(outcome)
    }

    async fn abort(&self, txid: u64, voters: &[Member]) {
        let timeout = self.config.rpc_timeout;
        let abort = Request::Abort { txid };
        self.fan_out(voters, |m| {
            let req = abort.clone();
            async move { m.client.call(&req, timeout).await }
        })
        .await;
    }

    /// Serves a read from one live participant, failing over to the next
    /// if it dies mid-request.
    pub async fn execute_read(&self, op: ReadOp) -> Result<Outcome, TxnError> {
        let request = Request::Read { op };
        for member in self.membership.readers() {
            match member.client.call(&request, self.config.rpc_timeout).await {
                Ok(Response::Read(outcome)) => return Ok(outcome),
                Ok(Response::Error(e)) => return Err(TxnError::Refused(e)),
                Ok(other) => self.membership.evict(
                    member.slot,
                    &member.client,
                    Eviction::Refused,
                    &format!("unexpected answer to read: {other:?}"),
                ),
                Err(e) => {
                    let why = match e {
                        RpcError::Timeout => Eviction::Timeout,
                        _ => Eviction::Closed,
                    };
                    self.membership
                        .evict(member.slot, &member.client, why, &e.to_string());
                }
            }
        }
        Err(TxnError::ClusterDown)
    }
}

/// Polls every future concurrently and returns their outputs in order.
async fn futures_join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
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
