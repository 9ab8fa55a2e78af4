//! The client-facing RESP front end: bytes in, arguments out; replies in,
//! bytes out.
//!
//! This module owns the Redis wire protocol as clients such as `redis-cli`,
//! `redis-benchmark` and client libraries speak it, plus the Lab3 reply
//! dialect. It must never know about commands, storage or replication: it
//! hands out a request's raw arguments and takes back a [`Reply`].
//!
//! The layers, each its own file, in the order bytes travel:
//!
//! - [`frame`]: parsing requests (multibulk and inline) out of a buffer, with
//!   Redis 7.0's limits and exact error texts. No I/O.
//! - [`connection`]: the socket, the read buffer and the batched output
//!   buffer; the only part that awaits.
//! - [`reply`]: the [`Reply`] value and its encoding in Redis RESP2, Redis
//!   RESP3 and the Lab dialect. No I/O.
//!
//! A server task owns one [`Connection`], calls
//! [`Connection::read_request`], turns the arguments into a command, and
//! [`Connection::queue`]s the reply in the client's [`Style`] (which changes
//! when the client sends `HELLO 3`). On [`ConnectionError::Protocol`] it
//! queues that text as an error reply, flushes, and closes.

pub mod connection;
pub mod frame;
pub mod reply;

pub use connection::{Connection, ConnectionError};
pub use frame::{FrameError, Limits, RequestParser, parse_request};
pub use reply::{Protocol, Reply, Style};
