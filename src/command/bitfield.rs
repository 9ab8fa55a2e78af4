//! BITFIELD and BITFIELD_RO: integers of 1 to 64 bits at any bit offset of
//! a string, read (GET), written (SET) and incremented (INCRBY) under an
//! OVERFLOW policy (WRAP, SAT or FAIL), as Redis 7.0 does them.
//!
//! This module owns the parsing of a request into a [`BitField`] (with
//! Redis's order of checks and error texts) and the pure evaluation of one
//! against a key's current bytes. It must never do I/O, look at a clock or
//! touch storage: the caller reads the key (answering WRONGTYPE itself),
//! hands its bytes to [`BitField::eval`] and stores what comes back,
//! keeping the key's deadline (BITFIELD never changes a TTL).
//!
//! # Bits
//!
//! Bit 0 is the most significant bit of the first byte, as for SETBIT. A
//! field of `bits` bits at `offset` is read most significant bit first;
//! bits past the end of the string read as 0. A signed field is two's
//! complement of its width.
//!
//! # Order of checks
//!
//! The whole request is parsed before anything runs, operation by
//! operation: the subcommand (with enough arguments after it, else a syntax
//! error), then its type, its offset and, for SET and INCRBY, its integer.
//! `OVERFLOW` changes the policy of the operations after it. Only once
//! everything parses does BITFIELD_RO refuse a SET or INCRBY.
//!
//! # Offsets
//!
//! An offset is a bit number, or `#N` for the N-th field of the op's width
//! (`N * bits`). Like Redis, the multiplication wraps on 64-bit overflow
//! (`u4 #4611686018427387904` is offset 0), and the result must be
//! non-negative and address a byte below 512 MB.
//!
//! # Writes
//!
//! A BITFIELD with a SET or INCRBY first grows the string with zero bytes
//! so that the farthest bit any of them writes exists (creating the key if
//! it is missing), even if OVERFLOW FAIL then refuses every write. That is
//! how Redis does it, so a failed op can still create or lengthen a key.
//! Operations run in order; each sees the writes of those before it.
//!
//! # Overflow
//!
//! The overflow checks reproduce Redis's arithmetic exactly, including one
//! quirk: `OVERFLOW SAT SET iN` of a value within `2^N` of `i64::MIN`
//! (for N < 64) saturates to the maximum, not the minimum, because Redis
//! computes `max - value` with wrap-around. Likewise an unsigned SET of a
//! negative number is "too large" (it is taken as its 64-bit unsigned
//! form), so SAT stores the maximum.
//!
//! Variants are only ever appended (never reordered), because ops are
//! encoded by position when they cross the wire.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::op::Outcome;
use super::string::MAX_STRING_LEN;
use super::{CommandError, option_name, parse_i64};

/// Redis's error for a type that is not `i1`..`i64` or `u1`..`u63`.
pub const INVALID_TYPE: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// Redis's error for an offset that does not parse or is out of range.
pub const INVALID_OFFSET: &str = "ERR bit offset is not an integer or out of range";

/// Redis's error for an OVERFLOW policy other than WRAP, SAT or FAIL.
pub const INVALID_OVERFLOW: &str = "ERR Invalid OVERFLOW type specified";

/// Redis's error for a SET or INCRBY sent to BITFIELD_RO.
pub const READ_ONLY: &str = "ERR BITFIELD_RO only supports the GET subcommand";

/// What a SET or INCRBY does when the result does not fit its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Overflow {
    /// WRAP (the default): keep the low bits, as modular arithmetic.
    Wrap,
    /// SAT: clamp to the type's minimum or maximum.
    Sat,
    /// FAIL: write nothing and reply nil for this op.
    Fail,
}

/// A field type: `i1`..`i64` (signed) or `u1`..`u63` (unsigned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldType {
    /// `i` (two's complement) rather than `u`.
    pub signed: bool,
    /// The width in bits: 1..=64 signed, 1..=63 unsigned.
    pub bits: u8,
}

/// What one operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldOp {
    /// GET: reply the field's value.
    Get,
    /// SET value: store it (subject to overflow) and reply the old value.
    Set(i64),
    /// INCRBY increment: add it (subject to overflow) and reply the new
    /// value.
    IncrBy(i64),
}

