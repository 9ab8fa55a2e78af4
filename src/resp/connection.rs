//! One client connection: reading requests off a socket and writing replies
//! back, batched.
//!
//! This module owns the socket, the read buffer of not yet parsed input, and
//! the output buffer of replies not yet written. Parsing is the frame
//! module's and encoding the reply module's; this one only moves bytes.
//!
//! It must never grow the read buffer ahead of data that actually arrived
//! (each read reserves at most [`READ_CHUNK`] more), never hold more than
//! [`Limits::max_query_buffer`] bytes of unparsed input, and never wait for
//! the peer while replies it owes the peer sit unsent.
//!
//! # How a server uses it
//!
//! ```text
//! while let Some(args) = conn.read_request().await? {
//!     let reply = execute(args).await;
//!     conn.queue(&reply, style);
//!     if !conn.has_buffered_request() {
//!         conn.flush().await?;
//!     }
//! }
//! conn.flush().await?;
//! ```
//!
//! Replies to pipelined requests are queued and go out in one write: the
//! caller flushes only when no more input is buffered. Even if it never
//! flushed, [`Connection::read_request`] writes everything queued before it
//! waits on the socket (a client may be waiting for those replies before it
//! sends the rest), and whenever more than [`OUTPUT_HIGH_WATER`] bytes are
//! queued (so a client that pipelines without reading gets backpressure, not
//! an ever-growing buffer).
//!
//! # Errors
//!
//! [`ConnectionError::Protocol`] carries the error text to send: the caller
//! queues `Reply::error(text)`, flushes, and closes the connection, as Redis
//! does. Replies to the requests before the bad one are already queued. Other
//! errors mean the peer is gone or broke off mid-request: just close.
//!
//! When the unparsed input reaches [`Limits::max_query_buffer`] (one request
//! bigger than that), Redis closes the connection without a word. We report
//! it as a protocol error with the text [`QUERY_BUFFER_LIMIT_ERROR`], so the
//! client learns why before the close.
//!
//! # Idle clients and closing
//!
//! With an idle timeout set ([`Connection::set_idle_timeout`], Redis's
//! `timeout`), a read or a write that makes no progress for that long fails:
//! a client that neither sends nor reads its replies is closed, whether it is
//! between requests, in the middle of one, or has stopped reading.
//!
//! [`Connection::close`] ends a connection the way a refusal must: it writes
//! what is queued (the error reply), sends FIN, and reads and discards what
//! the client still sends for at most [`LINGER`]. Closing a socket with
//! unread input makes the kernel send RST, which may destroy the error
//! reply before the client reads it; lingering lets it arrive.
//!
//! # Cancellation
//!
//! `read_request` and `flush` are cancel safe (e.g. in `tokio::select!`
//! against a shutdown signal): progress lives in `self`, and output is
//! removed from the buffer only as the socket accepts it.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::frame::{FrameError, Limits, RequestParser};
use super::reply::{Reply, Style};
use crate::net::TcpStream;

/// Most bytes the read buffer grows by for one read. Redis reads 16 KB at a
/// time too (`PROTO_IOBUF_LEN`).
pub const READ_CHUNK: usize = 16 * 1024;

/// Queued output beyond which `read_request` writes it out before parsing
/// the next request.
pub const OUTPUT_HIGH_WATER: usize = 64 * 1024;

/// Buffers grown past this by one big request or reply are given back once
/// empty, so an idle connection does not keep them.
const SHRINK_ABOVE: usize = 1024 * 1024;

/// How long [`Connection::close`] keeps draining a client's input after
/// its last reply.
pub const LINGER: Duration = Duration::from_secs(2);

/// The error text sent when a client's unparsed input reaches
/// [`Limits::max_query_buffer`].
pub const QUERY_BUFFER_LIMIT_ERROR: &str = "ERR Protocol error: query buffer limit exceeded";

/// Why a connection cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The client broke the protocol. The text (Redis's, without the
    /// leading `-`) is to be sent as an error reply before closing.
    #[error("{0}")]
    Protocol(String),
    /// The peer closed the connection in the middle of a request.
    #[error("connection closed by peer in the middle of a request")]
    UnexpectedEof,
    /// Reading or writing the socket failed (a write that made no progress
    /// for the idle timeout fails with [`io::ErrorKind::TimedOut`]).
    #[error("client connection i/o error: {0}")]
    Io(#[from] io::Error),
    /// Nothing arrived for the idle timeout.
    #[error("idle for {0:?}")]
    Idle(Duration),
}

