//! The coordinator node: accepts clients, runs two-phase commit, routes
//! reads, and keeps the participants' membership. It owns no user data; its
//! only durable state is the decision log ([`decisions`]).
//!
//! - [`txn`]: the 2PC driver and read routing.
//! - [`membership`]: who is live, eviction and the lease fence.
//! - [`recovery`]: connecting, in-doubt resolution, founding and catch-up.
//! - [`combine`]: client writes (reads) that arrive together share one
//!   round (one read).
//! - [`locks`]: per-key FIFO locks held across a round.
//! - [`expirer`]: deletes expired keys in the background.

pub mod combine;
pub mod decisions;
pub mod expirer;
pub mod locks;
pub mod membership;
pub mod recovery;
pub mod txn;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use crate::command::connection::ServerFacts;
use crate::command::op::{Outcome, ReadOp, WriteOp};
use crate::command::server::{Keyspace, NodeInfo, WaitRequest};
use crate::config::Config;
use crate::resp::reply::Reply;
use crate::rpc::message::{Request, Response};
use crate::session::{self, Backend, Clients};
use crate::storage::Store;
use decisions::Decisions;
use locks::KeyLocks;
use membership::Membership;

/// With an empty decision log, how long founding waits for every
/// participant to report before choosing among those that did.
const BOOTSTRAP_WAIT: Duration = Duration::from_secs(2);

/// How often the decision log is trimmed to `log_retention` indices.
const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// The coordinator's shared state.
pub struct Coordinator {
    /// Itself, for the tasks that run combined rounds.
    me: std::sync::Weak<Coordinator>,
    combiner: combine::Combiner,
    config: Config,
    decisions: Decisions,
    membership: Arc<Membership>,
    locks: KeyLocks,
    /// Transactions hold it shared until their commits are acknowledged; a
    /// joining participant takes it exclusively for its final catch-up step.
    gate: Arc<RwLock<()>>,
    /// Serialises joins and founding.
    join_lock: Mutex<()>,
    /// What CONFIG SET changed.
    runtime_config: crate::command::server::RuntimeConfig,
    /// Held by a round from taking its index until its votes are in (or,
    /// if it aborts, until its ABORT is durable): rounds prepare one at a
    /// time, in index order (see [`txn`]).
    preparing: Mutex<()>,
    /// Before this, founding waits for every participant to report.
    bootstrap_deadline: Instant,
    clients: Arc<Clients>,
    /// Keys the background expirer has deleted (INFO's `expired_keys`).
    expired_keys: std::sync::atomic::AtomicU64,
}

/// Runs a coordinator until the process is killed.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config.data_dir, config.fsync)
        .with_context(|| format!("opening {}", config.data_dir.display()))?;
    let decisions = Decisions::open(store).await?;
    let addr = config.listen_addr();
    let listener = crate::net::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let coordinator = Arc::new_cyclic(|me| Coordinator {
        me: me.clone(),
        combiner: combine::Combiner::default(),
        membership: Arc::new(Membership::new(
            &config.participants,
            config.lease,
            // Clock-rate drift over one lease, with room to spare.
            config.lease / 50 + Duration::from_millis(20),
        )),
        decisions,
        locks: KeyLocks::default(),
        gate: Arc::new(RwLock::new(())),
        join_lock: Mutex::new(()),
        runtime_config: Default::default(),
        preparing: Mutex::new(()),
        bootstrap_deadline: Instant::now() + BOOTSTRAP_WAIT,
        clients: Clients::start(),
        expired_keys: Default::default(),
        config,
    });
    for slot in 0..coordinator.membership.len() {
        tokio::spawn(coordinator.clone().manage(slot));
    }
    tokio::spawn(coordinator.clone().expire_forever());
    tokio::spawn(coordinator.clone().trim_forever());
    tracing::info!(%addr, "coordinator ready");
    let settings = Arc::new(session::Settings::from_config(&coordinator.config));
    loop {
        let (stream, _) = crate::net::accept(&listener).await;
        tokio::spawn(session::serve_client(
            stream,
            coordinator.clone(),
            coordinator.clients.clone(),
            settings.clone(),
        ));
    }
}

impl Coordinator {
    /// Keeps the decision log to the last `log_retention` indices.
    async fn trim_forever(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(TRIM_INTERVAL);
        loop {
            ticker.tick().await;
            match self.decisions.trim(self.config.log_retention).await {
                Ok(0) => {}
                Ok(dropped) => tracing::debug!(dropped, "decision log trimmed"),
                Err(e) => tracing::warn!("decision log trim failed: {e}"),
            }
        }
    }
}

impl Backend for Coordinator {
    async fn digest(&self) -> Reply {
        let mut lines = Vec::new();
        for member in self.membership.live() {
            let addr = self.membership.addr(member.slot);
            let line = match member
                .client
                .call(&Request::Digest, self.answer_timeout(true))
                .await
            {
                Ok(Response::Digest {
                    digest,
                    keys,
                    watermark,
                }) => format!("{addr} {digest:016x} keys={keys} watermark={watermark}"),
                Ok(other) => format!("{addr} error {other:?}"),
                Err(e) => format!("{addr} error {e}"),
            };
            lines.push(Reply::Bulk(Bytes::from(line)));
        }
        Reply::Array(lines)
    }

    async fn write(&self, op: WriteOp) -> Result<Outcome, String> {
        self.execute_write(op).await.map_err(|e| e.to_string())
    }

    async fn read(&self, op: ReadOp) -> Result<Outcome, String> {
        self.execute_read(op).await.map_err(|e| e.to_string())
    }

    /// Every write acknowledged so far is durably prepared on every live
    /// participant, its commit decided and sent (see [`txn`]), and a
    /// participant is live again only after catching up with all of them
    /// ([`recovery`]): so the replicas holding a client's writes are the
    /// live participants.
    async fn replicas_with_writes(&self, request: WaitRequest) -> Result<u64, String> {
        let wait = request.check().map_err(|e| e.to_string())?;
        let live = self
            .membership
            .await_live(wait.numreplicas, wait.timeout)
            .await;
        Ok(u64::try_from(live).unwrap_or(u64::MAX))
    }

    async fn keyspace(&self) -> Result<Keyspace, String> {
        Keyspace::from_outcome(self.read(ReadOp::KeyspaceStats).await?)
    }
}

impl ServerFacts for Coordinator {
    fn role(&self) -> &'static str {
        "master"
    }

    fn config_values(&self) -> Vec<(&'static str, String)> {
        crate::participant::config_values(&self.config)
    }

    fn runtime_config(&self) -> &crate::command::server::RuntimeConfig {
        &self.runtime_config
    }

    fn node_info(&self) -> NodeInfo {
        let mut info = NodeInfo::new("coordinator", &self.config, self.clients.counters());
        info.expired_keys = self.expired_keys.load(std::sync::atomic::Ordering::Relaxed);
        info.replication = vec![
            ("role".into(), "master".into()),
            (
                "connected_slaves".into(),
                self.membership.live().len().to_string(),
            ),
            (
                "kvstore_last_index".into(),
                self.decisions.last_index().to_string(),
            ),
        ];
        info.replication.extend(self.membership.describe());
        info
    }
}