/// One parsed BITFIELD operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// GET, SET or INCRBY, with its integer.
    pub op: FieldOp,
    /// The field's type.
    pub field: FieldType,
    /// The field's first bit (a `#N` offset already multiplied out);
    /// always below 2^32 (512 MB of bits).
    pub offset: u64,
    /// The OVERFLOW policy in effect for this op.
    pub overflow: Overflow,
}

/// A parsed `BITFIELD key [GET type offset | SET type offset value |
/// INCRBY type offset increment | OVERFLOW WRAP|SAT|FAIL] ...` (or
/// BITFIELD_RO with GETs only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BitField {
    /// The key.
    pub key: Bytes,
    /// The operations, in request order (OVERFLOW is folded into them).
    pub ops: Vec<Op>,
}

/// Parses BITFIELD (`read_only` false) or BITFIELD_RO (`read_only` true);
/// `args[0]` is the command name. The caller has checked the arity (-2 for
/// both). Errors come in Redis 7.0's order (see the module docs).
pub fn parse_bitfield(args: &[Bytes], read_only: bool) -> Result<BitField, CommandError> {
    let key = args.get(1).cloned().unwrap_or_default();
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while let Some(sub) = args.get(j) {
        let remaining = args.len() - j - 1;
        let name = option_name(sub);
        let needs = match name.as_str() {
            "get" => 2,
            "set" | "incrby" => 3,
            "overflow" if remaining >= 1 => {
                let policy = args.get(j + 1).map(|a| option_name(a)).unwrap_or_default();
                overflow = match policy.as_str() {
                    "wrap" => Overflow::Wrap,
                    "sat" => Overflow::Sat,
                    "fail" => Overflow::Fail,
                    _ => return Err(CommandError::Other(INVALID_OVERFLOW.into())),
                };
                j += 2;
                continue;
            }
            _ => return Err(CommandError::Syntax),
        };
        if remaining < needs {
            return Err(CommandError::Syntax);
        }
        let arg = |i: usize| args.get(j + i).map(|a| &a[..]).unwrap_or_default();
        let field = parse_type(arg(1))?;
        let offset = parse_offset(arg(2), field.bits)?;
        let op = match name.as_str() {
            "get" => FieldOp::Get,
            "set" => FieldOp::Set(parse_i64(arg(3))?),
            _ => FieldOp::IncrBy(parse_i64(arg(3))?),
        };
        ops.push(Op {
            op,
            field,
            offset,
            overflow,
        });
        j += 1 + needs;
    }
    let bitfield = BitField { key, ops };
    if read_only && bitfield.writes() {
        return Err(CommandError::Other(READ_ONLY.into()));
    }
    Ok(bitfield)
}

/// A type argument: `i` or `u` (lowercase only, as in Redis), then a
/// decimal width read up to any NUL byte (Redis reads it as a C string).
fn parse_type(arg: &[u8]) -> Result<FieldType, CommandError> {
    let invalid = || CommandError::Other(INVALID_TYPE.into());
    let (signed, rest) = match arg.split_first() {
        Some((b'i', rest)) => (true, rest),
        Some((b'u', rest)) => (false, rest),
        _ => return Err(invalid()),
    };
    let digits = rest.split(|b| *b == 0).next().unwrap_or_default();
    let bits = parse_i64(digits).map_err(|_| invalid())?;
    let widest = if signed { 64 } else { 63 };
    match u8::try_from(bits) {
        Ok(bits) if (1..=widest).contains(&bits) => Ok(FieldType { signed, bits }),
        _ => Err(invalid()),
    }
}

/// An offset argument: a bit number, or `#N` for `N * bits` (wrapping on
/// overflow, as Redis's multiplication does), which must be non-negative
/// and address a byte below [`MAX_STRING_LEN`].
fn parse_offset(arg: &[u8], bits: u8) -> Result<u64, CommandError> {
    let invalid = || CommandError::Other(INVALID_OFFSET.into());
    let (hash, digits) = match arg.split_first() {
        Some((b'#', rest)) => (true, rest),
        _ => (false, arg),
    };
    let mut offset = parse_i64(digits).map_err(|_| invalid())?;
    if hash {
        offset = offset.wrapping_mul(i64::from(bits));
    }
    match u64::try_from(offset) {
        Ok(offset) if (offset >> 3) < MAX_STRING_LEN => Ok(offset),
        _ => Err(invalid()),
    }
}

