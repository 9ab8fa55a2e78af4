//! Hands the completions of a storage thread's burst of work to the async
//! runtime in one message.
//!
//! The writer and read threads are plain threads. Completing a caller's
//! oneshot from one of them wakes a task from a foreign thread, which costs
//! the runtime a syscall (and often a wake-up) per task; a burst holds
//! dozens of them. Instead the thread sends the whole burst to the
//! *completer*, a task on the runtime that opened the store, which runs
//! each completion there (waking a task from its own runtime is a queue
//! push). This module only moves completions; it never does storage work
//! and never decides what completes.

/// Completes one job: sends its result to the caller.
pub type Completion = Box<dyn FnOnce() + Send>;

/// Where a storage thread delivers its completions. Cheap to clone.
#[derive(Clone)]
pub struct Completer {
    /// `None` when the store was opened outside a runtime: the thread then
    /// completes jobs itself.
    burst: Option<tokio::sync::mpsc::UnboundedSender<Vec<Completion>>>,
}

impl Completer {
    /// Starts the completer task on the current runtime, if there is one.
    pub fn start() -> Completer {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Completer { burst: None };
        };
        let (burst, mut bursts) = tokio::sync::mpsc::unbounded_channel::<Vec<Completion>>();
        runtime.spawn(async move {
            while let Some(completions) = bursts.recv().await {
                complete(completions);
            }
        });
        Completer { burst: Some(burst) }
    }

    /// Completes every job of a burst (on the runtime when there is one).
    pub fn deliver(&self, completions: Vec<Completion>) {
        if completions.is_empty() {
            return;
        }
        match &self.burst {
            Some(burst) => {
                // Fails only when the runtime is gone, i.e. the process is
                // ending: dropping the completions then fails the waiters.
                let _ = burst.send(completions);
            }
            None => complete(completions),
        }
    }
}

fn complete(completions: Vec<Completion>) {
    for completion in completions {
        completion();
    }
}
