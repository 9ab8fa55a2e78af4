//! The group-committing writer: the only code that writes to fjall.
//!
//! Callers submit a [`Batch`] and await its completion. A dedicated thread
//! takes whatever has queued up, commits each batch atomically (one fjall
//! write batch each, so a batch's items share one sequence number and never
//! half-apply), then makes the whole group durable with a single fsync
//! before completing any of them. While one fsync runs, the next group
//! queues: batching comes from the design, not from sleeping. The thread
//! never holds a group back to gather more: the coordinator prepares one
//! round at a time, so a round's own fsync is the only one its PREPARE
//! (or its decision record) can share, and anything held back for it
//! would be held on that round's critical path.
//!
//! A group's callers are woken through the [`super::completer`], in one
//! message per group. A caller may also drop its [`Submitted`] and not
//! wait (a participant's one-way commit): nobody is woken for that job,
//! and a group of only such jobs sends no message at all.
//!
//! Durability per policy: `always` completes a batch only after fdatasync
//! of the journal; `everysec` completes at once and a timer fsyncs once a
//! second; `no` leaves the journal in the OS page cache (which still
//! survives a process kill, not a power cut).
//!
//! # In the simulation
//!
//! With the cargo feature `sim` (see [`crate::net`]) the writer is a tokio
//! task on the node's own runtime instead of a thread: the same queue, the
//! same groups, the same order, but a node's progress then depends only on
//! the simulation's scheduling, and a simulated crash (which drops the
//! runtime) drops the database with it, so the restarted node can reopen
//! it. The `everysec` timer does not run there: the simulation models
//! process crashes, which the OS page cache survives, so when it reaches
//! the disk cannot be observed.

#[cfg(not(feature = "sim"))]
use std::sync::mpsc as std_mpsc;
#[cfg(not(feature = "sim"))]
use std::time::{Duration, Instant};

use bytes::Bytes;
use fjall::{Database, Keyspace, PersistMode};
use tokio::sync::oneshot;

use super::StorageError;
#[cfg(not(feature = "sim"))]
use super::completer::Completer;
use super::completer::Completion;
use crate::config::FsyncPolicy;

enum Item {
    Put(Keyspace, Bytes, Bytes),
    Remove(Keyspace, Bytes),
    Clear(Keyspace),
}

/// An atomic set of writes across keyspaces.
#[derive(Default)]
pub struct Batch {
    items: Vec<Item>,
    sync: bool,
    relaxed: bool,
    on_applied: Option<Box<dyn FnOnce() + Send>>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Stores `value` under `key` in `keyspace`.
    pub fn put(&mut self, keyspace: &Keyspace, key: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.items
            .push(Item::Put(keyspace.clone(), key.into(), value.into()));
    }

    /// Removes `key` from `keyspace`.
    pub fn remove(&mut self, keyspace: &Keyspace, key: impl Into<Bytes>) {
        self.items.push(Item::Remove(keyspace.clone(), key.into()));
    }

    /// Empties `keyspace` before the rest of the batch applies (not atomic
    /// with it: used only when a replica is being rebuilt from scratch).
    pub fn clear(&mut self, keyspace: &Keyspace) {
        self.items.push(Item::Clear(keyspace.clone()));
    }

    /// Makes this batch durable before completing it even under a relaxed
    /// fsync policy (for records whose loss would break a promise made to a
    /// peer, like a prepare vote).
    pub fn force_sync(&mut self) {
        self.sync = true;
    }

    /// Lets this batch complete without an fsync even under the `always`
    /// policy: for writes that can be rebuilt from records that *were*
    /// synced (a commit can be redone from its synced prepare record and
    /// the coordinator's synced decision). It still reaches the OS before
    /// completing, so it survives the process being killed.
    pub fn relaxed(&mut self) {
        self.relaxed = true;
    }

    /// Runs `f` on the writer thread as soon as the batch is applied
    /// (visible to readers), before the group's fsync. For releasing what
    /// waits on visibility rather than durability.
    pub fn on_applied(&mut self, f: impl FnOnce() + Send + 'static) {
        self.on_applied = Some(Box::new(f));
    }

    /// Whether the batch has no writes.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// What a job writes: a ready batch, or a computation that runs on the
/// writer thread and yields one (so read-then-write work like evaluating a
/// prepare sees every earlier batch and costs no extra thread hop).
enum Work {
    Ready(Batch),
    Compute(Box<dyn FnOnce() -> Batch + Send>),
}

struct Job {
    work: Work,
    done: Done,
}

/// Completes one job's [`Submitted`].
type Done = oneshot::Sender<Result<(), String>>;

/// The completion that reports a committed job to its caller.
fn committed(done: Done) -> Completion {
    Box::new(move || {
        let _ = done.send(Ok(()));
    })
}

#[cfg(not(feature = "sim"))]
type JobSender = std_mpsc::Sender<Job>;
#[cfg(feature = "sim")]
type JobSender = tokio::sync::mpsc::UnboundedSender<Job>;

/// Handle to the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: JobSender,
}

