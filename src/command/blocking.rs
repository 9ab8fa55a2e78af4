//! The blocking pops: BLPOP, BRPOP, BRPOPLPUSH, BLMOVE, BLMPOP, BZPOPMIN,
//! BZPOPMAX and BZMPOP, parsed into one attempt (a replicated write) plus
//! the keys to wait on and how long.
//!
//! An attempt is the non-blocking command's op with the blocking command's
//! reply: BLMOVE runs LMOVE's op, BLMPOP LMPOP's, BLPOP and BZPOPMIN ops of
//! their own ([`super::list::ListWrite::BPop`],
//! [`super::zset::ZSetWrite::BPop`]) whose reply names the key. An attempt
//! that finds every key empty writes nothing and answers
//! [`Blocking::found_nothing`]; inside MULTI that answer is the reply, as
//! in Redis, which never blocks a transaction. Outside MULTI the session
//! waits ([`crate::blocked`]) and tries again. Nothing here waits or reads
//! a clock: the timeout is returned as a duration.

use std::time::Duration;

use bytes::Bytes;

use super::op::{Kind, Outcome, WriteOp};
use super::{CommandError, list, long_double, zset};

/// A blocking command, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocking {
    /// One attempt: pops if any key has something, else writes nothing.
    pub op: WriteOp,
    /// The keys whose writes may let a later attempt succeed.
    pub keys: Vec<Bytes>,
    /// How long to wait; `None`: for ever (a timeout of 0).
    pub timeout: Option<Duration>,
}

impl Blocking {
    /// The type a key must hold to be popped from: a list, or a sorted set
    /// for BZPOPMIN, BZPOPMAX and BZMPOP.
    pub fn kind(&self) -> Kind {
        match self.op {
            WriteOp::ZSets(_) => Kind::ZSet,
            _ => Kind::List,
        }
    }

    /// Whether an attempt's outcome says every key was empty (nil, or a
    /// nil array): the client waits, or inside MULTI gets this reply.
    pub fn found_nothing(outcome: &Outcome) -> bool {
        matches!(outcome, Outcome::NilArray | Outcome::Value(None))
    }
}

/// Redis's error for a timeout that is not a number.
const NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
/// Redis's error for a negative timeout.
const NEGATIVE: &str = "ERR timeout is negative";

/// Parses a blocking command (`name` lowercased, arity checked), checking
/// its arguments in Redis 7.0's order: BLPOP's and BZPOPMIN's timeout
/// before anything else, BLMOVE's ends and BLMPOP's numkeys, end and COUNT
/// before their timeout.
pub fn parse(name: &str, args: &[Bytes]) -> Result<Blocking, CommandError> {
    let last = args.len().saturating_sub(1);
    let (op, timeout_at) = match name {
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => {
            let timeout = parse_timeout(&args[last])?;
            let keys = args[1..last].to_vec();
            let op = match name {
                "blpop" | "brpop" => WriteOp::Lists(list::ListWrite::BPop {
                    keys,
                    end: if name == "blpop" {
                        list::End::Left
                    } else {
                        list::End::Right
                    },
                }),
                _ => WriteOp::ZSets(zset::ZSetWrite::BPop {
                    keys,
                    max: name == "bzpopmax",
                }),
            };
            return Ok(blocking(op, timeout));
        }
        "brpoplpush" => (
            WriteOp::Lists(list::parse_write("rpoplpush", &args[..3])?),
            3,
        ),
        "blmove" => (WriteOp::Lists(list::parse_write("lmove", &args[..5])?), 5),
        "blmpop" => (WriteOp::Lists(list::parse_write("lmpop", &args[1..])?), 1),
        _ => (WriteOp::ZSets(zset::parse_write("zmpop", &args[1..])?), 1),
    };
    Ok(blocking(op, parse_timeout(&args[timeout_at])?))
}

/// The attempt `op`, waiting on the keys it pops from.
fn blocking(op: WriteOp, timeout: Option<Duration>) -> Blocking {
    let keys = match &op {
        // BLMOVE waits on its source only.
        WriteOp::Lists(list::ListWrite::Move { from, .. }) => vec![from.clone()],
        other => other.keys().into_iter().cloned().collect(),
    };
    Blocking { op, keys, timeout }
}

