//! The internal protocol between the coordinator and the participants.
//!
//! Binary, over TCP. A connection opens with a fixed handshake (magic bytes,
//! protocol version and, when a cluster secret is configured, a mutual proof
//! of it; see [`codec`]), then carries length-prefixed frames
//! of postcard-encoded [`message`]s, each with a request id. One connection
//! per peer carries many requests in flight at once; the [`client`] matches
//! answers by id, and the [`server`] answers each request in its own task.
//! Nothing here knows what a transaction is: this layer only moves messages.

pub mod client;
pub mod codec;
pub mod message;
pub mod server;

pub use client::{RpcClient, RpcError};
pub use message::{LogEntry, ParticipantStatus, Request, Response};
