//! Sorted set commands: ZADD, ZINCRBY, ZREM, ZPOPMIN, ZPOPMAX,
//! ZREMRANGEBYSCORE, ZREMRANGEBYRANK, ZREMRANGEBYLEX, ZRANGESTORE,
//! ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE, ZMPOP (writes) and ZCARD, ZSCORE,
//! ZMSCORE, ZRANK, ZREVRANK, ZCOUNT, ZLEXCOUNT, ZRANGE and its older forms,
//! ZRANDMEMBER, ZSCAN, ZUNION, ZINTER, ZDIFF, ZINTERCARD (reads). The
//! combining commands take sets as inputs too, every member scoring 1.
//!
//! # Layout
//!
//! A sorted set is a collection ([`super::collection`]) with two element
//! records per member under its incarnation:
//!
//! ```text
//! 1 ++ member                 -> score (8 bytes: the f64's bits)
//! 2 ++ score_key(8) ++ member -> empty      (the score index)
//! ```
//!
//! [`score_key`] maps a score to bytes whose order is the numeric order
//! (-inf first, +inf last), so the index lists members by (score, member),
//! Redis's order. Score ranges, ranks and pops are range reads over the
//! index, not whole-set scans; ZSCORE is a point read of the member record.
//! Changing a score deletes the old index record and writes the new one.
//! The header counts members. NaN is never stored; -0 is stored as +0
//! (Redis treats them as equal).
//!
//! # The index head
//!
//! A deleted record stays in the LSM tree as a tombstone until compaction
//! drops it, and a range read steps over every tombstone in its way. A
//! queue (ZADD at one end, ZPOPMIN at the other) deletes the lowest index
//! record with every pop, so a read from the start of the index would step
//! over every member ever popped: pops slow down as the set is used, with
//! no bound (the trap of apache/kvrocks#494, measured here at a fivefold
//! slowdown in 20 seconds). So a sorted set that has been popped has one
//! more element record, its head:
//!
//! ```text
//! 3 -> 1 ++ len(4) ++ floor ++ (len(4) ++ late)*   (the index head)
//! ```
//!
//! The floor is an index subkey (or a prefix of one), and the late keys
//! are index subkeys below it, ascending. Invariant: the live index
//! records below the floor are exactly the late keys. A walk from the
//! lowest score (a pop, a rank range, a score range from below the floor,
//! ZRANK) visits the late keys, read from the head, and then reads the
//! index from the floor, so it never reads the region below the floor
//! where the pops left their tombstones:
//!
//! - a pop from the low end (ZPOPMIN, ZMPOP MIN, ZREMRANGEBYRANK from
//!   rank 0) moves the floor up to the last index record it removed
//!   (every live record below that was removed before it);
//! - a record written below the floor (a ZADD of a score lower than
//!   everything popped so far, the usual case when scores are random)
//!   joins the late keys; when there are more than [`MAX_LATE`], or one is
//!   longer than [`MAX_LATE_KEY`] bytes, the head keeps the lowest half
//!   and the floor moves down to the first key it does not keep;
//! - a record deleted below the floor leaves the late keys.
//!
//! A set without a head (never popped, or written before heads existed)
//! reads the index from its start, which is the same as a head with an
//! empty floor; a head that does not decode is treated so too. Both are
//! always correct, only slower. A new incarnation (a STORE, a COPY) starts
//! without one. Every replica evaluates the same writes in the same order,
//! so their heads are the same bytes, in digests and catch-up streams.
//! The storage layout number went from 2 to 3 with the head
//! ([`crate::storage`]), so a version that would not keep heads true
//! refuses a data directory that may hold them.
//!
//! What it costs and what it does not fix: a write that changes the head
//! rewrites the whole record (the floor and every late key, a few dozen
//! bytes each), and the retained log carries it too. Tombstones above the
//! floor (a score changed, a member removed by ZREM, which never moves the
//! floor) are still stepped over by each walk that passes them. A split
//! moves the floor down into the popped region, and the pops that follow
//! step over the tombstones between the floor and the old one once; a
//! queue whose adds nearly all land below the floor and outpace its pops
//! for long (more than [`MAX_LATE`] waiting at once) pays that each time
//! the late keys overflow.
//!
//! Scores are replied as doubles ([`Outcome::Double`]): `%.17g` bulk
//! strings in RESP2, `,` doubles in RESP3, as Redis 7.0 does.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use super::collection::{self, Change, Found, TAG_MEMBER, find, member_name, member_sub};
use super::op::{Effect, Evaluated, Kind, Outcome, ReadView, WrongType};
use super::{CommandError, option_name, parse_i64};

/// The tag of a score index record.
pub const TAG_SCORE: u8 = 2;

/// The tag of the index head record (see "The index head" above).
pub const TAG_HEAD: u8 = 3;

/// Most late keys the index head holds before it is split.
pub const MAX_LATE: usize = 128;

/// Longest index subkey the index head holds as a late key; a longer one
/// splits the head at it. Also the longest floor it writes (a longer one
/// is cut to this: a prefix of a key sorts before the key).
pub const MAX_LATE_KEY: usize = 96;

/// The first byte of an encoded head: its layout.
const HEAD_LAYOUT: u8 = 1;

/// Where a walk of a sorted set's score index from the lowest score starts
/// (see "The index head" above): the late keys, then the index from the
/// floor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Head {
    /// Every live index record below it is a late key. Empty: the start.
    floor: Bytes,
    /// The live index records below the floor, ascending.
    late: Vec<Bytes>,
    /// Changed since it was read: written back by [`Head::save`].
    dirty: bool,
}

impl Head {
    /// The head of `found` (the empty head for a new set, a set never
    /// popped, or a head that does not decode).
    fn load<V: ReadView>(view: &V, found: Option<&Found>) -> Result<Head, V::Error> {
        let Some(found) = found else {
            return Ok(Head::default());
        };
        Ok(view
            .element(found.header.version, &[TAG_HEAD])?
            .and_then(|v| Head::decode(&v))
            .unwrap_or_default())
    }

    fn decode(bytes: &[u8]) -> Option<Head> {
        let (&layout, mut rest) = bytes.split_first()?;
        if layout != HEAD_LAYOUT {
            return None;
        }
        // One length-prefixed key off the front of `rest`.
        fn take(rest: &mut &[u8]) -> Option<Bytes> {
            let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            let key = rest.get(4..4usize.checked_add(len)?)?;
            *rest = rest.get(4 + len..)?;
            Some(Bytes::copy_from_slice(key))
        }
        let floor = take(&mut rest)?;
        let mut late = Vec::new();
        while !rest.is_empty() {
            late.push(take(&mut rest)?);
        }
        // Ascending, below the floor, all index keys: else not a head.
        let sorted = late.windows(2).all(|w| w[0] < w[1]);
        let below = late.last().is_none_or(|k| *k < floor);
        let indexed = late.iter().all(|k| k.first() == Some(&TAG_SCORE));
        (sorted && below && indexed).then_some(Head {
            floor,
            late,
            dirty: false,
        })
    }

    fn encode(&self) -> Bytes {
        let keys = std::iter::once(&self.floor).chain(&self.late);
        let mut out = BytesMut::with_capacity(1 + keys.clone().map(|k| 4 + k.len()).sum::<usize>());
        out.put_u8(HEAD_LAYOUT);
        for key in keys {
            out.put_u32(u32::try_from(key.len()).unwrap_or(u32::MAX));
            out.put_slice(key);
        }
        out.freeze()
    }

    /// Where the index read of a walk from `from` starts: the floor if it
    /// is above `from` (every live record below it is a late key).
    fn scan_from<'a>(&'a self, from: &'a [u8]) -> &'a [u8] {
        from.max(&self.floor[..])
    }

    /// The index record `key` was written.
    fn inserted(&mut self, key: &Bytes) {
        if *key >= self.floor {
            return;
        }
        let Err(at) = self.late.binary_search(key) else {
            return;
        };
        self.late.insert(at, key.clone());
        self.dirty = true;
        if self.late.len() > MAX_LATE || key.len() > MAX_LATE_KEY {
            // Keep the lowest half (short keys only); the floor moves down
            // to the first key not kept, so the rest are above it.
            let keep = self
                .late
                .iter()
                .take(MAX_LATE / 2)
                .take_while(|k| k.len() <= MAX_LATE_KEY)
                .count();
            let rest = self.late.split_off(keep);
            if let Some(first) = rest.into_iter().next() {
                self.floor = first;
            }
        }
    }

    /// The index record `key` was deleted.
    fn removed(&mut self, key: &[u8]) {
        if key >= &self.floor[..] {
            return;
        }
        if let Ok(at) = self.late.binary_search_by(|k| k[..].cmp(key)) {
            self.late.remove(at);
            self.dirty = true;
        }
    }

    /// The records of a walk from the lowest score up to `last` (an index
    /// subkey) were all deleted: no live record is below `last` any more.
    fn cleared_to(&mut self, last: &[u8]) {
        let floor = &last[..last.len().min(MAX_LATE_KEY)];
        if floor > &self.floor[..] {
            self.floor = Bytes::copy_from_slice(floor);
            self.late.clear();
            self.dirty = true;
        }
    }

    /// Stages the head's record in `change` if it changed.
    fn save(self, change: &mut Change) {
        if self.dirty {
            change.put_raw(Bytes::from_static(&[TAG_HEAD]), self.encode());
        }
    }
}

/// Bytes whose order is the numeric order of `score` (not NaN): the sign
/// bit flipped for a positive score, every bit for a negative one.
pub fn score_key(score: f64) -> [u8; 8] {
    let score = if score == 0.0 { 0.0 } else { score };
    let bits = score.to_bits();
    let key = if bits >> 63 == 0 {
        bits ^ (1 << 63)
    } else {
        !bits
    };
    key.to_be_bytes()
}

/// Inverse of [`score_key`].
pub fn score_of_key(key: [u8; 8]) -> f64 {
    let key = u64::from_be_bytes(key);
    let bits = if key >> 63 == 1 {
        key ^ (1 << 63)
    } else {
        !key
    };
    f64::from_bits(bits)
}

/// The index subkey of `member` with `score`.
pub fn index_sub(score: f64, member: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(9 + member.len());
    out.put_u8(TAG_SCORE);
    out.put_slice(&score_key(score));
    out.put_slice(member);
    out.freeze()
}

/// The score and member of an index subkey.
fn split_index(sub: &Bytes) -> Option<(f64, Bytes)> {
    let key: [u8; 8] = sub.get(1..9)?.try_into().ok()?;
    Some((score_of_key(key), sub.slice(9..)))
}

