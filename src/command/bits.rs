//! Bit commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS and
//! BITOP (AND, OR, XOR, NOT), with Redis 7.0's semantics and error texts.
//!
//! This module owns parsing these commands and computing their replies and
//! new values from the values they are given. It must never do I/O, look at
//! a clock or reach into storage: the caller looks the keys up, hands their
//! current string values to `eval`, and applies what comes back. That keeps
//! evaluation a pure function of its inputs, as every replica must reach the
//! same verdict from the same data.
//!
//! # Bit numbering
//!
//! As in Redis, bit 0 is the most significant bit of the first byte; a
//! missing key (or the part of the string past its end) reads as zero bits.
//!
//! # What the caller does
//!
//! - WRONGTYPE: every key here must hold a string; a caller with other types
//!   checks before calling `eval`. Parse errors come first in Redis (they
//!   are found before any lookup), then WRONGTYPE, then the [`Deferred`]
//!   errors that `eval` replies.
//! - Deadlines: SETBIT keeps the key's deadline (it modifies the string in
//!   place); BITOP's destination loses any deadline it had (Redis stores the
//!   result with `setKey`, which clears it). A BITOP whose result is empty
//!   (every source missing or empty) deletes the destination.
//! - SETBIT always returns the new value, even when it equals the old one
//!   (the bit was already so and the string did not grow). Redis 7.0.15 does
//!   not count such a SETBIT as a modification (a WATCH on the key is not
//!   broken), so a caller that tracks modifications should compare the new
//!   value with the old one and skip an equal write.
//!
//! # Order of checks
//!
//! GETBIT, SETBIT and BITOP check all their arguments before looking at any
//! key, so their mistakes are parse errors ([`CommandError`]). BITCOUNT and
//! BITPOS look the key up first in Redis 7.0: a missing key gets its answer
//! (BITCOUNT `0`; BITPOS `-1` for bit 1, `0` for bit 0) whatever the range
//! arguments say, and only an existing key gets their errors. The parser
//! therefore keeps such an error in the op ([`Deferred`]) for `eval` to
//! reply. (BITPOS's bit argument is checked before the lookup, so its
//! errors are parse errors.)
//!
//! # Limits
//!
//! A bit offset must be below `8 * MAX_STRING_LEN` (up to 4294967295), as
//! with Redis's default `proto-max-bulk-len` of 512 MB: SETBIT at the
//! largest offset builds a string of exactly 512 MB, which Redis allows.
//! BITOP's result is as long as its longest source, so it never exceeds the
//! limit either.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::op::Outcome;
use super::string::MAX_STRING_LEN;
use super::{CommandError, option_name, parse_i64};

/// Redis's error for a bad GETBIT/SETBIT offset.
const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";

/// Redis's error for a SETBIT value other than 0 or 1.
const BAD_BIT: &str = "ERR bit is not an integer or out of range";

/// Redis's error for a BITPOS bit other than 0 or 1.
const BAD_BITPOS_BIT: &str = "ERR The bit argument must be 1 or 0.";

/// Redis's error for BITOP NOT with other than one source.
const NOT_ARITY: &str = "ERR BITOP NOT must be called with a single source key.";

/// Arguments Redis 7.0 checks only once it has found the key: parsed, or
/// the error text (Redis's full reply text) an existing key gets.
pub type Deferred<T> = Result<T, String>;

/// Whether a BITCOUNT/BITPOS range counts bytes or bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitUnit {
    /// BYTE (the default): start and end index bytes.
    Byte,
    /// BIT: start and end index bits.
    Bit,
}

/// A BITCOUNT/BITPOS range as given: inclusive, negative indexes counting
/// from the end, in `unit`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BitRange {
    /// The first index.
    pub start: i64,
    /// The last index; `None` only for BITPOS without an end (the rest of
    /// the string, where bit 0 is then found past the end if nowhere
    /// else). BITCOUNT always has one.
    pub end: Option<i64>,
    /// BYTE or BIT.
    pub unit: BitUnit,
}

/// The operation of a BITOP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitOpKind {
    /// AND of all sources.
    And,
    /// OR of all sources.
    Or,
    /// XOR of all sources.
    Xor,
    /// NOT of the one source.
    Not,
}