impl BitField {
    /// Whether any op writes (SET/INCRBY); a BITFIELD with only GETs is a
    /// read, and never creates or changes the key.
    pub fn writes(&self) -> bool {
        self.ops.iter().any(|op| op.op != FieldOp::Get)
    }

    /// Given the key's current string value (`None` = missing), the reply
    /// (an array: an integer per op, or nil for an op OVERFLOW FAIL
    /// refused) and the new value: `Some(bytes)` if the key must be stored
    /// (created, grown or changed), else `None` (leave the key as it is).
    ///
    /// A BITFIELD that writes creates a missing key, and lengthens a short
    /// one, even when FAIL refuses every write (see the module docs).
    pub fn eval(&self, value: Option<&[u8]>) -> (Outcome, Option<Bytes>) {
        if !self.writes() {
            let bytes = value.unwrap_or_default();
            let replies = self.ops.iter().map(|op| get(bytes, op)).collect();
            return (Outcome::Array(replies), None);
        }
        let mut buf = value.unwrap_or_default().to_vec();
        let needed = self
            .ops
            .iter()
            .filter(|op| op.op != FieldOp::Get)
            .map(|op| (op.offset + u64::from(op.field.bits) - 1) / 8 + 1)
            .max()
            .unwrap_or(0);
        let needed = usize::try_from(needed).unwrap_or(usize::MAX);
        if buf.len() < needed {
            buf.resize(needed, 0);
        }
        let replies = self.ops.iter().map(|op| apply(&mut buf, op)).collect();
        let changed = value.is_none_or(|old| old != &buf[..]);
        (Outcome::Array(replies), changed.then(|| Bytes::from(buf)))
    }
}

/// The reply of a GET: the field's value (bits past the end read as 0).
fn get(bytes: &[u8], op: &Op) -> Outcome {
    let raw = read_bits(bytes, op.offset, op.field.bits);
    if op.field.signed {
        Outcome::Integer(sign_extend(raw, op.field.bits))
    } else {
        // An unsigned field has at most 63 bits, so it fits.
        Outcome::Integer(i64::try_from(raw).unwrap_or(i64::MAX))
    }
}

/// Runs one op on `buf`, which already holds every bit a write reaches.
fn apply(buf: &mut [u8], op: &Op) -> Outcome {
    let (delta, is_set) = match op.op {
        FieldOp::Get => return get(buf, op),
        FieldOp::Set(v) => (v, true),
        FieldOp::IncrBy(v) => (v, false),
    };
    let bits = op.field.bits;
    let raw = read_bits(buf, op.offset, bits);
    let (overflowed, stored, reply) = if op.field.signed {
        let old = sign_extend(raw, bits);
        let (value, incr) = if is_set { (delta, 0) } else { (old, delta) };
        let checked = signed_overflow(value, incr, bits, op.overflow);
        let new = checked.unwrap_or(value.wrapping_add(incr));
        let reply = if is_set { old } else { new };
        (checked.is_some(), new as u64, reply)
    } else {
        // A SET value is taken as its 64-bit unsigned form, as in Redis.
        let (value, incr) = if is_set {
            (delta as u64, 0)
        } else {
            (raw, delta)
        };
        let checked = unsigned_overflow(value, incr, bits, op.overflow);
        let new = checked.unwrap_or(value.wrapping_add(incr as u64));
        let reply = if is_set { raw } else { new };
        (checked.is_some(), new, reply as i64)
    };
    if overflowed && op.overflow == Overflow::Fail {
        return Outcome::Value(None);
    }
    write_bits(buf, op.offset, bits, stored);
    Outcome::Integer(reply)
}

/// The `bits`-bit field at bit `offset`, most significant bit first, as the
/// low bits of a `u64`; bits past the end of `bytes` are 0.
fn read_bits(bytes: &[u8], offset: u64, bits: u8) -> u64 {
    (0..u64::from(bits)).fold(0, |acc, i| {
        let bit = offset + i;
        let byte = usize::try_from(bit >> 3)
            .ok()
            .and_then(|at| bytes.get(at))
            .copied()
            .unwrap_or(0);
        (acc << 1) | u64::from((byte >> (7 - (bit & 7))) & 1)
    })
}

