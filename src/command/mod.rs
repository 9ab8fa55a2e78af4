//! Client commands: from a request's arguments to a typed [`Command`].
//!
//! Parsing checks the name, the arity and the syntax and produces Redis 7's
//! exact error text for each mistake, before any replication work starts.
//! Commands that touch data become replicated operations ([`op`]); the rest
//! are answered by the session itself. One file per command family:
//! [`string`] (GET, SET), [`keyspace`] (DEL), [`connection`] (PING, ECHO,
//! QUIT, SELECT, HELLO, CLIENT) and [`server`] (COMMAND, CONFIG, INFO).
//! Nothing here does I/O.

pub mod connection;
pub mod keyspace;
pub mod op;
pub mod server;
pub mod string;

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
    ("del", -2),
    ("ping", -1),
    ("echo", 2),
    ("quit", -1),
    ("select", 2),
    ("hello", -1),
    ("client", -2),
    ("command", -1),
    ("config", -2),
    ("info", -1),
    ("debug", -2),
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
    match name {
        "get" => string::parse_get(args).map(Command::Read),
        "set" => string::parse_set(args, dialect).map(Command::Write),
        "del" => keyspace::parse_del(args).map(Command::Write),
        "debug" => server::parse_debug(args),
        _ => connection::parse(name, args).map(Command::Session),
    }
}

/// Redis's unknown-command error, which quotes up to 128 bytes of each of
/// the first arguments.
pub fn unknown(args: &[Bytes]) -> CommandError {
    let shown = |b: &Bytes| String::from_utf8_lossy(&b[..b.len().min(128)]).into_owned();
    let name = args.first().map(shown).unwrap_or_default();
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
            ("get", "ERR wrong number of arguments for 'get' command"),
            ("GET", "ERR wrong number of arguments for 'get' command"),
            ("set a", "ERR wrong number of arguments for 'set' command"),
            ("set a b c", "ERR syntax error"),
            ("del", "ERR wrong number of arguments for 'del' command"),
            ("echo", "ERR wrong number of arguments for 'echo' command"),
            ("select x", "ERR value is not an integer or out of range"),
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
