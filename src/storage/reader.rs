//! The read thread: where client point reads of fjall run.
//!
//! Reads must not run on the async workers (a cache miss is disk I/O), but
//! handing each one to tokio's blocking pool costs a thread wake-up per
//! read. Instead one dedicated thread drains a queue of read jobs: under
//! load it stays awake and takes reads back to back, so the cost of waking
//! it is paid once per burst, not once per read, and the burst's readers
//! are woken back through the [`super::completer`] in one message. Long
//! scans (catch-up,
//! digests, log trimming) stay on the blocking pool so they never hold up
//! point reads.
//!
//! With the cargo feature `sim` (see [`crate::net`]) there is no thread: a
//! read runs in the calling task, so a simulated node's progress depends
//! only on the simulation's scheduling.

#[cfg(not(feature = "sim"))]
use std::sync::mpsc as std_mpsc;

#[cfg(not(feature = "sim"))]
use tokio::sync::oneshot;

use super::StorageError;

#[cfg(not(feature = "sim"))]
use super::completer::{Completer, Completion};

/// Runs a read and returns what reports its result.
#[cfg(not(feature = "sim"))]
type ReadJob = Box<dyn FnOnce() -> Completion + Send>;

/// Most reads one burst takes before its readers are woken, so a long
/// queue cannot hold the first reader's answer back for long.
#[cfg(not(feature = "sim"))]
const MAX_BURST: usize = 64;

/// Handle to the read thread. Cheap to clone.
#[derive(Clone)]
pub struct Reader {
    #[cfg(not(feature = "sim"))]
    jobs: std_mpsc::Sender<ReadJob>,
}

impl Reader {
    /// In the simulation: no thread, reads run in the calling task.
    #[cfg(feature = "sim")]
    pub fn start() -> Reader {
        Reader {}
    }

    /// Runs `f` in the calling task and returns its result.
    #[cfg(feature = "sim")]
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, StorageError> {
        Ok(f())
    }

    /// Starts the read thread, delivering results through `completer`.
    #[cfg(not(feature = "sim"))]
    pub fn start(completer: Completer) -> Reader {
        let (tx, rx) = std_mpsc::channel::<ReadJob>();
        let spawned = std::thread::Builder::new()
            .name("fjall-reader".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut completions = Vec::new();
                    let mut next = Some(first);
                    while let Some(job) = next {
                        // A read that panics (a bug, or an input fjall
                        // rejects) fails that one read — its caller sees
                        // the dropped answer — and must not take every
                        // later read with it.
                        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
                            Ok(completion) => completions.push(completion),
                            Err(_) => {
                                tracing::error!("a read panicked; the read thread carries on")
                            }
                        }
                        next = (completions.len() < MAX_BURST)
                            .then(|| rx.try_recv().ok())
                            .flatten();
                    }
                    completer.deliver(completions);
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the storage read thread: {e}");
            std::process::exit(1);
        }
        Reader { jobs: tx }
    }

    /// Runs `f` on the read thread and returns its result.
    #[cfg(not(feature = "sim"))]
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, StorageError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let result = f();
                Box::new(move || {
                    let _ = tx.send(result);
                })
            }))
            .map_err(|_| StorageError::WriterGone)?;
        rx.await.map_err(|_| StorageError::WriterGone)
    }
}