/// Stores the low `bits` bits of `value` at bit `offset` of `buf`. Bits
/// past the end of `buf` are dropped (the caller has grown it first).
fn write_bits(buf: &mut [u8], offset: u64, bits: u8, value: u64) {
    for i in 0..u64::from(bits) {
        let bit = offset + i;
        let on = (value >> (u64::from(bits) - 1 - i)) & 1 == 1;
        let mask = 1u8 << (7 - (bit & 7));
        let byte = usize::try_from(bit >> 3)
            .ok()
            .and_then(|at| buf.get_mut(at));
        if let Some(byte) = byte {
            if on {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }
}

/// The two's complement value of the low `bits` bits of `raw`.
fn sign_extend(raw: u64, bits: u8) -> i64 {
    let shift = 64 - u32::from(bits);
    ((raw << shift) as i64) >> shift
}

/// Redis's check of `value + incr` against an unsigned field of `bits`
/// (< 64) bits: `None` if it fits, else what to store under `policy`
/// (FAIL's value is the wrapped one, never stored). `value` may exceed the
/// field (a SET's value, with `incr` 0).
fn unsigned_overflow(value: u64, incr: i64, bits: u8, policy: Overflow) -> Option<u64> {
    let max = u64::MAX >> (64 - u32::from(bits));
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrapped = || value.wrapping_add(incr as u64) & max;
    if value > max || (incr > 0 && incr > max_incr) {
        Some(if policy == Overflow::Sat {
            max
        } else {
            wrapped()
        })
    } else if incr < 0 && incr < min_incr {
        Some(if policy == Overflow::Sat {
            0
        } else {
            wrapped()
        })
    } else {
        None
    }
}

/// Redis's check of `value + incr` against a signed field of `bits` bits:
/// `None` if it fits, else what to store under `policy`. The bounds on the
/// increment are computed with wrap-around exactly as Redis computes them,
/// which is what makes a SAT SET of a value near `i64::MIN` saturate to the
/// maximum (see the module docs).
fn signed_overflow(value: i64, incr: i64, bits: u8, policy: Overflow) -> Option<i64> {
    let max = i64::MAX >> (64 - u32::from(bits));
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let narrow = bits != 64;
    let wrapped = || {
        let sum = (value as u64).wrapping_add(incr as u64);
        sign_extend(sum, bits)
    };
    if value > max || (narrow && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
        Some(if policy == Overflow::Sat {
            max
        } else {
            wrapped()
        })
    } else if value < min
        || (narrow && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        Some(if policy == Overflow::Sat {
            min
        } else {
            wrapped()
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::command::op::testing::args;

    fn parse(s: &str) -> Result<BitField, String> {
        let a = args(s);
        let ro = s.to_ascii_lowercase().starts_with("bitfield_ro");
        parse_bitfield(&a, ro).map_err(|e| e.to_string())
    }

    /// Runs a request on `value`; the reply as text (`nil` for nil) and
    /// the new value.
    fn run(s: &str, value: Option<&[u8]>) -> (Vec<String>, Option<Vec<u8>>) {
        let (reply, new) = parse(s).unwrap().eval(value);
        let Outcome::Array(items) = reply else {
            panic!("not an array: {reply:?}")
        };
        let items = items
            .into_iter()
            .map(|o| match o {
                Outcome::Integer(n) => n.to_string(),
                Outcome::Value(None) => "nil".into(),
                other => panic!("{other:?}"),
            })
            .collect();
        (items, new.map(|b| b.to_vec()))
    }

    fn reply(s: &str, value: Option<&[u8]>) -> Vec<String> {
        run(s, value).0
    }

    #[test]
    fn errors_have_redis_text_and_order() {
        let cases = [
            ("bitfield k get", "ERR syntax error"),
            ("bitfield k get u8", "ERR syntax error"),
            ("bitfield k set u8 0", "ERR syntax error"),
            ("bitfield k incrby u8 0", "ERR syntax error"),
            ("bitfield k overflow", "ERR syntax error"),
            ("bitfield k bogus", "ERR syntax error"),
            ("bitfield k overflow foo", INVALID_OVERFLOW),
            ("bitfield k overflow foo get x 0", INVALID_OVERFLOW),
            ("bitfield k get x 0 overflow foo", INVALID_TYPE),
            ("bitfield k get u8 0 bogus", "ERR syntax error"),
            ("bitfield k get u64 0", INVALID_TYPE),
            ("bitfield k get i65 0", INVALID_TYPE),
            ("bitfield k get i0 0", INVALID_TYPE),
            ("bitfield k get I8 0", INVALID_TYPE),
            ("bitfield k get U8 0", INVALID_TYPE),
            ("bitfield k get  0", INVALID_TYPE),
            ("bitfield k get i 0", INVALID_TYPE),
            ("bitfield k get i08 0", INVALID_TYPE),
            ("bitfield k get i+8 0", INVALID_TYPE),
            ("bitfield k get i-8 0", INVALID_TYPE),
            ("bitfield k get u8 -1", INVALID_OFFSET),
            ("bitfield k get u8 #-1", INVALID_OFFSET),
            ("bitfield k get u8 #", INVALID_OFFSET),
            ("bitfield k get u8 ", INVALID_OFFSET),
            ("bitfield k get u8 x", INVALID_OFFSET),
            ("bitfield k get u8 4294967296", INVALID_OFFSET),
            ("bitfield k get u8 #536870912", INVALID_OFFSET),
            ("bitfield k get i64 #144115188075855872", INVALID_OFFSET),
            (
                "bitfield k set u8 0 x",
                "ERR value is not an integer or out of range",
            ),
            (
                "bitfield k set u8 0 1.5",
                "ERR value is not an integer or out of range",
            ),
            (
                "bitfield k incrby u8 0 ",
                "ERR value is not an integer or out of range",
            ),
            ("bitfield k set u8 x x", INVALID_OFFSET),
            ("bitfield k set x x x", INVALID_TYPE),
            ("bitfield_ro k set u8 0 1", READ_ONLY),
            ("bitfield_ro k get u8 0 incrby u8 0 1", READ_ONLY),
            ("bitfield_ro k get u8 0 set u8 0 1 get x 0", INVALID_TYPE),
            ("bitfield_ro k get u8 0 set u8 0 1 get u8 x", INVALID_OFFSET),
            (
                "bitfield_ro k get u8 0 incrby u8 0 x",
                "ERR value is not an integer or out of range",
            ),
            (
                "bitfield_ro k get u8 0 incrby u8 0 1 bogus",
                "ERR syntax error",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).unwrap_err(), want, "for {input:?}");
        }
    }

    #[test]
    fn parses_options_and_offsets() {
        let f = parse("BITFIELD k GET u8 0 Overflow Sat SET i5 #3 -1 overflow FAIL incrby i64 7 9")
            .unwrap();
        assert_eq!(f.key, Bytes::from_static(b"k"));
        let t = |signed, bits| FieldType { signed, bits };
        assert_eq!(
            f.ops,
            vec![
                Op {
                    op: FieldOp::Get,
                    field: t(false, 8),
                    offset: 0,
                    overflow: Overflow::Wrap
                },
                Op {
                    op: FieldOp::Set(-1),
                    field: t(true, 5),
                    offset: 15,
                    overflow: Overflow::Sat
                },
                Op {
                    op: FieldOp::IncrBy(9),
                    field: t(true, 64),
                    offset: 7,
                    overflow: Overflow::Fail
                },
            ]
        );
        assert!(f.writes());
        assert!(!parse("bitfield_ro k get u8 0 GET i64 #1").unwrap().writes());
        assert!(parse("bitfield k").unwrap().ops.is_empty());
        assert!(
            parse("bitfield k overflow sat overflow fail")
                .unwrap()
                .ops
                .is_empty()
        );
        // Redis reads the width as a C string: a NUL ends it.
        let mut a = args("bitfield k get x 0");
        a[3] = Bytes::from_static(b"i8\0junk");
        assert_eq!(parse_bitfield(&a, true).unwrap().ops[0].field, t(true, 8));
        // ...and the subcommand too; but not the offset.
        a[2] = Bytes::from_static(b"get\0x");
        assert!(parse_bitfield(&a, true).is_ok());
        a[4] = Bytes::from_static(b"0\0");
        assert!(parse_bitfield(&a, true).is_err());
        // The last addressable bits, and # offsets that wrap (as in Redis).
        assert_eq!(
            parse("bitfield k get u8 4294967295").unwrap().ops[0].offset,
            4294967295
        );
        assert_eq!(
            parse("bitfield k get u8 #536870911").unwrap().ops[0].offset,
            4294967288
        );
        assert_eq!(
            parse("bitfield k get u4 #4611686018427387904").unwrap().ops[0].offset,
            0
        );
        assert_eq!(
            parse("bitfield k get i64 #2305843009213693952")
                .unwrap()
                .ops[0]
                .offset,
            0
        );
    }

    #[test]
    fn gets_read_zero_padded_bits() {
        assert_eq!(
            reply("bitfield k get u8 0 get i64 100 get u63 4294967295", None),
            ["0", "0", "0"]
        );
        let v = Some(&b"\xff\x01"[..]);
        assert_eq!(
            reply(
                "bitfield k get u8 0 get i8 0 get u4 4 get i1 0 get u1 15 get i16 8 get u3 14 get i64 0",
                v
            ),
            [
                "255",
                "-1",
                "15",
                "-1",
                "1",
                "256",
                "2",
                "-71776119061217280"
            ]
        );
        // A read never writes, even on a missing key.
        assert_eq!(run("bitfield k get u8 0", None).1, None);
    }

    #[test]
    fn sets_grow_and_reply_the_old_value() {
        let (r, new) = run("bitfield k set u8 8 255 get u16 0 set i4 #1 -1", None);
        assert_eq!(r, ["0", "255", "0"]);
        assert_eq!(new.unwrap(), b"\x0f\xff");
        let (r, new) = run("bitfield k set u5 7 23", Some(b"a"));
        assert_eq!(r, ["16"]);
        assert_eq!(new.unwrap(), b"\x61\x70");
        // Writing what is already there changes nothing.
        assert_eq!(
            run("bitfield k set u8 0 97", Some(b"a")),
            (vec!["97".into()], None)
        );
        assert_eq!(run("bitfield k incrby u8 0 0", Some(b"a")).1, None);
        // FAIL still grows (or creates) the string, as in Redis.
        let (r, new) = run("bitfield f overflow fail incrby u2 100 10", None);
        assert_eq!(r, ["nil"]);
        assert_eq!(new.unwrap(), vec![0; 13]);
        assert_eq!(
            run("bitfield f overflow fail incrby u2 0 10", Some(b"\0")).1,
            None
        );
        let (_, new) = run("bitfield f overflow fail incrby u2 8 10", Some(b"\0"));
        assert_eq!(new.unwrap(), b"\0\0");
    }

    #[test]
    fn overflow_policies_match_redis() {
        // Values checked against redis-server 7.0.15.
        let cases: &[(&str, &[&str])] = &[
            ("incrby u2 0 5", &["1"]),
            ("overflow sat incrby u2 0 5", &["3"]),
            ("overflow fail incrby u2 0 5", &["nil"]),
            ("incrby u2 0 -1", &["3"]),
            ("overflow sat incrby u2 0 -1", &["0"]),
            ("overflow fail incrby u2 0 -1", &["nil"]),
            ("incrby i8 0 200", &["-56"]),
            ("overflow sat incrby i8 0 200", &["127"]),
            ("overflow sat incrby i8 0 -200", &["-128"]),
            ("incrby i8 0 -200", &["56"]),
            ("set i8 0 128 get i8 0", &["0", "-128"]),
            ("overflow sat set i8 0 128 get i8 0", &["0", "127"]),
            ("overflow fail set i8 0 128 get i8 0", &["nil", "0"]),
            ("set u8 0 -1 get u8 0", &["0", "255"]),
            ("overflow sat set u8 0 -1 get u8 0", &["0", "255"]),
            ("overflow fail set u8 0 -1 get u8 0", &["nil", "0"]),
            (
                "overflow sat set i8 0 -9223372036854775808 get i8 0",
                &["0", "127"],
            ),
            (
                "overflow sat set i8 0 -9223372036854775681 get i8 0",
                &["0", "127"],
            ),
            (
                "overflow sat set i8 0 -9223372036854775680 get i8 0",
                &["0", "-128"],
            ),
            (
                "overflow sat set i8 0 9223372036854775807 get i8 0",
                &["0", "127"],
            ),
            (
                "set i1 0 1 get i1 0 incrby i1 0 1 incrby i1 0 -1",
                &["0", "-1", "0", "-1"],
            ),
            ("overflow sat incrby i1 0 5 incrby i1 0 -5", &["0", "-1"]),
            (
                "overflow fail incrby i1 0 1 incrby i1 0 -1 incrby i1 0 -1",
                &["nil", "-1", "nil"],
            ),
            (
                "incrby u1 0 1 incrby u1 0 1 overflow sat incrby u1 0 9",
                &["1", "0", "1"],
            ),
            (
                "set i64 0 9223372036854775807 incrby i64 0 1",
                &["0", "-9223372036854775808"],
            ),
            (
                "overflow sat set i64 0 9223372036854775807 incrby i64 0 1",
                &["0", "9223372036854775807"],
            ),
            (
                "overflow fail set i64 0 -9223372036854775808 incrby i64 0 -1 get i64 0",
                &["0", "nil", "-9223372036854775808"],
            ),
            (
                "overflow sat set i64 0 -9223372036854775808 incrby i64 0 -9223372036854775808",
                &["0", "-9223372036854775808"],
            ),
            (
                "set i64 0 -1 incrby i64 0 -9223372036854775808",
                &["0", "9223372036854775807"],
            ),
            ("set u63 0 9223372036854775807 incrby u63 0 1", &["0", "0"]),
            (
                "overflow sat set u63 0 9223372036854775807 incrby u63 0 1 incrby u63 0 -9223372036854775808",
                &["0", "9223372036854775807", "0"],
            ),
            (
                "set u63 0 -1 get u63 0 get i64 0",
                &["0", "9223372036854775807", "-2"],
            ),
            (
                "incrby u63 0 -9223372036854775808 incrby u63 0 -1",
                &["0", "9223372036854775807"],
            ),
            (
                "overflow sat incrby u63 0 -9223372036854775808 overflow wrap incrby u63 0 -1",
                &["0", "9223372036854775807"],
            ),
        ];
        for (ops, want) in cases {
            let req = format!("bitfield k {ops}");
            assert_eq!(reply(&req, None), *want, "for {req:?}");
        }
    }

    #[test]
    fn overflow_checks_agree_with_wide_arithmetic() {
        // Away from Redis's wrap-around quirk, the checks are plain range
        // checks: compare them with i128 arithmetic on many widths.
        let samples = [
            i64::MIN,
            i64::MIN + 1,
            -1 << 40,
            -300,
            -129,
            -128,
            -2,
            -1,
            0,
            1,
            2,
            127,
            128,
            255,
            256,
            300,
            1 << 40,
            i64::MAX - 1,
            i64::MAX,
        ];
        for bits in 1..=64u8 {
            let (lo, hi) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
            for &old in &samples {
                let old = sign_extend(old as u64, bits);
                for &incr in &samples {
                    let sum = i128::from(old) + i128::from(incr);
                    let got = signed_overflow(old, incr, bits, Overflow::Sat);
                    let want = (sum < lo || sum > hi).then(|| sum.clamp(lo, hi) as i64);
                    assert_eq!(got, want, "i{bits} {old} + {incr}");
                    if let Some(w) = signed_overflow(old, incr, bits, Overflow::Wrap) {
                        assert_eq!(i128::from(w), (sum - lo).rem_euclid(hi - lo + 1) + lo);
                    }
                }
            }
            if bits == 64 {
                continue;
            }
            let max = (1i128 << bits) - 1;
            for &old in &samples {
                let old = (old as u64) & (max as u64);
                for &incr in &samples {
                    let sum = i128::from(old) + i128::from(incr);
                    let got = unsigned_overflow(old, incr, bits, Overflow::Sat);
                    let want = (sum < 0 || sum > max).then(|| sum.clamp(0, max) as u64);
                    assert_eq!(got, want, "u{bits} {old} + {incr}");
                    if let Some(w) = unsigned_overflow(old, incr, bits, Overflow::Wrap) {
                        assert_eq!(i128::from(w), sum.rem_euclid(max + 1));
                    }
                }
            }
        }
    }

    #[test]
    fn later_ops_see_earlier_writes() {
        let (r, new) = run(
            "bitfield k incrby u8 0 100 incrby u8 0 100 get u8 0 set u4 0 15 get u8 0",
            Some(b"\x05"),
        );
        assert_eq!(r, ["105", "205", "205", "12", "253"]);
        assert_eq!(new.unwrap(), b"\xfd");
    }
}
