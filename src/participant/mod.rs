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

pub mod replica;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use tokio::time::Instant;

use crate::command::connection::ServerFacts;
use crate::command::op::{Outcome, ReadOp, WriteOp};
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
/// commit. Short: the coordinator only sends it once that one is decided,
/// so a long wait means an in-doubt leftover, and the coordinator must get
/// a NO vote well before its own timeout evicts us.
const PREPARE_WAIT: Duration = Duration::from_millis(300);

struct Node {
    config: Config,
    replica: Replica,
    clients: Arc<Clients>,
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
        clients: Arc::new(Clients::default()),
    });

    let trimmer = node.replica.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            if let Err(e) = trimmer.trim_log().await {
                tracing::warn!("log trim failed: {e}");
            }
        }
    });

    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors and the like: back off, keep serving.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let node = node.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, node).await {
                tracing::info!(%peer, "connection ended: {e}");
            }
        });
    }
}

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
        codec_serve(stream, replica).await?;
    } else {
        let settings = Arc::new(session::Settings::from_config(&node.config));
        session::serve_client(stream, node.clone(), node.clients.clone(), settings).await;
    }
    Ok(())
}

/// Numbers internal connections, so the replica can tell the coordinator's
/// current connection from older ones.
static NEXT_CONNECTION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

async fn codec_serve(stream: TcpStream, replica: Replica) -> anyhow::Result<()> {
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
                request => handle(&replica, request).await,
            }
        }
    })
    .await?;
    Ok(())
}

/// Answers one internal request (heartbeats are answered per connection,
/// in [`codec_serve`]).
async fn handle(replica: &Replica, request: Request) -> Response {
    let result = match request {
        Request::Heartbeat { .. } => Ok(Response::Status(replica.status())),
        Request::Status => Ok(Response::Status(replica.status())),
        Request::Prepare { txid, op } => replica
            .prepare(txid, op, PREPARE_WAIT)
            .await
            .map(Response::Vote),
        Request::Commit { txid, index } => {
            replica.commit(txid, index).await.map(|()| Response::Ack)
        }
        Request::Abort { txid } => replica.abort(txid).await.map(|()| Response::Ack),
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

    fn info_sections(&self) -> String {
        let status = self.replica.status();
        format!(
            "# Replication\r\nrole:slave\r\nkvstore_lease_valid:{}\r\nkvstore_watermark:{}\r\nkvstore_max_applied:{}\r\nkvstore_in_doubt:{}\r\n\r\n",
            u8::from(self.replica.holds_lease()),
            status.watermark,
            status.max_applied,
            status.prepared.len()
        )
    }

    fn config_values(&self) -> Vec<(&'static str, String)> {
        config_values(&self.config)
    }

    fn connected_clients(&self) -> usize {
        self.clients.connected()
    }
}

/// CONFIG GET values common to both roles.
pub fn config_values(config: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("save", String::new()),
        ("appendonly", "no".into()),
        (
            "appendfsync",
            match config.fsync {
                crate::config::FsyncPolicy::Always => "always",
                crate::config::FsyncPolicy::Everysec => "everysec",
                crate::config::FsyncPolicy::No => "no",
            }
            .into(),
        ),
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

    async fn read(&self, op: ReadOp) -> Result<Outcome, String> {
        if !self.replica.holds_lease() {
            return Err(
                "CLUSTERDOWN this participant holds no lease from the coordinator; read through the coordinator"
                    .into(),
            );
        }
        self.replica
            .read(op, READ_WAIT)
            .await
            .map_err(|e| format!("ERR {e}"))
    }
}