impl From<FrameError> for ConnectionError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Protocol(text) => ConnectionError::Protocol(text),
        }
    }
}

/// A RESP client connection over any byte stream (a `TcpStream` by
/// default; tests use in-memory pipes).
#[derive(Debug)]
pub struct Connection<S = TcpStream> {
    stream: S,
    limits: Limits,
    /// Input received but not yet parsed into requests.
    read_buf: BytesMut,
    /// Progress through the partial request at the front of `read_buf`.
    parser: RequestParser,
    /// Encoded replies not yet written.
    write_buf: BytesMut,
    /// How long one read or write may wait without progress.
    idle_timeout: Option<Duration>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Wraps a freshly accepted stream.
    pub fn new(stream: S, limits: Limits) -> Self {
        Self::with_buffered_input(stream, limits, BytesMut::new())
    }

    /// Wraps a stream some of whose input has already been read (e.g. the
    /// first bytes, looked at to tell a RESP client from a peer node).
    pub fn with_buffered_input(stream: S, limits: Limits, input: BytesMut) -> Self {
        Connection {
            stream,
            limits,
            read_buf: input,
            parser: RequestParser::new(),
            write_buf: BytesMut::new(),
            idle_timeout: None,
        }
    }

    /// Fails reads and writes that wait longer than `timeout` without
    /// progress (`None`, the default: wait forever).
    pub fn set_idle_timeout(&mut self, timeout: Option<Duration>) {
        self.idle_timeout = timeout;
    }

