//! The participant node: a full replica that votes in two-phase commit.
//!
//! One listening port serves two kinds of peer, told apart by the first
//! byte of a connection: the coordinator speaks the internal protocol
//! (which starts with a NUL byte of its magic), clients speak RESP. Clients
//! may read here directly, but only while this replica holds a lease
//! renewed by the coordinator's heartbeats — so a direct read is never
//! staler than a read through the coordinator — and never write (they get
//! Redis's READONLY error, as from a replica).
//!
//! The replication logic lives in [`replica`]; this module wires sockets to
//! it and must not make decisions about outcomes.
//!
//! # Where a lease starts
//!
//! The coordinator heartbeats each connection strictly one after another: it
//! sends the next heartbeat only after the answer to the previous one
//! arrived. So the moment we *answered* the previous heartbeat on a
//! connection is no later than the moment the coordinator sent the current
//! one. Leases run from that moment, which keeps them inside the
//! coordinator's bound (its send time plus the lease) without assuming
//! anything about network delay — only that clocks tick at about the same
//! rate. The first heartbeat on a connection grants nothing.
//!
//! # Expiry in direct reads
//!
//! A direct read is judged at this participant's own clock (it is stamped
//! here, not by the coordinator, which may be down). With clocks in step
//! that is the coordinator's verdict; a participant whose clock runs ahead
//! hides a key a little before the coordinator would, one whose clock lags
//! shows it a little after. The background expirer's deletes, like every
//! write, use the coordinator's clock.

pub mod replica;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use tokio::time::Instant;

use crate::command::connection::ServerFacts;
use crate::command::op::{Outcome, ReadOp, WriteOp};
use crate::command::server::{self, Keyspace, NodeInfo, WaitRequest};
use crate::config::Config;
use crate::net::TcpStream;
use crate::resp::reply::Reply;
use crate::rpc::codec;
use crate::rpc::message::{Request, Response};
use crate::session::{self, Backend, Clients};
use crate::storage::Store;
use replica::Replica;

/// How long a new connection may stay silent before we drop it.
const FIRST_BYTE_WAIT: Duration = Duration::from_secs(60);

/// How long a read waits for the outcome of a prepared transaction on its
/// key before giving up.
const READ_WAIT: Duration = Duration::from_secs(5);
/// How long a prepare waits for the previous transaction on its keys to
/// commit, at most. The coordinator sends the next prepare on a key once the
/// previous round's votes are in, before that round's record is surely
/// durable, so this wait covers the rest of the coordinator's fsync and the
/// commit's trip: generous, because a NO vote here is an error for the client (at
/// 300 ms a loaded machine failed MSETs under redis-benchmark). It stays
/// below the coordinator's call timeout (see [`prepare_wait`]) so that a key
/// held by a leftover the coordinator never resolves gets a NO vote rather
/// than an eviction.
const PREPARE_WAIT: Duration = Duration::from_secs(3);

/// The prepare wait for a node whose calls time out after `rpc_timeout`.
fn prepare_wait(rpc_timeout: Duration) -> Duration {
    PREPARE_WAIT.min(rpc_timeout / 2)
}

struct Node {
    config: Config,
    replica: Replica,
    clients: Arc<Clients>,
    /// What CONFIG SET changed.
    runtime_config: crate::command::server::RuntimeConfig,
}

/// Runs a participant until the process is killed.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config.data_dir, config.fsync)
        .with_context(|| format!("opening {}", config.data_dir.display()))?;
    let replica = Replica::recover(store, config.log_retention)?;
    let addr = config.listen_addr();
    let listener = crate::net::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "participant ready");
    let node = Arc::new(Node {
        config,
        replica,
        clients: Clients::start(),
        runtime_config: Default::default(),
    });

    let trimmer = node.replica.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            if let Err(e) = trimmer.checkpoint_and_trim().await {
                tracing::warn!("checkpoint or log trim failed: {e}");
            }
        }
    });

    // Sweeps the elements of dead collection versions: busy while there is
    // garbage, idle otherwise. Per node, invisible to clients.
    let sweeper = node.replica.clone();
    tokio::spawn(async move {
        loop {
            match sweeper.sweep_garbage(SWEEP_BUDGET).await {
                Ok(n) if n >= SWEEP_BUDGET => tokio::task::yield_now().await,
                Ok(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                Err(e) => {
                    tracing::warn!("garbage sweep failed: {e}");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    });

    loop {
        let (stream, peer) = crate::net::accept(&listener).await;
        let node = node.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, node).await {
                tracing::info!(%peer, "connection ended: {e}");
            }
        });
    }
}