impl Writer {
    /// Starts the writer task for `db` on the current runtime (simulation
    /// builds; see the module docs).
    #[cfg(feature = "sim")]
    pub fn start(db: Database, fsync: FsyncPolicy) -> Writer {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let group = take_group(first, MAX_GROUP, || rx.try_recv().ok());
                let commit = || commit_group(&db, fsync, group, false);
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(commit)) {
                    Ok((_, completions)) => completions.into_iter().for_each(|c| c()),
                    Err(_) => {
                        tracing::error!("FATAL: the storage writer panicked, stopping the node");
                        std::process::exit(70);
                    }
                }
            }
        });
        Writer { jobs: tx }
    }

    /// Starts the writer thread for `db`, delivering completions through
    /// `completer`.
    #[cfg(not(feature = "sim"))]
    pub fn start(db: Database, fsync: FsyncPolicy, completer: Completer) -> Writer {
        let (tx, rx) = std_mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("fjall-writer".into())
            .spawn(move || {
                // A writer that died would leave a node that answers
                // heartbeats but can persist nothing: stop the process
                // instead, so the coordinator sees it gone at once.
                let writer = || run(db, fsync, rx, completer);
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(writer)).is_err() {
                    tracing::error!("FATAL: the storage writer panicked, stopping the node");
                    std::process::exit(70);
                }
            });
        if let Err(e) = spawned {
            // Without a writer nothing can be persisted; refuse to run.
            tracing::error!("cannot start the storage writer thread: {e}");
            std::process::exit(1);
        }
        Writer { jobs: tx }
    }

    /// Commits `batch` and waits until it is as durable as the policy says.
    pub async fn write(&self, batch: Batch) -> Result<(), StorageError> {
        self.submit(batch)?.wait().await
    }

    /// Queues `batch` now (batches apply in the order they are submitted)
    /// and returns a handle to await its durability later.
    pub fn submit(&self, batch: Batch) -> Result<Submitted, StorageError> {
        self.enqueue(Work::Ready(batch))
    }

    fn enqueue(&self, work: Work) -> Result<Submitted, StorageError> {
        let (done, wait) = oneshot::channel();
        self.jobs
            .send(Job { work, done })
            .map_err(|_| StorageError::WriterGone)?;
        Ok(Submitted(wait))
    }

    /// Runs `f` on the writer thread, in order with every other job, commits
    /// the batch it returns, and once that is durable returns its value.
    /// `f` must be quick and must not wait on anything async.
    pub async fn compute<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> (Batch, T) + Send + 'static,
    ) -> Result<T, StorageError> {
        self.queue_compute(f)?.wait().await
    }

    /// Queues `f` as [`Writer::compute`] does, without waiting: the job
    /// takes its place in the order now, so several queued one after the
    /// other each see the batches of those before them, and they can share
    /// one fsync.
    pub fn queue_compute<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> (Batch, T) + Send + 'static,
    ) -> Result<Computed<T>, StorageError> {
        let (tx, rx) = oneshot::channel();
        let work = Work::Compute(Box::new(move || {
            let (batch, value) = f();
            let _ = tx.send(value);
            batch
        }));
        let submitted = self.enqueue(work)?;
        Ok(Computed {
            submitted,
            value: rx,
        })
    }
}

/// A queued computation ([`Writer::queue_compute`]).
pub struct Computed<T> {
    submitted: Submitted,
    value: oneshot::Receiver<T>,
}

impl<T> Computed<T> {
    /// Waits until its batch is durable, then returns its value.
    pub async fn wait(self) -> Result<T, StorageError> {
        self.submitted.wait().await?;
        self.value.await.map_err(|_| StorageError::WriterGone)
    }
}

/// A queued batch; [`Submitted::wait`] resolves once it is durable.
pub struct Submitted(oneshot::Receiver<Result<(), String>>);

impl Submitted {
    /// Waits until the batch is committed and as durable as the policy says.
    pub async fn wait(self) -> Result<(), StorageError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(StorageError::WriterGone),
        }
    }
}

/// Most batches one group takes, so one huge burst cannot delay the first
/// caller's completion without bound.
const MAX_GROUP: usize = 4096;

