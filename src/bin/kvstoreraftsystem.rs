//! The `kvstoreraftsystem` binary: `kvstoreraftsystem --config_path FILE`,
//! the Raft mode (issue 16).
//!
//! For now it only reads and checks its config (the Lab's `follower_info`
//! lines, see [`kvstore2pcsystem::config`]), refusing a bad one with file,
//! line and reason as `kvstore2pcsystem` does, and then says it cannot serve
//! yet: the storage exists ([`kvstore2pcsystem::raft`]), the network and the
//! client front end do not. It must never pretend to serve.

use std::process::ExitCode;

use kvstore2pcsystem::config::{self, Config};

const USAGE: &str = "usage: kvstoreraftsystem --config_path FILE";

fn main() -> ExitCode {
    let path = match config::config_path_from_args(std::env::args().skip(1)) {
        Ok(p) => p,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("kvstoreraftsystem: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::load_raft(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kvstoreraftsystem: bad config: {e}");
            return ExitCode::from(2);
        }
    };
    let group = config
        .raft
        .as_ref()
        .map(|raft| {
            raft.members()
                .map(|p| format!("{} (id {})", p.addr, p.id))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    eprintln!(
        "kvstoreraftsystem: config {} is valid (group: {group}), but the Raft mode is not yet serving: only its storage exists so far",
        path.display()
    );
    ExitCode::FAILURE
}