/// Element records one garbage sweep deletes at most (one batch).
const SWEEP_BUDGET: usize = 10_000;

async fn serve_connection(mut stream: TcpStream, node: Arc<Node>) -> anyhow::Result<()> {
    let mut first = [0u8; 1];
    // A peer that connects and says nothing must not hold a descriptor for
    // ever: RESP clients and the coordinator both speak first.
    match tokio::time::timeout(FIRST_BYTE_WAIT, stream.peek(&mut first)).await {
        Ok(Ok(0)) | Err(_) => return Ok(()),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e.into()),
    }
    if first[0] == codec::MAGIC[0] {
        let _ = stream.set_nodelay(true);
        let secret = node.config.cluster_secret.as_deref().map(str::as_bytes);
        if let Err(e) = codec::handshake_accept(&mut stream, secret).await {
            let peer = stream.peer_addr().ok();
            tracing::warn!(?peer, "refused an internal-protocol connection: {e}");
            return Ok(());
        }
        let replica = node.replica.clone();
        codec_serve(stream, replica, prepare_wait(node.config.rpc_timeout)).await?;
    } else {
        let settings = Arc::new(session::Settings::from_config(&node.config));
        session::serve_client(stream, node.clone(), node.clients.clone(), settings).await;
    }
    Ok(())
}

/// Numbers internal connections, so the replica can tell the coordinator's
/// current connection from older ones.
static NEXT_CONNECTION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

async fn codec_serve(
    stream: TcpStream,
    replica: Replica,
    prepare_wait: Duration,
) -> anyhow::Result<()> {
    let connection = NEXT_CONNECTION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // When we last answered a heartbeat on this connection.
    let last_answer: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    crate::rpc::server::serve(stream, move |request| {
        let replica = replica.clone();
        let last_answer = last_answer.clone();
        async move {
            match request {
                Request::Heartbeat { lease_ms, member } => {
                    if !member {
                        // A coordinator's first word on a new connection.
                        replica.claim(connection);
                    }
                    let mut last = last_answer.lock().unwrap_or_else(|e| e.into_inner());
                    replica.heartbeat(Duration::from_millis(lease_ms), member, *last);
                    let status = replica.status();
                    *last = Some(Instant::now());
                    Response::Status(status)
                }
                Request::Prepare { .. } | Request::Commit { .. } | Request::Abort { .. }
                    if !replica.is_current(connection) =>
                {
                    Response::Error("stale coordinator connection: transaction refused".into())
                }
                request => handle(&replica, request, prepare_wait).await,
            }
        }
    })
    .await?;
    Ok(())
}

/// Answers one internal request (heartbeats are answered per connection,
/// in [`codec_serve`]).
async fn handle(replica: &Replica, request: Request, prepare_wait: Duration) -> Response {
    let result = match request {
        Request::Heartbeat { .. } => Ok(Response::Status(replica.status())),
        Request::Status => Ok(Response::Status(replica.status())),
        Request::Prepare { txid, op } => replica
            .prepare(txid, op, prepare_wait)
            .await
            .map(Response::Vote),
        // Queued, not awaited: the COMMIT is one-way (see Replica::commit).
        Request::Commit { txid, index } => replica.commit(txid, index).map(|_| Response::Ack),
        // The voided index is queued, not awaited, as a commit is.
        Request::Abort { txid, void } => replica.abort(txid).await.and_then(|()| match void {
            Some(index) => replica.void(index).map(|_| Response::Ack),
            None => Ok(Response::Ack),
        }),
        Request::Lookup { txid } => replica.lookup(txid).await.map(Response::Committed),
        Request::Read { op } => replica.read(op, READ_WAIT).await.map(Response::Read),
        Request::FetchLog { after, limit } => {
            replica
                .fetch_log(after, limit)
                .await
                .map(|(entries, complete, watermark)| Response::Log {
                    entries,
                    complete,
                    watermark,
                })
        }
        Request::ApplyLog { entries, up_to } => replica
            .apply_log(entries, up_to)
            .await
            .map(|_| Response::Ack),
        Request::ScanData { after, limit } => replica
            .scan(after, limit)
            .await
            .map(|(pairs, watermark)| Response::Data { pairs, watermark }),
        Request::InstallData {
            reset,
            pairs,
            finish,
        } => replica
            .install(reset, pairs, finish)
            .await
            .map(|()| Response::Ack),
        Request::Settle { up_to } => replica.settle(up_to).await.map(|()| Response::Ack),
        Request::ExpiredKeys { now_ms, limit } => replica
            .expired_keys(now_ms, limit)
            .await
            .map(Response::Keys),
        Request::Digest => {
            replica
                .digest()
                .await
                .map(|(digest, keys, watermark)| Response::Digest {
                    digest,
                    keys,
                    watermark,
                })
        }
    };
    result.unwrap_or_else(|e| Response::Error(e.to_string()))
}

