//! Client commands: from a request's arguments to a typed [`Command`].
//!
//! Parsing checks the name, the arity and the syntax and produces Redis 7's
//! exact error text for each mistake, before any replication work starts.
//! Commands that touch data become replicated operations ([`op`]); the rest
//! are answered by the session itself. One file per command family:
//! [`string`] (GET, SET, MSET, APPEND, GETRANGE, ...), [`counter`] (INCR,
//! INCRBYFLOAT, ...), [`keyspace`] (DEL, EXISTS, RENAME, KEYS, SCAN,
//! FLUSHDB, ...), [`expire`] (EXPIRE, TTL, PERSIST, ...), [`sort`] (SORT,
//! SORT_RO), [`connection`] (PING, ECHO, QUIT, SELECT, HELLO, CLIENT) and
//! [`server`] (COMMAND, CONFIG, INFO, TIME, WAIT); MULTI, EXEC, DISCARD,
//! WATCH and UNWATCH parse to a [`Transaction`] the session acts on. Their
//! helpers: [`op`] (the replicated operations and their evaluation),
//! [`glob`] (KEYS patterns), [`cursor`] (SCAN cursors) and [`long_double`]
//! (INCRBYFLOAT's arithmetic). Nothing here does I/O; the one clock read,
//! [`unix_time_ms`], is for the coordinator and participants to stamp ops
//! with, and for the parser's range check of a relative deadline (as Redis
//! makes it), never for evaluation.

pub mod bitfield;
pub mod bits;
pub mod blocking;
pub mod collection;
pub mod connection;
pub mod counter;
pub mod cursor;
pub mod expire;
pub mod glob;
pub mod hash;
pub mod keyspace;
pub mod lcs;
pub mod list;
pub mod long_double;
pub mod op;
pub mod server;
pub mod set;
pub mod sort;
pub mod string;
pub mod zset;

use bytes::Bytes;

use crate::config::Dialect;
use op::{ReadOp, WriteOp};

/// A parsed client command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Replicated through two-phase commit.
    Write(WriteOp),
    /// Served by one replica.
    Read(ReadOp),
    /// Answered by the session without touching data.
    Session(connection::SessionCommand),
    /// `DEBUG DIGEST`: a digest of the data set, to compare replicas.
    DebugDigest,
    /// HELLO: run by the session, which lends it the connection's
    /// authentication ([`connection::hello`]).
    Hello(connection::Hello),
    /// `WAIT numreplicas timeout`: answered by the node (the backend),
    /// which alone knows how many replicas hold the client's writes.
    Wait(server::WaitRequest),
    /// BLPOP and the other blocking pops: the session runs the attempt
    /// and, outside MULTI, waits for a write to one of the keys.
    Block(blocking::Blocking),
    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH: handled by the session, which
    /// queues a transaction's commands and sends them as one
    /// [`WriteOp::Multi`].
    Transaction(Transaction),
}

/// The commands that delimit a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transaction {
    /// MULTI: start queuing.
    Multi,
    /// EXEC: run what is queued.
    Exec,
    /// DISCARD: drop what is queued.
    Discard,
    /// WATCH key [key ...].
    Watch(Vec<Bytes>),
    /// UNWATCH.
    Unwatch,
}

/// Why a request is not a valid command; `Display` is Redis's reply text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Unknown command name.
    #[error("ERR unknown command '{name}', with args beginning with: {args}")]
    Unknown {
        /// The name as sent.
        name: String,
        /// Redis lists the arguments, each quoted and followed by a space.
        args: String,
    },
    /// A Redis 7 command of a data type or feature this server does not
    /// have: said plainly, so a client ported from Redis learns why rather
    /// than suspecting a typo.
    #[error(
        "ERR unsupported command '{name}': {feature} are not implemented by this server (see the README's command list)"
    )]
    Unsupported {
        /// The name as sent.
        name: String,
        /// What family the command belongs to, plural ("lists").
        feature: &'static str,
    },
    /// Wrong number of arguments.
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(String),
    /// Options that do not parse.
    #[error("ERR syntax error")]
    Syntax,
    /// An argument that should be an integer.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// Any other error, with its full text.
    #[error("{0}")]
    Other(String),
}

