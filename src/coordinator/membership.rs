//! Which participants are in the write set, and the lease fence.
//!
//! Each configured participant has a slot moving through phases:
//! `Down` (no connection) → `Ready` (connected, status known, waiting to
//! join) → `Live` (caught up; receives every prepare and commit, serves
//! reads). A participant leaves `Live` only by eviction:
//!
//! - its connection *closed* (the peer's kernel sent FIN/RST: the process
//!   is gone, so it serves nothing) — evicted at once;
//! - it *timed out* — it may be alive behind a partition and still serving
//!   direct reads under its lease. It leaves the write set at once, but no
//!   write is acknowledged to any client until that lease has surely
//!   expired (the *fence*): otherwise a direct read there could miss an
//!   acknowledged write.
//!
//! The fence is kept per participant as a *lease bound*: the latest moment
//! it may still hold a lease while not receiving our writes. A coordinator
//! that just started does not know what leases its predecessor granted, so
//! every bound starts at `start + lease + margin`; it is cleared as soon as
//! the participant acknowledges a revoking heartbeat (the first thing we
//! send on a new connection), so in practice a restart costs no wait.
//!
//! The lease a participant holds runs from a moment no later than when we
//! sent the heartbeat that granted it (see the participant module docs), so
//! our bound — the last send time plus the lease, plus a small margin for
//! clock-rate drift — holds however long messages take in the network.
//!
//! # Waiting for members
//!
//! Every move into or out of `Live` bumps a watch channel, so a client
//! waiting for enough live participants (WAIT, [`Membership::await_live`])
//! wakes when the write set changes rather than polling it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::rpc::{ParticipantStatus, RpcClient, RpcError};

/// Where a participant stands with the coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not connected.
    Down,
    /// Connected and reported its status; not yet in the write set.
    Ready,
    /// In the write set.
    Live,
}

struct SlotState {
    phase: Phase,
    client: Option<RpcClient>,
    status: Option<ParticipantStatus>,
    last_heartbeat_sent: Option<Instant>,
    /// Latest moment it may hold a lease while outside the write set.
    lease_bound: Option<Instant>,
}

/// One configured participant.
pub struct Slot {
    /// Its address.
    pub addr: SocketAddr,
    state: Mutex<SlotState>,
}

/// A live participant as a transaction sees it.
#[derive(Clone)]
pub struct Member {
    /// Slot number.
    pub slot: usize,
    /// Its connection.
    pub client: RpcClient,
}

/// Why a participant is evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// The connection closed: the process is gone.
    Closed,
    /// No answer in time: it may be alive and holding a lease.
    Timeout,
    /// It answered something that means it cannot continue as a member.
    Refused,
}

/// How a failed call reflects on its participant: a timeout may hide a
/// live participant still holding a lease; anything else means its
/// connection is gone.
pub fn eviction_for(e: &RpcError) -> Eviction {
    match e {
        RpcError::Timeout => Eviction::Timeout,
        _ => Eviction::Closed,
    }
}

/// The membership table.
pub struct Membership {
    slots: Vec<Slot>,
    lease: Duration,
    drift_margin: Duration,
    next_reader: AtomicUsize,
    /// Bumped whenever a slot enters or leaves `Live`.
    changed: watch::Sender<()>,
}

impl Membership {
    /// A table with every participant `Down`.
    pub fn new(addrs: &[SocketAddr], lease: Duration, drift_margin: Duration) -> Membership {
        Membership {
            slots: addrs
                .iter()
                .map(|addr| Slot {
                    addr: *addr,
                    state: Mutex::new(SlotState {
                        phase: Phase::Down,
                        client: None,
                        status: None,
                        last_heartbeat_sent: None,
                        lease_bound: Some(Instant::now() + lease + drift_margin),
                    }),
                })
                .collect(),
            lease,
            drift_margin,
            next_reader: AtomicUsize::new(0),
            changed: watch::Sender::new(()),
        }
    }

    /// Wakes whoever waits for the write set to change.
    fn bump(&self) {
        self.changed.send_replace(());
    }

