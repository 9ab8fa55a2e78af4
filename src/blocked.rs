//! Clients blocked in BLPOP and the other blocking pops: which keys each
//! waits on, in what order, and waking them.
//!
//! A blocked client does not sit on a replica: it holds a ticket in one
//! first-come, first-served queue per key it waits on, here on the node
//! that serves it. A write that commits through this node wakes the
//! client at the head of each queue of a key it wrote ([`BlockedKeys::wake`]);
//! that client then runs its pop as an ordinary replicated write, so an
//! element leaves a list only in a transaction that hands it to a client
//! still connected (the session, `crate::session`, owns that loop). A
//! client leaving a queue for any reason (served, timed out, unblocked,
//! gone) wakes the next one on each of its keys, which looks again: a
//! push of several elements serves several clients, one after another, in
//! the order they blocked.
//!
//! This module never touches data or sockets, and a wake-up only tells a
//! client to look: it is a hint, never a promise that an element is there
//! (another client's plain LPOP may take it first, or the write may have
//! been a DEL). Nothing here survives the process: after a restart the
//! blocked clients' connections are gone, and no element was taken for
//! them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;

/// How CLIENT UNBLOCK ends a client's wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unblock {
    /// As if its timeout had passed.
    Timeout,
    /// With the `-UNBLOCKED` error.
    Error,
}

/// Why a blocked client's wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A write to one of its keys committed (or the client ahead of it
    /// left): look again.
    Look,
    /// CLIENT UNBLOCK.
    Unblocked(Unblock),
}

/// The per-key queues of one node's blocked clients.
#[derive(Default)]
pub struct BlockedKeys {
    /// How many clients are queued: writes skip the lock when none is.
    queued: AtomicUsize,
    queues: Mutex<Queues>,
}

#[derive(Default)]
struct Queues {
    next_ticket: u64,
    /// Each key's tickets, oldest first.
    by_key: HashMap<Bytes, VecDeque<u64>>,
    /// Each ticket's client.
    slots: HashMap<u64, Arc<Slot>>,
}

/// One queued client's wake-up line.
struct Slot {
    /// The client's id (CLIENT ID), for CLIENT UNBLOCK.
    client: u64,
    /// A wake-up sent while the client is not waiting is kept (one
    /// permit), so none is lost between two looks.
    notify: Notify,
    unblocked: Mutex<Option<Unblock>>,
}

impl BlockedKeys {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        // The queues stay consistent at every step, so a panic elsewhere
        // leaves nothing half-done to refuse.
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues client `client` on `keys` (each once, in the order given).
    /// It stays queued until the returned ticket is dropped.
    pub fn queue(&self, client: u64, keys: &[Bytes]) -> Ticket<'_> {
        let slot = Arc::new(Slot {
            client,
            notify: Notify::new(),
            unblocked: Mutex::new(None),
        });
        let mut keys: Vec<Bytes> = keys.to_vec();
        let mut seen = std::collections::HashSet::new();
        keys.retain(|k| seen.insert(k.clone()));
        let mut queues = self.lock();
        queues.next_ticket += 1;
        let id = queues.next_ticket;
        for key in &keys {
            queues.by_key.entry(key.clone()).or_default().push_back(id);
        }
        queues.slots.insert(id, Arc::clone(&slot));
        self.queued.fetch_add(1, Ordering::Relaxed);
        Ticket {
            owner: self,
            id,
            keys,
            slot,
        }
    }

    /// A write to `keys` committed: wakes the client at the head of each
    /// key's queue.
    pub fn wake<'k>(&self, keys: impl IntoIterator<Item = &'k Bytes>) {
        if self.queued.load(Ordering::Relaxed) == 0 {
            return;
        }
        let queues = self.lock();
        for key in keys {
            queues.wake_head(key);
        }
    }

    /// A write that may have touched any key (FLUSHALL, a MULTI that
    /// names none): wakes the head of every queue.
    pub fn wake_all(&self) {
        if self.queued.load(Ordering::Relaxed) == 0 {
            return;
        }
        let queues = self.lock();
        for key in queues.by_key.keys() {
            queues.wake_head(key);
        }
    }

    /// CLIENT UNBLOCK: ends the wait of client `client`, if it is queued.
    pub fn unblock(&self, client: u64, how: Unblock) -> bool {
        let queues = self.lock();
        let Some(slot) = queues.slots.values().find(|s| s.client == client) else {
            return false;
        };
        *slot
            .unblocked
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(how);
        slot.notify.notify_one();
        true
    }
}

