//! Counters: INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT.
//!
//! A counter is an ordinary string holding a number; a missing key counts
//! as 0. The integer commands read the value as Redis's `string2ll` does (an
//! optional `-`, no `+`, no leading zeros or spaces, within 64 bits) and
//! refuse a result outside 64 bits. INCRBYFLOAT computes in the x87 80-bit
//! `long double` Redis uses ([`super::long_double`]) and stores the result
//! as Redis prints it (`10.5 + 0.1` is `10.6`, `5.0e3` is `5000`).
//!
//! A counter keeps its key's deadline, as in Redis.
//!
//! The increment is validated when the command is parsed, before any 2PC
//! work; the stored value is validated by each replica (all reach the same
//! verdict from the same data).

use bytes::Bytes;

use super::long_double;
use super::op::{Effect, Evaluated, Outcome, ReadView, WriteOp, WrongType};
use super::{CommandError, parse_i64};

/// Redis's error for a stored value that is not a 64-bit integer (the same
/// text as [`CommandError::NotInteger`]).
const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
/// Redis's error for a result outside 64 bits.
const OVERFLOW: &str = "ERR increment or decrement would overflow";
/// Redis's error for a value or increment that is not a float.
const NOT_FLOAT: &str = "ERR value is not a valid float";
/// Redis's error for an infinite or NaN result.
const NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";

/// `INCR key` (`delta` 1) or `DECR key` (`delta` -1).
pub fn parse_step(args: &[Bytes], delta: i64) -> Result<WriteOp, CommandError> {
    Ok(WriteOp::IncrBy {
        key: arg(args, 1),
        delta,
    })
}

/// `INCRBY key increment`.
pub fn parse_incrby(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    let delta = parse_i64(&arg(args, 2))?;
    Ok(WriteOp::IncrBy {
        key: arg(args, 1),
        delta,
    })
}

/// `DECRBY key decrement`: the decrement is negated, which the smallest
/// 64-bit integer cannot be.
pub fn parse_decrby(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    let decrement = parse_i64(&arg(args, 2))?;
    let delta = decrement
        .checked_neg()
        .ok_or_else(|| CommandError::Other("ERR decrement would overflow".into()))?;
    Ok(WriteOp::IncrBy {
        key: arg(args, 1),
        delta,
    })
}

/// `INCRBYFLOAT key increment`.
pub fn parse_incrbyfloat(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    let delta = arg(args, 2);
    if long_double::parse(&delta).is_none() {
        return Err(CommandError::Other(NOT_FLOAT.into()));
    }
    Ok(WriteOp::IncrByFloat {
        key: arg(args, 1),
        delta,
    })
}

fn arg(args: &[Bytes], i: usize) -> Bytes {
    args.get(i).cloned().unwrap_or_default()
}

/// Adds `delta` to the integer at `key`: the new value.
pub fn incrby<V: ReadView>(view: &V, key: &Bytes, delta: i64) -> Result<Evaluated, V::Error> {
    let Ok(old) = view.string(key)? else {
        return Ok(WrongType.into());
    };
    let deadline = old.as_ref().and_then(|e| e.expires_at);
    let current = match old {
        None => 0,
        Some(e) => match parse_i64(&e.value) {
            Ok(n) => n,
            Err(_) => return Ok(error(NOT_INTEGER)),
        },
    };
    let Some(new) = current.checked_add(delta) else {
        return Ok(error(OVERFLOW));
    };
    Ok((
        Outcome::Integer(new),
        vec![Effect::put_expiring(
            key,
            Bytes::from(new.to_string()),
            deadline,
        )],
    ))
}

/// Adds the float `delta` to the float at `key`: the new value, as stored.
pub fn incrbyfloat<V: ReadView>(
    view: &V,
    key: &Bytes,
    delta: &[u8],
) -> Result<Evaluated, V::Error> {
    let Ok(old) = view.string(key)? else {
        return Ok(WrongType.into());
    };
    let deadline = old.as_ref().and_then(|e| e.expires_at);
    let current = match old {
        None => long_double::parse(b"0"),
        Some(e) => long_double::parse(&e.value),
    };
    let (Some(current), Some(delta)) = (current, long_double::parse(delta)) else {
        return Ok(error(NOT_FLOAT));
    };
    let Some(sum) = long_double::add(current, delta) else {
        return Ok(error(NAN_OR_INFINITY));
    };
    let text = Bytes::from(long_double::format_human(sum));
    Ok((
        Outcome::Value(Some(text.clone())),
        vec![Effect::put_expiring(key, text, deadline)],
    ))
}

