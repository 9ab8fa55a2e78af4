//! String commands: GET, SET (NX, XX, GET), SETNX, GETSET, GETDEL, MSET,
//! MSETNX, MGET, APPEND, STRLEN, GETRANGE (and its old name SUBSTR) and
//! SETRANGE. The counters (INCR and friends) are in [`super::counter`].
//!
//! Parsing follows Redis 7.0's order of checks, so a request with several
//! mistakes gets the error Redis gives: arity, then syntax, then the value
//! of each numeric argument, and only then anything that depends on data.
//!
//! # Expiry
//!
//! There are no TTLs yet. SET's EX, PX, EXAT, PXAT and KEEPTTL options are
//! parsed and checked as Redis checks them (a syntax error or an invalid
//! expire time gets Redis's reply), and a well-formed one is then refused
//! with `ERR expiry is not supported yet` rather than silently ignored.
//!
//! # Lab dialect
//!
//! `SET key word1 word2 …` stores the words joined by single spaces (the
//! Lab3 protocol sends a multi-word value that way, and GET answers it word
//! by word), so SET takes no options there.
//!
//! # Limits
//!
//! APPEND and SETRANGE refuse to grow a value past 512 MB (Redis's default
//! `proto-max-bulk-len`), with Redis's error text. The limit is fixed here,
//! not read from the node's config, because every replica must reach the
//! same verdict.

use std::collections::HashSet;

use bytes::{BufMut, Bytes, BytesMut};

use super::op::{Effect, Evaluated, Outcome, ReadOp, ReadView, SetCondition, WriteOp};
use super::{CommandError, option_name, parse_i64};
use crate::config::Dialect;

/// Largest string a command may build (Redis's default
/// `proto-max-bulk-len`, 512 MB).
pub const MAX_STRING_LEN: u64 = 512 * 1024 * 1024;

/// Redis's error for a string that would exceed [`MAX_STRING_LEN`].
pub const TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// Our reply to a well-formed expiry option.
pub const EXPIRY_UNSUPPORTED: &str = "ERR expiry is not supported yet";

/// `GET key`.
pub fn parse_get(args: &[Bytes]) -> Result<ReadOp, CommandError> {
    Ok(ReadOp::Get { key: arg(args, 1) })
}

