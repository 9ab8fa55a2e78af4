//! String commands: GET, SET (NX, XX, GET, EX, PX, EXAT, PXAT, KEEPTTL),
//! SETNX, SETEX, PSETEX, GETSET, GETEX, GETDEL, MSET, MSETNX, MGET, APPEND,
//! STRLEN, GETRANGE (and its old name SUBSTR) and SETRANGE. The counters
//! (INCR and friends) are in [`super::counter`]; EXPIRE, TTL and PERSIST in
//! [`super::expire`].
//!
//! Parsing follows Redis 7.0's order of checks, so a request with several
//! mistakes gets the error Redis gives: arity, then syntax, then the value
//! of each numeric argument, and only then anything that depends on data.
//!
//! # Expiry
//!
//! As in Redis: SET without KEEPTTL, GETSET, MSET and MSETNX leave the key
//! without a deadline; APPEND, SETRANGE (and the counters) keep the one it
//! has. EX and PX are relative, parsed as [`Expiry::In`] and made absolute
//! by the coordinator when it stamps the op ([`WriteOp::stamp`]); the
//! parser only checks, as Redis does, that the deadline fits in 64 bits at
//! the current time. A deadline that has already passed deletes the key.
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

use super::bitfield::BitField;
use super::bits::{BitRead, BitWrite};
use super::lcs::{Lcs, LcsReply};
use super::op::{
    Effect, Entry, Evaluated, Expiry, Outcome, ReadOp, ReadView, SetCondition, Value, WriteOp,
    WrongType,
};
use super::{CommandError, option_name, parse_i64};
use crate::config::Dialect;

/// Largest string a command may build (Redis's default
/// `proto-max-bulk-len`, 512 MB).
pub const MAX_STRING_LEN: u64 = 512 * 1024 * 1024;

/// Redis's error for a string that would exceed [`MAX_STRING_LEN`].
pub const TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// `GET key`.
pub fn parse_get(args: &[Bytes]) -> Result<ReadOp, CommandError> {
    Ok(ReadOp::Get { key: arg(args, 1) })
}

