//! The binary refuses bad start-up input: each bad config file (unknown key,
//! missing or misplaced `mode`, bad address, two `coordinator_info` lines, two
//! `participant_info` lines in a participant's file, an unreadable file, a bad
//! `KVSTORE_DIALECT`) makes it exit non-zero at once with a message naming
//! the file, the line and what is wrong, without creating any data; and a
//! missing `--config_path` prints the usage and exits non-zero.
//!
//! The exact wording of every reason is unit-tested in `src/config.rs`; here
//! the real process is checked end to end.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{BIN, free_ports, run};

/// A config file's text and the `(line, reason)` the error must name;
/// `line` is `None` for errors about the file as a whole.
struct Case {
    name: &'static str,
    text: String,
    line: Option<usize>,
    reason: String,
}

/// Runs the binary with `args` in `cwd`, with `KVSTORE_DIALECT` set to
/// `dialect` (or unset), failing if it does not exit within 10 s.
fn run_binary(cwd: &Path, args: &[&str], dialect: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).current_dir(cwd);
    match dialect {
        Some(value) => command.env("KVSTORE_DIALECT", value),
        None => command.env_remove("KVSTORE_DIALECT"),
    };
    run(command, None, Duration::from_secs(10))
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, text).expect("write a config file");
    path
}

/// Asserts a refusal: non-zero exit, and stderr naming `path`, `line` and
/// `reason`, with nothing created in the working directory.
#[track_caller]
fn assert_refused(name: &str, out: &Output, path: &Path, line: Option<usize>, reason: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{name}: expected a non-zero exit, got {}; stderr: {stderr}",
        out.status
    );
    let place = match line {
        Some(line) => format!("{}:{line}: ", path.display()),
        None => format!("{}: ", path.display()),
    };
    let want = format!("{place}{reason}");
    assert!(
        stderr.contains(&want),
        "{name}: stderr does not contain {want:?}\nstderr: {stderr}"
    );
}

#[test]
fn bad_config_files_are_refused_with_file_line_and_reason() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ports = free_ports(3);
    let [c, p1, p2] = [ports[0], ports[1], ports[2]];
    let cases = [
        Case {
            name: "unknown_key",
            text: format!(
                "! a comment\nmode coordinator\ncoordinator_info 127.0.0.1:{c}\nparticipant_info 127.0.0.1:{p1}\n\nbogus_key 1\n"
            ),
            line: Some(6),
            reason: r#"unknown key "bogus_key""#.into(),
        },
        Case {
            name: "mode_not_first",
            text: format!(
                "! no mode line first\ncoordinator_info 127.0.0.1:{c}\nparticipant_info 127.0.0.1:{p1}\nmode coordinator\n"
            ),
            line: Some(2),
            reason: r#""mode" must be the first parameter line"#.into(),
        },
        Case {
            name: "no_mode_at_all",
            text: "! only comments\n!\n\n".into(),
            line: None,
            reason: r#"no "mode" line"#.into(),
        },
        Case {
            name: "bad_mode",
            text: format!("mode leader\ncoordinator_info 127.0.0.1:{c}\n"),
            line: Some(1),
            reason: r#"bad value "leader" for "mode""#.into(),
        },
        Case {
            name: "bad_address_port",
            text: format!(
                "mode coordinator\ncoordinator_info 127.0.0.1:{c}\nparticipant_info 127.0.0.1:99999\n"
            ),
            line: Some(3),
            reason: r#"bad address "127.0.0.1:99999""#.into(),
        },
        Case {
            name: "bad_address_hostname",
            text: format!("mode participant\nparticipant_info localhost:{p1}\n"),
            line: Some(2),
            reason: format!(r#"bad address "localhost:{p1}""#),
        },
        Case {
            name: "two_coordinator_info_lines",
            text: format!(
                "mode coordinator\ncoordinator_info 127.0.0.1:{c}\nparticipant_info 127.0.0.1:{p1}\ncoordinator_info 127.0.0.1:{p2}\n"
            ),
            line: Some(4),
            reason: r#""coordinator_info" given twice (first on line 2)"#.into(),
        },
        Case {
            name: "two_participant_info_in_a_participant",
            text: format!(
                "mode participant\nparticipant_info 127.0.0.1:{p1}\ncoordinator_info 127.0.0.1:{c}\nparticipant_info 127.0.0.1:{p2}\n"
            ),
            line: Some(4),
            reason: r#"a participant's file needs exactly one "participant_info""#.into(),
        },
        Case {
            name: "no_coordinator_info",
            text: format!("mode participant\nparticipant_info 127.0.0.1:{p1}\n"),
            line: None,
            reason: r#"no "coordinator_info" line"#.into(),
        },
        Case {
            name: "bad_extension_value",
            text: format!(
                "mode coordinator\ncoordinator_info 127.0.0.1:{c}\nparticipant_info 127.0.0.1:{p1}\nfsync sometimes\n"
            ),
            line: Some(4),
            reason: r#"bad value "sometimes" for "fsync""#.into(),
        },
    ];
    for case in &cases {
        let path = write_config(dir.path(), case.name, &case.text);
        let out = run_binary(
            dir.path(),
            &["--config_path", path.to_str().expect("a UTF-8 path")],
            None,
        );
        assert_refused(case.name, &out, &path, case.line, &case.reason);
    }
    // None of them got as far as creating a data directory.
    assert!(
        !dir.path().join("kvstore-data").exists(),
        "a refused config still created kvstore-data/"
    );
}

#[test]
fn unreadable_config_file_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("does-not-exist.conf");
    let out = run_binary(
        dir.path(),
        &["--config_path", path.to_str().expect("a UTF-8 path")],
        None,
    );
    assert_refused(
        "missing file",
        &out,
        &path,
        None,
        "cannot read the config file",
    );
}

#[test]
fn bad_dialect_variable_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ports = free_ports(2);
    let path = write_config(
        dir.path(),
        "participant",
        &format!(
            "mode participant\nparticipant_info 127.0.0.1:{}\ncoordinator_info 127.0.0.1:{}\n",
            ports[0], ports[1]
        ),
    );
    let out = run_binary(
        dir.path(),
        &["--config_path", path.to_str().expect("a UTF-8 path")],
        Some("resp"),
    );
    assert_refused(
        "KVSTORE_DIALECT=resp",
        &out,
        &path,
        None,
        r#"environment variable KVSTORE_DIALECT is "resp""#,
    );
}

#[test]
fn missing_config_path_prints_usage() {
    let dir = tempfile::tempdir().expect("temporary directory");
    for args in [&[][..], &["--config_path"], &["--bogus"]] {
        let out = run_binary(dir.path(), args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{args:?}: expected a non-zero exit, got {}; stderr: {stderr}",
            out.status
        );
        assert!(
            stderr.contains("usage: kvstore2pcsystem --config_path FILE"),
            "{args:?}: no usage in stderr: {stderr}"
        );
    }
}
