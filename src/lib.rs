//! kvstore2pcsystem: a durable, replicated key-value store that speaks the
//! Redis protocol.
//!
//! One coordinator accepts RESP clients and runs two-phase commit (2PC)
//! against a set of participants, each of which keeps a full replica of the
//! data in fjall. The crate is laid out as the stack it implements:
//!
//! - [`config`]: the Lab3 configuration file and our extension keys.
//! - [`resp`]: the client-facing RESP front end (framing, connection, reply
//!   dialects). It knows nothing about storage or replication.
//! - [`command`]: parsing client requests into typed commands, and the pure
//!   evaluation of those commands against a replica's data.
//! - [`rpc`]: the internal binary protocol between coordinator and
//!   participants (handshake, framing, multiplexed client).
//! - [`storage`]: everything on disk, in one fjall database per node, with a
//!   group-committing writer thread.
//! - [`coordinator`]: transactions, the 2PC driver, membership, read routing
//!   and recovery.
//! - [`participant`]: the replica: prepare/commit/abort, reads, catch-up.
//! - [`raft`]: the Raft mode's consensus plumbing (openraft's log store and
//!   state machine in the node's fjall database). Not serving yet.
//! - [`session`]: one client connection, from request to reply, over a
//!   backend (the coordinator or a participant); [`blocked`]: the queues
//!   of its clients blocked in BLPOP and the other blocking pops.
//!
//! `main.rs` only parses the command line and hands the config to [`run`].

pub mod blocked;
pub mod command;
pub mod config;
pub mod coordinator;
pub mod net;
pub mod participant;
pub mod raft;
pub mod resp;
pub mod rpc;
pub mod session;
pub mod storage;

use config::{Config, Mode};

/// Runs the node described by `config` until the process is killed.
///
/// Also makes `config`'s cluster secret the process-wide one
/// ([`rpc::codec::set_process_secret`]) that outgoing internal connections
/// prove, unless an earlier call already set it (one process, one node).
pub async fn run(config: Config) -> anyhow::Result<()> {
    rpc::codec::set_process_secret(config.cluster_secret.as_deref().map(str::as_bytes));
    match config.mode {
        Mode::Coordinator => coordinator::run(config).await,
        Mode::Participant => participant::run(config).await,
        Mode::Raft => anyhow::bail!(
            "Raft mode (kvstoreraftsystem) is not yet serving: only its storage exists so far"
        ),
    }
}
