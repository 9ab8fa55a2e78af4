//! Key expiry: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX, XX, GT, LT),
//! PERSIST, TTL, PTTL, EXPIRETIME, PEXPIRETIME, and the background
//! expirer's delete ([`WriteOp::Reap`]). SET's and GETEX's expiry options
//! are in [`super::string`].
//!
//! A deadline is an absolute unix time in milliseconds, stored with the
//! value ([`super::op::Entry`]). Evaluation never reads a clock: it judges
//! expiry at the time the op was stamped with ([`super::op`]'s docs), so
//! every replica agrees. A key lives through the millisecond of its
//! deadline and is gone after it; a write whose new deadline is not in the
//! future deletes the key at once (EXPIRE then replies `:1`, as Redis does).
//!
//! Parsing follows Redis 7.0's order of checks: arity, then the options
//! (`ERR Unsupported option ...`, incompatible flags), then the amount
//! (`ERR value is not an integer or out of range`), then whether the
//! deadline fits in 64 bits (`ERR invalid expire time in '...' command`).

use bytes::Bytes;

use super::op::{
    Effect, Entry, Evaluated, ExpireFlags, Expiry, Outcome, ReadOp, ReadView, Stored, WriteOp,
    is_expired,
};
use super::{CommandError, option_name, parse_i64};

/// `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` (`name`, lowercase) `key
/// amount [NX|XX|GT|LT ...]`.
pub fn parse_expire(name: &str, args: &[Bytes]) -> Result<WriteOp, CommandError> {
    let mut flags = ExpireFlags::default();
    for opt in args.iter().skip(3) {
        match option_name(opt).as_str() {
            "nx" => flags.nx = true,
            "xx" => flags.xx = true,
            "gt" => flags.gt = true,
            "lt" => flags.lt = true,
            _ => {
                return Err(CommandError::Other(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt)
                )));
            }
        }
    }
    if flags.nx && (flags.xx || flags.gt || flags.lt) {
        return Err(CommandError::Other(
            "ERR NX and XX, GT or LT options at the same time are not compatible".into(),
        ));
    }
    if flags.gt && flags.lt {
        return Err(CommandError::Other(
            "ERR GT and LT options at the same time are not compatible".into(),
        ));
    }
    let amount = parse_i64(args.get(2).map_or(&b""[..], |a| a))?;
    let invalid = || CommandError::Other(format!("ERR invalid expire time in '{name}' command"));
    let seconds = matches!(name, "expire" | "expireat");
    let millis = if seconds {
        amount.checked_mul(1000).ok_or_else(invalid)?
    } else {
        amount
    };
    let when = if matches!(name, "expire" | "pexpire") {
        // As Redis checks it: the deadline counted from now must fit.
        let now = i64::try_from(super::unix_time_ms()).unwrap_or(i64::MAX);
        if millis > i64::MAX - now {
            return Err(invalid());
        }
        Expiry::In(millis)
    } else {
        Expiry::At(millis)
    };
    Ok(WriteOp::Expire {
        key: args.get(1).cloned().unwrap_or_default(),
        when,
        flags,
    })
}

/// `PERSIST key`.
pub fn parse_persist(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    Ok(WriteOp::Persist {
        key: args.get(1).cloned().unwrap_or_default(),
    })
}

/// `TTL`, `PTTL`, `EXPIRETIME`, `PEXPIRETIME` (`name`, lowercase) `key`.
pub fn parse_ttl(name: &str, args: &[Bytes]) -> Result<ReadOp, CommandError> {
    Ok(ReadOp::Ttl {
        key: args.get(1).cloned().unwrap_or_default(),
        millis: name.starts_with('p'),
        absolute: name.ends_with("expiretime"),
    })
}

