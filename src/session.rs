//! One client connection: read requests, run commands, write replies.
//!
//! Shared by the coordinator (which replicates writes) and the participants
//! (which serve reads directly and refuse writes). Requests on a connection
//! are executed in order; replies to pipelined requests are queued and
//! written together once no further complete request is buffered, so a
//! pipeline of a thousand commands costs a handful of system calls.
//! This module never touches storage or replication itself: it calls its
//! [`Backend`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::net::TcpStream;

use crate::command::connection::{self, ClientState, ServerFacts};
use crate::command::op::{Outcome, ReadOp, WriteOp};
use crate::command::{self, Command};
use crate::config::Dialect;
use crate::resp::connection::{Connection, ConnectionError};
use crate::resp::frame::Limits;
use crate::resp::reply::{Protocol, Reply, Style};

/// What executes commands that touch data.
pub trait Backend: ServerFacts + Send + Sync + 'static {
    /// Runs a write; `Err` carries the full error reply text.
    fn write(&self, op: WriteOp) -> impl Future<Output = Result<Outcome, String>> + Send;
    /// Runs a read; `Err` carries the full error reply text.
    fn read(&self, op: ReadOp) -> impl Future<Output = Result<Outcome, String>> + Send;
    /// `DEBUG DIGEST`: the digest of this node's data (a participant) or of
    /// every live replica (the coordinator).
    fn digest(&self) -> impl Future<Output = Reply> + Send;
}

/// Per-node client bookkeeping: ids and the connected count.
#[derive(Default)]
pub struct Clients {
    next_id: AtomicU64,
    connected: AtomicUsize,
}

impl Clients {
    /// Number of connected clients.
    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }
}

/// Turns a replica's outcome into a reply. The Lab dialect answers a
/// multi-word value word by word (`*2\r\n$5\r\nCloud\r\n$9\r\nComputing\r\n`).
pub fn outcome_reply(outcome: Outcome, dialect: Dialect) -> Reply {
    match outcome {
        Outcome::Ok => Reply::ok(),
        Outcome::Integer(n) => Reply::Integer(n),
        Outcome::Value(Some(v)) if dialect == Dialect::Lab && v.contains(&b' ') => Reply::Array(
            v.split(|b| *b == b' ')
                .map(|word| Reply::Bulk(v.slice_ref(word)))
                .collect(),
        ),
        Outcome::Value(Some(v)) => Reply::Bulk(v),
        Outcome::Value(None) => Reply::Nil,
        Outcome::Error(e) => Reply::Error(e),
    }
}

/// Serves one client until it disconnects, sends QUIT, or breaks the protocol.
pub async fn serve_client<B: Backend>(
    stream: TcpStream,
    backend: Arc<B>,
    clients: Arc<Clients>,
    dialect: Dialect,
    limits: Limits,
    maxclients: usize,
) {
    let _ = stream.set_nodelay(true);
    let id = clients.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    let count = clients.connected.fetch_add(1, Ordering::Relaxed) + 1;
    let mut conn = Connection::new(stream, limits);
    let mut client = ClientState {
        id,
        name: None,
        protocol: Protocol::Resp2,
        closing: false,
    };
    let style = |c: &ClientState| match dialect {
        Dialect::Lab => Style::Lab,
        Dialect::Redis => Style::Redis(c.protocol),
    };
    if count > maxclients {
        conn.queue(
            &Reply::error("ERR max number of clients reached"),
            style(&client),
        );
        let _ = conn.flush().await;
        clients.connected.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    loop {
        let args = match conn.read_request().await {
            Ok(Some(args)) => args,
            Ok(None) => break,
            Err(ConnectionError::Protocol(text)) => {
                conn.queue(&Reply::Error(text), style(&client));
                let _ = conn.flush().await;
                break;
            }
            Err(_) => break,
        };
        let to_reply = |o| outcome_reply(o, dialect);
        let reply = match command::parse(&args, dialect) {
            Err(e) => Reply::Error(e.to_string()),
            Ok(Command::Write(op)) => backend.write(op).await.map_or_else(Reply::Error, to_reply),
            Ok(Command::Read(op)) => backend.read(op).await.map_or_else(Reply::Error, to_reply),
            Ok(Command::DebugDigest) => backend.digest().await,
            Ok(Command::Session(cmd)) => connection::apply(cmd, &mut client, backend.as_ref()),
        };
        conn.queue(&reply, style(&client));
        if client.closing || !conn.has_buffered_request() {
            if conn.flush().await.is_err() {
                break;
            }
            if client.closing {
                break;
            }
        }
    }
    clients.connected.fetch_sub(1, Ordering::Relaxed);
}