/// Arity as Redis declares it: `n` exactly n (name included), `-n` at least n.
fn check_arity(name: &str, args: &[Bytes], arity: i32) -> Result<(), CommandError> {
    let n = args.len() as i64;
    let ok = if arity >= 0 {
        n == i64::from(arity)
    } else {
        n >= -i64::from(arity)
    };
    if ok {
        Ok(())
    } else {
        Err(CommandError::Arity(name.to_string()))
    }
}

/// The commands we know, with their Redis arity.
const TABLE: &[(&str, i32)] = &[
    ("get", 2),
    ("set", -3),
    ("setnx", 3),
    ("getset", 3),
    ("getdel", 2),
    ("mset", -3),
    ("msetnx", -3),
    ("mget", -2),
    ("incr", 2),
    ("decr", 2),
    ("incrby", 3),
    ("decrby", 3),
    ("incrbyfloat", 3),
    ("append", 3),
    ("strlen", 2),
    ("getrange", 4),
    ("substr", 4),
    ("setrange", 4),
    ("del", -2),
    ("unlink", -2),
    ("exists", -2),
    ("type", 2),
    ("rename", 3),
    ("renamenx", 3),
    ("dbsize", 1),
    ("keys", 2),
    ("scan", -2),
    ("flushdb", -1),
    ("flushall", -1),
    ("ping", -1),
    ("echo", 2),
    ("quit", -1),
    ("select", 2),
    ("hello", -1),
    ("client", -2),
    ("command", -1),
    ("config", -2),
    ("info", -1),
    ("time", 1),
    ("debug", -2),
    ("wait", 3),
    ("multi", 1),
    ("exec", 1),
    ("discard", 1),
    ("watch", -2),
    ("unwatch", 1),
    ("getex", -2),
    ("setex", 4),
    ("psetex", 4),
    ("expire", -3),
    ("pexpire", -3),
    ("expireat", -3),
    ("pexpireat", -3),
    ("persist", 2),
    ("ttl", 2),
    ("pttl", 2),
    ("expiretime", 2),
    ("pexpiretime", 2),
    ("hset", -4),
    ("hsetnx", 4),
    ("hmset", -4),
    ("hget", 3),
    ("hmget", -3),
    ("hdel", -3),
    ("hlen", 2),
    ("hstrlen", 3),
    ("hexists", 3),
    ("hkeys", 2),
    ("hvals", 2),
    ("hgetall", 2),
    ("hincrby", 4),
    ("hincrbyfloat", 4),
    ("hrandfield", -2),
    ("hscan", -3),
    ("sadd", -3),
    ("srem", -3),
    ("scard", 2),
    ("sismember", 3),
    ("smismember", -3),
    ("smembers", 2),
    ("spop", -2),
    ("srandmember", -2),
    ("smove", 4),
    ("sinter", -2),
    ("sunion", -2),
    ("sdiff", -2),
    ("sinterstore", -3),
    ("sunionstore", -3),
    ("sdiffstore", -3),
    ("sintercard", -3),
    ("sscan", -3),
    ("copy", -3),
    ("randomkey", 1),
    ("object", -2),
    ("touch", -2),
    ("getbit", 3),
    ("setbit", 4),
    ("bitcount", -2),
    ("bitpos", -3),
    ("bitop", -4),
    ("bitfield", -2),
    ("bitfield_ro", -2),
    ("lcs", -3),
    ("function", -2),
    ("lpush", -3),
    ("rpush", -3),
    ("lpushx", -3),
    ("rpushx", -3),
    ("lpop", -2),
    ("rpop", -2),
    ("llen", 2),
    ("lindex", 3),
    ("lrange", 4),
    ("lset", 4),
    ("linsert", 5),
    ("lrem", 4),
    ("ltrim", 4),
    ("lpos", -3),
    ("lmove", 5),
    ("rpoplpush", 3),
    ("lmpop", -4),
    ("zadd", -4),
    ("zincrby", 4),
    ("zrem", -3),
    ("zpopmin", -2),
    ("zpopmax", -2),
    ("zremrangebyscore", 4),
    ("zremrangebyrank", 4),
    ("zremrangebylex", 4),
    ("zcard", 2),
    ("zscore", 3),
    ("zmscore", -3),
    ("zrank", 3),
    ("zrevrank", 3),
    ("zcount", 4),
    ("zlexcount", 4),
    ("zrange", -4),
    ("zrangebyscore", -4),
    ("zrevrangebyscore", -4),
    ("zrangebylex", -4),
    ("zrevrangebylex", -4),
    ("zrevrange", -4),
    ("zrandmember", -2),
    ("zscan", -3),
    ("zunionstore", -4),
    ("zinterstore", -4),
    ("zdiffstore", -4),
    ("zrangestore", -5),
    ("zmpop", -4),
    ("blpop", -3),
    ("brpop", -3),
    ("brpoplpush", 4),
    ("blmove", 6),
    ("blmpop", -5),
    ("bzpopmin", -3),
    ("bzpopmax", -3),
    ("bzmpop", -5),
    ("zunion", -3),
    ("zinter", -3),
    ("zdiff", -3),
    ("zintercard", -3),
    ("sort", -2),
    ("sort_ro", -2),
];

