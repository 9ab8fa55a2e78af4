//! Tests of the Raft storage: openraft's own storage suite against the
//! fjall store, and our promises on top of it (the same records as a 2PC
//! participant, snapshots that carry the data whole, state that survives
//! a restart).
//!
//! Owns nothing but tests; must never be compiled outside `cfg(test)`.

use std::collections::BTreeMap;

use bytes::Bytes;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{
    BasicNode, CommittedLeaderId, EntryPayload, ErrorSubject, ErrorVerb, Membership, RaftLogReader,
    RaftSnapshotBuilder,
};

use super::*;
use crate::command::{self, Command};
use crate::config::{Dialect, FsyncPolicy};
use crate::participant::replica::{Replica, data_digest};

/// Builds a fresh store in a temporary directory for each of the suite's
/// cases; the directory lives as long as the case.
struct FjallBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for FjallBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), RaftStorageError> {
        fn io(e: &(impl std::error::Error + 'static)) -> RaftStorageError {
            storage_error(ErrorSubject::Store, ErrorVerb::Write, e)
        }
        let dir = tempfile::tempdir().map_err(|e| io(&e))?;
        let store = Store::open(dir.path(), FsyncPolicy::No).map_err(|e| io(&e))?;
        let (log, sm) = open(&store).map_err(|e| io(&e))?;
        Ok((dir, log, sm))
    }
}

/// openraft's storage test suite, every case.
#[test]
fn openraft_storage_suite_passes() {
    if let Err(e) = Suite::test_all(FjallBuilder) {
        panic!("openraft's storage suite failed: {e}");
    }
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

/// A client command as the leader would propose it: parsed, stamped with
/// its clock (the stamp is the state machine's to fix).
fn write_op(line: &str, now_ms: u64) -> WriteOp {
    let args: Vec<Bytes> = line.split(' ').map(|w| Bytes::from(w.to_owned())).collect();
    match command::parse(&args, Dialect::Redis) {
        Ok(Command::Write(op)) => op.stamp(now_ms, 0),
        other => panic!("{line}: {other:?}"),
    }
}

fn normal(index: u64, line: &str) -> Entry {
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Normal(write_op(line, 1_000)),
    }
}

fn membership(index: u64) -> Entry {
    let nodes = BTreeMap::from([(1, BasicNode::new("127.0.0.1:1"))]);
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Membership(Membership::new(vec![[1].into()], nodes)),
    }
}

/// Writes of every family, including an error, a collection replaced
/// (garbage), a deadline and a no-op.
const COMMANDS: &[&str] = &[
    "SET a 1",
    "INCR a",
    "RPUSH l x y z",
    "HSET h f v g w",
    "SADD s m n",
    "ZADD z 1 one 2 two",
    "INCR l",
    "SET l replaced",
    "PEXPIRE a 100000",
    "DEL nothing",
    "LPOP l",
    "SET e 1 PX 5",
];

/// Applies [`COMMANDS`] through the state machine (after a blank entry and
/// a membership at 1 and 2) and returns the outcomes.
async fn apply_commands(sm: &mut StateMachine) -> Vec<Outcome> {
    let mut entries = vec![
        Entry {
            log_id: log_id(1, 1),
            payload: EntryPayload::Blank,
        },
        membership(2),
    ];
    for (i, line) in COMMANDS.iter().enumerate() {
        entries.push(normal(i as u64 + 3, line));
    }
    sm.apply(entries).await.expect("apply")
}

fn digest(store: &Store) -> (u64, u64) {
    data_digest(store).expect("digest")
}