/// A bit command that only reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitRead {
    /// `GETBIT key offset`: `:1` or `:0` (past the end or a missing key:
    /// `:0`).
    GetBit {
        /// The key.
        key: Bytes,
        /// The bit, already checked to be below `8 * MAX_STRING_LEN`.
        offset: u64,
    },
    /// `BITCOUNT key [start end [BYTE|BIT]]`: the number of set bits.
    BitCount {
        /// The key.
        key: Bytes,
        /// `None`: the whole string.
        range: Option<Deferred<BitRange>>,
    },
    /// `BITPOS key bit [start [end [BYTE|BIT]]]`: the first bit equal to
    /// `bit`, or `-1`.
    BitPos {
        /// The key.
        key: Bytes,
        /// The bit looked for.
        bit: bool,
        /// `None`: the whole string.
        range: Option<Deferred<BitRange>>,
    },
}

/// A bit command that writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitWrite {
    /// `SETBIT key offset 0|1`: the bit's old value; the string is
    /// created or zero-padded as needed. Keeps the key's deadline.
    SetBit {
        /// The key.
        key: Bytes,
        /// The bit, already checked to be below `8 * MAX_STRING_LEN`.
        offset: u64,
        /// The new value of the bit.
        bit: bool,
    },
    /// `BITOP op dest key [key ...]`: the length of the result, stored in
    /// `dest` without a deadline (or `dest` deleted if it is empty).
    BitOp {
        /// AND, OR, XOR or NOT.
        op: BitOpKind,
        /// The destination.
        dest: Bytes,
        /// The sources in order (exactly one for NOT); repeats allowed.
        keys: Vec<Bytes>,
    },
}

/// `GETBIT key offset`.
pub fn parse_getbit(args: &[Bytes]) -> Result<BitRead, CommandError> {
    Ok(BitRead::GetBit {
        key: arg(args, 1),
        offset: parse_offset(&arg(args, 2))?,
    })
}

/// `SETBIT key offset value`: the offset is checked before the value.
pub fn parse_setbit(args: &[Bytes]) -> Result<BitWrite, CommandError> {
    let offset = parse_offset(&arg(args, 2))?;
    let bit = match parse_i64(&arg(args, 3)) {
        Ok(0) => false,
        Ok(1) => true,
        _ => return Err(CommandError::Other(BAD_BIT.into())),
    };
    Ok(BitWrite::SetBit {
        key: arg(args, 1),
        offset,
        bit,
    })
}