/// Parses a request (`args[0]` is the command name). The Lab dialect also
/// accepts a multi-word SET value sent as several arguments.
pub fn parse(args: &[Bytes], dialect: Dialect) -> Result<Command, CommandError> {
    let Some(first) = args.first() else {
        return Err(CommandError::Syntax);
    };
    let name = String::from_utf8_lossy(first).to_ascii_lowercase();
    let Some(&(name, arity)) = TABLE.iter().find(|(n, _)| *n == name) else {
        return Err(unknown(args));
    };
    check_arity(name, args, arity)?;
    let write = |op: Result<WriteOp, CommandError>| op.map(Command::Write);
    let read = |op: Result<ReadOp, CommandError>| op.map(Command::Read);
    match name {
        "get" => read(string::parse_get(args)),
        "set" => write(string::parse_set(args, dialect)),
        "setnx" => write(string::parse_setnx(args)),
        "getset" => write(string::parse_getset(args)),
        "getdel" => write(string::parse_getdel(args)),
        "mset" => write(string::parse_mset(args, false)),
        "msetnx" => write(string::parse_mset(args, true)),
        "mget" => read(string::parse_mget(args)),
        "append" => write(string::parse_append(args)),
        "strlen" => read(string::parse_strlen(args)),
        "getrange" | "substr" => read(string::parse_getrange(args)),
        "setrange" => write(string::parse_setrange(args)),
        "incr" => write(counter::parse_step(args, 1)),
        "decr" => write(counter::parse_step(args, -1)),
        "incrby" => write(counter::parse_incrby(args)),
        "decrby" => write(counter::parse_decrby(args)),
        "incrbyfloat" => write(counter::parse_incrbyfloat(args)),
        "del" | "unlink" => write(keyspace::parse_del(args)),
        "exists" => read(keyspace::parse_exists(args)),
        "type" => read(keyspace::parse_type(args)),
        "rename" => write(keyspace::parse_rename(args, false)),
        "renamenx" => write(keyspace::parse_rename(args, true)),
        "dbsize" => read(keyspace::parse_dbsize(args)),
        "keys" => read(keyspace::parse_keys(args)),
        "scan" => read(keyspace::parse_scan(args)),
        "flushdb" | "flushall" => write(keyspace::parse_flush(args)),
        "debug" => server::parse_debug(args),
        "wait" => Ok(Command::Wait(server::parse_wait(args))),
        "hello" => connection::parse_hello(args).map(Command::Hello),
        "multi" => Ok(Command::Transaction(Transaction::Multi)),
        "exec" => Ok(Command::Transaction(Transaction::Exec)),
        "discard" => Ok(Command::Transaction(Transaction::Discard)),
        "watch" => Ok(Command::Transaction(Transaction::Watch(
            args.iter().skip(1).cloned().collect(),
        ))),
        "unwatch" => Ok(Command::Transaction(Transaction::Unwatch)),
        "getex" => write(string::parse_getex(args)),
        "setex" => write(string::parse_setex(args, false)),
        "psetex" => write(string::parse_setex(args, true)),
        "expire" | "pexpire" | "expireat" | "pexpireat" => write(expire::parse_expire(name, args)),
        "persist" => write(expire::parse_persist(args)),
        "ttl" | "pttl" | "expiretime" | "pexpiretime" => read(expire::parse_ttl(name, args)),
        "hset" => hash::parse_hset(name, args, false).map(|op| Command::Write(WriteOp::Hash(op))),
        "hmset" => hash::parse_hset(name, args, true).map(|op| Command::Write(WriteOp::Hash(op))),
        "hsetnx" => hash::parse_hsetnx(args).map(|op| Command::Write(WriteOp::Hash(op))),
        "hdel" => hash::parse_hdel(args).map(|op| Command::Write(WriteOp::Hash(op))),
        "hincrby" => hash::parse_hincrby(args).map(|op| Command::Write(WriteOp::Hash(op))),
        "hincrbyfloat" => {
            hash::parse_hincrbyfloat(args).map(|op| Command::Write(WriteOp::Hash(op)))
        }
        "hget" | "hmget" | "hlen" | "hstrlen" | "hexists" | "hkeys" | "hvals" | "hgetall"
        | "hrandfield" | "hscan" => {
            hash::parse_read(name, args).map(|op| Command::Read(ReadOp::Hash(op)))
        }
        "sadd" | "srem" | "spop" | "smove" | "sinterstore" | "sunionstore" | "sdiffstore" => {
            set::parse_write(name, args).map(|op| Command::Write(WriteOp::Sets(op)))
        }
        "scard" | "sismember" | "smismember" | "smembers" | "srandmember" | "sinter" | "sunion"
        | "sdiff" | "sintercard" | "sscan" => {
            set::parse_read(name, args).map(|op| Command::Read(ReadOp::Sets(op)))
        }
        "lpush" | "rpush" | "lpushx" | "rpushx" | "lpop" | "rpop" | "lset" | "linsert" | "lrem"
        | "ltrim" | "lmove" | "rpoplpush" | "lmpop" => {
            list::parse_write(name, args).map(|op| Command::Write(WriteOp::Lists(op)))
        }
        "llen" | "lindex" | "lrange" | "lpos" => {
            list::parse_read(name, args).map(|op| Command::Read(ReadOp::Lists(op)))
        }
        "zadd" | "zincrby" | "zrem" | "zpopmin" | "zpopmax" | "zremrangebyscore"
        | "zremrangebyrank" | "zremrangebylex" | "zunionstore" | "zinterstore" | "zdiffstore"
        | "zrangestore" | "zmpop" => {
            zset::parse_write(name, args).map(|op| Command::Write(WriteOp::ZSets(op)))
        }
        "zcard" | "zscore" | "zmscore" | "zrank" | "zrevrank" | "zcount" | "zlexcount"
        | "zrange" | "zrangebyscore" | "zrevrangebyscore" | "zrangebylex" | "zrevrangebylex"
        | "zrevrange" | "zrandmember" | "zscan" | "zunion" | "zinter" | "zdiff" | "zintercard" => {
            zset::parse_read(name, args).map(|op| Command::Read(ReadOp::ZSets(op)))
        }
        "blpop" | "brpop" | "brpoplpush" | "blmove" | "blmpop" | "bzpopmin" | "bzpopmax"
        | "bzmpop" => blocking::parse(name, args).map(Command::Block),
        "sort" | "sort_ro" => {
            let (sort, store) = sort::parse(args, name == "sort_ro")?;
            Ok(match store {
                Some(dest) => Command::Write(WriteOp::Sort(sort::SortStore { sort, dest })),
                None => Command::Read(ReadOp::Sort(sort)),
            })
        }
        "copy" => write(keyspace::parse_copy(args)),
        "getbit" => bits::parse_getbit(args).map(|op| Command::Read(ReadOp::Bits(op))),
        "bitcount" => bits::parse_bitcount(args).map(|op| Command::Read(ReadOp::Bits(op))),
        "bitpos" => bits::parse_bitpos(args).map(|op| Command::Read(ReadOp::Bits(op))),
        "setbit" => bits::parse_setbit(args).map(|op| Command::Write(WriteOp::Bits(op))),
        "bitop" => bits::parse_bitop(args).map(|op| Command::Write(WriteOp::Bits(op))),
        "bitfield" | "bitfield_ro" => {
            let op = bitfield::parse_bitfield(args, name == "bitfield_ro")?;
            Ok(if op.writes() {
                Command::Write(WriteOp::BitField(op))
            } else {
                Command::Read(ReadOp::BitField(op))
            })
        }
        "lcs" => lcs::parse_lcs(args).map(|op| Command::Read(ReadOp::Lcs(op))),
        "function" => server::parse_function(args).map(Command::Session),
        "randomkey" => Ok(Command::Read(ReadOp::RandomKey)),
        "touch" => read(keyspace::parse_exists(args)),
        "object" => match keyspace::parse_object(args)? {
            Some(op) => Ok(Command::Read(op)),
            None => Ok(Command::Session(connection::SessionCommand::ObjectHelp)),
        },
        _ => connection::parse(name, args).map(Command::Session),
    }
}

