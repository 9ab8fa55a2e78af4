//! Differential test: the same command scripts against a real
//! `redis-server` and against our cluster, comparing raw reply bytes.
//!
//! The test starts its own `redis-server` (the Debian package's binary,
//! `--save '' --appendonly no`, in a temporary directory, on a free loopback
//! port; killed by its own handle on drop) and a cluster of one coordinator
//! and three participants ([`common::Cluster`]). Each script in
//! `tests/differential/*.txt` runs on a fresh connection to each server,
//! after a FLUSHALL; every reply is compared byte for byte, and every
//! mismatch is reported (file, line, command, both replies) before the test
//! fails. Finally the replicas' digests must agree.
//!
//! # Script format
//!
//! One command per line, arguments separated by spaces. An argument in
//! double quotes may hold spaces and the escapes `\"`, `\\`, `\n`, `\r`,
//! `\t`, `\0` and `\xHH`; `""` is the empty argument. Blank lines and lines
//! starting with `#` are ignored. A line may start with a directive:
//!
//! - `!sorted CMD ...`: the reply is an array whose order may differ (Redis
//!   lists keys in hash order, we in key order): compare it sorted.
//! - `!scan [options]`: run a whole `SCAN` iteration (from cursor 0 until
//!   the cursor is 0 again) with these options on both servers, and compare
//!   the sets of keys returned. Cursors are not compared: they are
//!   positions in different orders.
//! - `!nocompare CMD ...`: send to both, compare nothing (HELLO's reply
//!   carries a connection id).
//! - `!populate COUNT PREFIX`: one `MSET PREFIX0 0 PREFIX1 1 ...` of COUNT
//!   keys, replies compared (a data set for SCAN to walk).
//! - `!participant CMD ...`: send a read to the first participant's own
//!   port instead of the coordinator (its own connection, in RESP2).
//! - `!digits CMD ...`: compare the replies with every run of digits
//!   turned into one `9`, for replies that depend on the clock (TIME):
//!   the shape must match, the numbers may not.
//! - `!range LO HI CMD ...`: both replies must be integers in `LO..=HI`
//!   (a PTTL, whose exact value depends on when it is read).
//! - `!await REPLY CMD ...`: send the command to each server again and
//!   again until it answers exactly `REPLY` (quoted, with escapes: `":0\r\n"`),
//!   for up to [`AWAIT_LIMIT`]; a server that never does is a mismatch.
//!   How a script waits for a key to expire, without a fixed sleep.
//!
//! To add a case, add a line; to add a family, add a file.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Cluster, Opts, Raw, RedisServer, frame_len, show};

/// One script line.
#[derive(Debug)]
enum Step {
    /// Compare the reply bytes.
    Exact(Vec<Vec<u8>>),
    /// Compare the array reply with its items sorted.
    Sorted(Vec<Vec<u8>>),
    /// A whole SCAN iteration with these options.
    Scan(Vec<Vec<u8>>),
    /// Send, compare nothing.
    NoCompare(Vec<Vec<u8>>),
    /// MSET of this many generated keys with this prefix.
    Populate(usize, Vec<u8>),
    /// Compare the reply of a participant (ours) with redis's.
    Participant(Vec<Vec<u8>>),
    /// Compare the replies with their digit runs collapsed.
    Digits(Vec<Vec<u8>>),
    /// Both replies must be integers in this range.
    Range(i64, i64, Vec<Vec<u8>>),
    /// Repeat the command on each server until it gives this reply.
    Await(Vec<u8>, Vec<Vec<u8>>),
}

/// How long `!await` polls one server.
const AWAIT_LIMIT: Duration = Duration::from_secs(10);

/// Splits a script line into arguments (see the module docs for quoting).
fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Ok(args);
        };
        let mut arg = Vec::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quote".into()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => arg.push(b'\n'),
                        Some('r') => arg.push(b'\r'),
                        Some('t') => arg.push(b'\t'),
                        Some('0') => arg.push(0),
                        Some('x') => {
                            let hex: String = chars.by_ref().take(2).collect();
                            let byte = u8::from_str_radix(&hex, 16)
                                .map_err(|_| format!("bad escape \\x{hex}"))?;
                            arg.push(byte);
                        }
                        Some(c @ ('"' | '\\')) => arg.push(c as u8),
                        other => return Err(format!("bad escape \\{other:?}")),
                    },
                    Some(c) => {
                        let mut buf = [0; 4];
                        arg.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                return Err("text right after a closing quote".into());
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| !c.is_whitespace()) {
                let mut buf = [0; 4];
                arg.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                chars.next();
            }
        }
        args.push(arg);
    }
}