/// `BITCOUNT key [start end [BYTE|BIT]]`: errors in the range are
/// [`Deferred`] (see the module docs); start, then end, then the unit
/// (not read at all when start and end are negative and inverted).
pub fn parse_bitcount(args: &[Bytes]) -> Result<BitRead, CommandError> {
    let range = match args.len() {
        2 => None,
        4 | 5 => Some(deferred(|| {
            let start = parse_i64(&arg(args, 2))?;
            let end = parse_i64(&arg(args, 3))?;
            // Redis answers 0 for two negative indexes in the wrong order
            // before it reads the unit (so `-1 -2 junk` is 0, not an error).
            let unit = match args.get(4) {
                Some(unit) if !inverted(start, end) => parse_unit(unit)?,
                _ => BitUnit::Byte,
            };
            Ok(BitRange {
                start,
                end: Some(end),
                unit,
            })
        })),
        _ => Some(Err(CommandError::Syntax.to_string())),
    };
    Ok(BitRead::BitCount {
        key: arg(args, 1),
        range,
    })
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`: the bit is checked at once;
/// errors in the range are [`Deferred`] (see the module docs), checked in
/// Redis's order: start, then the unit, then end.
pub fn parse_bitpos(args: &[Bytes]) -> Result<BitRead, CommandError> {
    let bit = match parse_i64(&arg(args, 2))? {
        0 => false,
        1 => true,
        _ => return Err(CommandError::Other(BAD_BITPOS_BIT.into())),
    };
    let range = match args.len() {
        3 => None,
        4..=6 => Some(deferred(|| {
            let start = parse_i64(&arg(args, 3))?;
            let unit = match args.get(5) {
                Some(unit) => parse_unit(unit)?,
                None => BitUnit::Byte,
            };
            let end = match args.get(4) {
                Some(end) => Some(parse_i64(end)?),
                None => None,
            };
            Ok(BitRange { start, end, unit })
        })),
        _ => Some(Err(CommandError::Syntax.to_string())),
    };
    Ok(BitRead::BitPos {
        key: arg(args, 1),
        bit,
        range,
    })
}

/// `BITOP AND|OR|XOR|NOT destkey key [key ...]`: the operation is checked
/// first, then NOT's single source.
pub fn parse_bitop(args: &[Bytes]) -> Result<BitWrite, CommandError> {
    let op = match option_name(&arg(args, 1)).as_str() {
        "and" => BitOpKind::And,
        "or" => BitOpKind::Or,
        "xor" => BitOpKind::Xor,
        "not" => BitOpKind::Not,
        _ => return Err(CommandError::Syntax),
    };
    if op == BitOpKind::Not && args.len() != 4 {
        return Err(CommandError::Other(NOT_ARITY.into()));
    }
    Ok(BitWrite::BitOp {
        op,
        dest: arg(args, 2),
        keys: args.iter().skip(3).cloned().collect(),
    })
}

impl BitRead {
    /// The key read.
    pub fn key(&self) -> &Bytes {
        match self {
            BitRead::GetBit { key, .. }
            | BitRead::BitCount { key, .. }
            | BitRead::BitPos { key, .. } => key,
        }
    }

    /// The reply, given the key's string value (`None`: the key is
    /// missing).
    pub fn eval(&self, value: Option<&[u8]>) -> Outcome {
        match self {
            BitRead::GetBit { offset, .. } => {
                let set = value.is_some_and(|v| bit_at(v, *offset));
                Outcome::Integer(i64::from(set))
            }
            BitRead::BitCount { range, .. } => {
                let Some(value) = value else {
                    return Outcome::Integer(0);
                };
                match range {
                    None => Outcome::Integer(count_ones(value, 0, bit_len(value) - 1)),
                    Some(Err(text)) => Outcome::Error(text.clone()),
                    Some(Ok(range)) => Outcome::Integer(bitcount(value, range)),
                }
            }
            BitRead::BitPos { bit, range, .. } => {
                let Some(value) = value else {
                    return Outcome::Integer(if *bit { -1 } else { 0 });
                };
                match range {
                    None => Outcome::Integer(bitpos(value, *bit, 0, bit_len(value) - 1, false)),
                    Some(Err(text)) => Outcome::Error(text.clone()),
                    Some(Ok(range)) => Outcome::Integer(bitpos_in(value, *bit, range)),
                }
            }
        }
    }
}

impl BitWrite {
    /// The keys read, in order (SETBIT: `[key]`; BITOP: the source keys).
    pub fn sources(&self) -> Vec<&Bytes> {
        match self {
            BitWrite::SetBit { key, .. } => vec![key],
            BitWrite::BitOp { keys, .. } => keys.iter().collect(),
        }
    }

    /// The key written.
    pub fn target(&self) -> &Bytes {
        match self {
            BitWrite::SetBit { key, .. } => key,
            BitWrite::BitOp { dest, .. } => dest,
        }
    }

    /// Given the current string values of [`BitWrite::sources`] in order
    /// (`None`: a missing key; a value not given counts as missing), the
    /// reply and the new value of [`BitWrite::target`] (`Some`: store it,
    /// `None`: delete the key). See the module docs for deadlines.
    pub fn eval(&self, values: &[Option<&[u8]>]) -> (Outcome, Option<Bytes>) {
        let source = |i: usize| values.get(i).copied().flatten().unwrap_or_default();
        match self {
            BitWrite::SetBit { offset, bit, .. } => {
                let (old, new) = setbit(source(0), *offset, *bit);
                (Outcome::Integer(i64::from(old)), Some(new))
            }
            BitWrite::BitOp { op, keys, .. } => {
                let sources: Vec<&[u8]> = (0..keys.len()).map(source).collect();
                let result = bitop(*op, &sources);
                let len = i64::try_from(result.len()).unwrap_or(i64::MAX);
                let new = (!result.is_empty()).then(|| Bytes::from(result));
                (Outcome::Integer(len), new)
            }
        }
    }
}

/// Argument `i`, which the arity check guarantees (empty if it did not).
fn arg(args: &[Bytes], i: usize) -> Bytes {
    args.get(i).cloned().unwrap_or_default()
}

/// Redis's `getBitOffsetFromArgument`: a non-negative integer whose byte
/// is inside the 512 MB limit.
fn parse_offset(arg: &[u8]) -> Result<u64, CommandError> {
    parse_i64(arg)
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| n >> 3 < MAX_STRING_LEN)
        .ok_or_else(|| CommandError::Other(BAD_OFFSET.into()))
}

/// BYTE or BIT, compared as Redis compares option names.
fn parse_unit(arg: &[u8]) -> Result<BitUnit, CommandError> {
    match option_name(arg).as_str() {
        "byte" => Ok(BitUnit::Byte),
        "bit" => Ok(BitUnit::Bit),
        _ => Err(CommandError::Syntax),
    }
}

/// Runs a parse whose error is kept as its reply text.
fn deferred<T>(parse: impl FnOnce() -> Result<T, CommandError>) -> Deferred<T> {
    parse().map_err(|e| e.to_string())
}

/// The number of bits in `value`.
fn bit_len(value: &[u8]) -> i64 {
    i64::try_from(value.len())
        .unwrap_or(i64::MAX / 8)
        .saturating_mul(8)
}

/// Bit `offset` of `value` (0 past the end).
fn bit_at(value: &[u8], offset: u64) -> bool {
    let byte = usize::try_from(offset >> 3).ok().and_then(|i| value.get(i));
    byte.is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

/// `value` with bit `offset` set to `bit`, zero-padded to reach it, and the
/// bit's old value.
fn setbit(value: &[u8], offset: u64, bit: bool) -> (bool, Bytes) {
    let old = bit_at(value, offset);
    // The parser keeps the offset's byte below MAX_STRING_LEN, which fits.
    let index = usize::try_from(offset >> 3).unwrap_or(usize::MAX - 1);
    // Zeroed by the allocator, then the old value copied in: cheaper than
    // growing a copy when SETBIT pads a string by hundreds of megabytes.
    let mut new = vec![0u8; value.len().max(index + 1)];
    if let Some(prefix) = new.get_mut(..value.len()) {
        prefix.copy_from_slice(value);
    }
    let mask = 0x80u8 >> (offset & 7);
    if let Some(byte) = new.get_mut(index) {
        if bit {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
    (old, Bytes::from(new))
}

/// A range's bounds resolved as Redis resolves them for a string of
/// `total` units: negative indexes count from the end, then both are
/// clamped into the string (an end of `None` is the last unit). The result
/// may be empty (start > end).
fn resolve(start: i64, end: Option<i64>, total: i64) -> (i64, i64) {
    let from_end = |i: i64| if i < 0 { total.saturating_add(i) } else { i };
    let start = from_end(start).max(0);
    let end = end.map_or(total - 1, from_end).max(0).min(total - 1);
    (start, end)
}

/// A resolved, non-empty range of `unit`s as inclusive bit indexes.
fn as_bits(start: i64, end: i64, unit: BitUnit) -> (i64, i64) {
    match unit {
        BitUnit::Bit => (start, end),
        BitUnit::Byte => (
            start.saturating_mul(8),
            end.saturating_mul(8).saturating_add(7),
        ),
    }
}

/// The number of units of `value`.
fn units(value: &[u8], unit: BitUnit) -> i64 {
    match unit {
        BitUnit::Byte => i64::try_from(value.len()).unwrap_or(i64::MAX),
        BitUnit::Bit => bit_len(value),
    }
}

/// BITCOUNT over a range. Two negative indexes in the wrong order count
/// nothing, checked before clamping (as Redis does: `-1 -5` is empty even
/// though both would clamp to 0 on a short string).
fn bitcount(value: &[u8], range: &BitRange) -> i64 {
    let end = range.end.unwrap_or(-1);
    if inverted(range.start, end) {
        return 0;
    }
    let (start, end) = resolve(range.start, Some(end), units(value, range.unit));
    if start > end {
        return 0;
    }
    let (first, last) = as_bits(start, end, range.unit);
    count_ones(value, first, last)
}

/// Whether BITCOUNT's `start` and `end` are both negative and in the
/// wrong order: an empty range however short the string.
fn inverted(start: i64, end: i64) -> bool {
    start < 0 && end < 0 && start > end
}

/// BITPOS over a range given as arguments.
fn bitpos_in(value: &[u8], bit: bool, range: &BitRange) -> i64 {
    let (start, end) = resolve(range.start, range.end, units(value, range.unit));
    if start > end {
        return -1;
    }
    let (first, last) = as_bits(start, end, range.unit);
    bitpos(value, bit, first, last, range.end.is_some())
}

/// The set bits among bits `first..=last` of `value` (in range, or none if
/// the range is empty).
fn count_ones(value: &[u8], first: i64, last: i64) -> i64 {
    if first > last {
        return 0;
    }
    let (Ok(first), Ok(last)) = (usize::try_from(first), usize::try_from(last)) else {
        return 0;
    };
    let (first_byte, last_byte) = (first / 8, last / 8);
    let Some(bytes) = value.get(first_byte..=last_byte) else {
        return 0;
    };
    let mut count: u64 = bytes.iter().map(|b| u64::from(b.count_ones())).sum();
    // Take back the bits of the edge bytes outside the range.
    let head = bytes.first().map_or(0, |b| b & !(0xffu8 >> (first % 8)));
    let tail = bytes.last().map_or(0, |b| b & (0x7fu8 >> (last % 8)));
    count -= u64::from(head.count_ones()) + u64::from(tail.count_ones());
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The first bit equal to `bit` among bits `first..=last` of `value`, else
/// -1; except that a clear bit looked for without an explicit end is found
/// just past the range (the string reads as zero-padded beyond its end).
fn bitpos(value: &[u8], bit: bool, first: i64, last: i64, end_given: bool) -> i64 {
    let not_found = if bit || end_given {
        -1
    } else {
        last.saturating_add(1)
    };
    if first > last {
        return -1;
    }
    let (Ok(first), Ok(last)) = (usize::try_from(first), usize::try_from(last)) else {
        return -1;
    };
    let (first_byte, last_byte) = (first / 8, last / 8);
    let Some(bytes) = value.get(first_byte..=last_byte) else {
        return -1;
    };
    // Each byte with the bits outside the range made to not match, and
    // flipped when looking for 0, so that the answer is its first set bit.
    let head = !(0xffu8 >> (first % 8));
    let tail = 0x7fu8 >> (last % 8);
    let n = bytes.len();
    let found = bytes.iter().enumerate().find_map(|(i, &b)| {
        let mut b = if bit { b } else { !b };
        if i == 0 {
            b &= !head;
        }
        if i + 1 == n {
            b &= !tail;
        }
        (b != 0).then(|| (first_byte + i) * 8 + b.leading_zeros() as usize)
    });
    found.map_or(not_found, |pos| i64::try_from(pos).unwrap_or(-1))
}

/// BITOP over `sources` (missing keys as empty strings, shorter ones
/// zero-padded to the longest).
fn bitop(op: BitOpKind, sources: &[&[u8]]) -> Vec<u8> {
    let len = sources.iter().map(|s| s.len()).max().unwrap_or(0);
    let byte = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let mut out = Vec::with_capacity(len);
    let Some((first, rest)) = sources.split_first() else {
        return Vec::new();
    };
    for i in 0..len {
        let mut acc = byte(first, i);
        for s in rest {
            let b = byte(s, i);
            match op {
                BitOpKind::And => acc &= b,
                BitOpKind::Or => acc |= b,
                BitOpKind::Xor => acc ^= b,
                BitOpKind::Not => {}
            }
        }
        if op == BitOpKind::Not {
            acc = !acc;
        }
        out.push(acc);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::command::op::testing::{args, b};

    /// Parses and evaluates one request line against `data` the way the
    /// caller will (reads get the key's value; writes get their sources'
    /// values, and their result is applied): the reply as `int:N` or
    /// `err:TEXT`.
    fn run(data: &mut BTreeMap<Bytes, Bytes>, line: &str) -> String {
        let request = args(line);
        let name = option_name(&request[0]);
        let read = match name.as_str() {
            "getbit" => Some(parse_getbit(&request)),
            "bitcount" => Some(parse_bitcount(&request)),
            "bitpos" => Some(parse_bitpos(&request)),
            _ => None,
        };
        let outcome = match read {
            Some(Err(e)) => return format!("err:{e}"),
            Some(Ok(op)) => op.eval(data.get(op.key()).map(|v| &v[..])),
            None => {
                let op = match name.as_str() {
                    "setbit" => parse_setbit(&request),
                    "bitop" => parse_bitop(&request),
                    other => panic!("not a bit command: {other}"),
                };
                let op = match op {
                    Ok(op) => op,
                    Err(e) => return format!("err:{e}"),
                };
                let values: Vec<Option<&[u8]>> = op
                    .sources()
                    .iter()
                    .map(|k| data.get(*k).map(|v| &v[..]))
                    .collect();
                let (outcome, new) = op.eval(&values);
                if !matches!(outcome, Outcome::Error(_)) {
                    match new {
                        Some(v) => data.insert(op.target().clone(), v),
                        None => data.remove(op.target()),
                    };
                }
                outcome
            }
        };
        match outcome {
            Outcome::Integer(n) => format!("int:{n}"),
            Outcome::Error(e) => format!("err:{e}"),
            other => panic!("unexpected outcome {other:?}"),
        }
    }

    fn hex(s: &str) -> Bytes {
        let digits: Vec<u8> = s
            .as_bytes()
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect();
        Bytes::from(digits)
    }

    fn to_hex(v: &[u8]) -> String {
        v.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Random cases recorded from redis-server 7.0.15 (see the file's
    /// header): short values of set and clear bytes, every index shape
    /// (negative, past the end, the i64 extremes, non-integers), BYTE/BIT
    /// spelled in any case and misspelled, and each error path.
    #[test]
    fn matches_redis_vectors() {
        let vectors = include_str!("testdata/bits.txt");
        let mut checked = 0;
        for line in vectors.lines().filter(|l| !l.starts_with('#')) {
            let fields: Vec<&str> = line.split('|').collect();
            let [values, command, reply, after] = fields[..] else {
                panic!("bad vector line {line:?}");
            };
            let mut data = BTreeMap::new();
            for kv in values.split(',') {
                let (k, v) = kv.split_once('=').unwrap();
                if v != "-" {
                    data.insert(b(k), hex(v));
                }
            }
            assert_eq!(run(&mut data, command), reply, "{line}");
            if !after.is_empty() {
                let request = args(command);
                let target = if option_name(&request[0]) == "bitop" {
                    &request[2]
                } else {
                    &request[1]
                };
                let got = data
                    .get(target)
                    .map_or("nil".to_string(), |v| format!("bulk:{}", to_hex(v)));
                assert_eq!(got, after, "{line}");
            }
            checked += 1;
        }
        assert!(checked > 1000, "only {checked} vectors");
    }

    /// A session's worth of commands, each reply checked against
    /// redis-server 7.0.15.
    #[test]
    fn redis_session() {
        let mut data = BTreeMap::new();
        let cases = [
            // Missing keys read as zero bits.
            ("getbit k 0", "int:0"),
            ("bitcount k", "int:0"),
            ("bitpos k 1", "int:-1"),
            ("bitpos k 0", "int:0"),
            // SETBIT returns the old bit and zero-pads.
            ("setbit k 7 1", "int:0"),
            ("setbit k 7 1", "int:1"),
            ("setbit k 7 0", "int:1"),
            ("setbit k 9 1", "int:0"),
            ("getbit k 9", "int:1"),
            ("getbit k 8", "int:0"),
            ("getbit k 100", "int:0"),
            ("getbit k 4294967295", "int:0"),
            ("bitcount k", "int:1"),
            ("bitpos k 1", "int:9"),
            ("bitpos k 0", "int:0"),
            // "foobar": Redis's documentation examples.
            ("bitop or f k k", "int:2"),
            ("bitcount f 0 -1 bit", "int:1"),
        ];
        for (line, want) in cases {
            assert_eq!(run(&mut data, line), want, "{line}");
        }
        assert_eq!(data.get(&b("k")), Some(&Bytes::from_static(b"\x00\x40")));
        data.insert(b("s"), b("foobar"));
        let cases = [
            ("bitcount s", "int:26"),
            ("bitcount s 0 0", "int:4"),
            ("bitcount s 1 1", "int:6"),
            ("bitcount s 1 1 BYTE", "int:6"),
            ("bitcount s 5 30 BIT", "int:17"),
            ("bitcount s -1 -1", "int:4"),
            ("bitcount s -1 -5", "int:0"),
            ("bitcount s -100 100", "int:26"),
            ("bitcount s 1", "err:ERR syntax error"),
            ("bitcount s 0 1 bits", "err:ERR syntax error"),
            ("bitcount s 0 1 bit x", "err:ERR syntax error"),
            (
                "bitcount s 0 x bits",
                "err:ERR value is not an integer or out of range",
            ),
            // A missing key answers before its arguments are checked.
            ("bitcount nope 1", "int:0"),
            ("bitcount nope a b", "int:0"),
            ("bitpos nope 1 a b c d", "int:-1"),
            ("bitpos nope 0 a", "int:0"),
            (
                "bitpos nope x",
                "err:ERR value is not an integer or out of range",
            ),
            ("bitpos nope 2", "err:ERR The bit argument must be 1 or 0."),
        ];
        for (line, want) in cases {
            assert_eq!(run(&mut data, line), want, "{line}");
        }
    }

    #[test]
    fn bitpos_ranges() {
        let mut data = BTreeMap::new();
        data.insert(b("f"), Bytes::from_static(b"\xff\xf0\x00"));
        data.insert(b("full"), Bytes::from_static(b"\xff\xff\xff"));
        data.insert(b("e"), Bytes::new());
        // Checked against redis-server 7.0.15.
        let cases = [
            ("bitpos f 0", "int:12"),
            ("bitpos f 1 2", "int:-1"),
            ("bitpos f 0 2", "int:16"),
            ("bitpos f 1 7 15 bit", "int:7"),
            ("bitpos f 0 7 15 bit", "int:12"),
            ("bitpos f 0 7 11 bit", "int:-1"),
            ("bitpos f 1 -1 -1 bit", "int:-1"),
            ("bitpos f 0 -10 -1 BIT", "int:14"),
            // Negative and inverted ranges: BITPOS has no early check.
            ("bitpos f 1 -5 -10", "int:0"),
            ("bitpos f 1 2 1", "int:-1"),
            // A fully set string: past the end without an explicit end,
            // -1 with one.
            ("bitpos full 0", "int:24"),
            ("bitpos full 0 1", "int:24"),
            ("bitpos full 0 -1", "int:24"),
            ("bitpos full 0 0 -1", "int:-1"),
            ("bitpos full 0 0 100", "int:-1"),
            ("bitpos full 0 0 -1 bit", "int:-1"),
            ("bitpos full 1 1", "int:8"),
            ("bitpos full 0 5", "int:-1"),
            // The empty string has no bits at all.
            ("bitpos e 0", "int:-1"),
            ("bitpos e 1", "int:-1"),
            ("bitcount e", "int:0"),
            ("bitcount e 0 -1 bit", "int:0"),
            ("bitpos f 1 0 1 2", "err:ERR syntax error"),
            ("bitpos f 1 0 1 bit 2", "err:ERR syntax error"),
            (
                "bitpos f 1 x",
                "err:ERR value is not an integer or out of range",
            ),
            // Start, then the unit, then end.
            ("bitpos f 1 0 x bits", "err:ERR syntax error"),
            (
                "bitpos f 1 x 0 bits",
                "err:ERR value is not an integer or out of range",
            ),
            (
                "bitpos f 1 0 x bit",
                "err:ERR value is not an integer or out of range",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(run(&mut data, line), want, "{line}");
        }
    }

    #[test]
    fn bitop_results() {
        let mut data = BTreeMap::new();
        data.insert(b("a"), Bytes::from_static(b"\xf0\x0f\xaa"));
        data.insert(b("b"), Bytes::from_static(b"\xff"));
        // Checked against redis-server 7.0.15.
        let cases = [
            ("bitop and d a b", "int:3", Some(&b"\xf0\x00\x00"[..])),
            ("bitop or d a b", "int:3", Some(b"\xff\x0f\xaa")),
            ("bitop xor d a b", "int:3", Some(b"\x0f\x0f\xaa")),
            ("bitop XOR d a b a", "int:3", Some(b"\xff\x00\x00")),
            ("bitop not d a", "int:3", Some(b"\x0f\xf0\x55")),
            ("bitop and d b nope", "int:1", Some(b"\x00")),
            ("bitop or d nope b", "int:1", Some(b"\xff")),
            ("bitop or d nope", "int:0", None),
            ("bitop not d nope", "int:0", None),
            ("bitop and b b", "int:1", Some(b"\xff")),
        ];
        for (line, want, dest) in cases {
            data.insert(b("d"), b("old"));
            assert_eq!(run(&mut data, line), want, "{line}");
            let target = &args(line)[2];
            assert_eq!(data.get(target).map(|v| &v[..]), dest, "{line}");
        }
        for (line, want) in [
            ("bitop nand d a", "err:ERR syntax error"),
            (
                "bitop not d a b",
                "err:ERR BITOP NOT must be called with a single source key.",
            ),
            // The operation is checked before NOT's arity.
            ("bitop nor d a b", "err:ERR syntax error"),
        ] {
            assert_eq!(run(&mut data, line), want, "{line}");
        }
        // Redis compares the operation as a C string: a NUL ends it.
        let mut request = args("bitop x d a");
        request[1] = Bytes::from_static(b"or\0xy");
        assert!(matches!(
            parse_bitop(&request),
            Ok(BitWrite::BitOp {
                op: BitOpKind::Or,
                ..
            })
        ));
        let op = parse_bitop(&args("bitop and d a b a")).unwrap();
        assert_eq!(op.sources(), vec![&b("a"), &b("b"), &b("a")]);
        assert_eq!(op.target(), &b("d"));
        // Values not given count as missing keys.
        assert_eq!(op.eval(&[]), (Outcome::Integer(0), None));
    }

    #[test]
    fn offsets_and_bit_values() {
        let offset_err = "err:ERR bit offset is not an integer or out of range";
        let bit_err = "err:ERR bit is not an integer or out of range";
        let mut data = BTreeMap::new();
        // Checked against redis-server 7.0.15.
        for (line, want) in [
            ("getbit k 4294967296", offset_err),
            ("getbit k -1", offset_err),
            ("getbit k x", offset_err),
            ("getbit k +1", offset_err),
            ("getbit k 9223372036854775807", offset_err),
            ("setbit k 4294967296 1", offset_err),
            ("setbit k -1 1", offset_err),
            // The offset is checked before the value.
            ("setbit k -1 x", offset_err),
            ("setbit k 0 x", bit_err),
            ("setbit k 0 2", bit_err),
            ("setbit k 0 -1", bit_err),
            ("setbit k 0 01", bit_err),
            ("setbit k 0 1.0", bit_err),
            ("getbit k 4294967295", "int:0"),
        ] {
            assert_eq!(run(&mut data, line), want, "{line}");
        }
        assert!(data.is_empty());
        let op = parse_setbit(&args("setbit k 4294967295 1")).unwrap();
        assert_eq!(
            op,
            BitWrite::SetBit {
                key: b("k"),
                offset: 4_294_967_295,
                bit: true
            }
        );
        assert_eq!(op.sources(), vec![&b("k")]);
        assert_eq!(op.target(), &b("k"));
    }

    /// SETBIT at the largest offset builds a string of exactly 512 MB (as
    /// redis-server 7.0.15 does: STRLEN 536870912); the bit is the last
    /// one, and BITPOS and BITCOUNT find it (near the end only: a scan of
    /// the whole string takes seconds in a debug build).
    #[test]
    fn largest_offset_builds_512_mb() {
        let op = parse_setbit(&args("setbit k 4294967295 1")).unwrap();
        let (outcome, new) = op.eval(&[Some(b"abc")]);
        assert_eq!(outcome, Outcome::Integer(0));
        let new = new.unwrap();
        assert_eq!(new.len() as u64, MAX_STRING_LEN);
        assert_eq!(&new[..3], b"abc");
        assert_eq!(new.last(), Some(&1));
        let read = |line: &str| {
            let request = args(line);
            let op = match option_name(&request[0]).as_str() {
                "getbit" => parse_getbit(&request),
                "bitpos" => parse_bitpos(&request),
                _ => parse_bitcount(&request),
            };
            op.unwrap().eval(Some(&new))
        };
        assert_eq!(read("getbit k 4294967295"), Outcome::Integer(1));
        assert_eq!(read("bitpos k 1 -1"), Outcome::Integer(4_294_967_295));
        assert_eq!(read("bitpos k 0 -1 -1"), Outcome::Integer(4_294_967_288));
        assert_eq!(read("bitcount k -1 -1"), Outcome::Integer(1));
        assert_eq!(read("bitcount k -2 -1 bit"), Outcome::Integer(1));
    }

    #[test]
    fn reads_name_their_key() {
        for line in ["getbit k 1", "bitcount k", "bitpos k 1 0 -1 bit"] {
            let request = args(line);
            let op = match option_name(&request[0]).as_str() {
                "getbit" => parse_getbit(&request),
                "bitpos" => parse_bitpos(&request),
                _ => parse_bitcount(&request),
            };
            assert_eq!(op.unwrap().key(), &b("k"), "{line}");
        }
        assert_eq!(
            parse_bitpos(&args("bitpos k 0 -3 7 BIT")).unwrap(),
            BitRead::BitPos {
                key: b("k"),
                bit: false,
                range: Some(Ok(BitRange {
                    start: -3,
                    end: Some(7),
                    unit: BitUnit::Bit
                })),
            }
        );
        // Redis compares BYTE and BIT as C strings: a NUL ends them
        // (redis-server 7.0.15: `BITCOUNT s 0 0 "bit\0z"` counts bit 0).
        let mut request = args("bitcount k 0 0 x");
        request[4] = Bytes::from_static(b"bit\0z");
        assert!(matches!(
            parse_bitcount(&request).unwrap(),
            BitRead::BitCount {
                range: Some(Ok(BitRange {
                    unit: BitUnit::Bit,
                    ..
                })),
                ..
            }
        ));
        assert_eq!(
            parse_bitcount(&args("bitcount k 1")).unwrap(),
            BitRead::BitCount {
                key: b("k"),
                range: Some(Err("ERR syntax error".into())),
            }
        );
    }
}
