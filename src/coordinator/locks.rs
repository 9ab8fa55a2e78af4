//! Key locks held by the coordinator for a whole 2PC round.
//!
//! Conflicting transactions (sharing a key) must reach the participants in
//! one order, and each must finish before the next prepares; unrelated ones
//! must run in parallel. Keys hash onto a fixed array of FIFO (tokio) mutex
//! stripes; a transaction locks its stripes in ascending order, so two
//! transactions can never wait on each other in a cycle. A stripe shared by
//! two unrelated keys only costs a little parallelism, never correctness,
//! and memory stays fixed however many keys there are.

use std::hash::BuildHasher;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{Mutex, OwnedMutexGuard};

const STRIPES: usize = 4096;

/// Randomly keyed, so clients cannot pick keys that share a stripe.
#[cfg(not(feature = "sim"))]
type StripeHasher = std::collections::hash_map::RandomState;
/// Fixed in the simulation: which keys share a stripe changes the
/// interleaving, which must depend on the seed alone.
#[cfg(feature = "sim")]
type StripeHasher = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

/// The lock table.
pub struct KeyLocks {
    stripes: Vec<Arc<Mutex<()>>>,
    hasher: StripeHasher,
}

/// Held locks; dropping releases them.
pub struct Held {
    _guards: Vec<OwnedMutexGuard<()>>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| Arc::new(Mutex::new(()))).collect(),
            hasher: StripeHasher::default(),
        }
    }
}

impl KeyLocks {
    fn stripe(&self, key: &Bytes) -> usize {
        (self.hasher.hash_one(key) % STRIPES as u64) as usize
    }

    /// Takes every stripe, in order: for an op on the whole keyspace
    /// (FLUSHDB). Rare, so the cost of 4096 acquisitions does not matter.
    pub async fn lock_all(&self) -> Held {
        let mut guards = Vec::with_capacity(STRIPES);
        for stripe in &self.stripes {
            guards.push(stripe.clone().lock_owned().await);
        }
        Held { _guards: guards }
    }

    /// Waits for and takes the locks of every key in `keys`.
    pub async fn lock(&self, keys: &[&Bytes]) -> Held {
        let mut idx: Vec<usize> = keys.iter().map(|k| self.stripe(k)).collect();
        idx.sort_unstable();
        idx.dedup();
        let mut guards = Vec::with_capacity(idx.len());
        for i in idx {
            guards.push(self.stripes[i].clone().lock_owned().await);
        }
        Held { _guards: guards }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn conflicting_keys_wait_and_unrelated_do_not() {
        let locks = Arc::new(KeyLocks::default());
        let a = Bytes::from_static(b"a");
        let b = Bytes::from_static(b"b");
        let held = locks.lock(&[&a, &b]).await;
        // Same keys in the other order: must wait (no deadlock either way).
        let l2 = locks.clone();
        let (a2, b2) = (a.clone(), b.clone());
        let waiter = tokio::spawn(async move { l2.lock(&[&b2, &a2]).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(held);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("lock released")
            .unwrap();
    }
}