impl Queues {
    fn wake_head(&self, key: &Bytes) {
        let head = self.by_key.get(key).and_then(VecDeque::front);
        if let Some(slot) = head.and_then(|id| self.slots.get(id)) {
            slot.notify.notify_one();
        }
    }
}

/// A client's place in the queues of its keys.
pub struct Ticket<'a> {
    owner: &'a BlockedKeys,
    id: u64,
    keys: Vec<Bytes>,
    slot: Arc<Slot>,
}

impl Ticket<'_> {
    /// Waits for a wake-up (returns at once if one came since the last).
    pub async fn woken(&self) -> Wake {
        self.slot.notify.notified().await;
        let unblocked = self
            .slot
            .unblocked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        unblocked.map_or(Wake::Look, Wake::Unblocked)
    }
}

impl Drop for Ticket<'_> {
    /// Leaves every queue and wakes whoever is now at their heads, so a
    /// wake-up meant for this client (an element it will not take) passes
    /// on.
    fn drop(&mut self) {
        let mut queues = self.owner.lock();
        queues.slots.remove(&self.id);
        for key in &self.keys {
            if let Some(queue) = queues.by_key.get_mut(key) {
                queue.retain(|t| *t != self.id);
                if queue.is_empty() {
                    queues.by_key.remove(key);
                }
            }
            queues.wake_head(key);
        }
        self.owner.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn keys(names: &[&str]) -> Vec<Bytes> {
        names
            .iter()
            .map(|n| Bytes::copy_from_slice(n.as_bytes()))
            .collect()
    }

    async fn is_woken(ticket: &Ticket<'_>) -> Option<Wake> {
        tokio::time::timeout(Duration::from_millis(20), ticket.woken())
            .await
            .ok()
    }

    #[tokio::test]
    async fn a_write_wakes_only_the_first_client_of_the_key() {
        let blocked = BlockedKeys::default();
        let first = blocked.queue(1, &keys(&["k"]));
        let second = blocked.queue(2, &keys(&["k"]));
        blocked.wake(&keys(&["other"]));
        assert_eq!(is_woken(&first).await, None);
        blocked.wake(&keys(&["k"]));
        assert_eq!(is_woken(&first).await, Some(Wake::Look));
        assert_eq!(is_woken(&second).await, None);
        // The first leaves (served): the second is at the head and looks.
        drop(first);
        assert_eq!(is_woken(&second).await, Some(Wake::Look));
    }

    #[tokio::test]
    async fn a_wake_up_before_the_wait_is_kept() {
        let blocked = BlockedKeys::default();
        let ticket = blocked.queue(1, &keys(&["a", "b", "a"]));
        blocked.wake(&keys(&["b"]));
        assert_eq!(is_woken(&ticket).await, Some(Wake::Look));
        assert_eq!(is_woken(&ticket).await, None);
        blocked.wake_all();
        assert_eq!(is_woken(&ticket).await, Some(Wake::Look));
    }

    #[tokio::test]
    async fn client_unblock_ends_only_a_queued_clients_wait() {
        let blocked = BlockedKeys::default();
        assert!(!blocked.unblock(7, Unblock::Error));
        let ticket = blocked.queue(7, &keys(&["k"]));
        assert!(blocked.unblock(7, Unblock::Error));
        assert_eq!(
            is_woken(&ticket).await,
            Some(Wake::Unblocked(Unblock::Error))
        );
        drop(ticket);
        assert!(!blocked.unblock(7, Unblock::Timeout));
        assert_eq!(blocked.queued.load(Ordering::Relaxed), 0);
        assert!(blocked.lock().by_key.is_empty());
    }
}