/// EXPIRE and friends, by Redis 7.0's rules: `:0` for a missing key or a
/// failed condition (no deadline counts as infinite for GT and LT), else
/// the new deadline (or the key's deletion, for one not in the future) and
/// `:1`.
pub fn expire<V: ReadView>(
    view: &V,
    key: &Bytes,
    when: Expiry,
    flags: ExpireFlags,
) -> Result<Evaluated, V::Error> {
    let Some(entry) = view.entry(key)? else {
        return Ok((Outcome::Integer(0), Vec::new()));
    };
    let at = match when.resolve(view.now()) {
        Expiry::At(at) => at,
        // The parser sends only relative or absolute deadlines.
        Expiry::In(_) | Expiry::Keep | Expiry::Persist => {
            return Ok((Outcome::Integer(0), Vec::new()));
        }
    };
    let current = entry
        .expires_at
        .map(|c| i64::try_from(c).unwrap_or(i64::MAX));
    let refused = (flags.nx && current.is_some())
        || (flags.xx && current.is_none())
        || (flags.gt && current.is_none_or(|c| at <= c))
        || (flags.lt && current.is_some_and(|c| at >= c));
    if refused {
        return Ok((Outcome::Integer(0), Vec::new()));
    }
    let effect = super::string::expiring(view, key, entry.value, Expiry::At(at));
    Ok((Outcome::Integer(1), vec![effect]))
}

/// PERSIST: `:1` and the deadline removed, or `:0` if there was none (or
/// no key).
pub fn persist<V: ReadView>(view: &V, key: &Bytes) -> Result<Evaluated, V::Error> {
    match view.entry(key)? {
        Some(entry) if entry.expires_at.is_some() => {
            let kept = Entry {
                value: entry.value,
                expires_at: None,
            };
            Ok((Outcome::Integer(1), vec![Effect::record(key, Some(kept))]))
        }
        _ => Ok((Outcome::Integer(0), Vec::new())),
    }
}

/// TTL and friends: -2 for a missing key, -1 for one without a deadline,
/// else the time left (never negative) or the deadline, in milliseconds or
/// in seconds rounded to the nearest (as Redis rounds).
pub fn ttl<V: ReadView>(
    view: &V,
    key: &Bytes,
    millis: bool,
    absolute: bool,
) -> Result<Outcome, V::Error> {
    let Some(entry) = view.entry(key)? else {
        return Ok(Outcome::Integer(-2));
    };
    let Some(at) = entry.expires_at else {
        return Ok(Outcome::Integer(-1));
    };
    let ms = if absolute {
        at
    } else {
        at.saturating_sub(view.now())
    };
    let value = if millis {
        ms
    } else {
        ms.saturating_add(500) / 1000
    };
    Ok(Outcome::Integer(i64::try_from(value).unwrap_or(i64::MAX)))
}

