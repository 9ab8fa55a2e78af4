//! The background expirer: removes expired keys from every replica.
//!
//! An expired key is invisible at once on every read path (evaluation
//! hides it, [`crate::command::op`]), but it stays stored until something
//! deletes it. Every `expire_interval_ms` (100 ms by default, as Redis's
//! `hz 10`) this task asks one live participant for keys whose deadline is
//! before the coordinator's clock (read from its deadline index, earliest
//! first, at most [`BATCH`]) and deletes them with one ordinary 2PC write,
//! [`WriteOp::Reap`]. The reap deletes a key only if it is still expired
//! at the reap's own stamped time, so a key whose deadline was extended
//! (or removed, or that was rewritten) after it was found is left alone;
//! and as a write it takes the keys' locks like any other, so it is
//! ordered with the clients' writes on every replica.
//!
//! Work per round is bounded: at most [`ROUNDS`] batches, and the next
//! batch only when the previous one was full (a backlog drains at
//! `ROUNDS × BATCH` keys per interval, leaving the rest of the time to
//! clients).

use std::sync::Arc;

use crate::command::op::{Outcome, WriteOp};
use crate::rpc::message::{Request, Response};

use super::Coordinator;

/// Most keys deleted by one reap transaction.
pub const BATCH: u32 = 200;
/// Most reap transactions per interval.
pub const ROUNDS: usize = 10;

impl Coordinator {
    /// Runs the expirer until the process ends.
    pub async fn expire_forever(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(self.config.expire_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            for _ in 0..ROUNDS {
                match self.expire_round().await {
                    Ok(found) if found == BATCH as usize => {}
                    Ok(_) => break,
                    Err(e) => {
                        tracing::debug!("expirer round failed: {e}");
                        break;
                    }
                }
            }
        }
    }

    /// One round: finds up to [`BATCH`] expired keys and reaps them.
    /// Returns how many were found.
    pub async fn expire_round(&self) -> Result<usize, String> {
        let Some(source) = self.membership.readers().into_iter().next() else {
            return Ok(0);
        };
        let request = Request::ExpiredKeys {
            now_ms: crate::command::unix_time_ms(),
            limit: BATCH,
        };
        let keys = match source.client.call(&request, self.config.rpc_timeout).await {
            Ok(Response::Keys(keys)) => keys,
            Ok(other) => return Err(format!("unexpected answer: {other:?}")),
            Err(e) => return Err(e.to_string()),
        };
        let found = keys.len();
        if found == 0 {
            return Ok(0);
        }
        match self.execute_write(WriteOp::Reap { keys }).await {
            Ok(Outcome::Integer(reaped)) => {
                tracing::trace!(found, reaped, "expired keys deleted");
                self.expired_keys.fetch_add(
                    u64::try_from(reaped).unwrap_or(0),
                    std::sync::atomic::Ordering::Relaxed,
                );
                Ok(found)
            }
            Ok(other) => Err(format!("reap answered {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }
}