#[cfg(not(feature = "sim"))]
fn run(db: Database, fsync: FsyncPolicy, jobs: std_mpsc::Receiver<Job>, completer: Completer) {
    let mut last_sync = Instant::now();
    let mut dirty = false;
    loop {
        let first = match fsync {
            FsyncPolicy::Everysec if dirty => match jobs.recv_timeout(Duration::from_millis(200)) {
                Ok(job) => job,
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    if last_sync.elapsed() >= Duration::from_secs(1) {
                        persist_or_die(&db, PersistMode::SyncData);
                        last_sync = Instant::now();
                        dirty = false;
                    }
                    continue;
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            },
            _ => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let group = take_group(first, MAX_GROUP, || jobs.try_recv().ok());
        let second_passed =
            fsync == FsyncPolicy::Everysec && last_sync.elapsed() >= Duration::from_secs(1);
        dirty = true;
        let (synced, completions) = commit_group(&db, fsync, group, second_passed);
        if synced {
            last_sync = Instant::now();
            dirty = false;
        }
        completer.deliver(completions);
    }
}

/// `first` and whatever else has queued (`next` until it has nothing), up
/// to `limit` jobs: to commit and sync together.
fn take_group(first: Job, limit: usize, mut next: impl FnMut() -> Option<Job>) -> Vec<Job> {
    let mut group = vec![first];
    while group.len() < limit {
        match next() {
            Some(job) => group.push(job),
            None => break,
        }
    }
    group
}

/// Commits each job's batch in order and makes the whole group as durable
/// as the policy says (fsyncing also when `sync_due`). Returns whether it
/// fsynced, and the completions of the jobs someone waits for.
fn commit_group(
    db: &Database,
    fsync: FsyncPolicy,
    group: Vec<Job>,
    sync_due: bool,
) -> (bool, Vec<Completion>) {
    let mut sync = sync_due;
    let mut completions = Vec::new();
    for job in group {
        let batch = match job.work {
            Work::Ready(batch) => batch,
            Work::Compute(f) => f(),
        };
        sync |= batch.sync || (fsync == FsyncPolicy::Always && !batch.relaxed && !batch.is_empty());
        commit_or_die(db, &batch);
        if let Some(f) = batch.on_applied {
            f();
        }
        // A caller that dropped its `Submitted` (a one-way commit) is not
        // woken for nothing.
        if !job.done.is_closed() {
            completions.push(committed(job.done));
        }
    }
    if sync {
        persist_or_die(db, PersistMode::SyncData);
    } else {
        // The journal is persisted manually: without this the group could
        // sit in a user-space buffer and die with the process.
        persist_or_die(db, PersistMode::Buffer);
    }
    (sync, completions)
}

/// A failed commit leaves the store in an unknown state: stop the process
/// rather than answer as if the write happened (fjall has poisoned itself).
fn commit_or_die(db: &Database, batch: &Batch) {
    let mut wb = db.batch();
    for item in &batch.items {
        match item {
            Item::Put(ks, k, v) => wb.insert(ks, k.as_ref(), v.as_ref()),
            Item::Remove(ks, k) => wb.remove(ks, k.as_ref()),
            Item::Clear(ks) => {
                if let Err(e) = ks.clear() {
                    fatal(&e);
                }
            }
        }
    }
    if let Err(e) = wb.commit() {
        fatal(&e);
    }
}

fn persist_or_die(db: &Database, mode: PersistMode) {
    if let Err(e) = db.persist(mode) {
        fatal(&e);
    }
}

fn fatal(e: &fjall::Error) -> ! {
    tracing::error!("FATAL: storage write failed, stopping the node: {e}");
    std::process::exit(70);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(batch: Batch) -> (Job, Submitted) {
        let (done, wait) = oneshot::channel();
        let work = Work::Ready(batch);
        (Job { work, done }, Submitted(wait))
    }

    /// Under `always`, a relaxed batch whose caller stopped waiting (a
    /// participant's one-way commit) is applied, needs no fsync and wakes
    /// nobody; an ordinary batch in the same group makes the group sync,
    /// and only its own caller is completed.
    #[tokio::test]
    async fn only_awaited_jobs_are_completed_and_only_unrelaxed_ones_sync() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::builder(dir.path())
            .manual_journal_persist(true)
            .open()
            .expect("open");
        let ks = db
            .keyspace("k", fjall::KeyspaceCreateOptions::default)
            .expect("keyspace");
        let mut commit = Batch::new();
        commit.put(&ks, "a", "1");
        commit.relaxed();
        let (unawaited, handle) = job(commit);
        drop(handle);

        let (synced, completions) = commit_group(&db, FsyncPolicy::Always, vec![unawaited], false);
        assert!(ks.get("a").expect("read").is_some(), "applied all the same");
        assert!(!synced);
        assert!(completions.is_empty());

        let mut commit = Batch::new();
        commit.put(&ks, "c", "3");
        commit.relaxed();
        let (unawaited, unawaited_handle) = job(commit);
        drop(unawaited_handle);
        let mut prepare = Batch::new();
        prepare.put(&ks, "b", "2");
        let (awaited, handle) = job(prepare);
        let group = vec![unawaited, awaited];
        let (synced, completions) = commit_group(&db, FsyncPolicy::Always, group, false);
        assert!(synced, "the group was fsynced");
        assert_eq!(completions.len(), 1);
        completions.into_iter().for_each(|c| c());
        handle.wait().await.expect("completed");
    }
}