/// Parses a script: (line number, text, step) for each command line.
fn parse_script(path: &Path) -> Vec<(usize, String, Step)> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut steps = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (directive, rest) = match line.strip_prefix('!') {
            Some(d) => d.split_once(' ').unwrap_or((d, "")),
            None => ("", line),
        };
        let args = split_args(rest).unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1));
        let step = match directive {
            "" => Step::Exact(args),
            "sorted" => Step::Sorted(args),
            "scan" => Step::Scan(args),
            "nocompare" => Step::NoCompare(args),
            "participant" => Step::Participant(args),
            "digits" => Step::Digits(args),
            "range" => match args.as_slice() {
                [lo, hi, command @ ..] if !command.is_empty() => {
                    let bound = |b: &[u8]| {
                        String::from_utf8_lossy(b)
                            .parse()
                            .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1))
                    };
                    Step::Range(bound(lo), bound(hi), command.to_vec())
                }
                _ => panic!("{}:{}: !range LO HI CMD ...", path.display(), i + 1),
            },
            "await" => match args.as_slice() {
                [reply, command @ ..] if !command.is_empty() => {
                    Step::Await(reply.clone(), command.to_vec())
                }
                _ => panic!("{}:{}: !await REPLY CMD ...", path.display(), i + 1),
            },
            "populate" => match args.as_slice() {
                [count, prefix] => Step::Populate(
                    String::from_utf8_lossy(count)
                        .parse()
                        .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1)),
                    prefix.clone(),
                ),
                _ => panic!("{}:{}: !populate COUNT PREFIX", path.display(), i + 1),
            },
            other => panic!("{}:{}: unknown directive !{other}", path.display(), i + 1),
        };
        steps.push((i + 1, line.to_string(), step));
    }
    steps
}

/// A reply, split just enough to sort arrays and read SCAN replies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Bulk(Vec<u8>),
    Array(Vec<Vec<u8>>),
    Other(Vec<u8>),
}

/// The top-level array's items as raw bytes, or `None` if not an array.
fn array_items(reply: &[u8]) -> Option<Vec<Vec<u8>>> {
    let rest = reply.strip_prefix(b"*")?;
    let eol = rest.windows(2).position(|w| w == b"\r\n")?;
    let n: usize = std::str::from_utf8(&rest[..eol]).ok()?.parse().ok()?;
    let mut at = 1 + eol + 2;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        let len = frame_len(&reply[at..])?;
        items.push(reply[at..at + len].to_vec());
        at += len;
    }
    (at == reply.len()).then_some(items)
}

fn parse_value(reply: &[u8]) -> Value {
    if let Some(items) = array_items(reply) {
        return Value::Array(items);
    }
    match common::bulk_value(reply) {
        Some(v) => Value::Bulk(v.to_vec()),
        None => Value::Other(reply.to_vec()),
    }
}

/// The array reply with its items sorted (unchanged if not an array).
fn sorted(reply: &[u8]) -> Vec<u8> {
    let Some(mut items) = array_items(reply) else {
        return reply.to_vec();
    };
    items.sort();
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for item in items {
        out.extend_from_slice(&item);
    }
    out
}

/// Runs a whole SCAN iteration: the keys returned, or a description of a
/// malformed reply.
fn full_scan(raw: &mut Raw, options: &[Vec<u8>]) -> Result<BTreeSet<Vec<u8>>, String> {
    let mut cursor = b"0".to_vec();
    let mut keys = BTreeSet::new();
    for _ in 0..100_000 {
        let mut args: Vec<&[u8]> = vec![b"SCAN", &cursor];
        args.extend(options.iter().map(Vec::as_slice));
        let reply = raw.cmd(&args);
        let Value::Array(parts) = parse_value(&reply) else {
            return Err(format!("SCAN answered \"{}\"", show(&reply)));
        };
        let [next, found] = parts.as_slice() else {
            return Err(format!("SCAN answered \"{}\"", show(&reply)));
        };
        let (Value::Bulk(next), Value::Array(found)) = (parse_value(next), parse_value(found))
        else {
            return Err(format!("SCAN answered \"{}\"", show(&reply)));
        };
        for key in found {
            match parse_value(&key) {
                Value::Bulk(k) => keys.insert(k),
                _ => return Err(format!("SCAN listed \"{}\"", show(&key))),
            };
        }
        if next == b"0" {
            return Ok(keys);
        }
        cursor = next;
    }
    Err("SCAN did not finish in 100000 steps".into())
}