/// The error Redis gives a request before running it: an unknown command
/// or a wrong number of arguments by the command table. Inside MULTI such
/// an error is answered at once and dooms the transaction; any other error
/// is only found when EXEC runs the command.
pub fn check_known(args: &[Bytes]) -> Result<(), CommandError> {
    let Some(first) = args.first() else {
        return Err(CommandError::Syntax);
    };
    let name = String::from_utf8_lossy(first).to_ascii_lowercase();
    let Some(&(name, arity)) = TABLE.iter().find(|(n, _)| *n == name) else {
        return Err(unknown(args));
    };
    check_arity(name, args, arity)
}

/// Redis 7 commands we do not have, by the feature they belong to.
const UNSUPPORTED: &[(&str, &[&str])] = &[
    (
        "streams",
        &[
            "xadd",
            "xrange",
            "xrevrange",
            "xlen",
            "xread",
            "xreadgroup",
            "xgroup",
            "xack",
            "xpending",
            "xclaim",
            "xautoclaim",
            "xdel",
            "xtrim",
            "xinfo",
            "xsetid",
        ],
    ),
    (
        "HyperLogLogs and geo indexes",
        &[
            "pfadd",
            "pfcount",
            "pfmerge",
            "geoadd",
            "geodist",
            "geohash",
            "geopos",
            "georadius",
            "georadius_ro",
            "georadiusbymember",
            "georadiusbymember_ro",
            "geosearch",
            "geosearchstore",
        ],
    ),
    (
        "publish/subscribe",
        &[
            "subscribe",
            "unsubscribe",
            "psubscribe",
            "punsubscribe",
            "ssubscribe",
            "sunsubscribe",
            "publish",
            "spublish",
            "pubsub",
        ],
    ),
    (
        "scripts and functions",
        &[
            "eval",
            "evalsha",
            "eval_ro",
            "evalsha_ro",
            "script",
            "function",
            "fcall",
            "fcall_ro",
        ],
    ),
];