fn error(text: &str) -> Evaluated {
    (Outcome::Error(text.to_string()), Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::op::eval_write;
    use crate::command::op::testing::{MapView, args, b};

    fn run(view: &mut MapView, command: &str) -> Result<Outcome, String> {
        let op = match crate::command::parse(&args(command), crate::config::Dialect::Redis) {
            Ok(crate::command::Command::Write(op)) => op,
            Ok(other) => panic!("{command}: {other:?}"),
            Err(e) => return Err(e.to_string()),
        };
        let (outcome, effects) = eval_write(&op, view).unwrap();
        view.apply(&effects);
        Ok(outcome)
    }

    #[test]
    fn integer_counters() {
        let mut view = MapView::of(&[("s", "abc"), ("z", "012"), ("p", "+1")]);
        assert_eq!(run(&mut view, "incr n"), Ok(Outcome::Integer(1)));
        assert_eq!(run(&mut view, "incrby n 41"), Ok(Outcome::Integer(42)));
        assert_eq!(run(&mut view, "decr n"), Ok(Outcome::Integer(41)));
        assert_eq!(run(&mut view, "decrby n 50"), Ok(Outcome::Integer(-9)));
        assert_eq!(view.0.get(&b("n")), Some(&b("-9")));
        for bad in ["incr s", "incr z", "incr p"] {
            assert_eq!(
                run(&mut view, bad),
                Ok(Outcome::Error(NOT_INTEGER.into())),
                "{bad}"
            );
        }
        assert_eq!(run(&mut view, "incrby n x"), Err(NOT_INTEGER.to_string()));
        assert_eq!(
            run(&mut view, "decrby n -9223372036854775808"),
            Err("ERR decrement would overflow".to_string())
        );
    }

    #[test]
    fn integer_overflow() {
        let mut view = MapView::of(&[
            ("max", "9223372036854775807"),
            ("min", "-9223372036854775808"),
        ]);
        assert_eq!(
            run(&mut view, "incr max"),
            Ok(Outcome::Error(OVERFLOW.into()))
        );
        assert_eq!(
            run(&mut view, "decr min"),
            Ok(Outcome::Error(OVERFLOW.into()))
        );
        assert_eq!(
            run(&mut view, "incrby min -1"),
            Ok(Outcome::Error(OVERFLOW.into()))
        );
        assert_eq!(
            run(&mut view, "decrby max -9223372036854775807"),
            Ok(Outcome::Error(OVERFLOW.into()))
        );
        assert_eq!(
            run(&mut view, "incrby min 9223372036854775807"),
            Ok(Outcome::Integer(-1))
        );
    }

    #[test]
    fn float_counters() {
        let mut view = MapView::of(&[("f", "10.50"), ("e", "5.0e3"), ("s", "abc")]);
        let value = |s: &str| Ok(Outcome::Value(Some(b(s))));
        assert_eq!(run(&mut view, "incrbyfloat f 0.1"), value("10.6"));
        assert_eq!(run(&mut view, "incrbyfloat e 2.0e2"), value("5200"));
        assert_eq!(run(&mut view, "incrbyfloat new -3"), value("-3"));
        assert_eq!(view.0.get(&b("f")), Some(&b("10.6")));
        assert_eq!(
            run(&mut view, "incrbyfloat s 1"),
            Ok(Outcome::Error(NOT_FLOAT.into()))
        );
        assert_eq!(
            run(&mut view, "incrbyfloat f x"),
            Err(NOT_FLOAT.to_string())
        );
        assert_eq!(
            run(&mut view, "incrbyfloat f inf"),
            Ok(Outcome::Error(NAN_OR_INFINITY.into()))
        );
        assert_eq!(view.0.get(&b("f")), Some(&b("10.6")));
    }
}