/// A timeout in seconds as Redis 7.0 reads it: a `long double`, made
/// milliseconds by truncation (so `-0.0001` is 0, for ever); negative
/// refused. (Redis 7.0 does not bound the deadline; a huge one is in
/// effect for ever.)
fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, CommandError> {
    let seconds = long_double::parse(arg)
        .ok_or_else(|| CommandError::Other(NOT_FLOAT.into()))?
        .to_f64();
    let ms = seconds * 1000.0;
    // C's conversion of a value outside `long long` gives LLONG_MIN on
    // x86-64, which Redis then calls negative.
    if ms.is_nan() || ms <= -1.0 || ms >= 2f64.powi(63) {
        return Err(CommandError::Other(NEGATIVE.into()));
    }
    let ms = ms.max(0.0) as u64;
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Blocking, CommandError> {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let name = line
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        parse(&name, &args)
    }

    fn err(text: &str) -> Result<Blocking, CommandError> {
        Err(CommandError::Other(text.into()))
    }

    #[test]
    fn timeouts_read_as_redis_reads_them() {
        let timeout = |t: &str| parse_line(&format!("BLPOP k {t}")).map(|b| b.timeout);
        assert_eq!(timeout("0"), Ok(None));
        assert_eq!(timeout("0.1"), Ok(Some(Duration::from_millis(100))));
        assert_eq!(timeout("1e1"), Ok(Some(Duration::from_secs(10))));
        assert_eq!(timeout("-0.0001"), Ok(None));
        assert_eq!(timeout("0.0001"), Ok(None));
        assert_eq!(timeout("-1").map(|_| ()), err(NEGATIVE).map(|_| ()));
        assert_eq!(timeout("inf").map(|_| ()), err(NEGATIVE).map(|_| ()));
        assert_eq!(timeout("abc").map(|_| ()), err(NOT_FLOAT).map(|_| ()));
        // Far past any deadline the clock can count: taken, in effect for
        // ever (the session's deadline saturates).
        assert_eq!(
            timeout("1e15"),
            Ok(Some(Duration::from_millis(1_000_000_000_000_000_000)))
        );
    }

    #[test]
    fn each_command_waits_on_the_keys_it_pops_from() {
        let keys = |line: &str| parse_line(line).map(|b| b.keys);
        let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        assert_eq!(keys("BLPOP a b 0"), Ok(vec![b("a"), b("b")]));
        assert_eq!(keys("BZPOPMAX a 0"), Ok(vec![b("a")]));
        assert_eq!(keys("BLMOVE src dst LEFT RIGHT 0"), Ok(vec![b("src")]));
        assert_eq!(keys("BRPOPLPUSH src dst 0"), Ok(vec![b("src")]));
        assert_eq!(
            keys("BLMPOP 0 2 a b LEFT COUNT 3"),
            Ok(vec![b("a"), b("b")])
        );
        assert_eq!(keys("BZMPOP 0 1 z MIN"), Ok(vec![b("z")]));
        let kind = |line: &str| parse_line(line).map(|b| b.kind());
        assert_eq!(kind("BLMPOP 0 1 a LEFT"), Ok(Kind::List));
        assert_eq!(kind("BRPOPLPUSH a b 0"), Ok(Kind::List));
        assert_eq!(kind("BZPOPMIN a 0"), Ok(Kind::ZSet));
        assert_eq!(kind("BZMPOP 0 1 z MIN"), Ok(Kind::ZSet));
    }

    #[test]
    fn arguments_are_checked_in_redis_order() {
        // BLMOVE's ends come before its timeout; BLPOP's timeout first.
        assert_eq!(
            parse_line("BLMOVE a b UP RIGHT x"),
            Err(CommandError::Syntax)
        );
        assert_eq!(
            parse_line("BLMOVE a b LEFT RIGHT x").map(|_| ()),
            err(NOT_FLOAT).map(|_| ())
        );
        assert_eq!(
            parse_line("BLMPOP x 0 a LEFT"),
            err("ERR numkeys should be greater than 0")
        );
        assert_eq!(
            parse_line("BLMPOP x 1 a LEFT").map(|_| ()),
            err(NOT_FLOAT).map(|_| ())
        );
        assert_eq!(parse_line("BZMPOP 0 1 a MIDDLE"), Err(CommandError::Syntax));
    }

    #[test]
    fn an_empty_attempt_is_recognised() {
        assert!(Blocking::found_nothing(&Outcome::NilArray));
        assert!(Blocking::found_nothing(&Outcome::Value(None)));
        assert!(!Blocking::found_nothing(&Outcome::Array(Vec::new())));
    }
}