    /// Reads the next request's arguments.
    ///
    /// `Ok(None)`: the peer closed the connection between requests.
    /// Queued replies are written before any wait on the socket; see the
    /// module docs for the error contract.
    pub async fn read_request(&mut self) -> Result<Option<Vec<Bytes>>, ConnectionError> {
        if self.write_buf.len() >= OUTPUT_HIGH_WATER {
            self.flush().await?;
        }
        loop {
            if let Some(args) = self.parser.parse(&mut self.read_buf, &self.limits)? {
                return Ok(Some(args));
            }
            // Nothing complete is buffered, so we are about to wait for the
            // peer: first send what we owe it.
            if !self.write_buf.is_empty() {
                self.flush().await?;
            }
            if self.read_into_buffer().await? == 0 {
                return if self.read_buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ConnectionError::UnexpectedEof)
                };
            }
        }
    }

    /// Reads once from the socket, appending to the read buffer; returns the
    /// number of bytes read (0 at end of stream).
    async fn read_into_buffer(&mut self) -> Result<usize, ConnectionError> {
        let room = self.make_room();
        if room == 0 {
            return Err(ConnectionError::Protocol(
                QUERY_BUFFER_LIMIT_ERROR.to_owned(),
            ));
        }
        let mut limited = (&mut self.read_buf).limit(room);
        let read = self.stream.read_buf(&mut limited);
        Ok(match self.idle_timeout {
            None => read.await?,
            Some(t) => tokio::time::timeout(t, read)
                .await
                .map_err(|_| ConnectionError::Idle(t))??,
        })
    }

    /// Readies the read buffer for one read and returns how many bytes it
    /// may take (0: the query buffer limit is reached).
    fn make_room(&mut self) -> usize {
        let room = self
            .limits
            .max_query_buffer
            .saturating_sub(self.read_buf.len());
        if room == 0 {
            return 0;
        }
        if self.read_buf.is_empty() && self.read_buf.capacity() > SHRINK_ABOVE {
            self.read_buf = BytesMut::new();
        }
        // Grow by at most one chunk: the buffer follows the data that came,
        // never what a header announced. Space already allocated (a grown
        // buffer doubles) is used whole, to save system calls on big
        // requests.
        self.read_buf.reserve(READ_CHUNK.min(room));
        room
    }

    /// Resolves when the peer closes the connection (or it fails), keeping
    /// whatever the client sends meanwhile for later requests. For a
    /// command that blocks (WAIT): a client that goes away must not leave
    /// its session waiting for ever. As Redis exempts a blocked client
    /// from `timeout`, the idle timeout does not apply here; at the query
    /// buffer limit it stops reading (the client gets backpressure) and
    /// never resolves. Cancel safe.
    pub async fn closed(&mut self) {
        loop {
            let room = self.make_room();
            if room == 0 {
                return std::future::pending().await;
            }
            let mut limited = (&mut self.read_buf).limit(room);
            match self.stream.read_buf(&mut limited).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// True if input is already buffered past the last request returned, so
    /// the caller may hold back its flush and batch the replies of
    /// pipelined requests. (The buffered bytes may not be a whole request;
    /// `read_request` then flushes before it waits, so holding back is
    /// always safe.)
    pub fn has_buffered_request(&self) -> bool {
        !self.read_buf.is_empty()
    }

    /// Appends `reply`, encoded in `style`, to the output buffer. Nothing is
    /// sent until [`flush`](Self::flush) or the next
    /// [`read_request`](Self::read_request) that has to wait.
    pub fn queue(&mut self, reply: &Reply, style: Style) {
        reply.encode(style, &mut self.write_buf);
    }

    /// Bytes queued and not yet written.
    pub fn pending_output(&self) -> usize {
        self.write_buf.len()
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        while self.write_buf.has_remaining() {
            // `write_buf` advances the buffer by what the socket took, so a
            // cancelled flush neither loses nor repeats output.
            let write = self.stream.write_buf(&mut self.write_buf);
            let written = match self.idle_timeout {
                None => write.await?,
                Some(t) => tokio::time::timeout(t, write).await.map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the client read nothing for {t:?}"),
                    )
                })??,
            };
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        if self.write_buf.capacity() > SHRINK_ABOVE {
            self.write_buf = BytesMut::new();
        }
        self.stream.flush().await
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Ends the connection after a refusal (a protocol error, too many
    /// clients): writes the queued replies, sends FIN, then discards input
    /// until the client closes or [`LINGER`] has passed, so the refusal
    /// reaches the client instead of being lost to a reset. Errors are
    /// ignored: the connection is over either way.
    pub async fn close(mut self) {
        // Unparsed input is of no further use; do not hold it while waiting.
        self.read_buf = BytesMut::new();
        let linger = self.idle_timeout.map_or(LINGER, |t| t.min(LINGER));
        let _ = tokio::time::timeout(linger, async {
            if self.flush().await.is_err() || self.stream.shutdown().await.is_err() {
                return;
            }
            let mut sink = [0u8; 4096];
            while matches!(self.stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    }
}

impl Connection<TcpStream> {
    /// The client's address, if the socket still knows it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.stream.peer_addr().ok()
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use tokio::io::{DuplexStream, ReadBuf, duplex};
    // These tests use real sockets, also in a `sim` build.
    use tokio::net::TcpStream;
    use tokio::time::timeout;

    use super::*;
    use crate::resp::reply::Protocol;

    const STYLE: Style = Style::Redis(Protocol::Resp2);

    /// A stream that counts the writes made to it, to see batching.
    struct CountingStream {
        inner: DuplexStream,
        writes: Arc<AtomicUsize>,
    }

    impl AsyncRead for CountingStream {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for CountingStream {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let result = Pin::new(&mut self.inner).poll_write(cx, buf);
            if let Poll::Ready(Ok(_)) = result {
                self.writes.fetch_add(1, Ordering::SeqCst);
            }
            result
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    /// Answers every request with its arguments joined, in the documented
    /// caller pattern; returns how the connection ended.
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        conn: &mut Connection<S>,
    ) -> Result<(), ConnectionError> {
        loop {
            match conn.read_request().await {
                Ok(Some(args)) => {
                    let joined: Vec<u8> = args.join(&b' ');
                    conn.queue(&Reply::bulk(joined), STYLE);
                    if !conn.has_buffered_request() {
                        conn.flush().await?;
                    }
                }
                Ok(None) => {
                    conn.flush().await?;
                    return Ok(());
                }
                Err(ConnectionError::Protocol(text)) => {
                    conn.queue(&Reply::error(text.clone()), STYLE);
                    conn.flush().await?;
                    return Err(ConnectionError::Protocol(text));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn read_exactly(client: &mut DuplexStream, n: usize) -> Vec<u8> {
        let mut got = vec![0; n];
        timeout(Duration::from_secs(5), client.read_exact(&mut got))
            .await
            .expect("reply in time")
            .expect("read");
        got
    }

    #[tokio::test]
    async fn pipelined_replies_go_out_in_one_write() {
        let (mut client, server) = duplex(1 << 20);
        let writes = Arc::new(AtomicUsize::new(0));
        let mut conn = Connection::new(
            CountingStream {
                inner: server,
                writes: writes.clone(),
            },
            Limits::default(),
        );
        let task = tokio::spawn(async move { serve(&mut conn).await });

        client
            .write_all(b"*2\r\n$4\r\nECHO\r\n$1\r\na\r\nECHO b\r\n*1\r\n$1\r\nc\r\n")
            .await
            .expect("write");
        let expected: &[u8] = b"$6\r\nECHO a\r\n$6\r\nECHO b\r\n$1\r\nc\r\n";
        assert_eq!(read_exactly(&mut client, expected.len()).await, expected);
        assert_eq!(writes.load(Ordering::SeqCst), 1, "three replies, one write");

        drop(client);
        assert!(task.await.expect("join").is_ok());
    }

    #[tokio::test]
    async fn partial_request_does_not_hold_back_earlier_replies() {
        let (mut client, server) = duplex(1 << 20);
        let mut conn = Connection::new(server, Limits::default());
        let task = tokio::spawn(async move { serve(&mut conn).await });

        // The first reply must arrive although half of the next request is
        // buffered and the caller therefore did not flush.
        client.write_all(b"ECHO x\r\nECHO y").await.expect("write");
        assert_eq!(read_exactly(&mut client, 12).await, b"$6\r\nECHO x\r\n");
        client.write_all(b"\r\n").await.expect("write");
        assert_eq!(read_exactly(&mut client, 12).await, b"$6\r\nECHO y\r\n");

        drop(client);
        assert!(task.await.expect("join").is_ok());
    }

    #[tokio::test]
    async fn request_split_into_single_bytes() {
        let (mut client, server) = duplex(1 << 20);
        let mut conn = Connection::new(server, Limits::default());
        let task = tokio::spawn(async move { serve(&mut conn).await });
        for &byte in b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n" {
            client.write_all(&[byte]).await.expect("write");
            tokio::task::yield_now().await;
        }
        assert_eq!(read_exactly(&mut client, 14).await, b"$8\r\nSET k vv\r\n");
        drop(client);
        assert!(task.await.expect("join").is_ok());
    }

    #[tokio::test]
    async fn protocol_error_is_replied_after_earlier_replies() {
        let (mut client, server) = duplex(1 << 20);
        let mut conn = Connection::new(server, Limits::default());
        let task = tokio::spawn(async move { serve(&mut conn).await });

        client
            .write_all(b"PING\r\n*1\r\n$-1\r\nPING\r\n")
            .await
            .expect("write");
        let mut all = Vec::new();
        timeout(Duration::from_secs(5), async {
            // The server closes after the error; read until it has.
            let result = task.await.expect("join");
            assert!(matches!(result, Err(ConnectionError::Protocol(_))));
            client.read_to_end(&mut all).await.expect("read")
        })
        .await
        .expect("in time");
        assert_eq!(
            all,
            b"$4\r\nPING\r\n-ERR Protocol error: invalid bulk length\r\n"
        );
    }

    #[tokio::test]
    async fn clean_close_and_close_mid_request() {
        let (client, server) = duplex(1024);
        let mut conn = Connection::new(server, Limits::default());
        drop(client);
        assert!(matches!(conn.read_request().await, Ok(None)));

        let (mut client, server) = duplex(1024);
        let mut conn = Connection::new(server, Limits::default());
        client.write_all(b"*1\r\n$4\r\nPI").await.expect("write");
        drop(client);
        assert!(matches!(
            conn.read_request().await,
            Err(ConnectionError::UnexpectedEof)
        ));
    }

    /// While a command blocks, `closed` keeps what the client pipelines
    /// for later, ignores the idle timeout, and resolves when it hangs up.
    #[tokio::test(start_paused = true)]
    async fn closed_keeps_input_and_resolves_when_the_client_leaves() {
        let (mut client, server) = duplex(1024);
        let mut conn = Connection::new(server, Limits::default());
        conn.set_idle_timeout(Some(Duration::from_secs(1)));
        client
            .write_all(b"PING\r\nECHO a\r\n")
            .await
            .expect("write");
        // Still open (paused time runs past the idle timeout meanwhile).
        assert!(
            timeout(Duration::from_secs(5), conn.closed())
                .await
                .is_err()
        );
        assert!(conn.has_buffered_request());
        let echo = |a: &[u8]| vec![Bytes::copy_from_slice(a)];
        assert_eq!(
            conn.read_request().await.expect("read"),
            Some(echo(b"PING"))
        );
        let mut want = echo(b"ECHO");
        want.push(Bytes::from_static(b"a"));
        assert_eq!(conn.read_request().await.expect("read"), Some(want));
        drop(client);
        timeout(Duration::from_secs(5), conn.closed())
            .await
            .expect("resolves once the client is gone");
    }

    #[tokio::test]
    async fn announced_bulk_does_not_grow_the_buffer() {
        let (mut client, server) = duplex(1 << 20);
        let mut conn = Connection::new(server, Limits::default());
        // 500 MB announced (under the limit), a few bytes sent.
        client
            .write_all(b"*2\r\n$3\r\nSET\r\n$500000000\r\nabc")
            .await
            .expect("write");
        assert!(
            timeout(Duration::from_millis(100), conn.read_request())
                .await
                .is_err(),
            "still waiting for data"
        );
        assert!(
            conn.read_buf.capacity() <= 2 * READ_CHUNK,
            "capacity {}",
            conn.read_buf.capacity()
        );

        // 600 MB announced: refused on the header.
        let (mut client, server) = duplex(1 << 20);
        let mut conn = Connection::new(server, Limits::default());
        client
            .write_all(b"*2\r\n$3\r\nSET\r\n$600000000\r\n")
            .await
            .expect("write");
        match timeout(Duration::from_secs(5), conn.read_request())
            .await
            .expect("in time")
        {
            Err(ConnectionError::Protocol(text)) => {
                assert_eq!(text, "ERR Protocol error: invalid bulk length")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(conn.read_buf.capacity() <= 2 * READ_CHUNK);
    }

    #[tokio::test]
    async fn query_buffer_limit() {
        let limits = Limits {
            max_query_buffer: 100,
            ..Limits::default()
        };
        let (mut client, server) = duplex(1 << 20);
        let mut conn = Connection::new(server, limits);
        // A 200-byte argument can never fit in 100 bytes of buffer.
        client.write_all(b"*1\r\n$200\r\n").await.expect("write");
        client.write_all(&[b'x'; 202]).await.expect("write");
        match timeout(Duration::from_secs(5), conn.read_request())
            .await
            .expect("in time")
        {
            Err(ConnectionError::Protocol(text)) => assert_eq!(text, QUERY_BUFFER_LIMIT_ERROR),
            other => panic!("unexpected {other:?}"),
        }
        assert!(conn.read_buf.len() <= 100);

        // Many small pipelined requests over the limit in total are fine:
        // each is parsed before more is read.
        let (mut client, server) = duplex(1 << 20);
        let mut conn = Connection::new(server, limits);
        let task = tokio::spawn(async move { serve(&mut conn).await });
        let request: &[u8] = b"*1\r\n$4\r\nPING\r\n";
        let pipeline: Vec<u8> = request.repeat(50);
        client.write_all(&pipeline).await.expect("write");
        let reply: &[u8] = b"$4\r\nPING\r\n";
        assert_eq!(
            read_exactly(&mut client, reply.len() * 50).await,
            reply.repeat(50)
        );
        drop(client);
        assert!(task.await.expect("join").is_ok());
    }

    #[tokio::test]
    async fn large_output_is_flushed_without_waiting_for_the_caller() {
        let (mut client, server) = duplex(1 << 22);
        let mut conn = Connection::new(server, Limits::default());
        client.write_all(b"PING\r\nPING\r\n").await.expect("write");
        assert!(conn.read_request().await.expect("ok").is_some());
        conn.queue(&Reply::bulk(vec![b'v'; OUTPUT_HIGH_WATER]), STYLE);
        assert!(conn.has_buffered_request());
        // The caller holds back (more input is buffered), but the next read
        // sends the big reply first.
        assert!(conn.read_request().await.expect("ok").is_some());
        assert_eq!(conn.pending_output(), 0);
        let header = format!("${OUTPUT_HIGH_WATER}\r\n");
        let got = read_exactly(&mut client, header.len() + OUTPUT_HIGH_WATER + 2).await;
        assert!(got.starts_with(header.as_bytes()));
    }

    #[tokio::test]
    async fn idle_reads_and_writes_time_out() {
        // Silent between requests.
        let (_client, server) = duplex(1 << 20);
        let mut conn = Connection::new(server, Limits::default());
        conn.set_idle_timeout(Some(Duration::from_millis(50)));
        assert!(matches!(
            timeout(Duration::from_secs(5), conn.read_request())
                .await
                .expect("in time"),
            Err(ConnectionError::Idle(_))
        ));

        // Silent in the middle of a request.
        let (mut client, server) = duplex(1 << 20);
        let mut conn = Connection::new(server, Limits::default());
        conn.set_idle_timeout(Some(Duration::from_millis(50)));
        client.write_all(b"*2\r\n$3\r\nGET").await.expect("write");
        assert!(matches!(
            timeout(Duration::from_secs(5), conn.read_request())
                .await
                .expect("in time"),
            Err(ConnectionError::Idle(_))
        ));

        // Not reading its replies: the write that cannot progress fails.
        let (_client, server) = duplex(1024);
        let mut conn = Connection::new(server, Limits::default());
        conn.set_idle_timeout(Some(Duration::from_millis(50)));
        conn.queue(&Reply::bulk(vec![b'v'; 64 * 1024]), STYLE);
        let e = timeout(Duration::from_secs(5), conn.flush())
            .await
            .expect("in time")
            .expect_err("stalled");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);

        // Activity resets the clock: a request trickling in byte by byte,
        // each byte well within the timeout, is fine.
        let (mut client, server) = duplex(1 << 20);
        let mut conn = Connection::new(server, Limits::default());
        conn.set_idle_timeout(Some(Duration::from_millis(200)));
        let sender = tokio::spawn(async move {
            for &b in b"PING\r\n" {
                tokio::time::sleep(Duration::from_millis(60)).await;
                client.write_all(&[b]).await.expect("write");
            }
            client
        });
        let got = conn.read_request().await.expect("no timeout");
        assert_eq!(got, Some(vec![Bytes::from("PING")]));
        drop(sender.await.expect("join"));
    }

    #[tokio::test]
    async fn close_delivers_the_error_although_input_is_unread() {
        // The client sends a bad request followed by a lot more; the server
        // answers with an error and closes without reading the rest. The
        // error must arrive, followed by a clean end of stream (closing with
        // unread input would otherwise reset the connection).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let mut conn = Connection::new(stream, Limits::default());
            match conn.read_request().await {
                Err(ConnectionError::Protocol(text)) => conn.queue(&Reply::error(text), STYLE),
                other => panic!("unexpected {other:?}"),
            }
            conn.close().await;
        });
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut request = b"*1\r\n$-1\r\n".to_vec();
        request.extend(std::iter::repeat_n(b'x', 256 * 1024));
        // The server stops reading, so this write may not complete; that is
        // fine, the reply is what matters.
        let _ = timeout(Duration::from_millis(500), stream.write_all(&request)).await;
        let mut got = Vec::new();
        timeout(Duration::from_secs(5), stream.read_to_end(&mut got))
            .await
            .expect("in time")
            .expect("a clean close, not a reset");
        assert_eq!(got, b"-ERR Protocol error: invalid bulk length\r\n");
        drop(stream);
        server.await.expect("join");
    }

    // `peer_addr` is defined on the build's socket type (turmoil's in `sim`).
    #[cfg(not(feature = "sim"))]
    #[tokio::test]
    async fn over_tcp_with_peer_addr() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream
                .write_all(b"*1\r\n$4\r\nPING\r\nECHO 'hi there'\r\n")
                .await
                .expect("write");
            let mut got = vec![0; 30];
            stream.read_exact(&mut got).await.expect("read");
            (stream.local_addr().expect("addr"), got)
        });
        let (stream, _) = listener.accept().await.expect("accept");
        let mut conn = Connection::new(stream, Limits::default());
        let server = tokio::spawn(async move {
            let peer = conn.peer_addr();
            let _ = serve(&mut conn).await;
            peer
        });
        let (client_addr, got) = client.await.expect("join");
        assert_eq!(got, b"$4\r\nPING\r\n$13\r\nECHO hi there\r\n");
        assert_eq!(server.await.expect("join"), Some(client_addr));
    }
}