/// The unit and kind of a SET expiry option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// EX seconds.
    Seconds,
    /// PX milliseconds.
    Millis,
    /// EXAT unix-seconds.
    AtSeconds,
    /// PXAT unix-milliseconds.
    AtMillis,
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`.
///
/// Options are read as Redis's `parseExtendedStringArgumentsOrReply` reads
/// them: in any order and repeatable, but NX with XX, or two different
/// expiry options, are a syntax error.
pub fn parse_set(args: &[Bytes], dialect: Dialect) -> Result<WriteOp, CommandError> {
    let (key, value) = (arg(args, 1), arg(args, 2));
    if dialect == Dialect::Lab && args.len() > 3 {
        let mut joined = BytesMut::new();
        for (i, word) in args.iter().skip(2).enumerate() {
            if i > 0 {
                joined.put_u8(b' ');
            }
            joined.put_slice(word);
        }
        return Ok(WriteOp::Set {
            key,
            value: joined.freeze(),
        });
    }
    let mut condition = None;
    let mut get = false;
    let mut keep_ttl = false;
    let mut expiry: Option<(Expiry, &Bytes)> = None;
    let mut i = 3;
    while let Some(opt) = args.get(i) {
        let next = args.get(i + 1);
        let kind = match option_name(opt).as_str() {
            "nx" if condition != Some(SetCondition::Present) => {
                condition = Some(SetCondition::Absent);
                None
            }
            "xx" if condition != Some(SetCondition::Absent) => {
                condition = Some(SetCondition::Present);
                None
            }
            "get" => {
                get = true;
                None
            }
            "keepttl" if expiry.is_none() => {
                keep_ttl = true;
                None
            }
            "ex" => Some(Expiry::Seconds),
            "px" => Some(Expiry::Millis),
            "exat" => Some(Expiry::AtSeconds),
            "pxat" => Some(Expiry::AtMillis),
            _ => return Err(CommandError::Syntax),
        };
        if let Some(kind) = kind {
            let same_kind = expiry.is_none_or(|(k, _)| k == kind);
            match next {
                Some(amount) if same_kind && !keep_ttl => {
                    expiry = Some((kind, amount));
                    i += 1;
                }
                _ => return Err(CommandError::Syntax),
            }
        }
        i += 1;
    }
    if let Some((kind, amount)) = expiry {
        check_expiry(kind, amount)?;
        return Err(CommandError::Other(EXPIRY_UNSUPPORTED.into()));
    }
    if keep_ttl {
        return Err(CommandError::Other(EXPIRY_UNSUPPORTED.into()));
    }
    if condition.is_none() && !get {
        return Ok(WriteOp::Set { key, value });
    }
    Ok(WriteOp::SetWith {
        key,
        value,
        condition,
        get,
    })
}

/// Redis's `getExpireMillisecondsOrReply`: the amount must be a positive
/// integer whose deadline in milliseconds fits in 64 bits.
fn check_expiry(kind: Expiry, amount: &[u8]) -> Result<(), CommandError> {
    let invalid = || CommandError::Other("ERR invalid expire time in 'set' command".into());
    let n = parse_i64(amount)?;
    let seconds = matches!(kind, Expiry::Seconds | Expiry::AtSeconds);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let millis = if seconds { n * 1000 } else { n };
    if matches!(kind, Expiry::Seconds | Expiry::Millis) {
        // A relative time is added to the current time, as Redis does.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        if millis.checked_add(now).is_none() {
            return Err(invalid());
        }
    }
    Ok(())
}

/// `SETNX key value`.
pub fn parse_setnx(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    Ok(WriteOp::SetNx {
        key: arg(args, 1),
        value: arg(args, 2),
    })
}

/// `GETSET key value`: SET with GET.
pub fn parse_getset(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    Ok(WriteOp::SetWith {
        key: arg(args, 1),
        value: arg(args, 2),
        condition: None,
        get: true,
    })
}

/// `GETDEL key`.
pub fn parse_getdel(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    Ok(WriteOp::GetDel { key: arg(args, 1) })
}

/// `MSET key value [key value ...]`, or MSETNX with `nx`. An odd number of
/// arguments after the name is an arity error, as in Redis.
pub fn parse_mset(args: &[Bytes], nx: bool) -> Result<WriteOp, CommandError> {
    if args.len().is_multiple_of(2) {
        return Err(CommandError::Arity(
            if nx { "msetnx" } else { "mset" }.into(),
        ));
    }
    let pairs = args
        .get(1..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect();
    Ok(if nx {
        WriteOp::MSetNx { pairs }
    } else {
        WriteOp::MSet { pairs }
    })
}

/// `MGET key [key ...]`.
pub fn parse_mget(args: &[Bytes]) -> Result<ReadOp, CommandError> {
    Ok(ReadOp::MGet {
        keys: args.iter().skip(1).cloned().collect(),
    })
}

/// `APPEND key value`.
pub fn parse_append(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    Ok(WriteOp::Append {
        key: arg(args, 1),
        value: arg(args, 2),
    })
}

/// `STRLEN key`.
pub fn parse_strlen(args: &[Bytes]) -> Result<ReadOp, CommandError> {
    Ok(ReadOp::StrLen { key: arg(args, 1) })
}

/// `GETRANGE key start end` (and `SUBSTR`, the same command).
pub fn parse_getrange(args: &[Bytes]) -> Result<ReadOp, CommandError> {
    let start = parse_i64(&arg(args, 2))?;
    let end = parse_i64(&arg(args, 3))?;
    Ok(ReadOp::GetRange {
        key: arg(args, 1),
        start,
        end,
    })
}

/// `SETRANGE key offset value`: a negative offset is refused before the
/// key is looked at.
pub fn parse_setrange(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    let offset = parse_i64(&arg(args, 2))?;
    let offset = u64::try_from(offset)
        .map_err(|_| CommandError::Other("ERR offset is out of range".into()))?;
    Ok(WriteOp::SetRange {
        key: arg(args, 1),
        offset,
        value: arg(args, 3),
    })
}

/// Argument `i`, which the arity check guarantees (empty if it did not).
fn arg(args: &[Bytes], i: usize) -> Bytes {
    args.get(i).cloned().unwrap_or_default()
}

/// SET with a condition and/or GET. With GET the reply is the old value
/// (nil if none) whether or not the condition let the write happen; without
/// it, `+OK`, or nil when the condition failed.
pub fn set_with<V: ReadView>(
    view: &V,
    key: &Bytes,
    value: &Bytes,
    condition: Option<SetCondition>,
    get: bool,
) -> Result<Evaluated, V::Error> {
    let old = if get { view.get(key)? } else { None };
    let found = if get {
        old.is_some()
    } else {
        view.contains(key)?
    };
    let blocked = match condition {
        Some(SetCondition::Absent) => found,
        Some(SetCondition::Present) => !found,
        None => false,
    };
    if blocked {
        return Ok((Outcome::Value(old), Vec::new()));
    }
    let reply = if get {
        Outcome::Value(old)
    } else {
        Outcome::Ok
    };
    Ok((reply, vec![Effect::put(key, value.clone())]))
}

/// SETNX: `:1` and the write if the key is absent, else `:0`.
pub fn setnx<V: ReadView>(view: &V, key: &Bytes, value: &Bytes) -> Result<Evaluated, V::Error> {
    if view.contains(key)? {
        return Ok((Outcome::Integer(0), Vec::new()));
    }
    Ok((Outcome::Integer(1), vec![Effect::put(key, value.clone())]))
}

/// GETDEL: the value, and its deletion.
pub fn getdel<V: ReadView>(view: &V, key: &Bytes) -> Result<Evaluated, V::Error> {
    let old = view.get(key)?;
    let effects = if old.is_some() {
        vec![Effect::delete(key)]
    } else {
        Vec::new()
    };
    Ok((Outcome::Value(old), effects))
}

/// MSET's writes: one per distinct key, with the last value given for it.
pub fn mset_effects(pairs: &[(Bytes, Bytes)]) -> Vec<Effect> {
    let mut seen = HashSet::with_capacity(pairs.len());
    let mut effects: Vec<Effect> = pairs
        .iter()
        .rev()
        .filter(|(k, _)| seen.insert(k))
        .map(|(k, v)| Effect::put(k, v.clone()))
        .collect();
    effects.reverse();
    effects
}

/// MSETNX: all or nothing.
pub fn msetnx<V: ReadView>(view: &V, pairs: &[(Bytes, Bytes)]) -> Result<Evaluated, V::Error> {
    for (key, _) in pairs {
        if view.contains(key)? {
            return Ok((Outcome::Integer(0), Vec::new()));
        }
    }
    Ok((Outcome::Integer(1), mset_effects(pairs)))
}

/// MGET: each value or nil.
pub fn mget<V: ReadView>(view: &V, keys: &[Bytes]) -> Result<Outcome, V::Error> {
    let mut values = Vec::with_capacity(keys.len());
    for key in keys {
        values.push(Outcome::Value(view.get(key)?));
    }
    Ok(Outcome::Array(values))
}

/// APPEND: creates the key (even with an empty value) or extends it.
pub fn append<V: ReadView>(view: &V, key: &Bytes, value: &Bytes) -> Result<Evaluated, V::Error> {
    let new = match view.get(key)? {
        None => value.clone(),
        Some(old) => {
            if too_long(old.len() as u64, value.len() as u64) {
                return Ok(error(TOO_LONG));
            }
            let mut joined = BytesMut::with_capacity(old.len() + value.len());
            joined.put_slice(&old);
            joined.put_slice(value);
            joined.freeze()
        }
    };
    let len = length(new.len());
    Ok((Outcome::Integer(len), vec![Effect::put(key, new)]))
}

/// STRLEN: 0 for a missing key.
pub fn strlen<V: ReadView>(view: &V, key: &Bytes) -> Result<Outcome, V::Error> {
    let len = view.get(key)?.map_or(0, |v| v.len());
    Ok(Outcome::Integer(length(len)))
}

/// GETRANGE, with Redis's index arithmetic: negative indices count from the
/// end, both ends are clamped, an empty or inverted range (or a missing
/// key) is the empty string.
pub fn getrange<V: ReadView>(
    view: &V,
    key: &Bytes,
    start: i64,
    end: i64,
) -> Result<Outcome, V::Error> {
    let empty = Outcome::Value(Some(Bytes::new()));
    let Some(value) = view.get(key)? else {
        return Ok(empty);
    };
    if start < 0 && end < 0 && start > end {
        return Ok(empty);
    }
    let len = length(value.len());
    let mut start = if start < 0 {
        len.wrapping_add(start)
    } else {
        start
    };
    let mut end = if end < 0 { len.wrapping_add(end) } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Ok(empty);
    }
    // 0 <= start <= end < len here.
    let range = usize::try_from(start).unwrap_or(0)..usize::try_from(end).unwrap_or(0) + 1;
    Ok(Outcome::Value(Some(value.slice(range))))
}

/// SETRANGE: writes `value` at `offset`, zero-padding as needed; an empty
/// `value` changes nothing and replies the current length.
pub fn setrange<V: ReadView>(
    view: &V,
    key: &Bytes,
    offset: u64,
    value: &Bytes,
) -> Result<Evaluated, V::Error> {
    let old = view.get(key)?;
    if value.is_empty() {
        let len = old.map_or(0, |v| v.len());
        return Ok((Outcome::Integer(length(len)), Vec::new()));
    }
    if too_long(offset, value.len() as u64) {
        return Ok(error(TOO_LONG));
    }
    // Both fit in memory: offset + len <= 512 MB.
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let old = old.unwrap_or_default();
    let mut new = BytesMut::from(&old[..]);
    let end = offset + value.len();
    if new.len() < end {
        new.resize(end, 0);
    }
    if let Some(slot) = new.get_mut(offset..end) {
        slot.copy_from_slice(value);
    }
    let len = length(new.len());
    Ok((Outcome::Integer(len), vec![Effect::put(key, new.freeze())]))
}

/// Redis's `checkStringLength`: whether `size + append` exceeds the limit
/// (or overflows).
fn too_long(size: u64, append: u64) -> bool {
    size.checked_add(append)
        .is_none_or(|total| total > MAX_STRING_LEN)
}

/// A length as a reply integer.
fn length(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

fn error(text: &str) -> Evaluated {
    (Outcome::Error(text.to_string()), Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::op::eval_read;
    use crate::command::op::testing::{MapView, args, b, parse_err, write};

    fn set(s: &str) -> WriteOp {
        parse_set(&args(s), Dialect::Redis).unwrap()
    }

    #[test]
    fn set_options_parse_like_redis() {
        assert_eq!(
            set("set k v"),
            WriteOp::Set {
                key: b("k"),
                value: b("v")
            }
        );
        assert_eq!(
            set("set k v nx get GET NX"),
            WriteOp::SetWith {
                key: b("k"),
                value: b("v"),
                condition: Some(SetCondition::Absent),
                get: true
            }
        );
        for bad in [
            "set k v nx xx",
            "set k v xx nx",
            "set k v ex",
            "set k v ex 10 px 10",
            "set k v keepttl ex 10",
            "set k v ex 10 keepttl",
            "set k v foo",
            "set k v nx\u{1}",
        ] {
            assert_eq!(parse_err(bad), "ERR syntax error", "{bad}");
        }
        assert_eq!(
            parse_err("set k v ex abc"),
            "ERR value is not an integer or out of range"
        );
        for invalid in [
            "set k v ex 0",
            "set k v px -1",
            "set k v ex 9223372036854776",
            "set k v px 9223372036854775807",
        ] {
            assert_eq!(
                parse_err(invalid),
                "ERR invalid expire time in 'set' command",
                "{invalid}"
            );
        }
        for unsupported in [
            "set k v ex 10",
            "set k v EX 10 ex 20",
            "set k v pxat 1",
            "set k v keepttl",
        ] {
            assert_eq!(parse_err(unsupported), EXPIRY_UNSUPPORTED, "{unsupported}");
        }
        // Redis compares option names as C strings: a NUL ends them.
        let mut nul = args("set k v");
        nul.push(Bytes::from_static(b"nx\0junk"));
        assert!(matches!(
            parse_set(&nul, Dialect::Redis).unwrap(),
            WriteOp::SetWith {
                condition: Some(SetCondition::Absent),
                ..
            }
        ));
    }

    #[test]
    fn lab_set_joins_words() {
        assert_eq!(
            parse_set(&args("SET k Cloud Computing"), Dialect::Lab).unwrap(),
            WriteOp::Set {
                key: b("k"),
                value: b("Cloud Computing")
            }
        );
    }

    #[test]
    fn set_conditions_and_get() {
        let mut view = MapView::default();
        assert_eq!(
            write(&mut view, set("set k v nx get")),
            Outcome::Value(None)
        );
        assert_eq!(
            write(&mut view, set("set k w nx get")),
            Outcome::Value(Some(b("v")))
        );
        assert_eq!(write(&mut view, set("set k w nx")), Outcome::Value(None));
        assert_eq!(write(&mut view, set("set x w xx")), Outcome::Value(None));
        assert_eq!(write(&mut view, set("set k w xx")), Outcome::Ok);
        assert_eq!(
            write(&mut view, set("set k z get")),
            Outcome::Value(Some(b("w")))
        );
        assert_eq!(view.0.get(&b("k")), Some(&b("z")));
        assert!(!view.0.contains_key(&b("x")));
        let getset = parse_getset(&args("getset k q")).unwrap();
        assert_eq!(write(&mut view, getset), Outcome::Value(Some(b("z"))));
        let setnx = parse_setnx(&args("setnx k q")).unwrap();
        assert_eq!(write(&mut view, setnx), Outcome::Integer(0));
        let setnx = parse_setnx(&args("setnx n q")).unwrap();
        assert_eq!(write(&mut view, setnx), Outcome::Integer(1));
        let getdel = parse_getdel(&args("getdel n")).unwrap();
        assert_eq!(
            write(&mut view, getdel.clone()),
            Outcome::Value(Some(b("q")))
        );
        assert_eq!(write(&mut view, getdel), Outcome::Value(None));
    }

    #[test]
    fn mset_msetnx_mget() {
        let mut view = MapView::default();
        assert_eq!(
            parse_err("mset a 1 b"),
            "ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            parse_err("msetnx a"),
            "ERR wrong number of arguments for 'msetnx' command"
        );
        let mset = parse_mset(&args("mset a 1 b 2 a 3"), false).unwrap();
        assert_eq!(mset.keys().len(), 3);
        assert_eq!(write(&mut view, mset), Outcome::Ok);
        assert_eq!(view.0.get(&b("a")), Some(&b("3")));
        let msetnx = parse_mset(&args("msetnx c 1 a 2"), true).unwrap();
        assert_eq!(write(&mut view, msetnx), Outcome::Integer(0));
        assert!(!view.0.contains_key(&b("c")));
        let msetnx = parse_mset(&args("msetnx c 1 d 2 c 5"), true).unwrap();
        assert_eq!(write(&mut view, msetnx), Outcome::Integer(1));
        assert_eq!(view.0.get(&b("c")), Some(&b("5")));
        let mget = parse_mget(&args("mget a x c")).unwrap();
        assert_eq!(
            eval_read(&mget, &view).unwrap(),
            Outcome::Array(vec![
                Outcome::Value(Some(b("3"))),
                Outcome::Value(None),
                Outcome::Value(Some(b("5"))),
            ])
        );
    }

    #[test]
    fn append_and_strlen() {
        let mut view = MapView::default();
        let op = |s: &str| parse_append(&args(s)).unwrap();
        assert_eq!(write(&mut view, op("append k Hello")), Outcome::Integer(5));
        assert_eq!(
            write(&mut view, op("append k _World")),
            Outcome::Integer(11)
        );
        let mut empty = args("append e");
        empty.push(Bytes::new());
        assert_eq!(
            write(&mut view, parse_append(&empty).unwrap()),
            Outcome::Integer(0)
        );
        assert_eq!(view.0.get(&b("e")), Some(&Bytes::new()));
        let strlen = |k: &str| {
            eval_read(&parse_strlen(&args(&format!("strlen {k}"))).unwrap(), &view).unwrap()
        };
        assert_eq!(strlen("k"), Outcome::Integer(11));
        assert_eq!(strlen("nope"), Outcome::Integer(0));
    }

    #[test]
    fn getrange_indices() {
        let view = MapView::of(&[("s", "This is a string"), ("e", "")]);
        let range = |s: &str| {
            let op = parse_getrange(&args(s)).unwrap();
            match eval_read(&op, &view).unwrap() {
                Outcome::Value(Some(v)) => String::from_utf8(v.to_vec()).unwrap(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(range("getrange s 0 3"), "This");
        assert_eq!(range("getrange s -3 -1"), "ing");
        assert_eq!(range("getrange s 0 -1"), "This is a string");
        assert_eq!(range("getrange s 10 100"), "string");
        assert_eq!(range("getrange s 5 -100"), "");
        assert_eq!(range("getrange s -1 -5"), "");
        assert_eq!(range("getrange s -100 2"), "Thi");
        assert_eq!(range("getrange s 16 20"), "");
        assert_eq!(
            range("getrange s -9223372036854775808 9223372036854775807"),
            "This is a string"
        );
        assert_eq!(range("getrange e 0 -1"), "");
        assert_eq!(range("getrange missing 0 -1"), "");
        assert_eq!(
            parse_err("getrange s 0 x"),
            "ERR value is not an integer or out of range"
        );
    }

    #[test]
    fn setrange_pads_and_limits() {
        let mut view = MapView::of(&[("k", "Hello World")]);
        let op = |s: &str| parse_setrange(&args(s)).unwrap();
        assert_eq!(
            write(&mut view, op("setrange k 6 Redis")),
            Outcome::Integer(11)
        );
        assert_eq!(view.0.get(&b("k")), Some(&b("Hello Redis")));
        assert_eq!(write(&mut view, op("setrange n 3 ab")), Outcome::Integer(5));
        assert_eq!(view.0.get(&b("n")), Some(&Bytes::from_static(b"\0\0\0ab")));
        let mut empty = args("setrange k 100");
        empty.push(Bytes::new());
        assert_eq!(
            write(&mut view, parse_setrange(&empty).unwrap()),
            Outcome::Integer(11)
        );
        empty[1] = b("missing");
        assert_eq!(
            write(&mut view, parse_setrange(&empty).unwrap()),
            Outcome::Integer(0)
        );
        assert!(!view.0.contains_key(&b("missing")));
        assert_eq!(
            write(&mut view, op("setrange k 536870912 x")),
            Outcome::Error(TOO_LONG.into())
        );
        assert_eq!(
            write(&mut view, op("setrange k 9223372036854775807 x")),
            Outcome::Error(TOO_LONG.into())
        );
        assert_eq!(parse_err("setrange k -1 x"), "ERR offset is out of range");
        assert_eq!(
            parse_err("setrange k x x"),
            "ERR value is not an integer or out of range"
        );
    }
}