/// The unit and kind of a SET or GETEX expiry option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
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
    let mut expiry: Option<(Unit, &Bytes)> = None;
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
            other => Some(unit(other).ok_or(CommandError::Syntax)?),
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
    let expiry = match expiry {
        Some((kind, amount)) => Some(parse_expiry("set", kind, amount)?),
        None => keep_ttl.then_some(Expiry::Keep),
    };
    if let Some(expiry) = expiry {
        return Ok(WriteOp::SetEx {
            key,
            value,
            condition,
            get,
            expiry,
        });
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

/// The expiry option named `name` (lowercased), if it is one.
fn unit(name: &str) -> Option<Unit> {
    match name {
        "ex" => Some(Unit::Seconds),
        "px" => Some(Unit::Millis),
        "exat" => Some(Unit::AtSeconds),
        "pxat" => Some(Unit::AtMillis),
        _ => None,
    }
}

/// Redis's `getExpireMillisecondsOrReply` for command `command`: the
/// amount must be a positive integer whose deadline in milliseconds fits
/// in 64 bits (a relative one counted from the current time, as Redis
/// checks it; the coordinator fixes the deadline when it sends the op).
fn parse_expiry(command: &str, kind: Unit, amount: &[u8]) -> Result<Expiry, CommandError> {
    let invalid = || CommandError::Other(format!("ERR invalid expire time in '{command}' command"));
    let n = parse_i64(amount)?;
    let seconds = matches!(kind, Unit::Seconds | Unit::AtSeconds);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let millis = if seconds { n * 1000 } else { n };
    if matches!(kind, Unit::Seconds | Unit::Millis) {
        let now = i64::try_from(super::unix_time_ms()).unwrap_or(i64::MAX);
        if millis.checked_add(now).is_none() {
            return Err(invalid());
        }
        return Ok(Expiry::In(millis));
    }
    Ok(Expiry::At(millis))
}

/// `SETEX key seconds value` (`millis` false) and `PSETEX key
/// milliseconds value` (`millis` true).
pub fn parse_setex(args: &[Bytes], millis: bool) -> Result<WriteOp, CommandError> {
    let (command, kind) = if millis {
        ("psetex", Unit::Millis)
    } else {
        ("setex", Unit::Seconds)
    };
    let expiry = parse_expiry(command, kind, &arg(args, 2))?;
    Ok(WriteOp::SetEx {
        key: arg(args, 1),
        value: arg(args, 3),
        condition: None,
        get: false,
        expiry,
    })
}

/// `GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]`: options as SET reads
/// them (the same one may repeat, two different ones are a syntax error).
pub fn parse_getex(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    let mut persist = false;
    let mut expiry: Option<(Unit, &Bytes)> = None;
    let mut i = 2;
    while let Some(opt) = args.get(i) {
        let name = option_name(opt);
        if name == "persist" && expiry.is_none() {
            persist = true;
        } else {
            let kind = unit(&name).ok_or(CommandError::Syntax)?;
            let same_kind = expiry.is_none_or(|(k, _)| k == kind);
            match args.get(i + 1) {
                Some(amount) if same_kind && !persist => {
                    expiry = Some((kind, amount));
                    i += 1;
                }
                _ => return Err(CommandError::Syntax),
            }
        }
        i += 1;
    }
    let expiry = match expiry {
        Some((kind, amount)) => Some(parse_expiry("getex", kind, amount)?),
        None => persist.then_some(Expiry::Persist),
    };
    Ok(WriteOp::GetEx {
        key: arg(args, 1),
        expiry,
    })
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

/// SET with a condition, GET and/or an expiry (`None`: the key is left
/// without a deadline). With GET the reply is the old value (nil if none)
/// whether or not the condition let the write happen; without it, `+OK`,
/// or nil when the condition failed.
pub fn set_with<V: ReadView>(
    view: &V,
    key: &Bytes,
    value: &Bytes,
    condition: Option<SetCondition>,
    get: bool,
    expiry: Option<Expiry>,
) -> Result<Evaluated, V::Error> {
    let old = view.entry(key)?;
    let blocked = match condition {
        Some(SetCondition::Absent) => old.is_some(),
        Some(SetCondition::Present) => old.is_none(),
        None => false,
    };
    let old_deadline = old.as_ref().and_then(|e| e.expires_at);
    // SET overwrites a key of any type, but GET can only answer a string.
    let old_value = match old.map(|e| e.value) {
        Some(Value::String(v)) if get => Some(v),
        Some(Value::Collection(_)) if get => return Ok(WrongType.into()),
        _ => None,
    };
    if blocked {
        return Ok((Outcome::Value(old_value), Vec::new()));
    }
    let reply = if get {
        Outcome::Value(old_value)
    } else {
        Outcome::Ok
    };
    let effect = match expiry {
        None | Some(Expiry::Persist) => Effect::put(key, value.clone()),
        Some(Expiry::Keep) => Effect::put_expiring(key, value.clone(), old_deadline),
        Some(when) => expiring(view, key, Value::String(value.clone()), when),
    };
    Ok((reply, vec![effect]))
}

/// Stores `value` under `key` with deadline `when` (relative ones counted
/// from the view's time), or deletes the key if that deadline has passed.
pub fn expiring<V: ReadView>(view: &V, key: &Bytes, value: Value, when: Expiry) -> Effect {
    let now = view.now();
    let at = match when.resolve(now) {
        Expiry::At(at) => at,
        // Not deadlines: callers handle them.
        Expiry::Keep | Expiry::Persist | Expiry::In(_) => i64::MAX,
    };
    match u64::try_from(at) {
        Ok(at) if at > now => Effect::record(
            key,
            Some(Entry {
                value,
                expires_at: Some(at),
            }),
        ),
        _ => Effect::delete(key),
    }
}

/// GETEX: the value, and its deadline changed as `expiry` says (none: a
/// plain read).
pub fn getex<V: ReadView>(
    view: &V,
    key: &Bytes,
    expiry: Option<Expiry>,
) -> Result<Evaluated, V::Error> {
    let Ok(entry) = view.string(key)? else {
        return Ok(WrongType.into());
    };
    let Some(entry) = entry else {
        return Ok((Outcome::Value(None), Vec::new()));
    };
    let effects = match expiry {
        None | Some(Expiry::Keep) => Vec::new(),
        Some(Expiry::Persist) if entry.expires_at.is_none() => Vec::new(),
        Some(Expiry::Persist) => vec![Effect::put(key, entry.value.clone())],
        Some(when) => vec![expiring(
            view,
            key,
            Value::String(entry.value.clone()),
            when,
        )],
    };
    Ok((Outcome::Value(Some(entry.value)), effects))
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
    let Ok(old) = view.string(key)? else {
        return Ok(WrongType.into());
    };
    let old = old.map(|e| e.value);
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

/// GET: the string, nil if missing, WRONGTYPE for another type.
pub fn get<V: ReadView>(view: &V, key: &Bytes) -> Result<Outcome, V::Error> {
    Ok(match view.string(key)? {
        Ok(value) => Outcome::Value(value.map(|e| e.value)),
        Err(wrong) => wrong.into(),
    })
}

/// MGET: each value or nil (nil, not an error, for a key of another type,
/// as in Redis).
pub fn mget<V: ReadView>(view: &V, keys: &[Bytes]) -> Result<Outcome, V::Error> {
    let mut values = Vec::with_capacity(keys.len());
    for key in keys {
        let value = view.string(key)?.ok().flatten().map(|e| e.value);
        values.push(Outcome::Value(value));
    }
    Ok(Outcome::Array(values))
}

/// APPEND: creates the key (even with an empty value) or extends it.
pub fn append<V: ReadView>(view: &V, key: &Bytes, value: &Bytes) -> Result<Evaluated, V::Error> {
    let Ok(old) = view.string(key)? else {
        return Ok(WrongType.into());
    };
    let deadline = old.as_ref().and_then(|e| e.expires_at);
    let new = match old.map(|e| e.value) {
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
    Ok((
        Outcome::Integer(len),
        vec![Effect::put_expiring(key, new, deadline)],
    ))
}

/// STRLEN: 0 for a missing key.
pub fn strlen<V: ReadView>(view: &V, key: &Bytes) -> Result<Outcome, V::Error> {
    let Ok(value) = view.string(key)? else {
        return Ok(WrongType.into());
    };
    let len = value.map_or(0, |e| e.value.len());
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
    let Ok(value) = view.string(key)? else {
        return Ok(WrongType.into());
    };
    let Some(value) = value.map(|e| e.value) else {
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
    let Ok(old) = view.string(key)? else {
        return Ok(WrongType.into());
    };
    let deadline = old.as_ref().and_then(|e| e.expires_at);
    let old = old.map(|e| e.value);
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
    Ok((
        Outcome::Integer(len),
        vec![Effect::put_expiring(key, new.freeze(), deadline)],
    ))
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

/// GETBIT, BITCOUNT, BITPOS ([`super::bits`]): WRONGTYPE for another type,
/// then the command's own evaluation.
pub fn bit_read<V: ReadView>(view: &V, op: &BitRead) -> Result<Outcome, V::Error> {
    let Ok(value) = view.string(op.key())? else {
        return Ok(WrongType.into());
    };
    Ok(op.eval(value.as_ref().map(|e| &e.value[..])))
}

/// SETBIT and BITOP ([`super::bits`]). SETBIT keeps the key's deadline and
/// writes nothing when the bit was already so (Redis does not count that
/// as a change, so WATCH holds); BITOP's destination loses its deadline, or
/// is deleted for an empty result.
pub fn bit_write<V: ReadView>(view: &V, op: &BitWrite) -> Result<Evaluated, V::Error> {
    let mut values = Vec::new();
    for key in op.sources() {
        let Ok(value) = view.string(key)? else {
            return Ok(WrongType.into());
        };
        values.push(value);
    }
    let inputs: Vec<Option<&[u8]>> = values
        .iter()
        .map(|v| v.as_ref().map(|e| &e.value[..]))
        .collect();
    let (outcome, new) = op.eval(&inputs);
    if matches!(outcome, Outcome::Error(_)) {
        return Ok((outcome, Vec::new()));
    }
    let target = op.target();
    let effects = match (op, new) {
        (BitWrite::SetBit { .. }, Some(new)) => match values.first().cloned().flatten() {
            Some(old) if old.value == new => Vec::new(),
            old => vec![Effect::put_expiring(
                target,
                new,
                old.and_then(|e| e.expires_at),
            )],
        },
        (BitWrite::BitOp { .. }, Some(new)) => vec![Effect::put(target, new)],
        (BitWrite::BitOp { .. }, None) if view.contains(target)? => vec![Effect::delete(target)],
        _ => Vec::new(),
    };
    Ok((outcome, effects))
}

/// BITFIELD and BITFIELD_RO ([`super::bitfield`]): the key keeps its
/// deadline.
pub fn bitfield<V: ReadView>(view: &V, op: &BitField) -> Result<Evaluated, V::Error> {
    let Ok(old) = view.string(&op.key)? else {
        return Ok(WrongType.into());
    };
    let (outcome, new) = op.eval(old.as_ref().map(|e| &e.value[..]));
    let effects = match new {
        Some(new) => vec![Effect::put_expiring(
            &op.key,
            new,
            old.and_then(|e| e.expires_at),
        )],
        None => Vec::new(),
    };
    Ok((outcome, effects))
}

/// LCS ([`super::lcs`]): both keys must hold strings (Redis's own error
/// text, not WRONGTYPE); IDX's reply is a map (flat in RESP2).
pub fn lcs<V: ReadView>(view: &V, op: &Lcs) -> Result<Outcome, V::Error> {
    let (Ok(a), Ok(b)) = (view.string(&op.a)?, view.string(&op.b)?) else {
        return Ok(Outcome::Error(
            "ERR The specified keys must contain string values".into(),
        ));
    };
    let outcome = op.eval(
        a.as_ref().map(|e| &e.value[..]),
        b.as_ref().map(|e| &e.value[..]),
    );
    Ok(match (op.reply, outcome) {
        (LcsReply::Idx, Outcome::Array(items)) if items.len() % 2 == 0 => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                pairs.push((k, v));
            }
            Outcome::Map(pairs)
        }
        (_, other) => other,
    })
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
        let expiry = |s: &str| match set(s) {
            WriteOp::SetEx { expiry, .. } => expiry,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(expiry("set k v ex 10"), Expiry::In(10_000));
        assert_eq!(expiry("set k v EX 10 ex 20"), Expiry::In(20_000));
        assert_eq!(expiry("set k v px 5 nx get"), Expiry::In(5));
        assert_eq!(expiry("set k v pxat 1"), Expiry::At(1));
        assert_eq!(expiry("set k v exat 2"), Expiry::At(2000));
        assert_eq!(expiry("set k v keepttl xx"), Expiry::Keep);
        assert_eq!(parse_err("set k v persist"), "ERR syntax error");
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
    fn getex_setex_psetex_parse_like_redis() {
        let getex = |s: &str| match parse_getex(&args(s)).unwrap() {
            WriteOp::GetEx { expiry, .. } => expiry,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(getex("getex k"), None);
        assert_eq!(getex("getex k persist PERSIST"), Some(Expiry::Persist));
        assert_eq!(getex("getex k ex 10 ex 20"), Some(Expiry::In(20_000)));
        assert_eq!(
            getex("getex k pxat 9223372036854775807"),
            Some(Expiry::At(i64::MAX))
        );
        for bad in [
            "getex k ex",
            "getex k persist ex 10",
            "getex k ex 10 persist",
            "getex k px 10 ex 20",
            "getex k nx",
            "getex k keepttl",
            "getex k get",
        ] {
            assert_eq!(parse_err(bad), "ERR syntax error", "{bad}");
        }
        assert_eq!(
            parse_err("getex k ex 0"),
            "ERR invalid expire time in 'getex' command"
        );
        assert_eq!(
            parse_err("getex k exat 9223372036854776"),
            "ERR invalid expire time in 'getex' command"
        );
        assert_eq!(
            parse_err("setex k 0 v"),
            "ERR invalid expire time in 'setex' command"
        );
        assert_eq!(
            parse_err("psetex k -1 v"),
            "ERR invalid expire time in 'psetex' command"
        );
        assert_eq!(
            parse_err("setex k abc v"),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            parse_err("setex k 10"),
            "ERR wrong number of arguments for 'setex' command"
        );
        assert_eq!(
            parse_setex(&args("psetex k 50 v"), true).unwrap(),
            WriteOp::SetEx {
                key: b("k"),
                value: b("v"),
                condition: None,
                get: false,
                expiry: Expiry::In(50),
            }
        );
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
            eval_read(&mget, &view, 0).unwrap(),
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
            eval_read(
                &parse_strlen(&args(&format!("strlen {k}"))).unwrap(),
                &view,
                0,
            )
            .unwrap()
        };
        assert_eq!(strlen("k"), Outcome::Integer(11));
        assert_eq!(strlen("nope"), Outcome::Integer(0));
    }

    #[test]
    fn getrange_indices() {
        let view = MapView::of(&[("s", "This is a string"), ("e", "")]);
        let range = |s: &str| {
            let op = parse_getrange(&args(s)).unwrap();
            match eval_read(&op, &view, 0).unwrap() {
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
