//! Storage after a crash: a participant whose journal tail is corrupt (a
//! torn or damaged last record, as a crash mid-write can leave) replays only
//! the good prefix, is told the outcome of what it lost, catches up, and
//! ends with the same data as the others — nothing corrupt is applied.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Cluster, Opts, assert_reply};

/// The participant's newest journal file (fjall names them `N.jnl`).
fn newest_journal(data_dir: &Path) -> PathBuf {
    let mut journals: Vec<(u64, PathBuf)> = fs::read_dir(data_dir)
        .expect("read the data directory")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            let stem = path.file_name()?.to_str()?.strip_suffix(".jnl")?.to_owned();
            Some((stem.parse().ok()?, path))
        })
        .collect();
    journals.sort();
    journals.pop().expect("a journal file").1
}

/// Flips the last bytes written to `journal` (it is preallocated with zeros,
/// so the written part ends at the last non-zero byte).
fn corrupt_tail(journal: &Path) {
    let mut bytes = fs::read(journal).expect("read the journal");
    let end = bytes
        .iter()
        .rposition(|b| *b != 0)
        .expect("a written journal")
        + 1;
    for b in &mut bytes[end.saturating_sub(8)..end] {
        *b ^= 0xA5;
    }
    fs::write(journal, bytes).expect("write the journal back");
}

#[test]
fn corrupt_journal_tail_is_dropped_and_the_participant_recovers() {
    let mut c = Cluster::start(3, Opts::redis());
    let mut raw = c.raw();
    for i in 0..50 {
        let key = format!("key{i}");
        let value = format!("value{i}");
        assert_reply(
            &raw.cmd(&[b"SET", key.as_bytes(), value.as_bytes()]),
            b"+OK\r\n",
        );
    }
    // Wait until participant 0 has applied the last commit, so that its
    // journal ends with that commit's record: the one we damage.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c
        .participant_info(0)
        .is_ok_and(|info| info.contains("kvstore_watermark:50\r\n"))
    {
        assert!(
            Instant::now() < deadline,
            "participant 0 never applied index 50"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    c.kill_participant(0);
    corrupt_tail(&newest_journal(&c.dir().join("data").join("participant0")));
    c.restart_participant(0);
    c.wait_live(3);

    // The last write it had lost is back, from the coordinator's decision
    // and the others' log, and nothing else differs.
    let mut direct = c.raw_participant(0);
    for i in 0..50 {
        let key = format!("key{i}");
        let want = format!("${}\r\nvalue{i}\r\n", format!("value{i}").len());
        assert_reply(&direct.cmd(&[b"GET", key.as_bytes()]), want.as_bytes());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let digests: Vec<String> = (0..3)
            .map(|i| c.participant_digest(i).expect("a digest"))
            .collect();
        if digests.iter().all(|d| *d == digests[0]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replicas still differ: {digests:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = c.participant_log(0);
    assert!(
        log.contains("in_doubt=1") || log.contains("watermark=49"),
        "the participant should have recovered without its damaged last record:\n{log}"
    );
}