/// The stored value of a score.
pub fn score_value(score: f64) -> Bytes {
    let score = if score == 0.0 { 0.0 } else { score };
    Bytes::copy_from_slice(&score.to_bits().to_be_bytes())
}

/// The score a member record holds (0 for a malformed one).
pub fn decode_score(value: &[u8]) -> f64 {
    value
        .try_into()
        .map(|b: [u8; 8]| f64::from_bits(u64::from_be_bytes(b)))
        .unwrap_or(0.0)
}

/// A score as it crosses the wire in an op (its bits, so ops stay `Eq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score(pub u64);

impl Score {
    fn of(f: f64) -> Score {
        Score(f.to_bits())
    }
    fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

/// One end of a score range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreBound {
    /// The score.
    pub score: Score,
    /// `(`: the score itself is outside.
    pub exclusive: bool,
}

/// One end of a lexicographic range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LexBound {
    /// `-`.
    Min,
    /// `+`.
    Max,
    /// `[member`.
    Inclusive(Bytes),
    /// `(member`.
    Exclusive(Bytes),
}

/// Which members a range command selects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Range {
    /// By rank (0-based, negative from the end), inclusive.
    Rank(i64, i64),
    /// By score.
    Score(ScoreBound, ScoreBound),
    /// By member, for members of equal score.
    Lex(LexBound, LexBound),
}

/// ZADD's flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddFlags {
    /// NX: only add new members.
    pub nx: bool,
    /// XX: only update existing members.
    pub xx: bool,
    /// GT: only update to a greater score.
    pub gt: bool,
    /// LT: only update to a lower score.
    pub lt: bool,
    /// CH: count changed members, not only added ones.
    pub ch: bool,
    /// INCR (and ZINCRBY): add to the score, reply the new score.
    pub incr: bool,
}

/// ZUNION, ZINTER, ZDIFF and their STORE forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Combine {
    /// ZUNION.
    Union,
    /// ZINTER.
    Inter,
    /// ZDIFF.
    Diff,
}

/// How ZUNION and ZINTER combine the scores of a member in several inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregate {
    /// SUM (the default).
    Sum,
    /// MIN.
    Min,
    /// MAX.
    Max,
}

/// The inputs and options of ZUNION, ZINTER, ZDIFF (and STORE forms) and
/// ZINTERCARD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// Which operation.
    pub op: Combine,
    /// The input keys (sorted sets, or sets with every score 1).
    pub keys: Vec<Bytes>,
    /// WEIGHTS, one per key (1 each by default).
    pub weights: Vec<Score>,
    /// AGGREGATE.
    pub aggregate: Aggregate,
    /// WITHSCORES (the reading forms).
    pub with_scores: bool,
    /// ZINTERCARD's LIMIT (0: none).
    pub limit: u64,
    /// The error of a malformed option: Redis reads the options only after
    /// it has checked every input's type, so WRONGTYPE comes first.
    pub error: Option<String>,
}

/// A sorted set command that writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZSetWrite {
    /// ZADD key \[flags\] score member \[score member ...\], and ZINCRBY.
    Add {
        /// The key.
        key: Bytes,
        /// The flags.
        flags: AddFlags,
        /// Scores (increments with INCR) and members.
        pairs: Vec<(Score, Bytes)>,
    },
    /// ZREM key member \[member ...\].
    Rem {
        /// The key.
        key: Bytes,
        /// The members.
        members: Vec<Bytes>,
    },
    /// ZPOPMIN / ZPOPMAX key \[count\].
    Pop {
        /// The key.
        key: Bytes,
        /// ZPOPMAX.
        max: bool,
        /// The count, if given.
        count: Option<u64>,
    },
    /// ZREMRANGEBYRANK / BYSCORE / BYLEX key min max.
    RemRange {
        /// The key.
        key: Bytes,
        /// The range.
        range: Range,
    },
    /// ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE destination numkeys key ...
    Store {
        /// The destination.
        dest: Bytes,
        /// The inputs and options.
        inputs: Inputs,
    },
    /// ZRANGESTORE dst src min max \[BYSCORE|BYLEX\] \[REV\] \[LIMIT\].
    RangeStore {
        /// The destination.
        dest: Bytes,
        /// The source.
        src: Bytes,
        /// The range (its ends in ascending order).
        range: Range,
        /// REV.
        rev: bool,
        /// LIMIT offset count.
        limit: Option<(i64, i64)>,
    },
    /// ZMPOP numkeys key \[key ...\] MIN|MAX \[COUNT count\].
    MPop {
        /// The keys, tried in order.
        keys: Vec<Bytes>,
        /// MAX.
        max: bool,
        /// How many to pop.
        count: u64,
    },
    /// One attempt of BZPOPMIN / BZPOPMAX key \[key ...\] timeout: the
    /// first non-empty sorted set's key, member and score, or a nil array
    /// when every one is empty (the waiting is the session's,
    /// [`crate::blocked`]).
    BPop {
        /// The keys, tried in order.
        keys: Vec<Bytes>,
        /// BZPOPMAX.
        max: bool,
    },
}

/// A sorted set command that only reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZSetRead {
    /// ZCARD key.
    Card {
        /// The key.
        key: Bytes,
    },
    /// ZSCORE key member (`multi`: false), ZMSCORE key member \[member ...\].
    Score {
        /// The key.
        key: Bytes,
        /// The members.
        members: Vec<Bytes>,
        /// ZMSCORE: an array.
        multi: bool,
    },
    /// ZRANK / ZREVRANK key member.
    Rank {
        /// The key.
        key: Bytes,
        /// The member.
        member: Bytes,
        /// ZREVRANK.
        rev: bool,
    },
    /// ZCOUNT / ZLEXCOUNT key min max.
    Count {
        /// The key.
        key: Bytes,
        /// The range.
        range: Range,
    },
    /// ZRANGE and ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX,
    /// ZREVRANGEBYLEX, ZREVRANGE.
    Range {
        /// The key.
        key: Bytes,
        /// The range (its ends in ascending order).
        range: Range,
        /// REV: highest first.
        rev: bool,
        /// LIMIT offset count.
        limit: Option<(i64, i64)>,
        /// WITHSCORES.
        with_scores: bool,
    },
    /// ZRANDMEMBER key \[count \[WITHSCORES\]\].
    RandMember {
        /// The key.
        key: Bytes,
        /// The count, if given.
        count: Option<i64>,
        /// WITHSCORES.
        with_scores: bool,
    },
    /// ZSCAN key cursor \[MATCH pattern\] \[COUNT count\].
    Scan {
        /// The key.
        key: Bytes,
        /// The scan's options.
        scan: collection::ElementScan,
    },
    /// ZUNION / ZINTER / ZDIFF numkeys key ... \[WITHSCORES\].
    Combine(Inputs),
    /// ZINTERCARD numkeys key ... \[LIMIT limit\].
    InterCard(Inputs),
}

impl ZSetWrite {
    /// The keys written.
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            ZSetWrite::Add { key, .. }
            | ZSetWrite::Rem { key, .. }
            | ZSetWrite::Pop { key, .. }
            | ZSetWrite::RemRange { key, .. } => vec![key],
            ZSetWrite::Store { dest, inputs } => {
                std::iter::once(dest).chain(&inputs.keys).collect()
            }
            ZSetWrite::RangeStore { dest, src, .. } => vec![dest, src],
            ZSetWrite::MPop { keys, .. } | ZSetWrite::BPop { keys, .. } => keys.iter().collect(),
        }
    }
}

impl ZSetRead {
    /// Whether it may read many members (see
    /// [`super::op::ReadOp::is_heavy`]).
    pub fn is_heavy(&self) -> bool {
        !matches!(self, ZSetRead::Card { .. } | ZSetRead::Score { .. })
    }

    /// The keys read.
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            ZSetRead::Card { key }
            | ZSetRead::Score { key, .. }
            | ZSetRead::Rank { key, .. }
            | ZSetRead::Count { key, .. }
            | ZSetRead::Range { key, .. }
            | ZSetRead::RandMember { key, .. }
            | ZSetRead::Scan { key, .. } => vec![key],
            ZSetRead::Combine(inputs) | ZSetRead::InterCard(inputs) => inputs.keys.iter().collect(),
        }
    }
}

fn arg(args: &[Bytes], i: usize) -> Bytes {
    args.get(i).cloned().unwrap_or_default()
}

fn other(text: &str) -> CommandError {
    CommandError::Other(text.into())
}

const NOT_FLOAT: &str = "ERR value is not a valid float";
const RANGE_NOT_FLOAT: &str = "ERR min or max is not a float";
const RANGE_NOT_LEX: &str = "ERR min or max not valid string range item";
const NAN_RESULT: &str = "ERR resulting score is not a number (NaN)";

/// A float as C's `strtod` reads it, whole: `None` for anything else. With
/// `strict` (a score, as Redis's `getDoubleFromObject`), NaN, overflow and
/// underflow to zero are refused too; a range bound takes them (as
/// `zslParseRange`), except NaN.
fn parse_float(text: &[u8], strict: bool) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let (sign, body) = match s.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, s.strip_prefix('+').unwrap_or(s)),
    };
    let hex = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X"));
    let (magnitude, mantissa) = match hex {
        Some(hex) => (parse_hex_float(hex)?, hex.split(['p', 'P']).next()),
        // Rust's parser takes what strtod takes in decimal, and "inf",
        // "infinity", "nan" in any case.
        None => (body.parse::<f64>().ok()?, body.split(['e', 'E']).next()),
    };
    let value = magnitude * sign;
    if value.is_nan() {
        return None;
    }
    if strict {
        let lower = body.to_ascii_lowercase();
        let spelled_inf = lower == "inf" || lower == "infinity";
        if value.is_infinite() && !spelled_inf {
            return None;
        }
        // Nonzero digits that came out as zero: an underflow.
        let nonzero = |b: u8| b.is_ascii_hexdigit() && b != b'0';
        if value == 0.0 && mantissa.is_some_and(|m| m.bytes().any(nonzero)) {
            return None;
        }
    }
    Some(value)
}

