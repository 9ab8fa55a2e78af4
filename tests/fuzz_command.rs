//! Property tests of the command parser (`command::parse`), run in CI.
//!
//! Arbitrary argument vectors — arbitrary bytes, or known command and
//! subcommand names in any letter case followed by arbitrary arguments —
//! never make `parse` panic in either dialect; a parse error always has
//! Redis's shape (an error code, and one line on the wire); and session
//! commands that parse also run (`connection::apply`) without panicking.
//!
//! Beyond parsing: every data command that parses is also evaluated
//! (`op::eval_write` / `op::eval_read`) against a small in-memory replica
//! holding integers, floats, text and empty values, and its outcome turned
//! into a reply (`session::outcome_reply`), without panicking; and no write
//! it produces has a key the storage engine refuses (empty, or over 64 KB:
//! fjall panics on those, which would kill every participant's writer).
//! The helpers that read client text on their own (glob patterns for KEYS
//! and SCAN MATCH, in bounded time whatever the pattern; SCAN cursors;
//! INCRBYFLOAT's long doubles) never panic on arbitrary bytes.
//!
//! The number of cases per property is `PROPTEST_CASES` (default 1000).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ops::Bound;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kvstore2pcsystem::command::connection::{self, ClientState, ServerFacts};
use kvstore2pcsystem::command::op::{self, Entry, Outcome, Stored, Version, WriteOp};
use kvstore2pcsystem::command::server::NodeInfo;
use kvstore2pcsystem::command::{self, Command, cursor, glob, long_double};
use kvstore2pcsystem::config::Dialect;
use kvstore2pcsystem::resp::reply::{Protocol, Reply, Style};
use kvstore2pcsystem::session::outcome_reply;
use proptest::prelude::*;

mod fuzz_config;
use fuzz_config::config;

struct Facts;

impl ServerFacts for Facts {
    fn role(&self) -> &'static str {
        "master"
    }
    fn config_values(&self) -> Vec<(&'static str, String)> {
        vec![("maxclients", "10000".into()), ("save", String::new())]
    }
    fn runtime_config(&self) -> &kvstore2pcsystem::command::server::RuntimeConfig {
        kvstore2pcsystem::command::server::RuntimeConfig::process_wide()
    }
    fn node_info(&self) -> NodeInfo {
        NodeInfo {
            replication: vec![("role".into(), "master".into())],
            ..NodeInfo::default()
        }
    }
}

/// A connection with a password configured, for HELLO's AUTH option.
struct Password(bool);

impl connection::Credentials for Password {
    fn authenticate(&mut self, user: &[u8], password: &[u8]) -> Result<(), Reply> {
        if user == b"default" && password == b"k" {
            self.0 = true;
            Ok(())
        } else {
            Err(Reply::error(
                "WRONGPASS invalid username-password pair or user is disabled.",
            ))
        }
    }
    fn authenticated(&self) -> bool {
        self.0
    }
}

/// Names and words the parser looks for, so arbitrary vectors reach deep:
/// every command name, their options and subcommands, the keys of the
/// replica below, and numbers at the edges.
const WORDS: &[&str] = &[
    // Commands.
    "get",
    "set",
    "setnx",
    "getset",
    "getdel",
    "mset",
    "msetnx",
    "mget",
    "incr",
    "decr",
    "incrby",
    "decrby",
    "incrbyfloat",
    "append",
    "strlen",
    "getrange",
    "substr",
    "setrange",
    "del",
    "unlink",
    "exists",
    "type",
    "rename",
    "renamenx",
    "dbsize",
    "keys",
    "scan",
    "flushdb",
    "flushall",
    "ping",
    "echo",
    "quit",
    "select",
    "hello",
    "client",
    "command",
    "config",
    "info",
    "time",
    "debug",
    "wait",
    "getex",
    "setex",
    "psetex",
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "persist",
    "ttl",
    "pttl",
    "expiretime",
    "pexpiretime",
    // Options and subcommands.
    "digest",
    "auth",
    "id",
    "getname",
    "setname",
    "setinfo",
    "list",
    "count",
    "docs",
    "resetstat",
    "rewrite",
    "nx",
    "xx",
    "ex",
    "px",
    "exat",
    "pxat",
    "keepttl",
    "persist",
    "gt",
    "lt",
    "get",
    "match",
    "type",
    "async",
    "sync",
    "string",
    "all",
    "everything",
    "replication",
    // Keys of the replica.
    "int",
    "float",
    "text",
    "empty",
    "max",
    "min",
    "missing",
    // Numbers and patterns.
    "0",
    "1",
    "2",
    "3",
    "4",
    "-1",
    "10",
    "100",
    "1000000",
    "536870911",
    "536870912",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "18446744073709551615",
    "1.5",
    "-0.0",
    "1e308",
    "1e-308",
    "inf",
    "-inf",
    "nan",
    "0x10",
    " 1",
    "1 ",
    "*",
    "?",
    "[a-z]*",
    "*a*b*c*",
    "\\",
    "",
    " ",
];

