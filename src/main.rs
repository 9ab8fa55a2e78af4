//! The `kvstore2pcsystem` binary: `kvstore2pcsystem --config_path FILE`.
//!
//! Parses the command line, loads the config (refusing a bad one with file,
//! line and reason), sets up logging and hands over to the library.

use std::process::ExitCode;

use kvstore2pcsystem::config::{self, Config};

/// mimalloc instead of the system allocator: a write allocates a few small
/// buffers on every node it crosses, and glibc's allocator (with its
/// consolidation passes) showed up as 10–15% of a participant's profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: kvstore2pcsystem --config_path FILE";

/// The async runtime: one thread, or a pool (`0`: one per core).
fn runtime(worker_threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    match worker_threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        0 => tokio::runtime::Runtime::new(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
}

fn main() -> ExitCode {
    if kvstore2pcsystem::net::SIMULATED {
        eprintln!(
            "kvstore2pcsystem: built with the `sim` feature, which runs only inside tests/sim.rs"
        );
        return ExitCode::from(2);
    }
    let path = match config::config_path_from_args(std::env::args().skip(1)) {
        Ok(p) => p,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("kvstore2pcsystem: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kvstore2pcsystem: bad config: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KVSTORE_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,fjall=warn,lsm_tree=warn")
            }),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match runtime(config.worker_threads) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kvstore2pcsystem: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(kvstore2pcsystem::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvstore2pcsystem: {e:#}");
            ExitCode::FAILURE
        }
    }
}
