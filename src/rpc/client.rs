//! The multiplexed client: one TCP connection to a participant carrying many
//! requests in flight.
//!
//! Callers never touch the socket. A writer task owns the write half and
//! drains a channel of outgoing frames, writing everything queued in one
//! system call (so concurrent transactions share packets); a reader task
//! owns the read half and completes each caller's oneshot by request id.
//! When the connection dies, every pending and future call fails with
//! [`RpcError::Closed`] at once; reconnecting is the owner's decision.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

use super::codec::{self, CodecError};
use super::message::{Request, Response};
use crate::net::TcpStream;

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    /// The connection is gone (peer closed, reset, or a codec error).
    #[error("connection closed")]
    Closed,
    /// No answer within the deadline; the connection may still be fine.
    #[error("timed out")]
    Timeout,
    /// Could not connect or the handshake failed.
    #[error("connect: {0}")]
    Connect(String),
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Response>>>>;

/// A frame to write, and who wants to know once it is in the kernel.
type Outgoing = (BytesMut, Option<oneshot::Sender<()>>);

/// A handle to one multiplexed connection. Cheap to clone.
#[derive(Clone)]
pub struct RpcClient {
    outgoing: mpsc::UnboundedSender<Outgoing>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
    /// Fires when the connection dies.
    closed_notify: Arc<tokio::sync::Notify>,
    /// The reader and writer tasks, stopped by [`RpcClient::close`].
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl RpcClient {
    /// Connects and handshakes with `addr`, proving the process-wide
    /// cluster secret ([`codec::process_secret`]) if one is set.
    pub async fn connect(addr: SocketAddr) -> Result<RpcClient, RpcError> {
        RpcClient::connect_with_secret(addr, codec::process_secret()).await
    }

    /// Connects and handshakes with `addr`, proving `secret` (the cluster
    /// secret; `None` if none is configured). A peer that refuses us, or
    /// that we refuse (wrong secret, other version), is logged as a warning
    /// once per address and reason, not on every retry.
    pub async fn connect_with_secret(
        addr: SocketAddr,
        secret: Option<&[u8]>,
    ) -> Result<RpcClient, RpcError> {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| RpcError::Connect(e.to_string()))?;
        stream
            .set_nodelay(true)
            .map_err(|e| RpcError::Connect(e.to_string()))?;
        match codec::handshake_dial(&mut stream, secret).await {
            Ok(()) => note_refusal(addr, None),
            Err(e) => {
                if e.is_refusal() {
                    note_refusal(addr, Some(&e));
                }
                return Err(RpcError::Connect(format!("handshake: {e}")));
            }
        }
        let (mut read_half, mut write_half) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
        let client = RpcClient {
            outgoing: tx,
            pending: Arc::new(Mutex::new(HashMap::new())),
            next_id: Arc::new(AtomicU64::new(1)),
            closed: Arc::new(AtomicBool::new(false)),
            closed_notify: Arc::new(tokio::sync::Notify::new()),
            tasks: Arc::new(Mutex::new(Vec::new())),
        };

        let writer_client = client.clone();
        let writer = tokio::spawn(async move {
            let mut batch = BytesMut::new();
            let mut written = Vec::new();
            while let Some((frame, done)) = rx.recv().await {
                batch.unsplit(frame);
                written.extend(done);
                // Let every task that is ready to send run first, so the
                // frames of concurrent transactions share one write.
                tokio::task::yield_now().await;
                while let Ok((more, done)) = rx.try_recv() {
                    batch.unsplit(more);
                    written.extend(done);
                }
                if write_half.write_all(&batch).await.is_err() {
                    break;
                }
                batch.clear();
                for done in written.drain(..) {
                    let _ = done.send(());
                }
            }
            writer_client.shut();
        });

        let reader_client = client.clone();
        let reader = tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(64 * 1024);
            loop {
                match codec::read_frame::<Response, _>(&mut read_half, &mut buf).await {
                    Ok(Some((id, response))) => {
                        let waiter = lock(&reader_client.pending).remove(&id);
                        if let Some(waiter) = waiter {
                            let _ = waiter.send(response);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        if !matches!(e, CodecError::Io(_)) {
                            tracing::warn!("rpc connection dropped: {e}");
                        }
                        break;
                    }
                }
            }
            reader_client.shut();
        });
        client
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend([writer.abort_handle(), reader.abort_handle()]);
        Ok(client)
    }

    fn shut(&self) {
        self.closed.store(true, Ordering::SeqCst);
        // Dropping the senders fails every waiting call, oldest first: in
        // the map's (randomly seeded) order, which caller runs first would
        // differ from run to run, and a simulated run must not.
        let mut waiting: Vec<_> = lock(&self.pending).drain().collect();
        waiting.sort_unstable_by_key(|(id, _)| *id);
        drop(waiting);
        self.closed_notify.notify_waiters();
    }

    /// Whether two handles share one connection.
    pub fn same_connection(&self, other: &RpcClient) -> bool {
        Arc::ptr_eq(&self.pending, &other.pending)
    }

    /// Whether the connection is known to be dead.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Resolves once the connection is dead.
    pub async fn closed(&self) {
        let notified = self.closed_notify.notified();
        if self.is_closed() {
            return;
        }
        notified.await;
    }

    /// Sends `request` without wanting an answer (request id 0 tells the
    /// server not to reply). The frame is queued at once, ahead of anything
    /// sent later on this connection; the returned handle resolves once it
    /// is written to the kernel, after which it reaches the peer even if
    /// this process dies (the kernel still delivers buffered data).
    pub fn notify(&self, request: &Request) -> Result<Written, RpcError> {
        if self.is_closed() {
            return Err(RpcError::Closed);
        }
        let mut frame = BytesMut::new();
        codec::encode_frame(codec::NOTIFY_ID, request, &mut frame).map_err(|_| RpcError::Closed)?;
        let (done, wait) = oneshot::channel();
        self.outgoing
            .send((frame, Some(done)))
            .map_err(|_| RpcError::Closed)?;
        Ok(Written(wait))
    }

    /// Sends `request` and waits up to `timeout` for its answer.
    pub async fn call(&self, request: &Request, timeout: Duration) -> Result<Response, RpcError> {
        if self.is_closed() {
            return Err(RpcError::Closed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut frame = BytesMut::new();
        codec::encode_frame(id, request, &mut frame).map_err(|_| RpcError::Closed)?;
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        // Checked again after registering: a close racing with the insert
        // would otherwise leave this call waiting for the timeout.
        if self.is_closed() || self.outgoing.send((frame, None)).is_err() {
            lock(&self.pending).remove(&id);
            return Err(RpcError::Closed);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(RpcError::Closed),
            Err(_) => {
                lock(&self.pending).remove(&id);
                Err(RpcError::Timeout)
            }
        }
    }

    /// Closes the connection: pending calls fail, the tasks stop.
    pub fn close(&self) {
        self.shut();
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// A one-way frame on its way; see [`RpcClient::notify`].
pub struct Written(oneshot::Receiver<()>);

impl Written {
    /// Resolves once the frame is in the kernel's socket buffer.
    pub async fn wait(self) -> Result<(), RpcError> {
        self.0.await.map_err(|_| RpcError::Closed)
    }
}

/// The last handshake refusal logged for each address, so a peer that
/// keeps refusing us is reported once, not on every reconnect attempt.
static REFUSALS: Mutex<Option<HashMap<SocketAddr, String>>> = Mutex::new(None);

/// Logs a handshake refusal with `addr` as a warning unless the same one was
/// the last logged for it; `None` (a handshake that succeeded) forgets it.
fn note_refusal(addr: SocketAddr, refusal: Option<&CodecError>) {
    let mut logged = REFUSALS.lock().unwrap_or_else(|e| e.into_inner());
    let logged = logged.get_or_insert_with(HashMap::new);
    match refusal {
        None => {
            if logged.remove(&addr).is_some() {
                tracing::info!(%addr, "internal handshake succeeds again");
            }
        }
        Some(e) => {
            let text = e.to_string();
            if logged.get(&addr) != Some(&text) {
                tracing::warn!(%addr, "internal handshake refused: {text} (retrying quietly)");
                logged.insert(addr, text);
            } else {
                tracing::debug!(%addr, "internal handshake refused: {text}");
            }
        }
    }
}

/// Locks the pending map. A poisoned lock only means another task panicked
/// mid-insert; the map itself is still a valid map.
fn lock(p: &Pending) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Response>>> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}