/// The state machine writes what a 2PC participant's prepare and commit
/// of the same ops write, so the digests agree.
#[tokio::test]
async fn applying_writes_the_records_a_participant_commits() {
    let raft_dir = tempfile::tempdir().expect("tempdir");
    let raft_store = Store::open(raft_dir.path(), FsyncPolicy::No).expect("open");
    let (_, mut sm) = open(&raft_store).expect("open raft");
    let outcomes = apply_commands(&mut sm).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), FsyncPolicy::No).expect("open");
    let replica = Replica::recover(store.clone(), 1000).expect("recover");
    let mut expected = vec![Outcome::Ok, Outcome::Ok];
    for (i, line) in COMMANDS.iter().enumerate() {
        // The participant's stamp is its txid; the state machine's the
        // log index: give the participant the same numbers.
        let index = i as u64 + 3;
        let op = match write_op(line, 1_000) {
            WriteOp::At { now_ms, op, .. } => WriteOp::At {
                now_ms,
                stamp: index,
                op,
            },
            op => panic!("{op:?}"),
        };
        expected.push(
            replica
                .prepare(index, op, std::time::Duration::from_secs(5))
                .await
                .expect("prepare"),
        );
        if let Some(applied) = replica.commit(index, index - 2).expect("commit") {
            applied.wait().await.expect("applied");
        }
    }
    assert_eq!(outcomes, expected);
    assert!(matches!(outcomes[8], Outcome::Error(_)), "{outcomes:?}");
    assert_eq!(digest(&raft_store), digest(&store));
    assert_eq!(
        raft_store.expires.iter().count(),
        store.expires.iter().count()
    );
    assert_eq!(
        raft_store.garbage.iter().count(),
        store.garbage.iter().count()
    );
    let (applied, members) = sm.applied_state().await.expect("applied state");
    assert_eq!(applied, Some(log_id(1, COMMANDS.len() as u64 + 2)));
    assert_eq!(members.log_id(), &Some(log_id(1, 2)));
}

/// A snapshot carries the data whole: installed on a node with other data
/// it leaves the same records, the same applied state, and is kept as the
/// current snapshot.
#[tokio::test]
async fn a_snapshot_rebuilds_another_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), FsyncPolicy::No).expect("open");
    let (_, mut sm) = open(&store).expect("open raft");
    apply_commands(&mut sm).await;
    let snapshot = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");
    let current = sm
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("kept");
    assert_eq!(current.meta, snapshot.meta);

    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = Store::open(other_dir.path(), FsyncPolicy::No).expect("open");
    let (_, mut other_sm) = open(&other).expect("open raft");
    // Data the snapshot does not have, which installing must remove.
    other_sm
        .apply(vec![
            normal(1, "SET stale 1 PX 100000"),
            normal(2, "RPUSH l old"),
            normal(3, "SADD s n"),
        ])
        .await
        .expect("apply");
    let mut receiving = other_sm.begin_receiving_snapshot().await.expect("begin");
    receiving
        .get_mut()
        .extend_from_slice(snapshot.snapshot.get_ref());
    other_sm
        .install_snapshot(&snapshot.meta, receiving)
        .await
        .expect("install");

    assert_eq!(digest(&other), digest(&store));
    assert_eq!(other.expires.iter().count(), store.expires.iter().count());
    assert_eq!(
        other_sm.applied_state().await.expect("state"),
        sm.applied_state().await.expect("state")
    );
    let kept = other_sm
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("kept");
    assert_eq!(kept.meta, snapshot.meta);
    assert_eq!(kept.snapshot.get_ref(), snapshot.snapshot.get_ref());

    // The installed node applies on from there as the first one does.
    let next = COMMANDS.len() as u64 + 3;
    for sm in [&mut sm, &mut other_sm] {
        sm.apply(vec![
            normal(next, "RPUSH l more"),
            normal(next + 1, "SADD s o"),
        ])
        .await
        .expect("apply");
    }
    assert_eq!(digest(&other), digest(&store));
}

/// Log, vote and applied state survive reopening the database.
#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vote = openraft::Vote::new_committed(3, 7);
    {
        let store = Store::open(dir.path(), FsyncPolicy::Always).expect("open");
        let (mut log, mut sm) = open(&store).expect("open raft");
        log.save_vote(&vote).await.expect("vote");
        let entries: Vec<Entry> = (1..=3)
            .map(|i| normal(i, &format!("SET k{i} {i}")))
            .collect();
        log.blocking_append(entries.clone()).await.expect("append");
        sm.apply(entries).await.expect("apply");
        log.purge(log_id(1, 1)).await.expect("purge");
    }
    let store = Store::open(dir.path(), FsyncPolicy::Always).expect("reopen");
    let (mut log, mut sm) = open(&store).expect("open raft");
    assert_eq!(log.read_vote().await.expect("vote"), Some(vote));
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 1)));
    assert_eq!(state.last_log_id, Some(log_id(1, 3)));
    let kept = log.try_get_log_entries(0..10).await.expect("entries");
    assert_eq!(
        kept.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
        vec![2, 3]
    );
    let (applied, _) = sm.applied_state().await.expect("applied");
    assert_eq!(applied, Some(log_id(1, 3)));
    assert!(store.data.iter().count() == 3);
}
