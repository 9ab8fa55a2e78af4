//! The one place that chooses the socket types.
//!
//! A normal build uses tokio's TCP. With the cargo feature `sim` the same
//! names are turmoil's simulated TCP, so the whole cluster runs inside a
//! deterministic simulation (`tests/sim.rs`): every node is a turmoil host,
//! the network is turmoil's, and time is the simulation's. The rest of the
//! crate names only [`TcpListener`] and [`TcpStream`] from here and uses
//! what both types have (`connect`, `accept`, `peek`, `peer_addr`,
//! `set_nodelay`, `into_split`); anything that differs is settled here.
//! Both kinds of node accept through [`accept`], which rides out a failed
//! accept instead of stopping the node.
//!
//! A `sim` build runs nowhere but inside a simulation (turmoil's sockets
//! panic outside one), so the binary refuses to start when built with it.
//! This module must never make a normal build slower or change what it does.

use std::io;
use std::net::SocketAddr;

#[cfg(not(feature = "sim"))]
pub use tokio::net::{TcpListener, TcpStream};
#[cfg(feature = "sim")]
pub use turmoil::net::{TcpListener, TcpStream};

/// Whether this build runs inside turmoil's simulation (feature `sim`).
pub const SIMULATED: bool = cfg!(feature = "sim");

/// How long a node waits before accepting again after an accept failed.
const ACCEPT_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// The next connection on `listener`. A failed accept (out of descriptors
/// and the like) is logged and retried after a short pause: the node
/// keeps serving the connections it has rather than stopping.
pub async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(ACCEPT_RETRY).await;
            }
        }
    }
}

/// Listens on `addr`, a node's own address from its config.
///
/// turmoil binds only the unspecified address (or loopback): a simulated
/// host's own IP is implied, so under `sim` the port is bound on `0.0.0.0`.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    #[cfg(feature = "sim")]
    let addr = {
        let ip = match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
        };
        SocketAddr::new(ip, addr.port())
    };
    TcpListener::bind(addr).await
}
