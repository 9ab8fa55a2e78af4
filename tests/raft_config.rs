//! `kvstoreraftsystem` reads the Lab's Raft-mode files: each of the three
//! files the Lab3 tester writes is accepted (and, as the mode does not
//! serve yet, the binary says so and exits non-zero without creating any
//! data), and a bad file is refused with its name, line and reason.
//!
//! The exact wording of every reason is unit-tested in `src/config.rs`; here
//! the real process is checked end to end.

mod common;

use std::process::Command;
use std::time::Duration;

use common::run;

const RAFT_BIN: &str = env!("CARGO_BIN_EXE_kvstoreraftsystem");

/// The tester's three files for version 2, verbatim.
const FILES: [&str; 3] = [
    "follower_info 192.168.66.201:8001\nfollower_info 192.168.66.202:8002\nfollower_info 192.168.66.203:8003\n",
    "follower_info 192.168.66.202:8002\nfollower_info 192.168.66.201:8001\nfollower_info 192.168.66.203:8003\n",
    "follower_info 192.168.66.203:8003\nfollower_info 192.168.66.201:8001\nfollower_info 192.168.66.202:8002\n",
];

fn run_raft(cwd: &std::path::Path, text: &str) -> (std::process::Output, std::path::PathBuf) {
    let path = cwd.join("follower.conf");
    std::fs::write(&path, text).expect("write the config");
    let mut command = Command::new(RAFT_BIN);
    command
        .arg("--config_path")
        .arg(&path)
        .current_dir(cwd)
        .env_remove("KVSTORE_DIALECT");
    (run(command, None, Duration::from_secs(10)), path)
}

#[test]
fn the_testers_files_are_read_and_the_mode_says_it_does_not_serve_yet() {
    for text in FILES {
        let dir = tempfile::tempdir().expect("tempdir");
        let (out, path) = run_raft(dir.path(), text);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("config {} is valid", path.display())),
            "{stderr}"
        );
        assert!(stderr.contains("not yet serving"), "{stderr}");
        assert!(
            !dir.path().join("kvstore-data").exists(),
            "no data directory is made"
        );
    }
}

#[test]
fn a_bad_file_is_refused_with_file_line_and_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, path) = run_raft(
        dir.path(),
        "follower_info 127.0.0.1:8001\n! a comment\nfollower_info 127.0.0.1:8001\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:3: \"follower_info\" 127.0.0.1:8001 given twice (first on line 1)",
            path.display()
        )),
        "{stderr}"
    );
}