impl ServerFacts for Node {
    fn role(&self) -> &'static str {
        "replica"
    }

    fn config_values(&self) -> Vec<(&'static str, String)> {
        config_values(&self.config)
    }

    fn runtime_config(&self) -> &crate::command::server::RuntimeConfig {
        &self.runtime_config
    }

    fn node_info(&self) -> NodeInfo {
        let status = self.replica.status();
        let lease = self.replica.holds_lease();
        let mut info = NodeInfo::new("participant", &self.config, self.clients.counters());
        let coordinator = self.config.coordinator;
        info.replication = [
            ("role", "slave".to_owned()),
            ("master_host", coordinator.ip().to_string()),
            ("master_port", coordinator.port().to_string()),
            // Up while the coordinator's heartbeats keep our lease.
            (
                "master_link_status",
                if lease { "up" } else { "down" }.into(),
            ),
            ("kvstore_lease_valid", u8::from(lease).to_string()),
            ("kvstore_watermark", status.watermark.to_string()),
            ("kvstore_max_applied", status.max_applied.to_string()),
            ("kvstore_in_doubt", status.prepared.len().to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        info
    }
}

/// CONFIG GET values common to both roles.
pub fn config_values(config: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("save", String::new()),
        ("appendonly", "no".into()),
        ("appendfsync", config.fsync.name().into()),
        ("databases", "1".into()),
        ("maxclients", config.maxclients.to_string()),
        ("proto-max-bulk-len", config.proto_max_bulk_len.to_string()),
        (
            "client-query-buffer-limit",
            config.client_query_buffer_limit.to_string(),
        ),
        (
            "timeout",
            config.idle_timeout.map_or(0, |t| t.as_secs()).to_string(),
        ),
        ("port", config.listen_addr().port().to_string()),
    ]
}

impl Backend for Node {
    async fn digest(&self) -> Reply {
        match self.replica.digest().await {
            Ok((digest, _, _)) => Reply::Bulk(Bytes::from(format!("{digest:016x}"))),
            Err(e) => Reply::Error(format!("ERR {e}")),
        }
    }

    async fn write(&self, _op: WriteOp) -> Result<Outcome, String> {
        Err("READONLY You can't write against a read only replica.".into())
    }

    /// Refused, as a Redis replica refuses it: clients write through the
    /// coordinator, and WAIT belongs there.
    async fn replicas_with_writes(&self, _request: WaitRequest) -> Result<u64, String> {
        Err(server::WAIT_ON_REPLICA_ERROR.into())
    }

    /// This replica's own count, lease or not: INFO describes the node,
    /// it is not a linearizable read.
    async fn keyspace(&self) -> Result<Keyspace, String> {
        // Judged at this participant's clock, as a direct read is.
        let op = ReadOp::KeyspaceStats.stamp(crate::command::unix_time_ms());
        match self.replica.read(op, READ_WAIT).await {
            Ok(outcome) => Keyspace::from_outcome(outcome),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn read(&self, op: ReadOp) -> Result<Outcome, String> {
        const NO_LEASE: &str = "CLUSTERDOWN this participant holds no lease from the coordinator; read through the coordinator";
        let Some(period) = self.replica.lease() else {
            return Err(NO_LEASE.into());
        };
        // Judged by our own clock: the coordinator may be down, and a
        // direct read must not wait for it (README, "Expiry and clocks").
        let op = op.stamp(crate::command::unix_time_ms());
        let outcome = self
            .replica
            .read(op, READ_WAIT)
            .await
            .map_err(|e| format!("ERR {e}"))?;
        // Still the same lease once read (see `Replica::lease`): a read
        // that waited out its lease on a locked key answers nothing.
        if self.replica.lease() != Some(period) {
            return Err(NO_LEASE.into());
        }
        Ok(outcome)
    }
}
