//! The answering side of the internal protocol.
//!
//! [`serve`] runs one accepted, handshaken connection: it decodes request
//! frames, runs each through the handler in its own task (so a slow prepare
//! never holds up a heartbeat), and funnels the answers through one writer
//! task that batches whatever is ready into a single write. It knows nothing
//! about what the requests mean.

use std::future::Future;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::codec::{self, CodecError};
use super::message::{Request, Response};

/// Serves requests on `stream` until the peer closes it or sends garbage.
pub async fn serve<S, H, F>(stream: S, handler: H) -> Result<(), CodecError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let (mut read_half, mut write_half) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::unbounded_channel::<BytesMut>();
    let writer = tokio::spawn(async move {
        let mut batch = BytesMut::new();
        while let Some(frame) = rx.recv().await {
            batch.unsplit(frame);
            // Let every answer that is ready run first, so they share one
            // write (a group commit completes many prepares at once).
            tokio::task::yield_now().await;
            while let Ok(more) = rx.try_recv() {
                batch.unsplit(more);
            }
            if write_half.write_all(&batch).await.is_err() {
                break;
            }
            batch.clear();
        }
    });

    let mut buf = BytesMut::with_capacity(64 * 1024);
    let result = loop {
        match codec::read_frame::<Request, _>(&mut read_half, &mut buf).await {
            Ok(Some((id, request))) => {
                let answer = handler(request);
                let tx = tx.clone();
                tokio::spawn(async move {
                    let response = answer.await;
                    if id == codec::NOTIFY_ID {
                        if let Response::Error(e) = response {
                            tracing::warn!("one-way request failed: {e}");
                        }
                        return;
                    }
                    match codec::encode_response(id, response).await {
                        Ok(frame) => {
                            let _ = tx.send(frame);
                        }
                        Err(e) => tracing::error!("cannot encode a response: {e}"),
                    }
                });
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    drop(tx);
    // In-flight answers still drain through the writer before it stops.
    let _ = writer.await;
    result
}