/// The background expirer's delete: each of `keys` that is stored and
/// expired at `now` is deleted; one that is live (its deadline extended or
/// removed since it was found) or already gone is left alone. Replies how
/// many were deleted.
pub fn reap<S: Stored>(store: &S, keys: &[Bytes], now: u64) -> Result<Evaluated, S::Error> {
    let mut effects: Vec<Effect> = Vec::new();
    for key in keys {
        if effects.iter().any(|e| e.key() == key) {
            continue;
        }
        if let Some(entry) = store.stored(key)?
            && is_expired(entry.expires_at, now)
        {
            effects.push(Effect::delete(key));
        }
    }
    let count = i64::try_from(effects.len()).unwrap_or(i64::MAX);
    Ok((Outcome::Integer(count), effects))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::op::testing::{MapView, args, b, parse_err};
    use crate::command::op::{ReadOp, eval_read, eval_write};
    use crate::command::{Command, parse};
    use crate::config::Dialect;

    /// A fixed "now" for the tests (unix ms).
    const NOW: u64 = 1_700_000_000_000;

    /// Runs `command` at time `now` as the coordinator would send it,
    /// applying its effects: its outcome.
    fn at(view: &mut MapView, now: u64, command: &str) -> Outcome {
        match parse(&args(command), Dialect::Redis) {
            Ok(Command::Write(op)) => {
                let (outcome, effects) = match eval_write(&op.stamp(now, 1), view) {
                    Ok(x) => x,
                    Err(e) => match e {},
                };
                view.apply(&effects);
                outcome
            }
            Ok(Command::Read(op)) => match eval_read(&op.stamp(now), view, 0) {
                Ok(x) => x,
                Err(e) => match e {},
            },
            other => panic!("{command}: {other:?}"),
        }
    }

    fn run(view: &mut MapView, command: &str) -> Outcome {
        at(view, NOW, command)
    }

    fn int(n: i64) -> Outcome {
        Outcome::Integer(n)
    }

    #[test]
    fn expire_parse_errors_in_redis_order() {
        let cases = [
            (
                "expire k 10 nx xx",
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ),
            (
                "expire k abc nx lt",
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ),
            (
                "pexpire k 10 gt lt",
                "ERR GT and LT options at the same time are not compatible",
            ),
            ("expire k 10 foo", "ERR Unsupported option foo"),
            (
                "expire k abc",
                "ERR value is not an integer or out of range",
            ),
            (
                "expire k 9223372036854776",
                "ERR invalid expire time in 'expire' command",
            ),
            (
                "expire k -9223372036854776",
                "ERR invalid expire time in 'expire' command",
            ),
            (
                "pexpire k 9223372036854775807",
                "ERR invalid expire time in 'pexpire' command",
            ),
            (
                "expireat k 9223372036854776",
                "ERR invalid expire time in 'expireat' command",
            ),
            (
                "expire k",
                "ERR wrong number of arguments for 'expire' command",
            ),
            ("ttl k k", "ERR wrong number of arguments for 'ttl' command"),
            (
                "persist",
                "ERR wrong number of arguments for 'persist' command",
            ),
        ];
        for (command, want) in cases {
            assert_eq!(parse_err(command), want, "{command}");
        }
        assert!(parse_expire("pexpireat", &args("pexpireat k 9223372036854775807")).is_ok());
    }

    #[test]
    fn ttl_of_missing_persistent_and_expiring_keys() {
        let mut view = MapView::of(&[("p", "v")]);
        assert_eq!(run(&mut view, "ttl missing"), int(-2));
        assert_eq!(run(&mut view, "pexpiretime missing"), int(-2));
        assert_eq!(run(&mut view, "ttl p"), int(-1));
        assert_eq!(run(&mut view, "expiretime p"), int(-1));
        assert_eq!(run(&mut view, "expire p 100"), int(1));
        assert_eq!(view.1.get(&b("p")), Some(&(NOW + 100_000)));
        assert_eq!(run(&mut view, "ttl p"), int(100));
        assert_eq!(run(&mut view, "pttl p"), int(100_000));
        assert_eq!(at(&mut view, NOW + 1_400, "ttl p"), int(99));
        assert_eq!(at(&mut view, NOW + 1_600, "ttl p"), int(98));
        let deadline = i64::try_from(NOW + 100_000).unwrap();
        assert_eq!(run(&mut view, "pexpiretime p"), int(deadline));
        assert_eq!(run(&mut view, "expiretime p"), int(deadline / 1000));
        // Alive through its deadline, gone just after.
        assert_eq!(at(&mut view, NOW + 100_000, "pttl p"), int(0));
        assert_eq!(at(&mut view, NOW + 100_001, "pttl p"), int(-2));
        assert_eq!(at(&mut view, NOW + 100_001, "exists p"), int(0));
    }

    #[test]
    fn expire_conditions_as_redis_7() {
        let mut view = MapView::of(&[("k", "v")]);
        assert_eq!(run(&mut view, "expire missing 10"), int(0));
        assert_eq!(run(&mut view, "expire k 10 xx"), int(0));
        assert_eq!(run(&mut view, "expire k 10 gt"), int(0));
        assert_eq!(run(&mut view, "expire k 100 xx lt"), int(0));
        assert_eq!(run(&mut view, "expire k 10 lt"), int(1));
        assert_eq!(run(&mut view, "expire k 10 nx"), int(0));
        assert_eq!(run(&mut view, "expire k 20 gt"), int(1));
        assert_eq!(run(&mut view, "expire k 5 gt"), int(0));
        assert_eq!(run(&mut view, "expire k 20 lt"), int(0));
        assert_eq!(run(&mut view, "expire k 5 xx lt"), int(1));
        assert_eq!(run(&mut view, "ttl k"), int(5));
        assert_eq!(run(&mut view, "persist k"), int(1));
        assert_eq!(run(&mut view, "persist k"), int(0));
        assert_eq!(run(&mut view, "persist missing"), int(0));
        assert_eq!(run(&mut view, "expire k 10 nx"), int(1));
        // A deadline not in the future deletes the key and counts.
        assert_eq!(run(&mut view, "expire k 0"), int(1));
        assert!(view.0.is_empty() && view.1.is_empty());
        view.0.insert(b("k"), b("v"));
        assert_eq!(run(&mut view, "pexpireat k -9223372036854775808"), int(1));
        assert!(view.0.is_empty());
    }

    #[test]
    fn writes_keep_or_clear_the_deadline_as_redis() {
        let mut view = MapView::default();
        assert_eq!(run(&mut view, "set c 1 ex 100"), Outcome::Ok);
        assert_eq!(run(&mut view, "incr c"), int(2));
        assert_eq!(
            run(&mut view, "incrbyfloat c 1.5"),
            Outcome::Value(Some(b("3.5")))
        );
        assert_eq!(run(&mut view, "append c 0"), int(4));
        assert_eq!(run(&mut view, "setrange c 0 x"), int(4));
        assert_eq!(run(&mut view, "ttl c"), int(100));
        assert_eq!(run(&mut view, "rename c d"), Outcome::Ok);
        assert_eq!(run(&mut view, "ttl d"), int(100));
        assert_eq!(run(&mut view, "set d v keepttl"), Outcome::Ok);
        assert_eq!(run(&mut view, "ttl d"), int(100));
        assert_eq!(run(&mut view, "set d v xx"), Outcome::Ok);
        assert_eq!(run(&mut view, "ttl d"), int(-1));
        assert_eq!(run(&mut view, "setex d 100 v"), Outcome::Ok);
        assert_eq!(run(&mut view, "getset d w"), Outcome::Value(Some(b("v"))));
        assert_eq!(run(&mut view, "ttl d"), int(-1));
        assert_eq!(run(&mut view, "psetex d 5000 v"), Outcome::Ok);
        assert_eq!(run(&mut view, "mset d v"), Outcome::Ok);
        assert_eq!(run(&mut view, "ttl d"), int(-1));
        assert_eq!(
            run(&mut view, "getex d px 2500"),
            Outcome::Value(Some(b("v")))
        );
        assert_eq!(run(&mut view, "pttl d"), int(2500));
        assert_eq!(
            run(&mut view, "getex d persist"),
            Outcome::Value(Some(b("v")))
        );
        assert_eq!(run(&mut view, "ttl d"), int(-1));
        assert_eq!(
            run(&mut view, "getex d exat 1"),
            Outcome::Value(Some(b("v")))
        );
        assert_eq!(run(&mut view, "exists d"), int(0));
        assert_eq!(run(&mut view, "set d v pxat 1 get"), Outcome::Value(None));
        assert_eq!(run(&mut view, "exists d"), int(0));
    }

    #[test]
    fn expired_keys_are_invisible_to_every_read_and_write() {
        let mut view = MapView::of(&[("live", "1")]);
        assert_eq!(run(&mut view, "set gone v px 50"), Outcome::Ok);
        let later = NOW + 51;
        assert_eq!(at(&mut view, later, "get gone"), Outcome::Value(None));
        assert_eq!(at(&mut view, later, "exists gone live"), int(1));
        assert_eq!(
            at(&mut view, later, "type gone"),
            Outcome::Status("none".into())
        );
        assert_eq!(at(&mut view, later, "dbsize"), int(1));
        assert_eq!(
            at(&mut view, later, "keys *"),
            Outcome::Array(vec![Outcome::Value(Some(b("live")))])
        );
        assert_eq!(
            at(&mut view, later, "mget gone live"),
            Outcome::Array(vec![Outcome::Value(None), Outcome::Value(Some(b("1")))])
        );
        assert_eq!(at(&mut view, later, "del gone"), int(0));
        assert_eq!(at(&mut view, later, "set gone w nx"), Outcome::Ok);
        assert_eq!(at(&mut view, later, "ttl gone"), int(-1));
        // An expired key's counter starts again from 0.
        assert_eq!(run(&mut view, "set n 5 px 10"), Outcome::Ok);
        assert_eq!(at(&mut view, NOW + 11, "incr n"), int(1));
        // FLUSHDB removes expired keys too.
        assert_eq!(run(&mut view, "set x v px 10"), Outcome::Ok);
        assert_eq!(at(&mut view, NOW + 11, "flushdb"), Outcome::Ok);
        assert!(view.0.is_empty() && view.1.is_empty());
    }

    #[test]
    fn scan_and_keys_skip_runs_of_expired_keys() {
        let mut view = MapView::default();
        for i in 0..3000 {
            view.0.insert(b(&format!("k{i:04}")), b("v"));
            if i % 3 != 0 {
                view.1.insert(b(&format!("k{i:04}")), NOW - 1);
            }
        }
        assert_eq!(run(&mut view, "dbsize"), int(1000));
        let Outcome::Array(keys) = run(&mut view, "keys k*") else {
            panic!()
        };
        assert_eq!(keys.len(), 1000);
    }

    #[test]
    fn reap_deletes_only_keys_still_expired() {
        let mut view = MapView::of(&[("a", "1"), ("b", "2"), ("c", "3")]);
        view.1.insert(b("a"), NOW - 10);
        view.1.insert(b("b"), NOW + 10);
        let reap = WriteOp::Reap {
            keys: vec![b("a"), b("b"), b("c"), b("a"), b("missing")],
        };
        let (outcome, effects) = match eval_write(&reap.clone().stamp(NOW, 1), &view) {
            Ok(x) => x,
            Err(e) => match e {},
        };
        assert_eq!(outcome, int(1));
        assert_eq!(effects, vec![Effect::delete(&b("a"))]);
        // Unstamped (time 0), nothing has expired.
        let (outcome, _) = match eval_write(&reap, &view) {
            Ok(x) => x,
            Err(e) => match e {},
        };
        assert_eq!(outcome, int(0));
    }

    #[test]
    fn stamping_fixes_relative_deadlines() {
        let op = parse_expire("expire", &args("expire k 10")).unwrap();
        assert_eq!(
            op.clone().stamp(NOW, 1),
            WriteOp::At {
                now_ms: NOW,
                stamp: 1,
                op: Box::new(WriteOp::Expire {
                    key: b("k"),
                    when: Expiry::At(1_700_000_010_000),
                    flags: ExpireFlags::default(),
                })
            }
        );
        // Stamping again replaces the time, never nests.
        assert!(matches!(
            op.stamp(NOW, 1).stamp(NOW + 1, 1),
            WriteOp::At { now_ms, ref op, .. } if now_ms == NOW + 1 && !matches!(**op, WriteOp::At { .. })
        ));
        let read = ReadOp::Ttl {
            key: b("k"),
            millis: false,
            absolute: false,
        };
        assert_eq!(read.clone().stamp(1).stamp(2).keys(), read.keys());
    }
}