    fn slot(&self, i: usize) -> MutexGuard<'_, SlotState> {
        // Each mutation is a few plain stores: a poisoned lock still holds
        // a consistent slot.
        self.slots[i]
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Number of configured participants.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no participant is configured.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Address of slot `i`.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.slots[i].addr
    }

    /// Phase of slot `i`.
    pub fn phase(&self, i: usize) -> Phase {
        self.slot(i).phase
    }

    /// The live members, in slot order.
    pub fn live(&self) -> Vec<Member> {
        (0..self.slots.len())
            .filter_map(|i| {
                let s = self.slot(i);
                match (&s.phase, &s.client) {
                    (Phase::Live, Some(c)) => Some(Member {
                        slot: i,
                        client: c.clone(),
                    }),
                    _ => None,
                }
            })
            .collect()
    }

    /// The number of live participants once it is at least `n`, or, if
    /// that has not happened within `timeout` (`None`: no limit), the
    /// number live then.
    pub async fn await_live(&self, n: i64, timeout: Option<Duration>) -> usize {
        let enough = async {
            // Subscribed before the first look: a change between a look
            // and the wait after it still wakes us.
            let mut changed = self.changed.subscribe();
            loop {
                let live = self.live().len();
                if i64::try_from(live).is_ok_and(|live| live >= n) {
                    return live;
                }
                if changed.changed().await.is_err() {
                    // Unreachable: the sender lives as long as `self`.
                    return self.live().len();
                }
            }
        };
        match timeout {
            None => enough.await,
            // A timeout too far to represent waits without limit (tokio
            // clamps it).
            Some(t) => tokio::time::timeout(t, enough)
                .await
                .unwrap_or_else(|_| self.live().len()),
        }
    }

    /// Live members rotated so reads spread over them; the first is the
    /// preferred reader, the rest are failovers.
    pub fn readers(&self) -> Vec<Member> {
        let mut live = self.live();
        if !live.is_empty() {
            let n = self.next_reader.fetch_add(1, Ordering::Relaxed) % live.len();
            live.rotate_left(n);
        }
        live
    }

    /// Slots that are connected and waiting to join, with their status.
    pub fn ready(&self) -> Vec<(usize, RpcClient, ParticipantStatus)> {
        (0..self.slots.len())
            .filter_map(|i| {
                let s = self.slot(i);
                match (&s.phase, &s.client, &s.status) {
                    (Phase::Ready, Some(c), Some(st)) => Some((i, c.clone(), st.clone())),
                    _ => None,
                }
            })
            .collect()
    }

    /// Records a fresh connection and status for slot `i`.
    pub fn set_ready(&self, i: usize, client: RpcClient, status: ParticipantStatus) {
        let mut s = self.slot(i);
        let was_live = s.phase == Phase::Live;
        s.phase = Phase::Ready;
        s.client = Some(client);
        s.status = Some(status);
        drop(s);
        if was_live {
            self.bump();
        }
    }

    /// Updates the remembered status of slot `i`.
    pub fn set_status(&self, i: usize, status: ParticipantStatus) {
        self.slot(i).status = Some(status);
    }

    /// Puts slot `i` into the write set.
    pub fn set_live(&self, i: usize) {
        let mut s = self.slot(i);
        if s.client.is_some() {
            s.phase = Phase::Live;
            drop(s);
            self.bump();
            tracing::info!(participant = %self.slots[i].addr, "participant is live");
        }
    }

    /// Notes that a heartbeat is about to go to slot `i`.
    pub fn heartbeat_sent(&self, i: usize) {
        self.slot(i).last_heartbeat_sent = Some(Instant::now());
    }

    /// Takes slot `i` out of the membership, if `client` is still its
    /// connection (a stale failure report about an older connection is
    /// ignored).
    pub fn evict(&self, i: usize, client: &RpcClient, why: Eviction, detail: &str) {
        let mut s = self.slot(i);
        let current = s.client.as_ref().is_some_and(|c| c.same_connection(client));
        if !current {
            return;
        }
        let was_live = s.phase == Phase::Live;
        if let Some(c) = s.client.take() {
            c.close();
        }
        s.phase = Phase::Down;
        s.status = None;
        if was_live {
            s.lease_bound = match (why, s.last_heartbeat_sent) {
                // Its process is gone: so is any lease it held.
                (Eviction::Closed, _) => None,
                (_, Some(sent)) => Some(sent + self.lease + self.drift_margin),
                (_, None) => Some(Instant::now() + self.lease + self.drift_margin),
            };
        }
        drop(s);
        if was_live {
            self.bump();
            tracing::warn!(participant = %self.slots[i].addr, ?why, detail, "participant evicted");
        }
    }

    /// Records that slot `i` acknowledged a revoking heartbeat: it holds no
    /// lease now, and gets none until it is live again.
    pub fn lease_revoked(&self, i: usize) {
        self.slot(i).lease_bound = None;
    }

    /// Waits until no participant outside the write set can still hold a
    /// lease. Every write waits here before it is acknowledged.
    pub async fn fence(&self) {
        let now = Instant::now();
        let until = (0..self.slots.len())
            .filter_map(|i| {
                let s = self.slot(i);
                if s.phase == Phase::Live {
                    None
                } else {
                    s.lease_bound.filter(|t| *t > now)
                }
            })
            .max();
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    /// One INFO field per participant: `participantN` and
    /// `addr=…,state=…,watermark=…,max_applied=…`.
    pub fn describe(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let s = self.slot(i);
            let (w, m) = s
                .status
                .as_ref()
                .map_or((0, 0), |st| (st.watermark, st.max_applied));
            out.push((
                format!("participant{i}"),
                format!(
                    "addr={},state={},watermark={w},max_applied={m}",
                    slot.addr,
                    match s.phase {
                        Phase::Down => "down",
                        Phase::Ready => "joining",
                        Phase::Live => "live",
                    }
                ),
            ));
        }
        out
    }
}