/// `reply` with every run of ASCII digits replaced by one `9`.
fn collapse_digits(reply: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(reply.len());
    for &b in reply {
        if !(b.is_ascii_digit() && out.last().is_some_and(|l: &u8| l.is_ascii_digit())) {
            out.push(if b.is_ascii_digit() { b'9' } else { b });
        }
    }
    out
}

/// The integer of an integer reply.
fn integer(reply: &[u8]) -> Option<i64> {
    std::str::from_utf8(reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?)
        .ok()?
        .parse()
        .ok()
}

/// Sends `args` until the reply is `want` or [`AWAIT_LIMIT`] passes: the
/// last reply, and whether it was `want`.
fn await_reply(raw: &mut Raw, args: &[&[u8]], want: &[u8]) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + AWAIT_LIMIT;
    loop {
        let reply = raw.cmd(args);
        if reply == want {
            return (reply, true);
        }
        if Instant::now() >= deadline {
            return (reply, false);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn show_keys(keys: &Result<BTreeSet<Vec<u8>>, String>) -> String {
    match keys {
        Ok(keys) => keys.iter().map(|k| show(k)).collect::<Vec<_>>().join(" "),
        Err(e) => e.clone(),
    }
}

fn script_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scripts in {}", dir.display());
    files
}

/// Runs one script on both servers; returns how many steps it compared,
/// and the mismatches.
fn run_script(path: &Path, redis: SocketAddr, cluster: &Cluster) -> (usize, Vec<String>) {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut theirs = Raw::connect(redis);
    let mut mine = cluster.raw();
    let mut participant: Option<Raw> = None;
    let mut mismatches = Vec::new();
    for side in [&mut theirs, &mut mine] {
        let reply = side.cmd(&[b"FLUSHALL"]);
        assert_eq!(reply, b"+OK\r\n", "FLUSHALL before {name}");
    }
    let steps = parse_script(path);
    let compared = steps
        .iter()
        .filter(|(_, _, step)| !matches!(step, Step::NoCompare(_)))
        .count();
    for (line, text, step) in steps {
        let send = |raw: &mut Raw, args: &[Vec<u8>]| {
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            raw.cmd(&args)
        };
        match step {
            Step::Exact(args)
            | Step::Sorted(args)
            | Step::NoCompare(args)
            | Step::Participant(args)
            | Step::Digits(args)
            | Step::Range(_, _, args)
            | Step::Await(_, args)
                if args.is_empty() =>
            {
                panic!("{name}:{line}: empty command")
            }
            Step::Exact(args) => {
                let (want, got) = (send(&mut theirs, &args), send(&mut mine, &args));
                if want != got {
                    mismatches.push(format!(
                        "{name}:{line}: {text}\n    redis: \"{}\"\n    ours:  \"{}\"",
                        show(&want),
                        show(&got)
                    ));
                }
            }
            Step::Sorted(args) => {
                let want = sorted(&send(&mut theirs, &args));
                let got = sorted(&send(&mut mine, &args));
                if want != got {
                    mismatches.push(format!(
                        "{name}:{line}: {text} (sorted)\n    redis: \"{}\"\n    ours:  \"{}\"",
                        show(&want),
                        show(&got)
                    ));
                }
            }
            Step::Scan(options) => {
                let want = full_scan(&mut theirs, &options);
                let got = full_scan(&mut mine, &options);
                if want != got || want.is_err() {
                    mismatches.push(format!(
                        "{name}:{line}: {text} (whole iteration)\n    redis: {}\n    ours:  {}",
                        show_keys(&want),
                        show_keys(&got)
                    ));
                }
            }
            Step::NoCompare(args) => {
                send(&mut theirs, &args);
                send(&mut mine, &args);
            }
            Step::Digits(args) => {
                let want = collapse_digits(&send(&mut theirs, &args));
                let got = collapse_digits(&send(&mut mine, &args));
                if want != got {
                    mismatches.push(format!(
                        "{name}:{line}: {text} (digits collapsed)\n    redis: \"{}\"\n    ours:  \"{}\"",
                        show(&want),
                        show(&got)
                    ));
                }
            }
            Step::Populate(count, prefix) => {
                let mut args = vec![b"MSET".to_vec()];
                for i in 0..count {
                    let mut key = prefix.clone();
                    key.extend_from_slice(i.to_string().as_bytes());
                    args.push(key);
                    args.push(i.to_string().into_bytes());
                }
                let (want, got) = (send(&mut theirs, &args), send(&mut mine, &args));
                if want != got {
                    mismatches.push(format!(
                        "{name}:{line}: {text}\n    redis: \"{}\"\n    ours:  \"{}\"",
                        show(&want),
                        show(&got)
                    ));
                }
            }
            Step::Range(lo, hi, args) => {
                let (want, got) = (send(&mut theirs, &args), send(&mut mine, &args));
                let within = |r: &[u8]| integer(r).is_some_and(|n| (lo..=hi).contains(&n));
                if !within(&want) || !within(&got) {
                    mismatches.push(format!(
                        "{name}:{line}: {text} (not in {lo}..={hi})\n    redis: \"{}\"\n    ours:  \"{}\"",
                        show(&want),
                        show(&got)
                    ));
                }
            }
            Step::Await(reply, args) => {
                let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                let (want, want_ok) = await_reply(&mut theirs, &args, &reply);
                let (got, got_ok) = await_reply(&mut mine, &args, &reply);
                if !want_ok || !got_ok {
                    mismatches.push(format!(
                        "{name}:{line}: {text} (never answered \"{}\" within {AWAIT_LIMIT:?})\n    redis: \"{}\"\n    ours:  \"{}\"",
                        show(&reply),
                        show(&want),
                        show(&got)
                    ));
                }
            }
            Step::Participant(args) => {
                let direct = participant.get_or_insert_with(|| cluster.raw_participant(0));
                let (want, got) = (send(&mut theirs, &args), send(direct, &args));
                if want != got {
                    mismatches.push(format!(
                        "{name}:{line}: {text} (at a participant)\n    redis: \"{}\"\n    ours:  \"{}\"",
                        show(&want),
                        show(&got)
                    ));
                }
            }
        }
    }
    (compared, mismatches)
}

#[test]
fn same_replies_as_redis() {
    let redis = RedisServer::start(&["--save", "", "--appendonly", "no"]);
    let cluster = Cluster::start(3, Opts::redis());
    let mut mismatches = Vec::new();
    let mut scripts = 0;
    let mut compared = 0;
    for path in script_files() {
        let (n, found) = run_script(&path, redis.addr, &cluster);
        compared += n;
        mismatches.extend(found);
        scripts += 1;
    }
    eprintln!("differential: compared {compared} replies in {scripts} scripts");
    assert!(
        mismatches.is_empty(),
        "{} mismatches with redis-server in {scripts} scripts:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // Every replica applied the same writes.
    common::wait_until(
        "the replicas' digests agree",
        Duration::from_secs(10),
        || {
            cluster.coordinator_digests().is_ok_and(|lines| {
                let digests: BTreeSet<&str> = lines
                    .iter()
                    .filter_map(|l| l.split_whitespace().nth(1))
                    .collect();
                lines.len() == 3 && digests.len() == 1
            })
        },
    );
}

#[test]
fn script_lines_split_like_redis_cli() {
    assert_eq!(
        split_args(r#"SET k "a b" "" "\x00\r\n\"\\""#).unwrap(),
        vec![
            b"SET".to_vec(),
            b"k".to_vec(),
            b"a b".to_vec(),
            Vec::new(),
            b"\x00\r\n\"\\".to_vec()
        ]
    );
    assert!(split_args(r#"SET "k"#).is_err());
    assert_eq!(
        sorted(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n"),
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        collapse_digits(b"*2\r\n$10\r\n1795609108\r\n$5\r\n42813\r\n"),
        b"*9\r\n$9\r\n9\r\n$9\r\n9\r\n"
    );
}