/// The time ops are stamped with (unix ms).
const NOW: u64 = 1_700_000_000_000;

/// A small replica: values that every command family reads differently,
/// some with a deadline (one already past).
struct Replica(BTreeMap<Bytes, Bytes>, BTreeMap<Bytes, u64>);

impl Replica {
    fn new() -> Replica {
        let pairs: &[(&str, &[u8])] = &[
            ("int", b"10"),
            ("float", b"1.5"),
            ("text", b"hello world"),
            ("empty", b""),
            ("max", b"9223372036854775807"),
            ("min", b"-9223372036854775808"),
            ("binary", b"\x00\xff\r\n"),
        ];
        let deadlines = [("int", NOW + 10_000), ("text", NOW - 1)];
        Replica(
            pairs
                .iter()
                .map(|(k, v)| (Bytes::from(*k), Bytes::copy_from_slice(v)))
                .collect(),
            deadlines
                .iter()
                .map(|(k, at)| (Bytes::from(*k), *at))
                .collect(),
        )
    }
}

impl Stored for Replica {
    type Error = Infallible;

    fn stored(&self, key: &[u8]) -> Result<Option<Entry>, Infallible> {
        Ok(self
            .0
            .get(key)
            .map(|v| Entry::string(v.clone(), self.1.get(key).copied())))
    }

    fn stored_element(&self, _: Version, _: &[u8]) -> Result<Option<Bytes>, Infallible> {
        Ok(None)
    }

    fn stored_elements(
        &self,
        _: Version,
        _: &[u8],
        _: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, Infallible> {
        Ok(Vec::new())
    }

    fn stored_from(
        &self,
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Option<u64>)>, Infallible> {
        Ok(self
            .0
            .range::<[u8], _>((Bound::Included(start), Bound::Unbounded))
            .take(limit)
            .map(|(k, _)| (k.clone(), self.1.get(k).copied()))
            .collect())
    }
}

/// Evaluates a parsed data command against the replica and encodes its
/// reply in every style; returns the outcome.
fn evaluate(command: &Command, dialect: Dialect) -> Option<Outcome> {
    let replica = Replica::new();
    let outcome = match command {
        // A far offset makes Redis (and us) build a value that long: legal,
        // but too slow to do thousands of times here.
        Command::Write(WriteOp::SetRange { offset, .. }) if *offset > 1 << 20 => return None,
        Command::Write(op) => match op::eval_write(&op.clone().stamp(NOW, 1), &replica) {
            Ok((outcome, effects)) => {
                // The storage engine (fjall) panics on a key over 64 KB
                // (and the expiry index puts 8 bytes in front): no client
                // command may produce such a write.
                for effect in &effects {
                    assert!(
                        effect.key().len() <= op::MAX_KEY_LEN,
                        "{op:?} writes a key of {} bytes",
                        effect.key().len()
                    );
                }
                outcome
            }
        },
        Command::Read(op) => match op::eval_read(&op.clone().stamp(NOW), &replica, 0) {
            Ok(outcome) => outcome,
        },
        _ => return None,
    };
    let reply = outcome_reply(outcome.clone(), dialect);
    for style in [
        Style::Redis(Protocol::Resp2),
        Style::Redis(Protocol::Resp3),
        Style::Lab,
    ] {
        let mut out = BytesMut::new();
        reply.encode(style, &mut out);
    }
    Some(outcome)
}

/// One argument: a known word in random letter case, or arbitrary bytes.
fn arg() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        2 => (prop::sample::select(WORDS), any::<u64>()).prop_map(|(w, mask)| {
            Bytes::from(
                w.bytes()
                    .enumerate()
                    .map(|(i, b)| if mask >> (i % 64) & 1 == 1 { b.to_ascii_uppercase() } else { b })
                    .collect::<Vec<u8>>(),
            )
        }),
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Bytes::from),
        // Keys at and over the storage engine's 64 KB limit.
        1 => prop::sample::select(vec![65_535usize, 65_536, 70_000])
            .prop_map(|n| Bytes::from(vec![b'k'; n])),
    ]
}