/// strtod's hexadecimal float, after its `0x`: hex digits with an
/// optional point (at least one digit) and an optional binary exponent
/// (`p`, an optional sign, decimal digits), rounded to the nearest double
/// (ties to even, into the denormals) as glibc does. Overflow gives
/// infinity and underflow zero, for [`parse_float`] to judge.
fn parse_hex_float(text: &str) -> Option<f64> {
    let (mantissa, exponent) = match text.split_once(['p', 'P']) {
        Some((m, e)) => (m, Some(e)),
        None => (text, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = || int.bytes().chain(frac.bytes());
    if int.is_empty() && frac.is_empty() || !digits().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // The exponent, saturated far outside the range of a double.
    let exp: i64 = match exponent {
        None => 0,
        Some(e) => {
            let (negative, digits) = match e.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, e.strip_prefix('+').unwrap_or(e)),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let v = digits
                .bytes()
                .fold(0i64, |acc, b| (acc * 10 + i64::from(b - b'0')).min(1 << 40));
            if negative { -v } else { v }
        }
    };
    // The value is m * 2^e2, plus a little more when `sticky` (nonzero
    // digits that did not fit in m's 60 bits).
    let (mut m, mut e2, mut sticky) = (0u64, exp, false);
    for b in digits() {
        let d = u64::from(char::from(b).to_digit(16).unwrap_or(0));
        if m >> 56 == 0 {
            m = m << 4 | d;
        } else {
            sticky |= d != 0;
            e2 += 4;
        }
    }
    e2 -= 4 * frac.len() as i64;
    if m == 0 {
        return Some(0.0);
    }
    // Normalise to m in [2^63, 2^64): the value is in [2^(e2+63), 2^(e2+64)).
    let zeros = m.leading_zeros();
    m <<= zeros;
    e2 -= i64::from(zeros);
    if e2 + 63 > 1023 {
        return Some(f64::INFINITY);
    }
    // Keep the bits down to the last one a double holds here: 53 for a
    // normal number, fewer for a denormal (whose last bit weighs 2^-1074).
    let drop = if e2 + 63 >= -1022 { 11 } else { -1074 - e2 };
    if drop >= 128 {
        return Some(0.0);
    }
    let wide = u128::from(m);
    let mut kept = wide >> drop;
    let rest = wide & ((1u128 << drop) - 1);
    let half = 1u128 << (drop - 1);
    if rest > half || (rest == half && (sticky || kept & 1 == 1)) {
        kept += 1;
    }
    let kept = u64::try_from(kept).ok()?;
    let bits = if drop == 11 {
        // A normal number: kept is in [2^52, 2^53], 2^53 when rounding
        // carried into the next power of two.
        let (kept, exp) = if kept >> 53 == 1 {
            (kept >> 1, e2 + 63 + 1)
        } else {
            (kept, e2 + 63)
        };
        if exp > 1023 {
            return Some(f64::INFINITY);
        }
        (u64::try_from(exp + 1023).ok()? << 52) | (kept & ((1 << 52) - 1))
    } else {
        // A denormal: its bits are the kept ones (2^52, if rounding
        // carried, is the smallest normal's).
        kept
    };
    Some(f64::from_bits(bits))
}

fn parse_score(text: &[u8]) -> Result<f64, CommandError> {
    parse_float(text, true).ok_or_else(|| other(NOT_FLOAT))
}

fn parse_score_bound(text: &[u8]) -> Result<ScoreBound, CommandError> {
    let (exclusive, rest) = match text.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    // strtod skips leading blanks, and reads nothing (an empty bound) as 0.
    let first = rest
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let rest = &rest[first..];
    let score = if rest.is_empty() {
        0.0
    } else {
        parse_float(rest, false).ok_or_else(|| other(RANGE_NOT_FLOAT))?
    };
    Ok(ScoreBound {
        score: Score::of(score),
        exclusive,
    })
}

fn parse_lex_bound(text: &Bytes) -> Result<LexBound, CommandError> {
    match text.first() {
        Some(b'-') if text.len() == 1 => Ok(LexBound::Min),
        Some(b'+') if text.len() == 1 => Ok(LexBound::Max),
        Some(b'[') => Ok(LexBound::Inclusive(text.slice(1..))),
        Some(b'(') => Ok(LexBound::Exclusive(text.slice(1..))),
        _ => Err(other(RANGE_NOT_LEX)),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

fn parse_range(by: By, min: &Bytes, max: &Bytes) -> Result<Range, CommandError> {
    Ok(match by {
        By::Rank => Range::Rank(parse_i64(min)?, parse_i64(max)?),
        By::Score => Range::Score(parse_score_bound(min)?, parse_score_bound(max)?),
        By::Lex => Range::Lex(parse_lex_bound(min)?, parse_lex_bound(max)?),
    })
}

/// The sorted set writes (`name` lowercased, arity checked).
pub fn parse_write(name: &str, args: &[Bytes]) -> Result<ZSetWrite, CommandError> {
    let key = arg(args, 1);
    Ok(match name {
        "zadd" => parse_zadd(args)?,
        "zincrby" => ZSetWrite::Add {
            key,
            flags: AddFlags {
                incr: true,
                ..AddFlags::default()
            },
            pairs: vec![(Score::of(parse_score(&arg(args, 2))?), arg(args, 3))],
        },
        "zrem" => ZSetWrite::Rem {
            key,
            members: args.iter().skip(2).cloned().collect(),
        },
        "zpopmin" | "zpopmax" => {
            let count = match args.len() {
                2 => None,
                3 => Some(
                    parse_i64(&arg(args, 2))
                        .ok()
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| other("ERR value is out of range, must be positive"))?,
                ),
                _ => return Err(CommandError::Syntax),
            };
            ZSetWrite::Pop {
                key,
                max: name == "zpopmax",
                count,
            }
        }
        "zunionstore" | "zinterstore" | "zdiffstore" => ZSetWrite::Store {
            dest: key,
            inputs: parse_inputs(name, args, 2, combine_of(name))?,
        },
        "zrangestore" => match parse_zrange(&args[1..], By::Rank, false, true, true)? {
            ZSetRead::Range {
                key: src,
                range,
                rev,
                limit,
                ..
            } => ZSetWrite::RangeStore {
                dest: key,
                src,
                range,
                rev,
                limit,
            },
            _ => return Err(CommandError::Syntax),
        },
        "zmpop" => parse_zmpop(args)?,
        _ => {
            let by = match name {
                "zremrangebyrank" => By::Rank,
                "zremrangebyscore" => By::Score,
                _ => By::Lex,
            };
            ZSetWrite::RemRange {
                key,
                range: parse_range(by, &arg(args, 2), &arg(args, 3))?,
            }
        }
    })
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member ...`, checked in
/// Redis 7.0's order.
fn parse_zadd(args: &[Bytes]) -> Result<ZSetWrite, CommandError> {
    let mut flags = AddFlags::default();
    let mut i = 2;
    while let Some(opt) = args.get(i) {
        match option_name(opt).as_str() {
            "nx" => flags.nx = true,
            "xx" => flags.xx = true,
            "gt" => flags.gt = true,
            "lt" => flags.lt = true,
            "ch" => flags.ch = true,
            "incr" => flags.incr = true,
            _ => break,
        }
        i += 1;
    }
    let rest = args.get(i..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 2 != 0 {
        return Err(CommandError::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(other(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if [flags.gt, flags.lt, flags.nx]
        .iter()
        .filter(|f| **f)
        .count()
        > 1
    {
        return Err(other(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && rest.len() > 2 {
        return Err(other(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for pair in rest.chunks(2) {
        if let [score, member] = pair {
            pairs.push((Score::of(parse_score(score)?), member.clone()));
        }
    }
    Ok(ZSetWrite::Add {
        key: arg(args, 1),
        flags,
        pairs,
    })
}

/// The sorted set reads (`name` lowercased, arity checked).
pub fn parse_read(name: &str, args: &[Bytes]) -> Result<ZSetRead, CommandError> {
    let key = arg(args, 1);
    Ok(match name {
        "zcard" => ZSetRead::Card { key },
        "zscore" | "zmscore" => ZSetRead::Score {
            key,
            members: args.iter().skip(2).cloned().collect(),
            multi: name == "zmscore",
        },
        "zrank" | "zrevrank" => ZSetRead::Rank {
            key,
            member: arg(args, 2),
            rev: name == "zrevrank",
        },
        "zcount" | "zlexcount" => ZSetRead::Count {
            key,
            range: parse_range(
                if name == "zcount" { By::Score } else { By::Lex },
                &arg(args, 2),
                &arg(args, 3),
            )?,
        },
        "zrandmember" => {
            let (count, with_scores) = collection::parse_rand_count_named(args, "withscores")?;
            ZSetRead::RandMember {
                key,
                count,
                with_scores,
            }
        }
        "zscan" => ZSetRead::Scan {
            key,
            scan: collection::parse_element_scan(args)?,
        },
        "zrange" => parse_zrange(args, By::Rank, false, true, false)?,
        "zrangebyscore" => parse_zrange(args, By::Score, false, false, false)?,
        "zrevrangebyscore" => parse_zrange(args, By::Score, true, false, false)?,
        "zrangebylex" => parse_zrange(args, By::Lex, false, false, false)?,
        "zrevrangebylex" => parse_zrange(args, By::Lex, true, false, false)?,
        "zunion" | "zinter" | "zdiff" => {
            ZSetRead::Combine(parse_inputs(name, args, 1, combine_of(name))?)
        }
        "zintercard" => ZSetRead::InterCard(parse_inputs(name, args, 1, Combine::Inter)?),
        _ => parse_zrange(args, By::Rank, true, false, false)?,
    })
}

/// Which operation a ZUNION/ZINTER/ZDIFF (STORE) name means.
fn combine_of(name: &str) -> Combine {
    if name.starts_with("zunion") {
        Combine::Union
    } else if name.starts_with("zinter") {
        Combine::Inter
    } else {
        Combine::Diff
    }
}

/// ZRANGE (`generic`: BYSCORE, BYLEX and REV allowed) and its older forms,
/// as Redis 7.0's `zrangeGenericCommand` checks them; ZRANGESTORE
/// (`store`, its arguments from the source on) takes no WITHSCORES.
fn parse_zrange(
    args: &[Bytes],
    mut by: By,
    mut rev: bool,
    generic: bool,
    store: bool,
) -> Result<ZSetRead, CommandError> {
    let mut with_scores = false;
    let mut limit = None;
    // ZRANGE alone takes REV and BYSCORE/BYLEX, each once.
    let (mut rev_open, mut by_open) = (generic, generic);
    let mut i = 4;
    while let Some(opt) = args.get(i) {
        let opt = option_name(opt);
        let left = args.len() - i - 1;
        match opt.as_str() {
            "withscores" if !store => with_scores = true,
            "limit" if left >= 2 => {
                limit = Some((parse_i64(&args[i + 1])?, parse_i64(&args[i + 2])?));
                i += 2;
            }
            "rev" if rev_open => {
                rev = true;
                rev_open = false;
            }
            "byscore" | "bylex" if by_open => {
                by = if opt == "byscore" { By::Score } else { By::Lex };
                by_open = false;
            }
            _ => return Err(CommandError::Syntax),
        }
        i += 1;
    }
    if limit.is_some() && by == By::Rank {
        return Err(other(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && by == By::Lex {
        return Err(other(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut min, mut max) = (arg(args, 2), arg(args, 3));
    if rev && by != By::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    Ok(ZSetRead::Range {
        key: arg(args, 1),
        range: parse_range(by, &min, &max)?,
        rev,
        limit,
        with_scores,
    })
}

/// A live sorted set at `key` (or none), or WRONGTYPE.
fn find_zset<V: ReadView>(
    view: &V,
    key: &[u8],
) -> Result<Result<Option<Found>, WrongType>, V::Error> {
    find(view, key, Kind::ZSet)
}

/// The score of `member` in a found set.
fn score_in<V: ReadView>(
    view: &V,
    found: Option<&Found>,
    member: &[u8],
) -> Result<Option<f64>, V::Error> {
    let Some(found) = found else {
        return Ok(None);
    };
    Ok(view
        .element(found.header.version, &member_sub(member))?
        .map(|v| decode_score(&v)))
}

fn in_lex_min(member: &[u8], min: &LexBound) -> bool {
    match min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Inclusive(m) => member >= &m[..],
        LexBound::Exclusive(m) => member > &m[..],
    }
}

fn in_lex_max(member: &[u8], max: &LexBound) -> bool {
    match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Inclusive(m) => member <= &m[..],
        LexBound::Exclusive(m) => member < &m[..],
    }
}

fn above_min(score: f64, min: &ScoreBound) -> bool {
    if min.exclusive {
        score > min.score.get()
    } else {
        score >= min.score.get()
    }
}

fn below_max(score: f64, max: &ScoreBound) -> bool {
    if max.exclusive {
        score < max.score.get()
    } else {
        score <= max.score.get()
    }
}

/// Visits the index records from `from` (an index subkey) on, in
/// ascending order, until `visit` returns false: the head's late keys from
/// `from`, then the index from the floor (or `from`, if higher).
fn walk_index<V: ReadView>(
    view: &V,
    found: &Found,
    from: &[u8],
    mut visit: impl FnMut(&Bytes) -> bool,
) -> Result<(), V::Error> {
    let head = Head::load(view, Some(found))?;
    for key in head.late.iter().filter(|k| &k[..] >= from) {
        if !visit(key) {
            return Ok(());
        }
    }
    let start = head.scan_from(from);
    view.each_element_from(found.header.version, &[TAG_SCORE], start, |sub, _| {
        visit(sub)
    })
}

/// Visits the members of `range` in ascending order with their scores
/// until `visit` returns false: a score range over the score index from its
/// lower bound, a lex range over the members from theirs, a rank range
/// (resolved by the caller) from the lowest score. The score index is read
/// through its head ([`walk_index`]).
fn walk_range<V: ReadView>(
    view: &V,
    found: &Found,
    range: &Range,
    mut visit: impl FnMut(Bytes, f64) -> bool,
) -> Result<(), V::Error> {
    let version = found.header.version;
    match range {
        Range::Rank(..) => walk_index(view, found, &[TAG_SCORE], |sub| {
            split_index(sub).is_none_or(|(score, member)| visit(member, score))
        }),
        Range::Score(min, max) => {
            let from = index_sub(min.score.get(), b"");
            walk_index(view, found, &from, |sub| {
                let Some((score, member)) = split_index(sub) else {
                    return false;
                };
                if !above_min(score, min) {
                    return true;
                }
                below_max(score, max) && visit(member, score)
            })
        }
        Range::Lex(min, max) => {
            let from = match min {
                LexBound::Inclusive(m) | LexBound::Exclusive(m) => member_sub(m),
                LexBound::Min => member_sub(b""),
                LexBound::Max => return Ok(()),
            };
            view.each_element_from(version, &[TAG_MEMBER], &from, |sub, value| {
                let member = member_name(sub);
                if !in_lex_min(&member, min) {
                    return true;
                }
                in_lex_max(&member, max) && visit(member, decode_score(value))
            })
        }
    }
}

/// The members of a range in ascending order, with their scores (`skip`
/// and `take` apply to the ascending walk; rank ranges resolve here).
fn ascending<V: ReadView>(
    view: &V,
    found: &Found,
    range: &Range,
    skip: usize,
    take: usize,
) -> Result<Vec<(Bytes, f64)>, V::Error> {
    let mut out = Vec::new();
    if take == 0 {
        return Ok(out);
    }
    let mut skipped = 0usize;
    walk_range(view, found, range, |member, score| {
        if skipped < skip {
            skipped += 1;
            return true;
        }
        out.push((member, score));
        out.len() < take
    })?;
    Ok(out)
}

/// The first and last rank (inclusive, ascending) of a rank range over
/// `len` members, or `None` for an empty one (Redis's clamping).
fn rank_span(start: i64, end: i64, len: u64, rev: bool) -> Option<(u64, u64)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let (mut start, mut end) = (start, end);
    if start < 0 {
        start = start.saturating_add(len);
    }
    if end < 0 {
        end = end.saturating_add(len);
    }
    start = start.max(0);
    if start > end || start >= len {
        return None;
    }
    end = end.min(len - 1);
    let (a, b) = if rev {
        (len - 1 - end, len - 1 - start)
    } else {
        (start, end)
    };
    Some((u64::try_from(a).ok()?, u64::try_from(b).ok()?))
}

/// The members a range selects, in reply order (REV: descending), after
/// LIMIT.
fn select<V: ReadView>(
    view: &V,
    found: &Found,
    range: &Range,
    rev: bool,
    limit: Option<(i64, i64)>,
) -> Result<Vec<(Bytes, f64)>, V::Error> {
    if let Range::Rank(start, end) = range {
        let Some((a, b)) = rank_span(*start, *end, found.header.len, rev) else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(a).unwrap_or(usize::MAX);
        let take = usize::try_from(b - a + 1).unwrap_or(usize::MAX);
        let mut out = ascending(view, found, range, skip, take)?;
        if rev {
            out.reverse();
        }
        return Ok(out);
    }
    let (offset, count) = limit.unwrap_or((0, -1));
    if offset < 0 {
        return Ok(Vec::new());
    }
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if !rev {
        return ascending(view, found, range, offset, count);
    }
    let mut all = ascending(view, found, range, 0, usize::MAX)?;
    all.reverse();
    Ok(all.into_iter().skip(offset).take(count).collect())
}

/// The members ranked `start..=end` (inclusive, within the set), in that
/// order: ranked from the lowest score, or from the highest with `rev`
/// (ZRANGE's and ZREVRANGE's walk; SORT BY nosort takes it).
pub fn rank_range<V: ReadView>(
    view: &V,
    found: &Found,
    start: u64,
    end: u64,
    rev: bool,
) -> Result<Vec<Bytes>, V::Error> {
    let rank = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let range = Range::Rank(rank(start), rank(end));
    Ok(select(view, found, &range, rev, None)?
        .into_iter()
        .map(|(member, _)| member)
        .collect())
}

/// A member's reply.
fn bulk(member: Bytes) -> Outcome {
    Outcome::Value(Some(member))
}

/// Members (and maybe scores) as a range reply.
/// Members with their scores.
type Scored = Vec<(Bytes, f64)>;

/// Pops up to `want` members from the low end (or the high end, `max`)
/// of an existing sorted set, in popping order, with the effects (none if
/// nothing was popped).
fn pop_members<V: ReadView>(
    view: &V,
    key: &Bytes,
    found: Found,
    max: bool,
    want: usize,
) -> Result<(Scored, Vec<Effect>), V::Error> {
    let len = usize::try_from(found.header.len).unwrap_or(usize::MAX);
    let want = want.min(len);
    if want == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    // Ranks count from the popped end.
    let range = Range::Rank(0, i64::try_from(want).unwrap_or(i64::MAX) - 1);
    let picked = select(view, &found, &range, max, None)?;
    if picked.is_empty() {
        return Ok((picked, Vec::new()));
    }
    let mut head = Head::load(view, Some(&found))?;
    let mut change = Change::open(view, key, Kind::ZSet, Some(found));
    for (m, s) in &picked {
        remove_member(&mut change, &mut head, view, m, *s)?;
    }
    // Popped from the low end: the index below the last one popped holds
    // only tombstones now.
    if let (false, Some((m, s))) = (max, picked.last()) {
        head.cleared_to(&index_sub(*s, m));
    }
    head.save(&mut change);
    Ok((picked, change.finish(view)))
}

/// A pop from one of several sorted sets: the key, the members with their
/// scores in popping order, and the effects.
type Popped = (Bytes, Scored, Vec<Effect>);

/// What ZMPOP and BZPOPMIN pop: up to `count` members from the first of
/// `keys` that holds a sorted set; `None` if none does; `WrongType` at the
/// first key of another type before it.
fn pop_first<V: ReadView>(
    view: &V,
    keys: &[Bytes],
    max: bool,
    count: u64,
) -> Result<Result<Option<Popped>, WrongType>, V::Error> {
    for key in keys {
        let Ok(found) = find_zset(view, key)? else {
            return Ok(Err(WrongType));
        };
        if let Some(found) = found {
            let want = usize::try_from(count).unwrap_or(usize::MAX);
            let (picked, effects) = pop_members(view, key, found, max, want)?;
            return Ok(Ok(Some((key.clone(), picked, effects))));
        }
    }
    Ok(Ok(None))
}

fn members_reply(items: Vec<(Bytes, f64)>, with_scores: bool) -> Outcome {
    if with_scores {
        Outcome::Pairs(
            items
                .into_iter()
                .map(|(m, s)| (bulk(m), Outcome::Double(s)))
                .collect(),
        )
    } else {
        Outcome::Array(items.into_iter().map(|(m, _)| bulk(m)).collect())
    }
}

fn int(n: usize) -> Outcome {
    Outcome::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Sets `member`'s score in a staged change, moving its index record
/// (and keeping `head` up to date); `old` is its score as the change reads
/// it (`None`: not a member).
fn set_score(change: &mut Change, head: &mut Head, member: &Bytes, old: Option<f64>, new: f64) {
    if let Some(old) = old {
        let sub = index_sub(old, member);
        head.removed(&sub);
        change.remove_raw(sub);
    }
    change.put_read(member, score_value(new), old.is_some());
    let sub = index_sub(new, member);
    head.inserted(&sub);
    change.put_raw(sub, Bytes::new());
}

/// Removes `member` (with `score`) in a staged change (and from `head`).
fn remove_member<V: ReadView>(
    change: &mut Change,
    head: &mut Head,
    view: &V,
    member: &[u8],
    score: f64,
) -> Result<bool, V::Error> {
    let removed = change.remove(view, member)?;
    if removed {
        let sub = index_sub(score, member);
        head.removed(&sub);
        change.remove_raw(sub);
    }
    Ok(removed)
}

/// Evaluates a sorted set write.
pub fn eval_write<V: ReadView>(op: &ZSetWrite, view: &V) -> Result<Evaluated, V::Error> {
    match op {
        ZSetWrite::Store { dest, inputs } => {
            let Ok(sources) = read_inputs(view, &inputs.keys)? else {
                return Ok(WrongType.into());
            };
            if let Some(error) = &inputs.error {
                return Ok((Outcome::Error(error.clone()), Vec::new()));
            }
            return store(view, dest, combine(inputs, sources));
        }
        ZSetWrite::RangeStore {
            dest,
            src,
            range,
            rev,
            limit,
        } => {
            let Ok(found) = find_zset(view, src)? else {
                return Ok(WrongType.into());
            };
            let items = match found {
                Some(f) => select(view, &f, range, *rev, *limit)?,
                None => Vec::new(),
            };
            return store(view, dest, items);
        }
        ZSetWrite::MPop { keys, max, count } => {
            return Ok(match pop_first(view, keys, *max, *count)? {
                Ok(Some((key, picked, effects))) => {
                    let items = picked
                        .into_iter()
                        .map(|(m, s)| Outcome::Array(vec![bulk(m), Outcome::Double(s)]))
                        .collect();
                    let reply = Outcome::Array(vec![bulk(key), Outcome::Array(items)]);
                    (reply, effects)
                }
                Ok(None) => (Outcome::NilArray, Vec::new()),
                Err(WrongType) => WrongType.into(),
            });
        }
        ZSetWrite::BPop { keys, max } => {
            return Ok(match pop_first(view, keys, *max, 1)? {
                Ok(Some((key, picked, effects))) => {
                    let mut items = vec![bulk(key)];
                    for (m, s) in picked {
                        items.extend([bulk(m), Outcome::Double(s)]);
                    }
                    (Outcome::Array(items), effects)
                }
                Ok(None) => (Outcome::NilArray, Vec::new()),
                Err(WrongType) => WrongType.into(),
            });
        }
        _ => {}
    }
    let key = op.keys()[0];
    let Ok(found) = find_zset(view, key)? else {
        return Ok(WrongType.into());
    };
    match op {
        ZSetWrite::Add { flags, pairs, .. } => add(view, key, found, *flags, pairs),
        ZSetWrite::Rem { members, .. } => {
            let Some(found) = found else {
                return Ok((Outcome::Integer(0), Vec::new()));
            };
            let mut head = Head::load(view, Some(&found))?;
            let mut change = Change::open(view, key, Kind::ZSet, Some(found));
            let mut n = 0;
            for m in members {
                if let Some(value) = change.get(view, m)? {
                    remove_member(&mut change, &mut head, view, m, decode_score(&value))?;
                    n += 1;
                }
            }
            let effects = if n > 0 {
                head.save(&mut change);
                change.finish(view)
            } else {
                Vec::new()
            };
            Ok((int(n), effects))
        }
        ZSetWrite::Pop { max, count, .. } => {
            let Some(found) = found else {
                return Ok((Outcome::Array(Vec::new()), Vec::new()));
            };
            let want = count.map_or(1, |c| usize::try_from(c).unwrap_or(usize::MAX));
            let (picked, effects) = pop_members(view, key, found, *max, want)?;
            let outcome = match count {
                None => Outcome::Array(
                    picked
                        .into_iter()
                        .flat_map(|(m, s)| [bulk(m), Outcome::Double(s)])
                        .collect(),
                ),
                Some(_) => members_reply(picked, true),
            };
            Ok((outcome, effects))
        }
        ZSetWrite::Store { .. }
        | ZSetWrite::RangeStore { .. }
        | ZSetWrite::MPop { .. }
        | ZSetWrite::BPop { .. } => Ok((Outcome::Error("ERR unreachable".into()), Vec::new())),
        ZSetWrite::RemRange { range, .. } => {
            let Some(found) = found else {
                return Ok((Outcome::Integer(0), Vec::new()));
            };
            let picked = select(view, &found, range, false, None)?;
            if picked.is_empty() {
                return Ok((Outcome::Integer(0), Vec::new()));
            }
            // ZREMRANGEBYRANK from rank 0 removes the lowest, as a pop does.
            let from_lowest = match range {
                Range::Rank(start, end) => {
                    rank_span(*start, *end, found.header.len, false).is_some_and(|(a, _)| a == 0)
                }
                _ => false,
            };
            let mut head = Head::load(view, Some(&found))?;
            let mut change = Change::open(view, key, Kind::ZSet, Some(found));
            for (m, s) in &picked {
                remove_member(&mut change, &mut head, view, m, *s)?;
            }
            if let (true, Some((m, s))) = (from_lowest, picked.last()) {
                head.cleared_to(&index_sub(*s, m));
            }
            head.save(&mut change);
            Ok((int(picked.len()), change.finish(view)))
        }
    }
}

/// ZADD and ZINCRBY, as Redis 7.0's `zsetAdd` judges each pair.
fn add<V: ReadView>(
    view: &V,
    key: &Bytes,
    found: Option<Found>,
    flags: AddFlags,
    pairs: &[(Score, Bytes)],
) -> Result<Evaluated, V::Error> {
    let nothing = if flags.incr {
        Outcome::Value(None)
    } else {
        Outcome::Integer(0)
    };
    if found.is_none() && flags.xx {
        return Ok((nothing, Vec::new()));
    }
    let mut head = Head::load(view, found.as_ref())?;
    let mut change = Change::open(view, key, Kind::ZSet, found);
    let (mut added, mut updated) = (0usize, 0usize);
    let mut last = None;
    for (score, member) in pairs {
        let mut score = score.get();
        let current = change.get(view, member)?.map(|v| decode_score(&v));
        match current {
            Some(cur) => {
                if flags.nx {
                    continue;
                }
                if flags.incr {
                    score += cur;
                    if score.is_nan() {
                        return Ok((Outcome::Error(NAN_RESULT.into()), Vec::new()));
                    }
                }
                if (flags.gt && score <= cur) || (flags.lt && score >= cur) {
                    continue;
                }
                last = Some(score);
                if score != cur {
                    set_score(&mut change, &mut head, member, Some(cur), score);
                    updated += 1;
                }
            }
            None => {
                if flags.xx {
                    continue;
                }
                set_score(&mut change, &mut head, member, None, score);
                added += 1;
                last = Some(score);
            }
        }
    }
    let outcome = if flags.incr {
        match last {
            Some(s) => Outcome::Double(if s == 0.0 { 0.0 } else { s }),
            None => nothing,
        }
    } else {
        int(if flags.ch { added + updated } else { added })
    };
    let effects = if change.changed() {
        head.save(&mut change);
        change.finish(view)
    } else {
        Vec::new()
    };
    Ok((outcome, effects))
}

/// Evaluates a sorted set read.
pub fn eval_read<V: ReadView>(op: &ZSetRead, view: &V) -> Result<Outcome, V::Error> {
    if let ZSetRead::Combine(inputs) | ZSetRead::InterCard(inputs) = op {
        let Ok(sources) = read_inputs(view, &inputs.keys)? else {
            return Ok(WrongType.into());
        };
        if let Some(error) = &inputs.error {
            return Ok(Outcome::Error(error.clone()));
        }
        let result = combine(inputs, sources);
        return Ok(match op {
            ZSetRead::InterCard(_) => int(result.len()),
            _ => members_reply(result, inputs.with_scores),
        });
    }
    let Ok(found) = find_zset(view, op.keys()[0])? else {
        return Ok(WrongType.into());
    };
    Ok(match op {
        ZSetRead::Card { .. } => {
            Outcome::Integer(found.map_or(0, |f| i64::try_from(f.header.len).unwrap_or(i64::MAX)))
        }
        ZSetRead::Score { members, multi, .. } => {
            let mut answers = Vec::with_capacity(members.len());
            for m in members {
                answers.push(match score_in(view, found.as_ref(), m)? {
                    Some(s) => Outcome::Double(s),
                    None => Outcome::Value(None),
                });
            }
            match (multi, answers.pop()) {
                (false, Some(one)) => one,
                (_, last) => {
                    answers.extend(last);
                    Outcome::Array(answers)
                }
            }
        }
        ZSetRead::Rank { member, rev, .. } => {
            let Some(found) = found else {
                return Ok(Outcome::Value(None));
            };
            let Some(score) = score_in(view, Some(&found), member)? else {
                return Ok(Outcome::Value(None));
            };
            // Members before it: a range read of the index up to it.
            let mine = index_sub(score, member);
            let mut below = 0u64;
            walk_index(view, &found, &[TAG_SCORE], |sub| {
                if *sub >= mine {
                    return false;
                }
                below += 1;
                true
            })?;
            let rank = if *rev {
                found.header.len - 1 - below
            } else {
                below
            };
            Outcome::Integer(i64::try_from(rank).unwrap_or(i64::MAX))
        }
        ZSetRead::Count { range, .. } => match found {
            None => Outcome::Integer(0),
            Some(found) => int(count_range(view, &found, range)?),
        },
        ZSetRead::Range {
            range,
            rev,
            limit,
            with_scores,
            ..
        } => match found {
            None => Outcome::Array(Vec::new()),
            Some(found) => members_reply(select(view, &found, range, *rev, *limit)?, *with_scores),
        },
        ZSetRead::RandMember {
            count, with_scores, ..
        } => rand_member(view, found.as_ref(), *count, *with_scores)?,
        ZSetRead::Scan { scan, .. } => zscan(view, found.as_ref(), scan)?,
        ZSetRead::Combine(_) | ZSetRead::InterCard(_) => Outcome::Error("ERR unreachable".into()),
    })
}

/// How many members a range holds, without collecting them.
fn count_range<V: ReadView>(view: &V, found: &Found, range: &Range) -> Result<usize, V::Error> {
    if let Range::Rank(..) = range {
        return Ok(select(view, found, range, false, None)?.len());
    }
    let mut n = 0usize;
    walk_range(view, found, range, |_, _| {
        n += 1;
        true
    })?;
    Ok(n)
}

/// ZRANDMEMBER: as HRANDFIELD, scores as doubles; a count covering the
/// whole set lists it from the highest score down (as Redis 7.0 does for
/// a listpack).
fn rand_member<V: ReadView>(
    view: &V,
    found: Option<&Found>,
    count: Option<i64>,
    with_scores: bool,
) -> Result<Outcome, V::Error> {
    let all = match found {
        Some(f) => select(view, f, &Range::Rank(0, -1), false, None)?,
        None => Vec::new(),
    };
    let Some(count) = count else {
        if all.is_empty() {
            return Ok(Outcome::Value(None));
        }
        let i = collection::random_below(view, all.len());
        return Ok(bulk(all[i].0.clone()));
    };
    let picks: Vec<usize> = if count >= 0 {
        let n = usize::try_from(count).unwrap_or(usize::MAX);
        if n >= all.len() {
            // The whole set, highest first, as Redis 7.0 lists a listpack.
            (0..all.len()).rev().collect()
        } else {
            collection::distinct_indices(view, all.len(), n)
        }
    } else if all.is_empty() {
        Vec::new()
    } else {
        let n = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        (0..n)
            .map(|_| collection::random_below(view, all.len()))
            .collect()
    };
    Ok(members_reply(
        picks.into_iter().map(|i| all[i].clone()).collect(),
        with_scores,
    ))
}

/// ZSCAN: a set Redis keeps as a listpack is answered whole, in score
/// order; a larger one a page at a time in member order. Scores are bulk
/// strings in both protocols, as in Redis.
fn zscan<V: ReadView>(
    view: &V,
    found: Option<&Found>,
    scan: &collection::ElementScan,
) -> Result<Outcome, V::Error> {
    let text = |s: f64| Bytes::from(crate::resp::reply::format_double(s));
    let Some(f) = found else {
        return collection::scan_members(view, None, scan, true, true);
    };
    if let Some(error) = &scan.error {
        return Ok(Outcome::Error(error.clone()));
    }
    if encoding(view, f)? == "listpack" {
        let mut keys = Vec::new();
        for (m, s) in select(view, f, &Range::Rank(0, -1), false, None)? {
            if scan
                .pattern
                .as_ref()
                .is_none_or(|p| super::glob::matches(p, &m))
            {
                keys.push(m);
                keys.push(text(s));
            }
        }
        return Ok(Outcome::Scan { next: None, keys });
    }
    Ok(
        match collection::scan_members(view, Some(f), scan, false, true)? {
            Outcome::Scan { next, keys } => Outcome::Scan {
                next,
                keys: keys
                    .chunks(2)
                    .flat_map(|pair| match pair {
                        [m, v] => vec![m.clone(), text(decode_score(v))],
                        _ => pair.to_vec(),
                    })
                    .collect(),
            },
            other => other,
        },
    )
}

/// `numkeys key [key ...] [options]` of ZUNION, ZINTER, ZDIFF (`at`: the
/// index of numkeys), their STORE forms and ZINTERCARD, checked in Redis
/// 7.0's order: numkeys and the key count now, the options' errors kept
/// for after the inputs' types are checked.
fn parse_inputs(
    name: &str,
    args: &[Bytes],
    at: usize,
    op: Combine,
) -> Result<Inputs, CommandError> {
    let n = parse_i64(&arg(args, at))?;
    if n < 1 {
        return Err(CommandError::Other(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    let first = at + 1;
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if n > args.len() - first {
        return Err(CommandError::Syntax);
    }
    let mut inputs = Inputs {
        op,
        keys: args[first..first + n].to_vec(),
        weights: vec![Score::of(1.0); n],
        aggregate: Aggregate::Sum,
        with_scores: false,
        limit: 0,
        error: None,
    };
    let store = name.ends_with("store");
    let card = name == "zintercard";
    if let Err(e) = parse_input_options(&mut inputs, &args[first + n..], store, card) {
        inputs.error = Some(e.to_string());
    }
    Ok(inputs)
}

fn parse_input_options(
    inputs: &mut Inputs,
    options: &[Bytes],
    store: bool,
    card: bool,
) -> Result<(), CommandError> {
    let n = inputs.keys.len();
    let mut j = 0;
    while j < options.len() {
        let remaining = options.len() - j;
        let opt = option_name(&options[j]);
        let algebra = inputs.op != Combine::Diff && !card;
        if algebra && remaining > n && opt == "weights" {
            for i in 0..n {
                let w = parse_float(&options[j + 1 + i], true)
                    .ok_or_else(|| other("ERR weight value is not a float"))?;
                inputs.weights[i] = Score::of(w);
            }
            j += 1 + n;
        } else if algebra && remaining >= 2 && opt == "aggregate" {
            inputs.aggregate = match option_name(&options[j + 1]).as_str() {
                "sum" => Aggregate::Sum,
                "min" => Aggregate::Min,
                "max" => Aggregate::Max,
                _ => return Err(CommandError::Syntax),
            };
            j += 2;
        } else if card && remaining >= 2 && opt == "limit" {
            inputs.limit = parse_i64(&options[j + 1])
                .ok()
                .and_then(|l| u64::try_from(l).ok())
                .ok_or_else(|| other("ERR LIMIT can't be negative"))?;
            j += 2;
        } else if !store && !card && opt == "withscores" {
            inputs.with_scores = true;
            j += 1;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(())
}

/// `ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]`.
fn parse_zmpop(args: &[Bytes]) -> Result<ZSetWrite, CommandError> {
    let n = parse_i64(&arg(args, 1))
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| other("ERR numkeys should be greater than 0"))?;
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    let where_at = n.saturating_add(2);
    let Some(which) = args.get(where_at) else {
        return Err(CommandError::Syntax);
    };
    let max = match option_name(which).as_str() {
        "min" => false,
        "max" => true,
        _ => return Err(CommandError::Syntax),
    };
    let mut count = None;
    let mut j = where_at + 1;
    while let Some(opt) = args.get(j) {
        match args.get(j + 1) {
            Some(value) if count.is_none() && option_name(opt) == "count" => {
                count = Some(
                    parse_i64(value)
                        .ok()
                        .filter(|c| *c >= 1)
                        .and_then(|c| u64::try_from(c).ok())
                        .ok_or_else(|| other("ERR count should be greater than 0"))?,
                );
                j += 2;
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(ZSetWrite::MPop {
        keys: args[2..2 + n].to_vec(),
        max,
        count: count.unwrap_or(1),
    })
}

/// Members with their scores.
type Members = Vec<(Bytes, f64)>;

/// The members and scores of each input (a set's members score 1), or
/// WRONGTYPE; a missing key is empty.
fn read_inputs<V: ReadView>(
    view: &V,
    keys: &[Bytes],
) -> Result<Result<Vec<Members>, WrongType>, V::Error> {
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let entry = view.entry(key)?;
        let members = match entry.as_ref().map(|e| &e.value) {
            None => Vec::new(),
            Some(super::op::Value::Collection(c))
                if c.kind == Kind::ZSet || c.kind == Kind::Set =>
            {
                let found = Found {
                    header: *c,
                    expires_at: None,
                };
                if c.kind == Kind::ZSet {
                    select(view, &found, &Range::Rank(0, -1), false, None)?
                } else {
                    collection::all_members(view, Some(&found))?
                        .into_iter()
                        .map(|(m, _)| (m, 1.0))
                        .collect()
                }
            }
            Some(_) => return Ok(Err(WrongType)),
        };
        out.push(members);
    }
    Ok(Ok(out))
}

fn aggregate(how: Aggregate, a: f64, b: f64) -> f64 {
    match how {
        Aggregate::Sum => {
            let sum = a + b;
            if sum.is_nan() { 0.0 } else { sum }
        }
        Aggregate::Min => a.min(b),
        Aggregate::Max => a.max(b),
    }
}

/// The result of ZUNION / ZINTER / ZDIFF, by (score, member); an
/// intersection stops at `limit` members (0: none).
fn combine(inputs: &Inputs, sources: Vec<Vec<(Bytes, f64)>>) -> Vec<(Bytes, f64)> {
    use std::collections::BTreeMap;
    let weighted = |s: f64, w: Score| {
        let v = s * w.get();
        if v.is_nan() { 0.0 } else { v }
    };
    let mut result: Vec<(Bytes, f64)> = match inputs.op {
        Combine::Union | Combine::Inter => {
            // Smallest inputs first, as Redis sums them.
            let mut order: Vec<usize> = (0..sources.len()).collect();
            order.sort_by_key(|i| sources[*i].len());
            let maps: Vec<BTreeMap<&Bytes, f64>> = sources
                .iter()
                .map(|s| s.iter().map(|(m, v)| (m, *v)).collect())
                .collect();
            if inputs.op == Combine::Union {
                let mut acc: BTreeMap<Bytes, f64> = BTreeMap::new();
                for i in order {
                    for (m, s) in &sources[i] {
                        let v = weighted(*s, inputs.weights[i]);
                        acc.entry(m.clone())
                            .and_modify(|t| *t = aggregate(inputs.aggregate, *t, v))
                            .or_insert(v);
                    }
                }
                acc.into_iter().collect()
            } else {
                let mut out = Vec::new();
                let Some((&first, rest)) = order.split_first() else {
                    return Vec::new();
                };
                'member: for (m, s) in &sources[first] {
                    let mut total = weighted(*s, inputs.weights[first]);
                    for &i in rest {
                        let Some(s) = maps[i].get(m) else {
                            continue 'member;
                        };
                        total = aggregate(inputs.aggregate, total, weighted(*s, inputs.weights[i]));
                    }
                    out.push((m.clone(), total));
                    if inputs.limit != 0 && out.len() as u64 >= inputs.limit {
                        break;
                    }
                }
                out
            }
        }
        Combine::Diff => {
            let mut iter = sources.iter();
            let Some(first) = iter.next() else {
                return Vec::new();
            };
            let others: Vec<std::collections::BTreeSet<&Bytes>> =
                iter.map(|s| s.iter().map(|(m, _)| m).collect()).collect();
            first
                .iter()
                .filter(|(m, _)| !others.iter().any(|o| o.contains(m)))
                .cloned()
                .collect()
        }
    };
    result.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    result
}

/// The effects that make `dest` a new sorted set of `items` (or delete
/// it, for none), whatever it held before; replies the count.
fn store<V: ReadView>(
    view: &V,
    dest: &Bytes,
    items: Vec<(Bytes, f64)>,
) -> Result<Evaluated, V::Error> {
    let n = items.len();
    if items.is_empty() {
        let effects = if view.contains(dest)? {
            vec![super::op::Effect::delete(dest)]
        } else {
            Vec::new()
        };
        return Ok((Outcome::Integer(0), effects));
    }
    // A new incarnation: no head, nothing popped yet.
    let mut head = Head::default();
    let mut change = Change::fresh(view, dest, Kind::ZSet);
    for (m, s) in items {
        let old = change.get(view, &m)?.map(|v| decode_score(&v));
        set_score(&mut change, &mut head, &m, old, s);
    }
    Ok((int(n), change.finish(view)))
}

/// Redis 7.0's `zset-max-listpack-entries`.
const LISTPACK_ENTRIES: u64 = 128;
/// Redis 7.0's `zset-max-listpack-value`.
const LISTPACK_VALUE: usize = 64;

/// The encoding Redis 7.0 would report: `listpack` for at most 128
/// members of at most 64 bytes, else `skiplist` (judged from the
/// contents: Redis never converts back; we do).
pub fn encoding<V: ReadView>(view: &V, found: &Found) -> Result<&'static str, V::Error> {
    if found.header.len > LISTPACK_ENTRIES {
        return Ok("skiplist");
    }
    let mut small = true;
    view.each_element(found.header.version, &[TAG_MEMBER], |sub, _| {
        small = sub.len() - 1 <= LISTPACK_VALUE;
        small
    })?;
    Ok(if small { "listpack" } else { "skiplist" })
}

/// The index records of a copy of a sorted set's members (COPY writes
/// the member records itself).
pub fn copy_index(change: &mut Change, members: &[(Bytes, Bytes)]) {
    for (member, value) in members {
        change.put_raw(index_sub(decode_score(value), member), Bytes::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::op::testing::{MapView, args, b};
    use crate::command::op::{Version, eval_read, eval_write};
    use crate::command::{Command, parse};
    use crate::config::Dialect;

    fn run(view: &mut MapView, line: &str) -> Outcome {
        match parse(&args(line), Dialect::Redis) {
            Ok(Command::Write(op)) => {
                // Each write its own stamp, so new keys get new versions.
                static STAMP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                let stamp = STAMP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (outcome, effects) = eval_write(&op.stamp(1, stamp), view).expect("eval");
                view.apply(&effects);
                outcome
            }
            Ok(Command::Read(op)) => eval_read(&op.stamp(1), view, 0).expect("eval"),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Outcome::Error(e.to_string()),
        }
    }

    fn members(items: &[&str]) -> Outcome {
        Outcome::Array(items.iter().map(|m| bulk(b(m))).collect())
    }

    #[test]
    fn score_keys_sort_numerically() {
        let scores = [
            f64::NEG_INFINITY,
            -1e300,
            -1.5,
            -f64::MIN_POSITIVE,
            0.0,
            5e-324,
            1.0,
            1.5,
            1e300,
            f64::INFINITY,
        ];
        let keys: Vec<[u8; 8]> = scores.iter().map(|s| score_key(*s)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for (s, k) in scores.iter().zip(&keys) {
            assert_eq!(score_of_key(*k), *s);
        }
        assert_eq!(score_key(-0.0), score_key(0.0));
    }

    #[test]
    fn floats_parse_as_redis_reads_them() {
        assert_eq!(parse_float(b"1.5", true), Some(1.5));
        assert_eq!(parse_float(b"-inf", true), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float(b"+inf", true), Some(f64::INFINITY));
        assert_eq!(parse_float(b"0x10", true), Some(16.0));
        for bad in [&b""[..], b" 1", b"1 ", b"nan", b"1e400", b"1e-400", b"abc"] {
            assert_eq!(parse_float(bad, true), None, "{bad:?}");
        }
        assert_eq!(parse_float(b"1e400", false), Some(f64::INFINITY));
    }

    /// Hexadecimal floats, as glibc's strtod reads them (each value here
    /// is what redis-server 7.0.15 stored for it).
    #[test]
    fn hex_floats_parse_as_strtod_reads_them() {
        let min_denormal = f64::from_bits(1);
        for (text, want) in [
            ("0x1p3", 8.0),
            ("0x.8", 0.5),
            ("0x1.8p1", 3.0),
            ("0X1P-2", 0.25),
            ("0x1.p1", 2.0),
            ("-0x1p3", -8.0),
            ("+0x1p3", 8.0),
            ("0x1P+2", 4.0),
            ("0x1p-0", 1.0),
            ("0x1e", 30.0),
            ("0x1e5", 485.0),
            ("0x0p5", 0.0),
            ("0x123456789abcdef01", 2.0988295479420645e19),
            (
                "0x10000000000000000000000000000000000000000000p-100",
                2f64.powi(72),
            ),
            // Ties to even, and just above a tie.
            ("0x1.00000000000008p0", 1.0),
            ("0x1.00000000000018p0", 1.0000000000000004),
            ("0x1.000000000000080000000001p0", 1.0000000000000002),
            // The extremes: rounding up into the largest finite and the
            // smallest normal, and denormals.
            ("0x1.fffffffffffff7p1023", f64::MAX),
            ("0x1p-1022", f64::MIN_POSITIVE),
            ("0x0.fffffffffffff8p-1022", f64::MIN_POSITIVE),
            ("0x1p-1074", min_denormal),
            ("0x1.8p-1075", min_denormal),
            ("0x1.0000000000001p-1075", min_denormal),
        ] {
            assert_eq!(parse_float(text.as_bytes(), true), Some(want), "{text}");
        }
        // Overflow, underflow to zero, and text strtod stops short of.
        for bad in [
            "0x1p-1075",
            "0x1p1024",
            "0x1.fffffffffffff8p1023",
            "0x1p99999999999999999999",
            "0x1p-99999999999999999999",
            "0x1p",
            "0x.p1",
            "0xp1",
            "0x",
            "0x1 ",
            "0x1pp3",
            "0x1p+",
            "0xg",
        ] {
            assert_eq!(parse_float(bad.as_bytes(), true), None, "{bad}");
        }
        // A range bound takes overflow and underflow.
        assert_eq!(parse_float(b"0x1p1024", false), Some(f64::INFINITY));
        assert_eq!(parse_float(b"-0x1p-1075", false), Some(-0.0));
    }

    #[test]
    fn zadd_flags_and_ranges() {
        let mut v = MapView::default();
        assert_eq!(run(&mut v, "ZADD z 1 a 2 b 3 c"), Outcome::Integer(3));
        assert_eq!(run(&mut v, "ZADD z XX CH 5 a 9 x"), Outcome::Integer(1));
        assert_eq!(run(&mut v, "ZADD z GT 4 a"), Outcome::Integer(0));
        assert_eq!(run(&mut v, "ZSCORE z a"), Outcome::Double(5.0));
        assert_eq!(run(&mut v, "ZINCRBY z -4.5 a"), Outcome::Double(0.5));
        assert_eq!(run(&mut v, "ZRANGE z 0 -1"), members(&["a", "b", "c"]));
        assert_eq!(run(&mut v, "ZREVRANGE z 0 1"), members(&["c", "b"]));
        assert_eq!(run(&mut v, "ZRANK z c"), Outcome::Integer(2));
        assert_eq!(run(&mut v, "ZREVRANK z c"), Outcome::Integer(0));
        assert_eq!(
            run(&mut v, "ZRANGEBYSCORE z (0.5 +inf"),
            members(&["b", "c"])
        );
        assert_eq!(run(&mut v, "ZCOUNT z -inf (3"), Outcome::Integer(2));
        assert_eq!(
            run(&mut v, "ZRANGE z +inf -inf BYSCORE REV LIMIT 1 1"),
            members(&["b"])
        );
        assert_eq!(
            run(&mut v, "ZPOPMIN z"),
            Outcome::Array(vec![bulk(b("a")), Outcome::Double(0.5)])
        );
        assert_eq!(run(&mut v, "ZREMRANGEBYRANK z 0 -1"), Outcome::Integer(2));
        assert_eq!(run(&mut v, "EXISTS z"), Outcome::Integer(0));
        assert!(v.3.is_empty() || v.2.is_empty());
    }

    #[test]
    fn lex_ranges_and_index_consistency() {
        let mut v = MapView::default();
        run(&mut v, "ZADD z 0 a 0 b 0 c 0 d");
        assert_eq!(run(&mut v, "ZRANGEBYLEX z [b (d"), members(&["b", "c"]));
        assert_eq!(run(&mut v, "ZREVRANGEBYLEX z + (b"), members(&["d", "c"]));
        assert_eq!(run(&mut v, "ZLEXCOUNT z - +"), Outcome::Integer(4));
        assert_eq!(run(&mut v, "ZREMRANGEBYLEX z - [b"), Outcome::Integer(2));
        run(&mut v, "ZADD z 5 c");
        assert_eq!(run(&mut v, "ZRANGE z 0 -1"), members(&["d", "c"]));
        // Two records per member: no stale index entries.
        assert_eq!(v.3.len(), 4);
    }

    #[test]
    fn combining_stores_and_mpop() {
        let mut v = MapView::default();
        run(&mut v, "ZADD a 1 x 2 y");
        run(&mut v, "ZADD b 3 y 4 z");
        run(&mut v, "SADD s y w");
        assert_eq!(run(&mut v, "ZUNION 2 a b"), members(&["x", "z", "y"]));
        assert_eq!(run(&mut v, "ZINTER 2 a s"), members(&["y"]));
        assert_eq!(run(&mut v, "ZDIFF 2 a b"), members(&["x"]));
        assert_eq!(run(&mut v, "ZINTERCARD 2 a b"), Outcome::Integer(1));
        assert_eq!(
            run(&mut v, "ZUNIONSTORE d 2 a b WEIGHTS 1 2 AGGREGATE MAX"),
            Outcome::Integer(3)
        );
        assert_eq!(run(&mut v, "ZSCORE d y"), Outcome::Double(6.0));
        assert_eq!(run(&mut v, "ZRANGESTORE e d 0 0"), Outcome::Integer(1));
        assert_eq!(run(&mut v, "ZRANGE e 0 -1"), members(&["x"]));
        assert_eq!(
            run(&mut v, "ZMPOP 2 nokey e MIN"),
            Outcome::Array(vec![
                bulk(b("e")),
                Outcome::Array(vec![Outcome::Array(vec![
                    bulk(b("x")),
                    Outcome::Double(1.0)
                ])])
            ])
        );
        assert_eq!(run(&mut v, "EXISTS e"), Outcome::Integer(0));
        assert_eq!(run(&mut v, "ZMPOP 1 e MIN"), Outcome::NilArray);
        // Options are judged after the inputs' types.
        run(&mut v, "SET str v");
        assert_eq!(
            run(&mut v, "ZUNION 2 a str WEIGHTS 1 x"),
            Outcome::Error(crate::command::op::WRONGTYPE.into())
        );
    }

    #[test]
    fn a_head_round_trips_and_garbage_is_no_head() {
        let key = |score: f64, m: &str| index_sub(score, m.as_bytes());
        let head = Head {
            floor: key(10.0, "f"),
            late: vec![key(1.0, "a"), key(2.0, "b")],
            dirty: false,
        };
        let bytes = head.encode();
        assert_eq!(Head::decode(&bytes), Some(head.clone()));
        assert_eq!(
            Head::decode(&Head::default().encode()),
            Some(Head::default())
        );
        // Truncated, another layout, trailing bytes: not a head.
        assert_eq!(Head::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(Head::decode(&[]), None);
        let mut other = bytes.to_vec();
        other[0] = 2;
        assert_eq!(Head::decode(&other), None);
        let mut trailing = bytes.to_vec();
        trailing.push(0);
        assert_eq!(Head::decode(&trailing), None);
        // Late keys out of order, or not below the floor: not a head.
        let unsorted = Head {
            late: vec![key(2.0, "b"), key(1.0, "a")],
            ..head.clone()
        };
        assert_eq!(Head::decode(&unsorted.encode()), None);
        let above = Head {
            late: vec![key(11.0, "z")],
            ..head
        };
        assert_eq!(Head::decode(&above.encode()), None);
    }

    #[test]
    fn a_head_tracks_late_keys_and_splits_when_full() {
        let key = |score: u64| index_sub(score as f64, b"m");
        let mut head = Head {
            floor: key(1000),
            ..Head::default()
        };
        head.inserted(&key(2000));
        assert!(head.late.is_empty() && !head.dirty, "above the floor");
        for s in (0..MAX_LATE as u64).rev() {
            head.inserted(&key(s));
        }
        assert_eq!(head.late.len(), MAX_LATE);
        assert_eq!(head.late[0], key(0));
        assert_eq!(head.floor, key(1000));
        head.removed(&key(0));
        head.removed(&key(5000));
        assert_eq!(head.late.len(), MAX_LATE - 1);
        head.inserted(&key(0));
        // One more splits it: the lowest half stays, the floor moves down
        // to the first key that does not.
        head.inserted(&key(500));
        assert_eq!(head.late.len(), MAX_LATE / 2);
        assert_eq!(head.late.last(), Some(&key(MAX_LATE as u64 / 2 - 1)));
        assert_eq!(head.floor, key(MAX_LATE as u64 / 2));
        // A long key splits it at itself.
        let long = index_sub(1.0, &[b'x'; MAX_LATE_KEY]);
        head.inserted(&long);
        assert_eq!(head.floor, long);
        assert_eq!(head.late, vec![key(0), key(1)]);
        // A pop up to a key moves the floor up, never down.
        head.cleared_to(&key(0));
        assert_eq!(head.floor, long);
        head.cleared_to(&key(3000));
        assert_eq!((head.floor.clone(), head.late.len()), (key(3000), 0));
    }

    /// The live index records of `key` below its head's floor are exactly
    /// the head's late keys.
    fn assert_head_invariant(v: &MapView, key: &str) {
        let Some(header) = v.2.get(&b(key)) else {
            return;
        };
        let version = header.version;
        let head =
            v.3.get(&(version, Bytes::from_static(&[TAG_HEAD])))
                .map(|bytes| Head::decode(bytes).expect("a stored head decodes"))
                .unwrap_or_default();
        let below: Vec<Bytes> =
            v.3.range((version, Bytes::from_static(&[TAG_SCORE]))..)
                .take_while(|((ver, sub), _)| *ver == version && sub.first() == Some(&TAG_SCORE))
                .map(|((_, sub), _)| sub.clone())
                .filter(|sub| *sub < head.floor)
                .collect();
        assert_eq!(below, head.late, "late keys of {key}");
    }

    /// A queue worked hard at both ends, with scores added above and below
    /// everything popped so far (so the head's late keys overflow and
    /// split), answers every read as a plain sorted set would, and keeps
    /// its head's invariant after every write.
    #[test]
    fn a_queue_reads_the_same_through_its_head() {
        use std::collections::{BTreeMap, BTreeSet};
        // Replies as a flat list: an empty set answers [] where a set
        // answers pairs, and ZPOPMIN without a count answers a flat array.
        fn flat(o: Outcome) -> Vec<Outcome> {
            match o {
                Outcome::Array(items) => items,
                Outcome::Pairs(pairs) => pairs.into_iter().flat_map(<[Outcome; 2]>::from).collect(),
                other => vec![other],
            }
        }
        let mut v = MapView::default();
        let mut scores: BTreeMap<String, u64> = BTreeMap::new();
        let mut order: BTreeSet<(u64, String)> = BTreeSet::new();
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let want = |items: &mut dyn Iterator<Item = &(u64, String)>| -> Vec<Outcome> {
            items
                .flat_map(|(s, m)| [bulk(b(m)), Outcome::Double(*s as f64)])
                .collect()
        };
        let mut splits_seen = false;
        let mut last_floor = (Version { stamp: 0, seq: 0 }, Bytes::new());
        for step in 0..4000u64 {
            // Scores high at first, then mostly below what was popped; in
            // the middle phase mostly adds, so late keys pile up.
            let score = if step < 800 {
                5000 + next(5000)
            } else {
                next(6000)
            };
            let member = format!("m{}", next(1500));
            let pick = if (800..1600).contains(&step) && next(4) != 0 {
                0
            } else {
                next(20)
            };
            let line = match pick {
                0..=8 => format!("ZADD q {score} {member}"),
                9..=13 => "ZPOPMIN q".to_string(),
                14 => format!("ZPOPMIN q {}", 1 + next(3)),
                15 => "ZPOPMAX q".to_string(),
                16 => format!("ZREM q {member}"),
                17 => format!("ZINCRBY q {} {member}", next(3)),
                18 => format!("ZREMRANGEBYRANK q 0 {}", next(2)),
                _ => format!("ZREMRANGEBYSCORE q {} {}", score, score + 50),
            };
            let got = run(&mut v, &line);
            let words: Vec<&str> = line.split(' ').collect();
            // What a plain sorted set answers, and becomes.
            let expected = match words[0] {
                "ZADD" | "ZINCRBY" => {
                    let old = scores.get(&member).copied();
                    let new = if words[0] == "ZADD" {
                        score
                    } else {
                        old.unwrap_or(0) + words[2].parse::<u64>().expect("incr")
                    };
                    if let Some(old) = old {
                        order.remove(&(old, member.clone()));
                    }
                    scores.insert(member.clone(), new);
                    order.insert((new, member.clone()));
                    None
                }
                _ => {
                    let picked: Vec<(u64, String)> = match words[0] {
                        "ZPOPMIN" => {
                            let n = words.get(2).map_or(1, |c| c.parse().expect("count"));
                            order.iter().take(n).cloned().collect()
                        }
                        "ZPOPMAX" => order.iter().next_back().cloned().into_iter().collect(),
                        "ZREMRANGEBYRANK" => {
                            let last: usize = words[3].parse().expect("rank");
                            order.iter().take(last + 1).cloned().collect()
                        }
                        "ZREMRANGEBYSCORE" => order
                            .iter()
                            .filter(|(s, _)| (score..=score + 50).contains(s))
                            .cloned()
                            .collect(),
                        _ => scores
                            .get(&member)
                            .map(|s| (*s, member.clone()))
                            .into_iter()
                            .collect(),
                    };
                    for p in &picked {
                        order.remove(p);
                        scores.remove(&p.1);
                    }
                    Some(if words[0].starts_with("ZPOP") {
                        want(&mut picked.iter())
                    } else {
                        vec![Outcome::Integer(picked.len() as i64)]
                    })
                }
            };
            if let Some(expected) = expected {
                assert_eq!(flat(got), expected, "{line} at step {step}");
            }
            assert_head_invariant(&v, "q");
            let head_sub = Bytes::from_static(&[TAG_HEAD]);
            if let Some(header) = v.2.get(&b("q"))
                && let Some(head) = v.3.get(&(header.version, head_sub))
            {
                let floor = (header.version, Head::decode(head).expect("a head").floor);
                splits_seen |= floor.0 == last_floor.0 && floor.1 < last_floor.1;
                last_floor = floor;
            }
            if step % 50 == 0 {
                assert_eq!(
                    flat(run(&mut v, "ZRANGE q 0 -1 WITHSCORES")),
                    want(&mut order.iter()),
                    "at step {step}"
                );
                assert_eq!(run(&mut v, "ZCARD q"), Outcome::Integer(order.len() as i64));
                let from = next(6000);
                assert_eq!(
                    flat(run(
                        &mut v,
                        &format!("ZRANGEBYSCORE q {from} +inf WITHSCORES LIMIT 0 5")
                    )),
                    want(&mut order.iter().filter(|(s, _)| *s >= from).take(5)),
                    "at step {step}"
                );
                if let Some((rank, (_, m))) = order.iter().enumerate().nth(order.len() / 2) {
                    assert_eq!(
                        run(&mut v, &format!("ZRANK q {m}")),
                        Outcome::Integer(rank as i64)
                    );
                }
            }
        }
        // The run did what it is for: the late keys overflowed and the
        // floor moved down.
        assert!(splits_seen, "no split in the run");
    }

    #[test]
    fn errors_are_redis_s() {
        let mut v = MapView::default();
        let err = |s: &str| Outcome::Error(s.into());
        assert_eq!(
            run(&mut v, "ZADD z NX XX 1 a"),
            err("ERR XX and NX options at the same time are not compatible")
        );
        assert_eq!(
            run(&mut v, "ZADD z INCR 1 a 2 b"),
            err("ERR INCR option supports a single increment-element pair")
        );
        assert_eq!(run(&mut v, "ZADD z nan a"), err(NOT_FLOAT));
        assert_eq!(run(&mut v, "ZADD z 1 a 2"), err("ERR syntax error"));
        run(&mut v, "ZADD z inf a");
        assert_eq!(run(&mut v, "ZINCRBY z -inf a"), err(NAN_RESULT));
        run(&mut v, "SET s x");
        assert_eq!(
            run(&mut v, "ZADD s 1 a"),
            err(crate::command::op::WRONGTYPE)
        );
    }
}
