//! Bringing participants into the membership: connect, resolve, catch up.
//!
//! One manager task per configured participant loops forever: connect,
//! handshake, ask for its status, resolve its in-doubt transactions, bring
//! it up to date, make it live, then heartbeat it until it fails.
//!
//! # Resolving in-doubt transactions
//!
//! A prepared transaction with no outcome is committed if this
//! coordinator's log holds its round's record without an ABORT (see
//! [`super::decisions`]), or if any reachable participant already
//! committed it (which covers a coordinator whose directory was lost);
//! otherwise it is aborted — its client was never told it succeeded. That
//! last step goes through [`super::decisions::Decisions::resolve`], so a
//! round of ours still running can no longer commit it.
//!
//! # Founding
//!
//! When nobody is live (the coordinator just started, or every participant
//! failed), the most advanced participant becomes the truth. It must hold
//! everything this coordinator ever decided, or else every configured
//! participant must have reported, before it is chosen: otherwise a stale
//! replica could be promoted over a better one that is merely slow to come
//! back. With an empty decision log (first start, or the coordinator's
//! directory was lost) it waits a short while for everyone to report, then
//! takes the best of those that did. Gaps in the founder's log
//! (transactions that committed nowhere that survives, and rounds that
//! aborted) are settled as no-ops.
//!
//! # Catching up
//!
//! A joining participant replays the retained commit log of the most
//! advanced live member, from its own watermark; if that log no longer
//! reaches back, it takes a snapshot stream instead (key order, chunked),
//! then replays the log from the watermark read before the stream began.
//! New writes keep flowing meanwhile; only the final few entries are copied
//! under the exclusive side of the join gate, after which it is live.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::rpc::message::{ParticipantStatus, Request, Response};
use crate::rpc::{RpcClient, RpcError};

use super::Coordinator;
use super::decisions::Decision;
use super::membership::{Eviction, Phase, eviction_for};

/// Entries per catch-up round trip.
const LOG_CHUNK: u32 = 2000;
/// Full log chunks copied before joining stops chasing the live writes.
const MAX_CHASE_ROUNDS: u32 = 50;
/// Pairs per snapshot chunk.
const SCAN_CHUNK: u32 = 5000;
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Why joining failed this time (the manager retries).
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// A call failed.
    #[error("rpc: {0}")]
    Rpc(#[from] RpcError),
    /// A peer answered something unexpected.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// No live member to copy from.
    #[error("no live source to catch up from")]
    NoSource,
    /// The coordinator's own storage failed.
    #[error("storage: {0}")]
    Storage(String),
}

fn unexpected(r: Response) -> JoinError {
    match r {
        Response::Error(e) => JoinError::Unexpected(e),
        other => JoinError::Unexpected(format!("{other:?}")),
    }
}

impl Coordinator {
    async fn call(&self, client: &RpcClient, request: &Request) -> Result<Response, JoinError> {
        // Catch-up moves big chunks: whole-keyspace work.
        Ok(client.call(request, self.answer_timeout(true)).await?)
    }

    async fn status_of(&self, client: &RpcClient) -> Result<ParticipantStatus, JoinError> {
        match self.call(client, &Request::Status).await? {
            Response::Status(st) => {
                self.decisions
                    .observe(st.max_txid, st.max_applied)
                    .await
                    .map_err(|e| JoinError::Storage(e.to_string()))?;
                Ok(st)
            }
            other => Err(unexpected(other)),
        }
    }