/// Whether `text` is an error as Redis sends it: an upper-case code, and
/// one line on the wire once encoded (the encoder turns CR and LF inside the
/// text, which may come from a client's arguments, into spaces).
fn is_redis_error(text: &str) -> bool {
    let code = text.split(' ').next().unwrap_or("");
    let mut wire = BytesMut::new();
    Reply::Error(text.to_owned()).encode(Style::Redis(Protocol::Resp2), &mut wire);
    !code.is_empty()
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && wire.starts_with(b"-")
        && wire.ends_with(b"\r\n")
        && !wire[..wire.len() - 2].contains(&b'\r')
        && !wire[..wire.len() - 2].contains(&b'\n')
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_never_panics_and_errors_look_like_redis(
        args in prop::collection::vec(arg(), 0..10),
    ) {
        for dialect in [Dialect::Redis, Dialect::Lab] {
            match command::parse(&args, dialect) {
                Err(e) => {
                    let text = e.to_string();
                    prop_assert!(is_redis_error(&text), "{:?}", text);
                }
                Ok(Command::Session(cmd)) => {
                    let mut client = ClientState {
                        id: 1,
                        name: None,
                        protocol: Protocol::Resp2,
                        closing: false,
                    };
                    let reply = connection::apply(cmd, &mut client, &Facts);
                    if let Reply::Error(text) = reply {
                        prop_assert!(is_redis_error(&text), "{:?}", text);
                    }
                }
                Ok(Command::Hello(hello)) => {
                    let mut client = ClientState {
                        id: 1,
                        name: None,
                        protocol: Protocol::Resp2,
                        closing: false,
                    };
                    let reply = connection::hello(hello, &mut client, &mut Password(false), &Facts);
                    if let Reply::Error(text) = reply {
                        prop_assert!(is_redis_error(&text), "{:?}", text);
                    }
                }
                Ok(command) => {
                    if let Some(Outcome::Error(text)) = evaluate(&command, dialect) {
                        prop_assert!(is_redis_error(&text), "{:?}", text);
                    }
                }
            }
        }
    }

    #[test]
    fn glob_matching_never_panics_and_stays_fast(
        pattern in prop::collection::vec(
            prop::sample::select(b"*?[]^-\\abc\x00\xff".to_vec()), 0..48),
        string in prop::collection::vec(prop::sample::select(b"abc\x00\xff-".to_vec()), 0..96),
    ) {
        let started = Instant::now();
        let _ = glob::matches(&pattern, &string);
        let _ = glob::literal_prefix(&pattern);
        prop_assert!(started.elapsed() < Duration::from_millis(200),
            "{:?} against {:?} took {:?}", pattern, string, started.elapsed());
    }

    #[test]
    fn cursors_and_long_doubles_never_panic(
        text in prop::collection::vec(any::<u8>(), 0..64),
        number in "[-+]?[0-9]{0,30}(\\.[0-9]{0,30})?([eE][-+]?[0-9]{1,4})?",
        n in any::<u64>(),
        bound in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let _ = cursor::parse(&text);
        let _ = cursor::decode(n);
        let bound = Bytes::from(bound);
        let _ = cursor::decode(cursor::encode(&bound));
        for t in [&text[..], number.as_bytes()] {
            if let Some(a) = long_double::parse(t) {
                let _ = long_double::format_human(a);
                if let Some(sum) = long_double::add(a, a) {
                    let _ = long_double::format_human(sum);
                }
            }
        }
    }

    #[test]
    fn arbitrary_byte_vectors_never_panic(
        args in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8),
    ) {
        let args: Vec<Bytes> = args.into_iter().map(Bytes::from).collect();
        for dialect in [Dialect::Redis, Dialect::Lab] {
            let _ = command::parse(&args, dialect);
        }
    }
}

/// Regressions and edges: empty vectors, empty names, and every known
/// name with too few and too many arguments.
#[test]
fn every_name_with_every_small_arity() {
    let names = [
        "get", "set", "del", "ping", "echo", "quit", "select", "hello", "client", "command",
        "config", "info", "debug", "time", "wait",
    ];
    for dialect in [Dialect::Redis, Dialect::Lab] {
        let _ = command::parse(&[], dialect);
        let _ = command::parse(&[Bytes::new()], dialect);
        for name in names {
            for n in 0..6 {
                let mut args = vec![Bytes::from(name)];
                args.extend((0..n).map(|_| Bytes::new()));
                if let Ok(Command::Session(cmd)) = command::parse(&args, dialect) {
                    let mut client = ClientState {
                        id: 1,
                        name: None,
                        protocol: Protocol::Resp2,
                        closing: false,
                    };
                    let _ = connection::apply(cmd, &mut client, &Facts);
                }
            }
        }
    }
}