/// The error for a command not in our table: [`CommandError::Unsupported`]
/// for a Redis command of a feature we lack, else Redis's unknown-command
/// error, which quotes up to 128 bytes of each of the first arguments.
pub fn unknown(args: &[Bytes]) -> CommandError {
    let shown = |b: &Bytes| String::from_utf8_lossy(&b[..b.len().min(128)]).into_owned();
    let name = args.first().map(shown).unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    if let Some((feature, _)) = UNSUPPORTED
        .iter()
        .find(|(_, names)| names.contains(&&*lower))
    {
        return CommandError::Unsupported { name, feature };
    }
    let mut list = String::new();
    for a in args.iter().skip(1) {
        if list.len() >= 128 {
            break;
        }
        list.push('\'');
        list.push_str(&shown(a));
        list.push_str("' ");
    }
    CommandError::Unknown { name, args: list }
}

/// An option argument as Redis compares it: lowercased, and (since Redis
/// uses C string comparison) only up to a NUL byte.
pub fn option_name(arg: &[u8]) -> String {
    let text = arg.split(|b| *b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(text).to_ascii_lowercase()
}

/// The current unix time in milliseconds (0 if the clock is before 1970).
pub fn unix_time_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Parses a signed decimal integer the way Redis's `string2ll` does.
pub fn parse_i64(b: &[u8]) -> Result<i64, CommandError> {
    let s = std::str::from_utf8(b).map_err(|_| CommandError::NotInteger)?;
    if s.is_empty()
        || s.starts_with('+')
        || (s.len() > 1 && s.starts_with('0'))
        || s.starts_with("-0")
    {
        return Err(CommandError::NotInteger);
    }
    s.parse::<i64>().map_err(|_| CommandError::NotInteger)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn errors_have_redis_text() {
        let cases = [
            (
                "foo",
                "ERR unknown command 'foo', with args beginning with: ",
            ),
            (
                "foo a b",
                "ERR unknown command 'foo', with args beginning with: 'a' 'b' ",
            ),
            (
                "XADD s * f v",
                "ERR unsupported command 'XADD': streams are not implemented by this server (see the README's command list)",
            ),
            (
                "pfadd h a",
                "ERR unsupported command 'pfadd': HyperLogLogs and geo indexes are not implemented by this server (see the README's command list)",
            ),
            ("get", "ERR wrong number of arguments for 'get' command"),
            ("GET", "ERR wrong number of arguments for 'get' command"),
            ("set a", "ERR wrong number of arguments for 'set' command"),
            ("set a b c", "ERR syntax error"),
            ("del", "ERR wrong number of arguments for 'del' command"),
            ("echo", "ERR wrong number of arguments for 'echo' command"),
            ("select x", "ERR value is not an integer or out of range"),
            ("wait", "ERR wrong number of arguments for 'wait' command"),
            ("wait 1", "ERR wrong number of arguments for 'wait' command"),
            (
                "wait 1 2 3",
                "ERR wrong number of arguments for 'wait' command",
            ),
        ];
        for (input, want) in cases {
            let got = parse(&args(input), Dialect::Redis).unwrap_err().to_string();
            assert_eq!(got, want, "for {input:?}");
        }
    }

    #[test]
    fn lab_set_joins_the_words_of_a_value() {
        let cmd = parse(&args("SET CS06142 Cloud Computing"), Dialect::Lab).unwrap();
        assert_eq!(
            cmd,
            Command::Write(WriteOp::Set {
                key: Bytes::from_static(b"CS06142"),
                value: Bytes::from_static(b"Cloud Computing"),
            })
        );
    }

    /// Words that steer arbitrary requests into every option and number
    /// path (offsets stay small: SETRANGE would really allocate).
    const WORDS: &[&str] = &[
        "k",
        "",
        "0",
        "1",
        "-1",
        "7",
        "1000",
        "-9223372036854775808",
        "9223372036854775807",
        "99999999999999999999",
        "1.5",
        "1e400",
        "-1e-400",
        "inf",
        "nan",
        "0x1p3",
        "abc",
        "*",
        "k*",
        "[a-z]",
        "\\",
        "nx",
        "xx",
        "get",
        "ex",
        "px",
        "exat",
        "pxat",
        "keepttl",
        "persist",
        "gt",
        "lt",
        "-9223372036854776",
        "count",
        "match",
        "type",
        "string",
        "sync",
        "async",
        "\0",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Any request to a data command parses or fails cleanly, and what
        /// parses evaluates (twice, to the same result) without panicking.
        #[test]
        fn data_commands_never_panic(
            name in 0..TABLE.len(),
            picks in proptest::collection::vec(0..WORDS.len(), 0..7),
            seed in proptest::collection::vec((0..WORDS.len(), 0..WORDS.len()), 0..6),
        ) {
            let word = |i: usize| Bytes::copy_from_slice(WORDS[i].as_bytes());
            let mut request = vec![Bytes::copy_from_slice(TABLE[name].0.as_bytes())];
            request.extend(picks.iter().map(|&i| word(i)));
            let mut view = op::testing::MapView::default();
            for (k, v) in seed {
                view.0.insert(word(k), word(v));
            }
            for dialect in [Dialect::Redis, Dialect::Lab] {
                match parse(&request, dialect) {
                    Ok(Command::Write(w)) => {
                        let w = w.stamp(1_700_000_000_000, 1);
                        let first = op::eval_write(&w, &view).unwrap();
                        proptest::prop_assert_eq!(&first, &op::eval_write(&w, &view).unwrap());
                        view.apply(&first.1);
                    }
                    Ok(Command::Read(r)) => {
                        let r = r.stamp(1_700_000_000_000);
                        let first = op::eval_read(&r, &view, 0).unwrap();
                        proptest::prop_assert_eq!(first, op::eval_read(&r, &view, 0).unwrap());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let text = e.to_string();
                        // HELLO's NOPROTO is the one error of another kind.
                        proptest::prop_assert!(
                            text.starts_with("ERR ") || text.starts_with("NOPROTO "),
                            "{}",
                            text
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn integers_parse_like_redis() {
        assert_eq!(parse_i64(b"12").unwrap(), 12);
        assert_eq!(parse_i64(b"-3").unwrap(), -3);
        assert_eq!(parse_i64(b"0").unwrap(), 0);
        for bad in [
            &b""[..],
            b"+1",
            b"01",
            b"1x",
            b" 1",
            b"-0",
            b"99999999999999999999",
        ] {
            assert!(parse_i64(bad).is_err(), "{bad:?}");
        }
    }
}