    /// Runs the manager of slot `slot` forever.
    pub async fn manage(self: Arc<Self>, slot: usize) {
        let addr = self.membership.addr(slot);
        let mut backoff = Duration::from_millis(20);
        loop {
            // Bounded: after a partition heals, a SYN lost to it would
            // otherwise wait out the kernel's exponential retry.
            let connect = tokio::time::timeout(self.config.rpc_timeout, RpcClient::connect(addr));
            let client = match connect.await.unwrap_or(Err(RpcError::Timeout)) {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(%addr, "connect failed: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            backoff = Duration::from_millis(20);
            tracing::info!(%addr, "connected to participant");
            match self.bring_live(slot, &client).await {
                Ok(()) => self.heartbeat_until_failure(slot, &client).await,
                Err(e) => {
                    tracing::warn!(%addr, "joining failed: {e}");
                    let why = match &e {
                        JoinError::Rpc(rpc) => eviction_for(rpc),
                        _ => Eviction::Closed,
                    };
                    self.membership.evict(slot, &client, why, &e.to_string());
                    client.close();
                    tokio::time::sleep(MAX_BACKOFF).await;
                }
            }
        }
    }

    /// From a fresh connection to live.
    async fn bring_live(&self, slot: usize, client: &RpcClient) -> Result<(), JoinError> {
        // First revoke any lease it holds (from us before a failure, or from
        // a previous coordinator): it must not serve direct reads while it
        // is not receiving our writes.
        let revoke = Request::Heartbeat {
            lease_ms: 0,
            member: false,
        };
        match self.call(client, &revoke).await? {
            Response::Status(_) => self.membership.lease_revoked(slot),
            other => return Err(unexpected(other)),
        }
        let status = self.status_of(client).await?;
        self.membership.set_ready(slot, client.clone(), status);
        loop {
            if client.is_closed() {
                return Err(JoinError::Rpc(RpcError::Closed));
            }
            if self.membership.phase(slot) == Phase::Live {
                return Ok(());
            }
            let join = self.join_lock.lock().await;
            if self.membership.phase(slot) == Phase::Live {
                return Ok(());
            }
            if self.membership.live().is_empty() {
                self.try_found().await?;
                drop(join);
                if self.membership.phase(slot) != Phase::Live {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
            self.resolve_in_doubt(client, &[]).await?;
            self.join(slot, client).await?;
            return Ok(());
        }
    }

    /// Commits or aborts each transaction `client` holds prepared.
    async fn resolve_in_doubt(
        &self,
        client: &RpcClient,
        others: &[RpcClient],
    ) -> Result<(), JoinError> {
        let status = self.status_of(client).await?;
        for txid in status.prepared {
            let mut decision = self
                .decisions
                .decided(txid)
                .map_err(|e| JoinError::Storage(e.to_string()))?;
            for other in others {
                if decision.is_some() {
                    break;
                }
                if let Response::Committed(Some(index)) =
                    self.call(other, &Request::Lookup { txid }).await?
                {
                    decision = Some(Decision::Commit(index));
                }
            }
            let decision = match decision {
                Some(decision) => decision,
                // Atomically with any round still running it.
                None => self
                    .decisions
                    .resolve(txid)
                    .await
                    .map_err(|e| JoinError::Storage(e.to_string()))?,
            };
            let request = match decision {
                Decision::Commit(index) => Request::Commit { txid, index },
                Decision::Abort => Request::Abort { txid, void: None },
            };
            tracing::info!(txid, ?request, "resolving in-doubt transaction");
            match self.call(client, &request).await? {
                Response::Ack => {}
                other => return Err(unexpected(other)),
            }
        }
        Ok(())
    }

    /// With nobody live: promote the most advanced ready participant, if it
    /// is safe to (see the module docs).
    async fn try_found(&self) -> Result<(), JoinError> {
        let ready = self.membership.ready();
        if ready.is_empty() {
            return Ok(());
        }
        let everyone = ready.len() == self.membership.len();
        let decided = self.decisions.last_index();
        // Knowing nothing (a fresh or lost decision log), give the others a
        // moment to report before picking the best of those that did.
        if !everyone && decided == 0 && Instant::now() < self.bootstrap_deadline {
            return Ok(());
        }
        let clients: Vec<RpcClient> = ready.iter().map(|(_, c, _)| c.clone()).collect();
        let mut best: Option<(usize, RpcClient, ParticipantStatus)> = None;
        for (slot, client, _) in &ready {
            let others: Vec<RpcClient> = clients
                .iter()
                .filter(|c| !c.same_connection(client))
                .cloned()
                .collect();
            self.resolve_in_doubt(client, &others).await?;
            let status = self.status_of(client).await?;
            self.membership.set_status(*slot, status.clone());
            let better = best.as_ref().is_none_or(|(_, _, b)| {
                (status.max_applied, status.watermark) > (b.max_applied, b.watermark)
            });
            if better {
                best = Some((*slot, client.clone(), status));
            }
        }
        let Some((slot, client, status)) = best else {
            return Ok(());
        };
        // What may hold an acknowledged write: not the indices of rounds
        // at the top that aborted (their voters failed), which are settled
        // as no-ops below with any other gap.
        let bound = self.decisions.founding_bound();
        if status.max_applied < bound && !everyone {
            tracing::warn!(
                participant = %self.membership.addr(slot),
                has = status.max_applied,
                decided = bound,
                "best reachable participant is behind what was committed; waiting for the others"
            );
            return Ok(());
        }
        match self
            .call(&client, &Request::Settle { up_to: decided })
            .await?
        {
            Response::Ack => {}
            other => return Err(unexpected(other)),
        }
        self.membership.set_live(slot);
        tracing::info!(
            participant = %self.membership.addr(slot),
            watermark = status.max_applied,
            "founded the membership on the most advanced participant"
        );
        Ok(())
    }

    /// Catches `client` up with the live members and makes it live.
    async fn join(&self, slot: usize, client: &RpcClient) -> Result<(), JoinError> {
        let addr = self.membership.addr(slot);
        let started = Instant::now();
        let status = self.status_of(client).await?;
        let mut watermark = self.catch_up(client, status.watermark).await?;
        // The last stretch under the exclusive gate: no transaction is in
        // flight, so after this copy the new member misses nothing.
        let _gate = self.gate.write().await;
        self.await_decided_applied().await?;
        watermark = self.catch_up(client, watermark).await?;
        self.membership.set_live(slot);
        tracing::info!(%addr, watermark, elapsed_ms = started.elapsed().as_millis() as u64, "caught up");
        Ok(())
    }

    /// Copies committed entries from the best live member to `target` until
    /// a round trip finds little left. Returns the target's new watermark.
    async fn catch_up(&self, target: &RpcClient, mut watermark: u64) -> Result<u64, JoinError> {
        let mut copied = 0u64;
        let mut rounds = 0u32;
        loop {
            let source = self.best_source().await?;
            let response = self
                .call(
                    &source,
                    &Request::FetchLog {
                        after: watermark,
                        limit: LOG_CHUNK,
                    },
                )
                .await?;
            let Response::Log {
                entries,
                complete,
                watermark: source_watermark,
            } = response
            else {
                return Err(unexpected(response));
            };
            if !complete {
                watermark = self.snapshot(&source, target).await?;
                continue;
            }
            let full = entries.len() >= LOG_CHUNK as usize;
            rounds += 1;
            let up_to = match (full, entries.last()) {
                (true, Some(last)) => last.index.min(source_watermark),
                _ => source_watermark,
            };
            if entries.is_empty() && up_to <= watermark {
                return Ok(watermark);
            }
            copied += entries.len() as u64;
            match self
                .call(target, &Request::ApplyLog { entries, up_to })
                .await?
            {
                Response::Ack => {}
                other => return Err(unexpected(other)),
            }
            watermark = watermark.max(up_to);
            if copied > 0 && copied.is_multiple_of(LOG_CHUNK as u64 * 10) {
                tracing::info!(copied, watermark, "catch-up: replaying log");
            }
            // Stop chasing a source that keeps moving: the final round under
            // the gate copies the rest with writes held back.
            if !full || rounds >= MAX_CHASE_ROUNDS {
                return Ok(watermark);
            }
        }
    }

    /// Streams the source's whole data set to `target`; returns the
    /// watermark to replay the log from.
    async fn snapshot(&self, source: &RpcClient, target: &RpcClient) -> Result<u64, JoinError> {
        let mut after = None;
        let mut reset = true;
        let mut start_watermark = None;
        let mut sent = 0u64;
        loop {
            let response = self
                .call(
                    source,
                    &Request::ScanData {
                        after: after.clone(),
                        limit: SCAN_CHUNK,
                    },
                )
                .await?;
            let Response::Data { pairs, watermark } = response else {
                return Err(unexpected(response));
            };
            let from = *start_watermark.get_or_insert(watermark);
            let done = pairs.len() < SCAN_CHUNK as usize;
            after = pairs.last().map(|(k, _)| k.clone());
            sent += pairs.len() as u64;
            let request = Request::InstallData {
                reset,
                pairs,
                finish: done.then_some(from),
            };
            match self.call(target, &request).await? {
                Response::Ack => {}
                other => return Err(unexpected(other)),
            }
            reset = false;
            if done {
                tracing::info!(
                    keys = sent,
                    watermark = from,
                    "catch-up: snapshot installed"
                );
                return Ok(from);
            }
            if sent.is_multiple_of(SCAN_CHUNK as u64 * 10) {
                tracing::info!(keys = sent, "catch-up: streaming snapshot");
            }
        }
    }

    /// Waits (holding the gate, so no new decision comes) until the best
    /// live member has applied every index decided so far: commits are
    /// one-way and may still be in flight.
    async fn await_decided_applied(&self) -> Result<(), JoinError> {
        let decided = self.decisions.last_index();
        let deadline = Instant::now() + self.config.rpc_timeout * 2;
        loop {
            let source = self.best_source().await?;
            match self.call(&source, &Request::Status).await? {
                Response::Status(st) if st.watermark >= decided => return Ok(()),
                Response::Status(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Response::Status(st) => {
                    return Err(JoinError::Unexpected(format!(
                        "source stuck at {} below decided index {decided}",
                        st.watermark
                    )));
                }
                other => return Err(unexpected(other)),
            }
        }
    }

    /// The live member with the highest watermark.
    async fn best_source(&self) -> Result<RpcClient, JoinError> {
        let mut best: Option<(u64, RpcClient)> = None;
        for member in self.membership.live() {
            if let Ok(Response::Status(st)) = member
                .client
                .call(&Request::Status, self.config.rpc_timeout)
                .await
                && best.as_ref().is_none_or(|(w, _)| st.watermark > *w)
            {
                best = Some((st.watermark, member.client));
            }
        }
        best.map(|(_, c)| c).ok_or(JoinError::NoSource)
    }

    /// Renews the lease of a live slot until it fails or is evicted.
    async fn heartbeat_until_failure(&self, slot: usize, client: &RpcClient) {
        let lease_ms = u64::try_from(self.config.lease.as_millis()).unwrap_or(u64::MAX);
        let mut tick = tokio::time::interval(self.config.heartbeat_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.membership.phase(slot) != Phase::Live || client.is_closed() {
                self.membership
                    .evict(slot, client, Eviction::Closed, "connection closed");
                return;
            }
            self.membership.heartbeat_sent(slot);
            let beat = Request::Heartbeat {
                lease_ms,
                member: true,
            };
            match client.call(&beat, self.config.rpc_timeout).await {
                Ok(Response::Status(status)) => self.membership.set_status(slot, status),
                Ok(_) => {}
                Err(e) => {
                    self.membership
                        .evict(slot, client, eviction_for(&e), "heartbeat failed");
                    return;
                }
            }
            tick.tick().await;
        }
    }
}
